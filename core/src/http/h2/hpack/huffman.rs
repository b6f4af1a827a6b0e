//! The HPACK Huffman code (RFC 7541 §5.2 and Appendix B): HAProxy's
//! `hpack-huff.c`.
//!
//! The code of Appendix B is canonical (codes of one length are consecutive
//! and follow the shorter ones in symbol order; `code_is_canonical` checks it),
//! so decoding needs no tree: for each length `len` from 5 to 30 bits, the
//! next `len` input bits are a code of that length exactly when they lie in
//! `[FIRST[len], FIRST[len] + COUNT[len])`, and the symbol is found by its
//! rank among the codes of that length. The tables are built at compile time
//! from [`CODES`]. Decoding reads whole bytes into a 64-bit accumulator and
//! never allocates beyond the output it appends to.
//!
//! Errors (each a COMPRESSION_ERROR for the HTTP/2 connection, RFC 7541
//! §5.2): the EOS symbol inside a string, padding longer than 7 bits, and
//! padding that is not the most significant bits of EOS (all ones).

use super::HpackError;

/// `(code, length in bits)` of every symbol 0..=255, then EOS (256):
/// RFC 7541 Appendix B, transcribed.
#[rustfmt::skip]
pub const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28), // 0..
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28), // 4..
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28), // 8..
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28), // 12..
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28), // 16..
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28), // 20..
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28), // 24..
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28), // 28..
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12), // 32..
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11), // 36..
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11), // 40..
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6), // 44..
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6), // 48..
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6), // 52..
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8), // 56..
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10), // 60..
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7), // 64..
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7), // 68..
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7), // 72..
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7), // 76..
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7), // 80..
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7), // 84..
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13), // 88..
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6), // 92..
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5), // 96..
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6), // 100..
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7), // 104..
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5), // 108..
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5), // 112..
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7), // 116..
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15), // 120..
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28), // 124..
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20), // 128..
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23), // 132..
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23), // 136..
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23), // 140..
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23), // 144..
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23), // 148..
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23), // 152..
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24), // 156..
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22), // 160..
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21), // 164..
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24), // 168..
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23), // 172..
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21), // 176..
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23), // 180..
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22), // 184..
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23), // 188..
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19), // 192..
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25), // 196..
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27), // 200..
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25), // 204..
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27), // 208..
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24), // 212..
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26), // 216..
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27), // 220..
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21), // 224..
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23), // 228..
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25), // 232..
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23), // 236..
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26), // 240..
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27), // 244..
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27), // 248..
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26), // 252..
    (0x3fffffff, 30), // 256..
];

/// The end-of-string symbol, never valid inside a string.
pub const EOS: usize = 256;
const MIN_LEN: usize = 5;
const MAX_LEN: usize = 30;

/// Per code length: the first code, how many codes, and the rank in
/// [`SORTED`] of the first one.
struct Canon {
    first: [u32; MAX_LEN + 1],
    count: [u32; MAX_LEN + 1],
    offset: [u16; MAX_LEN + 1],
    sorted: [u16; 257],
}

const fn build() -> Canon {
    let mut c = Canon {
        first: [0; MAX_LEN + 1],
        count: [0; MAX_LEN + 1],
        offset: [0; MAX_LEN + 1],
        sorted: [0; 257],
    };
    let mut n = 0usize;
    let mut len = 1;
    while len <= MAX_LEN {
        c.offset[len] = n as u16;
        let mut sym = 0;
        while sym < 257 {
            if CODES[sym].1 as usize == len {
                if c.count[len] == 0 {
                    c.first[len] = CODES[sym].0;
                }
                c.count[len] += 1;
                c.sorted[n] = sym as u16;
                n += 1;
            }
            sym += 1;
        }
        len += 1;
    }
    c
}

static CANON: Canon = build();

/// Length in bytes of `src` once Huffman-encoded (padding included).
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| CODES[b as usize].1 as usize).sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `src` to `dst`, padded with the most
/// significant bits of EOS (ones) to a whole byte.
pub fn encode(src: &[u8], dst: &mut Vec<u8>) {
    dst.reserve(encoded_len(src));
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    for &b in src {
        let (code, len) = CODES[b as usize];
        acc = (acc << len) | u64::from(code);
        nbits += u32::from(len);
        while nbits >= 8 {
            nbits -= 8;
            dst.push((acc >> nbits) as u8);
        }
        // At most 7 bits stay: keep the accumulator small.
        acc &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        let pad = 8 - nbits;
        dst.push(((acc << pad) | ((1 << pad) - 1)) as u8);
    }
}

/// Decodes the Huffman string `src`, appending the symbols to `dst`.
/// On error `dst` may hold part of the string (the caller truncates).
pub fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), HpackError> {
    let c = &CANON;
    let mut acc: u64 = 0;
    let mut nbits: usize = 0;
    let mut rest = src;
    loop {
        // Refill: at least 30 bits when the input has them.
        while nbits <= 56 {
            let Some((&b, tail)) = rest.split_first() else {
                break;
            };
            acc = (acc << 8) | u64::from(b);
            nbits += 8;
            rest = tail;
        }
        if nbits < MIN_LEN {
            break;
        }
        let mut found = None;
        let mut len = MIN_LEN;
        while len <= MAX_LEN && len <= nbits {
            let top = ((acc >> (nbits - len)) & ((1u64 << len) - 1)) as u32;
            let rank = top.wrapping_sub(c.first[len]);
            if c.count[len] > 0 && rank < c.count[len] {
                found = Some((
                    c.sorted[c.offset[len] as usize + rank as usize] as usize,
                    len,
                ));
                break;
            }
            len += 1;
        }
        match found {
            Some((EOS, _)) => return Err(HpackError::HuffmanEos),
            Some((sym, len)) => {
                dst.push(sym as u8);
                nbits -= len;
                acc &= (1u64 << nbits) - 1;
            }
            // The input ended inside a code: what is left is padding.
            None => break,
        }
    }
    // RFC 7541 §5.2: padding strictly longer than 7 bits, or not the most
    // significant bits of EOS, is a decoding error.
    if nbits > 7 {
        return Err(HpackError::HuffmanPadding);
    }
    let mask = (1u64 << nbits) - 1;
    if acc & mask != mask {
        return Err(HpackError::HuffmanPadding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_canonical() {
        // Codes sorted by (length, symbol) are consecutive integers, shifted
        // left when the length grows: what the decoder relies on.
        let mut order: Vec<usize> = (0..257).collect();
        order.sort_by_key(|&s| (CODES[s].1, s));
        let mut code = 0u32;
        let mut prev = CODES[order[0]].1;
        for (k, &s) in order.iter().enumerate() {
            let (c, len) = CODES[s];
            if k > 0 {
                code = (code + 1) << (len - prev);
            }
            prev = len;
            assert_eq!(c, code, "symbol {s}");
        }
        // Complete: Kraft's sum is exactly one, so every 30 bits decode.
        let kraft: u64 = CODES.iter().map(|&(_, l)| 1u64 << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
        assert_eq!(CODES[EOS], (0x3fff_ffff, 30));
    }

    #[test]
    fn every_symbol_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut enc = Vec::new();
        encode(&all, &mut enc);
        assert_eq!(enc.len(), encoded_len(&all));
        let mut dec = Vec::new();
        decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, all);
    }

    #[test]
    fn rfc7541_c4_strings() {
        // RFC 7541 C.4.1 and C.4.2: "www.example.com" and "no-cache".
        let mut out = Vec::new();
        encode(b"www.example.com", &mut out);
        assert_eq!(
            out,
            [0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff]
        );
        out.clear();
        encode(b"no-cache", &mut out);
        assert_eq!(out, [0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]);
        let mut dec = Vec::new();
        decode(&out, &mut dec).unwrap();
        assert_eq!(dec, b"no-cache");
    }

    #[test]
    fn padding_and_eos_errors() {
        // RFC 7541 §5.2. '0' is 00000: one symbol then 3 bits of ones is fine.
        let mut d = Vec::new();
        assert_eq!(decode(&[0b0000_0111], &mut d), Ok(()));
        assert_eq!(d, b"0");
        // Padding of zeros is not EOS's prefix.
        assert_eq!(
            decode(&[0b0000_0000], &mut d),
            Err(HpackError::HuffmanPadding)
        );
        // A whole byte of ones is 8 bits of padding: too long.
        assert_eq!(decode(&[0xff], &mut d), Err(HpackError::HuffmanPadding));
        // EOS itself (30 ones) inside a string.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut d),
            Err(HpackError::HuffmanEos)
        );
        // Empty input decodes to an empty string.
        d.clear();
        assert_eq!(decode(&[], &mut d), Ok(()));
        assert!(d.is_empty());
    }
}

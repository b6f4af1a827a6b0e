//! The peers protocol's variable-length integers (PROTOCOL.md §4), HAProxy's
//! `intencode`/`intdecode` in `peers.c`.
//!
//! Not LEB128: the first byte carries 4 payload bits under a `1111` marker
//! (values below 240 are a single byte), every following byte 7 bits. The
//! encoder subtracts before shifting and the decoder *adds the whole byte*
//! (continuation bit included), which compensates the subtraction. Decoding
//! uses wrapping `u64` arithmetic exactly like HAProxy, so a hostile 10-byte
//! number silently wraps instead of failing.
//!
//! Invariants: [`encode`] writes [`encoded_len`] bytes, at most [`MAX_LEN`];
//! [`decode`] never reads past `max_len` bytes and distinguishes a number cut
//! short by the end of the input ([`VarintError::Incomplete`], which is only an
//! error once the caller knows no more bytes can come) from one that is longer
//! than allowed ([`VarintError::TooLong`], always an error).

/// The longest encoding of a `u64` (PROTOCOL.md §4.3).
pub const MAX_LEN: usize = 10;

/// The longest encoding HAProxy accepts for a message length (§5.1).
pub const MAX_LEN_MSG_LENGTH: usize = 5;

/// Values below this are encoded in a single byte.
const ONE_BYTE_LIMIT: u64 = 0xF0;

/// Why [`decode`] did not produce a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended before the number did: more bytes may complete it.
    /// Inside a complete message body this is a truncated field.
    Incomplete,
    /// The number has not ended after the maximum number of bytes the caller
    /// allows: a protocol error whatever follows.
    TooLong,
}

/// Encodes `v` into a fixed array; returns the array and the encoded length.
pub fn encode_array(v: u64) -> ([u8; MAX_LEN], usize) {
    let mut buf = [0u8; MAX_LEN];
    if v < ONE_BYTE_LIMIT {
        buf[0] = v as u8;
        return (buf, 1);
    }
    // Truncations to u8 below are the wire format: low bits with a marker.
    buf[0] = (v as u8) | 0xF0;
    let mut rest = (v - ONE_BYTE_LIMIT) >> 4;
    let mut n = 1;
    while rest >= 0x80 {
        buf[n] = (rest as u8) | 0x80;
        rest = (rest - 0x80) >> 7;
        n += 1;
    }
    buf[n] = rest as u8;
    (buf, n + 1)
}

/// Appends the encoding of `v` to `out` (`intencode`).
pub fn encode(v: u64, out: &mut Vec<u8>) {
    let (buf, n) = encode_array(v);
    out.extend_from_slice(&buf[..n]);
}

/// Number of bytes [`encode`] writes for `v` (1..=10).
pub const fn encoded_len(v: u64) -> usize {
    // Thresholds of §4.3: 240, then + 2^11, + 2^18, ... (u128: the last one
    // overflows u64).
    let v = v as u128;
    let mut limit: u128 = ONE_BYTE_LIMIT as u128;
    let mut shift = 11;
    let mut n = 1;
    while v >= limit {
        limit += 1u128 << shift;
        shift += 7;
        n += 1;
    }
    n
}

/// Decodes one number at the start of `buf`, allowing up to [`MAX_LEN`]
/// bytes; returns the value and the number of bytes it used.
#[inline]
pub fn decode(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    match buf.first_chunk::<MAX_LEN>() {
        Some(window) => decode_window(window),
        None => decode_max(buf, MAX_LEN),
    }
}

/// [`decode`] with at least [`MAX_LEN`] bytes at hand: no bound checks
/// and no branch per byte. A number is `b0 + sum(b[i] << (4 + 7 (i-1)))`
/// (continuation bytes keep their high bit: the encoder subtracted it), so
/// the bytes after the first are summed at 7-bit spacing in three
/// lane-merging steps, and the length is the first byte below 0x80.
#[inline]
fn decode_window(w: &[u8; MAX_LEN]) -> Result<(u64, usize), VarintError> {
    let b0 = u64::from(w[0]);
    if b0 < ONE_BYTE_LIMIT {
        return Ok((b0, 1));
    }
    let mut next = [0u8; 8];
    next.copy_from_slice(&w[1..9]);
    let word = u64::from_le_bytes(next);
    // One bit per byte of `word` that ends the number.
    let stops = !word & 0x8080_8080_8080_8080;
    let (word, len, last) = if stops == 0 {
        // Bytes 1..=8 all continue: byte 9 ends it or nothing does.
        if w[9] >= 0x80 {
            return Err(VarintError::TooLong);
        }
        (word, MAX_LEN, u64::from(w[9]) << 60)
    } else {
        let more = stops.trailing_zeros() / 8 + 1;
        let keep = u64::MAX >> (64 - 8 * more);
        (word & keep, more as usize + 1, 0)
    };
    // 8-bit spacing to 7: pairs in 16-bit lanes, then 32, then 64. No lane
    // overflows (0xff + 0xff << 7 < 2^16; 0x807f + 0x807f << 14 < 2^32).
    let t = (word & 0x00ff_00ff_00ff_00ff) + ((word & 0xff00_ff00_ff00_ff00) >> 1);
    let t = (t & 0x0000_ffff_0000_ffff) + ((t & 0xffff_0000_ffff_0000) >> 2);
    let t = (t & 0xffff_ffff) + ((t >> 32) << 28);
    Ok((b0.wrapping_add(t << 4).wrapping_add(last), len))
}

/// Decodes one number at the start of `buf`, allowing up to `max_len` bytes
/// (clamped to `1..=MAX_LEN`; use [`MAX_LEN_MSG_LENGTH`] for message lengths).
pub fn decode_max(buf: &[u8], max_len: usize) -> Result<(u64, usize), VarintError> {
    crate::bug_on!(max_len == 0, "a varint has at least one byte");
    let max_len = max_len.clamp(1, MAX_LEN);
    let Some(&first) = buf.first() else {
        return Err(VarintError::Incomplete);
    };
    let mut v = u64::from(first);
    if v < ONE_BYTE_LIMIT {
        return Ok((v, 1));
    }
    let mut shift = 4u32;
    for i in 1..max_len {
        let Some(&b) = buf.get(i) else {
            return Err(VarintError::Incomplete);
        };
        // Add the whole byte, continuation bit included (§4.2). The shift
        // stays below 64 (at most 4 + 7 * 8 = 60); high bits fall off.
        v = v.wrapping_add(u64::from(b) << shift);
        if b < 0x80 {
            return Ok((v, i + 1));
        }
        shift += 7;
    }
    Err(VarintError::TooLong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_hand_derivations() {
        let mut out = Vec::new();
        encode(2288, &mut out);
        assert_eq!(out, [0xf0, 0x80, 0x00]);
        assert_eq!(
            decode(&[0xff, 0xf0, 0xfe, 0xfe, 0x7e]),
            Ok((u32::MAX.into(), 5))
        );
    }

    /// The branch-free path agrees with the byte loop on every length,
    /// on boundaries and on random bytes (errors included).
    #[test]
    fn window_decoder_matches_byte_loop() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let check = |w: [u8; MAX_LEN]| {
            assert_eq!(decode_window(&w), decode_max(&w, MAX_LEN), "{w:02x?}");
        };
        for _ in 0..200_000 {
            let mut w = [0u8; MAX_LEN];
            for b in &mut w {
                *b = rnd() as u8;
            }
            // Continuation bytes up to a random length, to reach every one.
            let len = (rnd() % 11) as usize;
            for b in w.iter_mut().take(len).skip(1) {
                *b |= 0x80;
            }
            if len > 0 {
                w[0] |= 0xf0;
            }
            check(w);
        }
        for v in [
            0,
            0xef,
            0xf0,
            2287,
            2288,
            u32::MAX.into(),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let (mut w, n) = encode_array(v);
            w[n..].fill(0xff);
            assert_eq!(decode_window(&w), Ok((v, n)));
            check(w);
        }
        check([0xff; MAX_LEN]);
    }

    #[test]
    fn max_len_is_honoured() {
        let five = [0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
        assert_eq!(decode_max(&five, 5), Err(VarintError::TooLong));
        assert_eq!(decode_max(&five[..4], 5), Err(VarintError::Incomplete));
        assert!(decode_max(&five, 6).is_ok());
        assert_eq!(decode_max(&[0xf0, 0x00], 1), Err(VarintError::TooLong));
        assert_eq!(decode(&[]), Err(VarintError::Incomplete));
    }
}

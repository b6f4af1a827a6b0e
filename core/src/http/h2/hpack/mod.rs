//! HPACK, the HTTP/2 header compression (RFC 7541): HAProxy's `hpack-dec.c`,
//! `hpack-enc.c`, `hpack-tbl.c` and `hpack-huff.c`.
//!
//! Sans-IO and push-free: a [`Decoder`] is handed one complete field block
//! (the fragments of a HEADERS or PUSH_PROMISE frame and its CONTINUATION
//! frames, put together by the mux) and fills a [`HeaderList`]; an
//! [`Encoder`] appends the field block of a header list to a `Vec<u8>`. Each
//! side owns its dynamic table; the two tables of a connection stay in step
//! only if every block is decoded in order, so every decoding error except
//! [`HpackError::HeaderListTooLarge`] is a connection error of type
//! COMPRESSION_ERROR (RFC 9113 §4.3).
//!
//! ```text
//!  field block ──Decoder::decode──> HeaderList (one arena: names and values, never-indexed flags)
//!                  │  size updates first (≤ SETTINGS_HEADER_TABLE_SIZE), then fields
//!                  └─ dynamic table (insert at the front, evict from the back)
//!  [(name, value)] ──Encoder::encode──> field block (indexed / literal with, without or never indexing,
//!                                        Huffman when shorter)
//! ```
//!
//! Defences: integers longer than 5 continuation bytes or past `u32` are
//! errors ([`decode_int`]); string lengths are checked against the input
//! before anything is read; the decoded header list size (RFC 9113 §6.5.2:
//! names, values and 32 bytes per field) is bounded by the caller's
//! `max_header_list_size`, and once past it the decoder stops copying (an
//! "HPACK bomb" of one-byte references to a 4 KB entry costs no memory) but
//! still decodes the block to the end, so that the dynamic table stays in
//! step and the connection survives: the error is a stream error (431).

mod decode;
mod encode;
pub mod huffman;
mod table;

pub use decode::{Decoder, Field, HeaderList};
pub use encode::Encoder;
pub use table::{DynamicTable, ENTRY_OVERHEAD, STATIC_TABLE};

/// SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// Why a field block could not be decoded. Every case but
/// [`HpackError::HeaderListTooLarge`] is a COMPRESSION_ERROR for the
/// connection (see [`HpackError::is_compression_error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// The block ends inside a representation (RFC 7541 §5.1, §5.2).
    Truncated,
    /// An integer past `u32`, or with more continuation bytes than one
    /// needs for it (RFC 7541 §5.1: implementations limit integers).
    IntegerOverflow,
    /// Index 0, or past the static and dynamic tables (RFC 7541 §2.3.3).
    InvalidIndex,
    /// The EOS symbol inside a Huffman string (RFC 7541 §5.2).
    HuffmanEos,
    /// Huffman padding longer than 7 bits or not all ones (RFC 7541 §5.2).
    HuffmanPadding,
    /// A dynamic table size update above SETTINGS_HEADER_TABLE_SIZE
    /// (RFC 7541 §6.3).
    SizeUpdateTooLarge,
    /// A dynamic table size update after a field representation
    /// (RFC 7541 §4.2: updates come at the beginning of a block).
    SizeUpdateNotFirst,
    /// SETTINGS_HEADER_TABLE_SIZE was lowered below the table size and the
    /// next block did not start with an update to at most the new value
    /// (RFC 7541 §4.2).
    SizeUpdateMissing,
    /// The decoded header list is larger than `max_header_list_size`
    /// (RFC 9113 §6.5.2). The block was decoded to its end (the dynamic
    /// table is in step): a stream error, the request gets a 431.
    HeaderListTooLarge,
}

impl HpackError {
    /// Whether the connection must end with COMPRESSION_ERROR (RFC 9113
    /// §4.3); otherwise only the stream fails.
    pub fn is_compression_error(self) -> bool {
        self != HpackError::HeaderListTooLarge
    }
}

impl std::fmt::Display for HpackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            HpackError::Truncated => "field block truncated",
            HpackError::IntegerOverflow => "integer overflow",
            HpackError::InvalidIndex => "invalid table index",
            HpackError::HuffmanEos => "EOS in Huffman string",
            HpackError::HuffmanPadding => "invalid Huffman padding",
            HpackError::SizeUpdateTooLarge => "table size update above the setting",
            HpackError::SizeUpdateNotFirst => "table size update after a field",
            HpackError::SizeUpdateMissing => "expected table size update missing",
            HpackError::HeaderListTooLarge => "header list too large",
        };
        f.write_str(s)
    }
}

impl std::error::Error for HpackError {}

/// Decodes an integer with an `prefix`-bit prefix (RFC 7541 §5.1) from the
/// start of `src`, the bits above the prefix in the first byte ignored.
/// Returns the value and the bytes used.
///
/// Values past `u32::MAX` and encodings longer than 5 continuation bytes
/// (redundant zero continuations included) are [`HpackError::IntegerOverflow`].
pub fn decode_int(src: &[u8], prefix: u8) -> Result<(u32, usize), HpackError> {
    debug_assert!((1..=8).contains(&prefix));
    let max_prefix: u32 = (1u32 << prefix) - 1;
    let Some(&first) = src.first() else {
        return Err(HpackError::Truncated);
    };
    let mut value = u32::from(first) & max_prefix;
    if value < max_prefix {
        return Ok((value, 1));
    }
    let mut shift = 0u32;
    for (i, &b) in src.iter().enumerate().skip(1) {
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
        let part = u32::from(b & 0x7f)
            .checked_shl(shift)
            .filter(|p| p >> shift == u32::from(b & 0x7f))
            .ok_or(HpackError::IntegerOverflow)?;
        value = value.checked_add(part).ok_or(HpackError::IntegerOverflow)?;
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
        shift += 7;
    }
    Err(HpackError::Truncated)
}

/// Appends `value` with a `prefix`-bit prefix (RFC 7541 §5.1); `flags` are
/// the bits above the prefix in the first byte.
pub fn encode_int(value: u32, prefix: u8, flags: u8, dst: &mut Vec<u8>) {
    debug_assert!((1..=8).contains(&prefix));
    let max_prefix: u32 = (1u32 << prefix) - 1;
    if value < max_prefix {
        dst.push(flags | value as u8);
        return;
    }
    dst.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        dst.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.push(rest as u8);
}

/// A string literal (RFC 7541 §5.2) at the start of `src`: whether it is
/// Huffman-encoded, its raw bytes, and the bytes used. The length is checked
/// against the input before anything else.
pub fn decode_str(src: &[u8]) -> Result<(bool, &[u8], usize), HpackError> {
    let huffman = src.first().is_some_and(|b| b & 0x80 != 0);
    let (len, n) = decode_int(src, 7)?;
    let len = len as usize;
    let end = n.checked_add(len).ok_or(HpackError::Truncated)?;
    let raw = src.get(n..end).ok_or(HpackError::Truncated)?;
    Ok((huffman, raw, n + len))
}

/// Appends `s` as a string literal, Huffman-encoded unless that is longer
/// (or the string is empty), as RFC 7541's examples do.
pub fn encode_str(s: &[u8], dst: &mut Vec<u8>) {
    let hlen = huffman::encoded_len(s);
    if !s.is_empty() && hlen <= s.len() {
        encode_int(hlen as u32, 7, 0x80, dst);
        huffman::encode(s, dst);
    } else {
        encode_int(s.len() as u32, 7, 0, dst);
        dst.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7541_c1_integers() {
        // C.1.1: 10 with a 5-bit prefix.
        let mut v = Vec::new();
        encode_int(10, 5, 0, &mut v);
        assert_eq!(v, [0b01010]);
        assert_eq!(decode_int(&v, 5), Ok((10, 1)));
        // C.1.2: 1337 with a 5-bit prefix.
        v.clear();
        encode_int(1337, 5, 0, &mut v);
        assert_eq!(v, [0b11111, 0b1001_1010, 0b0000_1010]);
        assert_eq!(decode_int(&v, 5), Ok((1337, 3)));
        // C.1.3: 42 at an octet boundary.
        v.clear();
        encode_int(42, 8, 0, &mut v);
        assert_eq!(v, [42]);
        assert_eq!(decode_int(&v, 8), Ok((42, 1)));
        // Bits above the prefix are ignored by the decoder.
        assert_eq!(decode_int(&[0b1110_1010], 5), Ok((10, 1)));
    }

    #[test]
    fn integer_limits() {
        for prefix in 1..=8u8 {
            for value in [
                0,
                1,
                30,
                31,
                127,
                128,
                255,
                16_383,
                1 << 21,
                u32::MAX - 1,
                u32::MAX,
            ] {
                let mut v = Vec::new();
                encode_int(value, prefix, 0, &mut v);
                assert_eq!(
                    decode_int(&v, prefix),
                    Ok((value, v.len())),
                    "{value}/{prefix}"
                );
                // Every strict prefix of a multi-byte integer is truncated.
                for cut in 0..v.len() {
                    assert_eq!(decode_int(&v[..cut], prefix), Err(HpackError::Truncated));
                }
            }
        }
        // u32::MAX + 1 with a 7-bit prefix: 127 + 0xffff_ff81.
        assert_eq!(
            decode_int(&[0x7f, 0x81, 0xff, 0xff, 0xff, 0x0f], 7),
            Err(HpackError::IntegerOverflow)
        );
        // A huge fifth continuation byte.
        assert_eq!(
            decode_int(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f], 7),
            Err(HpackError::IntegerOverflow)
        );
        // Redundant zero continuations never end: capped at 5 bytes.
        let mut long = vec![0x7f];
        long.extend([0x80; 10]);
        long.push(0);
        assert_eq!(decode_int(&long, 7), Err(HpackError::IntegerOverflow));
        assert_eq!(decode_int(&[], 7), Err(HpackError::Truncated));
    }

    #[test]
    fn string_length_checked_against_input() {
        assert_eq!(decode_str(&[0x05, b'a', b'b']), Err(HpackError::Truncated));
        assert_eq!(
            decode_str(&[0x02, b'a', b'b', b'c']),
            Ok((false, &b"ab"[..], 3))
        );
        // A length near u32::MAX does not overflow `n + len`.
        assert_eq!(
            decode_str(&[0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f]),
            Err(HpackError::Truncated)
        );
    }
}

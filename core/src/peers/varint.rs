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
pub fn decode(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    decode_max(buf, MAX_LEN)
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

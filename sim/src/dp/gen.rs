//! The bytes simulated clients send: every stream is a pure function of
//! `(key, offset)`, so nobody stores what was sent and any byte seen
//! anywhere can be checked against what it must be.
//!
//! A TCP client's stream starts with an 8-byte tag, `SLC:` and the client's
//! id (big endian), so that a server knows whose bytes it is reading; the
//! rest is pseudo-random. HTTP bodies have no tag (the request head says
//! whose body it is).

/// The tag every TCP client stream starts with.
pub const MAGIC: [u8; 4] = *b"SLC:";
/// Length of the tag (magic and id).
pub const TAG_LEN: u64 = 8;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Byte `off` of the untagged stream `key`.
pub fn body_byte(key: u64, off: u64) -> u8 {
    let w = splitmix(key.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ (off / 8));
    w.to_le_bytes()[(off % 8) as usize]
}

/// Appends bytes `off..off + n` of the untagged stream `key`.
pub fn body_fill(key: u64, off: u64, n: usize, out: &mut Vec<u8>) {
    out.reserve(n);
    let mut o = off;
    let end = off + n as u64;
    while o < end {
        let w = splitmix(key.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ (o / 8)).to_le_bytes();
        let from = (o % 8) as usize;
        let take = ((end - o) as usize).min(8 - from);
        out.extend_from_slice(&w[from..from + take]);
        o += take as u64;
    }
}

/// The first index where `data` differs from the untagged stream `key` at `off`.
pub fn body_mismatch(key: u64, off: u64, data: &[u8]) -> Option<usize> {
    let mut want = Vec::with_capacity(data.len());
    body_fill(key, off, data.len(), &mut want);
    data.iter().zip(&want).position(|(a, b)| a != b)
}

/// The key of TCP client `id`'s stream (after its tag).
fn tcp_key(id: u32) -> u64 {
    (1 << 63) | u64::from(id)
}

/// Byte `off` of TCP client `id`'s stream.
pub fn tcp_byte(id: u32, off: u64) -> u8 {
    match off {
        0..=3 => MAGIC[off as usize],
        4..=7 => id.to_be_bytes()[off as usize - 4],
        _ => body_byte(tcp_key(id), off),
    }
}

/// Appends bytes `off..off + n` of TCP client `id`'s stream.
pub fn tcp_fill(id: u32, off: u64, n: usize, out: &mut Vec<u8>) {
    let mut o = off;
    let end = off + n as u64;
    while o < end.min(TAG_LEN) {
        out.push(tcp_byte(id, o));
        o += 1;
    }
    if o < end {
        body_fill(tcp_key(id), o, (end - o) as usize, out);
    }
}

/// The first index where `data` differs from TCP client `id`'s stream at `off`.
pub fn tcp_mismatch(id: u32, off: u64, data: &[u8]) -> Option<usize> {
    let mut want = Vec::with_capacity(data.len());
    tcp_fill(id, off, data.len(), &mut want);
    data.iter().zip(&want).position(|(a, b)| a != b)
}

/// Bytes that cannot be the start of any client's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAStream;

/// What the first bytes of a stream say about its owner: `Ok(Some(id))`
/// once the tag is complete, `Ok(None)` while it is a valid beginning.
pub fn tcp_ident(prefix: &[u8]) -> Result<Option<u32>, NotAStream> {
    let m = prefix.len().min(4);
    if prefix[..m] != MAGIC[..m] {
        return Err(NotAStream);
    }
    if prefix.len() < TAG_LEN as usize {
        return Ok(None);
    }
    let id = u32::from_be_bytes(prefix[4..8].try_into().expect("4 bytes"));
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_agrees_with_byte_at() {
        for off in [0u64, 3, 7, 8, 9, 15, 16, 1000] {
            let mut v = Vec::new();
            tcp_fill(42, off, 37, &mut v);
            for (i, b) in v.iter().enumerate() {
                assert_eq!(*b, tcp_byte(42, off + i as u64));
            }
            assert_eq!(tcp_mismatch(42, off, &v), None);
        }
        let mut v = Vec::new();
        tcp_fill(7, 0, 20, &mut v);
        assert_eq!(tcp_ident(&v[..3]), Ok(None));
        assert_eq!(tcp_ident(&v), Ok(Some(7)));
        assert_eq!(tcp_ident(b"GET"), Err(NotAStream));
        v[12] ^= 1;
        assert_eq!(tcp_mismatch(7, 0, &v), Some(12));
    }
}

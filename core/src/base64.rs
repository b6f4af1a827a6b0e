//! Base64 as HAProxy does it (`base64.c`): the standard alphabet with `=`
//! padding (`a2base64`, `base64dec`) and the URL-safe alphabet without
//! padding (`a2base64url`, `base64urldec`). Used by the `base64`,
//! `b64dec`, `ub64enc`, `ub64dec` and `hmac` converters and by HTTP Basic
//! authentication.
//!
//! The decoders keep HAProxy 2.6's tolerances, so that a value accepted
//! (or refused) by HAProxy is accepted (or refused) here too:
//! * the bits below the last whole byte are ignored (`QR==` is `A`, as
//!   `QQ==`);
//! * padding ends a group of four, not the text: `QQ==QUJD` is `AABC`,
//!   and a group may be one character and three `=` (it then gives no
//!   byte); a group that starts with `=` (`====`, `=AAA`) is refused;
//! * in the URL-safe alphabet, `=` is read as `_` (value 63), as
//!   HAProxy's reverse table has it.

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The padding value of the decoding tables.
const PAD: u8 = 64;

fn encode_with(input: &[u8], tab: &[u8; 64], pad: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for g in input.chunks(3) {
        let b = [g[0], *g.get(1).unwrap_or(&0), *g.get(2).unwrap_or(&0)];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = g.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(tab[((v >> (18 - 6 * i)) & 63) as usize]);
            } else if pad {
                out.push(b'=');
            }
        }
    }
    out
}

/// Standard base64 with `=` padding (HAProxy's `a2base64`).
pub fn encode(input: &[u8]) -> Vec<u8> {
    encode_with(input, STD, true)
}

/// URL-safe base64 (`-`, `_`), without padding (HAProxy's `a2base64url`).
pub fn encode_url(input: &[u8]) -> Vec<u8> {
    encode_with(input, URL, false)
}

fn std_value(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        b'=' => PAD,
        _ => return None,
    })
}

fn url_value(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        // HAProxy's URL-safe reverse table gives `=` the value of `_`.
        b'_' | b'=' => 63,
        _ => return None,
    })
}

/// The three bytes of a group of four sextets (a padding value counts as 0
/// in the bits that are kept).
fn group_bytes(t: [u8; 4]) -> [u8; 3] {
    let s = t.map(|v| u32::from(v & 63));
    let v = (s[0] << 18) | (s[1] << 12) | (s[2] << 6) | s[3];
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Standard base64 (HAProxy's `base64dec`): the length must be a multiple
/// of 4. `None` on a character outside the alphabet or bad padding (see
/// the module's notes). An empty input is an empty output.
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    for q in input.chunks_exact(4) {
        let mut t = [0u8; 4];
        let mut pad = 0usize;
        for (i, &c) in q.iter().enumerate() {
            let v = std_value(c)?;
            if pad > 0 && (v != PAD || i < 2) {
                return None;
            }
            if v == PAD {
                pad += 1;
            }
            t[i] = v;
        }
        out.extend_from_slice(&group_bytes(t)[..3 - pad.min(3)]);
    }
    Some(out)
}

/// URL-safe base64 without padding (HAProxy's `base64urldec`): a length
/// of 4n+1 is refused. `None` on a character outside the alphabet.
pub fn decode_url(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len().div_ceil(4) * 3);
    for q in input.chunks(4) {
        let mut t = [0u8; 4];
        for (i, &c) in q.iter().enumerate() {
            t[i] = url_value(c)?;
        }
        // A short last group (2 or 3 characters) gives 1 or 2 bytes.
        out.extend_from_slice(&group_bytes(t)[..q.len() - 1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        let v: [(&[u8], &[u8]); 7] = [
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ];
        for (plain, b64) in v {
            assert_eq!(encode(plain), b64);
            assert_eq!(decode(b64).as_deref(), Some(plain));
            let url: Vec<u8> = b64.iter().copied().filter(|&c| c != b'=').collect();
            assert_eq!(encode_url(plain), url);
            assert_eq!(decode_url(&url).as_deref(), Some(plain));
        }
    }

    #[test]
    fn url_alphabet_differs_in_two_characters() {
        assert_eq!(encode(&[0xfb, 0xff]), b"+/8=");
        assert_eq!(encode_url(&[0xfb, 0xff]), b"-_8");
        assert_eq!(decode_url(b"-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(decode(b"-_8="), None);
        assert_eq!(decode_url(b"+/8"), None);
    }

    #[test]
    fn haproxy_tolerances_and_refusals() {
        assert_eq!(decode(b"Zg="), None, "length not a multiple of 4");
        assert_eq!(decode(b"Zm9v!A=="), None);
        assert_eq!(decode(b"===="), None);
        assert_eq!(decode(b"=AAA"), None);
        assert_eq!(decode(b"Z=g="), None, "padding must be continuous");
        assert_eq!(decode(b"QR=="), Some(b"A".to_vec()), "low bits ignored");
        assert_eq!(decode(b"QQ==QUJD"), Some(b"AABC".to_vec()));
        assert_eq!(decode(b"Q==="), Some(Vec::new()));
        assert_eq!(decode_url(b"Zm9vY"), None, "4n+1 characters");
        assert_eq!(decode_url(b"Zg="), decode_url(b"Zg_"), "'=' read as '_'");
        assert_eq!(decode_url(b"Zg_"), Some(vec![0x66, 0x0f]));
        assert_eq!(decode_url(b"Zm9v Zg"), None);
    }
}

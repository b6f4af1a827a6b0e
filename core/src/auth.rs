//! HTTP basic authentication against `userlist` sections: HAProxy's
//! `auth.c` (`check_user`, `auth_resolve_groups`) and the `Authorization`
//! header parsing of `http_fetch.c` (`get_http_auth`).
//!
//! Passwords are either `insecure-password` (compared as written) or
//! `password HASH`, a crypt(3) string. HAProxy hands the hash to the C
//! library's `crypt()`; Sluice verifies the schemes Debian's libcrypt
//! offers for `$5$` (SHA-256-crypt) and `$6$` (SHA-512-crypt) with the
//! RustCrypto `sha-crypt` crate, and `$1$` (MD5-crypt) here over the
//! `md-5` crate. Any other scheme (DES, bcrypt, yescrypt) is refused when
//! the configuration is parsed rather than never matching
//! ([`crypt_supported`]). Verification is pure computation (no I/O), so it
//! runs in the sans-IO core.

use std::collections::BTreeSet;

/// A user's password (HAProxy's `struct auth_users` `pass`, with
/// `AU_O_INSECURE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Password {
    /// `insecure-password PW`.
    Insecure(String),
    /// `password HASH`: a crypt(3) string.
    Crypt(String),
    /// No password given: the user never authenticates.
    None,
}

/// A user of a userlist, with every group it belongs to (named on its
/// `groups` or on a group's `users`), resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub pass: Password,
    pub groups: BTreeSet<String>,
}

/// A resolved `userlist` section (HAProxy's `struct userlist`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Userlist {
    pub name: String,
    pub users: Vec<User>,
    pub groups: Vec<String>,
}

impl Userlist {
    /// HAProxy's `check_user`: the user exists and the password matches.
    pub fn check(&self, user: &str, pass: &str) -> bool {
        let Some(u) = self.users.iter().find(|u| u.name == user) else {
            return false;
        };
        match &u.pass {
            Password::Insecure(p) => ct_eq(p.as_bytes(), pass.as_bytes()),
            Password::Crypt(h) => crypt_verify(pass.as_bytes(), h),
            Password::None => false,
        }
    }

    /// The groups of `user` (empty for an unknown user).
    pub fn groups_of<'a>(&'a self, user: &str) -> impl Iterator<Item = &'a str> {
        self.users
            .iter()
            .find(|u| u.name == user)
            .into_iter()
            .flat_map(|u| u.groups.iter().map(String::as_str))
    }
}

/// Compares without stopping at the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether Sluice can verify a crypt(3) string of this scheme.
pub fn crypt_supported(hash: &str) -> bool {
    hash.starts_with("$1$") || hash.starts_with("$5$") || hash.starts_with("$6$")
}

/// Verifies `pass` against a crypt(3) string.
pub fn crypt_verify(pass: &[u8], hash: &str) -> bool {
    if let Some(rest) = hash.strip_prefix("$1$") {
        return md5_crypt_verify(pass, rest);
    }
    if hash.starts_with("$5$") || hash.starts_with("$6$") {
        use sha_crypt::PasswordVerifier as _;
        return sha_crypt::ShaCrypt::default()
            .verify_password(pass, hash)
            .is_ok();
    }
    false
}

/// The crypt(3) base-64 alphabet.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn to64(out: &mut Vec<u8>, mut v: u32, n: usize) {
    for _ in 0..n {
        out.push(ITOA64[(v & 0x3f) as usize]);
        v >>= 6;
    }
}

/// MD5-crypt (`$1$SALT$HASH`, Poul-Henning Kamp's algorithm as in glibc):
/// the 22 characters computed for `pass` and `SALT` (at most 8 bytes).
fn md5_crypt(pass: &[u8], salt: &[u8]) -> Vec<u8> {
    use md5::{Digest, Md5};
    let salt = &salt[..salt.len().min(8)];
    let alt = {
        let mut h = Md5::new();
        h.update(pass);
        h.update(salt);
        h.update(pass);
        h.finalize()
    };
    let mut h = Md5::new();
    h.update(pass);
    h.update(b"$1$");
    h.update(salt);
    let mut n = pass.len();
    while n > 0 {
        let k = n.min(16);
        h.update(&alt[..k]);
        n -= k;
    }
    let mut n = pass.len();
    while n > 0 {
        if n & 1 == 1 {
            h.update([0u8]);
        } else {
            h.update(&pass[..1]);
        }
        n >>= 1;
    }
    let mut fin = h.finalize();
    for i in 0..1000 {
        let mut h = Md5::new();
        if i & 1 == 1 {
            h.update(pass);
        } else {
            h.update(fin);
        }
        if i % 3 != 0 {
            h.update(salt);
        }
        if i % 7 != 0 {
            h.update(pass);
        }
        if i & 1 == 1 {
            h.update(fin);
        } else {
            h.update(pass);
        }
        fin = h.finalize();
    }
    let f = |i: usize| u32::from(fin[i]);
    let mut out = Vec::with_capacity(22);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64(&mut out, (f(a) << 16) | (f(b) << 8) | f(c), 4);
    }
    to64(&mut out, f(11), 2);
    out
}

/// `rest` is what follows `$1$`: `SALT$HASH`.
fn md5_crypt_verify(pass: &[u8], rest: &str) -> bool {
    let Some((salt, want)) = rest.split_once('$') else {
        return false;
    };
    ct_eq(&md5_crypt(pass, salt.as_bytes()), want.as_bytes())
}

/// The user name and password of an `Authorization: Basic ...` value
/// (HAProxy's `get_http_auth`): the scheme is matched without case, the
/// credentials are base64 of `user:password` (split at the first `:`).
/// `None` for another scheme or bad encoding.
pub fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let v = trim(value);
    let sp = v.iter().position(|&b| b == b' ')?;
    let (scheme, creds) = v.split_at(sp);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = crate::base64::decode(trim(creds))?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    let pass = String::from_utf8(decoded[colon + 1..].to_vec()).ok()?;
    Some((user, pass))
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_decoded() {
        // "bob:pw:with:colons"
        let v = b"Basic Ym9iOnB3OndpdGg6Y29sb25z";
        assert_eq!(
            parse_basic(v),
            Some(("bob".into(), "pw:with:colons".into()))
        );
        assert_eq!(
            parse_basic(b"basic Ym9iOg=="),
            Some(("bob".into(), "".into()))
        );
        assert_eq!(parse_basic(b"Bearer Ym9iOg=="), None);
        assert_eq!(parse_basic(b"Basic Ym9iOg="), None);
        assert_eq!(parse_basic(b"Basic !!!!"), None);
        assert_eq!(parse_basic(b"Basic Ym9i"), None, "no colon");
    }

    #[test]
    fn crypt_strings_verify() {
        // openssl passwd -1 -salt saltsalt secret
        assert!(crypt_verify(
            b"secret",
            "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"
        ));
        assert!(!crypt_verify(
            b"Secret",
            "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"
        ));
        // openssl passwd -5 -salt saltsalt secret
        assert!(crypt_verify(
            b"secret",
            "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"
        ));
        // openssl passwd -6 -salt saltsalt secret
        assert!(crypt_verify(
            b"secret",
            "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
        ));
        assert!(!crypt_verify(b"x", "$6$saltsalt$nZVsq"));
        assert!(!crypt_verify(b"secret", "$2y$10$abc"));
        assert!(!crypt_verify(b"secret", "garbage"));
    }
}

//! Stick-table keys: HAProxy's `struct stktable_key` as stored in a
//! `struct stksess` (`key.key`, `t->key_size` bytes).
//!
//! A [`StKey`] holds the *normalised* bytes of a key, so that byte order is
//! key order and byte equality is key equality:
//!
//! | type    | bytes                                                        |
//! |---------|--------------------------------------------------------------|
//! | ip      | 4, network order                                             |
//! | ipv6    | 16, network order                                            |
//! | integer | 4, big-endian `u32` (the peers wire order)                   |
//! | string  | at most `key_size - 1`, cut at the first NUL, no terminator  |
//! | binary  | exactly `key_size`, zero-padded or truncated                 |
//!
//! Strings are C strings in HAProxy: the tree compares them with `strcmp`
//! and `show table` prints them up to the first NUL, so a NUL byte ends the
//! key here too.
//!
//! Integer keys: HAProxy stores them in host order and its tree compares
//! bytes, so on a little-endian host `show table` lists them in an order that
//! is not numeric. Sluice keeps big-endian bytes and lists them numerically.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::params::{KeyType, TableParams};

/// A key that could not be built from peer bytes or CLI text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// A fixed-size key (ip, ipv6, integer) of the wrong length.
    BadLength { expected: usize, got: usize },
    /// Text that is not a key of the table's type (HAProxy: "Invalid key").
    Invalid,
    /// HAProxy 2.6's CLI refuses binary keys ("... tables of type other than
    /// ip, ipv6, string and integer is not supported").
    UnsupportedType,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::BadLength { expected, got } => {
                write!(f, "key of {got} bytes where {expected} are expected")
            }
            KeyError::Invalid => f.write_str("Invalid key"),
            KeyError::UnsupportedType => f.write_str(
                "keys of tables of type other than ip, ipv6, string and integer are not supported",
            ),
        }
    }
}

/// A normalised stick-table key (see the module documentation).
///
/// Invariant: `bytes` has the length its `kind` (and the table's key size)
/// demands, so two keys of one table are equal iff their bytes are.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StKey {
    kind: KeyType,
    bytes: KeyBytes,
}

/// Key bytes, inline up to 24 (every ip, ipv6 and integer key, short
/// strings).
type KeyBytes = smallvec::SmallVec<[u8; 24]>;

impl PartialOrd for StKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StKey {
    /// Byte order; keys of different types (never in one table) by type.
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.kind.wire_id(), &self.bytes[..]).cmp(&(other.kind.wire_id(), &other.bytes[..]))
    }
}

impl StKey {
    /// An IPv4 key.
    pub fn ipv4(addr: Ipv4Addr) -> StKey {
        Self::raw(KeyType::Ipv4, &addr.octets())
    }

    /// An IPv6 key.
    pub fn ipv6(addr: Ipv6Addr) -> StKey {
        Self::raw(KeyType::Ipv6, &addr.octets())
    }

    /// An integer key (HAProxy keeps 32 bits).
    pub fn integer(value: u32) -> StKey {
        Self::raw(KeyType::Integer, &value.to_be_bytes())
    }

    /// A string key for a table of `key_size` (`len + 1`): cut at the first
    /// NUL, then truncated to `key_size - 1` bytes (`stksess_setkey`).
    pub fn string(key_size: usize, s: &[u8]) -> StKey {
        let s = s.split(|&b| b == 0).next().unwrap_or(&[]);
        let n = s.len().min(key_size.saturating_sub(1));
        Self::raw(KeyType::String, &s[..n])
    }

    /// A binary key for a table of `key_size`: zero-padded or truncated to
    /// exactly `key_size` bytes (what a short sample becomes in HAProxy).
    pub fn binary(key_size: usize, b: &[u8]) -> StKey {
        let mut v = vec![0u8; key_size];
        let n = b.len().min(key_size);
        v[..n].copy_from_slice(&b[..n]);
        StKey {
            kind: KeyType::Binary,
            bytes: KeyBytes::from_vec(v),
        }
    }

    fn raw(kind: KeyType, bytes: &[u8]) -> StKey {
        StKey {
            kind,
            bytes: KeyBytes::from_slice(bytes),
        }
    }

    /// A key received from a peer (the key bytes of an update message, without
    /// the string length prefix), normalised as HAProxy stores it: strings are
    /// truncated to `key_size - 1`, binary keys padded/truncated to
    /// `key_size`; fixed-size keys must have their exact size.
    pub fn from_wire(params: &TableParams, bytes: &[u8]) -> Result<StKey, KeyError> {
        match params.key_type {
            KeyType::String => Ok(Self::string(params.key_size, bytes)),
            KeyType::Binary => Ok(Self::binary(params.key_size, bytes)),
            kind => {
                let expected = kind.default_key_size();
                if bytes.len() != expected {
                    return Err(KeyError::BadLength {
                        expected,
                        got: bytes.len(),
                    });
                }
                Ok(Self::raw(kind, bytes))
            }
        }
    }

    /// A key typed on the CLI (`set table t key <text>`), as HAProxy 2.6's
    /// `table_process_entry_per_key` reads it: a dotted IPv4 address, IPv6
    /// text, a decimal integer up to 2^32-1, or a raw string. Binary keys are
    /// refused, as in 2.6 (see [`StKey::parse_hex`] for Sluice's extension).
    ///
    /// Sluice is stricter than 2.6 on malformed text: 2.6's `inetaddr_host`
    /// reads `1.2.x` as some address and `strtoul` ignores trailing garbage
    /// (`12ab` is 12); both are errors here.
    pub fn parse(params: &TableParams, text: &str) -> Result<StKey, KeyError> {
        match params.key_type {
            KeyType::Ipv4 => text
                .parse::<Ipv4Addr>()
                .map(Self::ipv4)
                .map_err(|_| KeyError::Invalid),
            KeyType::Ipv6 => text
                .parse::<Ipv6Addr>()
                .map(Self::ipv6)
                .map_err(|_| KeyError::Invalid),
            KeyType::Integer => parse_u32_decimal(text).map(Self::integer),
            KeyType::String => Ok(Self::string(params.key_size, text.as_bytes())),
            KeyType::Binary => Err(KeyError::UnsupportedType),
        }
    }

    /// Sluice's CLI extension for binary keys: the hex digits `show table`
    /// prints (either case, an even count, at most `key_size` bytes), padded
    /// with zeros to `key_size`. Only for binary tables.
    pub fn parse_hex(params: &TableParams, text: &str) -> Result<StKey, KeyError> {
        if params.key_type != KeyType::Binary {
            return Err(KeyError::Invalid);
        }
        let t = text.as_bytes();
        if t.is_empty() || t.len() % 2 != 0 || t.len() / 2 > params.key_size {
            return Err(KeyError::Invalid);
        }
        let mut out = Vec::with_capacity(t.len() / 2);
        for pair in t.chunks_exact(2) {
            let hi = hex_val(pair[0]).ok_or(KeyError::Invalid)?;
            let lo = hex_val(pair[1]).ok_or(KeyError::Invalid)?;
            out.push(hi << 4 | lo);
        }
        Ok(Self::binary(params.key_size, &out))
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.kind
    }

    /// The normalised bytes (for the wire: ip/ipv6/integer/binary are sent as
    /// is, a string is sent as its length then these bytes).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether this key is well formed for a table with `params` (type and
    /// length).
    pub fn fits(&self, params: &TableParams) -> bool {
        self.kind == params.key_type
            && match self.kind {
                KeyType::String => {
                    self.bytes.len() < params.key_size.max(1) && !self.bytes.contains(&0)
                }
                KeyType::Binary => self.bytes.len() == params.key_size,
                k => self.bytes.len() == k.default_key_size(),
            }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A decimal `u32`, as 2.6 accepts it with `strtoul(.., 10)` and a range
/// check (an optional `+`, digits, nothing after).
fn parse_u32_decimal(text: &str) -> Result<u32, KeyError> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KeyError::Invalid);
    }
    digits.parse::<u32>().map_err(|_| KeyError::Invalid)
}

impl fmt::Display for StKey {
    /// The key as `show table` prints it (`table_dump_entry_to_buffer`):
    /// `inet_ntop` for addresses, `%u` for integers, `dump_text` for
    /// strings, `dump_binary` (uppercase hex of all bytes) for binary keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.bytes;
        match self.kind {
            KeyType::Ipv4 if b.len() == 4 => write!(f, "{}.{}.{}.{}", b[0], b[1], b[2], b[3]),
            KeyType::Ipv6 if b.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                fmt_ipv6(f, &a)
            }
            KeyType::Integer if b.len() == 4 => {
                write!(f, "{}", u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
            KeyType::String => dump_text(f, b),
            _ => b.iter().try_for_each(|x| write!(f, "{x:02X}")),
        }
    }
}

impl fmt::Debug for StKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StKey({}:{})", self.kind.name(), self)
    }
}

/// HAProxy's `dump_text`: printable ASCII as is, except `\`, space and `=`
/// which are escaped with a backslash like `\t \n \r \e`; any other byte as
/// `\xHH` (uppercase). Stops at NUL.
fn dump_text(f: &mut fmt::Formatter<'_>, s: &[u8]) -> fmt::Result {
    for &c in s.iter().take_while(|&&c| c != 0) {
        match c {
            b'\\' | b' ' | b'=' => write!(f, "\\{}", c as char)?,
            b'\t' => f.write_str("\\t")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            0x1b => f.write_str("\\e")?,
            0x21..=0x7e => write!(f, "{}", c as char)?,
            _ => write!(f, "\\x{c:02X}")?,
        }
    }
    Ok(())
}

/// glibc's `inet_ntop(AF_INET6)`: RFC 5952 zero compression of the first
/// longest run of at least two zero words, and the dotted form for
/// IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`, the first
/// six words zero but the seventh not — `::1` stays `::1`) addresses.
fn fmt_ipv6(f: &mut fmt::Formatter<'_>, a: &[u8; 16]) -> fmt::Result {
    let words: [u16; 8] = core::array::from_fn(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]));
    let (base, len) = longest_zero_run(&words);
    let dotted_tail = base == Some(0) && (len == 6 || (len == 5 && words[5] == 0xffff));
    let mut i = 0;
    while i < 8 {
        if Some(i) == base {
            // The run is one ':'; the word after it brings its own.
            f.write_str(":")?;
            i += len;
            if i == 8 {
                f.write_str(":")?;
            }
            continue;
        }
        if i != 0 {
            f.write_str(":")?;
        }
        if i == 6 && dotted_tail {
            return write!(f, "{}.{}.{}.{}", a[12], a[13], a[14], a[15]);
        }
        write!(f, "{:x}", words[i])?;
        i += 1;
    }
    Ok(())
}

/// The first longest run of zero words, if at least two long.
fn longest_zero_run(words: &[u16; 8]) -> (Option<usize>, usize) {
    let (mut best, mut best_len) = (None, 0);
    let mut i = 0;
    while i < 8 {
        let start = i;
        while i < 8 && words[i] == 0 {
            i += 1;
        }
        if i - start > best_len {
            best = Some(start);
            best_len = i - start;
        }
        i += 1;
    }
    if best_len < 2 {
        (None, 0)
    } else {
        (best, best_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kind: KeyType, key_size: usize) -> TableParams {
        let mut p = TableParams::new("t", kind, 16);
        p.key_size = key_size;
        p
    }

    fn v6(s: &str) -> String {
        StKey::ipv6(s.parse().unwrap()).to_string()
    }

    #[test]
    fn ipv4_and_integer_formatting() {
        assert_eq!(
            StKey::ipv4(Ipv4Addr::new(127, 0, 0, 10)).to_string(),
            "127.0.0.10"
        );
        assert_eq!(StKey::integer(u32::MAX).to_string(), "4294967295");
        assert_eq!(StKey::integer(1234).as_bytes(), &[0, 0, 4, 0xd2]);
    }

    #[test]
    fn ipv6_formatting_follows_glibc() {
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("::ffff:127.0.0.1"), "::ffff:127.0.0.1");
        // IPv4-compatible: glibc prints the dotted tail (Rust's Display would not).
        assert_eq!(v6("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(v6("2001:db8::1"), "2001:db8::1");
        // First longest run wins; a single zero word is not compressed.
        assert_eq!(v6("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(v6("1:0:0:2:3:0:0:4"), "1::2:3:0:0:4");
        assert_eq!(v6("1:2:3:4:5:6:0:8"), "1:2:3:4:5:6:0:8");
        assert_eq!(v6("fe80::"), "fe80::");
        assert_eq!(v6("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
        // ::ffff:0:a.b.c.d (SIIT) is not mapped: plain hex.
        assert_eq!(v6("::ffff:0:102:304"), "::ffff:0:102:304");
    }

    #[test]
    fn string_keys_truncate_and_stop_at_nul() {
        // `len 32` -> key_size 33 -> at most 32 bytes.
        let long = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let k = StKey::string(33, long);
        assert_eq!(k.as_bytes(), &long[..32]);
        assert_eq!(k.to_string(), "abcdefghijklmnopqrstuvwxyz012345");
        assert_eq!(StKey::string(33, b"ab\0cd"), StKey::string(33, b"ab"));
        assert_eq!(StKey::string(1, b"x").as_bytes(), b"");
        assert_eq!(StKey::string(0, b"x").as_bytes(), b"");
    }

    #[test]
    fn string_keys_are_escaped_like_dump_text() {
        let k = StKey::string(64, b"a b=c\\d\te\x01\xff");
        assert_eq!(k.to_string(), "a\\ b\\=c\\\\d\\te\\x01\\xFF");
    }

    #[test]
    fn binary_keys_pad_and_truncate() {
        let k = StKey::binary(16, b"abc");
        assert_eq!(k.as_bytes().len(), 16);
        assert_eq!(k.to_string(), "61626300000000000000000000000000");
        assert_eq!(StKey::binary(2, b"k2xyz").to_string(), "6B32");
    }

    #[test]
    fn from_wire_normalises_like_haproxy() {
        let ps = params(KeyType::String, 33);
        let k = StKey::from_wire(&ps, &[b'z'; 40]).unwrap();
        assert_eq!(k.as_bytes().len(), 32);
        assert!(k.fits(&ps));
        let pb = params(KeyType::Binary, 16);
        let k = StKey::from_wire(&pb, b"k2").unwrap();
        assert_eq!(k.to_string(), "6B320000000000000000000000000000");
        assert!(k.fits(&pb));
        let k = StKey::from_wire(&pb, &[0xab; 20]).unwrap();
        assert_eq!(k.as_bytes(), &[0xab; 16]);
        let p4 = params(KeyType::Ipv4, 4);
        assert_eq!(
            StKey::from_wire(&p4, &[127, 0, 0, 1]).unwrap().to_string(),
            "127.0.0.1"
        );
        assert_eq!(
            StKey::from_wire(&p4, &[1, 2, 3]),
            Err(KeyError::BadLength {
                expected: 4,
                got: 3
            })
        );
        let pi = params(KeyType::Integer, 4);
        assert_eq!(
            StKey::from_wire(&pi, &[0, 0, 4, 0xd2]).unwrap(),
            StKey::integer(1234)
        );
        assert!(StKey::from_wire(&pi, &[0; 8]).is_err());
        let p6 = params(KeyType::Ipv6, 16);
        assert!(StKey::from_wire(&p6, &[0; 4]).is_err());
    }

    #[test]
    fn parse_cli_text() {
        let p4 = params(KeyType::Ipv4, 4);
        assert_eq!(
            StKey::parse(&p4, "127.0.0.1").unwrap().as_bytes(),
            &[127, 0, 0, 1]
        );
        assert_eq!(StKey::parse(&p4, "1.2.3"), Err(KeyError::Invalid));
        assert_eq!(StKey::parse(&p4, ""), Err(KeyError::Invalid));
        let p6 = params(KeyType::Ipv6, 16);
        assert_eq!(
            StKey::parse(&p6, "::ffff:127.0.0.1").unwrap().to_string(),
            "::ffff:127.0.0.1"
        );
        assert_eq!(StKey::parse(&p6, "::g"), Err(KeyError::Invalid));
        let pi = params(KeyType::Integer, 4);
        assert_eq!(
            StKey::parse(&pi, "4294967295").unwrap(),
            StKey::integer(u32::MAX)
        );
        assert_eq!(StKey::parse(&pi, "+7").unwrap(), StKey::integer(7));
        for bad in ["4294967296", "-1", "", "12ab", "0x10", "+"] {
            assert_eq!(StKey::parse(&pi, bad), Err(KeyError::Invalid), "{bad}");
        }
        let ps = params(KeyType::String, 4);
        assert_eq!(StKey::parse(&ps, "hello").unwrap().as_bytes(), b"hel");
        let pb = params(KeyType::Binary, 4);
        assert_eq!(StKey::parse(&pb, "abcd"), Err(KeyError::UnsupportedType));
    }

    #[test]
    fn parse_hex_binary_extension() {
        let pb = params(KeyType::Binary, 4);
        assert_eq!(
            StKey::parse_hex(&pb, "6b32").unwrap().to_string(),
            "6B320000"
        );
        assert_eq!(
            StKey::parse_hex(&pb, "6B32AABB").unwrap().as_bytes(),
            &[0x6b, 0x32, 0xaa, 0xbb]
        );
        for bad in ["", "6", "6b3", "zz", "6B320000FF"] {
            assert_eq!(StKey::parse_hex(&pb, bad), Err(KeyError::Invalid), "{bad}");
        }
        assert!(StKey::parse_hex(&params(KeyType::String, 4), "00").is_err());
    }

    #[test]
    fn ordering_is_byte_order() {
        let mut keys = [
            StKey::string(33, b"hello-peers"),
            StKey::string(33, b"from-B"),
            StKey::string(33, b"abcdefghijklmnopqrstuvwxyz012345"),
        ];
        keys.sort();
        let shown: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        assert_eq!(
            shown,
            ["abcdefghijklmnopqrstuvwxyz012345", "from-B", "hello-peers"]
        );
        assert!(StKey::integer(2) < StKey::integer(256));
    }
}

//! Sample values and their types: HAProxy's `struct sample` (`SMP_T_*`)
//! and the cast matrix of `sample.c` (`sample_casts`), with the integer
//! reader HAProxy uses for them (`read_int64`).

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A sample: one typed value (HAProxy's `struct sample` data, `SMP_T_*`).
///
/// HAProxy's `SMP_T_IPV4`/`SMP_T_IPV6` are both [`Sample::Ip`]; its
/// `SMP_T_METH` is a [`Sample::Str`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sample {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    /// Text; not necessarily UTF-8 (header values are bytes).
    Str(Vec<u8>),
    Bin(Vec<u8>),
}

/// A sample type, as fetches and converters declare them (`SMP_T_*`).
/// [`SmpType::Addr`] is an IPv4 or IPv6 address; [`SmpType::Any`] is only
/// known at run time (`var()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SmpType {
    Any,
    Bool,
    Int,
    Addr,
    Ipv4,
    Ipv6,
    Str,
    Bin,
}

impl SmpType {
    /// HAProxy's name of the type (`smp_to_type[]`).
    pub fn name(self) -> &'static str {
        match self {
            SmpType::Any => "any",
            SmpType::Bool => "bool",
            SmpType::Int => "sint",
            SmpType::Addr => "addr",
            SmpType::Ipv4 => "ipv4",
            SmpType::Ipv6 => "ipv6",
            SmpType::Str => "str",
            SmpType::Bin => "bin",
        }
    }

    /// Whether a sample declared `self` may be cast to `to` (HAProxy's
    /// `sample_casts[from][to] != NULL`), checked when parsing. An address
    /// of unknown family allows what either family allows.
    pub fn can_cast(self, to: SmpType) -> bool {
        use SmpType::*;
        match (self, to) {
            (Any, _) | (_, Any) => true,
            (Bool, Bool | Int | Str) => true,
            (Bool, _) => false,
            (Int, _) => true,
            (Addr | Ipv4, Bool) => false,
            (Addr | Ipv4, _) => true,
            (Ipv6, Bool | Int) => false,
            (Ipv6, _) => true,
            (Str, _) => true,
            (Bin, Str | Bin) => true,
            (Bin, _) => false,
        }
    }
}

impl Sample {
    /// The sample's run-time type.
    pub fn smp_type(&self) -> SmpType {
        match self {
            Sample::Bool(_) => SmpType::Bool,
            Sample::Int(_) => SmpType::Int,
            Sample::Ip(IpAddr::V4(_)) => SmpType::Ipv4,
            Sample::Ip(IpAddr::V6(_)) => SmpType::Ipv6,
            Sample::Str(_) => SmpType::Str,
            Sample::Bin(_) => SmpType::Bin,
        }
    }

    /// A string sample.
    pub fn str(s: impl AsRef<[u8]>) -> Sample {
        Sample::Str(s.as_ref().to_vec())
    }

    /// Casts the sample to `to` with HAProxy's cast functions (`c_int2str`,
    /// `c_str2int`, `c_ip2ipv6`, ...). `None` when the cast is impossible
    /// (`Bin` to `Int`) or fails (`"x"` to an address, an IPv6 address that
    /// is not v4-mapped to IPv4, an empty string to an integer).
    pub fn cast(self, to: SmpType) -> Option<Sample> {
        match (self, to) {
            (s, SmpType::Any) => Some(s),
            (Sample::Bool(b), SmpType::Bool) => Some(Sample::Bool(b)),
            (Sample::Bool(b), SmpType::Int) => Some(Sample::Int(i64::from(b))),
            (Sample::Bool(b), SmpType::Str) => Some(Sample::str(if b { "1" } else { "0" })),
            (Sample::Bool(_), _) => None,
            (Sample::Int(i), to) => Some(cast_int(i, to)),
            (Sample::Ip(ip), to) => cast_ip(ip, to),
            (Sample::Str(s), to) => cast_str(s, to),
            (Sample::Bin(b), SmpType::Bin) => Some(Sample::Bin(b)),
            (Sample::Bin(mut b), SmpType::Str) => {
                // c_bin2str: a NUL ends the string.
                if let Some(n) = b.iter().position(|&c| c == 0) {
                    b.truncate(n);
                }
                Some(Sample::Str(b))
            }
            (Sample::Bin(_), _) => None,
        }
    }

    /// The sample as text (cast to `str`), for log-format rendering and
    /// header values.
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self.cast(SmpType::Str)? {
            Sample::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The sample as an integer (cast to `sint`).
    pub fn as_int(&self) -> Option<i64> {
        match self.clone().cast(SmpType::Int)? {
            Sample::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The sample as an IPv4 address (for `type ip` stick-table keys).
    pub fn to_ipv4(&self) -> Option<Ipv4Addr> {
        match self.clone().cast(SmpType::Ipv4)? {
            Sample::Ip(IpAddr::V4(a)) => Some(a),
            _ => None,
        }
    }

    /// The sample as an IPv6 address (for `type ipv6` stick-table keys).
    pub fn to_ipv6(&self) -> Option<Ipv6Addr> {
        match self.clone().cast(SmpType::Ipv6)? {
            Sample::Ip(IpAddr::V6(a)) => Some(a),
            _ => None,
        }
    }
}

fn cast_int(i: i64, to: SmpType) -> Sample {
    match to {
        // A boolean is an integer that is not zero (c_none).
        SmpType::Bool => Sample::Bool(i != 0),
        SmpType::Int | SmpType::Any => Sample::Int(i),
        // c_int2ip: the low 32 bits, host order.
        SmpType::Addr | SmpType::Ipv4 => Sample::Ip(IpAddr::V4(Ipv4Addr::from(i as u32))),
        SmpType::Ipv6 => Sample::Ip(IpAddr::V6(Ipv4Addr::from(i as u32).to_ipv6_mapped())),
        SmpType::Str => Sample::Str(i.to_string().into_bytes()),
        // c_int2bin: 8 bytes, network order.
        SmpType::Bin => Sample::Bin(i.to_be_bytes().to_vec()),
    }
}

fn cast_ip(ip: IpAddr, to: SmpType) -> Option<Sample> {
    match (ip, to) {
        (_, SmpType::Addr | SmpType::Any) => Some(Sample::Ip(ip)),
        (IpAddr::V4(a), SmpType::Int) => Some(Sample::Int(i64::from(u32::from(a)))),
        (IpAddr::V4(_), SmpType::Ipv4) | (IpAddr::V6(_), SmpType::Ipv6) => Some(Sample::Ip(ip)),
        (IpAddr::V4(a), SmpType::Ipv6) => Some(Sample::Ip(IpAddr::V6(a.to_ipv6_mapped()))),
        // v6tov4: only a v4-mapped address converts.
        (IpAddr::V6(a), SmpType::Ipv4) => a.to_ipv4_mapped().map(|a| Sample::Ip(IpAddr::V4(a))),
        (_, SmpType::Str) => Some(Sample::Str(ip.to_string().into_bytes())),
        (IpAddr::V4(a), SmpType::Bin) => Some(Sample::Bin(a.octets().to_vec())),
        (IpAddr::V6(a), SmpType::Bin) => Some(Sample::Bin(a.octets().to_vec())),
        (_, SmpType::Bool) | (IpAddr::V6(_), SmpType::Int) => None,
    }
}

fn cast_str(s: Vec<u8>, to: SmpType) -> Option<Sample> {
    match to {
        SmpType::Any | SmpType::Str => Some(Sample::Str(s)),
        SmpType::Bin => Some(Sample::Bin(s)),
        // c_str2int: an empty string fails, otherwise read_int64.
        SmpType::Int | SmpType::Bool if s.is_empty() => None,
        SmpType::Int => Some(Sample::Int(read_int64(&s).0)),
        SmpType::Bool => Some(Sample::Bool(read_int64(&s).0 != 0)),
        SmpType::Addr => parse_ip_bytes(&s).map(Sample::Ip),
        SmpType::Ipv4 => parse_v4(&s).map(|a| Sample::Ip(IpAddr::V4(a))),
        SmpType::Ipv6 => core::str::from_utf8(&s)
            .ok()?
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| Sample::Ip(IpAddr::V6(a))),
    }
}

fn parse_v4(s: &[u8]) -> Option<Ipv4Addr> {
    core::str::from_utf8(s).ok()?.parse().ok()
}

fn parse_ip_bytes(s: &[u8]) -> Option<IpAddr> {
    let t = core::str::from_utf8(s).ok()?;
    t.parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .or_else(|_| t.parse::<Ipv6Addr>().map(IpAddr::V6))
        .ok()
}

/// HAProxy's `read_int64`: an optional sign, then decimal digits up to the
/// first non-digit; wraps on overflow like the C code. Returns the value
/// and the number of bytes consumed.
pub fn read_int64(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut v: u64 = 0;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        i += 1;
    }
    let v = v as i64;
    (if neg { v.wrapping_neg() } else { v }, i)
}

pub(super) fn hex_upper(v: &[u8]) -> Vec<u8> {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(v.len() * 2);
    for &b in v {
        out.push(H[usize::from(b >> 4)]);
        out.push(H[usize::from(b & 15)]);
    }
    out
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sample::Bool(b) => write!(f, "{}", u8::from(*b)),
            Sample::Int(i) => write!(f, "{i}"),
            Sample::Ip(ip) => write!(f, "{ip}"),
            Sample::Str(s) => write!(f, "{}", String::from_utf8_lossy(s)),
            Sample::Bin(b) => write!(f, "{}", String::from_utf8_lossy(&hex_upper(b))),
        }
    }
}

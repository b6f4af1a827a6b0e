//! Addresses as HAProxy's `str2sa_range()` reads them in `bind`, `server`,
//! `peer`, `log` and `stats socket` lines.
//!
//! Accepted forms:
//!
//! | text | meaning |
//! |---|---|
//! | `1.2.3.4:80`, `host.example:80` | IPv4 or a host name, and a port |
//! | `:80`, `*:80` | any IPv4 address (`0.0.0.0`) |
//! | `[::1]:80`, `::1:80`, `:::80` | IPv6; without brackets the port follows the last colon |
//! | `ipv4@…`, `ipv6@…`, `udp@…`, `tcp@…` | the same, with the family or protocol spelled out |
//! | `1.2.3.4:8000-8010` | a port range (`bind` only) |
//! | `/path`, `unix@path` | a UNIX stream socket |
//! | `abns@name` | a Linux abstract-namespace socket |
//! | `fd@N` | a socket already open on descriptor `N`, inherited from the parent (`bind`, `stats socket`) |
//! | `rhttp@BACKEND/SERVER` | a reverse HTTP receiver: connections dialed to that server (`bind`; experimental) |
//!
//! Host names are kept as names: the core never resolves them, the driver
//! does at startup (as HAProxy does with libc when it reads the file).

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host part of an internet address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A literal address; `:80` and `*:80` give `0.0.0.0`, `ipv6@:80` gives `::`.
    Ip(IpAddr),
    /// A name for the driver to resolve.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// An address (HAProxy's `struct sockaddr_storage` plus the host name it
/// came from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// A TCP (or, for `log`, UDP) address. `port` is `None` when the text had
    /// none (a `server` then uses the client's destination port).
    Inet { host: Host, port: Option<u16> },
    /// A UNIX stream socket path (`/path` or `unix@path`).
    Unix(String),
    /// A Linux abstract-namespace socket (`abns@name`).
    Abns(String),
    /// A listening socket inherited from the parent process on this file
    /// descriptor (`fd@N`, HAProxy's `AF_CUST_EXISTING_FD`).
    Fd(i32),
    /// Reverse HTTP (`rhttp@…`, HAProxy's `AF_CUST_RHTTP_SRV`): on a
    /// `bind` line, the `BACKEND/SERVER` connections are opened to; on a
    /// `server` line, nothing (its connections come from `attach-srv`).
    Rhttp(String),
}

impl Addr {
    /// The port of an internet address.
    pub fn port(&self) -> Option<u16> {
        match self {
            Addr::Inet { port, .. } => *port,
            _ => None,
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet {
                host,
                port: Some(p),
            } => write!(f, "{host}:{p}"),
            Addr::Inet { host, port: None } => write!(f, "{host}"),
            Addr::Unix(p) => write!(f, "unix@{p}"),
            Addr::Abns(p) => write!(f, "abns@{p}"),
            Addr::Fd(n) => write!(f, "fd@{n}"),
            Addr::Rhttp(n) => write!(f, "rhttp@{n}"),
        }
    }
}

/// The transport a `log` target or an address prefix asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Stream,
    Dgram,
}

/// An address and what its text said beyond it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedAddr {
    pub addr: Addr,
    /// The last port of a range (`8000-8010` gives `Some(8010)`).
    pub port_last: Option<u16>,
    /// `udp@…`/`tcp@…` prefixes; `None` when unspecified.
    pub proto: Option<Proto>,
}

impl ParsedAddr {
    /// Rejects a port range where only one port makes sense.
    pub fn single_port(self, text: &str) -> Result<ParsedAddr, String> {
        match self.port_last {
            Some(_) => Err(format!("port ranges are not allowed here ('{text}')")),
            None => Ok(self),
        }
    }

    /// Rejects an internet address without a port.
    pub fn require_port(self, text: &str) -> Result<ParsedAddr, String> {
        match &self.addr {
            Addr::Inet { port: None, .. } => Err(format!("missing port specification in '{text}'")),
            _ => Ok(self),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

/// The names of the variables [`env_expand`] would look up in `text`.
pub fn env_names(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find('$') {
        let mut j = i + off + 1;
        if b.get(j) == Some(&b'{') {
            j += 1;
        }
        let end = j + b[j..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        out.push(&text[j..end]);
        i = end;
    }
    out
}

/// HAProxy's `env_expand`, which `str2sa_range` applies to every address
/// it reads, quoted or not: `$NAME` and `${NAME}` (names of letters,
/// digits and `_`) become the variable's value, or nothing when it is
/// not set (a `$` not followed by a name disappears too).
pub fn env_expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(off) = text[i..].find('$') {
        out.push_str(&text[i..i + off]);
        let dollar = i + off;
        let mut j = dollar + 1;
        let brace = b.get(j) == Some(&b'{');
        if brace {
            j += 1;
        }
        let end = j + b[j..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        if let Some(v) = lookup(&text[j..end]) {
            out.push_str(&v);
        }
        i = if brace && b.get(end) == Some(&b'}') {
            end + 1
        } else {
            end
        };
    }
    out.push_str(&text[i..]);
    out
}

/// Reads an address. `port_last` is set for ranges, which callers other
/// than `bind` reject with [`ParsedAddr::single_port`].
pub fn parse_addr(text: &str) -> Result<ParsedAddr, String> {
    let (family, proto, rest) = split_prefix(text)?;
    let mut out = ParsedAddr {
        addr: Addr::Unix(String::new()),
        port_last: None,
        proto,
    };
    if let Some(n) = rest.strip_prefix("fd@") {
        // HAProxy reads the number with strtol() and rejects trailing text.
        let fd =
            n.parse::<i32>().ok().filter(|&fd| fd >= 0).ok_or_else(|| {
                format!("file descriptor '{n}' is not a valid integer in '{text}'")
            })?;
        out.addr = Addr::Fd(fd);
    } else if let Some(name) = rest.strip_prefix("rhttp@") {
        out.addr = Addr::Rhttp(name.to_string());
    } else if let Some(path) = rest.strip_prefix("unix@") {
        out.addr = Addr::Unix(non_empty(path, text)?);
    } else if let Some(name) = rest.strip_prefix("abns@") {
        out.addr = Addr::Abns(non_empty(name, text)?);
    } else if rest.starts_with('/') && family == Family::Any {
        out.addr = Addr::Unix(rest.to_string());
    } else {
        let (host, port, port_last) = parse_inet(rest, family, text)?;
        out.addr = Addr::Inet { host, port };
        out.port_last = port_last;
    }
    Ok(out)
}

fn non_empty(s: &str, text: &str) -> Result<String, String> {
    if s.is_empty() {
        Err(format!("missing path in '{text}'"))
    } else {
        Ok(s.to_string())
    }
}

/// Strips `ipv4@`, `udp6@`, ... and rejects families Sluice does not have.
fn split_prefix(text: &str) -> Result<(Family, Option<Proto>, &str), String> {
    let Some((prefix, rest)) = text.split_once('@') else {
        return Ok((Family::Any, None, text));
    };
    let (family, proto) = match prefix {
        "unix" | "abns" | "fd" | "rhttp" => return Ok((Family::Any, None, text)),
        "ipv4" => (Family::V4, None),
        "ipv6" => (Family::V6, None),
        "tcp" => (Family::Any, Some(Proto::Stream)),
        "tcp4" => (Family::V4, Some(Proto::Stream)),
        "tcp6" => (Family::V6, Some(Proto::Stream)),
        "udp" => (Family::Any, Some(Proto::Dgram)),
        "udp4" => (Family::V4, Some(Proto::Dgram)),
        "udp6" => (Family::V6, Some(Proto::Dgram)),
        "sockpair" | "quic4" | "quic6" | "uxst" | "uxdg" => {
            return Err(format!(
                "address family '{prefix}@' is not supported by Sluice ('{text}')"
            ))
        }
        _ => return Err(format!("unknown address family '{prefix}@' in '{text}'")),
    };
    Ok((family, proto, rest))
}

/// `host[:port[-last]]`, `[v6][:port]` or a bare IPv6 address.
fn parse_inet(
    s: &str,
    family: Family,
    text: &str,
) -> Result<(Host, Option<u16>, Option<u16>), String> {
    let (host_s, port_s) = if let Some(inner) = s.strip_prefix('[') {
        let (h, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in '{text}'"))?;
        match after {
            "" => (h, None),
            a => match a.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(format!("invalid address: '{text}'")),
            },
        }
    } else if s.parse::<Ipv6Addr>().is_ok() && !last_colon_splits_v6(s) {
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host = parse_host(host_s, family, text)?;
    let (port, last) = match port_s {
        // `host:` (what `${NAME_addr}:${NAME_port}` gives when neither is
        // set): no port, as no colon (HAProxy's empty `port1`).
        None | Some("") => (None, None),
        Some(p) => parse_ports(p, text)?,
    };
    Ok((host, port, last))
}

/// `::1:80` is `::1` port 80 (HAProxy takes the port after the last colon),
/// but `2001:db8::1` has no valid host before its last colon: a bare address.
fn last_colon_splits_v6(s: &str) -> bool {
    s.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && h.parse::<Ipv6Addr>().is_ok()
    })
}

fn parse_host(h: &str, family: Family, text: &str) -> Result<Host, String> {
    let any = match family {
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    if h.is_empty() || h == "*" {
        return Ok(Host::Ip(any));
    }
    if let Ok(a) = h.parse::<IpAddr>() {
        let ok = matches!(
            (family, a),
            (Family::Any, _) | (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        );
        return if ok {
            Ok(Host::Ip(a))
        } else {
            Err(format!("address family mismatch in '{text}'"))
        };
    }
    let valid_name = h
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
    if valid_name {
        Ok(Host::Name(h.to_string()))
    } else {
        Err(format!("invalid address: '{text}'"))
    }
}

fn parse_port(p: &str, text: &str) -> Result<u16, String> {
    if p.starts_with(['+', '-']) {
        return Err(format!(
            "port offsets are not supported by Sluice ('{text}')"
        ));
    }
    match p.parse::<u16>() {
        Ok(n) if n > 0 && p.bytes().all(|c| c.is_ascii_digit()) => Ok(n),
        _ if p.is_empty() => Err(format!("missing port specification in '{text}'")),
        _ => Err(format!("invalid port '{p}' in '{text}'")),
    }
}

fn parse_ports(p: &str, text: &str) -> Result<(Option<u16>, Option<u16>), String> {
    match p.split_once('-') {
        Some((a, b)) if !a.is_empty() => {
            let (a, b) = (parse_port(a, text)?, parse_port(b, text)?);
            if a > b {
                return Err(format!("invalid port range '{p}' in '{text}'"));
            }
            Ok((Some(a), Some(b)))
        }
        _ => Ok((Some(parse_port(p, text)?), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(text: &str) -> (Host, Option<u16>) {
        match parse_addr(text).unwrap().addr {
            Addr::Inet { host, port } => (host, port),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn ipv4_and_wildcards() {
        assert_eq!(inet("1.2.3.4:80"), (ip("1.2.3.4"), Some(80)));
        assert_eq!(inet(":80"), (ip("0.0.0.0"), Some(80)));
        assert_eq!(inet("*:80"), (ip("0.0.0.0"), Some(80)));
        assert_eq!(inet("1.2.3.4"), (ip("1.2.3.4"), None));
        assert_eq!(inet("ipv4@1.2.3.4:80"), (ip("1.2.3.4"), Some(80)));
        assert_eq!(inet("ipv6@:80"), (ip("::"), Some(80)));
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(inet("[::1]:81"), (ip("::1"), Some(81)));
        assert_eq!(inet("[::1]"), (ip("::1"), None));
        assert_eq!(inet("::1:81"), (ip("::1"), Some(81)));
        assert_eq!(inet(":::80"), (ip("::"), Some(80)));
        assert_eq!(inet("2001:db8::1"), (ip("2001:db8::1"), None));
        assert_eq!(inet("ipv6@2001:db8::1:443"), (ip("2001:db8::1"), Some(443)));
        assert!(parse_addr("ipv4@[::1]:80").is_err());
    }

    #[test]
    fn names_paths_and_ranges() {
        assert_eq!(
            inet("db.local:5432"),
            (Host::Name("db.local".into()), Some(5432))
        );
        let a = parse_addr("/var/run/haproxy.sock").unwrap();
        assert_eq!(a.addr, Addr::Unix("/var/run/haproxy.sock".into()));
        let a = parse_addr("unix@./peer-A/admin.sock").unwrap();
        assert_eq!(a.addr, Addr::Unix("./peer-A/admin.sock".into()));
        assert_eq!(parse_addr("abns@x").unwrap().addr, Addr::Abns("x".into()));
        assert_eq!(parse_addr("fd@3").unwrap().addr, Addr::Fd(3));
        assert_eq!(parse_addr("fd@3").unwrap().addr.to_string(), "fd@3");
        let r = parse_addr(":8000-8010").unwrap();
        assert_eq!((r.addr.port(), r.port_last), (Some(8000), Some(8010)));
        assert!(r.clone().single_port(":8000-8010").is_err());
        let u = parse_addr("udp@1.2.3.4:514").unwrap();
        assert_eq!(u.proto, Some(Proto::Dgram));
    }

    #[test]
    fn an_empty_port_is_no_port() {
        // HAProxy 2.6 takes `server s 1.2.3.4:` and `server s :` (what
        // unset `${s1_addr}:${s1_port}` give) as addresses without a port.
        assert_eq!(inet("1.2.3.4:"), (Host::Ip([1, 2, 3, 4].into()), None));
        assert_eq!(inet(":"), (Host::Ip([0, 0, 0, 0].into()), None));
        assert_eq!(
            parse_addr(":").unwrap().require_port(":"),
            Err("missing port specification in ':'".to_string())
        );
    }

    #[test]
    fn env_expand_as_str2sa_range() {
        let env = |n: &str| match n {
            "A" => Some("127.0.0.1".to_string()),
            "P_1" => Some("80".to_string()),
            _ => None,
        };
        assert_eq!(env_expand("${A}:${P_1}", env), "127.0.0.1:80");
        assert_eq!(env_expand("$A:$P_1", env), "127.0.0.1:80");
        assert_eq!(env_expand("${s1_addr}:${s1_port}", env), ":");
        assert_eq!(env_expand("x${A}y", env), "x127.0.0.1y");
        // A `$` without a name disappears; an unclosed brace keeps the rest.
        assert_eq!(env_expand("a$-b", env), "a-b");
        assert_eq!(env_expand("${A", env), "127.0.0.1");
        assert_eq!(env_expand("1.2.3.4:80", env), "1.2.3.4:80");
        assert_eq!(env_names("${A}:$P_1 ${"), ["A", "P_1", ""]);
    }

    #[test]
    fn bad_addresses() {
        for bad in [
            "1.2.3.4:0",
            "1.2.3.4:65536",
            "1.2.3.4:8x",
            ":90-80",
            "[::1",
            "[::1]x",
            "a b:80",
            "fd@",
            "fd@x",
            "fd@-1",
            "foo@1.2.3.4:80",
            "unix@",
            "1.2.3.4:+1",
        ] {
            assert!(parse_addr(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_addr("1.2.3.4").unwrap().require_port("1.2.3.4"),
            Err("missing port specification in '1.2.3.4'".to_string())
        );
    }
}

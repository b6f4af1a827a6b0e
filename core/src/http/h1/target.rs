//! Request targets (RFC 9112 §3.2, RFC 9110 §4.2 and §7.2): which of the
//! four forms a target has, whether that form is allowed for its method,
//! how its authority must agree with `Host`, and the scheme-based
//! normalisation of an absolute-form target.
//!
//! HAProxy's counterparts: the target checks of `h1_headers_to_hdr_list`
//! (`h1.c`, with `http_uri_parser`, `http_parse_scheme`,
//! `http_parse_authority`), `h1_validate_connect_authority`,
//! `h1_validate_mismatch_authority`, `http_authority_has_forbidden_char`
//! and `http_scheme_based_normalize` (`http_htx.c`).
//!
//! ```text
//!  "/..."            origin form      any method but CONNECT
//!  "*"               asterisk form    OPTIONS only
//!  "scheme://a/..."  absolute form    any method but CONNECT; authority
//!                                     matches Host (default ports equal)
//!  "host:port"       authority form   CONNECT only; agrees with Host
//!  anything else     400
//! ```
//!
//! HAProxy 2.6.12 only refuses a target that is none of these when it
//! happens not to match `Host` (it reads `admin/a` as an authority), and
//! forwards `GET *` and `OPTIONS */x`; HAProxy 3.0 refuses all of them, as
//! Sluice does. `#` is refused anywhere in a target (so does the packaged
//! HAProxy 2.6.12, fixed for CVE-2023-45539). `Host` values and authorities are refused
//! when they carry a byte that makes them ambiguous (`,`, `/`, `?`, `@`,
//! `\`, misplaced brackets: HAProxy 3.2's `http_authority_has_forbidden_char`).

use super::H1ErrorKind;

/// The four forms of a request target (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// `absolute-path [ "?" query ]`.
    Origin,
    /// `absolute-URI`: `scheme "://" authority path-abempty [ "?" query ]`.
    Absolute,
    /// `uri-host ":" port`, CONNECT only.
    Authority,
    /// `*`, OPTIONS only.
    Asterisk,
}

/// An absolute-form target split at its parts (all slices of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AbsoluteUri<'a> {
    /// The scheme, without `://`.
    pub(crate) scheme: &'a str,
    /// `userinfo@`, or empty.
    pub(crate) userinfo: &'a str,
    /// `host[:port]`, userinfo excluded.
    pub(crate) host_port: &'a str,
    /// The path and query (may be empty).
    pub(crate) rest: &'a str,
}

/// Splits `scheme://[userinfo@]host[:port]rest` (RFC 3986 §3). `None` when
/// the target has no scheme.
pub(crate) fn split_absolute(uri: &str) -> Option<AbsoluteUri<'_>> {
    let sep = uri.find("://")?;
    let scheme = &uri[..sep];
    let mut bytes = scheme.bytes();
    if !bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let after = &uri[sep + 3..];
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let authority = &after[..end];
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    Some(AbsoluteUri {
        scheme,
        userinfo,
        host_port,
        rest: &after[end..],
    })
}

/// Splits `host[:port]`: the port is the digits after the last `:` when
/// that `:` is not inside an IP literal (`[::1]`). `Some("")` for a
/// trailing `:` (an empty port, RFC 3986 §3.2.3).
pub(crate) fn split_port(host_port: &[u8]) -> (&[u8], Option<&[u8]>) {
    let digits = host_port
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let colon = host_port.len() - digits;
    if colon > 0 && host_port[colon - 1] == b':' {
        (&host_port[..colon - 1], Some(&host_port[colon..]))
    } else {
        (host_port, None)
    }
}

/// A byte that has no place in a `Host` value or an authority's
/// `host:port` (HAProxy's `http_authority_has_forbidden_char`): controls,
/// spaces, non-ASCII, `,` (ambiguous in a field), `#`, `/`, `?`, `@`, `\`,
/// and brackets except around an IP literal at the start.
pub(crate) fn has_forbidden_char(v: &[u8]) -> bool {
    // Fast path: no byte of the set at all (a plain host name).
    if !v.iter().any(|&c| SPECIAL[c as usize]) {
        return false;
    }
    let mut open = false;
    for (i, &c) in v.iter().enumerate() {
        match c {
            b'[' if i == 0 => open = true,
            b']' if open && (i + 1 == v.len() || v[i + 1] == b':') => open = false,
            _ if SPECIAL[c as usize] => return true,
            _ => {}
        }
    }
    open
}

/// The bytes [`has_forbidden_char`] looks at: controls, space, DEL,
/// non-ASCII, `,` `#` `/` `?` `@` `[` `]` `\`.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c <= 0x20
            || c >= 0x7f
            || matches!(c, b',' | b'#' | b'/' | b'?' | b'@' | b'[' | b']' | b'\\');
        i += 1;
    }
    t
};

/// `host[:port]` of a target: a non-empty host without forbidden bytes
/// and without a `:` outside an IP literal, and a port of digits.
fn valid_host_port(host_port: &[u8]) -> bool {
    if has_forbidden_char(host_port) {
        return false;
    }
    let (host, _) = split_port(host_port);
    !host.is_empty() && (host.starts_with(b"[") || !host.contains(&b':'))
}

/// Whether `port` is the scheme's default one (`http`: 80, `https`: 443;
/// `scheme` is `None` for CONNECT, where both count). An empty port is
/// the default (RFC 3986 §6.2.3). HAProxy's `http_is_default_port`.
pub(crate) fn is_default_port(scheme: Option<&str>, port: &[u8]) -> bool {
    match scheme {
        _ if port.is_empty() => true,
        None => port == b"80" || port == b"443",
        Some(s) if s.eq_ignore_ascii_case("http") => port == b"80",
        Some(s) if s.eq_ignore_ascii_case("https") => port == b"443",
        Some(_) => false,
    }
}

/// The form of `uri` for a request with `method` (CONNECT or not,
/// OPTIONS or not), or why it is refused. `uri` was already checked to be
/// visible ASCII.
pub(crate) fn target_form(
    is_connect: bool,
    is_options: bool,
    uri: &str,
) -> Result<TargetForm, H1ErrorKind> {
    // A fragment is never sent (RFC 9110 §7.1); HAProxy refuses it since
    // a `path_end` rule would not see the path's real end.
    if uri.as_bytes().contains(&b'#') {
        return Err(H1ErrorKind::BadUri);
    }
    if uri.starts_with('/') {
        return if is_connect {
            Err(H1ErrorKind::BadUri)
        } else {
            Ok(TargetForm::Origin)
        };
    }
    if uri == "*" {
        return if is_options {
            Ok(TargetForm::Asterisk)
        } else {
            Err(H1ErrorKind::BadUri)
        };
    }
    if let Some(abs) = split_absolute(uri) {
        // An empty host (`http:///x`, `http://:`) is forwarded, as HAProxy
        // 2.6 to 3.5 do (their `h1_headers_to_hdr_list` only checks the
        // authority's characters and its agreement with `Host`).
        let (host, _) = split_port(abs.host_port.as_bytes());
        return if is_connect || !(host.is_empty() || valid_host_port(abs.host_port.as_bytes())) {
            Err(H1ErrorKind::BadUri)
        } else {
            Ok(TargetForm::Absolute)
        };
    }
    if !is_connect {
        // `admin/a`, `?x=1`, `localhost:80`: a path a server may complete
        // differently than the rules read it.
        return Err(H1ErrorKind::BadUri);
    }
    // CONNECT: `uri-host ":" port`, nothing else (no userinfo, no path).
    let (_, port) = split_port(uri.as_bytes());
    if !valid_host_port(uri.as_bytes()) || port.is_none_or(<[u8]>::is_empty) {
        return Err(H1ErrorKind::BadUri);
    }
    Ok(TargetForm::Authority)
}

/// Whether the authority of an absolute-form target agrees with `Host`:
/// equal (case-insensitive), or equal once a default port is left out on
/// either side (`http://a:80/` and `Host: a`; RFC 3986 §6.2.3).
/// HAProxy's `h1_validate_mismatch_authority`.
pub(crate) fn absolute_matches_host(abs: &AbsoluteUri<'_>, host: &[u8]) -> bool {
    let authority = abs.host_port.as_bytes();
    if authority.eq_ignore_ascii_case(host) {
        return true;
    }
    let (uh, up) = split_port(authority);
    let (hh, hp) = split_port(host);
    let scheme = Some(abs.scheme);
    match (up, hp) {
        (None, None) => false,
        (Some(p), _) if !is_default_port(scheme, p) => false,
        (_, Some(p)) if !is_default_port(scheme, p) => false,
        _ => uh.eq_ignore_ascii_case(hh),
    }
}

/// Checks `Host` against a CONNECT target `host:port`: with a port, both
/// must be equal (the `Host` then loses a default port); without one, the
/// target's port must be 80 or 443. `Ok(Some(len))`: `Host` is to be cut
/// to its first `len` bytes. HAProxy's `h1_validate_connect_authority`.
pub(crate) fn connect_host_check(target: &[u8], host: &[u8]) -> Result<Option<usize>, H1ErrorKind> {
    let (th, tp) = split_port(target);
    let tp = tp.unwrap_or_default();
    let (hh, hp) = split_port(host);
    match hp {
        Some(hp) if !hp.is_empty() => {
            if !hh.eq_ignore_ascii_case(th) || hp != tp {
                return Err(H1ErrorKind::BadHost);
            }
            Ok(is_default_port(None, tp).then_some(hh.len()))
        }
        _ => {
            if !is_default_port(None, tp) || !hh.eq_ignore_ascii_case(th) {
                return Err(H1ErrorKind::BadHost);
            }
            Ok(None)
        }
    }
}

/// HAProxy's `http_scheme_based_normalize`: an `http` or `https` target
/// whose port is empty or the scheme's default loses it. Returns the new
/// target and the host (without port) every `Host` field is to be set to.
pub(crate) fn normalize_default_port(uri: &str) -> Option<(String, &str)> {
    let abs = split_absolute(uri)?;
    let known = abs.scheme.eq_ignore_ascii_case("http") || abs.scheme.eq_ignore_ascii_case("https");
    let (host, port) = split_port(abs.host_port.as_bytes());
    let port = port?;
    if !known || !is_default_port(Some(abs.scheme), port) {
        return None;
    }
    let host = &abs.host_port[..host.len()];
    let mut out = String::with_capacity(uri.len());
    out.push_str(abs.scheme);
    out.push_str("://");
    out.push_str(abs.userinfo);
    out.push_str(host);
    out.push_str(abs.rest);
    Some((out, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        use TargetForm::*;
        let f = |m: &str, u: &str| target_form(m == "CONNECT", m == "OPTIONS", u);
        assert_eq!(f("GET", "/a?b"), Ok(Origin));
        assert_eq!(f("OPTIONS", "*"), Ok(Asterisk));
        assert_eq!(f("GET", "http://a/b"), Ok(Absolute));
        assert_eq!(f("GET", "HTTP://a:80"), Ok(Absolute));
        assert_eq!(f("GET", "http://u:p@a:1/"), Ok(Absolute));
        assert_eq!(f("GET", "http://[::1]:8080/"), Ok(Absolute));
        // No host: HAProxy forwards them (reg-test h1_host_normalization).
        assert_eq!(f("GET", "http:///x"), Ok(Absolute));
        assert_eq!(f("GET", "http://:"), Ok(Absolute));
        assert_eq!(f("GET", "https://:443"), Ok(Absolute));
        assert_eq!(f("CONNECT", "a:443"), Ok(Authority));
        assert_eq!(f("CONNECT", "[::1]:443"), Ok(Authority));
        for (m, u) in [
            ("GET", "admin/a"),
            ("GET", "?x=1"),
            ("GET", "localhost:80"),
            ("GET", "/a#frag"),
            ("GET", "http://host#frag"),
            ("GET", "*"),
            ("OPTIONS", "*/x"),
            ("GET", "http://a:b/"),
            ("GET", "http://:b/"),
            ("GET", "http://a,b/"),
            ("GET", "http://a\\b/"),
            ("GET", "1http://a/"),
            ("CONNECT", "/"),
            ("CONNECT", "hostname"),
            ("CONNECT", "h:"),
            ("CONNECT", ":80"),
            ("CONNECT", "http://h:80"),
            ("CONNECT", "u@h:80"),
            ("CONNECT", "h:80/x"),
            ("CONNECT", "*"),
            ("CONNECT", "::1:80"),
            ("CONNECT", "[::1:80"),
        ] {
            assert_eq!(f(m, u), Err(H1ErrorKind::BadUri), "{m} {u}");
        }
    }

    #[test]
    fn ports_and_hosts() {
        assert_eq!(split_port(b"a:80"), (&b"a"[..], Some(&b"80"[..])));
        assert_eq!(split_port(b"a:"), (&b"a"[..], Some(&b""[..])));
        assert_eq!(split_port(b"a"), (&b"a"[..], None));
        assert_eq!(split_port(b"[::1]"), (&b"[::1]"[..], None));
        assert_eq!(split_port(b"[::1]:9"), (&b"[::1]"[..], Some(&b"9"[..])));
        for ok in [&b""[..], b"a", b"a.b:80", b"[::1]", b"[::1]:80", b"xn--e:1"] {
            assert!(!has_forbidden_char(ok), "{ok:?}");
        }
        for bad in [
            &b"a/b"[..],
            b"a,b",
            b"u@a",
            b"a?",
            b"a#",
            b"a\\b",
            b"[::1",
            b"a]",
            b"a b",
        ] {
            assert!(has_forbidden_char(bad), "{bad:?}");
        }
    }

    #[test]
    fn absolute_and_host() {
        let m = |u: &str, h: &str| absolute_matches_host(&split_absolute(u).unwrap(), h.as_bytes());
        assert!(m("http://a/", "A"));
        assert!(m("http://a:80/", "a"));
        assert!(m("http://a/", "a:80"));
        assert!(m("http://a:/", "a"));
        assert!(m("https://a:443/", "a"));
        assert!(m("http://u@a:80/", "a"));
        assert!(!m("http://a:443/", "a"));
        assert!(!m("http://a:8080/", "a"));
        assert!(!m("ftp://a:21/", "a"));
        assert!(!m("http://a/", "b"));
        assert!(!m("http://a:80/", "b:80"));
        let n = |u: &str| normalize_default_port(u).map(|(u, h)| (u, h.to_owned()));
        assert_eq!(n("http://h:80/x"), Some(("http://h/x".into(), "h".into())));
        assert_eq!(n("HTTP://H:80"), Some(("HTTP://H".into(), "H".into())));
        assert_eq!(
            n("http://u@h:/x?q"),
            Some(("http://u@h/x?q".into(), "h".into()))
        );
        assert_eq!(n("https://h:443/"), Some(("https://h/".into(), "h".into())));
        assert_eq!(n("http://h:80?q"), Some(("http://h?q".into(), "h".into())));
        assert_eq!(n("http://h/x"), None);
        assert_eq!(n("http://h:8080/x"), None);
        assert_eq!(n("ftp://h:80/x"), None);
        assert_eq!(n("/x"), None);
    }

    #[test]
    fn connect_and_host() {
        let c = |t: &str, h: &str| connect_host_check(t.as_bytes(), h.as_bytes());
        assert_eq!(c("h:80", "h:80"), Ok(Some(1)));
        assert_eq!(c("h:443", "H"), Ok(None));
        assert_eq!(c("h:8443", "h:8443"), Ok(None));
        assert_eq!(c("h:80", "h:"), Ok(None));
        for (t, h) in [
            ("h1:80", "h2:80"),
            ("h:8443", "h"),
            ("h:80", "h:81"),
            ("h:80", ""),
        ] {
            assert_eq!(c(t, h), Err(H1ErrorKind::BadHost), "{t} {h}");
        }
    }
}

//! Serialising heads into a caller-owned `Vec<u8>` (HAProxy's
//! `h1_format_htx_reqline`, `h1_format_htx_stline`, `h1_format_htx_hdr`),
//! and the header rewrites the mux does before that: the connection mode
//! (`h1_set_req_conn_mode`/`h1_update_req_conn_value`) and the body
//! framing fields when the framing changes on the way through
//! (`h1_process_output` turning a close-delimited or HTTP/2 body into
//! chunked, or dropping a length).
//!
//! Heads are written with their own version, fields in order with their
//! original case. Values were validated when stored, so nothing written
//! here can split a line.

use super::framing::BodyLen;
use super::head::{fmt_u64, ReqHead, ResHead, Version};
use super::headers::Headers;
use super::list_elements;

impl ReqHead {
    /// Appends `METHOD SP target SP HTTP/1.x CRLF`, the fields and the
    /// final CRLF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.uri.len() + 32);
        // `method` and `uri` are public fields: a rule could have put
        // anything there. Nothing may split the line or the start line's
        // three parts, so stray bytes are neutralised (and flagged in tests).
        let method = self.method.as_str().as_bytes();
        crate::bug_on!(method.is_empty() || !method.iter().all(|&b| super::is_tchar(b)));
        out.extend(
            method
                .iter()
                .map(|&b| if super::is_tchar(b) { b } else { b'_' }),
        );
        out.push(b' ');
        crate::bug_on!(!self.uri.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        for b in self.uri.bytes() {
            if (0x21..=0x7e).contains(&b) {
                out.push(b);
            } else {
                // Percent-encoding keeps the target meaningful for non-ASCII.
                out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
        }
        out.push(b' ');
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        self.headers.encode(out);
        out.extend_from_slice(b"\r\n");
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

impl ReqHead {
    /// Whether `raw`, the bytes this head was parsed from (blank line
    /// included), already says exactly what [`ReqHead::encode`] would: no
    /// rule or mux rewrite touched it, the start line is the canonical one,
    /// every line ends in CRLF. Such a head is forwarded as it came, with
    /// no copy (HAProxy gets the same effect from HTX's in-place blocks).
    pub fn is_verbatim(&self, raw: &[u8]) -> bool {
        if self.headers.is_modified() || !self.uri.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return false;
        }
        let line = [
            self.method.as_str().as_bytes(),
            b" ",
            self.uri.as_bytes(),
            b" ",
            self.version.as_str().as_bytes(),
            b"\r\n",
        ];
        starts_with_all(raw, &line) && crlf_only(raw, &self.headers)
    }
}

impl ResHead {
    /// [`ReqHead::is_verbatim`] for a response head.
    pub fn is_verbatim(&self, raw: &[u8]) -> bool {
        if self.headers.is_modified()
            || !(100..=999).contains(&self.status)
            || !self
                .reason
                .bytes()
                .all(|b| b == b'\t' || b >= b' ' && b != 0x7f)
        {
            return false;
        }
        let mut digits = [0u8; 20];
        let line = [
            self.version.as_str().as_bytes(),
            b" ",
            fmt_u64(u64::from(self.status), &mut digits),
            b" ",
            self.reason.as_bytes(),
            b"\r\n",
        ];
        starts_with_all(raw, &line) && crlf_only(raw, &self.headers)
    }
}

/// `raw` starts with the concatenation of `parts`.
fn starts_with_all(raw: &[u8], parts: &[&[u8]]) -> bool {
    let mut rest = raw;
    for p in parts {
        match rest.strip_prefix(*p) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    true
}

/// Every line of `raw` ends in CRLF (`httparse` also accepts a bare LF,
/// which the encoder would turn into CRLF). The start line was compared
/// whole; the field lines are checked where they end (the byte pairs before
/// each next name, and the blank line), not byte by byte.
fn crlf_only(raw: &[u8], headers: &Headers) -> bool {
    raw.ends_with(b"\r\n\r\n") && headers.crlf_line_ends()
}

impl ResHead {
    /// Appends `HTTP/1.x SP status SP reason CRLF`, the fields and the
    /// final CRLF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.reason.len() + 32);
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.push(b' ');
        let mut digits = [0u8; 20];
        out.extend_from_slice(fmt_u64(u64::from(self.status), &mut digits));
        out.push(b' ');
        // The reason is free text but must not break the line.
        out.extend(self.reason.bytes().map(|b| {
            if b == b'\t' || b >= b' ' && b != 0x7f {
                b
            } else {
                b' '
            }
        }));
        out.extend_from_slice(b"\r\n");
        self.headers.encode(out);
        out.extend_from_slice(b"\r\n");
    }
}

/// What the connection should do after this message, as the mux decided
/// (HAProxy's `H1C_F_*`/`option http-keep-alive`/`httpclose` outcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnMode {
    KeepAlive,
    Close,
}

/// Rewrites `Connection` for `mode` in a message of `version`: removes the
/// `close` and `keep-alive` tokens, keeps the others (`upgrade`, names of
/// hop-by-hop fields), then adds `close` only where it is not the default
/// (HTTP/1.1) and `keep-alive` only where it is not (HTTP/1.0). The kept
/// tokens and the added one go into a single `Connection` field at the end;
/// no field is left if there is nothing to say.
///
/// A head whose `Connection` fields already say the right thing is left
/// alone, including a redundant `keep-alive` in HTTP/1.1 or `close` in
/// HTTP/1.0 (harmless to any recipient; HAProxy would drop them). An
/// untouched head is forwarded without being copied.
pub fn set_conn_mode(headers: &mut Headers, version: Version, mode: ConnMode) {
    let token: &[u8] = match (mode, version) {
        (ConnMode::Close, Version::Http11) => b"close",
        (ConnMode::KeepAlive, Version::Http10) => b"keep-alive",
        _ => b"",
    };
    // Common case: no `Connection` field, or one with only `close` /
    // `keep-alive`: no value to rebuild.
    let (mut fields, mut others, mut close, mut ka) = (0, false, false, false);
    headers.for_each_value(b"connection", |v| {
        fields += 1;
        for tok in list_elements(v) {
            if tok.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if tok.eq_ignore_ascii_case(b"keep-alive") {
                ka = true;
            } else {
                others = true;
            }
        }
    });
    if !others {
        // Already says the right thing (a `keep-alive` token in an
        // HTTP/1.1 keep-alive message is redundant, not wrong): leave the
        // head untouched so that it may be forwarded as it came.
        let right = match (mode, version) {
            (ConnMode::KeepAlive, Version::Http11) => !close,
            (ConnMode::KeepAlive, Version::Http10) => fields == 1 && ka && !close,
            (ConnMode::Close, Version::Http11) => fields == 1 && close && !ka,
            (ConnMode::Close, Version::Http10) => !ka,
        };
        if right {
            return;
        }
        if fields > 0 {
            headers.remove("connection");
        }
        if !token.is_empty() {
            let _ = headers.add("Connection", token);
        }
        return;
    }
    let mut value: Vec<u8> = Vec::new();
    headers.for_each_value(b"connection", |v| {
        for tok in list_elements(v) {
            if tok.eq_ignore_ascii_case(b"close") || tok.eq_ignore_ascii_case(b"keep-alive") {
                continue;
            }
            if !value.is_empty() {
                value.extend_from_slice(b", ");
            }
            value.extend_from_slice(tok);
        }
    });
    if !token.is_empty() {
        if !value.is_empty() {
            value.extend_from_slice(b", ");
        }
        value.extend_from_slice(token);
    }
    headers.remove("connection");
    if !value.is_empty() {
        // Tokens come from validated values joined with ", ": still valid.
        let _ = headers.add("Connection", &value);
    }
}

/// Makes the framing fields say `body`, for when the mux changes how a
/// body is delimited on the way out:
///
/// * `Length(n)`: no `Transfer-Encoding`, one `Content-Length: n`;
/// * `Chunked`: no `Content-Length`; `Transfer-Encoding` ends with a single
///   `chunked` (other codings kept, a missing field added);
/// * `UntilClose`: no `Content-Length`, and `chunked` removed from
///   `Transfer-Encoding` (the field goes if nothing is left); the caller
///   closes after the body;
/// * `None`, `Tunnel`: untouched (a response to HEAD keeps the
///   `Content-Length` of what a GET would have returned).
pub fn set_body_framing(headers: &mut Headers, body: BodyLen) {
    match body {
        BodyLen::Length(n) => {
            headers.remove("transfer-encoding");
            let mut digits = [0u8; 20];
            let _ = headers.set("Content-Length", fmt_u64(n, &mut digits));
        }
        BodyLen::Chunked => {
            headers.remove("content-length");
            let mut codings = other_codings(headers);
            if !codings.is_empty() {
                codings.extend_from_slice(b", ");
            }
            codings.extend_from_slice(b"chunked");
            let _ = headers.set("Transfer-Encoding", &codings);
        }
        BodyLen::UntilClose => {
            headers.remove("content-length");
            let codings = other_codings(headers);
            headers.remove("transfer-encoding");
            if !codings.is_empty() {
                let _ = headers.add("Transfer-Encoding", &codings);
            }
        }
        BodyLen::None | BodyLen::Tunnel => {}
    }
}

/// The codings of `Transfer-Encoding` other than `chunked`, joined.
fn other_codings(headers: &Headers) -> Vec<u8> {
    let mut out = Vec::new();
    headers.for_each_value(b"transfer-encoding", |v| {
        for c in list_elements(v).filter(|c| !c.eq_ignore_ascii_case(b"chunked")) {
            if !out.is_empty() {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(c);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::{parse_request, parse_response, request_body, ParseOptions, Status};
    use super::*;

    fn req(raw: &[u8]) -> (ReqHead, usize) {
        match parse_request(raw, &ParseOptions::default()) {
            Ok(Status::Complete(x)) => x,
            other => panic!("{other:?}"),
        }
    }

    /// A head goes out untouched only if encoding it again would give the
    /// very same bytes, so forwarding it raw can never differ.
    #[test]
    fn verbatim_only_when_encoding_would_give_the_same_bytes() {
        let canon: &[u8] = b"GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
        let (h, n) = req(canon);
        assert!(h.is_verbatim(&canon[..n]));
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, canon);
        // Any rewrite, a bare LF, leading blank lines: encoded.
        let mut h2 = h.clone();
        let _ = h2.headers.add("X-Forwarded-For", "1.2.3.4");
        assert!(!h2.is_verbatim(&canon[..n]));
        let mut h3 = h.clone();
        h3.uri = "/other".into();
        assert!(!h3.is_verbatim(&canon[..n]));
        let mut h4 = h.clone();
        h4.headers.remove("accept");
        assert!(!h4.is_verbatim(&canon[..n]));
        for raw in [
            &b"GET /a HTTP/1.1\nHost: x\r\n\r\n"[..],
            b"GET /a HTTP/1.1\r\nHost: x\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: x\nAccept: y\r\nB: z\r\n\r\n",
            b"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let (h, n) = req(raw);
            assert!(
                !h.is_verbatim(&raw[..n]),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        // Framing repairs change the fields: encoded.
        let raw = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
        let (h, n) = req(raw);
        assert!(!h.is_verbatim(&raw[..n]));
        // Responses.
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let Ok(Status::Complete((r, n))) = parse_response(raw, &ParseOptions::default()) else {
            panic!()
        };
        assert!(r.is_verbatim(&raw[..n]));
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(&out[..], &raw[..]);
        let raw = b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
        let Ok(Status::Complete((r, n))) = parse_response(raw, &ParseOptions::default()) else {
            panic!()
        };
        assert!(!r.is_verbatim(&raw[..n]), "no reason phrase: encoded");
    }

    fn fields(h: &Headers) -> Vec<(String, String)> {
        h.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn request_round_trip_keeps_case_and_order() {
        let raw = b"POST /a?b=c HTTP/1.1\r\nHost: x\r\nX-Case: MiXeD\r\ncontent-length: 3\r\nAccept: */*\r\n\r\n";
        let Ok(Status::Complete((h, n))) = parse_request(raw, &ParseOptions::default()) else {
            panic!()
        };
        assert_eq!(n, raw.len());
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, raw);
    }

    #[test]
    fn response_round_trip() {
        let raw = b"HTTP/1.0 404 Not Found\r\nServer: s\r\nContent-Length: 0\r\n\r\n";
        let Ok(Status::Complete((h, _))) = parse_response(raw, &ParseOptions::default()) else {
            panic!()
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, raw);
    }

    #[test]
    fn conn_mode_rewrites() {
        let mut h = Headers::new();
        h.add("Connection", "keep-alive, Upgrade").unwrap();
        h.add("Upgrade", "websocket").unwrap();
        h.add("connection", "close, X-Foo").unwrap();
        set_conn_mode(&mut h, Version::Http11, ConnMode::Close);
        assert_eq!(
            fields(&h),
            [
                ("Upgrade".into(), "websocket".into()),
                ("Connection".into(), "Upgrade, X-Foo, close".into())
            ]
        );
        set_conn_mode(&mut h, Version::Http11, ConnMode::KeepAlive);
        assert_eq!(h.get("connection"), Some(&b"Upgrade, X-Foo"[..]));
        let mut h = Headers::new();
        set_conn_mode(&mut h, Version::Http10, ConnMode::KeepAlive);
        assert_eq!(h.get("connection"), Some(&b"keep-alive"[..]));
        set_conn_mode(&mut h, Version::Http10, ConnMode::Close);
        assert!(h.is_empty());
        set_conn_mode(&mut h, Version::Http11, ConnMode::KeepAlive);
        assert!(h.is_empty());
    }

    #[test]
    fn framing_rewrites() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        let Ok(Status::Complete((mut h, _))) = parse_request(raw, &ParseOptions::default()) else {
            panic!()
        };
        set_body_framing(&mut h.headers, BodyLen::Length(12));
        assert_eq!(request_body(&h), Ok(BodyLen::Length(12)));
        assert_eq!(h.headers.count("transfer-encoding"), 0);
        set_body_framing(&mut h.headers, BodyLen::Chunked);
        assert_eq!(request_body(&h), Ok(BodyLen::Chunked));
        assert_eq!(h.headers.count("content-length"), 0);
        set_body_framing(&mut h.headers, BodyLen::Chunked);
        assert_eq!(h.headers.get("transfer-encoding"), Some(&b"chunked"[..]));

        let mut r = Headers::new();
        r.add("Transfer-Encoding", "gzip").unwrap();
        r.add("Content-Length", "10").unwrap();
        set_body_framing(&mut r, BodyLen::Chunked);
        assert_eq!(
            fields(&r),
            [("Transfer-Encoding".into(), "gzip, chunked".into())]
        );
        set_body_framing(&mut r, BodyLen::UntilClose);
        assert_eq!(fields(&r), [("Transfer-Encoding".into(), "gzip".into())]);
        r.add("Content-Length", "10").unwrap();
        set_body_framing(&mut r, BodyLen::None);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn reason_cannot_break_the_line() {
        let h = ResHead {
            version: Version::Http11,
            status: 200,
            reason: "O\r\nK".into(),
            headers: Headers::new(),
            flags: Default::default(),
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, b"HTTP/1.1 200 O  K\r\n\r\n");
    }
}

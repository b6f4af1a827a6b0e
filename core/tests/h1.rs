// The timing test reads the clock; integration tests run outside the engine.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

//! HTTP/1.1 parsing, framing and serialisation (`sluice_core::http::h1`) with
//! concrete bytes: RFC 9112 examples, HAProxy 2.6 behaviour (measured
//! against `haproxy 2.6.12` on loopback), the classic request smuggling
//! vectors, and properties (round trips, any split, no panic).

use proptest::prelude::*;
use sluice_core::http::ana::h1_termination;
use sluice_core::http::h1::{
    self, encode_chunk, encode_last_chunk, error_response, parse_request, parse_response,
    request_body, response_body, set_body_framing, set_conn_mode, BodyLen, ChunkedDecoder,
    ConnMode, Decoded, H1Error, H1ErrorKind, HeadParser, Headers, Method, MsgFlags, ParseOptions,
    ReqHead, ResHead, Side, Status, Version,
};
use sluice_core::stream::{ErrCode, FinSt};

fn opts() -> ParseOptions {
    ParseOptions::default()
}

fn req(raw: &[u8]) -> (ReqHead, usize) {
    match parse_request(raw, &opts()) {
        Ok(Status::Complete(c)) => c,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

fn req_err(raw: &[u8]) -> H1ErrorKind {
    match parse_request(raw, &opts()) {
        Err(e) => {
            assert_eq!(e.side, Side::Request);
            e.kind
        }
        other => panic!("{:?} accepted: {other:?}", String::from_utf8_lossy(raw)),
    }
}

fn res(raw: &[u8]) -> (ResHead, usize) {
    match parse_response(raw, &opts()) {
        Ok(Status::Complete(c)) => c,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

fn res_err(raw: &[u8]) -> H1ErrorKind {
    match parse_response(raw, &opts()) {
        Err(e) => {
            assert_eq!((e.side, e.status()), (Side::Response, 502));
            e.kind
        }
        other => panic!("{:?} accepted: {other:?}", String::from_utf8_lossy(raw)),
    }
}

/// A request with `fields` (one per line) and `body` after the head.
fn post(fields: &str, body: &str) -> Vec<u8> {
    format!("POST /x HTTP/1.1\r\nHost: a\r\n{fields}\r\n{body}").into_bytes()
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

/// Payload and end offset of a chunked body fed `step` bytes at a time.
fn dechunk(input: &[u8], step: usize) -> Result<(Vec<u8>, Option<usize>), H1Error> {
    let mut d = ChunkedDecoder::new(Side::Request);
    let (mut pos, mut fed, mut body) = (0, step.min(input.len()), Vec::new());
    loop {
        match d.decode(&input[pos..fed])? {
            (Decoded::Data(s), n) => {
                body.extend_from_slice(s);
                pos += n;
            }
            (Decoded::NeedMore, n) => {
                pos += n;
                if fed == input.len() {
                    return Ok((body, None));
                }
                fed = (fed + step).min(input.len());
            }
            (Decoded::End, n) => return Ok((body, Some(pos + n))),
        }
    }
}

// ------------------------------------------------------------------ heads

#[test]
fn rfc9112_request_example() {
    // RFC 9112 §2.1.
    let raw = b"GET /hello.txt HTTP/1.1\r\n\
User-Agent: curl/7.64.1 libcurl/7.64.1 OpenSSL/1.1.1g zlib/1.2.11\r\n\
Host: www.example.com\r\n\
Accept-Language: en, mi\r\n\r\n";
    let (h, n) = req(raw);
    assert_eq!(n, raw.len());
    assert_eq!(
        (&h.method, h.uri.as_str(), h.version),
        (&Method::GET, "/hello.txt", Version::Http11)
    );
    assert_eq!(h.headers.len(), 3);
    assert_eq!(h.headers.get("host"), Some(&b"www.example.com"[..]));
    assert_eq!(h.headers.get("ACCEPT-language"), Some(&b"en, mi"[..]));
    assert!(h.keep_alive() && h.flags.contains(MsgFlags::VER_11));
    assert_eq!(request_body(&h), Ok(BodyLen::None));
}

#[test]
fn rfc9112_response_example() {
    let raw = b"HTTP/1.1 200 OK\r\n\
Date: Mon, 27 Jul 2009 12:28:53 GMT\r\n\
Server: Apache\r\n\
Last-Modified: Wed, 22 Jul 2009 19:15:56 GMT\r\n\
ETag: \"34aa387-d-1568eb00\"\r\n\
Accept-Ranges: bytes\r\n\
Content-Length: 51\r\n\
Vary: Accept-Encoding\r\n\
Content-Type: text/plain\r\n\r\n\
Hello World! My content includes a trailing CRLF.\r\n";
    let (h, n) = res(raw);
    assert_eq!(
        (h.status, h.reason.as_str(), h.version),
        (200, "OK", Version::Http11)
    );
    assert_eq!(response_body(&h, &Method::GET, false), BodyLen::Length(51));
    assert_eq!(raw.len() - n, 51);
    assert_eq!(h.headers.get("etag"), Some(&b"\"34aa387-d-1568eb00\""[..]));
}

#[test]
fn every_prefix_is_partial_and_pieces_agree() {
    let raw = b"\r\nPUT /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX: y\r\n\r\nok";
    let (full, n) = req(raw);
    for cut in 0..n {
        assert_eq!(
            parse_request(&raw[..cut], &opts()),
            Ok(Status::Partial),
            "cut {cut}"
        );
    }
    for step in 1..8 {
        let mut p = HeadParser::new(opts());
        let mut fed = 0;
        let got = loop {
            fed = (fed + step).min(raw.len());
            match p.parse_request(&raw[..fed]) {
                Ok(Status::Partial) => continue,
                other => break other,
            }
        };
        assert_eq!(got, Ok(Status::Complete((full.clone(), n))));
    }
}

#[test]
fn head_parser_resets_between_messages() {
    let raw = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut p = HeadParser::new(opts());
    let mut pos = 0;
    let mut uris = Vec::new();
    let mut fed = pos;
    while pos < raw.len() {
        fed = (fed + 3).min(raw.len());
        if let Status::Complete((h, n)) = p.parse_request(&raw[pos..fed]).unwrap() {
            uris.push(h.uri);
            pos += n;
            fed = pos;
        }
    }
    assert_eq!(uris, ["/1", "/2"]);
}

#[test]
fn leading_empty_lines_are_skipped_and_counted() {
    let raw = b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let (h, n) = req(raw);
    assert_eq!((h.uri.as_str(), n), ("/", raw.len()));
    assert_eq!(parse_request(b"\r\n\r\n\r\n", &opts()), Ok(Status::Partial));
}

#[test]
fn head_size_limit() {
    let head = |pad: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "a".repeat(pad)
        )
    };
    let exact = head(100);
    let o = ParseOptions {
        max_head_len: exact.len(),
        ..opts()
    };
    assert!(matches!(
        parse_request(exact.as_bytes(), &o),
        Ok(Status::Complete(_))
    ));
    let over = head(101);
    let e = parse_request(over.as_bytes(), &o).unwrap_err();
    assert_eq!((e.kind, e.status()), (H1ErrorKind::HeadTooLarge, 400));
    // Incomplete but already at the limit: too large, not partial.
    assert_eq!(
        parse_request(&over.as_bytes()[..o.max_head_len], &o)
            .unwrap_err()
            .kind,
        H1ErrorKind::HeadTooLarge
    );
    assert_eq!(
        parse_request(&over.as_bytes()[..o.max_head_len - 1], &o),
        Ok(Status::Partial)
    );
    // Fed byte by byte, the answer is the same.
    let mut p = HeadParser::new(o);
    let mut r = Ok(Status::Partial);
    for fed in 1..=over.len() {
        r = p.parse_request(&over.as_bytes()[..fed]);
        if r != Ok(Status::Partial) {
            break;
        }
    }
    assert_eq!(r.unwrap_err().kind, H1ErrorKind::HeadTooLarge);
    // Responses: 502.
    let big = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(200));
    let e = parse_response(big.as_bytes(), &o).unwrap_err();
    assert_eq!((e.kind, e.status()), (H1ErrorKind::HeadTooLarge, 502));
}

#[test]
fn header_count_limit_matches_haproxy() {
    // HAProxy 2.6 (tune.http.maxhdr 101) takes 100 header lines, not 101.
    let head = |n: usize| {
        let mut s = String::from("GET / HTTP/1.1\r\n");
        for i in 0..n {
            s += &format!("X-{i}: v\r\n");
        }
        s + "\r\n"
    };
    assert_eq!(req(head(100).as_bytes()).0.headers.len(), 100);
    assert_eq!(req_err(head(101).as_bytes()), H1ErrorKind::TooManyHeaders);
}

#[test]
fn methods_are_an_open_case_sensitive_set() {
    for (m, want) in [
        ("GET", Method::GET),
        ("HEAD", Method::HEAD),
        ("POST", Method::POST),
        ("PUT", Method::PUT),
        ("DELETE", Method::DELETE),
        ("OPTIONS", Method::OPTIONS),
        ("TRACE", Method::TRACE),
        ("PATCH", Method::PATCH),
        ("PROPFIND", Method::Other("PROPFIND".into())),
        ("get", Method::Other("get".into())),
    ] {
        let (h, _) = req(format!("{m} / HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert_eq!(h.method, want);
        assert_eq!(h.method.as_str(), m);
    }
    assert_eq!(req_err(b"G@T / HTTP/1.1\r\n\r\n"), H1ErrorKind::BadMethod);
    assert_eq!(req_err(b"GET\t/ HTTP/1.1\r\n\r\n"), H1ErrorKind::BadMethod);
}

#[test]
fn request_targets() {
    // Absolute form (RFC 9112 §3.2.2), authority form, asterisk form.
    let (h, _) = req(b"GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\nHost: www.example.org\r\n\r\n");
    assert_eq!(h.uri, "http://www.example.org/pub/WWW/TheProject.html");
    let (h, _) = req(b"CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com:80\r\n\r\n");
    assert_eq!(
        (h.method, h.uri.as_str()),
        (Method::CONNECT, "www.example.com:80")
    );
    let (h, _) = req(b"OPTIONS * HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n");
    assert_eq!(h.uri, "*");
    // Host must match the authority (HAProxy: 400), case-insensitively;
    // userinfo is not part of it.
    assert_eq!(
        req_err(b"GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        H1ErrorKind::BadHost
    );
    req(b"GET http://A.example/ HTTP/1.1\r\nHost: a.EXAMPLE\r\n\r\n");
    req(b"GET http://u:p@a:81/x HTTP/1.1\r\nHost: a:81\r\n\r\n");
    // No Host at all: HAProxy 2.6 forwards it.
    req(b"GET http://a/x HTTP/1.1\r\n\r\n");
    // Non-ASCII and control bytes: 400 (HAProxy too).
    assert_eq!(
        req_err(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"),
        H1ErrorKind::BadUri
    );
    assert_eq!(
        req_err(b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"),
        H1ErrorKind::BadUri
    );
    assert_eq!(
        req_err(b"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"),
        H1ErrorKind::BadUri
    );
    // Several spaces between the words are accepted, as HAProxy 2.6 does
    // (tests/http1_conformance.rs compares).
    assert_eq!(req(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n").0.uri, "/");
}

/// Request targets next to what the packaged HAProxy 2.6.12 does with the
/// same bytes (measured: client status, and what the server received).
#[test]
fn request_target_forms_and_normalisation() {
    // Neither origin, absolute, authority (CONNECT) nor asterisk (OPTIONS)
    // form: 400. HAProxy 2.6.12 answers 400 only when the target, read as
    // an authority, differs from `Host` (`GET admin/a` with `Host: admin`
    // or without `Host` is forwarded); HAProxy 3.0 always does.
    for raw in [
        &b"GET admin/a HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET admin/a HTTP/1.1\r\nHost: admin\r\n\r\n",
        b"GET admin/a HTTP/1.1\r\n\r\n",
        b"GET ?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET localhost:80 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET localhost:80 HTTP/1.1\r\n\r\n",
        // HAProxy 2.6.12 forwards these two; 3.0 refuses them.
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"OPTIONS */x HTTP/1.1\r\nHost: x\r\n\r\n",
        // A fragment: 400 in HAProxy 2.6.12 too.
        b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://host#frag HTTP/1.1\r\nHost: host\r\n\r\n",
        b"GET http://a:b/x HTTP/1.1\r\n\r\n",
        // CONNECT: authority form only, with a port (HAProxy: 400).
        b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT hostname HTTP/1.1\r\n\r\n",
        b"CONNECT h1: HTTP/1.1\r\n\r\n",
        // HAProxy 2.6.12 forwards these three (3.0 refuses the first).
        b"CONNECT http://h1:80 HTTP/1.1\r\n\r\n",
        b"CONNECT u@h1:80 HTTP/1.1\r\n\r\n",
        b"CONNECT h1:80/x HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(req_err(raw), H1ErrorKind::BadUri, "{}", raw.escape_ascii());
    }
    for raw in [
        // CONNECT's Host must name the same host and port (a default port
        // may be left out of Host).
        &b"CONNECT h1:80 HTTP/1.1\r\nHost: h2:80\r\n\r\n"[..],
        b"CONNECT h1:8443 HTTP/1.1\r\nHost: h1\r\n\r\n",
        // Absolute form: a port that is not the scheme's default must
        // match; other schemes have no default (HAProxy: 400).
        b"GET http://host:8080/x HTTP/1.1\r\nHost: host\r\n\r\n",
        b"GET http://host:443/x HTTP/1.1\r\nHost: host\r\n\r\n",
        b"GET ftp://host:80/x HTTP/1.1\r\nHost: host\r\n\r\n",
        // Ambiguous Host values (HAProxy 3.2 refuses them; 2.6 forwards).
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
    ] {
        assert_eq!(req_err(raw), H1ErrorKind::BadHost, "{}", raw.escape_ascii());
    }
    // Accepted, and what the server gets (the same as from HAProxy).
    let seen = |raw: &[u8]| {
        let (h, n) = req(raw);
        assert_eq!(n, raw.len());
        (
            h.uri.clone(),
            h.headers.get("host").map(|v| v.escape_ascii().to_string()),
        )
    };
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        seen(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("*".into(), some("x"))
    );
    assert_eq!(
        seen(b"GET http://host:80/x HTTP/1.1\r\nHost: host\r\n\r\n"),
        ("http://host/x".into(), some("host"))
    );
    assert_eq!(
        seen(b"GET http://host:80/x HTTP/1.1\r\nHost: host:80\r\n\r\n"),
        ("http://host/x".into(), some("host"))
    );
    assert_eq!(
        seen(b"GET http://host/x HTTP/1.1\r\nHost: host:80\r\n\r\n"),
        ("http://host/x".into(), some("host:80"))
    );
    assert_eq!(
        seen(b"GET https://host:443/x HTTP/1.1\r\nHost: host\r\n\r\n"),
        ("https://host/x".into(), some("host"))
    );
    assert_eq!(
        seen(b"GET http://host:/x HTTP/1.1\r\nHost: host\r\n\r\n"),
        ("http://host/x".into(), some("host"))
    );
    assert_eq!(
        seen(b"GET http://host:80/x HTTP/1.1\r\n\r\n"),
        ("http://host/x".into(), None)
    );
    assert_eq!(
        seen(b"GET HTTP://HOST:80 HTTP/1.1\r\nHost: host\r\n\r\n"),
        ("HTTP://HOST".into(), some("HOST"))
    );
    assert_eq!(
        seen(b"GET http://u@host:80/x HTTP/1.1\r\nHost: host\r\n\r\n"),
        ("http://u@host/x".into(), some("host"))
    );
    // HAProxy 2.6.12 reads `host:80?q` as the authority and answers 400.
    assert_eq!(
        seen(b"GET http://host:80?q HTTP/1.1\r\nHost: host\r\n\r\n"),
        ("http://host?q".into(), some("host"))
    );
    // No host in the authority: forwarded as HAProxy does (its reg-test
    // h1_host_normalization), the empty port normalised away.
    assert_eq!(
        seen(b"GET http:///x HTTP/1.1\r\n\r\n"),
        ("http:///x".into(), None)
    );
    assert_eq!(
        seen(b"GET http://: HTTP/1.1\r\nHost: :80\r\n\r\n"),
        ("http://".into(), some(""))
    );
    assert_eq!(
        seen(b"GET https://: HTTP/1.1\r\nHost: :443\r\n\r\n"),
        ("https://".into(), some(""))
    );
    assert_eq!(
        seen(b"GET http://: HTTP/1.1\r\nHost: :\r\n\r\n"),
        ("http://".into(), some(""))
    );
    assert_eq!(
        seen(b"GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]\r\n\r\n"),
        ("http://[::1]/".into(), some("[::1]"))
    );
    assert_eq!(
        seen(b"CONNECT h1:80 HTTP/1.1\r\nHost: h1:80\r\n\r\n"),
        ("h1:80".into(), some("h1"))
    );
    assert_eq!(
        seen(b"CONNECT h1:443 HTTP/1.1\r\nHost: h1\r\n\r\n"),
        ("h1:443".into(), some("h1"))
    );
    assert_eq!(
        seen(b"CONNECT h1:8443 HTTP/1.1\r\n\r\n"),
        ("h1:8443".into(), None)
    );
    assert_eq!(
        seen(b"CONNECT [::1]:80 HTTP/1.1\r\n\r\n"),
        ("[::1]:80".into(), None)
    );
    // A normalised head is not verbatim: it is re-encoded.
    let raw = b"GET http://host:80/x HTTP/1.1\r\nHost: host:80\r\n\r\n";
    let (h, n) = req(raw);
    assert!(!h.is_verbatim(&raw[..n]));
    let mut out = Vec::new();
    h.encode(&mut out);
    assert_eq!(out, b"GET http://host/x HTTP/1.1\r\nHost: host\r\n\r\n");
    // CONNECT has no content: its framing fields go, what follows the head
    // is tunnel data (HAProxy drops Content-Length the same way).
    for raw in [
        &b"CONNECT h1:80 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"[..],
        b"CONNECT h1:80 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ] {
        let (h, n) = req(raw);
        assert_eq!(fields(&h.headers), []);
        assert_eq!(request_body(&h), Ok(BodyLen::None));
        assert!(!h
            .flags
            .intersects(MsgFlags::CLEN | MsgFlags::CHNK | MsgFlags::XFER_ENC));
        assert!(n < raw.len());
    }
    // ... but a framing error is still one.
    assert_eq!(
        req_err(b"CONNECT h1:80 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        H1ErrorKind::ConflictingContentLength
    );
}

/// `TE` keeps only `trailers` (the proxy decodes no other coding), as
/// HAProxy 2.6 forwards it (measured: `TE: trailers, deflate` reaches the
/// server as `te: trailers`, `TE: deflate` not at all).
#[test]
fn te_keeps_only_trailers() {
    let f = |raw: &[u8]| fields(&req(raw).0.headers);
    let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        f(b"GET / HTTP/1.1\r\nHost: a\r\nTE: trailers, deflate\r\nX: 1\r\n\r\n"),
        [kv("Host", "a"), kv("TE", "trailers"), kv("X", "1")]
    );
    assert_eq!(
        f(b"GET / HTTP/1.1\r\nTE: deflate\r\nHost: a\r\nte: gzip;q=1\r\n\r\n"),
        [kv("Host", "a")]
    );
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n";
    let (h, n) = req(raw);
    assert!(h.is_verbatim(&raw[..n]), "TE: trailers goes as it came");
}

#[test]
fn versions() {
    let (h, _) = req(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.version, Version::Http10);
    assert!(!h.keep_alive() && !h.flags.contains(MsgFlags::VER_11));
    // HTTP/0.9, 1.2 and 2.0 are refused (HAProxy forwards 1.2/2.0 as 1.1).
    for raw in [
        &b"GET /\r\n\r\n"[..],
        b"GET / HTTP/1.2\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
    ] {
        assert_eq!(req_err(raw), H1ErrorKind::BadVersion);
    }
    assert_eq!(res_err(b"HTTP/2 200 OK\r\n\r\n"), H1ErrorKind::BadVersion);
}

#[test]
fn host_rules() {
    let strict = ParseOptions {
        require_host: true,
        ..opts()
    };
    let missing = parse_request(b"GET / HTTP/1.1\r\n\r\n", &strict).unwrap_err();
    assert_eq!(
        (missing.kind, missing.status()),
        (H1ErrorKind::MissingHost, 400)
    );
    // Not asked of HTTP/1.0, and not by default (HAProxy 2.6 forwards it).
    assert!(parse_request(b"GET / HTTP/1.0\r\n\r\n", &strict).is_ok());
    req(b"GET / HTTP/1.1\r\n\r\n");
    // Duplicates: equal ones merge (HAProxy keeps one), different is 400.
    let (h, _) = req(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nhost: A\r\n\r\n");
    assert_eq!(
        fields(&h.headers),
        [("Host".into(), "a".into()), ("X".into(), "1".into())]
    );
    assert_eq!(
        req_err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        H1ErrorKind::BadHost
    );
}

#[test]
fn connection_semantics() {
    let ka = |raw: &[u8]| req(raw).0.keep_alive();
    assert!(ka(b"GET / HTTP/1.1\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    assert!(!ka(
        b"GET / HTTP/1.1\r\nConnection: keep-alive, CLOSE\r\n\r\n"
    ));
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(ka(
        b"GET / HTTP/1.0\r\nConnection: foo\r\nConnection: keep-alive\r\n\r\n"
    ));
    let (h, _) =
        req(b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    // A websocket handshake without a 24-character key is refused, as
    // HAProxy's H1 parser does.
    assert_eq!(
        req_err(
            b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        ),
        H1ErrorKind::BadWebsocketKey
    );
    assert!(h
        .flags
        .contains(MsgFlags::CONN_UPG | MsgFlags::UPG_WEBSOCKET));
    assert!(h.wants_upgrade());
    let (h, _) = req(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n");
    assert!(!h.wants_upgrade() && !h.flags.contains(MsgFlags::UPG_WEBSOCKET));
    let (h, _) =
        req(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n");
    assert!(h.expects_continue());
    // RFC 9110 §10.1.1: ignored in HTTP/1.0.
    let (h, _) = req(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    assert!(!h.expects_continue());
    let (r, _) = res(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    assert!(!r.keep_alive());
}

// --------------------------------------------------------- smuggling: CL/TE

#[test]
fn cl_te_chunked_wins_and_connection_closes() {
    // CL.TE: a front end that reads Content-Length would forward "0\r\n\r\nX"
    // as body; HAProxy and Sluice read chunked, drop Content-Length and
    // close after the response (measured: HAProxy answers `connection: close`).
    for raw in [
        post(
            "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
            "0\r\n\r\nX",
        ),
        post(
            "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
            "8\r\nSMUGGLED\r\n0\r\n\r\n",
        ),
    ] {
        let (h, n) = req(&raw);
        assert_eq!(request_body(&h), Ok(BodyLen::Chunked));
        assert_eq!(h.headers.count("content-length"), 0);
        assert!(h.flags.contains(MsgFlags::MUST_CLOSE | MsgFlags::CHNK));
        assert!(!h.flags.contains(MsgFlags::CLEN));
        assert!(!h.keep_alive());
        let (body, end) = dechunk(&raw[n..], 1).unwrap();
        assert!(end.is_some(), "the chunked body ends inside what was sent");
        assert!(body.is_empty() || body == b"SMUGGLED");
        // Serialised, the head has one framing field.
        let mut out = Vec::new();
        h.encode(&mut out);
        let text = String::from_utf8(out).unwrap().to_ascii_lowercase();
        assert!(!text.contains("content-length") && text.contains("transfer-encoding: chunked"));
    }
    // In a response too (502 never; chunked wins, CL dropped).
    let (r, _) = res(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(response_body(&r, &Method::GET, false), BodyLen::Chunked);
    assert!(r.flags.contains(MsgFlags::MUST_CLOSE) && r.headers.count("content-length") == 0);
}

#[test]
fn te_in_http10_is_chunked_and_closes() {
    // RFC 9112 §6.1; HAProxy 2.6 reads it as chunked and closes.
    let (h, _) = req(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(request_body(&h), Ok(BodyLen::Chunked));
    assert!(h.flags.contains(MsgFlags::MUST_CLOSE) && !h.keep_alive());
    let (h, _) =
        req(b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(!h.keep_alive());
}

#[test]
fn te_te_obfuscations() {
    use H1ErrorKind::*;
    let cases: &[(&str, H1ErrorKind)] = &[
        ("Transfer-Encoding: xchunked\r\n", BadTransferEncoding),
        (
            "Transfer-Encoding: chunked, identity\r\n",
            BadTransferEncoding,
        ),
        ("Transfer-Encoding: identity\r\n", BadTransferEncoding),
        ("Transfer-Encoding: chunked;q=1\r\n", BadTransferEncoding),
        (
            "Transfer-Encoding: chunked chunked\r\n",
            BadTransferEncoding,
        ),
        ("Transfer-Encoding: \"chunked\"\r\n", BadTransferEncoding),
        ("Transfer-Encoding: \r\n", BadTransferEncoding),
        (
            "Transfer-Encoding: chunked, chunked\r\n",
            BadTransferEncoding,
        ),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            BadTransferEncoding,
        ),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n",
            BadTransferEncoding,
        ),
        ("Transfer-Encoding : chunked\r\n", BadHeaderName),
        ("Transfer-Encoding\t: chunked\r\n", BadHeaderName),
        ("Transfer-Encoding\0: chunked\r\n", BadHeaderName),
        ("Transfer-Encoding: chunked\0\r\n", BadHeaderValue),
        ("Transfer-Encoding: \0chunked\r\n", BadHeaderValue),
        ("Transfer-Encoding: \x0bchunked\r\n", BadHeaderValue),
        ("Transfer-Encoding: chun\rked\r\n", BadHeaderValue),
        ("Transfer-Encoding:\r\n chunked\r\n", ObsFold),
        ("X: y\r\n Transfer-Encoding: chunked\r\n", ObsFold),
        ("X: y\r\n\tTransfer-Encoding: chunked\r\n", ObsFold),
    ];
    for (f, want) in cases {
        let raw = post(f, "0\r\n\r\n");
        let got = req_err(&raw);
        assert_eq!(got, *want, "{f:?}");
        let e = H1Error::new(got, Side::Request);
        assert_eq!(
            (e.status(), h1_termination(&e)),
            (400, (ErrCode::PrxCond, FinSt::Req))
        );
    }
    // Another coding before chunked: HAProxy 2.6.12 answers 422.
    for f in [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: foo\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let e = parse_request(&post(f, "0\r\n\r\n"), &opts()).unwrap_err();
        assert_eq!((e.kind, e.status()), (UnsupportedTransferCoding, 422));
    }
    // What stays valid: any case, OWS, empty list elements (RFC 9110 §5.6.1).
    for f in [
        "Transfer-Encoding: CHUNKED\r\n",
        "Transfer-Encoding:\tchunked\t\r\n",
        "Transfer-Encoding: chunked,\r\n",
        "Transfer-Encoding: , chunked\r\n",
    ] {
        let (h, _) = req(&post(f, ""));
        assert_eq!(request_body(&h), Ok(BodyLen::Chunked), "{f:?}");
    }
    // A look-alike name is just another field.
    let (h, _) = req(&post("Transfer_Encoding: chunked\r\n", ""));
    assert_eq!(request_body(&h), Ok(BodyLen::None));
}

#[test]
fn content_length_rules() {
    use H1ErrorKind::*;
    // Duplicates and lists of one value merge into one field (HAProxy).
    let (h, _) = req(&post(
        "Content-Length: 5\r\nX: 1\r\ncontent-length: 5\r\n",
        "hello",
    ));
    assert_eq!(
        fields(&h.headers)[1..],
        [
            ("Content-Length".into(), "5".into()),
            ("X".into(), "1".into())
        ]
    );
    assert_eq!(request_body(&h), Ok(BodyLen::Length(5)));
    let (h, _) = req(&post("Content-Length: 5, 5,5\r\n", "hello"));
    assert_eq!(h.headers.get("content-length"), Some(&b"5"[..]));
    let (h, _) = req(&post("Content-Length: 007\r\n", ""));
    assert_eq!(request_body(&h), Ok(BodyLen::Length(7)));
    let (h, _) = req(&post("Content-Length: 18446744073709551615\r\n", ""));
    assert_eq!(request_body(&h), Ok(BodyLen::Length(u64::MAX)));
    let cases: &[(&str, H1ErrorKind)] = &[
        (
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            ConflictingContentLength,
        ),
        ("Content-Length: 5, 6\r\n", ConflictingContentLength),
        ("Content-Length: +5\r\n", BadContentLength),
        ("Content-Length: -1\r\n", BadContentLength),
        ("Content-Length: 18446744073709551616\r\n", BadContentLength),
        ("Content-Length: 99999999999999999999\r\n", BadContentLength),
        ("Content-Length: \r\n", BadContentLength),
        ("Content-Length: 1,,1\r\n", BadContentLength),
        ("Content-Length: 1,\r\n", BadContentLength),
        ("Content-Length: 0x10\r\n", BadContentLength),
        ("Content-Length: 5 5\r\n", BadContentLength),
        ("Content-Length: 1e3\r\n", BadContentLength),
        (
            "Content-Length: 5\r\nContent-Length: x\r\n",
            BadContentLength,
        ),
    ];
    for (f, want) in cases {
        assert_eq!(req_err(&post(f, "")), *want, "{f:?}");
        let resp = format!("HTTP/1.1 200 OK\r\n{f}\r\n");
        assert_eq!(res_err(resp.as_bytes()), *want, "response {f:?}");
    }
}

#[test]
fn header_syntax() {
    use H1ErrorKind::*;
    assert_eq!(
        req_err(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
        BadHeaderName
    );
    assert_eq!(req_err(b"GET / HTTP/1.1\r\nX(y): a\r\n\r\n"), BadHeaderName);
    assert_eq!(req_err(b"GET / HTTP/1.1\r\n: a\r\n\r\n"), BadHeaderName);
    assert_eq!(req_err(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"), BadHeaderName);
    assert_eq!(req_err(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"), ObsFold);
    assert_eq!(
        req_err(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"),
        BadHeaderValue
    );
    assert_eq!(
        req_err(b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n"),
        BadHeaderValue
    );
    assert_eq!(
        req_err(b"GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n"),
        BadHeaderValue
    );
    assert_eq!(req_err(b"GET / HTTP/1.1\rX: a\r\n\r\n"), BadLineEnding);
    // Bare LF line endings are accepted (HAProxy 2.6 too); values keep
    // obs-text and HTAB, lose surrounding whitespace.
    let (h, _) = req(b"GET / HTTP/1.1\nHost: a\nX:  \tv\xe9 w\t \n\n");
    assert_eq!(h.headers.get("x"), Some(&b"v\xe9 w"[..]));
}

#[test]
fn obs_fold_is_unfolded_in_responses() {
    // HAProxy replaces CR, LF and the fold's whitespace with spaces.
    let (r, _) = res(b"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\td\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.headers.get("x-a"), Some(&b"b   c  \td"[..]));
    assert!(r.flags.contains(MsgFlags::UNFOLDED));
    let mut out = Vec::new();
    r.encode(&mut out);
    assert!(out.windows(15).any(|w| w == b"X-A: b   c  \td\r"));
}

#[test]
fn response_heads() {
    use H1ErrorKind::*;
    let (r, _) = res(b"HTTP/1.1 204\r\n\r\n");
    assert_eq!((r.status, r.reason.as_str()), (204, ""));
    let (r, _) = res(b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(r.is_interim());
    assert_eq!(res_err(b"HTTP/1.1 20 OK\r\n\r\n"), BadStatus);
    assert_eq!(res_err(b"HTTP/1.1 099 Low\r\n\r\n"), BadStatus);
    assert_eq!(res_err(b"HTTP/1.1 2000 OK\r\n\r\n"), BadStatus);
    assert_eq!(
        res_err(b"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n"),
        BadHeaderName
    );
    // Responses must frame with a single final chunked too (HAProxy 2.6.12: 502).
    assert_eq!(
        res_err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        BadTransferEncoding
    );
    assert_eq!(
        res_err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n"),
        BadTransferEncoding
    );
    assert_eq!(
        res_err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        UnsupportedTransferCoding
    );
    let e = parse_response(b"HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", &opts()).unwrap_err();
    assert_eq!(h1_termination(&e), (ErrCode::PrxCond, FinSt::Headers));
    // An interim response, then the final one, from one buffer.
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let (first, n) = res(raw);
    let (second, m) = res(&raw[n..]);
    assert_eq!((first.status, second.status, n + m), (100, 200, raw.len()));
}

/// 1xx and 204 responses have no body and lose their framing fields; 304
/// and HEAD responses keep theirs (they describe the representation).
/// Measured on the packaged HAProxy 2.6.12 with the same bytes: the
/// client gets exactly this.
#[test]
fn bodiless_responses_lose_framing_fields() {
    let m = |raw: &[u8]| {
        let (r, n) = res(raw);
        assert_eq!(n, raw.len());
        let mut out = Vec::new();
        r.encode(&mut out);
        assert!(!r
            .flags
            .intersects(MsgFlags::CLEN | MsgFlags::CHNK | MsgFlags::XFER_ENC));
        String::from_utf8(out).unwrap()
    };
    assert_eq!(
        m(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"),
        "HTTP/1.1 204 No Content\r\n\r\n"
    );
    assert_eq!(
        m(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Foo: Bar\r\n\r\n"),
        "HTTP/1.1 204 No Content\r\nX-Foo: Bar\r\n\r\n"
    );
    assert_eq!(
        m(b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"),
        "HTTP/1.1 204 No Content\r\n\r\n"
    );
    assert_eq!(
        m(b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n"),
        "HTTP/1.1 100 Continue\r\n\r\n"
    );
    assert_eq!(
        m(b"HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: chunked\r\nLink: x\r\n\r\n"),
        "HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
    );
    assert_eq!(
        m(b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 5\r\nUpgrade: websocket\r\n\r\n"),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    );
    // An untouched bodiless head stays verbatim.
    let raw = b"HTTP/1.1 204 No Content\r\nX: 1\r\n\r\n";
    let (r, n) = res(raw);
    assert!(r.is_verbatim(&raw[..n]));
    // A broken length is still an error.
    assert_eq!(
        res_err(b"HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n"),
        H1ErrorKind::BadContentLength
    );
    // 304 and 200 keep theirs.
    for raw in [
        &b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"[..],
        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    ] {
        let (r, n) = res(raw);
        assert!(r.is_verbatim(&raw[..n]), "{}", raw.escape_ascii());
        assert!(r.flags.intersects(MsgFlags::CLEN | MsgFlags::CHNK));
    }
}

// ------------------------------------------------------------------ bodies

#[test]
fn chunked_one_byte_at_a_time_equals_one_shot() {
    let bodies: &[&[u8]] = &[
        b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
        b"1;a=b\r\nx\r\n10 ;ext\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\nNEXT",
        b"A\r\n0123456789\r\n0\r\n\r\n",
        b"3\r\nabc\r\n",
    ];
    for b in bodies {
        let one = dechunk(b, b.len()).unwrap();
        for step in 1..b.len() {
            assert_eq!(dechunk(b, step).unwrap(), one, "step {step}");
        }
    }
}

#[test]
fn chunked_smuggling_vectors() {
    use H1ErrorKind::*;
    let e = |input: &[u8]| dechunk(input, 1).unwrap_err().kind;
    // Bare LF (HAProxy 2.6 accepts; Sluice refuses: TERM.EXT-style desync).
    assert_eq!(e(b"1\nx\r\n0\r\n\r\n"), BadChunkSize);
    assert_eq!(e(b"1\r\nx\n0\r\n\r\n"), MissingChunkCrlf);
    assert_eq!(e(b"0\r\n\n"), BadTrailers);
    // A chunk extension hiding a line break.
    assert_eq!(e(b"1;a\nb\r\nx\r\n0\r\n\r\n"), BadChunkExt);
    assert_eq!(e(b"1;a\rb\r\nx\r\n0\r\n\r\n"), BadChunkSize);
    // Size oddities.
    assert_eq!(e(b"1 \r\nx\r\n0\r\n\r\n"), BadChunkSize);
    assert_eq!(e(b"0x1\r\nx\r\n0\r\n\r\n"), BadChunkSize);
    assert_eq!(e(b"-1\r\nx\r\n0\r\n\r\n"), BadChunkSize);
    assert_eq!(e(b"1_0\r\n"), BadChunkSize);
    assert_eq!(e(b"fffffffffffffffff\r\n"), ChunkSizeOverflow);
    assert_eq!(e(b"10000000000000001\r\n"), ChunkSizeOverflow);
    // Data longer than announced.
    assert_eq!(e(b"2\r\nabc\r\n0\r\n\r\n"), MissingChunkCrlf);
    let err = dechunk(b"zz", 1).unwrap_err();
    assert_eq!(
        (err.status(), h1_termination(&err)),
        (400, (ErrCode::PrxCond, FinSt::Data))
    );
}

#[test]
fn chunk_size_overflow_boundary() {
    // 2^63 - 1 is a valid size; 2^63 is not.
    assert_eq!(
        dechunk(b"7FFFFFFFFFFFFFFF\r\nab", 1).unwrap(),
        (b"ab".to_vec(), None)
    );
    assert_eq!(
        dechunk(b"8000000000000000\r\n", 1).unwrap_err().kind,
        H1ErrorKind::ChunkSizeOverflow
    );
}

// ----------------------------------------------------------- serialisation

#[test]
fn mux_rewrites_then_serialise() {
    // A 1.0 keep-alive request forwarded to a server over 1.1 with the body
    // re-chunked, then the response turned into a close-delimited 1.0 one.
    let (mut h, _) =
        req(b"POST /p HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n");
    h.version = Version::Http11;
    set_conn_mode(&mut h.headers, h.version, ConnMode::KeepAlive);
    set_body_framing(&mut h.headers, BodyLen::Chunked);
    let mut out = Vec::new();
    h.encode(&mut out);
    // `keep-alive` is redundant in 1.1 but not wrong: it stays, so that an
    // untouched head can be forwarded as it came.
    assert_eq!(
        out,
        b"POST /p HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let (mut r, _) = res(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    r.version = Version::Http10;
    set_body_framing(&mut r.headers, BodyLen::UntilClose);
    set_conn_mode(&mut r.headers, r.version, ConnMode::Close);
    out.clear();
    r.encode(&mut out);
    assert_eq!(out, b"HTTP/1.0 200 OK\r\n\r\n");
}

#[test]
fn error_pages() {
    for s in [
        400, 403, 404, 405, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504, 422,
    ] {
        let page = error_response(s).unwrap();
        let (r, n) = res(page);
        assert_eq!(r.status, s);
        assert_eq!(r.headers.get("connection"), Some(&b"close"[..]));
        assert_eq!(
            response_body(&r, &Method::GET, false),
            BodyLen::Length((page.len() - n) as u64)
        );
    }
    let page = std::str::from_utf8(error_response(503).unwrap()).unwrap();
    assert!(page.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    assert!(page.contains("\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\n"));
}

// --------------------------------------------------------------- properties

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

/// Visible ASCII and obs-text, no surrounding whitespace (a peer trims it).
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![0x21u8..=0x7e, Just(b' '), Just(b'\t'), 0x80u8..=0xff],
        0..24,
    )
    .prop_map(|mut v| {
        while v.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.remove(0);
        }
        while v.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.pop();
        }
        v
    })
}

/// Header fields that do not change framing or get merged.
fn plain_headers() -> impl Strategy<Value = Headers> {
    prop::collection::vec((token(), value()), 0..12).prop_map(|fields| {
        let mut h = Headers::new();
        for (n, v) in fields {
            let l = n.to_ascii_lowercase();
            // Framing fields, Host and TE are normalised by the parser.
            if l == "content-length" || l == "transfer-encoding" || l == "host" || l == "te" {
                continue;
            }
            h.add(&n, &v).unwrap();
        }
        h
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::HEAD),
        Just(Method::CONNECT),
        token().prop_map(|t| Method::from_token(&t)),
    ]
}

/// A method with a target of a form it allows (origin, absolute without a
/// default port, which would be normalised, `*` for OPTIONS, `host:port`
/// for CONNECT).
fn method_target() -> impl Strategy<Value = (Method, String)> {
    let not_connect = || method().prop_filter("not CONNECT", |m| *m != Method::CONNECT);
    prop_oneof![
        (not_connect(), "/[!-\"$-~]{0,40}"),
        (
            not_connect(),
            "(http|https|ftp)://[a-z0-9.-]{1,12}(:[1-9][0-9]{3})?(/[!-\"$-~]{0,20})?"
        ),
        Just((Method::OPTIONS, "*".to_string())),
        "[a-z0-9.-]{1,12}:[0-9]{1,5}".prop_map(|t| (Method::CONNECT, t)),
    ]
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::Http10), Just(Version::Http11)]
}

fn expected_flags(h: &Headers, v: Version) -> MsgFlags {
    // Only what `plain_headers` can produce.
    let mut f = MsgFlags::empty();
    if v == Version::Http11 {
        f |= MsgFlags::VER_11;
    }
    for (tok, flag) in [
        (&b"close"[..], MsgFlags::CONN_CLO),
        (b"keep-alive", MsgFlags::CONN_KAL),
        (b"upgrade", MsgFlags::CONN_UPG),
    ] {
        if h.has_token("connection", tok) {
            f |= flag;
        }
    }
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn request_round_trip((m, uri) in method_target(), v in version(), headers in plain_headers()) {
        let flags = expected_flags(&headers, v);
        let head = ReqHead { method: m, uri, version: v, headers, flags };
        let mut out = Vec::new();
        head.encode(&mut out);
        let o = ParseOptions { max_head_len: out.len(), max_headers: 64, require_host: false };
        let (back, n) = match parse_request(&out, &o) {
            Ok(Status::Complete(c)) => c,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&out)),
        };
        prop_assert_eq!(n, out.len());
        // Flags from Upgrade/Expect fields aside, the same head.
        let extra = MsgFlags::UPG_WEBSOCKET | MsgFlags::EXPECT_100;
        prop_assert_eq!(back.flags - extra, head.flags);
        prop_assert_eq!(ReqHead { flags: head.flags, ..back }, head);
    }

    #[test]
    fn response_round_trip(status in 100u16..1000, reason in "[ -~]{0,20}", v in version(), headers in plain_headers()) {
        let flags = expected_flags(&headers, v);
        let head = ResHead { version: v, status, reason, headers, flags };
        let mut out = Vec::new();
        head.encode(&mut out);
        let o = ParseOptions { max_head_len: out.len(), max_headers: 64, require_host: false };
        let (back, n) = match parse_response(&out, &o) {
            Ok(Status::Complete(c)) => c,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&out)),
        };
        prop_assert_eq!(n, out.len());
        prop_assert_eq!(back.flags - MsgFlags::UPG_WEBSOCKET, head.flags);
        prop_assert_eq!(ResHead { flags: head.flags, ..back }, head);
    }

    #[test]
    fn chunked_round_trip_any_split(
        parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
        trailer in prop::option::of((token(), value())),
        step in 1usize..64,
    ) {
        let mut out = Vec::new();
        for p in &parts {
            encode_chunk(p, &mut out);
        }
        let mut t = Headers::new();
        if let Some((n, v)) = &trailer {
            if !h1::chunked::DROPPED_TRAILERS.iter().any(|d| d.eq_ignore_ascii_case(n.as_bytes())) {
                t.add(n, v).unwrap();
            }
        }
        encode_last_chunk(&t, &mut out);
        out.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let want: Vec<u8> = parts.concat();
        let (body, end) = dechunk(&out, step).unwrap();
        prop_assert_eq!(&body, &want);
        prop_assert_eq!(end, Some(out.len() - 16));
        // Trailers survive too.
        let mut d = ChunkedDecoder::new(Side::Response);
        let mut pos = 0;
        loop {
            let (what, n) = d.decode(&out[pos..]).unwrap();
            pos += n;
            if what == Decoded::End { break; }
        }
        prop_assert_eq!(d.take_trailers(), t);
    }

    #[test]
    fn parsers_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
        sluice_core::fuzzing::h1_request(&data);
        sluice_core::fuzzing::h1_response(&data);
    }

    #[test]
    fn mutated_heads_never_panic(
        base in prop::sample::select(vec![
            &b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
            b"GET http://a/ HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n",
        ]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop_oneof![
            Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'\t'), Just(b':'), Just(b','), Just(0u8), Just(b'0'), Just(b'f'), any::<u8>()
        ], 0u8..3), 1..6),
    ) {
        let mut data = base.to_vec();
        for (at, byte, op) in edits {
            let i = at.index(data.len() + 1);
            match op {
                0 if i < data.len() => data[i] = byte,
                1 => data.insert(i, byte),
                _ if i < data.len() => { data.remove(i); }
                _ => {}
            }
        }
        sluice_core::fuzzing::h1_request(&data);
        sluice_core::fuzzing::h1_response(&data);
    }
}

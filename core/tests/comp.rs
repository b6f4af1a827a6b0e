//! HTTP compression (`core/src/http/comp.rs`): the `Accept-Encoding`
//! negotiation, the response conditions and head rewrite of HAProxy 2.6's
//! compression filter, the configuration keywords, and the compressor's
//! output decoded by flate2's decoders (an independent code path) after
//! chunk framing is removed.

use std::io::Read;

use sluice_core::cfgparse::{parse, ParseOptions};
use sluice_core::http::comp::{
    etag_type, parse_qvalue, select_request, select_response, set_response_headers, CompAlgo,
    CompCfg, Compressor, EtagType, ResContext,
};
use sluice_core::http::h1::{self, BodyLen, Headers, Method, ResHead};

fn cfg(algos: &[&str], types: &[&str]) -> CompCfg {
    CompCfg {
        algos: algos
            .iter()
            .map(|a| CompAlgo::from_cfg(a).unwrap())
            .collect(),
        types: types.iter().map(|t| t.to_string()).collect(),
        offload: false,
    }
}

fn headers(fields: &[(&str, &str)]) -> Headers {
    let mut h = Headers::new();
    for (n, v) in fields {
        h.add(n, v).unwrap();
    }
    h
}

fn pick(c: &CompCfg, ae: &[&str]) -> Option<&'static str> {
    let fields: Vec<(&str, &str)> = ae.iter().map(|v| ("Accept-Encoding", *v)).collect();
    select_request(&headers(&fields), Some(c), None).map(|s| s.algo.cfg_name())
}

#[test]
fn qvalues_as_haproxy_parses_them() {
    assert_eq!(parse_qvalue(b"1"), 1000);
    assert_eq!(parse_qvalue(b"0"), 0);
    assert_eq!(parse_qvalue(b"0.5"), 500);
    assert_eq!(parse_qvalue(b"0.125"), 125);
    assert_eq!(parse_qvalue(b"0.12"), 120);
    assert_eq!(parse_qvalue(b"1.5"), 1000);
    // Not a number: HAProxy's 1000.
    assert_eq!(parse_qvalue(b"x"), 1000);
    assert_eq!(parse_qvalue(b""), 1000);
}

#[test]
fn accept_encoding_negotiation() {
    let c = cfg(&["gzip", "deflate"], &[]);
    assert_eq!(pick(&c, &["gzip"]), Some("gzip"));
    assert_eq!(pick(&c, &["GZip"]), Some("gzip"));
    assert_eq!(pick(&c, &["deflate, gzip"]), Some("deflate"));
    assert_eq!(pick(&c, &["gzip;q=0.5, deflate;q=0.6"]), Some("deflate"));
    assert_eq!(pick(&c, &["deflate;q=0.5, gzip"]), Some("gzip"));
    assert_eq!(
        pick(&c, &["gzip ; level=1 ; q=0.3, deflate;q=0.2"]),
        Some("gzip")
    );
    // A tie: the first value keeps it.
    assert_eq!(pick(&c, &["gzip;q=0.5", "deflate;q=0.5"]), Some("gzip"));
    // `*`: the first of HAProxy's list, the last configured.
    assert_eq!(pick(&c, &["*"]), Some("deflate"));
    assert_eq!(pick(&c, &["gzip;q=0"]), None);
    assert_eq!(pick(&c, &["br", "x-gzip"]), None);
    assert_eq!(pick(&c, &[]), None);
    // `raw-deflate` answers `deflate`.
    let raw = cfg(&["raw-deflate"], &[]);
    assert_eq!(pick(&raw, &["deflate"]), Some("raw-deflate"));
    // `identity` when nothing else, but not negotiated then.
    let id = cfg(&["identity", "gzip"], &[]);
    let s = select_request(&headers(&[("Accept-Encoding", "br")]), Some(&id), None).unwrap();
    assert_eq!((s.algo, s.negotiated), (CompAlgo::Identity, false));
    let s = select_request(&headers(&[("Accept-Encoding", "gzip")]), Some(&id), None).unwrap();
    assert_eq!((s.algo, s.negotiated), (CompAlgo::Gzip, true));
}

#[test]
fn backend_algorithms_first_then_frontend() {
    let fe = cfg(&["gzip"], &[]);
    let be = cfg(&["deflate"], &[]);
    let h = headers(&[("Accept-Encoding", "gzip, deflate")]);
    let got =
        |be: Option<&CompCfg>, fe: Option<&CompCfg>| select_request(&h, be, fe).map(|s| s.algo);
    assert_eq!(got(Some(&be), Some(&fe)), Some(CompAlgo::Deflate));
    // A backend with types only: the frontend's algorithms.
    let be_types = cfg(&[], &["text/"]);
    assert_eq!(got(Some(&be_types), Some(&fe)), Some(CompAlgo::Gzip));
    assert_eq!(got(None, None), None);
}

#[test]
fn old_user_agents_get_no_compression() {
    let c = cfg(&["gzip"], &[]);
    let ua = |ua: &str| {
        select_request(
            &headers(&[("Accept-Encoding", "gzip"), ("User-Agent", ua)]),
            Some(&c),
            None,
        )
        .is_some()
    };
    assert!(!ua("Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)"));
    assert!(ua("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)"));
    assert!(ua("Mozilla/5.0 (X11; Linux x86_64)"));
}

fn res(text: &str) -> ResHead {
    match h1::parse_response(text.as_bytes(), &h1::ParseOptions::default()) {
        Ok(h1::Status::Complete((h, _))) => h,
        other => panic!("{other:?}"),
    }
}

fn compressed(head: &str, body: BodyLen, meth: Method, req11: bool, c: &CompCfg) -> bool {
    let cx = ResContext {
        algo: CompAlgo::Gzip,
        req_ver11: req11,
        meth: &meth,
        body,
    };
    select_response(&cx, &res(head), None, Some(c))
}

#[test]
fn response_conditions() {
    let c = cfg(&["gzip"], &["text/plain", "text/html"]);
    let ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
    let yes = |extra: &str| {
        compressed(
            &format!("{ok}{extra}\r\n"),
            BodyLen::Length(10),
            Method::GET,
            true,
            &c,
        )
    };
    assert!(yes(""));
    assert!(!yes("Content-Encoding: br\r\n"));
    assert!(!yes("Cache-Control: public, no-transform\r\n"));
    assert!(yes("Cache-Control: no-cache\r\n"));
    assert!(yes("ETag: \"x\"\r\n"));
    assert!(yes("ETag: W/\"x\"\r\n"));
    assert!(!yes("ETag: x\r\n"));
    assert!(!yes("ETag: \"x\"\r\nETag: \"y\"\r\n"));
    let head = |status: &str, ct: &str| format!("HTTP/1.1 {status}\r\n{ct}\r\n");
    let ct_plain = "Content-Type: text/plain\r\n";
    for (status, want) in [
        ("200 OK", true),
        ("201 C", true),
        ("203 N", true),
        ("204 N", false),
        ("206 P", false),
        ("404 N", false),
    ] {
        assert_eq!(
            compressed(
                &head(status, ct_plain),
                BodyLen::Length(10),
                Method::GET,
                true,
                &c
            ),
            want,
            "{status}"
        );
    }
    for (ct, want) in [
        ("Content-Type: TEXT/HTML; charset=utf-8\r\n", true),
        ("Content-Type: image/png\r\n", false),
        ("Content-Type: multipart/mixed\r\n", false),
        ("", false),
    ] {
        assert_eq!(
            compressed(
                &head("200 OK", ct),
                BodyLen::Length(10),
                Method::GET,
                true,
                &c
            ),
            want,
            "{ct}"
        );
    }
    // No type listed: any but multipart, and none at all.
    let any = cfg(&["gzip"], &[]);
    assert!(compressed(
        &head("200 OK", ""),
        BodyLen::Chunked,
        Method::GET,
        true,
        &any
    ));
    let h = head("200 OK", ct_plain);
    assert!(compressed(&h, BodyLen::Chunked, Method::GET, true, &c));
    assert!(!compressed(&h, BodyLen::Length(0), Method::GET, true, &c));
    assert!(!compressed(&h, BodyLen::UntilClose, Method::GET, true, &c));
    assert!(!compressed(&h, BodyLen::None, Method::GET, true, &c));
    assert!(!compressed(&h, BodyLen::Length(10), Method::HEAD, true, &c));
    assert!(!compressed(&h, BodyLen::Length(10), Method::GET, false, &c));
    let h10 = format!("HTTP/1.0 200 OK\r\n{ct_plain}\r\n");
    assert!(!compressed(
        &h10,
        BodyLen::Length(10),
        Method::GET,
        true,
        &c
    ));
}

#[test]
fn etag_types() {
    assert_eq!(etag_type(b"\"a\""), EtagType::Strong);
    assert_eq!(etag_type(b"\"\""), EtagType::Strong);
    assert_eq!(etag_type(b"W/\"a\""), EtagType::Weak);
    assert_eq!(etag_type(b"a"), EtagType::Invalid);
    assert_eq!(etag_type(b"\""), EtagType::Invalid);
    assert_eq!(etag_type(b"w/\"a\""), EtagType::Invalid);
}

#[test]
fn response_head_rewrite() {
    let mut h = res(
        "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: 10\r\nVary: Origin\r\nX: y\r\n\r\n",
    );
    set_response_headers(&mut h, CompAlgo::RawDeflate, false);
    let fields: Vec<(String, String)> = h
        .headers
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("ETag", "W/\"v1\""),
        ("Vary", "Origin"),
        ("X", "y"),
        ("Transfer-Encoding", "chunked"),
        ("Vary", "Accept-Encoding"),
        ("Content-Encoding", "deflate"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(fields, want);
    // Chunked already, identity: no second Transfer-Encoding, no
    // Content-Encoding; a weak ETag stays.
    let mut h = res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: W/\"a\"\r\n\r\n");
    set_response_headers(&mut h, CompAlgo::Identity, true);
    assert_eq!(h.headers.count("transfer-encoding"), 1);
    assert!(!h.headers.contains("content-encoding"));
    assert_eq!(h.headers.get("etag"), Some(&b"W/\"a\""[..]));
}

/// Removes chunked framing; checks it ends with the last chunk.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").expect("size line");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            assert_eq!(b, b"\r\n", "last chunk, no trailers");
            return out;
        }
        assert!(size > 0);
        out.extend_from_slice(&b[..size]);
        assert_eq!(&b[size..size + 2], b"\r\n");
        b = &b[size + 2..];
    }
}

fn decode(algo: CompAlgo, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match algo {
        CompAlgo::Identity => out.extend_from_slice(data),
        CompAlgo::Gzip => {
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        CompAlgo::Deflate => {
            flate2::read::ZlibDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        CompAlgo::RawDeflate => {
            flate2::read::DeflateDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
    }
    out
}

#[test]
fn compressor_round_trip_in_pieces() {
    let body: Vec<u8> = (0..300_000u32)
        .flat_map(|i| format!("{} ", i % 977).into_bytes())
        .collect();
    for algo in [
        CompAlgo::Identity,
        CompAlgo::Gzip,
        CompAlgo::Deflate,
        CompAlgo::RawDeflate,
    ] {
        for piece in [1, 700, 16384, body.len()] {
            let mut z = Compressor::new(algo);
            let mut out = Vec::new();
            for (i, p) in body.chunks(piece).enumerate() {
                z.add(p);
                // A flush every few pieces, as the analyser does at each step.
                if i % 3 == 0 {
                    z.flush(false, &mut out);
                }
            }
            z.flush(true, &mut out);
            out.extend_from_slice(h1::LAST_CHUNK);
            let stream = dechunk(&out);
            assert_eq!(decode(algo, &stream), body, "{algo:?} in pieces of {piece}");
            if algo != CompAlgo::Identity && piece > 1 {
                assert!(stream.len() < body.len() / 2, "{algo:?}: compresses");
            }
        }
        // An empty body: a valid empty stream.
        let mut z = Compressor::new(algo);
        let mut out = Vec::new();
        z.flush(true, &mut out);
        out.extend_from_slice(h1::LAST_CHUNK);
        assert_eq!(decode(algo, &dechunk(&out)), b"", "{algo:?} empty");
    }
}

#[test]
fn config_keywords() {
    let text = "defaults\n  mode http\n  compression type text/plain\n  compression algo gzip\n\
                frontend fe\n  bind 127.0.0.1:8080\n  compression algo deflate raw-deflate\n  compression type text/html\n  compression offload\n  default_backend be\n\
                backend be\n  compression algo identity\n";
    let p = parse("t.cfg", text, ParseOptions::new("h")).expect("parses");
    let fe = p.config.proxies.iter().find(|x| x.name == "fe").unwrap();
    let c = fe.compression.as_ref().unwrap();
    assert_eq!(
        c.algos,
        [CompAlgo::Gzip, CompAlgo::Deflate, CompAlgo::RawDeflate]
    );
    assert_eq!(c.types, ["text/plain", "text/html"]);
    assert!(c.offload);
    let be = p.config.proxies.iter().find(|x| x.name == "be").unwrap();
    let c = be.compression.as_ref().unwrap();
    assert_eq!(c.algos, [CompAlgo::Gzip, CompAlgo::Identity]);
    assert!(!c.offload);

    let errs = |line: &str| -> Vec<String> {
        let text = format!("frontend fe\n  mode http\n  bind 127.0.0.1:8080\n  {line}\n");
        match parse("t.cfg", &text, ParseOptions::new("h")) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.iter().map(|d| d.to_string()).collect(),
        }
    };
    assert!(errs("compression")[0].contains("'compression' expects 'algo', 'type' or 'offload'"));
    assert!(errs("compression algo")[0].contains("'compression' expects <algorithm>."));
    assert!(errs("compression algo gzip br")[0]
        .contains("'compression' : 'br' is not a supported algorithm."));
    assert!(errs("compression type")[0].contains("'compression' expects <type>."));
    assert!(errs("compression algo gzip").is_empty());

    let p = parse(
        "t.cfg",
        "defaults\n  mode http\n  compression offload\n",
        ParseOptions::new("h"),
    )
    .expect("a warning only");
    let w: Vec<String> = p.warnings.iter().map(|d| d.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("'compression' : 'offload' ignored in 'defaults' section.")),
        "{w:?}"
    );
}

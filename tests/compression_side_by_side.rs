//! HTTP response compression (`compression algo|type|offload`) side by
//! side with HAProxy 2.6: the same configuration and the same requests go
//! to both proxies. For each answer the status, the headers compression
//! touches (`Content-Encoding`, `Vary`, `ETag`, `Transfer-Encoding`,
//! `Content-Length`), the `res.comp`/`res.comp_algo` fetches and the
//! `Accept-Encoding` the server saw must be the same, and the body, once
//! decompressed, must be the server's body on both. The compressed bytes
//! themselves differ (HAProxy 2.6 here uses libslz, Sluice flate2).
//!
//! Cases: `Accept-Encoding` negotiation (q-values, `*`, `q=0`, unknown
//! codings, case), HTTP/1.0, HEAD, 204, 304, 404, 201, empty bodies,
//! `Cache-Control: no-transform`, an existing `Content-Encoding`, strong,
//! weak, malformed and double `ETag`s, `Vary`, listed and unlisted
//! content types, `multipart`, chunked (with trailers) and `Content-Length` responses, a
//! 1 MiB body both ways, an old MSIE user agent, backend settings over
//! the frontend's, `compression offload`, and `curl --compressed` over
//! HTTP/1.1 and HTTP/2.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// A text body of `n` bytes, compressible but not trivially so.
fn text(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i: u64 = 0;
    while out.len() < n {
        i += 1;
        let x = i.wrapping_mul(2654435761) % 9973;
        out.extend_from_slice(format!("line {i} value {x} lorem ipsum dolor\n").as_bytes());
    }
    out.truncate(n);
    out
}

/// The body the server sends for `path`.
fn body_for(path: &str) -> Vec<u8> {
    if path.starts_with("/big") {
        text(1 << 20)
    } else {
        text(5000)
    }
}

/// The origin server: answers each request of a keep-alive connection
/// according to its path, and echoes the `Accept-Encoding` it got.
fn server(mut s: TcpStream, _: usize) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let mut lines = head.split("\r\n");
        let reqline = lines.next().unwrap_or("");
        let path = reqline.split(' ').nth(1).unwrap_or("/").to_string();
        let mut ae = Vec::new();
        for l in lines {
            if let Some((n, v)) = l.split_once(':') {
                if n.eq_ignore_ascii_case("accept-encoding") {
                    ae.push(v.trim().to_string());
                }
            }
        }
        let ae = if ae.is_empty() {
            "-".to_string()
        } else {
            ae.join(",")
        };
        let body = body_for(&path);
        let name = path.trim_start_matches('/');
        let name = name.split('/').next_back().unwrap_or("");
        let (status, mut extra, chunked): (&str, String, bool) = match name {
            "chunked" | "bigchunked" | "trailers" => ("200 OK", String::new(), true),
            "etag-strong" => ("200 OK", "ETag: \"abc\"\r\n".into(), false),
            "etag-weak" => ("200 OK", "ETag: W/\"abc\"\r\n".into(), false),
            "etag-bad" => ("200 OK", "ETag: abc\r\n".into(), false),
            "etag-two" => ("200 OK", "ETag: \"a\"\r\nETag: \"b\"\r\n".into(), false),
            "notransform" => (
                "200 OK",
                "Cache-Control: public, no-transform\r\n".into(),
                false,
            ),
            "encoded" => ("200 OK", "Content-Encoding: br\r\n".into(), false),
            "vary" => ("200 OK", "Vary: Origin\r\n".into(), false),
            "s201" => ("201 Created", String::new(), false),
            "s404" => ("404 Not Found", String::new(), false),
            _ => ("200 OK", String::new(), false),
        };
        let ctype = match name {
            "image" => Some("image/png"),
            "noctype" => None,
            "multipart" => Some("multipart/mixed; boundary=x"),
            "html" => Some("text/html; charset=utf-8"),
            _ => Some("text/plain"),
        };
        if let Some(ct) = ctype {
            extra.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        extra.push_str(&format!("X-AE: {ae}\r\n"));
        let head_only = reqline.starts_with("HEAD ");
        let mut out = Vec::new();
        match name {
            "s204" => {
                out.extend_from_slice(format!("HTTP/1.1 204 No Content\r\n{extra}\r\n").as_bytes())
            }
            "s304" => out.extend_from_slice(
                format!("HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n{extra}\r\n").as_bytes(),
            ),
            "empty" => out.extend_from_slice(
                format!("HTTP/1.1 200 OK\r\n{extra}Content-Length: 0\r\n\r\n").as_bytes(),
            ),
            _ if chunked => {
                out.extend_from_slice(
                    format!("HTTP/1.1 {status}\r\n{extra}Transfer-Encoding: chunked\r\n\r\n")
                        .as_bytes(),
                );
                if !head_only {
                    for piece in body.chunks(7000) {
                        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                        out.extend_from_slice(piece);
                        out.extend_from_slice(b"\r\n");
                    }
                    if name == "trailers" {
                        out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
                    } else {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                }
            }
            _ => {
                out.extend_from_slice(
                    format!(
                        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                if !head_only {
                    out.extend_from_slice(&body);
                }
            }
        }
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

const CFG: &str = "defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    compression type text/plain text/html
frontend fe
    bind 127.0.0.1:{FE}
    bind 127.0.0.1:{FE2} proto h2
    compression algo gzip deflate
    http-response set-header X-Comp %[res.comp]/%[res.comp_algo]
    use_backend be2 if { path_beg /be2/ }
    default_backend be
backend be
    server s1 127.0.0.1:{S}
backend be2
    compression algo identity raw-deflate
    compression offload
    server s1 127.0.0.1:{S}
";

/// One request: method, version, path, extra header lines.
struct Req {
    meth: &'static str,
    ver: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
}

const fn get(path: &'static str, headers: &'static [(&'static str, &'static str)]) -> Req {
    Req {
        meth: "GET",
        ver: "HTTP/1.1",
        path,
        headers,
    }
}

const GZ: &[(&str, &str)] = &[("Accept-Encoding", "gzip")];

const REQS: &[Req] = &[
    get("/plain", GZ),
    get("/plain", &[("Accept-Encoding", "deflate")]),
    get(
        "/plain",
        &[("Accept-Encoding", "gzip;q=0.5, deflate;q=0.8")],
    ),
    get("/plain", &[("Accept-Encoding", "deflate;q=0.5, gzip")]),
    get("/plain", &[("Accept-Encoding", "*")]),
    get("/plain", &[("Accept-Encoding", "br")]),
    get("/plain", &[("Accept-Encoding", "gzip;q=0")]),
    get("/plain", &[("Accept-Encoding", "GZIP")]),
    get("/plain", &[("Accept-Encoding", "br, gzip;q=0.1")]),
    get("/plain", &[("Accept-Encoding", "identity")]),
    get(
        "/plain",
        &[
            ("Accept-Encoding", "x-gzip"),
            ("Accept-Encoding", "deflate"),
        ],
    ),
    get("/plain", &[]),
    get(
        "/plain",
        &[
            ("Accept-Encoding", "gzip"),
            (
                "User-Agent",
                "Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)",
            ),
        ],
    ),
    get("/chunked", GZ),
    get(
        "/trailers",
        &[("Accept-Encoding", "gzip"), ("TE", "trailers")],
    ),
    get("/bigchunked", GZ),
    get("/big", GZ),
    get("/big", &[("Accept-Encoding", "deflate")]),
    get("/etag-strong", GZ),
    get("/etag-weak", GZ),
    get("/etag-bad", GZ),
    get("/etag-two", GZ),
    get("/notransform", GZ),
    get("/encoded", GZ),
    get("/vary", GZ),
    get("/image", GZ),
    get("/noctype", GZ),
    get("/multipart", GZ),
    get("/html", GZ),
    get("/s201", GZ),
    get("/s404", GZ),
    get("/s204", GZ),
    get("/s304", GZ),
    get("/empty", GZ),
    Req {
        meth: "GET",
        ver: "HTTP/1.0",
        path: "/plain",
        headers: GZ,
    },
    Req {
        meth: "HEAD",
        ver: "HTTP/1.1",
        path: "/plain",
        headers: GZ,
    },
    get("/be2/plain", &[("Accept-Encoding", "deflate")]),
    get("/be2/chunked", &[("Accept-Encoding", "gzip, deflate")]),
    get("/be2/plain", &[("Accept-Encoding", "gzip")]),
    get("/be2/plain", &[("Accept-Encoding", "identity;q=0.5, br")]),
];

/// What is compared of one answer, and the decoded body.
struct Answer {
    summary: String,
    body: Option<Vec<u8>>,
}

/// Removes chunked framing; the trailer lines go to `trailers`.
fn dechunk(mut b: &[u8], trailers: &mut String) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            let end = b.windows(2).position(|w| w == b"\r\n")?;
            *trailers = String::from_utf8_lossy(&b[..end]).to_ascii_lowercase();
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

fn decompress(coding: &str, data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match coding {
        // The origin's own label on a plain body (`/encoded`): untouched.
        "" | "br" => return Some(data.to_vec()),
        "gzip" => flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .ok()?,
        // `deflate` is zlib for `deflate`, bare deflate for `raw-deflate`.
        "deflate" => match flate2::read::ZlibDecoder::new(data).read_to_end(&mut out) {
            Ok(n) => n,
            Err(_) => {
                out.clear();
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut out)
                    .ok()?
            }
        },
        _ => return None,
    };
    Some(out)
}

fn ask(port: u16, r: &Req) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut req = format!(
        "{} {} {}\r\nHost: www.example.org\r\nConnection: close\r\n",
        r.meth, r.path, r.ver
    );
    for (n, v) in r.headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let _ = s.write_all(req.as_bytes());
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Answer {
            summary: format!("no head: {:?}", String::from_utf8_lossy(&raw)),
            body: None,
        };
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let payload = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("").to_string();
    let mut fields: Vec<(String, String)> = Vec::new();
    for l in lines {
        if let Some((n, v)) = l.split_once(':') {
            fields.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let all = |name: &str| {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let mut summary = status.clone();
    for n in [
        "content-encoding",
        "vary",
        "etag",
        "transfer-encoding",
        "content-length",
        "x-comp",
        "x-ae",
    ] {
        summary.push_str(&format!(" | {n}: {}", all(n)));
    }
    let chunked = all("transfer-encoding").contains("chunked");
    let mut trailers = String::new();
    let body = if r.meth == "HEAD" || status.contains(" 204 ") || status.contains(" 304 ") {
        Some(Vec::new())
    } else if chunked {
        dechunk(payload, &mut trailers)
    } else {
        Some(payload.to_vec())
    };
    let body = body.and_then(|b| decompress(&all("content-encoding"), &b));
    summary.push_str(&format!(" | trailers: {trailers}"));
    Answer { summary, body }
}

#[test]
fn compression_side_by_side() {
    if !haproxy_or_skip("compression_side_by_side") {
        return;
    }
    let dir = TempDir::new("compression_sbs");
    let ports = free_ports(5);
    let _srv = TestServer::start(ports[2], server);
    let mut got = Vec::new();
    let mut curl = Vec::new();
    for (who, fe, fe2) in [("ha", ports[0], ports[3]), ("sluice", ports[1], ports[4])] {
        let cfg = format!(
            "{}{}",
            global_section(&dir.join(&format!("{who}.sock")), ""),
            CFG.replace("{FE}", &fe.to_string())
                .replace("{FE2}", &fe2.to_string())
                .replace("{S}", &ports[2].to_string()),
        );
        let run = |fe: u16| -> (Vec<Answer>, [Option<Vec<u8>>; 2]) {
            let answers = REQS.iter().map(|r| ask(fe, r)).collect();
            // HTTP/1.1, then HTTP/2 (h2c): the H2 mux carries the
            // compressed chunks as DATA frames.
            let curl = |args: &[&str], port: u16| {
                std::process::Command::new("curl")
                    .args(["-s", "--compressed", "--max-time", "10"])
                    .args(args)
                    .arg(format!("http://127.0.0.1:{port}/big"))
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| o.stdout)
            };
            (
                answers,
                [curl(&[], fe), curl(&["--http2-prior-knowledge"], fe2)],
            )
        };
        let (answers, c) = if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            run(fe)
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            run(fe)
        };
        got.push(answers);
        curl.push(c);
    }
    let mut differ = Vec::new();
    for ((r, a), b) in REQS.iter().zip(&got[0]).zip(&got[1]) {
        let what = format!("{} {} {} {:?}", r.meth, r.path, r.ver, r.headers);
        println!("{what}:\n  haproxy {}\n  sluice  {}", a.summary, b.summary);
        if a.summary != b.summary {
            differ.push(format!("{what} (head)"));
        }
        let want = if r.meth == "HEAD" || ["/s204", "/s304", "/empty"].contains(&r.path) {
            Vec::new()
        } else {
            body_for(r.path)
        };
        if a.body.as_deref() != Some(&want[..]) {
            differ.push(format!("{what} (HAProxy's body)"));
        }
        if b.body.as_deref() != Some(&want[..]) {
            differ.push(format!("{what} (body)"));
        }
    }
    // Not two broken runs: HAProxy compressed what it should.
    assert!(
        got[0][0].summary.contains("content-encoding: gzip"),
        "{}",
        got[0][0].summary
    );
    assert!(
        got[0][5].summary.contains("content-encoding:  |"),
        "{}",
        got[0][5].summary
    );
    if tool_or_skip("curl", "compression_side_by_side (curl --compressed)") {
        let big = body_for("/big");
        for (who, c) in ["haproxy", "sluice"].iter().zip(&curl) {
            assert_eq!(c[0].as_deref(), Some(&big[..]), "{who}, curl");
            assert_eq!(c[1].as_deref(), Some(&big[..]), "{who}, curl over HTTP/2");
        }
    }
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy on {differ:#?}"
    );
}

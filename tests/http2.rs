//! HTTP/2 on the client side (issue 16 step 2) with real peers: curl
//! (`--http2-prior-knowledge` against `bind ... proto h2`, `--http2` over
//! TLS with ALPN `h2`) and `h2load`, side by side with HAProxy 2.6 fed the
//! same configuration: GET, POST with a body (content-length and
//! chunked), rules (deny, set-header, redirect), a large response (flow
//! control), many concurrent streams, the log lines. Raw-frame cases check
//! the codes of protocol errors and GOAWAY on soft stop.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const SEC: Duration = Duration::from_secs(1);

// --------------------------------------------------------------------------
// The origin: HTTP/1.1 keep-alive, echoes what it got, or sends `/big/N`
// bytes of a reproducible pattern.

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 16384];
    match s.read(&mut tmp) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&tmp[..n]);
            true
        }
    }
}

fn read_line(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf[..i].to_vec();
            buf.drain(..i + 2);
            return Some(line);
        }
        if !fill(s, buf) {
            return None;
        }
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

fn origin(mut s: TcpStream, _n: usize) {
    let mut buf = Vec::new();
    loop {
        let (head_len, method, path, clen, chunked, added) = loop {
            let mut hdrs = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut hdrs);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let get = |name: &str| {
                        req.headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).to_string())
                    };
                    let clen: usize = get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let chunked = get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
                    break (
                        n,
                        req.method.unwrap_or("").to_string(),
                        req.path.unwrap_or("").to_string(),
                        clen,
                        chunked,
                        get("x-added").unwrap_or_default(),
                    );
                }
                Ok(httparse::Status::Partial) => {
                    if !fill(&mut s, &mut buf) {
                        return;
                    }
                }
                Err(_) => return,
            }
        };
        buf.drain(..head_len);
        let mut body = Vec::new();
        if chunked {
            loop {
                let Some(line) = read_line(&mut s, &mut buf) else {
                    return;
                };
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&line).trim(), 16).unwrap_or(0);
                if size == 0 {
                    // Trailers, then the empty line.
                    while let Some(l) = read_line(&mut s, &mut buf) {
                        if l.is_empty() {
                            break;
                        }
                    }
                    break;
                }
                while buf.len() < size + 2 {
                    if !fill(&mut s, &mut buf) {
                        return;
                    }
                }
                body.extend_from_slice(&buf[..size]);
                buf.drain(..size + 2);
            }
        } else {
            while buf.len() < clen {
                if !fill(&mut s, &mut buf) {
                    return;
                }
            }
            body.extend_from_slice(&buf[..clen]);
            buf.drain(..clen);
        }
        let out = if let Some(n) = path.strip_prefix("/big/") {
            pattern(n.parse().unwrap_or(0))
        } else {
            let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
            format!(
                "{method} {path} body={} sum={sum} chunked={chunked} x-added={added}\n",
                body.len()
            )
            .into_bytes()
        };
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", out.len());
        if s.write_all(head.as_bytes()).is_err() || s.write_all(&out).is_err() {
            return;
        }
    }
}

// --------------------------------------------------------------------------

fn tools_or_skip(test: &str, tools: &[&str]) -> bool {
    haproxy_or_skip(test) && tools.iter().all(|t| tool_or_skip(t, test))
}

/// Runs curl; returns stdout.
fn curl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-S", "--max-time", "20"]).args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("curl runs");
    if let Some(data) = stdin {
        let mut w = child.stdin.take().unwrap();
        w.write_all(data).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn config(sock: &Path, binds: &str, origin: u16) -> String {
    format!(
        "{}defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
         frontend fe\n{binds}\
             http-request deny if {{ path /deny }}\n\
             http-request redirect location /elsewhere if {{ path /redir }}\n\
             http-request set-header x-added yes\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{origin}\n",
        global_section(sock, "")
    )
}

/// The parts of a traffic line both proxies must agree on: frontend,
/// backend/server, status, termination flags, request line.
fn log_key(line: &str) -> String {
    let w: Vec<&str> = line.split(' ').collect();
    let req = line.split('"').nth(1).unwrap_or("").to_string();
    // `ip:port [date] fe be/srv timers status bytes - - flags ...`
    format!("{} {} {} {} \"{req}\"", w[2], w[3], w[5], w[9])
}

/// What one run answers, and logs.
#[derive(Debug, PartialEq)]
struct Run {
    answers: Vec<String>,
    logs: Vec<String>,
}

/// The requests of the side-by-side comparison, on `base` with `proto`
/// (`--http2-prior-knowledge` or `--http2 -k`).
fn exercise(base: &str, proto: &[&str], logs: &dyn Fn() -> Vec<String>) -> Run {
    let mut answers = Vec::new();
    let w = [
        "-w",
        "|%{http_code} %{http_version} %{size_download} %{redirect_url}",
    ];
    let mut one = |extra: &[&str], path: &str, stdin: Option<&[u8]>| {
        let url = format!("{base}{path}");
        let mut args: Vec<&str> = proto.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&w);
        args.push(&url);
        let out = curl(&args, stdin);
        let text = String::from_utf8_lossy(&out).to_string();
        let (body, meta) = text.rsplit_once('|').unwrap();
        // Error pages are worded differently (docs/http1.md): only the
        // status is compared.
        let body = if path == "/deny" {
            String::new()
        } else if body.len() > 200 {
            format!(
                "{} bytes, pattern {}",
                body.len(),
                body.as_bytes() == pattern(body.len())
            )
        } else {
            body.to_string()
        };
        let mut meta = meta.replace(&format!(":{}/", base.rsplit(':').next().unwrap()), ":PORT/");
        if path == "/deny" {
            meta = meta.split(' ').take(2).collect::<Vec<_>>().join(" ");
        }
        answers.push(format!("{path}: {meta} {body}"));
    };
    one(&[], "/get?x=1", None);
    let big_body = pattern(100_000);
    one(&["--data-binary", "@-"], "/post-length", Some(&big_body));
    // `-T -`: no length known in advance, so no content-length: the
    // request body goes to the server chunked.
    one(&["-T", "-", "-X", "POST"], "/post-chunked", Some(&big_body));
    one(&[], "/deny", None);
    one(&[], "/redir", None);
    // Larger than every window: WINDOW_UPDATEs must flow.
    one(&[], "/big/3000000", None);
    std::thread::sleep(Duration::from_millis(300));
    let mut logs: Vec<String> = logs().iter().map(|l| log_key(l)).collect();
    logs.sort();
    Run { answers, logs }
}

#[test]
fn h2c_prior_knowledge_side_by_side() {
    if !tools_or_skip("h2c_prior_knowledge_side_by_side", &["curl"]) {
        return;
    }
    let dir = TempDir::new("h2c_side");
    let p = free_ports(3);
    let _origin = TestServer::start(p[2], origin);
    let proto = ["--http2-prior-knowledge"];
    let ha_cfg = config(
        &dir.join("ha.sock"),
        &format!("    bind 127.0.0.1:{} proto h2\n", p[0]),
        p[2],
    );
    let ha = HaRun::start(&dir, "ha", &ha_cfg);
    let ha_run = exercise(&format!("http://127.0.0.1:{}", p[0]), &proto, &|| {
        traffic_lines(&ha.proc.output())
    });
    let sl_cfg = config(
        &dir.join("sl.sock"),
        &format!("    bind 127.0.0.1:{} proto h2\n", p[1]),
        p[2],
    );
    let sl = Sluice::run(&dir, "sl", &sl_cfg);
    let sl_run = exercise(&format!("http://127.0.0.1:{}", p[1]), &proto, &|| {
        traffic_lines(&sl.log())
    });
    println!("haproxy: {ha_run:#?}\nsluice: {sl_run:#?}");
    // Sluice's own expectations, whatever HAProxy says.
    let a = &sl_run.answers;
    assert!(a[0].starts_with("/get?x=1: 200 2 "), "{a:?}");
    assert!(
        a[0].contains("GET /get?x=1 body=0") && a[0].contains("x-added=yes"),
        "{a:?}"
    );
    assert!(
        a[1].contains("POST /post-length body=100000") && a[1].contains("chunked=false"),
        "{a:?}"
    );
    assert!(
        a[2].contains("POST /post-chunked body=100000") && a[2].contains("chunked=true"),
        "{a:?}"
    );
    assert!(a[3].starts_with("/deny: 403 2 "), "{a:?}");
    assert!(
        a[4].starts_with("/redir: 302 2 ") && a[4].contains("/elsewhere"),
        "{a:?}"
    );
    assert!(a[5].contains("3000000 bytes, pattern true"), "{a:?}");
    assert!(
        sl_run
            .logs
            .iter()
            .any(|l| l.contains("\"GET http://127.0.0.1:") && l.contains("/get?x=1 HTTP/2.0\"")),
        "{:?}",
        sl_run.logs
    );
    // Side by side: the same answers, the same log lines (ports aside).
    let norm = |r: &Run, port: u16| -> Vec<String> {
        r.logs
            .iter()
            .map(|l| l.replace(&format!(":{port}/"), ":PORT/"))
            .collect()
    };
    assert_eq!(sl_run.answers, ha_run.answers);
    assert_eq!(norm(&sl_run, p[1]), norm(&ha_run, p[0]));
    sl.assert_drained(5 * SEC);
}

/// Writes a self-signed certificate and key for `localhost` as
/// `<dir>/crt.pem` (HAProxy's `crt` format).
fn make_cert(dir: &TempDir) -> std::path::PathBuf {
    let crt = dir.join("crt.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = std::fs::read_to_string(dir.join("c.pem")).unwrap()
        + &std::fs::read_to_string(dir.join("k.pem")).unwrap();
    write_file(&crt, &pem);
    crt
}

#[test]
fn h2_over_tls_alpn_side_by_side() {
    if !tools_or_skip("h2_over_tls_alpn_side_by_side", &["curl", "openssl"]) {
        return;
    }
    let dir = TempDir::new("h2_tls");
    let crt = make_cert(&dir);
    let p = free_ports(3);
    let _origin = TestServer::start(p[2], origin);
    let bind = |port: u16| {
        format!(
            "    bind 127.0.0.1:{port} ssl crt {} alpn h2,http/1.1\n",
            crt.display()
        )
    };
    let proto = ["--http2", "-k"];
    let ha = HaRun::start(&dir, "ha", &config(&dir.join("ha.sock"), &bind(p[0]), p[2]));
    let ha_run = exercise(&format!("https://127.0.0.1:{}", p[0]), &proto, &|| {
        traffic_lines(&ha.proc.output())
    });
    let sl = Sluice::run(&dir, "sl", &config(&dir.join("sl.sock"), &bind(p[1]), p[2]));
    let sl_run = exercise(&format!("https://127.0.0.1:{}", p[1]), &proto, &|| {
        traffic_lines(&sl.log())
    });
    println!("haproxy: {ha_run:#?}\nsluice: {sl_run:#?}");
    assert!(
        sl_run.answers[0].starts_with("/get?x=1: 200 2 "),
        "{:?}",
        sl_run.answers
    );
    assert!(sl_run.answers[5].contains("3000000 bytes, pattern true"));
    assert!(
        sl_run
            .logs
            .iter()
            .any(|l| l.contains("\"GET https://127.0.0.1:")),
        "{:?}",
        sl_run.logs
    );
    assert_eq!(sl_run.answers, ha_run.answers);
    let norm = |r: &Run, port: u16| -> Vec<String> {
        r.logs
            .iter()
            .map(|l| l.replace(&format!(":{port}/"), ":PORT/"))
            .collect()
    };
    assert_eq!(norm(&sl_run, p[1]), norm(&ha_run, p[0]));
    // HTTP/1.1 on the same bind when the client offers only that.
    let out = curl(
        &[
            "--http1.1",
            "-k",
            "-w",
            "|%{http_version}",
            &format!("https://127.0.0.1:{}/one", p[1]),
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.ends_with("|1.1") && text.contains("GET /one body=0"),
        "{text}"
    );
    sl.assert_drained(5 * SEC);
}

/// `h2load` summary: (succeeded, failed, errored).
fn h2load(args: &[&str]) -> (u64, u64, u64, String) {
    let out = Command::new("h2load")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("h2load runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no summary: {text}"));
    let num = |what: &str| -> u64 {
        line.split(',')
            .find(|p| p.trim().ends_with(what))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no '{what}' in {line}"))
    };
    (num("succeeded"), num("failed"), num("errored"), text)
}

#[test]
fn h2load_many_streams_and_flow_control_side_by_side() {
    if !tools_or_skip(
        "h2load_many_streams_and_flow_control_side_by_side",
        &["h2load"],
    ) {
        return;
    }
    let dir = TempDir::new("h2load");
    let p = free_ports(3);
    let _origin = TestServer::start(p[2], origin);
    let mut results = Vec::new();
    for (tag, port) in [("ha", p[0]), ("sl", p[1])] {
        let cfg = config(
            &dir.join(&format!("{tag}.sock")),
            &format!("    bind 127.0.0.1:{port} proto h2\n"),
            p[2],
        );
        let run = || {
            let url = format!("http://127.0.0.1:{port}/x");
            // Many concurrent streams per connection (up to the 100 both
            // announce).
            let many = h2load(&["-n", "3000", "-c", "4", "-m", "100", &url]);
            // Large responses through 64 KB windows (h2load's -w/-W: 2^16-1).
            let big = format!("http://127.0.0.1:{port}/big/300000");
            let flow = h2load(&[
                "-n", "40", "-c", "2", "-m", "10", "-w", "16", "-W", "16", &big,
            ]);
            (many, flow)
        };
        let (many, flow) = if tag == "ha" {
            let _ha = HaRun::start(&dir, tag, &cfg);
            run()
        } else {
            let sl = Sluice::run(&dir, tag, &cfg);
            let r = run();
            sl.assert_drained(5 * SEC);
            r
        };
        println!("{tag}: {}\n{}", many.3, flow.3);
        results.push(((many.0, many.1, many.2), (flow.0, flow.1, flow.2)));
    }
    assert_eq!(results[1], ((3000, 0, 0), (40, 0, 0)), "sluice");
    assert_eq!(results[1], results[0], "sluice vs haproxy");
}

// --------------------------------------------------------------------------
// Raw frames: the error codes RFC 9113 requires.

use sluice_core::http::h2::frame::{
    ErrorCode, Frame, FrameDecoder, Role, Settings, Status, PREFACE,
};
use sluice_core::http::h2::hpack::{Encoder, Field};

/// A raw client: sends bytes, reads frames.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
    dec: FrameDecoder,
}

/// A frame as the test sees it.
#[derive(Debug, PartialEq)]
enum Got {
    Settings { ack: bool },
    Ping { ack: bool, data: [u8; 8] },
    GoAway { last: u32, code: u32 },
    Rst { id: u32, code: u32 },
    Headers { id: u32, end: bool },
    Data { id: u32, len: usize, end: bool },
    WindowUpdate { id: u32 },
    Other,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let s = connect(port, 3 * SEC);
        let mut dec = FrameDecoder::new(Role::Client);
        dec.set_max_frame_size(1 << 20);
        Raw {
            s,
            buf: Vec::new(),
            dec,
        }
    }

    fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).unwrap();
    }

    fn hello(&mut self) {
        let mut out = PREFACE.to_vec();
        Settings::default().encode(&mut out);
        self.send(&out);
    }

    /// The next frame, or `None` once the server closed.
    fn next(&mut self) -> Option<Got> {
        loop {
            if let Status::Complete((r, n)) = self.dec.decode(&self.buf) {
                let g = match r {
                    Ok(Frame::Settings { ack, .. }) => Got::Settings { ack },
                    Ok(Frame::Ping { ack, data }) => Got::Ping { ack, data },
                    Ok(Frame::GoAway {
                        last_stream_id,
                        code,
                        ..
                    }) => Got::GoAway {
                        last: last_stream_id,
                        code: code.0,
                    },
                    Ok(Frame::RstStream { stream_id, code }) => Got::Rst {
                        id: stream_id,
                        code: code.0,
                    },
                    Ok(Frame::Headers {
                        stream_id,
                        end_stream,
                        ..
                    }) => Got::Headers {
                        id: stream_id,
                        end: end_stream,
                    },
                    Ok(Frame::Data {
                        stream_id,
                        data,
                        end_stream,
                        ..
                    }) => Got::Data {
                        id: stream_id,
                        len: data.len(),
                        end: end_stream,
                    },
                    Ok(Frame::WindowUpdate { stream_id, .. }) => {
                        Got::WindowUpdate { id: stream_id }
                    }
                    _ => Got::Other,
                };
                self.buf.drain(..n);
                return Some(g);
            }
            let mut tmp = [0u8; 16384];
            match self.s.read(&mut tmp) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    /// Frames until the server closes (or 3 s).
    fn rest(&mut self) -> Vec<Got> {
        let mut v = Vec::new();
        while let Some(g) = self.next() {
            v.push(g);
        }
        v
    }
}

fn headers_frame(enc: &mut Encoder, id: u32, fields: &[(&str, &str)], end: bool) -> Vec<u8> {
    let mut block = Vec::new();
    enc.encode(
        fields
            .iter()
            .map(|(n, v)| Field::new(n.as_bytes(), v.as_bytes())),
        &mut block,
    );
    let mut out = Vec::new();
    Frame::Headers {
        stream_id: id,
        end_stream: end,
        end_headers: true,
        priority: None,
        fragment: &block,
        pad_len: None,
        error: None,
    }
    .encode(&mut out);
    out
}

const GET: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/raw"),
    (":authority", "x"),
];

#[test]
fn raw_frame_errors_and_goaway_on_soft_stop() {
    let dir = TempDir::new("h2_raw");
    let p = free_ports(2);
    let _origin = TestServer::start(p[1], origin);
    let cfg = format!(
        "{}defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
         frontend fe\n    bind 127.0.0.1:{} proto h2\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{}\n",
        global_section(&dir.join("sl.sock"), "    tune.h2.max-concurrent-streams 2"),
        p[0],
        p[1]
    );
    let mut sl = Sluice::run(&dir, "sl", &cfg);
    let code = |c: ErrorCode| c.0;

    // A bad preface: GOAWAY(PROTOCOL_ERROR), closed (RFC 9113 §3.4).
    let mut r = Raw::connect(p[0]);
    r.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let got = r.rest();
    assert!(
        got.contains(&Got::GoAway {
            last: 0,
            code: code(ErrorCode::PROTOCOL_ERROR)
        }),
        "{got:?}"
    );

    // SETTINGS is acknowledged, PING answered with the same data, a
    // request served on stream 1.
    let mut r = Raw::connect(p[0]);
    r.hello();
    let mut enc = Encoder::default();
    let mut out = Vec::new();
    Frame::Ping {
        ack: false,
        data: *b"12345678",
    }
    .encode(&mut out);
    out.extend(headers_frame(&mut enc, 1, GET, true));
    r.send(&out);
    let mut seen = Vec::new();
    while !seen.iter().any(|g| {
        matches!(
            g,
            Got::Data {
                id: 1,
                end: true,
                ..
            }
        )
    }) {
        seen.push(r.next().expect("frames until the response ends"));
    }
    assert_eq!(
        seen.first(),
        Some(&Got::Settings { ack: false }),
        "{seen:?}"
    );
    assert!(seen.contains(&Got::Settings { ack: true }), "{seen:?}");
    assert!(
        seen.contains(&Got::Ping {
            ack: true,
            data: *b"12345678"
        }),
        "{seen:?}"
    );
    assert!(
        seen.contains(&Got::Headers { id: 1, end: false }),
        "{seen:?}"
    );

    // A stream error: an uppercase field name is RST_STREAM(PROTOCOL_ERROR)
    // (§8.2.1), the connection goes on.
    let bad: Vec<(&str, &str)> = GET.iter().copied().chain([("X-Upper", "1")]).collect();
    r.send(&headers_frame(&mut enc, 3, &bad, true));
    assert_eq!(
        r.next(),
        Some(Got::Rst {
            id: 3,
            code: code(ErrorCode::PROTOCOL_ERROR)
        })
    );
    // A connection-specific field too (§8.2.2).
    let bad: Vec<(&str, &str)> = GET
        .iter()
        .copied()
        .chain([("connection", "close")])
        .collect();
    r.send(&headers_frame(&mut enc, 5, &bad, true));
    assert_eq!(
        r.next(),
        Some(Got::Rst {
            id: 5,
            code: code(ErrorCode::PROTOCOL_ERROR)
        })
    );
    // Beyond max-concurrent-streams (2 here): REFUSED_STREAM. Streams 7
    // and 9 stay open (no END_STREAM), 11 is refused.
    let mut out = Vec::new();
    for id in [7, 9, 11] {
        out.extend(headers_frame(
            &mut enc,
            id,
            &[
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/p"),
                (":authority", "x"),
            ],
            false,
        ));
    }
    r.send(&out);
    assert_eq!(
        r.next(),
        Some(Got::Rst {
            id: 11,
            code: code(ErrorCode::REFUSED_STREAM)
        })
    );
    // The client resets stream 7: nothing more on it; 9 ends normally.
    let mut out = Vec::new();
    Frame::RstStream {
        stream_id: 7,
        code: ErrorCode::CANCEL,
    }
    .encode(&mut out);
    Frame::Data {
        stream_id: 9,
        end_stream: true,
        data: b"abc",
        pad_len: None,
        flow_len: 3,
    }
    .encode(&mut out);
    r.send(&out);
    let mut seen = Vec::new();
    while !seen.iter().any(|g| {
        matches!(
            g,
            Got::Data {
                id: 9,
                end: true,
                ..
            }
        )
    }) {
        seen.push(r.next().expect("the response of stream 9"));
    }
    assert!(
        !seen
            .iter()
            .any(|g| matches!(g, Got::Headers { id: 7, .. } | Got::Data { id: 7, .. })),
        "{seen:?}"
    );
    // DATA on an idle stream: a connection error (§5.1).
    let mut out = Vec::new();
    Frame::Data {
        stream_id: 21,
        end_stream: true,
        data: b"x",
        pad_len: None,
        flow_len: 1,
    }
    .encode(&mut out);
    r.send(&out);
    let got = r.rest();
    assert!(
        got.contains(&Got::GoAway {
            last: 11,
            code: code(ErrorCode::PROTOCOL_ERROR)
        }),
        "{got:?}"
    );

    // Soft stop: an idle connection gets GOAWAY(NO_ERROR) and is closed,
    // and the process exits.
    let mut r = Raw::connect(p[0]);
    r.hello();
    assert_eq!(r.next(), Some(Got::Settings { ack: false }));
    std::thread::sleep(Duration::from_millis(100));
    sl.proc.signal(libc::SIGUSR1);
    let got = r.rest();
    assert!(
        got.contains(&Got::GoAway {
            last: 0,
            code: code(ErrorCode::NO_ERROR)
        }),
        "{got:?}"
    );
    assert!(sl.proc.wait_exit(5 * SEC).is_some(), "{}", sl.log());
}

/// Rapid reset (CVE-2023-44487) against `proxy-mio` with
/// `tune.h2.fe.glitches-threshold 100`: a client opening streams and
/// resetting them at once gets a graceful GOAWAY at 75 glitches, then
/// GOAWAY(ENHANCE_YOUR_CALM) at 100 and is closed; a client beside it,
/// whose few early resets stay below the threshold, is served and its
/// log line shows `fc_glitches`; `show info` counts the kill.
#[test]
fn rapid_reset_is_killed_by_the_glitches_threshold() {
    let dir = TempDir::new("h2_glitches");
    let p = free_ports(2);
    let _origin = TestServer::start(p[1], origin);
    let cfg = format!(
        "{}defaults\n    mode http\n    log global\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
         frontend fe\n    bind 127.0.0.1:{} proto h2\n    log-format \"glitches=%[fc_glitches] %HP\"\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{}\n",
        global_section(&dir.join("sl.sock"), "    tune.h2.fe.glitches-threshold 100"),
        p[0],
        p[1]
    );
    let sl = Sluice::run(&dir, "sl", &cfg);
    let code = |c: ErrorCode| c.0;
    let rapid_resets = |enc: &mut Encoder, ids: std::ops::Range<u32>| {
        let mut out = Vec::new();
        for i in ids {
            out.extend(headers_frame(enc, 2 * i + 1, GET, false));
            Frame::RstStream {
                stream_id: 2 * i + 1,
                code: ErrorCode::CANCEL,
            }
            .encode(&mut out);
        }
        out
    };
    let get = |r: &mut Raw, enc: &mut Encoder, id: u32, path: &str| {
        let fields = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "x"),
        ];
        r.send(&headers_frame(enc, id, &fields, true));
        let mut seen = Vec::new();
        while !seen
            .iter()
            .any(|g| matches!(g, Got::Data { id: i, end: true, .. } if *i == id))
        {
            seen.push(r.next().unwrap_or_else(|| panic!("closed: {seen:?}")));
        }
        seen
    };

    // The good client: 10 early resets, then requests, served.
    let mut good = Raw::connect(p[0]);
    good.hello();
    let mut genc = Encoder::default();
    good.send(&rapid_resets(&mut genc, 0..10));
    get(&mut good, &mut genc, 21, "/good");

    // The flood.
    let mut bad = Raw::connect(p[0]);
    bad.hello();
    let mut enc = Encoder::default();
    bad.send(&rapid_resets(&mut enc, 0..200));
    let got = bad.rest();
    let goaways: Vec<&Got> = got
        .iter()
        .filter(|g| matches!(g, Got::GoAway { .. }))
        .collect();
    assert_eq!(
        goaways,
        [
            &Got::GoAway {
                last: 149 + 200,
                code: code(ErrorCode::NO_ERROR)
            },
            &Got::GoAway {
                last: 199,
                code: code(ErrorCode::ENHANCE_YOUR_CALM)
            }
        ],
        "{got:?}"
    );

    // The good client is still served.
    let seen = get(&mut good, &mut genc, 23, "/again");
    assert!(
        !seen.iter().any(|g| matches!(g, Got::GoAway { .. })),
        "{seen:?}"
    );
    assert_eq!(sl.info("H2GlitchKills"), "1");
    let lines = sl.log_lines();
    for path in ["/good", "/again"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("glitches=10 http://x{path}"))),
            "{lines:#?}"
        );
    }
}

// --------------------------------------------------------------------------
// The implicit upgrade of an HTTP/1 bind to HTTP/2 on the client preface
// (HAProxy's H1 mux, `H1C_F_UPG_H2C`).

/// Sends `chunks` on a new connection to `port`, a pause between them,
/// then reads until the peer closes or stays silent for a second.
fn raw_exchange(port: u16, chunks: &[&[u8]]) -> Vec<u8> {
    let mut s = connect(port, 3 * SEC);
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
        s.write_all(c).unwrap();
    }
    s.set_read_timeout(Some(SEC)).unwrap();
    let mut out = Vec::new();
    let mut tmp = [0u8; 4096];
    while let Ok(n) = s.read(&mut tmp) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&tmp[..n]);
    }
    out
}

/// What an answer starts with: an HTTP/2 SETTINGS frame, or an HTTP/1
/// status line.
fn answer_kind(got: &[u8]) -> String {
    if got.len() >= 9 && got[3] == 4 && got[4] == 0 {
        return "h2 SETTINGS".into();
    }
    let line = got.split(|&b| b == b'\r').next().unwrap_or(b"");
    String::from_utf8_lossy(line).into_owned()
}

#[test]
fn h2c_upgrade_on_an_http1_bind_side_by_side() {
    if !tools_or_skip("h2c_upgrade_on_an_http1_bind_side_by_side", &["curl"]) {
        return;
    }
    let dir = TempDir::new("h2c_upgrade");
    let p = free_ports(9);
    let _origin = TestServer::start(p[8], origin);
    // `fe` on a plain bind; `h1only` with `proto h1` and `noupg` with
    // `option disable-h2-upgrade` never switch; `ver` answers `req.ver`.
    let cfg = |sock: &str, ports: [u16; 4]| {
        config(
            &dir.join(sock),
            &format!("    bind 127.0.0.1:{}\n", ports[0]),
            p[8],
        ) + &format!(
            "frontend h1only\n    bind 127.0.0.1:{} proto h1\n    http-request return status 200 content-type text/plain string h1only\n\
             frontend noupg\n    bind 127.0.0.1:{}\n    option disable-h2-upgrade\n    http-request return status 200 content-type text/plain string noupg\n\
             frontend ver\n    bind 127.0.0.1:{}\n    http-request return status 200 content-type text/plain lf-string \"ver=%[req.ver]\"\n",
            ports[1], ports[2], ports[3]
        )
    };
    let ports = [p[0], p[1], p[2], p[3]];
    let sl_ports = [p[4], p[5], p[6], p[7]];
    let ha = HaRun::start(&dir, "ha", &cfg("ha.sock", ports));
    let sl_cfg = cfg("sl.sock", sl_ports);
    let sl = Sluice::run(&dir, "sl", &sl_cfg);

    // curl with prior knowledge on the plain bind: the same answers and
    // log lines as HAProxy's.
    let proto = ["--http2-prior-knowledge"];
    let ha_run = exercise(&format!("http://127.0.0.1:{}", ports[0]), &proto, &|| {
        traffic_lines(&ha.proc.output())
    });
    let sl_run = exercise(
        &format!("http://127.0.0.1:{}", sl_ports[0]),
        &proto,
        &|| traffic_lines(&sl.log()),
    );
    println!("haproxy: {ha_run:#?}\nsluice: {sl_run:#?}");
    assert!(
        sl_run.answers[0].starts_with("/get?x=1: 200 2 "),
        "{:?}",
        sl_run.answers
    );
    assert!(
        sl_run.answers[5].contains("3000000 bytes, pattern true"),
        "{:?}",
        sl_run.answers
    );
    let norm = |r: &Run, port: u16| -> Vec<String> {
        r.logs
            .iter()
            .map(|l| l.replace(&format!(":{port}/"), ":PORT/"))
            .collect()
    };
    assert_eq!(sl_run.answers, ha_run.answers);
    assert_eq!(norm(&sl_run, sl_ports[0]), norm(&ha_run, ports[0]));

    // An HTTP/1 client on the same bind, and `req.ver` of each version.
    for (what, args) in [
        ("h1", vec!["--http1.1"]),
        ("h2", vec!["--http2-prior-knowledge"]),
    ] {
        let ask = |port: u16| {
            let mut a = args.clone();
            let url = format!("http://127.0.0.1:{port}/");
            a.push(&url);
            String::from_utf8_lossy(&curl(&a, None)).into_owned()
        };
        let (h, s) = (ask(ports[3]), ask(sl_ports[3]));
        assert_eq!(s, if what == "h1" { "ver=1.1" } else { "ver=2.0" });
        assert_eq!(s, h, "{what}");
    }

    // Raw clients: the preface whole or split (before or inside its
    // "HTTP/2.0" line: upgraded; after the empty line that ends its first
    // part: an HTTP/1 head, refused), garbage after "PRI", the preface as
    // a second keep-alive request, and the binds that never switch.
    let pre: &[u8] = PREFACE;
    let cases: Vec<(&str, usize, Vec<&[u8]>)> = vec![
        ("whole", 0, vec![pre]),
        ("split in the method", 0, vec![&pre[..5], &pre[5..]]),
        ("split in the version", 0, vec![&pre[..12], &pre[12..]]),
        (
            "split before its empty line",
            0,
            vec![&pre[..17], &pre[17..]],
        ),
        (
            "split in three",
            0,
            vec![&pre[..3], &pre[3..15], &pre[15..]],
        ),
        (
            "split after its empty line",
            0,
            vec![&pre[..19], &pre[19..]],
        ),
        (
            "garbage after PRI",
            0,
            vec![b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"],
        ),
        (
            "second request",
            0,
            vec![b"GET /ka HTTP/1.1\r\nhost: x\r\n\r\n", pre],
        ),
        ("proto h1", 1, vec![pre]),
        ("disable-h2-upgrade", 2, vec![pre]),
    ];
    for (what, i, chunks) in &cases {
        let h = raw_exchange(ports[*i], chunks);
        let s = raw_exchange(sl_ports[*i], chunks);
        let (hk, sk) = (answer_kind(&h), answer_kind(&s));
        println!("{what}: haproxy {hk:?} sluice {sk:?}");
        assert_eq!(sk, hk, "{what}");
        let upgraded = matches!(
            *what,
            "whole"
                | "split in the method"
                | "split in the version"
                | "split before its empty line"
                | "split in three"
        );
        if upgraded {
            assert_eq!(sk, "h2 SETTINGS", "{what}");
        } else if *what == "second request" {
            assert!(sk.starts_with("HTTP/1.1 200"), "{what}: {s:?}");
            assert!(
                String::from_utf8_lossy(&s).contains("HTTP/1.1 400"),
                "{what}: {s:?}"
            );
        } else {
            assert_eq!(sk, "HTTP/1.1 400 Bad request", "{what}");
        }
    }
    // A request after the preface on the upgraded connection is served.
    let mut r = Raw::connect(sl_ports[0]);
    let mut out = PREFACE[..10].to_vec();
    r.send(&out);
    std::thread::sleep(Duration::from_millis(100));
    out.clear();
    out.extend_from_slice(&PREFACE[10..]);
    Settings::default().encode(&mut out);
    let mut enc = Encoder::default();
    out.extend(headers_frame(&mut enc, 1, GET, true));
    r.send(&out);
    let mut seen = Vec::new();
    while !seen.iter().any(|g| {
        matches!(
            g,
            Got::Data {
                id: 1,
                end: true,
                ..
            }
        )
    }) {
        seen.push(r.next().expect("frames until the response ends"));
    }
    assert!(
        seen.contains(&Got::Headers { id: 1, end: false }),
        "{seen:?}"
    );
    drop(r);
    sl.assert_drained(5 * SEC);
}

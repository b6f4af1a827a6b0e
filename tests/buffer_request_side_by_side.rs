//! `option http-buffer-request`, `http-request wait-for-body` and the
//! `req.body*` fetches, side by side with HAProxy 2.6 (HAProxy's
//! `http_wait_for_request_body`, `AN_REQ_HTTP_BODY`).
//!
//! The client sends a request head, waits, then sends its body: only a
//! proxy that waits for the body lets a `use_backend` rule on `req.body`
//! see it. Each case gives the same configuration and the same client
//! bytes to both proxies and compares what the client reads (status, the
//! server that answered, what that server saw) and the log fields
//! (backend/server, status, termination state).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads a body framed by `content-length` or chunked; its payload length.
fn read_body(s: &mut TcpStream, head: &str) -> usize {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    if let Some(cl) = header(head, "content-length") {
        let cl: usize = cl.parse().unwrap_or(0);
        while got.len() < cl {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        return got.len().min(cl);
    }
    if header(head, "transfer-encoding").is_some() {
        while !got.ends_with(b"0\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        // Payload length of the chunks.
        let (mut pos, mut len) = (0, 0);
        while let Some(eol) = got[pos..].windows(2).position(|w| w == b"\r\n") {
            let size = std::str::from_utf8(&got[pos..pos + eol]).unwrap_or("0");
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            len += size;
            pos += eol + 2 + size + 2;
            if pos > got.len() {
                break;
            }
        }
        return len;
    }
    0
}

/// A server that reads the request and its body, then answers with its
/// name, the `x-body-len` field the proxy added, and the body length it
/// read; it counts the requests it saw.
fn server(
    name: &'static str,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl Fn(TcpStream, usize) + Send + Sync + 'static {
    move |mut s: TcpStream, _| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let Some(head) = read_head(&mut s) else {
            return;
        };
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let head = String::from_utf8_lossy(&head).into_owned();
        let n = read_body(&mut s, &head);
        let body = format!(
            "srv={name} xbl={} expect={} got={n}",
            header(&head, "x-body-len").unwrap_or("-"),
            header(&head, "expect").unwrap_or("-"),
        );
        // One write: the response body arrives with its head.
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(resp.as_bytes());
    }
}

/// Sends `parts` with a pause between them; returns what came back (until
/// the close, or 4s).
fn client(port: u16, parts: &[Vec<u8>], pause: Duration) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        if c.write_all(p).is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// What the client read that both proxies must agree on: the status
/// lines and the last line of the body.
fn answer(raw: &str) -> String {
    let statuses: Vec<&str> = raw
        .split("\r\n")
        .filter(|l| l.starts_with("HTTP/1."))
        .collect();
    let body = raw.rsplit("\r\n\r\n").next().unwrap_or("");
    let body = if body.starts_with("srv=") { body } else { "" };
    format!("{statuses:?} {body}")
}

/// Backend/server, status and termination state of an httplog line.
fn log_fields(line: &str) -> String {
    let f: Vec<&str> = line.split_whitespace().collect();
    match f.iter().position(|w| *w == "fe" || *w == "fe~") {
        Some(i) => format!(
            "{} {} {}",
            f.get(i + 1).unwrap_or(&""),
            f.get(i + 3).unwrap_or(&""),
            f.get(i + 7).unwrap_or(&"")
        ),
        None => line.to_string(),
    }
}

struct Case {
    name: &'static str,
    /// Lines added to `defaults`, `frontend fe`, `backend b1`.
    defaults: &'static str,
    frontend: &'static str,
    b1: &'static str,
    parts: Vec<Vec<u8>>,
    pause: Duration,
}

fn head_cl(n: usize, extra: &str) -> Vec<u8> {
    format!("POST /p HTTP/1.1\r\nhost: t\r\ncontent-length: {n}\r\n{extra}\r\n").into_bytes()
}

fn head_chunked() -> Vec<u8> {
    b"POST /p HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n".to_vec()
}

const ROUTE: &str = "    use_backend b2 if { req.body -m sub magic }\n";
const MARK: &str = "    http-request set-header x-body-len %[req.body_len]\n";

fn cases() -> Vec<Case> {
    let ms = Duration::from_millis;
    let body = b"a=1&k=magic&z=2".to_vec();
    let big = vec![b'x'; 40_000];
    vec![
        Case {
            name: "no option: the rules see no body",
            defaults: "",
            frontend: ROUTE,
            b1: MARK,
            parts: vec![head_cl(body.len(), ""), body.clone()],
            pause: ms(300),
        },
        Case {
            name: "option in defaults",
            defaults: "    option http-buffer-request\n",
            frontend: ROUTE,
            b1: MARK,
            parts: vec![head_cl(body.len(), ""), body.clone()],
            pause: ms(300),
        },
        Case {
            name: "option in the frontend",
            defaults: "",
            frontend: "    option http-buffer-request\n    use_backend b2 if { req.body_param(k) -m str magic }\n",
            b1: MARK,
            parts: vec![head_cl(body.len(), ""), body.clone()],
            pause: ms(300),
        },
        Case {
            name: "option in the backend: after the switching rules",
            defaults: "",
            frontend: ROUTE,
            b1: "    option http-buffer-request\n    http-request set-header x-body-len %[req.body_len]\n",
            parts: vec![head_cl(body.len(), ""), body.clone()],
            pause: ms(300),
        },
        Case {
            name: "chunked body in two chunks",
            defaults: "    option http-buffer-request\n",
            frontend: ROUTE,
            b1: MARK,
            parts: vec![
                head_chunked(),
                b"4\r\na=1&\r\n".to_vec(),
                b"b\r\nk=magic&z=2\r\n0\r\n\r\n".to_vec(),
            ],
            pause: ms(200),
        },
        Case {
            name: "Expect: 100-continue",
            defaults: "    option http-buffer-request\n",
            frontend: ROUTE,
            b1: MARK,
            parts: vec![head_cl(body.len(), "expect: 100-continue\r\n"), body.clone()],
            pause: ms(300),
        },
        Case {
            name: "a body larger than the buffer",
            defaults: "    option http-buffer-request\n",
            frontend: "    use_backend b2 if { req.body_len gt 1000 }\n",
            b1: "",
            parts: vec![head_cl(big.len(), ""), big.clone()],
            pause: ms(200),
        },
        Case {
            name: "res.body in http-response rules",
            defaults: "",
            frontend: "",
            b1: "    http-response set-status 299 reason Matched if { res.body -m sub srv=s1 } { res.body_size gt 10 } { res.body_len gt 10 }\n",
            parts: vec![head_cl(body.len(), ""), body.clone()],
            pause: ms(100),
        },
        Case {
            name: "a slow body hits timeout http-request",
            defaults: "    option http-buffer-request\n",
            frontend: ROUTE,
            b1: MARK,
            parts: vec![head_cl(100, ""), b"a=1".to_vec()],
            pause: ms(100),
        },
        Case {
            name: "wait-for-body at-least",
            defaults: "",
            frontend: "    http-request wait-for-body time 3s at-least 8\n    use_backend b2 if { req.body_size eq 15 } { req.body_len ge 8 }\n",
            b1: MARK,
            parts: vec![
                head_cl(body.len(), ""),
                body[..10].to_vec(),
                body[10..].to_vec(),
            ],
            pause: ms(300),
        },
        Case {
            name: "wait-for-body times out",
            defaults: "",
            frontend: "    http-request wait-for-body time 500ms\n",
            b1: MARK,
            parts: vec![head_cl(body.len(), ""), body[..4].to_vec()],
            pause: ms(100),
        },
    ]
}

#[test]
fn buffer_request_matrix_matches_haproxy() {
    if !haproxy_or_skip("buffer_request_matrix_matches_haproxy") {
        return;
    }
    let dir = TempDir::new("bufreq");
    let seen1 = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (p1, p2) = (free_ports(1)[0], free_ports(1)[0]);
    let _s1 = TestServer::start(p1, server("s1", seen1.clone()));
    let _s2 = TestServer::start(p2, server("s2", seen2.clone()));
    let mut differ = Vec::new();
    for (i, case) in cases().into_iter().enumerate() {
        let mut seen = Vec::new();
        for who in ["ha", "sluice"] {
            let fe = free_ports(1)[0];
            let tag = format!("br-{who}{i}");
            let cfg = format!(
                "{}defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout http-request 1s\n{}\
                 frontend fe\n    bind 127.0.0.1:{fe}\n{}    default_backend b1\n\
                 backend b1\n{}    server s1 127.0.0.1:{p1}\n\
                 backend b2\n    server s2 127.0.0.1:{p2}\n",
                global_section(&dir.join(&format!("{tag}.sock")), "    tune.bufsize 16384\n"),
                case.defaults,
                case.frontend,
                case.b1,
            );
            let before = seen1.load(std::sync::atomic::Ordering::SeqCst)
                + seen2.load(std::sync::atomic::Ordering::SeqCst);
            let (raw, logs) = if who == "ha" {
                let ha = HaRun::start(&dir, &tag, &cfg);
                let raw = client(fe, &case.parts, case.pause);
                std::thread::sleep(Duration::from_millis(300));
                (raw, traffic_lines(&ha.proc.output()))
            } else {
                let s = Sluice::run(&dir, &tag, &cfg);
                let raw = client(fe, &case.parts, case.pause);
                std::thread::sleep(Duration::from_millis(300));
                (raw, traffic_lines(&s.log()))
            };
            let after = seen1.load(std::sync::atomic::Ordering::SeqCst)
                + seen2.load(std::sync::atomic::Ordering::SeqCst);
            let mut a = answer(&raw);
            if case.name.contains("larger") {
                // How much of the body the buffer held differs (HTX
                // overhead): only who answered and what it read count.
                a = a.split(" xbl=").next().unwrap_or("").to_string()
                    + &raw
                        .rsplit(" got=")
                        .next()
                        .map(|g| format!(" got={g}"))
                        .unwrap_or_default();
            }
            let logs: Vec<String> = logs.iter().map(|l| log_fields(l)).collect();
            seen.push((a, logs, after - before));
        }
        if seen[0] != seen[1] {
            differ.push(format!(
                "{}: HAProxy {:?}, Sluice {:?}",
                case.name, seen[0], seen[1]
            ));
        }
        eprintln!("{}: {:?}", case.name, seen[0]);
    }
    assert!(differ.is_empty(), "differences:\n{}", differ.join("\n"));
}

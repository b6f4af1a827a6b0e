//! `retry-on` (HAProxy 2.6), side by side: the same configuration run by
//! HAProxy 2.6 and proxy-mio, a matrix of `retry-on` values x server
//! behaviours (closes without a response, answers junk, 503, 404, does
//! not answer in time) x one server (`retries 2`) or two (the bad one
//! first, a good one second, `option redispatch`). Each request is a POST
//! with a small body; the good server answers 200 with the body it got,
//! so a retried request must arrive whole. Compared: the client's status
//! and body, how many connections each server took, and the log's
//! backend/server, status, termination flags and retries field. Plus
//! `http-request disable-l7-retry`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const BODY: &str = "hello-body";

/// Reads one request (head and content-length body); None on EOF.
fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut b).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut b).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&b[..n]);
    }
    Some((head, body))
}

/// What a bad server does.
#[derive(Clone, Copy, Debug)]
enum Bad {
    Close,
    Junk,
    S503,
    S404,
    Timeout,
}

const BADS: [Bad; 5] = [Bad::Close, Bad::Junk, Bad::S503, Bad::S404, Bad::Timeout];

fn name(b: Bad) -> &'static str {
    match b {
        Bad::Close => "close",
        Bad::Junk => "junk",
        Bad::S503 => "503",
        Bad::S404 => "404",
        Bad::Timeout => "timeout",
    }
}

fn bad_server(port: u16, b: Bad) -> TestServer {
    TestServer::start(port, move |mut s, _| {
        if read_request(&mut s).is_none() {
            return;
        }
        let _ = match b {
            Bad::Close => Ok(()),
            Bad::Junk => s.write_all(b"this is not HTTP\r\n\r\n"),
            Bad::S503 => s.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
            ),
            Bad::S404 => s.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope",
            ),
            Bad::Timeout => {
                // Longer than `timeout server`; then closes.
                std::thread::sleep(Duration::from_millis(1200));
                Ok(())
            }
        };
    })
}

fn good_server(port: u16) -> TestServer {
    TestServer::start(port, |mut s, _| {
        let Some((_, body)) = read_request(&mut s) else {
            return;
        };
        let body = String::from_utf8_lossy(&body).to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\ngot:{body}",
            body.len() + 4
        );
        let _ = s.write_all(resp.as_bytes());
    })
}

/// A POST of BODY to `path`: status line and body.
fn post(port: u16, path: &str) -> String {
    let mut s = connect(port, Duration::from_secs(2));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text.lines().next().unwrap_or("").to_string();
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    // Error pages are worded differently: their status line only.
    let body = if body.starts_with("got:") || body == "busy" || body == "nope" {
        body
    } else {
        ""
    };
    format!("{status} {body}")
}

/// The backends (one per bad behaviour x one or two servers), `use_backend`
/// by path: `/<behaviour>/<n>`.
fn config(sock: &std::path::Path, port: u16, retry_on: &str, ports: &[(u16, u16)]) -> String {
    let mut c = format!(
        "{}defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 10s\n    timeout server 300ms\n    retries 2\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    http-request disable-l7-retry if {{ path_end /noretry }}\n",
        global_section(sock, "    nbthread 1")
    );
    for b in BADS {
        for n in [1, 2] {
            c.push_str(&format!(
                "    use_backend b_{}_{n} if {{ path_beg /{}/{n}/ }}\n",
                name(b),
                name(b)
            ));
        }
    }
    for (i, b) in BADS.iter().enumerate() {
        let (bad, good) = ports[i];
        for n in [1, 2] {
            c.push_str(&format!(
                "backend b_{}_{n}\n    balance roundrobin\n    retry-on {retry_on}\n",
                name(*b)
            ));
            if n == 2 {
                c.push_str("    option redispatch\n");
            }
            c.push_str(&format!("    server bad 127.0.0.1:{bad}\n"));
            if n == 2 {
                c.push_str(&format!("    server good 127.0.0.1:{good}\n"));
            }
        }
    }
    c
}

/// backend/server, status, termination flags, retries (the last field of
/// the connection counts), path.
fn log_key(line: &str) -> String {
    let w: Vec<&str> = line.split(' ').collect();
    let retries = w.get(10).and_then(|f| f.rsplit('/').next()).unwrap_or("");
    let req = line.split('"').nth(1).unwrap_or("");
    format!("{} {} {} retries={retries} \"{req}\"", w[3], w[5], w[9])
}

#[derive(Debug, PartialEq)]
struct Seen {
    case: String,
    answer: String,
    bad_hits: usize,
    good_hits: usize,
}

/// Every case against `port`, the servers counted.
fn run(port: u16, servers: &[(TestServer, TestServer)]) -> Vec<Seen> {
    let mut out = Vec::new();
    for (i, b) in BADS.iter().enumerate() {
        for n in [1, 2] {
            for tail in ["x", "noretry"] {
                if tail == "noretry" && n == 1 {
                    continue;
                }
                let (bad, good) = &servers[i];
                let (b0, g0) = (bad.accepts(), good.accepts());
                let path = format!("/{}/{n}/{tail}", name(*b));
                let answer = post(port, &path);
                std::thread::sleep(Duration::from_millis(50));
                out.push(Seen {
                    case: path,
                    answer,
                    bad_hits: bad.accepts() - b0,
                    good_hits: good.accepts() - g0,
                });
            }
        }
    }
    out
}

#[test]
fn retry_on_side_by_side() {
    if !haproxy_or_skip("retry_on_side_by_side") {
        return;
    }
    let dir = TempDir::new("retry_on");
    let p = free_ports(2 + 2 * BADS.len());
    let servers: Vec<(TestServer, TestServer)> = BADS
        .iter()
        .enumerate()
        .map(|(i, b)| (bad_server(p[2 + 2 * i], *b), good_server(p[3 + 2 * i])))
        .collect();
    let ports: Vec<(u16, u16)> = servers.iter().map(|(b, g)| (b.port(), g.port())).collect();
    let values = [
        "none",
        "conn-failure",
        "empty-response",
        "junk-response",
        "response-timeout",
        "404",
        "503",
        "500 502 504",
        "all-retryable-errors",
        "conn-failure empty-response 404 0rtt-rejected",
    ];
    let mut diffs = Vec::new();
    for (k, v) in values.iter().enumerate() {
        let tag = format!("c{k}");
        let ha = HaRun::start(
            &dir,
            &format!("ha{tag}"),
            &config(&dir.join(&format!("ha{tag}.sock")), p[0], v, &ports),
        );
        let ha_seen = run(p[0], &servers);
        std::thread::sleep(Duration::from_millis(200));
        let mut ha_logs: Vec<String> = ha
            .log_lines()
            .iter()
            .filter(|l| l.starts_with("127.0.0.1:"))
            .map(|l| log_key(l))
            .collect();
        drop(ha);
        let sl = Sluice::run(
            &dir,
            &format!("sl{tag}"),
            &config(&dir.join(&format!("sl{tag}.sock")), p[1], v, &ports),
        );
        let sl_seen = run(p[1], &servers);
        std::thread::sleep(Duration::from_millis(200));
        let mut sl_logs: Vec<String> = sl
            .log_lines()
            .iter()
            .filter(|l| l.starts_with("127.0.0.1:"))
            .map(|l| log_key(l))
            .collect();
        sl.assert_drained(Duration::from_secs(5));
        drop(sl);
        ha_logs.sort();
        sl_logs.sort();
        for s in &sl_seen {
            eprintln!(
                "retry-on {v:<45} {:<16} bad={} good={} {}",
                s.case, s.bad_hits, s.good_hits, s.answer
            );
        }
        for (h, s) in ha_seen.iter().zip(sl_seen.iter()) {
            if h != s {
                diffs.push(format!("retry-on {v}:\n  haproxy {h:?}\n  sluice  {s:?}"));
            }
        }
        for (h, s) in ha_logs.iter().zip(sl_logs.iter()) {
            if h != s {
                diffs.push(format!("retry-on {v} log:\n  haproxy {h}\n  sluice  {s}"));
            }
        }
        if ha_logs.len() != sl_logs.len() {
            diffs.push(format!(
                "retry-on {v}: log lines {ha_logs:#?} vs {sl_logs:#?}"
            ));
        }
        // The matrix is not vacuous: some requests were retried.
        if *v == "all-retryable-errors" {
            let retried = ha_seen
                .iter()
                .filter(|s| s.bad_hits > 1 || s.good_hits > 0)
                .count();
            assert!(retried >= 4, "{ha_seen:#?}");
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn retry_on_keywords_are_checked_as_haproxy_does() {
    let dir = TempDir::new("retry_on_kw");
    for (kw, ok) in [
        ("none", true),
        ("all-retryable-errors", true),
        ("401 403 404 408 425 500 501 502 503 504", true),
        ("0rtt-rejected junk-response", true),
        ("none 404", false),
        ("429", false),
        ("foo", false),
        ("", false),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nbackend b\n    retry-on {kw}\n    server s 127.0.0.1:9\n"
        );
        let path = dir.join("c.cfg");
        write_file(&path, &cfg);
        let out = std::process::Command::new(proxy_mio())
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("proxy-mio -c");
        assert_eq!(
            out.status.success(),
            ok,
            "retry-on {kw}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

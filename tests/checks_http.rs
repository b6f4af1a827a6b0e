//! HTTP health checks (`option httpchk` with `http-check send` and
//! `http-check expect status|rstatus|string|rstring|hdr`, `http-check
//! connect` sequences, log-format values, `send-state`, and HTTP/2 checks
//! against an HTTP/2 listener of the proxy under test) side by side
//! with HAProxy 2.6: small fake HTTP servers answer each case, the same
//! configuration (one backend per case) is fed to `haproxy` and
//! `proxy-mio`, and the test compares, per server, `show stat`'s
//! `status`, `check_status`, `check_code`, `check_desc` and `last_chk`,
//! and the first `option log-health-checks` line (its duration masked).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// Reads a request (up to its blank line, and `n` body bytes after it).
fn request(s: &mut TcpStream) -> Vec<u8> {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut v = Vec::new();
    let mut buf = [0u8; 2048];
    while !v.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => v.extend_from_slice(&buf[..k]),
        }
    }
    let text = String::from_utf8_lossy(&v).to_ascii_lowercase();
    let want = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let head = v
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |p| p + 4);
    while v.len() < head + want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => v.extend_from_slice(&buf[..k]),
        }
    }
    v
}

/// A server answering `rsp` to any request.
fn answer(rsp: &'static str) -> impl Fn(TcpStream, usize) + Send + Sync + 'static {
    move |mut s: TcpStream, _| {
        let _ = request(&mut s);
        let _ = s.write_all(rsp.as_bytes());
    }
}

/// The request `http-check send meth GET uri /x ver HTTP/1.1 hdr Host
/// a.example hdr X-Probe 1 body hello` makes HAProxy 2.6 send: the server
/// answers `sent-as-haproxy` only to exactly these bytes.
const SENT: &[u8] = b"GET /x HTTP/1.1\r\nhost: a.example\r\nx-probe: 1\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";

fn exact(mut s: TcpStream, _: usize) {
    sent_as(&mut s, SENT)
}

/// Answers `sent-as-haproxy` in a 200 if the request is `want`.
fn sent_as(s: &mut TcpStream, want: &[u8]) {
    let got = request(s);
    let body = if got == want {
        "sent-as-haproxy".to_string()
    } else {
        format!("unexpected {:?}", String::from_utf8_lossy(&got))
    };
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
}

/// `option httpchk GET / HTTP/1.1\r\nHost:\ localhost\r\nX-A:\ 1\r\n\r\nbody`
/// (headers and a body hidden in the version, deprecated in 2.6).
fn hidden(mut s: TcpStream, _: usize) {
    sent_as(
        &mut s,
        b"GET / HTTP/1.1\r\nhost: localhost\r\nx-a: 1\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbody",
    )
}

/// `option httpchk POST /p`: an empty body is announced.
fn post(mut s: TcpStream, _: usize) {
    sent_as(&mut s, b"POST /p HTTP/1.0\r\ncontent-length: 0\r\n\r\n")
}

/// A body sent in two parts, then the close (no length).
fn slow_body(mut s: TcpStream, _: usize) {
    let _ = request(&mut s);
    let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nfirst part, ");
    std::thread::sleep(Duration::from_millis(100));
    let _ = s.write_all(b"role: primary\n");
}

/// Answers 200 with the request line as the body: each connection of a
/// connect / send / expect sequence shows what it sent.
fn echo_line(mut s: TcpStream, _: usize) {
    let got = request(&mut s);
    let line = String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{line}",
        line.len()
    );
}

/// `uri-lf`, `hdr NAME FMT` (a value rendering empty is not sent) and
/// `body-lf`, with a `check.` variable set before the send.
fn lf_send(mut s: TcpStream, _: usize) {
    sent_as(
        &mut s,
        b"GET /lf HTTP/1.1\r\nx-srv: srv\r\ncontent-length: 7\r\nconnection: close\r\n\r\nlf_send",
    )
}

/// `http-check send-state`: HAProxy's `X-Haproxy-Server-State` header.
fn send_state(mut s: TcpStream, _: usize) {
    let port = s.local_addr().map(|a| a.port()).unwrap_or(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let want = format!(
        "OPTIONS / HTTP/1.0\r\nx-haproxy-server-state: UP; address=127.0.0.1; port={port}; name=send_state/srv; node={}; weight=1/1; scur=0/0; qcur=0\r\n\r\n",
        host.trim()
    );
    sent_as(&mut s, want.as_bytes())
}

type Fake = Box<dyn Fn(TcpStream, usize) + Send + Sync>;

/// Backend name, its lines, the fake server, whether HAProxy finds it up.
fn cases() -> Vec<(&'static str, &'static str, Fake, bool)> {
    const JSON: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: 27\r\n\r\n{\"lucene_version\": \"9.4.2\"}";
    const OK_MASTER: &str =
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nOK : \r\n6\r\nmaster\r\n0\r\n\r\n";
    const MAINT: &str = "HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\nmaintenance mode";
    vec![
        ("string_ok", "option httpchk GET /\n    http-check expect string lucene_version", Box::new(answer(JSON)), true),
        ("string_miss", "option httpchk GET /\n    http-check expect string elasticsearch", Box::new(answer(JSON)), false),
        ("string_neg", "option httpchk\n    http-check expect ! string maintenance", Box::new(answer(MAINT)), false),
        ("rstring_chunked", "option httpchk GET /\n    http-check expect rstring OK\\ :\\ (master|replica)", Box::new(answer(OK_MASTER)), true),
        ("string_chunked_miss", "option httpchk GET /\n    http-check expect string OK\\ :\\ replica", Box::new(answer(OK_MASTER)), false),
        ("status_503", "option httpchk", Box::new(answer("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")), false),
        ("status_no_reason", "option httpchk\n    http-check expect status 200", Box::new(answer("HTTP/1.1 500 \r\ncontent-length: 0\r\n\r\n")), false),
        ("status_neg", "option httpchk\n    http-check expect ! status 500-599", Box::new(answer("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")), true),
        ("rstatus_204", "option httpchk\n    http-check expect rstatus ^2[0-9][0-9]$", Box::new(answer("HTTP/1.1 204 No Content\r\n\r\n")), true),
        ("hdr_ok", "option httpchk\n    http-check expect hdr name content-type value -m beg application/json", Box::new(answer(JSON)), true),
        ("hdr_miss", "option httpchk\n    http-check expect hdr name -m sub x-role value primary", Box::new(answer(JSON)), false),
        ("no_body", "option httpchk\n    http-check expect string ok", Box::new(answer("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")), false),
        ("send_exact", "option httpchk POST /ignored\n    http-check send meth GET uri /x ver HTTP/1.1 hdr Host a.example hdr X-Probe 1 body hello\n    http-check expect string sent-as-haproxy", Box::new(exact), true),
        ("comment", "option httpchk\n    http-check expect status 200\n    http-check expect string master comment primary\\ only", Box::new(answer(MAINT)), false),
        ("comment_status", "option httpchk\n    http-check comment not\\ found\n    http-check expect status 200", Box::new(answer("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")), false),
        ("empty", "option httpchk", Box::new(|mut s: TcpStream, _| { let _ = request(&mut s); }), false),
        ("status_then_body", "option httpchk\n    http-check expect status 200\n    http-check expect ! rstring maint", Box::new(answer(MAINT)), false),
        ("slow_body", "option httpchk\n    http-check expect string role:\\ primary", Box::new(slow_body), true),
        ("not_http", "option httpchk", Box::new(answer("hello\r\n")), false),
        ("hidden_in_version", "option httpchk GET / HTTP/1.1\\r\\nHost:\\ localhost\\r\\nX-A:\\ 1\\r\\n\\r\\nbody\n    http-check expect string sent-as-haproxy", Box::new(hidden), true),
        ("post_no_body", "option httpchk POST /p\n    http-check expect string sent-as-haproxy", Box::new(post), true),
        ("min_recv", "option httpchk\n    http-check expect min-recv 4 string mode", Box::new(answer(MAINT)), true),
        ("connect_seq", "option httpchk\n    http-check connect\n    http-check send uri /one\n    http-check expect string OPTIONS\\ /one\\ HTTP/1.0\n    http-check connect linger\n    http-check send meth GET uri /two ver HTTP/1.1\n    http-check expect status 200\n    http-check expect string GET\\ /two\\ HTTP/1.1", Box::new(echo_line), true),
        ("connect_seq_fail", "option httpchk GET /first\n    http-check connect\n    http-check send ver HTTP/1.1\n    http-check expect string /first\n    http-check connect\n    http-check send uri /second\n    http-check expect string /third comment second\\ sequence", Box::new(echo_line), false),
        ("implicit_last_expect", "option httpchk\n    http-check connect\n    http-check send uri /a\n    http-check expect string /a\n    http-check connect\n    http-check send uri /b", Box::new(echo_line), true),
        ("lf_send", "option httpchk\n    http-check set-var(check.p) str(/lf)\n    http-check send meth GET uri-lf %[var(check.p)] ver HTTP/1.1 hdr x-srv %[srv_name] hdr x-none %[var(check.none)] body-lf %[be_name]\n    http-check expect string sent-as-haproxy", Box::new(lf_send), true),
        ("send_state", "option httpchk\n    http-check send-state\n    http-check expect string sent-as-haproxy", Box::new(send_state), true),
    ]
}

#[test]
fn http_checks_side_by_side() {
    if !haproxy_or_skip("http_checks_side_by_side") {
        return;
    }
    let dir = TempDir::new("checks_http");
    let cases = cases();
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let ports = free_ports(cases.len() + 1);
    let mut backends = String::new();
    let mut ups = Vec::new();
    let mut servers = Vec::new();
    // HTTP/2 checks: against an HTTP/2 listener of the proxy under test
    // (`proto h2` or `check-proto h2` on the server, `proto h2` on the
    // connect rule), and a failing one (a 503).
    let h2p = ports[cases.len()];
    let mut names = names;
    backends.push_str(&format!(
        "listen h2srv\n    bind 127.0.0.1:{h2p} proto h2\n    http-request return status 503 if {{ path /down }}\n    http-request return status 200 content-type text/plain string ok-h2\n\
         backend h2_proto\n    option httpchk GET /status HTTP/1.1\n    server srv 127.0.0.1:{h2p} proto h2 check inter 400ms rise 1 fall 1\n\
         backend h2_check_proto\n    option httpchk\n    http-check expect string ok-h2\n    server srv 127.0.0.1:{h2p} check check-proto h2 inter 400ms rise 1 fall 1\n\
         backend h2_connect\n    option httpchk\n    http-check connect proto h2\n    http-check send meth GET uri /x hdr host h2.example\n    http-check expect status 200\n    server srv 127.0.0.1:{h2p} check inter 400ms rise 1 fall 1\n\
         backend h2_down\n    option httpchk GET /down\n    server srv 127.0.0.1:{h2p} check check-proto h2 inter 400ms rise 1 fall 1\n"
    ));
    names.extend(["h2_proto", "h2_check_proto", "h2_connect", "h2_down"]);
    ups.extend([
        ("h2_proto", true),
        ("h2_check_proto", true),
        ("h2_connect", true),
        ("h2_down", false),
    ]);
    for ((be, lines, fake, up), p) in cases.into_iter().zip(&ports) {
        backends.push_str(&format!(
            "backend {be}\n    {lines}\n    server srv 127.0.0.1:{p} check inter 400ms rise 1 fall 1\n"
        ));
        ups.push((be, up));
        servers.push(TestServer::start(*p, fake));
    }
    let mut got = Vec::new();
    for who in ["ha", "sluice"] {
        let cfg = format!(
            "{}defaults\n    mode http\n    log global\n    option log-health-checks\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout check 1s\n{backends}",
            global_section(&dir.join(&format!("{who}.sock")), ""),
        );
        let (st, log) = if who == "ha" {
            let ha = HaRun::start(&dir, who, &cfg);
            std::thread::sleep(Duration::from_millis(1500));
            (check_states(&ha.cli("show stat")), ha.proc.output())
        } else {
            let s = Sluice::run(&dir, who, &cfg);
            std::thread::sleep(Duration::from_millis(1500));
            (check_states(&s.cli("show stat")), s.log())
        };
        got.push((st, first_health_check_lines(&names, &log)));
    }
    let (ha, sl) = (&got[0], &got[1]);
    assert_eq!(ha.0.len(), names.len(), "HAProxy's show stat: {:?}", ha.0);
    let mut differ = Vec::new();
    for (a, b) in ha.0.iter().zip(&sl.0) {
        println!("{}:\n  haproxy {:?}\n  sluice  {:?}", a.0, a.1, b.1);
        if a != b {
            differ.push(format!("show stat of {}", a.0));
        }
    }
    for (a, b) in ha.1.iter().zip(&sl.1) {
        println!("{}:\n  haproxy {}\n  sluice  {}", a.0, a.1, b.1);
        if a != b || a.1.is_empty() {
            differ.push(format!("log line of {}", a.0));
        }
    }
    // The fake servers' good answers pass and the bad ones fail (so the
    // comparison is not between two broken runs).
    for (be, up) in ups {
        let st = &ha.0.iter().find(|(n, _)| n == be).expect("row").1;
        assert_eq!(st[0] == "UP", up, "{be}: {st:?}");
    }
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy in: {differ:?}"
    );
}

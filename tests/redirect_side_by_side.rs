//! The `redirect` proxy keyword side by side with HAProxy 2.6: the same
//! configuration (`redirect location|prefix|scheme` with codes, options
//! and conditions, mixed with `http-request` rules, in a frontend and in
//! a backend) and the same requests go to both proxies; each answer's
//! status line and `location` header must be the same. It checks the
//! order too: `http-request` rules first (even an `allow`), then the
//! redirect rules, frontend then backend.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn server(mut s: TcpStream, _: usize) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
}

const CFG: &str = "frontend fe
    bind 127.0.0.1:{FE}
    http-request redirect location /from-http-request if { path /both }
    redirect scheme https code 301 if !{ ssl_fc } { path_beg /secure }
    redirect prefix /new drop-query if { path_beg /old }
    redirect location /moved code 308 if { path /both }
    redirect prefix https://example.com append-slash if { path /dir }
    redirect location /after-allow code 303 if { path /allowed }
    redirect prefix /p set-cookie SEEN=1 if { path /cookie }
    redirect location / clear-cookie SEEN= if { path /clear }
    http-request allow if { path /allowed }
    use_backend be2 if { path_beg /be2 }
    default_backend be
backend be
    redirect location /be-redirect if { path /be }
    server s1 127.0.0.1:{S}
backend be2
    redirect location /be2-redirect code 307 unless { path /be2/keep }
    server s1 127.0.0.1:{S}
";

const PATHS: &[&str] = &[
    "/secure/x?y=1",
    "/old/a?b=c",
    "/both",
    "/dir",
    "/allowed",
    "/cookie",
    "/clear",
    "/be",
    "/be2/x",
    "/be2/keep",
    "/plain",
];

/// The status line and the `location` and `set-cookie` headers of the
/// answer to `GET path`.
fn ask(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: www.example.org\r\nconnection: close\r\n\r\n"
    );
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let mut lines = text.split("\r\n");
    let mut got = lines.next().unwrap_or("").to_string();
    for l in lines.take_while(|l| !l.is_empty()) {
        let low = l.to_ascii_lowercase();
        if low.starts_with("location:") || low.starts_with("set-cookie:") {
            got.push_str(" | ");
            got.push_str(&low[..l.find(':').unwrap_or(0)]);
            got.push_str(&l[l.find(':').unwrap_or(0)..]);
        }
    }
    got
}

#[test]
fn redirect_keyword_side_by_side() {
    if !haproxy_or_skip("redirect_keyword_side_by_side") {
        return;
    }
    let dir = TempDir::new("redirect_sbs");
    let ports = free_ports(3);
    let _srv = TestServer::start(ports[2], server);
    let mut got = Vec::new();
    for (who, fe) in [("ha", ports[0]), ("sluice", ports[1])] {
        let cfg = format!(
            "{}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n{}",
            global_section(&dir.join(&format!("{who}.sock")), ""),
            CFG.replace("{FE}", &fe.to_string())
                .replace("{S}", &ports[2].to_string()),
        );
        let answers: Vec<String> = if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            PATHS.iter().map(|p| ask(fe, p)).collect()
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            PATHS.iter().map(|p| ask(fe, p)).collect()
        };
        got.push(answers);
    }
    let mut differ = Vec::new();
    for ((p, a), b) in PATHS.iter().zip(&got[0]).zip(&got[1]) {
        println!("{p}:\n  haproxy {a}\n  sluice  {b}");
        if a != b {
            differ.push(*p);
        }
    }
    // Not two broken runs: HAProxy redirected what it should.
    assert!(got[0][0].starts_with("HTTP/1.1 301"), "{:?}", got[0]);
    assert!(got[0][10].starts_with("HTTP/1.1 200"), "{:?}", got[0]);
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy on {differ:?}"
    );
}

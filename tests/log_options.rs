//! `option dontlog-normal` and `option log-separate-errors`, side by side
//! with HAProxy 2.6 fed the same configuration: which requests are logged,
//! and at which syslog level (the `<PRI>` of an RFC 3164 line; local0:
//! 134 is `info`, 131 is `err`).
//!
//! Requests: a 200 from a server, a 503 because the backend's only server
//! refuses connections (`SC--`), a local redirect (`LR--`).

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

/// Serves `HTTP/1.1 200 OK` to every request, one per connection.
fn ok_handler(mut s: std::net::TcpStream, _n: usize) {
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
}

fn get(port: u16, path: &str) -> String {
    let mut s = connect(port, Duration::from_secs(5));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (resp, _) = read_to_close(&mut s);
    String::from_utf8_lossy(&resp)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn config(sock: &std::path::Path, opts: &str, fe: u16, ok: u16, dead: u16) -> String {
    format!(
        "global\n    log stderr format rfc3164 local0 info\n    stats socket {} mode 600 level admin\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n{opts}\
             http-request redirect location /ok if {{ path /redirect }}\n\
             use_backend be_dead if {{ path /down }}\n    default_backend be_ok\n\
         backend be_ok\n    server s1 127.0.0.1:{ok}\n\
         backend be_dead\n    retries 0\n    server s1 127.0.0.1:{dead}\n",
        sock.display()
    )
}

/// (path, PRI) of each traffic line, in order.
fn levels(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let pri = l.strip_prefix('<')?.split('>').next()?.to_string();
            let path = ["/ok", "/down", "/redirect"]
                .into_iter()
                .find(|p| l.contains(&format!("\"GET {p} ")))?;
            Some((path.to_string(), pri))
        })
        .collect()
}

#[test]
fn log_options_side_by_side() {
    if !haproxy_or_skip("log_options_side_by_side") {
        return;
    }
    let dir = TempDir::new("log_options");
    let cases = [
        "",
        "    option dontlog-normal\n",
        "    option log-separate-errors\n",
        "    option dontlog-normal\n    option log-separate-errors\n",
    ];
    for (i, opts) in cases.iter().enumerate() {
        let p = free_ports(4);
        let _srv = TestServer::start(p[2], ok_handler);
        let run = |who: &str, port: u16| -> Vec<String> {
            let tag = format!("{who}{i}");
            let cfg = config(&dir.join(&format!("{tag}.sock")), opts, port, p[2], p[3]);
            let lines = |f: &dyn Fn() -> Vec<String>| {
                for path in ["/ok", "/down", "/redirect"] {
                    let status = get(port, path);
                    assert!(status.starts_with("HTTP/1."), "{who} {path}: {status}");
                }
                // Let the last line reach the output.
                std::thread::sleep(Duration::from_millis(300));
                f()
            };
            if who == "ha" {
                let ha = HaRun::start(&dir, &tag, &cfg);
                lines(&|| ha.log_lines())
            } else {
                let s = Sluice::run(&dir, &tag, &cfg);
                lines(&|| s.log_lines())
            }
        };
        // Lines are compared as a set: HAProxy may write the line of one
        // request after the next one's (the order is not what is tested).
        let mut ha = levels(&run("ha", p[0]));
        let mut sl = levels(&run("sluice", p[1]));
        ha.sort();
        sl.sort();
        println!("{opts:?}: haproxy {ha:?} sluice {sl:?}");
        assert_eq!(sl, ha, "options {opts:?}");
        // Something is asserted whatever HAProxy does: the 503 is always
        // logged.
        assert!(sl.iter().any(|(p, _)| p == "/down"), "{sl:?}");
    }
}

/// Strips what differs between two runs of one line: the date and time,
/// the pid, the client port, the timers and the byte count (the response
/// headers each proxy forwards differ slightly).
fn normalise(line: &str) -> String {
    let mut out = Vec::new();
    for w in line.split(' ') {
        let after_tag = out.last().is_some_and(|p: &String| p == "sluicetest");
        let w = if after_tag && w.chars().all(|c| c.is_ascii_digit()) {
            // rfc5424's PROCID.
            "PID".into()
        } else if w.contains('[') && w.ends_with("]:") {
            // `tag[pid]:`
            format!("{}[PID]:", w.split('[').next().unwrap_or(""))
        } else if let Some(i) = w.find("127.0.0.1:") {
            // `<6>127.0.0.1:41234`: the client port.
            format!("{}127.0.0.1:PORT", &w[..i])
        } else if w.starts_with('[') && w.len() > 20 {
            "[DATE]".into()
        } else if w
            .chars()
            .all(|c| c.is_ascii_digit() || c == ':' || c == '/' || c == '-')
            && w.contains(':')
        {
            "HH:MM:SS".into()
        } else if w
            .chars()
            .all(|c| c.is_ascii_digit() || c == '/' || c == '-')
            && w.contains('/')
        {
            // Timers (`%TR/%Tw/%Tc/%Tr/%Ta`) and counters differ from run
            // to run.
            "T/T/T".into()
        } else if w.contains('T') && w.contains("+00:00") {
            "ISODATE".into()
        } else {
            w.to_string()
        };
        out.push(w);
    }
    out.join(" ")
}

/// A UDP syslog receiver: `log 127.0.0.1:PORT local3 info` with every
/// format, the global `log-tag` and `log-send-hostname`, next to HAProxy
/// 2.6: the datagrams carry the same header (priority, host, tag) and the
/// same message.
#[test]
fn udp_syslog_side_by_side() {
    if !haproxy_or_skip("udp_syslog_side_by_side") {
        return;
    }
    let dir = TempDir::new("udp_syslog");
    for format in ["rfc3164", "rfc5424", "short", "priority", "raw"] {
        let p = free_ports(3);
        let _srv = TestServer::start(p[2], ok_handler);
        let mut got = Vec::new();
        for (who, port) in [("ha", p[0]), ("sluice", p[1])] {
            let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            rx.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let rx_port = rx.local_addr().unwrap().port();
            let tag = format!("{who}_{format}");
            let cfg = format!(
                "global\n    log 127.0.0.1:{rx_port} format {format} local3 info\n    log-tag sluicetest\n    log-send-hostname edge1\n    stats socket {} mode 600 level admin\n\
                 defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
                 frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
                 backend be\n    server s1 127.0.0.1:{}\n",
                dir.join(&format!("{tag}.sock")).display(),
                p[2]
            );
            let lines = |rx: &std::net::UdpSocket| {
                let status = get(port, "/ok");
                assert!(status.starts_with("HTTP/1.1 200"), "{who}: {status}");
                let mut buf = [0u8; 2048];
                let mut lines = Vec::new();
                // The traffic line; start-up lines (proxies started) may come first.
                while let Ok(n) = rx.recv(&mut buf) {
                    let l = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let done = l.contains("\"GET /ok ");
                    lines.push(l);
                    if done {
                        break;
                    }
                }
                lines
            };
            let l = if who == "ha" {
                let _ha = HaRun::start(&dir, &tag, &cfg);
                lines(&rx)
            } else {
                let _s = Sluice::run(&dir, &tag, &cfg);
                lines(&rx)
            };
            let traffic = l
                .into_iter()
                .find(|l| l.contains("\"GET /ok "))
                .unwrap_or_else(|| panic!("{who} {format}: no traffic datagram"));
            // The byte count (`%B`, after the status) is left out.
            let mut words: Vec<&str> = traffic.split(' ').collect();
            if let Some(i) = words.iter().position(|w| *w == "200") {
                words.remove(i + 1);
            }
            got.push(normalise(&words.join(" ")));
        }
        println!("{format}:\n  haproxy {:?}\n  sluice  {:?}", got[0], got[1]);
        assert_eq!(got[1], got[0], "format {format}");
        assert!(got[1].contains("\"GET /ok HTTP/1.1\""), "{}", got[1]);
    }
}

/// Answers the headers at once and the 4-byte body 1 s later.
fn slow_body_handler(mut s: std::net::TcpStream, _n: usize) {
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\n");
    std::thread::sleep(Duration::from_millis(1000));
    let _ = s.write_all(b"body");
}

/// A TCP server that answers `pong` 1 s after the client's first bytes.
fn slow_tcp_handler(mut s: std::net::TcpStream, _n: usize) {
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
    std::thread::sleep(Duration::from_millis(1000));
    let _ = s.write_all(b"pong\n");
}

/// `option logasap`, side by side with HAProxy 2.6: an HTTP transaction is
/// logged once its response headers went through, before the body (which
/// the server sends 1 s later); a TCP connection once its server
/// connection is established, while it is still open. Each is logged
/// once, with `+` before `%Tt`/`%Ta` and `%B`.
#[test]
fn logasap_side_by_side() {
    if !haproxy_or_skip("logasap_side_by_side") {
        return;
    }
    let dir = TempDir::new("logasap");
    let p = free_ports(6);
    let _http_srv = TestServer::start(p[4], slow_body_handler);
    let _tcp_srv = TestServer::start(p[5], slow_tcp_handler);
    let mut got = Vec::new();
    for (who, http, tcp) in [("ha", p[0], p[1]), ("sluice", p[2], p[3])] {
        let cfg = format!(
            "{}defaults\n    log global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    mode http\n    option httplog\n    option logasap\n    bind 127.0.0.1:{http}\n    default_backend be\n\
             backend be\n    mode http\n    server s1 127.0.0.1:{}\n\
             listen tcpin\n    mode tcp\n    option tcplog\n    option logasap\n    bind 127.0.0.1:{tcp}\n    server s1 127.0.0.1:{}\n",
            global_section(&dir.join(&format!("{who}.sock")), ""),
            p[4],
            p[5]
        );
        let run = |lines: &dyn Fn() -> Vec<String>| -> [Vec<String>; 4] {
            let traffic = || -> Vec<String> {
                lines()
                    .into_iter()
                    .filter(|l| l.starts_with("127.0.0.1:"))
                    .collect()
            };
            // HTTP: the headers arrive, the body is 1 s away.
            let mut c = connect(http, Duration::from_secs(5));
            c.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "{who}: closed before the response headers");
                head.extend_from_slice(&buf[..n]);
            }
            std::thread::sleep(Duration::from_millis(300));
            let http_early = traffic();
            let (rest, _) = read_to_close(&mut c);
            head.extend_from_slice(&rest);
            assert!(
                head.ends_with(b"body"),
                "{who}: {:?}",
                String::from_utf8_lossy(&head)
            );
            std::thread::sleep(Duration::from_millis(300));
            let http_end = traffic();
            // TCP: connected, the server answers 1 s later.
            let mut c = connect(tcp, Duration::from_secs(5));
            c.write_all(b"ping\n").unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let tcp_early = traffic();
            let (rest, _) = read_to_close(&mut c);
            assert_eq!(rest, b"pong\n", "{who}");
            std::thread::sleep(Duration::from_millis(300));
            let tcp_end = traffic();
            [http_early, http_end, tcp_early, tcp_end]
        };
        let l = if who == "ha" {
            let ha = HaRun::start(&dir, who, &cfg);
            run(&|| ha.log_lines())
        } else {
            let s = Sluice::run(&dir, who, &cfg);
            run(&|| s.log_lines())
        };
        println!("{who}: {l:#?}");
        // Logged before the end, and only then.
        assert_eq!(l[0].len(), 1, "{who}: HTTP line before the body: {l:?}");
        assert_eq!(l[1], l[0], "{who}: HTTP logged once: {l:?}");
        assert_eq!(l[2].len(), 2, "{who}: TCP line while connected: {l:?}");
        assert_eq!(l[3], l[2], "{who}: TCP logged once: {l:?}");
        got.push(l[2].iter().map(|l| mask_digits(l)).collect::<Vec<_>>());
    }
    println!("haproxy {:?}\nsluice  {:?}", got[0], got[1]);
    assert_eq!(got[1], got[0]);
    // Whatever HAProxy prints: the partial fields carry their `+`.
    let http = &got[1][0];
    assert!(http.contains("/+9 9 +9 - - ---- "), "{http}");
    let tcp = &got[1][1];
    assert!(tcp.contains(" tcpin tcpin/s9 9/9/+9 +9 -- "), "{tcp}");
}

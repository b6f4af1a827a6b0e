//! HAProxy's `abort_keep_alive`, side by side with HAProxy 2.6: a server
//! answers a client's first request on a kept-alive connection, then
//! closes (FIN, or a reset) when the second request arrives, without a
//! byte of response. The client connection is then closed without an
//! answer and without a log line, so that the client retries (an idle
//! keep-alive connection that the server closed just as a request left
//! is the common case). The first request of a connection still gets its
//! 502. Both proxies get the same configuration and the same client; what
//! the client reads after its second request and the traffic log lines
//! must be the same.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// Answers every request on a kept-alive connection but `/b`, on which
/// it closes without a byte: with a FIN, or with a reset when `reset`.
fn server(reset: bool) -> impl Fn(TcpStream, usize) + Send + Sync + 'static {
    move |mut s: TcpStream, _| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        while let Some(req) = read_head(&mut s) {
            if req.starts_with(b"GET /b ") {
                if reset {
                    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                }
                return;
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
    }
}

/// Sends a request, reads its response, sends a second one, and returns
/// what came back after it (until the close, or 5s).
fn client(port: u16, second_only: bool) -> Vec<u8> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    if !second_only {
        c.write_all(b"GET /a HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 256];
        while !got.ends_with(b"ok") {
            match c.read(&mut b) {
                Ok(0) | Err(_) => panic!("first response cut: {got:?}"),
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
    }
    c.write_all(b"GET /b HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

fn status_lines(raw: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(raw)
        .split("\r\n")
        .filter(|l| l.starts_with("HTTP/1."))
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn a_keep_alive_request_lost_to_a_server_close_closes_the_client_silently() {
    if !haproxy_or_skip("a_keep_alive_request_lost_to_a_server_close_closes_the_client_silently") {
        return;
    }
    let dir = TempDir::new("ka-abort");
    let mut differ = Vec::new();
    for (i, reset) in [false, true].into_iter().enumerate() {
        let srv_port = free_ports(1)[0];
        let _srv = TestServer::start(srv_port, server(reset));
        // The first request of a connection: a 502 from both.
        // Then the second request of a kept-alive connection: silence.
        for second_only in [true, false] {
            let mut seen = Vec::new();
            for who in ["ha", "sluice"] {
                let fe = free_ports(1)[0];
                let tag = format!("ka-{who}{i}{}", u8::from(second_only));
                let cfg = format!(
                    "{}defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
                     frontend fe\n    bind 127.0.0.1:{fe}\n    default_backend be\n\
                     backend be\n    server s1 127.0.0.1:{srv_port}\n",
                    global_section(&dir.join(&format!("{tag}.sock")), "")
                );
                let (raw, logs) = if who == "ha" {
                    let ha = HaRun::start(&dir, &tag, &cfg);
                    let raw = client(fe, second_only);
                    std::thread::sleep(Duration::from_millis(300));
                    (raw, traffic_lines(&ha.proc.output()))
                } else {
                    let s = Sluice::run(&dir, &tag, &cfg);
                    let raw = client(fe, second_only);
                    std::thread::sleep(Duration::from_millis(300));
                    (raw, traffic_lines(&s.log()))
                };
                // Only the status of each logged request, with the
                // termination state.
                let logs: Vec<String> = logs
                    .iter()
                    .map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        let st = f
                            .iter()
                            .position(|w| w.contains("/s1") || w.contains("<NOSRV>"));
                        st.map_or(l.clone(), |p| {
                            format!(
                                "{} {}",
                                f.get(p + 2).unwrap_or(&""),
                                f.get(p + 6).unwrap_or(&"")
                            )
                        })
                    })
                    .collect();
                seen.push((status_lines(&raw), logs));
            }
            if seen[0] != seen[1] {
                differ.push(format!(
                    "reset={reset} first-request={second_only}: HAProxy {:?}, Sluice {:?}",
                    seen[0], seen[1]
                ));
            }
            if second_only {
                assert!(
                    seen[0].0.iter().any(|l| l.contains(" 502 ")),
                    "the reference answers 502 to a first request: {:?}",
                    seen[0]
                );
            } else {
                assert!(
                    seen[0].0.is_empty(),
                    "the reference answers nothing: {:?}",
                    seen[0]
                );
            }
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
}

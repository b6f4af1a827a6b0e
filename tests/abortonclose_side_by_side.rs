//! `option abortonclose` and `option http-ignore-probes`, side by side
//! with HAProxy 2.6.
//!
//! abortonclose: a server with `maxconn 1` is busy with a slow request; a
//! second request waits in the queue and its client closes (or
//! half-closes). With the option in `defaults` (HAProxy 2.6 needs it on
//! the frontend, whose H1 mux then keeps reading, and on the backend) the
//! queued request is given up (`CQ--`, nothing reaches the server, no
//! answer); on the backend only, or without it, it goes on and is served.
//!
//! http-ignore-probes: a connection that closes before its first byte, or
//! sends nothing until `timeout http-request`, is answered and logged
//! (`400 CR--`, `408 cR--`) without the option, silently closed with it;
//! `option dontlognull` answers them but keeps them out of the log.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// Answers `/slow` after 1.5s, anything else at once; counts `/b`.
fn server(seen_b: Arc<AtomicUsize>) -> impl Fn(TcpStream, usize) + Send + Sync + 'static {
    move |mut s: TcpStream, _| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let Some(req) = read_head(&mut s) else { return };
        if req.starts_with(b"GET /slow ") {
            std::thread::sleep(Duration::from_millis(1500));
        } else {
            seen_b.fetch_add(1, Ordering::SeqCst);
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    }
}

/// The slow request occupies the server; `/b` is queued behind it, and
/// its client closes 100ms later (half-closes when `half`). Returns what
/// the `/b` client read (empty when it closed fully).
fn queued_client(port: u16, half: bool) -> String {
    let slow = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
        c.write_all(b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    c.write_all(b"GET /b HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut out = Vec::new();
    if half {
        c.shutdown(Shutdown::Write).unwrap();
        let _ = c.read_to_end(&mut out);
    } else {
        drop(c);
    }
    slow.join().unwrap();
    String::from_utf8_lossy(&out)
        .split("\r\n")
        .next()
        .unwrap_or("")
        .to_string()
}

/// `be/srv status termination` of the httplog line of `/b` (or of
/// `<BADREQ>`), in order.
fn log_fields(lines: &[String], what: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(what))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.iter().position(|w| *w == "fe") {
                Some(i) => format!(
                    "{} {} {}",
                    f.get(i + 1).unwrap_or(&""),
                    f.get(i + 3).unwrap_or(&""),
                    f.get(i + 7).unwrap_or(&"")
                ),
                None => l.clone(),
            }
        })
        .collect()
}

#[test]
fn abortonclose_gives_up_a_queued_request_as_haproxy() {
    if !haproxy_or_skip("abortonclose_gives_up_a_queued_request_as_haproxy") {
        return;
    }
    let dir = TempDir::new("abortonclose");
    let seen_b = Arc::new(AtomicUsize::new(0));
    let srv = free_ports(1)[0];
    let _srv = TestServer::start(srv, server(seen_b.clone()));
    let mut differ = Vec::new();
    let mut reference = Vec::new();
    for (i, (place, half)) in [
        ("defaults", true),
        ("defaults", false),
        ("backend", true),
        ("none", false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut seen = Vec::new();
        for who in ["ha", "sluice"] {
            let fe = free_ports(1)[0];
            let tag = format!("aoc-{who}{i}");
            let (d, b) = match place {
                "defaults" => ("    option abortonclose\n", ""),
                "backend" => ("", "    option abortonclose\n"),
                _ => ("", ""),
            };
            let cfg = format!(
                "{}defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout queue 5s\n{d}\
                 frontend fe\n    bind 127.0.0.1:{fe}\n    default_backend be\n\
                 backend be\n{b}    server s1 127.0.0.1:{srv} maxconn 1\n",
                global_section(&dir.join(&format!("{tag}.sock")), "")
            );
            let before = seen_b.load(Ordering::SeqCst);
            let (got, logs) = if who == "ha" {
                let ha = HaRun::start(&dir, &tag, &cfg);
                let got = queued_client(fe, half);
                std::thread::sleep(Duration::from_millis(300));
                (got, traffic_lines(&ha.proc.output()))
            } else {
                let s = Sluice::run(&dir, &tag, &cfg);
                let got = queued_client(fe, half);
                std::thread::sleep(Duration::from_millis(300));
                (got, traffic_lines(&s.log()))
            };
            let served = seen_b.load(Ordering::SeqCst) - before;
            seen.push((got, log_fields(&logs, "GET /b "), served));
        }
        if seen[0] != seen[1] {
            differ.push(format!(
                "{place} half={half}: HAProxy {:?}, Sluice {:?}",
                seen[0], seen[1]
            ));
        }
        reference.push(seen.swap_remove(0));
    }
    // The reference itself: given up with the option in defaults, served
    // otherwise.
    assert_eq!(reference[0].1, vec!["be/<NOSRV> -1 CQ--".to_string()]);
    assert_eq!(reference[0].2, 0);
    assert_eq!(reference[2].2, 1);
    assert!(differ.is_empty(), "differences:\n{}", differ.join("\n"));
}

#[test]
fn http_ignore_probes_as_haproxy() {
    if !haproxy_or_skip("http_ignore_probes_as_haproxy") {
        return;
    }
    let dir = TempDir::new("probes");
    let srv = free_ports(1)[0];
    let mut differ = Vec::new();
    let opts = [
        "",
        "    option http-ignore-probes\n",
        "    option dontlognull\n",
    ];
    for (i, opt) in opts.into_iter().enumerate() {
        let mut seen = Vec::new();
        for who in ["ha", "sluice"] {
            let fe = free_ports(1)[0];
            let tag = format!("probe-{who}{i}");
            let cfg = format!(
                "{}defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout http-request 300ms\n\
                 frontend fe\n    bind 127.0.0.1:{fe}\n{opt}    default_backend be\n\
                 backend be\n    server s1 127.0.0.1:{srv}\n",
                global_section(&dir.join(&format!("{tag}.sock")), "")
            );
            let probe = || {
                let mut got = Vec::new();
                // Closed at once; nothing until the timeout; half-closed.
                drop(TcpStream::connect(("127.0.0.1", fe)).expect("connect"));
                std::thread::sleep(Duration::from_millis(50));
                for half in [false, true] {
                    let mut c = TcpStream::connect(("127.0.0.1", fe)).expect("connect");
                    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    if half {
                        c.shutdown(Shutdown::Write).unwrap();
                    }
                    let mut out = Vec::new();
                    let _ = c.read_to_end(&mut out);
                    let line = String::from_utf8_lossy(&out);
                    got.push(line.split("\r\n").next().unwrap_or("").to_string());
                }
                std::thread::sleep(Duration::from_millis(300));
                got
            };
            let (got, logs, stat) = if who == "ha" {
                let ha = HaRun::start(&dir, &tag, &cfg);
                let got = probe();
                let st = parse_stat(&ha.cli("show stat"));
                (got, traffic_lines(&ha.proc.output()), st)
            } else {
                let s = Sluice::run(&dir, &tag, &cfg);
                let got = probe();
                (got, traffic_lines(&s.log()), s.stats())
            };
            let fe_stat = &stat[&("fe".to_string(), "FRONTEND".to_string())];
            let counts = format!("ereq={} req_tot={}", fe_stat["ereq"], fe_stat["req_tot"]);
            let mut logs = log_fields(&logs, "<BADREQ>");
            logs.sort();
            seen.push((got, logs, counts));
        }
        if seen[0] != seen[1] {
            differ.push(format!(
                "option={opt:?}: HAProxy {:?}, Sluice {:?}",
                seen[0], seen[1]
            ));
        }
        // The reference answers the probes only without the option.
        assert_eq!(
            seen[0].0.iter().any(|l| l.starts_with("HTTP/1.1 408")),
            !opt.contains("ignore-probes"),
            "{:?}",
            seen[0]
        );
    }
    assert!(differ.is_empty(), "differences:\n{}", differ.join("\n"));
}

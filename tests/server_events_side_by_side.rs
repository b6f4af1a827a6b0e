//! `on-marked-down shutdown-sessions` and `on-marked-up
//! shutdown-backup-sessions`, side by side with HAProxy 2.6 fed the same
//! configuration: a long-lived TCP connection through a server whose
//! health check starts failing is closed (the client reads the end of the
//! stream), and one through the backup is closed when the server comes
//! back. The two log lines (server, bytes, termination state: `D-`, `U-`)
//! are compared.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// Sends `msg`, reads its echo back.
fn echo(c: &mut TcpStream, msg: &[u8]) {
    c.write_all(msg).expect("send");
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got).expect("echo");
    assert_eq!(got, msg);
}

/// Waits for the end of the stream on `c`: `Some(elapsed)` on a clean
/// EOF, `None` if it stays open for 3 s (or is reset).
fn closed_within(c: &mut TcpStream) -> Option<Duration> {
    let t0 = Instant::now();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut b = [0u8; 16];
    match c.read(&mut b) {
        Ok(0) => Some(t0.elapsed()),
        _ => None,
    }
}

/// `(server, bytes read, termination state)` of a `tcplog` line.
fn fields(line: &str) -> (String, String, String) {
    let f: Vec<&str> = line.split(' ').collect();
    // client [date] frontend backend/server Tw/Tc/Tt bytes state ...
    (f[3].to_string(), f[5].to_string(), f[6].to_string())
}

#[test]
fn marked_down_and_up_close_streams_side_by_side() {
    if !haproxy_or_skip("marked_down_and_up_close_streams_side_by_side") {
        return;
    }
    let dir = TempDir::new("server_events_side_by_side");
    let ports = free_ports(2);
    let _s1 = TestServer::start(ports[0], echo_handler);
    let _b1 = TestServer::start(ports[1], echo_handler);
    let mut got = Vec::new();
    for who in ["ha", "sluice"] {
        let p = free_ports(2);
        let (fe, chk) = (p[0], p[1]);
        let mut check = TestServer::start(chk, echo_handler);
        let cfg = format!(
            "{}defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
             listen app\n    bind 127.0.0.1:{fe}\n\
             \x20   server s1 127.0.0.1:{} check port {chk} inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions\n\
             \x20   server b1 127.0.0.1:{} backup\n",
            global_section(&dir.join(&format!("{who}.sock")), ""),
            ports[0],
            ports[1],
        );
        let output: Box<dyn Fn() -> String> = if who == "ha" {
            let ha = HaRun::start(&dir, who, &cfg);
            Box::new(move || ha.proc.output())
        } else {
            let s = Sluice::run(&dir, who, &cfg);
            Box::new(move || s.log())
        };
        // A first check passes.
        std::thread::sleep(Duration::from_millis(500));
        let mut c = TcpStream::connect(("127.0.0.1", fe)).expect("connect");
        echo(&mut c, b"hi");
        check.stop();
        let down = closed_within(&mut c);
        assert!(down.is_some(), "{who}: the stream on s1 outlived it");
        // s1 is down: a new connection goes to the backup.
        let mut b = TcpStream::connect(("127.0.0.1", fe)).expect("connect");
        echo(&mut b, b"yo");
        let _check = TestServer::start(chk, echo_handler);
        let up = closed_within(&mut b);
        assert!(up.is_some(), "{who}: the stream on b1 outlived s1's return");
        let lines = poll(Duration::from_secs(3), Duration::from_millis(20), || {
            let l = traffic_lines(&output());
            (l.len() >= 2).then_some(l)
        })
        .unwrap_or_else(|| panic!("{who}: two log lines expected:\n{}", output()));
        let f: Vec<_> = lines.iter().map(|l| fields(l)).collect();
        println!("{who}: {lines:?}");
        got.push(f);
    }
    assert_eq!(
        got[0],
        vec![
            ("app/s1".into(), "2".into(), "D-".into()),
            ("app/b1".into(), "2".into(), "U-".into())
        ],
        "HAProxy 2.6"
    );
    assert_eq!(got[1], got[0], "Sluice as HAProxy");
}

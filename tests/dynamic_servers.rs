//! Run-time server management on the stats socket, side by side with
//! HAProxy 2.6 fed the same configuration and the same commands: `add
//! server` (a server that starts in maintenance), `enable health`, `set
//! server ... state ready`, traffic reaching the new server (a real
//! listener counts the connections that carry data), its health checks
//! running, `del server` refused while a connection uses the server,
//! `show sess` and `shutdown session` cutting that live connection, then
//! `del server` accepted, `shutdown sessions server` cutting a connection
//! to a configured server; every answer of the deterministic commands is
//! compared byte for byte, and `show servers state` with the seconds
//! since the last change masked.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// A handler that counts the connections bringing data (health checks
/// bring none) and echoes everything.
fn counting_echo(count: Arc<AtomicUsize>) -> impl Fn(TcpStream, usize) + Send + Sync + 'static {
    move |mut s: TcpStream, _n: usize| {
        let mut buf = [0u8; 4096];
        let mut counted = false;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !counted {
                        counted = true;
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Opens a connection through the proxy and checks the echo.
fn through(port: u16, msg: &[u8]) -> TcpStream {
    let mut c = connect(port, Duration::from_secs(2));
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(msg).expect("send");
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got).expect("echo");
    assert_eq!(got, msg);
    c
}

/// `show servers state` lines with the seconds since the last change
/// (`srv_time_since_last_change`) masked.
fn masked_state(out: &str) -> String {
    out.lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(' ').collect();
            if f.len() > 9 && !l.starts_with('#') {
                f[9] = "T";
            }
            f.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What one proxy answered and did.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    /// (command, answer) of every deterministic command.
    answers: Vec<(String, String)>,
    /// Connections that reached s2 (which carried data).
    s2_hits: usize,
}

fn scenario(who: &str, dir: &TempDir, s1: u16, s2: u16, s2_hits: &AtomicUsize) -> Run {
    let fe = free_ports(1)[0];
    let cfg = format!(
        "{}defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n    default_backend be\n\
         backend be\n    balance roundrobin\n    server s1 127.0.0.1:{s1}\n\
         backend st\n    balance static-rr\n    server s1 127.0.0.1:{s1}\n",
        global_section(&dir.join(&format!("{who}.sock")), ""),
    );
    let cli: Box<dyn Fn(&str) -> String> = if who == "ha" {
        let ha = HaRun::start(dir, who, &cfg);
        Box::new(move |c| ha.cli(c))
    } else {
        let s = Sluice::run(dir, who, &cfg);
        Box::new(move |c| s.cli(c))
    };
    let answers = std::cell::RefCell::new(Vec::new());
    let ask = |c: &str| {
        let out = cli(c);
        answers.borrow_mut().push((c.to_string(), out.clone()));
        out
    };
    s2_hits.store(0, Ordering::SeqCst);
    // Bad input first.
    for c in [
        "add server nob/s2 127.0.0.1:1",
        "add server be",
        "add server be/s1 127.0.0.1:1",
        "add server st/s2 127.0.0.1:1",
        "add server be/s2 127.0.0.1:1 cookie c",
        "add server be/s2 127.0.0.1:1 weight 300",
        "del server be/nosuch",
        "del server nob/s1",
        "del server be/s1",
        "enable health be/nosuch",
        "show servers state nob",
    ] {
        ask(c);
    }
    // A new server with a check, in maintenance until told otherwise.
    ask(&format!(
        "add server be/s2 127.0.0.1:{s2} weight 2 check inter 200 rise 1 fall 1"
    ));
    ask("show backend");
    let state = cli("show servers state be");
    answers
        .borrow_mut()
        .push(("show servers state be".into(), masked_state(&state)));
    ask("enable health be/s2");
    ask("set server be/s2 state ready");
    // Its checks run: L4OK (the listener accepts).
    let checked = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let st = parse_stat(&cli("show stat"));
        let row = st.get(&("be".to_string(), "s2".to_string()))?;
        (row.get("check_status").map(String::as_str) == Some("L4OK")).then_some(())
    });
    assert!(checked.is_some(), "{who}: no passing check on s2");
    // Traffic: weight 2 against 1, so s2 gets 4 of 6 connections.
    for i in 0..6u8 {
        through(fe, &[b'a' + i]);
    }
    let hits = poll(Duration::from_secs(3), Duration::from_millis(20), || {
        let n = s2_hits.load(Ordering::SeqCst);
        (n >= 4).then_some(n)
    })
    .unwrap_or_else(|| s2_hits.load(Ordering::SeqCst));
    // Only s2 now: a long-lived connection lands on it.
    ask("set server be/s1 state maint");
    let mut live = through(fe, b"live");
    ask("set server be/s2 state maint");
    ask("del server be/s2");
    // `show sess` names it; `shutdown session` cuts it.
    let sess = cli("show sess");
    let line = sess
        .lines()
        .find(|l| l.contains(" srv=s2 "))
        .unwrap_or_else(|| panic!("{who}: no stream on s2 in show sess:\n{sess}"));
    assert!(line.contains(" fe=fe be=be srv=s2 "), "{who}: {line}");
    let ptr = line.split(':').next().unwrap().to_string();
    assert_eq!(cli(&format!("shutdown session {ptr}")), "\n", "{who}");
    let mut b = [0u8; 8];
    let cut = matches!(live.read(&mut b), Ok(0) | Err(_));
    assert!(cut, "{who}: the connection outlived shutdown session");
    // Once the stream is gone the server can go.
    let gone = poll(Duration::from_secs(3), Duration::from_millis(20), || {
        (cli("del server be/s2") == "Server deleted.\n").then_some(())
    });
    assert!(gone.is_some(), "{who}: s2 could not be deleted");
    ask("del server be/s2");
    ask("shutdown session 0x1");
    ask("shutdown session");
    ask("shutdown sessions server be/s2");
    let stat = cli("show stat");
    assert!(!stat.contains("\nbe,s2,"), "{who}: s2 still in show stat");
    // The name is free again.
    ask(&format!("add server be/s2 127.0.0.1:{s2}"));
    let state = cli("show servers state be");
    answers
        .borrow_mut()
        .push(("show servers state be (2)".into(), masked_state(&state)));
    // `shutdown sessions server` cuts the live connections of a server.
    ask("set server be/s1 state ready");
    let mut live = through(fe, b"on s1");
    ask("shutdown sessions server be/s1");
    let cut = matches!(live.read(&mut b), Ok(0) | Err(_));
    assert!(
        cut,
        "{who}: the connection outlived shutdown sessions server"
    );
    Run {
        answers: answers.into_inner(),
        s2_hits: hits,
    }
}

#[test]
fn add_enable_use_and_delete_a_server_side_by_side() {
    if !haproxy_or_skip("add_enable_use_and_delete_a_server_side_by_side") {
        return;
    }
    let dir = TempDir::new("dynamic_servers");
    let p = free_ports(2);
    let hits = Arc::new(AtomicUsize::new(0));
    let _s1 = TestServer::start(p[0], echo_handler);
    let _s2 = TestServer::start(p[1], counting_echo(hits.clone()));
    let ha = scenario("ha", &dir, p[0], p[1], &hits);
    let sl = scenario("sluice", &dir, p[0], p[1], &hits);
    assert_eq!(ha.s2_hits, 4, "haproxy: {ha:#?}");
    for (h, s) in ha.answers.iter().zip(&sl.answers) {
        assert_eq!(h, s, "the answers differ");
    }
    assert_eq!(ha, sl);
}

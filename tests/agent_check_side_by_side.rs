//! Agent checks side by side with HAProxy 2.6: each process polls a
//! scripted agent of its own (a tiny TCP server of the test that records
//! what it receives, counts its connections and answers what the case
//! says), then `show stat` (status, weights, maxconn, the agent's and the
//! health check's columns) and the spread of 12 connections over the two
//! servers must be the same.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// What the scripted agent does on each connection.
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// Writes these bytes, then closes.
    Line(&'static str),
    /// Holds the connection past `timeout check`, silent.
    Silent,
}

/// A scripted agent: its connections and what it received.
#[derive(Default)]
struct Agent {
    conns: AtomicUsize,
    received: Mutex<Vec<u8>>,
}

fn agent(reply: Reply, rec: Arc<Agent>) -> impl Fn(TcpStream, usize) + Send + Sync + 'static {
    move |mut s: TcpStream, _| {
        rec.conns.fetch_add(1, Ordering::SeqCst);
        // `agent-send` comes first: read it (a short wait; no more).
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        let mut buf = [0u8; 256];
        if let Ok(n) = s.read(&mut buf) {
            rec.received.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        match reply {
            Reply::Line(l) => {
                let _ = s.write_all(l.as_bytes());
            }
            Reply::Silent => std::thread::sleep(Duration::from_millis(900)),
        }
    }
}

/// A backend server that answers its name to any request.
fn named(name: &'static str) -> impl Fn(TcpStream, usize) + Send + Sync + 'static {
    move |mut s: TcpStream, _| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        let _ = s.write_all(name.as_bytes());
    }
}

/// Which server answered each of `n` connections through `fe`.
fn spread(fe: u16, n: usize) -> (usize, usize) {
    let mut got = (0, 0);
    for _ in 0..n {
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", fe)) else {
            continue;
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = c.write_all(b"x");
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        match out.as_str() {
            "s1" => got.0 += 1,
            "s2" => got.1 += 1,
            _ => {}
        }
    }
    got
}

const COLS: &[&str] = &[
    "status",
    "weight",
    "uweight",
    "slim",
    "check_status",
    "agent_status",
    "agent_code",
    "agent_desc",
    "last_agt",
    "agent_rise",
    "agent_fall",
    "agent_health",
];

/// The compared columns of `be/s1` and `be/s2`.
fn columns(csv: &str) -> Vec<String> {
    let stat = parse_stat(csv);
    let mut v = Vec::new();
    for sv in ["s1", "s2"] {
        let row = stat
            .get(&("be".to_string(), sv.to_string()))
            .unwrap_or_else(|| panic!("no be/{sv}:\n{csv}"));
        for c in COLS {
            // `* ` marks a check in flight at that instant: timing.
            let v0 = row.get(*c).cloned().unwrap_or_default();
            v.push(format!("{sv}.{c}={}", v0.trim_start_matches("* ")));
        }
    }
    v
}

#[test]
fn agent_check_side_by_side() {
    if !haproxy_or_skip("agent_check_side_by_side") {
        return;
    }
    let dir = TempDir::new("agent_check_side_by_side");
    let ports = free_ports(2);
    let _s1 = TestServer::start(ports[0], named("s1"));
    let _s2 = TestServer::start(ports[1], named("s2"));
    let cases: &[(&str, Reply)] = &[
        ("50%", Reply::Line("50%\n")),
        ("drain", Reply::Line("drain\n")),
        ("down", Reply::Line("down\n")),
        (
            "down with a description",
            Reply::Line("down # maintenance window\n"),
        ),
        ("up", Reply::Line("up\n")),
        ("maint", Reply::Line("maint\n")),
        ("ready", Reply::Line("ready\n")),
        ("maxconn:3", Reply::Line("maxconn:3\n")),
        ("several words", Reply::Line("75%, maxconn:10 ready UP\r\n")),
        ("0%", Reply::Line("0%\n")),
        ("garbage", Reply::Line("hello world\n")),
        ("weight garbage", Reply::Line("50%x up\n")),
        ("no reply, close", Reply::Line("")),
        ("incomplete line", Reply::Line("50%")),
        ("timeout", Reply::Silent),
    ];
    let mut differ = Vec::new();
    for (i, (name, reply)) in cases.iter().enumerate() {
        let p = free_ports(4);
        let (fe_ha, fe_sl, ag_ha, ag_sl) = (p[0], p[1], p[2], p[3]);
        let rec_ha = Arc::new(Agent::default());
        let rec_sl = Arc::new(Agent::default());
        let _a_ha = TestServer::start(ag_ha, agent(*reply, rec_ha.clone()));
        let _a_sl = TestServer::start(ag_sl, agent(*reply, rec_sl.clone()));
        let cfg = |tag: &str, fe: u16, ag: u16| {
            format!(
                "{}defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout check 500ms\n\
                 frontend fe\n    bind 127.0.0.1:{fe}\n    default_backend be\n\
                 backend be\n    balance roundrobin\n\
                 \x20   server s1 127.0.0.1:{} weight 100 check inter 300ms rise 1 fall 1 agent-check agent-port {ag} agent-inter 200ms agent-send \"hello\\n\"\n\
                 \x20   server s2 127.0.0.1:{} weight 100\n",
                global_section(&dir.join(&format!("{tag}.sock")), ""),
                ports[0],
                ports[1],
            )
        };
        let ha = HaRun::start(
            &dir,
            &format!("ha{i}"),
            &cfg(&format!("ha{i}"), fe_ha, ag_ha),
        );
        let sl = Sluice::run(
            &dir,
            &format!("sl{i}"),
            &cfg(&format!("sl{i}"), fe_sl, ag_sl),
        );
        // Several agent polls (every 200ms) and health checks (300ms).
        std::thread::sleep(Duration::from_millis(1600));
        let got_ha = columns(&ha.cli("show stat"));
        let got_sl = columns(&sl.cli("show stat"));
        let spread_ha = spread(fe_ha, 12);
        let spread_sl = spread(fe_sl, 12);
        let (n_ha, n_sl) = (
            rec_ha.conns.load(Ordering::SeqCst),
            rec_sl.conns.load(Ordering::SeqCst),
        );
        let (recv_ha, recv_sl) = (
            rec_ha.received.lock().unwrap().clone(),
            rec_sl.received.lock().unwrap().clone(),
        );
        println!(
            "{name}:\n  haproxy {got_ha:?} {spread_ha:?} agent conns {n_ha}\n  sluice  {got_sl:?} {spread_sl:?} agent conns {n_sl}"
        );
        // Every poll sends `agent-send`, as HAProxy's.
        assert!(n_ha > 0 && n_sl > 0, "{name}: the agents were polled");
        assert!(
            recv_sl.starts_with(b"hello\n") && recv_ha.starts_with(b"hello\n"),
            "{name}: {recv_ha:?} / {recv_sl:?}"
        );
        if got_ha != got_sl || spread_ha != spread_sl {
            differ.push(*name);
        }
    }
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy in: {differ:?}"
    );
}

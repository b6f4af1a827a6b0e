//! Health checks as real configurations write them, side by side with
//! HAProxy 2.6 fed the same file: a `tcp-check` script against a fake
//! Redis primary and replica (only the primary is up), `option
//! redis-check`, `check port` (Patroni's primary/replica check on another
//! port than the database's), `tcp-check connect port`. Each case compares
//! `show stat`'s `status`, `check_status` and `check_desc` of every server.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// A fake Redis: answers `PING`, `info replication` (with `role`) and
/// `QUIT` as Redis does.
fn redis(role: &'static str) -> impl Fn(TcpStream, usize) + Send + Sync + 'static {
    move |s: TcpStream, _| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut w = s.try_clone().expect("clone");
        let mut r = BufReader::new(s);
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 0) {
            let cmd = line.trim().to_ascii_lowercase();
            let reply = match cmd.as_str() {
                "ping" => "+PONG\r\n".to_string(),
                "info replication" => {
                    let body = format!("# Replication\r\nrole:{role}\r\nconnected_slaves:0\r\n");
                    format!("${}\r\n{body}\r\n", body.len())
                }
                "quit" => {
                    let _ = w.write_all(b"+OK\r\n");
                    return;
                }
                _ => "-ERR unknown command\r\n".to_string(),
            };
            if w.write_all(reply.as_bytes()).is_err() {
                return;
            }
            line.clear();
        }
    }
}

/// An HTTP endpoint answering `status` to every request (Patroni's REST
/// API: 200 on the primary's `/primary`, 503 on a replica's).
fn http(status: u16) -> impl Fn(TcpStream, usize) + Send + Sync + 'static {
    move |mut s: TcpStream, _| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 2048];
        let _ = std::io::Read::read(&mut s, &mut buf);
        let _ = write!(
            s,
            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
    }
}

/// A plain listener that accepts and holds connections (a database port).
fn hold(s: TcpStream, _: usize) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 64];
    let _ = std::io::Read::read(&mut &s, &mut buf);
}

struct Case {
    name: &'static str,
    /// Backend lines before the servers; `{P0}`.. are the servers' ports.
    backend: &'static str,
    /// Server lines; `{P0}`.. as above.
    servers: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "redis primary by tcp-check script",
        backend: "    mode tcp\n    option tcp-check\n    tcp-check connect\n    tcp-check send PING\\r\\n\n    tcp-check expect string +PONG\n    tcp-check send info\\ replication\\r\\n\n    tcp-check expect string role:master\n    tcp-check send QUIT\\r\\n\n    tcp-check expect string +OK\n",
        servers: "    server primary 127.0.0.1:{P0} check inter 300ms fall 1 rise 1\n    server replica 127.0.0.1:{P1} check inter 300ms fall 1 rise 1\n",
    },
    Case {
        name: "option redis-check",
        backend: "    mode tcp\n    option redis-check\n",
        servers: "    server primary 127.0.0.1:{P0} check inter 300ms fall 1 rise 1\n    server nothing 127.0.0.1:{P4} check inter 300ms fall 1 rise 1\n",
    },
    Case {
        name: "negated expect",
        backend: "    mode tcp\n    option tcp-check\n    tcp-check send info\\ replication\\r\\n\n    tcp-check expect ! string role:slave\n",
        servers: "    server primary 127.0.0.1:{P0} check inter 300ms fall 1 rise 1\n    server replica 127.0.0.1:{P1} check inter 300ms fall 1 rise 1\n",
    },
    Case {
        name: "patroni: httpchk on check port",
        backend: "    mode tcp\n    option httpchk OPTIONS /primary\n    http-check expect status 200\n",
        servers: "    server pg1 127.0.0.1:{P5} check port {P2} inter 300ms fall 1 rise 1\n    server pg2 127.0.0.1:{P5} check port {P3} inter 300ms fall 1 rise 1\n",
    },
    Case {
        name: "tcp-check connect port",
        backend: "    mode tcp\n    option tcp-check\n    tcp-check connect port {P0}\n    tcp-check send PING\\r\\n\n    tcp-check expect string +PONG\n",
        servers: "    server a 127.0.0.1:{P4} check inter 300ms fall 1 rise 1\n",
    },
];

fn fill(t: &str, ports: &[u16]) -> String {
    let mut s = t.to_string();
    for (i, p) in ports.iter().enumerate() {
        s = s.replace(&format!("{{P{i}}}"), &p.to_string());
    }
    s
}

/// `(server, status, check_status, check_desc)` of backend `be`, sorted.
fn states(stat_csv: &str) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = parse_stat(stat_csv)
        .into_iter()
        .filter(|((px, sv), _)| px == "be" && sv != "BACKEND")
        .map(|((_, sv), r)| {
            (
                sv,
                r.get("status").cloned().unwrap_or_default(),
                // `* ` marks a check in progress at that instant: timing,
                // not behaviour.
                r.get("check_status")
                    .map(|s| s.trim_start_matches("* ").to_string())
                    .unwrap_or_default(),
                r.get("check_desc").cloned().unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn health_checks_side_by_side() {
    if !haproxy_or_skip("health_checks_side_by_side") {
        return;
    }
    let dir = TempDir::new("checks_side_by_side");
    // P0 redis primary, P1 redis replica, P2 REST 200, P3 REST 503,
    // P4 nothing listening, P5 a database port that holds connections.
    let ports = free_ports(6);
    let _primary = TestServer::start(ports[0], redis("master"));
    let _replica = TestServer::start(ports[1], redis("slave"));
    let _rest_ok = TestServer::start(ports[2], http(200));
    let _rest_no = TestServer::start(ports[3], http(503));
    let _db = TestServer::start(ports[5], hold);
    let mut differ = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let fe_ports = free_ports(2);
        let mut got = Vec::new();
        for (who, fe) in [("ha", fe_ports[0]), ("sluice", fe_ports[1])] {
            let tag = format!("{who}{i}");
            let cfg = format!(
                "{}defaults\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout check 1s\n\
                 frontend fe\n    mode tcp\n    bind 127.0.0.1:{fe}\n    default_backend be\n\
                 backend be\n{}{}",
                global_section(&dir.join(&format!("{tag}.sock")), ""),
                fill(case.backend, &ports),
                fill(case.servers, &ports)
            );
            // Enough checks for every server to settle (inter 300ms, fall/rise 1).
            let st = if who == "ha" {
                let ha = HaRun::start(&dir, &tag, &cfg);
                std::thread::sleep(Duration::from_millis(1500));
                states(&ha.cli("show stat"))
            } else {
                let s = Sluice::run(&dir, &tag, &cfg);
                std::thread::sleep(Duration::from_millis(1500));
                states(&s.cli("show stat"))
            };
            got.push(st);
        }
        println!(
            "{}:\n  haproxy {:?}\n  sluice  {:?}",
            case.name, got[0], got[1]
        );
        if got[0] != got[1] {
            differ.push(case.name);
        }
    }
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy in: {differ:?}"
    );
}

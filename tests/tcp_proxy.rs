//! Black-box tests of TCP mode through the `proxy-mio` binary, real
//! sockets and small servers written here (std threads): large transfers
//! checked by hash (with and without splicing), 1000 concurrent
//! connections, servers going down and up under load, `maxconn` queues,
//! connection rate limiting, the PROXY protocol both ways, and the tcplog
//! line with its termination states. Where it is cheap, the same scenario
//! runs through a real HAProxy 2.6 and both must agree.
//!
//! Each test has its own ports, temporary directory and processes (killed
//! by their guards, also on panic), polls with deadlines rather than
//! sleeping, and ends by checking that the proxy drained (`CurrConns` 0,
//! every `scur` 0).

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use common::*;

const SEC: Duration = Duration::from_secs(1);

/// `defaults` for TCP mode with the tcplog format.
fn tcp_defaults(extra: &str) -> String {
    format!(
        "defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n{extra}\n"
    )
}

/// The fields of a tcplog line:
/// `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`.
#[derive(Debug)]
#[allow(dead_code)]
struct TcpLog {
    client: String,
    date: String,
    frontend: String,
    backend: String,
    server: String,
    tw: i64,
    tc: i64,
    tt: i64,
    bytes: u64,
    term: String,
    conns: Vec<String>,
    queues: Vec<String>,
}

fn parse_tcplog(line: &str) -> TcpLog {
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 9, "a tcplog line has 9 fields: {line}");
    let (backend, server) = f[3].split_once('/').expect("b/s");
    let t: Vec<i64> = f[4].split('/').map(|x| x.parse().expect("timer")).collect();
    assert_eq!(t.len(), 3, "Tw/Tc/Tt: {line}");
    TcpLog {
        client: f[0].to_string(),
        date: f[1].to_string(),
        frontend: f[2].to_string(),
        backend: backend.to_string(),
        server: server.to_string(),
        tw: t[0],
        tc: t[1],
        tt: t[2],
        bytes: f[5].parse().expect("bytes"),
        term: f[6].to_string(),
        conns: f[7].split('/').map(String::from).collect(),
        queues: f[8].split('/').map(String::from).collect(),
    }
}

/// Regression: the driver treated a short read as "nothing more to read"
/// even when the poller had already reported the peer's shutdown, so a FIN
/// that arrived together with the last bytes was never read (no new edge
/// comes for it) and the connection hung half-closed forever.
#[test]
fn data_and_fin_arriving_together_are_never_lost() {
    let dir = TempDir::new("datafin");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    // The server answers only once the client is done, with its data and
    // FIN back to back.
    let _srv = TestServer::start(be, |mut s, _| {
        let mut got = Vec::new();
        if s.read_to_end(&mut got).is_ok() {
            got.reverse();
            let _ = s.write_all(&got);
        }
    });
    let sock = dir.join("p.sock");
    let cfg = format!(
        "{}{}listen df\n    bind 127.0.0.1:{fe}\n    server s1 127.0.0.1:{be}\n",
        global_section(&sock, ""),
        tcp_defaults("")
    );
    let p = Sluice::run(&dir, "p", &cfg);
    for i in 0..200 {
        let mut c = connect(fe, 2 * SEC);
        c.write_all(format!("abc{i}").as_bytes()).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let (got, closed) = read_to_close(&mut c);
        let want: String = format!("abc{i}").chars().rev().collect();
        assert_eq!(
            (String::from_utf8_lossy(&got).to_string(), closed),
            (want, Closed::Fin),
            "exchange {i}"
        );
    }
    let lines = p.wait_traffic(200);
    assert!(lines.iter().all(|l| parse_tcplog(l).term == "--"));
    p.assert_drained(5 * SEC);
}


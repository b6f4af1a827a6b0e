//! `observe layer4|layer7` with `error-limit` and `on-error` (HAProxy's
//! health analysis: live traffic counts as health checks), side by side
//! with HAProxy 2.6 fed the same configuration. The same requests go
//! through both; the servers' `status`, `hanafail` and (once the analysis
//! acted) `check_status` in `show stat`, and the DOWN log lines, must be
//! the same.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// A server that answers with the status its path names (`/500`), 200
/// otherwise.
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
    let status = if req.starts_with(b"GET /500 ") {
        "500 Internal Server Error"
    } else if req.starts_with(b"GET /501 ") {
        "501 Not Implemented"
    } else {
        "200 OK"
    };
    let _ = s.write_all(
        format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").as_bytes(),
    );
}

/// Reads something of a running proxy (`show stat`, its output).
type Getter<'a> = Box<dyn Fn() -> String + 'a>;

/// One listen per case: its name, its server options, the paths sent.
const CASES: &[(&str, &str, &[&str])] = &[
    // Two wrong statuses in a row: marked down at once.
    (
        "markdown",
        "check inter 60s observe layer7 error-limit 2 on-error mark-down",
        &["/500", "/500"],
    ),
    // A good status in between clears the count: still up.
    (
        "cleared",
        "check inter 60s observe layer7 error-limit 2 on-error mark-down",
        &["/500", "/", "/500"],
    ),
    // 501 is the client's doing, not a server error.
    (
        "st501",
        "check inter 60s observe layer7 error-limit 2 on-error mark-down",
        &["/501", "/501", "/501"],
    ),
    // `fastinter` only counts (and hastens the next check).
    (
        "fastinter",
        "check inter 60s observe layer7 error-limit 2 on-error fastinter",
        &["/500", "/500", "/500"],
    ),
    // Layer 4 does not look at statuses.
    (
        "layer4",
        "check inter 60s observe layer4 error-limit 1 on-error mark-down",
        &["/500", "/500"],
    ),
    // Without `observe`: nothing.
    ("none", "check inter 60s", &["/500", "/500", "/500"]),
];

/// Layer 4 errors: connections refused by a closed port, on a server
/// without a check: HAProxy's analysis does nothing then (not even count).
const L4_DEAD: &str = "observe layer4 error-limit 2 on-error mark-down";

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or_default().to_string()
}

#[test]
fn observe_marks_servers_as_haproxy() {
    if !haproxy_or_skip("observe_marks_servers_as_haproxy") {
        return;
    }
    let dir = TempDir::new("observe");
    let ports = free_ports(2);
    let _srv = TestServer::start(ports[0], server);
    let dead = ports[1];
    let mut got = Vec::new();
    for who in ["ha", "sluice"] {
        let fe = free_ports(CASES.len() + 1);
        let mut cfg = global_section(&dir.join(&format!("{who}.sock")), "");
        cfg += "defaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n";
        for (i, (name, opts, _)) in CASES.iter().enumerate() {
            cfg += &format!(
                "listen {name}\n    bind 127.0.0.1:{}\n    server s1 127.0.0.1:{} {opts}\n",
                fe[i], ports[0]
            );
        }
        cfg += &format!(
            "listen l4dead\n    bind 127.0.0.1:{}\n    retries 0\n    server s1 127.0.0.1:{dead} {L4_DEAD}\n",
            fe[CASES.len()]
        );
        let ha;
        let sl;
        let (stat, out): (Getter, Getter);
        if who == "ha" {
            ha = HaRun::start(&dir, who, &cfg);
            stat = Box::new(|| ha.cli("show stat"));
            out = Box::new(|| ha.proc.output());
        } else {
            sl = Sluice::run(&dir, who, &cfg);
            stat = Box::new(|| sl.cli("show stat"));
            out = Box::new(|| sl.proc.output());
        }
        let mut statuses = Vec::new();
        for (i, (_, _, paths)) in CASES.iter().enumerate() {
            for p in *paths {
                statuses.push(get(fe[i], p));
            }
        }
        for _ in 0..3 {
            statuses.push(get(fe[CASES.len()], "/"));
        }
        let rows = parse_stat(&stat());
        let mut seen = Vec::new();
        for name in CASES.iter().map(|c| c.0).chain(["l4dead"]) {
            let r = &rows[&(name.to_string(), "s1".to_string())];
            let acted = r["hanafail"] != "0" && !r["hanafail"].is_empty();
            // `UP 1/3` or `UP 2/3`: whether the first check ran yet is a
            // matter of timing, as is its status unless the analysis
            // took the server down.
            let status = r["status"].split(' ').next().unwrap_or_default();
            seen.push(format!(
                "{name}: status={status} hanafail={} check_status={}",
                r["hanafail"],
                if acted && status == "DOWN" {
                    r["check_status"].as_str()
                } else {
                    "-"
                }
            ));
        }
        let down: Vec<String> = log_lines(&out())
            .into_iter()
            .filter(|l| l.contains(" is DOWN"))
            .map(|l| mask_digits(&l))
            .collect();
        got.push((statuses, seen, down));
    }
    let (ha, sl) = (&got[0], &got[1]);
    assert_eq!(ha.0, sl.0, "statuses the clients saw");
    assert_eq!(ha.1, sl.1, "show stat");
    assert_eq!(ha.2, sl.2, "DOWN log lines");
    // What HAProxy did, so that a change on its side shows.
    assert!(
        ha.1[0].starts_with("markdown: status=DOWN hanafail=1 check_status=HANA"),
        "{:?}",
        ha.1
    );
    assert!(
        ha.1[1].starts_with("cleared: status=UP hanafail=0"),
        "{:?}",
        ha.1
    );
    assert!(
        ha.1[3].starts_with("fastinter: status=UP hanafail=1"),
        "{:?}",
        ha.1
    );
    assert!(ha.2.iter().any(|l| l.contains("Server markdown/s9 is DOWN, reason: Health analyze, info: \"Detected 9 consecutive errors, last one was: Wrong http response\"")), "{:?}", ha.2);
}

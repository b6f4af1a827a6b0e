//! `log-forward` and `ring` sections next to HAProxy 2.6: the same
//! syslog messages go to a UDP receiver of each; a ring in rfc5424 relays
//! them over TCP (LF-ended, as HAProxy's default `log-proto legacy`) to a
//! TCP receiver of the same process. What each `log` target receives must
//! be the same bytes, dates of "now" masked (`docs/logging.md`).

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::Duration;

use common::*;

const MESSAGES: [&str; 5] = [
    // HAProxy's own rfc3164 line: its `TAG[PID]:` is taken as the host.
    "<134>Dec  7 20:59:01 haproxy[12]: 127.0.0.1:5 [x] fe be/s1 \"GET / HTTP/1.1\"",
    "<13>1 2026-12-07T21:00:01.123+01:00 h tag 99 ID47 [ex@1 a=\"b\"] msg here",
    "plain text without a priority",
    "<30>Jan  2 03:04:05 host app[77]: hello",
    "<15>1 - - - - - - debug only",
];

fn config(tag: &str, dir: &TempDir, udp: u16, tcp: u16, rx: &[u16]) -> String {
    format!(
        "global\n    stats socket {} mode 600 level admin\n\
         ring r\n    format rfc5424\n    maxlen 1200\n    size 32764\n    timeout connect 1s\n    timeout server 2s\n    server s 127.0.0.1:{tcp}\n\
         log-forward udpin\n    dgram-bind 127.0.0.1:{udp}\n    log 127.0.0.1:{} local1\n    log 127.0.0.1:{} format rfc3164 local1\n    log 127.0.0.1:{} format raw local1 notice\n    log ring@r local2\n\
         log-forward tcpin\n    bind 127.0.0.1:{tcp}\n    maxconn 5\n    timeout client 5s\n    log 127.0.0.1:{} format rfc3164 local3\n",
        dir.join(&format!("{tag}.sock")).display(),
        rx[0],
        rx[1],
        rx[2],
        rx[3],
    )
}

/// What each receiver got, in order, digits masked (dates of "now"
/// differ between runs; the shape of every date stays).
fn run(who: &str, dir: &TempDir) -> BTreeMap<usize, Vec<String>> {
    let p = free_ports(2);
    let rxs: Vec<UdpSocket> = (0..4)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(1500)))
                .unwrap();
            s
        })
        .collect();
    let ports: Vec<u16> = rxs.iter().map(|s| s.local_addr().unwrap().port()).collect();
    let cfg = config(who, dir, p[0], p[1], &ports);
    let _proc: Box<dyn std::any::Any> = if who == "ha" {
        Box::new(HaRun::start(dir, who, &cfg))
    } else {
        Box::new(Sluice::run(dir, who, &cfg))
    };
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    // The ring's server connection may still be opening: the ring keeps
    // what comes before.
    for m in MESSAGES {
        tx.send_to(m.as_bytes(), ("127.0.0.1", p[0])).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut got = BTreeMap::new();
    for (i, rx) in rxs.iter().enumerate() {
        // Until the receiver stays quiet: a line too many shows too.
        let mut lines = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = rx.recv(&mut buf) {
            lines.push(mask_digits(&String::from_utf8_lossy(&buf[..n])));
        }
        got.insert(i, lines);
    }
    got
}

#[test]
fn log_forward_side_by_side() {
    if !haproxy_or_skip("log_forward_side_by_side") {
        return;
    }
    let dir = TempDir::new("log_forward");
    let ha = run("ha", &dir);
    let sluice = run("sluice", &dir);
    for (i, lines) in &ha {
        println!(
            "receiver {i}:\n  haproxy {lines:#?}\n  sluice  {:#?}",
            sluice[i]
        );
    }
    assert_eq!(sluice, ha);
    // The relay through the ring and the TCP receiver happened.
    assert_eq!(sluice[&3].len(), 5, "{:?}", sluice[&3]);
    assert_eq!(sluice[&2].len(), 2, "{:?}", sluice[&2]);
}

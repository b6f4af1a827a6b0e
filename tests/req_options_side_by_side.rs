//! Options that change what servers receive, side by side with HAProxy
//! 2.6 fed the same configuration: `option originalto` (the destination
//! address in `X-Original-To`, or the header named, unless in the `except`
//! network) and `option http-restrict-req-hdr-names` (a header whose name
//! has a character outside `[a-zA-Z0-9-]` is removed, or the request is
//! denied with a 403). For each case the same request goes through both
//! proxies; the status the client got and the `x-`/`x_`/`x.` headers the
//! server received (names lowered) must be the same.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

struct Case {
    name: &'static str,
    /// The options of the listen section (`{FE}`: nothing else needed).
    opts: &'static str,
    /// The request's extra header lines.
    headers: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "originalto adds X-Original-To",
        opts: "    option originalto\n",
        headers: "",
    },
    Case {
        name: "originalto with a header name",
        opts: "    option originalto header X-Dst\n",
        headers: "",
    },
    Case {
        name: "originalto except the destination network",
        opts: "    option originalto except 127.0.0.0/8\n",
        headers: "",
    },
    Case {
        name: "originalto except another network",
        opts: "    option originalto except 10.0.0.0/8 header X-Dst\n",
        headers: "",
    },
    Case {
        name: "originalto appends to a header the client sent",
        opts: "    option originalto\n",
        headers: "X-Original-To: 192.0.2.1\r\n",
    },
    Case {
        name: "restrict delete removes bad names",
        opts: "    option http-restrict-req-hdr-names delete\n",
        headers: "x_under: 1\r\nx.dot: 2\r\nx-good: 3\r\nX-Caps-9: 4\r\n",
    },
    Case {
        name: "restrict reject denies with 403",
        opts: "    option http-restrict-req-hdr-names reject\n",
        headers: "x-good: 3\r\nx_under: 1\r\n",
    },
    Case {
        name: "restrict reject lets good names through",
        opts: "    option http-restrict-req-hdr-names reject\n",
        headers: "x-good: 3\r\n",
    },
    Case {
        name: "restrict preserve forwards all",
        opts: "    option http-restrict-req-hdr-names delete\n    option http-restrict-req-hdr-names preserve\n",
        headers: "x_under: 1\r\nx-good: 3\r\n",
    },
    Case {
        name: "restrict delete runs after http-request rules",
        opts: "    option http-restrict-req-hdr-names delete\n    http-request set-header x_rule 1\n    http-request set-header x-copy %[req.hdr(x_under)]\n",
        headers: "x_under: 7\r\n",
    },
];

/// A server that records the `x-`, `x_` and `x.` header lines of each
/// request (names lowered) and answers 200.
fn server(seen: Arc<Mutex<Vec<Vec<String>>>>) -> impl Fn(TcpStream, usize) + Send + Sync {
    move |mut s: TcpStream, _| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&req).into_owned();
        let mut hdrs: Vec<String> = head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| format!("{}: {}", k.to_ascii_lowercase(), v.trim()))
            .filter(|l| l.starts_with("x"))
            .collect();
        hdrs.sort();
        seen.lock().unwrap().push(hdrs);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    }
}

#[test]
fn request_options_as_haproxy() {
    if !haproxy_or_skip("request_options_as_haproxy") {
        return;
    }
    let dir = TempDir::new("reqopts");
    let port = free_ports(1)[0];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let _srv = TestServer::start(port, server(Arc::clone(&seen)));
    let mut differ = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let mut got = Vec::new();
        for who in ["ha", "sluice"] {
            let fe = free_ports(1)[0];
            let tag = format!("{who}{i}");
            let cfg = format!(
                "{}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
                 listen li\n    bind 127.0.0.1:{fe}\n{}    server s1 127.0.0.1:{port}\n",
                global_section(&dir.join(&format!("{tag}.sock")), ""),
                case.opts
            );
            seen.lock().unwrap().clear();
            let status = {
                let _p: Box<dyn std::any::Any> = if who == "ha" {
                    Box::new(HaRun::start(&dir, &tag, &cfg))
                } else {
                    Box::new(Sluice::run(&dir, &tag, &cfg))
                };
                let mut s = TcpStream::connect(("127.0.0.1", fe)).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.write_all(
                    format!(
                        "GET / HTTP/1.1\r\nhost: t\r\n{}connection: close\r\n\r\n",
                        case.headers
                    )
                    .as_bytes(),
                )
                .unwrap();
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                out.lines().next().unwrap_or_default().to_string()
            };
            let hdrs = seen.lock().unwrap().clone();
            got.push((status, hdrs));
        }
        if got[0] != got[1] {
            differ.push(format!(
                "{}:\n    haproxy {:?}\n    sluice  {:?}",
                case.name, got[0], got[1]
            ));
        }
        // What HAProxy did, so that a vacuous pass shows.
        if case.name == "originalto adds X-Original-To" {
            assert_eq!(got[0].1, vec![vec!["x-original-to: 127.0.0.1".to_string()]]);
        }
        if case.name == "restrict reject denies with 403" {
            assert!(got[0].0.contains(" 403 "), "{:?}", got[0]);
            assert!(got[0].1.is_empty(), "{:?}", got[0]);
        }
    }
    assert!(differ.is_empty(), "differences:\n{}", differ.join("\n"));
}

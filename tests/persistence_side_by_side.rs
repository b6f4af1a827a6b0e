//! Cookie persistence side by side with HAProxy 2.6 fed the same
//! configuration: for each case, the same requests go through both; the
//! server that answers, the response head as the client gets it (header
//! names compared without case, values byte for byte: `Set-Cookie`,
//! `Cache-control`), the `Cookie` header the server received, and the
//! server and termination state (`%tsc`, its cookie characters) of the
//! log line must be the same.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// A server that answers every request with its name and the `Cookie`
/// header it received in the body, and `extra` header lines (a server's
/// own `Set-Cookie`, `Cache-Control`).
fn named(name: &'static str, extra: &'static str) -> impl Fn(TcpStream, usize) + Send + Sync {
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
        let text = String::from_utf8_lossy(&req);
        let cookie = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("cookie")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| "-".into());
        let body = format!("{name} cookie=[{cookie}]");
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// One request: method, path, `Cookie` header.
type Req = (&'static str, &'static str, Option<&'static str>);

struct Case {
    name: &'static str,
    /// Backend lines; `{S1}` `{S2}` `{S3}` are the servers' ports.
    backend: &'static str,
    reqs: &'static [Req],
}

const SERVERS: &str =
    "    server s1 127.0.0.1:{S1} cookie c1\n    server s2 127.0.0.1:{S2} cookie c2\n";

const CASES: &[Case] = &[
    Case {
        name: "insert indirect nocache",
        backend: "    balance first\n    cookie SRV insert indirect nocache\n{SERVERS}",
        reqs: &[
            ("GET", "/", None),
            ("GET", "/", Some("SRV=c2")),
            ("GET", "/", Some("a=1; SRV=c2; b=2")),
            ("GET", "/", Some("a=1;SRV=c2")),
            ("GET", "/", Some("SRV=c2; a = 1")),
            ("GET", "/", Some("SRV=nope")),
            ("GET", "/", Some("SRV=")),
            ("POST", "/", None),
        ],
    },
    Case {
        name: "insert with attributes, a cacheable response",
        backend: "    balance first\n    cookie SRV insert indirect nocache httponly secure domain .example.com domain .example.org attr SameSite=Strict\n    server s1 127.0.0.1:{S3} cookie c1\n    server s2 127.0.0.1:{S2} cookie c2\n",
        reqs: &[("GET", "/", None), ("HEAD", "/", None), ("GET", "/", Some("SRV=c2"))],
    },
    Case {
        name: "insert without indirect, preserve",
        backend: "    balance first\n    cookie SRV insert preserve\n{SERVERS}",
        reqs: &[("GET", "/", None), ("GET", "/", Some("SRV=c2; x=y"))],
    },
    Case {
        name: "a disabled server's cookie redispatches",
        backend: "    balance first\n    option redispatch\n    cookie SRV insert indirect nocache\n    server s1 127.0.0.1:{S1} cookie c1\n    server s2 127.0.0.1:{S2} cookie c2 disabled\n",
        reqs: &[("GET", "/", Some("SRV=c2")), ("GET", "/", Some("SRV=c1"))],
    },
    Case {
        name: "option persist keeps a disabled server",
        backend: "    balance first\n    option persist\n    cookie SRV insert indirect\n    server s1 127.0.0.1:{S1} cookie c1\n    server s2 127.0.0.1:{S2} cookie c2 disabled\n",
        reqs: &[("GET", "/", Some("SRV=c2"))],
    },
    Case {
        name: "force-persist and ignore-persist",
        backend: "    balance first\n    cookie SRV insert indirect\n    force-persist if { path_beg /force }\n    ignore-persist if { path_beg /static }\n    server s1 127.0.0.1:{S1} cookie c1\n    server s2 127.0.0.1:{S2} cookie c2 disabled\n",
        reqs: &[
            ("GET", "/force", Some("SRV=c2")),
            ("GET", "/static", Some("SRV=c2")),
            ("GET", "/", Some("SRV=c2")),
        ],
    },
    Case {
        name: "use-server wins over the cookie",
        backend: "    balance first\n    cookie SRV insert indirect\n    use-server s2 if { path_beg /two }\n{SERVERS}",
        reqs: &[("GET", "/two", Some("SRV=c1")), ("GET", "/two", None)],
    },
    Case {
        name: "postonly",
        backend: "    balance first\n    cookie SRV insert postonly\n{SERVERS}",
        reqs: &[("GET", "/", None), ("POST", "/", None)],
    },
    Case {
        name: "rewrite",
        backend: "    balance first\n    cookie SRV rewrite\n    server s1 127.0.0.1:{S4} cookie c1\n    server s2 127.0.0.1:{S2} cookie c2\n",
        reqs: &[("GET", "/", None), ("GET", "/", Some("SRV=c2"))],
    },
    Case {
        name: "prefix",
        backend: "    balance first\n    cookie JSESSIONID prefix\n    server s1 127.0.0.1:{S5} cookie c1\n    server s2 127.0.0.1:{S2} cookie c2\n",
        reqs: &[
            ("GET", "/", None),
            ("GET", "/", Some("JSESSIONID=c2~xyz; a=b")),
            ("GET", "/", Some("JSESSIONID=abc")),
        ],
    },
    Case {
        name: "passive cookie",
        backend: "    balance first\n    cookie SRV\n{SERVERS}",
        reqs: &[("GET", "/", Some("SRV=c2"))],
    },
];

/// What one request showed: the response head (names lowered) and body,
/// then the log's `be/server` and `%tsc`.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    head: Vec<(String, String)>,
    body: String,
}

fn request(port: u16, (meth, path, cookie): &Req) -> Seen {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!("{meth} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("cookie: {c}\r\n"));
    }
    if *meth == "POST" {
        req.push_str("content-length: 0\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let mut out = vec![("status".to_string(), lines.next().unwrap_or("").to_string())];
    for l in lines {
        let (k, v) = l.split_once(':').unwrap_or((l, ""));
        let k = k.to_ascii_lowercase();
        // The connection mode's own header is HAProxy's H1 mux's business.
        if k == "connection" {
            continue;
        }
        out.push((k, v.trim_start().to_string()));
    }
    Seen {
        head: out,
        body: body.to_string(),
    }
}

/// `be/server` and `%tsc` of an httplog line.
fn log_fields(line: &str) -> (String, String) {
    let w: Vec<&str> = line.split_whitespace().collect();
    (
        w.get(3).copied().unwrap_or("").to_string(),
        w.get(9).copied().unwrap_or("").to_string(),
    )
}

fn fill(t: &str, ports: &[u16]) -> String {
    let mut s = t.replace("{SERVERS}", SERVERS);
    for (i, p) in ports.iter().enumerate() {
        s = s.replace(&format!("{{S{}}}", i + 1), &p.to_string());
    }
    s
}

#[test]
fn cookie_persistence_side_by_side() {
    if !haproxy_or_skip("cookie_persistence_side_by_side") {
        return;
    }
    let dir = TempDir::new("persistence_side_by_side");
    let ports = free_ports(5);
    let _s1 = TestServer::start(ports[0], named("s1", ""));
    let _s2 = TestServer::start(ports[1], named("s2", ""));
    let _s3 = TestServer::start(ports[2], named("s1", "Cache-Control: max-age=10\r\n"));
    let _s4 = TestServer::start(ports[3], named("s1", "Set-Cookie: SRV=app; path=/\r\n"));
    let _s5 = TestServer::start(
        ports[4],
        named("s1", "Set-Cookie: JSESSIONID=abc; path=/\r\n"),
    );
    let mut differ = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let fe_ports = free_ports(2);
        let mut got = Vec::new();
        for (who, fe) in [("ha", fe_ports[0]), ("sluice", fe_ports[1])] {
            let tag = format!("{who}{i}");
            let cfg = format!(
                "{}defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
                 frontend fe\n    bind 127.0.0.1:{fe}\n    default_backend be\n\
                 backend be\n{}",
                global_section(&dir.join(&format!("{tag}.sock")), ""),
                fill(case.backend, &ports),
            );
            let mut seen = Vec::new();
            let logs = if who == "ha" {
                let ha = HaRun::start(&dir, &tag, &cfg);
                for r in case.reqs {
                    seen.push(request(fe, r));
                }
                let lines = poll(Duration::from_secs(5), Duration::from_millis(10), || {
                    let l = traffic_lines(&ha.proc.output());
                    (l.len() >= case.reqs.len()).then_some(l)
                });
                lines.unwrap_or_else(|| traffic_lines(&ha.proc.output()))
            } else {
                let s = Sluice::run(&dir, &tag, &cfg);
                for r in case.reqs {
                    seen.push(request(fe, r));
                }
                s.wait_traffic(case.reqs.len())
            };
            // One line per request, in the order the streams ended (not
            // always the order of the requests in HAProxy): sorted.
            let mut logs: Vec<_> = logs.iter().map(|l| log_fields(l)).collect();
            logs.sort();
            got.push((seen, logs));
        }
        println!("{}:", case.name);
        for (k, r) in case.reqs.iter().enumerate() {
            println!("  {r:?}");
            println!("    haproxy {:?} {:?}", got[0].0[k], got[0].1.get(k));
            println!("    sluice  {:?} {:?}", got[1].0[k], got[1].1.get(k));
        }
        if got[0] != got[1] {
            differ.push(case.name);
        }
    }
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy in: {differ:?}"
    );
}

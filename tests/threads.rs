//! `nbthread` (docs/threads.md), black box through `proxy-mio`: a stateless
//! HTTP configuration runs on two threads (one engine each) and every
//! request is answered, by both threads; `show info` says `Nbthread: 2`;
//! HAProxy 2.6 fed the same configuration agrees on the `thread` fetch;
//! health checks run once and every thread follows them; a server
//! `maxconn` holds across threads; a `maxqueue` keeps one thread and says
//! why; soft stop ends every thread; `show stat`/`show info` add up
//! every thread's counters and admin commands act on every thread;
//! `cpu-map` pins them.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const CLIENTS: usize = 16;
const PER_CLIENT: usize = 40;

/// A stateless HTTP frontend answering with the thread that ran the
/// request, logging it too.
fn stateless(sock: &std::path::Path, port: u16, extra_global: &str) -> String {
    format!(
        "{}\
defaults
    mode http
    log global
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:{port}
    log-format \"%ci:%cp thread=%[thread] %ST\"
    http-request return status 200 content-type text/plain lf-string \"thread=%[thread]\"
",
        global_section(sock, extra_global)
    )
}

/// `nbthread 2`, a frontend `fe` (its extra lines `fe_lines`) on `fe_port`
/// and a backend `be` with one server `s1` on `srv_port` (`srv_opts` after it).
fn fe_be(
    sock: &std::path::Path,
    fe_port: u16,
    fe_lines: &str,
    srv_port: u16,
    srv_opts: &str,
) -> String {
    format!(
        "{}\
defaults
    mode http
    log global
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:{fe_port}
{fe_lines}    default_backend be
backend be
    server s1 127.0.0.1:{srv_port} {srv_opts}
",
        global_section(sock, "    nbthread 2")
    )
}

/// One request on a fresh connection; the body of the answer.
fn one_request(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if !out.starts_with("HTTP/1.1 200") {
        return Err(format!("not a 200: {out:?}"));
    }
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

/// `CLIENTS` concurrent clients, `PER_CLIENT` connections each: how many
/// answers each body got, and the failures.
fn load(port: u16) -> (BTreeMap<String, usize>, Vec<String>) {
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                (0..PER_CLIENT)
                    .map(|_| one_request(port))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut bodies = BTreeMap::new();
    let mut errors = Vec::new();
    for h in handles {
        for r in h.join().expect("client thread") {
            match r {
                Ok(b) => *bodies.entry(b).or_insert(0) += 1,
                Err(e) => errors.push(e),
            }
        }
    }
    (bodies, errors)
}

#[test]
fn nbthread_2_answers_every_request_on_both_threads() {
    let dir = TempDir::new("threads2");
    let port = free_ports(1)[0];
    let sock = dir.join("t.sock");
    let s = Sluice::start(
        &dir,
        "t",
        &stateless(&sock, port, "    nbthread 2"),
        sock.clone(),
        &[],
    );
    assert_eq!(s.info("Nbthread"), "2");
    assert!(
        s.log().contains("started, pid") && s.log().contains(", 2 threads,"),
        "{}",
        s.log()
    );
    let (bodies, errors) = load(port);
    assert!(errors.is_empty(), "failed requests: {errors:?}");
    let total = CLIENTS * PER_CLIENT;
    let t0 = bodies.get("thread=0").copied().unwrap_or(0);
    let t1 = bodies.get("thread=1").copied().unwrap_or(0);
    assert_eq!(t0 + t1, total, "answers: {bodies:?}");
    // SO_REUSEPORT hashes each connection's addresses: 640 connections all
    // on one thread would be a 2^-639 event, not bad luck.
    assert!(t0 > 0 && t1 > 0, "both threads serve: {bodies:?}");
    // Every thread logs: one line per request, from both threads.
    let lines = s.wait_traffic(total);
    let logged_t1 = lines.iter().filter(|l| l.contains(" thread=1 200")).count();
    let logged_t0 = lines.iter().filter(|l| l.contains(" thread=0 200")).count();
    assert_eq!((logged_t0, logged_t1), (t0, t1), "{lines:#?}");

    // Soft stop (SIGUSR1) ends every thread: the process exits, cleanly.
    let mut s = s;
    s.proc.signal(libc::SIGUSR1);
    let st = s
        .proc
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running after SIGUSR1:\n{}", s.log()));
    assert!(st.success(), "{st}: {}", s.log());
    assert!(!sock.exists(), "the stats socket is removed at exit");
}

/// HAProxy 2.6 fed the same configuration: the `thread` fetch and `show
/// info` agree.
#[test]
fn thread_fetch_and_show_info_match_haproxy() {
    if !haproxy_or_skip("thread_fetch_and_show_info_match_haproxy") {
        return;
    }
    let dir = TempDir::new("threadsha");
    let ports = free_ports(2);
    let ha_sock = dir.join("ha.sock");
    let ha = HaRun::start(&dir, "ha", &stateless(&ha_sock, ports[0], "    nbthread 2"));
    let sl_sock = dir.join("sl.sock");
    let sl = Sluice::start(
        &dir,
        "sl",
        &stateless(&sl_sock, ports[1], "    nbthread 2"),
        sl_sock.clone(),
        &[],
    );
    assert_eq!(parse_info(&ha.cli("show info"), "Nbthread"), "2");
    assert_eq!(sl.info("Nbthread"), "2");
    for port in [ports[0], ports[1]] {
        let (bodies, errors) = load(port);
        assert!(errors.is_empty(), "port {port}: {errors:?}");
        let known = ["thread=0", "thread=1"];
        assert!(
            bodies.keys().all(|b| known.contains(&b.as_str())),
            "port {port}: {bodies:?}"
        );
        assert_eq!(bodies.values().sum::<usize>(), CLIENTS * PER_CLIENT);
    }
}

/// One request on a fresh connection: the status line and the body.
fn get(port: u16, path: &str) -> (String, String) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    let status = out.lines().next().unwrap_or("").to_string();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// The statuses `n` requests to `/` got, by the thread that ran them and
/// the server tried (the frontend tags every response with `x-thread` and
/// `x-srv`, empty when no server was usable).
fn statuses_by_thread(port: u16, n: usize) -> BTreeMap<(String, String, String), usize> {
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut r = String::new();
        let _ = c.read_to_string(&mut r);
        let status = r.get(9..12).unwrap_or("").to_string();
        let thread = r
            .lines()
            .find_map(|l| l.strip_prefix("x-thread: "))
            .unwrap_or("?")
            .to_string();
        let srv = r
            .lines()
            .find_map(|l| l.strip_prefix("x-srv:"))
            .unwrap_or("?")
            .trim()
            .to_string();
        *out.entry((thread, status, srv)).or_insert(0) += 1;
    }
    out
}

/// Health checks run once per process, on thread 0, and every thread
/// follows its results: a server whose checks fail is DOWN for both
/// threads (503), and UP for both once they pass; each transition is
/// logged once.
#[test]
fn health_checks_run_on_thread_0_and_every_thread_follows() {
    let dir = TempDir::new("threadschk");
    let ports = free_ports(2);
    let sock = dir.join("c.sock");
    let cfg = fe_be(&sock, ports[0], concat!(
            "    http-after-response set-header x-thread %[thread]\n",
            "    http-after-response set-header x-srv %[srv_name]\n",
            "    http-request return status 200 content-type text/plain lf-string \"thread=%[thread]\" if { path /t }\n",
        ), ports[1], "check inter 100ms fall 2 rise 2");
    let s = Sluice::start(&dir, "c", &cfg, sock, &[]);
    assert!(!s.log().contains("running 1 thread"), "{}", s.log());
    assert_eq!(s.info("Nbthread"), "2");
    // Nothing listens on the server's port: DOWN within fall x inter.
    poll(Duration::from_secs(5), Duration::from_millis(50), || {
        s.log().contains("Server be/s1 is DOWN").then_some(())
    })
    .unwrap_or_else(|| panic!("never DOWN:\n{}", s.log()));
    // Thread 0 applied it when it logged; thread 1 within a message.
    std::thread::sleep(Duration::from_millis(50));
    let down = statuses_by_thread(ports[0], 100);
    // No server tried (`x-srv` empty): the server is DOWN for the thread,
    // not merely refusing its connections.
    assert!(
        down.keys()
            .all(|(_, st, srv)| st == "503" && srv.is_empty())
            && down.keys().any(|(t, _, _)| t == "1"),
        "every thread sees the server DOWN: {down:?}"
    );
    // The server comes up: UP within rise x inter, on both threads.
    let _srv = TestServer::start(ports[1], |mut c: TcpStream, _| {
        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 4096];
        let mut req = Vec::new();
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    });
    poll(Duration::from_secs(5), Duration::from_millis(50), || {
        s.log().contains("Server be/s1 is UP").then_some(())
    })
    .unwrap_or_else(|| panic!("never UP:\n{}", s.log()));
    std::thread::sleep(Duration::from_millis(50));
    let up = statuses_by_thread(ports[0], 100);
    assert!(
        up.keys().all(|(_, st, srv)| st == "200" && srv == "s1")
            && up.keys().any(|(t, _, _)| t == "1"),
        "every thread sees the server UP: {up:?}"
    );
    let log = s.log();
    assert_eq!(log.matches("Server be/s1 is DOWN").count(), 1, "{log}");
    assert_eq!(log.matches("Server be/s1 is UP").count(), 1, "{log}");
    assert_eq!(get(ports[0], "/t").0, "HTTP/1.1 200 OK");
}

/// A slow HTTP server on `port` that counts the connections it is
/// working on (from the request to just before its answer): the highest
/// count and the requests answered. Answers `connection: close`, so that
/// no idle connection is kept by the proxy.
fn counting_server(
    port: u16,
    delay: Duration,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (cur, max, served) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (m, sv) = (max.clone(), served.clone());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let (cur, max, served) = (cur.clone(), max.clone(), served.clone());
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let now = cur.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(delay);
                cur.fetch_sub(1, Ordering::SeqCst);
                served.fetch_add(1, Ordering::SeqCst);
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            });
        }
    });
    (m, sv)
}

/// A server `maxconn` holds for the process (slot leases,
/// docs/threads.md): many clients on two threads through a server with
/// `maxconn 3` that answers slowly: the server never works on more than 3
/// requests at once, every request is answered, both threads serve, and
/// `show stat` (thread 0) counts the connections and the queue of both.
#[test]
fn a_server_maxconn_holds_across_threads() {
    use std::sync::atomic::Ordering;
    const MAXCONN: usize = 3;
    const CLIENTS: usize = 24;
    const PER_CLIENT: usize = 5;
    let dir = TempDir::new("threadsmax");
    let ports = free_ports(2);
    let sock = dir.join("m.sock");
    let (max, served) = counting_server(ports[1], Duration::from_millis(40));
    let cfg = fe_be(
        &sock,
        ports[0],
        "    timeout queue 30s\n    http-response set-header x-thread %[thread]\n",
        ports[1],
        &format!("maxconn {MAXCONN}"),
    );
    let s = Sluice::start(&dir, "m", &cfg, sock.clone(), &[]);
    assert!(!s.log().contains("running 1 thread"), "{}", s.log());
    assert_eq!(s.info("Nbthread"), "2");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // `show stat` while the load runs: the process's scur and qcur.
    let sampler = {
        let (stop, sock) = (stop.clone(), sock.clone());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                if let Ok(out) = cli(&sock, "show stat") {
                    let st = parse_stat(&out);
                    let f = |px: &str, sv: &str, k: &str| -> u64 {
                        st.get(&(px.to_string(), sv.to_string()))
                            .and_then(|r| r.get(k))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0)
                    };
                    samples.push((f("be", "s1", "scur"), f("be", "BACKEND", "qcur")));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            samples
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let port = ports[0];
            std::thread::spawn(move || {
                let mut threads = Vec::new();
                for _ in 0..PER_CLIENT {
                    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                        .unwrap();
                    let mut out = String::new();
                    let _ = c.read_to_string(&mut out);
                    assert!(out.starts_with("HTTP/1.1 200"), "{out:?}");
                    let t = out
                        .lines()
                        .find_map(|l| l.strip_prefix("x-thread: "))
                        .unwrap_or("?")
                        .to_string();
                    threads.push(t);
                }
                threads
            })
        })
        .collect();
    let mut by_thread = BTreeMap::new();
    for c in clients {
        for t in c.join().expect("a client failed") {
            *by_thread.entry(t).or_insert(0usize) += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.join().unwrap();
    assert_eq!(served.load(Ordering::SeqCst), CLIENTS * PER_CLIENT);
    let seen = max.load(Ordering::SeqCst);
    assert!(seen <= MAXCONN, "the server saw {seen} requests at once");
    assert_eq!(seen, MAXCONN, "the limit is used");
    assert_eq!(
        by_thread.keys().collect::<Vec<_>>(),
        ["0", "1"],
        "{by_thread:?}"
    );
    assert!(
        samples.iter().all(|&(scur, _)| scur <= MAXCONN as u64),
        "{samples:?}"
    );
    assert!(
        samples
            .iter()
            .any(|&(scur, qcur)| scur == MAXCONN as u64 && qcur > 0),
        "{samples:?}"
    );
    // Quiet again: both threads' reports came back to zero.
    let idle = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let row = (s.stat("be", "s1", "scur"), s.stat("be", "BACKEND", "qcur"));
        (row == ("0".to_string(), "0".to_string())).then_some(())
    });
    assert!(idle.is_some(), "{}", s.cli("show stat"));
    let smax: usize = s.stat("be", "s1", "smax").parse().unwrap();
    assert!((1..=MAXCONN).contains(&smax), "smax {smax}");
}

/// What still needs process-wide state HAProxy has and Sluice does not
/// share yet keeps one thread, and the warning says why.
#[test]
fn a_server_maxqueue_keeps_one_thread_and_says_why() {
    let dir = TempDir::new("threadsmaxq");
    let ports = free_ports(2);
    let sock = dir.join("m.sock");
    let cfg = fe_be(&sock, ports[0], "    http-request return status 200 content-type text/plain lf-string \"thread=%[thread]\" if { path /t }\n", ports[1], "maxconn 10 maxqueue 5");
    let s = Sluice::start(&dir, "m", &cfg, sock, &[]);
    assert!(
        s.log().contains(
            "[WARNING] nbthread 2: running 1 thread because backend 'be' server 's1' has 'maxqueue' \
             (process-wide server queue lengths: not implemented yet, issue 13)."
        ),
        "{}",
        s.log()
    );
    assert_eq!(s.info("Nbthread"), "1");
    for _ in 0..20 {
        assert_eq!(get(ports[0], "/t").1, "thread=0");
    }
}

/// A backend `be` with servers `s1` and `s2` answering `ok` (`connection:
/// close`), behind `fe`, which tags each answer with `x-thread` and
/// `x-srv`; every thread tracks `src` in `fe`'s table and denies a source
/// whose `gpt0` is set.
fn admin_cfg(sock: &std::path::Path, fe_port: u16, srv_ports: [u16; 2]) -> String {
    format!(
        "{}\
defaults
    mode http
    log global
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:{fe_port}
    stick-table type ip size 100 expire 1m store gpt0,http_req_cnt
    http-request track-sc0 src
    http-request deny deny_status 403 if {{ sc0_get_gpt0 gt 0 }}
    http-after-response set-header x-thread %[thread]
    http-after-response set-header x-srv %[srv_name]
    default_backend be
backend be
    server s1 127.0.0.1:{} weight 10
    server s2 127.0.0.1:{} weight 10
",
        global_section(sock, "    nbthread 2"),
        srv_ports[0],
        srv_ports[1],
    )
}

/// A server answering every request with `ok` and closing.
fn ok_server(port: u16) -> TestServer {
    TestServer::start(port, |mut c: TcpStream, _| {
        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 4096];
        let mut req = Vec::new();
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let _ = c.write_all(OK_ANSWER);
    })
}

const OK_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

/// `show stat` and `show info` answer for the whole process: with real
/// traffic on both threads, the frontend's, backend's and servers'
/// counters add up to what the clients sent and received.
#[test]
fn show_stat_and_show_info_add_up_every_thread() {
    let dir = TempDir::new("threadsstat");
    let ports = free_ports(3);
    let sock = dir.join("s.sock");
    let _s1 = ok_server(ports[1]);
    let _s2 = ok_server(ports[2]);
    let s = Sluice::start(
        &dir,
        "s",
        &admin_cfg(&sock, ports[0], [ports[1], ports[2]]),
        sock,
        &[],
    );
    assert!(!s.log().contains("running 1 thread"), "{}", s.log());
    assert!(
        s.log()
            .contains("'show stat' and 'show info' add up every thread's counters"),
        "{}",
        s.log()
    );
    const N: usize = 120;
    let req = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let mut by_thread = BTreeMap::new();
    let mut by_srv = BTreeMap::new();
    let mut bytes_out = 0usize;
    for _ in 0..N {
        let mut c = TcpStream::connect(("127.0.0.1", ports[0])).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(req).unwrap();
        let mut r = Vec::new();
        let _ = c.read_to_end(&mut r);
        bytes_out += r.len();
        let r = String::from_utf8_lossy(&r).to_string();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let t = r
            .lines()
            .find_map(|l| l.strip_prefix("x-thread: "))
            .unwrap_or("?")
            .to_string();
        let v = r
            .lines()
            .find_map(|l| l.strip_prefix("x-srv: "))
            .unwrap_or("?")
            .to_string();
        *by_thread.entry(t).or_insert(0usize) += 1;
        *by_srv.entry(v).or_insert(0usize) += 1;
    }
    assert_eq!(by_thread.len(), 2, "both threads serve: {by_thread:?}");
    let srv_bytes = N * OK_ANSWER.len();
    let maxconn: usize = s.info("Maxconn").parse().unwrap();
    // Every stream has ended (the counters are taken at its end): the
    // frontend's totals reach N, on thread 0 alone they would not.
    let want = |k: &str, px: &str, sv: &str| -> usize {
        match (k, sv) {
            ("stot" | "req_tot" | "hrsp_2xx" | "conn_tot", "FRONTEND") => N,
            ("stot" | "hrsp_2xx", "BACKEND") => N,
            ("stot" | "hrsp_2xx", srv) => by_srv.get(srv).copied().unwrap_or(0),
            ("bin", "FRONTEND") => N * req.len(),
            // What the servers sent (`x-thread` and `x-srv` excluded).
            ("bout", _) => srv_bytes,
            ("scur", _) => 0,
            // The global maxconn (derived from the descriptor limit),
            // whose per-thread shares add up.
            ("slim", _) => maxconn,
            _ => panic!("{k} {px} {sv}"),
        }
    };
    let checks = [
        ("stot", "fe", "FRONTEND"),
        ("conn_tot", "fe", "FRONTEND"),
        ("req_tot", "fe", "FRONTEND"),
        ("hrsp_2xx", "fe", "FRONTEND"),
        ("bin", "fe", "FRONTEND"),
        ("bout", "fe", "FRONTEND"),
        ("bout", "be", "BACKEND"),
        ("slim", "fe", "FRONTEND"),
        ("scur", "fe", "FRONTEND"),
        ("stot", "be", "BACKEND"),
        ("hrsp_2xx", "be", "BACKEND"),
        ("scur", "be", "BACKEND"),
        ("stot", "be", "s1"),
        ("stot", "be", "s2"),
        ("hrsp_2xx", "be", "s1"),
        ("hrsp_2xx", "be", "s2"),
    ];
    let got = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let st = s.stats();
        let row = |px: &str, sv: &str, k: &str| {
            st.get(&(px.to_string(), sv.to_string()))
                .and_then(|r| r.get(k))
                .and_then(|v| v.parse::<usize>().ok())
        };
        checks
            .iter()
            .all(|&(k, px, sv)| row(px, sv, k) == Some(want(k, px, sv)))
            .then_some(st)
    });
    assert!(
        got.is_some(),
        "by thread {by_thread:?}, by server {by_srv:?}, bytes out {bytes_out}:\n{}",
        s.cli("show stat")
    );
    // `show info`: both threads' connections (the CLI's own included).
    let cum: usize = s.info("CumConns").parse().unwrap();
    assert!(cum >= N, "CumConns {cum}");
    assert_eq!(s.info("Nbthread"), "2");
    // Several commands on one line, the aggregated ones waiting for the
    // other thread: answered in order.
    let out = s.cli("show info; get weight be/s1; show stat");
    let info_at = out.find("Nbthread: 2").expect("show info");
    let weight_at = out.find("10 (initial 10)").expect("get weight");
    let stat_at = out.find("# pxname").expect("show stat");
    assert!(info_at < weight_at && weight_at < stat_at, "{out}");
}

/// Commands that change state act on every thread: a disabled server
/// gets no traffic from either thread (and its transition is logged once),
/// weights and tables set from the socket hold on both threads.
#[test]
fn admin_commands_act_on_every_thread() {
    let dir = TempDir::new("threadsadm");
    let ports = free_ports(3);
    let sock = dir.join("a.sock");
    let _s1 = ok_server(ports[1]);
    let _s2 = ok_server(ports[2]);
    let s = Sluice::start(
        &dir,
        "a",
        &admin_cfg(&sock, ports[0], [ports[1], ports[2]]),
        sock,
        &[],
    );
    assert_eq!(s.info("Nbthread"), "2");
    let both = |m: &BTreeMap<(String, String, String), usize>| {
        m.keys().any(|k| k.0 == "0") && m.keys().any(|k| k.0 == "1")
    };
    // Both servers serve on both threads.
    let m = statuses_by_thread(ports[0], 60);
    assert!(both(&m) && m.keys().all(|k| k.1 == "200"), "{m:?}");
    assert!(m.keys().any(|k| k.2 == "s2"), "{m:?}");

    assert_eq!(s.cli("disable server be/s2"), "\n");
    std::thread::sleep(Duration::from_millis(50));
    let m = statuses_by_thread(ports[0], 60);
    assert!(
        both(&m) && m.keys().all(|k| k.1 == "200" && k.2 == "s1"),
        "s2 in maintenance on every thread: {m:?}"
    );
    let log = s.log();
    assert_eq!(
        log.matches("Server be/s2 is going DOWN for maintenance")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(s.stat("be", "s2", "status"), "MAINT");

    assert_eq!(s.cli("enable server be/s2"), "\n");
    assert_eq!(s.cli("set weight be/s1 0"), "\n");
    std::thread::sleep(Duration::from_millis(50));
    let m = statuses_by_thread(ports[0], 60);
    assert!(
        both(&m) && m.keys().all(|k| k.1 == "200" && k.2 == "s2"),
        "s1 weighs 0 on every thread: {m:?}"
    );
    assert_eq!(s.cli("get weight be/s1"), "0 (initial 10)\n\n");
    assert_eq!(
        s.log().matches("Server be/s2 is UP/READY").count(),
        1,
        "{}",
        s.log()
    );

    // `set table` runs on thread 0; its row reaches every thread.
    assert_eq!(s.cli("set table fe key 127.0.0.1 data.gpt0 1"), "\n");
    std::thread::sleep(Duration::from_millis(50));
    let m = statuses_by_thread(ports[0], 60);
    assert!(
        both(&m) && m.keys().all(|k| k.1 == "403"),
        "denied on every thread: {m:?}"
    );
    // `clear table` clears every thread's replica.
    assert_eq!(s.cli("clear table fe"), "\n");
    std::thread::sleep(Duration::from_millis(50));
    let m = statuses_by_thread(ports[0], 60);
    assert!(
        both(&m) && m.keys().all(|k| k.1 == "200"),
        "allowed on every thread: {m:?}"
    );

    // What could leave the threads different is still refused.
    assert_eq!(
        s.cli("del server be/s1"),
        "'del server' is not supported with nbthread 2 yet: it could succeed on one thread and fail on another (issue 13).\n\n"
    );
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data filled by sched_getaffinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..64).filter(|&i| libc::CPU_ISSET(i, &set)).collect()
    }
}

#[test]
fn cpu_map_pins_each_thread() {
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        eprintln!("cpu_map_pins_each_thread: skipped, fewer than 2 CPUs allowed");
        return;
    }
    let dir = TempDir::new("threadscpu");
    let port = free_ports(1)[0];
    let sock = dir.join("m.sock");
    let extra = format!(
        "    nbthread 2\n    cpu-map 1/1 {}\n    cpu-map 1/2 {}",
        cpus[0], cpus[1]
    );
    let s = Sluice::start(&dir, "m", &stateless(&sock, port, &extra), sock, &[]);
    let mut pinned: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", s.pid()))
        .unwrap()
        .filter_map(|e| {
            let status = std::fs::read_to_string(e.ok()?.path().join("status")).ok()?;
            let name = status.lines().find_map(|l| l.strip_prefix("Name:\t"))?;
            let list = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:\t"))?;
            name.starts_with("sluice-")
                .then(|| format!("{name}={list}"))
        })
        .collect();
    pinned.sort();
    assert_eq!(
        pinned,
        vec![
            format!("sluice-0={}", cpus[0]),
            format!("sluice-1={}", cpus[1])
        ]
    );
}

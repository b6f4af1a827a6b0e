//! Black-box tests of HTTP mode through the `proxy-mio` binary: real
//! clients (curl, wrk, raw sockets), a small HTTP/1.1 server written here
//! that records every byte it receives, and, where it is cheap, the same
//! exchange through a real HAProxy 2.6 whose status codes and termination
//! states must agree with Sluice's (differences are listed in
//! `docs/http.md`).
//!
//! Each test has its own ports, temporary directory and processes (killed
//! by their guards, also on panic), polls with deadlines rather than
//! sleeping, and ends by checking that the proxy drained (`CurrConns` 0,
//! every `scur` 0).

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const SEC: Duration = Duration::from_secs(1);

/// `defaults` for HTTP mode with the httplog format.
fn http_defaults(extra: &str) -> String {
    format!(
        "defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n{extra}\n"
    )
}

/// A whole configuration: global, defaults (+ `extra_defaults`), a
/// frontend `fe` on `fe` with `fe_lines`, a backend `be` with one server
/// `s1` on `be` and `be_lines`, and `more` sections.
fn cfg(
    sock: &Path,
    fe: u16,
    be: u16,
    extra_defaults: &str,
    fe_lines: &str,
    be_lines: &str,
    more: &str,
) -> String {
    format!(
        "{}{}frontend fe\n    bind 127.0.0.1:{fe}\n{fe_lines}    default_backend be\nbackend be\n{be_lines}    server s1 127.0.0.1:{be}\n{more}",
        global_section(sock, ""),
        http_defaults(extra_defaults)
    )
}

/// The fields of an httplog line:
/// `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
/// %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r`.
#[derive(Debug, Clone)]
#[allow(dead_code)]
struct HttpLog {
    client: String,
    date: String,
    frontend: String,
    backend: String,
    server: String,
    timers: [i64; 5],
    status: i64,
    bytes: u64,
    cc: String,
    cs: String,
    tsc: String,
    conns: Vec<String>,
    queues: Vec<String>,
    request: String,
}

fn parse_httplog(line: &str) -> HttpLog {
    let (head, req) = line
        .split_once(" \"")
        .unwrap_or_else(|| panic!("no quoted request: {line}"));
    let request = req
        .strip_suffix('"')
        .unwrap_or_else(|| panic!("unterminated request: {line}"))
        .to_string();
    let f: Vec<&str> = head.split(' ').collect();
    assert_eq!(
        f.len(),
        12,
        "an httplog line has 12 fields and the request: {line}"
    );
    let (backend, server) = f[3].split_once('/').expect("b/s");
    let t: Vec<i64> = f[4].split('/').map(|x| x.parse().expect("timer")).collect();
    assert_eq!(t.len(), 5, "TR/Tw/Tc/Tr/Ta: {line}");
    HttpLog {
        client: f[0].into(),
        date: f[1].into(),
        frontend: f[2].into(),
        backend: backend.into(),
        server: server.into(),
        timers: [t[0], t[1], t[2], t[3], t[4]],
        status: f[5].parse().expect("status"),
        bytes: f[6].parse().expect("bytes"),
        cc: f[7].into(),
        cs: f[8].into(),
        tsc: f[9].into(),
        conns: f[10].split('/').map(String::from).collect(),
        queues: f[11].split('/').map(String::from).collect(),
        request,
    }
}

/// Waits for `n` httplog lines of a process output.
fn wait_http_logs(what: &str, n: usize, output: impl Fn() -> String) -> Vec<HttpLog> {
    let lines = poll(5 * SEC, Duration::from_millis(10), || {
        let l = traffic_lines(&output());
        (l.len() >= n).then_some(l)
    })
    .unwrap_or_else(|| panic!("{what}: fewer than {n} log lines:\n{}", output()));
    assert_eq!(lines.len(), n, "{what}: {lines:#?}");
    lines.iter().map(|l| parse_httplog(l)).collect()
}

/// Runs curl with `args`; returns its stdout.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The status line of the first response in `bytes`.
fn status_of(bytes: &[u8]) -> Option<u16> {
    parse_response(bytes, false)
        .map(|(r, _)| r.status)
        .or_else(|| {
            let s = String::from_utf8_lossy(bytes);
            s.split(' ').nth(1)?.parse().ok()
        })
}

// --------------------------------------------------------------------------
// curl

#[test]
fn curl_get_post_chunked_upload_and_head() {
    if !tool_or_skip("curl", "curl_get_post_chunked_upload_and_head") {
        return;
    }
    let dir = TempDir::new("curlbasic");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start(be, |r| {
        if r.method == "HEAD" {
            return default_reply(r);
        }
        let body = format!(
            "{} {} len={} chunked={}\n",
            r.method,
            r.target,
            r.body.len(),
            r.chunked
        );
        Reply::Send(ok_response(&body))
    });
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &cfg(&sock, fe, be, "", "", "", ""));
    let url = format!("http://127.0.0.1:{fe}");

    assert_eq!(
        curl(&[&format!("{url}/get?x=1")]),
        "GET /get?x=1 len=0 chunked=false\n"
    );
    assert_eq!(
        curl(&["--data-binary", "hello=world", &format!("{url}/post")]),
        "POST /post len=11 chunked=false\n"
    );
    let upload = dir.join("up.bin");
    std::fs::write(&upload, vec![b'u'; 100_000]).unwrap();
    let up = format!("@{}", upload.display());
    assert_eq!(
        curl(&[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &up,
            &format!("{url}/chunked")
        ]),
        "POST /chunked len=100000 chunked=true\n"
    );
    let head = curl(&["-I", &format!("{url}/head")]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 18\r\n"),
        "{head}"
    );

    let reqs = srv.reqs();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[1].body, b"hello=world");
    assert_eq!(reqs[1].header("content-length"), Some("11"));
    assert_eq!(reqs[2].body, vec![b'u'; 100_000]);
    assert!(reqs[2].chunked);
    assert_eq!(reqs[3].method, "HEAD");
    let logs = wait_http_logs("curl", 4, || p.log());
    let got: Vec<(i64, &str, &str)> = logs
        .iter()
        .map(|l| (l.status, l.tsc.as_str(), l.request.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (200, "----", "GET /get?x=1 HTTP/1.1"),
            (200, "----", "POST /post HTTP/1.1"),
            (200, "----", "POST /chunked HTTP/1.1"),
            (200, "----", "HEAD /head HTTP/1.1"),
        ]
    );
    p.assert_drained(5 * SEC);
}

#[test]
fn curl_expect_100_continue_with_a_large_upload() {
    if !tool_or_skip("curl", "curl_expect_100_continue_with_a_large_upload") {
        return;
    }
    let dir = TempDir::new("expect100");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start(be, |r| {
        let mut h = Fnv::default();
        h.update(&r.body);
        Reply::Send(ok_response(&format!("{} {:016x}\n", r.body.len(), h.0)))
    });
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &cfg(&sock, fe, be, "", "", "", ""));
    const LEN: usize = 8 << 20;
    let upload = dir.join("big.bin");
    let mut f = std::fs::File::create(&upload).unwrap();
    write_stream(&mut f, 7, LEN).unwrap();
    drop(f);
    let t = Instant::now();
    // curl waits up to --expect100-timeout for the 100 before sending the
    // body anyway: a long timeout shows that the 100 came through.
    let out = curl(&[
        "-H",
        "Expect: 100-continue",
        "--expect100-timeout",
        "8",
        "--data-binary",
        &format!("@{}", upload.display()),
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{fe}/upload"),
    ]);
    let took = t.elapsed();
    assert_eq!(out, format!("{LEN} {:016x}\n200", stream_hash(7, LEN).0));
    assert!(took < 5 * SEC, "the 100 Continue reached curl ({took:?})");
    let reqs = srv.reqs();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("expect"), Some("100-continue"));
    let logs = wait_http_logs("expect", 1, || p.log());
    assert_eq!((logs[0].status, logs[0].tsc.as_str()), (200, "----"));
    p.assert_drained(5 * SEC);
}

#[test]
fn curl_keep_alive_sends_several_urls_on_one_connection() {
    if !tool_or_skip(
        "curl",
        "curl_keep_alive_sends_several_urls_on_one_connection",
    ) {
        return;
    }
    let dir = TempDir::new("keepalive");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &cfg(&sock, fe, be, "", "", "", ""));
    let url = format!("http://127.0.0.1:{fe}");
    let out = curl(&[
        "-w",
        "[%{num_connects}]\\n",
        &format!("{url}/a"),
        &format!("{url}/b"),
        &format!("{url}/c"),
    ]);
    // One client connection for three requests; the server connection is
    // kept across them too (`http-reuse safe`, same session).
    assert_eq!(
        out,
        "GET /a conn=0\n[1]\nGET /b conn=0\n[0]\nGET /c conn=0\n[0]\n"
    );
    assert_eq!(srv.accepts(), 1);
    let logs = wait_http_logs("keep-alive", 3, || p.log());
    let port = logs[0].client.clone();
    assert!(
        logs.iter().all(|l| l.client == port),
        "one client connection"
    );
    assert_eq!(p.stat("fe", "FRONTEND", "stot"), "1");
    p.assert_drained(5 * SEC);
}

// --------------------------------------------------------------------------
// wrk

/// Parses wrk's summary: (requests, non-2xx/3xx, socket errors).
fn wrk_summary(out: &str) -> (u64, u64, u64) {
    let requests = out
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{out}"));
    let non2xx = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let errors = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map_or(0, |v| {
            v.split(',')
                .filter_map(|kv| kv.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        });
    (requests, non2xx, errors)
}

#[test]
fn wrk_run_is_clean_and_reuses_server_connections() {
    if !tool_or_skip("wrk", "wrk_run_is_clean_and_reuses_server_connections") {
        return;
    }
    let dir = TempDir::new("wrk");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start(be, |_| Reply::Send(ok_response("hello wrk\n")));
    let sock = dir.join("p.sock");
    let p = Sluice::run(
        &dir,
        "p",
        &cfg(&sock, fe, be, "", "", "    http-reuse always\n", ""),
    );
    let out = Command::new("wrk")
        .args(["-t2", "-c20", "-d2s", "--timeout", "5s"])
        .arg(format!("http://127.0.0.1:{fe}/"))
        .output()
        .expect("run wrk");
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let (requests, non2xx, errors) = wrk_summary(&out);
    assert!(requests > 1000, "{out}");
    assert_eq!((non2xx, errors), (0, 0), "{out}");
    // The server saw every request, on far fewer connections: at most one
    // per concurrent client connection, reused across requests.
    let seen = srv.reqs().len() as u64;
    assert!(seen >= requests, "server saw {seen} of {requests}");
    let accepts = srv.accepts() as u64;
    assert!(
        accepts <= 20,
        "{accepts} server connections for {seen} requests"
    );
    // `show stat` tells connections opened from reused ones: every opened
    // one was accepted; each request the server saw came on one or the
    // other (a few more were started when wrk stopped, aborted in flight).
    let stat = |f: &str| p.stat("be", "s1", f).parse::<u64>().unwrap();
    let (connect, reuse) = (stat("connect"), stat("reuse"));
    assert_eq!(connect, accepts, "connect");
    assert!(
        connect + reuse >= seen && connect + reuse <= seen + 20,
        "connect {connect} + reuse {reuse} vs {seen} requests"
    );
    p.assert_drained(10 * SEC);
    // wrk's 20 connections, plus the one it opens first to check the address.
    let stot = p.stat("fe", "FRONTEND", "stot");
    assert!(stot == "20" || stot == "21", "{stot} client connections");
}

// --------------------------------------------------------------------------
// Raw sockets

#[test]
fn pipelined_requests_are_answered_in_order() {
    let dir = TempDir::new("pipeline");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &cfg(&sock, fe, be, "", "", "", ""));
    let mut c = HttpConn::open(fe);
    let mut all = Vec::new();
    for i in 1..=5 {
        all.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    // A POST with a body in the middle of the pipeline.
    all.extend_from_slice(b"POST /6 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /7 HTTP/1.1\r\nHost: a\r\n\r\n");
    c.send(&all);
    for i in 1..=7 {
        let r = c.response(false);
        let m = if i == 6 { "POST" } else { "GET" };
        assert_eq!(
            (r.status, r.body_str()),
            (200, format!("{m} /{i} conn=0\n"))
        );
    }
    c.s.shutdown(Shutdown::Write).unwrap();
    let (rest, closed) = c.rest();
    assert_eq!((rest.len(), closed), (0, Closed::Fin));
    let reqs = srv.reqs();
    assert_eq!(reqs.len(), 7);
    assert_eq!(reqs[5].body, b"hello");
    let logs = wait_http_logs("pipeline", 7, || p.log());
    for (i, l) in logs.iter().enumerate() {
        assert!(
            l.request.contains(&format!(" /{} HTTP/1.1", i + 1)),
            "{l:?}"
        );
        assert_eq!((l.status, l.tsc.as_str()), (200, "----"));
    }
    p.assert_drained(5 * SEC);
}

#[test]
fn a_request_split_byte_by_byte_goes_through() {
    let dir = TempDir::new("bytebybyte");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &cfg(&sock, fe, be, "", "", "", ""));
    let mut c = HttpConn::open(fe);
    let req = b"POST /slow?q=1 HTTP/1.1\r\nHost: example\r\nX-Long: aaaaaaaaaaaaaaaa\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n";
    for b in req.iter() {
        c.send(std::slice::from_ref(b));
        thread::sleep(Duration::from_micros(300));
    }
    let r = c.response(false);
    assert_eq!(
        (r.status, r.body_str()),
        (200, "POST /slow?q=1 conn=0\n".to_string())
    );
    let reqs = srv.reqs();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body, b"helloabc");
    assert_eq!(reqs[0].header("x-long"), Some("aaaaaaaaaaaaaaaa"));
    drop(c);
    let logs = wait_http_logs("byte by byte", 1, || p.log());
    assert_eq!((logs[0].status, logs[0].tsc.as_str()), (200, "----"));
    p.assert_drained(5 * SEC);
}

/// A slowloris client: a request head that never ends, one header line
/// every 100 ms. Returns (what it got back, how it ended, after how long).
fn slowloris(port: u16) -> (Vec<u8>, Closed, Duration) {
    let mut c = connect(port, 5 * SEC);
    let t = Instant::now();
    c.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n").unwrap();
    let mut w = c.try_clone().unwrap();
    let feeder = thread::spawn(move || {
        for i in 0..40 {
            thread::sleep(Duration::from_millis(100));
            if w.write_all(format!("X-Slow-{i}: x\r\n").as_bytes())
                .is_err()
            {
                break;
            }
        }
    });
    let (got, closed) = read_to_close(&mut c);
    let took = t.elapsed();
    let _ = c.shutdown(Shutdown::Both);
    let _ = feeder.join();
    (got, closed, took)
}

fn slowloris_cfg(sock: &Path, fe: u16, be: u16) -> String {
    cfg(sock, fe, be, "    timeout http-request 500ms\n", "", "", "")
}

#[test]
fn slowloris_gets_408_after_timeout_http_request() {
    let dir = TempDir::new("slowloris");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &slowloris_cfg(&sock, fe, be));
    let (got, closed, took) = slowloris(fe);
    assert_eq!(
        status_of(&got),
        Some(408),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(closed.is_closed());
    assert!(
        took >= Duration::from_millis(450) && took < 3 * SEC,
        "{took:?}"
    );
    assert_eq!(srv.accepts(), 0, "nothing reached the server");
    let logs = wait_http_logs("slowloris", 1, || p.log());
    assert_eq!((logs[0].status, logs[0].tsc.as_str()), (408, "cR--"));
    assert_eq!(logs[0].server, "<NOSRV>");
    assert_eq!(logs[0].request, "<BADREQ>");
    p.assert_drained(5 * SEC);

    if !haproxy_or_skip("slowloris_gets_408_after_timeout_http_request") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let ha = HaRun::start(&dir, "ha", &slowloris_cfg(&dir.join("ha.sock"), fe2, be));
    let (hgot, hclosed, _) = slowloris(fe2);
    assert_eq!(status_of(&hgot), Some(408), "HAProxy");
    assert!(hclosed.is_closed());
    let hl = wait_http_logs("HAProxy slowloris", 1, || ha.proc.output());
    assert_eq!(
        (
            hl[0].status,
            hl[0].tsc.as_str(),
            hl[0].server.as_str(),
            hl[0].request.as_str()
        ),
        (408, "cR--", "<NOSRV>", "<BADREQ>"),
        "HAProxy"
    );
}

#[test]
fn keep_alive_timeout_closes_an_idle_connection() {
    let dir = TempDir::new("katimeout");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let _srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let extra = "    timeout http-request 5s\n    timeout http-keep-alive 300ms\n";
    let p = Sluice::run(&dir, "p", &cfg(&sock, fe, be, extra, "", "", ""));
    let mut c = HttpConn::open(fe);
    let r = c.request(b"GET /ka HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_ne!(r.header("connection"), Some("close"));
    let t = Instant::now();
    let (rest, closed) = c.rest();
    let idle = t.elapsed();
    // A FIN, not a reset, as HAProxy closes it.
    assert_eq!((rest.len(), closed), (0, Closed::Fin));
    assert!(
        idle >= Duration::from_millis(250) && idle < 3 * SEC,
        "closed after {idle:?}"
    );
    // Only the request is logged, not the idle close.
    let logs = wait_http_logs("keep-alive timeout", 1, || p.log());
    assert_eq!((logs[0].status, logs[0].tsc.as_str()), (200, "----"));
    p.assert_drained(5 * SEC);
}

/// A request head of exactly `n` bytes (blank line included), with
/// `Connection: close`.
fn big_head(n: usize) -> Vec<u8> {
    let mut req = b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n".to_vec();
    let mut i = 0;
    while req.len() + 230 < n {
        req.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "f".repeat(200)).as_bytes());
        i += 1;
    }
    let pad = n - req.len() - "X-Last: \r\n\r\n".len();
    req.extend_from_slice(format!("X-Last: {}\r\n\r\n", "l".repeat(pad)).as_bytes());
    assert_eq!(req.len(), n);
    req
}

/// The status each head of these sizes gets, each on its own connection
/// (and whether the connection was closed).
fn head_sizes(port: u16, sizes: &[usize]) -> Vec<(Option<u16>, bool)> {
    sizes
        .iter()
        .map(|&n| {
            let (got, closed) = http_raw(port, &big_head(n));
            (status_of(&got), closed.is_closed())
        })
        .collect()
}

fn bighead_cfg(sock: &Path, fe: u16, be: u16) -> String {
    format!(
        "{}{}frontend fe\n    bind 127.0.0.1:{fe}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:{be}\n",
        global_section(sock, "    tune.bufsize 16384\n    tune.maxrewrite 1024"),
        http_defaults("")
    )
}

#[test]
fn an_oversized_header_block_gets_400() {
    let dir = TempDir::new("bighead");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &bighead_cfg(&sock, fe, be));
    // The limit is tune.bufsize - tune.maxrewrite = 15360 bytes of head.
    let got = head_sizes(fe, &[15_360, 15_361, 40_000]);
    assert_eq!(
        got,
        [(Some(200), true), (Some(400), true), (Some(400), true)]
    );
    assert_eq!(srv.reqs().len(), 1, "the big ones never reached the server");
    let logs = wait_http_logs("big head", 3, || p.log());
    for l in &logs[1..] {
        assert_eq!(
            (l.status, l.tsc.as_str(), l.request.as_str()),
            (400, "PR--", "<BADREQ>")
        );
        assert_eq!(l.server, "<NOSRV>");
    }
    assert_eq!(p.stat("fe", "FRONTEND", "ereq"), "2");
    p.assert_drained(5 * SEC);

    // HAProxy 2.6 answers the same way on both sides of its limit, which
    // is a few hundred bytes lower (HTX block overhead): see docs/http.md.
    if !haproxy_or_skip("an_oversized_header_block_gets_400") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let ha = HaRun::start(&dir, "ha", &bighead_cfg(&dir.join("ha.sock"), fe2, be));
    let got = head_sizes(fe2, &[14_000, 15_361, 40_000]);
    assert_eq!(
        got,
        [(Some(200), true), (Some(400), true), (Some(400), true)],
        "HAProxy"
    );
    let hl = wait_http_logs("HAProxy big head", 3, || ha.proc.output());
    // HAProxy may log a stream after the next one: select by status.
    let bad: Vec<_> = hl.iter().filter(|l| l.status != 200).collect();
    assert_eq!(bad.len(), 2, "HAProxy {hl:?}");
    for l in bad {
        assert_eq!(
            (l.status, l.tsc.as_str(), l.request.as_str()),
            (400, "PR--", "<BADREQ>"),
            "HAProxy"
        );
    }
}

#[test]
fn http_server_close_opens_one_server_connection_per_request() {
    let dir = TempDir::new("srvclose");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let p = Sluice::run(
        &dir,
        "p",
        &cfg(&sock, fe, be, "    option http-server-close\n", "", "", ""),
    );
    let mut c = HttpConn::open(fe);
    for i in 0..3 {
        let r = c.request(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert_eq!(r.body_str(), format!("GET /{i} conn={i}\n"));
        assert_ne!(
            r.header("connection"),
            Some("close"),
            "the client keeps its connection"
        );
    }
    assert_eq!(srv.accepts(), 3);
    for r in srv.reqs() {
        assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    }
    drop(c);
    let logs = wait_http_logs("server-close", 3, || p.log());
    assert!(logs
        .iter()
        .all(|l| l.client == logs[0].client && l.tsc == "----"));
    p.assert_drained(5 * SEC);
    assert_eq!(p.stat("fe", "FRONTEND", "stot"), "1");
    assert_eq!(p.stat("be", "s1", "connect"), "3");
}

fn ws_cfg(sock: &Path, fe: u16, be: u16) -> String {
    cfg(
        sock,
        fe,
        be,
        "    timeout client 300ms\n    timeout server 300ms\n    timeout tunnel 1500ms\n",
        "",
        "",
        "",
    )
}

/// Upgrades, waits past `timeout client`, echoes a message through the
/// tunnel, then idles until the proxy closes. Returns (101 response,
/// echoed bytes, idle time before the close).
fn websocket_round(port: u16) -> (Resp, Vec<u8>, Duration) {
    let mut c = HttpConn::open(port);
    c.send(b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    let r = c.response(false);
    thread::sleep(Duration::from_millis(600));
    c.send(b"ping through the tunnel");
    let mut got = vec![0u8; 23];
    use std::io::Read;
    c.s.read_exact(&mut got).expect("echo through the tunnel");
    let t = Instant::now();
    let (rest, closed) = c.rest();
    assert!(rest.is_empty() && closed.is_closed(), "{closed:?}");
    (r, got, t.elapsed())
}

#[test]
fn websocket_upgrade_tunnels_under_timeout_tunnel() {
    let dir = TempDir::new("websocket");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start(be, |r| {
        if r.header("upgrade") == Some("websocket") {
            Reply::Tunnel(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".to_vec())
        } else {
            default_reply(r)
        }
    });
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &ws_cfg(&sock, fe, be));
    let (r, echoed, idle) = websocket_round(fe);
    assert_eq!(r.status, 101);
    assert_eq!(r.header("upgrade"), Some("websocket"));
    assert_eq!(echoed, b"ping through the tunnel");
    assert!(
        idle >= Duration::from_millis(1400) && idle < 4 * SEC,
        "closed after {idle:?}"
    );
    let reqs = srv.reqs();
    assert_eq!(reqs[0].header("connection"), Some("Upgrade"));
    assert_eq!(reqs[0].header("upgrade"), Some("websocket"));
    let logs = wait_http_logs("websocket", 1, || p.log());
    assert_eq!(logs[0].status, 101);
    p.assert_drained(5 * SEC);

    if !haproxy_or_skip("websocket_upgrade_tunnels_under_timeout_tunnel") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let ha = HaRun::start(&dir, "ha", &ws_cfg(&dir.join("ha.sock"), fe2, be));
    let (hr, hechoed, hidle) = websocket_round(fe2);
    assert_eq!(
        (hr.status, hechoed.as_slice()),
        (101, &b"ping through the tunnel"[..])
    );
    assert!(hidle >= Duration::from_millis(1400), "HAProxy: {hidle:?}");
    let hl = wait_http_logs("HAProxy websocket", 1, || ha.proc.output());
    assert_eq!(
        (hl[0].status, hl[0].tsc.as_str()),
        (logs[0].status, logs[0].tsc.as_str()),
        "HAProxy {hl:?}\nSluice {logs:?}"
    );
}

// --------------------------------------------------------------------------
// Request smuggling defences

const P: &str = "POST /s HTTP/1.1\r\nHost: a\r\n";

/// A malformed request: what Sluice answers, and what HAProxy 2.6.12
/// answers where it differs (`docs/http.md` says why).
struct Bad {
    name: &'static str,
    bytes: Vec<u8>,
    status: u16,
    /// HAProxy's status when it differs (it accepts these).
    haproxy: Option<u16>,
}

fn bad(name: &'static str, bytes: &[u8], status: u16) -> Bad {
    Bad {
        name,
        bytes: bytes.to_vec(),
        status,
        haproxy: None,
    }
}

fn bad_requests() -> Vec<Bad> {
    let p = |rest: &str| [P.as_bytes(), rest.as_bytes()].concat();
    let g = |hdrs: &[u8]| [&b"GET /g HTTP/1.1\r\nHost: a\r\n"[..], hdrs, b"\r\n"].concat();
    let chunked = |body: &str| p(&format!("Transfer-Encoding: chunked\r\n\r\n{body}"));
    let differs = |mut b: Bad, h: u16| {
        b.haproxy = Some(h);
        b
    };
    vec![
        bad("conflicting Content-Length", &p("Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), 400),
        bad("Content-Length list that disagrees", &p("Content-Length: 5, 6\r\n\r\nhello!"), 400),
        bad("Content-Length 5x", &p("Content-Length: 5x\r\n\r\nhello"), 400),
        bad("Content-Length -1", &p("Content-Length: -1\r\n\r\nhello"), 400),
        bad("Content-Length +5", &p("Content-Length: +5\r\n\r\nhello"), 400),
        bad("chunk size zz", &chunked("zz\r\nhello\r\n0\r\n\r\n"), 400),
        bad("chunk size overflow", &chunked("ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400),
        bad("chunk size 0x5", &chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400),
        bad("chunk size -5", &chunked("-5\r\nhello\r\n0\r\n\r\n"), 400),
        bad("chunk data without CRLF", &chunked("5\r\nhelloXX0\r\n\r\n"), 400),
        differs(bad("chunk size ended by a bare LF", &chunked("5\nhello\r\n0\r\n\r\n"), 400), 200),
        bad("Transfer-Encoding: gzip", &p("Transfer-Encoding: gzip\r\n\r\nhello"), 400),
        bad("Transfer-Encoding: chunked, gzip", &p("Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400),
        bad("Transfer-Encoding: gzip, chunked", &p("Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 422),
        bad("Transfer-Encoding: xchunked", &p("Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400),
        bad("Transfer-Encoding: chunked twice", &p("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400),
        bad("Transfer-Encoding: identity", &p("Transfer-Encoding: identity\r\n\r\nhello"), 400),
        bad("space before the colon (Content-Length)", &p("Content-Length : 5\r\n\r\nhello"), 400),
        bad("space before the colon (Transfer-Encoding)", &p("Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400),
        bad("tab before the colon", &p("Content-Length\t: 5\r\n\r\nhello"), 400),
        differs(bad("NUL in a value", &g(b"X-A: a\0b\r\n"), 400), 200),
        bad("CR in a value", &g(b"X-A: a\rb\r\n"), 400),
        bad("LF in a value", &g(b"X-A: a\nb\r\n"), 400),
        differs(bad("obs-fold", &g(b"X-A: a\r\n b\r\n"), 400), 200),
        differs(bad("obs-fold in Transfer-Encoding", &p("Transfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400), 200),
        bad("space in a header name", &g(b"X A: b\r\n"), 400),
        bad("empty header name", &g(b": b\r\n"), 400),
        bad("two different Host", &g(b"Host: b\r\n"), 400),
        differs(bad("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400), 200),
        bad("bad method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        bad("space in the target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ]
}

fn smuggling_cfg(sock: &Path, fe: u16, be: u16) -> String {
    // HAProxy keeps the requests it accepts alive: do not wait for long.
    cfg(
        sock,
        fe,
        be,
        "    timeout http-keep-alive 200ms\n",
        "",
        "",
        "",
    )
}

#[test]
fn malformed_requests_get_400_closed_and_nothing_forwarded() {
    let dir = TempDir::new("smuggling");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &smuggling_cfg(&sock, fe, be));
    let cases = bad_requests();
    for b in &cases {
        let (got, closed) = http_raw(fe, &b.bytes);
        assert_eq!(
            status_of(&got),
            Some(b.status),
            "{}: {}",
            b.name,
            String::from_utf8_lossy(&got)
        );
        assert_eq!(closed, Closed::Fin, "{}: the connection is closed", b.name);
        let responses = String::from_utf8_lossy(&got).matches("HTTP/1.1 ").count();
        assert_eq!(responses, 1, "{}: one answer", b.name);
    }
    assert_eq!(
        srv.accepts(),
        0,
        "nothing was forwarded: {:?}",
        String::from_utf8_lossy(&srv.raw())
    );
    let logs = wait_http_logs("smuggling", cases.len(), || p.log());
    for (b, l) in cases.iter().zip(&logs) {
        assert_eq!(l.status, i64::from(b.status), "{}: {l:?}", b.name);
        // Framing errors in a chunked body are found after the head was
        // parsed (PH, the request line known); the others in the head
        // (PR, `<BADREQ>`).
        let in_body = b.name.starts_with("chunk");
        let want = if in_body { "PH--" } else { "PR--" };
        assert_eq!(l.tsc, want, "{}: {l:?}", b.name);
        assert_eq!(l.server, "<NOSRV>", "{}", b.name);
        if !in_body {
            assert_eq!(
                (l.backend.as_str(), l.request.as_str()),
                ("fe", "<BADREQ>"),
                "{}",
                b.name
            );
        }
    }
    assert_eq!(p.stat("fe", "FRONTEND", "ereq"), cases.len().to_string());
    p.assert_drained(5 * SEC);

    // HAProxy 2.6 answers the same, but where docs/http.md lists a
    // difference (it accepts those).
    if !haproxy_or_skip("malformed_requests_get_400_closed_and_nothing_forwarded") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let ha = HaRun::start(&dir, "ha", &smuggling_cfg(&dir.join("ha.sock"), fe2, be));
    for b in &cases {
        let (got, closed) = http_raw(fe2, &b.bytes);
        let want = b.haproxy.unwrap_or(b.status);
        assert_eq!(status_of(&got), Some(want), "HAProxy, {}", b.name);
        assert!(closed.is_closed(), "HAProxy, {}", b.name);
    }
    let accepted = cases.iter().filter(|b| b.haproxy == Some(200)).count();
    assert_eq!(
        srv.reqs().len(),
        accepted,
        "HAProxy forwarded only the ones it accepts"
    );
    let hl = wait_http_logs("HAProxy smuggling", cases.len(), || ha.proc.output());
    // HAProxy parses a body that came with its head in the mux, before
    // any stream exists: PR and <BADREQ> for the chunk errors too. (Lines
    // may come out of order: count them.)
    let refused = hl
        .iter()
        .filter(|l| l.tsc == "PR--" && l.backend == "fe" && l.request == "<BADREQ>")
        .count();
    assert_eq!(refused, cases.len() - accepted, "HAProxy {hl:#?}");
    let passed = hl
        .iter()
        .filter(|l| l.status == 200 && l.tsc == "----")
        .count();
    assert_eq!(passed, accepted, "HAProxy {hl:#?}");
}

/// The classic smuggling payloads, with Content-Length and
/// Transfer-Encoding together: chunked wins, Content-Length is dropped,
/// the connection closes after the response, and what the body hides is
/// never forwarded as a request. Returns what the server received.
fn cl_te_round(port: u16, srv: &HttpServer) -> Vec<SeenReq> {
    let before = srv.reqs().len();
    // CL.TE: a front end reading Content-Length would take the smuggled
    // request as body; one reading chunked sees it as a second request.
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let clte = format!(
        "POST /clte HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
        5 + smuggled.len()
    );
    // TE.CL: the chunk hides a request a Content-Length reader would see.
    let hidden = "GPOST /smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\nx=1";
    let tecl = format!(
        "POST /tecl HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{:x}\r\n{hidden}\r\n0\r\n\r\n",
        hidden.len()
    );
    // Content-Length first, then chunked, with obfuscated spacing.
    let spaced = format!(
        "POST /spaced HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding:\t chunked \r\n\r\n{:x}\r\n{hidden}\r\n0\r\n\r\n",
        hidden.len()
    );
    for (req, path) in [(clte, "/clte"), (tecl, "/tecl"), (spaced, "/spaced")] {
        let (got, closed) = http_raw(port, req.as_bytes());
        let text = String::from_utf8_lossy(&got).to_string();
        let (r, used) = parse_response(&got, false).unwrap_or_else(|| panic!("{path}: {text}"));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.body_str(),
            format!("POST {path} conn={}\n", srv.accepts() - 1)
        );
        assert_eq!(used, got.len(), "{path}: exactly one response: {text}");
        assert_eq!(closed, Closed::Fin, "{path}: closed after the response");
    }
    let reqs = srv.reqs()[before..].to_vec();
    let paths: Vec<&str> = reqs.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(paths, ["/clte", "/tecl", "/spaced"], "no smuggled request");
    for r in &reqs {
        assert!(r.chunked, "{r:?}");
        assert!(
            r.headers_named("content-length").is_empty(),
            "Content-Length dropped: {r:?}"
        );
    }
    assert_eq!(reqs[0].body, b"");
    assert_eq!(reqs[1].body, hidden.as_bytes());
    assert_eq!(reqs[2].body, hidden.as_bytes());
    reqs
}

#[test]
fn content_length_with_transfer_encoding_is_chunked_and_closes() {
    let dir = TempDir::new("clte");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &smuggling_cfg(&sock, fe, be));
    cl_te_round(fe, &srv);
    // The request after the chunked body of /clte never left the proxy.
    let raw = String::from_utf8_lossy(&srv.raw()).to_ascii_lowercase();
    assert!(!raw.contains("get /smuggled"), "{raw}");
    let logs = wait_http_logs("cl.te", 3, || p.log());
    assert!(
        logs.iter().all(|l| l.status == 200 && l.tsc == "----"),
        "{logs:?}"
    );
    p.assert_drained(5 * SEC);

    if !haproxy_or_skip("content_length_with_transfer_encoding_is_chunked_and_closes") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let _ha = HaRun::start(&dir, "ha", &smuggling_cfg(&dir.join("ha.sock"), fe2, be));
    cl_te_round(fe2, &srv);
}

// --------------------------------------------------------------------------
// Rules

fn rules_cfg(sock: &Path, fe: u16, be: u16, api: u16) -> String {
    let fe_lines = "    option forwardfor\n\
    http-request deny if { path_beg /deny }\n\
    http-request deny deny_status 429 if { path_beg /limited }\n\
    http-request return status 200 content-type text/plain string \"hello from the proxy\" if { path /return }\n\
    http-request redirect location https://example.com/new code 301 if { path /loc }\n\
    http-request redirect prefix https://other.example code 302 if { path_beg /pre }\n\
    http-request redirect scheme https code 308 if { path_beg /sch }\n\
    http-request set-header X-Set set-value if { path_beg /hdr }\n\
    http-request add-header X-Add added if { path_beg /hdr }\n\
    http-request del-header X-Remove if { path_beg /hdr }\n\
    http-request set-path /rewritten%[path] if { path_beg /old }\n\
    http-response set-header X-Resp resp-value\n\
    http-response del-header X-Secret\n\
    use_backend api if { path_beg /api }\n";
    cfg(
        sock,
        fe,
        be,
        "",
        fe_lines,
        "",
        &format!("backend api\n    server a1 127.0.0.1:{api}\n"),
    )
}

/// What a client sees for each rule, on its own connection.
#[derive(Debug, PartialEq)]
struct Seen {
    path: &'static str,
    status: u16,
    location: Option<String>,
    content_type: Option<String>,
    body: String,
    x_resp: Option<String>,
    x_secret: Option<String>,
}

fn rules_round(port: u16) -> Vec<Seen> {
    let paths = [
        "/deny/x",
        "/limited",
        "/return",
        "/loc",
        "/pre/x?q=1",
        "/sch/y?z=2",
        "/hdr",
        "/old/page",
        "/api/v1",
        "/plain",
    ];
    paths
        .iter()
        .map(|&path| {
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: www.test\r\nX-Remove: gone\r\nX-Add: first\r\nConnection: close\r\n\r\n"
            );
            let (got, closed) = http_raw(port, req.as_bytes());
            assert!(closed.is_closed(), "{path}");
            let (r, _) = parse_response(&got, false)
                .unwrap_or_else(|| panic!("{path}: {}", String::from_utf8_lossy(&got)));
            let h = |n: &str| r.header(n).map(String::from);
            // Proxy-made pages differ in wording: keep the body of the
            // answers that are not error pages.
            let body = if r.status < 400 { r.body_str() } else { String::new() };
            Seen {
                path,
                status: r.status,
                location: h("location"),
                content_type: h("content-type").filter(|_| r.status < 400),
                body,
                x_resp: h("x-resp"),
                x_secret: h("x-secret"),
            }
        })
        .collect()
}

#[test]
fn http_request_and_response_rules_act_like_haproxy() {
    let dir = TempDir::new("rules");
    let [fe, be, api] = free_ports(3)[..] else {
        panic!()
    };
    let responder = |r: &SeenReq| {
        let body = format!("{} {}\n", r.method, r.target);
        Reply::Send(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-secret: s3cr3t\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    };
    let srv = HttpServer::start(be, responder);
    let api_srv = HttpServer::start(api, responder);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &rules_cfg(&sock, fe, be, api));
    let seen = rules_round(fe);
    let st: Vec<(&str, u16)> = seen.iter().map(|s| (s.path, s.status)).collect();
    assert_eq!(
        st,
        [
            ("/deny/x", 403),
            ("/limited", 429),
            ("/return", 200),
            ("/loc", 301),
            ("/pre/x?q=1", 302),
            ("/sch/y?z=2", 308),
            ("/hdr", 200),
            ("/old/page", 200),
            ("/api/v1", 200),
            ("/plain", 200),
        ]
    );
    assert_eq!(seen[2].body, "hello from the proxy");
    assert_eq!(seen[2].content_type.as_deref(), Some("text/plain"));
    assert_eq!(seen[3].location.as_deref(), Some("https://example.com/new"));
    assert_eq!(
        seen[4].location.as_deref(),
        Some("https://other.example/pre/x?q=1")
    );
    assert_eq!(
        seen[5].location.as_deref(),
        Some("https://www.test/sch/y?z=2")
    );
    // Responses from a server get the response rules: set, del.
    for s in &seen[6..] {
        assert_eq!(s.x_resp.as_deref(), Some("resp-value"), "{s:?}");
        assert_eq!(s.x_secret, None, "{s:?}");
    }
    assert_eq!(seen[7].body, "GET /rewritten/old/page\n");
    // What the servers got: the rewritten head, X-Forwarded-For.
    let reqs = srv.reqs();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    let hdr = &reqs[0];
    assert_eq!(hdr.target, "/hdr");
    assert_eq!(hdr.header("x-set"), Some("set-value"));
    assert_eq!(hdr.headers_named("x-add"), ["first", "added"]);
    assert_eq!(hdr.header("x-remove"), None);
    assert_eq!(hdr.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(reqs[1].target, "/rewritten/old/page");
    let api_reqs = api_srv.reqs();
    assert_eq!(api_reqs.len(), 1);
    assert_eq!(api_reqs[0].target, "/api/v1");
    assert_eq!(api_reqs[0].header("x-forwarded-for"), Some("127.0.0.1"));
    let logs = wait_http_logs("rules", seen.len(), || p.log());
    let got: Vec<(i64, &str, &str)> = logs
        .iter()
        .map(|l| (l.status, l.tsc.as_str(), l.backend.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (403, "PR--", "fe"),
            (429, "PR--", "fe"),
            (200, "LR--", "fe"),
            (301, "LR--", "fe"),
            (302, "LR--", "fe"),
            (308, "LR--", "fe"),
            (200, "----", "be"),
            (200, "----", "be"),
            (200, "----", "api"),
            (200, "----", "be"),
        ]
    );
    p.assert_drained(5 * SEC);

    if !haproxy_or_skip("http_request_and_response_rules_act_like_haproxy") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let ha = HaRun::start(&dir, "ha", &rules_cfg(&dir.join("ha.sock"), fe2, be, api));
    let hseen = rules_round(fe2);
    assert_eq!(hseen, seen, "HAProxy answers the same");
    let hreqs = srv.reqs();
    assert_eq!(hreqs.len(), 6);
    let h = &hreqs[3];
    assert_eq!(
        (
            h.header("x-set"),
            h.headers_named("x-add"),
            h.header("x-remove"),
            h.header("x-forwarded-for")
        ),
        (
            Some("set-value"),
            vec!["first", "added"],
            None,
            Some("127.0.0.1")
        ),
        "HAProxy's rewrites"
    );
    let hl = wait_http_logs("HAProxy rules", seen.len(), || ha.proc.output());
    let hgot: Vec<(i64, &str, &str)> = hl
        .iter()
        .map(|l| (l.status, l.tsc.as_str(), l.backend.as_str()))
        .collect();
    // Compared without the order: HAProxy may log a stream after the next.
    let (mut hsorted, mut sorted) = (hgot.clone(), got.clone());
    hsorted.sort();
    sorted.sort();
    assert_eq!(hsorted, sorted, "HAProxy logs");
}

// --------------------------------------------------------------------------
// Rate limiting

fn rate_cfg(sock: &Path, fe: u16, be: u16) -> String {
    let fe_lines =
        "    stick-table type ip size 1k expire 30s store http_req_rate(10s),http_req_cnt\n\
    http-request track-sc0 src\n\
    http-request deny if { sc_http_req_rate(0) gt 4 }\n";
    cfg(sock, fe, be, "", fe_lines, "", "")
}

/// Sends `n` requests on one keep-alive connection (a new one after a
/// deny closes it); returns the statuses.
fn rate_round(port: u16, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    let mut c = HttpConn::open(port);
    for i in 0..n {
        c.send(format!("GET /r{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let r = c.response(false);
        out.push(r.status);
        if r.header("connection") == Some("close") {
            c = HttpConn::open(port);
        }
    }
    out
}

#[test]
fn http_req_rate_denies_exactly_past_the_limit() {
    let dir = TempDir::new("reqrate");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start_default(be);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &rate_cfg(&sock, fe, be));
    let got = rate_round(fe, 7);
    assert_eq!(got, [200, 200, 200, 200, 403, 403, 403]);
    assert_eq!(
        srv.reqs().len(),
        4,
        "denied requests never reach the server"
    );
    let t = p.table("fe");
    let e = &t["127.0.0.1"];
    assert_eq!(e.int("http_req_rate(10000)"), Some(7), "{t:?}");
    assert_eq!(e.int("http_req_cnt"), Some(7));
    let logs = wait_http_logs("rate", 7, || p.log());
    let st: Vec<(i64, &str)> = logs.iter().map(|l| (l.status, l.tsc.as_str())).collect();
    assert_eq!(st[3..5], [(200, "----"), (403, "PR--")]);
    p.assert_drained(5 * SEC);

    if !haproxy_or_skip("http_req_rate_denies_exactly_past_the_limit") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let ha = HaRun::start(&dir, "ha", &rate_cfg(&dir.join("ha.sock"), fe2, be));
    assert_eq!(rate_round(fe2, 7), got, "HAProxy");
    let ht = parse_table(&ha.cli("show table fe"));
    assert_eq!(
        ht["127.0.0.1"].int("http_req_rate(10000)"),
        Some(7),
        "{ht:?}"
    );
    assert_eq!(ht["127.0.0.1"].int("http_req_cnt"), Some(7));
}

// --------------------------------------------------------------------------
// Errors, as HAProxy gives them

fn errors_cfg(
    sock: &Path,
    fe: u16,
    ok: u16,
    closer: u16,
    garbage: u16,
    dead: u16,
    hang: u16,
) -> String {
    let fe_lines = "    http-request deny if { path_beg /deny }\n\
    use_backend closer if { path_beg /close }\n\
    use_backend garbage if { path_beg /garbage }\n\
    use_backend down if { path_beg /down }\n\
    use_backend slow if { path_beg /slow }\n";
    let more = format!(
        "backend closer\n    server c1 127.0.0.1:{closer}\n\
         backend garbage\n    server g1 127.0.0.1:{garbage}\n\
         backend down\n    retries 0\n    server d1 127.0.0.1:{dead}\n\
         backend slow\n    timeout server 300ms\n    server h1 127.0.0.1:{hang}\n"
    );
    cfg(
        sock,
        fe,
        ok,
        "    timeout http-request 300ms\n",
        fe_lines,
        "",
        &more,
    )
}

/// One exchange per error case: (case, status the client got).
fn errors_round(port: u16) -> Vec<(&'static str, Option<u16>)> {
    let cases: [(&str, &[u8]); 8] = [
        (
            "ok",
            b"GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        ),
        ("400", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("403", b"GET /deny HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("408", b"GET /partial HTTP/1.1\r\nHost: a\r\n"),
        ("502 close", b"GET /close HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("502 garbage", b"GET /garbage HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("503", b"GET /down HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("504", b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"),
    ];
    cases
        .iter()
        .map(|(name, req)| {
            let (got, closed) = http_raw(port, req);
            assert!(closed.is_closed(), "{name}: {closed:?}");
            (*name, status_of(&got))
        })
        .collect()
}

#[test]
fn error_statuses_and_termination_states_match_haproxy() {
    let dir = TempDir::new("errors");
    let [fe, ok, closer, garbage, dead, hang] = free_ports(6)[..] else {
        panic!()
    };
    let _ok = HttpServer::start_default(ok);
    let _closer = HttpServer::start(closer, |_| Reply::Close);
    let _garbage = HttpServer::start(garbage, |_| {
        Reply::SendClose(b"this is not HTTP\r\n\r\n".to_vec())
    });
    let _hang = HttpServer::start(hang, |_| Reply::Hang);
    let sock = dir.join("p.sock");
    let p = Sluice::run(
        &dir,
        "p",
        &errors_cfg(&sock, fe, ok, closer, garbage, dead, hang),
    );
    let got = errors_round(fe);
    let want = [
        ("ok", Some(200)),
        ("400", Some(400)),
        ("403", Some(403)),
        ("408", Some(408)),
        ("502 close", Some(502)),
        ("502 garbage", Some(502)),
        ("503", Some(503)),
        ("504", Some(504)),
    ];
    assert_eq!(got, want);
    let logs = wait_http_logs("errors", want.len(), || p.log());
    let terms: Vec<(i64, &str, String)> = logs
        .iter()
        .map(|l| {
            (
                l.status,
                l.tsc.as_str(),
                format!("{}/{}", l.backend, l.server),
            )
        })
        .collect();
    let expect = [
        (200, "----", "be/s1"),
        (400, "PR--", "fe/<NOSRV>"),
        (403, "PR--", "fe/<NOSRV>"),
        (408, "cR--", "fe/<NOSRV>"),
        (502, "SH--", "closer/c1"),
        (502, "PH--", "garbage/g1"),
        (503, "SC--", "down/d1"),
        (504, "sH--", "slow/h1"),
    ];
    let expect: Vec<(i64, &str, String)> = expect
        .iter()
        .map(|(s, t, b)| (*s, *t, b.to_string()))
        .collect();
    assert_eq!(terms, expect, "{logs:#?}");
    // Errors are counted where HAProxy counts them.
    type Stats =
        std::collections::BTreeMap<(String, String), std::collections::BTreeMap<String, String>>;
    let counters = |st: &Stats| {
        let f = |px: &str, sv: &str, name: &str| {
            format!(
                "{px}/{sv} {name}={}",
                st[&(px.to_string(), sv.to_string())][name]
            )
        };
        vec![
            f("fe", "FRONTEND", "ereq"),
            f("fe", "FRONTEND", "dreq"),
            f("fe", "FRONTEND", "req_tot"),
            f("closer", "c1", "eresp"),
            f("closer", "BACKEND", "eresp"),
            f("garbage", "g1", "eresp"),
            f("down", "d1", "econ"),
            f("slow", "h1", "eresp"),
        ]
    };
    let sluice_counters = counters(&p.stats());
    assert_eq!(
        sluice_counters,
        [
            "fe/FRONTEND ereq=2",
            "fe/FRONTEND dreq=1",
            "fe/FRONTEND req_tot=8",
            "closer/c1 eresp=1",
            "closer/BACKEND eresp=1",
            "garbage/g1 eresp=1",
            "down/d1 econ=1",
            "slow/h1 eresp=1",
        ]
    );
    p.assert_drained(5 * SEC);

    if !haproxy_or_skip("error_statuses_and_termination_states_match_haproxy") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let ha = HaRun::start(
        &dir,
        "ha",
        &errors_cfg(&dir.join("ha.sock"), fe2, ok, closer, garbage, dead, hang),
    );
    assert_eq!(errors_round(fe2), want, "HAProxy statuses");
    let hl = wait_http_logs("HAProxy errors", want.len(), || ha.proc.output());
    let hterms: Vec<(i64, &str, String)> = hl
        .iter()
        .map(|l| {
            (
                l.status,
                l.tsc.as_str(),
                format!("{}/{}", l.backend, l.server),
            )
        })
        .collect();
    // HAProxy may log a request after the next one started (it frees a
    // closed stream a little later): compare without the order.
    let (mut hsorted, mut sorted) = (hterms.clone(), expect.clone());
    hsorted.sort();
    sorted.sort();
    assert_eq!(hsorted, sorted, "HAProxy logs {hl:#?}");
    assert_eq!(
        counters(&parse_stat(&ha.cli("show stat"))),
        sluice_counters,
        "HAProxy counters"
    );
}

// --------------------------------------------------------------------------
// The httplog line, field by field

fn httplog_cfg(sock: &Path, fe: u16, be: u16) -> String {
    cfg(sock, fe, be, "", "", "", "")
}

/// Two requests on one connection, the server answering the first after
/// 100 ms. Returns (client port, bytes received per response).
fn httplog_round(port: u16) -> (u16, [usize; 2]) {
    let mut c = HttpConn::open(port);
    let cport = c.s.local_addr().unwrap().port();
    let mut sizes = [0; 2];
    let reqs: [&[u8]; 2] = [
        b"GET /log?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    ];
    for (i, req) in reqs.iter().enumerate() {
        c.send(req);
        let r = c.response(false);
        assert_eq!(r.status, 200);
        let head: usize = r
            .headers
            .iter()
            .map(|(k, v)| k.len() + 2 + v.len() + 2)
            .sum();
        sizes[i] = "HTTP/1.1 200 OK\r\n".len() + head + 2 + r.body.len();
    }
    (cport, sizes)
}

#[test]
fn httplog_fields_one_by_one() {
    let dir = TempDir::new("httplog");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let _srv = HttpServer::start(be, |r| {
        if r.target.starts_with("/log") {
            thread::sleep(Duration::from_millis(100));
        }
        Reply::Send(ok_response("fine\n"))
    });
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &httplog_cfg(&sock, fe, be));
    let (cport, sizes) = httplog_round(fe);
    let logs = wait_http_logs("httplog", 2, || p.log());
    let raw = traffic_lines(&p.log());
    for (l, size) in logs.iter().zip(sizes) {
        assert_eq!(l.client, format!("127.0.0.1:{cport}"), "%ci:%cp");
        let d = l.date.as_bytes();
        assert!(
            d.len() == 26 && d[0] == b'[' && d[25] == b']' && d[21] == b'.',
            "%tr: {}",
            l.date
        );
        assert_eq!(l.frontend, "fe", "%ft");
        assert_eq!(
            (l.backend.as_str(), l.server.as_str()),
            ("be", "s1"),
            "%b/%s"
        );
        assert_eq!(l.status, 200, "%ST");
        assert_eq!(l.bytes, size as u64, "%B: bytes the client received");
        assert_eq!((l.cc.as_str(), l.cs.as_str()), ("-", "-"), "%CC %CS");
        assert_eq!(l.tsc, "----", "%tsc");
        assert_eq!(l.queues, ["0", "0"], "%sq/%bq");
        let [tr_req, tw, tc, tr, ta] = l.timers;
        assert!((0..50).contains(&tr_req), "%TR {:?}", l.timers);
        assert_eq!(tw, 0, "%Tw");
        assert!((0..50).contains(&tc), "%Tc {:?}", l.timers);
        assert!(ta >= tr_req + tw + tc + tr, "%Ta {:?}", l.timers);
    }
    assert!(
        logs[0].timers[3] >= 100 && logs[0].timers[3] < 1000,
        "%Tr {:?}",
        logs[0].timers
    );
    assert!(logs[1].timers[3] < 100, "%Tr {:?}", logs[1].timers);
    // The second request reused the server connection: no connect time.
    assert_eq!(logs[0].request, "GET /log?x=1 HTTP/1.1", "%{{+Q}}r");
    assert_eq!(logs[1].request, "POST /second HTTP/1.1");
    assert!(raw[0].ends_with(" \"GET /log?x=1 HTTP/1.1\""), "{}", raw[0]);
    p.assert_drained(5 * SEC);

    // HAProxy 2.6's line for the same exchange: every field but the
    // client port, the date, the timers and `%B` is identical (HAProxy
    // counts its internal HTX representation there, a few bytes more than
    // went to the client: docs/http.md).
    if !haproxy_or_skip("httplog_fields_one_by_one") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let ha = HaRun::start(&dir, "ha", &httplog_cfg(&dir.join("ha.sock"), fe2, be));
    let (hport, hsizes) = httplog_round(fe2);
    assert_eq!(hsizes, sizes, "both proxies send the client the same bytes");
    let hl = wait_http_logs("HAProxy httplog", 2, || ha.proc.output());
    for (h, s) in hl.iter().zip(&logs) {
        assert_eq!(h.client, format!("127.0.0.1:{hport}"));
        let strip = |l: &HttpLog| {
            (
                l.frontend.clone(),
                l.backend.clone(),
                l.server.clone(),
                l.status,
                l.cc.clone(),
                l.cs.clone(),
                l.tsc.clone(),
                l.conns.clone(),
                l.queues.clone(),
                l.request.clone(),
            )
        };
        assert_eq!(strip(h), strip(s), "HAProxy {h:?}\nSluice {s:?}");
        assert_eq!(h.timers[1], s.timers[1], "%Tw");
    }
}

// --------------------------------------------------------------------------
// No leak

#[test]
fn abusive_clients_leave_nothing_behind() {
    let dir = TempDir::new("abuse");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start(be, |r| {
        if r.target == "/hang" {
            return Reply::Hang;
        }
        if r.target == "/slow" {
            thread::sleep(Duration::from_millis(200));
        }
        Reply::Send(ok_response(&"x".repeat(100_000)))
    });
    let sock = dir.join("p.sock");
    let extra = "    timeout http-request 300ms\n    timeout http-keep-alive 300ms\n    timeout server 1s\n";
    let p = Sluice::run(&dir, "p", &cfg(&sock, fe, be, extra, "", "", ""));
    let reset = |s: TcpStream| {
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        drop(s);
    };
    let rounds = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (rounds, reset) = (rounds.clone(), reset);
            thread::spawn(move || {
                for i in 0..15 {
                    let mut c = connect(fe, 5 * SEC);
                    match (w + i) % 9 {
                        // Connect and leave at once.
                        0 => drop(c),
                        // Connect and reset.
                        1 => reset(c),
                        // Half a head, then leave.
                        2 => {
                            let _ = c.write_all(b"GET /half HTTP/1.1\r\nHo");
                            drop(c);
                        }
                        // A full request, then reset before the slow answer.
                        3 => {
                            let _ = c.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
                            thread::sleep(Duration::from_millis(20));
                            reset(c);
                        }
                        // A body announced and never sent in full.
                        4 => {
                            let _ = c.write_all(
                                b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc",
                            );
                            thread::sleep(Duration::from_millis(20));
                            drop(c);
                        }
                        // A request to a server that never answers, abandoned.
                        5 => {
                            let _ = c.write_all(b"GET /hang HTTP/1.1\r\nHost: a\r\n\r\n");
                            thread::sleep(Duration::from_millis(50));
                            drop(c);
                        }
                        // A large response never read, then reset.
                        6 => {
                            let _ = c.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
                            thread::sleep(Duration::from_millis(30));
                            reset(c);
                        }
                        // Garbage.
                        7 => {
                            let _ = c.write_all(
                                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
                            );
                            let _ = read_to_close(&mut c);
                        }
                        // Slowloris until the 408.
                        _ => {
                            let _ = c.write_all(b"GET /slowloris HTTP/1.1\r\n");
                            for _ in 0..5 {
                                thread::sleep(Duration::from_millis(100));
                                if c.write_all(b"X-A: b\r\n").is_err() {
                                    break;
                                }
                            }
                            let _ = read_to_close(&mut c);
                        }
                    }
                    rounds.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(rounds.load(Ordering::SeqCst), 60);
    // Everything the proxy held is released: client side, server side.
    p.assert_drained(10 * SEC);
    let closed = poll(10 * SEC, Duration::from_millis(20), || {
        (srv.srv.open_conns() == 0).then_some(())
    });
    assert!(
        closed.is_some(),
        "{} server connections still open",
        srv.srv.open_conns()
    );
    // And it still serves.
    let (got, _) = http_raw(
        fe,
        b"GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&got), Some(200), "{}", p.log());
    p.assert_drained(5 * SEC);
    let info = p.cli("show info");
    assert_eq!(parse_info(&info, "PoolUsed_bytes"), "0", "{info}");
}

fn queue_cfg(sock: &Path, fe: u16, be: u16) -> String {
    cfg(
        sock,
        fe,
        be,
        "    timeout queue 300ms\n    timeout server 1s\n",
        "",
        "",
        "",
    )
    .replace(
        &format!("server s1 127.0.0.1:{be}"),
        &format!("server s1 127.0.0.1:{be} maxconn 1"),
    )
}

/// One request holds the only slot (the server never answers); the next
/// one waits in the queue past `timeout queue`. Returns the second status.
fn queue_round(port: u16, srv: &HttpServer) -> Option<u16> {
    let before = srv.reqs().len();
    let mut hold = HttpConn::open(port);
    hold.send(b"GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    let held = poll(5 * SEC, Duration::from_millis(5), || {
        (srv.reqs().len() > before).then_some(())
    });
    assert!(held.is_some(), "the first request holds the slot");
    let (got, closed) = http_raw(port, b"GET /queued HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        closed.is_closed(),
        "{closed:?}: {}",
        String::from_utf8_lossy(&got)
    );
    drop(hold);
    status_of(&got)
}

#[test]
fn a_queue_timeout_gets_503_sq_like_haproxy() {
    let dir = TempDir::new("queue503");
    let [fe, be] = free_ports(2)[..] else {
        panic!()
    };
    let srv = HttpServer::start(be, |_| Reply::Hang);
    let sock = dir.join("p.sock");
    let p = Sluice::run(&dir, "p", &queue_cfg(&sock, fe, be));
    assert_eq!(queue_round(fe, &srv), Some(503));
    let line = wait_line(
        "for the queued request",
        5 * SEC,
        || p.log(),
        |l| l.contains("/queued"),
    );
    let l = parse_httplog(&line);
    assert_eq!(
        (l.status, l.tsc.as_str(), l.server.as_str()),
        (503, "sQ--", "<NOSRV>"),
        "{line}"
    );
    assert!(l.timers[1] >= 300, "%Tw: {line}");
    assert_eq!(p.stat("be", "BACKEND", "qmax"), "1");
    p.assert_drained(5 * SEC);

    if !haproxy_or_skip("a_queue_timeout_gets_503_sq_like_haproxy") {
        return;
    }
    let fe2 = free_ports(1)[0];
    let ha = HaRun::start(&dir, "ha", &queue_cfg(&dir.join("ha.sock"), fe2, be));
    assert_eq!(queue_round(fe2, &srv), Some(503), "HAProxy");
    let hline = wait_line(
        "HAProxy queued",
        5 * SEC,
        || ha.proc.output(),
        |l| l.contains("/queued"),
    );
    let h = parse_httplog(&hline);
    assert!(h.timers[1] >= 300, "HAProxy %Tw: {hline}");
    assert_eq!(
        (h.status, h.tsc.as_str(), h.server.as_str()),
        (503, "sQ--", "<NOSRV>"),
        "HAProxy {hline}"
    );
}

//! In-memory scenario tests of HTTP mode: client <-> engine <-> server,
//! no sockets. Every test ends by checking that nothing leaked.

mod common;

use common::{addr, ServerMode, World};
use sluice_core::sock::CloseHow;

const FE: &str = "127.0.0.1:8080";
const S1: &str = "127.0.0.1:9001";
const S2: &str = "127.0.0.1:9002";

fn cfg(frontend: &str, backend: &str) -> String {
    format!(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
         frontend fe\n    bind {FE}\n{frontend}    default_backend be\n\
         backend be\n{backend}"
    )
}

fn simple() -> String {
    cfg("", &format!("    server s1 {S1}\n"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The termination field of an httplog line (4 characters).
fn tsc(line: &str) -> &str {
    line.split(' ').nth(9).unwrap_or("")
}

/// The status field of an httplog line.
fn status(line: &str) -> &str {
    line.split(' ').nth(5).unwrap_or("")
}

fn logs(w: &World) -> Vec<String> {
    w.log_texts()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

#[test]
fn get_through_with_keep_alive_and_server_reuse() {
    let mut w = World::new(&simple());
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    let got = text(&w.peers[s].from_engine);
    assert!(got.starts_with("GET /a HTTP/1.1\r\nHost: x\r\n"), "{got}");
    w.send(s, OK);
    assert_eq!(text(&w.peers[c].from_engine), text(OK));
    assert!(w.peers[c].closed_by_engine.is_none(), "keep-alive");
    let l = logs(&w).last().cloned().unwrap();
    assert_eq!((status(&l), tsc(&l)), ("200", "----"), "{l}");
    assert!(l.ends_with("\"GET /a HTTP/1.1\""), "{l}");
    // The second request reuses the idle server connection (http-reuse safe:
    // not the session's first request).
    w.peers[s].from_engine.clear();
    w.peers[c].from_engine.clear();
    w.send(c, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        w.accepted[&addr(S1)].len(),
        1,
        "one server connection for two requests"
    );
    assert!(text(&w.peers[s].from_engine).starts_with("GET /b "));
    w.send(s, OK);
    assert_eq!(text(&w.peers[c].from_engine), text(OK));
    assert_eq!(logs(&w).len(), 2, "one line per request");
    w.fin(c);
    w.fin(s);
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn chunked_bodies_both_ways_are_forwarded_intact() {
    let mut w = World::new(&simple());
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let req = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    // Byte by byte: framing is tracked across any split.
    for b in req.iter() {
        w.send(c, &[*b]);
    }
    let s = w.server_peer(S1, 0);
    assert_eq!(text(&w.peers[s].from_engine), text(req));
    let res = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    w.send(s, res);
    assert_eq!(text(&w.peers[c].from_engine), text(res));
    assert_eq!(tsc(logs(&w).last().unwrap()), "----");
    w.fin(c);
    w.fin(s);
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn pipelined_requests_get_responses_in_order() {
    let mut w = World::new(&simple());
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(
        c,
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let s = w.server_peer(S1, 0);
    assert!(text(&w.peers[s].from_engine).starts_with("GET /1 "));
    assert!(
        !text(&w.peers[s].from_engine).contains("GET /2"),
        "one request at a time"
    );
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1");
    assert!(
        text(&w.peers[s].from_engine).contains("GET /2 "),
        "second request after the first response"
    );
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n2");
    let got = text(&w.peers[c].from_engine);
    assert!(
        got.find("\r\n\r\n1").unwrap() < got.find("\r\n\r\n2").unwrap(),
        "{got}"
    );
    w.fin(c);
    w.fin(s);
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn head_204_304_and_100_continue() {
    let mut w = World::new(&simple());
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
    assert_eq!(
        status(logs(&w).last().unwrap()),
        "200",
        "HEAD answer has no body"
    );
    w.send(c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    w.send(
        s,
        b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n",
    );
    assert_eq!(status(logs(&w).last().unwrap()), "304");
    w.send(
        c,
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\ncontent-length: 3\r\n\r\n",
    );
    w.send(s, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).ends_with("HTTP/1.1 100 Continue\r\n\r\n"));
    w.send(c, b"abc");
    assert!(text(&w.peers[s].from_engine).ends_with("abc"));
    w.send(s, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(status(logs(&w).last().unwrap()), "204");
    assert_eq!(logs(&w).len(), 3);
    w.fin(c);
    w.fin(s);
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn deny_return_redirect_and_headers() {
    let fe = "    http-request deny if { path_beg /admin }\n\
              \x20   http-request return status 200 content-type text/plain string pong if { path /ping }\n\
              \x20   http-request redirect prefix https://example.com code 301 if { path_beg /old }\n\
              \x20   http-request set-header X-Via sluice\n\
              \x20   http-request del-header X-Secret\n\
              \x20   http-response set-header X-Served-By sluice\n";
    let mut w = World::new(&cfg(
        fe,
        &format!("    option forwardfor\n    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(text(&w.peers[c].from_engine).ends_with("\r\n\r\npong"));
    assert_eq!(tsc(logs(&w).last().unwrap()), "LR--");
    assert!(
        w.peers[c].closed_by_engine.is_none(),
        "return keeps the connection"
    );
    w.peers[c].from_engine.clear();
    w.send(c, b"GET /old/page?q=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 301 "), "{got}");
    assert!(
        got.contains("location: https://example.com/old/page?q=1\r\n"),
        "{got}"
    );
    w.peers[c].from_engine.clear();
    w.send(c, b"GET /x HTTP/1.1\r\nHost: x\r\nX-Secret: 42\r\n\r\n");
    let s = w.server_peer(S1, 0);
    let got = text(&w.peers[s].from_engine);
    assert!(
        got.contains("X-Via: sluice\r\n") && !got.contains("X-Secret"),
        "{got}"
    );
    assert!(got.contains("X-Forwarded-For: 10.0.0.1\r\n"), "{got}");
    w.send(s, OK);
    assert!(text(&w.peers[c].from_engine).contains("X-Served-By: sluice\r\n"));
    w.send(c, b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).contains("HTTP/1.1 403 Forbidden"));
    // HAProxy keeps the connection after a deny, for the next request.
    assert!(w.peers[c].closed_by_engine.is_none(), "deny keeps alive");
    let l = logs(&w).last().cloned().unwrap();
    assert_eq!((status(&l), tsc(&l)), ("403", "PR--"), "{l}");
    w.fin(c);
    w.fin(s);
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn use_backend_by_path() {
    let text_cfg = format!(
        "global\n    log stderr format raw local0\ndefaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
         frontend fe\n    bind {FE}\n    use_backend api if {{ path_beg /api }}\n    default_backend web\n\
         backend web\n    server w {S1}\nbackend api\n    server a {S2}\n"
    );
    let mut w = World::new(&text_cfg);
    w.server(S1, ServerMode::Manual);
    w.server(S2, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /api/v1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(!w.accepted.contains_key(&addr(S1)));
    let a = w.server_peer(S2, 0);
    w.send(a, OK);
    w.send(c, b"GET /index HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, OK);
    let l = logs(&w);
    assert!(l[0].contains(" fe api/a "), "{}", l[0]);
    assert!(l[1].contains(" fe web/w "), "{}", l[1]);
    for p in [c, a, s] {
        w.fin(p);
    }
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn malformed_requests_get_400_and_nothing_is_forwarded() {
    let bad: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
    ];
    for req in bad {
        let mut w = World::new(&simple());
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        w.send(c, req);
        let got = text(&w.peers[c].from_engine);
        assert!(got.starts_with("HTTP/1.1 4"), "{}: {got}", text(req));
        // FIN after the answer; what the client sent was not all read, so
        // the connection lingers until the client closes.
        assert!(w.peers[c].fin_from_engine, "{}", text(req));
        assert!(w.peers[c].closed_by_engine.is_none(), "{}", text(req));
        w.fin(c);
        assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
        let forwarded = w
            .accepted
            .get(&addr(S1))
            .map_or(0, |v| v.iter().map(|&p| w.peers[p].from_engine.len()).sum());
        assert_eq!(forwarded, 0, "nothing reaches the server for {}", text(req));
        w.assert_drained();
    }
}

#[test]
fn cl_te_smuggling_is_neutralised() {
    let mut w = World::new(&simple());
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    // CL.TE: Content-Length says the smuggled request is body; chunked says
    // the body ends at "0": chunked wins, the rest is never a request.
    w.send(c, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    let got = text(&w.peers[s].from_engine);
    assert!(
        !got.to_ascii_lowercase().contains("content-length"),
        "CL dropped: {got}"
    );
    assert!(got.ends_with("0\r\n\r\n"), "{got}");
    w.send(s, OK);
    // A FIN after the response; the bytes after the chunked body were
    // dropped unread, so the close lingers until the client closes.
    assert!(w.peers[c].fin_from_engine, "closes after the response");
    assert!(
        !text(&w.peers[s].from_engine).contains("/smuggled"),
        "smuggled request never forwarded"
    );
    w.fin(c);
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    w.fin(s);
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn slowloris_gets_408_and_idle_keep_alive_closes_quietly() {
    let mut w = World::new(&cfg(
        "    timeout http-request 2s\n    timeout http-keep-alive 1s\n",
        &format!("    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHo");
    w.advance(2001);
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 408 "), "{got} {:?}", logs(&w));
    let l = logs(&w).last().cloned().unwrap();
    assert_eq!((status(&l), tsc(&l)), ("408", "cR--"), "{l}");
    // The head was not complete: a lingering close, which ends when
    // `timeout client` (capped at 5 s) runs out without the client closing
    // (the 408 left at 2000 ms, it is 2001 ms now).
    assert!(w.peers[c].fin_from_engine && w.peers[c].closed_by_engine.is_none());
    w.advance(4998);
    assert!(w.peers[c].closed_by_engine.is_none());
    w.advance(1);
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    w.assert_drained();
    // Keep-alive: after a response, an idle client is closed without a log.
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, OK);
    let n = logs(&w).len();
    w.advance(1001);
    assert!(w.peers[c].closed_by_engine.is_some());
    assert_eq!(
        logs(&w).len(),
        n,
        "no log line for an idle keep-alive close"
    );
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn server_errors_502_503_504() {
    // Garbage.
    let mut w = World::new(&simple());
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"SSH-2.0-OpenSSH\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 502 "));
    assert_eq!(status(logs(&w).last().unwrap()), "502");
    w.assert_drained();
    // Closed before answering.
    let mut w = World::new(&simple());
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.fin(s);
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 502 "));
    assert_eq!(tsc(logs(&w).last().unwrap()), "SH--");
    w.assert_drained();
    // No server.
    let mut w = World::new(&simple());
    w.server(S1, ServerMode::Refuse);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    w.advance(4000);
    assert!(
        text(&w.peers[c].from_engine).starts_with("HTTP/1.1 503 "),
        "{} {:?}",
        text(&w.peers[c].from_engine),
        logs(&w)
    );
    let l = logs(&w).last().cloned().unwrap();
    assert_eq!((status(&l), tsc(&l)), ("503", "SC--"), "{l}");
    w.assert_drained();
    // Too slow.
    let mut w = World::new(&cfg(
        "",
        &format!("    timeout server 2s\n    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    w.advance(2001);
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 504 "));
    let l = logs(&w).last().cloned().unwrap();
    assert_eq!((status(&l), tsc(&l)), ("504", "sH--"), "{l}");
    w.assert_drained();
}

#[test]
fn rate_limit_denies_exactly_past_the_limit() {
    let fe = "    http-request track-sc0 src table be\n\
              \x20   http-request deny if { sc_http_req_rate(0) gt 3 }\n";
    let be = format!("    stick-table type ip size 1k expire 1m store http_req_cnt,http_req_rate(10s)\n    server s1 {S1}\n");
    let mut w = World::new(&cfg(fe, &be));
    w.server(S1, ServerMode::Echo);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let c = w.connect(FE);
        w.send(c, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        statuses.push(status(logs(&w).last().unwrap()).to_string());
        w.fin(c);
    }
    // The echo server answers garbage (it echoes the request), so passing
    // requests end in 502: what matters is that exactly 3 passed the rule.
    let denied = statuses.iter().filter(|s| *s == "403").count();
    assert_eq!(denied, 2, "{statuses:?}");
    assert!(statuses[..3].iter().all(|s| s != "403"), "{statuses:?}");
    let now = w.now;
    let t = w.engine.cli_request(now, "show table be");
    assert!(t.contains("http_req_cnt=5 http_req_rate(10000)=5"), "{t}");
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn websocket_upgrade_becomes_a_tunnel() {
    let mut w = World::new(&cfg(
        "",
        &format!("    timeout tunnel 1h\n    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(
        c,
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    let s = w.server_peer(S1, 0);
    assert!(text(&w.peers[s].from_engine)
        .to_ascii_lowercase()
        .contains("upgrade: websocket"));
    w.send(
        s,
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    w.send(c, b"\x81\x05hello");
    assert!(w.peers[s].from_engine.ends_with(b"\x81\x05hello"));
    w.send(s, b"\x81\x02hi");
    assert!(w.peers[c].from_engine.ends_with(b"\x81\x02hi"));
    w.advance(60_000);
    assert!(
        w.peers[c].closed_by_engine.is_none(),
        "tunnel timeout, not client timeout"
    );
    w.fin(c);
    w.fin(s);
    assert_eq!(status(logs(&w).last().unwrap()), "101");
    w.assert_drained();
}

#[test]
fn http_server_close_opens_one_server_connection_per_request() {
    let mut w = World::new(&cfg(
        "    option http-server-close\n",
        &format!("    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    for i in 0..3 {
        w.send(c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let s = w.server_peer(S1, i);
        assert!(text(&w.peers[s].from_engine)
            .to_ascii_lowercase()
            .contains("connection: close"));
        w.send(s, OK);
        assert!(
            w.peers[s].closed_by_engine.is_some(),
            "server side closed after each response"
        );
    }
    assert!(
        w.peers[c].closed_by_engine.is_none(),
        "client keeps its connection"
    );
    w.fin(c);
    w.advance(6000);
    w.assert_drained();
}

#[test]
fn http_health_check_expects_a_status() {
    let be = format!("    option httpchk GET /health\n    http-check expect status 200\n    server s1 {S1} check inter 1s fall 1 rise 1\n    server s2 {S2}\n");
    let mut w = World::new(&cfg("", &be));
    w.server(S1, ServerMode::Manual);
    w.server(S2, ServerMode::Manual);
    w.advance(10);
    let s = w.server_peer(S1, 0);
    assert_eq!(
        text(&w.peers[s].from_engine),
        "GET /health HTTP/1.0\r\n\r\n"
    );
    w.send(s, b"HTTP/1.0 503 Service Unavailable\r\n\r\n");
    assert!(
        logs(&w)
            .iter()
            .any(|l| l.starts_with("Server be/s1 is DOWN, reason: Layer7 wrong status, code: 503")),
        "{:?}",
        logs(&w)
    );
    w.advance(1000);
    let s = w.server_peer(S1, 1);
    w.send(s, b"HTTP/1.0 200 OK\r\n\r\n");
    assert!(
        logs(&w)
            .iter()
            .any(|l| l.starts_with("Server be/s1 is UP, reason: Layer7 check passed")),
        "{:?}",
        logs(&w)
    );
    w.assert_drained();
}

/// `option dontlog-normal` and `option log-separate-errors`, as HAProxy's
/// `strm_log` applies them: a stream is an error when it was redispatched,
/// retried, ended with a termination other than none or local, or got a
/// 5xx; errors are logged at `err` only with `log-separate-errors`, every
/// other line at `info`; `dontlog-normal` drops the lines of streams that
/// are not errors.
#[test]
fn dontlog_normal_and_log_separate_errors() {
    use sluice_core::sock::LogLevel;
    const E503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
    const REDIRECT: &str = "    http-request redirect location /b if { path /r }\n";
    // (options, response: None = a local redirect) -> (logged, level)
    type Case = (&'static str, Option<&'static [u8]>, Option<LogLevel>);
    let cases: &[Case] = &[
        ("", Some(OK), Some(LogLevel::Info)),
        ("", Some(E503), Some(LogLevel::Info)),
        ("", None, Some(LogLevel::Info)),
        (
            "    option log-separate-errors\n",
            Some(OK),
            Some(LogLevel::Info),
        ),
        (
            "    option log-separate-errors\n",
            Some(E503),
            Some(LogLevel::Err),
        ),
        (
            "    option log-separate-errors\n",
            None,
            Some(LogLevel::Info),
        ),
        ("    option dontlog-normal\n", Some(OK), None),
        (
            "    option dontlog-normal\n",
            Some(E503),
            Some(LogLevel::Info),
        ),
        ("    option dontlog-normal\n", None, None),
        (
            "    option dontlog-normal\n    option log-separate-errors\n",
            Some(E503),
            Some(LogLevel::Err),
        ),
    ];
    for (opts, response, want) in cases {
        let mut w = World::new(&cfg(
            &format!("{opts}{REDIRECT}"),
            &format!("    server s1 {S1}\n"),
        ));
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        match response {
            Some(r) => {
                w.send(c, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
                let s = w.server_peer(S1, 0);
                w.send(s, r);
                w.fin(c);
                w.fin(s);
            }
            None => {
                w.send(c, b"GET /r HTTP/1.1\r\nHost: x\r\n\r\n");
                assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 302"));
                w.fin(c);
            }
        }
        w.advance(6000);
        let traffic: Vec<_> = w
            .logs
            .iter()
            .filter(|l| l.text.contains("\"GET /"))
            .map(|l| l.level)
            .collect();
        let got = traffic.first().copied();
        assert_eq!(
            got,
            *want,
            "{opts:?} {:?}: {:?}",
            response.map(text),
            w.log_texts()
        );
        assert!(traffic.len() <= 1, "{:?}", w.log_texts());
        w.assert_drained();
    }
}

/// `option logasap`: the transaction is logged when the response headers
/// went through, before the body, once; `%Ta` ends then, `%B` counts what
/// came (the head), both with `+`. `no option logasap` in the frontend
/// undoes the defaults' one: logged at the end, no `+`. With
/// `dontlog-normal`, nothing is logged early and a 503 at its end.
#[test]
fn logasap_logs_at_response_headers_once() {
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n";
    let cases = [
        ("", true, "/20/+20 200 +38 - - ---- "),
        ("    no option logasap\n", false, "/20/50 200 43 - - ---- "),
    ];
    for (fe, early, want) in cases {
        let conf = cfg(fe, &format!("    server s1 {S1}\n")).replace(
            "    option httplog\n",
            "    option httplog\n    option logasap\n",
        );
        let mut w = World::new(&conf);
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        w.send(c, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        let s = w.server_peer(S1, 0);
        w.advance(20);
        w.send(s, HEAD);
        let traffic = |w: &World| -> Vec<String> {
            logs(w)
                .into_iter()
                .filter(|l| l.contains("\"GET /a"))
                .collect()
        };
        assert_eq!(
            traffic(&w).len(),
            usize::from(early),
            "{fe:?}: {:?}",
            logs(&w)
        );
        w.advance(30);
        w.send(s, b"hello");
        assert_eq!(
            text(&w.peers[c].from_engine),
            format!("{}hello", text(HEAD))
        );
        w.fin(c);
        w.fin(s);
        w.advance(6000);
        let l = traffic(&w);
        assert_eq!(l.len(), 1, "{fe:?}: {:?}", logs(&w));
        assert!(l[0].contains(want), "{fe:?}: {}", l[0]);
        w.assert_drained();
    }
    // dontlog-normal: a 503 is an error as soon as its head is processed,
    // logged then (once); a 200 is never logged.
    const E503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\nno";
    let fe = "    option logasap\n    option dontlog-normal\n";
    for (res, logged) in [(E503, true), (OK, false)] {
        let mut w = World::new(&cfg(fe, &format!("    server s1 {S1}\n")));
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        w.send(c, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        let s = w.server_peer(S1, 0);
        w.send(s, &res[..res.len() - 2]);
        let traffic = |w: &World| -> Vec<String> {
            logs(w)
                .into_iter()
                .filter(|l| l.contains("\"GET /a"))
                .collect()
        };
        assert_eq!(traffic(&w).len(), usize::from(logged), "{:?}", logs(&w));
        w.send(s, &res[res.len() - 2..]);
        w.fin(c);
        w.fin(s);
        w.advance(6000);
        let l = traffic(&w);
        assert_eq!(l.len(), usize::from(logged), "{:?}", logs(&w));
        if logged {
            assert!(l[0].contains(" 503 +"), "{}", l[0]);
        }
    }
}

/// `option logasap` on a keep-alive connection: each transaction gets its
/// own early line.
#[test]
fn logasap_logs_each_keep_alive_transaction() {
    let mut w = World::new(&cfg(
        "    option logasap\n",
        &format!("    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    for (i, path) in ["/a", "/b"].into_iter().enumerate() {
        w.send(
            c,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let s = w.server_peer(S1, 0);
        w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n");
        let n = logs(&w).iter().filter(|l| l.contains("\"GET /")).count();
        assert_eq!(n, i + 1, "{path}: {:?}", logs(&w));
        w.send(s, b"hello");
    }
    assert!(w.peers[c].closed_by_engine.is_none(), "keep-alive");
    w.fin(c);
    w.advance(6000);
    let n = logs(&w).iter().filter(|l| l.contains("\"GET /")).count();
    assert_eq!(n, 2, "{:?}", logs(&w));
    w.assert_drained();
}

#[test]
fn capture_fetches_read_the_frontend_slots() {
    // Slot 0: `capture request header`; slot 1: `http-request capture ..
    // len`; slot 2: `declare capture`, filled by `id 2` only for /three.
    // Response slot 0 is read in the response rules.
    let fe = "    capture request header X-Key len 4\n\
              \x20   http-request capture hdr(X-Other) len 16\n\
              \x20   declare capture request len 8\n\
              \x20   declare capture response len 8\n\
              \x20   capture response header X-Res len 16\n\
              \x20   http-request capture path id 2 if { path /three }\n\
              \x20   http-request return status 200 hdr x-c0 \"%[capture.req.hdr(0)]\" hdr x-c1 \"%[capture.req.hdr(1)]\" hdr x-c2 \"%[capture.req.hdr(2)]\" hdr x-c3 \"%[capture.req.hdr(3)]\" hdr x-cn \"%[capture.req.hdr(-1)]\" if !{ path /fwd }\n\
              \x20   http-response set-header x-r1 \"%[capture.res.hdr(1)]\"\n\
              \x20   http-response set-header x-r0 \"%[capture.res.hdr(0)]\"\n";
    let mut w = World::new(&cfg(fe, &format!("    server s1 {S1}\n")));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(
        c,
        b"GET /one HTTP/1.1\r\nHost: x\r\nX-Key: abcdefgh\r\nX-Other: o1\r\n\r\n",
    );
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    // Cut to the slot's length; absent slots and indexes give nothing,
    // and a `return` header whose value renders empty is left out, as
    // HAProxy's http_reply_to_htx does.
    assert!(got.contains("x-c0: abcd\r\n"), "{got}");
    assert!(got.contains("x-c1: o1\r\n"), "{got}");
    assert!(!got.contains("x-c2:"), "{got}");
    assert!(!got.contains("x-c3:"), "{got}");
    assert!(!got.contains("x-cn:"), "{got}");
    w.peers[c].from_engine.clear();
    w.send(c, b"GET /three HTTP/1.1\r\nHost: x\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(!got.contains("x-c0:"), "{got}");
    assert!(got.contains("x-c2: /three\r\n"), "{got}");
    w.peers[c].from_engine.clear();
    w.send(c, b"GET /fwd HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(
        s,
        b"HTTP/1.1 200 OK\r\nX-Res: from-server\r\ncontent-length: 0\r\n\r\n",
    );
    let got = text(&w.peers[c].from_engine);
    assert!(got.contains("x-r1: from-server\r\n"), "{got}");
    assert!(got.contains("x-r0: \r\n"), "{got}");
}

#[test]
fn capture_slots_of_a_named_defaults_come_first() {
    // As reg-test http-rules/default_rules.vtc: the defaults' two
    // `http-request capture .. len` slots are 0 and 1 of the frontend,
    // its own `declare capture` is 2.
    let conf = format!(
        "defaults base\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
         \x20   http-request capture hdr(Host) len 64\n\
         \x20   http-request capture hdr(X-req-1) len 32\n\
         frontend fe from base\n    bind {FE}\n    declare capture request len 32\n\
         \x20   http-request capture hdr(X-req-2) id 2\n\
         \x20   http-request return status 200 hdr x-c0 \"%[capture.req.hdr(0)]\" hdr x-c1 \"%[capture.req.hdr(1)]\" hdr x-c2 \"%[capture.req.hdr(2)]\"\n"
    );
    let mut w = World::new(&conf);
    let c = w.connect(FE);
    w.send(
        c,
        b"GET / HTTP/1.1\r\nHost: v-test\r\nX-req-1: val1\r\nX-req-2: val2\r\n\r\n",
    );
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.contains("x-c0: v-test\r\n"), "{got}");
    assert!(got.contains("x-c1: val1\r\n"), "{got}");
    assert!(got.contains("x-c2: val2\r\n"), "{got}");
}

/// `option prefer-last-server`: the requests of a keep-alive client stay
/// on the server of its previous request while its private connection to
/// it is idle; otherwise round robin moves the second request to s2. The
/// connections HAProxy 2.6 opens to s2 in the same cases: with `http-reuse
/// safe` the connection is shared, back in the server's pool, and the
/// option changes nothing.
#[test]
fn prefer_last_server_keeps_a_keep_alive_client_on_its_server() {
    for (opt, want_s2) in [
        ("", 1),
        ("    option prefer-last-server\n", 1),
        ("    http-reuse never\n", 1),
        ("    http-reuse never\n    option prefer-last-server\n", 0),
        ("    http-reuse always\n    option prefer-last-server\n", 1),
    ] {
        let mut w = World::new(&cfg(
            "",
            &format!("{opt}    balance roundrobin\n    server s1 {S1}\n    server s2 {S2}\n"),
        ));
        w.server(S1, ServerMode::Manual);
        w.server(S2, ServerMode::Manual);
        let c = w.connect(FE);
        for i in 0..3 {
            w.send(
                c,
                format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
            );
            // Whichever server got it answers.
            let s = if w.accepted.get(&addr(S2)).is_some_and(|v| !v.is_empty())
                && !w.peers[w.server_peer(S2, 0)].from_engine.is_empty()
            {
                w.server_peer(S2, 0)
            } else {
                w.server_peer(S1, 0)
            };
            w.peers[s].from_engine.clear();
            w.send(s, OK);
        }
        assert_eq!(logs(&w).len(), 3, "{opt:?}: {:?}", logs(&w));
        assert_eq!(
            w.accepted.get(&addr(S2)).map_or(0, |v| v.len()),
            want_s2,
            "{opt:?}: {:?}",
            logs(&w)
        );
        w.fin(c);
        for a in [S1, S2] {
            for n in 0..w.accepted.get(&addr(a)).map_or(0, |v| v.len()) {
                let s = w.server_peer(a, n);
                w.fin(s);
            }
        }
        w.advance(6000);
        w.assert_drained();
    }
}

/// `http-send-name-header`: the server receives its own name in the
/// header, the client's value removed; after a refused connect the
/// redispatched request names the other server (HAProxy's
/// `http_send_name_header` at each connection attempt).
#[test]
fn send_name_header_names_the_server_also_on_redispatch() {
    let mut w = World::new(&cfg(
        "",
        &format!(
            "    http-send-name-header X-Server\n    option redispatch\n    retries 1\n    server s1 {S1}\n    server s2 {S2}\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    w.server(S2, ServerMode::Refuse);
    let c = w.connect(FE);
    w.send(
        c,
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-Server: forged\r\nx-server: again\r\n\r\n",
    );
    let s = w.server_peer(S1, 0);
    let seen = text(&w.peers[s].from_engine);
    assert!(seen.starts_with("GET /a HTTP/1.1\r\n"), "{seen}");
    assert!(seen.ends_with("\r\nx-server: s1\r\n\r\n"), "{seen}");
    assert!(
        !seen.contains("forged") && !seen.contains("again"),
        "{seen}"
    );
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 200 "));
    w.fin(s);
    w.fin(c);
    // Round robin sends the next request to s2, which refuses: the
    // redispatch to s1 renames the header.
    let c = w.connect(FE);
    w.send(
        c,
        b"POST /b HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\n\r\nabc",
    );
    w.advance(1100);
    let s = w.server_peer(S1, 1);
    let seen = text(&w.peers[s].from_engine);
    assert!(seen.contains("\r\nx-server: s1\r\n\r\nabc"), "{seen}");
    assert!(!seen.contains("s2"), "{seen}");
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    w.fin(s);
    w.fin(c);
    w.advance(6000);
    w.assert_drained();
}

/// `set-log-level`: the stream's line goes out at the level the last rule
/// set (`http-response` after `http-request`), or not at all (`silent`),
/// and only for that stream (HAProxy's `s->logs.level`).
#[test]
fn set_log_level_changes_the_level_of_the_line_or_silences_it() {
    let mut w = World::new(&cfg(
        "    http-request set-log-level silent if { path /quiet }\n    http-request set-log-level debug if { path_beg /dbg }\n",
        &format!("    http-response set-log-level notice if {{ status 404 }}\n    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    for (i, (path, status)) in [
        ("/quiet", 200),
        ("/dbg", 200),
        ("/dbg/x", 404),
        ("/plain", 200),
    ]
    .into_iter()
    .enumerate()
    {
        let c = w.connect(FE);
        w.send(
            c,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let s = w.server_peer(S1, i);
        w.send(
            s,
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        );
        w.fin(s);
        w.fin(c);
    }
    w.advance(6000);
    let lines: Vec<(sluice_core::sock::LogLevel, String)> = w
        .logs
        .iter()
        .filter(|l| l.text.contains("fe be/s1"))
        .map(|l| (l.level, l.text.clone()))
        .collect();
    use sluice_core::sock::LogLevel as L;
    let got: Vec<(L, bool)> = lines
        .iter()
        .map(|(l, t)| (*l, t.contains("/dbg/x") || t.contains("/plain")))
        .collect();
    assert_eq!(
        got,
        [(L::Debug, false), (L::Notice, true), (L::Info, true)],
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|(_, t)| t.contains("/quiet")),
        "{lines:?}"
    );
    w.assert_drained();
}

/// `cookie ... maxidle|maxlife` (HAProxy's cookie dates): the inserted
/// cookie carries the last-seen and first-seen dates; a known server's
/// cookie is refreshed when its last-seen date is past; a cookie idle
/// longer than `maxidle` is `E`xpired, one older than `maxlife` `O`ld,
/// and both are balanced as if absent.
#[test]
fn cookie_dates_expire_idle_and_old_cookies() {
    use sluice_core::http::cookie::s30tob64;
    let mut w = World::new(&cfg(
        "",
        &format!(
            "    cookie SRV insert indirect maxidle 30s maxlife 1h\n    server s1 {S1} cookie c1\n    server s2 {S2} cookie c2\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    w.server(S2, ServerMode::Manual);
    // The World's clock: epoch 1_795_302_242_000 ms, and it has not moved.
    let epoch_s: u32 = 1_795_302_242;
    let b64 = |secs: u32| String::from_utf8(s30tob64((secs + 3) >> 2).to_vec()).unwrap();
    let exact = |secs: u32| String::from_utf8(s30tob64(secs >> 2).to_vec()).unwrap();
    let mut n = [0usize; 2];
    let mut one = |w: &mut World, cookie: Option<String>| -> (usize, String, String) {
        let c = w.connect(FE);
        let h = cookie.map_or(String::new(), |v| format!("Cookie: SRV={v}\r\n"));
        w.send(
            c,
            format!("GET / HTTP/1.1\r\nHost: x\r\n{h}\r\n").as_bytes(),
        );
        let i = if w.accepted.get(&addr(S1)).map_or(0, Vec::len) > n[0] {
            0
        } else {
            1
        };
        let s = w.server_peer([S1, S2][i], n[i]);
        n[i] += 1;
        w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let got = text(&w.peers[c].from_engine);
        w.fin(s);
        w.fin(c);
        let set = got
            .lines()
            .find_map(|l| l.strip_prefix("Set-Cookie: "))
            .unwrap_or("")
            .to_string();
        let line = logs(w).last().cloned().unwrap_or_default();
        (i, set, tsc(&line).to_string())
    };
    let now = epoch_s;
    let (i, set, t) = one(&mut w, None);
    assert_eq!((i, t.as_str()), (0, "--NI"));
    assert_eq!(set, format!("SRV=c1|{}|{}; path=/", b64(now), b64(now)));
    // A valid cookie 5s old: kept on c1, its last-seen date refreshed,
    // its first-seen date kept.
    let first = now - 100;
    let (i, set, t) = one(
        &mut w,
        Some(format!("c1|{}|{}", exact(now - 4), exact(first))),
    );
    assert_eq!((i, t.as_str()), (0, "--VU"));
    assert_eq!(set, format!("SRV=c1|{}|{}; path=/", b64(now), exact(first)));
    // Idle 40s > maxidle: expired, balanced (to s2), a new cookie.
    let (i, set, t) = one(
        &mut w,
        Some(format!("c1|{}|{}", exact(now - 40), exact(first))),
    );
    assert_eq!((i, t.as_str()), (1, "--EI"));
    assert_eq!(set, format!("SRV=c2|{}|{}; path=/", b64(now), b64(now)));
    // First seen 2h ago > maxlife: old.
    let (_, _, t) = one(
        &mut w,
        Some(format!("c2|{}|{}", exact(now - 4), exact(now - 7200))),
    );
    assert_eq!(t, "--OI");
    // Dated more than a day ahead: expired too.
    let (_, _, t) = one(&mut w, Some(format!("c2|{}", exact(now + 90_000))));
    assert_eq!(t, "--EI");
    w.advance(6000);
    w.assert_drained();
}

/// reg-test http_bodyless_response: a HEAD turned into a GET by
/// `http-request set-method` gets a body from the server; the proxy reads
/// it by its framing (length, chunked, until close) and drops it, the
/// client gets the head only, and the connections stay in step for the
/// next request (HAProxy's client-side `H1S_F_BODYLESS_RESP`).
#[test]
fn head_rewritten_to_get_drops_the_body() {
    let mut w = World::new(&cfg(
        "    http-request set-method GET\n",
        &format!("    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"HEAD /1 HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    assert!(text(&w.peers[s].from_engine).starts_with("GET /1 "));
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nskipped");
    assert_eq!(
        text(&w.peers[c].from_engine),
        "HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n"
    );
    w.send(s, b" data");
    w.peers[c].from_engine.clear();
    w.peers[s].from_engine.clear();
    w.send(c, b"HEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(text(&w.peers[s].from_engine).starts_with("GET /2 "));
    w.send(
        s,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(
        text(&w.peers[c].from_engine),
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    w.peers[c].from_engine.clear();
    w.peers[s].from_engine.clear();
    w.send(c, b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(w.accepted[&addr(S1)].len(), 1, "one server connection");
    assert!(text(&w.peers[s].from_engine).starts_with("GET /3 "));
    w.send(s, OK);
    assert_eq!(text(&w.peers[c].from_engine), text(OK));
    assert!(w.peers[c].closed_by_engine.is_none(), "keep-alive");
    w.fin(c);
    w.fin(s);
    w.advance(6000);
    w.assert_drained();
}

/// reg-test http_abortonclose (c3): with `option abortonclose` on both
/// sides, a client that closes while its response head is awaited gives
/// the request up: the server connection is closed, the line says 400
/// and `CH--`, as HAProxy 2.6 (`return_cli_abort`). Without the option
/// the request goes on.
#[test]
fn abortonclose_while_the_response_is_awaited() {
    let conf = cfg("", &format!("    server s1 {S1}\n")).replace(
        "    timeout connect 1s\n",
        "    timeout connect 1s\n    option abortonclose\n",
    );
    let mut w = World::new(&conf);
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /c3 HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    assert!(text(&w.peers[s].from_engine).starts_with("GET /c3 "));
    w.fin(c);
    assert!(
        w.peers[s].closed_by_engine.is_some(),
        "the server sees the close"
    );
    let l = logs(&w).last().cloned().unwrap();
    assert_eq!((status(&l), tsc(&l)), ("400", "CH--"), "{l}");
    w.advance(6000);
    w.assert_drained();

    // Without the option: the response still reaches the half-closed client.
    let mut w = World::new(&simple());
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /c3 HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.fin(c);
    assert!(w.peers[s].closed_by_engine.is_none());
    w.send(s, OK);
    let got = text(&w.peers[c].from_engine);
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("hello"),
        "{got}"
    );
    w.fin(s);
    w.advance(6000);
    w.assert_drained();
}

/// reg-test proxy_protocol_tlv_validation (c2): the 400 the H1 codec
/// answers to a request it cannot parse gets no `http-after-response`
/// rule (HAProxy 2.6's H1 mux answers before any analyser, measured);
/// the proxy's other replies do.
#[test]
fn codec_400_skips_http_after_response() {
    let conf = cfg(
        "    http-after-response set-header echo yes\n    http-request return status 200 if { path /ok }\n",
        &format!("    server s1 {S1}\n"),
    );
    let mut w = World::new(&conf);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nbad header\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    assert!(!got.contains("echo: yes"), "{got}");
    let c = w.connect(FE);
    w.send(c, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(
        got.starts_with("HTTP/1.1 200 ") && got.contains("echo: yes"),
        "{got}"
    );
}

/// reg-tests http_reuse_aggressive / http_reuse_safe: `aggressive` gives
/// a session's first request only a connection that already served a
/// request other than its first (HAProxy's safe list); `pool-max-conn`
/// bounds the shared idle connections kept, one more is closed.
#[test]
fn reuse_aggressive_first_request_and_pool_max_conn() {
    let conf = cfg(
        "",
        &format!("    http-reuse aggressive\n    server s1 {S1} pool-max-conn 1\n"),
    );
    let mut w = World::new(&conf);
    w.server(S1, ServerMode::Manual);
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    // c1: one request on a new connection A, which is not safe yet.
    let c1 = w.connect(FE);
    w.send(c1, req);
    let a = w.server_peer(S1, 0);
    w.send(a, OK);
    w.fin(c1);
    // c2's first request: not A; a new connection B, which is then over
    // the pool's one connection and closed.
    let c2 = w.connect(FE);
    w.send(c2, req);
    assert_eq!(w.accepted[&addr(S1)].len(), 2, "a new connection");
    let b = w.server_peer(S1, 1);
    w.send(b, OK);
    assert!(w.peers[b].closed_by_engine.is_some(), "pool-max-conn 1");
    // Its second request takes A, which becomes safe.
    w.peers[a].from_engine.clear();
    w.send(c2, req);
    assert!(text(&w.peers[a].from_engine).starts_with("GET / "));
    w.send(a, OK);
    w.fin(c2);
    // c3's first request reuses the safe A.
    w.peers[a].from_engine.clear();
    let c3 = w.connect(FE);
    w.send(c3, req);
    assert_eq!(w.accepted[&addr(S1)].len(), 2, "A reused");
    assert!(text(&w.peers[a].from_engine).starts_with("GET / "));
    w.send(a, OK);
    w.fin(c3);
    w.fin(a);
    w.advance(6000);
    w.assert_drained();
}

/// `http-request strict-mode`: with `tune.bufsize 2048`, `tune.maxrewrite
/// 128` and a 2000-byte body buffered (up to 1920 bytes read), a first
/// 70-byte header fits, a
/// second does not: the request fails with a 500 (`PR`), or with
/// `strict-mode off` goes on without that header (HAProxy's
/// strict_rw_mode.vtc).
#[test]
fn strict_mode_fails_a_rewrite_that_does_not_fit() {
    let v = "1".repeat(60);
    let conf = format!(
        "global\n    tune.bufsize 2048\n    tune.maxrewrite 128\n    log stderr format raw local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    option http-buffer-request\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
         frontend fe\n    bind {FE}\n    http-request set-header x-hdr1 {v}\n    http-request strict-mode off if {{ path /soft }}\n    http-request set-header x-hdr2 {v}\n    default_backend be\n\
         backend be\n    server s1 {S1}\n"
    );
    let body = "b".repeat(2000);
    let mut w = World::new(&conf);
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(
        c,
        format!("POST /strict HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n{body}")
            .as_bytes(),
    );
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 500"), "{got}");
    let l = logs(&w).last().cloned().unwrap();
    assert_eq!((status(&l), &tsc(&l)[..2]), ("500", "PR"), "{l}");
    let c = w.connect(FE);
    w.send(
        c,
        format!("POST /soft HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n{body}").as_bytes(),
    );
    let s = w.server_peer(S1, 0);
    let got = text(&w.peers[s].from_engine);
    assert!(got.contains(&format!("x-hdr1: {v}\r\n")), "{got}");
    assert!(!got.contains("x-hdr2"), "{got}");
    assert!(w.peers[c].from_engine.is_empty(), "no error for the client");
}

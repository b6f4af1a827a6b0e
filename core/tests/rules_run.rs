//! In-memory scenario tests of rules at run time, section by section
//! (issue 18): a backend's `http-request` and `tcp-request content` rules
//! run once it is chosen, after the frontend's; TCP content rules wait
//! within `tcp-request inspect-delay`; `tcp-response content`,
//! `http-after-response`, `use-server` and `stick` conditions act. The
//! black-box twin, side by side with HAProxy, is `tests/rules_matrix.rs`.

mod common;

use common::{ServerMode, World};
use sluice_core::sock::CloseHow;

const FE: &str = "127.0.0.1:8000";
const S1: &str = "127.0.0.1:9001";
const S2: &str = "127.0.0.1:9002";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn cfg(mode: &str, proxies: &str) -> String {
    let log = if mode == "http" { "httplog" } else { "tcplog" };
    format!(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode {mode}\n    log global\n    option {log}\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n{proxies}"
    )
}

/// Regression (issue 18): a backend's `http-request deny` let the request
/// through, and its `set-header` was skipped.
#[test]
fn backend_http_request_rules_run_after_the_frontend_ones() {
    let mut w = World::new(&cfg(
        "http",
        &format!(
            "frontend fe\n    bind {FE}\n    http-request set-header X-Tag fe if {{ path_beg /tag }}\n    default_backend be\n\
             backend be\n    http-request deny if {{ path_beg /admin }}\n    http-request deny deny_status 429 if {{ req.hdr(x-tag) fe }}\n    http-request set-header X-From-Backend yes\n    server s1 {S1}\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /admin/secret HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 403 "));
    assert!(w.accepted.is_empty(), "the server saw nothing");
    // A deny keeps the connection open for the next request (HAProxy).
    assert!(w.peers[c].closed_by_engine.is_none());
    w.fin(c);
    let c = w.connect(FE);
    w.send(c, b"GET /tag HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        text(&w.peers[c].from_engine).starts_with("HTTP/1.1 429 "),
        "the frontend's header is seen by the backend's rule"
    );
    w.fin(c);
    let c = w.connect(FE);
    w.send(c, b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    let seen = text(&w.peers[s].from_engine);
    assert!(seen.contains("X-From-Backend: yes\r\n"), "{seen}");
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 200 "));
    let logs = w.log_texts();
    assert!(
        logs[0].contains(" fe be/<NOSRV> ")
            && logs[0].contains(" 403 ")
            && logs[0].contains(" PR-- "),
        "{logs:?}"
    );
    assert!(
        logs[1].contains(" 429 ") && logs[1].contains(" PR-- "),
        "{logs:?}"
    );
    // Counted on the frontend and, once chosen, on the backend.
    assert_eq!(w.stat("fe", "FRONTEND", "dreq"), "2");
    assert_eq!(w.stat("be", "BACKEND", "dreq"), "2");
    w.fin(c);
    w.advance(6000);
    w.assert_drained();
}

/// A frontend's deny never reaches the backend; it counts on the frontend
/// only (HAProxy counts a backend once it is assigned).
#[test]
fn a_frontend_deny_counts_on_the_frontend_only() {
    let mut w = World::new(&cfg(
        "http",
        &format!(
            "frontend fe\n    bind {FE}\n    http-request deny if {{ path_beg /x }}\n    default_backend be\n\
             backend be\n    http-request allow\n    server s1 {S1}\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 403 "));
    assert_eq!(w.stat("fe", "FRONTEND", "dreq"), "1");
    assert_eq!(w.stat("be", "BACKEND", "dreq"), "0");
    let log = w.log_texts().pop().unwrap();
    assert!(log.contains(" fe fe/<NOSRV> "), "{log}");
    w.fin(c);
    w.advance(6000);
    w.assert_drained();
}

/// `tcp-request content` in TCP mode: the rules wait within the inspect
/// delay for the bytes they test, then reject (a FIN, `PR`, `dreq`) or
/// let the connection go to its server with every byte.
#[test]
fn tcp_content_rules_wait_for_their_data_then_decide() {
    let proxies = format!(
        "frontend fe\n    bind {FE}\n    tcp-request inspect-delay 500ms\n    tcp-request content reject if {{ req.payload(0,5) -m bin 424c4f434b }}\n    tcp-request content accept if {{ req.len ge 5 }}\n    default_backend be\n\
         backend be\n    server s1 {S1}\n"
    );
    let mut w = World::new(&cfg("tcp", &proxies));
    w.server(S1, ServerMode::Manual);
    // BLOCK in two parts: nothing happens until the fifth byte.
    let c = w.connect(FE);
    w.send(c, b"BL");
    w.advance(100);
    assert!(w.accepted.is_empty() && w.peers[c].closed_by_engine.is_none());
    w.send(c, b"OCK me");
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Drain));
    assert!(w.accepted.is_empty(), "rejected before any connection");
    let log = w.log_texts().pop().unwrap();
    assert!(
        log.contains(" fe fe/<NOSRV> ") && log.contains(" PR "),
        "{log}"
    );
    assert_eq!(w.stat("fe", "FRONTEND", "dreq"), "1");
    // Accepted: every byte reaches the server.
    let c = w.connect(FE);
    w.send(c, b"he");
    w.advance(100);
    w.send(c, b"llo");
    let s = w.server_peer(S1, 0);
    assert_eq!(text(&w.peers[s].from_engine), "hello");
    w.fin(c);
    w.fin(s);
    // Too little data: the delay runs out, the rules decide on what came
    // (no rule matches: accepted).
    let c = w.connect(FE);
    w.send(c, b"BL");
    w.advance(400);
    assert_eq!(w.accepted[&common::addr(S1)].len(), 1, "still waiting");
    w.advance(200);
    let s = w.server_peer(S1, 1);
    assert_eq!(text(&w.peers[s].from_engine), "BL");
    w.fin(c);
    w.fin(s);
    w.advance(100);
    w.assert_drained();
}

/// TCP mode: `use_backend` on the content, then the backend's own content
/// rules, then `use-server`.
#[test]
fn tcp_switching_backend_rules_and_use_server() {
    let proxies = format!(
        "frontend fe\n    bind {FE}\n    tcp-request inspect-delay 1s\n    tcp-request content accept if {{ req.len ge 3 }}\n    use_backend b2 if {{ req.payload(0,3) -m bin 623262 }}\n    default_backend be\n\
         backend be\n    use-server s2 if {{ req.payload(0,3) -m bin 747770 }}\n    server s1 {S1}\n    server s2 {S2}\n\
         backend b2\n    tcp-request content reject if {{ req.payload(3,1) -m bin 21 }}\n    server s2 {S2}\n"
    );
    let mut w = World::new(&cfg("tcp", &proxies));
    w.server(S1, ServerMode::Manual);
    w.server(S2, ServerMode::Manual);
    // b2's own content rule rejects "b2b!".
    let c = w.connect(FE);
    w.send(c, b"b2b!");
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Drain));
    let log = w.log_texts().pop().unwrap();
    assert!(
        log.contains(" fe b2/<NOSRV> ") && log.contains(" PR "),
        "{log}"
    );
    // use-server: "twp" always goes to s2, whatever the round robin says.
    for _ in 0..3 {
        let c = w.connect(FE);
        w.send(c, b"twp");
        w.fin(c);
    }
    assert!(!w.accepted.contains_key(&common::addr(S1)));
    assert_eq!(w.accepted[&common::addr(S2)].len(), 3);
    for s in w.accepted[&common::addr(S2)].clone() {
        w.fin(s);
    }
    w.advance(100);
    w.assert_drained();
}

/// `http-after-response` runs on the server's responses and on the
/// proxy's own (a deny), the backend's rules before the frontend's.
#[test]
fn http_after_response_on_every_response() {
    let mut w = World::new(&cfg(
        "http",
        &format!(
            "frontend fe\n    bind {FE}\n    http-request deny if {{ path_beg /admin }}\n    http-after-response set-header X-After %[res.hdr(x-after)],fe\n    default_backend be\n\
             backend be\n    http-after-response set-header X-After be\n    http-response set-header X-Res be\n    server s1 {S1}\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(
        got.starts_with("HTTP/1.1 403 ") && got.contains("\r\nX-After: ,fe\r\n"),
        "{got}"
    );
    w.fin(c);
    let c = w.connect(FE);
    w.send(c, b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let got = text(&w.peers[c].from_engine);
    assert!(got.contains("\r\nX-After: be,fe\r\n"), "{got}");
    assert!(got.contains("\r\nX-Res: be\r\n"), "{got}");
    w.fin(c);
    w.advance(6000);
    w.assert_drained();
}

/// `stick on` with a condition: only the requests it holds for stick.
#[test]
fn stick_rule_conditions_are_honoured() {
    let mut w = World::new(&cfg(
        "http",
        &format!(
            "frontend fe\n    bind {FE}\n    default_backend be\n\
             backend be\n    stick-table type ip size 1k\n    stick on src if {{ path_beg /s }}\n    server s1 {S1}\n    server s2 {S2}\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    w.server(S2, ServerMode::Manual);
    let mut order = Vec::new();
    for path in ["/x", "/s/1", "/s/2", "/s/3", "/y"] {
        let c = w.connect(FE);
        w.send(
            c,
            format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let (n1, n2) = (
            w.accepted.get(&common::addr(S1)).map_or(0, Vec::len),
            w.accepted.get(&common::addr(S2)).map_or(0, Vec::len),
        );
        let (srv, n) = if order.iter().filter(|s| **s == "s1").count() < n1 {
            (S1, n1 - 1)
        } else {
            (S2, n2 - 1)
        };
        order.push(if srv == S1 { "s1" } else { "s2" });
        let s = w.server_peer(srv, n);
        w.send(
            s,
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        w.fin(s);
    }
    // Round robin for /x; /s/1 learns s2; /s/2 and /s/3 stick to it; /y
    // is balanced again.
    assert_eq!(order, ["s1", "s2", "s2", "s2", "s1"]);
    w.advance(6000);
    w.assert_drained();
}

/// Sends one request and answers it from whichever server got it; returns
/// that server's address.
fn one_request(w: &mut World, req: &str, answer: &str) -> &'static str {
    let before = |w: &World, a: &str| w.accepted.get(&common::addr(a)).map_or(0, Vec::len);
    let (n1, n2) = (before(w, S1), before(w, S2));
    let c = w.connect(FE);
    w.send(c, req.as_bytes());
    let (srv, n) = if before(w, S1) > n1 {
        (S1, n1)
    } else {
        (S2, n2)
    };
    assert!(before(w, srv) > n, "no server got {req:?}");
    let s = w.server_peer(srv, n);
    w.send(s, answer.as_bytes());
    w.fin(s);
    w.fin(c);
    srv
}

/// `stick on` with any sample expression, converted to the table's type,
/// and the server found by its name (`server_key`) in another backend
/// where it has another id (stickiness/lb-services.vtc); `stick
/// store-response` on a response header, matched by a request header.
#[test]
fn stick_rules_take_any_expression_and_find_servers_by_name() {
    let mut w = World::new(&cfg(
        "http",
        &format!(
            "frontend fe\n    bind {FE}\n    use_backend be2 if {{ path_beg /b2 }}\n    use_backend be3 if {{ path_beg /b3 }}\n    default_backend be1\n\
             backend t\n    stick-table type string len 32 size 1k\n\
             backend be1\n    stick on urlp(client) table t\n    server a {S1}\n    server b {S2}\n\
             backend be2\n    stick on urlp(client) table t\n    server b {S2}\n    server a {S1}\n\
             backend be3\n    stick-table type integer size 1k\n    stick match req.hdr(x-sess)\n    stick store-response res.hdr(x-sess)\n    server a {S1}\n    server b {S2}\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    w.server(S2, ServerMode::Manual);
    let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let get =
        |p: &str, h: &str| format!("GET {p} HTTP/1.1\r\nHost: a\r\n{h}Connection: close\r\n\r\n");
    assert_eq!(one_request(&mut w, &get("/b1?client=c1", ""), ok), S1);
    assert_eq!(one_request(&mut w, &get("/b1?client=c2", ""), ok), S2);
    assert_eq!(one_request(&mut w, &get("/b1?client=c1", ""), ok), S1);
    // be2 numbers its servers the other way: the names decide.
    assert_eq!(one_request(&mut w, &get("/b2?client=c1", ""), ok), S1);
    assert_eq!(one_request(&mut w, &get("/b2?client=c2", ""), ok), S2);
    // Without the parameter, no key: round robin (b, then a).
    assert_eq!(one_request(&mut w, &get("/b2", ""), ok), S2);
    assert_eq!(one_request(&mut w, &get("/b2", ""), ok), S1);
    // be3: s1 answers with session 42, stored as an integer key.
    let sess = "HTTP/1.1 200 OK\r\nx-sess: 42\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    assert_eq!(one_request(&mut w, &get("/b3", ""), sess), S1);
    for _ in 0..2 {
        assert_eq!(one_request(&mut w, &get("/b3", "x-sess: 42\r\n"), ok), S1);
    }
    // An unknown session, or one that is no integer, is balanced.
    assert_eq!(one_request(&mut w, &get("/b3", "x-sess: 7\r\n"), ok), S2);
    assert_eq!(one_request(&mut w, &get("/b3", "x-sess: abc\r\n"), ok), S1);
    w.advance(6000);
    w.assert_drained();
}

/// `tcp-response content reject` once the server connection is up: both
/// sides close, `PD`, counted in `dresp` (frontend, backend, server).
#[test]
fn tcp_response_reject_closes_both_sides() {
    let mut w = World::new(&cfg(
        "tcp",
        &format!(
            "frontend fe\n    bind {FE}\n    default_backend be\n\
             backend be\n    tcp-response content reject if TRUE\n    server s1 {S1}\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"hello");
    let s = w.server_peer(S1, 0);
    assert!(w.peers[s].closed_by_engine.is_some());
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Drain));
    let log = w.log_texts().pop().unwrap();
    assert!(log.contains(" fe be/s1 ") && log.contains(" PD "), "{log}");
    assert_eq!(w.stat("fe", "FRONTEND", "dresp"), "1");
    assert_eq!(w.stat("be", "BACKEND", "dresp"), "1");
    assert_eq!(w.stat("be", "s1", "dresp"), "1");
    w.advance(100);
    w.assert_drained();
}

/// `http-request tarpit`: nothing is connected, the answer (500) waits
/// `timeout tarpit`, the log says `PT` with the wait as `Tw`.
#[test]
fn tarpit_holds_the_answer() {
    let mut w = World::new(&cfg(
        "http",
        &format!(
            "frontend fe\n    bind {FE}\n    default_backend be\n\
             backend be\n    timeout tarpit 400ms\n    http-request tarpit if {{ path_beg /t }}\n    server s1 {S1}\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /t HTTP/1.1\r\nHost: a\r\n\r\n");
    w.advance(300);
    assert!(w.peers[c].from_engine.is_empty(), "held");
    w.send(c, b"more bytes, dropped");
    w.advance(150);
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 500 "), "{got}");
    assert!(w.accepted.is_empty(), "never connected");
    let log = w.log_texts().pop().unwrap();
    assert!(log.contains(" PT-- ") && log.contains(" 500 "), "{log}");
    assert!(
        log.contains(" -1/400/-1/-1/400 "),
        "Tw is the wait, no TR: {log}"
    );
    assert_eq!(w.stat("be", "BACKEND", "dreq"), "1");
    w.advance(100);
    w.assert_drained();
}

/// TCP mode: HTTP fetches in content rules and `use_backend` read the
/// request head at the start of the buffer (HAProxy parses it on the fly),
/// and wait for it to be complete within the inspect delay.
#[test]
fn tcp_content_rules_read_an_http_head_in_the_buffer() {
    let mut w = World::new(&cfg(
        "tcp",
        &format!(
            "frontend fe\n    bind {FE}\n    tcp-request inspect-delay 1s\n    tcp-request content reject if {{ path_beg /admin }}\n    tcp-request content accept if HTTP\n    use_backend b2 if {{ path_beg /two }}\n    default_backend be\n\
             backend be\n    server s1 {S1}\n\
             backend b2\n    server s2 {S2}\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    w.server(S2, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /adm");
    w.advance(100);
    assert!(w.peers[c].closed_by_engine.is_none(), "waits for the head");
    w.send(c, b"in HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Drain));
    let c = w.connect(FE);
    w.send(c, b"GET /two HTTP/1.1\r\nHost: t\r\n\r\n");
    let s = w.server_peer(S2, 0);
    assert!(text(&w.peers[s].from_engine).starts_with("GET /two "));
    assert!(!w.accepted.contains_key(&common::addr(S1)));
    w.fin(c);
    w.fin(s);
    w.advance(100);
    w.assert_drained();
}

/// reg-test http-rules/h1_to_h1c: a `set-uri` to a target that is neither
/// a path nor an absolute URI (`concat(/bu/,x)`, a log-format taken
/// literally) gives its authority to `Host` (HAProxy's
/// `http_update_host`); the next `set-path` replaces all of it, since
/// HAProxy finds no path in it, and `set-query` keeps no prefix.
#[test]
fn set_uri_without_path_then_set_path_and_query() {
    let mut w = World::new(&cfg(
        "http",
        &format!(
            "frontend fe\n    bind {FE}\n    http-request set-uri concat(/bu/,x)\n    http-request set-path /bp\n    http-request set-query q=1\n    default_backend be\n\
             backend be\n    server s1 {S1}\n\
             frontend fe2\n    bind 127.0.0.1:8001\n    http-request set-uri http://u@auth:81/p?x\n    http-request set-path /n\n    default_backend be\n"
        ),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /a?z HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    let seen = text(&w.peers[s].from_engine);
    assert!(seen.starts_with("GET /bp?q=1 HTTP/1.1\r\n"), "{seen}");
    assert!(seen.contains("\r\nHost: concat(\r\n"), "{seen}");
    let c = w.connect("127.0.0.1:8001");
    w.send(c, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 1);
    let seen = text(&w.peers[s].from_engine);
    assert!(
        seen.starts_with("GET http://u@auth:81/n?x HTTP/1.1\r\n"),
        "{seen}"
    );
    assert!(seen.contains("\r\nHost: auth:81\r\n"), "{seen}");
}

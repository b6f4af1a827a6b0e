//! In-memory scenario tests of HTTP mode: client <-> engine <-> server on
//! virtual time, no sockets. Regression tests for bugs the black-box suite
//! (`tests/http_proxy.rs`) found; every test ends by checking that nothing
//! leaked.

mod common;

use common::{ServerMode, World};
use sluice_core::sock::CloseHow;

const FE: &str = "127.0.0.1:8000";
const S1: &str = "127.0.0.1:9001";

fn cfg(extra_defaults: &str, backend: &str) -> String {
    format!(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n{extra_defaults}\
         frontend fe\n    bind {FE}\n    default_backend be\n\
         backend be\n{backend}    server s1 {S1}\n"
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Regression: every byte of a request head refreshed the request
/// deadline with `timeout client`, so a client trickling header lines
/// (slowloris) never got its 408 from `timeout http-request`.
#[test]
fn timeout_http_request_bounds_a_trickling_head() {
    let mut w = World::new(&cfg("    timeout http-request 500ms\n", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..4 {
        w.advance(100);
        w.send(c, format!("X-Slow-{i}: x\r\n").as_bytes());
    }
    assert!(w.peers[c].from_engine.is_empty(), "not yet");
    w.advance(100);
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 408 "), "{got}");
    // A FIN after the 408; the client may still be sending: the close
    // lingers until it closes.
    assert!(w.peers[c].fin_from_engine);
    assert!(w.accepted.is_empty(), "nothing reached the server");
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" 408 ") && log.contains(" cR-- "), "{log}");
    w.fin(c);
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    w.assert_drained();
}

/// Regression: a client closing its keep-alive connection between two
/// requests was answered with a reset instead of a FIN.
#[test]
fn a_client_closing_between_requests_gets_a_clean_close() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    assert!(text(&w.peers[c].from_engine).ends_with("\r\n\r\nok"));
    w.fin(c);
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    assert_eq!(w.log_texts().len(), 1, "only the request is logged");
    // The idle server connection is released too.
    w.advance(6000);
    w.assert_drained();
}

/// Regression: `show stat` printed `reuse` 0 and counted reused idle
/// connections as `connect`ions.
#[test]
fn show_stat_tells_reused_connections_from_new_ones() {
    let mut w = World::new(&cfg("", "    http-reuse always\n"));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    for i in 0..3 {
        w.send(
            c,
            format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
        let s = w.server_peer(S1, 0);
        w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    }
    assert_eq!(w.accepted.values().map(Vec::len).sum::<usize>(), 1);
    assert_eq!(w.stat("be", "s1", "connect"), "1");
    assert_eq!(w.stat("be", "s1", "reuse"), "2");
    assert_eq!(w.stat("be", "s1", "stot"), "3");
    assert_eq!(w.stat("be", "BACKEND", "connect"), "1");
    assert_eq!(w.stat("be", "BACKEND", "reuse"), "2");
    w.fin(c);
    w.advance(6000);
    w.assert_drained();
}

/// Regression: `timeout http-keep-alive` closed an idle keep-alive
/// connection with a reset; HAProxy closes it with a FIN, unlogged.
#[test]
fn keep_alive_timeout_closes_with_a_fin() {
    let mut w = World::new(&cfg("    timeout http-keep-alive 300ms\n", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    w.advance(299);
    assert!(w.peers[c].closed_by_engine.is_none());
    w.advance(1);
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    assert_eq!(w.log_texts().len(), 1, "only the request is logged");
    w.advance(6000);
    w.assert_drained();
}

/// Regression: bad chunked framing in a request body (here an invalid
/// chunk size) reset the client connection without an answer; HAProxy
/// answers 400 while no response has started. Nothing is forwarded when
/// the whole request came at once.
#[test]
fn bad_request_chunk_size_gets_400_and_nothing_forwarded() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(
        c,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    assert!(w.peers[c].fin_from_engine);
    w.fin(c);
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    assert!(w.accepted.is_empty(), "nothing reached the server");
    assert_eq!(w.peers.len(), 1, "no server connection was even attempted");
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" 400 ") && log.contains(" PH-- "), "{log}");
    w.assert_drained();

    // The same error after the head went to the server: 400 to the client,
    // the server connection is aborted.
    let c = w.connect(FE);
    w.send(
        c,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    let s = w.server_peer(S1, 0);
    assert!(text(&w.peers[s].from_engine).ends_with("5\r\nhello\r\n"));
    w.send(c, b"zz\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    assert_eq!(w.peers[s].closed_by_engine, Some(CloseHow::Reset));
    assert!(!text(&w.peers[s].from_engine).contains("zz"));
    w.fin(c);
    w.assert_drained();
}

/// Regression: a request refused before a backend was chosen (here a
/// malformed head) was logged against the default backend (`fe be/<NOSRV>`);
/// HAProxy logs the frontend there (`fe fe/<NOSRV>`), the stream's backend
/// until the switching rules run.
#[test]
fn a_request_refused_before_backend_selection_logs_the_frontend() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 400 "));
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" fe fe/<NOSRV> "), "{log}");
    assert!(log.contains(" 400 ") && log.contains(" PR-- "), "{log}");
    w.fin(c);
    w.assert_drained();
    // A request that went through names its backend.
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    w.fin(c);
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" fe be/s1 "), "{log}");
    w.advance(6000);
    w.assert_drained();
}

/// Regression: a 408 was not counted in the frontend's `ereq`, and a 502
/// for a server that closed early not in the server's `eresp` (only the
/// backend's), where HAProxy counts both.
#[test]
fn request_timeouts_and_bad_responses_are_counted_like_haproxy() {
    let mut w = World::new(&cfg("    timeout http-request 500ms\n", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\n");
    w.advance(500);
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 408 "));
    w.fin(c);
    assert_eq!(w.stat("fe", "FRONTEND", "ereq"), "1");
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.fin(s);
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 502 "));
    assert_eq!(w.stat("be", "s1", "eresp"), "1");
    assert_eq!(w.stat("be", "BACKEND", "eresp"), "1");
    w.assert_drained();
}

/// Regression: `show stat` printed `dreq` and `req_tot` 0 for frontends
/// although the engine has the counters; denied requests were not counted.
#[test]
fn show_stat_counts_requests_and_denied_ones() {
    let mut w = World::new(&cfg("", "").replace(
        "    default_backend be\n",
        "    http-request deny if { path_beg /deny }\n    default_backend be\n",
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    w.send(c, b"GET /deny HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).contains("HTTP/1.1 403 "));
    assert_eq!(w.stat("fe", "FRONTEND", "req_tot"), "2");
    assert_eq!(w.stat("fe", "FRONTEND", "dreq"), "1");
    // Responses by class: the frontend saw both, the backend and the
    // server only the one that went there.
    assert_eq!(w.stat("fe", "FRONTEND", "hrsp_2xx"), "1");
    assert_eq!(w.stat("fe", "FRONTEND", "hrsp_4xx"), "1");
    assert_eq!(w.stat("be", "BACKEND", "hrsp_2xx"), "1");
    assert_eq!(w.stat("be", "BACKEND", "hrsp_4xx"), "0");
    assert_eq!(w.stat("be", "BACKEND", "req_tot"), "1");
    assert_eq!(w.stat("be", "s1", "hrsp_2xx"), "1");
    assert_eq!(w.stat("be", "s1", "req_tot"), "1");
    // Rates over the last second, and their peaks.
    assert_eq!(w.stat("fe", "FRONTEND", "req_rate"), "2");
    assert_eq!(w.stat("fe", "FRONTEND", "conn_rate"), "1");
    assert_eq!(w.stat("be", "BACKEND", "rate"), "1");
    assert_eq!(w.stat("be", "s1", "rate"), "1");
    // A server that dies in the middle of a body: a server abort.
    let c2 = w.connect(FE);
    w.send(c2, b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    let s2 = w.server_peer(S1, 1);
    w.send(s2, b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc");
    w.rst(s2);
    assert_eq!(w.stat("be", "BACKEND", "srv_abrt"), "1");
    assert_eq!(w.stat("be", "s1", "srv_abrt"), "1");
    assert_eq!(w.stat("be", "s1", "cli_abrt"), "0");
    w.fin(c);
    w.advance(6000);
    assert_eq!(w.stat("fe", "FRONTEND", "req_rate"), "0");
    assert_eq!(w.stat("fe", "FRONTEND", "req_rate_max"), "3");
    assert_eq!(w.stat("be", "s1", "rate_max"), "2");
    w.assert_drained();
}

/// Regression: when no server connection could be made (refused, retries
/// exhausted; no usable server; queue timeout), an HTTP client got its
/// connection closed without a word. HAProxy answers 503
/// (`http_return_srv_error`) with the termination state of the failure.
#[test]
fn a_server_that_cannot_be_reached_means_503() {
    let mut w = World::new(&cfg("    retries 0\n", ""));
    w.server(S1, ServerMode::Refuse);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 503 "), "{got}");
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(
        log.contains(" be/s1 ") && log.contains(" 503 ") && log.contains(" SC-- "),
        "{log}"
    );
    w.assert_drained();

    // A server that never answers the SYN: 503 sC after timeout connect.
    w.server(S1, ServerMode::Blackhole);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    w.advance(1000);
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 503 "), "{got}");
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" 503 ") && log.contains(" sC-- "), "{log}");
    w.assert_drained();
}

/// The same for a stream that waited in the queue too long: 503 sQ.
#[test]
fn a_queue_timeout_means_503() {
    let mut w = World::new(&cfg("    timeout queue 500ms\n", "").replace(
        &format!("server s1 {S1}"),
        &format!("server s1 {S1} maxconn 1"),
    ));
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    w.send(a, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
    let b = w.connect(FE);
    w.send(b, b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    w.advance(500);
    let got = text(&w.peers[b].from_engine);
    assert!(got.starts_with("HTTP/1.1 503 "), "{got}");
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" 503 ") && log.contains(" sQ-- "), "{log}");
    // `%TR/%Tw/...`: 500 ms in the queue, as HAProxy logs it.
    assert!(log.contains(" 0/500/-1/-1/500 "), "{log}");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert!(text(&w.peers[a].from_engine).starts_with("HTTP/1.1 200 "));
    w.fin(a);
    w.advance(6000);
    w.assert_drained();
}

/// Regression: requests refused for a bad or incomplete head (400, 408)
/// were left out of `req_tot`, and a head too large for the buffer or a
/// bad framing header out of `ereq`; HAProxy counts every one in both.
#[test]
fn bad_requests_count_in_req_tot_and_ereq() {
    let mut w = World::new(&cfg("    timeout http-request 500ms\n", ""));
    w.server(S1, ServerMode::Manual);
    for req in [
        &b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\n",
    ] {
        let c = w.connect(FE);
        w.send(c, req);
        w.advance(500);
        assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 4"));
        w.fin(c);
    }
    assert_eq!(w.stat("fe", "FRONTEND", "req_tot"), "3");
    assert_eq!(w.stat("fe", "FRONTEND", "ereq"), "3");
    w.assert_drained();
}

/// Regression: a head whose body came in the same read filled the whole
/// buffer, leaving no room to rewrite the head in place: a response the
/// client asked to close (`connection: close` added) became a 502, a
/// request with `option forwardfor` a 500. `tune.maxrewrite` bytes now
/// stay free while a head is awaited, as in HAProxy.
#[test]
fn heads_are_rewritten_even_when_the_body_fills_the_buffer() {
    let mut w = World::new(&cfg("    option forwardfor\n", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let body = vec![b'b'; 50_000];
    let mut req =
        b"POST /up HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 50000\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&body);
    w.send(c, &req);
    let s = w.server_peer(S1, 0);
    let got = w.peers[s].from_engine.clone();
    let head_end = got.windows(4).position(|x| x == b"\r\n\r\n").unwrap() + 4;
    let head = text(&got[..head_end]);
    assert!(head.contains("X-Forwarded-For: 10.0.0.1\r\n"), "{head}");
    assert_eq!(&got[head_end..], &body[..], "the body went through whole");
    let mut res = b"HTTP/1.1 200 OK\r\ncontent-length: 50000\r\n\r\n".to_vec();
    res.extend_from_slice(&body);
    w.send(s, &res);
    let got = w.peers[c].from_engine.clone();
    let head_end = got.windows(4).position(|x| x == b"\r\n\r\n").unwrap() + 4;
    let head = text(&got[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close\r\n"),
        "{head}"
    );
    assert_eq!(&got[head_end..], &body[..]);
    assert!(w.peers[c].closed_by_engine.is_some());
    w.advance(6000);
    w.assert_drained();
}

/// Regression: a client resetting its connection while the server worked
/// on its request was logged `502` with the bytes of an error page nobody
/// received (the request channel's shutdown was taken for the server's),
/// and `CD` although no response had come. Now the server side is
/// aborted with the client, and the line says `-1` and `CH`.
#[test]
fn a_client_reset_while_waiting_for_the_response_is_logged_ch() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    assert!(text(&w.peers[s].from_engine).starts_with("GET /slow "));
    w.rst(c);
    assert_eq!(w.peers[s].closed_by_engine, Some(CloseHow::Reset));
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" -1 0 - - CH-- "), "{log}");
    w.assert_drained();
}

/// Issue 18: a `204` (or a 1xx) carrying `Content-Length` or
/// `Transfer-Encoding` was forwarded as is; a client that believed the
/// field would read the next response as this one's body. They are
/// removed, as HAProxy does; a `304` keeps its `Content-Length`.
#[test]
fn bodiless_responses_go_out_without_framing_fields() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(
        c,
        b"GET /1 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
    );
    let s = w.server_peer(S1, 0);
    w.send(
        s,
        b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n\
          HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: chunked\r\nLink: </s.css>\r\n\r\n",
    );
    w.send(c, b"x");
    w.send(
        s,
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n",
    );
    w.send(c, b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    w.send(s, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(
        text(&w.peers[c].from_engine),
        "HTTP/1.1 100 Continue\r\n\r\n\
         HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n\
         HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n\
         HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
    );
    assert_eq!(
        w.accepted[&common::addr(S1)].len(),
        1,
        "one server connection, reused"
    );
    w.fin(c);
    w.advance(6000);
    w.assert_drained();
}

/// Issue 18: chunk framing was forwarded as received, so a server with
/// another chunk parser could read other framing than the proxy did
/// (`0000...05`, `5;a=b`, `0;GET /smuggled HTTP/1.1`), and forbidden
/// trailers (`Content-Length`, `Transfer-Encoding`, `Host`, ...) went
/// through. Size lines now leave canonical and those trailers are
/// dropped, whatever the split of the input; both directions.
#[test]
fn chunk_framing_leaves_canonical_and_forbidden_trailers_are_dropped() {
    let body = b"00000000000000000000000005\r\nhello\r\n5;a=b\r\nworld\r\n\
        3 ; x = \"y\"\r\nabc\r\nA\r\n0123456789\r\n\
        0;GET /smuggled HTTP/1.1\r\nContent-Length: 5\r\nX-T: 1\r\n\
        transfer-encoding: chunked\r\nHost: evil\r\nConnection: close\r\nX-Other: ok\r\n\r\n";
    let canonical = "5\r\nhello\r\n5\r\nworld\r\n3\r\nabc\r\nA\r\n0123456789\r\n\
        0\r\nX-T: 1\r\nX-Other: ok\r\n\r\n";
    for step in [body.len(), 1, 2, 3, 5, 7, 11, 64] {
        let mut w = World::new(&cfg("", ""));
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        w.send(c, head.as_bytes());
        for piece in body.chunks(step) {
            w.send(c, piece);
        }
        w.send(c, b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
        let s = w.server_peer(S1, 0);
        let got = text(&w.peers[s].from_engine);
        assert_eq!(got, format!("{head}{canonical}"), "step {step}");
        // The response the same way, then the next request goes through.
        let rhead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        w.send(s, rhead.as_bytes());
        for piece in body.chunks(step) {
            w.send(s, piece);
        }
        assert_eq!(
            text(&w.peers[c].from_engine),
            format!("{rhead}{canonical}"),
            "step {step}"
        );
        assert!(text(&w.peers[s].from_engine).ends_with("GET /next HTTP/1.1\r\nHost: a\r\n\r\n"));
        w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        w.fin(c);
        w.advance(6000);
        w.assert_drained();
    }
}

/// Canonical framing is forwarded as it came: no byte changes, whatever
/// the split (lines are held back only until their end arrives).
#[test]
fn canonical_chunk_framing_is_forwarded_untouched() {
    let body = b"5\r\nhello\r\n1F\r\n0123456789012345678901234567890\r\n0\r\nX-Sum: 1\r\n\r\n";
    for step in [body.len(), 1, 4] {
        let mut w = World::new(&cfg("", ""));
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        w.send(c, head);
        let s = w.server_peer(S1, 0);
        let mut sent = 0;
        for piece in body.chunks(step) {
            w.send(c, piece);
            sent += piece.len();
            // Never more than what arrived, and at most one unfinished
            // line behind.
            let fwd = w.peers[s].from_engine.len() - head.len();
            assert!(
                fwd <= sent && sent - fwd <= 11,
                "step {step}: {fwd} of {sent}"
            );
        }
        assert_eq!(&w.peers[s].from_engine[head.len()..], &body[..]);
        w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        w.fin(c);
        w.advance(6000);
        w.assert_drained();
    }
}

/// A size line longer than the buffer can hold is an error, not a stall
/// (the line is held back until its end, which never fits).
#[test]
fn a_chunk_line_longer_than_the_buffer_is_refused() {
    let mut w = World::new(&cfg("", "").replacen(
        "global\n",
        "global\n    tune.bufsize 2048\n    tune.maxrewrite 512\n",
        1,
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(
        c,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;",
    );
    let s = w.server_peer(S1, 0);
    w.send(c, &[b'e'; 3000]);
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    assert!(
        !text(&w.peers[s].from_engine).contains("5;"),
        "the line never left"
    );
    w.fin(c);
    w.advance(6000);
    w.assert_drained();
}

/// Regression (issue 18): `timeout client` closed the client connection
/// of a complete request that was waiting for a slow server. HAProxy lets
/// the server's timeout decide while the response is awaited: the 200
/// arrives after `timeout client`, before `timeout server`.
#[test]
fn timeout_client_does_not_cut_a_request_waiting_for_its_server() {
    let mut w = World::new(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 300ms\n    timeout server 800ms\n\
         frontend fe\n    bind 127.0.0.1:8000\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:9001\n",
    );
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.advance(500);
    assert!(w.peers[c].closed_by_engine.is_none(), "client kept");
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    // The server never answers the next one: 504 at `timeout server`.
    w.send(c, b"GET /stalled HTTP/1.1\r\nHost: a\r\n\r\n");
    w.advance(700);
    assert!(w.peers[c].closed_by_engine.is_none(), "not at 700ms");
    w.advance(200);
    let got = text(&w.peers[c].from_engine);
    assert!(got.contains("HTTP/1.1 504 "), "{got}");
    let logs = w.log_texts();
    assert!(
        logs[0].contains(" 200 ") && logs[0].contains(" ---- "),
        "{logs:?}"
    );
    assert!(
        logs[1].contains(" 504 ") && logs[1].contains(" sH-- "),
        "{logs:?}"
    );
    w.fin(c);
    w.advance(6000);
    w.assert_drained();
}

/// Issue 18: a request head over the buffer size got its 400 and then a
/// reset (the socket was closed with the rest of the head unread), which
/// can destroy the 400 before the client reads it. Now the answer is
/// followed by a FIN, what the client still sends is read and thrown
/// away, and the socket closes once the client closes (or after `timeout
/// client-fin`): never a reset.
#[test]
fn an_error_reply_is_followed_by_a_lingering_close() {
    let mut w = World::new(&cfg("    timeout client-fin 3s\n", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'x', 40_000));
    w.send(c, &big);
    let got = text(&w.peers[c].from_engine);
    assert!(
        got.starts_with("HTTP/1.1 400 ") && got.ends_with("</html>\n"),
        "{got}"
    );
    assert!(w.peers[c].fin_from_engine, "a FIN after the 400");
    assert_eq!(
        w.peers[c].closed_by_engine, None,
        "not closed while the client sends"
    );
    assert!(w.peers[c].to_engine.is_empty(), "everything was read");
    let logs = w.log_texts().len();
    // More bytes: read and dropped, nothing answered, nothing logged.
    w.send(
        c,
        b"more of the same\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert!(w.peers[c].to_engine.is_empty());
    assert!(text(&w.peers[c].from_engine) == got, "nothing more written");
    assert_eq!(w.log_texts().len(), logs);
    assert!(w.accepted.is_empty(), "nothing reached a server");
    w.advance(2999);
    assert_eq!(w.peers[c].closed_by_engine, None);
    // `timeout client-fin` ends it; a FIN from the client would have too.
    w.advance(1);
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    w.assert_drained();

    // The client closes first: closed at once.
    let c = w.connect(FE);
    w.send(
        c,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\n",
    );
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 422 "));
    assert!(w.peers[c].fin_from_engine);
    w.fin(c);
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    w.assert_drained();

    // A request that was read whole: closed at once as before (nothing
    // more is expected from the client).
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    w.advance(6000);
    w.assert_drained();
}

/// Regression (issue 18): with equal client and server timeouts a stalled
/// server got the client a bare close (the client timeout, armed a moment
/// earlier, fired first); HAProxy answers 504.
#[test]
fn equal_timeouts_and_a_stalled_server_give_a_504() {
    let mut w = World::new(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 300ms\n    timeout server 300ms\n\
         frontend fe\n    bind 127.0.0.1:8000\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:9001\n",
    );
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    w.advance(400);
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 504 "), "{got}");
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" 504 ") && log.contains(" sH-- "), "{log}");
    w.advance(6000);
    w.assert_drained();
}

/// Regression: `show stat`'s `qtime ctime rtime ttime` and their `_max`
/// were always 0. HAProxy's `stream_update_time_stats`: the average of
/// each stream's times (exact under 512 samples), response time from the
/// connection to the response headers, total from the stream's start.
#[test]
fn show_stat_time_averages_follow_the_streams() {
    let mut w = World::new(&cfg("", "    http-reuse always\n"));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    for (i, wait) in [100u64, 300].into_iter().enumerate() {
        w.send(
            c,
            format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
        w.advance(wait);
        let s = w.server_peer(S1, 0);
        w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    }
    for px in ["s1", "BACKEND"] {
        assert_eq!(w.stat("be", px, "qtime"), "0", "{px}");
        assert_eq!(w.stat("be", px, "ctime"), "0", "{px}");
        assert_eq!(w.stat("be", px, "rtime"), "200", "{px}");
        assert_eq!(w.stat("be", px, "ttime"), "200", "{px}");
        assert_eq!(w.stat("be", px, "rtime_max"), "300", "{px}");
        assert_eq!(w.stat("be", px, "ttime_max"), "300", "{px}");
    }
    w.fin(c);
}

#[test]
fn time_stats_slide_after_512_samples() {
    let mut t = sluice_core::proxy::TimeStats::default();
    for n in 1..=512 {
        t.add(n, [10, 0, 0, 0]);
    }
    assert_eq!(t.avg(512)[0], 10);
    // Past the window each sample replaces an average one.
    for n in 513..=2000 {
        t.add(n, [1000, 0, 0, 0]);
    }
    let a = t.avg(2000)[0];
    assert!((900..=1000).contains(&a), "{a}");
    assert_eq!(t.max[0], 1000);
}

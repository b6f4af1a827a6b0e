//! In-memory regression tests for engine bugs found while fuzzing the
//! engine (`fuzz/fuzz_targets/engine_*.rs`) whose symptom the fuzz
//! invariants do not see by themselves (a wrong answer rather than a
//! panic or a leak). Crash inputs live in `fuzz/regressions/engine_*`.

mod common;

use sluice_core::sock::CloseHow;

use common::{ServerMode, World};

const FE: &str = "127.0.0.1:8080";
const S1: &str = "127.0.0.1:9001";

/// Small buffers, and rules that grow both heads.
const HTTP: &str = "\
global
    tune.bufsize 2048
    tune.maxrewrite 512
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:8080
    http-request set-header X-Req 1
    http-response set-header X-Resp 1
    default_backend be
backend be
    server s1 127.0.0.1:9001
";

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A response head followed by enough body to fill the buffer in one read
/// got a 502: the head could not grow in place (no `tune.maxrewrite`
/// reserve while reading a head).
#[test]
fn a_response_filling_the_buffer_in_one_read_is_forwarded() {
    let mut w = World::new(HTTP);
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    let payload = body(5000);
    let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".to_vec();
    response.extend_from_slice(&payload);
    w.send(s, &response);
    let got = &w.peers[c].from_engine;
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got[..got.len().min(200)])
    );
    assert!(got.ends_with(&payload), "the whole body reached the client");
    w.fin(c);
    w.fin(s);
    w.assert_drained();
}

/// The same on the request side: a 500 instead of forwarding.
#[test]
fn a_request_filling_the_buffer_in_one_read_is_forwarded() {
    let mut w = World::new(HTTP);
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let payload = body(5000);
    let mut request = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n".to_vec();
    request.extend_from_slice(&payload);
    w.send(c, &request);
    let s = w.server_peer(S1, 0);
    let got = &w.peers[s].from_engine;
    assert!(got.starts_with(b"POST /up HTTP/1.1\r\n"));
    assert!(got.ends_with(&payload), "the whole body reached the server");
    w.send(s, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert!(w.peers[c].from_engine.starts_with(b"HTTP/1.1 204"));
    w.fin(c);
    w.fin(s);
    w.assert_drained();
}

/// A head too large for the buffer still fails as such (400), rather
/// than waiting for room the reserve keeps.
#[test]
fn a_request_head_too_large_is_still_refused() {
    let mut w = World::new(HTTP);
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let mut request = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    request.extend_from_slice(&body(3000));
    w.send(c, &request);
    assert!(
        w.peers[c].from_engine.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&w.peers[c].from_engine)
    );
    // The rest of the head was not read: a lingering close, until the
    // client closes.
    assert!(w.peers[c].fin_from_engine && w.peers[c].closed_by_engine.is_none());
    w.fin(c);
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    w.assert_drained();
}

/// A 101 to a request that asked for no upgrade opened a tunnel: the next
/// request went to the server raw, past `http-request deny`.
#[test]
fn an_unrequested_101_opens_no_tunnel() {
    let cfg = HTTP.replace(
        "    default_backend be\n",
        "    http-request deny if { path_beg /admin }\n    default_backend be\n",
    );
    let mut w = World::new(&cfg);
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(
        s,
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
    );
    assert!(
        w.peers[c].from_engine.starts_with(b"HTTP/1.1 502"),
        "{:?}",
        String::from_utf8_lossy(&w.peers[c].from_engine)
    );
    w.send(c, b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n");
    let to_server = String::from_utf8_lossy(&w.peers[s].from_engine).into_owned();
    assert!(!to_server.contains("/admin"), "{to_server:?}");
    w.fin(c);
    w.fin(s);
    w.assert_drained();
}

/// `timeout http-request` bounds the time to get a whole request head, but
/// every byte read pushed the deadline back by `timeout client`: a client
/// trickling a byte now and then held its stream open for ever.
#[test]
fn http_request_timeout_is_not_pushed_back_by_trickling_bytes() {
    let cfg = HTTP.replace(
        "    timeout client 10s\n",
        "    timeout client 10s\n    timeout http-request 500\n",
    );
    let mut w = World::new(&cfg);
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    for b in b"GET / HTTP/1.1\r\n" {
        w.send(c, &[*b]);
        w.advance(40);
    }
    assert!(
        w.peers[c].from_engine.starts_with(b"HTTP/1.1 408"),
        "a 408 after 500 ms, got {:?}",
        String::from_utf8_lossy(&w.peers[c].from_engine)
    );
    // The client was still sending: the connection lingers until it closes.
    w.fin(c);
    w.assert_drained();
}

const TCP: &str = "\
global
    tune.bufsize 1024
defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s
listen app
    bind 127.0.0.1:8000
    server s1 127.0.0.1:9001
";

/// Bytes scheduled for a peer that stopped reading armed no write
/// timeout: once no read timeout was left (the peer had half-closed, the
/// other side was gone), nothing ever ended the stream (connection,
/// session, stream and buffer held for ever).
#[test]
fn a_server_that_stops_reading_is_timed_out() {
    let mut w = World::new(TCP);
    w.server("127.0.0.1:9001", ServerMode::Manual);
    let c = w.connect("127.0.0.1:8000");
    let s = w.server_peer("127.0.0.1:9001", 0);
    w.peers[s].window = Some(0);
    w.send(c, &body(3000));
    w.fin(s);
    w.advance(5000);
    w.assert_drained();
}

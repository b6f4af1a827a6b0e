//! In-memory scenario tests of the HTTP data path found by the simulator's
//! `http-proxy` scenario: client <-> engine <-> server, no sockets. Every
//! test ends by checking that nothing leaked.

mod common;

use common::{ServerMode, World};

const FE: &str = "127.0.0.1:8000";
const S1: &str = "127.0.0.1:9001";

fn cfg(extra: &str, server_opts: &str) -> String {
    format!(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
         listen app\n    bind {FE}\n\
         \x20   http-request return status 200 content-type text/plain string local if {{ path_beg /local }}\n\
         \x20   http-request deny if {{ path_beg /deny }}\n\
         {extra}\
         \x20   server s1 {S1} {server_opts}\n"
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Found by the simulator: the proxy's own answers (`return`, `deny`,
/// error pages) to a `HEAD` request carried their body, which the client
/// reads as the start of the next response (RFC 9110 §9.3.2: a response
/// to HEAD has no content). HAProxy's H1 mux never sends one.
#[test]
fn proxy_answers_to_head_have_no_body() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Refuse);
    let c = w.connect(FE);
    w.send(c, b"HEAD /local HTTP/1.1\r\nhost: x\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 200 "), "{got}");
    assert!(got.ends_with("\r\n\r\n"), "no body after a HEAD: {got:?}");
    assert!(got.contains("content-length: 5\r\n"), "{got}");
    // The connection is still usable: the next answer has its body.
    w.peers[c].from_engine.clear();
    w.send(c, b"GET /local HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(text(&w.peers[c].from_engine).ends_with("\r\n\r\nlocal"));
    w.peers[c].from_engine.clear();
    w.send(c, b"HEAD /deny HTTP/1.1\r\nhost: x\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 403 "), "{got}");
    assert!(got.ends_with("\r\n\r\n"), "no body after a HEAD: {got:?}");
    // HAProxy keeps the connection after a deny, for the next request.
    assert!(w.peers[c].closed_by_engine.is_none(), "deny keeps alive");
    w.fin(c);
    w.advance(100);
    w.assert_drained();
    // An error page (the server answers garbage).
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"HEAD /x HTTP/1.1\r\nhost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTX/1.1 200 OK\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 502 "), "{got}");
    assert!(got.ends_with("\r\n\r\n"), "no body after a HEAD: {got:?}");
    w.fin(s);
    w.assert_drained();
}

/// Found by the simulator: a `return` to a request whose body the proxy
/// does not read closes the connection (the body would be taken for the
/// next request), but the answer did not say so: a pipelining client lost
/// its next requests without being told. The answer now carries
/// `connection: close`.
#[test]
fn a_reply_that_closes_says_so() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Refuse);
    let c = w.connect(FE);
    w.send(
        c,
        b"POST /local HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n0123456789GET /local HTTP/1.1\r\nhost: x\r\n\r\n",
    );
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 200 "), "{got}");
    assert!(got.contains("\r\nconnection: close\r\n"), "{got}");
    assert!(got.ends_with("\r\n\r\nlocal"), "one answer: {got:?}");
    // A FIN after the answer; the body and the next request were dropped
    // unread, so the close lingers until the client closes.
    assert!(w.peers[c].fin_from_engine);
    w.fin(c);
    assert!(w.peers[c].closed_by_engine.is_some());
    w.assert_drained();
}

/// Found by the simulator: with `http-reuse` other than `never`, a server
/// connection that began with a PROXY header (`send-proxy`) went back to
/// the shared idle pool and carried other clients' requests under the
/// first client's address. HAProxy keeps such connections private to
/// their session (or, since 2.4, only shares them between identical
/// PROXY lines).
#[test]
fn send_proxy_connections_are_not_shared() {
    let mut w = World::new(&cfg("    http-reuse always\n", "send-proxy"));
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    w.send(a, b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n");
    let sa = w.server_peer(S1, 0);
    assert!(text(&w.peers[sa].from_engine).starts_with("PROXY TCP4 10.0.0.1 "));
    w.send(sa, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    assert!(text(&w.peers[a].from_engine).ends_with("ok"));
    let b = w.connect(FE);
    w.send(b, b"GET /b HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(
        w.accepted[&common::addr(S1)].len(),
        2,
        "client b got a connection of its own"
    );
    let sb = w.server_peer(S1, 1);
    let hdr = format!("PROXY TCP4 10.0.0.1 127.0.0.1 {} 8000\r\n", 40000 + b);
    assert!(
        text(&w.peers[sb].from_engine).starts_with(&hdr),
        "{}",
        text(&w.peers[sb].from_engine)
    );
    assert!(
        !text(&w.peers[sa].from_engine).contains("/b"),
        "a's connection did not carry b's request"
    );
    // a's own next request may reuse its private connection.
    w.send(a, b"GET /a2 HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(text(&w.peers[sa].from_engine).contains("GET /a2 "));
    w.send(sb, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    w.send(sa, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    for p in [a, b] {
        w.fin(p);
    }
    w.advance(6000);
    for p in [sa, sb] {
        w.fin(p);
    }
    w.assert_drained();
}

/// Found by the simulator: when the server side failed before anything
/// reached the client (connection refused after every retry, queue
/// timeout, no server), the client connection closed without a response;
/// HAProxy answers 503 (`http_server_error` from `back_handle_st_cer` and
/// the queue).
#[test]
fn server_side_failures_before_the_response_answer_503() {
    // Refused after every retry.
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Refuse);
    let c = w.connect(FE);
    w.send(c, b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n");
    w.advance(3500);
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 503 "), "{got}");
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" 503 ") && log.contains(" SC-- "), "{log}");
    assert!(w.peers[c].closed_by_engine.is_some());
    w.assert_drained();
    // A queue timeout.
    let mut w = World::new(&cfg("    timeout queue 500\n", "maxconn 1"));
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    w.send(a, b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n");
    let b = w.connect(FE);
    w.send(b, b"GET /b HTTP/1.1\r\nhost: x\r\n\r\n");
    w.advance(501);
    let got = text(&w.peers[b].from_engine);
    assert!(got.starts_with("HTTP/1.1 503 "), "{got}");
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" 503 ") && log.contains(" sQ-- "), "{log}");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    w.fin(a);
    w.fin(s);
    w.assert_drained();
}

/// Found by the simulator: a request head that arrived with enough body
/// (or pipelined requests) behind it to fill the request buffer left no
/// room to rewrite the head (`set-header`, `connection`), and the client
/// got a 500 for a valid request: any upload sent in one go with its head.
/// As HAProxy's `channel_recv_limit`, an HTTP channel keeps
/// `tune.maxrewrite` bytes free unless that much is already on its way out.
#[test]
fn a_head_that_arrives_with_a_full_buffer_is_still_rewritten() {
    let mut w = World::new(&cfg("    http-request set-header x-added yes\n", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let mut req = b"POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 40000\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'z', 40000));
    req.extend_from_slice(b"GET /c HTTP/1.1\r\nhost: x\r\n\r\n");
    w.send(c, &req);
    let s = w.server_peer(S1, 0);
    let seen = text(&w.peers[s].from_engine);
    assert!(
        seen.starts_with(
            "POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 40000\r\nx-added: yes\r\n"
        ),
        "{:?} {:?}",
        &seen[..seen.len().min(120)],
        w.log_texts()
    );
    assert_eq!(seen.matches('z').count(), 40000, "the body, whole");
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    let seen = text(&w.peers[s].from_engine);
    assert!(
        seen.ends_with("GET /c HTTP/1.1\r\nhost: x\r\nx-added: yes\r\n\r\n"),
        "{seen:?}"
    );
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 2, "{got}");
    w.fin(c);
    w.fin(s);
    w.assert_drained();
}

/// Found by the simulator (the same reserve, one step earlier): behind
/// `accept-proxy`, the bytes read with the PROXY header filled the buffer
/// that becomes the request channel's, so the first request had no room
/// for its rewrite and got a 500.
#[test]
fn a_head_read_with_the_proxy_header_is_still_rewritten() {
    let conf = cfg(
        &format!("    http-request set-header x-added {}\n", "y".repeat(200)),
        "",
    )
    .replace(&format!("bind {FE}"), &format!("bind {FE} accept-proxy"));
    let mut w = World::new(&conf);
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let mut req =
        b"PROXY TCP4 192.0.2.7 198.51.100.1 5555 80\r\nGET /a HTTP/1.1\r\nhost: x\r\n\r\n".to_vec();
    req.extend_from_slice(b"POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 30000\r\n\r\n");
    req.extend(std::iter::repeat_n(b'z', 30000));
    w.send(c, &req);
    let s = w.server_peer(S1, 0);
    let seen = text(&w.peers[s].from_engine);
    assert!(
        seen.starts_with(&format!(
            "GET /a HTTP/1.1\r\nhost: x\r\nx-added: {}\r\n",
            "y".repeat(200)
        )),
        "{:?} {:?}",
        &seen[..seen.len().min(120)],
        w.log_texts()
    );
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    let seen = text(&w.peers[s].from_engine);
    assert_eq!(
        seen.matches('z').count(),
        30000,
        "the second request, whole"
    );
    w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    let got = text(&w.peers[c].from_engine);
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 2, "{got}");
    w.fin(c);
    w.fin(s);
    w.assert_drained();
}

/// Found by the simulator: a close-delimited response whose server reset
/// the connection in the middle was ended with a FIN, which tells the
/// client the body is whole; the close is only the end of the body when
/// it is clean, otherwise the client connection is reset.
#[test]
fn a_close_delimited_body_cut_by_a_reset_is_not_passed_off_as_whole() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.send(s, b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\npart of it");
    assert!(text(&w.peers[c].from_engine).ends_with("part of it"));
    w.rst(s);
    assert!(!w.peers[c].fin_from_engine, "no FIN: the body is not whole");
    assert_eq!(
        w.peers[c].closed_by_engine,
        Some(sluice_core::sock::CloseHow::Reset)
    );
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" SD-- "), "{log}");
    w.assert_drained();
    // A clean close ends it.
    let c = w.connect(FE);
    w.send(c, b"GET /b HTTP/1.1\r\nhost: x\r\n\r\n");
    let s = w.server_peer(S1, 1);
    w.send(s, b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it");
    w.fin(s);
    assert_eq!(
        w.peers[c].closed_by_engine,
        Some(sluice_core::sock::CloseHow::Graceful)
    );
    assert!(text(&w.peers[c].from_engine).ends_with("all of it"));
    w.fin(c);
    w.assert_drained();
}

/// Found by the simulator (a leak at the drain): a server that reset its
/// connection before the response head left the transaction waiting for
/// a head that could no longer come, with no timer armed: the client got
/// no answer, and a client that had half-closed leaked its stream. It is
/// a 502, logged `SH`, as a server close before the head already was.
#[test]
fn a_server_reset_before_the_response_head_is_a_502() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n");
    let s = w.server_peer(S1, 0);
    w.rst(s);
    let got = text(&w.peers[c].from_engine);
    assert!(got.starts_with("HTTP/1.1 502 "), "{got:?}");
    let log = w.log_texts().last().cloned().unwrap_or_default();
    assert!(log.contains(" 502 ") && log.contains(" SH-- "), "{log}");
    w.assert_drained();
    // The client half-closed after its request: nothing leaks either.
    let c = w.connect(FE);
    w.send(c, b"GET /b HTTP/1.1\r\nhost: x\r\n\r\n");
    w.fin(c);
    let s = w.server_peer(S1, 1);
    w.rst(s);
    assert!(text(&w.peers[c].from_engine).starts_with("HTTP/1.1 502 "));
    w.advance(1);
    w.assert_drained();
}

/// Found by the simulator: a server that reset its connection after the
/// whole response had been read, while the response was still on its way
/// to a slow client, turned the finished transaction into an abort: the
/// client got its response, then a close, a pipelined request it had sent
/// was dropped without a log line, and the log said `SD`. Once both
/// messages are complete the reset only means the server connection is
/// not reusable.
#[test]
fn a_server_reset_after_a_whole_response_ends_nothing_but_the_server_connection() {
    let mut w = World::new(&cfg("", ""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.peers[c].window = Some(10);
    w.send(
        c,
        b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\n",
    );
    let s0 = w.server_peer(S1, 0);
    w.send(
        s0,
        b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789",
    );
    w.rst(s0);
    w.peers[c].window = None;
    w.run();
    let log = w.log_texts();
    assert!(
        log[0].contains(" 200 ") && log[0].contains(" ---- "),
        "{log:?}"
    );
    assert_eq!(
        w.accepted[&common::addr(S1)].len(),
        2,
        "b on a new connection"
    );
    let s1 = w.server_peer(S1, 1);
    assert!(text(&w.peers[s1].from_engine).starts_with("GET /b "));
    w.send(s1, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let got = text(&w.peers[c].from_engine);
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 2, "{got}");
    w.fin(c);
    w.fin(s1);
    w.assert_drained();
}

/// Found by the simulator (seed 74, with chunk framing held back): the
/// server reset the connection while part of a chunk size line of the
/// request was held back; the abort dropped the request input, and the
/// body walk then indexed past it (a panic). The client reset while the
/// response's size line was held back is the same in the other direction.
#[test]
fn an_abort_while_a_chunk_line_is_held_back() {
    for server_resets in [true, false] {
        let mut w = World::new(&cfg("", ""));
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        w.send(
            c,
            b"POST /r HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n00",
        );
        let s = w.server_peer(S1, 0);
        let up = text(&w.peers[s].from_engine);
        assert!(
            up.ends_with("2\r\nab\r\n"),
            "the partial line waits: {up:?}"
        );
        if server_resets {
            w.rst(s);
            let got = text(&w.peers[c].from_engine);
            assert!(got.starts_with("HTTP/1.1 502 "), "{got:?}");
        } else {
            w.send(
                s,
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0",
            );
            assert!(text(&w.peers[c].from_engine).ends_with("1\r\nx\r\n"));
            w.rst(c);
            assert_eq!(
                w.peers[s].closed_by_engine,
                Some(sluice_core::sock::CloseHow::Reset)
            );
        }
        w.fin(c);
        w.advance(20_000);
        w.assert_drained();
    }
}

/// A server that resets the connection while the request body is on its
/// way, before any response: the log said `502` with the bytes of an
/// error page, but the client got a reset and no page (the request side
/// took the server's abort for the client's close). The 502 now reaches
/// the client, then a FIN. HAProxy 2.6 closes without an answer here and
/// logs `-1 SD--`.
#[test]
fn a_server_reset_during_the_request_body_gets_the_client_a_502() {
    for body in [
        &b"content-length: 10\r\n\r\nab"[..],
        b"transfer-encoding: chunked\r\n\r\n2\r\nab\r\n",
    ] {
        let mut w = World::new(&cfg("", ""));
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        let mut req = b"POST /r HTTP/1.1\r\nhost: x\r\n".to_vec();
        req.extend_from_slice(body);
        w.send(c, &req);
        let s = w.server_peer(S1, 0);
        w.rst(s);
        let got = text(&w.peers[c].from_engine);
        assert!(got.starts_with("HTTP/1.1 502 "), "{got:?}");
        assert!(
            w.peers[c].fin_from_engine
                || w.peers[c].closed_by_engine == Some(sluice_core::sock::CloseHow::Graceful)
        );
        let log = w.log_texts().last().cloned().unwrap_or_default();
        assert!(log.contains(" 502 218 "), "{log}");
        w.fin(c);
        w.advance(20_000);
        w.assert_drained();
    }
}

/// HAProxy's `abort_keep_alive`: a server that closes (or resets) its
/// kept-alive connection without a byte of response to a request that was
/// not the first of its client connection (the server closed an idle
/// connection as the request left) gets the client connection closed
/// without an answer and without a log line, so that the client retries;
/// a 502 would be a failure the client may not retry. The first request
/// of a connection still gets its 502.
#[test]
fn a_keep_alive_request_lost_to_a_server_close_closes_the_client_silently() {
    for reset in [false, true] {
        let mut w = World::new(&cfg("", ""));
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        w.send(c, b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n");
        let s = w.server_peer(S1, 0);
        w.send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(w.log_texts().len(), 1);
        w.send(c, b"GET /b HTTP/1.1\r\nhost: x\r\n\r\n");
        assert!(text(&w.peers[s].from_engine).contains("GET /b "));
        if reset {
            w.rst(s);
        } else {
            w.fin(s);
        }
        let got = text(&w.peers[c].from_engine);
        assert_eq!(got.matches("HTTP/1.1 ").count(), 1, "no 502: {got}");
        assert!(w.peers[c].fin_from_engine || w.peers[c].closed_by_engine.is_some());
        assert_eq!(w.log_texts().len(), 1, "not logged: {:?}", w.log_texts());
        w.fin(c);
        w.advance(1);
        w.assert_drained();
    }
}

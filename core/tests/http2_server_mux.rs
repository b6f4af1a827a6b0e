//! HTTP/2 server connections that carry several streams and are reused
//! (`server ... proto h2`, `http-reuse`, HAProxy's `avail_conns`), in the
//! in-memory world: the test plays the HTTP/2 server by hand, with the
//! core's own frame and HPACK codecs, and checks what goes on which
//! connection, with which stream id.

mod common;

use common::{ServerMode, World};
use sluice_core::http::h2::frame::{encode_field_block, ErrorCode, Frame, Settings, PREFACE};
use sluice_core::http::h2::hpack::{Decoder, Encoder, Field, HeaderList};

const FE: &str = "127.0.0.1:8000";
const S1: &str = "127.0.0.1:9001";

fn cfg(reuse: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    http-reuse {reuse}\n\
         listen app\n    bind {FE}\n    server s1 {S1} proto h2\n"
    )
}

/// The server end of one HTTP/2 connection: what it has parsed of the
/// engine's bytes so far.
struct H2Server {
    peer: usize,
    /// Bytes of `from_engine` already parsed.
    pos: usize,
    dec: Decoder,
    enc: Encoder,
}

impl H2Server {
    fn new(w: &mut World, peer: usize, max_streams: u32) -> H2Server {
        let mut out = Vec::new();
        Settings {
            max_concurrent_streams: Some(max_streams),
            ..Settings::default()
        }
        .encode(&mut out);
        w.send(peer, &out);
        H2Server {
            peer,
            pos: 0,
            dec: Decoder::new(4096),
            enc: Encoder::new(4096),
        }
    }

    /// The requests (stream id, `:path`) whose HEADERS arrived since the
    /// last call, in wire order.
    fn requests(&mut self, w: &World) -> Vec<(u32, String)> {
        let buf = &w.peers[self.peer].from_engine;
        if self.pos == 0 {
            assert!(buf.starts_with(PREFACE), "no client preface");
            self.pos = PREFACE.len();
        }
        let mut out = Vec::new();
        while self.pos + 9 <= buf.len() {
            let b = &buf[self.pos..];
            let len = u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
            if b.len() < 9 + len {
                break;
            }
            let (ty, flags) = (b[3], b[4]);
            let id = u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff;
            if ty == 1 {
                // HEADERS, END_HEADERS set (small requests), no padding
                // nor priority (the engine sends neither).
                assert_eq!(flags & 0x4, 0x4, "HEADERS without END_HEADERS");
                let mut list = HeaderList::new(65536);
                self.dec.decode(&b[9..9 + len], &mut list).unwrap();
                let path = list
                    .iter()
                    .find(|f| f.name == b":path")
                    .map(|f| String::from_utf8_lossy(f.value).to_string())
                    .unwrap_or_default();
                out.push((id, path));
            }
            self.pos += 9 + len;
        }
        out
    }

    /// Answers stream `id` with 200 and `body`.
    fn respond(&mut self, w: &mut World, id: u32, body: &str) {
        let mut out = Vec::new();
        let len = body.len().to_string();
        let mut block = Vec::new();
        self.enc.encode(
            [
                Field::new(b":status", b"200"),
                Field::new(b"content-length", len.as_bytes()),
            ],
            &mut block,
        );
        encode_field_block(id, &block, false, 16384, &mut out);
        Frame::Data {
            stream_id: id,
            end_stream: true,
            data: body.as_bytes(),
            pad_len: None,
            flow_len: body.len() as u32,
        }
        .encode(&mut out);
        w.send(self.peer, &out);
    }

    fn goaway(&mut self, w: &mut World, last: u32) {
        let mut out = Vec::new();
        Frame::GoAway {
            last_stream_id: last,
            code: ErrorCode::NO_ERROR,
            debug: &[],
        }
        .encode(&mut out);
        w.send(self.peer, &out);
    }
}

fn text(w: &World, c: usize) -> String {
    String::from_utf8_lossy(&w.peers[c].from_engine).into_owned()
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes()
}

fn accepted(w: &World) -> usize {
    w.accepted.get(&common::addr(S1)).map_or(0, |v| v.len())
}

/// `http-reuse always`: two clients' streams go on one server connection
/// (ids 1 and 3, answered out of order), a kept-alive client's next
/// request takes the next id on it; up to the server's
/// SETTINGS_MAX_CONCURRENT_STREAMS, then a new connection; after a
/// GOAWAY, a new connection too.
#[test]
fn streams_share_a_server_connection() {
    let mut w = World::new(&cfg("always"));
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    w.send(a, &get("/a"));
    assert_eq!(accepted(&w), 1);
    let p0 = w.server_peer(S1, 0);
    let mut srv = H2Server::new(&mut w, p0, 2);
    assert_eq!(srv.requests(&w), vec![(1, "/a".to_string())]);
    let b = w.connect(FE);
    w.send(b, &get("/b"));
    assert_eq!(accepted(&w), 1, "the second client's stream shares it");
    assert_eq!(srv.requests(&w), vec![(3, "/b".to_string())]);
    // The limit (2) is reached: a third client gets a new connection.
    let c = w.connect(FE);
    w.send(c, &get("/c"));
    assert_eq!(accepted(&w), 2, "the limit of 2 streams makes a new one");
    let p1 = w.server_peer(S1, 1);
    let mut srv2 = H2Server::new(&mut w, p1, 2);
    assert_eq!(srv2.requests(&w), vec![(1, "/c".to_string())]);
    // Out-of-order answers, each to its client.
    srv.respond(&mut w, 3, "bee");
    srv.respond(&mut w, 1, "ay");
    srv2.respond(&mut w, 1, "sea");
    assert!(text(&w, a).ends_with("\r\n\r\nay"), "{}", text(&w, a));
    assert!(text(&w, b).ends_with("\r\n\r\nbee"), "{}", text(&w, b));
    assert!(text(&w, c).ends_with("\r\n\r\nsea"), "{}", text(&w, c));
    // A kept-alive client's next request: the next id on a connection
    // already open.
    w.send(a, &get("/a2"));
    assert_eq!(accepted(&w), 2);
    let (n1, n2) = (srv.requests(&w), srv2.requests(&w));
    match (&n1[..], &n2[..]) {
        ([(5, p)], []) if p == "/a2" => srv.respond(&mut w, 5, "a2"),
        ([], [(3, p)]) if p == "/a2" => srv2.respond(&mut w, 3, "a2"),
        _ => panic!("{n1:?} {n2:?}"),
    }
    assert!(text(&w, a).ends_with("\r\n\r\na2"), "{}", text(&w, a));
    srv.goaway(&mut w, 5);
    srv2.goaway(&mut w, 3);
    w.send(b, &get("/b2"));
    assert_eq!(accepted(&w), 3, "no stream after a GOAWAY");
    let p2 = w.server_peer(S1, 2);
    let mut srv3 = H2Server::new(&mut w, p2, 100);
    assert_eq!(srv3.requests(&w), vec![(1, "/b2".to_string())]);
    srv3.respond(&mut w, 1, "b2");
    assert!(text(&w, b).ends_with("\r\n\r\nb2"), "{}", text(&w, b));
    for p in [a, b, c] {
        w.fin(p);
    }
    w.advance(100);
    // The connections that got a GOAWAY were closed once idle.
    assert!(w.peers[p0].closed_by_engine.is_some());
    assert!(w.peers[p1].closed_by_engine.is_some());
}

/// `http-reuse safe` (the default): a kept-alive client's requests all go
/// on one server connection, one stream after the other (ids 1, 3, 5);
/// a second client's first request does not share it, as HAProxy 2.6.
#[test]
fn safe_reuses_for_the_next_requests_only() {
    let mut w = World::new(&cfg("safe"));
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    w.send(a, &get("/1"));
    let p0 = w.server_peer(S1, 0);
    let mut srv = H2Server::new(&mut w, p0, 100);
    for (i, id) in [(1, 1u32), (2, 3), (3, 5)] {
        if i > 1 {
            w.send(a, &get(&format!("/{i}")));
        }
        assert_eq!(srv.requests(&w), vec![(id, format!("/{i}"))]);
        srv.respond(&mut w, id, &format!("r{i}"));
        assert!(text(&w, a).ends_with(&format!("\r\n\r\nr{i}")));
        assert_eq!(accepted(&w), 1);
    }
    // A new client's first request: a connection of its own.
    let b = w.connect(FE);
    w.send(b, &get("/b"));
    assert_eq!(accepted(&w), 2);
    w.fin(a);
    w.fin(b);
    w.advance(100);
}

/// A stream attached to a connection whose server says GOAWAY before the
/// stream's HEADERS went is not lost: it takes a new connection.
#[test]
fn unsent_stream_moves_after_goaway() {
    let mut w = World::new(&cfg("always"));
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    w.send(a, &get("/a"));
    let p0 = w.server_peer(S1, 0);
    let mut srv = H2Server::new(&mut w, p0, 100);
    assert_eq!(srv.requests(&w), vec![(1, "/a".to_string())]);
    // The server stops reading, then a POST fills the connection's
    // output: the next stream attached cannot send its HEADERS.
    let seen = w.peers[p0].from_engine.len();
    w.peers[p0].window = Some(seen);
    let body = vec![b'x'; 100_000];
    let p = w.connect(FE);
    let mut post = b"POST /p HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n".to_vec();
    post.extend_from_slice(&body);
    w.send(p, &post);
    let b = w.connect(FE);
    w.send(b, &get("/b"));
    assert_eq!(
        accepted(&w),
        1,
        "both streams attached to the first connection"
    );
    // GOAWAY(3): the POST (stream 3) is processed, `/b` never went.
    srv.goaway(&mut w, 3);
    assert_eq!(accepted(&w), 2, "the unsent stream took a new connection");
    let p1 = w.server_peer(S1, 1);
    let mut srv2 = H2Server::new(&mut w, p1, 100);
    assert_eq!(srv2.requests(&w), vec![(1, "/b".to_string())]);
    srv2.respond(&mut w, 1, "bee");
    assert!(text(&w, b).ends_with("\r\n\r\nbee"), "{}", text(&w, b));
    // The first server reads again: stream 3 went, and no stream 5.
    w.peers[p0].window = None;
    w.run();
    let reqs = srv.requests(&w);
    assert_eq!(reqs, vec![(3, "/p".to_string())]);
    srv.respond(&mut w, 1, "ay");
    assert!(text(&w, a).ends_with("\r\n\r\nay"), "{}", text(&w, a));
    for c in [a, p, b] {
        w.fin(c);
    }
    w.advance(100);
}

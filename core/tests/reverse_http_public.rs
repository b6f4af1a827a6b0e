//! Reverse HTTP, public side (`tcp-request session attach-srv`, `server
//! ... rhttp@`, issue 10), in memory: the test plays the edges (each
//! connects to `priv`, sends the client preface and SETTINGS, then
//! *receives* requests on odd streams and answers them) and the clients
//! of `pub`. What is checked: no edge, a 503 at once; a request goes down
//! a reversed connection; the connection stays usable however long it is
//! idle; a request reaches only the edge of its name; an edge that goes
//! leaves 503s, not waits; a connection that is not HTTP/2 is refused.
//! With `--features mutants`, each mutant is shown to fail these.

mod common;

use common::World;
use sluice_core::http::h2::frame::{
    self, encode_field_block, Frame, FrameDecoder, Role, Status, PREFACE,
};
use sluice_core::http::h2::hpack::{Decoder, Encoder, Field, HeaderList};

const PUB: &str = "10.0.0.10:80";
const PRIV: &str = "10.0.0.10:8443";

/// The public node; with `named`, edges are named by their source port
/// and requests pick one by their `x-edge` header.
fn cfg(named: bool) -> String {
    let (name, pool) = if named {
        (" name src_port", " pool-conn-name req.hdr(x-edge)")
    } else {
        ("", "")
    };
    format!(
        "global
    expose-experimental-directives
    log stderr format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend pub
    bind {PUB}
    default_backend be-reverse
frontend priv
    bind {PRIV} proto h2
    tcp-request session attach-srv be-reverse/dev{name}
backend be-reverse
    server dev rhttp@{pool}
"
    )
}

/// One edge: its connection to `priv`, and its side of HTTP/2.
struct Edge {
    peer: usize,
    enc: Encoder,
}

impl Edge {
    /// Connects, sends the client preface, its SETTINGS, and the ACK of
    /// the public node's.
    fn connect(w: &mut World) -> Edge {
        let peer = w.connect(PRIV);
        let mut b = PREFACE.to_vec();
        frame::encode_settings(&[], &mut b);
        frame::FrameHeader {
            len: 0,
            kind: frame::FrameType::SETTINGS,
            flags: frame::flags::ACK,
            stream_id: 0,
        }
        .encode(&mut b);
        w.send(peer, &b);
        Edge {
            peer,
            enc: Encoder::new(4096),
        }
    }

    /// The source port the public node saw (its `src_port`).
    fn port(&self) -> u16 {
        40000 + self.peer as u16
    }

    /// The requests received so far: (stream, path), in order.
    fn requests(&self, w: &World) -> Vec<(u32, String)> {
        let out = &w.peers[self.peer].from_engine;
        let mut d = FrameDecoder::new(Role::Server);
        let mut hdec = Decoder::new(4096);
        let mut pos = 0;
        let mut reqs = Vec::new();
        while let Status::Complete((f, used)) = d.decode(&out[pos..]) {
            if let Frame::Headers {
                stream_id,
                fragment,
                ..
            } = f.expect("a valid frame from the public node")
            {
                let mut l = HeaderList::new(1 << 16);
                hdec.decode(fragment, &mut l).expect("hpack");
                let path = l
                    .iter()
                    .find(|f| f.name == b":path")
                    .map(|f| String::from_utf8_lossy(f.value).into_owned())
                    .unwrap_or_default();
                reqs.push((stream_id, path));
            }
            pos += used;
        }
        reqs
    }

    /// Answers stream `id` with a 200 and `body`.
    fn answer(&mut self, w: &mut World, id: u32, body: &str) {
        let mut block = Vec::new();
        let len = body.len().to_string();
        self.enc.encode(
            [
                Field::new(b":status", b"200"),
                Field::new(b"content-length", len.as_bytes()),
            ],
            &mut block,
        );
        let mut b = Vec::new();
        encode_field_block(id, &block, false, 16384, &mut b);
        Frame::Data {
            stream_id: id,
            end_stream: true,
            data: body.as_bytes(),
            pad_len: None,
            flow_len: body.len() as u32,
        }
        .encode(&mut b);
        w.send(self.peer, &b);
    }
}

/// A client's GET on `pub`, for the edge named `edge` when given.
fn get(w: &mut World, path: &str, edge: Option<u16>) -> usize {
    let c = w.connect(PUB);
    let hdr = edge.map_or(String::new(), |p| format!("x-edge: {p}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nhost: pub\r\n{hdr}\r\n");
    w.send(c, req.as_bytes());
    c
}

/// What client `c` received.
fn response(w: &World, c: usize) -> String {
    String::from_utf8_lossy(&w.peers[c].from_engine).into_owned()
}

fn world(text: &str, mutant: Option<&str>) -> World {
    World::with_mutant(text, mutant)
}

#[test]
fn requests_go_down_reversed_connections() {
    reversed(None);
}

/// No edge: 503 at once. An edge: requests on streams 1, 3, 5 of its
/// connection, also after a long idle time (never purged).
fn reversed(mutant: Option<&str>) {
    let mut w = world(&cfg(false), mutant);
    let c = get(&mut w, "/none", None);
    assert!(
        response(&w, c).starts_with("HTTP/1.1 503 "),
        "{}",
        response(&w, c)
    );
    let mut e = Edge::connect(&mut w);
    for (i, path) in ["/a", "/b", "/c"].iter().enumerate() {
        let c = get(&mut w, path, None);
        let reqs = e.requests(&w);
        let id = 1 + 2 * i as u32;
        assert_eq!(
            reqs.last(),
            Some(&(id, path.to_string())),
            "request {path} did not reach the edge on stream {id}\n{:#?}",
            w.log_texts()
        );
        e.answer(&mut w, id, "from the edge");
        let r = response(&w, c);
        assert!(
            r.starts_with("HTTP/1.1 200 ") && r.ends_with("from the edge"),
            "{r}"
        );
        w.fin(c);
        // Idle for longer than any idle pool keeps a connection.
        w.advance(20_000);
    }
    let logs = w.log_texts();
    let lines: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains(" pub be-reverse/dev "))
        .collect();
    assert_eq!(lines.len(), 4, "{logs:#?}");
    assert!(
        lines[0].contains(" 503 ") && lines[0].contains(" SC-- "),
        "{}",
        lines[0]
    );
    // The edge leaves: a request fails at once, it does not wait.
    w.fin(e.peer);
    w.advance(1);
    let c = get(&mut w, "/gone", None);
    assert!(
        response(&w, c).starts_with("HTTP/1.1 503 "),
        "{}",
        response(&w, c)
    );
}

/// The frames the public node sent to `edge` after its first `from`
/// bytes: (kind, flags, stream, payload), and the bytes looked at.
fn frames_from(w: &World, peer: usize, from: usize) -> (Vec<RawFrame>, usize) {
    let out = &w.peers[peer].from_engine[from..];
    let mut res = Vec::new();
    let mut pos = 0;
    while out.len() - pos >= 9 {
        let h = &out[pos..pos + 9];
        let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
        if out.len() - pos < 9 + len {
            break;
        }
        let sid = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        res.push((h[3], h[4], sid, out[pos + 9..pos + 9 + len].to_vec()));
        pos += 9 + len;
    }
    (res, from + pos)
}

/// A frame as sent: (kind, flags, stream, payload).
type RawFrame = (u8, u8, u32, Vec<u8>);

const PING: u8 = 6;
const GOAWAY: u8 = 7;

/// `server dev rhttp@ idle-ping 3s` (HAProxy 3.x): a reversed connection
/// carrying no stream gets a PING every 3 s; answered, it stays available
/// and serves requests; unanswered at the next tick (its edge vanished
/// without a FIN, a partition), it is closed without GOAWAY, and a
/// request then gets a 503 at once instead of waiting on a dead
/// connection.
#[test]
fn idle_ping_probes_reversed_connections() {
    let text = cfg(false).replace("server dev rhttp@", "server dev rhttp@ idle-ping 3s");
    let mut w = world(&text, None);
    let mut e = Edge::connect(&mut w);
    w.advance(1);
    let (_, mut seen) = frames_from(&w, e.peer, 0);
    for round in 0..3 {
        w.advance(2990);
        let (f, _) = frames_from(&w, e.peer, seen);
        assert!(
            !f.iter().any(|f| f.0 == PING),
            "round {round}: a PING before 3 s idle: {f:?}"
        );
        w.advance(20);
        let (f, next) = frames_from(&w, e.peer, seen);
        seen = next;
        let ping = f
            .iter()
            .find(|f| f.0 == PING)
            .unwrap_or_else(|| panic!("round {round}: no PING after 3 s idle: {f:?}"));
        assert_eq!((ping.1, ping.2), (0, 0), "a PING, not an ACK, on stream 0");
        let mut ack = Vec::new();
        Frame::Ping {
            ack: true,
            data: ping.3.clone().try_into().expect("8 bytes"),
        }
        .encode(&mut ack);
        w.send(e.peer, &ack);
    }
    assert!(w.peers[e.peer].closed_by_engine.is_none());
    // Still the server's: a request goes down it.
    let c = get(&mut w, "/after-pings", None);
    assert_eq!(e.requests(&w).last(), Some(&(1, "/after-pings".into())));
    e.answer(&mut w, 1, "alive");
    assert!(
        response(&w, c).starts_with("HTTP/1.1 200 "),
        "{}",
        response(&w, c)
    );
    w.fin(c);
    let (_, next) = frames_from(&w, e.peer, seen);
    seen = next;
    // The edge goes silent: one PING, unanswered, then the close.
    w.advance(3010);
    let (f, next) = frames_from(&w, e.peer, seen);
    seen = next;
    assert!(f.iter().any(|f| f.0 == PING), "{f:?}");
    assert!(w.peers[e.peer].closed_by_engine.is_none());
    w.advance(3010);
    let (f, _) = frames_from(&w, e.peer, seen);
    assert!(
        w.peers[e.peer].closed_by_engine.is_some(),
        "an unanswered PING closes the reversed connection"
    );
    assert!(!f.iter().any(|f| f.0 == GOAWAY), "no GOAWAY: {f:?}");
    let c = get(&mut w, "/dead", None);
    assert!(
        response(&w, c).starts_with("HTTP/1.1 503 "),
        "{}",
        response(&w, c)
    );
}

#[test]
fn requests_reach_the_edge_of_their_name() {
    named(None);
}

/// Two edges named by their source port: each request reaches the one
/// its `x-edge` names, an unknown name gets a 503.
fn named(mutant: Option<&str>) {
    let mut w = world(&cfg(true), mutant);
    let mut edges = [Edge::connect(&mut w), Edge::connect(&mut w)];
    for i in 0..2 {
        let before = edges[1 - i].requests(&w).len();
        let port = edges[i].port();
        let c = get(&mut w, "/named", Some(port));
        let reqs = edges[i].requests(&w);
        let (id, _) = reqs
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("edge {port} got no request\n{}", response(&w, c)));
        assert_eq!(
            edges[1 - i].requests(&w).len(),
            before,
            "the other edge got it"
        );
        edges[i].answer(&mut w, id, "named");
        assert!(
            response(&w, c).starts_with("HTTP/1.1 200 "),
            "{}",
            response(&w, c)
        );
    }
    let c = get(&mut w, "/nobody", Some(1));
    assert!(
        response(&w, c).starts_with("HTTP/1.1 503 "),
        "{}",
        response(&w, c)
    );
}

/// An edge that speaks HTTP/1 to an `attach-srv` frontend without `proto
/// h2`: refused (logged, closed), and no request goes to it.
#[test]
fn a_connection_that_is_not_http2_is_refused() {
    let text = cfg(false).replace(&format!("bind {PRIV} proto h2"), &format!("bind {PRIV}"));
    let mut w = world(&text, None);
    let p = w.connect(PRIV);
    w.send(p, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(
        w.peers[p].closed_by_engine,
        Some(sluice_core::sock::CloseHow::Graceful),
        "not closed with a FIN"
    );
    assert!(w.peers[p].from_engine.is_empty(), "answered");
    let logs = w.log_texts();
    assert!(
        logs.iter()
            .any(|l| l.ends_with("priv/1: Reverse connect failure")),
        "{logs:#?}"
    );
    let c = get(&mut w, "/x", None);
    assert!(
        response(&w, c).starts_with("HTTP/1.1 503 "),
        "{}",
        response(&w, c)
    );
}

/// Each public-side mutant fails the scenario meant to catch it (and the
/// same scenario passes without it, above).
#[cfg(feature = "mutants")]
#[test]
fn mutants_are_caught() {
    let caught = |f: fn(Option<&str>), m: &str| {
        let r = std::panic::catch_unwind(|| f(Some(m)));
        assert!(r.is_err(), "mutant {m} survived");
    };
    caught(reversed, "rhttp-reversed-idle");
    caught(named, "rhttp-name-ignored");
}

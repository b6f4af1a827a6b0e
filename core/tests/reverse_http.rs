//! Reverse HTTP, edge side (`bind rhttp@BACKEND/SERVER`, issue 10), in
//! memory: the engine dials the public node, which the test plays frame by
//! frame (it sent the H2 client preface as the dialing side, and now
//! receives requests on odd streams, as HAProxy's reversed connections
//! do). What is checked: nothing is read as a request before the listener
//! accepts the connection (a process `maxconn` holds it), `nbconn` is kept,
//! a failure is retried after 1 s, never at once, and the log lines.
//! With `--features mutants`, each mutant is shown to fail these.

mod common;

use common::{ServerMode, World};
use sluice_core::http::h2::frame::{
    self, encode_field_block, Frame, FrameDecoder, Role, Status, PREFACE,
};
use sluice_core::http::h2::hpack::{Decoder, Encoder, Field, HeaderList};

const PUBLIC: &str = "10.0.0.2:443";
const APP: &str = "10.0.0.3:80";
const OTHER: &str = "10.0.0.1:80";

fn cfg(global: &str, nbconn: u32) -> String {
    format!(
        "global
    expose-experimental-directives
{global}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind rhttp@pre/srv nbconn {nbconn}
    default_backend be
frontend other
    bind {OTHER}
    default_backend be
backend pre
    server srv {PUBLIC} proto h2
backend be
    server app {APP}
"
    )
}

/// The public node's side of one reversed connection.
struct Public {
    peer: usize,
    enc: Encoder,
    dec: Decoder,
    /// Bytes of the engine's output already looked at.
    seen: usize,
}

impl Public {
    /// The `n`-th connection the engine opened to the public node: it
    /// sent the client preface and its SETTINGS.
    fn accept(w: &World, n: usize) -> Public {
        let peer = w.server_peer(PUBLIC, n);
        let out = &w.peers[peer].from_engine;
        assert!(out.starts_with(PREFACE), "no client preface: {out:?}");
        Public {
            peer,
            enc: Encoder::new(4096),
            dec: Decoder::new(4096),
            seen: PREFACE.len(),
        }
    }

    /// Our SETTINGS and the ACK of the engine's.
    fn settings(&mut self, w: &mut World) {
        let mut b = Vec::new();
        frame::encode_settings(&[], &mut b);
        frame::FrameHeader {
            len: 0,
            kind: frame::FrameType::SETTINGS,
            flags: frame::flags::ACK,
            stream_id: 0,
        }
        .encode(&mut b);
        w.send(self.peer, &b);
    }

    fn get_bytes(&mut self, id: u32, path: &str) -> Vec<u8> {
        let mut block = Vec::new();
        self.enc.encode(
            [
                Field::new(b":method", b"GET"),
                Field::new(b":scheme", b"https"),
                Field::new(b":path", path.as_bytes()),
                Field::new(b":authority", b"public.example"),
            ],
            &mut block,
        );
        let mut b = Vec::new();
        encode_field_block(id, &block, true, 16384, &mut b);
        b
    }

    /// The responses that came back: (stream, status, body).
    fn responses(&mut self, w: &World) -> Vec<(u32, String, Vec<u8>)> {
        let out = w.peers[self.peer].from_engine[self.seen..].to_vec();
        let mut d = FrameDecoder::new(Role::Client);
        let mut pos = 0;
        let mut res: Vec<(u32, String, Vec<u8>)> = Vec::new();
        while let Status::Complete((f, used)) = d.decode(&out[pos..]) {
            match f.expect("a valid frame from the engine") {
                Frame::Headers {
                    stream_id,
                    fragment,
                    ..
                } => {
                    let mut l = HeaderList::new(1 << 16);
                    self.dec.decode(fragment, &mut l).expect("hpack");
                    let status = l
                        .iter()
                        .find(|f| f.name == b":status")
                        .map(|f| String::from_utf8_lossy(f.value).into_owned())
                        .unwrap_or_default();
                    res.push((stream_id, status, Vec::new()));
                }
                Frame::Data {
                    stream_id, data, ..
                } => {
                    if let Some(r) = res.iter_mut().find(|r| r.0 == stream_id) {
                        r.2.extend_from_slice(data);
                    }
                }
                _ => {}
            }
            pos += used;
        }
        res
    }
}

/// Answers the request the app server got on its `n`-th connection.
fn app_answers(w: &mut World, n: usize, body: &str) {
    let p = w.server_peer(APP, n);
    let req = String::from_utf8_lossy(&w.peers[p].from_engine).into_owned();
    assert!(req.starts_with("GET /"), "{req}");
    let r = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    w.send(p, r.as_bytes());
}

fn app_conns(w: &World) -> usize {
    w.accepted.get(&common::addr(APP)).map_or(0, Vec::len)
}

fn public_conns(w: &World) -> usize {
    w.accepted.get(&common::addr(PUBLIC)).map_or(0, Vec::len)
}

/// The world of these tests, with `mutant` switched on (`mutants`
/// feature) when given.
fn world(text: &str, mutant: Option<&str>) -> World {
    World::with_mutant(text, mutant)
}

#[test]
fn requests_through_a_reversed_connection() {
    served(None);
}

fn served(mutant: Option<&str>) {
    let mut w = world(&cfg("", 1), mutant);
    w.server(PUBLIC, ServerMode::Manual);
    w.server(APP, ServerMode::Manual);
    w.advance(1);
    assert_eq!(public_conns(&w), 1, "one connection dialed at start");
    let mut p = Public::accept(&w, 0);
    let req = p.get_bytes(1, "/a");
    p.settings(&mut w);
    w.send(p.peer, &req);
    assert_eq!(app_conns(&w), 1, "the request reached the application");
    app_answers(&mut w, 0, "hello");
    let res = p.responses(&w);
    assert_eq!(res, vec![(1, "200".into(), b"hello".to_vec())]);
    // A second request on stream 3, same connection.
    let req = p.get_bytes(3, "/b");
    w.send(p.peer, &req);
    // (The server connection is kept alive: the last one.)
    let n = app_conns(&w) - 1;
    app_answers(&mut w, n, "again");
    let res = p.responses(&w);
    assert_eq!(res[1], (3, "200".into(), b"again".to_vec()));
    // `nbconn 1` is reached: no second connection, however long.
    w.advance(5000);
    assert_eq!(public_conns(&w), 1);
    let logs = w.log_texts();
    assert!(
        logs.iter()
            .any(|l| l == "preconnect fe::pre/srv: Initiating."),
        "{logs:#?}"
    );
    assert!(
        logs.iter()
            .any(|l| l == "preconnect fe::pre/srv: Running with nbconn 1 reached."),
        "{logs:#?}"
    );
    // The public node goes away (and refuses for a while): the edge tries
    // again at once, as HAProxy re-enables a listener below `nbconn`, then,
    // refused, one second later, not before.
    w.server(PUBLIC, ServerMode::Refuse);
    let a0 = w.engine.rhttp_attempts();
    w.fin(p.peer);
    w.advance(2);
    assert_eq!(w.engine.rhttp_attempts(), a0 + 1, "an attempt at once");
    w.advance(900);
    assert_eq!(
        w.engine.rhttp_attempts(),
        a0 + 1,
        "no retry before the delay"
    );
    w.advance(200);
    assert_eq!(w.engine.rhttp_attempts(), a0 + 2, "a retry after the delay");
    w.server(PUBLIC, ServerMode::Manual);
    w.advance(1100);
    assert_eq!(public_conns(&w), 2, "connected again");
}

#[test]
fn requests_wait_for_the_accept() {
    held(None);
}

/// The process is full (`maxconn 1`, taken by a client of `other`) when
/// the reversed connection is ready: its request must wait, then be
/// served once the slot frees and the listener accepts the connection.
fn held(mutant: Option<&str>) {
    let mut w = world(&cfg("    maxconn 1", 1), mutant);
    w.server(PUBLIC, ServerMode::Manual);
    w.server(APP, ServerMode::Manual);
    w.advance(1);
    assert_eq!(public_conns(&w), 1);
    let mut p = Public::accept(&w, 0);
    let client = w.connect(OTHER);
    let req = p.get_bytes(1, "/held");
    p.settings(&mut w);
    w.send(p.peer, &req);
    w.advance(10);
    assert_eq!(
        app_conns(&w),
        0,
        "a request was processed before the accept"
    );
    assert!(p.responses(&w).is_empty());
    // The slot frees: accepted, and the held request goes through.
    w.fin(client);
    w.advance(10);
    assert_eq!(
        app_conns(&w),
        1,
        "the held request was not served after the accept\n{:#?}",
        w.log_texts()
    );
    app_answers(&mut w, 0, "late");
    assert_eq!(p.responses(&w), vec![(1, "200".into(), b"late".to_vec())]);
}

#[test]
fn refused_connections_are_retried_once_a_second() {
    retried(None);
}

fn retried(mutant: Option<&str>) {
    let mut w = world(&cfg("", 2), mutant);
    w.server(PUBLIC, ServerMode::Refuse);
    w.advance(1);
    // 10 s of a refusing public node: about ten attempts, never a storm.
    let before = w.engine.rhttp_attempts();
    w.advance(10_000);
    let attempts = w.engine.rhttp_attempts() - before;
    assert!((9..=11).contains(&attempts), "{attempts} attempts in 10 s");
    let errors = w
        .log_texts()
        .iter()
        .filter(|l| l.as_str() == "preconnect fe::pre/srv: Error encountered.")
        .count();
    assert_eq!(errors, 1, "logged once until a success");
}

/// The frames the engine sent on `peer` after its first `from` bytes:
/// (kind, flags, stream, payload), and the bytes looked at.
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

/// `bind rhttp@... idle-ping 2s` (HAProxy 3.x): the idle reversed
/// connection gets a PING every 2 s; answered, it lives on (longer than
/// `timeout client`, which the ACK refreshes); unanswered at the next
/// tick, it is closed without GOAWAY and the edge dials again.
#[test]
fn idle_ping_probes_the_edge_connection() {
    let text = cfg("", 1).replace(
        "bind rhttp@pre/srv nbconn 1",
        "bind rhttp@pre/srv nbconn 1 idle-ping 2s",
    );
    let mut w = world(&text, None);
    w.server(PUBLIC, ServerMode::Manual);
    w.server(APP, ServerMode::Manual);
    w.advance(1);
    let mut p = Public::accept(&w, 0);
    p.settings(&mut w);
    w.advance(1);
    let (_, mut seen) = frames_from(&w, p.peer, p.seen);
    // Three rounds of PING / ACK: 6 s idle, the connection stays.
    for round in 0..3 {
        w.advance(1990);
        let (f, _) = frames_from(&w, p.peer, seen);
        assert!(
            !f.iter().any(|f| f.0 == PING),
            "round {round}: a PING before 2 s idle: {f:?}"
        );
        w.advance(20);
        let (f, next) = frames_from(&w, p.peer, seen);
        seen = next;
        let ping = f
            .iter()
            .find(|f| f.0 == PING)
            .unwrap_or_else(|| panic!("round {round}: no PING after 2 s idle: {f:?}"));
        assert_eq!((ping.1, ping.2), (0, 0), "a PING, not an ACK, on stream 0");
        let mut ack = Vec::new();
        Frame::Ping {
            ack: true,
            data: ping.3.clone().try_into().expect("8 bytes"),
        }
        .encode(&mut ack);
        w.send(p.peer, &ack);
        assert!(w.peers[p.peer].closed_by_engine.is_none());
    }
    // Still usable: a request goes through.
    let req = p.get_bytes(1, "/after-pings");
    w.send(p.peer, &req);
    app_answers(&mut w, 0, "alive");
    assert_eq!(p.responses(&w), vec![(1, "200".into(), b"alive".to_vec())]);
    let (_, next) = frames_from(&w, p.peer, seen);
    seen = next;
    // Now silent: the next PING goes unanswered, 2 s later the
    // connection is closed, without GOAWAY, and another one is dialed.
    let dialed = public_conns(&w);
    w.advance(2010);
    let (f, next) = frames_from(&w, p.peer, seen);
    seen = next;
    assert!(f.iter().any(|f| f.0 == PING), "{f:?}");
    assert!(w.peers[p.peer].closed_by_engine.is_none());
    w.advance(2010);
    let (f, _) = frames_from(&w, p.peer, seen);
    assert!(
        w.peers[p.peer].closed_by_engine.is_some(),
        "an unanswered PING closes the connection"
    );
    assert!(!f.iter().any(|f| f.0 == GOAWAY), "no GOAWAY: {f:?}");
    w.advance(1100);
    assert_eq!(public_conns(&w), dialed + 1, "the edge dials again");
}

/// Without `idle-ping`, no PING: an idle edge connection lasts until its
/// idle timeout (`timeout client` here).
#[test]
fn no_idle_ping_by_default() {
    let mut w = world(&cfg("", 1), None);
    w.server(PUBLIC, ServerMode::Manual);
    w.server(APP, ServerMode::Manual);
    w.advance(1);
    let mut p = Public::accept(&w, 0);
    p.settings(&mut w);
    w.advance(9000);
    let (f, _) = frames_from(&w, p.peer, p.seen);
    assert!(!f.iter().any(|f| f.0 == PING), "{f:?}");
    assert!(w.peers[p.peer].closed_by_engine.is_none());
}

/// Each reverse HTTP mutant fails the scenario meant to catch it (and the
/// same scenario passes without it, above).
#[cfg(feature = "mutants")]
#[test]
fn mutants_are_caught() {
    let caught = |name: &str, f: fn(Option<&str>)| {
        let r = std::panic::catch_unwind(|| f(Some(name)));
        assert!(r.is_err(), "mutant {name} survived");
    };
    caught("rhttp-headers-before-accept", held);
    caught("rhttp-no-retry-delay", retried);
    caught("rhttp-no-retry-delay", served);
}

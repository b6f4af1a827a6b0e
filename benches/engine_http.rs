//! The engine's own cost per request, with no socket and no kernel: a
//! minimal in-memory driver feeds HTTP/1.1 requests to one engine and
//! answers them as the server, through the same entry points `proxy-mio`
//! uses (`on_accept`, `recv_buf`/`on_recv`, `send_buf`/`on_sent`,
//! `poll_action`). What it measures is the user-space part of the
//! `h1ka` / `h1close` suites of `benches/bench-http.sh`, which a
//! restructuring of the data path must not make slower.
//!
//! * `cargo bench --bench engine_http`: criterion, requests per second.
//! * `benches/callgrind.sh engine_http h1ka`: instructions per request,
//!   stable on a shared machine (compare two commits with it).
//!
//! Cases:
//! * `h1ka`: keep-alive client, keep-alive server connection (`http-reuse
//!   always`), 100-byte responses, as `wrk` against the bench config;
//! * `h1close`: a new client connection per request (`Connection: close`),
//!   the server connection reused;
//! * `rules_h1ka`: `h1ka` with a frontend `http-request set-header`, an
//!   ACL and a backend `http-response` rule (the head is re-encoded);
//! * `chunked`: keep-alive, 16 KiB chunked responses in 4 chunks;
//! * `tcp`: TCP mode, 16 KiB echoed each way per item.

#![allow(clippy::disallowed_methods, clippy::disallowed_types, dead_code)]

mod common;

use std::collections::BTreeMap;

use core::net::SocketAddr;

use sluice_core::cfgparse::{self, ParseOptions};
use sluice_core::engine::{Engine, EngineOptions};
use sluice_core::sock::{Action, ListenerId, SockId};
use sluice_core::time::Time;

use common::Case;

const HTTP_CFG: &str = "
global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
frontend fe
    bind 127.0.0.1:8080
    default_backend be
backend be
    http-reuse always
    server s1 10.0.0.1:80
";

const RULES_CFG: &str = "
global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
frontend fe
    bind 127.0.0.1:8080
    acl api path_beg /api
    http-request set-header X-Forwarded-Proto http
    http-request deny if api { hdr(x-block) -m found }
    default_backend be
backend be
    http-reuse always
    http-response set-header X-Served-By s1
    server s1 10.0.0.1:80
";

const TCP_CFG: &str = "
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend fe
    bind 127.0.0.1:8080
    default_backend be
backend be
    server s1 10.0.0.1:80
";

const REQ_KA: &[u8] =
    b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";
const REQ_CLOSE: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nAccept: */*\r\nConnection: close\r\n\r\n";

fn response_100() -> Vec<u8> {
    let mut r = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n".to_vec();
    r.extend(std::iter::repeat_n(b'x', 100));
    r
}

fn response_chunked() -> Vec<u8> {
    let mut r = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        r.extend_from_slice(b"1000\r\n");
        r.extend(std::iter::repeat_n(b'y', 4096));
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

/// The far end of one engine socket.
#[derive(Default)]
struct End {
    /// Bytes for the engine to read.
    inbox: Vec<u8>,
    /// Bytes the engine wrote, not yet consumed by the far end.
    got: Vec<u8>,
    read: bool,
    write: bool,
    server: bool,
    closed: bool,
}

/// One engine and the far ends of its sockets.
struct Bench {
    engine: Engine,
    now: Time,
    listener: ListenerId,
    ends: BTreeMap<SockId, End>,
    response: Vec<u8>,
    /// Server mode: answer each request (`\r\n\r\n`) with `response`;
    /// else echo (TCP).
    http: bool,
    /// `ENGINE_HTTP_SHOW` set: print what the client receives.
    show: bool,
    /// The sockets, reused between turns.
    socks: Vec<SockId>,
}

impl Bench {
    fn new(cfg: &str, response: Vec<u8>) -> Bench {
        let parsed = cfgparse::parse("bench.cfg", cfg, ParseOptions::new("bench"))
            .unwrap_or_else(|e| panic!("{e}"));
        let opts = EngineOptions {
            seed: 1,
            ..Default::default()
        };
        let resolver = |_: &str, _: u16| None;
        let engine = Engine::from_config(Time::ZERO, &parsed.config, opts, &resolver)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let http = !cfg.contains("mode tcp");
        let mut b = Bench {
            engine,
            now: Time::ZERO,
            listener: ListenerId(0),
            ends: BTreeMap::new(),
            response,
            http,
            show: std::env::var_os("ENGINE_HTTP_SHOW").is_some(),
            socks: Vec::new(),
        };
        b.drain();
        b
    }

    fn drain(&mut self) {
        while let Some(a) = self.engine.poll_action() {
            match a {
                Action::Listen { listener, .. } => self.listener = listener,
                Action::Connect { sock, .. } => {
                    self.ends.insert(
                        sock,
                        End {
                            server: true,
                            ..End::default()
                        },
                    );
                    self.engine.on_connected(self.now, sock);
                }
                Action::Interest { sock, read, write } => {
                    if let Some(e) = self.ends.get_mut(&sock) {
                        e.read = read;
                        e.write = write;
                    }
                }
                Action::Close { sock, .. } => {
                    if let Some(e) = self.ends.get_mut(&sock) {
                        e.closed = true;
                    }
                }
                _ => {}
            }
        }
    }

    fn accept(&mut self) -> SockId {
        let peer: SocketAddr = "127.0.0.2:40000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let sock = self
            .engine
            .on_accept(self.now, self.listener, Some(peer), Some(local))
            .expect("accepted");
        self.ends.insert(sock, End::default());
        self.drain();
        sock
    }

    /// Moves bytes both ways until nothing moves; returns the bytes the
    /// client `client` received.
    fn run(&mut self, client: SockId) -> usize {
        let mut received = 0;
        loop {
            let mut moved = false;
            let mut socks = std::mem::take(&mut self.socks);
            socks.clear();
            socks.extend(self.ends.keys().copied());
            for &sock in &socks {
                // Engine -> far end.
                let out = self.engine.send_buf(sock);
                let want_write = self.ends.get(&sock).is_some_and(|e| e.write && !e.closed);
                if want_write && !out.is_empty() {
                    let n = out.len();
                    let e = self.ends.get_mut(&sock).unwrap();
                    e.got.extend_from_slice(out);
                    self.engine.on_sent(self.now, sock, n);
                    self.drain();
                    moved = true;
                    if sock == client {
                        received += n;
                    }
                }
                // The server answers complete requests.
                let e = self.ends.get_mut(&sock).unwrap();
                if e.server && !e.got.is_empty() {
                    if self.http {
                        while let Some(p) = e.got.windows(4).position(|w| w == b"\r\n\r\n") {
                            e.got.drain(..p + 4);
                            e.inbox.extend_from_slice(&self.response);
                        }
                    } else {
                        let got = std::mem::take(&mut e.got);
                        e.inbox.extend_from_slice(&got);
                    }
                }
                if sock == client {
                    if self.show && !e.got.is_empty() {
                        eprintln!("{}", String::from_utf8_lossy(&e.got));
                    }
                    e.got.clear();
                }
                // Far end -> engine.
                let e = self.ends.get(&sock).unwrap();
                if e.read && !e.closed && !e.inbox.is_empty() {
                    let buf = self.engine.recv_buf(sock);
                    let e = self.ends.get_mut(&sock).unwrap();
                    let n = buf.len().min(e.inbox.len());
                    if n > 0 {
                        buf[..n].copy_from_slice(&e.inbox[..n]);
                        e.inbox.drain(..n);
                        self.engine.on_recv(self.now, sock, n);
                        self.drain();
                        moved = true;
                    }
                }
            }
            self.socks = socks;
            self.ends.retain(|_, e| !e.closed);
            if !moved {
                return received;
            }
        }
    }

    fn send(&mut self, client: SockId, bytes: &[u8]) {
        self.ends
            .get_mut(&client)
            .unwrap()
            .inbox
            .extend_from_slice(bytes);
    }
}

const KA_BATCH: u64 = 1000;

fn keep_alive(cfg: &'static str, response: fn() -> Vec<u8>) -> impl FnMut() -> u64 {
    let mut b = Bench::new(cfg, response());
    let client = b.accept();
    move || {
        let mut total = 0;
        for _ in 0..KA_BATCH {
            b.send(client, REQ_KA);
            total += b.run(client) as u64;
        }
        // Rules may add headers: at least the server's bytes, per request.
        assert!(
            total >= KA_BATCH * b.response.len() as u64,
            "every response"
        );
        total
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case::new("h1ka", KA_BATCH, keep_alive(HTTP_CFG, response_100)),
        Case::new("rules_h1ka", KA_BATCH, keep_alive(RULES_CFG, response_100)),
        Case::new("chunked", KA_BATCH, keep_alive(HTTP_CFG, response_chunked)),
        Case::new("h1close", KA_BATCH, {
            let mut b = Bench::new(HTTP_CFG, response_100());
            move || {
                let mut total = 0;
                for _ in 0..KA_BATCH {
                    let client = b.accept();
                    b.send(client, REQ_CLOSE);
                    let n = b.run(client) as u64;
                    assert!(n > 100, "a response");
                    total += n;
                }
                total
            }
        }),
        Case::new("tcp", KA_BATCH, {
            let mut b = Bench::new(TCP_CFG, Vec::new());
            let client = b.accept();
            let chunk = vec![b'z'; 16 * 1024];
            move || {
                let mut total = 0;
                for _ in 0..KA_BATCH {
                    b.send(client, &chunk);
                    total += b.run(client) as u64;
                }
                assert_eq!(total, KA_BATCH * chunk.len() as u64, "every byte echoed");
                total
            }
        }),
    ]
}

fn main() {
    common::main("engine_http", &[("path", cases)]);
}

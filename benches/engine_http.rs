//! The engine's own cost per request, with no socket and no kernel: the
//! shared in-memory driver (`sluice_core::testkit`, as in the scenario
//! tests and the fuzz targets) feeds HTTP/1.1 requests to one engine and
//! far ends answer them as the server, through the same entry points
//! `proxy-mio` uses (`on_accept`, `recv_buf`/`on_recv`,
//! `send_buf`/`on_sent`, `poll_action`). What it measures is the user-space part of the
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
//! * `httplog_h1ka`, `logformat_h1ka`: `h1ka` with a log line per
//!   request, by `option httplog`'s built-in writer and by the general
//!   `log-format` renderer given the same format string;
//! * `tcp`: TCP mode, 16 KiB echoed each way per item.

#![allow(clippy::disallowed_methods, clippy::disallowed_types, dead_code)]

mod common;

use std::collections::VecDeque;
use std::rc::Rc;

use core::net::SocketAddr;

use sluice_core::engine::EngineOptions;
use sluice_core::sock::{CloseHow, ListenerId, SockId};
use sluice_core::testkit::{self, Driver, DriverOptions, Ends, FarEnd};

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

/// `h1ka` with a log line per request: `option httplog` (the built-in
/// writer).
const HTTPLOG_CFG: &str = "
global
    maxconn 4000
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
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

/// The same line through the general renderer (`log-format` with
/// `option httplog`'s format string).
const LOGFORMAT_CFG: &str = "
global
    maxconn 4000
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r\"
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

/// The far end of one engine socket: a client, or the server, which
/// answers each request (`\r\n\r\n`) with the response (HTTP) or echoes
/// (TCP).
#[derive(Default)]
struct End {
    /// Bytes for the engine to read.
    inbox: VecDeque<u8>,
    /// Server: bytes the engine wrote, not yet answered.
    got: Vec<u8>,
    server: bool,
    /// Client: bytes received so far.
    received: usize,
    /// Server mode: answer each request with this; `None`: echo (TCP).
    response: Option<Rc<[u8]>>,
    /// `ENGINE_HTTP_SHOW` set: print what the client receives.
    show: bool,
}

impl FarEnd for End {
    fn to_engine(&mut self) -> &mut VecDeque<u8> {
        &mut self.inbox
    }

    fn fin_pending(&self) -> bool {
        false
    }

    fn fin_delivered(&mut self) {}

    fn room(&self) -> usize {
        usize::MAX
    }

    fn receive(&mut self, bytes: &[u8]) {
        if !self.server {
            self.received += bytes.len();
            if self.show {
                eprintln!("{}", String::from_utf8_lossy(bytes));
            }
            return;
        }
        match &self.response {
            Some(r) => {
                self.got.extend_from_slice(bytes);
                while let Some(p) = self.got.windows(4).position(|w| w == b"\r\n\r\n") {
                    self.got.drain(..p + 4);
                    self.inbox.extend(r.iter());
                }
            }
            None => self.inbox.extend(bytes),
        }
    }
}

/// The far ends, as the driver sees them.
struct Far {
    ends: Vec<End>,
    /// Numbers of closed ends, reused.
    free: Vec<usize>,
    /// Connects asked, answered at the next turn.
    connects: Vec<SockId>,
    response: Option<Rc<[u8]>>,
    show: bool,
}

impl Far {
    fn new_end(&mut self, end: End) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.ends[i] = end;
                i
            }
            None => {
                self.ends.push(end);
                self.ends.len() - 1
            }
        }
    }
}

impl Ends for Far {
    type End = End;

    fn end(&mut self, i: usize) -> &mut End {
        &mut self.ends[i]
    }

    fn connect(&mut self, sock: SockId, _addr: SocketAddr) -> usize {
        self.connects.push(sock);
        let response = self.response.clone();
        self.new_end(End {
            server: true,
            response,
            ..End::default()
        })
    }

    /// The end is reused by the next accept or connect (its byte count
    /// stays readable until then).
    fn closed(&mut self, end: usize, _how: CloseHow) {
        self.free.push(end);
    }
}

/// One engine (in the shared in-memory driver) and the far ends of its
/// sockets.
struct Bench {
    d: Driver,
    far: Far,
    listener: ListenerId,
}

impl Bench {
    fn new(cfg: &str, response: Vec<u8>) -> Bench {
        let opts = EngineOptions {
            seed: 1,
            ..Default::default()
        };
        let engine = testkit::engine_from_text("bench.cfg", cfg, opts);
        let http = !cfg.contains("mode tcp");
        // No check after every drain: the driver's share of the figure
        // stays small (the tests and the fuzzer check).
        let dopts = DriverOptions {
            check_invariants: false,
            check_timeouts: false,
            ..DriverOptions::default()
        };
        let mut far = Far {
            ends: Vec::new(),
            free: Vec::new(),
            connects: Vec::new(),
            response: http.then(|| response.into()),
            show: std::env::var_os("ENGINE_HTTP_SHOW").is_some(),
        };
        let d = Driver::new(engine, dopts, &mut far);
        let listener = d.listeners.first().expect("a listener").0;
        Bench { d, far, listener }
    }

    fn accept(&mut self) -> usize {
        let peer: SocketAddr = "127.0.0.2:40000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let show = self.far.show;
        let end = self.far.new_end(End {
            show,
            ..End::default()
        });
        self.d
            .accept(&mut self.far, self.listener, end, Some(peer), Some(local))
            .expect("accepted");
        end
    }

    /// Moves bytes both ways until nothing moves (servers connect at
    /// once); returns the bytes the client `client` received.
    fn run(&mut self, client: usize) -> usize {
        let before = self.far.ends[client].received;
        loop {
            while let Some(sock) = self.far.connects.pop() {
                self.d.connected(&mut self.far, sock);
            }
            if !self.d.round(&mut self.far) && self.far.connects.is_empty() {
                return self.far.ends[client].received - before;
            }
        }
    }

    fn send(&mut self, client: usize, bytes: &[u8]) {
        self.far.ends[client].inbox.extend(bytes);
    }

    fn response_len(&self) -> usize {
        self.far.response.as_ref().map_or(0, |r| r.len())
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
            total >= KA_BATCH * b.response_len() as u64,
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
        Case::new(
            "httplog_h1ka",
            KA_BATCH,
            keep_alive(HTTPLOG_CFG, response_100),
        ),
        Case::new(
            "logformat_h1ka",
            KA_BATCH,
            keep_alive(LOGFORMAT_CFG, response_100),
        ),
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

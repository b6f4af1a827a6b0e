//! `h2-proxy`: HTTP/2 clients (prior knowledge) -> Sluice (`bind ...
//! proto h2`) -> H2 servers (`server ... proto h2`) and HTTP/1.1 servers.
//!
//! The clients and the H2 servers are the `h2` crate's, an implementation
//! independent of Sluice's mux, driven deterministically: their I/O is a
//! [`SimIo`] over the simulated TCP byte pipes, and the sim loop polls
//! their futures with a no-op waker after every network event and timer
//! of the actor (no runtime, no thread, no clock: `h2` reads
//! `Instant::now()` only to expire locally reset streams after 30 s of wall
//! time, which a run never lasts). The HTTP/1.1 servers are a small parser
//! of their own here.
//!
//! Faults: latency, client and server cuts, resets and latency spikes (the
//! swarm's), server crashes and refusals, slow readers on both sides
//! through tiny `SETTINGS_INITIAL_WINDOW_SIZE`s and late WINDOW_UPDATEs
//! (window stalls), client RST_STREAM mid-response, client connections
//! vanishing, server RST_STREAM (REFUSED_STREAM before reading,
//! INTERNAL_ERROR mid-response), server graceful GOAWAYs after a drawn
//! number of streams (nginx's `keepalive_requests`), the proxy's soft stop
//! at the end.
//!
//! Oracles (besides `hang`, `bounded`, `drain`, `stats`, `stop`, `panic`
//! and `busy-loop`):
//!
//! | oracle | rule |
//! |---|---|
//! | `integrity` | every response body a client reads is its server's bytes for that request (a pure function of client, stream and offset), with the announced length; a `/r/` response is the server's (`x-sim-req` names the request) or the proxy's 502/503/504; `/local/` is 200 `local`, `/deny/` 403; every request body a server reads is the client's, with its length, `x-sim-fe: sluice` once |
//! | `stream` | every stream a client started ends exactly once: a complete response, a reset (RST_STREAM, or refused by a GOAWAY), or its connection's end; none is left open once its client is done |
//! | `log` | a stream that got a response has exactly one log line, with that status; any other at most one; no line names a request nobody sent |
//! | `goaway` | a request reaches the servers at most once, unless a server refused it unprocessed (REFUSED_STREAM, or above a GOAWAY's last-stream-id: the `h2` server never surfaces those); a request a server answered completely reaches its client whole, or its log line says why not (a termination state other than `--`) |

use core::fmt::Write as _;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::rc::Rc;

use bytes::Bytes;
use sluice_core::rng::Rng;
use sluice_core::time::Time;

use super::{gen, CState, ClientProto, ClientSpec, DpSpec, LogRec, Plan, ServerSpec, SrvProto};
use super::{ms, Timeouts};
use crate::world::World;

pub use super::http::Kind;

/// One request of a client's plan.
#[derive(Clone, Debug)]
pub struct H2Req {
    pub kind: Kind,
    pub post: bool,
    /// Request body length (POST), response body length (asked of the server).
    pub body: u64,
    pub resp: u64,
    /// The client resets the stream (CANCEL) after this many response bytes.
    pub cancel_after: Option<u64>,
}

/// What one H2 client connection does.
#[derive(Clone, Debug)]
pub struct H2Plan {
    pub reqs: Vec<H2Req>,
    /// Streams open at once, at most.
    pub concurrency: usize,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE.
    pub window: u32,
    /// Slow reader: WINDOW_UPDATEs for at most `chunk` bytes every `ms`.
    pub release: Option<(usize, u64)>,
    /// Up to this long between two stream starts.
    pub gap_ms: u64,
    /// After starting request `j`, the connection vanishes (reset when true).
    pub vanish: Option<(usize, bool)>,
    /// Keeps the connection idle after the last stream until the proxy closes it.
    pub linger: bool,
    /// A CONTINUATION flooder (CVE-2024-27316): HEADERS without
    /// END_HEADERS, then empty CONTINUATION frames, raw bytes, no `h2`.
    pub flood: bool,
    /// A body longer than its `content-length` (raw bytes, no `h2`):
    /// HEADERS (`content-length: 10`), DATA of 10 bytes, 10 more (a
    /// malformed request, §8.1.1: the proxy resets the stream), then 10
    /// more on the stream it reset, which must go nowhere.
    pub smuggle: bool,
    /// The smuggler's other act (half of them): HEADERS without a
    /// `content-length` (`x-len: 10`), 10 bytes of DATA; once the request
    /// went out, RST_STREAM(CANCEL) then, in the same write, up to 20 KB
    /// more with END_STREAM, which the proxy must drop: a server that
    /// reads past the 10 bytes got DATA the proxy forwarded after the
    /// client reset the stream.
    pub smuggle_rst: bool,
}

/// One server's H2 behaviour.
#[derive(Clone, Debug)]
pub struct H2SrvSpec {
    /// `server ... proto h2` (else HTTP/1.1).
    pub h2: bool,
    pub window: u32,
    pub max_streams: u32,
    /// A graceful GOAWAY after this many streams on a connection.
    pub goaway_after: Option<u32>,
    /// Percent of streams refused (REFUSED_STREAM) before reading them.
    pub refuse_pct: u64,
    /// Percent of responses reset (INTERNAL_ERROR) in the middle.
    pub rst_pct: u64,
    pub think_ms: u64,
    /// Slow reader of request bodies: at most `chunk` bytes every `ms`.
    pub release: Option<(usize, u64)>,
}

/// The `h2-proxy` part of a [`DpSpec`].
#[derive(Clone, Debug)]
pub struct H2Spec {
    pub servers: Vec<H2SrvSpec>,
}

// ---------------------------------------------------------------------------
// I/O over the simulated pipes.

/// Bytes between an `h2` connection and the simulated socket.
#[derive(Debug, Default)]
pub struct IoBuf {
    rx: VecDeque<u8>,
    rx_fin: bool,
    tx: Vec<u8>,
    dead: bool,
}

/// The `AsyncRead + AsyncWrite` an `h2` connection runs on: what the
/// actor took from the network, and what it will write to it as room
/// allows (a bounded buffer: `h2` waits when it is full).
#[derive(Clone, Debug, Default)]
pub struct SimIo(Rc<RefCell<IoBuf>>);

const TX_CAP: usize = 32 * 1024;

/// The most a proxy may read of a CONTINUATION flood before it ends the
/// connection: its field-block bound (64 KiB, payloads plus 9 bytes per
/// frame), plus its receive buffer, plus slack.
pub const FLOOD_BOUND: u64 = 64 * 1024 + 2 * (16_384 + 9) + 32 * 1024;
/// What a flooder sends at most.
const FLOOD_TOTAL: u64 = 4 * FLOOD_BOUND;

impl tokio::io::AsyncRead for SimIo {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let mut b = self.0.borrow_mut();
        if b.dead {
            return Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()));
        }
        if b.rx.is_empty() {
            return if b.rx_fin {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            };
        }
        let n = buf.remaining().min(b.rx.len());
        let data: Vec<u8> = b.rx.drain(..n).collect();
        buf.put_slice(&data);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for SimIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut b = self.0.borrow_mut();
        if b.dead {
            return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
        }
        let room = TX_CAP.saturating_sub(b.tx.len());
        if room == 0 {
            return Poll::Pending;
        }
        let n = room.min(data.len());
        b.tx.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

type ClientHs = Pin<
    Box<
        dyn Future<
            Output = Result<
                (
                    ::h2::client::SendRequest<Bytes>,
                    ::h2::client::Connection<SimIo, Bytes>,
                ),
                ::h2::Error,
            >,
        >,
    >,
>;
type ServerHs =
    Pin<Box<dyn Future<Output = Result<::h2::server::Connection<SimIo, Bytes>, ::h2::Error>>>>;

// ---------------------------------------------------------------------------
// Drawing the run.

/// Request `j` of client `c`'s body stream key, and its response's.
pub fn req_key(c: u32, j: u32) -> u64 {
    (1 << 61) | (u64::from(c) << 24) | (u64::from(j) << 1)
}

pub fn resp_key(c: u32, j: u32) -> u64 {
    req_key(c, j) | 1
}

/// `.../KIND/C/J` (any scheme and authority before) -> (kind, C, J).
pub fn parse_target(p: &str) -> Option<(Kind, u32, u32)> {
    for (k, pre) in [
        (Kind::Server, "/r/"),
        (Kind::Local, "/local/"),
        (Kind::Deny, "/deny/"),
    ] {
        if let Some(at) = p.find(pre) {
            let mut it = p[at + pre.len()..].split(['/', ' ', '?']);
            let c = it.next()?.parse().ok()?;
            let j = it.next()?.parse().ok()?;
            return Some((k, c, j));
        }
    }
    None
}

/// DATA frame `k` of the smuggler (10 bytes of its request body stream).
fn smuggle_data(i: u32, k: u64, end: bool, out: &mut Vec<u8>) {
    smuggle_bytes(i, 10 * k, 10, end, out);
}

/// A DATA frame of the smuggler: `len` bytes of its request body stream
/// from offset `off`.
fn smuggle_bytes(i: u32, off: u64, len: u32, end: bool, out: &mut Vec<u8>) {
    let mut d = Vec::new();
    gen::body_fill(req_key(i, 0), off, len as usize, &mut d);
    sluice_core::http::h2::frame::FrameHeader {
        len,
        kind: sluice_core::http::h2::frame::FrameType::DATA,
        flags: u8::from(end),
        stream_id: 1,
    }
    .encode(out);
    out.extend_from_slice(&d);
}

/// Draws the `h2-proxy` run: the configuration, the clients' plans, the
/// servers' H2 behaviour.
pub fn generate(
    rng: &mut Rng,
    start: Time,
    dur: u64,
    servers: Vec<ServerSpec>,
    hosts: &[usize],
) -> DpSpec {
    let t = Timeouts {
        connect: [100, 250, 500, 1000, 3000][rng.below(5) as usize],
        client: 3000 + rng.below(12_000),
        server: 3000 + rng.below(12_000),
        queue: rng.chance(1, 2).then(|| 200 + rng.below(4800)),
        tunnel: None,
        client_fin: None,
        server_fin: None,
        http_request: None,
        http_keep_alive: rng.chance(1, 2).then(|| 100 + rng.below(5000)),
        retries: rng.below(4),
    };
    let h2srv: Vec<H2SrvSpec> = servers
        .iter()
        .map(|_| {
            let misbehave = rng.chance(1, 2);
            H2SrvSpec {
                h2: !rng.chance(1, 4),
                window: if rng.chance(1, 3) {
                    4096 + rng.below(8192) as u32
                } else {
                    65_535
                },
                max_streams: [1, 2, 10, 100][rng.below(4) as usize],
                goaway_after: rng.chance(1, 2).then(|| 1 + rng.below(12) as u32),
                refuse_pct: if misbehave { rng.below(15) } else { 0 },
                rst_pct: if misbehave { rng.below(10) } else { 0 },
                think_ms: if rng.chance(1, 2) { 0 } else { rng.below(200) },
                release: rng
                    .chance(1, 4)
                    .then(|| (256 + rng.below(4096) as usize, 5 + rng.below(46))),
            }
        })
        .collect();
    let mut c = String::new();
    let _ = writeln!(c, "global\n    log stderr format raw local0");
    if rng.chance(1, 3) {
        let _ = writeln!(
            c,
            "    tune.h2.max-concurrent-streams {}",
            [1, 2, 5, 100][rng.below(4) as usize]
        );
    }
    let _ = writeln!(
        c,
        "defaults\n    mode http\n    log global\n    option httplog\n    timeout connect {}\n    timeout client {}\n    timeout server {}",
        ms(t.connect),
        ms(t.client),
        ms(t.server)
    );
    for (k, v) in [("queue", t.queue), ("http-keep-alive", t.http_keep_alive)] {
        if let Some(v) = v {
            let _ = writeln!(c, "    timeout {k} {}", ms(v));
        }
    }
    let _ = writeln!(c, "    retries {}", t.retries);
    if rng.chance(1, 2) {
        let _ = writeln!(c, "    option redispatch");
    }
    let rules = "    http-request return status 200 content-type text/plain string local if { path_beg /local/ }\n    http-request deny if { path_beg /deny/ }\n    http-request set-header x-sim-fe sluice\n";
    let reuse = ["never", "safe", "aggressive", "always"][rng.below(4) as usize];
    let balance = ["roundrobin", "static-rr", "leastconn", "first"][rng.below(4) as usize];
    let mut be = format!("    balance {balance}\n    http-reuse {reuse}\n");
    for (s, h) in servers.iter().zip(&h2srv) {
        let _ = write!(be, "    server {} {}", s.name, s.addr);
        if h.h2 {
            be.push_str(" proto h2");
        }
        if rng.chance(1, 3) {
            let _ = write!(
                be,
                " check inter {} rise {} fall {}",
                ms(200 + rng.below(1800)),
                1 + rng.below(3),
                1 + rng.below(3)
            );
        }
        if rng.chance(1, 3) {
            let _ = write!(be, " maxconn {}", 1 + rng.below(20));
        }
        be.push('\n');
    }
    let _ = write!(
        c,
        "frontend fe\n    bind {} proto h2\n{rules}    default_backend app\nbackend app\n{be}",
        super::fe_addr()
    );
    let n = 10 + rng.below(60);
    let mut clients: Vec<ClientSpec> = (0..n)
        .map(|_| ClientSpec {
            at: start.add_ms(rng.below(dur)),
            host: hosts[rng.below(hosts.len() as u64) as usize],
            slow_read: None,
            proxy_hdr: None,
            proxy: 0,
            plan: Plan::H2(plan(rng)),
        })
        .collect();
    // One client in 15 floods CONTINUATION frames instead.
    for c in &mut clients {
        if let Plan::H2(p) = &mut c.plan {
            if rng.chance(1, 15) {
                p.flood = true;
                p.reqs.clear();
            } else if rng.chance(1, 14) {
                p.smuggle = true;
                p.reqs.truncate(1);
                p.reqs[0] = H2Req {
                    kind: Kind::Server,
                    post: true,
                    body: 10,
                    resp: 0,
                    cancel_after: None,
                };
            }
        }
    }
    clients.sort_by_key(|c| c.at);
    let faults = super::draw_faults(rng, start, dur, servers.len());
    // A frontend `maxconn` in a quarter (drawn last, so that the rest of
    // a seed's run stays as it was): the listener pauses, clients wait
    // in the kernel backlog.
    if rng.chance(1, 4) {
        let at = c.find("    http-request return").expect("rules");
        c.insert_str(at, &format!("    maxconn {}\n", 2 + rng.below(40)));
    }
    // Half the smugglers reset their stream instead (drawn after the
    // rest, which keeps each seed's run as it was otherwise).
    for cl in &mut clients {
        if let Plan::H2(p) = &mut cl.plan {
            if p.smuggle {
                p.smuggle_rst = rng.chance(1, 2);
            }
        }
    }
    // A slow reader of 256 bytes every 50 ms takes ~40 s for 200 KB: the
    // proxy's `timeout server`/`client` end such streams first.
    DpSpec {
        http: true,
        config: c,
        splice: false,
        hang_ms: t.hang_bound_ms(),
        timeouts: t,
        servers,
        clients,
        faults,
        traffic_end: start.add_ms(dur),
        tls: None,
        rhttp: None,
        dns: None,
        h2: Some(H2Spec { servers: h2srv }),
    }
}

fn plan(rng: &mut Rng) -> H2Plan {
    let n = 1 + rng.below(12) as usize;
    let reqs: Vec<H2Req> = (0..n)
        .map(|_| {
            let kind = match rng.below(10) {
                0 => Kind::Local,
                1 => Kind::Deny,
                _ => Kind::Server,
            };
            let post = rng.chance(1, 3);
            let size = |rng: &mut Rng| match rng.below(4) {
                0 => 0,
                1 => rng.below(100),
                2 => rng.below(20_000),
                _ => rng.below(200_000),
            };
            let body = if post { size(rng) } else { 0 };
            let resp = size(rng);
            H2Req {
                kind,
                post,
                body,
                resp,
                cancel_after: (resp > 0 && rng.chance(1, 12)).then(|| rng.below(resp)),
            }
        })
        .collect();
    let small = reqs.iter().map(|r| r.resp).sum::<u64>() < 8_000;
    H2Plan {
        vanish: rng
            .chance(1, 10)
            .then(|| (rng.below(n as u64) as usize, rng.chance(1, 2))),
        reqs,
        concurrency: [1, 2, 4, 16][rng.below(4) as usize],
        // Window stalls: a tiny window (DATA frames of a few bytes, one
        // round trip each) only for small responses, so that every stream
        // can still end within the drain.
        window: if rng.chance(1, 3) {
            if small {
                64 + rng.below(192) as u32
            } else {
                4096 + rng.below(8192) as u32
            }
        } else {
            65_535
        },
        release: rng
            .chance(1, 6)
            .then(|| (1024 + rng.below(8192) as usize, 5 + rng.below(45))),
        gap_ms: [0, 20, 300][rng.below(3) as usize],
        linger: rng.chance(1, 4),
        flood: false,
        smuggle: false,
        smuggle_rst: false,
    }
}

// ---------------------------------------------------------------------------
// Clients.

/// How a client stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response (`from_server`: its server's, else the proxy's).
    Response { status: u16, from_server: bool },
    /// Reset by the proxy (RST_STREAM or refused by a GOAWAY), or its
    /// connection failed under it.
    Reset(String),
    /// The client reset it itself (CANCEL) or its connection vanished.
    Cancelled,
}

struct CStream {
    j: u32,
    resp: Option<::h2::client::ResponseFuture>,
    send: Option<::h2::SendStream<Bytes>>,
    body_off: u64,
    recv: Option<::h2::RecvStream>,
    status: u16,
    from_server: bool,
    got: u64,
    unreleased: usize,
    local_body: Vec<u8>,
}

/// One H2 client connection, as it runs.
pub struct H2Client {
    pub plan: H2Plan,
    io: SimIo,
    hs: Option<ClientHs>,
    send: Option<::h2::client::SendRequest<Bytes>>,
    conn: Option<::h2::client::Connection<SimIo, Bytes>>,
    /// Why the connection ended, once it did.
    pub conn_done: Option<String>,
    streams: Vec<CStream>,
    /// Streams started, and how each ended.
    pub started: u32,
    pub outcomes: BTreeMap<u32, Outcome>,
    next_start: Time,
    next_release: Time,
    vanished: bool,
    /// Flooder: bytes written so far.
    flood_sent: u64,
}

impl core::fmt::Debug for H2Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("H2Client")
            .field("started", &self.started)
            .field("outcomes", &self.outcomes)
            .field("conn_done", &self.conn_done)
            .finish()
    }
}

impl H2Client {
    pub fn new(plan: &H2Plan) -> H2Client {
        H2Client {
            plan: plan.clone(),
            io: SimIo::default(),
            hs: None,
            send: None,
            conn: None,
            conn_done: None,
            streams: Vec::new(),
            started: 0,
            outcomes: BTreeMap::new(),
            next_start: Time::ZERO,
            next_release: Time::ZERO,
            vanished: false,
            flood_sent: 0,
        }
    }

    fn all_ended(&self) -> bool {
        self.outcomes.len() == self.plan.reqs.len()
    }
}

/// One server connection of `h2-proxy`.
pub enum H2SrvConn {
    H2(Box<H2Srv>),
    H1(Box<H1Srv>),
}

impl core::fmt::Debug for H2SrvConn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            H2SrvConn::H2(s) => write!(f, "H2Srv(served {})", s.served),
            H2SrvConn::H1(_) => f.write_str("H1Srv"),
        }
    }
}

struct SStream {
    c: u32,
    j: u32,
    kind: Kind,
    recv: Option<::h2::RecvStream>,
    respond: Option<::h2::server::SendResponse<Bytes>>,
    send: Option<::h2::SendStream<Bytes>>,
    body_len: u64,
    body_got: u64,
    unreleased: usize,
    resp_len: u64,
    resp_off: u64,
    ready_at: Option<Time>,
    rst_at: Option<u64>,
    done: bool,
}

/// An H2 server connection (the `h2` crate's server).
pub struct H2Srv {
    io: SimIo,
    hs: Option<ServerHs>,
    conn: Option<::h2::server::Connection<SimIo, Bytes>>,
    streams: Vec<SStream>,
    served: u32,
    done: Option<String>,
    next_release: Time,
}

/// An HTTP/1.1 server connection: requests one at a time.
#[derive(Default)]
pub struct H1Srv {
    buf: Vec<u8>,
    /// The request being read: (client, index, body left, chunked state).
    cur: Option<H1Cur>,
    out: VecDeque<(Time, Vec<u8>)>,
}

struct H1Cur {
    c: u32,
    j: u32,
    kind: Kind,
    want: u64,
    got: u64,
    resp_len: u64,
    /// Chunked: where the parser is (`None`: `Content-Length`, or done).
    chunked: Option<Chunk>,
}

#[derive(Clone, Copy)]
enum Chunk {
    Size,
    Data(u64),
    Crlf,
    Trailers,
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

impl World {
    fn h2_spec(&self) -> &H2Spec {
        self.dp_spec().h2.as_ref().expect("h2-proxy")
    }

    fn take_h2_client(&mut self, i: u32) -> Option<Box<H2Client>> {
        match &mut self.dpw().clients[i as usize].proto {
            ClientProto::H2(h) => h.take(),
            _ => None,
        }
    }

    fn put_h2_client(&mut self, i: u32, h: Box<H2Client>) {
        if let ClientProto::H2(slot) = &mut self.dpw().clients[i as usize].proto {
            *slot = Some(h);
        }
    }

    /// Records how stream `j` of client `i` ended: exactly once.
    fn h2_outcome(&mut self, i: u32, h: &mut H2Client, j: u32, o: Outcome) {
        let now = self.now;
        self.trace
            .line(format_args!("{} client{i} stream {j}: {o:?}", now.as_ms()));
        if let Some(prev) = h.outcomes.insert(j, o.clone()) {
            let d = format!("client{i} stream {j} ended twice: {prev:?}, then {o:?}");
            self.fail("stream", d);
        }
        if let Outcome::Response { status, .. } = o {
            self.stats.dp.responses += 1;
            *self.stats.dp.statuses.entry(status).or_insert(0) += 1;
        }
    }

    /// `protocol`: an error the `h2` library raised itself is a protocol
    /// violation it saw from the proxy (a frame past a window, on a closed
    /// stream, a bad field block...), which an RFC 9113 peer never causes.
    fn h2_lib_error(&mut self, who: &str, e: &::h2::Error) {
        if e.is_library() {
            self.fail(
                "protocol",
                format!("{who}: the h2 peer saw a protocol error: {e}"),
            );
        }
    }

    /// One look at an H2 client: network in, poll, network out, until
    /// nothing moves.
    pub(crate) fn h2_client_io(&mut self, i: u32) {
        let now = self.now;
        let c = &self.dpw().clients[i as usize];
        let Some(cid) = c.cid else { return };
        if c.state == CState::Connecting {
            if !self
                .conns
                .get(&cid)
                .is_some_and(|x| x.syn == crate::net::SynState::Open)
            {
                return;
            }
            let c = &mut self.dpw().clients[i as usize];
            c.state = CState::Open;
            c.last_progress = now;
            let Some(mut h) = self.take_h2_client(i) else {
                return;
            };
            if h.plan.flood {
                self.put_h2_client(i, h);
                return self.h2_flood_io(i, cid);
            }
            if h.plan.smuggle {
                self.put_h2_client(i, h);
                return self.h2_smuggle_io(i, cid);
            }
            let mut b = ::h2::client::Builder::new();
            b.initial_window_size(h.plan.window);
            h.hs = Some(Box::pin(b.handshake::<SimIo, Bytes>(h.io.clone())));
            h.next_start = now;
            self.put_h2_client(i, h);
        }
        let Some(mut h) = self.take_h2_client(i) else {
            return;
        };
        if h.plan.flood {
            self.put_h2_client(i, h);
            return self.h2_flood_io(i, cid);
        }
        if h.plan.smuggle {
            self.put_h2_client(i, h);
            return self.h2_smuggle_io(i, cid);
        }
        for _ in 0..200 {
            let mut moved = false;
            let (data, fin) = self.take_rx(cid, 0, usize::MAX);
            if !data.is_empty() || fin {
                moved = true;
                self.stats.dp.bytes_down += data.len() as u64;
                let mut b = h.io.0.borrow_mut();
                b.rx.extend(data);
                b.rx_fin |= fin;
            }
            moved |= self.h2_client_poll(i, &mut h);
            if self.failure.is_some() || h.vanished {
                break;
            }
            let room = self.client_room(i);
            let out: Vec<u8> = {
                let mut b = h.io.0.borrow_mut();
                let n = room.min(b.tx.len());
                b.tx.drain(..n).collect()
            };
            if !out.is_empty() {
                moved = true;
                self.stats.dp.bytes_up += out.len() as u64;
                self.net_send(cid, 0, out);
            }
            if moved {
                self.dpw().clients[i as usize].last_progress = now;
            } else {
                break;
            }
        }
        let vanished = h.vanished;
        let ended = h.all_ended();
        let conn_done = h.conn_done.is_some();
        let linger = h.plan.linger;
        let mut tick = None;
        if h.started < h.plan.reqs.len() as u32 && h.next_start > now {
            tick = Some(h.next_start);
        }
        if h.plan.release.is_some() && h.streams.iter().any(|s| s.unreleased > 0) {
            let at = h.next_release.max(now.add_ms(1));
            tick = Some(tick.map_or(at, |t: Time| t.min(at)));
        }
        if ended && !linger {
            // Done with it: the h2 client's connection goes away with it.
            h.send = None;
        }
        self.put_h2_client(i, h);
        if vanished {
            return;
        }
        if conn_done || (ended && !linger) {
            if self.dpw().clients[i as usize].state != CState::Done {
                self.h2_client_finish(i, "done");
            }
            return;
        }
        if let Some(at) = tick {
            self.client_tick(i, at);
        }
    }

    /// A CONTINUATION flooder: writes its flood as room allows, reads and
    /// drops what comes back, and checks that the proxy stopped reading
    /// within [`FLOOD_BOUND`] bytes (it must end the connection).
    fn h2_flood_io(&mut self, i: u32, cid: u64) {
        let now = self.now;
        let (data, fin) = self.take_rx(cid, 0, usize::MAX);
        if !data.is_empty() {
            self.dpw().clients[i as usize].last_progress = now;
        }
        let read = self.dpw().clients[i as usize].proxy_read;
        if read > FLOOD_BOUND {
            let d = format!(
                "client{i}: the proxy read {read} bytes of a CONTINUATION flood (bound {FLOOD_BOUND})"
            );
            return self.fail("flood", d);
        }
        if fin {
            return self.client_close(i, false, "flood: got FIN");
        }
        let Some(mut h) = self.take_h2_client(i) else {
            return;
        };
        let mut out = Vec::new();
        if h.flood_sent == 0 {
            use sluice_core::http::h2::frame::Frame;
            out.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            sluice_core::http::h2::frame::encode_settings(&[], &mut out);
            // :method GET, :scheme http, :path / (static table), no END_HEADERS.
            Frame::Headers {
                stream_id: 1,
                end_stream: true,
                end_headers: false,
                priority: None,
                fragment: &[0x82, 0x86, 0x84],
                pad_len: None,
                error: None,
            }
            .encode(&mut out);
        }
        let room = self.client_room(i);
        let budget = room.min(64 * 1024);
        while out.len() + 9 <= budget && h.flood_sent + (out.len() as u64) < FLOOD_TOTAL {
            // An empty CONTINUATION on stream 1, no END_HEADERS.
            out.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 0, 1]);
        }
        if !out.is_empty() && out.len() <= room {
            h.flood_sent += out.len() as u64;
            self.dpw().clients[i as usize].last_progress = now;
            self.net_send(cid, 0, out);
        }
        let more = h.flood_sent < FLOOD_TOTAL;
        self.put_h2_client(i, h);
        if !more && read >= FLOOD_TOTAL.min(FLOOD_BOUND) {
            self.client_close(i, true, "flood: over");
        }
    }

    /// The smuggler: its bytes at once, then reads and drops what comes
    /// back, and leaves 2 s later (or when the proxy closes).
    fn h2_smuggle_io(&mut self, i: u32, cid: u64) {
        use sluice_core::http::h2::frame::Frame;
        let now = self.now;
        let (_, fin) = self.take_rx(cid, 0, usize::MAX);
        if fin {
            return self.client_close(i, false, "smuggle: got FIN");
        }
        let Some(mut h) = self.take_h2_client(i) else {
            return;
        };
        if h.started == 0 {
            let room = self.client_room(i);
            let mut out = Vec::new();
            out.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            sluice_core::http::h2::frame::encode_settings(&[], &mut out);
            // :method POST, :scheme http, :path, :authority, content-length,
            // x-len, x-resp-len (literals without indexing, no Huffman).
            let mut blk = vec![0x83, 0x86];
            let lit_idx = |blk: &mut Vec<u8>, idx: u8, v: &str| {
                if idx < 15 {
                    blk.push(idx);
                } else {
                    blk.extend_from_slice(&[0x0f, idx - 15]);
                }
                blk.push(v.len() as u8);
                blk.extend_from_slice(v.as_bytes());
            };
            lit_idx(&mut blk, 4, &format!("/r/{i}/0"));
            lit_idx(&mut blk, 1, "sim");
            if !h.plan.smuggle_rst {
                lit_idx(&mut blk, 28, "10");
            }
            for (n, v) in [("x-len", "10"), ("x-resp-len", "0")] {
                blk.push(0);
                blk.push(n.len() as u8);
                blk.extend_from_slice(n.as_bytes());
                blk.push(v.len() as u8);
                blk.extend_from_slice(v.as_bytes());
            }
            Frame::Headers {
                stream_id: 1,
                end_stream: false,
                end_headers: true,
                priority: None,
                fragment: &blk,
                pad_len: None,
                error: None,
            }
            .encode(&mut out);
            smuggle_data(i, 0, false, &mut out);
            if room < out.len() {
                self.put_h2_client(i, h);
                return;
            }
            h.started = 1;
            h.outcomes.insert(0, Outcome::Cancelled);
            // The reset waits for the request to reach a server (a reset
            // before it went out has nothing to forward).
            h.next_start = now.add_ms(if h.plan.smuggle_rst { 200 } else { 1 });
            self.stats.dp.requests += 1;
            self.net_send(cid, 0, out);
        }
        // 1 ms later (while the request goes out): 10 bytes past the
        // `content-length`, then 10 more on the stream that reset.
        // (The resetting one: RST_STREAM, then up to 20 KB in the same
        // write, as much as the connection takes.)
        let room = self.client_room(i);
        if h.plan.smuggle_rst
            && h.flood_sent == 0
            && now >= h.next_start
            && room < 20_100
            && now < h.next_start.add_ms(500)
        {
            // Waits a little for room for all of it.
            let at = now.add_ms(10);
            self.put_h2_client(i, h);
            return self.client_tick(i, at);
        }
        if now >= h.next_start && h.flood_sent == 0 && room >= 64 {
            let mut out = Vec::new();
            if h.plan.smuggle_rst {
                Frame::RstStream {
                    stream_id: 1,
                    code: sluice_core::http::h2::frame::ErrorCode::CANCEL,
                }
                .encode(&mut out);
                // More than a request buffer holds, so that bytes that
                // wrongly go on stay in the mux for a while.
                let mut left = (room as u64 - 40).min(20_000);
                let mut off = 10;
                while left > 0 {
                    let n = left.min(10_000);
                    left -= n;
                    smuggle_bytes(i, off, n as u32, left == 0, &mut out);
                    off += n;
                }
            } else {
                smuggle_data(i, 1, false, &mut out);
                smuggle_data(i, 2, true, &mut out);
            }
            h.flood_sent = 1;
            h.next_start = now.add_ms(2000);
            self.net_send(cid, 0, out);
        }
        let leave = h.next_start;
        let over = h.flood_sent == 1;
        self.put_h2_client(i, h);
        if over && now >= leave {
            return self.client_close(i, false, "smuggle: over");
        }
        self.client_tick(i, leave);
    }

    /// Client `i` is over: streams still open end with the connection.
    fn h2_client_finish(&mut self, i: u32, why: &str) {
        if let Some(mut h) = self.take_h2_client(i) {
            let reason = h.conn_done.clone().unwrap_or_else(|| why.to_string());
            let open: Vec<u32> = h
                .streams
                .iter()
                .map(|s| s.j)
                .filter(|j| !h.outcomes.contains_key(j))
                .collect();
            for j in open {
                self.h2_outcome(
                    i,
                    &mut h,
                    j,
                    Outcome::Reset(format!("connection: {reason}")),
                );
            }
            for j in h.started..h.plan.reqs.len() as u32 {
                h.outcomes.entry(j).or_insert(Outcome::Cancelled);
            }
            h.streams.clear();
            h.conn = None;
            h.send = None;
            self.put_h2_client(i, h);
        }
        self.client_close(i, false, why);
    }

    /// Polls everything of client `i` once; whether anything moved.
    fn h2_client_poll(&mut self, i: u32, h: &mut H2Client) -> bool {
        let now = self.now;
        let mut cx = noop_cx();
        let mut moved = false;
        if let Some(hs) = h.hs.as_mut() {
            match hs.as_mut().poll(&mut cx) {
                Poll::Ready(Ok((s, c))) => {
                    h.send = Some(s);
                    h.conn = Some(c);
                    h.hs = None;
                    moved = true;
                }
                Poll::Ready(Err(e)) => {
                    h.hs = None;
                    h.conn_done = Some(format!("handshake: {e}"));
                    moved = true;
                }
                Poll::Pending => {}
            }
        }
        if let Some(c) = h.conn.as_mut() {
            if let Poll::Ready(r) = Pin::new(c).poll(&mut cx) {
                h.conn = None;
                h.conn_done = Some(match r {
                    Ok(()) => "closed".to_string(),
                    Err(e) => {
                        self.h2_lib_error(&format!("client{i}"), &e);
                        e.to_string()
                    }
                });
                self.trace.line(format_args!(
                    "{} client{i} h2 connection ended: {:?}",
                    now.as_ms(),
                    h.conn_done
                ));
                moved = true;
            }
        }
        // Vanish once request `j` started.
        if let Some((vj, rst)) = h.plan.vanish {
            if (h.started as usize) > vj && !h.vanished {
                h.vanished = true;
                for s in &h.streams {
                    h.outcomes.entry(s.j).or_insert(Outcome::Cancelled);
                }
                for j in h.started..h.plan.reqs.len() as u32 {
                    h.outcomes.insert(j, Outcome::Cancelled);
                }
                h.streams.clear();
                h.send = None;
                h.conn = None;
                self.dpw().clients[i as usize].aborted = true;
                self.client_close(i, rst, "vanish");
                return true;
            }
        }
        // New streams.
        while (h.started as usize) < h.plan.reqs.len()
            && h.conn_done.is_none()
            && now >= h.next_start
            && h.streams.len() < h.plan.concurrency
        {
            let Some(send) = h.send.as_mut() else { break };
            let j = h.started;
            match send.poll_ready(&mut cx) {
                Poll::Pending => break,
                Poll::Ready(Err(e)) => {
                    h.started += 1;
                    self.h2_outcome(i, h, j, Outcome::Reset(format!("not sent: {e}")));
                    moved = true;
                    continue;
                }
                Poll::Ready(Ok(())) => {}
            }
            let r = h.plan.reqs[j as usize].clone();
            let req = http::Request::builder()
                .method(if r.post { "POST" } else { "GET" })
                .uri(format!("http://sim/{}/{i}/{j}", r.kind.prefix()))
                .header("x-len", r.body.to_string())
                .header("x-resp-len", r.resp.to_string())
                .body(())
                .expect("request");
            h.started += 1;
            self.stats.dp.requests += 1;
            moved = true;
            match send.send_request(req, r.body == 0) {
                Ok((resp, st)) => h.streams.push(CStream {
                    j,
                    resp: Some(resp),
                    send: Some(st),
                    body_off: 0,
                    recv: None,
                    status: 0,
                    from_server: false,
                    got: 0,
                    unreleased: 0,
                    local_body: Vec::new(),
                }),
                Err(e) => self.h2_outcome(i, h, j, Outcome::Reset(format!("not sent: {e}"))),
            }
            let gap = self.rng.below(h.plan.gap_ms + 1);
            h.next_start = now.add_ms(gap);
        }
        // Slow readers give credit back at their pace.
        let release_now = h.plan.release.is_none_or(|_| now >= h.next_release);
        if let (Some((chunk, every)), true) = (h.plan.release, release_now) {
            let mut left = chunk;
            for s in &mut h.streams {
                let n = s.unreleased.min(left);
                if n > 0 {
                    if let Some(r) = s.recv.as_mut() {
                        let _ = r.flow_control().release_capacity(n);
                    }
                    s.unreleased -= n;
                    left -= n;
                    moved = true;
                }
            }
            if left < chunk {
                h.next_release = now.add_ms(every);
            }
        }
        let mut k = 0;
        while k < h.streams.len() {
            let (m, ended) = self.h2_client_stream(i, h, k, &mut cx);
            moved |= m;
            if ended {
                h.streams.remove(k);
            } else {
                k += 1;
            }
            if self.failure.is_some() {
                return false;
            }
        }
        moved
    }

    /// Polls stream `k` of client `i`: (moved, ended).
    fn h2_client_stream(
        &mut self,
        i: u32,
        h: &mut H2Client,
        k: usize,
        cx: &mut Context<'_>,
    ) -> (bool, bool) {
        let mut moved = false;
        let j = h.streams[k].j;
        let r = h.plan.reqs[j as usize].clone();
        let slow = h.plan.release.is_some();
        // The request body.
        {
            let s = &mut h.streams[k];
            for _ in 0..16 {
                let Some(st) = s.send.as_mut() else { break };
                if s.body_off >= r.body {
                    break;
                }
                let left = r.body - s.body_off;
                st.reserve_capacity(left.min(1 << 20) as usize);
                match st.poll_capacity(cx) {
                    Poll::Ready(Some(Ok(n))) if n > 0 => {
                        let n = (n as u64).min(left);
                        let mut b = Vec::new();
                        gen::body_fill(req_key(i, j), s.body_off, n as usize, &mut b);
                        s.body_off += n;
                        let _ = st.send_data(Bytes::from(b), s.body_off == r.body);
                        moved = true;
                    }
                    Poll::Ready(Some(Ok(_))) | Poll::Pending => break,
                    Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                        s.body_off = r.body;
                        break;
                    }
                }
            }
        }
        // The response head.
        if let Some(f) = h.streams[k].resp.as_mut() {
            match Pin::new(f).poll(cx) {
                Poll::Pending => {}
                Poll::Ready(Err(e)) => {
                    h.streams[k].resp = None;
                    self.h2_lib_error(&format!("client{i} stream {j}"), &e);
                    self.h2_outcome(i, h, j, Outcome::Reset(e.to_string()));
                    return (true, true);
                }
                Poll::Ready(Ok(resp)) => {
                    moved = true;
                    let status = resp.status().as_u16();
                    let tag = resp
                        .headers()
                        .get("x-sim-req")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let s = &mut h.streams[k];
                    s.resp = None;
                    s.status = status;
                    let want = format!("{i}/{j}");
                    let bad = match (r.kind, &tag) {
                        (Kind::Server, Some(t)) if *t == want && status == 200 => {
                            s.from_server = true;
                            None
                        }
                        (_, Some(t)) => Some(format!("a response tagged {t:?} (status {status})")),
                        (Kind::Server, None) if matches!(status, 502..=504) => None,
                        (Kind::Local, None) if status == 200 => None,
                        (Kind::Deny, None) if status == 403 => None,
                        (_, None) => Some(format!("status {status} from the proxy")),
                    };
                    if let Some(b) = bad {
                        self.fail("integrity", format!("client{i} stream {j}: {b}"));
                        return (false, false);
                    }
                    s.recv = Some(resp.into_body());
                }
            }
        }
        // The response body.
        for _ in 0..64 {
            let s = &mut h.streams[k];
            let Some(rv) = s.recv.as_mut() else { break };
            match rv.poll_data(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(Ok(d))) => {
                    moved = true;
                    let n = d.len();
                    if s.from_server {
                        if let Some(at) = gen::body_mismatch(resp_key(i, j), s.got, &d) {
                            let d = format!(
                                "client{i} stream {j}: response byte {} is not its server's",
                                s.got + at as u64
                            );
                            self.fail("integrity", d);
                            return (false, false);
                        }
                    } else {
                        s.local_body.extend_from_slice(&d[..n.min(64)]);
                    }
                    s.got += n as u64;
                    if slow {
                        s.unreleased += n;
                    } else {
                        let _ = rv.flow_control().release_capacity(n);
                    }
                    if let Some(at) = r.cancel_after {
                        if s.got >= at && !rv.is_end_stream() {
                            if let Some(st) = s.send.as_mut() {
                                st.send_reset(::h2::Reason::CANCEL);
                            }
                            self.h2_outcome(i, h, j, Outcome::Cancelled);
                            return (true, true);
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    self.h2_lib_error(&format!("client{i} stream {j}"), &e);
                    self.h2_outcome(i, h, j, Outcome::Reset(format!("in the body: {e}")));
                    return (true, true);
                }
                Poll::Ready(None) => {
                    let (status, from_server, got) = (s.status, s.from_server, s.got);
                    let bad = if from_server && got != r.resp {
                        Some(format!("{got} body bytes, the server sent {}", r.resp))
                    } else if r.kind == Kind::Local && s.local_body != b"local" {
                        Some(format!(
                            "local body {:?}",
                            String::from_utf8_lossy(&s.local_body)
                        ))
                    } else {
                        None
                    };
                    if let Some(b) = bad {
                        self.fail("integrity", format!("client{i} stream {j}: {b}"));
                        return (false, false);
                    }
                    self.h2_outcome(
                        i,
                        h,
                        j,
                        Outcome::Response {
                            status,
                            from_server,
                        },
                    );
                    return (true, true);
                }
            }
        }
        (moved, false)
    }

    // -----------------------------------------------------------------------
    // Servers.

    /// A server accepted connection `i` (already in `sconns`): its protocol.
    pub(crate) fn h2_server_proto(&mut self, srv: usize) -> SrvProto {
        let sp = self.h2_spec().servers[srv].clone();
        if !sp.h2 {
            return SrvProto::H2(Some(H2SrvConn::H1(Box::default())));
        }
        let io = SimIo::default();
        let mut b = ::h2::server::Builder::new();
        b.initial_window_size(sp.window)
            .max_concurrent_streams(sp.max_streams);
        let hs: ServerHs = Box::pin(b.handshake::<SimIo, Bytes>(io.clone()));
        SrvProto::H2(Some(H2SrvConn::H2(Box::new(H2Srv {
            io,
            hs: Some(hs),
            conn: None,
            streams: Vec::new(),
            served: 0,
            done: None,
            next_release: Time::ZERO,
        }))))
    }

    fn take_h2_srv(&mut self, i: u32) -> Option<H2SrvConn> {
        let s = &mut self.dpw().sconns[i as usize];
        match &mut s.proto {
            SrvProto::H2(x) => x.take(),
            _ => None,
        }
    }

    /// A request reached a server: at most once, and only once sent.
    fn h2_server_saw(&mut self, i: u32, c: u32, j: u32, kind: Kind) -> bool {
        let srv = self.dpw().sconns[i as usize].srv;
        let dp = self.dpw();
        let started = match dp.clients.get(c as usize).map(|x| &x.proto) {
            Some(ClientProto::H2(Some(h))) => j < h.started,
            Some(ClientProto::H2(None)) => true,
            _ => false,
        };
        if kind != Kind::Server || !started {
            let d = format!(
                "sc{i} (s{}): a request /{}/{c}/{j} nobody sent",
                srv + 1,
                kind.prefix()
            );
            self.fail("integrity", d);
            return false;
        }
        if !self.dpw().http_seen.insert((c, j)) {
            let d = format!(
                "sc{i} (s{}): request {c}/{j} reached the servers twice, and no server refused it unprocessed",
                srv + 1
            );
            self.fail("goaway", d);
            return false;
        }
        self.note_server_progress(Some(c));
        true
    }

    /// One look at an H2-proxy server connection.
    pub(crate) fn h2_server_io(&mut self, i: u32) {
        let Some(mut p) = self.take_h2_srv(i) else {
            return;
        };
        match &mut p {
            H2SrvConn::H2(s) => self.h2_srv_run(i, s),
            H2SrvConn::H1(s) => self.h1_srv_run(i, s),
        }
        self.dpw().sconns[i as usize].proto = SrvProto::H2(Some(p));
    }

    fn h2_srv_run(&mut self, i: u32, s: &mut H2Srv) {
        let now = self.now;
        let cid = self.dpw().sconns[i as usize].cid;
        for _ in 0..200 {
            let mut moved = false;
            if !self.dpw().sconns[i as usize].open {
                return;
            }
            let (data, fin) = self.take_rx(cid, 1, usize::MAX);
            if !data.is_empty() || fin {
                moved = true;
                let mut b = s.io.0.borrow_mut();
                b.rx.extend(data);
                b.rx_fin |= fin;
            }
            moved |= self.h2_srv_poll(i, s);
            if self.failure.is_some() {
                return;
            }
            let room = self.server_room(i);
            let out: Vec<u8> = {
                let mut b = s.io.0.borrow_mut();
                let n = room.min(b.tx.len());
                b.tx.drain(..n).collect()
            };
            if !out.is_empty() {
                moved = true;
                self.net_send(cid, 1, out);
            }
            if !moved {
                break;
            }
        }
        if let Some(why) = s.done.clone() {
            if s.io.0.borrow().tx.is_empty() {
                return self.server_close(i, false, &why);
            }
        }
        let mut tick: Option<Time> = None;
        for st in &s.streams {
            if let Some(at) = st.ready_at.filter(|&t| t > now) {
                tick = Some(tick.map_or(at, |t| t.min(at)));
            }
        }
        if s.streams.iter().any(|x| x.unreleased > 0) {
            let at = s.next_release.max(now.add_ms(1));
            tick = Some(tick.map_or(at, |t| t.min(at)));
        }
        if let Some(at) = tick {
            self.server_tick(i, at);
        }
    }

    fn h2_srv_poll(&mut self, i: u32, s: &mut H2Srv) -> bool {
        let now = self.now;
        let srv = self.dpw().sconns[i as usize].srv;
        let sp = self.h2_spec().servers[srv].clone();
        let slow = self.dpw().servers[srv].slow.or(sp.release);
        let mut cx = noop_cx();
        let mut moved = false;
        if let Some(hs) = s.hs.as_mut() {
            match hs.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(c)) => {
                    s.conn = Some(c);
                    s.hs = None;
                    moved = true;
                }
                Poll::Ready(Err(e)) => {
                    s.hs = None;
                    s.done = Some(format!("handshake: {e}"));
                    return true;
                }
                Poll::Pending => {}
            }
        }
        while let Some(c) = s.conn.as_mut() {
            match c.poll_accept(&mut cx) {
                Poll::Pending => break,
                Poll::Ready(None) => {
                    s.conn = None;
                    s.done = Some("h2 closed".into());
                    moved = true;
                }
                Poll::Ready(Some(Err(e))) => {
                    self.h2_lib_error(&format!("sc{i}"), &e);
                    s.conn = None;
                    s.done = Some(format!("h2 error: {e}"));
                    moved = true;
                }
                Poll::Ready(Some(Ok((req, mut respond)))) => {
                    moved = true;
                    let path = req.uri().path().to_string();
                    let Some((kind, c2, j)) = parse_target(&path) else {
                        let d = format!("sc{i}: request for {path:?}");
                        self.fail("integrity", d);
                        return false;
                    };
                    if self.rng.below(100) < sp.refuse_pct {
                        // Refused unprocessed: the proxy may try it again.
                        respond.send_reset(::h2::Reason::REFUSED_STREAM);
                        self.trace
                            .line(format_args!("{} sc{i} refuses {c2}/{j}", now.as_ms()));
                        continue;
                    }
                    if !self.h2_server_saw(i, c2, j, kind) {
                        return false;
                    }
                    let hd = req.headers();
                    let num = |n: &str| {
                        hd.get(n)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                    };
                    let fe = hd.get_all("x-sim-fe").iter().count();
                    let (Some(body_len), Some(resp_len)) = (num("x-len"), num("x-resp-len")) else {
                        self.fail(
                            "integrity",
                            format!("sc{i}: request {c2}/{j} without x-len"),
                        );
                        return false;
                    };
                    if fe != 1 {
                        let d = format!("sc{i}: request {c2}/{j} with {fe} x-sim-fe headers");
                        self.fail("integrity", d);
                        return false;
                    }
                    s.served += 1;
                    if sp.goaway_after == Some(s.served) {
                        c.graceful_shutdown();
                        self.stats.dp.server_closes += 1;
                        self.trace.line(format_args!(
                            "{} sc{i} goaway after {}",
                            now.as_ms(),
                            s.served
                        ));
                    }
                    let rst_at = (resp_len > 0 && self.rng.below(100) < sp.rst_pct)
                        .then(|| self.rng.below(resp_len));
                    let recv = req.into_body();
                    let ended = recv.is_end_stream();
                    s.streams.push(SStream {
                        c: c2,
                        j,
                        kind,
                        recv: Some(recv),
                        respond: Some(respond),
                        send: None,
                        body_len,
                        body_got: 0,
                        unreleased: 0,
                        resp_len,
                        resp_off: 0,
                        ready_at: None,
                        rst_at,
                        done: false,
                    });
                    if ended && body_len == 0 {
                        let at = now.add_ms(self.rng.below(sp.think_ms + 1));
                        if let Some(x) = s.streams.last_mut() {
                            x.ready_at = Some(at);
                            x.recv = None;
                        }
                    }
                }
            }
        }
        if s.conn.is_none() && s.done.is_none() && s.hs.is_none() {
            s.done = Some("h2 gone".into());
        }
        // Slow body readers.
        if let Some((chunk, every)) = slow {
            if now >= s.next_release {
                let mut left = chunk;
                for st in &mut s.streams {
                    let n = st.unreleased.min(left);
                    if n > 0 {
                        if let Some(r) = st.recv.as_mut() {
                            let _ = r.flow_control().release_capacity(n);
                        }
                        st.unreleased -= n;
                        left -= n;
                        moved = true;
                    }
                }
                if left < chunk {
                    s.next_release = now.add_ms(every);
                }
            }
        }
        let mut k = 0;
        while k < s.streams.len() {
            moved |= self.h2_srv_stream(i, s, k, slow.is_some(), sp.think_ms, &mut cx);
            if self.failure.is_some() {
                return false;
            }
            if s.streams[k].done {
                s.streams.remove(k);
            } else {
                k += 1;
            }
        }
        moved
    }

    fn h2_srv_stream(
        &mut self,
        i: u32,
        s: &mut H2Srv,
        k: usize,
        slow: bool,
        think_ms: u64,
        cx: &mut Context<'_>,
    ) -> bool {
        let now = self.now;
        let mut moved = false;
        let st = &mut s.streams[k];
        let (c, j) = (st.c, st.j);
        // The request body.
        for _ in 0..64 {
            let Some(rv) = st.recv.as_mut() else { break };
            match rv.poll_data(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(Ok(d))) => {
                    moved = true;
                    if let Some(at) = gen::body_mismatch(req_key(c, j), st.body_got, &d) {
                        let d = format!(
                            "sc{i}: request {c}/{j} body byte {} is not its client's",
                            st.body_got + at as u64
                        );
                        self.fail("integrity", d);
                        return false;
                    }
                    st.body_got += d.len() as u64;
                    if st.body_got > st.body_len {
                        let d = format!(
                            "sc{i}: request {c}/{j} body of {} bytes or more, the client sent {}",
                            st.body_got, st.body_len
                        );
                        self.fail("integrity", d);
                        return false;
                    }
                    if slow {
                        st.unreleased += d.len();
                    } else {
                        let _ = rv.flow_control().release_capacity(d.len());
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    // Reset by the proxy: the client went away.
                    st.done = true;
                    return true;
                }
                Poll::Ready(None) => {
                    moved = true;
                    if st.body_got != st.body_len {
                        let d = format!(
                            "sc{i}: request {c}/{j} body of {} bytes, the client sent {}",
                            st.body_got, st.body_len
                        );
                        self.fail("integrity", d);
                        return false;
                    }
                    st.recv = None;
                    st.unreleased = 0;
                    st.ready_at = Some(now.add_ms(self.rng.below(think_ms + 1)));
                }
            }
        }
        // Reset by the proxy meanwhile?
        if let Some(r) = st.respond.as_mut() {
            if r.poll_reset(cx).is_ready() {
                st.done = true;
                return true;
            }
        }
        if let Some(sd) = st.send.as_mut() {
            if sd.poll_reset(cx).is_ready() {
                st.done = true;
                return true;
            }
        }
        // The response.
        if st.ready_at.is_some_and(|t| t <= now) {
            if let Some(mut r) = st.respond.take() {
                let resp = http::Response::builder()
                    .status(200)
                    .header("x-sim-req", format!("{c}/{j}"))
                    .header("content-length", st.resp_len.to_string())
                    .body(())
                    .expect("response");
                match r.send_response(resp, st.resp_len == 0) {
                    Ok(sd) => st.send = Some(sd),
                    Err(_) => {
                        st.done = true;
                        return true;
                    }
                }
                moved = true;
                if st.resp_len == 0 {
                    self.dpw().http_done.insert((c, j));
                    st.done = true;
                    return true;
                }
            }
        }
        for _ in 0..16 {
            let Some(sd) = st.send.as_mut() else { break };
            if st.rst_at.is_some_and(|a| st.resp_off >= a) {
                sd.send_reset(::h2::Reason::INTERNAL_ERROR);
                self.stats.dp.server_resets += 1;
                st.done = true;
                return true;
            }
            let left = st.resp_len - st.resp_off;
            sd.reserve_capacity(left.min(1 << 20) as usize);
            match sd.poll_capacity(cx) {
                Poll::Ready(Some(Ok(n))) if n > 0 => {
                    let mut n = (n as u64).min(left);
                    if let Some(a) = st.rst_at {
                        n = n.min(a - st.resp_off).max(1);
                    }
                    let mut b = Vec::new();
                    gen::body_fill(resp_key(c, j), st.resp_off, n as usize, &mut b);
                    st.resp_off += n;
                    let end = st.resp_off == st.resp_len;
                    let _ = sd.send_data(Bytes::from(b), end);
                    moved = true;
                    self.note_server_progress(Some(c));
                    if end {
                        self.dpw().http_done.insert((c, j));
                        st.done = true;
                        return true;
                    }
                }
                Poll::Ready(Some(Ok(_))) | Poll::Pending => break,
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                    st.done = true;
                    return true;
                }
            }
        }
        let _ = st.kind;
        moved
    }

    // -----------------------------------------------------------------------
    // HTTP/1.1 servers.

    fn h1_srv_run(&mut self, i: u32, s: &mut H1Srv) {
        let now = self.now;
        let (cid, srv) = {
            let x = &self.dpw().sconns[i as usize];
            (x.cid, x.srv)
        };
        let think = self.h2_spec().servers[srv].think_ms;
        let (data, fin) = self.take_rx(cid, 1, usize::MAX);
        s.buf.extend_from_slice(&data);
        loop {
            match self.h1_step(i, s) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return self.fail("integrity", format!("sc{i} (s{}): {e}", srv + 1)),
            }
            if let Some((c, j, resp_len, finished)) = s.cur.as_ref().map(|x| {
                let done = x.got == x.want && x.chunked.is_none();
                (x.c, x.j, x.resp_len, done)
            }) {
                if finished {
                    s.cur = None;
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\nx-sim-req: {c}/{j}\r\ncontent-length: {resp_len}\r\n\r\n"
                    )
                    .into_bytes();
                    gen::body_fill(resp_key(c, j), 0, resp_len as usize, &mut out);
                    let at = now.add_ms(self.rng.below(think + 1));
                    s.out.push_back((at, out));
                    self.dpw().http_done.insert((c, j));
                }
            }
        }
        if self.failure.is_some() {
            return;
        }
        while let Some((at, bytes)) = s.out.front_mut() {
            if *at > now {
                let at = *at;
                self.server_tick(i, at);
                break;
            }
            let room = self.server_room(i);
            if room == 0 {
                break;
            }
            let n = room.min(bytes.len());
            let part: Vec<u8> = bytes.drain(..n).collect();
            self.net_send(cid, 1, part);
            if bytes.is_empty() {
                s.out.pop_front();
            }
        }
        if fin {
            self.dpw().sconns[i as usize].got_fin = true;
        }
        if self.dpw().sconns[i as usize].got_fin && s.out.is_empty() {
            if s.cur.is_none() && !s.buf.is_empty() {
                let d = format!(
                    "sc{i} (s{}): {} bytes after the last request: {:?}",
                    srv + 1,
                    s.buf.len(),
                    String::from_utf8_lossy(&s.buf[..s.buf.len().min(40)])
                );
                return self.fail("integrity", d);
            }
            self.server_close(i, false, "eof");
        }
    }

    /// Parses what it can of the HTTP/1.1 request bytes: whether it moved.
    fn h1_step(&mut self, i: u32, s: &mut H1Srv) -> Result<bool, String> {
        if s.cur.is_none() {
            let Some(end) = s.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Ok(false);
            };
            let head = String::from_utf8_lossy(&s.buf[..end]).to_string();
            s.buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let rl = lines.next().unwrap_or("");
            let path = rl.split(' ').nth(1).unwrap_or("");
            let (kind, c, j) = parse_target(path).ok_or_else(|| format!("request line {rl:?}"))?;
            let mut want = None;
            let mut resp = None;
            let mut chunked = false;
            let mut fe = 0;
            for l in lines {
                let (n, v) = l.split_once(':').unwrap_or((l, ""));
                let v = v.trim();
                match n.to_ascii_lowercase().as_str() {
                    "x-len" => want = v.parse::<u64>().ok(),
                    "x-resp-len" => resp = v.parse::<u64>().ok(),
                    "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                    "x-sim-fe" => fe += 1,
                    _ => {}
                }
            }
            if fe != 1 {
                return Err(format!("request {c}/{j} with {fe} x-sim-fe headers"));
            }
            let (Some(want), Some(resp_len)) = (want, resp) else {
                return Err(format!("request {c}/{j} without x-len: {head:?}"));
            };
            if !self.h2_server_saw(i, c, j, kind) {
                return Err("(reported)".into());
            }
            s.cur = Some(H1Cur {
                c,
                j,
                kind,
                want,
                got: 0,
                resp_len,
                chunked: chunked.then_some(Chunk::Size),
            });
            return Ok(true);
        }
        let cur = s.cur.as_mut().expect("cur");
        let _ = cur.kind;
        let key = req_key(cur.c, cur.j);
        let (c, j) = (cur.c, cur.j);
        match cur.chunked {
            None | Some(Chunk::Data(_)) => {
                let left = match cur.chunked {
                    Some(Chunk::Data(l)) => l,
                    _ => cur.want - cur.got,
                };
                let n = left.min(s.buf.len() as u64) as usize;
                if n == 0 {
                    if matches!(cur.chunked, Some(Chunk::Data(0))) {
                        cur.chunked = Some(Chunk::Crlf);
                        return Ok(true);
                    }
                    return Ok(false);
                }
                if let Some(at) = gen::body_mismatch(key, cur.got, &s.buf[..n]) {
                    return Err(format!("request {c}/{j} body byte {}", cur.got + at as u64));
                }
                cur.got += n as u64;
                if cur.got > cur.want {
                    return Err(format!(
                        "request {c}/{j} body of {} bytes or more, the client sent {}",
                        cur.got, cur.want
                    ));
                }
                if let Some(Chunk::Data(l)) = cur.chunked.as_mut() {
                    *l -= n as u64;
                }
                s.buf.drain(..n);
                Ok(true)
            }
            Some(Chunk::Crlf) => {
                if s.buf.len() < 2 {
                    return Ok(false);
                }
                if &s.buf[..2] != b"\r\n" {
                    return Err("no CRLF after a chunk".into());
                }
                s.buf.drain(..2);
                cur.chunked = Some(Chunk::Size);
                Ok(true)
            }
            Some(Chunk::Size) => {
                let Some(e) = s.buf.windows(2).position(|w| w == b"\r\n") else {
                    return Ok(false);
                };
                let line = String::from_utf8_lossy(&s.buf[..e]).to_string();
                let size = u64::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| format!("chunk size line {line:?}"))?;
                s.buf.drain(..e + 2);
                cur.chunked = Some(if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                });
                Ok(true)
            }
            Some(Chunk::Trailers) => {
                let Some(e) = s.buf.windows(2).position(|w| w == b"\r\n") else {
                    return Ok(false);
                };
                s.buf.drain(..e + 2);
                if e > 0 {
                    return Ok(true);
                }
                cur.chunked = None;
                if cur.got != cur.want {
                    return Err(format!(
                        "request {c}/{j}: chunked body of {} bytes, the client sent {}",
                        cur.got, cur.want
                    ));
                }
                Ok(true)
            }
        }
    }

    // -----------------------------------------------------------------------
    // Logs and the end of the run.

    /// A log line of the proxy in `h2-proxy`: to the stream it names.
    pub(crate) fn h2_log(&mut self, rec: LogRec, text: &str) {
        let Some((_, c, j)) = parse_target(&rec.request) else {
            return self.fail("log", format!("a log line about nobody: {text}"));
        };
        let dp = self.dpw();
        let ok = match dp.clients.get(c as usize).map(|x| &x.proto) {
            Some(ClientProto::H2(Some(h))) => j < h.started,
            Some(ClientProto::H2(None)) => true,
            _ => false,
        };
        if !ok {
            return self.fail(
                "log",
                format!("a log line about a request never sent: {text}"),
            );
        }
        let mut rec = rec;
        rec.request = format!("{j}");
        self.dpw().clients[c as usize].logs.push(rec);
    }

    /// The per-stream oracles at the drain.
    pub(crate) fn h2_final_checks(&mut self) {
        let dp = self.dp.as_deref().expect("dp");
        let mut fail: Option<(&'static str, String)> = None;
        'clients: for cl in &dp.clients {
            let ClientProto::H2(Some(h)) = &cl.proto else {
                continue;
            };
            let i = cl.id;
            let mut by_j: BTreeMap<u32, Vec<&LogRec>> = BTreeMap::new();
            for l in &cl.logs {
                if let Ok(j) = l.request.parse::<u32>() {
                    by_j.entry(j).or_default().push(l);
                }
            }
            let conn_lost = cl.got_rst || cl.refused || cl.crashed;
            for j in 0..h.started {
                let o = h.outcomes.get(&j);
                let logs = by_j.get(&j).map_or(&[][..], |v| &v[..]);
                if o.is_none() && !conn_lost {
                    fail = Some(("stream", format!("client{i} stream {j} never ended")));
                    break 'clients;
                }
                if logs.len() > 1 {
                    let d = format!("client{i} stream {j}: {} log lines: {logs:?}", logs.len());
                    fail = Some(("log", d));
                    break 'clients;
                }
                if let Some(Outcome::Response { status, .. }) = o {
                    match logs.first() {
                        Some(l) if l.status == i64::from(*status) => {}
                        l => {
                            let d =
                                format!("client{i} stream {j}: a {status} response, logged {l:?}");
                            fail = Some(("log", d));
                            break 'clients;
                        }
                    }
                }
                // A response its server sent whole reaches the client, or
                // the log says why not.
                let by_srv = dp.http_done.contains(&(i, j));
                let fine = matches!(
                    o,
                    Some(Outcome::Response {
                        from_server: true,
                        ..
                    }) | Some(Outcome::Cancelled)
                ) || conn_lost
                    || cl.aborted;
                if by_srv && !fine {
                    let explained = logs.first().is_some_and(|l| !l.term.starts_with("--"));
                    if !explained {
                        let d = format!(
                            "client{i} stream {j}: its server sent the whole response, the client got {o:?}, logged {logs:?}"
                        );
                        fail = Some(("goaway", d));
                        break 'clients;
                    }
                }
            }
        }
        if let Some((o, d)) = fail {
            self.fail(o, d);
        }
    }
}

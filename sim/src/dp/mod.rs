//! The data-path scenarios: one Sluice process running a proxy
//! configuration, simulated clients that connect to its frontend, and
//! simulated servers behind it, all on the simulated network of
//! [`crate::net`] and driven by the world's one PRNG.
//!
//! ```text
//!  node 0: Sluice (frontend 127.0.0.1:8000)
//!  nodes 1..=S: servers (127.0.0.2:9000 ...)
//!  nodes S+1..: client hosts
//! ```
//!
//! * [`gen`]: the byte streams clients send (a pure function of id and
//!   offset, so every byte can be checked wherever it shows up).
//! * [`tcp`]: `tcp-proxy`: its configuration, client plans, and the TCP
//!   client and server actors (echo or sink, resets, early closes, slow
//!   readers, think time, PROXY headers).
//! * [`http`]: `http-proxy`: HTTP/1.1 clients and servers.
//! * [`check`]: the oracles of both, the drain and the end of the run.
//!
//! Actors act on network events (`World::dp_io`) and on their own timers
//! (`DpEv::Client`, `DpEv::Server`); a timer is kept only if it is the
//! latest one armed (`tick_at`), so stale wake-ups cost nothing.

pub mod check;
pub mod dns;
pub mod gen;
pub mod h2p;
pub mod http;
pub mod rhttp;
pub mod tcp;
pub mod tlsw;

use std::collections::{BTreeMap, VecDeque};

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use sluice_core::rng::Rng;
use sluice_core::sock::SockError;
use sluice_core::time::Time;

use crate::config;
use crate::net::{Owner, SynState};
use crate::scenario::{Scenario, Spec};
use crate::world::{Ev, ListenOwner, NodeState, World};

/// The frontend every client connects to.
pub fn fe_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 8000)
}

/// The frontend of the proxy on `node` (`reverse-http`'s public nodes:
/// node 0's is [`fe_addr`]).
pub fn fe_addr_of(node: usize) -> SocketAddr {
    SocketAddr::new(config::node_addr(node).ip(), 8000)
}

/// The address of the server on `node`.
pub fn server_addr(node: usize) -> SocketAddr {
    SocketAddr::new(config::node_addr(node).ip(), 9000)
}

/// Timeouts of the proxy configuration, in ms, as drawn.
#[derive(Clone, Debug, Default)]
pub struct Timeouts {
    pub connect: u64,
    pub client: u64,
    pub server: u64,
    pub queue: Option<u64>,
    pub tunnel: Option<u64>,
    pub client_fin: Option<u64>,
    pub server_fin: Option<u64>,
    pub http_request: Option<u64>,
    pub http_keep_alive: Option<u64>,
    pub retries: u64,
}

impl Timeouts {
    /// The longest a stream may go without any byte moving before the
    /// proxy ends it: waiting in a queue, then every connection attempt
    /// with its turn-around, then the longest inactivity timeout, plus
    /// room for the network (latency, a partition healing).
    pub fn hang_bound_ms(&self) -> u64 {
        let queue = self.queue.unwrap_or(self.connect);
        let attempts = (self.retries + 1) * (self.connect + 1000);
        let idle = [
            Some(self.client),
            Some(self.server),
            self.tunnel,
            self.client_fin,
            self.server_fin,
            self.http_request,
            self.http_keep_alive,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        queue + attempts + idle + 5000
    }
}

/// One simulated server, as drawn.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    pub name: String,
    pub node: usize,
    pub addr: SocketAddr,
    /// `send-proxy` (1) or `send-proxy-v2` (2): a PROXY header comes first.
    pub send_proxy: Option<u8>,
    /// Percent of connections that echo (the others sink).
    pub echo_pct: u64,
    /// Percent of connections reset after some bytes.
    pub rst_pct: u64,
    /// Percent of connections closed (FIN) after some bytes.
    pub close_pct: u64,
    /// Reads at most `chunk` bytes every `every_ms`.
    pub slow: Option<(usize, u64)>,
    /// Up to this long between reading bytes and echoing them.
    pub think_ms: u64,
    /// HTTP: percent of responses that are garbage, 1xx first, chunked,
    /// close-delimited.
    pub http: http::ServerHttp,
}

/// A fault of the data-path scenarios.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DpFault {
    /// The server stops listening for `ms` (connections are refused);
    /// with `kill` its connections are reset too (a crash).
    ServerDown { srv: usize, ms: u64, kill: bool },
    /// No segment crosses between the proxy and the server for `ms`.
    Cut { srv: usize, ms: u64 },
    /// The server reads `chunk` bytes every `every_ms` for `ms`.
    Slow {
        srv: usize,
        chunk: usize,
        every_ms: u64,
        ms: u64,
    },
    /// Swarm: no segment crosses between a client host and the proxy for `ms`.
    ClientCut { host: usize, ms: u64 },
    /// Swarm: every connection between a client host and the proxy is
    /// reset at once (a middlebox RST to both ends).
    ClientFlap { host: usize },
    /// Swarm: the same between the proxy and a server.
    ServerFlap { srv: usize },
    /// Swarm: extra latency between a client host and the proxy for `ms`.
    Latency { host: usize, extra_ms: u64, ms: u64 },
    /// `reverse-http`: no segment crosses between edge `edge` (its index)
    /// and the public node for `ms`.
    EdgeCut { edge: usize, ms: u64 },
    /// `reverse-http`: every connection between an edge and the public
    /// node is reset (a middlebox), whatever state it is in.
    EdgeFlap { edge: usize },
    /// `reverse-http`: public node `public` (its index) resets every
    /// edge connection and refuses new ones on its `attach-srv` port for
    /// `ms`.
    PublicDown { public: usize, ms: u64 },
    /// `reverse-http`: a new edge process replaces the current one:
    /// a reload (the old one soft-stops) or, with `kill`, a crash (the
    /// old one's sockets are reset at once).
    EdgeRestart { edge: usize, kill: bool },
    /// `reverse-http`: public node `public` is reloaded, or with `kill`
    /// crashes and a new process starts (its clients' connections and its
    /// reversed connections are reset, nothing of theirs is logged).
    PublicRestart { public: usize, kill: bool },
}

/// What one client does.
#[derive(Clone, Debug)]
pub enum Plan {
    Tcp(tcp::TcpPlan),
    Http(http::HttpPlan),
    H2(h2p::H2Plan),
}

/// One client connection, as drawn.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    pub at: Time,
    pub host: usize,
    /// Reads at most `chunk` bytes every `every_ms`.
    pub slow_read: Option<(usize, u64)>,
    /// `accept-proxy`: the PROXY header version the client sends, and the
    /// source address it announces.
    pub proxy_hdr: Option<(u8, SocketAddr)>,
    /// The node whose frontend it connects to: 0, or in `reverse-http`
    /// one of the public nodes.
    pub proxy: usize,
    pub plan: Plan,
}

/// The shape of a data-path run.
#[derive(Clone, Debug)]
pub struct DpSpec {
    pub http: bool,
    /// The haproxy.cfg text the proxy runs.
    pub config: String,
    /// The driver splices (`EngineOptions::splice`).
    pub splice: bool,
    pub timeouts: Timeouts,
    pub servers: Vec<ServerSpec>,
    pub clients: Vec<ClientSpec>,
    pub faults: Vec<(Time, DpFault)>,
    /// The last client starts before this.
    pub traffic_end: Time,
    /// No stream may go without progress for longer (see [`Timeouts::hang_bound_ms`]).
    pub hang_ms: u64,
    /// `tls-proxy`: TLS on both sides ([`tlsw`]).
    pub tls: Option<tlsw::TlsSpec>,
    /// `reverse-http`: the edges between the proxy and the servers ([`rhttp`]).
    pub rhttp: Option<rhttp::RhttpSpec>,
    /// `dns-proxy`: the DNS node and the names the servers resolve ([`dns`]).
    pub dns: Option<dns::DnsSpec>,
    /// `h2-proxy`: the servers' H2 behaviour ([`h2p`]).
    pub h2: Option<h2p::H2Spec>,
}

/// Draws the spec of a data-path scenario (`http`: the HTTP one). In
/// `swarm`, faults on the clients' side join the servers' (link cuts,
/// resets, latency spikes), and the hang bound grows by the longest cut or
/// spike.
pub fn generate(scenario: Scenario, http: bool, rng: &mut Rng) -> Spec {
    let start = if rng.chance(1, 4) {
        Time::from_ms(((1 + rng.below(4)) << 32) - 20_000 - rng.below(40_000))
    } else {
        Time::from_ms(1_000_000 + rng.below(1 << 40))
    };
    // `dns-proxy`: 2-3 names, each answered with addresses of its own
    // pool of 2 or more server nodes.
    let n_servers = if scenario == Scenario::DnsProxy {
        4 + rng.below(3) as usize
    } else {
        2 + rng.below(3) as usize
    };
    let n_hosts = 1 + rng.below(3) as usize;
    // `reverse-http`: the edges, on nodes after the client hosts, then
    // the public nodes after node 0.
    let (n_edges, n_publics) = if scenario == Scenario::ReverseHttp {
        (1 + rng.below(3) as usize, 1 + rng.below(3) as usize)
    } else {
        (0, 1)
    };
    // `dns-proxy`: the DNS node, last.
    let n_dns = usize::from(scenario == Scenario::DnsProxy);
    let nodes = n_publics + n_servers + n_hosts + n_edges + n_dns;
    let mut latency = vec![vec![0; nodes + 1]; nodes + 1];
    #[allow(clippy::needless_range_loop)] // a symmetric matrix
    for a in 0..=nodes {
        for b in a + 1..=nodes {
            // Proxy to servers: a LAN; clients: anywhere.
            let lan = (a == 0 && b <= n_servers)
                || ((1..=n_servers).contains(&a) && b > n_servers + n_hosts);
            let l = if lan { rng.below(4) } else { 1 + rng.below(40) };
            latency[a][b] = l;
            latency[b][a] = l;
        }
    }
    let (cap_min, cap_max) = if rng.chance(1, 3) {
        (2048, 16384)
    } else {
        (16384, 131072)
    };
    let dur = 10_000 + rng.below(20_000);
    let traffic_end = start.add_ms(dur);
    let servers: Vec<ServerSpec> = (0..n_servers)
        .map(|i| server_spec(rng, scenario, i))
        .collect();
    let hosts: Vec<usize> = (0..n_hosts).map(|h| 1 + n_servers + h).collect();
    let mut dp = if scenario == Scenario::H2Proxy {
        h2p::generate(rng, start, dur, servers, &hosts)
    } else if http {
        http::generate(rng, start, dur, servers, &hosts)
    } else {
        tcp::generate(rng, start, dur, servers, &hosts)
    };
    if scenario == Scenario::TlsProxy {
        tls_spec(rng, &mut dp);
    }
    if scenario == Scenario::ReverseHttp {
        let edges: Vec<usize> = (0..n_edges).map(|k| 1 + n_servers + n_hosts + k).collect();
        let publics: Vec<usize> = core::iter::once(0)
            .chain((1..n_publics).map(|k| n_servers + n_hosts + n_edges + k))
            .collect();
        rhttp::spec(rng, &mut dp, start, dur, &edges, &publics);
    }
    if scenario == Scenario::DnsProxy {
        dns::spec(rng, &mut dp, start, dur, nodes - 1, &latency);
    }
    if matches!(scenario, Scenario::Swarm | Scenario::TlsProxy) {
        swarm_faults(rng, &mut dp, start, dur, &hosts);
    }
    let drain_ms = 3 * dp.hang_ms + 120_000;
    Spec {
        scenario,
        nodes,
        adversary: false,
        max_updates: 200,
        start,
        latency,
        jitter_ms: rng.below(4),
        connect_extra_ms: 5,
        cap_min,
        cap_max,
        write_every_ms: Vec::new(),
        keys_per_table: 0,
        faults: Vec::new(),
        fault_end: traffic_end,
        converge_ms: drain_ms,
        adversary_every_ms: 0,
        dp: Some(Box::new(dp)),
    }
}

/// `tls-proxy`: the drawn `tcp-proxy` spec with TLS on both sides
/// ([`tlsw`]). PROXY headers (`accept-proxy`, `send-proxy`), slow readers
/// and splicing are left out: the actors read rustls's plaintext as it
/// comes (a slow reader would leave plaintext in rustls with no network
/// event to wake it), and PROXY headers in front of TLS are not modelled
/// yet.
fn tls_spec(rng: &mut Rng, dp: &mut DpSpec) {
    let max_tls12 = rng.chance(1, 3);
    let mut cfg = String::new();
    for l in dp.config.lines() {
        let l = l
            .replace(" accept-proxy", "")
            .replace(" send-proxy-v2", "")
            .replace(" send-proxy", "");
        cfg.push_str(&l);
        cfg.push('\n');
    }
    dp.config = tlsw::tlsify(&cfg, max_tls12);
    dp.splice = false;
    for s in &mut dp.servers {
        s.send_proxy = None;
        s.slow = None;
    }
    dp.faults
        .retain(|(_, f)| !matches!(f, DpFault::Slow { .. }));
    let mut t = tlsw::TlsSpec {
        max_tls12,
        ..Default::default()
    };
    for c in &mut dp.clients {
        c.proxy_hdr = None;
        c.slow_read = None;
        t.garbage_after
            .push(rng.chance(1, 10).then(|| rng.below(3000)));
        t.truncate.push(rng.chance(1, 4));
    }
    // Mid-run, at a client's start: handshakes on both sides of it.
    if !dp.clients.is_empty() {
        let i = rng.below(dp.clients.len() as u64) as usize;
        t.rotate_at = Some(dp.clients[i].at);
    }
    dp.tls = Some(t);
}

/// `ms` as a configuration duration.
pub(crate) fn ms(v: u64) -> String {
    format!("{v}ms")
}

/// The `server` lines of a drawn backend: health checks with odds
/// `check` (num, den), `maxconn`, `maxqueue`, a `weight` when `weights`,
/// and the server's PROXY protocol version. The draws come in this order
/// for every scenario, so that a seed keeps its history.
pub(crate) fn server_lines(
    rng: &mut Rng,
    servers: &[ServerSpec],
    check: (u64, u64),
    weights: bool,
) -> String {
    use core::fmt::Write as _;
    let mut be = String::new();
    for s in servers {
        let _ = write!(be, "    server {} {}", s.name, s.addr);
        if rng.chance(check.0, check.1) {
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
        if rng.chance(1, 4) {
            let _ = write!(be, " maxqueue {}", 1 + rng.below(20));
        }
        if weights && rng.chance(1, 3) {
            let _ = write!(be, " weight {}", 1 + rng.below(5));
        }
        match s.send_proxy {
            Some(2) => be.push_str(" send-proxy-v2"),
            Some(_) => be.push_str(" send-proxy"),
            None => {}
        }
        be.push('\n');
    }
    be
}

fn server_spec(rng: &mut Rng, scenario: Scenario, i: usize) -> ServerSpec {
    let node = 1 + i;
    let misbehave = rng.chance(1, 2);
    ServerSpec {
        name: format!("s{}", i + 1),
        node,
        addr: server_addr(node),
        send_proxy: match rng.below(8) {
            0 | 1 => Some(1),
            2 => Some(2),
            _ => None,
        },
        echo_pct: [0, 50, 100, 100][rng.below(4) as usize],
        rst_pct: if misbehave { rng.below(15) } else { 0 },
        close_pct: if misbehave { rng.below(15) } else { 0 },
        // Slow, but at 10 KB/s or more: the largest streams still end
        // well within the drain.
        slow: rng
            .chance(1, 4)
            .then(|| (512 + rng.below(4096) as usize, 5 + rng.below(46))),
        think_ms: if rng.chance(1, 2) { 0 } else { rng.below(200) },
        http: if matches!(scenario, Scenario::HttpProxy | Scenario::ReverseHttp) {
            http::ServerHttp::draw(rng, misbehave)
        } else {
            http::ServerHttp::default()
        },
    }
}

/// The swarm's extra faults, on the clients' side of the proxy and on its
/// links to the servers: cuts, resets of every connection (a middlebox),
/// latency spikes. All heal before the traffic ends.
fn swarm_faults(rng: &mut Rng, dp: &mut DpSpec, start: Time, dur: u64, hosts: &[usize]) {
    let n_servers = dp.servers.len();
    let mut worst = 0;
    for _ in 0..3 + rng.below(12) {
        let at = start.add_ms(rng.below(dur * 3 / 4));
        let left = (start.add_ms(dur) - at).max(200);
        let host = hosts[rng.below(hosts.len() as u64) as usize];
        let f = match rng.below(5) {
            0 => {
                let ms = (100 + rng.below(4000)).min(left);
                worst = worst.max(ms);
                DpFault::ClientCut { host, ms }
            }
            1 => DpFault::ClientFlap { host },
            2 => DpFault::ServerFlap {
                srv: rng.below(n_servers as u64) as usize,
            },
            _ => {
                let extra_ms = rng.below(1500);
                worst = worst.max(2 * extra_ms);
                DpFault::Latency {
                    host,
                    extra_ms,
                    ms: (100 + rng.below(5000)).min(left),
                }
            }
        };
        dp.faults.push((at, f));
    }
    dp.faults.sort_by_key(|(t, _)| *t);
    dp.hang_ms += worst;
}

/// Faults on servers during the traffic phase (healed before it ends).
pub fn draw_faults(rng: &mut Rng, start: Time, dur: u64, n_servers: usize) -> Vec<(Time, DpFault)> {
    let mut out = Vec::new();
    for _ in 0..rng.below(6) {
        let at = start.add_ms(rng.below(dur * 3 / 4));
        let srv = rng.below(n_servers as u64) as usize;
        let left = (start.add_ms(dur) - at).max(200);
        let ms = (100 + rng.below(8000)).min(left);
        let f = match rng.below(4) {
            0 | 1 => DpFault::ServerDown {
                srv,
                ms,
                kill: rng.chance(1, 2),
            },
            2 => DpFault::Cut { srv, ms },
            _ => DpFault::Slow {
                srv,
                chunk: 16 + rng.below(1024) as usize,
                every_ms: 5 + rng.below(200),
                ms,
            },
        };
        out.push((at, f));
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// Data-path events.
#[derive(Clone, Copy, Debug)]
pub enum DpEv {
    /// Client `i` opens its connection.
    ClientStart(u32),
    /// Client `i`'s own timer (next write, next slow read).
    Client(u32),
    /// Server connection `i`'s own timer.
    Server(u32),
    /// Data-path fault `i` starts.
    Fault(usize),
    /// Data-path fault `i` ends.
    FaultEnd(usize),
    /// The proxy's certificate is replaced (`tls-proxy`).
    RotateCert,
    /// `dns-proxy`: a query reaches the DNS node ([`dns`]).
    DnsQuery(u32),
    /// `dns-proxy`: an answer reaches the proxy.
    DnsAnswer(u32),
}

/// Where a client stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CState {
    Idle,
    Connecting,
    Open,
    Done,
}

/// One simulated client connection.
#[derive(Debug)]
pub struct Client {
    pub id: u32,
    pub cid: Option<u64>,
    pub state: CState,
    /// The client's own address, and the one the proxy should see (the
    /// PROXY header's when it sends one).
    pub src: Option<SocketAddr>,
    pub shown: Option<SocketAddr>,
    pub accepted_at: Option<Time>,
    pub last_progress: Time,
    /// The PROXY header, sent before anything else.
    pub hdr: Vec<u8>,
    pub hdr_sent: usize,
    /// Bytes the proxy read from / wrote to this connection.
    pub proxy_read: u64,
    pub proxy_wrote: u64,
    pub fin_sent: bool,
    pub got_fin: bool,
    pub got_rst: bool,
    pub refused: bool,
    /// The client reset or closed its connection before the end.
    pub aborted: bool,
    /// The proxy process that held its connection crashed: what was in
    /// flight is neither answered nor logged.
    pub crashed: bool,
    pub next_send: Time,
    pub next_read: Time,
    pub tick_at: Option<Time>,
    /// Log lines the proxy emitted for this client: (termination state,
    /// bytes, status for HTTP).
    pub logs: Vec<LogRec>,
    pub proto: ClientProto,
}

#[derive(Debug)]
pub enum ClientProto {
    Tcp(tcp::TcpClient),
    Http(Box<http::HttpClient>),
    /// `h2-proxy` (taken out while it runs).
    H2(Option<Box<h2p::H2Client>>),
}

/// One log line, as far as the oracles care.
#[derive(Clone, Debug)]
pub struct LogRec {
    pub term: String,
    pub bytes: u64,
    pub status: i64,
    pub request: String,
    pub server: String,
}

/// One connection accepted by a simulated server.
#[derive(Debug)]
pub struct SrvConn {
    pub srv: usize,
    pub cid: u64,
    pub open: bool,
    pub accepted_at: Time,
    /// A PROXY header is expected first (`send-proxy`).
    pub expect_hdr: bool,
    pub hdr_buf: Vec<u8>,
    /// The header's source and destination, once parsed.
    pub hdr_addrs: Option<(Option<SocketAddr>, Option<SocketAddr>)>,
    /// The client whose bytes these are.
    pub client: Option<u32>,
    pub got_fin: bool,
    pub got_rst: bool,
    pub fin_sent: bool,
    /// The server closed (or reset) it itself.
    pub self_closed: bool,
    pub next_read: Time,
    pub tick_at: Option<Time>,
    pub proto: SrvProto,
}

#[derive(Debug)]
pub enum SrvProto {
    Tcp(tcp::TcpSrv),
    Http(http::HttpSrv),
    /// `h2-proxy` (taken out while it runs).
    H2(Option<h2p::H2SrvConn>),
}

/// A server's live state.
#[derive(Debug, Default)]
pub struct SrvState {
    pub listening: bool,
    /// Slow-reading override (a `Slow` fault).
    pub slow: Option<(usize, u64)>,
    pub conns: Vec<u32>,
}

/// Where the run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Clients still start.
    Traffic,
    /// Every client is done: the proxy must let go of everything.
    Settle(Time),
    /// Soft stop asked: the process must exit.
    Stopping(Time),
    /// The process exited: the network must empty.
    Exited(Time),
}

/// Counters of what the data path did (summed by sweeps, asserted by CI).
#[derive(Clone, Debug, Default)]
pub struct DpStats {
    pub clients: u64,
    pub accepted: u64,
    pub refused: u64,
    pub client_resets: u64,
    pub server_resets: u64,
    pub server_closes: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub srv_conns: u64,
    /// Log lines by termination state.
    pub terms: BTreeMap<String, u64>,
    pub server_down_logs: u64,
    /// HTTP: requests sent, responses received, by status class.
    pub requests: u64,
    pub responses: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub pipelined: u64,
    pub interim: u64,
    pub garbage: u64,
    /// Most streams alive at once in the proxy.
    pub peak_live_streams: usize,
    /// Bytes the proxy read from server connections.
    pub proxy_srv_read: u64,
    /// `tls-proxy`: handshakes the clients completed.
    pub tls_handshakes: u64,
    /// `reverse-http`: connections the edges dialed, edge processes
    /// restarted (crashes and reloads), public reloads and crashes.
    pub rhttp_attempts: u64,
    pub edge_restarts: u64,
    pub public_reloads: u64,
    /// `dns-proxy`: queries the DNS node got, queries it answered wrong
    /// (an episode), connections the `dns` oracle checked, servers that
    /// moved from one address to another ("changed its IP" log lines).
    pub dns_queries: u64,
    pub dns_faulty: u64,
    pub dns_checked: u64,
    pub dns_changes: u64,
    /// `dns-proxy`: servers put in `MAINT (resolution)`.
    pub dns_maint: u64,
    pub public_crashes: u64,
    /// `reverse-http`: requests for the servers answered 503 by a public
    /// node that no edge dials (the `no-edge` oracle).
    pub no_edge_503: u64,
}

/// The data-path world state.
#[derive(Debug)]
pub struct Dp {
    /// The current proxy process of each proxy node (node 0; in
    /// `reverse-http` every public node, [`rhttp::RhttpSpec::publics`]'s
    /// order).
    pub proxies: Vec<usize>,
    pub clients: Vec<Client>,
    pub sconns: Vec<SrvConn>,
    pub servers: Vec<SrvState>,
    /// Source address (real or announced) to clients, oldest first.
    pub by_src: BTreeMap<SocketAddr, VecDeque<u32>>,
    pub phase: Phase,
    /// Connections each current proxy process accepted on its frontend.
    pub accepted: Vec<u64>,
    /// Network connection to the client or server connection holding its
    /// far end (kept after the actor closed, for the proxy's accounting).
    pub client_of: BTreeMap<u64, u32>,
    pub sconn_of: BTreeMap<u64, u32>,
    /// HTTP: requests some server saw, `(client, index)`.
    pub http_seen: std::collections::BTreeSet<(u32, u32)>,
    /// `h2-proxy`: requests a server answered whole, `(client, index)`.
    pub http_done: std::collections::BTreeSet<(u32, u32)>,
    /// `tls-proxy`: the actors' TLS ([`tlsw`]) and what the proxy's
    /// engine gets from its driver.
    pub tls: Option<Box<tlsw::TlsWorld>>,
    pub tls_env: Option<sluice_core::conn::tls::TlsEnv>,
    /// `reverse-http`: refusals and the reconnect oracle's samples.
    pub rh: rhttp::RhttpState,
    /// `dns-proxy`: datagrams in flight.
    pub dns: dns::DnsState,
}

impl World {
    /// Starts the proxy, the servers, and schedules clients and faults.
    pub(crate) fn dp_start(&mut self) {
        let d = self.spec.dp.clone().expect("data path");
        for _ in 0..self.spec.nodes {
            self.nodes.push(NodeState {
                current: usize::MAX,
                slow: None,
                refuse_until: Time::ZERO,
                reloaded: false,
            });
        }
        let mut dp = Dp {
            proxies: vec![0],
            clients: Vec::new(),
            sconns: Vec::new(),
            servers: Vec::new(),
            by_src: BTreeMap::new(),
            phase: Phase::Traffic,
            accepted: vec![0],
            client_of: BTreeMap::new(),
            sconn_of: BTreeMap::new(),
            http_seen: std::collections::BTreeSet::new(),
            http_done: std::collections::BTreeSet::new(),
            tls: None,
            tls_env: None,
            rh: rhttp::RhttpState::default(),
            dns: dns::DnsState::default(),
        };
        if d.tls.is_some() {
            let (env, w) = tlsw::make(&mut self.rng, d.clients.len() as u32);
            dp.tls = Some(Box::new(w));
            dp.tls_env = Some(env);
        }
        for (i, s) in d.servers.iter().enumerate() {
            self.listeners.push((s.addr, ListenOwner::Server(i)));
            dp.servers.push(SrvState {
                listening: true,
                slow: None,
                conns: Vec::new(),
            });
        }
        for (i, c) in d.clients.iter().enumerate() {
            dp.clients.push(Client {
                id: i as u32,
                cid: None,
                state: CState::Idle,
                src: None,
                shown: None,
                accepted_at: None,
                last_progress: c.at,
                hdr: Vec::new(),
                hdr_sent: 0,
                proxy_read: 0,
                proxy_wrote: 0,
                fin_sent: false,
                got_fin: false,
                got_rst: false,
                refused: false,
                aborted: false,
                crashed: false,
                next_send: c.at,
                next_read: c.at,
                tick_at: None,
                logs: Vec::new(),
                proto: match &c.plan {
                    Plan::Tcp(p) => ClientProto::Tcp(tcp::TcpClient::new(p)),
                    Plan::Http(p) => ClientProto::Http(Box::new(http::HttpClient::new(p))),
                    Plan::H2(p) => ClientProto::H2(Some(Box::new(h2p::H2Client::new(p)))),
                },
            });
        }
        self.dp = Some(Box::new(dp));
        let pid = self.spawn(0, false);
        self.nodes[0].current = pid;
        if let Some(dp) = self.dp.as_mut() {
            dp.proxies[0] = pid;
        }
        self.rhttp_start();
        for (i, c) in d.clients.iter().enumerate() {
            self.schedule(c.at, Ev::Dp(DpEv::ClientStart(i as u32)));
        }
        for (i, (at, _)) in d.faults.iter().enumerate() {
            self.schedule(*at, Ev::Dp(DpEv::Fault(i)));
        }
        if let Some(at) = d.tls.as_ref().and_then(|t| t.rotate_at) {
            self.schedule(at, Ev::Dp(DpEv::RotateCert));
        }
        self.stats.dp.clients = d.clients.len() as u64;
        for l in d.config.lines() {
            self.trace.line(format_args!("cfg {l}"));
        }
        self.trace.line(format_args!(
            "dp servers={} clients={} splice={} hang_ms={}",
            d.servers.len(),
            d.clients.len(),
            d.splice,
            d.hang_ms
        ));
        self.schedule(self.now.add_ms(crate::world::CHECK_MS), Ev::Check);
    }

    pub(crate) fn dp_spec(&self) -> &DpSpec {
        self.spec.dp.as_deref().expect("data path")
    }

    pub(crate) fn dpw(&mut self) -> &mut Dp {
        self.dp.as_deref_mut().expect("data path")
    }

    pub(crate) fn dp_event(&mut self, ev: DpEv) {
        match ev {
            DpEv::ClientStart(i) => self.client_start(i),
            DpEv::Client(i) => {
                let now = self.now;
                let c = &mut self.dpw().clients[i as usize];
                if c.tick_at == Some(now) {
                    c.tick_at = None;
                    self.client_io(i);
                }
            }
            DpEv::Server(i) => {
                let now = self.now;
                let s = &mut self.dpw().sconns[i as usize];
                if s.tick_at == Some(now) {
                    s.tick_at = None;
                    self.server_io(i);
                }
            }
            DpEv::Fault(i) => self.dp_fault(i, true),
            DpEv::FaultEnd(i) => self.dp_fault(i, false),
            DpEv::RotateCert => self.tls_rotate(),
            DpEv::DnsQuery(k) => self.dns_query(k),
            DpEv::DnsAnswer(k) => self.dns_answer(k),
        }
    }

    /// Arms client `i`'s timer at `at`, unless an earlier one is armed.
    pub(crate) fn client_tick(&mut self, i: u32, at: Time) {
        let at = at.max(self.now);
        let c = &mut self.dpw().clients[i as usize];
        if c.tick_at.is_some_and(|t| t <= at) {
            return;
        }
        c.tick_at = Some(at);
        self.schedule(at, Ev::Dp(DpEv::Client(i)));
    }

    /// Arms server connection `i`'s timer at `at`, unless an earlier one is armed.
    pub(crate) fn server_tick(&mut self, i: u32, at: Time) {
        let at = at.max(self.now);
        let s = &mut self.dpw().sconns[i as usize];
        if s.tick_at.is_some_and(|t| t <= at) {
            return;
        }
        s.tick_at = Some(at);
        self.schedule(at, Ev::Dp(DpEv::Server(i)));
    }

    fn client_start(&mut self, i: u32) {
        let spec = self.dp_spec().clients[i as usize].clone();
        let addr = fe_addr_of(spec.proxy);
        let cid = self.net_connect(Owner::Client(i), spec.host, addr);
        let src = self.conns.get(&cid).map(|c| c.src);
        let shown = spec.proxy_hdr.map(|(_, a)| a).or(src);
        let mut hdr = Vec::new();
        if let (Some((v, fake)), Some(_)) = (spec.proxy_hdr, src) {
            if v == 2 {
                let _ =
                    sluice_core::conn::proxy_hdr::encode_v2(Some(fake), Some(addr), &[], &mut hdr);
            } else {
                sluice_core::conn::proxy_hdr::encode_v1(Some(fake), Some(addr), &mut hdr);
            }
        }
        let now = self.now;
        self.tls_client_start(cid);
        let dp = self.dpw();
        dp.client_of.insert(cid, i);
        let c = &mut dp.clients[i as usize];
        c.cid = Some(cid);
        c.state = CState::Connecting;
        c.src = src;
        c.shown = shown;
        c.hdr = hdr;
        c.last_progress = now;
        // Log lines name the announced address, or the real one when the
        // handshake failed before the header was read.
        let shown_too = shown.filter(|a| Some(*a) != src);
        for a in [src, shown_too].into_iter().flatten() {
            dp.by_src.entry(a).or_default().push_back(i);
        }
        let cs = &self.dp_spec().clients[i as usize];
        let plan = format!("{:?} slow_read {:?}", cs.plan, cs.slow_read);
        self.trace.line(format_args!(
            "{} client{i} c{cid} start {plan}",
            now.as_ms()
        ));
    }

    /// Process `pid` accepted connection `cid`: counted when it is a
    /// client's on the current proxy (not an edge's, in `reverse-http`).
    pub(crate) fn dp_accepted(&mut self, pid: usize, cid: u64) {
        let now = self.now;
        let dp = self.dpw();
        if !dp.client_of.contains_key(&cid) {
            return;
        }
        if let Some(k) = dp.proxies.iter().position(|&p| p == pid) {
            dp.accepted[k] += 1;
        }
        self.stats.dp.accepted += 1;
        let dp = self.dpw();
        if let Some(&i) = dp.client_of.get(&cid) {
            let c = &mut dp.clients[i as usize];
            c.accepted_at = Some(now);
            c.last_progress = now;
        }
    }

    /// A server accepts connection `cid`.
    pub(crate) fn dp_server_accept(&mut self, srv: usize, cid: u64) {
        let now = self.now;
        let spec = self.dp_spec().servers[srv].clone();
        let http = self.dp_spec().http;
        let proto = if self.dp_spec().h2.is_some() {
            self.h2_server_proto(srv)
        } else if http {
            SrvProto::Http(http::HttpSrv::new(&mut self.rng, &spec, now))
        } else {
            SrvProto::Tcp(tcp::TcpSrv::new(&mut self.rng, &spec))
        };
        let dp = self.dpw();
        let i = dp.sconns.len() as u32;
        dp.sconns.push(SrvConn {
            srv,
            cid,
            open: true,
            accepted_at: now,
            expect_hdr: spec.send_proxy.is_some(),
            hdr_buf: Vec::new(),
            hdr_addrs: None,
            client: None,
            got_fin: false,
            got_rst: false,
            fin_sent: false,
            self_closed: false,
            next_read: now,
            tick_at: None,
            proto,
        });
        dp.servers[srv].conns.push(i);
        dp.sconn_of.insert(cid, i);
        self.stats.dp.srv_conns += 1;
        self.tls_server_accept(cid);
        if let Some(c) = self.conns.get_mut(&cid) {
            c.ends[1].owner = Some(Owner::Server(i));
        }
        self.trace.line(format_args!(
            "{} s{srv} c{cid} accepted as sc{i}",
            now.as_ms()
        ));
    }

    /// Something happened on `cid`'s end `e`, held by a client or a server.
    pub(crate) fn dp_io(&mut self, cid: u64, e: usize) {
        match self.conns.get(&cid).and_then(|c| c.ends[e].owner) {
            Some(Owner::Client(i)) => self.client_io(i),
            Some(Owner::Server(i)) => self.server_io(i),
            _ => {}
        }
    }

    fn client_io(&mut self, i: u32) {
        if self.dpw().clients[i as usize].state == CState::Done {
            return;
        }
        if self.dp_spec().h2.is_some() {
            self.h2_client_io(i);
        } else if self.dp_spec().http {
            self.http_client_io(i);
        } else {
            self.tcp_client_io(i);
        }
    }

    fn server_io(&mut self, i: u32) {
        if !self.dpw().sconns[i as usize].open {
            return;
        }
        if self.dp_spec().h2.is_some() {
            self.h2_server_io(i);
        } else if self.dp_spec().http {
            self.http_server_io(i);
        } else {
            self.tcp_server_io(i);
        }
    }

    /// The network closed an actor's end: `err` for a failed connect,
    /// `None` for a reset.
    pub(crate) fn dp_closed(&mut self, owner: Owner, cid: u64, err: Option<SockError>) {
        let now = self.now;
        match owner {
            Owner::Client(i) => {
                let c = &mut self.dpw().clients[i as usize];
                if c.state == CState::Done {
                    return;
                }
                c.state = CState::Done;
                c.last_progress = now;
                if err.is_some() {
                    c.refused = true;
                    self.stats.dp.refused += 1;
                } else {
                    c.got_rst = true;
                }
                self.trace.line(format_args!(
                    "{} client{i} c{cid} {}",
                    now.as_ms(),
                    if err.is_some() { "refused" } else { "got RST" }
                ));
            }
            Owner::Server(i) => {
                let s = &mut self.dpw().sconns[i as usize];
                s.open = false;
                s.got_rst = true;
                let cl = s.client;
                self.trace
                    .line(format_args!("{} sc{i} c{cid} got RST", now.as_ms()));
                // A reset from the network (a flap) ends the proxy's server
                // connection as a server reset does: HAProxy's
                // abort_keep_alive may close the client silently.
                self.mark_srv_gone(cl);
                self.note_server_progress(cl);
            }
            _ => {}
        }
    }

    /// A server connection moved bytes for client `cl`: it counts as
    /// progress of that client's stream.
    pub(crate) fn note_server_progress(&mut self, cl: Option<u32>) {
        let now = self.now;
        if let Some(cl) = cl {
            self.dpw().clients[cl as usize].last_progress = now;
        }
    }

    /// The proxy moved `read`/`wrote` bytes on its socket at `cid`'s end
    /// `e`: accounted to the client when it is a frontend connection.
    pub(crate) fn dp_proxy_io(&mut self, cid: u64, e: usize, read: usize, wrote: usize) {
        if e != 1 {
            if self.dpw().sconn_of.contains_key(&cid) {
                self.stats.dp.proxy_srv_read += read as u64;
            }
            return;
        }
        if let Some(&i) = self.dpw().client_of.get(&cid) {
            let c = &mut self.dpw().clients[i as usize];
            c.proxy_read += read as u64;
            c.proxy_wrote += wrote as u64;
        }
    }

    /// Closes client `i`'s connection (RST when `reset`) and marks it done.
    pub(crate) fn client_close(&mut self, i: u32, reset: bool, why: &str) {
        let now = self.now;
        let c = &mut self.dpw().clients[i as usize];
        let Some(cid) = c.cid else { return };
        c.state = CState::Done;
        c.last_progress = now;
        let ours = self
            .conns
            .get(&cid)
            .is_some_and(|x| x.ends[0].owner == Some(Owner::Client(i)));
        if ours {
            self.net_close(cid, 0, reset);
        }
        if reset {
            self.stats.dp.client_resets += 1;
        }
        self.trace.line(format_args!(
            "{} client{i} c{cid} close: {why}",
            now.as_ms()
        ));
    }

    /// Closes server connection `i` (RST when `reset`).
    pub(crate) fn server_close(&mut self, i: u32, reset: bool, why: &str) {
        let now = self.now;
        let s = &mut self.dpw().sconns[i as usize];
        if !s.open {
            return;
        }
        s.open = false;
        s.self_closed = true;
        let (cid, cl) = (s.cid, s.client);
        let ours = self
            .conns
            .get(&cid)
            .is_some_and(|x| x.ends[1].owner == Some(Owner::Server(i)));
        if ours {
            self.net_close(cid, 1, reset);
        }
        self.mark_srv_gone(cl);
        self.note_server_progress(cl);
        self.trace
            .line(format_args!("{} sc{i} c{cid} close: {why}", now.as_ms()));
    }

    /// A server connection of client `cl` closed or was reset: every
    /// request the client started and got no response to yet may be in
    /// flight on it, and the next one may go out on it before its close
    /// is seen (see `HttpClient::srv_gone`).
    fn mark_srv_gone(&mut self, cl: Option<u32>) {
        if let Some(c) = cl.and_then(|c| self.dpw().clients.get_mut(c as usize)) {
            if let ClientProto::Http(h) = &mut c.proto {
                let (answered, n) = (h.responses.len() as u32, h.starts.len() as u32);
                h.srv_gone.extend(answered..=n);
            }
        }
    }

    /// The proxy wrote `bytes` to server connection `cid` after the server
    /// closed it: the requests in them (`/<kind>/<client>/<index>`) are
    /// lost to a server close (see `HttpClient::srv_gone`).
    pub(crate) fn dp_data_to_closed(&mut self, cid: u64, bytes: &[u8]) {
        let Some(dp) = self.dp.as_deref_mut() else {
            return;
        };
        if !dp.sconn_of.contains_key(&cid) {
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        for line in text.split("\r\n") {
            let Some(path) = line
                .strip_suffix(" HTTP/1.1")
                .and_then(|l| l.split(' ').nth(1))
            else {
                continue;
            };
            let mut parts = path.split(['/', '?']).skip(2);
            let (Some(c), Some(j)) = (parts.next(), parts.next()) else {
                continue;
            };
            let (Ok(c), Ok(j)) = (c.parse::<usize>(), j.parse::<u32>()) else {
                continue;
            };
            if let Some(ClientProto::Http(h)) = dp.clients.get_mut(c).map(|c| &mut c.proto) {
                h.srv_gone.insert(j);
            }
        }
    }

    /// Whether client `i` may write now (connected, not shut), and how much.
    pub(crate) fn client_room(&self, i: u32) -> usize {
        let Some(dp) = self.dp.as_deref() else {
            return 0;
        };
        let c = &dp.clients[i as usize];
        let Some(x) = c.cid.and_then(|cid| self.conns.get(&cid)) else {
            return 0;
        };
        if x.syn != SynState::Open || x.ends[0].tx_shut || x.ends[0].owner != Some(Owner::Client(i))
        {
            return 0;
        }
        // A TLS client writes once its handshake is over (as a blocking
        // client's first write waits for it).
        if c.cid.is_some_and(|cid| self.tls_handshaking(cid, 0)) {
            return 0;
        }
        x.room(0)
    }

    /// Server connection `i`'s room for writing.
    pub(crate) fn server_room(&self, i: u32) -> usize {
        let Some(dp) = self.dp.as_deref() else {
            return 0;
        };
        let s = &dp.sconns[i as usize];
        let Some(x) = self.conns.get(&s.cid) else {
            return 0;
        };
        if x.ends[1].tx_shut || x.ends[1].owner != Some(Owner::Server(i)) {
            return 0;
        }
        x.room(1)
    }

    /// Takes up to `limit` bytes that arrived at `cid`'s end `e`; the
    /// sender hears of the room one latency later. Also says whether the
    /// FIN is reached (everything before it read).
    pub(crate) fn take_rx(&mut self, cid: u64, e: usize, limit: usize) -> (Vec<u8>, bool) {
        if self.tls_end(cid, e) {
            return self.tls_take_rx(cid, e, limit);
        }
        self.take_rx_raw(cid, e, limit)
    }

    /// [`World::take_rx`] of the bytes as they are on the wire.
    pub(crate) fn take_rx_raw(&mut self, cid: u64, e: usize, limit: usize) -> (Vec<u8>, bool) {
        let Some(c) = self.conns.get_mut(&cid) else {
            return (Vec::new(), false);
        };
        let end = &mut c.ends[e];
        let n = end.rx.len().min(limit);
        let data: Vec<u8> = end.rx.drain(..n).collect();
        let fin = end.rx.is_empty() && end.rx_fin && !end.read0_done;
        if fin {
            end.read0_done = true;
        }
        if n > 0 {
            self.after_read(cid, e);
        }
        (data, fin)
    }

    /// A server's PROXY header: accumulates and parses it. Returns the
    /// bytes after it (the data), or `None` while it is incomplete or
    /// after an integrity failure.
    pub(crate) fn server_proxy_hdr(&mut self, i: u32, data: Vec<u8>) -> Option<Vec<u8>> {
        let s = &mut self.dpw().sconns[i as usize];
        if !s.expect_hdr {
            return Some(data);
        }
        s.hdr_buf.extend_from_slice(&data);
        match sluice_core::conn::proxy_hdr::parse(&s.hdr_buf, 4096) {
            Ok(sluice_core::peers::Status::Partial) => None,
            Ok(sluice_core::peers::Status::Complete((h, used))) => {
                let rest = s.hdr_buf.split_off(used);
                s.hdr_addrs = Some((h.src, h.dst));
                s.expect_hdr = false;
                s.hdr_buf.clear();
                Some(rest)
            }
            Err(e) => {
                let d = format!(
                    "sc{i}: bad PROXY header from the proxy ({e:?}): {:?}",
                    String::from_utf8_lossy(&s.hdr_buf)
                );
                self.fail("integrity", d);
                None
            }
        }
    }

    /// The PROXY header a server got agrees with the client it serves.
    pub(crate) fn check_proxy_src(&mut self, i: u32) {
        let dp = self.dp.as_deref().expect("dp");
        let s = &dp.sconns[i as usize];
        let (Some((src, _)), Some(cl)) = (s.hdr_addrs, s.client) else {
            return;
        };
        let shown = dp.clients[cl as usize].shown;
        if src != shown {
            let d = format!(
                "sc{i}: PROXY header source {src:?}, but the bytes are client{cl}'s, seen from {shown:?}"
            );
            self.fail("integrity", d);
        }
    }

    fn dp_fault(&mut self, i: usize, start: bool) {
        let f = self.dp_spec().faults[i].1.clone();
        let now = self.now;
        self.trace.line(format_args!(
            "{} {} {f:?}",
            now.as_ms(),
            if start { "fault" } else { "heal" }
        ));
        if start {
            self.stats.faults += 1;
        }
        match f {
            DpFault::ServerDown { srv, ms, kill } => {
                let addr = self.dp_spec().servers[srv].addr;
                if start {
                    self.listeners
                        .retain(|(_, o)| *o != ListenOwner::Server(srv));
                    self.dpw().servers[srv].listening = false;
                    if kill {
                        let conns = self.dpw().servers[srv].conns.clone();
                        for c in conns {
                            self.server_close(c, true, "server crash");
                        }
                    }
                    self.schedule(now.add_ms(ms), Ev::Dp(DpEv::FaultEnd(i)));
                } else if !self.dpw().servers[srv].listening {
                    self.dpw().servers[srv].listening = true;
                    self.listeners.push((addr, ListenOwner::Server(srv)));
                }
            }
            DpFault::Cut { srv, ms } => {
                let node = self.dp_spec().servers[srv].node;
                for p in self.srv_peers() {
                    self.cut(p, node, start);
                }
                if start {
                    self.schedule(now.add_ms(ms), Ev::Dp(DpEv::FaultEnd(i)));
                }
            }
            DpFault::ClientCut { host, ms } => {
                self.cut(0, host, start);
                if start {
                    self.schedule(now.add_ms(ms), Ev::Dp(DpEv::FaultEnd(i)));
                }
            }
            DpFault::ClientFlap { host } => self.flap(0, host),
            DpFault::ServerFlap { srv } => {
                let node = self.dp_spec().servers[srv].node;
                for p in self.srv_peers() {
                    self.flap(p, node);
                }
            }
            DpFault::Latency { host, extra_ms, ms } => {
                self.extra_latency(0, host, extra_ms, start);
                if start {
                    self.schedule(now.add_ms(ms), Ev::Dp(DpEv::FaultEnd(i)));
                }
            }
            DpFault::EdgeCut { .. }
            | DpFault::EdgeFlap { .. }
            | DpFault::PublicDown { .. }
            | DpFault::EdgeRestart { .. }
            | DpFault::PublicRestart { .. } => self.rhttp_fault(i, &f, start),
            DpFault::Slow {
                srv,
                chunk,
                every_ms,
                ms,
            } => {
                self.dpw().servers[srv].slow = start.then_some((chunk, every_ms));
                if start {
                    self.schedule(now.add_ms(ms), Ev::Dp(DpEv::FaultEnd(i)));
                } else {
                    let conns = self.dpw().servers[srv].conns.clone();
                    for c in conns {
                        self.server_tick(c, now);
                    }
                }
            }
        }
    }
}

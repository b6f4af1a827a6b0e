//! `tcp-proxy`: clients -> Sluice (TCP mode) -> servers.
//!
//! **Configuration** (drawn): `listen`, or `frontend` + `backend`; 2–4
//! servers; `balance` roundrobin, static-rr, leastconn, first or source;
//! TCP health checks on some servers; `maxconn`/`maxqueue` on servers, a
//! `maxconn` on the frontend or its `bind` (the listener pauses and
//! clients wait in the kernel's queue), sometimes a global `maxconn`;
//! `retries` 0–3, `option redispatch`, `timeout connect/client/server`
//! and sometimes `queue`, `tunnel`, `client-fin`, `server-fin`; `bind ...
//! accept-proxy` (clients send PROXY v1 or v2 headers) and `send-proxy`
//! / `send-proxy-v2` servers; `option splice-auto` with a driver that
//! splices.
//!
//! **Clients** send their tagged stream ([`super::gen`]) in random chunks
//! with random gaps, sometimes an idle pause longer than `timeout
//! client`, then half-close (FIN) and read until the proxy closes; or reset
//! after some bytes; or close outright. Some read slowly.
//!
//! **Servers** echo (after a think time) or sink, per connection; some
//! reset or close early after some bytes; some read slowly; faults take
//! them down (refusing, sometimes resetting everything), cut them off, or
//! slow them.
//!
//! Every byte is checked where it lands: a server's bytes must be a
//! prefix of one client's stream (the tag says whose) and its PROXY header
//! must name that client; a client's bytes must be a prefix of what it
//! sent (echo). The end-of-run oracles are in [`super::check`].

use std::collections::VecDeque;

use core::fmt::Write as _;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use sluice_core::rng::Rng;
use sluice_core::time::Time;

use super::ms;
use super::{gen, CState, ClientProto, ClientSpec, DpSpec, Plan, ServerSpec, SrvProto, Timeouts};
use crate::world::World;

/// How a TCP client ends its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpEnd {
    /// Half-close once everything is sent, read until the proxy closes.
    Fin,
    /// Reset after `after` bytes.
    Rst { after: u64 },
    /// Close (FIN, no more reading) once everything is sent.
    Close,
}

/// What one TCP client does.
#[derive(Clone, Debug)]
pub struct TcpPlan {
    /// Data bytes to send: 0, or at least the tag.
    pub total: u64,
    pub chunk_max: usize,
    pub gap_max_ms: u64,
    /// After `.0` bytes, stay silent for `.1` ms.
    pub idle: Option<(u64, u64)>,
    pub end: TcpEnd,
}

/// A TCP client's progress.
#[derive(Debug)]
pub struct TcpClient {
    pub plan: TcpPlan,
    /// Data bytes written (after the PROXY header).
    pub sent: u64,
    /// Echoed bytes read (all checked).
    pub rcvd: u64,
    pub idle_done: bool,
    /// `TcpEnd::Close`: the client stopped reading by closing.
    pub closed_early: bool,
    /// The server connection that got this client's bytes.
    pub sconn: Option<u32>,
    /// `tls-proxy`: the garbage records went out.
    pub garbage_sent: bool,
}

impl TcpClient {
    pub fn new(plan: &TcpPlan) -> TcpClient {
        TcpClient {
            plan: plan.clone(),
            sent: 0,
            rcvd: 0,
            idle_done: false,
            closed_early: false,
            sconn: None,
            garbage_sent: false,
        }
    }
}

/// Echo queue limit per server connection: beyond it the server stops
/// reading (backpressure travels back to the client).
const ECHO_MAX: usize = 65536;

/// A TCP server connection's progress.
#[derive(Debug)]
pub struct TcpSrv {
    pub echo: bool,
    /// The first bytes, until the tag says whose they are.
    pub prefix: Vec<u8>,
    /// Data bytes read (after any PROXY header), all checked.
    pub rcvd: u64,
    pub sent: u64,
    pub q: VecDeque<(Time, Vec<u8>)>,
    pub q_bytes: usize,
    pub rst_after: Option<u64>,
    pub close_after: Option<u64>,
    pub think_ms: u64,
}

impl TcpSrv {
    pub fn new(rng: &mut Rng, spec: &ServerSpec) -> TcpSrv {
        // Not before the tag: a server that leaves early has seen whose
        // bytes it drops (the oracles need to know).
        let after = |rng: &mut Rng| {
            gen::TAG_LEN
                + match rng.below(3) {
                    0 => rng.below(16),
                    1 => rng.below(4096),
                    _ => rng.below(200_000),
                }
        };
        let rst_after = rng.chance(spec.rst_pct, 100).then(|| after(rng));
        let close_after = rng.chance(spec.close_pct, 100).then(|| after(rng));
        TcpSrv {
            echo: rng.chance(spec.echo_pct, 100),
            prefix: Vec::new(),
            rcvd: 0,
            sent: 0,
            q: VecDeque::new(),
            q_bytes: 0,
            rst_after,
            close_after,
            think_ms: rng.below(spec.think_ms + 1),
        }
    }
}

/// Draws the `tcp-proxy` run: configuration, clients, faults.
pub fn generate(
    rng: &mut Rng,
    start: Time,
    dur: u64,
    servers: Vec<ServerSpec>,
    hosts: &[usize],
) -> DpSpec {
    let t = Timeouts {
        connect: [100, 250, 500, 1000, 3000][rng.below(5) as usize],
        client: 1000 + rng.below(14_000),
        server: 1000 + rng.below(14_000),
        queue: rng.chance(1, 2).then(|| 200 + rng.below(4800)),
        tunnel: rng.chance(1, 4).then(|| 2000 + rng.below(28_000)),
        client_fin: rng.chance(1, 4).then(|| 200 + rng.below(4800)),
        server_fin: rng.chance(1, 4).then(|| 200 + rng.below(4800)),
        http_request: None,
        http_keep_alive: None,
        retries: rng.below(4),
    };
    let splice = rng.chance(1, 3);
    let accept_proxy = rng.chance(1, 4);
    let mut c = String::new();
    let _ = writeln!(c, "global\n    log stderr format raw local0");
    if rng.chance(1, 6) {
        let _ = writeln!(c, "    maxconn {}", 5 + rng.below(60));
    }
    let _ = writeln!(
        c,
        "defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect {}\n    timeout client {}\n    timeout server {}",
        ms(t.connect),
        ms(t.client),
        ms(t.server)
    );
    for (k, v) in [
        ("queue", t.queue),
        ("tunnel", t.tunnel),
        ("client-fin", t.client_fin),
        ("server-fin", t.server_fin),
    ] {
        if let Some(v) = v {
            let _ = writeln!(c, "    timeout {k} {}", ms(v));
        }
    }
    let _ = writeln!(c, "    retries {}", t.retries);
    if rng.chance(1, 2) {
        let _ = writeln!(c, "    option redispatch");
    }
    if splice {
        let _ = writeln!(c, "    option splice-auto");
    }
    let mut bind = format!("    bind {}", super::fe_addr());
    if accept_proxy {
        bind.push_str(" accept-proxy");
    }
    if rng.chance(1, 6) {
        let _ = write!(bind, " maxconn {}", 2 + rng.below(40));
    }
    let fe_maxconn = rng
        .chance(1, 4)
        .then(|| format!("    maxconn {}\n", 2 + rng.below(40)));
    let balance =
        ["roundrobin", "static-rr", "leastconn", "first", "source"][rng.below(5) as usize];
    let mut be = format!("    balance {balance}\n");
    be.push_str(&super::server_lines(rng, &servers, (2, 3), true));
    if rng.chance(1, 2) {
        let _ = write!(
            c,
            "listen app\n{bind}\n{}{be}",
            fe_maxconn.unwrap_or_default()
        );
    } else {
        let _ = write!(
            c,
            "frontend fe\n{bind}\n{}    default_backend app\nbackend app\n{be}",
            fe_maxconn.unwrap_or_default()
        );
    }
    let n = 20 + rng.below(180);
    let bursts: Vec<u64> = (0..1 + rng.below(4)).map(|_| rng.below(dur)).collect();
    let mut clients: Vec<ClientSpec> = (0..n)
        .map(|i| {
            let off = if rng.chance(1, 3) {
                (bursts[rng.below(bursts.len() as u64) as usize] + rng.below(200)).min(dur - 1)
            } else {
                rng.below(dur)
            };
            ClientSpec {
                at: start.add_ms(off),
                host: hosts[rng.below(hosts.len() as u64) as usize],
                slow_read: rng
                    .chance(1, 8)
                    .then(|| (64 + rng.below(2048) as usize, 5 + rng.below(200))),
                proxy_hdr: accept_proxy.then(|| {
                    let ip = Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8);
                    (
                        1 + rng.below(2) as u8,
                        SocketAddr::new(IpAddr::V4(ip), 1024 + rng.below(60_000) as u16),
                    )
                }),
                proxy: 0,
                plan: Plan::Tcp(tcp_plan(rng, &t)),
            }
        })
        .map(|mut c: ClientSpec| {
            // Keep every client's own pace within ~20 s: its writes (chunks
            // and gaps) and, when it reads slowly, the echo.
            if let Plan::Tcp(p) = &mut c.plan {
                let per_ms = |bytes: f64, ms: f64| bytes / ms.max(1.0);
                let mut rate = if p.gap_max_ms == 0 {
                    f64::MAX
                } else {
                    per_ms(p.chunk_max as f64 / 2.0, p.gap_max_ms as f64 / 2.0)
                };
                if let Some((chunk, every)) = c.slow_read {
                    rate = rate.min(per_ms(chunk as f64, every as f64));
                }
                let cap = (rate * 20_000.0).max(8.0) as u64;
                if p.total > cap {
                    p.total = cap;
                    if let TcpEnd::Rst { after } = &mut p.end {
                        *after = (*after).min(cap);
                    }
                    if let Some((at, _)) = &mut p.idle {
                        *at = (*at).min(cap);
                    }
                }
            }
            c
        })
        .collect();
    clients.sort_by_key(|c| c.at);
    // Ids follow the start order; re-key the announced addresses so they
    // stay unique per id.
    for (i, c) in clients.iter_mut().enumerate() {
        if let Some((_, a)) = c.proxy_hdr.as_mut() {
            *a = SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8)),
                a.port(),
            );
        }
    }
    let faults = super::draw_faults(rng, start, dur, servers.len());
    DpSpec {
        http: false,
        config: c,
        splice,
        hang_ms: t.hang_bound_ms(),
        timeouts: t,
        servers,
        clients,
        faults,
        traffic_end: start.add_ms(dur),
        tls: None,
        rhttp: None,
        dns: None,
        h2: None,
    }
}

fn tcp_plan(rng: &mut Rng, t: &Timeouts) -> TcpPlan {
    let total = match rng.below(20) {
        0 => 0,
        1..=8 => 8 + rng.below(2000),
        9..=15 => 2000 + rng.below(64 * 1024),
        16..=18 => 8 + rng.below(256),
        _ => 64 * 1024 + rng.below(448 * 1024),
    };
    let idle = rng.chance(1, 8).then(|| {
        let ms = if rng.chance(1, 2) {
            t.client + 500 + rng.below(3000)
        } else {
            rng.below(t.client)
        };
        (rng.below(total + 1), ms)
    });
    let end = match rng.below(10) {
        0 | 1 => TcpEnd::Rst {
            after: rng.below(total + 1),
        },
        2 => TcpEnd::Close,
        _ => TcpEnd::Fin,
    };
    TcpPlan {
        total,
        chunk_max: [64, 1024, 16384, 65536][rng.below(4) as usize],
        gap_max_ms: [0, 0, 5, 50, 300][rng.below(5) as usize],
        idle,
        end,
    }
}

impl World {
    fn tcp_client(&mut self, i: u32) -> &mut TcpClient {
        match &mut self.dpw().clients[i as usize].proto {
            ClientProto::Tcp(t) => t,
            _ => unreachable!("tcp client"),
        }
    }

    fn tcp_srv(&mut self, i: u32) -> &mut TcpSrv {
        match &mut self.dpw().sconns[i as usize].proto {
            SrvProto::Tcp(t) => t,
            _ => unreachable!("tcp server"),
        }
    }

    /// One look at a TCP client: read, check, write, end.
    pub(crate) fn tcp_client_io(&mut self, i: u32) {
        let now = self.now;
        let slow = self.dp_spec().clients[i as usize].slow_read;
        let c = &mut self.dpw().clients[i as usize];
        let Some(cid) = c.cid else { return };
        if c.state == CState::Connecting {
            if self
                .conns
                .get(&cid)
                .is_some_and(|x| x.syn == crate::net::SynState::Open)
            {
                let c = &mut self.dpw().clients[i as usize];
                c.state = CState::Open;
                c.last_progress = now;
                // The ClientHello (`tls-proxy`).
                self.tls_flush(cid, 0);
            } else {
                return;
            }
        }
        self.tcp_client_read(i, cid, slow);
        if self.dpw().clients[i as usize].state == CState::Done || self.failure.is_some() {
            return;
        }
        self.tcp_client_write(i, cid);
        let c = &self.dpw().clients[i as usize];
        if c.state != CState::Done && c.got_fin && c.fin_sent {
            self.client_close(i, false, "done");
        }
    }

    fn tcp_client_read(&mut self, i: u32, cid: u64, slow: Option<(usize, u64)>) {
        let now = self.now;
        let c = &self.dpw().clients[i as usize];
        if c.next_read > now {
            let at = c.next_read;
            let waiting = self
                .conns
                .get(&cid)
                .is_some_and(|x| !x.ends[0].rx.is_empty() || x.ends[0].rx_fin);
            if waiting {
                self.client_tick(i, at);
            }
            return;
        }
        let limit = slow.map_or(usize::MAX, |(chunk, _)| chunk);
        let (data, fin) = self.take_rx(cid, 0, limit);
        if !data.is_empty() {
            let t = self.tcp_client(i);
            let (off, sent) = (t.rcvd, t.sent);
            if off + data.len() as u64 > sent {
                let d = format!(
                    "client{i} received {} bytes, more than the {sent} it sent",
                    off + data.len() as u64
                );
                return self.fail("integrity", d);
            }
            if let Some(k) = gen::tcp_mismatch(i, off, &data) {
                let d = format!(
                    "client{i}: echoed byte {} is {:#04x}, it sent {:#04x}",
                    off + k as u64,
                    data[k],
                    gen::tcp_byte(i, off + k as u64)
                );
                return self.fail("integrity", d);
            }
            self.tcp_client(i).rcvd += data.len() as u64;
            self.stats.dp.bytes_down += data.len() as u64;
            let c = &mut self.dpw().clients[i as usize];
            c.last_progress = now;
            if let Some((_, every)) = slow {
                c.next_read = now.add_ms(every);
                self.client_tick(i, now.add_ms(every));
            }
        }
        if fin {
            let c = &mut self.dpw().clients[i as usize];
            c.got_fin = true;
            c.last_progress = now;
            self.trace
                .line(format_args!("{} client{i} c{cid} got FIN", now.as_ms()));
        }
    }

    fn tcp_client_write(&mut self, i: u32, cid: u64) {
        let now = self.now;
        for _ in 0..64 {
            let room = self.client_room(i);
            let c = &mut self.dpw().clients[i as usize];
            if c.fin_sent || c.state != CState::Open {
                return;
            }
            if c.hdr_sent < c.hdr.len() {
                if room == 0 {
                    return;
                }
                let n = room.min(c.hdr.len() - c.hdr_sent);
                let bytes = c.hdr[c.hdr_sent..c.hdr_sent + n].to_vec();
                c.hdr_sent += n;
                c.last_progress = now;
                self.net_send(cid, 0, bytes);
                continue;
            }
            let (next_send, id) = (c.next_send, c.id);
            let t = self.tcp_client(i);
            let (sent, total) = (t.sent, t.plan.total);
            if let TcpEnd::Rst { after } = t.plan.end {
                if sent >= after {
                    return self.client_close(i, true, "reset");
                }
            }
            let garbage = self
                .dp_spec()
                .tls
                .as_ref()
                .and_then(|t| t.garbage_after[i as usize]);
            if garbage.is_some_and(|g| sent >= g) && !self.tcp_client(i).garbage_sent {
                self.tcp_client(i).garbage_sent = true;
                self.stats.dp.garbage += 1;
                self.trace.line(format_args!(
                    "{} client{i} c{cid} garbage records",
                    now.as_ms()
                ));
                self.tls_garbage(cid, 0);
                continue;
            }
            let t = self.tcp_client(i);
            if sent >= total {
                let end = t.plan.end.clone();
                match end {
                    TcpEnd::Close => {
                        self.tcp_client(i).closed_early = true;
                        let c = &mut self.dpw().clients[i as usize];
                        c.fin_sent = true;
                        self.client_close(i, false, "close after sending");
                    }
                    _ => {
                        self.net_shutdown(cid, 0);
                        self.dpw().clients[i as usize].fin_sent = true;
                        self.trace
                            .line(format_args!("{} client{i} c{cid} FIN", now.as_ms()));
                    }
                }
                return;
            }
            if next_send > now {
                return self.client_tick(i, next_send);
            }
            let mut lim = total - sent;
            if let Some((at, idle_ms)) = t.plan.idle {
                if !t.idle_done && at <= sent {
                    t.idle_done = true;
                    let at = now.add_ms(idle_ms);
                    self.dpw().clients[i as usize].next_send = at;
                    return self.client_tick(i, at);
                }
                if !t.idle_done {
                    lim = lim.min(at - sent);
                }
            }
            if let TcpEnd::Rst { after } = t.plan.end {
                lim = lim.min(after - sent);
            }
            if room == 0 {
                return;
            }
            let chunk_max = self.tcp_client(i).plan.chunk_max as u64;
            let chunk = 1 + self.rng.below(chunk_max);
            let n = (room as u64).min(lim).min(chunk) as usize;
            let mut bytes = Vec::with_capacity(n);
            gen::tcp_fill(id, sent, n, &mut bytes);
            self.tcp_client(i).sent += n as u64;
            self.stats.dp.bytes_up += n as u64;
            self.dpw().clients[i as usize].last_progress = now;
            self.net_send(cid, 0, bytes);
            let gap_max = self.tcp_client(i).plan.gap_max_ms;
            let gap = if gap_max == 0 {
                0
            } else {
                self.rng.below(gap_max + 1)
            };
            if gap > 0 {
                let at = now.add_ms(gap);
                self.dpw().clients[i as usize].next_send = at;
                return self.client_tick(i, at);
            }
        }
        // Still more to write: come back at once, after the others.
        self.client_tick(i, now);
    }

    /// One look at a TCP server connection: read, check, echo, end.
    pub(crate) fn tcp_server_io(&mut self, i: u32) {
        let now = self.now;
        let s = &self.dpw().sconns[i as usize];
        let (cid, srv) = (s.cid, s.srv);
        let slow = self.dpw().servers[srv]
            .slow
            .or(self.dp_spec().servers[srv].slow);
        let s = &self.dpw().sconns[i as usize];
        let t = match &s.proto {
            SrvProto::Tcp(t) => t,
            _ => return,
        };
        let room_q = if t.echo {
            ECHO_MAX.saturating_sub(t.q_bytes)
        } else {
            usize::MAX
        };
        if s.next_read > now {
            let at = s.next_read;
            self.server_tick(i, at);
        } else if room_q > 0 && !s.got_fin {
            let limit = slow.map_or(room_q, |(chunk, _)| chunk.min(room_q));
            let (data, fin) = self.take_rx(cid, 1, limit);
            if !data.is_empty() {
                if let Some((_, every)) = slow {
                    self.dpw().sconns[i as usize].next_read = now.add_ms(every);
                    self.server_tick(i, now.add_ms(every));
                }
                if let Some(data) = self.server_proxy_hdr(i, data) {
                    if !self.tcp_server_data(i, data) {
                        return;
                    }
                }
            }
            if fin {
                let s = &mut self.dpw().sconns[i as usize];
                s.got_fin = true;
                let cl = s.client;
                self.note_server_progress(cl);
            }
        }
        self.tcp_server_write(i, cid);
        let s = &self.dpw().sconns[i as usize];
        if s.open && s.got_fin {
            if let SrvProto::Tcp(t) = &s.proto {
                if t.q.is_empty() {
                    self.server_close(i, false, "eof");
                }
            }
        }
    }

    /// Data a TCP server read: whose it is, and that it is exactly theirs.
    /// Returns whether the connection is still open.
    fn tcp_server_data(&mut self, i: u32, data: Vec<u8>) -> bool {
        if data.is_empty() {
            return true;
        }
        let now = self.now;
        let n_clients = self.dpw().clients.len();
        let s = &mut self.dpw().sconns[i as usize];
        let mut who = s.client;
        let t = match &mut s.proto {
            SrvProto::Tcp(t) => t,
            _ => return false,
        };
        if who.is_none() {
            let need = (gen::TAG_LEN as usize).saturating_sub(t.prefix.len());
            t.prefix.extend_from_slice(&data[..need.min(data.len())]);
            match gen::tcp_ident(&t.prefix) {
                Err(gen::NotAStream) => {
                    let d = format!(
                        "sc{i}: bytes that start no client's stream: {:?}",
                        &t.prefix
                    );
                    self.fail("integrity", d);
                    return false;
                }
                Ok(None) => {}
                Ok(Some(id)) if id as usize >= n_clients => {
                    self.fail(
                        "integrity",
                        format!("sc{i}: tag of a client that does not exist ({id})"),
                    );
                    return false;
                }
                Ok(Some(id)) => {
                    s.client = Some(id);
                    who = Some(id);
                    let other = self.tcp_client(id).sconn.replace(i);
                    if let Some(o) = other {
                        let d = format!(
                            "client{id}'s bytes reached two server connections (sc{o} and sc{i})"
                        );
                        self.fail("integrity", d);
                        return false;
                    }
                    self.check_proxy_src(i);
                    self.trace
                        .line(format_args!("{} sc{i} is client{id}'s", now.as_ms()));
                }
            }
        }
        let len = data.len() as u64;
        if let Some(id) = who {
            let off = self.tcp_srv(i).rcvd;
            let sent = self.tcp_client(id).sent;
            if off + len > sent {
                let d = format!(
                    "sc{i} got {} bytes of client{id}, which sent {sent}",
                    off + len
                );
                self.fail("integrity", d);
                return false;
            }
            if let Some(k) = gen::tcp_mismatch(id, off, &data) {
                let d = format!(
                    "sc{i}: byte {} of client{id} is {:#04x}, it sent {:#04x}",
                    off + k as u64,
                    data[k],
                    gen::tcp_byte(id, off + k as u64)
                );
                self.fail("integrity", d);
                return false;
            }
        }
        self.note_server_progress(who);
        let think = self.tcp_srv(i).think_ms;
        let t = self.tcp_srv(i);
        t.rcvd += len;
        let rcvd = t.rcvd;
        if t.echo {
            t.q_bytes += data.len();
            t.q.push_back((now.add_ms(think), data));
        }
        if t.rst_after.is_some_and(|a| rcvd >= a) {
            self.stats.dp.server_resets += 1;
            self.server_close(i, true, "reset mid-stream");
            return false;
        }
        if t.close_after.is_some_and(|a| rcvd >= a) {
            self.stats.dp.server_closes += 1;
            self.server_close(i, false, "early close");
            return false;
        }
        true
    }

    fn tcp_server_write(&mut self, i: u32, cid: u64) {
        let now = self.now;
        loop {
            let room = self.server_room(i);
            let t = self.tcp_srv(i);
            let Some((at, _)) = t.q.front() else {
                return;
            };
            if *at > now {
                let at = *at;
                return self.server_tick(i, at);
            }
            if room == 0 {
                return;
            }
            let (_, front) = t.q.front_mut().expect("front");
            let n = room.min(front.len());
            let bytes: Vec<u8> = front.drain(..n).collect();
            if front.is_empty() {
                t.q.pop_front();
            }
            t.q_bytes -= n;
            t.sent += n as u64;
            let cl = self.dpw().sconns[i as usize].client;
            self.note_server_progress(cl);
            self.net_send(cid, 1, bytes);
            // Room in the queue again: read more.
            self.server_tick(i, now);
        }
    }
}

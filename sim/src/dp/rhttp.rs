//! `reverse-http`: the `http-proxy` world with the servers behind edges
//! that dial the proxies (reverse HTTP, docs/reverse-http.md).
//!
//! ```text
//!  clients ──> 1-3 public nodes (node 0, and nodes after the edges), each:
//!                 frontend ADDR:8000, backend app (server dev rhttp@),
//!                 frontend priv ADDR:8443 proto h2
//!                 (tcp-request session attach-srv app/dev)
//!                      ^ H2 connections dialed by its edges, reversed
//!  edges (nodes after the client hosts), each a Sluice process dialing
//!  one public node (drawn: a public node may have none):
//!      bind rhttp@pre/pub nbconn N ──> backend app ──> the servers
//! ```
//!
//! Faults on top of the servers' (which now hit the edges' links): cuts
//! between an edge and its public node, resets of every connection
//! between them (mid-handshake too), a public node down (its edge
//! connections reset, its `attach-srv` port refusing for a while), edge
//! restarts (a reload, or a crash right before a new process starts,
//! sometimes followed by a reset while the new one shakes hands), public
//! restarts (a reload, or a crash).
//!
//! Oracles besides the `http-proxy` ones (which judge every public node
//! as they judged the proxy):
//! * `reconnects` (every check): in any 3 s window an edge process opens
//!   at most 3 + one per second (its retry delay and `timeout connect`
//!   are 1 s or more) + one per connection accepted or ended in the
//!   window;
//! * `drain`: once the faults are over and every client is done, every
//!   edge's listener holds `nbconn` accepted connections (sessions, no
//!   stream), and the public node holds exactly those, reversed: as many
//!   connections of `app/dev`, each in its available list once, and
//!   nothing else (no session, stream or buffer); old processes are gone;
//!   each public node is judged with its own edges;
//! * `no-edge`: a public node no edge dials answers every request for the
//!   servers itself, with a 503 logged `SC` (and never hangs it: `hang`).

use core::net::SocketAddr;
use std::collections::VecDeque;

use sluice_core::rng::Rng;
use sluice_core::time::Time;

use super::{ClientProto, DpFault, DpSpec};
use crate::dp::DpEv;
use crate::world::{Ev, PState, World};

/// The `attach-srv` frontend of the public node on `node`.
pub fn priv_addr(node: usize) -> SocketAddr {
    SocketAddr::new(crate::config::node_addr(node).ip(), 8443)
}

/// The reconnect window, in ms.
const WINDOW_MS: u64 = 3000;

/// One edge.
#[derive(Clone, Debug)]
pub struct EdgeSpec {
    pub node: usize,
    /// The public node it dials (an index in [`RhttpSpec::publics`]).
    pub public: usize,
    /// The sum of its listeners' `nbconn`.
    pub nbconn: u32,
    /// With two reverse listeners, a global `maxconn` one below their
    /// `nbconn`: each dials on its own, so one may be ready when the other
    /// filled the process; that connection is reversed on the public node
    /// but not accepted (requests on it must wait), then times out and is
    /// dialed again.
    pub maxconn: Option<u32>,
    /// The haproxy.cfg text its processes run.
    pub config: String,
}

/// One public node.
#[derive(Clone, Debug)]
pub struct PublicSpec {
    pub node: usize,
    /// The haproxy.cfg text its processes run (node 0's is
    /// [`DpSpec::config`]).
    pub config: String,
}

/// The public nodes and edges of a `reverse-http` run.
#[derive(Clone, Debug)]
pub struct RhttpSpec {
    /// Node 0 first.
    pub publics: Vec<PublicSpec>,
    pub edges: Vec<EdgeSpec>,
    /// `timeout connect` of the edges' `pre` backend: a connection not
    /// ready by then is dropped and dialed again.
    pub connect_ms: u64,
}

/// An edge process in the steady state: pid, attempts, ended connections,
/// connections it was short of its `nbconn` (it opens them one at a time,
/// so the last ones of a refill may come after the steady state began).
pub type Snap = (usize, u64, u64, u64);

/// Reverse-HTTP state of the world.
#[derive(Debug, Default)]
pub struct RhttpState {
    /// Connections to each public node's `attach-srv` port are refused
    /// until then.
    pub refuse_until: Vec<Time>,
    /// Per edge process: samples `(time, attempts, accepted, ended)`, the
    /// oldest one at least [`WINDOW_MS`] old first.
    pub samples: std::collections::BTreeMap<usize, VecDeque<(Time, u64, u64, u64)>>,
    /// Since when every live process is its node's current one.
    pub all_current_since: Option<Time>,
    /// The steady state: since when, and each edge's attempts and ended
    /// connections then.
    pub steady: Option<(Time, Vec<Snap>)>,
}

impl EdgeSpec {
    /// The connections the edge holds accepted when nothing fails.
    pub fn held(&self) -> u32 {
        self.maxconn.map_or(self.nbconn, |m| m.min(self.nbconn))
    }
}

/// The configuration of the public node on `node`: the drawn one with its
/// servers replaced by `server dev rhttp@`, its frontend on the node's
/// address, and a frontend for the edges.
fn public_config(drawn: &str, node: usize) -> String {
    let mut out = String::new();
    let mut server = false;
    let bind = format!("    bind {}", super::fe_addr());
    for l in drawn.lines() {
        let l = &l.replace(&bind, &format!("    bind {}", super::fe_addr_of(node)));
        if l.starts_with("    server ") {
            if !server {
                out.push_str("    server dev rhttp@\n");
                server = true;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
        if l == "global" {
            out.push_str("    expose-experimental-directives\n");
        }
    }
    out.push_str(&format!(
        "frontend priv\n    bind {} proto h2\n    tcp-request session attach-srv app/dev\n",
        priv_addr(node)
    ));
    out
}

/// An edge's configuration: the drawn `global` and `defaults` (without
/// `option forwardfor`: the public node adds the client's), a reverse
/// listener, and the drawn backend without PROXY headers (they would name
/// the public node).
fn edge_config(
    drawn: &str,
    public: usize,
    nbconn: u32,
    binds: u32,
    maxconn: Option<u32>,
    streams: Option<u32>,
    connect_ms: u64,
) -> String {
    let mut head = String::new();
    let mut be = String::new();
    let mut in_head = true;
    for l in drawn.lines() {
        if l.starts_with("listen ") || l.starts_with("frontend ") {
            in_head = false;
        }
        if in_head {
            if l == "    option forwardfor" {
                continue;
            }
            head.push_str(l);
            head.push('\n');
            if l == "global" {
                head.push_str("    expose-experimental-directives\n");
                if let Some(m) = maxconn {
                    head.push_str(&format!("    maxconn {m}\n"));
                }
                if let Some(n) = streams {
                    head.push_str(&format!("    tune.h2.max-concurrent-streams {n}\n"));
                }
            }
        } else if l.starts_with("    balance ")
            || l.starts_with("    http-reuse ")
            || l.starts_with("    server ")
        {
            be.push_str(&l.replace(" send-proxy-v2", "").replace(" send-proxy", ""));
            be.push('\n');
        }
    }
    let bind = format!("    bind rhttp@pre/pub nbconn {nbconn}\n").repeat(binds as usize);
    format!(
        "{head}frontend edge\n{bind}    default_backend app\nbackend pre\n    timeout connect {connect_ms}ms\n    server pub {} proto h2\nbackend app\n{be}",
        priv_addr(public)
    )
}

/// Turns the drawn `http-proxy` spec into a `reverse-http` one with edges
/// on `edges` and public nodes on `publics` (nodes; node 0 first), and
/// draws the faults.
pub fn spec(
    rng: &mut Rng,
    dp: &mut DpSpec,
    start: Time,
    dur: u64,
    edges: &[usize],
    publics: &[usize],
) {
    let connect_ms = 1000 + rng.below(2001);
    // Few streams per connection on every edge (half the runs): requests
    // spread over every reversed connection, the newest too.
    let streams = rng.chance(1, 2).then(|| 1 + rng.below(4) as u32);
    let n_pub = publics.len() as u64;
    let specs: Vec<EdgeSpec> = edges
        .iter()
        .map(|&node| {
            let per = 1 + rng.below(3) as u32;
            let binds = if rng.chance(1, 3) { 2 } else { 1 };
            let maxconn = (binds == 2).then_some(2 * per - 1);
            let public = rng.below(n_pub) as usize;
            EdgeSpec {
                node,
                public,
                nbconn: binds * per,
                maxconn,
                config: edge_config(
                    &dp.config,
                    publics[public],
                    per,
                    binds,
                    maxconn,
                    streams,
                    connect_ms,
                ),
            }
        })
        .collect();
    let pubs: Vec<PublicSpec> = publics
        .iter()
        .map(|&node| PublicSpec {
            node,
            config: public_config(&dp.config, node),
        })
        .collect();
    dp.config = pubs[0].config.clone();
    for s in &mut dp.servers {
        s.send_proxy = None;
    }
    let end = start.add_ms(dur);
    let mut worst = 0;
    let mut faults = Vec::new();
    // Most runs take a public node down once: its edges dial against a
    // refusing port.
    if !rng.chance(1, 8) {
        let at = start.add_ms(rng.below(dur * 3 / 4));
        let ms = (1000 + rng.below(4000)).min((end - at).max(200));
        let public = rng.below(n_pub) as usize;
        faults.push((at, DpFault::PublicDown { public, ms }));
    }
    for _ in 0..2 + rng.below(7) {
        let at = start.add_ms(rng.below(dur * 3 / 4));
        let left = (end - at).max(200);
        let edge = rng.below(specs.len() as u64) as usize;
        let f = match rng.below(6) {
            0 => {
                let ms = (200 + rng.below(6000)).min(left);
                worst = worst.max(ms);
                DpFault::EdgeCut { edge, ms }
            }
            1 => DpFault::EdgeFlap { edge },
            2 => DpFault::PublicDown {
                public: specs[edge].public,
                ms: (500 + rng.below(4000)).min(left),
            },
            3 | 4 => {
                if rng.chance(1, 2) {
                    // While the new process shakes hands with the public node.
                    faults.push((at.add_ms(1 + rng.below(60)), DpFault::EdgeFlap { edge }));
                }
                DpFault::EdgeRestart {
                    edge,
                    kill: rng.chance(1, 2),
                }
            }
            _ => DpFault::PublicRestart {
                public: rng.below(n_pub) as usize,
                // A crash in four.
                kill: rng.chance(1, 4),
            },
        };
        faults.push((at, f));
    }
    dp.faults.extend(faults);
    dp.faults.sort_by_key(|(t, _)| *t);
    dp.hang_ms += worst;
    // The clients spread over the public nodes.
    for c in &mut dp.clients {
        c.proxy = publics[rng.below(n_pub) as usize];
    }
    dp.rhttp = Some(RhttpSpec {
        publics: pubs,
        edges: specs,
        connect_ms,
    });
}

impl World {
    /// The `reverse-http` spec (`None` in the other scenarios, the
    /// peers' ones too).
    fn rhttp_spec(&self) -> Option<&RhttpSpec> {
        self.spec.dp.as_deref()?.rhttp.as_ref()
    }

    /// Starts the other public nodes (after node 0's), then the edges.
    pub(crate) fn rhttp_start(&mut self) {
        let Some(r) = self.rhttp_spec().cloned() else {
            return;
        };
        self.dpw().rh.refuse_until = vec![Time::ZERO; r.publics.len()];
        for (k, p) in r.publics.iter().enumerate().skip(1) {
            for l in p.config.lines() {
                self.trace.line(format_args!("cfg p{k} {l}"));
            }
            let pid = self.spawn(p.node, false);
            self.nodes[p.node].current = pid;
            let dp = self.dpw();
            dp.proxies.push(pid);
            dp.accepted.push(0);
        }
        for (k, e) in r.edges.iter().enumerate() {
            for l in e.config.lines() {
                self.trace.line(format_args!("cfg e{k} {l}"));
            }
            let pid = self.spawn(e.node, false);
            self.nodes[e.node].current = pid;
        }
    }

    /// Whether a connection to `dst` is refused on purpose now.
    pub(crate) fn dp_refuses(&self, dst: SocketAddr) -> bool {
        let (Some(d), Some(r)) = (self.dp.as_deref(), self.rhttp_spec()) else {
            return false;
        };
        r.publics
            .iter()
            .zip(&d.rh.refuse_until)
            .any(|(p, &until)| until > self.now && dst == priv_addr(p.node))
    }

    /// The index of the public node whose `attach-srv` port is `dst`.
    fn public_of_priv(&self, dst: SocketAddr) -> Option<usize> {
        self.rhttp_spec()?
            .publics
            .iter()
            .position(|p| priv_addr(p.node) == dst)
    }

    /// The index of the public node on `node`.
    fn public_on(&self, node: usize) -> Option<usize> {
        self.rhttp_spec()?
            .publics
            .iter()
            .position(|p| p.node == node)
    }

    /// The public node's end of connection `cid` to its `attach-srv` port
    /// is gone (reset, closed by either side): if it was a reversed
    /// connection, the requests in flight on it failed without a byte of
    /// response, and a request that was not the first of its client
    /// connection is then dropped without an answer nor a log line
    /// (HAProxy's `abort_keep_alive`, as with a server closing a keep-alive
    /// connection). Which client's requests it carried is H2 (HPACK) on
    /// the wire: every request in flight of that public node's clients is
    /// excused.
    pub(crate) fn dp_reversed_gone(&mut self, cid: u64) {
        if self.dp.is_none() || self.dp_spec().rhttp.is_none() {
            return;
        }
        let Some(c) = self.conns.get(&cid) else {
            return;
        };
        let Some(k) = self.public_of_priv(c.dst) else {
            return;
        };
        let node = self.rhttp_spec().expect("reverse-http").publics[k].node;
        // The `steady` oracle, continued: once the faults are over, only
        // the edge ends a reversed connection (its idle timeout); the
        // public node keeps them (no idle purge, no timeout: HAProxy's
        // backend H2 connections only expire by `idle-ping`).
        let edge_holds = c.ends[0].owner.is_some() && !c.ends[0].tx_shut;
        let steady = self.dp.as_deref().is_some_and(|d| {
            d.rh.steady.is_some()
                && matches!(d.phase, super::Phase::Traffic | super::Phase::Settle(_))
        });
        if steady && edge_holds && c.ends[1].owner.is_some() && !c.ends[1].rx_fin {
            let d = format!("the public node closed c{cid}, a connection its edge still holds");
            self.fail("steady", d);
        }
        // A client that is done (vanished) may still have a request in
        // flight there.
        let spec = self.spec.dp.as_deref().expect("dp");
        let dp = self.dp.as_deref_mut().expect("dp");
        for (c, cs) in dp.clients.iter_mut().zip(&spec.clients) {
            if cs.proxy != node {
                continue;
            }
            if let ClientProto::Http(h) = &mut c.proto {
                let (answered, n) = (h.responses.len() as u32, h.starts.len() as u32);
                h.srv_gone.extend(answered..=n);
            }
        }
    }

    /// The nodes a server's links go to: the edges, or the proxy.
    pub(crate) fn srv_peers(&self) -> Vec<usize> {
        match self.rhttp_spec() {
            Some(r) => r.edges.iter().map(|e| e.node).collect(),
            None => vec![0],
        }
    }

    /// A `reverse-http` fault starts (`start`) or ends.
    pub(crate) fn rhttp_fault(&mut self, i: usize, f: &DpFault, start: bool) {
        let Some(r) = self.rhttp_spec().cloned() else {
            return;
        };
        let now = self.now;
        match *f {
            DpFault::EdgeCut { edge, ms } => {
                let e = &r.edges[edge];
                self.cut(r.publics[e.public].node, e.node, start);
                if start {
                    self.schedule(now.add_ms(ms), Ev::Dp(DpEv::FaultEnd(i)));
                }
            }
            DpFault::EdgeFlap { edge } => {
                let e = &r.edges[edge];
                self.flap(r.publics[e.public].node, e.node);
            }
            DpFault::PublicDown { public, ms } if start => {
                self.dpw().rh.refuse_until[public] = now.add_ms(ms);
                let node = r.publics[public].node;
                for e in r.edges.iter().filter(|e| e.public == public) {
                    self.flap(node, e.node);
                }
                self.schedule(now.add_ms(ms), Ev::Dp(DpEv::FaultEnd(i)));
            }
            DpFault::EdgeRestart { edge, kill } => {
                let node = r.edges[edge].node;
                let old = self.nodes[node].current;
                if self.procs[old].state != PState::Running {
                    return;
                }
                self.stats.dp.edge_restarts += 1;
                if kill {
                    self.kill(old);
                    self.stats.reloads += 1;
                    let pid = self.spawn(node, false);
                    self.nodes[node].current = pid;
                } else {
                    self.reload(node);
                }
            }
            DpFault::PublicRestart { public, kill } => {
                let node = r.publics[public].node;
                let old = self.nodes[node].current;
                if self.procs[old].state != PState::Running {
                    return;
                }
                if kill {
                    self.stats.dp.public_crashes += 1;
                    // Its clients' connections are reset: what was in
                    // flight is lost unlogged.
                    let held: Vec<u64> = self.procs[old].socks.values().map(|s| s.0).collect();
                    let dp = self.dp.as_deref_mut().expect("dp");
                    for cid in held {
                        if let Some(&c) = dp.client_of.get(&cid) {
                            dp.clients[c as usize].crashed = true;
                        }
                    }
                    self.kill(old);
                    self.stats.reloads += 1;
                    let pid = self.spawn(node, false);
                    self.nodes[node].current = pid;
                } else {
                    self.stats.dp.public_reloads += 1;
                    self.reload(node);
                }
                let new = self.nodes[node].current;
                let dp = self.dpw();
                dp.proxies[public] = new;
                // `show stat` is the new process's.
                dp.accepted[public] = 0;
            }
            _ => {}
        }
    }

    /// The `reconnects` oracle, every check: each edge process's dial rate.
    pub(crate) fn rhttp_check(&mut self) {
        let Some(connect_ms) = self.rhttp_spec().map(|r| r.connect_ms) else {
            return;
        };
        let now = self.now;
        // A public node's available list holds its reversed connections,
        // each once.
        let publics: Vec<usize> = self
            .live()
            .filter(|&p| self.public_on(self.procs[p].node).is_some())
            .collect();
        for p in publics {
            let conns = self.procs[p].engine.rhttp_server_conns("app", "dev");
            if let Some((rev, avail)) = conns.filter(|(r, a)| a > r) {
                let d = format!("p{p}: {avail} entries in app/dev's available list for {rev} reversed connections");
                return self.fail("bounded", d);
            }
        }
        let pids: Vec<usize> = self
            .live()
            .filter(|&p| self.public_on(self.procs[p].node).is_none())
            .collect();
        // `early`: no edge read a request on a connection before its
        // listener accepted it (its H2 mux holds new streams until then).
        for &pid in &pids {
            let n = self.procs[pid].engine.streams_without_session();
            if n > 0 {
                let d = format!("edge p{pid} opened {n} streams on connections not yet accepted");
                return self.fail("early", d);
            }
        }
        for pid in pids {
            self.due(pid);
            let out = self.procs[pid].engine.cli_request(now, "show stat");
            self.after_call(pid);
            let e = &self.procs[pid].engine;
            let attempts = e.rhttp_attempts();
            let held = u64::from(e.rhttp_accepted().0);
            let accepted = stat_of(&out, "edge", "FRONTEND", "stot");
            let ended = accepted.saturating_sub(held);
            let started = self.procs[pid].started;
            let q = self
                .dpw()
                .rh
                .samples
                .entry(pid)
                .or_insert_with(|| VecDeque::from([(started, 0, 0, 0)]));
            q.push_back((now, attempts, accepted, ended));
            while q.len() > 2 && now - q[1].0 >= WINDOW_MS {
                q.pop_front();
            }
            let (t0, a0, acc0, end0) = q[0];
            if now - t0 < WINDOW_MS {
                continue;
            }
            let span = now - t0;
            let allowed = 3 + span / connect_ms.min(1000) + (accepted - acc0) + (ended - end0);
            if attempts - a0 > allowed {
                let d = format!(
                    "edge p{pid} opened {} connections in {span} ms (allowed {allowed}: {} accepted, {} ended)",
                    attempts - a0,
                    accepted - acc0,
                    ended - end0
                );
                self.fail("reconnects", d);
                return;
            }
        }
        self.rhttp_steady();
    }

    /// The current processes (the public nodes' first, then each edge's).
    fn current_procs(&self) -> Vec<usize> {
        let r = self.rhttp_spec().expect("reverse-http");
        r.publics
            .iter()
            .map(|p| p.node)
            .chain(r.edges.iter().map(|e| e.node))
            .map(|n| self.nodes[n].current)
            .collect()
    }

    /// The `steady` oracle: 5 s after the traffic phase (every fault is
    /// healed by then) and 2 s after the last old process exited, an edge
    /// that can hold its `nbconn` dials only to replace a connection that
    /// ended (its idle timeout, as HAProxy's: `timeout http-keep-alive`,
    /// `http-request` or `client`), or one it was short of when the
    /// steady state began (a refill, one at a time): no attempt fails any
    /// more.
    fn rhttp_steady(&mut self) {
        let now = self.now;
        let r = self.rhttp_spec().expect("reverse-http").clone();
        let current = self.current_procs();
        let all_current = self.live().all(|p| current.contains(&p));
        let end = self.dp_spec().traffic_end;
        let rh = &mut self.dpw().rh;
        if !all_current {
            rh.all_current_since = None;
            rh.steady = None;
            return;
        }
        let since = *rh.all_current_since.get_or_insert(now);
        if now < end.add_ms(5000) || now - since < 2000 {
            return;
        }
        let snap: Vec<Snap> = r
            .edges
            .iter()
            .filter(|e| e.maxconn.is_none())
            .map(|e| {
                let pid = self.nodes[e.node].current;
                let ended = self
                    .dp
                    .as_deref()
                    .and_then(|d| d.rh.samples.get(&pid))
                    .and_then(|q| q.back())
                    .map_or(0, |s| s.3);
                let e = &self.procs[pid].engine;
                let (held, nbconn) = e.rhttp_accepted();
                let short = u64::from(nbconn.saturating_sub(held));
                (pid, e.rhttp_attempts(), ended, short)
            })
            .collect();
        let rh = &mut self.dpw().rh;
        let Some((t0, before)) = &rh.steady else {
            rh.steady = Some((now, snap));
            return;
        };
        let t0 = *t0;
        let grew = before
            .iter()
            .zip(&snap)
            .find(|((p0, a0, e0, s0), (p1, a1, e1, _))| p0 == p1 && a1 - a0 > e1 - e0 + s0)
            .map(|((p, a0, e0, s0), (_, a1, e1, _))| (*p, a1 - a0, e1 - e0, *s0));
        if let Some((p, dialed, ended, short)) = grew {
            let d = format!(
                "edge p{p} dialed {dialed} connections since the steady state began at +{} ms, {ended} ended, {short} were missing then",
                t0 - self.spec.start
            );
            self.fail("steady", d);
        }
    }

    /// Whether the edges and the public nodes hold what they should once
    /// the faults are over and every client is done.
    pub(crate) fn rhttp_drained(&self) -> Result<(), String> {
        let r = self.rhttp_spec().expect("reverse-http");
        let dp = self.dp.as_deref().expect("dp");
        match dp.rh.steady {
            Some((t0, _)) if self.now - t0 >= 6000 => {}
            _ => return Err("not 6 s in the steady state yet".into()),
        }
        // Per public node: the connections its edges hold accepted, and
        // how many more it may have reversed (an edge that cannot accept
        // its `nbconn` has one more connection that the public node may
        // have reversed already).
        let mut want = vec![0; r.publics.len()];
        let mut extra = vec![0; r.publics.len()];
        for (k, es) in r.edges.iter().enumerate() {
            let pid = self.nodes[es.node].current;
            let e = &self.procs[pid].engine;
            let (held, _) = e.rhttp_accepted();
            if held != es.held() {
                return Err(format!(
                    "edge e{k} (p{pid}) holds {held} accepted connections, nbconn {} maxconn {:?}",
                    es.nbconn, es.maxconn
                ));
            }
            if es.held() < es.nbconn {
                extra[es.public] += 1;
            }
            let counts = e.datapath_counts();
            if counts.1 != held as usize || counts.2 != 0 {
                return Err(format!(
                    "edge e{k} (p{pid}): datapath_counts (conns, sessions, streams, buffers) = {counts:?} with {held} accepted connections"
                ));
            }
            want[es.public] += held as usize;
        }
        for (k, p) in r.publics.iter().enumerate() {
            let pid = dp.proxies[k];
            let e = &self.procs[pid].engine;
            let Some((rev, avail)) = e.rhttp_server_conns("app", "dev") else {
                return Err(format!("public node {k} (p{pid}) has no server app/dev"));
            };
            let (want, extra) = (want[k], extra[k]);
            if rev < want || rev > want + extra || avail != rev {
                return Err(format!(
                    "public node {k} (p{pid}, node {}) holds {rev} reversed connections, {avail} in the available list; its edges hold {want} (+{extra} pending)",
                    p.node
                ));
            }
            let counts = e.datapath_counts();
            if counts != (rev, 0, 0, 0) {
                return Err(format!(
                    "public node {k} (p{pid}): datapath_counts (conns, sessions, streams, buffers) = {counts:?} with {rev} reversed connections"
                ));
            }
        }
        let current = self.current_procs();
        if let Some(p) = self.live().find(|p| !current.contains(p)) {
            return Err(format!("old process p{p} still runs"));
        }
        Ok(())
    }

    /// The `no-edge` oracle, at the drain: a public node that no edge
    /// dials has no connection for `app/dev`, so it answers every request
    /// for the servers itself with a 503, logged `SC` (the connection
    /// failed), and no server sees any of its requests. (That it never
    /// leaves one hanging is the `hang` oracle's, and that every request
    /// it read is answered or logged the `log` oracle's.)
    pub(crate) fn rhttp_final_checks(&mut self) {
        let Some(r) = self.rhttp_spec() else {
            return;
        };
        let orphans: Vec<usize> = r
            .publics
            .iter()
            .enumerate()
            .filter(|(k, _)| !r.edges.iter().any(|e| e.public == *k))
            .map(|(_, p)| p.node)
            .collect();
        let spec = self.dp_spec();
        let dp = self.dp.as_deref().expect("dp");
        let mut fail = None;
        let mut answered = 0;
        for (c, cs) in dp.clients.iter().zip(&spec.clients) {
            if !orphans.contains(&cs.proxy) {
                continue;
            }
            let ClientProto::Http(h) = &c.proto else {
                continue;
            };
            if let Some((_, j)) = dp.http_seen.range((c.id, 0)..=(c.id, u32::MAX)).next() {
                fail = Some(format!(
                    "client{} request {j} reached a server through public node {} that no edge dials",
                    c.id, cs.proxy
                ));
                break;
            }
            for (j, resp) in h.responses.iter().enumerate() {
                let kind = h.plan.reqs.get(j).map(|q| q.kind);
                if kind != Some(super::http::Kind::Server) {
                    continue;
                }
                // A 408: `timeout http-request` cut the head short.
                if resp.status == 408 {
                    continue;
                }
                let log = c
                    .logs
                    .iter()
                    .find(|l| super::http::log_target(l) == Some((c.id, j as u32)));
                let sc = log.is_some_and(|l| l.term.starts_with("SC"));
                if resp.from_server || resp.status != 503 || !sc {
                    fail = Some(format!(
                        "client{} request {j} through public node {} that no edge dials: response {} (from a server: {}), logged {log:?}",
                        c.id, cs.proxy, resp.status, resp.from_server
                    ));
                    break;
                }
                answered += 1;
            }
            if fail.is_some() {
                break;
            }
        }
        self.stats.dp.no_edge_503 += answered;
        if let Some(d) = fail {
            self.fail("no-edge", d);
        }
    }
}

/// Column `col` of the `show stat` row `px`/`sv` in `out` (0 if absent).
pub(crate) fn stat_of(out: &str, px: &str, sv: &str, col: &str) -> u64 {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("");
    let cols: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let Some(i) = cols.iter().position(|c| *c == col) else {
        return 0;
    };
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|v| v.first() == Some(&px) && v.get(1) == Some(&sv))
        .and_then(|v| v.get(i).and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

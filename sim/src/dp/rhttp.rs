//! `reverse-http`: the `http-proxy` world with the servers behind edges
//! that dial the proxy (reverse HTTP, docs/reverse-http.md).
//!
//! ```text
//!  clients ──> node 0, the public node: frontend 127.0.0.1:8000, backend app
//!                 (server dev rhttp@), frontend priv 127.0.0.1:8443 proto h2
//!                 (tcp-request session attach-srv app/dev)
//!                      ^ H2 connections dialed by the edges, reversed
//!  edges (nodes after the client hosts), each a Sluice process:
//!      bind rhttp@pre/pub nbconn N ──> backend app ──> the servers
//! ```
//!
//! Faults on top of the servers' (which now hit the edges' links): cuts
//! between an edge and the public node, resets of every connection
//! between them (mid-handshake too), the public node down (its
//! connections reset, its `attach-srv` port refusing for a while), edge
//! restarts (a reload, or a crash right before a new process starts,
//! sometimes followed by a reset while the new one shakes hands), public
//! reloads.
//!
//! Oracles besides the `http-proxy` ones (which judge the public node as
//! they judged the proxy):
//! * `reconnects` (every check): in any 3 s window an edge process opens
//!   at most 3 + one per second (its retry delay and `timeout connect`
//!   are 1 s or more) + one per connection accepted or ended in the
//!   window;
//! * `drain`: once the faults are over and every client is done, every
//!   edge's listener holds `nbconn` accepted connections (sessions, no
//!   stream), and the public node holds exactly those, reversed: as many
//!   connections of `app/dev`, each in its available list once, and
//!   nothing else (no session, stream or buffer); old processes are gone.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::VecDeque;

use sluice_core::rng::Rng;
use sluice_core::time::Time;

use super::{DpFault, DpSpec};
use crate::dp::DpEv;
use crate::world::{Ev, PState, World};

/// The public node's `attach-srv` frontend.
pub fn priv_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 8443)
}

/// The reconnect window, in ms.
const WINDOW_MS: u64 = 3000;

/// One edge.
#[derive(Clone, Debug)]
pub struct EdgeSpec {
    pub node: usize,
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

/// The edges of a `reverse-http` run.
#[derive(Clone, Debug)]
pub struct RhttpSpec {
    pub edges: Vec<EdgeSpec>,
    /// `timeout connect` of the edges' `pre` backend: a connection not
    /// ready by then is dropped and dialed again.
    pub connect_ms: u64,
}

/// An edge process in the steady state: pid, attempts, ended connections.
pub type Snap = (usize, u64, u64);

/// Reverse-HTTP state of the world.
#[derive(Debug, Default)]
pub struct RhttpState {
    /// Connections to the public node's `attach-srv` port are refused
    /// until then.
    pub refuse_until: Time,
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

/// The public node's configuration: the drawn one with its servers
/// replaced by `server dev rhttp@` and a frontend for the edges.
fn public_config(drawn: &str) -> String {
    let mut out = String::new();
    let mut server = false;
    for l in drawn.lines() {
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
        priv_addr()
    ));
    out
}

/// An edge's configuration: the drawn `global` and `defaults` (without
/// `option forwardfor`: the public node adds the client's), a reverse
/// listener, and the drawn backend without PROXY headers (they would name
/// the public node).
fn edge_config(
    drawn: &str,
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
        priv_addr()
    )
}

/// Turns the drawn `http-proxy` spec into a `reverse-http` one with edges
/// on `edges` (nodes), and draws the faults.
pub fn spec(rng: &mut Rng, dp: &mut DpSpec, start: Time, dur: u64, edges: &[usize]) {
    let connect_ms = 1000 + rng.below(2001);
    // Few streams per connection on every edge (half the runs): requests
    // spread over every reversed connection, the newest too.
    let streams = rng.chance(1, 2).then(|| 1 + rng.below(4) as u32);
    let specs: Vec<EdgeSpec> = edges
        .iter()
        .map(|&node| {
            let per = 1 + rng.below(3) as u32;
            let binds = if rng.chance(1, 3) { 2 } else { 1 };
            let maxconn = (binds == 2).then_some(2 * per - 1);
            EdgeSpec {
                node,
                nbconn: binds * per,
                maxconn,
                config: edge_config(&dp.config, per, binds, maxconn, streams, connect_ms),
            }
        })
        .collect();
    dp.config = public_config(&dp.config);
    for s in &mut dp.servers {
        s.send_proxy = None;
    }
    let end = start.add_ms(dur);
    let mut worst = 0;
    let mut faults = Vec::new();
    // Most runs take the public node down once: every edge dials against
    // a refusing port.
    if !rng.chance(1, 8) {
        let at = start.add_ms(rng.below(dur * 3 / 4));
        let ms = (1000 + rng.below(4000)).min((end - at).max(200));
        faults.push((at, DpFault::PublicDown { ms }));
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
            _ => DpFault::PublicReload,
        };
        faults.push((at, f));
    }
    dp.faults.extend(faults);
    dp.faults.sort_by_key(|(t, _)| *t);
    dp.hang_ms += worst;
    dp.rhttp = Some(RhttpSpec {
        edges: specs,
        connect_ms,
    });
}

impl World {
    fn rhttp_spec(&self) -> Option<&RhttpSpec> {
        self.dp_spec().rhttp.as_ref()
    }

    /// Starts the edges (after the public node).
    pub(crate) fn rhttp_start(&mut self) {
        let Some(r) = self.rhttp_spec().cloned() else {
            return;
        };
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
        self.dp
            .as_deref()
            .is_some_and(|d| d.rh.refuse_until > self.now && dst == priv_addr())
    }

    /// The public node's end of connection `cid` to its `attach-srv` port
    /// is gone (reset, closed by either side): if it was a reversed
    /// connection, the requests in flight on it failed without a byte of
    /// response, and a request that was not the first of its client
    /// connection is then dropped without an answer nor a log line
    /// (HAProxy's `abort_keep_alive`, as with a server closing a keep-alive
    /// connection). Which client's requests it carried is H2 (HPACK) on
    /// the wire: every client's request in flight is excused.
    pub(crate) fn dp_reversed_gone(&mut self, cid: u64) {
        if self.dp.is_none() || self.dp_spec().rhttp.is_none() {
            return;
        }
        let Some(c) = self.conns.get(&cid).filter(|c| c.dst == priv_addr()) else {
            return;
        };
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
        for c in &mut self.dpw().clients {
            if let super::ClientProto::Http(h) = &mut c.proto {
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
                self.cut(0, r.edges[edge].node, start);
                if start {
                    self.schedule(now.add_ms(ms), Ev::Dp(DpEv::FaultEnd(i)));
                }
            }
            DpFault::EdgeFlap { edge } => self.flap(0, r.edges[edge].node),
            DpFault::PublicDown { ms } if start => {
                self.dpw().rh.refuse_until = now.add_ms(ms);
                for e in &r.edges {
                    self.flap(0, e.node);
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
            DpFault::PublicReload => {
                self.stats.dp.public_reloads += 1;
                let old = self.nodes[0].current;
                self.reload(0);
                let new = self.nodes[0].current;
                if new != old {
                    let dp = self.dpw();
                    dp.proxy = new;
                    // `show stat` is the new process's.
                    dp.accepted = 0;
                }
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
        // The public node's available list holds its reversed connections,
        // each once.
        for p in self
            .live()
            .filter(|&p| self.procs[p].node == 0)
            .collect::<Vec<_>>()
        {
            let conns = self.procs[p].engine.rhttp_server_conns("app", "dev");
            if let Some((rev, avail)) = conns.filter(|(r, a)| a > r) {
                let d = format!("p{p}: {avail} entries in app/dev's available list for {rev} reversed connections");
                return self.fail("bounded", d);
            }
        }
        let pids: Vec<usize> = self.live().filter(|&p| self.procs[p].node != 0).collect();
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

    /// The current processes (public node first, then each edge's).
    fn current_procs(&self) -> Vec<usize> {
        let r = self.rhttp_spec().expect("reverse-http");
        core::iter::once(0)
            .chain(r.edges.iter().map(|e| e.node))
            .map(|n| self.nodes[n].current)
            .collect()
    }

    /// The `steady` oracle: 5 s after the traffic phase (every fault is
    /// healed by then) and 2 s after the last old process exited, an edge
    /// that can hold its `nbconn` dials only to replace a connection that
    /// ended (its idle timeout, as HAProxy's: `timeout http-keep-alive`,
    /// `http-request` or `client`): no attempt fails any more.
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
                (pid, self.procs[pid].engine.rhttp_attempts(), ended)
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
            .find(|((p0, a0, e0), (p1, a1, e1))| p0 == p1 && a1 - a0 > e1 - e0)
            .map(|((p, a0, e0), (_, a1, e1))| (*p, a1 - a0, e1 - e0));
        if let Some((p, dialed, ended)) = grew {
            let d = format!(
                "edge p{p} dialed {dialed} connections since the steady state began at +{} ms, {ended} ended",
                t0 - self.spec.start
            );
            self.fail("steady", d);
        }
    }

    /// Whether the edges and the public node hold what they should once
    /// the faults are over and every client is done.
    pub(crate) fn rhttp_drained(&self) -> Result<(), String> {
        let r = self.rhttp_spec().expect("reverse-http");
        let dp = self.dp.as_deref().expect("dp");
        match dp.rh.steady {
            Some((t0, _)) if self.now - t0 >= 6000 => {}
            _ => return Err("not 6 s in the steady state yet".into()),
        }
        let mut want = 0;
        // An edge that cannot accept its `nbconn` has one more connection
        // that the public node may have reversed already.
        let mut extra = 0;
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
                extra += 1;
            }
            let counts = e.datapath_counts();
            if counts.1 != held as usize || counts.2 != 0 {
                return Err(format!(
                    "edge e{k} (p{pid}): datapath_counts (conns, sessions, streams, buffers) = {counts:?} with {held} accepted connections"
                ));
            }
            want += held as usize;
        }
        let e = &self.procs[dp.proxy].engine;
        let Some((rev, avail)) = e.rhttp_server_conns("app", "dev") else {
            return Err("the public node has no server app/dev".into());
        };
        if rev < want || rev > want + extra || avail != rev {
            return Err(format!(
                "the public node (p{}) holds {rev} reversed connections, {avail} in the available list; the edges hold {want} (+{extra} pending)",
                dp.proxy
            ));
        }
        let counts = e.datapath_counts();
        if counts != (rev, 0, 0, 0) {
            return Err(format!(
                "the public node (p{}): datapath_counts (conns, sessions, streams, buffers) = {counts:?} with {rev} reversed connections",
                dp.proxy
            ));
        }
        let current = self.current_procs();
        if let Some(p) = self.live().find(|p| !current.contains(p)) {
            return Err(format!("old process p{p} still runs"));
        }
        Ok(())
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

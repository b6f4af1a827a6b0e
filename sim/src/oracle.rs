//! Oracles: what must hold during and after every run.
//!
//! | oracle | bound | why |
//! |---|---|---|
//! | `busy-loop` | `next_timeout() > now` after every engine call; at most [`max_wakeups_per_s`] timer wake-ups per process per simulated second | a timer armed at or before `now` spins; HAProxy's timers are seconds apart |
//! | `stuck` | a pair neither established nor (re)connecting nor in backoff for more than [`STUCK_MS`] | every state but those has its own timeout under 5 s |
//! | `reconnects` | at most [`MAX_RECONNECTS_PER_MIN`] outgoing attempts per pair in any 60 s | attempts are 5 s apart (§11), faster only after a collision or a kill, with 50..2049 ms of random backoff |
//! | `bounded` | sessions, sockets, output per session, table sizes (see [`check_bounds`](World::check_bounds)) | every queue is bounded |
//! | `dup-push` | `dup_push == 0` on every honest pair | an acknowledged update is never pushed again |
//! | `stop` | a soft-stopped process exits within [`STOP_MS`] | 5 s teach deadline plus a flush |
//! | `converge` | within `CONVERGE_MS` after the faults stop: every pair established, every push acknowledged, same keys and values everywhere, frequency counters per [`freq_matches`] | see `scenario::CONVERGE_MS` |
//! | `panic` | none, in the engine or the simulator | peer input never panics |

use std::collections::VecDeque;

use core::fmt;

use sluice_core::freq_ctr::FreqCtr;
use sluice_core::inspect::LinkState;
use sluice_core::peers::section::TX_HIGH_WATER;
use sluice_core::stick_table::{StData, StKey, StickTable};
use sluice_core::time::{Tick, Time};

use crate::config;
use crate::world::{PState, World};

/// Timer wake-ups allowed per process per simulated second, for meshes of
/// up to 5 nodes (observed peak over 1,200 seeds: 6); see
/// [`max_wakeups_per_s`].
pub const MAX_WAKEUPS_PER_S: u32 = 50;

/// Timer wake-ups allowed per second to the proxy of the data-path
/// scenarios: every stream, health check and idle connection has its own
/// timers, so hundreds of streams timing out in one second are legitimate;
/// a timer re-armed 1 ms ahead over and over gives 1000.
pub const DP_MAX_WAKEUPS_PER_S: u32 = 250;

/// The wake-up bound for a mesh of `nodes`: each peer adds a few timers.
pub fn max_wakeups_per_s(nodes: usize) -> u32 {
    MAX_WAKEUPS_PER_S.max(10 * nodes as u32)
}
/// A pair may be in no good state this long.
pub const STUCK_MS: u64 = 12_000;
/// Outgoing attempts allowed per pair in any 60 simulated seconds.
pub const MAX_RECONNECTS_PER_MIN: usize = 40;
/// A soft-stopped process must exit within this.
pub const STOP_MS: u64 = 8_000;
/// How often convergence is checked during the quiet phase.
const CONVERGE_CHECK_MS: u64 = 250;

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub oracle: &'static str,
    /// Simulated ms since the start of the run.
    pub at_ms: u64,
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] at +{} ms: {}",
            self.oracle, self.at_ms, self.detail
        )
    }
}

/// Per-process oracle state.
#[derive(Debug, Default)]
pub struct ProcWatch {
    /// (second, wake-ups in it).
    wake: (u64, u32),
    /// Per peer of the section: last instant the link was fine.
    last_ok: Vec<Option<Time>>,
    /// Per peer: instants of outgoing attempts in the last minute.
    attempts: Vec<VecDeque<Time>>,
    new_conn: Vec<u32>,
}

#[derive(Debug, Default)]
pub struct OracleState {
    procs: Vec<ProcWatch>,
    next_converge_check: Option<Time>,
    pub last_reason: String,
}

impl OracleState {
    pub fn add_proc(&mut self) {
        self.procs.push(ProcWatch::default());
    }
}

/// Whether a learned frequency counter agrees with its owner's, read at
/// `now`: the same counts, and a window that starts no earlier than the
/// owner's (a receiver places it `age` ms before the arrival, so it lags by
/// the transfer delay) and not in the future. The read rates then differ by
/// at most `prev_ctr * lag / period`, a lag that a slow pipe can make
/// arbitrarily long, which is why the raw counter is compared rather than a
/// rate with a fixed tolerance. Counters that never counted (all zero) read
/// 0 whatever their start.
pub fn freq_matches(now: Tick, owner: &FreqCtr, copy: &FreqCtr) -> Result<(), &'static str> {
    if owner.curr_ctr != copy.curr_ctr || owner.prev_ctr != copy.prev_ctr {
        return Err("counts differ");
    }
    if owner.curr_ctr == 0 && owner.prev_ctr == 0 {
        return Ok(());
    }
    if copy.curr_tick.is_before(owner.curr_tick) {
        return Err("the copy's window starts before the owner's");
    }
    if now.is_before(copy.curr_tick) {
        return Err("the copy's window starts in the future");
    }
    Ok(())
}

impl World {
    pub(crate) fn oracle_wakeup(&mut self, pid: usize) {
        let sec = self.now.as_ms() / 1000;
        let w = &mut self.oracle.procs[pid].wake;
        if w.0 != sec {
            *w = (sec, 0);
        }
        w.1 += 1;
        self.stats.peak_wakeups_per_s = self.stats.peak_wakeups_per_s.max(w.1);
        let max = if self.dp.is_some() {
            DP_MAX_WAKEUPS_PER_S
        } else {
            max_wakeups_per_s(self.spec.nodes + 1)
        };
        if w.1 > max {
            let d = format!("p{pid}: more than {max} timer wake-ups in one simulated second");
            self.fail("busy-loop", d);
        }
    }

    /// The periodic checks.
    pub(crate) fn check(&mut self) {
        self.note_learning();
        let pids: Vec<usize> = self.live().collect();
        for pid in pids {
            self.check_bounds(pid);
            self.check_dup_push(pid);
            match self.procs[pid].state {
                PState::Running => {
                    self.check_links(pid);
                }
                PState::Stopping(since) => {
                    if self.now - since > STOP_MS {
                        let d = format!(
                            "p{pid} soft-stopped {} ms ago and still runs",
                            self.now - since
                        );
                        self.fail("stop", d);
                    }
                }
                PState::Exited => {}
            }
        }
        if self.quiet() {
            let refreshed = self.refresh_when_synced();
            let due = self
                .oracle
                .next_converge_check
                .is_none_or(|t| t <= self.now);
            if due && !refreshed {
                self.oracle.last_reason = "a node is not fully synced yet".into();
            } else if due {
                self.oracle.next_converge_check = Some(self.now.add_ms(CONVERGE_CHECK_MS));
                match self.converged() {
                    Ok(()) => {
                        self.stats.converge_ms = Some(self.now - self.spec.fault_end);
                        self.trace.line(format_args!(
                            "{} converged after +{} ms",
                            self.now.as_ms(),
                            self.now - self.spec.fault_end
                        ));
                        self.done = true;
                    }
                    Err(why) => self.oracle.last_reason = why,
                }
            }
        }
    }

    pub(crate) fn fail_convergence_timeout(&mut self) {
        let why = core::mem::take(&mut self.oracle.last_reason);
        let d = format!(
            "not converged {} ms after the faults stopped: {why}",
            self.spec.converge_ms
        );
        self.fail("converge", d);
    }

    /// Whether `peer` of the section is an honest node.
    fn honest_peer(&self, name: &str) -> Option<usize> {
        honest_index(self.spec.nodes, name)
    }

    fn check_bounds(&mut self, pid: usize) {
        let e = &self.procs[pid].engine;
        let mut bad = None;
        for s in e.peers_sections() {
            let peers = s.peers.len();
            // One outgoing and a few incoming per peer, at worst.
            if s.sessions.len() > 4 * peers {
                bad = Some(format!("{} sessions for {peers} peers", s.sessions.len()));
            }
            for (_, sess) in s.sessions.iter() {
                let pending = sess.tx_pending().len();
                if pending > TX_HIGH_WATER + 2 * s.max_body_len + 64 {
                    bad = Some(format!("{pending} bytes of output pending in one session"));
                }
            }
        }
        if e.sock_count() > 8 * (self.spec.nodes + 2) {
            bad = Some(format!("{} live sockets", e.sock_count()));
        }
        for t in e.tables() {
            if t.len() > t.params().size {
                bad = Some(format!("table {} holds {} > size", t.params().id, t.len()));
            }
        }
        if self.conns.len() > 64 * (self.spec.nodes + 2) * (self.spec.nodes + 2) {
            bad = Some(format!("{} connections in the network", self.conns.len()));
        }
        if let Some(b) = bad {
            self.fail("bounded", format!("p{pid}: {b}"));
        }
    }

    fn check_dup_push(&mut self, pid: usize) {
        let e = &self.procs[pid].engine;
        for s in e.peers_sections() {
            for p in &s.peers {
                if p.dup_push != 0 && self.honest_peer(&p.name).is_some() {
                    let d = format!(
                        "p{pid} pushed {} acknowledged updates again to {}",
                        p.dup_push, p.name
                    );
                    return self.fail("dup-push", d);
                }
            }
        }
    }

    /// Stuck links and reconnect rate, for a running process.
    fn check_links(&mut self, pid: usize) {
        let now = self.now;
        let e = &self.procs[pid].engine;
        let sect = &e.peers_sections()[0];
        let n = sect.peers.len();
        let mut fails = Vec::new();
        let mut peak = 0;
        let w = &mut self.oracle.procs[pid];
        if w.last_ok.len() != n {
            w.last_ok = vec![None; n];
            w.attempts = vec![VecDeque::new(); n];
            w.new_conn = vec![0; n];
        }
        for (i, peer) in sect.peers.iter().enumerate() {
            if peer.local || honest_index(self.spec.nodes, &peer.name).is_none() {
                continue;
            }
            let st = e.link_state(now, 0, i);
            let ok = matches!(
                st,
                LinkState::Established | LinkState::Connecting | LinkState::Backoff(_)
            );
            let last = w.last_ok[i].get_or_insert(now);
            if ok {
                *last = now;
            } else if now - *last > STUCK_MS {
                fails.push((
                    "stuck",
                    format!(
                        "p{pid} -> {}: {st:?} for {} ms (flags {:?}, status {})",
                        peer.name,
                        now - *last,
                        peer.flags,
                        peer.status.0
                    ),
                ));
            }
            let grew = peer.new_conn.saturating_sub(w.new_conn[i]);
            w.new_conn[i] = peer.new_conn;
            let q = &mut w.attempts[i];
            for _ in 0..grew {
                q.push_back(now);
            }
            while q.front().is_some_and(|&t| now - t > 60_000) {
                q.pop_front();
            }
            peak = peak.max(q.len());
            if q.len() > MAX_RECONNECTS_PER_MIN {
                fails.push((
                    "reconnects",
                    format!(
                        "p{pid} -> {}: {} outgoing attempts in the last 60 s",
                        peer.name,
                        q.len()
                    ),
                ));
            }
        }
        self.stats.peak_attempts_per_min = self.stats.peak_attempts_per_min.max(peak);
        for (o, d) in fails {
            self.fail(o, d);
        }
    }

    /// The convergence condition; `Err` says what is still missing.
    fn converged(&self) -> Result<(), String> {
        let now = self.now;
        for pid in self.live() {
            let p = &self.procs[pid];
            if p.state != PState::Running {
                return Err(format!("p{pid} still stopping"));
            }
            let e = &p.engine;
            let sect = &e.peers_sections()[0];
            for (i, peer) in sect.peers.iter().enumerate() {
                if peer.local || honest_index(self.spec.nodes, &peer.name).is_none() {
                    continue;
                }
                let st = e.link_state(now, 0, i);
                if st != LinkState::Established {
                    return Err(format!("p{pid} -> {} is {st:?}", peer.name));
                }
                for sh in &peer.tables {
                    let t = &e.tables()[sh.table];
                    if sh.update != t.localupdate() || sh.last_pushed != t.localupdate() {
                        return Err(format!(
                            "p{pid} -> {} table {}: pushed {} acked {} of localupdate {}",
                            peer.name,
                            t.params().id,
                            sh.last_pushed,
                            sh.update,
                            t.localupdate()
                        ));
                    }
                }
            }
        }
        for t in 0..config::TABLES.len() {
            self.converged_table(t)?;
        }
        Ok(())
    }

    /// Whether a key nobody wrote may be in a table: with an adversary in
    /// the mesh, any (a misaligned parse of its bytes can yield any key).
    fn is_adversarial(&self, key: &StKey) -> bool {
        let _ = key;
        self.spec.adversary
    }

    /// Table `t`: every node has every written key, with the owner's values.
    fn converged_table(&self, t: usize) -> Result<(), String> {
        let now = self.now;
        for node in 0..self.spec.nodes {
            let tb = self.table_of(node, t);
            for (k, _) in tb.iter() {
                if !self.written[t].contains_key(k) && !self.is_adversarial(k) {
                    return Err(format!(
                        "n{}: key {k} of {} was never written by anyone",
                        node + 1,
                        tb.params().id
                    ));
                }
            }
        }
        for (k, &(owner, _)) in &self.written[t] {
            let src = self.table_of(owner, t);
            let Some(sid) = src.lookup(k) else {
                // The owner lost it (a reload dropped an unpushed write):
                // nobody must have a different copy then.
                continue;
            };
            for node in (0..self.spec.nodes).filter(|&n| n != owner) {
                let dst = self.table_of(node, t);
                let Some(did) = dst.lookup(k) else {
                    return Err(format!(
                        "key {k} of {} missing on n{}",
                        src.params().id,
                        node + 1
                    ));
                };
                same_entry(now, src, sid, dst, did).map_err(|d| {
                    format!(
                        "key {k} of {} on n{} vs owner n{}: {d} [owner: {}] [copy: {}]",
                        src.params().id,
                        node + 1,
                        owner + 1,
                        src.dump_entry(now, sid).unwrap_or_default(),
                        dst.dump_entry(now, did).unwrap_or_default()
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// The honest node named `name` (`n1`..`nN`) in an `nodes`-node mesh.
fn honest_index(nodes: usize, name: &str) -> Option<usize> {
    let i: usize = name.strip_prefix('n')?.parse().ok()?;
    (1..=nodes).contains(&i).then(|| i - 1)
}

/// Compares two entries of the same table layout.
fn same_entry(
    now: Time,
    a: &StickTable,
    ia: sluice_core::stick_table::EntryId,
    b: &StickTable,
    ib: sluice_core::stick_table::EntryId,
) -> Result<(), String> {
    for (dt, slot) in a.layout().iter() {
        if dt.info().is_some_and(|i| i.local_only) {
            continue;
        }
        for idx in 0..slot.len {
            let (Ok(va), Ok(vb)) = (a.get(ia, dt, idx), b.get(ib, dt, idx)) else {
                return Err(format!("type {} missing", dt.0));
            };
            match (va, vb) {
                (StData::Freq(fa), StData::Freq(fb)) => {
                    if let Err(why) = freq_matches(now.tick(), fa, fb) {
                        let ra = a.read_value(now, ia, dt, idx).unwrap_or(-1);
                        let rb = b.read_value(now, ib, dt, idx).unwrap_or(-1);
                        return Err(format!(
                            "{}[{idx}]: {why}: rate {rb} vs {ra} (owner {fa:?}, copy {fb:?}, now {:?})",
                            dt.info().map_or("?", |i| i.name),
                            now.tick()
                        ));
                    }
                }
                (x, y) if x != y => {
                    return Err(format!(
                        "{}[{idx}] {y:?} vs owner {x:?}",
                        dt.info().map_or("?", |i| i.name)
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

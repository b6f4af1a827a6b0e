//! The world: a simulated clock, an event queue, the network, the Sluice
//! processes and their drivers, the writers and the fault schedule.
//!
//! The driver of each process follows `io-mio`'s contract: interest comes
//! from `Action::Interest`, readiness from the simulated network; every
//! engine input is followed by draining `poll_action`, then by reading
//! `next_timeout` (which must lie strictly after `now`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use core::fmt;
use core::net::{Ipv4Addr, SocketAddr};

use sluice_core::cfgparse::Config;
use sluice_core::engine::{Engine, EngineOptions, StopMode};
use sluice_core::rng::Rng;
use sluice_core::sock::{Action, CloseHow, ListenAddr, ListenerId, SockError, SockId};
use sluice_core::stick_table::{DataType, StKey, StickTable};
use sluice_core::time::Time;

use crate::adversary::Adversary;
use crate::config;
use crate::net::{Conn, End, Owner, SegKind, Segment, SynState};
use crate::oracle::{Failure, OracleState};
use crate::scenario::{Fault, Spec};
use crate::trace::Trace;

/// Period of the oracle checks, in simulated ms.
pub const CHECK_MS: u64 = 200;

/// What happens at an instant.
#[derive(Clone, Debug)]
pub(crate) enum Ev {
    /// A process's engine timer (stale when the process re-armed since).
    Timer { pid: usize, at: Time },
    /// A SYN reaches the acceptor's host.
    Syn { cid: u64 },
    /// The connector learns its connection is open.
    Connected { cid: u64 },
    /// The connector learns its connection failed.
    ConnFail { cid: u64, err: SockError },
    /// Segments reach end `to`.
    Arrive { cid: u64, to: usize },
    /// The peer of end `end` read: `end` may write again.
    Window { cid: u64, end: usize },
    /// A slow reader may read again on end `end`.
    ReadWake { cid: u64, end: usize },
    /// The writer of a node acts.
    Writer { node: usize },
    /// Fault number `i` of the schedule starts.
    Fault(usize),
    /// A fault ends (heal, speed back...).
    FaultEnd(usize),
    /// A reloaded process's old process gets its soft stop.
    StopOld { pid: usize },
    /// The adversary acts.
    Adversary,
    /// Periodic oracle checks.
    Check,
    /// An event of the data-path scenarios (clients, servers, their faults).
    Dp(crate::dp::DpEv),
}

/// An event in the queue: earliest first, then in scheduling order, so two
/// events at one instant run in a deterministic order.
#[derive(Debug)]
pub(crate) struct Queued {
    at: Time,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Queued {
    /// Reversed: `BinaryHeap` pops the greatest.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// Where a process stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PState {
    Running,
    Stopping(Time),
    Exited,
}

/// One Sluice process and its simulated driver.
#[derive(Debug)]
pub struct Proc {
    pub node: usize,
    /// 0 for the first process of a node, then one more per reload.
    pub gen: u32,
    pub engine: Engine,
    pub socks: BTreeMap<SockId, (u64, usize)>,
    pub timer: Option<Time>,
    pub state: PState,
    pub started: Time,
}

/// A listening socket in the simulated network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListenOwner {
    Proc(usize, ListenerId),
    Adv,
    /// A simulated server of the data-path scenarios.
    Server(usize),
}

/// Connections a paused listener's kernel queue holds at most
/// (`net.core.somaxconn`-like); one more SYN is refused, as with
/// `tcp_abort_on_overflow`.
pub const BACKLOG: usize = 64;

#[derive(Debug)]
pub(crate) struct NodeState {
    /// The newest process of the node (the writer's target).
    pub current: usize,
    pub slow: Option<(usize, u64)>,
    pub refuse_until: Time,
    pub reloaded: bool,
}

/// Counters a run reports.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub events: u64,
    pub engine_calls: u64,
    pub wakeups: u64,
    pub connects: u64,
    pub bytes: u64,
    pub writes: u64,
    pub faults: u64,
    pub reloads: u64,
    pub collisions: u64,
    pub proto_errors: u64,
    pub adversary_msgs: u64,
    /// Times a writer found its pipe full (backpressure).
    pub stalls: u64,
    /// Simulated ms from the end of faults to convergence.
    pub converge_ms: Option<u64>,
    /// Highest timer wake-ups of one process in one simulated second.
    pub peak_wakeups_per_s: u32,
    /// Highest outgoing attempts of one pair in 60 simulated seconds.
    pub peak_attempts_per_min: usize,
    /// Data path: listener pauses (`maxconn` reached).
    pub pauses: u64,
    /// Data path: most connections waiting in a paused listener's queue.
    pub backlog_peak: usize,
    /// Data path: directions handed over to splicing, and bytes spliced.
    pub splices: u64,
    pub spliced_bytes: u64,
    /// Data path: the traffic the simulated clients and servers saw.
    pub dp: crate::dp::DpStats,
}

/// The world of one run.
pub struct World {
    pub(crate) now: Time,
    pub(crate) rng: Rng,
    pub(crate) spec: Spec,
    pub(crate) configs: Vec<Config>,
    seq: u64,
    queue: BinaryHeap<Queued>,
    pub(crate) procs: Vec<Proc>,
    pub(crate) nodes: Vec<NodeState>,
    pub(crate) conns: BTreeMap<u64, Conn>,
    next_cid: u64,
    next_port: u16,
    pub(crate) listeners: Vec<(SocketAddr, ListenOwner)>,
    /// Active cuts per pair of nodes (partitions overlap).
    cuts: BTreeMap<(usize, usize), u32>,
    /// Extra latency per pair.
    extra_lat: BTreeMap<(usize, usize), u64>,
    /// Sockets to service once the current event is handled.
    work: VecDeque<(usize, SockId)>,
    pub(crate) trace: Trace,
    pub(crate) stats: Stats,
    pub(crate) failure: Option<Failure>,
    pub(crate) oracle: OracleState,
    /// Keys written by honest writers, per table: their owner node and the
    /// time of the last write.
    pub(crate) written: Vec<BTreeMap<StKey, (usize, Time)>>,
    /// The last instant some process was seen still learning (not fully
    /// synced): a lesson that ends later may undo writes made before.
    pub(crate) learning_until: Time,
    pub(crate) adversary: Option<Adversary>,
    pub(crate) table_names: Vec<String>,
    #[cfg(feature = "mutants")]
    pub(crate) mutant: Option<sluice_core::mutants::Mutant>,
    /// The run ends here at the latest.
    pub(crate) deadline: Time,
    pub(crate) done: bool,
    /// The quiet-phase refresh is done.
    pub(crate) refreshed: bool,
    /// The data-path scenarios' clients, servers and oracles.
    pub(crate) dp: Option<Box<crate::dp::Dp>>,
    /// Listeners a process paused (`Action::Pause`).
    pub(crate) paused: BTreeSet<(usize, ListenerId)>,
    /// Connections the kernel completed on a paused listener, waiting to
    /// be accepted, in order.
    pub(crate) backlog: BTreeMap<(usize, ListenerId), VecDeque<u64>>,
    /// Spliced directions (`Action::Splice`): per process, `from -> to`.
    pub(crate) splices: BTreeMap<(usize, SockId), SockId>,
    /// The reverse: `to -> from`, so that room on `to` wakes `from`.
    pub(crate) splice_into: BTreeMap<(usize, SockId), SockId>,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now)
            .field("procs", &self.procs.len())
            .finish()
    }
}

/// Key `j` of `node` in table `table` (`TABLES` order): each node writes
/// only its own keys, so the last write of a key is its owner's.
fn key_for(table: usize, node: usize, j: u32, key_size: usize) -> StKey {
    match table {
        0 => StKey::ipv4(Ipv4Addr::new(10, node as u8, (j >> 8) as u8, j as u8)),
        1 => StKey::integer(1_000_000 + node as u32 * 100_000 + j),
        2 => StKey::string(key_size, format!("n{node}-k{j}").as_bytes()),
        _ => {
            let mut b = [0u8; 16];
            b[0] = 0xB0;
            b[1] = node as u8;
            b[2..6].copy_from_slice(&j.to_be_bytes());
            StKey::binary(key_size, &b)
        }
    }
}

impl World {
    /// A world for `spec`, whose PRNG is `rng` (already used to make `spec`).
    pub fn new(spec: Spec, rng: Rng, keep_trace: bool) -> Result<World, String> {
        let n = spec.nodes;
        let mut configs = Vec::new();
        if let Some(d) = &spec.dp {
            // One Sluice process (node 0) runs the proxy configuration,
            // and in `reverse-http` each other public node and each edge
            // node its own.
            configs.push(config::parse(&d.config, &config::node_name(0))?);
            if let Some(r) = &d.rhttp {
                configs.resize(n, sluice_core::cfgparse::Config::default());
                for p in r.publics.iter().skip(1) {
                    configs[p.node] = config::parse(&p.config, &config::node_name(p.node))?;
                }
                for e in &r.edges {
                    configs[e.node] = config::parse(&e.config, &config::node_name(e.node))?;
                }
            }
        } else {
            let cfg_text = config::mesh_config(n, spec.adversary, spec.max_updates);
            for i in 0..n {
                configs.push(config::parse(&cfg_text, &config::node_name(i))?);
            }
        }
        let now = spec.start;
        let w = World {
            now,
            rng,
            deadline: spec.fault_end.add_ms(spec.converge_ms + 1000),
            spec,
            configs,
            seq: 0,
            queue: BinaryHeap::new(),
            procs: Vec::new(),
            nodes: Vec::new(),
            conns: BTreeMap::new(),
            next_cid: 1,
            next_port: 20000,
            listeners: Vec::new(),
            cuts: BTreeMap::new(),
            extra_lat: BTreeMap::new(),
            work: VecDeque::new(),
            trace: Trace::new(keep_trace),
            stats: Stats::default(),
            failure: None,
            oracle: OracleState::default(),
            written: vec![BTreeMap::new(); config::TABLES.len()],
            learning_until: Time::ZERO,
            adversary: None,
            table_names: config::TABLES
                .iter()
                .map(|t| format!("{}/{}", config::SECTION, t))
                .collect(),
            #[cfg(feature = "mutants")]
            mutant: None,
            done: false,
            refreshed: false,
            dp: None,
            paused: BTreeSet::new(),
            backlog: BTreeMap::new(),
            splices: BTreeMap::new(),
            splice_into: BTreeMap::new(),
        };
        Ok(w.init_trace())
    }

    fn init_trace(mut self) -> World {
        let s = &self.spec;
        let line = format!(
            "spec {} nodes={} adversary={} start={} fault_end=+{} faults={} max_updates={} keys={} caps={}..{}",
            s.scenario,
            s.nodes,
            s.adversary,
            s.start.as_ms(),
            s.fault_end - s.start,
            s.faults.len(),
            s.max_updates,
            s.keys_per_table,
            s.cap_min,
            s.cap_max
        );
        self.trace.line(format_args!("{line}"));
        self
    }

    /// Switches a historic bug on in every engine (before [`World::start`]).
    #[cfg(feature = "mutants")]
    pub fn set_mutant(&mut self, m: Option<sluice_core::mutants::Mutant>) {
        self.mutant = m;
    }

    /// Starts the processes and schedules the writers, faults and checks.
    pub fn start(&mut self) {
        if self.spec.dp.is_some() {
            return self.dp_start();
        }
        for node in 0..self.spec.nodes {
            self.nodes.push(NodeState {
                current: usize::MAX,
                slow: None,
                refuse_until: Time::ZERO,
                reloaded: false,
            });
            let pid = self.spawn(node, false);
            self.nodes[node].current = pid;
        }
        for node in 0..self.spec.nodes {
            let at = self
                .now
                .add_ms(1 + self.rng.below(self.spec.write_every_ms[node]));
            self.schedule(at, Ev::Writer { node });
        }
        for i in 0..self.spec.faults.len() {
            self.schedule(self.spec.faults[i].0, Ev::Fault(i));
        }
        if self.spec.adversary {
            self.adversary = Some(Adversary::new(
                self.rng.fork(),
                self.spec.nodes,
                &self.configs[0],
            ));
            self.listeners
                .push((config::node_addr(self.spec.nodes), ListenOwner::Adv));
            let at = self.now.add_ms(100);
            self.schedule(at, Ev::Adversary);
        }
        self.schedule(self.now.add_ms(CHECK_MS), Ev::Check);
    }

    /// Runs until the run ends (converged, failed or out of time).
    pub fn run(&mut self) {
        while !self.done && self.failure.is_none() {
            let Some(Queued { at: t, ev, .. }) = self.queue.pop() else {
                break;
            };
            if t > self.deadline {
                break;
            }
            self.now = t;
            self.stats.events += 1;
            self.handle(ev);
            self.flush_work();
        }
        if self.failure.is_none() && !self.done {
            if self.dp.is_some() {
                self.dp_fail_drain();
            } else {
                self.fail_convergence_timeout();
            }
        }
        self.stats.dp.rhttp_attempts = self.procs.iter().map(|p| p.engine.rhttp_attempts()).sum();
        for p in &self.procs {
            for sect in p.engine.peers_sections() {
                for peer in &sect.peers {
                    self.stats.collisions += u64::from(peer.coll);
                    self.stats.proto_errors += u64::from(peer.proto_err);
                }
            }
        }
    }

    pub(crate) fn schedule(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            ev,
        });
    }

    pub(crate) fn fail(&mut self, oracle: &'static str, detail: String) {
        if self.failure.is_none() {
            self.trace
                .line(format_args!("{} FAIL {oracle}: {detail}", self.now.as_ms()));
            self.failure = Some(Failure {
                oracle,
                at_ms: self.now - self.spec.start,
                detail,
            });
        }
    }

    pub(crate) fn quiet(&self) -> bool {
        self.now >= self.spec.fault_end
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Timer { pid, at } => self.on_timer(pid, at),
            Ev::Syn { cid } => self.on_syn(cid),
            Ev::Connected { cid } => self.on_connected(cid),
            Ev::ConnFail { cid, err } => self.on_connfail(cid, err),
            Ev::Arrive { cid, to } => self.on_arrive(cid, to),
            Ev::Window { cid, end } => self.on_window(cid, end),
            Ev::ReadWake { cid, end } => {
                if let Some(c) = self.conns.get_mut(&cid) {
                    c.ends[end].read_wake_pending = false;
                    self.wake_end(cid, end);
                }
            }
            Ev::Writer { node } => self.on_writer(node),
            Ev::Fault(i) => self.on_fault(i),
            Ev::FaultEnd(i) => self.on_fault_end(i),
            Ev::StopOld { pid } => self.stop_old(pid),
            Ev::Adversary => self.adversary_tick(),
            Ev::Check => {
                if self.dp.is_some() {
                    self.dp_check();
                } else {
                    self.check();
                }
                if !self.done {
                    self.schedule(self.now.add_ms(CHECK_MS), Ev::Check);
                }
            }
            Ev::Dp(ev) => self.dp_event(ev),
        }
    }

    // ------------------------------------------------------------------
    // Processes and their drivers

    pub(crate) fn spawn(&mut self, node: usize, has_old_process: bool) -> usize {
        let pid = self.procs.len();
        let opts = EngineOptions {
            seed: self.rng.next_u64(),
            hostname: config::node_name(node),
            local_peer: config::node_name(node),
            has_old_process,
            pid: 1000 + pid as u32,
            epoch_ms: 1_795_000_000_000,
            // The peers scenarios have no data path to splice.
            splice: self.spec.dp.as_ref().is_some_and(|d| d.splice),
            // `tls-proxy`: the seeded provider and the certificates made
            // from the seed (`crate::tls`, `dp::tlsw`).
            tls: self.dp.as_deref().and_then(|d| d.tls_env.clone()),
            // One engine per process: several per process (threads) are
            // issue 13's next step.
            thread: 0,
            nbthread: 1,
            // The scenarios' configurations name no pattern file.
            pattern_files: None,
            #[cfg(feature = "mutants")]
            mutant: self.mutant,
        };
        let resolve = |_: &str, _: u16| None;
        let engine = Engine::from_config(self.now, &self.configs[node], opts, &resolve)
            .expect("the mesh configuration starts");
        self.trace.line(format_args!(
            "{} spawn p{pid} node={} old={has_old_process}",
            self.now.as_ms(),
            config::node_name(node)
        ));
        self.procs.push(Proc {
            node,
            gen: self.procs.iter().filter(|p| p.node == node).count() as u32,
            engine,
            socks: BTreeMap::new(),
            timer: None,
            state: PState::Running,
            started: self.now,
        });
        self.oracle.add_proc();
        self.after_call(pid);
        pid
    }

    /// After every engine call: the no-busy-loop oracle, the engine's own
    /// invariants, then the actions and the timer.
    pub(crate) fn after_call(&mut self, pid: usize) {
        self.stats.engine_calls += 1;
        let now = self.now;
        let p = &self.procs[pid];
        p.engine.check_invariants();
        if let Some(t) = p.engine.next_timeout() {
            if t <= now && p.state != PState::Exited {
                let detail = format!(
                    "p{pid}: timer armed at {} <= now {}",
                    t.as_ms(),
                    now.as_ms()
                );
                self.fail("busy-loop", detail);
            }
        }
        self.drain(pid);
        self.resched(pid);
    }

    fn resched(&mut self, pid: usize) {
        let p = &mut self.procs[pid];
        if p.state == PState::Exited {
            p.timer = None;
            return;
        }
        let next = p.engine.next_timeout();
        if next != p.timer {
            p.timer = next;
            if let Some(at) = next {
                self.schedule(at.max(self.now), Ev::Timer { pid, at });
            }
        }
    }

    fn on_timer(&mut self, pid: usize, at: Time) {
        let p = &mut self.procs[pid];
        if p.timer != Some(at) || p.state == PState::Exited {
            return;
        }
        p.timer = None;
        self.stats.wakeups += 1;
        self.oracle_wakeup(pid);
        let now = self.now;
        self.procs[pid].engine.on_timeout(now);
        self.after_call(pid);
    }

    /// Fires the engine's timers that are due before any other input at
    /// this instant: a driver that handles I/O first would hand the engine
    /// an input while a timer at or before `now` is pending, and the
    /// engine's invariant (no timer at or before `now` after an entry
    /// point) would not hold.
    pub(crate) fn due(&mut self, pid: usize) {
        let p = &self.procs[pid];
        if p.state != PState::Exited && Time::is_expired(p.engine.next_timeout(), self.now) {
            let at = p.timer;
            if let Some(at) = at {
                self.on_timer(pid, at);
            } else {
                self.procs[pid].timer = p.engine.next_timeout();
                let at = self.procs[pid].timer.expect("due");
                self.on_timer(pid, at);
            }
        }
    }

    /// Carries out every action the engine queued.
    fn drain(&mut self, pid: usize) {
        while let Some(a) = self.procs[pid].engine.poll_action() {
            match a {
                Action::Listen { listener, addr } => {
                    if let ListenAddr::Tcp(a) = addr {
                        self.listeners.push((a, ListenOwner::Proc(pid, listener)));
                        self.trace
                            .line(format_args!("{} p{pid} listen {a}", self.now.as_ms()));
                    }
                }
                Action::Unlisten { listener } => {
                    self.listeners
                        .retain(|(_, o)| *o != ListenOwner::Proc(pid, listener));
                    self.drop_backlogs(|k| k == (pid, listener));
                    self.trace
                        .line(format_args!("{} p{pid} unlisten", self.now.as_ms()));
                }
                Action::Connect { sock, addr } => {
                    if self.dp.is_some() {
                        self.dns_check_connect(pid, addr);
                    }
                    let node = self.procs[pid].node;
                    let cid = self.net_connect(Owner::Proc(pid, sock), node, addr);
                    self.procs[pid].socks.insert(sock, (cid, 0));
                }
                Action::ConnectUnix { sock, addr } => {
                    // The simulated network has no UNIX sockets: the
                    // connect goes nowhere and fails as unreachable.
                    self.trace
                        .line(format_args!("{} p{pid} connect {addr}", self.now.as_ms()));
                    let node = self.procs[pid].node;
                    let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
                    let cid = self.net_connect(Owner::Proc(pid, sock), node, nowhere);
                    self.procs[pid].socks.insert(sock, (cid, 0));
                }
                Action::Interest { sock, read, write } => {
                    if let Some(&(cid, e)) = self.procs[pid].socks.get(&sock) {
                        if let Some(c) = self.conns.get_mut(&cid) {
                            c.ends[e].want_recv = read;
                            c.ends[e].want_send = write;
                        }
                        self.work.push_back((pid, sock));
                    }
                }
                Action::Shutdown { sock } => {
                    if let Some(&(cid, e)) = self.procs[pid].socks.get(&sock) {
                        self.net_shutdown(cid, e);
                    }
                }
                Action::Close { sock, how } => {
                    self.unsplice(pid, sock);
                    if let Some((cid, e)) = self.procs[pid].socks.remove(&sock) {
                        if how == CloseHow::Drain {
                            // What arrived and was not read is read and
                            // dropped first: the close is a FIN.
                            let had = self.conns.get_mut(&cid).is_some_and(|c| {
                                let had = !c.ends[e].rx.is_empty();
                                c.ends[e].rx.clear();
                                had
                            });
                            // As a read: the sender hears of the room (its
                            // next bytes then meet the closed socket's RST).
                            if had {
                                self.after_read(cid, e);
                            }
                        }
                        self.net_close(cid, e, how == CloseHow::Reset);
                    }
                }
                Action::Log(line) => {
                    self.trace.line(format_args!(
                        "{} p{pid} log {}",
                        self.now.as_ms(),
                        line.text
                    ));
                    if self.dp.is_some() {
                        self.dp_log(pid, &line.text);
                    }
                }
                Action::Exit => self.on_exit(pid),
                // No descriptor crosses the simulated network: a `_getsocks`
                // client of the simulation gets the close only.
                Action::SendListeners { .. } => {
                    self.trace
                        .line(format_args!("{} p{pid} send-listeners", self.now.as_ms()));
                }
                // To the DNS node of `dns-proxy`; elsewhere lost (the
                // engine retries, then holds its addresses).
                Action::DnsSend { ns, addr, datagram } => self.dns_send(pid, ns, addr, datagram),
                Action::Pause { listener } => {
                    self.trace
                        .line(format_args!("{} p{pid} pause", self.now.as_ms()));
                    self.paused.insert((pid, listener));
                    self.stats.pauses += 1;
                }
                Action::Resume { listener } => {
                    self.trace
                        .line(format_args!("{} p{pid} resume", self.now.as_ms()));
                    self.paused.remove(&(pid, listener));
                    self.accept_backlog(pid, listener);
                }
                Action::Splice { from, to } => {
                    self.trace.line(format_args!(
                        "{} p{pid} splice {from:?} -> {to:?}",
                        self.now.as_ms()
                    ));
                    self.stats.splices += 1;
                    self.splices.insert((pid, from), to);
                    self.splice_into.insert((pid, to), from);
                    self.work.push_back((pid, from));
                }
            }
        }
    }

    /// Forgets the splices `sock` takes part in (it is closed).
    pub(crate) fn unsplice(&mut self, pid: usize, sock: SockId) {
        if let Some(to) = self.splices.remove(&(pid, sock)) {
            self.splice_into.remove(&(pid, to));
        }
        if let Some(from) = self.splice_into.remove(&(pid, sock)) {
            self.splices.remove(&(pid, from));
            // Its source reads into the engine again.
            self.work.push_back((pid, from));
        }
    }

    /// A connection reached a paused listener: the kernel completes it and
    /// queues it (the client believes it is connected and may send), or
    /// refuses it when the queue is full.
    fn backlog_push(&mut self, pid: usize, lid: ListenerId, cid: u64) -> bool {
        let q = self.backlog.entry((pid, lid)).or_default();
        if q.len() >= BACKLOG {
            return false;
        }
        q.push_back(cid);
        let len = q.len();
        self.stats.backlog_peak = self.stats.backlog_peak.max(len);
        if let Some(c) = self.conns.get_mut(&cid) {
            c.ends[1].owner = Some(Owner::Backlog);
        }
        true
    }

    /// Accepts queued connections of a listener that is no longer paused,
    /// oldest first, until it is paused again.
    fn accept_backlog(&mut self, pid: usize, lid: ListenerId) {
        while !self.paused.contains(&(pid, lid)) && self.procs[pid].state != PState::Exited {
            let Some(cid) = self
                .backlog
                .get_mut(&(pid, lid))
                .and_then(|q| q.pop_front())
            else {
                break;
            };
            let alive = self
                .conns
                .get(&cid)
                .is_some_and(|c| c.ends[1].owner == Some(Owner::Backlog));
            if alive {
                self.accept_on(pid, lid, cid);
                self.wake_end(cid, 1);
            }
        }
    }

    /// The process accepts connection `cid` on listener `lid`.
    fn accept_on(&mut self, pid: usize, lid: ListenerId, cid: u64) {
        let now = self.now;
        self.due(pid);
        let Some((src, dst)) = self.conns.get(&cid).map(|c| (c.src, c.dst)) else {
            return;
        };
        let id = self.procs[pid]
            .engine
            .on_accept(now, lid, Some(src), Some(dst));
        self.trace.line(format_args!(
            "{} c{cid} accepted by p{pid} as {id:?}",
            now.as_ms()
        ));
        match id {
            Some(sock) => {
                let c = self.conns.get_mut(&cid).expect("conn");
                c.ends[1].owner = Some(Owner::Proc(pid, sock));
                self.procs[pid].socks.insert(sock, (cid, 1));
                if self.dp.is_some() {
                    self.dp_accepted(pid, cid);
                }
                self.after_call(pid);
            }
            None => {
                self.after_call(pid);
                self.net_close(cid, 1, false);
            }
        }
    }

    /// A crash: process `pid` is gone at once, its sockets reset by its
    /// kernel, its listeners closed.
    pub(crate) fn kill(&mut self, pid: usize) {
        self.trace
            .line(format_args!("{} p{pid} killed", self.now.as_ms()));
        let p = &mut self.procs[pid];
        p.state = PState::Exited;
        let socks: Vec<(SockId, (u64, usize))> =
            core::mem::take(&mut p.socks).into_iter().collect();
        for (sock, (cid, e)) in socks {
            self.unsplice(pid, sock);
            self.net_close(cid, e, true);
        }
        self.listeners
            .retain(|(_, o)| !matches!(o, ListenOwner::Proc(p, _) if *p == pid));
        self.drop_backlogs(|(p, _)| p == pid);
    }

    fn on_exit(&mut self, pid: usize) {
        self.trace
            .line(format_args!("{} p{pid} exit", self.now.as_ms()));
        let p = &mut self.procs[pid];
        p.state = PState::Exited;
        let left = p.engine.sock_count();
        let leaked: Vec<(SockId, (u64, usize))> =
            core::mem::take(&mut p.socks).into_iter().collect();
        if left != 0 || !leaked.is_empty() {
            let d = format!("p{pid} exited with {left} live sockets");
            self.fail("bounded", d);
        }
        for (_, (cid, e)) in leaked {
            self.net_close(cid, e, true);
        }
        self.listeners
            .retain(|(_, o)| !matches!(o, ListenOwner::Proc(p, _) if *p == pid));
        self.drop_backlogs(|(p, _)| p == pid);
    }

    /// Closing a listening socket resets the connections in its queue.
    pub(crate) fn drop_backlogs(&mut self, doomed: impl Fn((usize, ListenerId)) -> bool) {
        let keys: Vec<(usize, ListenerId)> = self
            .backlog
            .keys()
            .copied()
            .filter(|&k| doomed(k))
            .collect();
        for k in keys {
            self.paused.remove(&k);
            for cid in self.backlog.remove(&k).unwrap_or_default() {
                let queued = self
                    .conns
                    .get(&cid)
                    .is_some_and(|c| c.ends[1].owner == Some(Owner::Backlog));
                if queued {
                    self.net_close(cid, 1, true);
                }
            }
        }
    }

    /// Services every socket queued by interest changes or network events.
    fn flush_work(&mut self) {
        let mut budget = 100_000;
        while let Some((pid, sock)) = self.work.pop_front() {
            self.service(pid, sock);
            budget -= 1;
            if budget == 0 {
                self.fail(
                    "busy-loop",
                    "the driver serviced 100000 sockets in one instant".into(),
                );
                return;
            }
        }
    }

    /// One socket: write while the engine has output and the pipe has room,
    /// read while there is data and the engine has room.
    fn service(&mut self, pid: usize, sock: SockId) {
        for _ in 0..64 {
            self.due(pid);
            let Some(&(cid, e)) = self.procs[pid].socks.get(&sock) else {
                return;
            };
            let Some(c) = self.conns.get(&cid) else {
                return;
            };
            if c.syn != SynState::Open && e == 0 {
                return;
            }
            let end = &c.ends[e];
            let mut progress = false;
            if end.want_send && !end.tx_shut {
                let room = c.room(e);
                if room == 0 {
                    self.stats.stalls += 1;
                }
                if room > 0 {
                    let buf = self.procs[pid].engine.send_buf(sock);
                    let n = buf.len().min(room);
                    if n > 0 {
                        let data = buf[..n].to_vec();
                        self.net_send(cid, e, data);
                        if self.dp.is_some() {
                            self.dp_proxy_io(cid, e, 0, n);
                        }
                        let now = self.now;
                        self.procs[pid].engine.on_sent(now, sock, n);
                        self.after_call(pid);
                        progress = true;
                    }
                }
            }
            let read = match self.splices.get(&(pid, sock)) {
                Some(&to) => self.splice_move(pid, sock, to),
                None => self.service_read(pid, sock),
            };
            if let Some(r) = read {
                progress |= r;
            } else {
                return;
            }
            if !progress {
                return;
            }
        }
        // Still busy: come back in the same instant, after the others.
        self.work.push_back((pid, sock));
    }

    /// The read half of [`World::service`]; `None` when the socket is gone.
    fn service_read(&mut self, pid: usize, sock: SockId) -> Option<bool> {
        let &(cid, e) = self.procs[pid].socks.get(&sock)?;
        let slow = self.nodes[self.procs[pid].node].slow;
        let now = self.now;
        let c = self.conns.get_mut(&cid)?;
        let end = &mut c.ends[e];
        if !end.want_recv {
            return Some(false);
        }
        if !end.rx.is_empty() {
            let mut limit = usize::MAX;
            if let Some((chunk, every)) = slow {
                if end.next_read > now {
                    if !end.read_wake_pending {
                        end.read_wake_pending = true;
                        let at = end.next_read;
                        self.schedule(at, Ev::ReadWake { cid, end: e });
                    }
                    return Some(false);
                }
                end.next_read = now.add_ms(every);
                limit = chunk;
            }
            let buf = self.procs[pid].engine.recv_buf(sock);
            if buf.is_empty() {
                return Some(false); // backpressure: the engine is full
            }
            let c = self.conns.get_mut(&cid)?;
            let end = &mut c.ends[e];
            let room = buf.len();
            let n = room.min(end.rx.len()).min(limit);
            for (dst, src) in buf.iter_mut().zip(end.rx.drain(..n)) {
                *dst = src;
            }
            self.after_read(cid, e);
            if self.dp.is_some() {
                self.dp_proxy_io(cid, e, n, 0);
            }
            self.procs[pid].engine.on_recv(now, sock, n);
            if n < room {
                // A short read: the next one would find nothing (EAGAIN),
                // and `proxy-mio` tells the engine so.
                self.procs[pid].engine.recv_blocked(sock);
            }
            self.after_call(pid);
            return Some(true);
        }
        if end.rx_fin && !end.read0_done {
            end.read0_done = true;
            self.procs[pid].engine.on_recv(now, sock, 0);
            self.after_call(pid);
            return Some(true);
        }
        Some(false)
    }

    /// A spliced direction: bytes that arrived on `from` go straight to
    /// `to` while `to` has room (the kernel pipe is not modelled: what
    /// leaves `from` is in `to`'s pipe at once); the read0 of `from` is
    /// reported once everything before it moved. `None` when `from` is gone.
    fn splice_move(&mut self, pid: usize, from: SockId, to: SockId) -> Option<bool> {
        let &(cid, e) = self.procs[pid].socks.get(&from)?;
        let Some(&(tcid, te)) = self.procs[pid].socks.get(&to) else {
            // `to` is closed: the splice is over, reads go to the engine.
            self.splices.remove(&(pid, from));
            self.splice_into.remove(&(pid, to));
            return self.service_read(pid, from);
        };
        let now = self.now;
        let c = self.conns.get(&cid)?;
        let end = &c.ends[e];
        if !end.want_recv {
            return Some(false);
        }
        if !end.rx.is_empty() {
            let room = self.conns.get(&tcid).map_or(0, |t| {
                if t.ends[te].tx_shut || (t.syn != SynState::Open && te == 0) {
                    0
                } else {
                    t.room(te)
                }
            });
            if room == 0 {
                self.stats.stalls += 1;
                return Some(false);
            }
            let c = self.conns.get_mut(&cid)?;
            let n = room.min(c.ends[e].rx.len());
            let data: Vec<u8> = c.ends[e].rx.drain(..n).collect();
            self.after_read(cid, e);
            self.dp_proxy_io(cid, e, n, 0);
            self.dp_proxy_io(tcid, te, 0, n);
            self.net_send(tcid, te, data);
            self.stats.spliced_bytes += n as u64;
            self.procs[pid].engine.on_spliced(now, from, n);
            self.after_call(pid);
            return Some(true);
        }
        if end.rx_fin && !end.read0_done {
            let c = self.conns.get_mut(&cid)?;
            c.ends[e].read0_done = true;
            self.procs[pid].engine.on_recv(now, from, 0);
            self.after_call(pid);
            return Some(true);
        }
        Some(false)
    }

    /// The reader of end `e` freed room: its sender hears of it one
    /// latency later.
    pub(crate) fn after_read(&mut self, cid: u64, e: usize) {
        let lat = self.latency_of(cid);
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        let s = &mut c.ends[1 - e];
        if s.owner.is_some() && !s.window_pending {
            s.window_pending = true;
            let at = self.now.add_ms(lat);
            self.schedule(at, Ev::Window { cid, end: 1 - e });
        }
    }

    /// Something changed for end `e`: its owner gets a look.
    fn wake_end(&mut self, cid: u64, e: usize) {
        let Some(c) = self.conns.get(&cid) else {
            return;
        };
        match c.ends[e].owner {
            Some(Owner::Proc(pid, sock)) => {
                self.work.push_back((pid, sock));
                // Room on a splice destination lets its source move on.
                if let Some(&from) = self.splice_into.get(&(pid, sock)) {
                    self.work.push_back((pid, from));
                }
            }
            Some(Owner::Adv) => self.adversary_io(cid, e),
            Some(Owner::Client(_) | Owner::Server(_)) => self.dp_io(cid, e),
            Some(Owner::Backlog) | None => {}
        }
    }

    // ------------------------------------------------------------------
    // The network

    fn pair_key(a: usize, b: usize) -> (usize, usize) {
        (a.min(b), a.max(b))
    }

    fn blocked(&self, a: usize, b: usize) -> bool {
        a != b && self.cuts.get(&Self::pair_key(a, b)).is_some_and(|&n| n > 0)
    }

    pub(crate) fn link_latency(&mut self, a: usize, b: usize) -> u64 {
        let base = if a == b {
            0
        } else {
            self.spec.latency[a][b]
                + self
                    .extra_lat
                    .get(&Self::pair_key(a, b))
                    .copied()
                    .unwrap_or(0)
        };
        base + self.rng.below(self.spec.jitter_ms + 1)
    }

    fn latency_of(&mut self, cid: u64) -> u64 {
        match self.conns.get(&cid) {
            Some(c) => {
                let (a, b) = c.nodes();
                self.link_latency(a, b)
            }
            None => 0,
        }
    }

    /// Opens a connection from `node` to `addr`.
    pub(crate) fn net_connect(&mut self, owner: Owner, node: usize, addr: SocketAddr) -> u64 {
        let cid = self.next_cid;
        self.next_cid += 1;
        self.stats.connects += 1;
        self.next_port = if self.next_port >= 60000 {
            20000
        } else {
            self.next_port + 1
        };
        let src = SocketAddr::new(config::node_addr(node).ip(), self.next_port);
        let dst_node = config::node_of_ip(addr.ip()).unwrap_or(usize::MAX);
        let span = (self.spec.cap_max - self.spec.cap_min) as u64;
        let cap = [
            self.spec.cap_min + self.rng.below(span + 1) as usize,
            self.spec.cap_min + self.rng.below(span + 1) as usize,
        ];
        let mut c = Conn {
            ends: [End::default(), End::default()],
            cap,
            syn: SynState::Sent,
            dst: addr,
            src,
        };
        c.ends[0].owner = Some(owner);
        c.ends[0].node = node;
        c.ends[1].node = dst_node;
        self.trace.line(format_args!(
            "{} c{cid} connect {src} -> {addr} by {owner:?}",
            self.now.as_ms()
        ));
        if dst_node == usize::MAX || dst_node > self.spec.nodes {
            c.syn = SynState::Dead;
            self.conns.insert(cid, c);
            let at = self.now.add_ms(1);
            self.schedule(
                at,
                Ev::ConnFail {
                    cid,
                    err: SockError::Unreachable,
                },
            );
            return cid;
        }
        if self.blocked(node, dst_node) {
            c.syn = SynState::Held;
        } else {
            let delay =
                self.link_latency(node, dst_node) + self.rng.below(self.spec.connect_extra_ms + 1);
            let at = self.now.add_ms(delay);
            self.schedule(at, Ev::Syn { cid });
        }
        self.conns.insert(cid, c);
        cid
    }

    fn on_syn(&mut self, cid: u64) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        if c.syn != SynState::Sent || c.ends[0].owner.is_none() {
            // The connector gave up: the SYN dies with it.
            c.syn = SynState::Dead;
            self.gc(cid);
            return;
        }
        let (dst, node) = (c.dst, c.ends[1].node);
        let refused =
            self.nodes.get(node).is_some_and(|n| n.refuse_until > now) || self.dp_refuses(dst);
        let listener = self
            .listeners
            .iter()
            .rev()
            .find(|(a, _)| *a == dst)
            .map(|x| x.1);
        let lat = self.latency_of(cid);
        let Some(listener) = listener.filter(|_| !refused) else {
            if let Some(c) = self.conns.get_mut(&cid) {
                c.syn = SynState::Dead;
            }
            self.schedule(
                now.add_ms(lat),
                Ev::ConnFail {
                    cid,
                    err: SockError::Refused,
                },
            );
            return;
        };
        if let ListenOwner::Proc(pid, lid) = listener {
            if self.paused.contains(&(pid, lid)) && !self.backlog_push(pid, lid, cid) {
                if let Some(c) = self.conns.get_mut(&cid) {
                    c.syn = SynState::Dead;
                }
                let err = SockError::Refused;
                self.schedule(now.add_ms(lat), Ev::ConnFail { cid, err });
                return;
            }
        }
        let c = self.conns.get_mut(&cid).expect("conn");
        c.syn = SynState::Accepted;
        self.schedule(now.add_ms(lat), Ev::Connected { cid });
        match listener {
            ListenOwner::Proc(pid, lid) => {
                if !self.paused.contains(&(pid, lid)) {
                    self.accept_on(pid, lid, cid);
                }
            }
            ListenOwner::Server(srv) => self.dp_server_accept(srv, cid),
            ListenOwner::Adv => {
                let c = self.conns.get_mut(&cid).expect("conn");
                c.ends[1].owner = Some(Owner::Adv);
                self.adversary_accepted(cid);
            }
        }
    }

    fn on_connected(&mut self, cid: u64) {
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        if c.syn != SynState::Accepted {
            return;
        }
        c.syn = SynState::Open;
        let now = self.now;
        match c.ends[0].owner {
            Some(Owner::Proc(pid, sock)) => {
                self.due(pid);
                self.procs[pid].engine.on_connected(now, sock);
                self.after_call(pid);
                self.work.push_back((pid, sock));
            }
            Some(Owner::Adv) => self.adversary_connected(cid),
            Some(Owner::Client(_) | Owner::Server(_) | Owner::Backlog) | None => {}
        }
        // Data the acceptor wrote before we knew may be waiting.
        self.wake_end(cid, 0);
    }

    fn on_connfail(&mut self, cid: u64, err: SockError) {
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        let owner = c.ends[0].owner.take();
        c.ends[0].out.clear();
        c.ends[0].out_bytes = 0;
        let now = self.now;
        self.trace.line(format_args!(
            "{} c{cid} connect failed {err:?}",
            now.as_ms()
        ));
        match owner {
            Some(Owner::Proc(pid, sock)) => {
                self.procs[pid].socks.remove(&sock);
                self.due(pid);
                self.procs[pid].engine.on_connect_error(now, sock, err);
                self.after_call(pid);
            }
            Some(Owner::Adv) => self.adversary_closed(cid),
            Some(o @ (Owner::Client(_) | Owner::Server(_))) => self.dp_closed(o, cid, Some(err)),
            Some(Owner::Backlog) | None => {}
        }
        self.gc(cid);
    }

    /// Appends data from end `e` to its pipe.
    pub(crate) fn net_send(&mut self, cid: u64, e: usize, data: Vec<u8>) {
        if self.tls_end(cid, e) {
            return self.tls_send(cid, e, data);
        }
        self.net_send_raw(cid, e, data);
    }

    /// Appends bytes to the pipe as they are (TLS records included).
    pub(crate) fn net_send_raw(&mut self, cid: u64, e: usize, data: Vec<u8>) {
        if self.dp.as_deref().is_some_and(|d| d.tls.is_some()) {
            self.tls_wire_check(cid, e, &data);
        }
        self.stats.bytes += data.len() as u64;
        self.trace.bytes(&data);
        self.push_segment(cid, e, SegKind::Data(data));
    }

    fn push_segment(&mut self, cid: u64, e: usize, kind: SegKind) {
        let Some(c) = self.conns.get(&cid) else {
            return;
        };
        let (a, b) = (c.ends[e].node, c.ends[1 - e].node);
        let held = self.blocked(a, b) || c.ends[e].out.iter().any(|s| s.at.is_none());
        let lat = if held { 0 } else { self.link_latency(a, b) };
        let now = self.now;
        let c = self.conns.get_mut(&cid).expect("conn");
        let end = &mut c.ends[e];
        if let SegKind::Data(d) = &kind {
            end.out_bytes += d.len();
        }
        let at = if held {
            None
        } else {
            let at = now.add_ms(lat).max(end.last_at);
            end.last_at = at;
            Some(at)
        };
        end.out.push_back(Segment { at, kind });
        if let Some(at) = at {
            self.schedule(at, Ev::Arrive { cid, to: 1 - e });
        }
    }

    /// Half-close: FIN from end `e`.
    pub(crate) fn net_shutdown(&mut self, cid: u64, e: usize) {
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        if c.ends[e].tx_shut {
            return;
        }
        if self.tls_end(cid, e) {
            let truncate = self.tls_truncates(cid, e);
            self.tls_shutdown(cid, e, truncate);
        }
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        c.ends[e].tx_shut = true;
        self.push_segment(cid, e, SegKind::Fin);
    }

    /// The owner of end `e` closes it (RST when `reset`, or when unread
    /// data is left, as Linux does).
    pub(crate) fn net_close(&mut self, cid: u64, e: usize, reset: bool) {
        if self.tls_end(cid, e) {
            let open = self
                .conns
                .get(&cid)
                .is_some_and(|c| c.syn == SynState::Open && !c.ends[e].tx_shut);
            if !reset && open {
                let truncate = self.tls_truncates(cid, e);
                self.tls_shutdown(cid, e, truncate);
            }
            self.tls_forget(cid, e);
        }
        if e == 1 {
            self.dp_reversed_gone(cid);
        }
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        let end = &mut c.ends[e];
        end.owner = None;
        let reset = reset || !end.rx.is_empty();
        end.rx.clear();
        let syn = c.syn;
        if matches!(syn, SynState::Sent | SynState::Held) && e == 0 {
            c.syn = SynState::Dead;
        } else if reset {
            self.push_segment(cid, e, SegKind::Rst);
        } else if !c.ends[e].tx_shut {
            c.ends[e].tx_shut = true;
            self.push_segment(cid, e, SegKind::Fin);
        }
        self.gc(cid);
    }

    fn on_arrive(&mut self, cid: u64, to: usize) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        let from = 1 - to;
        let mut reset = false;
        let mut gone = false;
        let mut data_to_closed = false;
        let mut lost = Vec::new();
        while let Some(seg) = c.ends[from].out.front() {
            if seg.at.is_none_or(|at| at > now) {
                break;
            }
            let seg = c.ends[from].out.pop_front().expect("front");
            match seg.kind {
                SegKind::Data(d) => {
                    c.ends[from].out_bytes -= d.len();
                    if c.ends[to].owner.is_some() {
                        c.ends[to].rx.extend(d);
                    } else {
                        data_to_closed = true;
                        lost.extend(d);
                    }
                }
                SegKind::Fin => {
                    c.ends[to].rx_fin = true;
                    gone = to == 1;
                }
                SegKind::Rst => {
                    gone = to == 1;
                    reset = true;
                    c.ends[from].out.clear();
                    c.ends[from].out_bytes = 0;
                    break;
                }
            }
        }
        if gone {
            self.dp_reversed_gone(cid);
        }
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        if reset {
            let owner = c.ends[to].owner.take();
            c.ends[to].rx.clear();
            // What this end was sending dies with it, except a RST
            // already on the wire (a middlebox resets both ends at once:
            // the other one must hear of it too).
            c.ends[to].out.retain(|s| matches!(s.kind, SegKind::Rst));
            c.ends[to].out_bytes = 0;
            match owner {
                Some(Owner::Proc(pid, sock)) => {
                    self.procs[pid].socks.remove(&sock);
                    self.unsplice(pid, sock);
                    self.due(pid);
                    self.procs[pid].engine.on_error(now, sock, SockError::Reset);
                    self.after_call(pid);
                }
                Some(Owner::Adv) => self.adversary_closed(cid),
                Some(o @ (Owner::Client(_) | Owner::Server(_))) => self.dp_closed(o, cid, None),
                Some(Owner::Backlog) | None => {}
            }
        } else if data_to_closed {
            // Data for a closed socket: the kernel answers RST.
            let sender_alive = c.ends[from].owner.is_some();
            if sender_alive {
                self.push_segment(cid, to, SegKind::Rst);
            }
            self.dp_data_to_closed(cid, &lost);
        } else {
            self.wake_end(cid, to);
        }
        self.gc(cid);
    }

    fn on_window(&mut self, cid: u64, end: usize) {
        if let Some(c) = self.conns.get_mut(&cid) {
            c.ends[end].window_pending = false;
            self.wake_end(cid, end);
        }
    }

    fn gc(&mut self, cid: u64) {
        if self.conns.get(&cid).is_some_and(|c| c.is_dead()) {
            self.conns.remove(&cid);
        }
    }

    /// Cuts (or restores, `cut == false`) the link between `a` and `b`.
    pub(crate) fn cut(&mut self, a: usize, b: usize, cut: bool) {
        if a == b {
            return;
        }
        let k = Self::pair_key(a, b);
        let n = self.cuts.entry(k).or_insert(0);
        if cut {
            *n += 1;
            return;
        }
        *n = n.saturating_sub(1);
        if *n > 0 {
            return;
        }
        // Healed: held SYNs and segments go, in order.
        let cids = self.conns_between(k);
        for cid in cids {
            let lat = self.latency_of(cid);
            let now = self.now;
            let c = self.conns.get_mut(&cid).expect("conn");
            if c.syn == SynState::Held {
                c.syn = SynState::Sent;
                self.schedule(now.add_ms(lat), Ev::Syn { cid });
                continue;
            }
            let c = self.conns.get_mut(&cid).expect("conn");
            let mut arrivals = Vec::new();
            for e in 0..2 {
                let end = &mut c.ends[e];
                let mut any = false;
                for seg in end.out.iter_mut().filter(|s| s.at.is_none()) {
                    let at = now.add_ms(lat).max(end.last_at);
                    end.last_at = at;
                    seg.at = Some(at);
                    any = true;
                }
                if any {
                    arrivals.push((end.last_at, 1 - e));
                }
            }
            for (at, to) in arrivals {
                self.schedule(at, Ev::Arrive { cid, to });
            }
        }
    }

    /// The connections between the two nodes of pair `k`, in id order.
    fn conns_between(&self, k: (usize, usize)) -> Vec<u64> {
        self.conns
            .iter()
            .filter(|(_, c)| Self::pair_key(c.ends[0].node, c.ends[1].node) == k)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Adds (or, `add == false`, removes) extra latency between `a` and `b`.
    pub(crate) fn extra_latency(&mut self, a: usize, b: usize, ms: u64, add: bool) {
        let x = self.extra_lat.entry(Self::pair_key(a, b)).or_insert(0);
        *x = if add { *x + ms } else { x.saturating_sub(ms) };
    }

    /// Resets every connection between nodes `a` and `b` (a middlebox RST).
    pub(crate) fn flap(&mut self, a: usize, b: usize) {
        let k = Self::pair_key(a, b);
        let cids = self.conns_between(k);
        for cid in cids {
            let lat = self.latency_of(cid);
            let now = self.now;
            let c = self.conns.get_mut(&cid).expect("conn");
            match c.syn {
                SynState::Sent | SynState::Held | SynState::Accepted
                    if c.ends[1].owner.is_none() =>
                {
                    c.syn = SynState::Dead;
                    self.schedule(
                        now.add_ms(lat),
                        Ev::ConnFail {
                            cid,
                            err: SockError::Reset,
                        },
                    );
                    continue;
                }
                _ => {}
            }
            for e in 0..2 {
                let end = &mut c.ends[e];
                end.out.clear();
                end.out_bytes = 0;
                end.out.push_back(Segment {
                    at: Some(now.add_ms(lat)),
                    kind: SegKind::Rst,
                });
                end.last_at = now.add_ms(lat);
            }
            let accepted = c.syn == SynState::Accepted;
            if accepted {
                c.syn = SynState::Dead;
            }
            for e in 0..2 {
                self.schedule(now.add_ms(lat), Ev::Arrive { cid, to: 1 - e });
            }
            if accepted {
                self.schedule(
                    now.add_ms(lat),
                    Ev::ConnFail {
                        cid,
                        err: SockError::Reset,
                    },
                );
            }
        }
    }

    // ------------------------------------------------------------------
    // Writers

    fn on_writer(&mut self, node: usize) {
        if self.quiet() {
            return;
        }
        self.write_one(node);
        let every = self.spec.write_every_ms[node];
        let at = self.now.add_ms(1 + self.rng.below(2 * every));
        self.schedule(at, Ev::Writer { node });
    }

    /// One local update on the node's current process: a CLI `set table`
    /// (absolute values) or a tracking update (counters and rates).
    pub(crate) fn write_one(&mut self, node: usize) {
        let pid = self.nodes[node].current;
        self.due(pid);
        let t = self.rng.below(config::TABLES.len() as u64) as usize;
        let j = self.rng.below(u64::from(self.spec.keys_per_table)) as u32;
        let key_size = self.procs[pid].engine.tables()[t].params().key_size;
        let key = key_for(t, node, j, key_size);
        self.note_learning();
        self.written[t].insert(key.clone(), (node, self.now));
        self.stats.writes += 1;
        let now = self.now;
        let name = self.table_names[t].clone();
        let v = self.rng.below(1 << 20);
        if self.rng.chance(1, 3) && t != 3 {
            let k = match t {
                0 => format!("10.{}.{}.{}", node, (j >> 8) as u8, j as u8),
                1 => (1_000_000 + node as u32 * 100_000 + j).to_string(),
                _ => format!("n{node}-k{j}"),
            };
            let data = match t {
                0 => format!("data.gpc0 {v} data.conn_cnt {}", v / 3),
                1 => format!("data.gpt0 {v} data.server_id {}", v as i64 - 500_000),
                _ => format!("data.http_req_cnt {v}"),
            };
            let line = format!("set table {name} key {k} {data}");
            let out = self.procs[pid].engine.cli_request(now, &line);
            self.trace
                .line(format_args!("{} p{pid} cli {line}", now.as_ms()));
            if !out.is_empty() {
                self.fail("writer", format!("p{pid}: `{line}` answered {out:?}"));
            }
        } else {
            let inc = 1 + (v % 7) as u32;
            self.trace.line(format_args!(
                "{} p{pid} track {name} key {key} inc={inc}",
                now.as_ms()
            ));
            let ok = self.procs[pid]
                .engine
                .track_local(now, &name, key, |now, tb, id| track(now, t, tb, id, inc));
            self.trace
                .line(format_args!("{} p{pid} tracked", now.as_ms()));
            if !ok {
                self.fail("writer", format!("p{pid}: tracking {name} failed"));
            }
        }
        self.after_call(pid);
    }

    /// Records whether some process is still learning now.
    pub(crate) fn note_learning(&mut self) {
        if self
            .live()
            .any(|p| !self.procs[p].engine.peers_sections()[0].flags.synced())
        {
            self.learning_until = self.now;
        }
    }

    /// Re-touches the node's keys last written before `until`.
    fn refresh(&mut self, node: usize, until: Time) {
        let pid = self.nodes[node].current;
        self.due(pid);
        let now = self.now;
        let mut n = 0;
        for t in 0..config::TABLES.len() {
            let keys: Vec<StKey> = self.written[t]
                .iter()
                .filter(|(_, (o, at))| *o == node && *at <= until)
                .map(|(k, _)| k.clone())
                .collect();
            let name = self.table_names[t].clone();
            for k in keys {
                n += 1;
                self.procs[pid]
                    .engine
                    .track_local(now, &name, k, |_, _, _| {});
            }
        }
        self.trace
            .line(format_args!("{} p{pid} refresh {n} keys", now.as_ms()));
        self.after_call(pid);
    }

    // ------------------------------------------------------------------
    // Faults

    fn on_fault(&mut self, i: usize) {
        let f = self.spec.faults[i].1.clone();
        self.stats.faults += 1;
        self.trace
            .line(format_args!("{} fault {f:?}", self.now.as_ms()));
        let now = self.now;
        match f {
            Fault::Flap { a, b, down_ms } => {
                self.flap(a, b);
                if down_ms > 0 {
                    self.cut(a, b, true);
                    self.schedule(now.add_ms(down_ms), Ev::FaultEnd(i));
                }
            }
            Fault::Partition { a, b, ms } => {
                self.cut(a, b, true);
                self.schedule(now.add_ms(ms), Ev::FaultEnd(i));
            }
            Fault::Isolate { node, ms } => {
                for o in 0..=self.spec.nodes {
                    self.cut(node, o, true);
                }
                self.schedule(now.add_ms(ms), Ev::FaultEnd(i));
            }
            Fault::Reload { node } => self.reload(node),
            Fault::Slow {
                node,
                chunk,
                every_ms,
                ms,
            } => {
                self.nodes[node].slow = Some((chunk, every_ms));
                self.schedule(now.add_ms(ms), Ev::FaultEnd(i));
            }
            Fault::Refuse { node, ms } => {
                self.nodes[node].refuse_until = now.add_ms(ms);
            }
            Fault::Latency { a, b, extra_ms, ms } => {
                *self.extra_lat.entry(Self::pair_key(a, b)).or_insert(0) += extra_ms;
                self.schedule(now.add_ms(ms), Ev::FaultEnd(i));
            }
            Fault::Burst { node, n } => {
                for _ in 0..n {
                    self.write_one(node);
                }
            }
        }
    }

    fn on_fault_end(&mut self, i: usize) {
        let f = self.spec.faults[i].1.clone();
        self.trace
            .line(format_args!("{} heal {f:?}", self.now.as_ms()));
        match f {
            Fault::Flap { a, b, .. } | Fault::Partition { a, b, .. } => self.cut(a, b, false),
            Fault::Isolate { node, .. } => {
                for o in 0..=self.spec.nodes {
                    self.cut(node, o, false);
                }
            }
            Fault::Slow { node, .. } => {
                self.nodes[node].slow = None;
                // Readers held back may read now.
                let cids: Vec<(u64, usize)> = self
                    .conns
                    .iter()
                    .flat_map(|(&cid, c)| {
                        (0..2)
                            .filter(move |&e| c.ends[e].node == node)
                            .map(move |e| (cid, e))
                    })
                    .collect();
                for (cid, e) in cids {
                    self.wake_end(cid, e);
                }
            }
            Fault::Latency { a, b, extra_ms, .. } => {
                if let Some(x) = self.extra_lat.get_mut(&Self::pair_key(a, b)) {
                    *x = x.saturating_sub(extra_ms);
                }
            }
            _ => {}
        }
    }

    /// A reload: a new process starts (and listens on the same address),
    /// then the old one gets its soft stop and exits by itself.
    pub(crate) fn reload(&mut self, node: usize) {
        let old = self.nodes[node].current;
        if self.procs[old].state != PState::Running {
            return;
        }
        self.stats.reloads += 1;
        self.nodes[node].reloaded = true;
        let new = self.spawn(node, true);
        self.nodes[node].current = new;
        let at = self.now.add_ms(5 + self.rng.below(300));
        self.schedule(at, Ev::StopOld { pid: old });
    }

    fn stop_old(&mut self, pid: usize) {
        let now = self.now;
        self.due(pid);
        self.procs[pid].state = PState::Stopping(now);
        self.trace
            .line(format_args!("{} p{pid} soft stop", now.as_ms()));
        self.procs[pid].engine.stop(now, StopMode::Soft);
        self.after_call(pid);
    }

    /// In the quiet phase, once every process is fully synced (and so
    /// will learn no more), each owner re-touches its keys last written
    /// before the last lesson ended, and a reloaded node all its keys. 2.6
    /// semantics make those writes fragile: a learner applies its teacher's
    /// older copy of any key and does not push to its teacher meanwhile
    /// (§10.1), and a stopping process drops what it had not pushed yet
    /// (§10.3). Returns whether the refresh is done.
    pub(crate) fn refresh_when_synced(&mut self) -> bool {
        if self.refreshed {
            return true;
        }
        self.note_learning();
        if self.learning_until == self.now {
            return false;
        }
        // The check runs every CHECK_MS: a lesson may have ended up to then.
        let until = self.learning_until.add_ms(CHECK_MS);
        for node in 0..self.spec.nodes {
            let until = if self.nodes[node].reloaded {
                self.now
            } else {
                until
            };
            self.refresh(node, until);
        }
        self.refreshed = true;
        true
    }

    /// The live processes (not exited), by pid.
    pub(crate) fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.procs.len()).filter(|&p| self.procs[p].state != PState::Exited)
    }

    /// Table `t` of the current process of `node`.
    pub(crate) fn table_of(&self, node: usize, t: usize) -> &StickTable {
        &self.procs[self.nodes[node].current].engine.tables()[t]
    }
}

/// A tracking update as HAProxy's `track-sc` + `sc_inc_*` make them.
fn track(
    now: Time,
    t: usize,
    tb: &mut StickTable,
    id: sluice_core::stick_table::EntryId,
    inc: u32,
) {
    let bump = |tb: &mut StickTable, dt: DataType, idx: usize, by: u32| {
        if let Ok(sluice_core::stick_table::StData::UInt(v)) = tb.get(id, dt, idx).cloned() {
            let _ = tb.set(
                id,
                dt,
                idx,
                sluice_core::stick_table::StData::UInt(v.wrapping_add(by)),
            );
        }
    };
    let bump_ull = |tb: &mut StickTable, dt: DataType, by: u64| {
        if let Ok(sluice_core::stick_table::StData::Ull(v)) = tb.get(id, dt, 0).cloned() {
            let _ = tb.set(
                id,
                dt,
                0,
                sluice_core::stick_table::StData::Ull(v.wrapping_add(by)),
            );
        }
    };
    match t {
        0 => {
            bump(tb, DataType::CONN_CNT, 0, 1);
            let _ = tb.update_freq(now, id, DataType::CONN_RATE, 0, 1);
            let _ = tb.update_freq(now, id, DataType::HTTP_REQ_RATE, 0, inc);
        }
        1 => {
            bump(tb, DataType::GPC0, 0, 1);
            let _ = tb.update_freq(now, id, DataType::GPC0_RATE, 0, 1);
            bump_ull(tb, DataType::BYTES_IN_CNT, u64::from(inc) * 1000);
        }
        2 => {
            bump(tb, DataType::HTTP_REQ_CNT, 0, 1);
            bump(tb, DataType::GPC, 1, inc);
            let _ = tb.update_freq(now, id, DataType::GPC_RATE, (inc % 2) as usize, inc);
        }
        _ => {
            bump(tb, DataType::HTTP_ERR_CNT, 0, 1);
            bump(tb, DataType::GPT, 0, inc);
            bump_ull(tb, DataType::BYTES_OUT_CNT, u64::from(inc));
            let _ = tb.update_freq(now, id, DataType::BYTES_OUT_RATE, 0, inc * 100);
        }
    }
}

//! An in-memory world for scenario tests of the engine: clients and
//! servers are plain byte queues, time is a number, nothing touches a
//! socket. The driving itself (actions, interest, reads, writes, splices,
//! timers, the contract checks) is `sluice_core::testkit::Driver`, shared
//! with the fuzz targets and the engine benchmark; this module adds the
//! far ends the tests script by hand and the servers that answer on their
//! own ([`ServerMode`]).

#![allow(
    dead_code,
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::collapsible_if
)]

use std::collections::{BTreeMap, VecDeque};
use std::ops::{Deref, DerefMut};

use core::net::SocketAddr;

use sluice_core::engine::EngineOptions;
use sluice_core::sock::{CloseHow, ListenAddr, LogLine, SockError, SockId};
use sluice_core::testkit::{self, Driver, DriverOptions, Ends, FarEnd};

/// What happens to a connection attempt to an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerMode {
    /// Accept; the test reads and writes by hand.
    Manual,
    /// Accept and echo everything back; FIN answered with FIN.
    Echo,
    /// Refuse (RST to SYN).
    Refuse,
    /// Never answer (the engine's connect timeout fires).
    Blackhole,
    /// `connect()` fails at once with `ENETUNREACH` (as to
    /// 255.255.255.255).
    Unreachable,
}

/// The far end of one engine socket.
#[derive(Debug, Default)]
pub struct Peer {
    /// Bytes waiting for the engine to read.
    pub to_engine: VecDeque<u8>,
    /// The far end shut its write side (FIN towards the engine).
    pub fin_to_engine: bool,
    /// The far end reset the connection.
    pub rst_to_engine: bool,
    /// Bytes the engine wrote.
    pub from_engine: Vec<u8>,
    /// The engine sent FIN.
    pub fin_from_engine: bool,
    /// The engine closed the socket.
    pub closed_by_engine: Option<CloseHow>,
    /// How many bytes the far end accepts before it stops reading
    /// (`None`: unlimited).
    pub window: Option<usize>,
    fin_delivered: bool,
    /// A server in [`ServerMode::Echo`] (set before every use).
    echo: bool,
}

impl FarEnd for Peer {
    fn to_engine(&mut self) -> &mut VecDeque<u8> {
        &mut self.to_engine
    }

    fn fin_pending(&self) -> bool {
        self.fin_to_engine && !self.fin_delivered
    }

    fn fin_delivered(&mut self) {
        self.fin_delivered = true;
    }

    fn room(&self) -> usize {
        self.window
            .map_or(usize::MAX, |w| w.saturating_sub(self.from_engine.len()))
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.from_engine.extend_from_slice(bytes);
        if self.echo {
            self.to_engine.extend(bytes);
        }
    }
}

/// The world: one engine (in its driver), the far ends of its sockets.
pub struct World {
    pub driver: Driver,
    pub peers: Vec<Peer>,
    /// Server-side peers accepted per address, in order.
    pub accepted: BTreeMap<SocketAddr, Vec<usize>>,
    pub servers: BTreeMap<SocketAddr, ServerMode>,
    pub logs: Vec<LogLine>,
    pub exited: bool,
}

/// `w.engine`, `w.now`, `w.paused`, `w.spliced`: the driver's.
impl Deref for World {
    type Target = Driver;
    fn deref(&self) -> &Driver {
        &self.driver
    }
}

impl DerefMut for World {
    fn deref_mut(&mut self) -> &mut Driver {
        &mut self.driver
    }
}

/// The far ends as the driver sees them (the world but its driver).
struct View<'a> {
    peers: &'a mut Vec<Peer>,
    accepted: &'a mut BTreeMap<SocketAddr, Vec<usize>>,
    servers: &'a BTreeMap<SocketAddr, ServerMode>,
    logs: &'a mut Vec<LogLine>,
    exited: &'a mut bool,
}

impl View<'_> {
    fn is_echo(&self, peer: usize) -> bool {
        self.accepted
            .iter()
            .any(|(a, ps)| ps.contains(&peer) && self.servers.get(a) == Some(&ServerMode::Echo))
    }
}

impl Ends for View<'_> {
    type End = Peer;

    fn end(&mut self, i: usize) -> &mut Peer {
        let echo = self.is_echo(i);
        let p = &mut self.peers[i];
        p.echo = echo;
        p
    }

    fn connect(&mut self, _sock: SockId, _addr: SocketAddr) -> usize {
        self.peers.push(Peer::default());
        self.peers.len() - 1
    }

    fn shutdown(&mut self, end: usize) {
        self.peers[end].fin_from_engine = true;
    }

    fn closed(&mut self, end: usize, how: CloseHow) {
        self.peers[end].closed_by_engine = Some(how);
    }

    fn log(&mut self, l: LogLine) {
        self.logs.push(l);
    }

    fn exit(&mut self) {
        *self.exited = true;
    }

    /// Servers answer connects by their mode, resets reach the engine,
    /// an echo server answers a FIN with a FIN; the rest is the driver's.
    fn step(&mut self, d: &mut Driver, id: SockId) -> bool {
        let Some(s) = d.socks.get_mut(&id) else {
            return false;
        };
        if let Some(a) = s.connecting {
            let p = s.end;
            match self.servers.get(&a).copied() {
                Some(ServerMode::Refuse) | None => {
                    d.connect_failed(self, id, SockError::Refused);
                }
                Some(ServerMode::Blackhole) => return false,
                Some(ServerMode::Unreachable) => {
                    d.connect_failed(self, id, SockError::Connect(101));
                }
                Some(_) => {
                    self.accepted.entry(a).or_default().push(p);
                    d.connected(self, id);
                }
            }
            return true;
        }
        let peer = s.end;
        if self.peers[peer].rst_to_engine {
            d.error(self, id, SockError::Reset);
            return true;
        }
        let mut progress = d.service(self, id);
        if d.socks.get(&id).is_some_and(|s| s.splice_to.is_some()) {
            return progress;
        }
        let p = &self.peers[peer];
        if p.fin_from_engine && !p.fin_to_engine && self.is_echo(peer) {
            self.peers[peer].fin_to_engine = true;
            progress = true;
        }
        progress
    }
}

/// Rounds of I/O without quiescence before a test fails (a livelock).
const MAX_ROUNDS: usize = 10_000;

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Splits the world into its driver and the far ends as the driver sees
/// them.
macro_rules! split {
    ($w:expr) => {
        (
            &mut $w.driver,
            &mut View {
                peers: &mut $w.peers,
                accepted: &mut $w.accepted,
                servers: &$w.servers,
                logs: &mut $w.logs,
                exited: &mut $w.exited,
            },
        )
    };
}

impl World {
    /// An engine running the configuration `text`.
    pub fn new(text: &str) -> World {
        Self::with_splice(text, false)
    }

    /// The same, with a driver that can splice.
    pub fn with_splice(text: &str, splice: bool) -> World {
        let opts = EngineOptions {
            seed: 1,
            epoch_ms: 1_795_302_242_000,
            splice,
            ..Default::default()
        };
        Self::with_options(text, opts)
    }

    /// An engine running `text` with `mutant` switched on (by its name;
    /// the `mutants` feature is needed for one).
    pub fn with_mutant(text: &str, mutant: Option<&str>) -> World {
        #[allow(unused_mut)]
        let mut opts = EngineOptions {
            seed: 1,
            epoch_ms: 1_795_302_242_000,
            ..Default::default()
        };
        #[cfg(feature = "mutants")]
        {
            opts.mutant =
                mutant.map(|m| sluice_core::mutants::Mutant::from_name(m).expect("a mutant"));
        }
        #[cfg(not(feature = "mutants"))]
        assert!(mutant.is_none(), "mutants need the `mutants` feature");
        Self::with_options(text, opts)
    }

    /// An engine with these options (a mutant, for one).
    pub fn with_options(text: &str, opts: EngineOptions) -> World {
        let splice = opts.splice;
        let engine = testkit::engine_from_text("test.cfg", text, opts);
        let dopts = DriverOptions {
            splice,
            ..DriverOptions::default()
        };
        let mut peers = Vec::new();
        let mut accepted = BTreeMap::new();
        let servers = BTreeMap::new();
        let mut logs = Vec::new();
        let mut exited = false;
        let driver = Driver::new(
            engine,
            dopts,
            &mut View {
                peers: &mut peers,
                accepted: &mut accepted,
                servers: &servers,
                logs: &mut logs,
                exited: &mut exited,
            },
        );
        World {
            driver,
            peers,
            accepted,
            servers,
            logs,
            exited,
        }
    }

    pub fn server(&mut self, a: &str, mode: ServerMode) {
        self.servers.insert(addr(a), mode);
    }

    /// A client connects to the frontend listening on `a`; returns its peer index.
    pub fn connect(&mut self, a: &str) -> usize {
        let target = ListenAddr::Tcp(addr(a));
        let l = self
            .driver
            .listeners
            .iter()
            .find(|(_, x)| *x == target)
            .expect("nobody listens there")
            .0;
        assert!(!self.driver.paused.contains(&l), "listener paused");
        self.peers.push(Peer::default());
        let p = self.peers.len() - 1;
        let from = SocketAddr::new(addr("10.0.0.1:1").ip(), 40000 + p as u16);
        let (d, v) = split!(self);
        d.accept(v, l, p, Some(from), Some(addr(a)))
            .expect("accepted");
        self.run();
        p
    }

    /// A message from the engine of another thread of the process
    /// (`Engine::on_shared`), then every delivery until nothing moves.
    #[allow(dead_code)]
    pub fn on_shared(&mut self, msg: sluice_core::engine::Shared) {
        let now = self.now;
        self.driver.engine.on_shared(now, msg);
        let (d, v) = split!(self);
        d.drain(v);
        self.run();
    }

    /// Runs every possible delivery until nothing moves.
    pub fn run(&mut self) {
        let (d, v) = split!(self);
        d.pump(v, MAX_ROUNDS);
    }

    /// Sends bytes from a far end to the engine.
    pub fn send(&mut self, peer: usize, bytes: &[u8]) {
        self.peers[peer].to_engine.extend(bytes);
        self.run();
    }

    pub fn fin(&mut self, peer: usize) {
        self.peers[peer].fin_to_engine = true;
        self.run();
    }

    pub fn rst(&mut self, peer: usize) {
        self.peers[peer].rst_to_engine = true;
        self.run();
    }

    /// Lets time pass, running timers in order.
    pub fn advance(&mut self, ms: u64) {
        let (d, v) = split!(self);
        d.advance(v, ms, MAX_ROUNDS);
    }

    /// The server-side peer of the `n`-th connection accepted at `a`.
    pub fn server_peer(&self, a: &str, n: usize) -> usize {
        self.accepted[&addr(a)][n]
    }

    pub fn log_texts(&self) -> Vec<String> {
        self.logs.iter().map(|l| l.text.clone()).collect()
    }

    /// The `show stat` columns `names` of row `px,sv` (HAProxy's CSV: a
    /// `# ` header naming the columns, one row per proxy and server).
    pub fn stats(&mut self, px: &str, sv: &str, names: &[&str]) -> Vec<String> {
        let now = self.now;
        let out = self.engine.cli_request(now, "show stat");
        let mut lines = out.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let row: Vec<&str> = lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&px) && f.get(1) == Some(&sv))
            .unwrap_or_else(|| panic!("no {px}/{sv} in show stat:\n{out}"));
        names
            .iter()
            .map(|n| {
                let i = header.iter().position(|h| h == n);
                row[i.unwrap_or_else(|| panic!("no column {n}"))].to_string()
            })
            .collect()
    }

    /// The `show stat` column `name` of row `px,sv`.
    pub fn stat(&mut self, px: &str, sv: &str, name: &str) -> String {
        self.stats(px, sv, &[name]).remove(0)
    }

    /// Asserts that nothing is left: no connection, session, stream or buffer.
    pub fn assert_drained(&self) {
        self.driver.assert_drained();
    }
}

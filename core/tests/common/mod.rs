//! An in-memory driver for scenario tests of the engine: clients and
//! servers are plain byte queues, time is a number, nothing touches a
//! socket. It follows the engine's driving contract exactly like
//! `proxy-mio` does: interest from `Action::Interest`, readiness from the
//! endpoints, actions drained after every input.

#![allow(
    dead_code,
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::collapsible_if
)]

use std::collections::{BTreeMap, VecDeque};

use core::net::SocketAddr;

use sluice_core::cfgparse::{self, ParseOptions};
use sluice_core::engine::{Engine, EngineOptions};
use sluice_core::sock::{Action, CloseHow, ListenAddr, ListenerId, LogLine, SockError, SockId};
use sluice_core::time::Time;

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
}

#[derive(Debug)]
struct Sock {
    peer: usize,
    read: bool,
    write: bool,
    connecting: Option<SocketAddr>,
    /// Reads are spliced to this socket (`Action::Splice`).
    splice_to: Option<SockId>,
}

/// The world: one engine, its listeners, the far ends of its sockets.
pub struct World {
    pub engine: Engine,
    pub now: Time,
    pub listeners: BTreeMap<ListenerId, ListenAddr>,
    socks: BTreeMap<SockId, Sock>,
    pub peers: Vec<Peer>,
    /// Server-side peers accepted per address, in order.
    pub accepted: BTreeMap<SocketAddr, Vec<usize>>,
    pub servers: BTreeMap<SocketAddr, ServerMode>,
    pub logs: Vec<LogLine>,
    pub exited: bool,
    pub paused: Vec<ListenerId>,
    /// Directions handed over to splicing.
    pub spliced: usize,
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl World {
    /// An engine running the configuration `text`.
    pub fn new(text: &str) -> World {
        Self::with_splice(text, false)
    }

    /// The same, with a driver that can splice.
    pub fn with_splice(text: &str, splice: bool) -> World {
        let parsed = cfgparse::parse("test.cfg", text, ParseOptions::new("test"))
            .unwrap_or_else(|e| panic!("{e}"));
        let opts = EngineOptions {
            seed: 1,
            epoch_ms: 1_795_302_242_000,
            splice,
            ..Default::default()
        };
        let resolver = |_: &str, _: u16| None;
        let engine = Engine::from_config(Time::ZERO, &parsed.config, opts, &resolver).unwrap();
        let mut w = World {
            engine,
            now: Time::ZERO,
            listeners: BTreeMap::new(),
            socks: BTreeMap::new(),
            peers: Vec::new(),
            accepted: BTreeMap::new(),
            servers: BTreeMap::new(),
            logs: Vec::new(),
            exited: false,
            paused: Vec::new(),
            spliced: 0,
        };
        w.drain();
        w
    }

    pub fn server(&mut self, a: &str, mode: ServerMode) {
        self.servers.insert(addr(a), mode);
    }

    fn drain(&mut self) {
        while let Some(a) = self.engine.poll_action() {
            match a {
                Action::Listen { listener, addr } => {
                    self.listeners.insert(listener, addr);
                }
                Action::Unlisten { listener } => {
                    self.listeners.remove(&listener);
                }
                Action::Pause { listener } => self.paused.push(listener),
                Action::Resume { listener } => self.paused.retain(|l| *l != listener),
                Action::Connect { sock, addr } => {
                    let p = self.new_peer();
                    self.socks.insert(
                        sock,
                        Sock {
                            peer: p,
                            read: false,
                            write: false,
                            connecting: Some(addr),
                            splice_to: None,
                        },
                    );
                }
                Action::Interest { sock, read, write } => {
                    if let Some(s) = self.socks.get_mut(&sock) {
                        s.read = read;
                        s.write = write;
                    }
                }
                Action::Shutdown { sock } => {
                    if let Some(s) = self.socks.get(&sock) {
                        assert!(
                            self.engine.send_buf(sock).is_empty(),
                            "FIN asked with data pending"
                        );
                        self.peers[s.peer].fin_from_engine = true;
                    }
                }
                Action::Close { sock, how } => {
                    if let Some(s) = self.socks.remove(&sock) {
                        self.peers[s.peer].closed_by_engine = Some(how);
                    }
                }
                Action::Splice { from, to } => {
                    if let Some(s) = self.socks.get_mut(&from) {
                        s.splice_to = Some(to);
                        self.spliced += 1;
                    }
                }
                Action::Log(l) => self.logs.push(l),
                Action::Exit => self.exited = true,
            }
        }
        assert!(
            self.engine.next_timeout().is_none_or(|t| t > self.now),
            "timer armed at or before now: busy loop"
        );
    }

    fn new_peer(&mut self) -> usize {
        self.peers.push(Peer::default());
        self.peers.len() - 1
    }

    /// A client connects to the frontend listening on `a`; returns its peer index.
    pub fn connect(&mut self, a: &str) -> usize {
        let target = ListenAddr::Tcp(addr(a));
        let (&l, _) = self
            .listeners
            .iter()
            .find(|(_, x)| **x == target)
            .expect("nobody listens there");
        assert!(!self.paused.contains(&l), "listener paused");
        let p = self.new_peer();
        let from = SocketAddr::new(addr("10.0.0.1:1").ip(), 40000 + p as u16);
        let sock = self
            .engine
            .on_accept(self.now, l, Some(from), Some(addr(a)))
            .expect("accepted");
        self.socks.insert(
            sock,
            Sock {
                peer: p,
                read: false,
                write: false,
                connecting: None,
                splice_to: None,
            },
        );
        self.drain();
        self.run();
        p
    }

    /// Runs every possible delivery until nothing moves.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("no quiescence after 10000 steps");
    }

    fn step(&mut self) -> bool {
        let mut progress = false;
        let ids: Vec<SockId> = self.socks.keys().copied().collect();
        for id in ids {
            progress |= self.step_sock(id);
        }
        progress
    }

    fn step_sock(&mut self, id: SockId) -> bool {
        let now = self.now;
        let Some(s) = self.socks.get_mut(&id) else {
            return false;
        };
        if let Some(a) = s.connecting.take() {
            let p = s.peer;
            match self.servers.get(&a).copied() {
                Some(ServerMode::Refuse) | None => {
                    self.socks.remove(&id);
                    self.engine.on_connect_error(now, id, SockError::Refused);
                }
                Some(ServerMode::Blackhole) => {
                    self.socks.get_mut(&id).unwrap().connecting = Some(a);
                    return false;
                }
                Some(_) => {
                    self.accepted.entry(a).or_default().push(p);
                    self.engine.on_connected(now, id);
                }
            }
            self.drain();
            return true;
        }
        let (peer, read, write) = (s.peer, s.read, s.write);
        let mut progress = false;
        if self.peers[peer].rst_to_engine {
            self.socks.remove(&id);
            self.engine.on_error(now, id, SockError::Reset);
            self.drain();
            return true;
        }
        if write {
            let buf = self.engine.send_buf(id);
            let room = self.peers[peer].window.map_or(usize::MAX, |w| {
                w.saturating_sub(self.peers[peer].from_engine.len())
            });
            let n = buf.len().min(room);
            if n > 0 {
                let bytes = buf[..n].to_vec();
                self.peers[peer].from_engine.extend_from_slice(&bytes);
                self.engine.on_sent(now, id, n);
                self.drain();
                progress = true;
                self.echo(peer, &bytes);
            }
        }
        if let Some(to) = self.socks.get(&id).and_then(|s| s.splice_to) {
            return progress | self.step_splice(id, peer, read, to);
        }
        if read && self.socks.contains_key(&id) {
            let p = &mut self.peers[peer];
            if !p.to_engine.is_empty() {
                let data: Vec<u8> = p.to_engine.iter().copied().collect();
                let buf = self.engine.recv_buf(id);
                let n = buf.len().min(data.len());
                if n > 0 {
                    buf[..n].copy_from_slice(&data[..n]);
                    self.peers[peer].to_engine.drain(..n);
                    self.engine.on_recv(now, id, n);
                    self.drain();
                    progress = true;
                }
            } else if p.fin_to_engine && !p.fin_delivered {
                if !self.engine.recv_buf(id).is_empty() {
                    self.peers[peer].fin_delivered = true;
                    self.engine.on_recv(now, id, 0);
                    self.drain();
                    progress = true;
                }
            }
        }
        if self.peers[peer].fin_from_engine && self.is_echo(peer) && !self.peers[peer].fin_to_engine
        {
            self.peers[peer].fin_to_engine = true;
            progress = true;
        }
        progress
    }

    /// Spliced reads go straight to the destination's far end.
    fn step_splice(&mut self, id: SockId, peer: usize, read: bool, to: SockId) -> bool {
        let now = self.now;
        let Some(dst) = self.socks.get(&to).map(|s| s.peer) else {
            return false;
        };
        if !read {
            return false;
        }
        let room = self.peers[dst].window.map_or(usize::MAX, |w| {
            w.saturating_sub(self.peers[dst].from_engine.len())
        });
        let n = self.peers[peer].to_engine.len().min(room);
        if n > 0 {
            let bytes: Vec<u8> = self.peers[peer].to_engine.drain(..n).collect();
            self.peers[dst].from_engine.extend_from_slice(&bytes);
            self.engine.on_spliced(now, id, n);
            self.drain();
            self.echo(dst, &bytes);
            return true;
        }
        let p = &self.peers[peer];
        if p.to_engine.is_empty() && p.fin_to_engine && !p.fin_delivered {
            self.peers[peer].fin_delivered = true;
            self.engine.on_recv(now, id, 0);
            self.drain();
            return true;
        }
        false
    }

    fn is_echo(&self, peer: usize) -> bool {
        self.accepted
            .iter()
            .any(|(a, ps)| ps.contains(&peer) && self.servers.get(a) == Some(&ServerMode::Echo))
    }

    fn echo(&mut self, peer: usize, bytes: &[u8]) {
        if self.is_echo(peer) {
            self.peers[peer].to_engine.extend(bytes);
        }
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
        let end = self.now.add_ms(ms);
        loop {
            match self.engine.next_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.engine.on_timeout(self.now);
                    self.drain();
                    self.run();
                }
                _ => break,
            }
        }
        self.now = end;
        self.run();
    }

    /// The server-side peer of the `n`-th connection accepted at `a`.
    pub fn server_peer(&self, a: &str, n: usize) -> usize {
        self.accepted[&addr(a)][n]
    }

    pub fn log_texts(&self) -> Vec<String> {
        self.logs.iter().map(|l| l.text.clone()).collect()
    }

    /// Asserts that nothing is left: no connection, session, stream or buffer.
    pub fn assert_drained(&self) {
        assert_eq!(
            self.engine.datapath_counts(),
            (0, 0, 0, 0),
            "engine leaked (conns, sessions, streams, buffers)"
        );
        self.engine.check_invariants();
    }
}

//! One in-memory driver for the engine, shared by everything that drives
//! the engine's contract without sockets: the scenario tests
//! (`core/tests/common`), the fuzz targets `engine_http` / `engine_tcp`
//! (`fuzzing::engine_ops`) and the engine benchmark
//! (`benches/engine_http.rs`). Compiled only with the `testkit` cargo
//! feature (which `fuzzing` turns on); production builds never carry it.
//!
//! It plays the part `proxy-mio`'s event loop plays in production
//! (HAProxy's poller, `fd_*` and `conn_*` I/O callbacks): it carries out
//! every [`Action`] the engine asks for, keeps each socket's interest,
//! moves bytes between the engine's buffers and *far ends* (the clients
//! and servers, which each user models its own way through [`FarEnd`] and
//! [`Ends`]), delivers FINs, splices, and lets time pass. The contract it
//! follows is the one `proxy-mio` follows:
//!
//! * interest comes from `Action::Interest`; a socket is read only when
//!   its read interest is on and its far end has something (bytes or a
//!   FIN); an empty `recv_buf` is backpressure;
//! * writes take `send_buf` up to what the far end accepts;
//! * every action is drained after every input, and checked: it names a
//!   socket the driver knows, `Shutdown` never comes with bytes still to
//!   send, and no byte is written after it; a listener is never paused or
//!   resumed twice; a splice only when the driver can splice.
//!
//! What differs between the users is in [`DriverOptions`]: whether to run
//! `check_invariants` after every drain (the fuzzer does, the benchmark
//! cannot afford it), whether a read that empties the wire is followed by
//! `recv_blocked`, and the largest read.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use core::net::SocketAddr;

use crate::cfgparse::{self, ParseOptions};
use crate::engine::{Engine, EngineOptions};
use crate::sock::{Action, CloseHow, ListenAddr, ListenerId, LogLine, SockId};
use crate::time::Time;

/// Builds an engine from configuration text (`file` names it in errors);
/// panics with the configuration error, as a test or a bench should.
pub fn engine_from_text(file: &str, text: &str, opts: EngineOptions) -> Engine {
    let parsed = cfgparse::parse(file, text, ParseOptions::new(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let resolver = |_: &str, _: u16| None;
    Engine::from_config(Time::ZERO, &parsed.config, opts, &resolver)
        .unwrap_or_else(|e| panic!("{file}: {e:?}"))
}

/// The far end of one engine socket: a client or a server, modelled as
/// its user likes (a script, an echo, a request counter...).
pub trait FarEnd {
    /// Bytes on the wire towards the engine, not read yet.
    fn to_engine(&mut self) -> &mut VecDeque<u8>;
    /// The far end shut its write side and the engine has not read the
    /// FIN yet.
    fn fin_pending(&self) -> bool;
    /// The engine read the FIN.
    fn fin_delivered(&mut self);
    /// How many more bytes the far end accepts (its receive window).
    fn room(&self) -> usize;
    /// The engine wrote (or spliced) `bytes` to this far end.
    fn receive(&mut self, bytes: &[u8]);
}

/// The far ends of a world, and what it does with the actions that
/// concern them. Every hook but [`Ends::end`] and [`Ends::connect`] has a
/// default that does nothing.
pub trait Ends {
    type End: FarEnd;
    /// The far end number `i`.
    fn end(&mut self, i: usize) -> &mut Self::End;
    /// `Action::Connect`: a new far end for the socket; returns its
    /// number. The socket stays *connecting* until
    /// [`Driver::connected`] or [`Driver::connect_failed`].
    fn connect(&mut self, sock: SockId, addr: SocketAddr) -> usize;
    /// `Action::ConnectUnix`: as [`Ends::connect`]; by default a world
    /// without UNIX sockets sees a connect to `0.0.0.0:0`.
    fn connect_unix(&mut self, sock: SockId, _addr: &crate::sock::UnixAddr) -> usize {
        self.connect(sock, SocketAddr::from(([0, 0, 0, 0], 0)))
    }
    /// Every action, before the driver carries it out (traces).
    fn saw(&mut self, _a: &Action) {}
    /// `Action::Shutdown`: the engine sent FIN to far end `end`.
    fn shutdown(&mut self, _end: usize) {}
    /// `Action::Close`: the engine closed the socket of far end `end`.
    fn closed(&mut self, _end: usize, _how: CloseHow) {}
    /// A client of far end `end` was accepted as `sock` (before the
    /// actions of the accept are drained).
    fn accepted(&mut self, _end: usize, _sock: SockId) {}
    /// `Action::Log`.
    fn log(&mut self, _l: LogLine) {}
    /// `Action::Exit`.
    fn exit(&mut self) {}
    /// One turn of I/O on socket `id` ([`Driver::round`] calls it for
    /// every socket); returns whether anything moved. The default is
    /// [`Driver::service`]; a world whose far ends act on their own
    /// (servers that answer connects, echo, reset) wraps it.
    fn step(&mut self, d: &mut Driver, id: SockId) -> bool
    where
        Self: Sized,
    {
        d.service(self, id)
    }
}

/// The driver's view of one engine socket.
#[derive(Debug)]
pub struct Sock {
    /// The far end's number (see [`Ends::end`]).
    pub end: usize,
    pub read: bool,
    pub write: bool,
    /// `Action::Connect` asked, not answered yet.
    pub connecting: Option<SocketAddr>,
    /// `Action::Shutdown` was asked.
    pub shut: bool,
    /// Reads are spliced to this socket (`Action::Splice`).
    pub splice_to: Option<SockId>,
}

/// How a driver differs from another (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub struct DriverOptions {
    /// Run `check_invariants()` after every drain.
    pub check_invariants: bool,
    /// Assert after every drain that no timer is due at or before now
    /// (a busy loop).
    pub check_timeouts: bool,
    /// Call `recv_blocked` when a read emptied the wire without a FIN
    /// (the next read would find nothing), as `proxy-mio` does on
    /// `EAGAIN`.
    pub recv_blocked: bool,
    /// The driver can splice (`EngineOptions::splice`).
    pub splice: bool,
    /// Most bytes per read.
    pub read_chunk: usize,
    /// [`Driver::advance`] calls `on_timeout(end)` once more at the end
    /// even when no timer is due then.
    pub tick_at_end: bool,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            check_invariants: false,
            check_timeouts: true,
            recv_blocked: false,
            splice: false,
            read_chunk: usize::MAX,
            tick_at_end: false,
        }
    }
}

/// The in-memory driver: one engine, its clock, its listeners and its
/// sockets. The far ends are the user's, passed to every call.
#[derive(Debug)]
pub struct Driver {
    pub engine: Engine,
    pub now: Time,
    pub opts: DriverOptions,
    /// Listening addresses, in the order the engine opened them.
    pub listeners: Vec<(ListenerId, ListenAddr)>,
    pub paused: BTreeSet<ListenerId>,
    pub socks: BTreeMap<SockId, Sock>,
    /// Directions handed over to splicing.
    pub spliced: usize,
    /// The sockets `Action::SendListeners` asked for, in order.
    pub sent_listeners: Vec<SockId>,
    /// Socket ids of the current pump round (reused, no allocation).
    scratch: Vec<SockId>,
    /// DNS queries the engine sent (`Action::DnsSend`), for the test to
    /// answer with `Engine::on_dns_recv`.
    pub dns_sent: Vec<(crate::dns::NameserverId, core::net::SocketAddr, Vec<u8>)>,
}

impl Driver {
    /// A driver for `engine`, its start-up actions drained.
    pub fn new(engine: Engine, opts: DriverOptions, ends: &mut impl Ends) -> Driver {
        let mut d = Driver {
            engine,
            now: Time::ZERO,
            opts,
            listeners: Vec::new(),
            paused: BTreeSet::new(),
            socks: BTreeMap::new(),
            spliced: 0,
            sent_listeners: Vec::new(),
            scratch: Vec::new(),
            dns_sent: Vec::new(),
        };
        d.drain(ends);
        d
    }

    /// Carries out every action, then checks the engine (after every
    /// entry point).
    pub fn drain(&mut self, ends: &mut impl Ends) {
        while let Some(a) = self.engine.poll_action() {
            self.act(ends, a);
        }
        if self.opts.check_invariants {
            self.engine.check_invariants();
        }
        if self.opts.check_timeouts {
            if let Some(t) = self.engine.next_timeout() {
                assert!(
                    t > self.now,
                    "timer at {t:?}, not after now {:?}: busy loop",
                    self.now
                );
            }
        }
    }

    fn act(&mut self, ends: &mut impl Ends, a: Action) {
        ends.saw(&a);
        match a {
            Action::Listen { listener, addr } => self.listeners.push((listener, addr)),
            Action::Unlisten { listener } => self.listeners.retain(|(l, _)| *l != listener),
            Action::Pause { listener } => {
                assert!(self.paused.insert(listener), "{listener:?} paused twice");
            }
            Action::Resume { listener } => {
                assert!(
                    self.paused.remove(&listener),
                    "{listener:?} resumed unpaused"
                );
            }
            Action::Connect { sock, addr } => {
                assert!(!self.socks.contains_key(&sock), "{sock:?} connected twice");
                let end = ends.connect(sock, addr);
                self.socks.insert(
                    sock,
                    Sock {
                        end,
                        read: false,
                        write: false,
                        connecting: Some(addr),
                        shut: false,
                        splice_to: None,
                    },
                );
            }
            Action::ConnectUnix { sock, addr } => {
                assert!(!self.socks.contains_key(&sock), "{sock:?} connected twice");
                let end = ends.connect_unix(sock, &addr);
                self.socks.insert(
                    sock,
                    Sock {
                        end,
                        read: false,
                        write: false,
                        connecting: Some(SocketAddr::from(([0, 0, 0, 0], 0))),
                        shut: false,
                        splice_to: None,
                    },
                );
            }
            Action::Interest { sock, read, write } => {
                let s = self.known(sock, "Interest");
                s.read = read;
                s.write = write;
            }
            Action::Splice { from, to } => {
                assert!(self.opts.splice, "splice asked of a driver that cannot");
                assert!(self.socks.contains_key(&to), "splice to unknown {to:?}");
                let s = self.known(from, "Splice");
                assert!(s.splice_to.is_none(), "{from:?} spliced twice");
                s.splice_to = Some(to);
                self.spliced += 1;
            }
            Action::Shutdown { sock } => {
                let pending = self.engine.send_buf(sock).len();
                assert_eq!(
                    pending, 0,
                    "Shutdown of {sock:?} with {pending} bytes to send"
                );
                let s = self.known(sock, "Shutdown");
                s.shut = true;
                ends.shutdown(s.end);
            }
            Action::Close { sock, how } => {
                let end = self.known(sock, "Close").end;
                self.forget(sock);
                ends.closed(end, how);
            }
            Action::SendListeners { sock } => {
                // Descriptors cannot cross a simulated socket: the
                // request is recorded, which is what tests check.
                self.known(sock, "SendListeners");
                self.sent_listeners.push(sock);
            }
            Action::Log(l) => ends.log(l),
            Action::DnsSend { ns, addr, datagram } => self.dns_sent.push((ns, addr, datagram)),
            Action::Exit => ends.exit(),
        }
    }

    fn known(&mut self, sock: SockId, what: &str) -> &mut Sock {
        match self.socks.get_mut(&sock) {
            Some(s) => s,
            None => panic!("{what} for {sock:?}, which the driver does not know"),
        }
    }

    /// The socket is gone (closed by the engine, or failed): sockets
    /// spliced into it stop splicing.
    pub fn forget(&mut self, sock: SockId) -> Option<Sock> {
        let s = self.socks.remove(&sock);
        for o in self.socks.values_mut() {
            if o.splice_to == Some(sock) {
                o.splice_to = None;
            }
        }
        s
    }

    /// A client of far end `end` connects to `listener`; returns the
    /// engine's socket (`None`: refused). Drains, does not pump.
    pub fn accept(
        &mut self,
        ends: &mut impl Ends,
        listener: ListenerId,
        end: usize,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) -> Option<SockId> {
        let id = self.engine.on_accept(self.now, listener, peer, local);
        if let Some(id) = id {
            assert!(!self.socks.contains_key(&id), "{id:?} accepted twice");
            ends.accepted(end, id);
            self.socks.insert(
                id,
                Sock {
                    end,
                    read: false,
                    write: false,
                    connecting: None,
                    shut: false,
                    splice_to: None,
                },
            );
        }
        self.drain(ends);
        id
    }

    /// The connecting sockets, in id order.
    pub fn pending(&self) -> Vec<SockId> {
        self.socks
            .iter()
            .filter(|(_, s)| s.connecting.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    /// The server accepted the connection of `sock`. Drains.
    pub fn connected(&mut self, ends: &mut impl Ends, sock: SockId) {
        self.known(sock, "connect").connecting = None;
        self.engine.on_connected(self.now, sock);
        self.drain(ends);
    }

    /// The connection of `sock` failed. Drains.
    pub fn connect_failed(
        &mut self,
        ends: &mut impl Ends,
        sock: SockId,
        err: crate::sock::SockError,
    ) {
        self.forget(sock);
        self.engine.on_connect_error(self.now, sock, err);
        self.drain(ends);
    }

    /// The socket failed (a reset from the far end). Drains.
    pub fn error(&mut self, ends: &mut impl Ends, sock: SockId, err: crate::sock::SockError) {
        self.forget(sock);
        self.engine.on_error(self.now, sock, err);
        self.drain(ends);
    }

    /// Moves bytes and events until nothing moves; panics after
    /// `max_rounds` rounds that all moved something (a livelock).
    pub fn pump(&mut self, ends: &mut impl Ends, max_rounds: usize) {
        for _ in 0..max_rounds {
            if !self.round(ends) {
                return;
            }
        }
        panic!("no quiescence after {max_rounds} rounds: livelock");
    }

    /// One turn of I/O on every socket (those that exist when the round
    /// starts, in id order); returns whether anything moved.
    pub fn round(&mut self, ends: &mut impl Ends) -> bool {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        ids.extend(self.socks.keys().copied());
        let mut progress = false;
        for &id in &ids {
            progress |= ends.step(self, id);
        }
        self.scratch = ids;
        progress
    }

    /// One turn of I/O on one socket: write, then read or splice; returns
    /// whether anything moved. Connecting sockets wait.
    pub fn service(&mut self, ends: &mut impl Ends, id: SockId) -> bool {
        let Some(s) = self.socks.get(&id) else {
            return false;
        };
        if s.connecting.is_some() {
            return false;
        }
        let mut progress = self.service_write(ends, id);
        let Some(s) = self.socks.get(&id) else {
            return progress;
        };
        if !s.read {
            return progress;
        }
        progress |= match s.splice_to {
            Some(to) => self.service_splice(ends, id, to),
            None => self.service_read(ends, id),
        };
        progress
    }

    fn service_write(&mut self, ends: &mut impl Ends, id: SockId) -> bool {
        let s = &self.socks[&id];
        if !s.write {
            return false;
        }
        let (e, shut) = (s.end, s.shut);
        let end = ends.end(e);
        let room = end.room();
        let buf = self.engine.send_buf(id);
        if buf.is_empty() || room == 0 {
            return false;
        }
        assert!(
            !shut,
            "{} bytes to write on {id:?} after its FIN",
            buf.len()
        );
        let n = buf.len().min(room);
        end.receive(&buf[..n]);
        self.engine.on_sent(self.now, id, n);
        self.drain(ends);
        true
    }

    fn service_read(&mut self, ends: &mut impl Ends, id: SockId) -> bool {
        let e = self.socks[&id].end;
        let end = ends.end(e);
        if !end.to_engine().is_empty() {
            let buf = self.engine.recv_buf(id);
            if buf.is_empty() {
                return false;
            }
            let wire = end.to_engine();
            let n = buf.len().min(wire.len()).min(self.opts.read_chunk);
            let (a, b) = wire.as_slices();
            let k = a.len().min(n);
            buf[..k].copy_from_slice(&a[..k]);
            buf[k..n].copy_from_slice(&b[..n - k]);
            wire.drain(..n);
            self.engine.on_recv(self.now, id, n);
            self.drain(ends);
            let end = ends.end(e);
            let emptied = end.to_engine().is_empty() && !end.fin_pending();
            if self.opts.recv_blocked && emptied && self.socks.contains_key(&id) {
                // The next read would find nothing.
                self.engine.recv_blocked(id);
                self.drain(ends);
            }
            return true;
        }
        if end.fin_pending() {
            if self.engine.recv_buf(id).is_empty() {
                return false;
            }
            end.fin_delivered();
            self.engine.on_recv(self.now, id, 0);
            self.drain(ends);
            return true;
        }
        false
    }

    /// Spliced reads go straight to the far end of `to`.
    fn service_splice(&mut self, ends: &mut impl Ends, id: SockId, to: SockId) -> bool {
        let e = self.socks[&id].end;
        let Some(dst) = self.socks.get(&to) else {
            return false;
        };
        let (d, dst_shut) = (dst.end, dst.shut);
        let room = ends.end(d).room();
        let n = ends
            .end(e)
            .to_engine()
            .len()
            .min(room)
            .min(self.opts.read_chunk);
        if n > 0 {
            assert!(!dst_shut, "{n} bytes spliced into {to:?} after its FIN");
            let bytes: Vec<u8> = ends.end(e).to_engine().drain(..n).collect();
            ends.end(d).receive(&bytes);
            self.engine.on_spliced(self.now, id, n);
            self.drain(ends);
            return true;
        }
        let end = ends.end(e);
        if end.to_engine().is_empty() && end.fin_pending() {
            end.fin_delivered();
            self.engine.on_recv(self.now, id, 0);
            self.drain(ends);
            return true;
        }
        false
    }

    /// Lets `ms` pass, running every timer at its due time and pumping
    /// after each (`max_rounds` as in [`Driver::pump`]).
    pub fn advance(&mut self, ends: &mut impl Ends, ms: u64, max_rounds: usize) {
        let end = self.now.add_ms(ms);
        while let Some(t) = self.engine.next_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.engine.on_timeout(self.now);
            self.drain(ends);
            self.pump(ends, max_rounds);
        }
        self.now = end;
        if self.opts.tick_at_end {
            self.engine.on_timeout(end);
            self.drain(ends);
        }
        self.pump(ends, max_rounds);
    }

    /// Asserts that nothing is left: no connection, session, stream or
    /// buffer, and the engine's invariants hold.
    pub fn assert_drained(&self) {
        assert_eq!(
            self.engine.datapath_counts(),
            (0, 0, 0, 0),
            "engine leaked (conns, sessions, streams, buffers)"
        );
        self.engine.check_invariants();
    }
}

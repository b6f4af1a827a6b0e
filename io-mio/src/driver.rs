//! The mio event loop: turns readiness into engine inputs and engine actions
//! into syscalls. It decides nothing; see `sluice_core::engine` for the
//! driving contract.
//!
//! Every socket is registered once, edge-triggered, for both directions.
//! The driver keeps HAProxy's split between *interest* (the engine's
//! `Action::Interest`) and *readiness* (`may_recv`/`may_send`, set by poll
//! events and cleared on `WouldBlock`): a socket is serviced when both say
//! yes, so no `epoll_ctl` is needed when interest changes.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use sluice_core::engine::{Engine, StopMode};
use sluice_core::sock::{Action, CloseHow, ListenAddr, ListenerId, LogLine, SockError, SockId};
use sluice_core::time::Time;

use crate::log::LogSink;

const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// Listener tokens live above this; socket tokens are engine slot indexes.
const LISTENER_BASE: usize = 1 << 40;
/// Reads or writes per socket per turn, so one busy socket cannot starve
/// the others.
const IO_BUDGET: usize = 16;

enum Listening {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }
}

struct DSock {
    id: SockId,
    stream: Stream,
    want_recv: bool,
    want_send: bool,
    may_recv: bool,
    may_send: bool,
    connecting: bool,
}

/// The event loop around one engine.
pub struct Driver {
    poll: Poll,
    engine: Engine,
    start: Instant,
    listeners: BTreeMap<ListenerId, Listening>,
    socks: BTreeMap<usize, DSock>,
    log: LogSink,
    exit: bool,
}

fn sock_error(e: &io::Error) -> SockError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => SockError::Refused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => SockError::Reset,
        io::ErrorKind::TimedOut => SockError::TimedOut,
        _ => match e.raw_os_error() {
            Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) => SockError::Unreachable,
            Some(n) => SockError::Other(n),
            None => SockError::Other(0),
        },
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    // Like HAProxy on Linux: an old and a new process may listen on the
    // same address during a reload.
    sock.set_reuse_port(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    Ok(TcpListener::from_std(sock.into()))
}

fn bind_unix(path: &str, mode: Option<u32>) -> io::Result<UnixListener> {
    // A stale socket left by a previous process is replaced, as HAProxy does.
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
        let _ = std::fs::remove_file(path);
    }
    let l = UnixListener::bind(path)?;
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(l)
}

impl Driver {
    pub fn new(engine: Engine, start: Instant, log: LogSink) -> io::Result<Driver> {
        Ok(Driver {
            poll: Poll::new()?,
            engine,
            start,
            listeners: BTreeMap::new(),
            socks: BTreeMap::new(),
            log,
            exit: false,
        })
    }

    fn now(&self) -> Time {
        Time::from_ms(self.start.elapsed().as_millis() as u64)
    }

    /// Runs until the engine asks to exit. Returns the engine for inspection.
    /// `on_bound` runs once the engine's first actions (its listeners) are done.
    pub fn run(mut self, on_bound: impl FnOnce()) -> io::Result<()> {
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGUSR1])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        let mut events = Events::with_capacity(1024);
        self.drain_actions();
        on_bound();
        while !self.exit {
            self.service();
            if self.exit {
                break;
            }
            let timeout = self.engine.next_timeout().map(|t| {
                let now = self.now();
                Duration::from_millis(t.saturating_since(now))
            });
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                match ev.token() {
                    SIGNAL_TOKEN => self.handle_signals(&mut signals),
                    Token(t) if t >= LISTENER_BASE => {
                        self.accept_all(ListenerId((t - LISTENER_BASE) as u32))
                    }
                    Token(t) => self.mark_ready(t, ev),
                }
            }
            let now = self.now();
            if Time::is_expired(self.engine.next_timeout(), now) {
                self.engine.on_timeout(now);
                self.drain_actions();
            }
        }
        self.remove_unix_sockets();
        Ok(())
    }

    /// Unix listeners leave their path behind; remove it on exit.
    fn remove_unix_sockets(&mut self) {
        for l in self.listeners.values() {
            if let Listening::Unix(_, path) = l {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Fires the engine's timers that are due at `now` before the driver
    /// hands it another input at `now`: the engine checks (in debug builds)
    /// that no timer at or before `now` is left once an entry point
    /// returns, which only holds if due timers ran first. Without this, an
    /// accept, a connect completion or a read at the very millisecond a
    /// timer expires tripped that check (the simulator found it).
    fn fire_due_timers(&mut self, now: Time) {
        if Time::is_expired(self.engine.next_timeout(), now) {
            self.engine.on_timeout(now);
            self.drain_actions();
        }
    }

    fn handle_signals(&mut self, signals: &mut Signals) {
        let pending: Vec<i32> = signals.pending().collect();
        for sig in pending {
            let mode = if sig == SIGUSR1 {
                StopMode::Soft
            } else {
                StopMode::Hard
            };
            let now = self.now();
            self.fire_due_timers(now);
            self.engine.stop(now, mode);
            self.drain_actions();
        }
    }

    fn mark_ready(&mut self, t: usize, ev: &mio::event::Event) {
        let Some(s) = self.socks.get_mut(&t) else {
            return;
        };
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            s.may_recv = true;
        }
        if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
            s.may_send = true;
        }
        if s.connecting && (ev.is_writable() || ev.is_error() || ev.is_write_closed()) {
            self.finish_connect(t);
        }
    }

    fn finish_connect(&mut self, t: usize) {
        let now = self.now();
        self.fire_due_timers(now);
        let Some(s) = self.socks.get_mut(&t) else {
            return;
        };
        let Stream::Tcp(tcp) = &s.stream else { return };
        let id = s.id;
        let err = match tcp.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match tcp.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return, // still connecting
                Err(e) => Some(e),
            },
        };
        match err {
            None => {
                s.connecting = false;
                self.engine.on_connected(now, id);
            }
            Some(e) => {
                self.drop_sock(t);
                self.engine.on_connect_error(now, id, sock_error(&e));
            }
        }
        self.drain_actions();
    }

    fn accept_all(&mut self, lid: ListenerId) {
        loop {
            let accepted = match self.listeners.get(&lid) {
                Some(Listening::Tcp(l)) => l.accept().map(|(s, a)| (Stream::Tcp(s), Some(a))),
                Some(Listening::Unix(l, _)) => l.accept().map(|(s, _)| (Stream::Unix(s), None)),
                None => return,
            };
            let (mut stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) if would_block(&e) => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.log.alert(&format!("accept() failed: {e}"));
                    return;
                }
            };
            if let Stream::Tcp(s) = &stream {
                let _ = s.set_nodelay(true);
            }
            let now = self.now();
            self.fire_due_timers(now);
            let Some(id) = self.engine.on_accept(now, lid, peer) else {
                continue; // refused: dropping the stream closes it
            };
            let t = id.index();
            if self
                .poll
                .registry()
                .register(
                    stream.source(),
                    Token(t),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                self.engine.on_error(now, id, SockError::Other(0));
                self.drain_actions();
                continue;
            }
            self.socks.insert(
                t,
                DSock {
                    id,
                    stream,
                    want_recv: false,
                    want_send: false,
                    may_recv: true,
                    may_send: true,
                    connecting: false,
                },
            );
            self.drain_actions();
        }
    }

    /// Carries out every action the engine has queued.
    fn drain_actions(&mut self) {
        while let Some(a) = self.engine.poll_action() {
            match a {
                Action::Listen { listener, addr } => self.listen(listener, addr),
                Action::Unlisten { listener } => {
                    if let Some(mut l) = self.listeners.remove(&listener) {
                        match &mut l {
                            Listening::Tcp(t) => {
                                let _ = self.poll.registry().deregister(t);
                            }
                            Listening::Unix(u, path) => {
                                let _ = self.poll.registry().deregister(u);
                                let _ = std::fs::remove_file(path);
                            }
                        }
                    }
                }
                Action::Connect { sock, addr } => self.connect(sock, addr),
                Action::Interest { sock, read, write } => {
                    if let Some(s) = self.socks.get_mut(&sock.index()).filter(|s| s.id == sock) {
                        s.want_recv = read;
                        s.want_send = write;
                    }
                }
                Action::Shutdown { sock } => {
                    if let Some(s) = self.socks.get(&sock.index()).filter(|s| s.id == sock) {
                        s.stream.shutdown_write();
                    }
                }
                Action::Close { sock, how } => {
                    if self.socks.get(&sock.index()).is_some_and(|s| s.id == sock) {
                        if how == CloseHow::Reset {
                            if let Some(DSock {
                                stream: Stream::Tcp(t),
                                ..
                            }) = self.socks.get(&sock.index())
                            {
                                let _ = socket2::SockRef::from(t).set_linger(Some(Duration::ZERO));
                            }
                        }
                        self.drop_sock(sock.index());
                    }
                }
                Action::Log(line) => self.write_log(&line),
                Action::Exit => self.exit = true,
            }
        }
    }

    fn write_log(&mut self, line: &LogLine) {
        self.log.write(line);
    }

    fn listen(&mut self, lid: ListenerId, addr: ListenAddr) {
        let now = self.now();
        let token = Token(LISTENER_BASE + lid.0 as usize);
        let res = match &addr {
            ListenAddr::Tcp(a) => bind_tcp(*a).and_then(|mut l| {
                self.poll
                    .registry()
                    .register(&mut l, token, Interest::READABLE)?;
                Ok(Listening::Tcp(l))
            }),
            ListenAddr::Unix { path, mode } => bind_unix(path, *mode).and_then(|mut l| {
                self.poll
                    .registry()
                    .register(&mut l, token, Interest::READABLE)?;
                Ok(Listening::Unix(l, PathBuf::from(path)))
            }),
        };
        match res {
            Ok(l) => {
                self.listeners.insert(lid, l);
            }
            Err(e) => self.engine.on_listen_error(now, lid, &e.to_string()),
        }
    }

    fn connect(&mut self, id: SockId, addr: SocketAddr) {
        let now = self.now();
        let res = TcpStream::connect(addr).and_then(|mut s| {
            s.set_nodelay(true)?;
            self.poll.registry().register(
                &mut s,
                Token(id.index()),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(s)
        });
        match res {
            Ok(s) => {
                self.socks.insert(
                    id.index(),
                    DSock {
                        id,
                        stream: Stream::Tcp(s),
                        want_recv: false,
                        want_send: false,
                        may_recv: false,
                        may_send: false,
                        connecting: true,
                    },
                );
            }
            Err(e) => self.engine.on_connect_error(now, id, sock_error(&e)),
        }
    }

    fn drop_sock(&mut self, t: usize) {
        if let Some(mut s) = self.socks.remove(&t) {
            let _ = self.poll.registry().deregister(s.stream.source());
        }
    }

    /// Services every socket whose interest and readiness agree, until no
    /// more progress is possible without polling.
    fn service(&mut self) {
        loop {
            let ready: Vec<usize> = self
                .socks
                .iter()
                .filter(|(_, s)| {
                    !s.connecting && ((s.want_recv && s.may_recv) || (s.want_send && s.may_send))
                })
                .map(|(&t, _)| t)
                .collect();
            let mut progress = false;
            for t in ready {
                progress |= self.service_one(t);
                if self.exit {
                    return;
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// One turn of I/O on one socket; returns whether anything moved.
    fn service_one(&mut self, t: usize) -> bool {
        let mut progress = false;
        for _ in 0..IO_BUDGET {
            let now = self.now();
            self.fire_due_timers(now);
            let Some(s) = self.socks.get_mut(&t) else {
                return progress;
            };
            if !(s.want_send && s.may_send) {
                break;
            }
            let id = s.id;
            let buf = self.engine.send_buf(id);
            if buf.is_empty() {
                break;
            }
            match s.stream.write(buf) {
                Ok(n) => {
                    progress = true;
                    self.engine.on_sent(now, id, n);
                }
                Err(e) if would_block(&e) => s.may_send = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.drop_sock(t);
                    self.engine.on_error(now, id, sock_error(&e));
                }
            }
            self.drain_actions();
        }
        for _ in 0..IO_BUDGET {
            let now = self.now();
            self.fire_due_timers(now);
            let Some(s) = self.socks.get_mut(&t) else {
                return progress;
            };
            if !(s.want_recv && s.may_recv) {
                break;
            }
            let id = s.id;
            let buf = self.engine.recv_buf(id);
            if buf.is_empty() {
                break; // backpressure: readiness is kept for later
            }
            match s.stream.read(buf) {
                Ok(n) => {
                    progress = true;
                    if n == 0 {
                        s.may_recv = false;
                    }
                    self.engine.on_recv(now, id, n);
                }
                Err(e) if would_block(&e) => s.may_recv = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.drop_sock(t);
                    self.engine.on_error(now, id, sock_error(&e));
                }
            }
            self.drain_actions();
        }
        progress
    }

    /// The log sink, for the final messages.
    pub fn log_sink(&mut self) -> &mut LogSink {
        &mut self.log
    }
}

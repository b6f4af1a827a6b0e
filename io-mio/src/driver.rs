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
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use sluice_core::dns::NameserverId;
use sluice_core::engine::{Engine, Shared, StopMode};
use sluice_core::sock::{
    Action, CloseHow, ListenAddr, ListenerId, LogLine, SockError, SockId, UnixAddr,
};
use sluice_core::time::Time;

use crate::log::LogSink;
use crate::splice::Pipe;

const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// Another thread's engine has a message for ours ([`Mesh`]).
const WAKER_TOKEN: Token = Token(usize::MAX - 2);
/// Listener tokens live above this; socket tokens are engine slot indexes.
const LISTENER_BASE: usize = 1 << 40;
/// Nameserver sockets (`Action::DnsSend`) live above this (and above the
/// listeners): `DNS_BASE + (resolvers << 16 | ns)`.
const DNS_BASE: usize = 1 << 41;
/// Reads or writes per socket per turn, so one busy socket cannot starve
/// the others.
const IO_BUDGET: usize = 16;

enum Listening {
    /// The listener, and its address when it is a specific one (every
    /// accepted socket then has it as local address: no `getsockname`).
    Tcp(TcpListener, Option<SocketAddr>),
    Unix(UnixListener, OwnedPath),
}

/// The file a unix listener was bound to, and the identity (device, inode)
/// of the socket file it created there.
struct OwnedPath {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl OwnedPath {
    fn new(path: &str) -> OwnedPath {
        let path = PathBuf::from(path);
        let id = file_id(&path);
        OwnedPath { path, id }
    }

    /// Removes the socket file, but only if it is still the one we created:
    /// during a reload the new process binds the same path (replacing our
    /// file) before the old one exits, and the old one must not remove the
    /// new one's socket.
    fn remove(&self) {
        if LISTENERS_HANDED_OVER.load(std::sync::atomic::Ordering::Relaxed) {
            // The socket lives on in the new process, under this path.
            return;
        }
        if self.id.is_some() && file_id(&self.path) == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Set once this process handed its listening sockets over (`_getsocks`
/// on an `expose-fd listeners` stats socket, or from its master): its
/// UNIX sockets live on in the new process, and their paths must stay.
pub static LISTENERS_HANDED_OVER: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
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
    /// The poller reported the peer's shutdown (or an error): the next
    /// reads end with read0, which no further edge will announce.
    read_closed: bool,
    connecting: bool,
    /// Reads on this socket are spliced to another one.
    splice_out: Option<Pipe>,
    /// On the driver's `dirty` list.
    queued: bool,
}

/// Sockets by the index of their [`SockId`]: the engine's socket ids
/// are dense, so a vector is a map with O(1) lookups.
#[derive(Default)]
struct SockMap(Vec<Option<DSock>>);

impl SockMap {
    fn get(&self, i: &usize) -> Option<&DSock> {
        self.0.get(*i).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, i: &usize) -> Option<&mut DSock> {
        self.0.get_mut(*i).and_then(Option::as_mut)
    }

    fn insert(&mut self, i: usize, s: DSock) -> Option<DSock> {
        if self.0.len() <= i {
            self.0.resize_with(i + 1, || None);
        }
        self.0[i].replace(s)
    }

    fn remove(&mut self, i: &usize) -> Option<DSock> {
        self.0.get_mut(*i).and_then(Option::take)
    }
}

impl DSock {
    /// Interest and readiness agree: there is I/O to try.
    fn eligible(&self) -> bool {
        !self.connecting
            && ((self.want_recv && self.may_recv)
                || (self.want_send && self.may_send)
                || self
                    .splice_out
                    .as_ref()
                    .is_some_and(|p| p.fill > 0 || (p.eof && !p.eof_reported)))
    }
}

impl std::ops::Index<&usize> for SockMap {
    type Output = DSock;

    fn index(&self, i: &usize) -> &DSock {
        self.get(i).expect("socket present")
    }
}

impl DSock {
    fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match &self.stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// How the engines of a process's threads reach each other
/// (docs/threads.md): this thread's inbox, and every other thread's inbox
/// with the waker of its poller.
pub struct Mesh {
    pub inbox: std::sync::mpsc::Receiver<Shared>,
    pub others: Vec<(std::sync::mpsc::Sender<Shared>, std::sync::Arc<Waker>)>,
}

/// The event loop around one engine.
pub struct Driver {
    poll: Poll,
    engine: Engine,
    start: Instant,
    listeners: BTreeMap<ListenerId, Listening>,
    socks: SockMap,
    /// Sockets whose readiness or interest changed since they were last
    /// serviced: the only ones [`Driver::service`] looks at.
    dirty: Vec<usize>,
    /// Sockets that splice their reads: their pipe may drain whenever the
    /// destination becomes writable.
    splicing: Vec<usize>,
    /// Sockets with I/O to do that the engine could not take yet (no
    /// buffer from the pool, nothing to send yet): looked at again on the
    /// next turn, since an edge-triggered poller will not report them.
    parked: Vec<usize>,
    paused: std::collections::BTreeSet<ListenerId>,
    log: LogSink,
    exit: bool,
    /// Listeners that could not be bound; fatal while starting.
    bind_errors: Vec<String>,
    /// The time of the input being handled (see [`Driver::tick`]).
    now: Time,
    /// This driver's thread, from 0 (docs/threads.md): only thread 0
    /// binds the listeners that cannot be bound twice.
    thread: u32,
    /// Set by [`Driver::bind`].
    signals: Option<Signals>,
    /// With several threads, the other threads' engines.
    mesh: Option<Mesh>,
    /// One UDP socket per nameserver the engine sent a query to.
    dns: BTreeMap<NameserverId, mio::net::UdpSocket>,
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

/// A `connect()` that failed at once: other than a refusal (a UNIX
/// socket's), HAProxy's "General socket error" with the OS error.
fn connect_error(e: &io::Error) -> SockError {
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::ConnectionRefused, _) | (_, None) => sock_error(e),
        (_, Some(n)) => SockError::Connect(n),
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// An OS error as HAProxy prints it (`strerror`): "No such device", not
/// Rust's "No such device (os error 19)".
fn os_error_text(e: &io::Error) -> String {
    let t = e.to_string();
    match t.find(" (os error") {
        Some(i) => t[..i].to_string(),
        None => t,
    }
}

/// A listening TCP socket on `addr`, bound to network interface
/// `interface` when given (`SO_BINDTODEVICE`, HAProxy's `bind ...
/// interface`).
fn bind_tcp(addr: SocketAddr, interface: Option<&str>) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if let Some(i) = interface {
        // As HAProxy 2.6 (`sock_inet_bind_receiver`): a device that cannot
        // be bound to is a warning, and the socket listens without it.
        if let Err(e) = sock.bind_device(Some(i.as_bytes())) {
            crate::say(&format!(
                "[WARNING] Binding: cannot bind receiver to device '{i}' ({}) for [{addr}]",
                os_error_text(&e)
            ));
        }
    }
    sock.set_reuse_address(true)?;
    // Like HAProxy on Linux: an old and a new process may listen on the
    // same address during a reload.
    sock.set_reuse_port(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux:
    // one setsockopt per listener instead of one per connection.
    sock.set_nodelay(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    Ok(TcpListener::from_std(sock.into()))
}

/// Listening TCP sockets taken over from the previous process (a
/// master-worker reload, io-mio/src/mworker.rs, or `-x`,
/// io-mio/src/xfer.rs), by their local address and the interface they
/// are bound to: a listener bound on that address and interface adopts
/// one instead of binding, so the socket (and the connections in its
/// accept queue) survives the reload.
#[allow(clippy::type_complexity)]
static INHERITED: std::sync::Mutex<Vec<(SocketAddr, Option<String>, std::os::fd::OwnedFd)>> =
    std::sync::Mutex::new(Vec::new());

/// How many listeners adopted an inherited socket.
static ADOPTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Offers a listening socket taken over from the previous process to the
/// listeners about to be bound (see [`INHERITED`]); its interface is read
/// from the socket (`SO_BINDTODEVICE`).
pub fn inherit_listener(addr: SocketAddr, fd: std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let iface = crate::xfer::bound_device(fd.as_raw_fd());
    if let Ok(mut v) = INHERITED.lock() {
        v.push((addr, iface, fd));
    }
}

/// Closes the inherited sockets no listener adopted; returns how many
/// were adopted and how many are closed.
pub fn release_inherited() -> (usize, usize) {
    let left = INHERITED
        .lock()
        .map(|mut v| v.drain(..).count())
        .unwrap_or(0)
        + INHERITED_UNIX
            .lock()
            .map(|mut v| v.drain(..).count())
            .unwrap_or(0);
    (ADOPTED.load(std::sync::atomic::Ordering::Relaxed), left)
}

/// An inherited listening socket on `addr` bound to `interface`, if one
/// is left.
fn take_inherited(addr: SocketAddr, interface: Option<&str>) -> Option<TcpListener> {
    if addr.port() == 0 {
        return None;
    }
    let fd = {
        let mut v = INHERITED.lock().ok()?;
        let i = v
            .iter()
            .position(|(a, i, _)| *a == addr && i.as_deref() == interface)?;
        v.swap_remove(i).2
    };
    let sock = socket2::Socket::from(fd);
    sock.set_nonblocking(true).ok()?;
    sock.set_cloexec(true).ok()?;
    ADOPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let l: std::net::TcpListener = sock.into();
    Some(TcpListener::from_std(l))
}

/// UNIX and abstract listening sockets taken over with `-x`
/// (io-mio/src/xfer.rs), by [`unix_key`]: a listener on that path or
/// abstract name adopts one instead of binding.
static INHERITED_UNIX: std::sync::Mutex<Vec<(Vec<u8>, std::os::fd::OwnedFd)>> =
    std::sync::Mutex::new(Vec::new());

/// What a UNIX listening socket is matched by: the path it was bound for
/// (HAProxy's `sock_unix_addrcmp`: a socket bound under `PATH.PID.tmp`
/// and renamed over `PATH` still says `PATH.PID.tmp`), or a NUL and the
/// abstract name without its NUL padding.
pub fn unix_key(addr: &std::os::unix::net::SocketAddr) -> Option<Vec<u8>> {
    if let Some(p) = addr.as_pathname() {
        use std::os::unix::ffi::OsStrExt;
        let b = p.as_os_str().as_bytes();
        let stripped = b
            .strip_suffix(b".tmp")
            .or_else(|| b.strip_suffix(b".bak"))
            .and_then(|r| {
                let dot = r.iter().rposition(|&c| c == b'.')?;
                let pid = &r[dot + 1..];
                (!pid.is_empty() && pid.iter().all(u8::is_ascii_digit)).then_some(&r[..dot])
            });
        return Some(stripped.unwrap_or(b).to_vec());
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        if let Some(n) = addr.as_abstract_name() {
            let end = n.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            let mut k = vec![0u8];
            k.extend_from_slice(&n[..end]);
            return Some(k);
        }
    }
    None
}

/// Offers a UNIX listening socket taken over with `-x` (see
/// [`INHERITED_UNIX`]).
pub fn inherit_unix_listener(key: Vec<u8>, fd: std::os::fd::OwnedFd) {
    if let Ok(mut v) = INHERITED_UNIX.lock() {
        v.push((key, fd));
    }
}

/// An inherited UNIX listening socket for `key`, if one is left.
fn take_inherited_unix(key: &[u8]) -> Option<UnixListener> {
    let fd = {
        let mut v = INHERITED_UNIX.lock().ok()?;
        let i = v.iter().position(|(k, _)| k == key)?;
        v.swap_remove(i).1
    };
    let l = std::os::unix::net::UnixListener::from(fd);
    l.set_nonblocking(true).ok()?;
    ADOPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Some(UnixListener::from_std(l))
}

/// Adopts a listening socket inherited on descriptor `fd` (`fd@N`), as
/// HAProxy does with `AF_CUST_EXISTING_FD` receivers: it must be a stream
/// socket; one not yet listening is put in the listening state. TCP or
/// UNIX is read from the socket's own address.
fn adopt_fd(fd: i32) -> io::Result<Listening> {
    use socket2::{Socket, Type};
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: fcntl(F_GETFD) on any integer only reads the descriptor
    // table; -1 means no such descriptor, and then we do not adopt it.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the descriptor is open (checked above), and the
    // configuration gives it to this listener: we own it from now on.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let sock = Socket::from(owned);
    let local = sock.local_addr()?;
    if sock.r#type()? != Type::STREAM {
        return Err(io::Error::other("inherited socket is not a stream socket"));
    }
    if !sock.is_listener()? {
        sock.listen(1024)?;
    }
    sock.set_nonblocking(true)?;
    sock.set_cloexec(true)?;
    if let Some(a) = local.as_socket() {
        let _ = sock.set_nodelay(true);
        let fixed = Some(a).filter(|a| !a.ip().is_unspecified());
        let l: std::net::TcpListener = sock.into();
        Ok(Listening::Tcp(TcpListener::from_std(l), fixed))
    } else if local.is_unix() {
        let l: std::os::unix::net::UnixListener = OwnedFd::from(sock).into();
        // Not ours to remove at exit: no path, no identity.
        let path = OwnedPath {
            path: PathBuf::new(),
            id: None,
        };
        Ok(Listening::Unix(UnixListener::from_std(l), path))
    } else {
        Err(io::Error::other("inherited socket is neither TCP nor UNIX"))
    }
}

/// Binds a UNIX stream socket at `path` as HAProxy's
/// `sock_unix_bind_receiver()` does: bound under a temporary name, given
/// its owner (`uid`, `gid`) and permissions (`mode`), then renamed over
/// `path`, so that the socket never exists at `path` with other
/// permissions, and a stale socket (or the one of a process being
/// replaced) is swapped atomically.
fn bind_unix(
    path: &str,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
) -> io::Result<UnixListener> {
    let tmp = format!("{path}.{}.tmp", std::process::id());
    // sun_path holds 108 bytes with its NUL.
    if tmp.len() >= 108 {
        return Err(io::Error::other(
            "name too long for UNIX socket (limit usually 97)",
        ));
    }
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io::Error::new(
                e.kind(),
                format!("error when trying to unlink previous UNIX socket ({e})"),
            ))
        }
        _ => {}
    }
    let l = UnixListener::bind(&tmp)?;
    let owned = (|| -> io::Result<()> {
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::chown(&tmp, uid, gid)?;
        }
        if let Some(mode) = mode {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    })();
    if let Err(e) = owned {
        let _ = std::fs::remove_file(&tmp);
        return Err(io::Error::new(
            e.kind(),
            format!("cannot change UNIX socket ownership ({e})"),
        ));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io::Error::new(
            e.kind(),
            format!("cannot switch final and temporary UNIX sockets ({e})"),
        ));
    }
    Ok(l)
}

/// Binds a Linux abstract-namespace stream socket as HAProxy does: the
/// name padded with NUL bytes to the whole `sun_path`, so that HAProxy's
/// `abns@NAME` clients (which pad the same way) reach it.
#[cfg(target_os = "linux")]
fn bind_abns(name: &str) -> io::Result<UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    // sun_path is 108 bytes: the leading NUL, then the padded name.
    const NAME_LEN: usize = 107;
    if name.len() > NAME_LEN {
        return Err(io::Error::other("name too long for an abstract socket"));
    }
    let mut padded = name.as_bytes().to_vec();
    padded.resize(NAME_LEN, 0);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&padded)?;
    let l = std::os::unix::net::UnixListener::bind_addr(&addr)?;
    l.set_nonblocking(true)?;
    Ok(UnixListener::from_std(l))
}

/// A non-blocking connection to a UNIX stream socket; an abstract name
/// is padded as [`bind_abns`] pads it (HAProxy's `abns@` addresses).
fn unix_connect(addr: &UnixAddr) -> io::Result<UnixStream> {
    match addr {
        UnixAddr::Path(p) => UnixStream::connect(p),
        UnixAddr::Abns(name) => abns_connect(name),
    }
}

#[cfg(target_os = "linux")]
fn abns_connect(name: &str) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    const NAME_LEN: usize = 107;
    if name.len() > NAME_LEN {
        return Err(io::Error::other("name too long for an abstract socket"));
    }
    let mut padded = name.as_bytes().to_vec();
    padded.resize(NAME_LEN, 0);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&padded)?;
    UnixStream::connect_addr(&addr)
}

#[cfg(not(target_os = "linux"))]
fn abns_connect(_name: &str) -> io::Result<UnixStream> {
    Err(io::Error::other("abstract sockets exist on Linux only"))
}

#[cfg(not(target_os = "linux"))]
fn bind_abns(_name: &str) -> io::Result<UnixListener> {
    Err(io::Error::other("abstract sockets exist on Linux only"))
}

impl Driver {
    pub fn new(engine: Engine, start: Instant, log: LogSink) -> io::Result<Driver> {
        Ok(Driver {
            poll: Poll::new()?,
            engine,
            start,
            listeners: BTreeMap::new(),
            socks: SockMap::default(),
            dirty: Vec::new(),
            splicing: Vec::new(),
            parked: Vec::new(),
            paused: Default::default(),
            log,
            exit: false,
            bind_errors: Vec::new(),
            now: Time::from_ms(start.elapsed().as_millis() as u64),
            thread: 0,
            signals: None,
            mesh: None,
            dns: BTreeMap::new(),
        })
    }

    /// A waker for this driver's poller: another thread writes it after
    /// sending a message to this thread's [`Mesh::inbox`].
    pub fn waker(&self) -> io::Result<std::sync::Arc<Waker>> {
        Waker::new(self.poll.registry(), WAKER_TOKEN).map(std::sync::Arc::new)
    }

    /// Connects this driver's engine to the other threads' engines.
    pub fn set_mesh(&mut self, mesh: Mesh) {
        self.mesh = Some(mesh);
        self.flush_shared();
    }

    /// Gives every message the engine has for the other threads to each
    /// of them, and wakes them.
    fn flush_shared(&mut self) {
        let Some(mesh) = &self.mesh else {
            return;
        };
        while let Some(msg) = self.engine.poll_shared() {
            // `others` holds every thread but this one, in thread order.
            let to = msg.to().map(|t| {
                if t > self.thread {
                    t as usize - 1
                } else {
                    t as usize
                }
            });
            for (i, (tx, waker)) in mesh.others.iter().enumerate() {
                if to.is_some_and(|to| to != i) {
                    continue;
                }
                // A thread that already exited has dropped its inbox.
                if tx.send(msg.clone()).is_ok() {
                    let _ = waker.wake();
                }
            }
        }
    }

    /// Hands the messages from the other threads to the engine.
    fn receive_shared(&mut self) {
        loop {
            let Some(msg) = self.mesh.as_ref().and_then(|m| m.inbox.try_recv().ok()) else {
                return;
            };
            let now = self.tick();
            self.engine.on_shared(now, msg);
            self.drain_actions();
        }
    }

    /// Makes this the driver of thread `thread` (0 by default).
    pub fn set_thread(&mut self, thread: u32) {
        self.thread = thread;
    }

    fn clock(&self) -> Time {
        Time::from_ms(self.start.elapsed().as_millis() as u64)
    }

    /// The time for the next engine input, after running every engine
    /// timer due by then. The engine must see its expired timers before
    /// any other input at the same time: an input at or after a deadline
    /// that was not run yet breaks its invariant (no timer at or before
    /// `now` when an entry point returns) and, worse, handles I/O with
    /// stale timeouts. Poll events and timeouts come back together, and
    /// time moves on while a batch of events is serviced, so this is done
    /// before every input, not once per poll.
    fn tick(&mut self) -> Time {
        let now = self.clock().max(self.now);
        self.now = now;
        if Time::is_expired(self.engine.next_timeout(), now) {
            self.engine.on_timeout(now);
            self.drain_actions();
        }
        now
    }

    /// Runs until the engine asks to exit. `on_bound` runs once the
    /// engine's first actions (its listeners) are done, before any
    /// connection is accepted; when it fails, the process does not start.
    pub fn run(mut self, on_bound: impl FnOnce() -> Result<(), String>) -> io::Result<()> {
        self.bind()?;
        if let Err(e) = on_bound() {
            self.abort();
            return Err(io::Error::other(e));
        }
        self.serve()
    }

    /// The first half of [`Driver::run`]: registers the signals and
    /// carries out the engine's first actions (its listeners). On error,
    /// what was bound is released. With several threads, every driver
    /// binds before the process drops its privileges, then serves.
    pub fn bind(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGUSR1])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        self.signals = Some(signals);
        self.drain_actions();
        if !self.bind_errors.is_empty() {
            // Like HAProxy: a process that cannot bind all its listeners
            // at startup does not start (a peers section without its
            // address would run deaf).
            self.remove_unix_sockets();
            return Err(io::Error::other(self.bind_errors.join("; ")));
        }
        Ok(())
    }

    /// Gives up after [`Driver::bind`]: the process does not start.
    pub fn abort(mut self) {
        self.remove_unix_sockets();
    }

    /// The second half of [`Driver::run`], after [`Driver::bind`]: runs
    /// until the engine asks to exit.
    pub fn serve(mut self) -> io::Result<()> {
        let mut signals = self
            .signals
            .take()
            .ok_or_else(|| io::Error::other("serve() before bind()"))?;
        let mut events = Events::with_capacity(1024);
        while !self.exit {
            self.service();
            if self.exit {
                break;
            }
            let timeout = if self.dirty.is_empty() {
                self.engine.next_timeout().map(|t| {
                    let now = self.clock();
                    Duration::from_millis(t.saturating_since(now))
                })
            } else {
                // Work left over: look at new events without sleeping.
                Some(Duration::ZERO)
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("event loop: {e}"))),
            }
            for ev in events.iter() {
                match ev.token() {
                    SIGNAL_TOKEN => self.handle_signals(&mut signals),
                    WAKER_TOKEN => self.receive_shared(),
                    Token(t) if t >= DNS_BASE => self.dns_recv(t - DNS_BASE),
                    Token(t) if t >= LISTENER_BASE => {
                        self.accept_all(ListenerId((t - LISTENER_BASE) as u32))
                    }
                    Token(t) => self.mark_ready(t, ev),
                }
            }
            self.tick();
        }
        self.remove_unix_sockets();
        Ok(())
    }

    /// Unix listeners leave their path behind; remove it on exit.
    fn remove_unix_sockets(&mut self) {
        for l in self.listeners.values() {
            if let Listening::Unix(_, path) = l {
                path.remove();
            }
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
            let now = self.tick();
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
        if ev.is_read_closed() || ev.is_error() {
            s.read_closed = true;
        }
        if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
            s.may_send = true;
        }
        self.mark_dirty(t);
        let Some(s) = self.socks.get_mut(&t) else {
            return;
        };
        if s.connecting && (ev.is_writable() || ev.is_error() || ev.is_write_closed()) {
            self.finish_connect(t);
        }
    }

    /// Puts socket `t` on the list [`Driver::service`] looks at.
    fn mark_dirty(&mut self, t: usize) {
        if let Some(s) = self.socks.get_mut(&t) {
            if !s.queued {
                s.queued = true;
                self.dirty.push(t);
            }
        }
    }

    fn finish_connect(&mut self, t: usize) {
        let now = self.tick();
        let Some(s) = self.socks.get_mut(&t) else {
            return;
        };
        let id = s.id;
        let (taken, peer) = match &s.stream {
            Stream::Tcp(tcp) => (tcp.take_error(), tcp.peer_addr().map(drop)),
            Stream::Unix(u) => (u.take_error(), u.peer_addr().map(drop)),
        };
        let err = match taken {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match peer {
                Ok(()) => None,
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
            if self.paused.contains(&lid) {
                return;
            }
            let accepted = match self.listeners.get(&lid) {
                Some(Listening::Tcp(l, _)) => l.accept().map(|(s, a)| (Stream::Tcp(s), Some(a))),
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
            let fixed = match self.listeners.get(&lid) {
                Some(Listening::Tcp(_, a)) => *a,
                _ => None,
            };
            let mut local = None;
            if let Stream::Tcp(s) = &stream {
                if !cfg!(target_os = "linux") {
                    let _ = s.set_nodelay(true);
                }
                local = fixed.or_else(|| s.local_addr().ok());
            }
            let now = self.tick();
            let Some(id) = self.engine.on_accept(now, lid, peer, local) else {
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
                    read_closed: false,
                    connecting: false,
                    splice_out: None,
                    queued: false,
                },
            );
            self.mark_dirty(t);
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
                            Listening::Tcp(t, _) => {
                                let _ = self.poll.registry().deregister(t);
                            }
                            Listening::Unix(u, path) => {
                                let _ = self.poll.registry().deregister(u);
                                path.remove();
                            }
                        }
                    }
                }
                Action::Pause { listener } => self.pause(listener, true),
                Action::Resume { listener } => {
                    self.pause(listener, false);
                    self.accept_all(listener);
                }
                Action::Connect { sock, addr } => self.connect(sock, addr),
                Action::ConnectUnix { sock, addr } => self.connect_unix(sock, &addr),
                Action::Splice { from, to } => self.start_splice(from, to),
                Action::Interest { sock, read, write } => {
                    if let Some(s) = self.socks.get_mut(&sock.index()).filter(|s| s.id == sock) {
                        s.want_recv = read;
                        s.want_send = write;
                        if s.eligible() {
                            self.mark_dirty(sock.index());
                        }
                    }
                }
                Action::Shutdown { sock } => {
                    if let Some(s) = self.socks.get(&sock.index()).filter(|s| s.id == sock) {
                        s.stream.shutdown_write();
                    }
                }
                Action::Close { sock, how } => {
                    if self.socks.get(&sock.index()).is_some_and(|s| s.id == sock) {
                        if how == CloseHow::Drain {
                            self.drain_before_close(sock.index());
                        }
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
                Action::SendListeners { sock } => self.send_listeners(sock),
                Action::Log(line) => self.write_log(&line),
                Action::DnsSend { ns, addr, datagram } => self.dns_send(ns, addr, &datagram),
                Action::Exit => self.exit = true,
            }
        }
        self.flush_shared();
    }

    /// Sends a DNS query on nameserver `ns`'s socket (opened, connected to
    /// `addr`, on first use). Failures are dropped: the engine retries.
    fn dns_send(&mut self, ns: NameserverId, addr: SocketAddr, datagram: &[u8]) {
        if !self.dns.contains_key(&ns) {
            let any: SocketAddr = if addr.is_ipv4() {
                (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let opened = mio::net::UdpSocket::bind(any).and_then(|mut u| {
                u.connect(addr)?;
                let token = DNS_BASE + (usize::from(ns.resolvers) << 16 | usize::from(ns.ns));
                self.poll
                    .registry()
                    .register(&mut u, Token(token), Interest::READABLE)?;
                Ok(u)
            });
            match opened {
                Ok(u) => {
                    self.dns.insert(ns, u);
                }
                Err(e) => {
                    self.log.alert(&format!("nameserver {addr}: {e}"));
                    return;
                }
            }
        }
        if let Some(u) = self.dns.get(&ns) {
            let _ = u.send(datagram);
        }
    }

    /// Reads every datagram waiting on a nameserver socket.
    fn dns_recv(&mut self, t: usize) {
        let ns = NameserverId {
            resolvers: (t >> 16) as u16,
            ns: (t & 0xffff) as u16,
        };
        let mut buf = [0u8; 65536];
        for _ in 0..64 {
            let Some(u) = self.dns.get(&ns) else {
                return;
            };
            match u.recv(&mut buf) {
                Ok(n) => {
                    let now = self.tick();
                    self.engine.on_dns_recv(now, ns, &buf[..n]);
                    self.drain_actions();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock, or an ICMP error (refused): nothing to read.
                Err(e) if would_block(&e) => return,
                Err(_) => continue,
            }
        }
    }

    /// Stops or restarts polling a listener (`maxconn` reached or freed).
    fn pause(&mut self, lid: ListenerId, pause: bool) {
        let token = Token(LISTENER_BASE + lid.0 as usize);
        let reg = self.poll.registry();
        let _ = match self.listeners.get_mut(&lid) {
            Some(Listening::Tcp(l, _)) if pause => reg.deregister(l),
            Some(Listening::Tcp(l, _)) => reg.register(l, token, Interest::READABLE),
            Some(Listening::Unix(l, _)) if pause => reg.deregister(l),
            Some(Listening::Unix(l, _)) => reg.register(l, token, Interest::READABLE),
            None => return,
        };
        if pause {
            self.paused.insert(lid);
        } else {
            self.paused.remove(&lid);
        }
    }

    /// `_getsocks` on a stats socket with `expose-fd listeners`: every
    /// listening socket of the process goes to the asker
    /// (io-mio/src/xfer.rs). Once sent, the UNIX sockets' paths are no
    /// longer ours to remove at exit: the new process may use them.
    fn send_listeners(&mut self, sock: SockId) {
        let Some(DSock {
            stream: Stream::Unix(u),
            ..
        }) = self.socks.get(&sock.index()).filter(|s| s.id == sock)
        else {
            return;
        };
        use std::os::fd::AsRawFd;
        let socks = crate::xfer::listening_sockets();
        match crate::xfer::send_listeners(u.as_raw_fd(), &socks) {
            Ok(()) => LISTENERS_HANDED_OVER.store(true, std::sync::atomic::Ordering::Relaxed),
            Err(e) => crate::say(&format!(
                "[WARNING]  ({}) : _getsocks: failed to transfer sockets: {e}",
                std::process::id()
            )),
        }
    }

    fn write_log(&mut self, line: &LogLine) {
        let proxy = line.proxy.and_then(|p| self.engine.proxy_name(p));
        self.log.write(line, proxy);
    }

    fn listen(&mut self, lid: ListenerId, addr: ListenAddr) {
        let now = self.now;
        if self.thread > 0 && !matches!(addr, ListenAddr::Tcp(_)) {
            // A UNIX or abstract socket, or an inherited descriptor, exists
            // once: thread 0 binds it and serves its connections; the other
            // threads' engines never see an accept on it (docs/threads.md).
            // TCP listeners are bound on every thread with SO_REUSEPORT.
            return;
        }
        let token = Token(LISTENER_BASE + lid.0 as usize);
        let res = match &addr {
            ListenAddr::Tcp(a) => take_inherited(*a, None)
                .map_or_else(|| bind_tcp(*a, None), Ok)
                .and_then(|mut l| {
                    self.poll
                        .registry()
                        .register(&mut l, token, Interest::READABLE)?;
                    let fixed = l.local_addr().ok().filter(|a| !a.ip().is_unspecified());
                    Ok(Listening::Tcp(l, fixed))
                }),
            ListenAddr::TcpDev { addr, interface } => take_inherited(*addr, Some(interface))
                .map_or_else(|| bind_tcp(*addr, Some(interface)), Ok)
                .and_then(|mut l| {
                    self.poll
                        .registry()
                        .register(&mut l, token, Interest::READABLE)?;
                    let fixed = l.local_addr().ok().filter(|a| !a.ip().is_unspecified());
                    Ok(Listening::Tcp(l, fixed))
                }),
            ListenAddr::Unix {
                path,
                mode,
                uid,
                gid,
            } => take_inherited_unix(path.as_bytes())
                .map_or_else(|| bind_unix(path, *mode, *uid, *gid), Ok)
                .and_then(|mut l| {
                    self.poll
                        .registry()
                        .register(&mut l, token, Interest::READABLE)?;
                    Ok(Listening::Unix(l, OwnedPath::new(path)))
                }),
            ListenAddr::Abns(name) => take_inherited_unix(&[&[0u8][..], name.as_bytes()].concat())
                .map_or_else(|| bind_abns(name), Ok)
                .and_then(|mut l| {
                    self.poll
                        .registry()
                        .register(&mut l, token, Interest::READABLE)?;
                    // Nothing to remove at exit: no file.
                    let path = OwnedPath {
                        path: PathBuf::new(),
                        id: None,
                    };
                    Ok(Listening::Unix(l, path))
                }),
            ListenAddr::Fd(fd) => adopt_fd(*fd).and_then(|mut l| {
                match &mut l {
                    Listening::Tcp(t, _) => {
                        self.poll
                            .registry()
                            .register(t, token, Interest::READABLE)?
                    }
                    Listening::Unix(u, _) => {
                        self.poll
                            .registry()
                            .register(u, token, Interest::READABLE)?
                    }
                }
                Ok(l)
            }),
            // The engine dials for a reverse listener: never asked.
            ListenAddr::Rhttp(_) => Err(std::io::Error::other("a reverse address has no socket")),
        };
        match res {
            Ok(l) => {
                self.listeners.insert(lid, l);
            }
            Err(e) => {
                self.bind_errors
                    .push(format!("Starting listener on {addr}: cannot bind: {e}"));
                self.engine.on_listen_error(now, lid, &e.to_string());
            }
        }
    }

    fn connect(&mut self, id: SockId, addr: SocketAddr) {
        let res = TcpStream::connect(addr).and_then(|mut s| {
            s.set_nodelay(true)?;
            self.poll.registry().register(
                &mut s,
                Token(id.index()),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(Stream::Tcp(s))
        });
        self.connecting(id, res);
    }

    /// A connection to a server on a UNIX stream socket (`unix@PATH`,
    /// `abns@NAME`). Connecting is non-blocking as for TCP; on Linux it
    /// completes (or fails) at once, and the first writable event says so.
    fn connect_unix(&mut self, id: SockId, addr: &UnixAddr) {
        let res = unix_connect(addr).and_then(|mut s| {
            self.poll.registry().register(
                &mut s,
                Token(id.index()),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(Stream::Unix(s))
        });
        self.connecting(id, res);
    }

    /// Keeps the socket of an outgoing connection under way, or tells
    /// the engine it failed.
    fn connecting(&mut self, id: SockId, res: io::Result<Stream>) {
        let now = self.now;
        match res {
            Ok(stream) => {
                self.socks.insert(
                    id.index(),
                    DSock {
                        id,
                        stream,
                        want_recv: false,
                        want_send: false,
                        may_recv: false,
                        may_send: false,
                        read_closed: false,
                        connecting: true,
                        splice_out: None,
                        queued: false,
                    },
                );
            }
            Err(e) => self.engine.on_connect_error(now, id, connect_error(&e)),
        }
    }

    /// Reads and drops what socket `t` holds (at most 64 KiB), so that
    /// closing it sends a FIN, not a reset (`CloseHow::Drain`).
    fn drain_before_close(&mut self, t: usize) {
        let Some(s) = self.socks.get_mut(&t) else {
            return;
        };
        let mut scratch = [0u8; 16 * 1024];
        for _ in 0..4 {
            match s.stream.read(&mut scratch) {
                Ok(n) if n == scratch.len() => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
    }

    fn drop_sock(&mut self, t: usize) {
        // Dropping the socket closes its only descriptor, which takes it
        // out of the epoll set: no `epoll_ctl(DEL)` needed.
        if let Some(s) = self.socks.remove(&t) {
            if s.splice_out.is_some() {
                self.splicing.retain(|&x| x != t);
            }
        }
    }

    /// Starts splicing `from` -> `to`. Without a pipe (fd limit), the
    /// engine is told nothing and keeps waiting: close both instead.
    fn start_splice(&mut self, from: SockId, to: SockId) {
        let Some(s) = self.socks.get_mut(&from.index()).filter(|s| s.id == from) else {
            return;
        };
        match Pipe::new(to) {
            Ok(p) => {
                s.splice_out = Some(p);
                self.splicing.push(from.index());
                self.mark_dirty(from.index());
            }
            Err(e) => {
                self.log
                    .alert(&format!("cannot create a pipe for splicing: {e}"));
                let now = self.tick();
                self.drop_sock(from.index());
                self.engine
                    .on_error(now, from, SockError::Other(e.raw_os_error().unwrap_or(0)));
            }
        }
    }

    /// One turn of splicing for the pipe whose source is `t`; returns
    /// whether anything moved.
    fn service_splice(&mut self, t: usize) -> bool {
        let mut progress = false;
        for _ in 0..IO_BUDGET {
            let now = self.now;
            let Some(src) = self.socks.get(&t) else {
                return progress;
            };
            let Some(pipe) = src.splice_out.as_ref() else {
                return progress;
            };
            let (from, to) = (src.id, pipe.to);
            let can_fill = src.want_recv && src.may_recv && !pipe.eof && pipe.room() > 0;
            let dst_ok = self
                .socks
                .get(&to.index())
                .is_some_and(|d| d.id == to && d.may_send && !d.connecting);
            let can_drain = pipe.fill > 0 && dst_ok;
            if !can_fill && !can_drain {
                break;
            }
            if can_fill {
                let fd = src.raw_fd();
                let src = self.socks.get_mut(&t).expect("checked");
                let pipe = src.splice_out.as_mut().expect("checked");
                match pipe.fill_from(fd) {
                    Ok(_) => progress = true,
                    Err(e) if would_block(&e) => src.may_recv = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.drop_sock(t);
                        self.engine.on_error(now, from, sock_error(&e));
                        self.drain_actions();
                        return true;
                    }
                }
            }
            let fill = self
                .socks
                .get(&t)
                .and_then(|s| s.splice_out.as_ref())
                .map_or(0, |p| p.fill);
            if fill > 0 && dst_ok {
                let dfd = self.socks[&to.index()].raw_fd();
                let pipe = self
                    .socks
                    .get_mut(&t)
                    .and_then(|s| s.splice_out.as_mut())
                    .expect("checked");
                match pipe.drain_to(dfd) {
                    Ok(n) => {
                        progress = true;
                        self.engine.on_spliced(now, from, n);
                    }
                    Err(e) if would_block(&e) => {
                        if let Some(d) = self.socks.get_mut(&to.index()) {
                            d.may_send = false;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.drop_sock(to.index());
                        self.engine.on_error(now, to, sock_error(&e));
                    }
                }
                self.drain_actions();
            }
            // The end of stream is reported once everything went through.
            if let Some(pipe) = self.socks.get_mut(&t).and_then(|s| s.splice_out.as_mut()) {
                if pipe.eof && pipe.fill == 0 && !pipe.eof_reported {
                    pipe.eof_reported = true;
                    self.engine.on_recv(now, from, 0);
                    self.drain_actions();
                    return true;
                }
            }
        }
        progress
    }

    /// Services every socket whose interest and readiness agree, until no
    /// more progress is possible without polling. Only sockets on the
    /// `dirty` list are looked at (HAProxy's fd cache / update list), so a
    /// turn costs the number of active sockets, not of open ones.
    fn service(&mut self) {
        for i in 0..self.splicing.len() {
            self.mark_dirty(self.splicing[i]);
        }
        for t in std::mem::take(&mut self.parked) {
            self.mark_dirty(t);
        }
        let mut idle_rounds = 0;
        while !self.dirty.is_empty() && idle_rounds < 2 {
            self.tick();
            let batch = std::mem::take(&mut self.dirty);
            let mut progress = false;
            for &t in &batch {
                let Some(s) = self.socks.get_mut(&t) else {
                    continue;
                };
                s.queued = false;
                if !s.eligible() {
                    continue;
                }
                let moved = self.service_one(t);
                progress |= moved;
                if self.exit {
                    return;
                }
                if self.socks.get(&t).is_some_and(DSock::eligible) {
                    if moved {
                        // Out of budget with more to do: another round.
                        self.mark_dirty(t);
                    } else {
                        self.parked.push(t);
                    }
                }
            }
            if self.dirty.is_empty() {
                // Keep the allocation for the next turn.
                let mut batch = batch;
                batch.clear();
                self.dirty = batch;
            }
            idle_rounds = if progress { 0 } else { idle_rounds + 1 };
        }
    }

    /// One turn of I/O on one socket; returns whether anything moved.
    fn service_one(&mut self, t: usize) -> bool {
        if self.socks.get(&t).is_some_and(|s| s.splice_out.is_some()) {
            let spliced = self.service_splice(t);
            // The socket's own writes (the other direction) still go below.
            if !self
                .socks
                .get(&t)
                .is_some_and(|s| s.want_send && s.may_send)
            {
                return spliced;
            }
        }
        let mut progress = false;
        for _ in 0..IO_BUDGET {
            let now = self.now;
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
            let want = buf.len();
            match s.stream.write(buf) {
                Ok(n) => {
                    progress = true;
                    // A short write means the socket buffer is full: no
                    // need to try again (and get EAGAIN) before the next
                    // writable event.
                    if n < want {
                        s.may_send = false;
                    }
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
            let now = self.now;
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
            let room = buf.len();
            match s.stream.read(buf) {
                Ok(n) => {
                    progress = true;
                    // A short read means the receive queue is empty (HAProxy's
                    // `fd_cant_recv` after a partial read): the edge-triggered
                    // poller reports the next bytes, so skip the EAGAIN read.
                    // Not when the peer's shutdown was already reported: the
                    // FIN queued behind these bytes gets no edge of its own,
                    // so read on until read0 (HAProxy reads on after
                    // `FD_POLL_HUP` the same way).
                    let drained = n < room && !s.read_closed;
                    if n == 0 || drained {
                        s.may_recv = false;
                    }
                    self.engine.on_recv(now, id, n);
                    if n > 0 && drained {
                        self.engine.recv_blocked(id);
                    }
                }
                Err(e) if would_block(&e) => {
                    s.may_recv = false;
                    self.engine.recv_blocked(id);
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: an old process exiting after a reload removed the new
    /// process's stats socket (same path), leaving the new one unreachable
    /// (found by the interop test `reload_sf_hands_the_tables_over`).
    #[test]
    fn a_unix_socket_path_is_removed_only_while_it_is_ours() {
        let dir = std::env::temp_dir().join(format!("sluice-ownedpath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let p = path.to_str().unwrap();

        let _old = bind_unix(p, None, None, None).unwrap();
        let old = OwnedPath::new(p);
        // The new process replaces the file with its own socket.
        let _new = bind_unix(p, Some(0o600), None, None).unwrap();
        let new = OwnedPath::new(p);
        assert_ne!(old.id, new.id);
        old.remove();
        assert!(path.exists(), "the old owner left the new socket alone");
        new.remove();
        assert!(!path.exists(), "the owner removes its own socket");
        new.remove(); // nothing left: no panic, nothing removed
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Sockets as the engine names them, and what the engine asks of the driver.
//!
//! The engine never holds a file descriptor. A socket is a [`SockId`], a
//! generation-checked handle into the engine's socket table: the driver maps
//! it to its own socket (an fd in `proxy-mio`, a simulated stream in the
//! simulator). Everything the engine wants done is an [`Action`], polled by
//! the driver after every input.
//!
//! This mirrors HAProxy's split between the fd layer (`fd_want_recv` /
//! `fd_want_send`: *interest*, decided by the engine) and the poller
//! (`fd_may_recv` / `fd_may_send`: *readiness*, known only to the driver).

use core::fmt;
use core::net::SocketAddr;

/// A socket, as named by the engine. Stale ids (after the socket was
/// closed) are detected by their generation and ignored.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SockId {
    pub(crate) idx: u32,
    pub(crate) gen: u32,
}

impl SockId {
    /// The slot index: stable while the socket lives, reused after.
    /// Drivers may use it as a poller token.
    pub fn index(self) -> usize {
        self.idx as usize
    }

    /// The generation of the slot.
    pub fn generation(self) -> u32 {
        self.gen
    }

    /// Rebuilds an id from its parts (drivers that store ids as integers).
    pub fn from_parts(index: usize, generation: u32) -> SockId {
        SockId {
            idx: index as u32,
            gen: generation,
        }
    }
}

impl fmt::Debug for SockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sock#{}.{}", self.idx, self.gen)
    }
}

/// A listening socket, by index in the engine's listener list.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ListenerId(pub u32);

/// An address to listen on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    /// A TCP listener bound to a network interface (`bind ... interface
    /// NAME`, HAProxy's `SO_BINDTODEVICE`): only connections that arrive
    /// through it are accepted.
    TcpDev {
        addr: SocketAddr,
        interface: String,
    },
    /// A unix stream socket (stats socket), by path; `mode`, `uid` and
    /// `gid` as in HAProxy's `stats socket ... mode 600 user U group G`
    /// (the socket file's permissions and owner; `None`: left as created).
    Unix {
        path: String,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    },
    /// A listening socket the process inherited on this descriptor
    /// (`bind fd@N`, `stats socket fd@N`): the driver adopts it instead of
    /// binding (HAProxy's `sock_inet`/`sock_unix` receivers for
    /// `AF_CUST_EXISTING_FD`).
    Fd(i32),
    /// A Linux abstract-namespace stream socket (`bind abns@NAME`). As in
    /// HAProxy, the name is padded with NUL bytes to the whole `sun_path`
    /// (108 bytes): clients must use the same padded address (HAProxy's
    /// `server ... abns@NAME` does).
    Abns(String),
    /// A reverse HTTP receiver (`bind rhttp@BACKEND/SERVER`): the engine
    /// opens its connections to that server itself; never given to the
    /// driver.
    Rhttp(String),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::TcpDev { addr, .. } => write!(f, "{addr}"),
            ListenAddr::Unix { path, .. } => write!(f, "unix@{path}"),
            ListenAddr::Fd(n) => write!(f, "fd@{n}"),
            ListenAddr::Abns(n) => write!(f, "abns@{n}"),
            ListenAddr::Rhttp(n) => write!(f, "rhttp@{n}"),
        }
    }
}

/// A UNIX stream socket a server is reached on: HAProxy's `srv->addr`
/// of family `AF_UNIX` (`server NAME unix@PATH` or `/PATH`) or
/// `AF_CUST_ABNS` (`server NAME abns@NAME`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum UnixAddr {
    /// A socket file, by path.
    Path(String),
    /// A Linux abstract-namespace socket. As HAProxy does, the driver pads
    /// the name with NUL bytes to the whole `sun_path`, the address a
    /// `bind abns@NAME` of HAProxy or Sluice listens on.
    Abns(String),
}

impl fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixAddr::Path(p) => write!(f, "unix@{p}"),
            UnixAddr::Abns(n) => write!(f, "abns@{n}"),
        }
    }
}

/// Why a socket failed, as far as the engine cares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SockError {
    /// The connection was refused (RST in answer to SYN).
    Refused,
    /// The peer reset the connection.
    Reset,
    /// The network said it cannot reach the address.
    Unreachable,
    /// The driver timed out (the engine keeps its own timeouts too).
    TimedOut,
    /// Anything else, with the OS error number when there is one.
    Other(i32),
    /// `connect()` itself failed at once with this OS error number (Linux
    /// numbering), other than a refusal: HAProxy's `CO_ER_SOCK_ERR`
    /// ("General socket error"), as `tcp_connect_server` sets it for
    /// `ENETUNREACH`, `EACCES`, `EPERM`...
    Connect(i32),
}

impl SockError {
    /// `strerror()`'s text for the Linux error numbers a `connect()` may
    /// fail with (glibc's wording), `Unknown error N` for others.
    pub fn os_text(errno: i32) -> String {
        let t = match errno {
            1 => "Operation not permitted",
            11 => "Resource temporarily unavailable",
            13 => "Permission denied",
            22 => "Invalid argument",
            97 => "Address family not supported by protocol",
            98 => "Address already in use",
            99 => "Cannot assign requested address",
            101 => "Network is unreachable",
            104 => "Connection reset by peer",
            110 => "Connection timed out",
            111 => "Connection refused",
            113 => "No route to host",
            _ => return format!("Unknown error {errno}"),
        };
        t.to_string()
    }

    /// The info of a health or agent check whose connection failed this
    /// way (HAProxy's `chk_report_conn_err`: `strerror(errno)`, after
    /// `General socket error` when `connect()` itself failed).
    pub fn check_info(self) -> String {
        match self {
            SockError::Refused => "Connection refused".into(),
            SockError::Reset => "Connection reset by peer".into(),
            SockError::Unreachable => "No route to host".into(),
            SockError::TimedOut => "Connection timeout".into(),
            SockError::Other(_) => "Connection error".into(),
            SockError::Connect(n) => format!("General socket error ({})", SockError::os_text(n)),
        }
    }
}

/// How to close a socket.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CloseHow {
    /// A normal close (FIN).
    Graceful,
    /// An abortive close (SO_LINGER 0): RST, pending data dropped.
    Reset,
    /// A normal close (FIN) after reading and dropping what the peer sent
    /// and the engine did not read yet: closing a socket whose receive
    /// queue holds bytes makes the kernel send a reset instead of the FIN.
    /// HAProxy reads what is there when a stream starts
    /// (`sc_conn_sync_recv`), so its client gets the FIN; a TCP stream
    /// that ends before reading (no backend, a refused connect) closes
    /// this way to give the same.
    Drain,
}

/// One log line, already formatted the HAProxy way; the driver only adds
/// the transport (syslog header, stderr, file).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LogLine {
    pub level: LogLevel,
    pub text: String,
    /// Whose `log` targets the line goes to (HAProxy's `send_log(px, ...)`):
    /// a traffic line its frontend's, a server state change its backend's;
    /// `None`, the `global` section's. The name is
    /// [`Engine::proxy_name`](crate::engine::Engine::proxy_name)'s.
    pub proxy: Option<crate::proxy::ProxyId>,
}

/// syslog levels, as HAProxy names them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Emerg => "emerg",
            LogLevel::Alert => "alert",
            LogLevel::Crit => "crit",
            LogLevel::Err => "err",
            LogLevel::Warning => "warning",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// What the engine asks the driver to do. Drain with `Engine::poll_action`
/// after every input.
#[must_use]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Action {
    /// Open a listening socket. Failure is reported with
    /// `Engine::on_listen_error`.
    Listen {
        listener: ListenerId,
        addr: ListenAddr,
    },
    /// Stop listening (soft stop): close the listening socket.
    Unlisten { listener: ListenerId },
    /// Stop accepting on a listener for now (a `maxconn` is reached); the
    /// socket stays open and clients wait in its backlog.
    Pause { listener: ListenerId },
    /// Accept again on a paused listener.
    Resume { listener: ListenerId },
    /// Open a TCP connection; completion is reported with
    /// `Engine::on_connected` or `Engine::on_connect_error`.
    Connect { sock: SockId, addr: SocketAddr },
    /// Open a UNIX stream connection (a server on `unix@PATH` or
    /// `abns@NAME`); completion is reported as for [`Action::Connect`].
    ConnectUnix { sock: SockId, addr: UnixAddr },
    /// The engine's interest changed: read when `read` and the socket is
    /// readable, write `send_buf` when `write` and the socket is writable.
    Interest {
        sock: SockId,
        read: bool,
        write: bool,
    },
    /// From now on, move the bytes read on `from` to `to` kernel-side
    /// (splice through a pipe), reporting them with `Engine::on_spliced`;
    /// `recv_buf(from)` stays empty. A read0 on `from` is reported with
    /// `on_recv(from, 0)` once everything read was written to `to`. Lasts
    /// until either socket is closed.
    Splice { from: SockId, to: SockId },
    /// Shut the write side (FIN). The engine only asks once its `send_buf`
    /// for that socket is empty.
    Shutdown { sock: SockId },
    /// Close the socket and forget the id. A graceful close is only asked
    /// for once `send_buf` is empty; the id is stale afterwards.
    Close { sock: SockId, how: CloseHow },
    /// Send one UDP datagram to nameserver `ns` at `addr` (a DNS query of
    /// a `resolvers` section). The driver keeps one UDP socket per `ns`
    /// and hands what it receives on it to `Engine::on_dns_recv`; a send
    /// that fails is dropped (the query is retried on `timeout retry`).
    DnsSend {
        ns: crate::dns::NameserverId,
        addr: SocketAddr,
        datagram: Vec<u8>,
    },
    /// Send the process's listening sockets on `sock`, a stats socket
    /// connection whose client asked `_getsocks` (HAProxy's `-x`), in
    /// HAProxy's format: the count (a native `int`), then the descriptors
    /// with `SCM_RIGHTS`, at most 253 a message, each described by its
    /// namespace and interface names (a length byte, then the name) and
    /// four zero bytes. Only on a UNIX socket connection; the engine asks
    /// nothing else of the socket but its close.
    SendListeners { sock: SockId },
    /// Emit a log line.
    Log(LogLine),
    /// The engine has finished a soft stop: the process may exit.
    Exit,
}

//! Connections: HAProxy's `struct connection` (`connection-t.h`).
//!
//! A connection is a socket (the *ctrl* layer, a [`SockId`]) plus a
//! transport (raw TCP; TLS later) plus handshake handlers run before any
//! stream sees data (`accept-proxy` reads a PROXY header; `send-proxy`
//! writes one), plus a mux that turns the byte stream into streams.
//!
//! ```text
//!  front: accepted --handshakes (accept-proxy)--> session complete --mux init--> mux_pt: one stream
//!  back:  connecting --L4 ok--> (send-proxy header out) --> mux_pt: data of its stream
//! ```
//!
//! The mux is an enum so that HTTP/1 and HTTP/2 muxes (several streams per
//! connection, in both directions) fit without a redesign: a stream
//! connector names its connection, and the connection's mux names the
//! streams it carries.

pub mod cafile;
pub mod ocsp;
pub mod proxy_hdr;
mod reverse;
pub mod ticket;

pub mod xprt;

pub mod chain;
mod ssl_sock;
pub mod tls;
pub mod x509;

use bitflags::bitflags;
use core::net::SocketAddr;

use crate::arena::Id;
use crate::backend::server::ServerId;
use crate::buf::Buffer;
pub use crate::mux::Mux;
use crate::session::Session;
use crate::sock::{ListenerId, SockId};
use crate::stream::{Dir, Stream};
pub use xprt::Xprt;

bitflags! {
    /// `CO_FL_*`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct CoFlags: u32 {
        /// Waiting for a PROXY header (`CO_FL_ACCEPT_PROXY`).
        const ACCEPT_PROXY = 0x0000_0001;
        /// A PROXY header must be sent first (`CO_FL_SEND_PROXY`).
        const SEND_PROXY = 0x0000_0002;
        /// The L4 connection is established (`CO_FL_CONNECTED`).
        const CONNECTED = 0x0000_0010;
        /// Waiting for the L4 connection (`CO_FL_WAIT_L4_CONN`).
        const WAIT_L4_CONN = 0x0000_0020;
        /// A fatal error was seen (`CO_FL_ERROR`).
        const ERROR = 0x0000_0100;
        /// read0 was seen (`CO_FL_SOCK_RD_SH`).
        const SOCK_RD_SH = 0x0000_1000;
        /// Our FIN was sent (`CO_FL_SOCK_WR_SH`).
        const SOCK_WR_SH = 0x0000_2000;
        /// Close with a lingering close: the peer may still be sending
        /// (`CO_FL_WANT_DRAIN`; set by the HTTP analysers, see
        /// `Engine::conn_linger`).
        const WANT_DRAIN = 0x0000_4000;
        /// In a lingering close: everything read is thrown away until the
        /// peer closes.
        const DRAINING = 0x0000_8000;
        /// A server connection that served a request already (HAProxy's
        /// `H1S_F_NOT_FIRST` on its next stream): once idle again it is
        /// a safe one.
        const NOT_FIRST = 0x0001_0000;
    }
}

/// Which side of the proxy a connection is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnSide {
    /// Accepted from a client on a frontend listener.
    Front,
    /// Opened towards server `srv` of backend `be`.
    Back { srv: ServerId },
    /// Opened by backend `be` itself, to its `dispatch` address or, with
    /// `option transparent`, to the client's destination (HAProxy's
    /// connection whose `target` is the proxy). Private to session
    /// `owner`: only its streams reuse it.
    BackProxy {
        be: crate::proxy::ProxyId,
        owner: crate::arena::Id<crate::session::Session>,
    },
    /// Carrying an applet ([`App`]): the stats socket, a peer session, a
    /// health check. Not part of the data path.
    App,
}

/// An applet that owns a connection's bytes above its xprt, where a
/// data-path connection has a mux and streams (HAProxy runs these as
/// applets too: the CLI, the peers applet, and the checks' own I/O).
/// Their connections get the transport layer the data path gets (TLS for
/// `check-ssl` and peers over TLS are written once, in the xprt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum App {
    /// A CLI session of a `stats socket` (`cli.c`).
    Cli {
        session: usize,
        level: crate::listener::CliLevel,
    },
    /// Session `session` of peers section `section` (`peers.c`).
    Peer { section: usize, session: usize },
    /// The health check of server `srv` (`check.c`).
    Check { srv: ServerId },
    /// The agent check of server `srv` (`check.c`, `CHK_ST_AGENT`).
    Agent { srv: ServerId },
}

impl ConnSide {
    /// The direction of the stream's channel that this side's received
    /// bytes fill: a client sends the request, a server the response.
    pub fn rx_dir(self) -> Dir {
        match self {
            ConnSide::Front | ConnSide::App => Dir::Req,
            ConnSide::Back { .. } | ConnSide::BackProxy { .. } => Dir::Res,
        }
    }

    /// Whether this is a server-side connection (to a server, a
    /// `dispatch` address or a transparent destination).
    #[inline]
    pub fn is_back(self) -> bool {
        matches!(self, ConnSide::Back { .. } | ConnSide::BackProxy { .. })
    }
}

/// Who opened a connection, kept apart from which side of the proxy it is
/// on: a connection accepted by a listener is client-side today, and a
/// reverse connection (`rhttp@`, issue 10) will be dialed by the engine
/// yet belong to a listener, client-side too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Accepted on this listener.
    Accepted(ListenerId),
    /// Dialed by the engine (`Action::Connect`).
    Dialed,
}

/// `(authority, unique id)` TLVs of a PROXY v2 header.
pub type PpTlvs = (Option<Vec<u8>>, Option<Vec<u8>>);

/// One connection.
#[derive(Debug)]
pub struct Conn {
    /// The socket (the *ctrl* layer, owned by the driver).
    pub sock: SockId,
    pub origin: Origin,
    pub side: ConnSide,
    /// The transport layer between the socket and the mux.
    pub xprt: Xprt,
    pub flags: CoFlags,
    /// Source and destination, as the proxy sees them (after a PROXY header).
    /// The AUTHORITY and UNIQUE_ID TLVs of the client's PROXY v2 header
    /// (`fc_pp_authority`, `fc_pp_unique_id`; HAProxy's
    /// `conn->proxy_authority`, `conn->proxy_unique_id`).
    pub pp_tlvs: Option<Box<PpTlvs>>,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    /// The owning session (front connections).
    pub session: Option<Id<Session>>,
    pub mux: Mux,
    /// Handshake bytes: the PROXY header being read (front), a pool
    /// buffer that becomes the request channel's.
    pub hs: Buffer,
    /// The PROXY header still to be sent first (back, `send-proxy`).
    pub hdr_out: Vec<u8>,
    /// The PROXY header the connection started with (back, `send-proxy`):
    /// a stream whose header would differ does not reuse it (HAProxy
    /// hashes the PROXY line into the connection's reuse key).
    pub pp_line: Option<Box<[u8]>>,
    /// The interest last computed for the socket (read, write).
    pub want: (bool, bool),
    /// The frontend of a lingering client connection (what it drains
    /// still counts in its `bytes_in`).
    pub linger_fe: Option<crate::proxy::ProxyId>,
    /// The applet carried instead of a mux (side [`ConnSide::App`]).
    pub(crate) app: Option<App>,
    /// A reverse connection (`bind rhttp@`) opened for this listener and
    /// not accepted yet (HAProxy's `conn->reverse.target` before the
    /// accept): it has no session, and its closing rearms the listener.
    pub rhttp: Option<ListenerId>,
    /// Reverse HTTP's public side: `attach-srv` chose this client
    /// connection for a server (HAProxy's `conn->reverse`), and once
    /// reversed ([`Reverse::done`], `CO_FL_REVERSED`) it is a connection
    /// to that server, found by its name.
    pub reverse: Option<Box<Reverse>>,
    /// The SNI a server's `sni EXPR` gave this connection (part of
    /// HAProxy's connection hash): only a request whose expression gives
    /// the same reuses it.
    pub sni: Option<Box<[u8]>>,
}

/// What `attach-srv` said of a client connection (HAProxy's
/// `conn->reverse.target` and `.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverse {
    /// The `rhttp@` server the connection serves once reversed.
    pub srv: ServerId,
    /// `name EXPR` evaluated when the rule ran (`None`: no name, or the
    /// sample failed); requests look it up by `pool-conn-name`.
    pub name: Option<Box<[u8]>>,
    /// The connection is reversed: a server connection now
    /// (`CO_FL_REVERSED`); until then, a client connection waiting for
    /// the peer's SETTINGS.
    pub done: bool,
}

impl Conn {
    pub fn new(sock: SockId, origin: Origin, side: ConnSide) -> Conn {
        Conn {
            sock,
            origin,
            side,
            xprt: Xprt::Raw,
            flags: CoFlags::empty(),
            pp_tlvs: None,
            src: None,
            dst: None,
            session: None,
            mux: Mux::None,
            hs: Buffer::null(),
            hdr_out: Vec::new(),
            pp_line: None,
            want: (false, false),
            linger_fe: None,
            app: None,
            rhttp: None,
            reverse: None,
            sni: None,
        }
    }

    /// A connection carrying applet `app`.
    pub(crate) fn new_app(sock: SockId, origin: Origin, app: App) -> Conn {
        Conn {
            app: Some(app),
            ..Conn::new(sock, origin, ConnSide::App)
        }
    }
}

// --------------------------------------------------------------------------
// I/O glue: what the engine's socket entry points do for a connection
// (HAProxy's `raw_sock_to_buf`/`raw_sock_from_buf` callers, `conn_fd_handler`).

use crate::engine::{Engine, TimerKey};
use crate::sock::{CloseHow, LogLevel, SockError};
use crate::time::Time;

/// Why a connection failed before its session was complete: HAProxy's
/// `CO_ER_*` codes (`enum co_err_code`), logged as `conn_err_code_str`
/// words them (`fe/bind: <text>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnError {
    /// The peer closed before a whole PROXY header (`CO_ER_PRX_EMPTY`).
    PrxEmpty,
    /// The socket failed before a whole PROXY header (`CO_ER_PRX_ABORT`).
    PrxAbort,
    /// No whole PROXY header before `timeout client` (`CO_ER_PRX_TIMEOUT`).
    PrxTimeout,
    /// More bytes than a PROXY header may take, and no end yet.
    PrxTooLong,
    /// Not a PROXY header (`CO_ER_PRX_NOT_HDR`; Sluice words every parse
    /// error this way, HAProxy 2.6 distinguishes `_BAD_HDR` and
    /// `_BAD_PROTO`).
    PrxNotHdr,
    /// The peer closed during the TLS handshake (`CO_ER_SSL_EMPTY`).
    SslEmpty,
    /// The socket failed during the TLS handshake (`CO_ER_SSL_ABORT`).
    SslAbort,
    /// No whole TLS handshake before `timeout client` (`CO_ER_SSL_TIMEOUT`).
    SslTimeout,
    /// The TLS handshake failed: bad records, no common version or suite,
    /// no certificate for the name with `strict-sni`
    /// (`CO_ER_SSL_HANDSHAKE`).
    SslHandshake,
    /// `attach-srv` chose a connection whose mux cannot be reversed (not
    /// HTTP/2; `CO_ER_REVERSE`).
    Reverse,
}

impl ConnError {
    /// The text logged for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnError::PrxEmpty => "Connection closed while waiting for PROXY protocol header",
            ConnError::PrxAbort => "Connection error while waiting for PROXY protocol header",
            ConnError::PrxTimeout => "Timeout while waiting for PROXY protocol header",
            ConnError::PrxTooLong => "PROXY protocol header too long",
            ConnError::PrxNotHdr => {
                "Received something which does not look like a PROXY protocol header"
            }
            ConnError::SslEmpty => "Connection closed during SSL handshake",
            ConnError::SslAbort => "Connection error during SSL handshake",
            ConnError::SslTimeout => "Timeout during SSL handshake",
            ConnError::SslHandshake => "SSL handshake failure",
            ConnError::Reverse => "Reverse connect failure",
        }
    }

    /// A connection that never sent a byte of a header: silenced by
    /// `option dontlognull`.
    pub fn is_null(self) -> bool {
        matches!(
            self,
            ConnError::PrxEmpty | ConnError::PrxAbort | ConnError::SslEmpty | ConnError::SslAbort
        )
    }
}

/// The longest lingering close without `timeout client-fin`.
pub const LINGER_MAX_MS: u64 = 5_000;
/// The most client connections lingering at once.
pub const MAX_LINGERING: u32 = 1024;
/// Bytes a lingering connection reads (and throws away) at once.
const DRAIN_BUF_LEN: usize = 16 * 1024;

/// Who waits for a buffer from the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufWaiter {
    Stream(Id<Stream>, Dir),
    Conn(Id<Conn>),
}

impl Engine {
    /// Where the driver reads the socket of `c` into: the handshake
    /// buffer, the drain buffer of a lingering close, or, through the
    /// xprt and the mux, the channel of the stream it feeds.
    pub(crate) fn conn_recv_buf(&mut self, c: Id<Conn>) -> &mut [u8] {
        let Some(conn) = self.conns.get(c) else {
            return &mut [];
        };
        if conn.flags.contains(CoFlags::DRAINING) {
            return &mut self.drain_buf;
        }
        if !conn.mux.installed() {
            if conn.xprt.is_tls() && !conn.flags.contains(CoFlags::ACCEPT_PROXY) {
                return self.tls_recv_buf(c);
            }
            // Handshake: the PROXY header is read into the connection's
            // own buffer, which later becomes the request channel's.
            if conn.hs.is_null() {
                match self.pool.alloc(BufWaiter::Conn(c)) {
                    Some(b) => self.conns[c].hs = b,
                    None => return &mut [],
                }
            }
            let keep = self.hs_reserve(c);
            let hs = &mut self.conns[c].hs;
            let room = hs.room().saturating_sub(keep);
            let spare = hs.spare_mut();
            let n = room.min(spare.len());
            return &mut spare[..n];
        }
        if conn.flags.contains(CoFlags::DRAINING) {
            return &mut self.drain_buf;
        }
        let dir = conn.side.rx_dir();
        match (&conn.xprt, conn.mux.rx_stream()) {
            // The raw transport reads straight into the stream's channel.
            (Xprt::Raw, Some(sid)) => self.sc_conn_recv_buf(sid, dir),
            (Xprt::Raw, None) if matches!(conn.mux, Mux::H2(_)) => self.h2_recv_buf(c),
            (Xprt::Raw, None) if matches!(conn.mux, Mux::H2b(_)) => self.h2b_recv_buf(c),
            // An idle server connection: any byte or a close ends it.
            (Xprt::Raw, None) => &mut self.scratch,
            // TLS reads ciphertext into its own buffer.
            (Xprt::Tls(_), _) => self.tls_recv_buf(c),
        }
    }

    /// `n` bytes of this connection's input went straight to the other side.
    pub(crate) fn conn_on_spliced(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let dir = conn.side.rx_dir();
        if let Some(sid) = conn.mux.rx_stream() {
            self.sc_conn_spliced(now, sid, dir, n);
        }
    }

    /// Gives back a buffer lent for a read that found nothing.
    pub(crate) fn conn_recv_blocked(&mut self, c: Id<Conn>) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let dir = conn.side.rx_dir();
        if let (Xprt::Raw, Some(sid)) = (&conn.xprt, conn.mux.rx_stream()) {
            self.channel_release_if_empty(sid, dir);
        }
    }

    /// What the driver writes to the socket of `c`: a PROXY header first
    /// (`send-proxy`), then, through the mux and the xprt, the output of
    /// the stream it carries.
    pub(crate) fn conn_send_buf(&self, c: Id<Conn>) -> &[u8] {
        let Some(conn) = self.conns.get(c) else {
            return &[];
        };
        if conn.flags.contains(CoFlags::SEND_PROXY) {
            return &conn.hdr_out;
        }
        match (&conn.xprt, conn.mux.tx_stream()) {
            (Xprt::Raw, Some(sid)) => self.sc_conn_send_buf(sid, conn.side.rx_dir().other()),
            (Xprt::Raw, None) if matches!(conn.mux, Mux::H2(_)) => self.h2_send_buf(c),
            (Xprt::Raw, None) if matches!(conn.mux, Mux::H2b(_)) => self.h2b_send_buf(c),
            (Xprt::Raw, None) => &[],
            (Xprt::Tls(t), _) => t.tx_pending(),
        }
    }

    pub(crate) fn conn_on_recv(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        if conn.flags.contains(CoFlags::DRAINING) {
            // Thrown away (but read from the client all the same); the
            // peer's close ends the linger.
            if n == 0 {
                self.conn_linger_end(now, c);
            } else if let Some(f) = conn.linger_fe.and_then(|fe| self.proxies[fe].fe.as_mut()) {
                f.bytes_in += n as u64;
            }
            return;
        }
        if !conn.mux.installed() {
            if conn.xprt.is_tls() && !conn.flags.contains(CoFlags::ACCEPT_PROXY) {
                return self.tls_on_recv(now, c, n);
            }
            return self.conn_handshake_recv(now, c, n);
        }
        if conn.xprt.is_tls() {
            return self.tls_on_recv(now, c, n);
        }
        if n == 0 {
            conn.flags |= CoFlags::SOCK_RD_SH;
        }
        let dir = conn.side.rx_dir();
        match conn.mux.rx_stream() {
            Some(sid) => self.sc_conn_recv(now, sid, dir, n),
            None if matches!(conn.mux, Mux::H2(_)) => self.h2_on_recv(now, c, n),
            None if matches!(conn.mux, Mux::H2b(_)) => self.h2b_on_recv(now, c, n),
            None => self.idle_conn_close(now, c),
        }
    }

    pub(crate) fn conn_on_sent(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        if conn.flags.contains(CoFlags::SEND_PROXY) {
            conn.hdr_out.drain(..n.min(conn.hdr_out.len()));
            if conn.hdr_out.is_empty() {
                conn.flags.remove(CoFlags::SEND_PROXY);
            }
            self.conn_update_interest(c);
            return;
        }
        if conn.xprt.is_tls() {
            return self.tls_on_sent(now, c, n);
        }
        let dir = conn.side.rx_dir().other();
        if let Some(sid) = conn.mux.tx_stream() {
            self.sc_conn_sent(now, sid, dir, n);
        } else if matches!(conn.mux, Mux::H2(_)) {
            self.h2_on_sent(now, c, n);
        } else if matches!(conn.mux, Mux::H2b(_)) {
            self.h2b_on_sent(now, c, n);
        }
    }

    /// The socket of `c` failed; the driver already closed it. Every
    /// stream the mux carries learns it (`mux->wake`).
    pub(crate) fn conn_on_error(&mut self, now: Time, c: Id<Conn>, _err: SockError) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        let sock = conn.sock;
        self.free_sock(sock);
        self.conn_failed(now, c);
    }

    /// Connection `c` failed and its socket is gone: every stream its mux
    /// carries learns it; without one, a handshake failed or an idle
    /// connection ends.
    pub(crate) fn conn_failed(&mut self, now: Time, c: Id<Conn>) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        conn.flags |= CoFlags::ERROR;
        if self.conns[c].flags.contains(CoFlags::DRAINING) {
            // The driver closed the socket already.
            return self.conn_linger_end(now, c);
        }
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let side = conn.side;
        if matches!(conn.mux, Mux::H2(_)) {
            return self.h2_close(now, c);
        }
        let mut streams = conn.mux.streams().peekable();
        if streams.peek().is_none() {
            return match side {
                ConnSide::Back { .. } | ConnSide::BackProxy { .. } => self.idle_conn_close(now, c),
                // Before the stream: the handshake failed, and is logged
                // like any other handshake failure (`CO_ER_PRX_ABORT`,
                // `CO_ER_SSL_ABORT`).
                ConnSide::Front if conn.flags.contains(CoFlags::ACCEPT_PROXY) => {
                    self.handshake_fail(now, c, ConnError::PrxAbort)
                }
                ConnSide::Front if conn.xprt.is_tls() => {
                    self.handshake_fail(now, c, ConnError::SslAbort)
                }
                ConnSide::Front => self.handshake_fail(now, c, ConnError::PrxAbort),
                // Applet connections have their own error paths.
                ConnSide::App => {}
            };
        }
        for sid in streams {
            self.sc_conn_error(now, sid, side);
        }
    }

    pub(crate) fn conn_on_connected(&mut self, now: Time, c: Id<Conn>) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        conn.flags.remove(CoFlags::WAIT_L4_CONN);
        conn.flags |= CoFlags::CONNECTED;
        if conn.xprt.is_tls() {
            // The stream learns it once the TLS handshake is over.
            return self.tls_pump(now, c);
        }
        if conn.rhttp.is_some() {
            // A reverse connection: its preface and SETTINGS go out.
            return self.conn_update_interest(c);
        }
        for sid in conn.mux.streams() {
            self.back_connected(now, sid);
            self.process_stream(now, sid);
        }
    }

    pub(crate) fn conn_on_connect_error(&mut self, now: Time, c: Id<Conn>, err: SockError) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let sock = conn.sock;
        let streams = conn.mux.streams();
        let rhttp = conn.rhttp;
        self.free_sock(sock);
        if let Some(l) = rhttp {
            // A reverse connection refused: forgotten, retried later.
            self.timers.arm(TimerKey::ConnHs(c), None);
            if let Some(conn) = self.conns.remove(c) {
                self.pool_release(conn.hs);
            }
            return self.rhttp_preconn_freed(now, l, c);
        }
        for sid in streams {
            self.sc_conn_connect_error(now, sid, err);
        }
    }

    /// Announces the socket interest of a connection from its state.
    pub(crate) fn conn_update_interest(&mut self, c: Id<Conn>) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let mut wake = false;
        let (read, write) = if !conn.mux.installed()
            && (!conn.xprt.is_tls() || conn.flags.contains(CoFlags::ACCEPT_PROXY))
        {
            (
                conn.hs.is_null() || conn.hs.room() > self.hs_reserve(c),
                false,
            )
        } else if conn.flags.contains(CoFlags::SEND_PROXY) {
            (false, true)
        } else if conn.xprt.is_tls() {
            let (r, w, k) = self.tls_want(c);
            wake = k;
            (r, w)
        } else {
            match (conn.mux.rx_stream(), conn.side) {
                (Some(sid), side) => self.sc_conn_want(sid, side),
                (None, ConnSide::Back { .. }) if matches!(conn.mux, Mux::H2b(_)) => {
                    self.h2b_want(c)
                }
                // An idle server connection watches for the server's close,
                // a lingering client connection for the client's.
                (None, ConnSide::Back { .. } | ConnSide::BackProxy { .. }) => (true, false),
                (None, ConnSide::Front) if conn.flags.contains(CoFlags::DRAINING) => (true, false),
                (None, ConnSide::Front) if matches!(conn.mux, Mux::H2(_)) => self.h2_want(c),
                (None, _) => (false, false),
            }
        };
        let sock = conn.sock;
        let h2 = matches!(conn.mux, Mux::H2(_) | Mux::H2b(_));
        if conn.want != (read, write) {
            self.conns[c].want = (read, write);
        }
        if wake && !self.tls_woken.contains(&c) {
            self.tls_woken.push(c);
        }
        if h2 && !self.h2_woken.contains(&c) {
            // Its streams may have made room or output.
            self.h2_woken.push(c);
        }
        self.set_interest(sock, read, write);
    }

    /// Closes a connection's socket and forgets the connection. A graceful
    /// close of a client connection that may still be sending lingers
    /// first (`Engine::conn_linger`).
    pub(crate) fn conn_close(&mut self, now: Time, c: Id<Conn>, how: CloseHow) {
        if how == CloseHow::Graceful && self.conn_linger(now, c) {
            return;
        }
        let Some(conn) = self.conns.remove(c) else {
            return;
        };
        if conn.flags.contains(CoFlags::DRAINING) {
            self.lingering -= 1;
            self.timers.arm(TimerKey::ConnDrain(c), None);
        }
        self.timers.arm(TimerKey::ConnHs(c), None);
        self.pool.cancel(BufWaiter::Conn(c));
        self.close_sock(conn.sock, how);
        self.pool_release(conn.hs);
        if let Some(l) = conn.rhttp {
            self.rhttp_preconn_freed(now, l, c);
        }
    }

    /// A lingering close (HAProxy's shutdown-then-drain of a client
    /// connection, `CO_FL_WANT_DRAIN`, `conn_ctrl_drain`): closing a socket
    /// whose receive queue holds unread bytes makes the kernel send a
    /// reset, which destroys what was just written and not yet read by the
    /// client, a 400 in front of an oversized request for one. So a client
    /// connection the analysers marked [`CoFlags::WANT_DRAIN`] (they
    /// answered and close while the client may still be sending, or they
    /// drop bytes it sent) shuts its write side (the FIN follows the
    /// answer), throws away what the client still sends, and closes once
    /// the client closes, or after `timeout client-fin` (else `timeout
    /// client`, at most [`LINGER_MAX_MS`]). Not when the client closed
    /// already; at most [`MAX_LINGERING`] at once (the others close at
    /// once). The session is over: the connection no longer counts in
    /// `maxconn`. Returns `false` when the connection is to be closed now.
    fn conn_linger(&mut self, now: Time, c: Id<Conn>) -> bool {
        let Some(conn) = self.conns.get(c) else {
            return false;
        };
        // TLS connections close at once: their close_notify went with
        // the FIN already, and what follows would be records to decrypt.
        if conn.side != ConnSide::Front
            || conn.xprt.is_tls()
            || matches!(conn.mux, Mux::H2(_))
            || !conn.mux.installed()
            || !conn.flags.contains(CoFlags::WANT_DRAIN)
            || conn
                .flags
                .intersects(CoFlags::SOCK_RD_SH | CoFlags::ERROR | CoFlags::DRAINING)
            || self.lingering >= MAX_LINGERING
        {
            return false;
        }
        let fe = conn
            .session
            .and_then(|s| self.sessions.get(s))
            .map(|se| se.fe);
        let conn = &mut self.conns[c];
        let sock = conn.sock;
        let shut = conn.flags.contains(CoFlags::SOCK_WR_SH);
        conn.flags |= CoFlags::SOCK_WR_SH;
        if let Some(sid) = conn.mux.rx_stream() {
            conn.mux.detach(sid);
        }
        self.linger_begin(now, c, fe);
        if !shut {
            self.shutdown_write(sock);
        }
        self.conn_update_interest(c);
        true
    }

    /// Puts client connection `c` (of frontend `fe`) in a lingering close:
    /// it leaves its session, gives its handshake buffer back, throws away
    /// what it reads from now on, and is closed once the client closes or
    /// after `timeout client-fin` (else `timeout client`, at most
    /// [`LINGER_MAX_MS`]). The caller sends the FIN.
    pub(crate) fn linger_begin(
        &mut self,
        now: Time,
        c: Id<Conn>,
        fe: Option<crate::proxy::ProxyId>,
    ) {
        let ms = match fe.map(|fe| &self.proxies[fe].timeouts) {
            Some(t) => t.client_fin_ms.map(u64::from).unwrap_or_else(|| {
                t.client_ms
                    .map_or(LINGER_MAX_MS, u64::from)
                    .min(LINGER_MAX_MS)
            }),
            None => LINGER_MAX_MS,
        };
        let conn = &mut self.conns[c];
        conn.flags |= CoFlags::DRAINING;
        conn.session = None;
        conn.linger_fe = fe;
        let hs = std::mem::take(&mut conn.hs);
        self.pool_release(hs);
        self.pool.cancel(BufWaiter::Conn(c));
        self.timers.arm(TimerKey::ConnHs(c), None);
        if self.drain_buf.is_empty() {
            self.drain_buf = vec![0; DRAIN_BUF_LEN];
        }
        self.lingering += 1;
        self.timers
            .arm(TimerKey::ConnDrain(c), Some(now.add_ms(ms.max(1))));
    }

    /// The lingering close of `c` is over (the client closed, failed, or
    /// the linger timed out): close it for good.
    pub(crate) fn conn_linger_end(&mut self, now: Time, c: Id<Conn>) {
        if self
            .conns
            .get(c)
            .is_some_and(|x| x.flags.contains(CoFlags::DRAINING))
        {
            self.conn_close(now, c, CloseHow::Graceful);
        }
    }

    /// Bytes of a PROXY header (or data after it) arrived before the stream.
    fn conn_handshake_recv(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let conn = &mut self.conns[c];
        if n == 0 {
            return self.handshake_fail(now, c, ConnError::PrxEmpty);
        }
        conn.hs.commit(n);
        match crate::conn::proxy_hdr::parse(conn.hs.data(), conn.hs.capacity()) {
            Ok(crate::peers::Status::Partial) => {
                if conn.hs.room() <= self.hs_reserve(c) {
                    return self.handshake_fail(now, c, ConnError::PrxTooLong);
                }
                self.conn_update_interest(c);
            }
            Ok(crate::peers::Status::Complete((hdr, used))) => {
                let conn = &mut self.conns[c];
                conn.hs.consume(used);
                let mut tlvs = (None, None);
                for t in &hdr.tlvs {
                    match t {
                        crate::conn::proxy_hdr::Tlv::Authority(v) => tlvs.0 = Some(v.clone()),
                        crate::conn::proxy_hdr::Tlv::UniqueId(v) => tlvs.1 = Some(v.clone()),
                        _ => {}
                    }
                }
                if tlvs != (None, None) {
                    conn.pp_tlvs = Some(Box::new(tlvs));
                }
                // The header's addresses are the session's; the
                // connection keeps the socket's (`fc_src`), as HAProxy's
                // `conn_recv_proxy` sets `sess->src`.
                if let (Some(src), Some(dst)) = (hdr.src, hdr.dst) {
                    if let Some(se) = conn.session.and_then(|x| self.sessions.get_mut(x)) {
                        se.src = Some(src);
                        se.dst = Some(dst);
                    }
                }
                conn.flags.remove(CoFlags::ACCEPT_PROXY);
                self.timers.arm(TimerKey::ConnHs(c), None);
                if self.conns[c].xprt.is_tls() {
                    // The TLS handshake is the next step; what followed the
                    // header is its first bytes.
                    return self.tls_after_proxy_hdr(now, c);
                }
                if let Some(sess) = self.conns[c].session {
                    self.session_complete(now, sess);
                }
            }
            Err(_) => self.handshake_fail(now, c, ConnError::PrxNotHdr),
        }
    }

    /// Room the handshake buffer keeps free: it becomes the request
    /// channel's buffer, which in HTTP mode keeps `tune.maxrewrite` for
    /// head rewrites (see `Channel::recv_room`).
    fn hs_reserve(&self, c: Id<Conn>) -> usize {
        let fe = self
            .conns
            .get(c)
            .and_then(|conn| conn.session)
            .and_then(|s| self.sessions.get(s))
            .map(|se| se.fe);
        match fe {
            Some(fe) if self.proxies[fe].mode == crate::cfgparse::Mode::Http => self.maxrewrite,
            _ => 0,
        }
    }

    /// A handshake failed or timed out: log like HAProxy, close, drop the session.
    pub(crate) fn handshake_fail(&mut self, now: Time, c: Id<Conn>, why: ConnError) {
        let sess = self.handshake_log(c, why);
        self.conn_close(now, c, CloseHow::Reset);
        if let Some(sid) = sess {
            self.session_free(now, sid);
        }
    }

    /// Logs the handshake failure of `c` as HAProxy does (`fe/bind:
    /// reason`); returns its session.
    pub(crate) fn handshake_log(&mut self, c: Id<Conn>, why: ConnError) -> Option<Id<Session>> {
        let conn = self.conns.get(c)?;
        let sess = conn.session;
        let src = sess
            .and_then(|s| self.sessions.get(s))
            .and_then(|se| se.src)
            .or(conn.src);
        if let Some(sid) = sess {
            if let Some(se) = self.sessions.get(sid) {
                let fe = se.fe;
                let name = self.proxies[fe].name.clone();
                let date = crate::time::fmt_date(self.opts.epoch_ms + se.accept_date.as_ms(), true);
                let who = src.map_or("-".to_string(), |a| format!("{}:{}", a.ip(), a.port()));
                // `option dontlognull` silences connections that sent
                // nothing: closed or failed before any byte of a header.
                let null = why.is_null() && self.proxies[fe].dontlognull;
                if self.proxies[fe].log && !null {
                    self.log_px(
                        Some(fe),
                        LogLevel::Notice,
                        format!(
                            "{who} [{date}] {name}/{}: {}",
                            self.listener_name(se.listener),
                            why.as_str()
                        ),
                    );
                }
            }
        }
        sess
    }
}

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

use bitflags::bitflags;
use core::net::SocketAddr;

use crate::arena::Id;
use crate::backend::server::ServerId;
use crate::buf::Buffer;
use crate::session::Session;
use crate::sock::SockId;
use crate::stream::Stream;

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
    }
}

/// Which side of the proxy a connection is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnSide {
    /// Accepted from a client on a frontend listener.
    Front,
    /// Opened towards server `srv` of backend `be`.
    Back { srv: ServerId },
}

/// The multiplexer on a connection (`conn->mux`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mux {
    /// Not installed yet (handshakes in progress).
    None,
    /// `mux_pt`: one stream, bytes pass through untouched.
    Pt { stream: Option<Id<Stream>> },
}

/// One connection.
#[derive(Debug)]
pub struct Conn {
    pub sock: SockId,
    pub side: ConnSide,
    pub flags: CoFlags,
    /// Source and destination, as the proxy sees them (after a PROXY header).
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
    /// The interest last computed for the socket (read, write).
    pub want: (bool, bool),
    /// The frontend of a lingering client connection (what it drains
    /// still counts in its `bytes_in`).
    pub linger_fe: Option<crate::proxy::ProxyId>,
}

impl Conn {
    pub fn new(sock: SockId, side: ConnSide) -> Conn {
        Conn {
            sock,
            side,
            flags: CoFlags::empty(),
            src: None,
            dst: None,
            session: None,
            mux: Mux::None,
            hs: Buffer::null(),
            hdr_out: Vec::new(),
            want: (false, false),
            linger_fe: None,
        }
    }

    /// The stream carried by a `mux_pt` connection.
    pub fn pt_stream(&self) -> Option<Id<Stream>> {
        match self.mux {
            Mux::Pt { stream } => stream,
            Mux::None => None,
        }
    }
}

// --------------------------------------------------------------------------
// I/O glue: what the engine's socket entry points do for a connection
// (HAProxy's `raw_sock_to_buf`/`raw_sock_from_buf` callers, `conn_fd_handler`).

use crate::engine::{Engine, TimerKey};
use crate::sock::{CloseHow, LogLevel, SockError};
use crate::stconn::{ErrType, ScFlags, ScState};
use crate::stream::{Dir, ErrCode, FinSt};
use crate::time::Time;

/// Why a PROXY header handshake failed, in HAProxy 2.6's words
/// (`conn_err_code_str`: `CO_ER_PRX_EMPTY`, `_ABORT`, `_TIMEOUT`).
pub(crate) const PRX_EMPTY: &str = "Connection closed while waiting for PROXY protocol header";
pub(crate) const PRX_ABORT: &str = "Connection error while waiting for PROXY protocol header";
pub(crate) const PRX_TIMEOUT: &str = "Timeout while waiting for PROXY protocol header";

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
    /// The stream and direction a connection's reads go to.
    fn conn_rx_target(&self, c: Id<Conn>) -> Option<(Id<Stream>, Dir)> {
        let conn = self.conns.get(c)?;
        let sid = conn.pt_stream()?;
        Some(match conn.side {
            ConnSide::Front => (sid, Dir::Req),
            ConnSide::Back { .. } => (sid, Dir::Res),
        })
    }

    pub(crate) fn conn_recv_buf(&mut self, c: Id<Conn>) -> &mut [u8] {
        let Some(conn) = self.conns.get(c) else {
            return &mut [];
        };
        if conn.mux == Mux::None {
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
        let Some((sid, dir)) = self.conn_rx_target(c) else {
            // An idle server connection: any byte or a close ends it.
            return &mut self.scratch;
        };
        let may = self.streams.get(sid).is_some_and(|s| {
            if dir == Dir::Req {
                s.req.may_recv()
            } else {
                s.res.may_recv()
            }
        });
        if !may || !self.channel_alloc(sid, dir) {
            return &mut [];
        }
        let s = &mut self.streams[sid];
        let ch = if dir == Dir::Req {
            &mut s.req
        } else {
            &mut s.res
        };
        let room = ch.recv_room();
        let spare = ch.buf.spare_mut();
        let n = room.min(spare.len());
        &mut spare[..n]
    }

    /// `n` bytes of this connection's input went straight to the other side.
    pub(crate) fn conn_on_spliced(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let Some((sid, dir)) = self.conn_rx_target(c) else {
            return;
        };
        let (fto, bto) = (self.front_timeout(sid), self.back_timeout(sid));
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let (ch, other) = if dir == Dir::Req {
            (&mut s.req, &mut s.res)
        } else {
            (&mut s.res, &mut s.req)
        };
        ch.total += n as u64;
        ch.flags |=
            crate::channel::ChnFlags::READ_PARTIAL | crate::channel::ChnFlags::WRITE_PARTIAL;
        // Both sides were active.
        let (rto, wto) = if dir == Dir::Req {
            (fto, bto)
        } else {
            (bto, fto)
        };
        ch.rex = rto.map(|t| now.add_ms(t));
        if !other.shutr() && other.rex.is_some() {
            other.rex = wto.map(|t| now.add_ms(t));
        }
        let (fe, be, srv) = (s.fe, s.be, s.srv);
        self.count_bytes(sid, fe, be, srv, dir, n as u64);
        self.stream_refresh(now, sid);
    }

    /// Gives back a buffer lent for a read that found nothing.
    pub(crate) fn conn_recv_blocked(&mut self, c: Id<Conn>) {
        if let Some((sid, dir)) = self.conn_rx_target(c) {
            self.channel_release_if_empty(sid, dir);
        }
    }

    pub(crate) fn conn_send_buf(&self, c: Id<Conn>) -> &[u8] {
        let Some(conn) = self.conns.get(c) else {
            return &[];
        };
        if conn.flags.contains(CoFlags::SEND_PROXY) {
            return &conn.hdr_out;
        }
        let Some(sid) = conn.pt_stream() else {
            return &[];
        };
        let Some(s) = self.streams.get(sid) else {
            return &[];
        };
        match conn.side {
            ConnSide::Front => s.res.output_bytes(),
            ConnSide::Back { .. } if s.scb.state == ScState::Est => s.req.output_bytes(),
            ConnSide::Back { .. } => &[],
        }
    }

    pub(crate) fn conn_on_recv(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        if conn.mux == Mux::None {
            return self.conn_handshake_recv(now, c, n);
        }
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
        let Some((sid, dir)) = self.conn_rx_target(c) else {
            return self.idle_conn_close(now, c);
        };
        let (fto, bto) = (self.front_timeout(sid), self.back_timeout(sid));
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let head_wait = waits_for_head(s);
        let (ch, to) = if dir == Dir::Req {
            (&mut s.req, fto)
        } else {
            (&mut s.res, bto)
        };
        if n == 0 {
            ch.flags |= crate::channel::ChnFlags::READ_NULL | crate::channel::ChnFlags::SHUTR;
            ch.rex = None;
            if dir == Dir::Req {
                s.scf.flags |= ScFlags::SHUTR;
            } else {
                s.scb.flags |= ScFlags::SHUTR;
            }
            if let Some(conn) = self.conns.get_mut(c) {
                conn.flags |= CoFlags::SOCK_RD_SH;
            }
            self.channel_release_if_empty(sid, dir);
        } else {
            ch.received(n);
            // A request head is bounded by `timeout http-request` (or the
            // keep-alive timeout) as a whole, from its start: bytes that
            // trickle in must not push that deadline back (slowloris).
            if !(dir == Dir::Req && head_wait) {
                ch.rex = to.map(|t| now.add_ms(t));
            }
            // Activity on a side refreshes its write timeout too (HAProxy
            // without `SC_FL_INDEP_STR`).
            let other = if dir == Dir::Req {
                &mut s.res
            } else {
                &mut s.req
            };
            if other.wex.is_some() {
                other.wex = to.map(|t| now.add_ms(t));
            }
            let (fe, be, srv) = (s.fe, s.be, s.srv);
            self.count_bytes(sid, fe, be, srv, dir, n as u64);
        }
        self.process_stream(now, sid);
    }

    /// Byte counters: frontend, backend, server, tracked entries.
    pub(crate) fn count_bytes(
        &mut self,
        sid: Id<Stream>,
        fe: crate::proxy::ProxyId,
        be: crate::proxy::ProxyId,
        srv: Option<ServerId>,
        dir: Dir,
        n: u64,
    ) {
        let up = dir == Dir::Req;
        if let Some(f) = self.proxies[fe].fe.as_mut() {
            if up {
                f.bytes_in += n
            } else {
                f.bytes_out += n
            }
        }
        if let Some(b) = self.proxies[be].be.as_mut() {
            if up {
                b.bytes_in += n
            } else {
                b.bytes_out += n
            }
            if let Some(i) = srv {
                if up {
                    b.servers[i].bytes_in += n
                } else {
                    b.servers[i].bytes_out += n
                }
            }
        }
        let Some(sess) = self.streams.get(sid).map(|s| s.sess) else {
            return;
        };
        self.stkctr_bytes(sess, up, n);
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
        let Some(sid) = conn.pt_stream() else { return };
        let front = conn.side == ConnSide::Front;
        let to = if front {
            self.front_timeout(sid)
        } else {
            self.back_timeout(sid)
        };
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let head_wait = waits_for_head(s);
        let (ch, other, dir) = if front {
            (&mut s.res, &mut s.req, Dir::Res)
        } else {
            (&mut s.req, &mut s.res, Dir::Req)
        };
        ch.sent(n);
        ch.wex = if ch.output > 0 {
            to.map(|t| now.add_ms(t))
        } else {
            None
        };
        if !other.shutr() && other.rex.is_some() && !(front && head_wait) {
            other.rex = to.map(|t| now.add_ms(t));
        }
        self.channel_release_if_empty(sid, dir);
        self.process_stream(now, sid);
    }

    /// The socket of `c` failed; the driver already closed it.
    pub(crate) fn conn_on_error(&mut self, now: Time, c: Id<Conn>, _err: SockError) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        conn.flags |= CoFlags::ERROR;
        let sock = conn.sock;
        self.free_sock(sock);
        if self.conns[c].flags.contains(CoFlags::DRAINING) {
            // The driver closed the socket already.
            return self.conn_linger_end(now, c);
        }
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let side = conn.side;
        if conn.pt_stream().is_none() && matches!(side, ConnSide::Back { .. }) {
            return self.idle_conn_close(now, c);
        }
        let Some(sid) = conn.pt_stream() else {
            // Before the stream: the handshake failed, and is logged like
            // any other handshake failure (HAProxy's `CO_ER_PRX_ABORT`).
            return self.handshake_fail(now, c, PRX_ABORT);
        };
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        match side {
            ConnSide::Front => {
                s.scf.flags |= ScFlags::ERROR;
                let stage = s.stage();
                s.set_term(ErrCode::CliCl, stage);
                self.front_abort(now, sid);
            }
            ConnSide::Back { .. } if s.scb.state == ScState::Con => {
                s.scb.err_type = ErrType::ConnErr;
                self.back_conn_error(now, sid);
            }
            ConnSide::Back { .. }
                if s.txn.as_ref().is_some_and(|t| {
                    t.req.state == crate::http_ana::MsgState::Done
                        && t.rsp.state == crate::http_ana::MsgState::Done
                }) =>
            {
                // Both messages are whole: the transaction is over as far
                // as the server goes, its connection is just not reusable.
                if let Some(t) = s.txn.as_mut() {
                    t.flags |= crate::http_ana::TxnFlags::SRV_CLOSE;
                }
                self.back_close(now, sid, CloseHow::Reset);
            }
            ConnSide::Back { .. } => {
                s.scb.flags |= ScFlags::ERROR;
                // Before the response head it is an `SH` (HTTP answers 502).
                let waiting_head = s
                    .txn
                    .as_ref()
                    .is_some_and(|t| t.rsp.state == crate::http_ana::MsgState::Head);
                let fin = if waiting_head {
                    FinSt::Headers
                } else {
                    FinSt::Data
                };
                s.set_term(ErrCode::SrvCl, fin);
                self.back_abort(now, sid);
            }
        }
        self.process_stream(now, sid);
    }

    pub(crate) fn conn_on_connected(&mut self, now: Time, c: Id<Conn>) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        conn.flags.remove(CoFlags::WAIT_L4_CONN);
        conn.flags |= CoFlags::CONNECTED;
        let Some(sid) = conn.pt_stream() else { return };
        self.back_connected(now, sid);
        self.process_stream(now, sid);
    }

    pub(crate) fn conn_on_connect_error(&mut self, now: Time, c: Id<Conn>, err: SockError) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let sock = conn.sock;
        self.free_sock(sock);
        let Some(sid) = self.conns.get(c).and_then(|conn| conn.pt_stream()) else {
            return;
        };
        self.set_err_type(
            sid,
            if err == SockError::TimedOut {
                ErrType::ConnTo
            } else {
                ErrType::ConnErr
            },
        );
        self.back_conn_error(now, sid);
        self.process_stream(now, sid);
    }

    /// Announces the socket interest of a connection from its state.
    pub(crate) fn conn_update_interest(&mut self, c: Id<Conn>) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let (read, write) = if conn.mux == Mux::None {
            (
                conn.hs.is_null() || conn.hs.room() > self.hs_reserve(c),
                false,
            )
        } else if conn.flags.contains(CoFlags::SEND_PROXY) {
            (false, true)
        } else {
            match (
                conn.pt_stream().and_then(|sid| self.streams.get(sid)),
                conn.side,
            ) {
                (Some(s), ConnSide::Front) => (
                    s.scf.state == ScState::Est && (s.req.may_recv() || spliced_open(&s.req)),
                    s.res.output > 0 && !s.res.shutw(),
                ),
                (Some(s), ConnSide::Back { .. }) => {
                    let est = s.scb.state == ScState::Est;
                    (
                        est && (s.res.may_recv() || spliced_open(&s.res)),
                        est && s.req.output > 0 && !s.req.shutw(),
                    )
                }
                // An idle server connection watches for the server's close,
                // a lingering client connection for the client's.
                (None, ConnSide::Back { .. }) => (true, false),
                (None, ConnSide::Front) if conn.flags.contains(CoFlags::DRAINING) => (true, false),
                (None, _) => (false, false),
            }
        };
        let sock = conn.sock;
        if conn.want != (read, write) {
            self.conns[c].want = (read, write);
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
        if conn.side != ConnSide::Front
            || conn.mux == Mux::None
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
        let ms = match fe.map(|fe| &self.proxies[fe].timeouts) {
            Some(t) => t.client_fin_ms.map(u64::from).unwrap_or_else(|| {
                t.client_ms
                    .map_or(LINGER_MAX_MS, u64::from)
                    .min(LINGER_MAX_MS)
            }),
            None => LINGER_MAX_MS,
        };
        let conn = &mut self.conns[c];
        let sock = conn.sock;
        let shut = conn.flags.contains(CoFlags::SOCK_WR_SH);
        conn.flags |= CoFlags::DRAINING | CoFlags::SOCK_WR_SH;
        conn.mux = Mux::Pt { stream: None };
        conn.session = None;
        conn.linger_fe = fe;
        let hs = std::mem::take(&mut conn.hs);
        self.pool_release(hs);
        self.pool.cancel(BufWaiter::Conn(c));
        self.timers.arm(TimerKey::ConnHs(c), None);
        if !shut {
            self.shutdown_write(sock);
        }
        if self.drain_buf.is_empty() {
            self.drain_buf = vec![0; DRAIN_BUF_LEN];
        }
        self.lingering += 1;
        self.timers
            .arm(TimerKey::ConnDrain(c), Some(now.add_ms(ms.max(1))));
        self.conn_update_interest(c);
        true
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
            return self.handshake_fail(now, c, PRX_EMPTY);
        }
        conn.hs.commit(n);
        match crate::proto_proxy::parse(conn.hs.data(), conn.hs.capacity()) {
            Ok(crate::peers::Status::Partial) => {
                if conn.hs.room() <= self.hs_reserve(c) {
                    return self.handshake_fail(now, c, "PROXY protocol header too long");
                }
                self.conn_update_interest(c);
            }
            Ok(crate::peers::Status::Complete((hdr, used))) => {
                let conn = &mut self.conns[c];
                conn.hs.consume(used);
                if let (Some(src), Some(dst)) = (hdr.src, hdr.dst) {
                    conn.src = Some(src);
                    conn.dst = Some(dst);
                    if let Some(se) = conn.session.and_then(|x| self.sessions.get_mut(x)) {
                        se.src = Some(src);
                        se.dst = Some(dst);
                    }
                }
                conn.flags.remove(CoFlags::ACCEPT_PROXY);
                self.timers.arm(TimerKey::ConnHs(c), None);
                if let Some(sess) = self.conns[c].session {
                    self.session_complete(now, sess);
                }
            }
            Err(_) => self.handshake_fail(
                now,
                c,
                "Received something which does not look like a PROXY protocol header",
            ),
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
    pub(crate) fn handshake_fail(&mut self, now: Time, c: Id<Conn>, why: &str) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let sess = conn.session;
        let src = conn.src;
        if let Some(sid) = sess {
            if let Some(se) = self.sessions.get(sid) {
                let fe = se.fe;
                let name = self.proxies[fe].name.clone();
                let date = crate::time::fmt_date(self.opts.epoch_ms + se.accept_date.as_ms(), true);
                let who = src.map_or("-".to_string(), |a| format!("{}:{}", a.ip(), a.port()));
                // `option dontlognull` silences connections that sent
                // nothing: closed or failed before any byte of a header.
                let null = matches!(why, PRX_EMPTY | PRX_ABORT) && self.proxies[fe].dontlognull;
                if self.proxies[fe].log && !null {
                    self.log(
                        LogLevel::Notice,
                        format!(
                            "{who} [{date}] {name}/{}: {why}",
                            self.listener_name(se.listener)
                        ),
                    );
                }
            }
        }
        self.conn_close(now, c, CloseHow::Reset);
        if let Some(sid) = sess {
            self.session_free(now, sid);
        }
    }
}

/// An HTTP stream still waiting for (the rest of) its request head: its
/// request deadline is `timeout http-request` / `http-keep-alive`, which
/// activity does not refresh.
fn waits_for_head(s: &Stream) -> bool {
    s.txn
        .as_ref()
        .is_some_and(|t| t.req.state == crate::http_ana::MsgState::Head)
}

/// A spliced direction still open: the engine wants its data, which the
/// driver moves itself.
fn spliced_open(ch: &crate::channel::Channel) -> bool {
    ch.flags.contains(crate::channel::ChnFlags::SPLICED) && !ch.shutr()
}

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
    }
}

/// Which side of the proxy a connection is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnSide {
    /// Accepted from a client on a frontend listener.
    Front,
    /// Opened towards server `srv` of backend `be`.
    Back { be: usize, srv: usize },
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
            return self.conns[c].hs.spare_mut();
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
        let reserve = self.rx_reserve(&self.streams[sid], dir);
        let s = &mut self.streams[sid];
        let ch = if dir == Dir::Req {
            &mut s.req
        } else {
            &mut s.res
        };
        let spare = ch.buf.spare_mut();
        let n = spare.len().saturating_sub(reserve);
        &mut spare[..n]
    }

    /// Room a channel keeps free while its HTTP head waits to be parsed:
    /// `tune.maxrewrite`, so that the analysers can rewrite the head in
    /// place (HAProxy's `channel_recv_limit` reserve). Without it, a head
    /// followed by enough body to fill the buffer in one read could not be
    /// rewritten (500 on a request, 502 on a response). The parser's
    /// `max_head_len` is the buffer size minus the same reserve, so a head
    /// too large still fails as such instead of waiting for room.
    fn rx_reserve(&self, s: &Stream, dir: Dir) -> usize {
        use crate::http_ana::MsgState;
        let head = s.txn.as_ref().is_some_and(|t| {
            let msg = if dir == Dir::Req { &t.req } else { &t.rsp };
            msg.state == MsgState::Head
        });
        if head {
            self.maxrewrite
        } else {
            0
        }
    }

    /// Whether a channel may take more bytes from its producer now,
    /// counting the head-rewrite reserve.
    fn rx_room(&self, s: &Stream, dir: Dir) -> bool {
        let ch = if dir == Dir::Req { &s.req } else { &s.res };
        ch.may_recv() && (ch.buf.is_null() || ch.buf.room() > self.rx_reserve(s, dir))
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
        let Some((sid, dir)) = self.conn_rx_target(c) else {
            return self.idle_conn_close(now, c);
        };
        let (fto, bto) = (self.front_timeout(sid), self.back_timeout(sid));
        let head_deadline = dir == Dir::Req && self.http_request_deadline(sid);
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
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
            let idle = to.map(|t| now.add_ms(t));
            ch.rex = if head_deadline {
                // `timeout http-request` bounds the whole head: bytes
                // trickling in do not push it back (slowloris).
                Time::first(ch.rex, idle)
            } else {
                idle
            };
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

    /// Whether a stream's request head is bounded by `timeout
    /// http-request` (its read deadline then only moves earlier).
    fn http_request_deadline(&self, sid: Id<Stream>) -> bool {
        self.streams.get(sid).is_some_and(|s| {
            s.txn
                .as_ref()
                .is_some_and(|t| t.req.state == crate::http_ana::MsgState::Head)
                && self.proxies[s.fe].timeouts.http_request_ms.is_some()
        })
    }

    /// Byte counters: frontend, backend, server, tracked entries.
    fn count_bytes(
        &mut self,
        sid: Id<Stream>,
        fe: usize,
        be: usize,
        srv: Option<usize>,
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
        if !other.shutr() && other.rex.is_some() {
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
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let side = conn.side;
        if conn.pt_stream().is_none() && matches!(side, ConnSide::Back { .. }) {
            return self.idle_conn_close(now, c);
        }
        let Some(sid) = conn.pt_stream() else {
            // Before the stream: a handshake that failed.
            let sess = conn.session;
            self.conn_close(now, c, CloseHow::Reset);
            if let Some(sess) = sess {
                self.session_free(now, sess);
            }
            return;
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
                if s.txn
                    .as_ref()
                    .is_some_and(|t| t.req.state != crate::http_ana::MsgState::Tunnel) =>
            {
                // HTTP: the analysers judge a reset against the transaction,
                // as they judge a read0 (`http_shutdowns`): a 502 before the
                // response head, an abort in the middle of a body. Aborting
                // here would leave a client waiting for a response that no
                // analyser produces any more, with no timer armed.
                s.scb.flags |= ScFlags::ERROR;
                s.res.flags |=
                    crate::channel::ChnFlags::SHUTR | crate::channel::ChnFlags::READ_ERROR;
                s.res.rex = None;
                if let Some(t) = s.txn.as_mut() {
                    t.flags |= crate::http_ana::TxnFlags::SRV_CLOSE;
                }
            }
            ConnSide::Back { .. } => {
                s.scb.flags |= ScFlags::ERROR;
                s.set_term(ErrCode::SrvCl, FinSt::Data);
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
            (conn.hs.is_null() || conn.hs.room() > 0, false)
        } else if conn.flags.contains(CoFlags::SEND_PROXY) {
            (false, true)
        } else {
            match (
                conn.pt_stream().and_then(|sid| self.streams.get(sid)),
                conn.side,
            ) {
                (Some(s), ConnSide::Front) => (
                    s.scf.state == ScState::Est
                        && (self.rx_room(s, Dir::Req) || spliced_open(&s.req)),
                    s.res.output > 0 && !s.res.shutw(),
                ),
                (Some(s), ConnSide::Back { .. }) => {
                    let est = s.scb.state == ScState::Est;
                    (
                        est && (self.rx_room(s, Dir::Res) || spliced_open(&s.res)),
                        est && s.req.output > 0 && !s.req.shutw(),
                    )
                }
                // An idle server connection watches for the server's close.
                (None, ConnSide::Back { .. }) => (true, false),
                (None, _) => (false, false),
            }
        };
        let sock = conn.sock;
        if conn.want != (read, write) {
            self.conns[c].want = (read, write);
        }
        self.set_interest(sock, read, write);
    }

    /// Closes a connection's socket and forgets the connection.
    pub(crate) fn conn_close(&mut self, _now: Time, c: Id<Conn>, how: CloseHow) {
        let Some(conn) = self.conns.remove(c) else {
            return;
        };
        self.timers.arm(TimerKey::ConnHs(c), None);
        self.pool.cancel(BufWaiter::Conn(c));
        self.close_sock(conn.sock, how);
        self.pool_release(conn.hs);
    }

    /// Bytes of a PROXY header (or data after it) arrived before the stream.
    fn conn_handshake_recv(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let conn = &mut self.conns[c];
        if n == 0 {
            return self.handshake_fail(now, c, "Connection closed during PROXY protocol header");
        }
        conn.hs.commit(n);
        match crate::proto_proxy::parse(conn.hs.data(), conn.hs.capacity()) {
            Ok(crate::peers::Status::Partial) => {
                if conn.hs.is_full() {
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
                if self.proxies[fe].log {
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

/// A spliced direction still open: the engine wants its data, which the
/// driver moves itself.
fn spliced_open(ch: &crate::channel::Channel) -> bool {
    ch.flags.contains(crate::channel::ChnFlags::SPLICED) && !ch.shutr()
}

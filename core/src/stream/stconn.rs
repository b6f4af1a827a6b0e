//! Stream connectors: HAProxy 2.6's `struct stconn` (formerly
//! `stream_interface`), `include/haproxy/stconn-t.h`.
//!
//! A stream has a front connector (towards the client, attached to the
//! client connection's mux) and a back connector (towards the server). The
//! front one is established from the start. The back one walks:
//!
//! ```text
//!  INI --need a server--> REQ --assigned--> ASS --connect--> CON --ok--> RDY --> EST
//!                          |  \--full-->  QUE --slot--> ASS     |
//!                          |                                   fail
//!                          |            TAR <--retry-- CER <---+
//!                          |             \--timer--> REQ/ASS    \--no retry left--> CLO
//!                          \--no server--> CLO
//!  EST --shut both ways / error--> DIS --released--> CLO
//! ```
//!
//! The state is an enum; independent facts are `SC_FL_*` bits.

use bitflags::bitflags;

use crate::arena::Id;
use crate::conn::Conn;
use crate::time::Time;

/// `enum sc_state` (HAProxy 2.6), `SI_ST_*` before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScState {
    /// Nothing asked yet.
    #[doc(alias = "SC_ST_INI")]
    #[doc(alias = "SI_ST_INI")]
    Ini,
    /// A connection was requested; a server must be assigned.
    #[doc(alias = "SC_ST_REQ")]
    #[doc(alias = "SI_ST_REQ")]
    Req,
    /// Waiting in a queue for a server slot.
    #[doc(alias = "SC_ST_QUE")]
    #[doc(alias = "SI_ST_QUE")]
    Que,
    /// Turn-around: waiting before a retry.
    #[doc(alias = "SC_ST_TAR")]
    #[doc(alias = "SI_ST_TAR")]
    Tar,
    /// A server is assigned; connect.
    #[doc(alias = "SC_ST_ASS")]
    #[doc(alias = "SI_ST_ASS")]
    Ass,
    /// Connection in progress.
    #[doc(alias = "SC_ST_CON")]
    #[doc(alias = "SI_ST_CON")]
    Con,
    /// Connection error, retry or give up.
    #[doc(alias = "SC_ST_CER")]
    #[doc(alias = "SI_ST_CER")]
    Cer,
    /// Connected, not yet confirmed by the stream.
    #[doc(alias = "SC_ST_RDY")]
    #[doc(alias = "SI_ST_RDY")]
    Rdy,
    /// Established: data flows.
    #[doc(alias = "SC_ST_EST")]
    #[doc(alias = "SI_ST_EST")]
    Est,
    /// Disconnected, waiting to be released.
    #[doc(alias = "SC_ST_DIS")]
    #[doc(alias = "SI_ST_DIS")]
    Dis,
    /// Closed.
    #[doc(alias = "SC_ST_CLO")]
    #[doc(alias = "SI_ST_CLO")]
    Clo,
}

impl ScState {
    /// The name `show sess` prints.
    pub fn name(self) -> &'static str {
        match self {
            ScState::Ini => "INI",
            ScState::Req => "REQ",
            ScState::Que => "QUE",
            ScState::Tar => "TAR",
            ScState::Ass => "ASS",
            ScState::Con => "CON",
            ScState::Cer => "CER",
            ScState::Rdy => "RDY",
            ScState::Est => "EST",
            ScState::Dis => "DIS",
            ScState::Clo => "CLO",
        }
    }
}

bitflags! {
    /// `SC_FL_*`: what the stream decided about one of its sides.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct ScFlags: u32 {
        /// Close with a reset rather than a FIN (`SC_FL_NOLINGER`).
        const NOLINGER = 0x0000_0002;
    }
}

bitflags! {
    /// `SE_FL_*`: the state of the endpoint behind a stream connector, as
    /// the mux (or the stream, when it shuts it) reports it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct SeFlags: u32 {
        /// The endpoint failed (`SE_FL_ERROR`): set by the mux on every
        /// stream of a connection that failed.
        const ERROR = 0x0000_0001;
        /// The endpoint's write side is shut: a FIN was asked
        /// (`SE_FL_SHW*`).
        const SHW = 0x0000_0004;
        /// The endpoint's read side saw read0 or was shut (`SE_FL_EOS`,
        /// `SE_FL_SHR*`).
        const SHR = 0x0000_0008;
    }
}

/// The stream endpoint descriptor (`struct sedesc`): what sits between a
/// stream connector and its endpoint (a mux stream of a connection; an
/// applet later), and the endpoint's state. A connection error reaches
/// every stream of a multiplexed connection through it: the mux sets
/// [`SeFlags::ERROR`] on each stream's descriptor and wakes the stream,
/// which turns it into termination codes.
#[derive(Debug, Default)]
pub struct SeDesc {
    pub flags: SeFlags,
    /// The connection whose mux carries the endpoint, when there is one.
    pub conn: Option<Id<Conn>>,
}

/// Why the back connector failed (`SI_ET_*`), for termination flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ErrType {
    #[default]
    None,
    /// Queue timeout.
    QueueTo,
    /// Queue error (no room in the queue).
    QueueErr,
    /// Queue aborted by the client.
    QueueAbrt,
    /// Connect timeout.
    ConnTo,
    /// Connect error (refused...).
    ConnErr,
    /// Connect aborted by the client.
    ConnAbrt,
    /// Internal resource error.
    ConnOther,
    /// Data phase error.
    DataErr,
    /// Data phase abort.
    DataAbrt,
}

/// One side of a stream.
#[derive(Debug)]
pub struct StConn {
    pub state: ScState,
    pub flags: ScFlags,
    /// The endpoint behind this connector.
    pub sedesc: SeDesc,
    /// Connect / turn-around / queue deadline.
    pub exp: Option<Time>,
    pub err_type: ErrType,
}

impl StConn {
    /// The connection behind this connector (`sc_conn()`).
    pub fn conn(&self) -> Option<Id<Conn>> {
        self.sedesc.conn
    }

    pub fn new(state: ScState) -> StConn {
        StConn {
            state,
            flags: ScFlags::empty(),
            sedesc: SeDesc::default(),
            exp: None,
            err_type: ErrType::None,
        }
    }
}

// --------------------------------------------------------------------------
// The glue between a stream connector and the mux behind it (HAProxy's
// `sc_conn_recv`, `sc_conn_send`, `sc_conn_process`): the only code that
// knows both a stream (its channels, analysers' state, termination codes)
// and a connection. The connection layer calls these with the stream its
// mux names; nothing below this layer reads or writes stream state.

use crate::conn::ConnSide;
use crate::engine::Engine;
use crate::sock::{CloseHow, SockError};
use crate::stream::channel::{Channel, ChnFlags};
use crate::stream::{Dir, ErrCode, FinSt, Stream};

impl Engine {
    /// Where bytes received for `sid`'s `dir` channel go: its buffer's
    /// free room, allocated on demand. Empty when the channel may not
    /// receive (full, shut, no buffer to be had).
    pub(crate) fn sc_conn_recv_buf(&mut self, sid: Id<Stream>, dir: Dir) -> &mut [u8] {
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

    /// What the mux sends for `sid`: the output of its `dir` channel (the
    /// request only once the back connector is established).
    pub(crate) fn sc_conn_send_buf(&self, sid: Id<Stream>, dir: Dir) -> &[u8] {
        let Some(s) = self.streams.get(sid) else {
            return &[];
        };
        match dir {
            Dir::Res => s.res.output_bytes(),
            Dir::Req if s.scb.state == ScState::Est => s.req.output_bytes(),
            Dir::Req => &[],
        }
    }

    /// `n` bytes for `sid`'s `dir` channel went straight to the other
    /// side (splicing).
    pub(crate) fn sc_conn_spliced(&mut self, now: Time, sid: Id<Stream>, dir: Dir, n: usize) {
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
        ch.flags |= crate::stream::channel::ChnFlags::READ_PARTIAL
            | crate::stream::channel::ChnFlags::WRITE_PARTIAL;
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

    /// `n` bytes were received for `sid`'s `dir` channel (`n == 0`: the
    /// endpoint read a close); timeouts refreshed, bytes counted, the
    /// stream processed.
    pub(crate) fn sc_conn_recv(&mut self, now: Time, sid: Id<Stream>, dir: Dir, n: usize) {
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
            ch.flags |= crate::stream::channel::ChnFlags::READ_NULL
                | crate::stream::channel::ChnFlags::SHUTR;
            ch.rex = None;
            if dir == Dir::Req {
                s.scf.sedesc.flags |= SeFlags::SHR;
            } else {
                s.scb.sedesc.flags |= SeFlags::SHR;
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
        srv: Option<crate::backend::server::ServerId>,
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

    /// `n` bytes of `sid`'s `dir` channel output were sent.
    pub(crate) fn sc_conn_sent(&mut self, now: Time, sid: Id<Stream>, dir: Dir, n: usize) {
        let front = dir == Dir::Res;
        if !front {
            // `retry-on`: the request as it first goes, kept whole.
            self.http_l7_keep_request(sid);
        }
        let to = if front {
            self.front_timeout(sid)
        } else {
            self.back_timeout(sid)
        };
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let head_wait = waits_for_head(s);
        let (ch, other) = if front {
            (&mut s.res, &mut s.req)
        } else {
            (&mut s.req, &mut s.res)
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

    /// The connection on `side` of `sid` failed: the stream turns it into
    /// its termination codes (client or server close, at this stage).
    pub(crate) fn sc_conn_error(&mut self, now: Time, sid: Id<Stream>, side: ConnSide) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        match side {
            ConnSide::App => crate::bug_on!(true, "a stream on an applet connection"),
            ConnSide::Front => {
                s.scf.sedesc.flags |= SeFlags::ERROR;
                let stage = s.stage();
                s.set_term(ErrCode::CliCl, stage);
                self.front_abort(now, sid);
            }
            ConnSide::Back { .. } | ConnSide::BackProxy { .. } if s.scb.state == ScState::Con => {
                s.scb.err_type = ErrType::ConnErr;
                self.back_conn_error(now, sid);
            }
            ConnSide::Back { .. } | ConnSide::BackProxy { .. }
                if s.txn.as_ref().is_some_and(|t| {
                    t.req.state == crate::http::ana::MsgState::Done
                        && t.rsp.state == crate::http::ana::MsgState::Done
                }) =>
            {
                // Both messages are whole: the transaction is over as far
                // as the server goes, its connection is just not reusable.
                if let Some(t) = s.txn.as_mut() {
                    t.flags |= crate::http::ana::TxnFlags::SRV_CLOSE;
                }
                self.back_close(now, sid, CloseHow::Reset);
            }
            ConnSide::Back { .. } | ConnSide::BackProxy { .. } => {
                s.scb.sedesc.flags |= SeFlags::ERROR;
                // Before the response head it is an `SH` (HTTP answers 502).
                let waiting_head = s
                    .txn
                    .as_ref()
                    .is_some_and(|t| t.rsp.state == crate::http::ana::MsgState::Head);
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

    /// The server connection of `sid` could not be established.
    pub(crate) fn sc_conn_connect_error(&mut self, now: Time, sid: Id<Stream>, err: SockError) {
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

    /// The socket interest (read, write) of the connection on `side` of
    /// `sid`.
    pub(crate) fn sc_conn_want(&self, sid: Id<Stream>, side: ConnSide) -> (bool, bool) {
        match (self.streams.get(sid), side) {
            (Some(s), ConnSide::Front) => (
                s.scf.state == ScState::Est && (s.req.may_recv() || spliced_open(&s.req)),
                s.res.output > 0 && !s.res.shutw(),
            ),
            (Some(s), ConnSide::Back { .. } | ConnSide::BackProxy { .. }) => {
                let est = s.scb.state == ScState::Est;
                (
                    est && (s.res.may_recv() || spliced_open(&s.res)),
                    est && s.req.output > 0 && !s.req.shutw(),
                )
            }
            // No stream, or an applet connection (which carries none).
            _ => (false, false),
        }
    }
}

/// An HTTP stream still waiting for (the rest of) its request head: its
/// request deadline is `timeout http-request` / `http-keep-alive`, which
/// activity does not refresh.
fn waits_for_head(s: &Stream) -> bool {
    s.txn
        .as_ref()
        .is_some_and(|t| t.req.state == crate::http::ana::MsgState::Head)
}

/// A spliced direction still open: the engine wants its data, which the
/// driver moves itself.
fn spliced_open(ch: &Channel) -> bool {
    ch.flags.contains(ChnFlags::SPLICED) && !ch.shutr()
}

//! Streams: HAProxy's `struct stream` and `process_stream` (`stream.c`).
//!
//! A stream carries one exchange between a client and a server: two stream
//! connectors (`scf` towards the client, `scb` towards the server) and two
//! channels (`req`, `res`). In TCP mode there is one stream per client
//! connection and the channels forward everything once the server
//! connection is established.
//!
//! `Engine::process_stream` is called after every event on the stream
//! (data in or out, a shutdown, an error, a timer). It walks the back
//! connector's state machine (`stconn`), applies timeouts, propagates
//! half-closes across (`CF_AUTO_CLOSE`: a read shutdown on one side becomes
//! a write shutdown on the other once the data in between is flushed), and
//! ends the stream once both sides are closed: counters go down once, the
//! log line is emitted, buffers return to the pool.
//!
//! Shutdown sequencing (`sc_shutr`/`sc_shutw`): shut the data layer first;
//! close the ctrl layer (the socket) only once both directions are shut.

pub mod channel;
pub mod sc_h2;
pub mod sc_h2b;
pub mod stconn;

use bitflags::bitflags;

use crate::arena::Id;
use crate::backend::server::ServerId;
use crate::conn::{BufWaiter, CoFlags};
use crate::engine::{Engine, TimerKey};
use crate::proxy::ProxyId;
use crate::session::Session;
use crate::sock::CloseHow;
use crate::stream::channel::{Channel, ChnFlags, INFINITE_FORWARD};
use crate::stream::stconn::{ErrType, ScState, SeFlags, StConn};
use crate::time::Time;

bitflags! {
    /// `SF_*`: facts about a stream.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct SfFlags: u32 {
        /// A server is assigned (`SF_ASSIGNED`).
        const ASSIGNED = 0x0000_0001;
        /// The server was chosen by persistence (`SF_DIRECT`).
        const DIRECT = 0x0000_0002;
        /// The stream was redispatched to another server (`SF_REDISP`).
        const REDISP = 0x0000_0004;
        /// The stream holds a connection slot of its server (`SF_CURR_SESS`).
        const CURR_SESS = 0x0000_0008;
        /// The stream is counted in its backend's `beconn` (`SF_BE_ASSIGNED`).
        const BE_ASSIGNED = 0x0000_0010;
        /// The stream sat in a queue.
        const QUEUED = 0x0000_0020;
        /// A `force-persist` rule matched (`SF_FORCE_PRST`).
        const FORCE_PRST = 0x0000_0040;
        /// An `ignore-persist` rule matched (`SF_IGNORE_PRST`).
        const IGNORE_PRST = 0x0000_0080;
        /// The stream's log line was emitted (`option logasap`): no
        /// other one at its end (HAProxy clears `logs.logwait`).
        const LOGGED = 0x0000_0100;
    }
}

bitflags! {
    /// The request analysers of a TCP-mode stream still to run (HAProxy's
    /// `AN_REQ_*` bits of `req->analysers`, in their order). HTTP streams
    /// run theirs in `http/ana.rs` on the complete request head.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct AnaFlags: u8 {
        /// The frontend's `tcp-request content` rules (`AN_REQ_INSPECT_FE`).
        const INSPECT_FE = 0x01;
        /// `use_backend`, `default_backend` (`AN_REQ_SWITCHING_RULES`).
        const SWITCHING = 0x02;
        /// The backend's `tcp-request content` rules (`AN_REQ_INSPECT_BE`).
        const INSPECT_BE = 0x04;
        /// The request analysers above.
        const REQ = 0x07;
        /// The backend's `tcp-response content` rules (`AN_RES_INSPECT`,
        /// armed once the server connection is up, TCP and HTTP mode).
        const INSPECT_RES = 0x08;
    }
}

/// The first character of the termination state (`SF_ERR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ErrCode {
    #[default]
    None,
    /// `C`: the client aborted.
    CliCl,
    /// `c`: the client timed out.
    CliTo,
    /// `S`: the server aborted or refused.
    SrvCl,
    /// `s`: the server timed out.
    SrvTo,
    /// `P`: the proxy blocked (a rule, a bad PROXY header).
    PrxCond,
    /// `R`: a resource ran out.
    Resource,
    /// `I`: an internal error.
    Internal,
    /// `D`: the server went down.
    Down,
    /// `U`: a backup server's stream closed because an active server came
    /// back (`on-marked-up shutdown-backup-sessions`, HAProxy's `SF_ERR_UP`).
    Up,
    /// `K`: killed by an administrator.
    Killed,
    /// `L`: the proxy answered by itself (`http-request return`, redirects).
    Local,
}

impl ErrCode {
    pub fn ch(self) -> char {
        match self {
            ErrCode::None => '-',
            ErrCode::CliCl => 'C',
            ErrCode::CliTo => 'c',
            ErrCode::SrvCl => 'S',
            ErrCode::SrvTo => 's',
            ErrCode::PrxCond => 'P',
            ErrCode::Resource => 'R',
            ErrCode::Internal => 'I',
            ErrCode::Down => 'D',
            ErrCode::Up => 'U',
            ErrCode::Killed => 'K',
            ErrCode::Local => 'L',
        }
    }
}

/// The second character of the termination state (`SF_FINST_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FinSt {
    #[default]
    None,
    /// `R`: waiting for the request.
    Req,
    /// `Q`: in a queue.
    Queue,
    /// `C`: connecting.
    Connect,
    /// `H`: waiting for response headers.
    Headers,
    /// `D`: data phase.
    Data,
    /// `L`: the last data was being sent.
    Last,
    /// `T`: the request was tarpitted.
    Tarpit,
}

impl FinSt {
    pub fn ch(self) -> char {
        match self {
            FinSt::None => '-',
            FinSt::Req => 'R',
            FinSt::Queue => 'Q',
            FinSt::Connect => 'C',
            FinSt::Headers => 'H',
            FinSt::Data => 'D',
            FinSt::Last => 'L',
            FinSt::Tarpit => 'T',
        }
    }
}

/// One stream.
#[derive(Debug)]
pub struct Stream {
    pub sess: Id<Session>,
    /// The HTTP/2 stream id carrying this stream on the client side (0:
    /// none, the client connection's mux carries one stream).
    pub mux_id: u32,
    pub fe: ProxyId,
    pub be: ProxyId,
    /// The client and local addresses as `tcp-request content` and
    /// `http-request` `set-src`/`set-dst` rules of this stream left them
    /// (HAProxy's `s->scf->src`, `dst`); `None`: the session's.
    pub src: Option<core::net::SocketAddr>,
    pub dst: Option<core::net::SocketAddr>,
    pub srv: Option<ServerId>,
    /// The applet that answered instead of a server (HAProxy's
    /// `s->target` set to an applet): its log name (`<STATS>`) and whether
    /// it served its content (`false`: it asked for credentials).
    pub applet: Option<(&'static str, bool)>,
    /// The server of the last failed attempt (avoided when redispatching).
    pub prev_srv: Option<ServerId>,
    /// The server a persistence cookie or a `use-server` rule chose while
    /// the request was analysed (HAProxy sets `SF_DIRECT|SF_ASSIGNED`
    /// there); taken by the first server assignment.
    pub direct_srv: Option<ServerId>,
    pub req: Channel,
    pub res: Channel,
    pub scf: StConn,
    pub scb: StConn,
    pub flags: SfFlags,
    pub err: ErrCode,
    pub finst: FinSt,
    /// Connection attempts left (`conn_retries`).
    pub conn_retries: u32,
    pub accept: Time,
    /// When the current queue wait / connection attempt started.
    pub queue_start: Option<Time>,
    pub conn_start: Option<Time>,
    /// `Tw` and `Tc` for the log, in ms.
    pub t_queue: Option<u64>,
    pub t_connect: Option<u64>,
    /// When the stream wants to be woken (the first of its timeouts).
    pub exp: Option<Time>,
    /// Where its timer sits in the wait queue: at or before `exp`. A
    /// timeout pushed back (every I/O does) leaves it there; the stream
    /// re-queues itself when it is woken early (HAProxy's `task_queue`
    /// leaving a later expiry in place).
    pub queued: Option<Time>,
    /// The HTTP transaction (HTTP mode).
    pub txn: Option<Box<crate::http::ana::HttpTxn>>,
    /// `txn.`, `req.` and `res.` variables.
    pub vars: crate::vars::Vars,
    /// TCP mode: the request analysers still to run.
    pub ana: AnaFlags,
    /// TCP mode: what `use-server` and the `stick` rules decided on the
    /// request as the analysers saw it (`AN_REQ_SRV_RULES`,
    /// `AN_REQ_STICKING_RULES`), before its bytes were forwarded.
    pub pre: Option<crate::backend::PreAssign>,
    /// The end of the current `tcp-request inspect-delay` (`rules_exp`).
    pub rules_exp: Option<Time>,
    /// The process-wide request counter when it was created (`%rt`).
    pub uniq_id: u32,
    /// Unique id and captures; boxed and made on first use, so that a
    /// stream of a proxy without them stays small.
    pub logx: Option<Box<StreamLogData>>,
    /// `http-request set-timeout server|tunnel`: the stream's own server
    /// and tunnel timeouts in ms, over the backend's (HAProxy's
    /// `s->res.rto`/`s->req.wto` and `s->tunnel_timeout`).
    pub timeout_server: Option<u32>,
    pub timeout_tunnel: Option<u32>,
    /// `set-log-level` (HAProxy's `s->logs.level`): the level of the
    /// stream's log line, or none.
    pub log_level: Option<crate::rules::LogLevelSet>,
}

/// What a stream keeps for its log line beyond the timers.
#[derive(Debug, Default)]
pub struct StreamLogData {
    /// `unique-id-format`, rendered once (`%ID`, `unique-id`).
    pub unique_id: Option<String>,
    /// Captured request and response headers and samples, one entry per
    /// slot of the frontend (HAProxy's `req_cap`, `res_cap`).
    pub req_cap: Vec<Option<Vec<u8>>>,
    pub res_cap: Vec<Option<Vec<u8>>>,
    /// The file and line of the last final rule run (`last_rule_file`).
    pub last_rule: Option<(String, u32)>,
}

impl Stream {
    /// A final rule (`accept`, `deny`, `redirect`...) written at
    /// `file:line` decides: remembered for `last_rule_file`/`_line`.
    pub fn set_last_rule(&mut self, file: &str, line: u32) {
        let x = self.logx.get_or_insert_with(Default::default);
        match &mut x.last_rule {
            Some((f, l)) if f == file => *l = line,
            slot => *slot = Some((file.to_string(), line)),
        }
    }
}

impl Stream {
    /// Sets the termination state unless one is already set, as
    /// `sess_set_term_flags` does.
    pub fn set_term(&mut self, err: ErrCode, finst: FinSt) {
        if self.err == ErrCode::None {
            self.err = err;
        }
        if self.finst == FinSt::None {
            self.finst = finst;
        }
    }

    /// The bytes of a channel were dropped (an abort released its
    /// buffer): the head parser of that direction forgets what it saw,
    /// since it resumes from where it stopped in the *same* buffer.
    pub(crate) fn forget_input(&mut self, dir: Dir) {
        if let Some(t) = self.txn.as_mut() {
            let msg = if dir == Dir::Req {
                &mut t.req
            } else {
                &mut t.rsp
            };
            msg.parser.reset();
        }
    }

    /// The stage the back connector is in, for `SF_FINST_*`.
    pub fn stage(&self) -> FinSt {
        use crate::http::ana::MsgState;
        if self.ana.intersects(AnaFlags::REQ) {
            // TCP request analysers (content rules) still run.
            return FinSt::Req;
        }
        if let Some(t) = self.txn.as_ref() {
            if t.tarpit.is_some() {
                return FinSt::Tarpit;
            }
            // HTTP: the stages of the transaction (HAProxy's FINST_R while
            // the request is awaited, FINST_H while the response headers
            // are).
            let connected = matches!(
                self.scb.state,
                ScState::Rdy | ScState::Est | ScState::Dis | ScState::Clo
            );
            if t.req.state == MsgState::Head {
                return FinSt::Req;
            }
            if connected && t.rsp.state == MsgState::Head {
                return FinSt::Headers;
            }
        }
        match self.scb.state {
            ScState::Ini | ScState::Req if !self.flags.contains(SfFlags::ASSIGNED) => {
                FinSt::Connect
            }
            ScState::Que => FinSt::Queue,
            ScState::Ini
            | ScState::Req
            | ScState::Tar
            | ScState::Ass
            | ScState::Con
            | ScState::Cer => FinSt::Connect,
            ScState::Rdy | ScState::Est | ScState::Dis | ScState::Clo => FinSt::Data,
        }
    }
}

/// Which channel a pool waiter wants a buffer for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Req,
    Res,
}

impl Dir {
    /// The other direction.
    pub fn other(self) -> Dir {
        match self {
            Dir::Req => Dir::Res,
            Dir::Res => Dir::Req,
        }
    }
}

/// How many times `process_stream` loops over its state machine per call
/// at most (each loop is a state change; a handful is enough).
const MAX_LOOPS: usize = 16;

impl Engine {
    /// Creates the stream of a complete session (mux_pt init).
    pub(crate) fn stream_new(&mut self, now: Time, sess_id: Id<Session>) -> Option<Id<Stream>> {
        let sess = self.sessions.get(sess_id)?;
        let fe = sess.fe;
        let http = self.proxies[fe].mode == crate::cfgparse::Mode::Http;
        // The backend is picked after the request rules (and `use_backend`);
        // until then the stream's backend is the frontend itself, as in
        // HAProxy (a request refused before that logs `fe fe/<NOSRV>`; a
        // TCP frontend that finds no backend logs `fe fe/<NOSRV> ... SC`).
        let default_be = self.proxies[fe].fe.as_ref()?.default_backend;
        let fe_rules = &self.proxies[fe].rules;
        let mut ana = AnaFlags::empty();
        if !http {
            if !fe_rules.tcp_req_cont.is_empty() {
                ana |= AnaFlags::INSPECT_FE;
            }
            let be_rules = default_be
                .filter(|&b| b != fe)
                .is_some_and(|b| !self.proxies[b].rules.tcp_req_cont.is_empty());
            if !ana.is_empty() || !fe_rules.switching.is_empty() || be_rules {
                ana |= AnaFlags::SWITCHING;
            }
        }
        let be = if http || !ana.is_empty() {
            fe
        } else {
            default_be.unwrap_or(fe)
        };
        let retries = self.proxies[be].be.as_ref().map_or(3, |b| b.cfg.retries);
        let mut st = Stream {
            sess: sess_id,
            mux_id: 0,
            fe,
            be,
            src: None,
            dst: None,
            srv: None,
            prev_srv: None,
            direct_srv: None,
            applet: None,
            req: Channel::new(),
            res: Channel::new(),
            scf: StConn::new(ScState::Est),
            scb: StConn::new(ScState::Ini),
            flags: SfFlags::empty(),
            err: ErrCode::None,
            finst: FinSt::None,
            conn_retries: retries,
            accept: sess.accept_date,
            queue_start: None,
            conn_start: None,
            t_queue: None,
            t_connect: None,
            exp: None,
            queued: None,
            txn: None,
            vars: Default::default(),
            ana: AnaFlags::empty(),
            pre: None,
            rules_exp: None,
            uniq_id: self.req_count,
            timeout_server: None,
            timeout_tunnel: None,
            log_level: None,
            logx: None,
        };
        self.req_count = self.req_count.wrapping_add(1);
        st.scf.sedesc.conn = Some(sess.conn);
        if http {
            // The analysers decide what to forward and when to connect;
            // heads may grow when rewritten.
            st.req.reserve = self.maxrewrite;
            st.res.reserve = self.maxrewrite;
            let max_head = self.pool.bufsize().saturating_sub(self.maxrewrite);
            st.txn = Some(Box::new(crate::http::ana::HttpTxn::new(now, max_head)));
        } else if ana.is_empty() {
            // TCP mode without rules: connect at once, forward everything.
            st.req.flags |= ChnFlags::AUTO_CONNECT | ChnFlags::AUTO_CLOSE;
            st.res.flags |= ChnFlags::AUTO_CLOSE;
            st.req.forward(INFINITE_FORWARD);
            st.res.forward(INFINITE_FORWARD);
        } else {
            // TCP mode with rules: they run first (`tcp_analyse`).
            st.ana = ana;
        }
        // Bytes read with the handshake (after a PROXY header) are the
        // first bytes of the request.
        let conn = sess.conn;
        let mut early = 0;
        if let Some(c) = self.conns.get_mut(conn) {
            let hs = std::mem::take(&mut c.hs);
            if !hs.is_null() {
                early = hs.len();
                st.req.buf = hs;
                st.req.output = if http || !ana.is_empty() { 0 } else { early };
                st.req.total = early as u64;
            }
        }
        let sid = self.streams.insert(st);
        if let Some(se) = self.sessions.get_mut(sess_id) {
            se.requests += 1;
        }
        if !http && ana.is_empty() {
            self.stream_set_backend(sid, be);
        }
        if early > 0 {
            // Counted like any byte read from the client (`bin`, tracked
            // entries): they were read, only earlier.
            self.count_bytes(sid, fe, be, None, Dir::Req, early as u64);
        }
        // The client timeout runs from the start (a silent client held by
        // content rules times out); the server connection replaces it with
        // the tunnel timeout in TCP mode.
        let to = self.front_timeout(sid);
        self.streams[sid].req.rex = to.map(|t| now.add_ms(t));
        if http {
            let to = self.http_request_timeout(sid);
            self.streams[sid].req.analyse_exp = to.map(|t| now.add_ms(t));
        }
        Some(sid)
    }

    /// Counts the stream on backend `be` (`beconn`), once.
    pub(crate) fn stream_set_backend(&mut self, sid: Id<Stream>, be: ProxyId) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if s.flags.contains(SfFlags::BE_ASSIGNED) {
            return;
        }
        let (prev, seen) = (s.be, s.req.total);
        s.be = be;
        s.conn_retries = self.proxies[be].be.as_ref().map_or(3, |b| b.cfg.retries);
        s.flags |= SfFlags::BE_ASSIGNED;
        if prev != be && seen > 0 {
            // What was read before the choice is the new backend's (HAProxy
            // counts a stream's bytes once its analysers ran): taken back
            // from a `listen` section that switched away.
            if let Some(p) = self.proxies[prev].be.as_mut() {
                p.bytes_in = p.bytes_in.saturating_sub(seen);
            }
            if let Some(b) = self.proxies[be].be.as_mut() {
                b.bytes_in += seen;
            }
        }
        let Some(b) = self.proxies[be].be.as_mut() else {
            return;
        };
        b.beconn += 1;
        b.max_beconn = b.max_beconn.max(b.beconn);
        b.cum_beconn += 1;
        b.sess_rate.hit(self.now);
    }

    /// Whether `timeout tunnel` applies: a TCP stream connected to its
    /// server, an HTTP one once it became a tunnel (WebSocket, CONNECT).
    fn in_tunnel(&self, s: &Stream) -> bool {
        (self.proxies[s.be].timeouts.tunnel_ms.is_some() || s.timeout_tunnel.is_some())
            && s.scb.state == ScState::Est
            && s.txn
                .as_ref()
                .is_none_or(|t| t.req.state == crate::http::ana::MsgState::Tunnel)
    }

    /// The client-side inactivity timeout in effect for a stream.
    pub(crate) fn front_timeout(&self, sid: Id<Stream>) -> Option<u64> {
        let s = self.streams.get(sid)?;
        let fe = &self.proxies[s.fe].timeouts;
        let be = &self.proxies[s.be].timeouts;
        let tunnel = self.in_tunnel(s);
        let t = if tunnel {
            s.timeout_tunnel.or(be.tunnel_ms)
        } else if s.res.shutw() && fe.client_fin_ms.is_some() {
            fe.client_fin_ms
        } else {
            fe.client_ms
        };
        t.map(u64::from)
    }

    /// The server-side inactivity timeout in effect for a stream.
    pub(crate) fn back_timeout(&self, sid: Id<Stream>) -> Option<u64> {
        let s = self.streams.get(sid)?;
        let be = &self.proxies[s.be].timeouts;
        let tunnel = self.in_tunnel(s);
        let t = if tunnel {
            s.timeout_tunnel.or(be.tunnel_ms)
        } else if s.req.shutw() && be.server_fin_ms.is_some() {
            be.server_fin_ms
        } else {
            s.timeout_server.or(be.server_ms)
        };
        t.map(u64::from)
    }

    /// `process_stream`: runs the stream's state machine after an event.
    pub(crate) fn process_stream(&mut self, now: Time, sid: Id<Stream>) {
        for _ in 0..MAX_LOOPS {
            let Some(before) = self
                .streams
                .get(sid)
                .map(|s| (s.scb.state, s.req.flags, s.res.flags, s.scf.state))
            else {
                return;
            };
            let http = self.streams.get(sid).is_some_and(|s| {
                s.txn
                    .as_ref()
                    .is_some_and(|t| t.req.state != crate::http::ana::MsgState::Tunnel)
            });
            if !http || !self.http_check_timeouts(now, sid) {
                self.stream_check_timeouts(now, sid);
            }
            if self
                .streams
                .get(sid)
                .is_some_and(|s| s.ana.contains(AnaFlags::INSPECT_RES))
            {
                self.tcp_res_inspect(now, sid);
            }
            if http {
                self.http_analyse(now, sid);
            } else if self
                .streams
                .get(sid)
                .is_some_and(|s| s.ana.intersects(AnaFlags::REQ))
            {
                self.tcp_analyse(now, sid);
            }
            self.back_update(now, sid);
            if http {
                self.http_shutdowns(now, sid);
            } else {
                self.stream_shutdowns(now, sid);
            }
            if self.stream_try_end(now, sid) {
                return;
            }
            let Some(after) = self
                .streams
                .get(sid)
                .map(|s| (s.scb.state, s.req.flags, s.res.flags, s.scf.state))
            else {
                return;
            };
            if before == after {
                break;
            }
        }
        self.stream_client_noexp(now, sid);
        self.stream_try_splice(sid);
        self.stream_refresh(now, sid);
    }

    /// While a request waits for its server (the server side has a
    /// timeout running: `res.rex` while the response is awaited, or
    /// `req.wex` while request bytes wait to be written), the client's
    /// read timeout does not run: the server's timeout decides (504), as
    /// HAProxy's `process_stream` does (`CF_READ_NOEXP`). Not once the
    /// response is relayed as a tunnel or closes the stream
    /// (`CF_AUTO_CLOSE`, `CF_SHUTR` on the response).
    fn stream_client_noexp(&mut self, now: Time, sid: Id<Stream>) {
        let fto = self.front_timeout(sid);
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let waits = !s
            .res
            .flags
            .intersects(ChnFlags::AUTO_CLOSE | ChnFlags::SHUTR)
            && (s.req.wex.is_some() || s.res.rex.is_some());
        if waits {
            s.req.flags |= ChnFlags::READ_NOEXP;
            s.req.rex = None;
        } else if s.req.flags.contains(ChnFlags::READ_NOEXP) {
            // The server side no longer decides: the client's timeout
            // runs again, from now (`sc_update_rx`).
            s.req.flags.remove(ChnFlags::READ_NOEXP);
            if !s.req.shutr() && s.scf.state == ScState::Est && s.req.rex.is_none() {
                s.req.rex = fto.map(|t| now.add_ms(t));
            }
        }
    }

    /// Hands a direction over to kernel splicing once it is a pure tunnel:
    /// both sides established, nothing buffered, nothing left to analyse
    /// (`option splice-*`, HAProxy's `raw_sock_to_pipe`).
    fn stream_try_splice(&mut self, sid: Id<Stream>) {
        if !self.opts.splice {
            return;
        }
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        if s.scb.state != ScState::Est || s.scf.state != ScState::Est {
            return;
        }
        if s.txn
            .as_ref()
            .is_some_and(|t| t.req.state != crate::http::ana::MsgState::Tunnel)
        {
            return;
        }
        let (Some(fc), Some(bc)) = (s.scf.sedesc.conn, s.scb.sedesc.conn) else {
            return;
        };
        let (fe, be) = (&self.proxies[s.fe], &self.proxies[s.be]);
        let want = (fe.splice.0 || be.splice.0, fe.splice.1 || be.splice.1);
        let eligible = |ch: &Channel| {
            !ch.flags
                .intersects(ChnFlags::SPLICED | ChnFlags::SHUTR | ChnFlags::SHUTW)
                && ch.is_empty()
                && ch.to_forward == INFINITE_FORWARD
        };
        let (req_ok, res_ok) = (want.0 && eligible(&s.req), want.1 && eligible(&s.res));
        let (Some(fsock), Some(bsock)) = (
            self.conns.get(fc).map(|c| c.sock),
            self.conns.get(bc).map(|c| c.sock),
        ) else {
            return;
        };
        if self
            .conns
            .get(bc)
            .is_some_and(|c| c.flags.contains(CoFlags::SEND_PROXY))
        {
            return;
        }
        let s = &mut self.streams[sid];
        if req_ok {
            s.req.flags |= ChnFlags::SPLICED;
            let b = std::mem::take(&mut s.req.buf);
            self.actions.push_back(crate::sock::Action::Splice {
                from: fsock,
                to: bsock,
            });
            self.pool_release(b);
        }
        let s = &mut self.streams[sid];
        if res_ok {
            s.res.flags |= ChnFlags::SPLICED;
            let b = std::mem::take(&mut s.res.buf);
            self.actions.push_back(crate::sock::Action::Splice {
                from: bsock,
                to: fsock,
            });
            self.pool_release(b);
        }
    }

    /// Turns expired deadlines into channel flags (`channel_check_timeouts`).
    fn stream_check_timeouts(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        // Activity refreshes both sides (HAProxy without
        // `SC_FL_INDEP_STR`): HAProxy does it within one run of the
        // stream, on one millisecond tick, so both deadlines are equal and
        // the client side is reported first (`cD`). Sluice refreshes the
        // side it writes to when the write completes, possibly on the next
        // tick: a client deadline one tick after the server's is the same
        // instant.
        if Time::is_expired(s.res.rex, now) && Time::is_expired(s.req.rex, now.add_ms(1)) {
            s.req.rex = Some(now);
        }
        if Time::is_expired(s.req.rex, now) {
            s.req.rex = None;
            s.req.flags |= ChnFlags::READ_TIMEOUT;
        }
        if Time::is_expired(s.res.wex, now) {
            s.res.wex = None;
            s.res.flags |= ChnFlags::WRITE_TIMEOUT;
        }
        if Time::is_expired(s.res.rex, now) {
            s.res.rex = None;
            s.res.flags |= ChnFlags::READ_TIMEOUT;
        }
        if Time::is_expired(s.req.wex, now) {
            s.req.wex = None;
            s.req.flags |= ChnFlags::WRITE_TIMEOUT;
        }
        let client_to = s.req.flags.contains(ChnFlags::READ_TIMEOUT)
            || s.res.flags.contains(ChnFlags::WRITE_TIMEOUT);
        let server_to = s.res.flags.contains(ChnFlags::READ_TIMEOUT)
            || s.req.flags.contains(ChnFlags::WRITE_TIMEOUT);
        if client_to && s.scf.state != ScState::Clo {
            let stage = s.stage();
            s.set_term(ErrCode::CliTo, stage);
            // A FIN, as HAProxy closes on a timeout.
            self.front_abort_how(now, sid, CloseHow::Graceful);
        }
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if server_to && s.scb.state == ScState::Est {
            s.set_term(ErrCode::SrvTo, FinSt::Data);
            self.back_abort(now, sid);
        }
    }

    /// The client side is gone or failed: close it now; the server side
    /// flushes what it has for the server, then closes too.
    pub(crate) fn front_abort(&mut self, now: Time, sid: Id<Stream>) {
        self.front_abort_how(now, sid, CloseHow::Reset)
    }

    /// [`Engine::front_abort`], closing the client connection `how`: a
    /// rule that rejects a connection HAProxy closes with a FIN.
    pub(crate) fn front_abort_how(&mut self, now: Time, sid: Id<Stream>, how: CloseHow) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        s.req.flags |= ChnFlags::SHUTR;
        // Nothing can reach the client any more: the response is over.
        s.res.flags |= ChnFlags::SHUTW | ChnFlags::SHUTR;
        s.res.output = 0;
        let res = std::mem::take(&mut s.res.buf);
        s.forget_input(Dir::Res);
        s.scf.sedesc.flags |= SeFlags::SHR | SeFlags::SHW;
        let connecting = s.scb.state < ScState::Est;
        let http = s.txn.is_some();
        self.pool_release(res);
        self.front_close(now, sid, how);
        if connecting {
            // Nobody is left to talk to the server.
            self.back_give_up(now, sid);
        } else if http {
            // HTTP: the response has nowhere to go; the server side is
            // aborted too rather than left to be misread as a server
            // failure.
            if let Some(t) = self.streams.get_mut(sid).and_then(|s| s.txn.as_mut()) {
                t.flags |=
                    crate::http::ana::TxnFlags::CLI_CLOSE | crate::http::ana::TxnFlags::SRV_CLOSE;
            }
            self.back_close(now, sid, CloseHow::Reset);
        }
    }

    /// The server side is gone or failed: close it; the client side gets
    /// what is already buffered for it, then a FIN.
    pub(crate) fn back_abort(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        s.res.flags |= ChnFlags::SHUTR;
        s.req.flags |= ChnFlags::SHUTW;
        s.req.output = 0;
        let req = std::mem::take(&mut s.req.buf);
        s.forget_input(Dir::Req);
        s.scb.sedesc.flags |= SeFlags::SHR | SeFlags::SHW;
        // The client's data can no longer go anywhere: stop reading it.
        s.req.flags |= ChnFlags::SHUTR;
        self.pool_release(req);
        self.back_close(now, sid, CloseHow::Reset);
    }

    /// Propagates half-closes and closes sockets whose both directions
    /// are done.
    fn stream_shutdowns(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let mut shut_back = false;
        let mut shut_front = false;
        // Client FIN, everything sent to the server: FIN to the server.
        if s.req.shutr() && !s.req.shutw() && s.req.is_empty() && s.scb.state == ScState::Est {
            s.req.flags |= ChnFlags::SHUTW;
            shut_back = true;
        }
        // Server FIN, everything sent to the client: FIN to the client.
        if s.res.shutr() && !s.res.shutw() && s.res.is_empty() && s.scf.state == ScState::Est {
            s.res.flags |= ChnFlags::SHUTW;
            shut_front = true;
        }
        let back_done = s.scb.state == ScState::Est && s.res.shutr() && s.req.shutw();
        let front_done = s.scf.state == ScState::Est && s.req.shutr() && s.res.shutw();
        if shut_back {
            self.conn_shutw(now, sid, true);
        }
        if shut_front {
            self.conn_shutw(now, sid, false);
        }
        if back_done {
            self.back_close(now, sid, CloseHow::Graceful);
        }
        if front_done {
            self.front_close(now, sid, CloseHow::Graceful);
        }
    }

    /// Ends the stream once both connectors are closed. Returns whether it ended.
    fn stream_try_end(&mut self, now: Time, sid: Id<Stream>) -> bool {
        let Some(s) = self.streams.get(sid) else {
            return true;
        };
        if s.scf.state != ScState::Clo || !matches!(s.scb.state, ScState::Clo | ScState::Ini) {
            return false;
        }
        self.stream_free(now, sid);
        true
    }

    /// Recomputes socket interest and the stream's timer.
    pub(crate) fn stream_refresh(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        let (fc, bc) = (s.scf.sedesc.conn, s.scb.sedesc.conn);
        if let Some(c) = fc {
            self.conn_update_interest(c);
        }
        if let Some(c) = bc {
            self.conn_update_interest(c);
        }
        let (fto, bto) = (self.front_timeout(sid), self.back_timeout(sid));
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        // A side whose channel is full is not read: its read timeout waits
        // for room, and starts again from then (HAProxy's `sc_update_rx`).
        for (ch, to, est) in [
            (&mut s.req, fto, s.scf.state == ScState::Est),
            (&mut s.res, bto, s.scb.state == ScState::Est),
        ] {
            let full = !ch.buf.is_null() && ch.recv_room() == 0 && !ch.shutr();
            if full {
                if !ch.flags.contains(ChnFlags::NEED_ROOM) {
                    ch.flags |= ChnFlags::NEED_ROOM;
                    ch.rex = None;
                }
            } else if ch.flags.contains(ChnFlags::NEED_ROOM) {
                ch.flags.remove(ChnFlags::NEED_ROOM);
                if est && !ch.shutr() && !ch.flags.contains(ChnFlags::READ_NOEXP) {
                    ch.rex = to.map(|t| now.add_ms(t));
                }
            }
        }
        // Bytes waiting for a peer wait under its write timeout, armed when
        // they are scheduled and refreshed by every write (HAProxy's `wex`):
        // a peer that stops reading must not hold the stream for ever.
        if s.req.output > 0 && s.req.wex.is_none() && !s.req.shutw() && s.scb.state == ScState::Est
        {
            s.req.wex = bto.map(|t| now.add_ms(t));
        }
        if s.res.output > 0 && s.res.wex.is_none() && !s.res.shutw() && s.scf.state == ScState::Est
        {
            s.res.wex = fto.map(|t| now.add_ms(t));
        }
        let mut exp = None;
        for t in [
            s.req.rex,
            s.req.wex,
            s.res.rex,
            s.res.wex,
            s.scb.exp,
            s.req.analyse_exp,
            s.res.analyse_exp,
        ] {
            exp = Time::first(exp, t);
        }
        let exp = exp.map(|t| t.max(now.add_ms(1)));
        s.exp = exp;
        // Only an earlier wake-up moves the timer; a later one is found
        // when the old one fires.
        if let Some(t) = exp {
            if s.queued.is_none_or(|q| t < q) {
                s.queued = Some(t);
                self.timers.arm(TimerKey::Stream(sid), Some(t));
            }
        }
    }

    /// Releases everything a finished stream holds, logs it, and ends its
    /// session (`stream_free`).
    pub(crate) fn stream_free(&mut self, now: Time, sid: Id<Stream>) {
        let Some((sess, mux_id)) = self.streams.get(sid).map(|s| (s.sess, s.mux_id)) else {
            return;
        };
        self.stream_free_keep_session(now, sid);
        // An HTTP/2 stream ends alone; its connection carries others.
        if mux_id == 0 {
            self.session_free(now, sess);
        }
    }

    /// Counts an ended stream in `show stat`'s per-object counters: the
    /// response's status class (frontend always; backend and server when
    /// the request went there), HTTP requests per backend and server, and
    /// data transfers aborted by the client or the server
    /// (`stream_process_counters` and the abort accounting of
    /// `process_stream`).
    fn stream_account(&mut self, now: Time, s: &Stream) {
        let status = s.txn.as_ref().and_then(|t| t.status);
        let srv = s.srv.or(s.prev_srv);
        let to_backend = s.flags.contains(SfFlags::BE_ASSIGNED);
        let data_abort = matches!(s.finst, FinSt::Data | FinSt::Last);
        let cli_abrt = data_abort && matches!(s.err, ErrCode::CliCl | ErrCode::CliTo);
        let srv_abrt = data_abort && matches!(s.err, ErrCode::SrvCl | ErrCode::SrvTo);
        let count = |c: &mut crate::proxy::HttpCtrs| {
            if let Some(st) = status {
                c.count_status(st);
            }
            c.cli_abrt += u64::from(cli_abrt);
            c.srv_abrt += u64::from(srv_abrt);
        };
        if let (Some(st), Some(f)) = (status, self.proxies[s.fe].fe.as_mut()) {
            f.http.count_status(st);
        }
        if !to_backend {
            return;
        }
        let http = s.txn.is_some();
        if let Some(b) = self.proxies[s.be].be.as_mut() {
            count(&mut b.http);
            b.http.req_tot += u64::from(http);
            if let Some(sv) = srv.and_then(|i| b.servers.get_mut(i.pos())) {
                count(&mut sv.http);
                sv.http.req_tot += u64::from(http && s.srv.is_some());
            }
        }
        self.stream_update_time_stats(now, s);
    }

    /// HAProxy's `stream_update_time_stats`: a stream that reached a
    /// connection (and, in HTTP, a response) adds its queue, connect,
    /// response and total times to its backend's and server's averages
    /// (`show stat` `qtime ctime rtime ttime` and their `_max`).
    fn stream_update_time_stats(&mut self, now: Time, s: &Stream) {
        let Some(tc) = s.t_connect else {
            return;
        };
        let http = s.txn.is_some();
        let connected = s.conn_start.map(|c| c.add_ms(tc));
        let td = match (&s.txn, connected) {
            (None, _) => 0,
            (Some(t), Some(c)) => match t.t_res_head {
                Some(h) => h - c,
                None => return,
            },
            (Some(_), None) => return,
        };
        let ms = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let v = [
            ms(s.t_queue.unwrap_or(0)),
            ms(tc),
            ms(td),
            ms(now - s.accept),
        ];
        let Some(b) = self.proxies[s.be].be.as_mut() else {
            return;
        };
        if let Some(sv) = s.srv.and_then(|i| b.servers.get_mut(i.pos())) {
            let n = if http { sv.http.req_tot } else { sv.lbconn };
            sv.times.add(n, v);
        }
        let n = if http {
            b.http.req_tot
        } else {
            b.servers.iter().map(|s| s.lbconn).sum()
        };
        b.times.add(n, v);
    }

    /// Releases a finished stream and logs it; its session lives on
    /// (HTTP keep-alive).
    pub(crate) fn stream_free_keep_session(&mut self, now: Time, sid: Id<Stream>) {
        self.stream_release(now, sid, true);
    }

    /// Releases a stream that never was one for the client: an HTTP/1
    /// connection upgraded to HTTP/2 on its preface (HAProxy creates no
    /// stream then). Neither logged nor counted; its session lives on.
    pub(crate) fn stream_free_silent(&mut self, now: Time, sid: Id<Stream>) {
        if let Some(s) = self.streams.get(sid) {
            if s.uniq_id.wrapping_add(1) == self.req_count {
                // Its request number goes to the next stream.
                self.req_count = s.uniq_id;
            }
            if let Some(se) = self.sessions.get_mut(s.sess) {
                se.requests = se.requests.saturating_sub(1);
            }
        }
        self.stream_release(now, sid, false);
    }

    fn stream_release(&mut self, now: Time, sid: Id<Stream>, log: bool) {
        self.timers.arm(TimerKey::Stream(sid), None);
        self.pool.cancel(BufWaiter::Stream(sid, Dir::Req));
        self.pool.cancel(BufWaiter::Stream(sid, Dir::Res));
        self.queue_remove(sid);
        self.release_server_slot(sid);
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        if let Some(be) = self.proxies[s.be].be.as_mut() {
            if s.flags.contains(SfFlags::BE_ASSIGNED) {
                be.beconn -= 1;
            }
        }
        let Some(s) = (if log {
            // Logged while still in the arena: `log-format` samples read it.
            self.stream_log(now, sid);
            let s = self.streams.remove(sid);
            if let Some(s) = &s {
                self.stream_account(now, s);
            }
            s
        } else {
            self.streams.remove(sid)
        }) else {
            return;
        };
        let sess = s.sess;
        for b in [s.req.buf, s.res.buf] {
            self.pool_release(b);
        }
        if let Some(se) = self.sessions.get_mut(sess) {
            if se.stream == Some(sid) {
                se.stream = None;
            }
        }
    }

    /// Closes the client connection (ctrl layer) of a stream.
    pub(crate) fn front_close(&mut self, now: Time, sid: Id<Stream>, how: CloseHow) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if s.scf.state == ScState::Clo {
            return;
        }
        s.scf.state = ScState::Clo;
        s.req.rex = None;
        s.res.wex = None;
        let conn = s.scf.sedesc.conn;
        let mux_id = s.mux_id;
        if let Some(c) = conn {
            if mux_id != 0 {
                return self.h2_stream_detach(now, c, sid);
            }
            // A TCP stream may end before it read what the client sent
            // (see `CloseHow::Drain`); not when the client closed already.
            let tcp = self.streams.get(sid).is_some_and(|s| s.txn.is_none());
            let open = self
                .conns
                .get(c)
                .is_some_and(|x| !x.flags.contains(crate::conn::CoFlags::SOCK_RD_SH));
            let how = if how == CloseHow::Graceful && tcp && open {
                CloseHow::Drain
            } else {
                how
            };
            self.conn_close(now, c, how);
        }
    }

    /// Closes the server connection of a stream and frees its slot.
    pub(crate) fn back_close(&mut self, now: Time, sid: Id<Stream>, how: CloseHow) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if matches!(s.scb.state, ScState::Clo | ScState::Ini) {
            return;
        }
        s.scb.state = ScState::Clo;
        s.scb.exp = None;
        s.res.rex = None;
        s.req.wex = None;
        let conn = s.scb.sedesc.conn.take();
        if let Some(c) = conn {
            self.back_conn_drop(now, sid, c, how);
        }
        self.release_server_slot(sid);
    }

    /// Sends a FIN on one side once its output is flushed (`sc_shutw`).
    fn conn_shutw(&mut self, now: Time, sid: Id<Stream>, back: bool) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let conn = if back {
            s.scb.sedesc.conn
        } else {
            s.scf.sedesc.conn
        };
        if back {
            s.scb.sedesc.flags |= SeFlags::SHW;
            s.req.wex = None;
        } else {
            s.scf.sedesc.flags |= SeFlags::SHW;
            s.res.wex = None;
        }
        // The other direction now waits under the *-fin timeout.
        let to = if back {
            self.back_timeout(sid)
        } else {
            self.front_timeout(sid)
        };
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let ch = if back { &mut s.res } else { &mut s.req };
        if !ch.shutr() {
            ch.rex = to.map(|t| now.add_ms(t));
        }
        if let Some(c) = conn {
            if !back && self.streams.get(sid).is_some_and(|s| s.mux_id != 0) {
                return self.h2_stream_shutw(c, sid);
            }
            if back && self.conns.get(c).is_some_and(|x| x.mux.h2b().is_some()) {
                // HTTP/2 ends a request with END_STREAM, never with a FIN
                // (the server would drop the connection and its response):
                // a tunnel's END_STREAM, the others' went with their body.
                return self.h2b_stream_shutw(c, sid);
            }
            if let Some(conn) = self.conns.get_mut(c) {
                if !conn.flags.contains(CoFlags::SOCK_WR_SH) {
                    conn.flags |= CoFlags::SOCK_WR_SH;
                    self.conn_shut_write(c);
                }
            }
        }
    }

    /// The stream has no use for a server any more (the client left
    /// before anything was sent): leave the queue, abort the attempt.
    fn back_give_up(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if matches!(s.scb.state, ScState::Clo | ScState::Ini) {
            return;
        }
        let stage = s.stage();
        s.set_term(ErrCode::CliCl, stage);
        self.queue_remove(sid);
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        s.scb.state = ScState::Clo;
        s.scb.exp = None;
        let conn = s.scb.sedesc.conn.take();
        if let Some(c) = conn {
            self.back_conn_drop(now, sid, c, CloseHow::Reset);
        }
        self.release_server_slot(sid);
    }

    /// Takes a buffer for a channel, or queues the stream for one.
    pub(crate) fn channel_alloc(&mut self, sid: Id<Stream>, dir: Dir) -> bool {
        let Some(s) = self.streams.get(sid) else {
            return false;
        };
        let ch = if dir == Dir::Req { &s.req } else { &s.res };
        if !ch.buf.is_null() {
            return true;
        }
        match self.pool.alloc(BufWaiter::Stream(sid, dir)) {
            Some(b) => {
                let s = &mut self.streams[sid];
                let ch = if dir == Dir::Req {
                    &mut s.req
                } else {
                    &mut s.res
                };
                ch.buf = b;
                ch.flags.remove(ChnFlags::WAIT_ROOM_BUF);
                true
            }
            None => {
                let s = &mut self.streams[sid];
                let ch = if dir == Dir::Req {
                    &mut s.req
                } else {
                    &mut s.res
                };
                ch.flags |= ChnFlags::WAIT_ROOM_BUF;
                false
            }
        }
    }

    /// Gives a buffer back to the pool and wakes whoever waits for one.
    pub(crate) fn pool_release(&mut self, b: crate::buf::Buffer) {
        let now = self.now;
        match self.pool.release(b) {
            Some(BufWaiter::Stream(sid, dir)) => {
                if let Some(s) = self.streams.get_mut(sid) {
                    let ch = if dir == Dir::Req {
                        &mut s.req
                    } else {
                        &mut s.res
                    };
                    ch.flags.remove(ChnFlags::WAIT_ROOM_BUF);
                    self.stream_refresh(now, sid);
                }
            }
            Some(BufWaiter::Conn(c)) => self.conn_update_interest(c),
            None => {}
        }
    }

    /// Returns an empty channel buffer to the pool (HAProxy releases
    /// buffers as soon as they are empty to keep idle streams small).
    pub(crate) fn channel_release_if_empty(&mut self, sid: Id<Stream>, dir: Dir) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let ch = if dir == Dir::Req {
            &mut s.req
        } else {
            &mut s.res
        };
        if ch.buf.is_empty() && !ch.buf.is_null() {
            let b = std::mem::take(&mut ch.buf);
            self.pool_release(b);
        }
    }

    /// Sets the error type of the back connector.
    pub(crate) fn set_err_type(&mut self, sid: Id<Stream>, e: ErrType) {
        if let Some(s) = self.streams.get_mut(sid) {
            s.scb.err_type = e;
        }
    }
}

//! Reverse HTTP's public side (HAProxy 3.x's `tcp-request session
//! attach-srv`, `conn_reverse` for a frontend connection and
//! `h2_conn_reverse`): an edge behind a firewall dials the public node,
//! which turns the client connection into a connection to an `rhttp@`
//! server and sends requests through it.
//!
//! ```text
//!   edge (bind rhttp@be/srv)  --- TCP/TLS, client preface --->  public (bind ... attach-srv)
//!        H2 frontend mux      <--------- streams 1, 3, ... ---       H2 backend mux
//! ```
//!
//! The life of such a connection on the public node:
//! 1. accepted like any client connection; `tcp-request session` rules
//!    run, and `attach-srv BE/SRV [name EXPR]` records the server and the
//!    connection's name ([`Conn::reverse`], not done);
//! 2. the H2 mux must be the one chosen (`proto h2` or ALPN `h2`): any
//!    other is HAProxy's `CO_ER_REVERSE`, logged and closed. The frontend
//!    mux reads the edge's preface and SETTINGS, holding any stream the
//!    edge would open;
//! 3. once the edge's SETTINGS are acknowledged, the connection is
//!    reversed ([`Engine::h2_conn_reverse`]): its session ends (it no
//!    longer counts on the frontend), the mux becomes a backend one
//!    ([`H2b::from_reversed`]), the connection a server connection of
//!    `SRV` with its addresses swapped, and it joins the server's
//!    available list ([`Engine::h2b_conn_make_avail`]);
//! 4. requests for `SRV` never connect: they take a stream on one of
//!    these connections whose name equals their `pool-conn-name` (HAProxy
//!    forces `http-reuse always` on such servers), or get a 503 (`SC`).
//!    A reversed connection whose last stream ends goes back to the
//!    available list, never to the idle pool, so it is never purged: it
//!    is the only way to the server. It ends when the edge closes it.
//!
//! Invariants: a connection with a reverse target that is not done is a
//! client connection whose mux holds no stream; a done one is a server
//! connection of its target with an H2 backend mux and no session.

use crate::arena::Id;
use crate::backend::server::ServerId;
use crate::conn::{Conn, ConnError, ConnSide, Reverse};
use crate::engine::{Engine, TimerKey};
use crate::mux::h2::{H2b, H2cState};
use crate::mux::Mux;
use crate::session::Session;
use crate::sock::CloseHow;
use crate::stream::Stream;
use crate::time::Time;

impl Engine {
    /// `attach-srv BE/SRV [name EXPR]` ran on session `sess` (HAProxy's
    /// `tcp_action_attach_srv` -> `conn_set_reverse`): its connection is
    /// to be reversed to that server. A server gone since (`del server`)
    /// leaves the connection as it is.
    pub(crate) fn attach_srv(
        &mut self,
        sess: Id<Session>,
        be: &str,
        srv: &str,
        name: Option<Box<[u8]>>,
    ) {
        let Some(srv) = self
            .backend_by_name(be)
            .and_then(|b| self.live_server(b, srv))
            .filter(|&s| self.server_mut(s).is_some_and(|x| x.cfg.rhttp))
        else {
            return;
        };
        let Some(c) = self.sessions.get(sess).map(|s| s.conn) else {
            return;
        };
        if let Some(conn) = self.conns.get_mut(c) {
            conn.reverse = Some(Box::new(Reverse {
                srv,
                name,
                done: false,
            }));
        }
    }

    /// Whether client connection `c` waits to be reversed.
    pub(crate) fn reverse_pending(&self, c: Id<Conn>) -> bool {
        self.conns
            .get(c)
            .and_then(|x| x.reverse.as_ref())
            .is_some_and(|r| !r.done)
    }

    /// Session `sess` is complete and its connection `c` is to be
    /// reversed: only the H2 mux can be (HAProxy's `MX_FL_REVERSABLE`);
    /// with any other the connection fails with `CO_ER_REVERSE`. Returns
    /// whether the caller goes on and installs the H2 mux.
    pub(crate) fn reverse_mux_ok(&mut self, now: Time, sess: Id<Session>, c: Id<Conn>) -> bool {
        if self.h2_wanted(c) {
            return true;
        }
        // Logged as a failed handshake (HAProxy logs nothing here), then
        // closed with a FIN as HAProxy does.
        let _ = self.handshake_log(c, ConnError::Reverse);
        self.conn_close(now, c, CloseHow::Graceful);
        self.session_free(now, sess);
        false
    }

    /// The edge's SETTINGS are acknowledged: client connection `c`
    /// becomes a connection to its `attach-srv` server (HAProxy's
    /// `h2_conn_reverse` after `h2c_ack_settings`, then `conn_reverse`).
    /// Returns whether it did (the caller then runs it as a server
    /// connection); it did not when it is not time yet, and when the
    /// server is gone (the connection is then closed).
    pub(crate) fn h2_conn_reverse(&mut self, now: Time, c: Id<Conn>) -> bool {
        let Some(conn) = self.conns.get(c) else {
            return false;
        };
        let Some(srv) = conn.reverse.as_ref().filter(|r| !r.done).map(|r| r.srv) else {
            return false;
        };
        let Some(h) = conn.mux.h2() else {
            return false;
        };
        if !h.peer_settings_seen || h.state != H2cState::Frames || !h.streams.is_empty() {
            return false;
        }
        if self.server_mut(srv).is_none_or(|s| s.deleted) {
            self.conn_close(now, c, CloseHow::Graceful);
            return false;
        }
        let limit = self.h2_be_max_concurrent_streams;
        let conn = &mut self.conns[c];
        let Mux::H2(front) = std::mem::take(&mut conn.mux) else {
            return false;
        };
        let mut back = H2b::from_reversed(*front, conn.xprt.is_tls());
        back.set_own_limit(limit);
        conn.mux = Mux::H2b(Box::new(back));
        conn.side = ConnSide::Back { srv };
        std::mem::swap(&mut conn.src, &mut conn.dst);
        if let Some(r) = conn.reverse.as_mut() {
            r.done = true;
        }
        let sess = conn.session.take();
        self.timers.arm(TimerKey::ConnHs(c), None);
        if let Some(sess) = sess {
            // The session ends; its connection, a server one now, stays.
            self.session_free(now, sess);
        }
        if !self.h2b_conn_make_avail(c, srv) {
            self.conn_close(now, c, CloseHow::Graceful);
            return false;
        }
        true
    }

    /// The SNI server `srv`'s `sni EXPR` gives stream `sid` (HAProxy's
    /// `srv->ssl_ctx.sni` evaluated in `connect_server`): `None` without
    /// such an expression, or when it gives nothing or an empty name.
    pub(crate) fn srv_sni(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        srv: ServerId,
    ) -> Option<Box<[u8]>> {
        self.srv_expr_str(now, sid, srv, |c| c.sni_expr.as_ref())
            .filter(|v| !v.is_empty())
    }

    /// The name a request on stream `sid` looks its connection to
    /// reverse server `srv` up by: its `pool-conn-name` (HAProxy's
    /// `be_calculate_conn_hash` name); `None` without one, or when the
    /// sample fails.
    pub(crate) fn pool_conn_name(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        srv: ServerId,
    ) -> Option<Box<[u8]>> {
        self.srv_expr_str(now, sid, srv, |c| c.pool_conn_name.as_ref())
    }

    /// Evaluates, as a string for stream `sid`'s request, the expression
    /// `pick` takes from server `srv`'s configuration, in the server's
    /// backend.
    fn srv_expr_str(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        srv: ServerId,
        pick: impl Fn(&crate::backend::server::ServerCfg) -> Option<&crate::sample::SampleExpr>,
    ) -> Option<Box<[u8]>> {
        let cfg = std::sync::Arc::clone(&self.server_mut(srv)?.cfg);
        let expr = pick(&cfg)?;
        let head = self
            .streams
            .get_mut(sid)?
            .txn
            .as_mut()
            .and_then(|t| t.req_head.take());
        let v = {
            let mut ctx = crate::http::fetch::HttpCtx::new(self, now, sid, head.as_ref(), None)
                .for_proxy(srv.be);
            expr.eval_as(&mut ctx, crate::sample::SmpType::Str)
        };
        if let Some(t) = self.streams.get_mut(sid).and_then(|s| s.txn.as_mut()) {
            t.req_head = head;
        }
        match v? {
            crate::sample::Sample::Str(v) => Some(v.into_boxed_slice()),
            _ => None,
        }
    }

    /// A request for reverse server `srv` found no connection to it: no
    /// edge is attached with its name (HAProxy's `connect_server` refusing
    /// to open one for `SRV_F_RHTTP`: a 503, logged `SC`).
    pub(crate) fn rhttp_no_conn(&mut self, now: Time, sid: Id<Stream>, srv: ServerId) {
        if let Some(b) = self.proxies[srv.be].be.as_mut() {
            // Counted as a session of the server (HAProxy's `stot`) whose
            // connection failed.
            let server = &mut b.servers[srv];
            server.cum_sess += 1;
            server.sess_rate.hit(now);
            server.econ += 1;
            b.econ += 1;
        }
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        s.set_term(crate::stream::ErrCode::SrvCl, crate::stream::FinSt::Connect);
        // It went through the queue stage (`%Tw` 0, as HAProxy logs it).
        if s.t_queue.is_none() {
            s.t_queue = Some(s.queue_start.map_or(0, |t| now - t));
        }
        self.back_fail(now, sid);
    }
}

//! The stream connector glue of the HTTP/2 mux (`mux::h2`): HAProxy's
//! `h2_rcv_buf` / `h2_snd_buf` / `h2_attach` / `h2_detach` and the
//! connection's I/O callbacks (`h2_io_cb`, `h2_timeout_task`), in the
//! engine's sans-IO shape.
//!
//! Each HTTP/2 stream is an engine stream (`Stream::mux_id` is its id):
//! the request bytes an [`H2s`](crate::mux::h2::H2s) holds go into the
//! stream's request channel as if read from an HTTP/1.1 client; the
//! response channel's output goes through [`H2c::mux_output`]. A pass
//! ([`Engine::h2_run`]) does both for every stream, after each socket
//! event and at the end of an entry point for the connections whose
//! streams made room or output since (`Engine::h2_woken`).
//!
//! Timeouts: streams keep theirs (`timeout client` on a response the
//! client does not take, `timeout http-request`); the connection, while
//! it carries no stream, closes after `timeout http-keep-alive` (else
//! `timeout client`) with GOAWAY(NO_ERROR), as HAProxy's `h2c` does.

use crate::arena::Id;
use crate::conn::{Conn, ConnSide, Xprt};
use crate::engine::{Engine, TimerKey};
use crate::http::h2::frame::{ErrorCode, PREFACE};
use crate::mux::h2::{H2Limits, H2c, H2cState, WS_KEY_LEN};
use crate::mux::Mux;
use crate::sock::CloseHow;
use crate::stream::stconn::ScState;
use crate::stream::{Dir, Stream};
use crate::time::Time;

/// Rounds of [`Engine::h2_run`] per call.
const RUN_ROUNDS: usize = 8;

impl Engine {
    /// Installs the H2 mux on a client connection whose session is
    /// complete (`bind ... proto h2`, or ALPN `h2`). Bytes read with the
    /// handshake (after a PROXY header) are its first input.
    pub(crate) fn h2_init(&mut self, now: Time, c: Id<Conn>) {
        let limits = H2Limits {
            max_concurrent_streams: self.h2_fe_max_concurrent_streams,
            tune: self.h2_fe_tune,
            max_header_list: self.pool.bufsize().saturating_sub(self.maxrewrite),
            glitches_threshold: self.h2_glitches_threshold,
            max_total_streams: self.h2_max_total_streams,
        };
        let mut h = Box::new(H2c::new(limits));
        #[cfg(feature = "mutants")]
        h.set_mutant(self.opts.mutant);
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        // A connection `attach-srv` reverses opens no stream here.
        h.hold_new_streams = conn.reverse.is_some();
        let hs = std::mem::take(&mut conn.hs);
        let whole = hs.is_null() || h.prefill(hs.data()) == hs.len();
        conn.mux = Mux::H2(h);
        self.pool_release(hs);
        if !whole {
            // More early bytes than the mux's input buffer takes
            // (`tune.bufsize` larger than two frames): never cut silently.
            return self.h2_close(now, c);
        }
        self.h2_process(now, c);
    }

    /// Whether stream `sid`'s client connection may switch to HTTP/2 on
    /// the preface (HAProxy's `h1_process` conditions): its first request,
    /// an HTTP/1 connection on a listener without `proto h1`, a frontend
    /// without `option disable-h2-upgrade`. Otherwise the H1 parser
    /// refuses the preface (400), as HAProxy 2.6 does.
    pub(crate) fn h2_upgrade_allowed(&self, sid: Id<Stream>) -> bool {
        let Some(s) = self.streams.get(sid) else {
            return false;
        };
        if s.mux_id != 0 || self.proxies[s.fe].disable_h2_upgrade {
            return false;
        }
        if self.sessions.get(s.sess).is_none_or(|se| se.requests != 1) {
            return false;
        }
        let Some(conn) = s.scf.sedesc.conn.and_then(|c| self.conns.get(c)) else {
            return false;
        };
        if conn.side != ConnSide::Front
            || !matches!(conn.mux, Mux::Pt(_))
            || conn.reverse.is_some()
            || conn.rhttp.is_some()
        {
            return false;
        }
        match conn.origin {
            crate::conn::Origin::Accepted(l) => self
                .listeners
                .get(l.0 as usize)
                .is_some_and(|l| l.proto != Some(crate::cfgparse::model::BindProto::H1)),
            crate::conn::Origin::Dialed => false,
        }
    }

    /// Whether the request buffer of stream `sid` holds the start of the
    /// HTTP/2 preface, short of the empty line that ends its first part
    /// (`PRI * HTTP/2.0`: there HAProxy's H1 parser has a complete head,
    /// and refuses it), and the connection may upgrade.
    pub(crate) fn h2_preface_begins(&self, sid: Id<Stream>) -> bool {
        let Some(s) = self.streams.get(sid) else {
            return false;
        };
        let input = s.req.buf.data();
        input.len() < b"PRI * HTTP/2.0\r\n\r\n".len()
            && PREFACE.starts_with(input)
            && self.h2_upgrade_allowed(sid)
    }

    /// The implicit upgrade of an HTTP/1 client connection to HTTP/2: the
    /// first bytes of its first request are the HTTP/2 preface (h2c with
    /// prior knowledge on a plain `bind`). As HAProxy's H1 mux does
    /// (`H1C_F_UPG_H2C`, `conn_upgrade_mux_fe`), the HTTP/1 stream goes
    /// away unlogged and uncounted, and the H2 mux takes over the
    /// connection with every byte read so far as its first input. Called
    /// by the request analyser, which returns at once (the stream is gone).
    pub(crate) fn h2_upgrade_from_h1(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let Some(c) = s.scf.sedesc.conn else {
            return;
        };
        let buf = std::mem::take(&mut s.req.buf);
        let (fe, be, total) = (s.fe, s.be, s.req.total);
        // Its bytes were counted as read by the HTTP/1 stream; the H2
        // streams count what they carry.
        if let Some(f) = self.proxies[fe].fe.as_mut() {
            f.bytes_in = f.bytes_in.saturating_sub(total);
        }
        if let Some(b) = self.proxies[be].be.as_mut() {
            b.bytes_in = b.bytes_in.saturating_sub(total);
        }
        self.stream_free_silent(now, sid);
        let Some(conn) = self.conns.get_mut(c) else {
            return self.pool_release(buf);
        };
        conn.mux = Mux::None;
        let old = std::mem::replace(&mut conn.hs, buf);
        let shut = conn.flags.contains(crate::conn::CoFlags::SOCK_RD_SH);
        self.pool_release(old);
        self.h2_init(now, c);
        if shut {
            // The client's FIN came with the preface.
            self.h2_on_recv(now, c, 0);
        }
    }

    /// Where the driver (or TLS) puts received bytes.
    pub(crate) fn h2_recv_buf(&mut self, c: Id<Conn>) -> &mut [u8] {
        match self.conns.get_mut(c).map(|x| &mut x.mux) {
            Some(Mux::H2(h)) => h.rx_spare(),
            _ => &mut [],
        }
    }

    /// `n` bytes were received (0: the peer closed).
    pub(crate) fn h2_on_recv(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        let Mux::H2(h) = &mut conn.mux else {
            return;
        };
        if n == 0 {
            conn.flags |= crate::conn::CoFlags::SOCK_RD_SH;
            // The client is gone: every stream with it.
            return self.h2_close(now, c);
        }
        h.received(n);
        self.h2_process(now, c);
    }

    /// What is to be written.
    pub(crate) fn h2_send_buf(&self, c: Id<Conn>) -> &[u8] {
        self.conns
            .get(c)
            .and_then(|x| x.mux.h2())
            .map_or(&[], |h| h.tx_pending())
    }

    /// `n` bytes of [`Engine::h2_send_buf`] were written.
    pub(crate) fn h2_on_sent(&mut self, now: Time, c: Id<Conn>, n: usize) {
        if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) {
            h.sent(n);
        }
        self.h2_process(now, c);
    }

    /// The socket interest of an H2 connection on the raw xprt; wakes it
    /// at the end of the entry point (its streams may have moved).
    pub(crate) fn h2_want(&self, c: Id<Conn>) -> (bool, bool) {
        let Some(h) = self.conns.get(c).and_then(|x| x.mux.h2()) else {
            return (false, false);
        };
        (h.want_read(), !h.tx_pending().is_empty())
    }

    /// Runs the H2 connections woken during this entry point.
    #[inline(never)]
    pub(crate) fn h2_run_woken(&mut self) {
        let now = self.now;
        for _ in 0..16 {
            if self.h2_woken.is_empty() {
                break;
            }
            let woken = std::mem::take(&mut self.h2_woken);
            for c in woken {
                if self.conns.get(c).is_some_and(|x| x.mux.h2b().is_some()) {
                    if self.h2b_run(now, c) {
                        self.h2b_after(c);
                    }
                    continue;
                }
                if self.h2_run(now, c) {
                    self.h2_after(now, c);
                }
            }
        }
        // What is still woken waits for the next event on its socket.
        self.h2_woken.clear();
    }

    /// Demux what was received, run the streams, then close, re-arm the
    /// timer and update the interest.
    pub(crate) fn h2_process(&mut self, now: Time, c: Id<Conn>) {
        if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) {
            h.demux();
            if h.glitch_killed {
                // Counted once: nothing is demuxed after the error.
                h.glitch_killed = false;
                self.h2_glitch_kills += 1;
            }
        }
        if self.reverse_pending(c) && self.h2_conn_reverse(now, c) {
            // `attach-srv`: a server connection from now on.
            return self.h2b_process(now, c);
        }
        if self.conns.get(c).is_some_and(|x| x.rhttp.is_some()) && self.rhttp_check_ready(now, c) {
            // A reverse connection just accepted: the streams it held.
            if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) {
                h.demux();
            }
        }
        self.h2_run(now, c);
        self.h2_after(now, c);
    }

    /// Closes the connection when it is over, else re-arms its timer and
    /// announces its interest.
    fn h2_after(&mut self, now: Time, c: Id<Conn>) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let Some(h) = conn.mux.h2() else {
            return;
        };
        if h.should_close() {
            return self.h2_close(now, c);
        }
        let idle = h.active_streams() == 0;
        let blocked = !h.tx_pending().is_empty();
        let first = h.nb_streams_total == 0;
        let se = conn.session.and_then(|s| self.sessions.get(s));
        let fe = se.map(|se| se.fe);
        // `bind ... idle-ping`: not while stopping (HAProxy: not on a
        // disabled or stopped proxy).
        let ping_ms = se
            .and_then(|se| self.listeners.get(se.listener.0 as usize))
            .and_then(|l| l.idle_ping_ms)
            .filter(|_| idle && self.stopping.is_none());
        let to = fe.and_then(|fe| {
            let t = &self.proxies[fe].timeouts;
            if idle && !first {
                t.http_keep_alive_ms.or(t.client_ms)
            } else if idle || blocked {
                t.client_ms
            } else {
                None
            }
        });
        let keep_alive = fe.is_some_and(|fe| {
            idle && !first && self.proxies[fe].timeouts.http_keep_alive_ms.is_some()
        });
        let exp = to.map(|t| now.add_ms(u64::from(t).max(1)));
        let Some(h) = self.conns[c].mux.h2_mut() else {
            return;
        };
        let exp = match ping_ms {
            Some(p) => {
                // `timeout http-keep-alive` runs from the start of the
                // idle period, PINGs and their ACKs do not refresh it
                // (HAProxy's `idle_start`); `timeout client` does.
                let exp = if keep_alive {
                    exp.map(|e| *h.idle_ka_exp.get_or_insert(e))
                } else {
                    h.idle_ka_exp = None;
                    exp
                };
                Some(h.idle_ping_timer(now, exp, p))
            }
            None => {
                h.idle_ping_due = false;
                h.idle_ka_exp = None;
                exp
            }
        };
        // Whichever comes first: the SETTINGS ACK is due, or the above.
        let exp = match (exp, h.settings_ack_timer(now)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.timers.arm(TimerKey::ConnHs(c), exp);
        let conn = &self.conns[c];
        let Some(h) = conn.mux.h2() else {
            return;
        };
        if conn.xprt.is_tls() {
            // TLS moves the frames: it computes the interest.
            if !self.tls_woken.contains(&c) {
                self.tls_woken.push(c);
            }
            return;
        }
        let (r, w) = (h.want_read(), !h.tx_pending().is_empty());
        let sock = conn.sock;
        self.conns[c].want = (r, w);
        self.set_interest(sock, r, w);
    }

    /// One pass over the streams of `c`, repeated while bytes move:
    /// streams created for new requests, request bytes delivered,
    /// responses encoded, reset streams aborted. Returns whether the
    /// connection still exists.
    pub(crate) fn h2_run(&mut self, now: Time, c: Id<Conn>) -> bool {
        for _ in 0..RUN_ROUNDS {
            let Some(h) = self.conns.get(c).and_then(|x| x.mux.h2()) else {
                return false;
            };
            let ids: Vec<u32> = h.streams.keys().copied().collect();
            let mut progress = false;
            for id in ids {
                progress |= self.h2_run_stream(now, c, id);
            }
            let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) else {
                return false;
            };
            h.gc();
            if !progress {
                break;
            }
        }
        true
    }

    /// The work of one stream; whether anything moved.
    fn h2_run_stream(&mut self, now: Time, c: Id<Conn>, id: u32) -> bool {
        let Some(conn) = self.conns.get_mut(c) else {
            return false;
        };
        let sess = conn.session;
        let Some(h) = conn.mux.h2_mut() else {
            return false;
        };
        // Mutant: a reset stream's buffered DATA is still forwarded, as
        // if the stream lived on.
        #[cfg(feature = "mutants")]
        let forward_reset = h.mutant_is(crate::mutants::Mutant::H2ResetDataForwarded);
        #[cfg(not(feature = "mutants"))]
        let forward_reset = false;
        let Some(s) = h.streams.get_mut(&id) else {
            return false;
        };
        if s.reset && !(forward_reset && !s.rxbuf.is_empty() && s.sid.is_some()) {
            s.need_stream = false;
            let Some(sid) = s.sid else {
                return false;
            };
            // The client reset it, or it broke the protocol: the stream
            // learns it as a client abort (`CD` in logs).
            self.sc_conn_error(now, sid, ConnSide::Front);
            if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) {
                h.detach(id);
            }
            return true;
        }
        let mut progress = false;
        if s.need_stream {
            s.need_stream = false;
            let Some(sess) = sess else {
                // A request on a connection no session took (a reverse
                // connection before its accept, whose mux must hold new
                // streams): refused, and counted.
                s.reset = true;
                self.h2_streams_without_session += 1;
                return false;
            };
            let Some(sid) = self.stream_new(now, sess) else {
                if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) {
                    if let Some(s) = h.streams.get_mut(&id) {
                        s.reset = true;
                    }
                }
                return false;
            };
            self.streams[sid].mux_id = id;
            if let Some(s) = self
                .conns
                .get_mut(c)
                .and_then(|x| x.mux.h2_mut())
                .and_then(|h| h.streams.get_mut(&id))
            {
                s.sid = Some(sid);
                if let Some(at) = s.ws_key_at.take() {
                    // An extended CONNECT without a key: one is drawn now
                    // (16 random bytes in base64, RFC 6455 §4.1).
                    let mut raw = [0u8; 16];
                    self.rng.fill(&mut raw);
                    let b64 = crate::base64::encode(&raw);
                    let mut key = [0u8; WS_KEY_LEN];
                    key.copy_from_slice(&b64[..WS_KEY_LEN]);
                    if let Some(dst) = s.rxbuf.get_mut(at..at + WS_KEY_LEN) {
                        dst.copy_from_slice(&key);
                        s.ws_key = Some(key);
                    }
                }
            }
            progress = true;
        }
        // Request bytes into the channel.
        let Some(s) = self
            .conns
            .get_mut(c)
            .and_then(|x| x.mux.h2_mut())
            .and_then(|h| h.streams.get_mut(&id))
        else {
            return progress;
        };
        let Some(sid) = s.sid else {
            return progress;
        };
        if !s.rxbuf.is_empty() {
            let pending = std::mem::take(&mut s.rxbuf);
            let room = self.sc_conn_recv_buf(sid, Dir::Req);
            let n = room.len().min(pending.len());
            room[..n].copy_from_slice(&pending[..n]);
            if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) {
                if let Some(s) = h.streams.get_mut(&id) {
                    s.rxbuf = pending;
                }
                h.delivered(id, n);
            }
            if n > 0 {
                progress = true;
                self.sc_conn_recv(now, sid, Dir::Req, n);
            }
        }
        // Response bytes out.
        let Some(st) = self.streams.get(sid) else {
            return progress;
        };
        if st.mux_id != id || st.scf.state == ScState::Clo {
            return progress;
        }
        let out = st.res.output_bytes();
        if out.is_empty() {
            return progress;
        }
        let flags = st.txn.as_ref().map(|t| t.flags).unwrap_or_default();
        let synth_clen = flags.contains(crate::http::ana::TxnFlags::RES_SYNTH_CLEN);
        let skipped_body = flags.contains(crate::http::ana::TxnFlags::SKIP_RES_BODY);
        let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) else {
            return progress;
        };
        let used = h.mux_output_opts(id, out, synth_clen, skipped_body);
        if used > 0 {
            self.sc_conn_sent(now, sid, Dir::Res, used);
            progress = true;
        }
        progress
    }

    /// The engine shut the response of `sid` (`sc_shutw` on an H2 stream).
    pub(crate) fn h2_stream_shutw(&mut self, c: Id<Conn>, sid: Id<Stream>) {
        let Some(id) = self.streams.get(sid).map(|s| s.mux_id) else {
            return;
        };
        if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) {
            h.shut_res(id);
        }
        if !self.h2_woken.contains(&c) {
            self.h2_woken.push(c);
        }
    }

    /// The client side of `sid` closed (`front_close` on an H2 stream):
    /// the stream leaves the mux (`h2_detach`); the connection goes on.
    pub(crate) fn h2_stream_detach(&mut self, _now: Time, c: Id<Conn>, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let id = s.mux_id;
        s.scf.sedesc.conn = None;
        let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) else {
            return;
        };
        if h.streams.get(&id).is_some_and(|x| x.sid == Some(sid)) {
            h.detach(id);
        }
        if !self.h2_woken.contains(&c) {
            self.h2_woken.push(c);
        }
    }

    /// An HTTP/2 transaction is over (both messages whole, the response
    /// encoded): the stream ends and logs; its connection goes on.
    pub(crate) fn h2_end_txn(&mut self, now: Time, sid: Id<Stream>) {
        self.http_release_server_conn(now, sid);
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        s.scf.state = ScState::Clo;
        let c = s.scf.sedesc.conn;
        if let Some(c) = c {
            self.h2_stream_detach(now, c, sid);
        }
        if let Some(s) = self.streams.get(sid) {
            if matches!(s.scb.state, ScState::Clo | ScState::Ini) {
                self.stream_free_keep_session(now, sid);
            } else {
                // A server connection still open (not reusable): closed.
                self.back_close(now, sid, CloseHow::Reset);
                self.stream_free_keep_session(now, sid);
            }
        }
    }

    /// Closes connection `c` and everything on it: its streams learn it
    /// as a client close, then the session ends.
    pub(crate) fn h2_close(&mut self, now: Time, c: Id<Conn>) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let sess = conn.session;
        let streams: Vec<Id<Stream>> = conn.mux.streams().collect();
        for sid in streams {
            self.sc_conn_error(now, sid, ConnSide::Front);
        }
        self.timers.arm(TimerKey::ConnHs(c), None);
        match sess {
            Some(sess) => self.session_free(now, sess),
            None => self.conn_close(now, c, CloseHow::Graceful),
        }
    }

    /// The connection's timer: idle too long (GOAWAY, close), or a client
    /// that does not read what is sent; with `idle-ping`, a PING to send,
    /// or one unanswered (close, no GOAWAY: `h2_timeout_task`).
    pub(crate) fn h2_timeout(&mut self, now: Time, c: Id<Conn>) {
        let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) else {
            return;
        };
        if h.settings_ack_expired(now) {
            // Our SETTINGS never acknowledged (RFC 9113 §6.5.3).
            h.settings_timeout();
            return self.h2_process(now, c);
        }
        if h.idle_ping_due && h.active_streams() == 0 {
            h.send_idle_ping();
            return self.h2_process(now, c);
        }
        if h.idle_ping_sent && h.active_streams() == 0 {
            return self.h2_close(now, c);
        }
        if h.state == H2cState::Error || !h.tx_pending().is_empty() {
            return self.h2_close(now, c);
        }
        h.goaway(ErrorCode::NO_ERROR);
        // Nothing more is processed: close once GOAWAY is out.
        h.state = H2cState::Error;
        self.h2_process(now, c);
    }

    /// Soft stop: every H2 connection says GOAWAY(NO_ERROR) and ends once
    /// its streams are over (HAProxy's `h2_wake` seeing `stopping`).
    pub(crate) fn h2_soft_stop(&mut self, now: Time) {
        let ids: Vec<Id<Conn>> = self
            .conns
            .iter()
            .filter(|(_, x)| matches!(x.mux, Mux::H2(_)))
            .map(|(id, _)| id)
            .collect();
        for c in ids {
            if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2_mut()) {
                h.goaway(ErrorCode::NO_ERROR);
            }
            self.h2_process(now, c);
        }
    }

    /// Whether a client connection is to speak HTTP/2: its listener says
    /// `proto h2`, or TLS negotiated ALPN `h2`.
    pub(crate) fn h2_wanted(&self, c: Id<Conn>) -> bool {
        let Some(conn) = self.conns.get(c) else {
            return false;
        };
        if let Xprt::Tls(t) = &conn.xprt {
            if t.alpn() == Some(b"h2") {
                return true;
            }
        }
        match conn.origin {
            crate::conn::Origin::Accepted(l) => self
                .listeners
                .get(l.0 as usize)
                .is_some_and(|l| l.proto == Some(crate::cfgparse::model::BindProto::H2)),
            crate::conn::Origin::Dialed => false,
        }
    }
}

//! The stream connector glue of the server-side HTTP/2 mux
//! (`mux::h2::back`): HAProxy's `h2_snd_buf` / `h2_rcv_buf` for a backend
//! connection, in the engine's sans-IO shape.
//!
//! The connection carries several engine streams at once, up to its
//! [`H2b::streams_limit`]: each one's request channel output (HTTP/1.1,
//! as the analysers forward it) goes through [`H2b::mux_request`]; the
//! HTTP/1.1 form of the server's response
//! ([`H2bs::rxbuf`](crate::mux::h2::H2bs::rxbuf)) goes into its
//! response channel as if read from an HTTP/1.1 server. A stream that
//! ends detaches ([`Engine::h2b_stream_detach`], HAProxy's `h2_detach`):
//! the connection then goes to its server's available list (streams
//! left, slots free), its idle pool (no stream left) or is closed (it
//! failed, or the server said GOAWAY); see `backend` ("Available H2
//! server connections"). A server that resets the stream, says GOAWAY without
//! having processed it, breaks the protocol or closes before the response
//! ended is a server error for the stream (`sc_conn_error`: 502 and `SH`
//! before the response head, `SD` after). Timeouts are the stream's
//! (`timeout server`).

use crate::arena::Id;
use crate::conn::{CoFlags, Conn, ConnSide};
use crate::engine::{Engine, TimerKey};
use crate::mux::h2::H2b;
use crate::mux::Mux;
use crate::sock::CloseHow;
use crate::stream::stconn::ScState;
use crate::stream::{Dir, Stream};
use crate::time::Time;

/// Rounds of [`Engine::h2b_run`] per call.
const RUN_ROUNDS: usize = 8;

impl Engine {
    /// Installs the server-side H2 mux on server connection `c`, with no
    /// stream yet (`server ... proto h2`, or ALPN `h2` chosen by the
    /// server); streams come with [`Engine::h2b_attach`].
    pub(crate) fn h2b_install(&mut self, c: Id<Conn>) {
        let max_header_list = self.pool.bufsize().saturating_sub(self.maxrewrite);
        let limit = self.h2_be_max_concurrent_streams;
        let tune = self.h2_be_tune;
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        let h = Box::new(H2b::with_tune(
            conn.xprt.is_tls(),
            max_header_list,
            tune,
            limit,
        ));
        conn.mux = Mux::H2b(h);
    }

    /// Engine stream `sid` is carried by server connection `c` from now
    /// on (`h2_attach`). Returns `false` when `c` has no H2 mux or no
    /// free stream slot.
    pub(crate) fn h2b_attach(&mut self, c: Id<Conn>, sid: Id<Stream>) -> bool {
        let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) else {
            return false;
        };
        if h.avail_streams() == 0 || h.stream_of(sid).is_some() {
            return false;
        }
        h.attach(sid);
        true
    }

    /// Engine stream `sid` leaves server connection `c` (`h2_detach`):
    /// its H2 stream is reset if unfinished and leaves the table, then
    /// the connection goes where it belongs now
    /// ([`Engine::h2b_conn_update`]).
    pub(crate) fn h2b_stream_detach(&mut self, now: Time, c: Id<Conn>, sid: Id<Stream>) {
        if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) {
            h.detach(sid);
        }
        self.h2b_conn_update(now, c);
    }

    /// Stream `sid`, whose request the server never saw, leaves server
    /// connection `c` and goes back to the assigned state: it takes a
    /// slot on another connection (available, idle or new) to the same
    /// server.
    fn h2b_stream_redispatch(&mut self, now: Time, c: Id<Conn>, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        s.scb.sedesc.conn = None;
        s.scb.state = ScState::Ass;
        s.scb.exp = None;
        s.res.rex = None;
        s.req.wex = None;
        self.h2b_stream_detach(now, c, sid);
        self.release_server_slot(sid);
        self.process_stream(now, sid);
    }

    /// Whether H2 server connection `c` may take no new stream ever: it
    /// failed, is not (or no longer) connected, or the server said GOAWAY.
    pub(crate) fn h2b_conn_dead(&self, c: Id<Conn>) -> bool {
        let Some(conn) = self.conns.get(c) else {
            return true;
        };
        let Some(h) = conn.mux.h2b() else {
            return true;
        };
        !h.takes_new_streams()
            || conn.flags.intersects(
                CoFlags::ERROR | CoFlags::SOCK_RD_SH | CoFlags::SOCK_WR_SH | CoFlags::WAIT_L4_CONN,
            )
    }

    /// Where H2 server connection `c` belongs after a stream left it
    /// (the end of HAProxy's `h2_detach`): with no stream, closed when
    /// dead, else in its server's idle pool (private to its owner
    /// session or shared); with streams, in the available list while it
    /// has free slots and is not dead.
    pub(crate) fn h2b_conn_update(&mut self, now: Time, c: Id<Conn>) {
        let dead = self.h2b_conn_dead(c);
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let ConnSide::Back { srv } = conn.side else {
            return;
        };
        let Some(h) = conn.mux.h2b() else {
            return;
        };
        let (streams, avail, owner) = (h.nb_streams(), h.avail_streams(), h.side.owner);
        #[cfg(feature = "mutants")]
        let reversed = conn.reverse.is_some()
            && self.opts.mutant != Some(crate::mutants::Mutant::RhttpReversedIdle);
        #[cfg(not(feature = "mutants"))]
        let reversed = conn.reverse.is_some();
        if streams == 0 {
            self.avail_conn_remove(srv, c);
            if dead {
                self.conn_close(now, c, CloseHow::Graceful);
                return;
            }
            if reversed {
                // A reversed connection (`attach-srv`) is the only way to
                // its server: available again, never purged as idle.
                self.avail_conn_add(srv, c, None);
            } else if !self.idle_pool_has(srv, c) {
                self.idle_conn_add_owned(now, c, owner);
            }
        } else if dead || avail == 0 {
            self.avail_conn_remove(srv, c);
        } else {
            self.avail_conn_add(srv, c, owner);
        }
        // What the detach queued (RST_STREAM) goes out, unless the
        // socket is gone.
        if self
            .conns
            .get(c)
            .is_some_and(|x| !x.flags.contains(CoFlags::ERROR))
        {
            self.h2b_after(c);
        }
    }

    /// Puts H2 server connection `c`, established and carrying no stream
    /// yet, in the available list of server `srv` (HAProxy's
    /// `srv->per_thr[tid].avail_conns`), shared: any stream assigned to
    /// `srv` (a session's first request included, whatever `http-reuse`
    /// says) takes a slot on it before a new connection is opened, until
    /// its slots are taken. The entry point for a connection that another
    /// feature established (reverse HTTP). Returns `false`, changing
    /// nothing, when `c` is not a live server connection of `srv` with an
    /// H2 mux, already carries a stream, already is in a pool, is dead
    /// (failed, not connected, GOAWAY received), or has no free slot.
    pub fn h2b_conn_make_avail(
        &mut self,
        c: Id<Conn>,
        srv: crate::backend::server::ServerId,
    ) -> bool {
        let ok = self.conns.get(c).is_some_and(|conn| {
            conn.side == (ConnSide::Back { srv })
                && conn
                    .mux
                    .h2b()
                    .is_some_and(|h| h.nb_streams() == 0 && h.avail_streams() > 0)
        }) && !self.h2b_conn_dead(c)
            && self.server_mut(srv).is_some_and(|s| {
                !s.per_thr.avail.iter().any(|a| a.conn == c)
                    && !s.per_thr.idle.iter().any(|a| a.conn == c)
            });
        if !ok {
            return false;
        }
        self.avail_conn_add(srv, c, None);
        self.h2b_after(c);
        true
    }

    /// The engine shut the request of `sid` (`sc_shutw` on a stream of
    /// server connection `c`): a tunnel's END_STREAM goes once the
    /// channel is sent.
    pub(crate) fn h2b_stream_shutw(&mut self, c: Id<Conn>, sid: Id<Stream>) {
        let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) else {
            return;
        };
        let Some(key) = h.stream_of(sid).map(|s| s.key) else {
            return;
        };
        h.shut_req(key);
        if !self.h2_woken.contains(&c) {
            self.h2_woken.push(c);
        }
    }

    /// Where the driver puts received bytes.
    pub(crate) fn h2b_recv_buf(&mut self, c: Id<Conn>) -> &mut [u8] {
        match self.conns.get_mut(c).map(|x| &mut x.mux) {
            Some(Mux::H2b(h)) => h.rx_spare(),
            _ => &mut [],
        }
    }

    /// `n` bytes were received (0: the server closed).
    pub(crate) fn h2b_on_recv(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) else {
            return;
        };
        if n == 0 {
            h.closed();
        } else {
            h.received(n);
        }
        self.h2b_process(now, c);
    }

    /// What is to be written.
    pub(crate) fn h2b_send_buf(&self, c: Id<Conn>) -> &[u8] {
        self.conns
            .get(c)
            .and_then(|x| x.mux.h2b())
            .map_or(&[], |h| h.tx_pending())
    }

    /// `n` bytes of [`Engine::h2b_send_buf`] were written.
    pub(crate) fn h2b_on_sent(&mut self, now: Time, c: Id<Conn>, n: usize) {
        if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) {
            h.sent(n);
        }
        self.h2b_process(now, c);
    }

    /// The socket interest of the connection on the raw xprt.
    pub(crate) fn h2b_want(&self, c: Id<Conn>) -> (bool, bool) {
        let Some(conn) = self.conns.get(c) else {
            return (false, false);
        };
        let Some(h) = conn.mux.h2b() else {
            return (false, false);
        };
        if conn.flags.contains(CoFlags::WAIT_L4_CONN) {
            return (false, false);
        }
        (h.want_read(), !h.tx_pending().is_empty())
    }

    /// Demux what was received, run the stream, then update the interest.
    pub(crate) fn h2b_process(&mut self, now: Time, c: Id<Conn>) {
        if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) {
            h.demux();
        }
        if self.h2b_run(now, c) {
            self.h2b_after(c);
        }
    }

    /// Re-arms the `idle-ping` timer, then announces the interest (or
    /// wakes TLS, which computes it).
    pub(crate) fn h2b_after(&mut self, c: Id<Conn>) {
        self.h2b_idle_ping_arm(c);
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        if conn.xprt.is_tls() {
            if !self.tls_woken.contains(&c) {
                self.tls_woken.push(c);
            }
            return;
        }
        let (r, w) = self.h2b_want(c);
        let sock = conn.sock;
        self.conns[c].want = (r, w);
        self.set_interest(sock, r, w);
    }

    /// `server ... idle-ping` (HAProxy 3.x, `h2c_update_timeout` on a
    /// backend connection): an established connection carrying no stream
    /// has only this timer, `idle-ping` from now; its expiry sends a PING,
    /// or closes the connection when the previous one is unanswered
    /// ([`Engine::h2b_timeout`]). Not while stopping.
    /// Until the server acknowledges our SETTINGS, the timer is also
    /// that ACK's deadline (GOAWAY(SETTINGS_TIMEOUT) past it).
    fn h2b_idle_ping_arm(&mut self, c: Id<Conn>) {
        let now = self.now;
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let ConnSide::Back { srv } = conn.side else {
            return;
        };
        let ping_ms = self.server(srv).and_then(|s| s.cfg.idle_ping_ms);
        let established = !conn.flags.contains(CoFlags::WAIT_L4_CONN)
            && !matches!(&conn.xprt, crate::conn::Xprt::Tls(t) if t.is_handshaking());
        let stopping = self.stopping.is_some();
        let Some(h) = self.conns[c].mux.h2b_mut() else {
            return;
        };
        if !established {
            return;
        }
        let exp = match ping_ms {
            Some(p) if h.nb_streams() == 0 && !stopping => Some(h.idle_ping_timer(now, None, p)),
            _ => {
                h.idle_ping_due = false;
                None
            }
        };
        // Whichever comes first: the SETTINGS ACK is due, or the PING.
        let exp = match (exp, h.settings_ack_timer(now)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.timers.arm(TimerKey::ConnHs(c), exp);
    }

    /// The `idle-ping` timer of backend HTTP/2 connection `c` expired:
    /// a PING goes out, or, the previous one unanswered, the connection
    /// is closed (no GOAWAY: `h2_timeout_task`).
    pub(crate) fn h2b_timeout(&mut self, now: Time, c: Id<Conn>) {
        let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) else {
            return;
        };
        if h.settings_ack_expired(now) {
            // The server never acknowledged our SETTINGS (RFC 9113
            // §6.5.3): GOAWAY, its streams fail, the connection closes.
            h.settings_timeout();
            return self.h2b_process(now, c);
        }
        if h.nb_streams() != 0 {
            return;
        }
        if h.idle_ping_due {
            h.send_idle_ping();
            return self.h2b_process(now, c);
        }
        if h.idle_ping_sent {
            self.idle_conn_close(now, c);
        }
    }

    /// Moves the streams' bytes both ways, repeated while they move:
    /// response bytes into the response channels, the requests out as
    /// frames, a failure reported once per stream. Returns whether the
    /// connection still exists.
    pub(crate) fn h2b_run(&mut self, now: Time, c: Id<Conn>) -> bool {
        for _ in 0..RUN_ROUNDS {
            let Some(h) = self.conns.get(c).and_then(|x| x.mux.h2b()) else {
                return false;
            };
            let carried: Vec<(Id<Stream>, u32)> = h
                .streams
                .iter()
                .filter_map(|s| s.sid.map(|sid| (sid, s.key)))
                .collect();
            if carried.is_empty() {
                // No stream: an idle or available connection, closed
                // once it cannot serve again.
                if h.should_close() || h.peer_goaway || h.state == crate::mux::h2::H2cState::Error {
                    self.idle_conn_close(now, c);
                    return false;
                }
                return true;
            }
            let mut progress = false;
            for (sid, key) in carried {
                match self.h2b_run_stream(now, c, sid, key) {
                    None => return false,
                    Some(p) => progress |= p,
                }
            }
            if !progress {
                break;
            }
        }
        self.conns.get(c).is_some()
    }

    /// One round of [`Engine::h2b_run`] for the stream of `key`, carrying
    /// `sid`. `None`: the connection is gone; else whether bytes moved.
    fn h2b_run_stream(
        &mut self,
        now: Time,
        c: Id<Conn>,
        sid: Id<Stream>,
        key: u32,
    ) -> Option<bool> {
        let conn = self.conns.get(c)?;
        let side = conn.side;
        let h = conn.mux.h2b()?;
        if h.by_key_ref(key).is_none_or(|s| s.sid != Some(sid)) {
            return Some(false);
        }
        let est = self
            .streams
            .get(sid)
            .is_some_and(|s| s.scb.state == ScState::Est && s.scb.sedesc.conn == Some(c));
        if !est {
            return Some(false);
        }
        // A stream whose HEADERS never went, on a connection that takes
        // no new stream (GOAWAY, failure): the server did not process it,
        // another connection carries it (HAProxy's retry of the streams a
        // GOAWAY left unprocessed).
        let stuck = !h.takes_new_streams();
        if h.by_key_ref(key)
            .is_some_and(|s| s.unprocessed() && (stuck || s.fail.is_some()))
        {
            self.h2b_stream_redispatch(now, c, sid);
            return self.conns.get(c).map(|_| true);
        }
        let mut progress = false;
        // Response bytes into the channel.
        if h.by_key_ref(key).is_some_and(|s| !s.rxbuf.is_empty()) {
            let s = self
                .conns
                .get_mut(c)
                .and_then(|x| x.mux.h2b_mut())
                .and_then(|h| h.by_key(key))?;
            let pending = std::mem::take(&mut s.rxbuf);
            if std::mem::take(&mut s.synth_clen) {
                if let Some(txn) = self.streams.get_mut(sid).and_then(|st| st.txn.as_mut()) {
                    txn.flags |= crate::http::ana::TxnFlags::RES_SYNTH_CLEN;
                }
            }
            let room = self.sc_conn_recv_buf(sid, Dir::Res);
            let n = room.len().min(pending.len());
            room[..n].copy_from_slice(&pending[..n]);
            if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) {
                if let Some(s) = h.by_key(key) {
                    s.rxbuf = pending;
                }
                h.delivered(key, n);
            }
            if n > 0 {
                progress = true;
                self.sc_conn_recv(now, sid, Dir::Res, n);
            }
        }
        // A failure, once what came before it is delivered.
        let h = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut())?;
        let Some(s) = h.by_key(key).filter(|s| s.sid == Some(sid)) else {
            return Some(progress);
        };
        if s.fail.is_some() && !s.fail_reported && s.rxbuf.is_empty() {
            s.fail_reported = true;
            self.sc_conn_error(now, sid, side);
            return self.conns.get(c).map(|_| true);
        }
        // A tunnel (extended CONNECT) the server ended: a read close.
        if s.tunnel && !s.shutr_reported && s.res_complete() {
            s.shutr_reported = true;
            self.sc_conn_recv(now, sid, Dir::Res, 0);
            return self.conns.get(c).map(|_| true);
        }
        // The request out.
        let Some(s) = self.streams.get(sid) else {
            return Some(progress);
        };
        if s.scb.state == ScState::Est && s.scb.sedesc.conn == Some(c) {
            let out = s.req.output_bytes();
            let h2_front = s.mux_id != 0;
            let end_due = self
                .conns
                .get(c)
                .and_then(|x| x.mux.h2b())
                .and_then(|h| h.by_key_ref(key))
                .is_some_and(|s| s.req_end_due());
            if !out.is_empty() || end_due {
                let h = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut())?;
                let used = h.mux_request(key, out, h2_front);
                if end_due && out.is_empty() {
                    progress |= h.by_key_ref(key).is_some_and(|s| !s.req_end_due());
                }
                if used > 0 {
                    progress = true;
                    self.sc_conn_sent(now, sid, Dir::Req, used);
                }
            }
        }
        Some(progress)
    }
}

//! The engine side of the TLS xprt (HAProxy's `ssl_sock_to_buf`,
//! `ssl_sock_from_buf`, `ssl_sock_handshake`): what the socket entry points
//! do for a TLS connection. The per-connection state and rustls are in
//! `conn/tls.rs`.
//!
//! ```text
//!  accepted ──(accept-proxy)──> handshake (ConnHs timer: timeout client) ──done──> session_complete
//!  dialed ──L4 connected──> handshake (the stream's connect timeout) ──done──> back_connected
//!  any failure before done: front: logged "fe/bind: SSL handshake failure" (ConnError::Ssl*), closed
//!                                  after rustls's alert is written (a lingering close)
//!                           back: a connection error of the stream (retries, 503)
//! ```
//!
//! Plaintext moves between rustls and the stream's channels in
//! [`Engine::tls_pump`], run after socket events, and at the end of an
//! entry point for the connections whose stream made room or output since
//! (`Engine::tls_woken`, filled by `conn_update_interest`): a stream never
//! calls into TLS itself, it sees plaintext through the same glue as with
//! the raw xprt.

use crate::arena::Id;
use crate::engine::{Engine, TimerKey};
use crate::sock::CloseHow;
use crate::time::Time;

use super::tls::{Tls, TlsFlags};
use super::{CoFlags, Conn, ConnError, ConnSide, Xprt};

/// Rounds of [`Engine::tls_pump`] per call: each moves a buffer's worth.
const PUMP_ROUNDS: usize = 8;

impl Engine {
    /// Installs the TLS xprt of a newly accepted connection of a `bind
    /// ... ssl` listener; `false`: it could not be (then closed).
    pub(crate) fn tls_accept(&mut self, c: Id<Conn>, ctx: &super::tls::BindCtx) -> bool {
        match Tls::server(ctx) {
            Ok(t) => {
                self.conns[c].xprt = Xprt::Tls(Box::new(t));
                true
            }
            Err(_) => false,
        }
    }

    /// Starts the handshake of an accepted TLS connection (after
    /// `tcp-request connection` rules and `accept-proxy`), bounded by
    /// `timeout client` as HAProxy's handshake is.
    pub(crate) fn tls_start_front(&mut self, now: Time, c: Id<Conn>) {
        let fe = self
            .conns
            .get(c)
            .and_then(|x| x.session)
            .and_then(|s| self.sessions.get(s))
            .map(|se| se.fe);
        let to = fe.and_then(|fe| {
            self.proxies[fe]
                .timeouts
                .client_ms
                .map(|t| now.add_ms(u64::from(t).max(1)))
        });
        self.timers.arm(TimerKey::ConnHs(c), to);
        self.tls_pump(now, c);
    }

    /// The PROXY header is in: what followed it is the start of the TLS
    /// handshake.
    pub(crate) fn tls_after_proxy_hdr(&mut self, now: Time, c: Id<Conn>) {
        let conn = &mut self.conns[c];
        let hs = std::mem::take(&mut conn.hs);
        let extra = hs.data();
        if let Xprt::Tls(t) = &mut conn.xprt {
            let spare = t.rx_spare();
            let n = extra.len().min(spare.len());
            spare[..n].copy_from_slice(&extra[..n]);
            t.received(n);
        }
        self.pool_release(hs);
        self.tls_start_front(now, c);
    }

    /// Where the driver reads a TLS connection's socket into.
    pub(crate) fn tls_recv_buf(&mut self, c: Id<Conn>) -> &mut [u8] {
        match self.conns.get_mut(c).map(|x| &mut x.xprt) {
            Some(Xprt::Tls(t)) => t.rx_spare(),
            _ => &mut [],
        }
    }

    /// Ciphertext (or the peer's close) arrived.
    pub(crate) fn tls_on_recv(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        if n == 0 {
            conn.flags |= CoFlags::SOCK_RD_SH;
        }
        if let Xprt::Tls(t) = &mut conn.xprt {
            t.received(n);
        }
        self.tls_pump(now, c);
    }

    /// `n` bytes of ciphertext were written. Once all of it is, the
    /// plaintext it carried counts as sent for the stream, and a FIN
    /// waiting for it goes.
    pub(crate) fn tls_on_sent(&mut self, now: Time, c: Id<Conn>, n: usize) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        let sock = conn.sock;
        let side = conn.side;
        let tx_stream = conn.mux.tx_stream();
        let Xprt::Tls(t) = &mut conn.xprt else {
            return;
        };
        if !t.sent(n) {
            return self.conn_update_interest(c);
        }
        let mut fin = false;
        if t.flags.contains(TlsFlags::SHUT_PENDING) && !t.flags.contains(TlsFlags::SHUT_SENT) {
            t.flags |= TlsFlags::SHUT_SENT;
            fin = true;
        }
        let fed = std::mem::take(&mut t.fed);
        if fin {
            self.shutdown_write(sock);
        }
        if let (true, Some(sid)) = (fed > 0, tx_stream) {
            self.sc_conn_sent(now, sid, side.rx_dir().other(), fed);
        }
        self.tls_pump(now, c);
    }

    /// A FIN on connection `c` (`sc_shutw`): a TLS connection sends its
    /// close_notify first, and the FIN once that is written.
    pub(crate) fn conn_shut_write(&mut self, c: Id<Conn>) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        let sock = conn.sock;
        let Xprt::Tls(t) = &mut conn.xprt else {
            return self.shutdown_write(sock);
        };
        if t.flags
            .intersects(TlsFlags::SHUT_PENDING | TlsFlags::SHUT_SENT)
        {
            return;
        }
        t.close_notify();
        t.flags |= TlsFlags::SHUT_PENDING;
        if t.tx_pending().is_empty() {
            t.flags |= TlsFlags::SHUT_SENT;
            self.shutdown_write(sock);
        }
        self.conn_update_interest(c);
    }

    /// Moves bytes through rustls as far as they go: ciphertext in,
    /// handshake progress, plaintext to the stream, the stream's output
    /// out. Ends with the connection's interest updated.
    pub(crate) fn tls_pump(&mut self, now: Time, c: Id<Conn>) {
        #[cfg(feature = "mutants")]
        let bug = self.opts.mutant == Some(crate::mutants::Mutant::TlsEofInRecord);
        if self
            .conns
            .get(c)
            .is_some_and(|x| x.flags.contains(CoFlags::DRAINING))
        {
            // Failed: only the alert still goes out.
            return self.conn_update_interest(c);
        }
        for _ in 0..PUMP_ROUNDS {
            let Some(Xprt::Tls(t)) = self.conns.get_mut(c).map(|x| &mut x.xprt) else {
                return;
            };
            #[cfg(feature = "mutants")]
            {
                t.bug_eof_in_record = bug;
            }
            let mut progress = match t.absorb() {
                Ok(p) => p,
                Err(_) => return self.tls_fail(now, c),
            };
            if !t.flags.contains(TlsFlags::HS_DONE) {
                if t.is_handshaking() {
                    if t.flags.contains(TlsFlags::EOF_FED) {
                        return self.tls_fail(now, c);
                    }
                    break;
                }
                t.flags |= TlsFlags::HS_DONE;
                self.tls_handshake_done(now, c);
                continue;
            }
            progress |= self.tls_deliver(now, c);
            progress |= self.tls_encrypt(c);
            if !progress {
                break;
            }
        }
        self.conn_update_interest(c);
    }

    /// The handshake is over: the session completes (client side), or
    /// the stream learns its server connection is up (server side).
    fn tls_handshake_done(&mut self, now: Time, c: Id<Conn>) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        match conn.side {
            ConnSide::Front if conn.rhttp.is_some() => self.rhttp_tls_done(now, c),
            ConnSide::Front => {
                self.timers.arm(TimerKey::ConnHs(c), None);
                if let Some(sess) = conn.session {
                    self.session_complete(now, sess);
                }
            }
            ConnSide::Back { .. } | ConnSide::BackProxy { .. } => {
                // ALPN `h2` chosen by the server (`alpn h2,http/1.1` on
                // the server line): HTTP/2 from now on, for HTTP streams.
                let alpn_h2 = conn.xprt.tls().is_some_and(|t| t.alpn() == Some(b"h2"));
                if alpn_h2 {
                    if let Some(sid) = conn.mux.rx_stream() {
                        if self.streams.get(sid).is_some_and(|s| s.txn.is_some()) {
                            self.h2b_install(c);
                            self.h2b_attach(c, sid);
                            self.h2b_set_owner(c, sid);
                        }
                    }
                }
                let Some(conn) = self.conns.get(c) else {
                    return;
                };
                for sid in conn.mux.streams() {
                    self.back_connected(now, sid);
                    self.process_stream(now, sid);
                }
            }
            ConnSide::App => {}
        }
    }

    /// Plaintext rustls holds goes to the stream, as much as its channel
    /// takes; the end of the input too. Returns whether anything moved.
    fn tls_deliver(&mut self, now: Time, c: Id<Conn>) -> bool {
        let Some(conn) = self.conns.get(c) else {
            return false;
        };
        let dir = conn.side.rx_dir();
        if matches!(conn.mux, super::Mux::H2(_) | super::Mux::H2b(_)) {
            return self.tls_deliver_h2(now, c);
        }
        let Some(sid) = conn.mux.rx_stream() else {
            // An idle server connection: any byte or a close ends it.
            let ends = conn.xprt.tls().is_some_and(|t| t.input_pending());
            if ends && conn.side.is_back() {
                self.idle_conn_close(now, c);
                return true;
            }
            return false;
        };
        let mut progress = false;
        for _ in 0..PUMP_ROUNDS {
            // The TLS state leaves the connection while the channel's
            // room is borrowed from the engine (the glue knows nothing of
            // connections).
            let Some(conn) = self.conns.get_mut(c) else {
                return progress;
            };
            let Xprt::Tls(mut t) = std::mem::take(&mut conn.xprt) else {
                return progress;
            };
            let got = if t.plain > 0 {
                let buf = self.sc_conn_recv_buf(sid, dir);
                if buf.is_empty() {
                    None
                } else {
                    t.read_plain(buf)
                }
            } else if t.eof_pending() {
                Some(0)
            } else {
                None
            };
            if got == Some(0) {
                t.flags |= TlsFlags::READ0_DONE;
            }
            self.conns[c].xprt = Xprt::Tls(t);
            match got {
                None => break,
                Some(n) => {
                    progress = true;
                    if n == 0 {
                        self.conns[c].flags |= CoFlags::SOCK_RD_SH;
                    }
                    self.sc_conn_recv(now, sid, dir, n);
                    if self.conns.get(c).is_some_and(|x| x.mux.h2().is_some()) {
                        // The HTTP/2 preface came over HTTP/1 (an ALPN
                        // other than `h2`): the H2 mux takes the rest.
                        self.tls_deliver_h2(now, c);
                        return true;
                    }
                    if n == 0 {
                        break;
                    }
                }
            }
        }
        progress
    }

    /// Plaintext for the H2 mux: into its receive buffer, then demuxed.
    fn tls_deliver_h2(&mut self, now: Time, c: Id<Conn>) -> bool {
        let mut progress = false;
        for _ in 0..PUMP_ROUNDS {
            let Some(conn) = self.conns.get_mut(c) else {
                return progress;
            };
            let back = matches!(conn.mux, super::Mux::H2b(_));
            let (Xprt::Tls(t), Some(buf)) = (
                &mut conn.xprt,
                match &mut conn.mux {
                    super::Mux::H2(h) => Some(h.rx_spare()),
                    super::Mux::H2b(h) => Some(h.rx_spare()),
                    _ => None,
                },
            ) else {
                return progress;
            };
            let got = if t.plain > 0 {
                if buf.is_empty() {
                    None
                } else {
                    t.read_plain(buf)
                }
            } else if t.eof_pending() {
                Some(0)
            } else {
                None
            };
            if got == Some(0) {
                t.flags |= TlsFlags::READ0_DONE;
            }
            match got {
                None => break,
                Some(n) => {
                    progress = true;
                    if back {
                        self.h2b_on_recv(now, c, n);
                    } else {
                        self.h2_on_recv(now, c, n);
                    }
                    if n == 0 {
                        break;
                    }
                }
            }
        }
        progress
    }

    /// The stream's output goes into rustls, when the previous records
    /// are written. Returns whether anything moved.
    fn tls_encrypt(&mut self, c: Id<Conn>) -> bool {
        let Some(conn) = self.conns.get_mut(c) else {
            return false;
        };
        if let (Xprt::Tls(t), super::Mux::H2(h)) = (&mut conn.xprt, &mut conn.mux) {
            // The H2 mux owns its frames: rustls copies what it takes.
            if !t.tx_pending().is_empty()
                || t.flags
                    .intersects(TlsFlags::SHUT_PENDING | TlsFlags::SHUT_SENT)
            {
                return false;
            }
            let k = t.write_plain(h.tx_pending());
            h.sent(k);
            if k > 0 && !self.h2_woken.contains(&c) {
                // Room for more frames.
                self.h2_woken.push(c);
            }
            return k > 0;
        }
        if let (Xprt::Tls(t), super::Mux::H2b(h)) = (&mut conn.xprt, &mut conn.mux) {
            if !t.tx_pending().is_empty()
                || t.flags
                    .intersects(TlsFlags::SHUT_PENDING | TlsFlags::SHUT_SENT)
            {
                return false;
            }
            let k = t.write_plain(h.tx_pending());
            h.sent(k);
            if k > 0 && !self.h2_woken.contains(&c) {
                self.h2_woken.push(c);
            }
            return k > 0;
        }
        let dir = conn.side.rx_dir().other();
        let Some(sid) = conn.mux.tx_stream() else {
            return false;
        };
        let ready = conn.xprt.tls().is_some_and(|t| {
            t.tx_pending().is_empty()
                && !t
                    .flags
                    .intersects(TlsFlags::SHUT_PENDING | TlsFlags::SHUT_SENT)
        });
        if !ready {
            return false;
        }
        let Xprt::Tls(mut t) = std::mem::take(&mut conn.xprt) else {
            return false;
        };
        let out = self.sc_conn_send_buf(sid, dir);
        t.fed = t.fed.min(out.len());
        let k = if out.len() > t.fed {
            t.write_plain(&out[t.fed..])
        } else {
            0
        };
        t.fed += k;
        self.conns[c].xprt = Xprt::Tls(t);
        k > 0
    }

    /// The interest of a TLS connection: read while the handshake runs or
    /// the stream takes input and the ciphertext buffer has room; write
    /// while ciphertext waits. The third value: the connection must be
    /// woken (`Engine::tls_woken`), its stream made room for plaintext
    /// rustls holds, or has output to encrypt.
    pub(crate) fn tls_want(&self, c: Id<Conn>) -> (bool, bool, bool) {
        let Some(conn) = self.conns.get(c) else {
            return (false, false, false);
        };
        let Some(t) = conn.xprt.tls() else {
            return (false, false, false);
        };
        let write = !t.tx_pending().is_empty();
        if conn.flags.contains(CoFlags::DRAINING) {
            // The alert of a failed handshake goes out; what the client
            // still sends is thrown away until it closes.
            return (true, write, false);
        }
        let can_read = t.rx_room() && !t.flags.contains(TlsFlags::EOF_SEEN);
        if !t.flags.contains(TlsFlags::HS_DONE) {
            // A server connection still connecting waits for its L4.
            let l4 = !conn.flags.contains(CoFlags::WAIT_L4_CONN);
            return (can_read && l4, write && l4, false);
        }
        if let Some(h) = conn.mux.h2() {
            let pending = !h.tx_pending().is_empty();
            let wake = pending && !write || (h.want_read() && t.input_pending());
            return (h.want_read() && can_read, write, wake);
        }
        if let Some(h) = conn.mux.h2b() {
            let pending = !h.tx_pending().is_empty();
            let wake = pending && !write || (h.want_read() && t.input_pending());
            return (h.want_read() && can_read, write, wake);
        }
        let (sread, swrite) = match (conn.mux.rx_stream(), conn.side) {
            (Some(sid), side) => self.sc_conn_want(sid, side),
            (None, ConnSide::Back { .. } | ConnSide::BackProxy { .. }) => (true, false),
            (None, _) => (false, false),
        };
        let wake_rx = sread && t.input_pending();
        let wake_tx = swrite
            && !write
            && !t
                .flags
                .intersects(TlsFlags::SHUT_PENDING | TlsFlags::SHUT_SENT)
            && conn.mux.tx_stream().is_some_and(|sid| {
                self.sc_conn_send_buf(sid, conn.side.rx_dir().other()).len() > t.fed
            });
        let idle_end = conn.mux.rx_stream().is_none() && t.input_pending();
        (sread && can_read, write, wake_rx || wake_tx || idle_end)
    }

    /// Runs the TLS connections woken during this entry point (their
    /// runs may wake more, a bounded number of times: what is left waits
    /// for the next entry point).
    #[inline(never)]
    pub(crate) fn tls_run_woken(&mut self) {
        let now = self.now;
        for _ in 0..16 {
            if self.tls_woken.is_empty() {
                break;
            }
            let woken = std::mem::take(&mut self.tls_woken);
            for c in woken {
                self.tls_pump(now, c);
            }
        }
    }

    /// rustls refused the peer's bytes (a bad record, no common version
    /// or suite, a certificate it does not trust...), or the peer closed
    /// before the handshake was over.
    fn tls_fail(&mut self, now: Time, c: Id<Conn>) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let hs_done = conn
            .xprt
            .tls()
            .is_some_and(|t| t.flags.contains(TlsFlags::HS_DONE));
        let eof = conn
            .xprt
            .tls()
            .is_some_and(|t| t.flags.contains(TlsFlags::EOF_FED));
        let sock = conn.sock;
        match conn.side {
            // A reverse connection (`rhttp@`) not accepted yet is our own
            // TLS client: its failure is a failed attempt, retried by its
            // listener (no handshake log line, no lingering alert).
            ConnSide::Front if conn.rhttp.is_some() => self.conn_close(now, c, CloseHow::Reset),
            ConnSide::Front if !hs_done => {
                let why = if eof {
                    ConnError::SslEmpty
                } else {
                    ConnError::SslHandshake
                };
                let alert = conn.xprt.tls().is_some_and(|t| !t.tx_pending().is_empty());
                if alert && !eof && self.lingering < super::MAX_LINGERING {
                    return self.tls_alert_close(now, c, why);
                }
                self.handshake_fail(now, c, why)
            }
            ConnSide::Back { .. } | ConnSide::BackProxy { .. } if !hs_done => {
                self.close_sock(sock, CloseHow::Reset);
                for sid in conn_streams(self, c) {
                    self.sc_conn_connect_error(now, sid, crate::sock::SockError::Other(0));
                }
            }
            _ => {
                self.close_sock(sock, CloseHow::Reset);
                self.conn_failed(now, c);
            }
        }
    }
}

impl Engine {
    /// A client's handshake failed and rustls queued an alert saying why
    /// (`handshake_failure`, `protocol_version`, `unrecognized_name`...):
    /// logged and the session freed as any handshake failure, but the
    /// connection writes the alert, then its FIN, and lingers (as
    /// [`Engine::conn_linger`]) until the client closes or `timeout
    /// client-fin` (else `timeout client`, at most [`super::LINGER_MAX_MS`])
    /// passes: as OpenSSL does for HAProxy, the client learns the reason
    /// instead of a reset.
    fn tls_alert_close(&mut self, now: Time, c: Id<Conn>, why: ConnError) {
        let sess = self.handshake_log(c, why);
        let fe = sess.and_then(|s| self.sessions.get(s)).map(|se| se.fe);
        if let Xprt::Tls(t) = &mut self.conns[c].xprt {
            // The FIN follows the alert (`tls_on_sent`).
            t.flags |= TlsFlags::SHUT_PENDING;
        }
        self.linger_begin(now, c, fe);
        if let Some(sid) = sess {
            self.session_free(now, sid);
        }
        self.conn_update_interest(c);
    }
}

fn conn_streams(e: &Engine, c: Id<Conn>) -> Vec<Id<crate::stream::Stream>> {
    e.conns
        .get(c)
        .map(|x| x.mux.streams().collect())
        .unwrap_or_default()
}

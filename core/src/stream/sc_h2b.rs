//! The stream connector glue of the server-side HTTP/2 mux
//! (`mux::h2::back`): HAProxy's `h2_snd_buf` / `h2_rcv_buf` for a backend
//! connection, in the engine's sans-IO shape.
//!
//! The connection carries one engine stream (its stream table could hold
//! several): its request channel's output (HTTP/1.1, as the analysers
//! forward it) goes through [`H2b::mux_request`]; the HTTP/1.1 form of
//! the server's response
//! ([`H2bs::rxbuf`](crate::mux::h2::H2bs::rxbuf)) goes into its
//! response channel as if read from an HTTP/1.1 server. A server that resets the stream, says GOAWAY without
//! having processed it, breaks the protocol or closes before the response
//! ended is a server error for the stream (`sc_conn_error`: 502 and `SH`
//! before the response head, `SD` after). Timeouts are the stream's
//! (`timeout server`).

use crate::arena::Id;
use crate::conn::{CoFlags, Conn};
use crate::engine::Engine;
use crate::mux::h2::H2b;
use crate::mux::Mux;
use crate::sock::CloseHow;
use crate::stream::stconn::ScState;
use crate::stream::{Dir, Stream};
use crate::time::Time;

/// Rounds of [`Engine::h2b_run`] per call.
const RUN_ROUNDS: usize = 8;

impl Engine {
    /// Installs the server-side H2 mux on server connection `c` for
    /// stream `sid` (`server ... proto h2`, or ALPN `h2` chosen by the
    /// server).
    pub(crate) fn h2b_install(&mut self, c: Id<Conn>, sid: Id<Stream>) {
        let max_header_list = self.pool.bufsize().saturating_sub(self.maxrewrite);
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        let mut h = Box::new(H2b::new(conn.xprt.is_tls(), max_header_list));
        h.attach(sid);
        conn.mux = Mux::H2b(h);
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

    /// Announces the interest (or wakes TLS, which computes it).
    pub(crate) fn h2b_after(&mut self, c: Id<Conn>) {
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

    /// Moves the stream's bytes both ways, repeated while they move:
    /// response bytes into the response channel, the request out as
    /// frames, a failure reported once. Returns whether the connection
    /// still exists.
    pub(crate) fn h2b_run(&mut self, now: Time, c: Id<Conn>) -> bool {
        for _ in 0..RUN_ROUNDS {
            let Some(conn) = self.conns.get(c) else {
                return false;
            };
            let side = conn.side;
            let Some(h) = conn.mux.h2b() else {
                return false;
            };
            // One engine stream per connection today: the first stream
            // that still has one.
            let Some((sid, id)) = h.streams.iter().find_map(|s| s.sid.map(|sid| (sid, s.id)))
            else {
                // No stream left: the connection has no further use.
                if h.should_close() || h.any_failed() || h.peer_goaway {
                    self.conn_close(now, c, CloseHow::Graceful);
                    return false;
                }
                return true;
            };
            let est = self
                .streams
                .get(sid)
                .is_some_and(|s| s.scb.state == ScState::Est && s.scb.sedesc.conn == Some(c));
            if !est {
                return true;
            }
            let mut progress = false;
            // Response bytes into the channel.
            if h.by_id_ref(id).is_some_and(|s| !s.rxbuf.is_empty()) {
                let Some(s) = self
                    .conns
                    .get_mut(c)
                    .and_then(|x| x.mux.h2b_mut())
                    .and_then(|h| h.by_id(id))
                else {
                    return false;
                };
                let pending = std::mem::take(&mut s.rxbuf);
                let room = self.sc_conn_recv_buf(sid, Dir::Res);
                let n = room.len().min(pending.len());
                room[..n].copy_from_slice(&pending[..n]);
                if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) {
                    if let Some(s) = h.by_id(id) {
                        s.rxbuf = pending;
                    }
                    h.delivered(id, n);
                }
                if n > 0 {
                    progress = true;
                    self.sc_conn_recv(now, sid, Dir::Res, n);
                }
            }
            // A failure, once what came before it is delivered.
            let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) else {
                return false;
            };
            let Some(s) = h.by_id(id) else {
                return true;
            };
            if s.fail.is_some() && !s.fail_reported && s.rxbuf.is_empty() {
                s.fail_reported = true;
                self.sc_conn_error(now, sid, side);
                return self.conns.get(c).is_some();
            }
            // The request out.
            let Some(s) = self.streams.get(sid) else {
                return true;
            };
            if s.scb.state == ScState::Est && s.scb.sedesc.conn == Some(c) {
                let out = s.req.output_bytes();
                let h2_front = s.mux_id != 0;
                if !out.is_empty() {
                    let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) else {
                        return false;
                    };
                    let used = h.mux_request(id, out, h2_front);
                    if used > 0 {
                        progress = true;
                        self.sc_conn_sent(now, sid, Dir::Req, used);
                    }
                }
            }
            if !progress {
                break;
            }
        }
        self.conns.get(c).is_some()
    }
}

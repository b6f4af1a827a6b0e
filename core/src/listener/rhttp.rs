//! Active reverse HTTP: the receiver of a `bind rhttp@BACKEND/SERVER`
//! line (HAProxy's `proto_rhttp.c`, 2.9+).
//!
//! Such a listener does not listen: the engine *opens* its connections,
//! to the server the address names, which must speak HTTP/2 (`proto h2`,
//! or `ssl ... alpn h2`). The peer there (a public node with `tcp-request
//! session attach-srv`) turns each connection around and sends requests
//! through it; here each one, once *accepted*, is an ordinary HTTP/2
//! client connection of the frontend: rules, logs, counters and limits as
//! for any client.
//!
//! ```text
//!   Stop/Init ──timer──> pend_conn: connect ─> (TLS, ALPN h2) ─> preface + SETTINGS out
//!        ^                    │ error, close, or no SETTINGS before `timeout connect`
//!        │ 1 s later <────────┘ ("preconnect FE::BE/SRV: Error encountered.")
//!        │
//!   peer's SETTINGS acked: ready ─> accepted when the listener, frontend
//!   and process limits allow: a session, then the held HEADERS are read
//!        └─> another preconnect at once while fewer than `nbconn` are up;
//!            at `nbconn`: paused ("Running with nbconn N reached.") until
//!            one of them ends
//! ```
//!
//! Invariants: at most one connection is pending per listener
//! ([`RhttpRx::pend_conn`]), and it is the only connection whose
//! `Conn::rhttp` names the listener; a pending connection has no session
//! and its H2 mux holds every new stream ([`H2Conn::hold_new_streams`]),
//! so no request is processed before the accept; the listener's `nbconn`
//! counts accepted connections only; a retry after a failure waits
//! [`RETRY_MS`].
//!
//! [`H2Conn::hold_new_streams`]: crate::mux::h2::H2Conn::hold_new_streams

use crate::arena::Id;
use crate::backend::server::ServerId;
use crate::conn::{Conn, ConnSide, Mux, Origin, Xprt};
use crate::engine::{Engine, TimerKey};
use crate::mux::h2::{H2Limits, H2c};
use crate::sock::{CloseHow, ListenerId, LogLevel};
use crate::time::Time;

/// The wait before a new attempt after a failed one (HAProxy's 1 s).
pub const RETRY_MS: u64 = 1000;

/// Where a reverse listener's preconnection stands (`LI_PRECONN_ST_*`),
/// kept so that each state change is logged once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreconnState {
    Stop,
    Init,
    Err,
    Full,
}

/// The reverse receiver of a listener (`l->rx.rhttp`).
#[derive(Debug)]
pub struct RhttpRx {
    /// The server connections are opened to.
    pub srv: ServerId,
    /// `BACKEND/SERVER`, as written (logs).
    pub name: String,
    /// `nbconn` (default 1): the listener's `maxconn`.
    pub nbconn: u32,
    /// The connection opened and not accepted yet (`pend_conn`).
    pub pend_conn: Option<Id<Conn>>,
    /// The pending connection exchanged SETTINGS: it waits to be accepted
    /// (`CO_FL_ACT_REVERSING`).
    pub ready: bool,
    /// When the pending connection is dropped if still not accepted
    /// (`timeout connect` of the server's backend, else [`RETRY_MS`]).
    pub deadline: Option<Time>,
    pub state: PreconnState,
    /// Connections opened, and failures before an accept (tests, `show`).
    pub attempts: u64,
    pub failures: u64,
}

impl RhttpRx {
    pub fn new(srv: ServerId, name: String, nbconn: u32) -> RhttpRx {
        RhttpRx {
            srv,
            name,
            nbconn: nbconn.max(1),
            pend_conn: None,
            ready: false,
            deadline: None,
            state: PreconnState::Stop,
            attempts: 0,
            failures: 0,
        }
    }
}

impl Engine {
    /// Connections opened by every reverse listener so far (tests, the
    /// simulator's reconnect-rate oracle).
    pub fn rhttp_attempts(&self) -> u64 {
        self.listeners
            .iter()
            .filter_map(|l| l.rhttp.as_ref())
            .map(|rx| rx.attempts)
            .sum()
    }

    fn rhttp_rx(&mut self, l: ListenerId) -> Option<&mut RhttpRx> {
        self.listeners
            .get_mut(l.0 as usize)
            .and_then(|x| x.rhttp.as_deref_mut())
    }

    /// `preconnect FE::BE/SRV: TEXT` on the frontend's log targets.
    fn rhttp_log(&mut self, l: ListenerId, level: LogLevel, text: &str) {
        let Some(li) = self.listeners.get(l.0 as usize) else {
            return;
        };
        let (crate::listener::ListenerKind::Frontend { proxy }, Some(rx)) = (li.kind, &li.rhttp)
        else {
            return;
        };
        let line = format!(
            "preconnect {}::{}: {text}",
            self.proxies[proxy].name, rx.name
        );
        self.log_px(Some(proxy), level, line);
    }

    /// Starts every reverse listener (after the configuration is loaded).
    pub(crate) fn rhttp_start(&mut self, now: Time) {
        let ids: Vec<ListenerId> = (0..self.listeners.len())
            .filter(|&i| self.listeners[i].rhttp.is_some())
            .map(|i| ListenerId(i as u32))
            .collect();
        for l in ids {
            self.rhttp_enable(now, l);
        }
    }

    /// The listener may open connections (`rhttp_enable_listener`): at
    /// startup, and when it falls below `nbconn` again.
    pub(crate) fn rhttp_enable(&mut self, now: Time, l: ListenerId) {
        let Some(rx) = self.rhttp_rx(l) else {
            return;
        };
        if rx.state < PreconnState::Init {
            rx.state = PreconnState::Init;
            self.rhttp_log(l, LogLevel::Info, "Initiating.");
        } else if rx.state == PreconnState::Full {
            rx.state = PreconnState::Init;
        }
        // A ready connection waiting for room is accepted now.
        self.timers.arm(TimerKey::Rhttp(l), Some(now.add_ms(1)));
    }

    /// `nbconn` connections are up (`rhttp_disable_listener`).
    pub(crate) fn rhttp_disable(&mut self, l: ListenerId) {
        let Some(rx) = self.rhttp_rx(l) else {
            return;
        };
        if rx.state < PreconnState::Full {
            rx.state = PreconnState::Full;
            let n = rx.nbconn;
            self.rhttp_log(
                l,
                LogLevel::Info,
                &format!("Running with nbconn {n} reached."),
            );
        }
    }

    /// The listener's task (`rhttp_process`): a pending connection that
    /// failed to be ready in time is dropped (and retried at once, the
    /// timeout having spaced the attempts); with none pending, one is
    /// opened if the listener is below `nbconn`.
    pub(crate) fn rhttp_timer(&mut self, now: Time, l: ListenerId) {
        let Some(rx) = self.rhttp_rx(l) else {
            return;
        };
        if let Some(c) = rx.pend_conn {
            let deadline = rx.deadline;
            if rx.ready {
                if let Some(c) = self.rhttp_try_accept(now, l) {
                    return self.h2_process(now, c);
                }
            }
            if let Some(t) = deadline.filter(|&t| t > now) {
                // Woken early (a resume): the deadline stands.
                self.timers.arm(TimerKey::Rhttp(l), Some(t));
                return;
            }
            // Not ready (or not accepted) before `timeout connect`.
            self.conn_close(now, c, CloseHow::Reset);
            if self.stopping.is_none() {
                self.timers.arm(TimerKey::Rhttp(l), Some(now.add_ms(1)));
            }
            return;
        }
        let li = &self.listeners[l.0 as usize];
        if self.stopping.is_some() || !li.active || li.paused {
            return;
        }
        match self.rhttp_new_conn(now, l) {
            Some(c) => {
                let srv = self.listeners[l.0 as usize].rhttp.as_ref().map(|rx| rx.srv);
                let to = srv.and_then(|s| self.proxies[s.be].timeouts.connect_ms);
                let rx = self.rhttp_rx(l).expect("reverse listener");
                let at = match to {
                    Some(ms) => now.add_ms(u64::from(ms).max(1)),
                    None => now.add_ms(RETRY_MS),
                };
                rx.pend_conn = Some(c);
                rx.ready = false;
                rx.deadline = Some(at);
                rx.attempts += 1;
                self.timers.arm(TimerKey::Rhttp(l), Some(at));
            }
            None => {
                self.rhttp_failed(l);
                self.timers
                    .arm(TimerKey::Rhttp(l), Some(now.add_ms(self.rhttp_retry_ms())));
            }
        }
    }

    fn rhttp_retry_ms(&self) -> u64 {
        #[cfg(feature = "mutants")]
        if self.opts.mutant == Some(crate::mutants::Mutant::RhttpNoRetryDelay) {
            return 1;
        }
        RETRY_MS
    }

    /// A failure before the accept: logged once until the next success.
    fn rhttp_failed(&mut self, l: ListenerId) {
        let Some(rx) = self.rhttp_rx(l) else {
            return;
        };
        rx.failures += 1;
        if rx.state != PreconnState::Err {
            rx.state = PreconnState::Err;
            self.rhttp_log(l, LogLevel::Err, "Error encountered.");
        }
    }

    /// Opens a connection to the listener's server (`new_reverse_conn`):
    /// the server's transport (TLS, PROXY header) and, unless ALPN is to
    /// choose, the H2 mux at once.
    fn rhttp_new_conn(&mut self, _now: Time, l: ListenerId) -> Option<Id<Conn>> {
        let srv = self.listeners[l.0 as usize].rhttp.as_ref()?.srv;
        let server = &self.proxies[srv.be].be.as_ref()?.servers[srv.idx as usize];
        let addr = server.cfg.addr;
        let proto_h2 = server.cfg.proto_h2;
        let tls = server.cfg.tls.clone();
        let send_proxy = server.cfg.send_proxy;
        let ci = self.conns.next_id();
        let sock = self.new_sock(ci);
        let mut conn = Conn::new(sock, Origin::Dialed, ConnSide::Front);
        conn.flags |= crate::conn::CoFlags::WAIT_L4_CONN;
        conn.dst = Some(addr);
        conn.rhttp = Some(l);
        if let Some(v) = send_proxy {
            // The connection's own addresses: there is no client yet.
            conn.flags |= crate::conn::CoFlags::SEND_PROXY;
            if v == 2 {
                let _ = crate::conn::proxy_hdr::encode_v2(None, None, &[], &mut conn.hdr_out);
            } else {
                crate::conn::proxy_hdr::encode_v1(None, None, &mut conn.hdr_out);
            }
        }
        if let Some(ctx) = &tls {
            match crate::conn::tls::Tls::client(ctx) {
                Ok(t) => conn.xprt = Xprt::Tls(Box::new(t)),
                Err(_) => {
                    self.free_sock(sock);
                    return None;
                }
            }
        }
        let c = self.conns.insert(conn);
        crate::bug_on!(c != ci);
        if tls.is_none() || proto_h2 {
            self.rhttp_install_mux(c);
        }
        self.connect(sock, addr);
        Some(c)
    }

    /// The frontend H2 mux of a reverse connection, holding new streams
    /// until the accept.
    fn rhttp_install_mux(&mut self, c: Id<Conn>) {
        let limits = H2Limits {
            max_concurrent_streams: self.h2_fe_max_concurrent_streams,
            tune: self.h2_fe_tune,
            max_header_list: self.pool.bufsize().saturating_sub(self.maxrewrite),
            glitches_threshold: self.h2_glitches_threshold,
            max_total_streams: self.h2_max_total_streams,
        };
        #[cfg_attr(not(feature = "mutants"), allow(unused_mut))]
        let mut h = Box::new(H2c::new_reverse_active(limits));
        #[cfg(feature = "mutants")]
        if self.opts.mutant == Some(crate::mutants::Mutant::RhttpHeadersBeforeAccept) {
            h.hold_new_streams = false;
        }
        if let Some(conn) = self.conns.get_mut(c) {
            conn.mux = Mux::H2(h);
        }
    }

    /// The TLS handshake of a pending connection is over: the server must
    /// have chosen ALPN `h2` unless `proto h2` said so already.
    pub(crate) fn rhttp_tls_done(&mut self, now: Time, c: Id<Conn>) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        if conn.mux.installed() {
            return self.conn_update_interest(c);
        }
        let h2 = conn.xprt.tls().is_some_and(|t| t.alpn() == Some(b"h2"));
        if !h2 {
            return self.conn_close(now, c, CloseHow::Reset);
        }
        self.rhttp_install_mux(c);
        self.conn_update_interest(c);
    }

    /// After the demux of a pending connection: once the peer's SETTINGS
    /// are acknowledged it is ready, and accepted if the limits allow.
    /// Returns whether it was accepted now (its held streams are then to
    /// be demuxed).
    pub(crate) fn rhttp_check_ready(&mut self, now: Time, c: Id<Conn>) -> bool {
        let Some(conn) = self.conns.get(c) else {
            return false;
        };
        let Some(l) = conn.rhttp else {
            return false;
        };
        let Some(h) = conn.mux.h2() else {
            return false;
        };
        if !h.peer_settings_seen || h.state != crate::mux::h2::H2cState::Frames {
            return false;
        }
        let Some(rx) = self.rhttp_rx(l) else {
            return false;
        };
        if rx.pend_conn != Some(c) || rx.ready {
            return false;
        }
        rx.ready = true;
        self.rhttp_try_accept(now, l) == Some(c)
    }

    /// Accepts the ready pending connection of `l` (`listener_accept` with
    /// `rhttp_accept_conn`) if the listener, frontend and process limits
    /// allow it; returns the connection accepted, whose held streams the
    /// caller demuxes.
    pub(crate) fn rhttp_try_accept(&mut self, now: Time, l: ListenerId) -> Option<Id<Conn>> {
        let li = self.listeners.get(l.0 as usize)?;
        let crate::listener::ListenerKind::Frontend { proxy: fe } = li.kind else {
            return None;
        };
        let rx = li.rhttp.as_ref()?;
        let (Some(c), true) = (rx.pend_conn, rx.ready) else {
            return None;
        };
        let global_full = self.maxconn.is_some_and(|m| self.actconn >= m);
        let fe_full = self.proxies[fe]
            .fe
            .as_ref()
            .is_some_and(|f| f.maxconn.is_some_and(|m| f.feconn >= m));
        if global_full || fe_full || li.nbconn >= rx.nbconn || self.stopping.is_some() {
            return None;
        }
        let rx = self.rhttp_rx(l).expect("reverse listener");
        rx.pend_conn = None;
        rx.ready = false;
        rx.deadline = None;
        if rx.state == PreconnState::Err {
            rx.state = PreconnState::Init;
        }
        self.timers.arm(TimerKey::Rhttp(l), None);
        let conn = &mut self.conns[c];
        conn.rhttp = None;
        // HAProxy swaps the addresses on reversal: the peer (the public
        // node) is the session's source.
        let src = conn.dst;
        conn.src = src;
        conn.dst = None;
        if let Some(sess) = self.frontend_session_new(now, l, fe, c, src, None) {
            // TLS and SETTINGS are behind it.
            self.session_complete(now, sess);
        }
        // Another one while below `nbconn` (a full listener is paused by
        // the accept and resumed when a connection ends).
        let li = &self.listeners[l.0 as usize];
        if li.active && !li.paused && self.stopping.is_none() {
            self.timers.arm(TimerKey::Rhttp(l), Some(now.add_ms(1)));
        }
        Some(c)
    }

    /// A pending connection is gone before its accept
    /// (`rhttp_notify_preconn_err`): a new attempt in [`RETRY_MS`].
    pub(crate) fn rhttp_preconn_freed(&mut self, now: Time, l: ListenerId, c: Id<Conn>) {
        let Some(rx) = self.rhttp_rx(l) else {
            return;
        };
        if rx.pend_conn != Some(c) {
            return;
        }
        rx.pend_conn = None;
        rx.ready = false;
        rx.deadline = None;
        self.rhttp_failed(l);
        if self.stopping.is_none() {
            let at = now.add_ms(self.rhttp_retry_ms());
            self.timers.arm(TimerKey::Rhttp(l), Some(at));
        } else {
            self.timers.arm(TimerKey::Rhttp(l), None);
        }
    }

    /// Soft or hard stop: no more connections; the pending one is closed
    /// (accepted ones say GOAWAY with the other H2 connections).
    pub(crate) fn rhttp_stop(&mut self, now: Time) {
        let pending: Vec<(ListenerId, Option<Id<Conn>>)> = self
            .listeners
            .iter()
            .enumerate()
            .filter_map(|(i, li)| {
                li.rhttp
                    .as_ref()
                    .map(|rx| (ListenerId(i as u32), rx.pend_conn))
            })
            .collect();
        for (l, c) in pending {
            self.timers.arm(TimerKey::Rhttp(l), None);
            if let Some(c) = c {
                self.conn_close(now, c, CloseHow::Reset);
            }
        }
    }
}

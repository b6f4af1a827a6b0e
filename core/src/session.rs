//! Sessions: HAProxy's `struct session` (`session-t.h`).
//!
//! A session is born when a frontend listener accepts a connection. It is
//! *embryonic* while the connection's handshakes run (`accept-proxy`),
//! then complete: `tcp-request session` rules run and the mux creates the
//! stream(s). It carries what lives as long as the client connection: the
//! frontend, the stick counters (`track-sc*`), the accept date.
//!
//! Counters: creating a session adds one to the frontend's `feconn` and
//! `cum_conn` and the process's `actconn`; releasing it subtracts — once,
//! in `Engine::session_free`.

use crate::arena::Id;
use crate::conn::Conn;
use crate::proxy::ProxyId;
use crate::sock::ListenerId;
use crate::stick_table::EntryId;
use crate::stream::Stream;
use crate::time::Time;

/// Number of stick counters (`MAX_SESS_STKCTR`: sc0, sc1, sc2).
pub const MAX_STKCTR: usize = 3;

/// A tracked stick-table entry (`struct stkctr`). The entry is referenced
/// (`acquire`) while tracked so that it cannot be evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StkCtr {
    pub table: crate::stick_table::TableId,
    pub entry: EntryId,
}

/// One client session.
#[derive(Debug)]
pub struct Session {
    /// The frontend proxy.
    pub fe: ProxyId,
    pub listener: ListenerId,
    /// The client connection.
    pub conn: Id<Conn>,
    pub accept_date: Time,
    /// Client and local addresses: the socket's, or those a PROXY header
    /// carried (`sess->src`, `sess->dst`).
    pub src: Option<core::net::SocketAddr>,
    pub dst: Option<core::net::SocketAddr>,
    /// Handshakes are done and the session rules passed.
    pub complete: bool,
    pub stkctr: [Option<StkCtr>; MAX_STKCTR],
    /// The stream (mux_pt: at most one).
    pub stream: Option<Id<Stream>>,
    /// Whether `conn_cur` was counted up for the tracked entries.
    pub conn_cur_counted: bool,
    /// Streams (HTTP requests) this session has carried.
    pub requests: u32,
    /// Private idle server connections it owns (`http-reuse never`).
    pub priv_idle: u32,
    /// Its idle connection to a backend's `dispatch` address or
    /// transparent destination ([`crate::conn::ConnSide::BackProxy`]),
    /// which only its own streams reuse (HAProxy's session `priv_conns`
    /// for a proxy target).
    pub proxy_idle: Option<Id<crate::conn::Conn>>,
    /// The server of its last stream that reached one (HAProxy's session
    /// `srv_list`), for `option prefer-last-server`.
    pub last_srv: Option<crate::backend::server::ServerId>,
    /// `sess.` variables.
    pub vars: crate::vars::Vars,
}

// --------------------------------------------------------------------------
// Accepting, completing and freeing sessions (`session_accept_fd`,
// `session_complete`, `session_free`).

use core::net::SocketAddr;

use crate::conn::{CoFlags, ConnSide, Mux};
use crate::engine::{Engine, TimerKey};
use crate::sock::{CloseHow, SockId};
use crate::stick_table::DataType;

impl Engine {
    /// A client connected to a frontend listener.
    pub(crate) fn frontend_accept(
        &mut self,
        now: Time,
        listener: ListenerId,
        fe: ProxyId,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) -> Option<SockId> {
        let accept_proxy = self.listeners[listener.0 as usize].accept_proxy;
        let tls = self.listeners[listener.0 as usize].tls.clone();
        let ci = self.conns.next_id();
        let sock = self.new_sock(ci);
        let mut conn = Conn::new(
            sock,
            crate::conn::Origin::Accepted(listener),
            ConnSide::Front,
        );
        conn.src = peer;
        conn.dst = local;
        let c = self.conns.insert(conn);
        crate::bug_on!(c != ci);
        let Some(sess) = self.frontend_session_new(now, listener, fe, c, peer, local) else {
            return Some(sock);
        };
        if let Some(ctx) = tls {
            if !self.tls_accept(c, &ctx) {
                self.conn_close(now, c, CloseHow::Reset);
                self.session_free(now, sess);
                return Some(sock);
            }
            if !accept_proxy {
                self.tls_start_front(now, c);
                return Some(sock);
            }
        }
        if accept_proxy {
            self.conns[c].flags |= CoFlags::ACCEPT_PROXY;
            let to = self.proxies[fe]
                .timeouts
                .client_ms
                .map(|t| now.add_ms(u64::from(t).max(1)));
            self.timers.arm(TimerKey::ConnHs(c), to);
            self.conn_update_interest(c);
        } else {
            self.session_complete(now, sess);
        }
        Some(sock)
    }

    /// The session of client connection `c`, accepted on `listener` of
    /// frontend `fe` (`session_new` and the start of `session_accept_fd`):
    /// counted, then the `tcp-request connection` rules run. `None`: they
    /// rejected it (connection and session are gone). A reverse connection
    /// (`rhttp@`) comes here when its listener accepts it, its handshakes
    /// done; its caller goes on to [`Engine::session_complete`] at once.
    pub(crate) fn frontend_session_new(
        &mut self,
        now: Time,
        listener: ListenerId,
        fe: ProxyId,
        c: Id<Conn>,
        src: Option<SocketAddr>,
        dst: Option<SocketAddr>,
    ) -> Option<Id<Session>> {
        let sess = self.sessions.insert(Session {
            fe,
            listener,
            conn: c,
            accept_date: now,
            src,
            dst,
            complete: false,
            stkctr: [None; MAX_STKCTR],
            stream: None,
            conn_cur_counted: false,
            requests: 0,
            priv_idle: 0,
            proxy_idle: None,
            last_srv: None,
            vars: Default::default(),
        });
        self.conns[c].session = Some(sess);
        self.actconn += 1;
        self.cum_conn += 1;
        let l = &mut self.listeners[listener.0 as usize];
        l.nbconn += 1;
        if let Some(f) = self.proxies[fe].fe.as_mut() {
            f.feconn += 1;
            f.max_feconn = f.max_feconn.max(f.feconn);
            f.cum_conn += 1;
            f.conn_rate.hit(now);
        }
        self.listeners_check_limits(fe);
        if !self.tcp_rules_connection(now, sess) {
            if let Some(f) = self.proxies[fe].fe.as_mut() {
                f.denied_conn += 1;
            }
            self.conn_close(now, c, CloseHow::Reset);
            self.session_free(now, sess);
            return None;
        }
        Some(sess)
    }

    /// Handshakes are done: run the session rules, then install the mux
    /// and create the stream.
    pub(crate) fn session_complete(&mut self, now: Time, sess: Id<Session>) {
        let Some(se) = self.sessions.get_mut(sess) else {
            return;
        };
        se.complete = true;
        let (fe, c) = (se.fe, se.conn);
        if !self.tcp_rules_session(now, sess) {
            if let Some(f) = self.proxies[fe].fe.as_mut() {
                f.denied_sess += 1;
            }
            // HAProxy closes a rejected session with a FIN (a rejected
            // connection with a reset).
            self.conn_close(now, c, CloseHow::Graceful);
            self.session_free(now, sess);
            return;
        }
        if let Some(f) = self.proxies[fe].fe.as_mut() {
            f.cum_sess += 1;
            f.sess_rate.hit(now);
        }
        self.stkctr_count_session(now, sess);
        let Some(conn) = self.conns.get_mut(c) else {
            // Its connection is gone already: nothing to carry.
            return self.session_free(now, sess);
        };
        if let Some(h) = conn.mux.h2_mut() {
            // A reverse connection (`rhttp@`) brings its mux: the streams
            // it held until now may come (the caller demuxes them).
            h.hold_new_streams = false;
            return;
        }
        if conn.reverse.is_some() {
            // `attach-srv`: HTTP/2 or nothing; reversed once SETTINGS
            // are exchanged.
            if self.reverse_mux_ok(now, sess, c) {
                self.h2_init(now, c);
            }
            return;
        }
        if self.proxies[fe].mode == crate::cfgparse::Mode::Http && self.h2_wanted(c) {
            // HTTP/2: streams come with the client's requests.
            return self.h2_init(now, c);
        }
        let Some(sid) = self.stream_new(now, sess) else {
            self.conn_close(now, c, CloseHow::Reset);
            self.session_free(now, sess);
            return;
        };
        self.sessions[sess].stream = Some(sid);
        if let Some(conn) = self.conns.get_mut(c) {
            conn.mux = Mux::init_pt(Some(sid));
        }
        self.process_stream(now, sid);
    }

    /// Releases a session: counters down once, tracked entries released,
    /// the client connection closed if still open, paused listeners resumed.
    pub(crate) fn session_free(&mut self, now: Time, sess: Id<Session>) {
        // Its private idle server connections go first (they count on it).
        self.idle_conns_of_session_close(now, sess);
        // The client connection, unless it is lingering already (then it
        // is no longer the session's): closed while the session still
        // names its frontend's timeouts.
        let conn = self.sessions.get(sess).map(|se| se.conn);
        // A connection reversed by `attach-srv` is a server connection
        // now: it outlives the session.
        let open = conn.filter(|&c| {
            self.conns.get(c).is_some_and(|x| {
                x.side == crate::conn::ConnSide::Front
                    && !x.flags.contains(crate::conn::CoFlags::DRAINING)
            })
        });
        if let Some(c) = open {
            self.conn_close(now, c, CloseHow::Graceful);
        }
        let Some(se) = self.sessions.remove(sess) else {
            return;
        };
        self.actconn -= 1;
        self.listeners[se.listener.0 as usize].nbconn -= 1;
        if let Some(f) = self.proxies[se.fe].fe.as_mut() {
            f.feconn -= 1;
        }
        for ctr in se.stkctr.into_iter().flatten() {
            let Some(t) = self.tables.get_mut(ctr.table) else {
                continue;
            };
            if se.conn_cur_counted {
                if let Ok(crate::stick_table::StData::UInt(v)) =
                    t.get(ctr.entry, DataType::CONN_CUR, 0)
                {
                    let v = v.saturating_sub(1);
                    let _ = t.set(
                        ctr.entry,
                        DataType::CONN_CUR,
                        0,
                        crate::stick_table::StData::UInt(v),
                    );
                    t.touch_local(now, ctr.entry);
                }
            }
            t.release(ctr.entry);
        }
        self.listeners_check_limits(se.fe);
    }

    /// Counts `sess_cnt`/`sess_rate` on the entries tracked so far.
    fn stkctr_count_session(&mut self, now: Time, sess: Id<Session>) {
        let Some(se) = self.sessions.get(sess) else {
            return;
        };
        for ctr in se.stkctr.into_iter().flatten() {
            let Some(t) = self.tables.get_mut(ctr.table) else {
                continue;
            };
            bump(t, ctr.entry, DataType::SESS_CNT, 1);
            let _ = t.update_freq(now, ctr.entry, DataType::SESS_RATE, 0, 1);
            t.touch_local(now, ctr.entry);
        }
    }

    /// Counts bytes on tracked entries.
    pub(crate) fn stkctr_bytes(&mut self, sess: Id<Session>, up: bool, n: u64) {
        let now = self.now;
        let Some(se) = self.sessions.get(sess) else {
            return;
        };
        let (cnt, rate) = if up {
            (DataType::BYTES_IN_CNT, DataType::BYTES_IN_RATE)
        } else {
            (DataType::BYTES_OUT_CNT, DataType::BYTES_OUT_RATE)
        };
        for ctr in se.stkctr.into_iter().flatten() {
            let Some(t) = self.tables.get_mut(ctr.table) else {
                continue;
            };
            if let Ok(crate::stick_table::StData::Ull(v)) = t.get(ctr.entry, cnt, 0) {
                let v = v.wrapping_add(n);
                let _ = t.set(ctr.entry, cnt, 0, crate::stick_table::StData::Ull(v));
            }
            let _ = t.update_freq(now, ctr.entry, rate, 0, n.min(u64::from(u32::MAX)) as u32);
            // Byte counts do not renew the entry nor push it by themselves.
            t.seal_untouched();
        }
    }
}

/// Adds `n` to a 32-bit counter of an entry, if the table stores it.
pub(crate) fn bump(t: &mut crate::stick_table::StickTable, e: EntryId, dt: DataType, n: u32) {
    if let Ok(crate::stick_table::StData::UInt(v)) = t.get(e, dt, 0) {
        let v = v.wrapping_add(n);
        let _ = t.set(e, dt, 0, crate::stick_table::StData::UInt(v));
    }
}

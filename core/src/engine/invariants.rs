//! Data-path bookkeeping shared by connections, sessions and streams:
//! invariants checked after every entry point, and the hard stop.
//!
//! The invariants are the accounting ones the issue asks a test to check
//! after drain: every live stream belongs to a live session; a frontend's
//! `feconn` equals its live sessions; a backend's `beconn` equals the
//! streams counted on it; a server's `cur_sess` equals the streams holding
//! one of its slots; buffers handed out by the pool are held by someone.

use crate::backend::server::ServerId;
use crate::conn::{ConnSide, Mux};
use crate::engine::{Engine, TimerKey};
use crate::proxy::ProxyId;
use crate::sock::CloseHow;
use crate::stream::SfFlags;

impl Engine {
    pub(crate) fn datapath_check_invariants(&self) {
        self.pool.check_invariants();
        let mut feconn = vec![0u32; self.proxies.len()];
        for (id, se) in self.sessions.iter() {
            feconn[se.fe.idx()] += 1;
            if let Some(sid) = se.stream {
                assert!(
                    self.streams.contains(sid),
                    "session points at a dead stream"
                );
            }
            if let Some(c) = se.proxy_idle {
                // Its own, to a backend, and idle.
                let c = self
                    .conns
                    .get(c)
                    .expect("session keeps a dead idle connection");
                assert!(
                    matches!(c.side, ConnSide::BackProxy { owner, .. } if owner == id),
                    "a session's idle proxy connection is not its own"
                );
                assert!(
                    c.mux == Mux::init_pt(None),
                    "a session's idle proxy connection carries a stream"
                );
            }
        }
        let mut beconn = vec![0u32; self.proxies.len()];
        let mut srvconn: Vec<Vec<u32>> = self
            .proxies
            .iter()
            .map(|p| vec![0; p.be.as_ref().map_or(0, |b| b.servers.len())])
            .collect();
        let mut priv_idle: std::collections::BTreeMap<_, u32> = Default::default();
        let mut buffers = 0;
        for (_, s) in self.streams.iter() {
            assert!(self.sessions.contains(s.sess), "stream without a session");
            s.req.check_invariants();
            s.res.check_invariants();
            buffers += usize::from(!s.req.buf.is_null()) + usize::from(!s.res.buf.is_null());
            if s.flags.contains(SfFlags::BE_ASSIGNED) {
                beconn[s.be.idx()] += 1;
            }
            if s.flags.contains(SfFlags::CURR_SESS) {
                if let Some(i) = s.srv.or(s.prev_srv) {
                    crate::bug_on!(i.be != s.be, "a stream's server is in another backend");
                    srvconn[i.be.idx()][i.pos()] += 1;
                }
            }
        }
        for (i, li) in self.listeners.iter().enumerate() {
            let Some(rx) = &li.rhttp else { continue };
            if let Some(c) = rx.pend_conn {
                assert_eq!(
                    self.conns.get(c).and_then(|x| x.rhttp),
                    Some(crate::sock::ListenerId(i as u32)),
                    "a reverse listener's pending connection is gone or not its own"
                );
            }
            assert!(
                li.nbconn <= rx.nbconn,
                "a reverse listener above its nbconn"
            );
        }
        let mut lingering = 0;
        // Engine streams carried by H2 server connections: each by one
        // H2 stream at most, of the connection the stream points at.
        let mut h2b_carried = std::collections::BTreeSet::new();
        for (id, c) in self.conns.iter() {
            if c.app.is_some() {
                // Applet connections are checked with their sockets.
                continue;
            }
            if let Some(h) = c.mux.h2b() {
                for sid in h.engine_streams() {
                    assert!(
                        h2b_carried.insert(sid.as_u64()),
                        "a stream attached to two H2 server streams"
                    );
                    let s = self
                        .streams
                        .get(sid)
                        .expect("H2 server stream carries a dead stream");
                    assert_eq!(
                        s.scb.sedesc.conn,
                        Some(id),
                        "H2 server stream of a stream on another connection"
                    );
                }
                // The server may lower its limit below what is attached;
                // our own limit holds.
                assert!(
                    h.nb_streams() <= h.own_limit() as usize,
                    "more H2 server streams than our own limit"
                );
            }
            buffers += usize::from(!c.hs.is_null());
            // The client side is what listeners accepted, and the
            // connections of reverse listeners (`rhttp@`), which Sluice
            // dialed; the server side is what was dialed.
            let reverse = c.rhttp.is_some()
                || c.session
                    .and_then(|s| self.sessions.get(s))
                    .is_some_and(|se| self.listeners[se.listener.0 as usize].rhttp.is_some());
            // ... and the accepted connections `attach-srv` reversed are
            // server connections.
            let reversed = c.reverse.as_ref().is_some_and(|r| r.done);
            assert_eq!(
                matches!(c.origin, crate::conn::Origin::Accepted(_)) && !reversed || reverse,
                c.side == ConnSide::Front,
                "connection origin and side disagree"
            );
            if let Some(r) = &c.reverse {
                if r.done {
                    // Reversed: a connection to its target, no session,
                    // an H2 server mux, never in the idle pool.
                    assert!(
                        c.side == ConnSide::Back { srv: r.srv }
                            && c.session.is_none()
                            && c.mux.h2b().is_some(),
                        "a reversed connection that is not its server's"
                    );
                    #[cfg(not(feature = "mutants"))]
                    assert!(
                        !self.idle_pool_has(r.srv, id),
                        "a reversed connection in the idle pool"
                    );
                } else {
                    // Waiting for the edge's SETTINGS: a client
                    // connection whose mux opens no stream.
                    assert!(
                        c.side == ConnSide::Front
                            && c.mux
                                .h2()
                                .is_none_or(|h| h.hold_new_streams && h.streams.is_empty()),
                        "a connection to reverse carries streams"
                    );
                }
            }
            if let Some(l) = c.rhttp {
                // A pending reverse connection: its listener's only one,
                // without a session, its new streams held.
                let rx = self.listeners[l.0 as usize].rhttp.as_ref();
                assert_eq!(
                    rx.and_then(|rx| rx.pend_conn),
                    Some(id),
                    "a reverse connection its listener does not know"
                );
                assert!(
                    c.session.is_none(),
                    "a reverse connection with a session before its accept"
                );
                #[cfg(not(feature = "mutants"))]
                assert!(
                    c.mux.h2().is_none_or(|h| h.hold_new_streams),
                    "a reverse connection reads requests before its accept"
                );
            }
            if c.flags.contains(crate::conn::CoFlags::DRAINING) {
                lingering += 1;
                assert!(
                    c.session.is_none()
                        && (c.mux == Mux::init_pt(None) || (c.mux == Mux::None && c.xprt.is_tls())),
                    "a lingering connection still attached"
                );
                assert!(
                    self.timers.deadline(TimerKey::ConnDrain(id)).is_some(),
                    "a lingering connection without its deadline"
                );
            }
        }
        assert_eq!(lingering, self.lingering, "lingering count drifted");
        assert_eq!(
            buffers,
            self.pool.in_use(),
            "buffers lost or double-counted"
        );
        for (i, p) in self.proxies.iter().enumerate() {
            if let Some(f) = &p.fe {
                assert_eq!(f.feconn, feconn[i], "feconn of {} drifted", p.name);
            }
            if let Some(b) = &p.be {
                assert_eq!(b.beconn, beconn[i], "beconn of {} drifted", p.name);
                for (j, srv) in b.servers.iter().enumerate() {
                    assert_eq!(
                        srv.cur_sess, srvconn[i][j],
                        "cur_sess of {}/{} drifted",
                        p.name, srv.cfg.name
                    );
                    // With threads, never more connections than the lease.
                    if let Some(l) = &srv.lease {
                        assert!(
                            srv.cur_sess <= l.slots,
                            "{}/{} above its slot lease",
                            p.name,
                            srv.cfg.name
                        );
                    }
                    let id = ServerId::new(ProxyId::new(i), j);
                    self.idle_pool_check(id, &mut priv_idle);
                    self.avail_list_check(id);
                    if srv.deleted {
                        self.deleted_server_check(id);
                    }
                }
                // Server names are unique among the live servers.
                let mut names: Vec<&str> = b
                    .servers
                    .iter()
                    .filter(|s| !s.deleted)
                    .map(|s| s.cfg.name.as_str())
                    .collect();
                names.sort_unstable();
                let n = names.len();
                names.dedup();
                assert_eq!(
                    n,
                    names.len(),
                    "two live servers of {} share a name",
                    p.name
                );
            }
        }
        assert_eq!(
            self.actconn as usize,
            self.sessions.len(),
            "actconn drifted"
        );
        for (id, se) in self.sessions.iter() {
            let n = priv_idle.get(&id.as_u64()).copied().unwrap_or(0);
            assert_eq!(se.priv_idle, n, "private idle count of a session drifted");
        }
    }

    /// A server's idle pool: live idle connections of this server, in
    /// `since` order, the purge timer armed when not empty.
    fn idle_pool_check(&self, srv: ServerId, priv_idle: &mut std::collections::BTreeMap<u64, u32>) {
        let Some(server) = self.server(srv) else {
            return;
        };
        let idle = &server.per_thr.idle;
        let mut last = None;
        for ic in idle {
            let c = self
                .conns
                .get(ic.conn)
                .expect("idle pool holds a dead connection");
            assert_eq!(
                c.side,
                ConnSide::Back { srv },
                "idle connection in the wrong pool"
            );
            assert!(
                c.mux == Mux::init_pt(None) || c.mux.h2b().is_some_and(|h| h.nb_streams() == 0),
                "idle connection attached to a stream"
            );
            assert!(last.is_none_or(|t| t <= ic.since), "idle pool out of order");
            last = Some(ic.since);
            if let Some(o) = ic.owner {
                assert!(
                    self.sessions.contains(o),
                    "private idle connection of a dead session"
                );
                *priv_idle.entry(o.as_u64()).or_default() += 1;
            }
        }
        if !idle.is_empty() {
            assert!(
                self.timers.deadline(TimerKey::IdlePurge(srv)).is_some(),
                "idle pool without a purge timer"
            );
        }
    }

    /// A server's available list (`avail_conns`): live H2 connections of
    /// this server, each there once and not also idle, private ones of
    /// live sessions.
    fn avail_list_check(&self, srv: ServerId) {
        let Some(server) = self.server(srv) else {
            return;
        };
        let avail = &server.per_thr.avail;
        for (i, a) in avail.iter().enumerate() {
            let c = self
                .conns
                .get(a.conn)
                .expect("available list holds a dead connection");
            assert_eq!(
                c.side,
                ConnSide::Back { srv },
                "available connection in the wrong list"
            );
            let h = c.mux.h2b().expect("available connection without an H2 mux");
            assert_eq!(
                h.side.owner, a.owner,
                "available connection's owner drifted"
            );
            // Off in mutant builds: `rhttp-avail-twice` is for the
            // simulator's oracles to catch.
            assert!(
                cfg!(feature = "mutants") || !avail[..i].iter().any(|b| b.conn == a.conn),
                "connection twice in the available list"
            );
            assert!(
                !server.per_thr.idle.iter().any(|ic| ic.conn == a.conn),
                "connection both available and idle"
            );
            if let Some(o) = a.owner {
                assert!(
                    self.sessions.contains(o),
                    "private available connection of a dead session"
                );
            }
        }
    }

    /// A deleted server (`del server`) is a tombstone: in maintenance,
    /// out of the load balancer, holding nothing and designated by
    /// nothing — no stream, queue, idle connection, check nor timer.
    fn deleted_server_check(&self, srv: ServerId) {
        let b = self.backend(srv.be).expect("a backend");
        let s = &b.servers[srv];
        assert!(
            s.admin.is_maint() && !s.usable(),
            "a deleted server is usable"
        );
        assert!(!b.lb.can_pick(srv.pos()), "a deleted server can be picked");
        assert!(
            s.cur_sess == 0
                && s.queue.is_empty()
                && s.per_thr.idle.is_empty()
                && s.per_thr.avail.is_empty(),
            "a deleted server holds connections"
        );
        assert!(
            s.check.as_ref().is_none_or(|c| c.sock.is_none())
                && s.agent.as_ref().is_none_or(|c| c.sock.is_none())
                && s.warmup.is_none(),
            "a deleted server has a check or a warm-up"
        );
        for key in [
            TimerKey::Check(srv),
            TimerKey::Agent(srv),
            TimerKey::Warmup(srv),
            TimerKey::IdlePurge(srv),
        ] {
            assert!(
                self.timers.deadline(key).is_none(),
                "a deleted server has a timer"
            );
        }
        for (_, st) in self.streams.iter() {
            assert!(
                st.srv != Some(srv)
                    && st.prev_srv != Some(srv)
                    && st.direct_srv != Some(srv)
                    && st.pre.as_ref().is_none_or(|p| p.srv != Some(srv)),
                "a stream designates a deleted server"
            );
        }
        for q in &b.queue {
            assert!(
                self.streams.get(*q).is_none_or(|st| st.srv != Some(srv)),
                "a queued stream waits for a deleted server"
            );
        }
    }

    /// Closes every data-path connection at once (SIGTERM).
    pub(crate) fn datapath_hard_stop(&mut self) {
        let now = self.now;
        for sid in self.streams.ids() {
            if let Some(s) = self.streams.get_mut(sid) {
                s.set_term(crate::stream::ErrCode::Killed, s.stage());
            }
            self.back_close(now, sid, CloseHow::Reset);
            self.front_close(now, sid, CloseHow::Reset);
            self.stream_free(now, sid);
        }
        for sess in self.sessions.ids() {
            self.session_free(now, sess);
        }
        for c in self.conns.ids() {
            // Applet connections close with their applets.
            if self.conns.get(c).is_some_and(|x| x.app.is_none()) {
                self.conn_close(now, c, CloseHow::Reset);
            }
        }
        for srv in self.server_ids() {
            self.timers.arm(TimerKey::Check(srv), None);
            self.timers.arm(TimerKey::Agent(srv), None);
            // The idle connections were closed with the others above.
            self.timers.arm(TimerKey::IdlePurge(srv), None);
            self.timers.arm(TimerKey::Warmup(srv), None);
            let Some(server) = self.server_mut(srv) else {
                continue;
            };
            server.per_thr.idle.clear();
            server.per_thr.avail.clear();
            let sock = server.check.as_mut().and_then(|c| c.sock.take());
            let agent_sock = server.agent.as_mut().and_then(|c| c.sock.take());
            for sock in [sock, agent_sock].into_iter().flatten() {
                self.close_sock(sock, CloseHow::Reset);
            }
        }
    }

    /// Live data-path objects: (connections, sessions, streams, buffers in
    /// use); applet connections (stats socket, peers, checks) do not count. All four return to zero once traffic has drained.
    pub fn datapath_counts(&self) -> (usize, usize, usize, usize) {
        (
            self.conns.iter().filter(|(_, c)| c.app.is_none()).count(),
            self.sessions.len(),
            self.streams.len(),
            self.pool.in_use(),
        )
    }
}

//! The peers subsystem inside the engine: HAProxy's peer applet
//! (`peer_io_handler`), its send pass (`peer_send_msgs`), its receive side
//! (`peer_treat_*msg`) and the section's sync task (`process_peer_sync`).
//!
//! Sockets are the engine's; everything here works on the section's state
//! and the engine's stick tables. The receive and send passes are free
//! functions over explicit borrows (`&mut PeersSection`, `&mut [StickTable]`)
//! so that the socket plumbing around them stays in one place.
//!
//! * this module: the session state machine (`peer_io_handler`'s states:
//!   hello, status, established), the engine's entry points for peer
//!   sockets and timers, the session's start and end;
//! * `recv`: receiving and applying messages (`peer_recv_msg`,
//!   `peer_treat_*msg`);
//! * `send`: building and sending messages, teaching (`peer_send_msgs`,
//!   `peer_send_teachmsgs`);
//! * `sync`: the sync task (`process_peer_sync`): reconnects, resync and
//!   learning, the local-peer handover on soft stop.

mod recv;
mod send;
mod sync;

use recv::recv_msgs;
use send::send_msgs;

use core::net::SocketAddr;

use super::section::*;
use super::{ErrorType, HandshakeError, Status, StatusCode, Version};
use crate::conn::{App, Origin};
use crate::engine::{Engine, TimerKey};
use crate::sock::ListenerId;
use crate::sock::{CloseHow, LogLevel, SockError, SockId};
use crate::stick_table::StickTable;
use crate::time::Time;

/// Why a session ends, for the log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// A protocol error: send this error message, then close.
    Error(ErrorType, String),
    /// Close without sending anything.
    Close(String),
}

/// What the receive pass asks of the engine.
#[derive(Debug, Default)]
pub(crate) struct RecvOutcome {
    /// The session must end.
    pub end: Option<EndReason>,
    /// The section's sync task must run (a lesson ended, a teacher failed).
    pub wake_sync: bool,
    /// Input ignored as HAProxy 2.6 ignores it, for the log (once per kind
    /// and session).
    pub ignored: Vec<(IgnoredKinds, String)>,
}

impl RecvOutcome {
    fn ignore(&mut self, kind: IgnoredKinds, what: impl FnOnce() -> String) {
        if !self.ignored.iter().any(|(k, _)| *k == kind) {
            self.ignored.push((kind, what()));
        }
    }
}

/// The name a refused hello claims (line 3, up to its first space), for
/// the log line; `None` before the three lines are in.
fn claimed_name(rx: &[u8], max_line_len: usize) -> Option<String> {
    match super::handshake::HelloLines::parse(rx, max_line_len) {
        Ok(Status::Complete((h, _))) => {
            let name = h.line3.split(|&b| b == b' ').next().unwrap_or_default();
            (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
        }
        _ => None,
    }
}

/// What a refusal status means (PROTOCOL §3.2), for the log line.
fn status_meaning(code: StatusCode) -> &'static str {
    match code {
        StatusCode::TRY_AGAIN => "an old process of ours is already connected, try again",
        StatusCode::PROTOCOL_ERROR => "not a peers protocol hello",
        StatusCode::BAD_VERSION => "unsupported protocol version",
        StatusCode::WRONG_HOST => "the called peer name is not ours",
        StatusCode::UNKNOWN_PEER => "unknown peer name",
        _ => "refused",
    }
}

/// `init_accepted_peer` / `init_connected_peer`: cursors of a new session.
fn init_peer_session(
    flags: &mut PeersFlags,
    peer: &mut Peer,
    tables: &mut [StickTable],
    now: Time,
    role: Role,
) {
    peer.heartbeat = Some(now.add_ms(HEARTBEAT_TIMEOUT_MS));
    for st in &mut peer.tables {
        st.last_get = 0;
        st.last_acked = 0;
        let table = &mut tables[st.table];
        // An acknowledged point "in the future" is too old to trust: push
        // everything again.
        if (table.localupdate().wrapping_sub(st.update) as i32) < 0 {
            st.update = table.localupdate().wrapping_add(1 << 31);
        }
        st.teaching_origin = st.update;
        st.last_pushed = st.update;
        st.flags = ShTableFlags::empty();
        if (st.last_pushed.wrapping_sub(table.commitupdate()) as i32) > 0 {
            table.set_commitupdate(st.last_pushed);
        }
    }
    peer.confirm = 0;
    peer.flags.remove(PeerFlags::TEACH_RESET);
    if peer.local {
        match role {
            // The old process connects to us: it teaches, we learn.
            Role::Acceptor => {
                if flags.from_local() && !flags.contains(PeersFlags::RESYNC_ASSIGN) {
                    peer.flags.insert(PeerFlags::LEARN_ASSIGN);
                    flags.insert(PeersFlags::RESYNC_ASSIGN | PeersFlags::RESYNC_PROCESS);
                }
            }
            // We are the old process: teach the new one, unasked.
            Role::Connector => peer.flags.insert(PeerFlags::TEACH_PROCESS),
        }
    } else if flags.from_remote() && !flags.contains(PeersFlags::RESYNC_ASSIGN) {
        peer.flags.insert(PeerFlags::LEARN_ASSIGN);
        flags.insert(PeersFlags::RESYNC_ASSIGN);
    }
}

// --------------------------------------------------------------------------
// Engine glue: sockets, timers, the sync task

impl Engine {
    /// Adds a peers section. `peers` lists every member with its address
    /// (`local` marks ours); `tables` are engine table indexes. Returns the
    /// section index.
    pub fn add_peers_section(
        &mut self,
        name: &str,
        peers: Vec<(String, SocketAddr, bool)>,
        tables: Vec<crate::stick_table::TableId>,
        bind: Option<crate::sock::ListenAddr>,
        max_body_len: usize,
    ) -> usize {
        let s = self.peers.len();
        let local = peers.iter().position(|p| p.2).unwrap_or(0);
        let members = peers
            .into_iter()
            .map(|(n, a, l)| Peer::new(n, a, l, &tables))
            .collect::<Vec<_>>();
        let listen = bind.or_else(|| {
            members
                .get(local)
                .map(|p| crate::sock::ListenAddr::Tcp(p.addr))
        });
        let mut flags = PeersFlags::empty();
        if !self.opts.has_old_process {
            // A fresh start has no old process to learn from.
            flags.insert(PeersFlags::RESYNC_LOCAL);
        }
        self.peers.push(PeersSection {
            name: name.to_string(),
            local,
            peers: members,
            tables,
            flags,
            resync_timeout: Some(self.now.add_ms(RESYNC_TIMEOUT_MS)),
            listener: None,
            sessions: slab::Slab::new(),
            max_updates_at_once: DEFAULT_MAX_UPDATES_AT_ONCE,
            max_body_len,
            task_calls: 0,
            stop_deadline: None,
            woken: true,
            #[cfg(feature = "mutants")]
            bugs: Bugs(self.opts.mutant),
            #[cfg(not(feature = "mutants"))]
            bugs: Bugs(),
        });
        if let Some(addr) = listen {
            let l = self.add_listener(addr, crate::engine::ListenerKind::Peers { section: s });
            self.peers[s].listener = Some(l);
        }
        s
    }

    /// The peers sections (tests, simulator, `show peers`).
    pub fn peers_sections(&self) -> &[PeersSection] {
        &self.peers
    }

    /// Wakes the sync task of every section sharing table `t`: a local
    /// change is waiting to be pushed (`stktable_touch_local`'s wakeup).
    pub(crate) fn peers_table_changed(&mut self, t: crate::stick_table::TableId) {
        for sect in &mut self.peers {
            if sect.tables.contains(&t) {
                sect.woken = true;
            }
        }
    }

    /// Runs the sync task of every woken section (end of every entry point).
    pub(crate) fn peers_run_woken(&mut self, now: Time) {
        for s in 0..self.peers.len() {
            if self.peers[s].woken {
                self.peers_sync_task(now, s);
            }
        }
    }

    /// A socket (and its applet connection) for session `session` of
    /// section `section`.
    fn peer_new_sock(&mut self, section: usize, session: usize, origin: Origin) -> SockId {
        self.new_app_sock(App::Peer { section, session }, origin)
    }

    pub(crate) fn peers_accept(
        &mut self,
        now: Time,
        listener: ListenerId,
        s: usize,
        from: Option<SocketAddr>,
    ) -> Option<SockId> {
        if self.stopping.is_some() {
            return None;
        }
        let sect = &mut self.peers[s];
        let si = sect.sessions.vacant_key();
        let cap = sect.max_body_len + 16;
        let sock = self.peer_new_sock(s, si, Origin::Accepted(listener));
        let mut sess = PeerSession::new(sock, Role::Acceptor, None, cap);
        sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
        sess.from = from;
        self.peers[s].sessions.insert(sess);
        self.peer_refresh(s, si);
        Some(sock)
    }

    /// `peer_session_create`: a new outgoing session to peer `p`.
    fn peer_session_create(&mut self, now: Time, s: usize, p: usize) {
        let sect = &mut self.peers[s];
        let si = sect.sessions.vacant_key();
        let cap = sect.max_body_len + 16;
        let addr = sect.peers[p].addr;
        let sock = self.peer_new_sock(s, si, Origin::Dialed);
        let mut sess = PeerSession::new(sock, Role::Connector, Some(p), cap);
        sess.deadline = Some(now.add_ms(CONNECT_TIMEOUT_MS));
        let sect = &mut self.peers[s];
        sect.sessions.insert(sess);
        let peer = &mut sect.peers[p];
        peer.session = Some(si);
        peer.status = StatusCode::CONNECTING;
        peer.new_conn += 1;
        self.connect(sock, addr);
        self.peer_refresh(s, si);
    }

    pub(crate) fn peer_connected(&mut self, now: Time, s: usize, si: usize) {
        let local_name = self.peers[s].local_peer().name.clone();
        let pid = self.opts.pid;
        let sect = &mut self.peers[s];
        let Some(sess) = sect.sessions.get_mut(si) else {
            return;
        };
        if sess.state != SessState::Connecting {
            return;
        }
        let Some(p) = sess.peer else { return };
        let peer = &mut sect.peers[p];
        let version = if peer.flags.contains(PeerFlags::DWNGRD) {
            Version::V2_0
        } else {
            Version::V2_1
        };
        sess.version = version;
        super::handshake::encode_hello(
            version,
            peer.name.as_bytes(),
            local_name.as_bytes(),
            pid,
            &mut sess.tx,
        );
        sess.state = SessState::WaitStatus;
        sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
        peer.status = StatusCode::CONNECTED;
        self.peer_refresh(s, si);
    }

    pub(crate) fn peer_connect_failed(&mut self, now: Time, s: usize, si: usize, err: SockError) {
        let sect = &mut self.peers[s];
        let Some(sess) = sect.sessions.get_mut(si) else {
            return;
        };
        let sock = sess.sock;
        // The driver already dropped the socket; a retry gets a new one.
        self.free_sock(sock);
        let sess = &mut self.peers[s].sessions[si];
        if sess.connect_retries_left > 0 && self.stopping.is_none() {
            sess.connect_retries_left -= 1;
            sess.state = SessState::RetryWait;
            sess.deadline = Some(now.add_ms(CONNECT_TIMEOUT_MS));
            self.timers.arm(TimerKey::PeerSession(s, si), sess.deadline);
            return;
        }
        let _ = err;
        self.peer_session_release(now, s, si);
    }

    pub(crate) fn peer_recv_buf(&mut self, s: usize, si: usize) -> &mut [u8] {
        match self.peers[s].sessions.get_mut(si) {
            Some(sess) if !matches!(sess.state, SessState::Closing) => sess.rx.spare_mut(),
            _ => &mut [],
        }
    }

    pub(crate) fn peer_send_buf(&self, s: usize, si: usize) -> &[u8] {
        match self.peers[s].sessions.get(si) {
            Some(sess) if !matches!(sess.state, SessState::Connecting | SessState::RetryWait) => {
                sess.tx_pending()
            }
            _ => &[],
        }
    }

    pub(crate) fn peer_sent(&mut self, now: Time, s: usize, si: usize, n: usize) {
        let Some(sess) = self.peers[s].sessions.get_mut(si) else {
            return;
        };
        sess.sent(n);
        if sess.state == SessState::Closing {
            if sess.tx_pending().is_empty() {
                self.peer_end(now, s, si, CloseHow::Graceful);
            }
            return;
        }
        if sess.state == SessState::Established {
            sess.deadline = (!sess.tx_pending().is_empty()).then(|| now.add_ms(SESSION_TIMEOUT_MS));
            send_msgs(&mut self.peers[s], si, &mut self.tables, now);
        }
        self.peer_refresh(s, si);
    }

    pub(crate) fn peer_recv(&mut self, now: Time, s: usize, si: usize, n: usize) {
        let Some(sess) = self.peers[s].sessions.get_mut(si) else {
            return;
        };
        if n == 0 {
            sess.read0 = true;
        } else {
            sess.rx.commit(n);
        }
        match sess.state {
            SessState::WaitHello => self.peer_getpeer(now, s, si),
            SessState::WaitStatus => self.peer_getstatus(now, s, si),
            SessState::Established => self.peer_established_io(now, s, si),
            _ => {}
        }
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        if sess.read0 {
            // The peer is gone: flush what is pending only if it was a
            // status or an error, otherwise end now.
            if sess.state == SessState::Closing && !sess.tx_pending().is_empty() {
                self.peer_refresh(s, si);
            } else {
                self.peer_end(now, s, si, CloseHow::Graceful);
            }
            return;
        }
        self.peer_refresh(s, si);
    }

    /// Acceptor: validates the hello lines (`PEER_SESS_ST_GETVERSION`,
    /// `GETHOST`, `GETPEER`) and answers the status.
    fn peer_getpeer(&mut self, now: Time, s: usize, si: usize) {
        let sect = &self.peers[s];
        let local_name = sect.local_peer().name.as_bytes();
        let sess = &sect.sessions[si];
        let res =
            super::handshake::accept_hello(sess.rx.data(), sect.max_body_len, local_name, |n| {
                sect.find_peer(n).is_some()
            });
        let (p, version, used) = match res {
            Ok(Status::Partial) => return,
            Ok(Status::Complete((h, used))) => (sect.find_peer(h.sender), h.version, used),
            Err(HandshakeError::LineTooLong) => {
                self.peer_log_end(s, si, "handshake line too long");
                self.peer_end(now, s, si, CloseHow::Graceful);
                return;
            }
            Err(HandshakeError::Rejected(code)) => {
                self.peer_reject(now, s, si, code);
                return;
            }
        };
        let Some(p) = p else {
            return self.peer_reject(now, s, si, StatusCode::UNKNOWN_PEER);
        };
        let sect = &mut self.peers[s];
        if let Some(old) = sect.peers[p].session.filter(|&o| o != si) {
            if sect.peers[p].local {
                // An old process of ours is already teaching: try again later.
                return self.peer_reject(now, s, si, StatusCode::TRY_AGAIN);
            }
            // "Last connected wins": kill the existing session, with a
            // random delay before we connect again so that both ends do
            // not loop connect/accept/close.
            let delay = self.reconnect_backoff();
            let peer = &mut self.peers[s].peers[p];
            peer.reconnect = Some(now.add_ms(delay));
            peer.heartbeat = None;
            peer.coll += 1;
            #[cfg(feature = "mutants")]
            if self.peers[s]
                .bugs
                .has(crate::mutants::Mutant::ShutdownFreshSession)
                && matches!(
                    self.peers[s].sessions[old].state,
                    SessState::Connecting | SessState::RetryWait | SessState::WaitStatus
                )
            {
                // Historic bug: the fresh outgoing session is shut down, but
                // the peer still points at it and the new one is dropped.
                let sock = self.peers[s].sessions[old].sock;
                self.close_sock(sock, CloseHow::Graceful);
                self.peers[s].sessions[old].state = SessState::Closing;
                self.timers.arm(TimerKey::PeerSession(s, old), None);
                return self.peer_end(now, s, si, CloseHow::Graceful);
            }
            self.peer_log_end(s, old, "collision with a newer session");
            self.peer_end(now, s, old, CloseHow::Graceful);
        }
        let sect = &mut self.peers[s];
        // Consumed only now: a refusal above logs the name from the hello.
        sect.sessions[si].rx.consume(used);
        let PeersSection {
            peers,
            sessions,
            flags,
            ..
        } = sect;
        let peer = &mut peers[p];
        peer.flags.set(PeerFlags::DWNGRD, version == Version::V2_0);
        peer.session = Some(si);
        peer.status = StatusCode::SUCCESS;
        peer.last_hdshk = Some(now);
        let sess = &mut sessions[si];
        sess.peer = Some(p);
        sess.version = version;
        sess.state = SessState::Established;
        sess.deadline = None;
        StatusCode::SUCCESS.encode(&mut sess.tx);
        init_peer_session(flags, peer, &mut self.tables, now, Role::Acceptor);
        // A heartbeat right away: the peer knows we are alive.
        peer.flags.insert(PeerFlags::HEARTBEAT);
        self.peers[s].woken = true;
        self.peer_established_io(now, s, si);
    }

    /// Answers a status other than 200, then closes.
    fn peer_reject(&mut self, now: Time, s: usize, si: usize, code: StatusCode) {
        let sect = &mut self.peers[s];
        let sess = &mut sect.sessions[si];
        let claimed = claimed_name(sess.rx.data(), sect.max_body_len);
        let from = sess.from.map_or(String::new(), |a| format!(" from {a}"));
        sess.tx.clear();
        sess.tx_sent = 0;
        code.encode(&mut sess.tx);
        sess.state = SessState::Closing;
        sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
        let text = format!(
            "Peers section '{}': session with peer '{}'{from} ended: handshake refused with status {} ({}).",
            sect.name,
            claimed.as_deref().unwrap_or("<unknown>"),
            code.0,
            status_meaning(code)
        );
        self.log(LogLevel::Notice, text);
        self.timers.arm(
            TimerKey::PeerSession(s, si),
            Some(now.add_ms(SESSION_TIMEOUT_MS)),
        );
    }

    /// Connector: reads the status line (`PEER_SESS_ST_GETSTATUS`).
    fn peer_getstatus(&mut self, now: Time, s: usize, si: usize) {
        let sect = &mut self.peers[s];
        let max = sect.max_body_len;
        let sess = &mut sect.sessions[si];
        let (code, used) = match StatusCode::parse(sess.rx.data(), max) {
            Ok(Status::Complete(x)) => x,
            Ok(Status::Partial) => return,
            Err(_) => {
                self.peer_log_end(s, si, "status line too long");
                return self.peer_end(now, s, si, CloseHow::Graceful);
            }
        };
        sess.rx.consume(used);
        let Some(p) = sess.peer else { return };
        let PeersSection { peers, flags, .. } = sect;
        let peer = &mut peers[p];
        peer.status = code;
        if code != StatusCode::SUCCESS {
            if code == StatusCode::BAD_VERSION {
                peer.flags.insert(PeerFlags::DWNGRD);
            }
            self.peer_log_end(s, si, &format!("peer answered status {}", code.0));
            return self.peer_end(now, s, si, CloseHow::Graceful);
        }
        peer.last_hdshk = Some(now);
        let sess = &mut sect.sessions[si];
        sess.state = SessState::Established;
        sess.deadline = None;
        init_peer_session(flags, peer, &mut self.tables, now, Role::Connector);
        peer.flags.insert(PeerFlags::HEARTBEAT);
        self.peers[s].woken = true;
        self.peer_established_io(now, s, si);
    }

    /// Binary phase: read what came, then say what we have to say.
    fn peer_established_io(&mut self, now: Time, s: usize, si: usize) {
        let stopping = self.stopping.is_some();
        let out = recv_msgs(&mut self.peers[s], si, &mut self.tables, now, stopping);
        self.peer_log_ignored(s, si, &out.ignored);
        if out.wake_sync {
            self.peers[s].woken = true;
        }
        match out.end {
            Some(EndReason::Error(reply, why)) => {
                if let Some(p) = self.peers[s].sessions[si].peer {
                    self.peers[s].peers[p].proto_err += 1;
                }
                self.peer_log_end(s, si, &why);
                let sess = &mut self.peers[s].sessions[si];
                reply.encode(&mut sess.tx);
                sess.state = SessState::Closing;
                sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
                self.peer_detach(now, s, si);
            }
            Some(EndReason::Close(why)) => {
                self.peer_log_end(s, si, &why);
                self.peer_end(now, s, si, CloseHow::Graceful);
            }
            None => {
                let sess = &mut self.peers[s].sessions[si];
                let was_empty = sess.tx_pending().is_empty();
                send_msgs(&mut self.peers[s], si, &mut self.tables, now);
                let sess = &mut self.peers[s].sessions[si];
                if was_empty && !sess.tx_pending().is_empty() {
                    sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
                }
            }
        }
    }

    pub(crate) fn peer_sock_error(&mut self, now: Time, s: usize, si: usize, _err: SockError) {
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        self.free_sock(sess.sock);
        self.peer_log_end(s, si, "connection reset or failed");
        self.peer_session_release(now, s, si);
    }

    pub(crate) fn peer_session_timeout(&mut self, now: Time, s: usize, si: usize) {
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        match sess.state {
            SessState::Connecting => {
                let sock = sess.sock;
                self.close_sock(sock, CloseHow::Reset);
                self.peer_connect_failed(now, s, si, SockError::TimedOut);
            }
            SessState::RetryWait => {
                let Some(p) = sess.peer else { return };
                let addr = self.peers[s].peers[p].addr;
                let sock = self.peer_new_sock(s, si, Origin::Dialed);
                let sess = &mut self.peers[s].sessions[si];
                sess.sock = sock;
                sess.state = SessState::Connecting;
                sess.deadline = Some(now.add_ms(CONNECT_TIMEOUT_MS));
                self.connect(sock, addr);
                self.peer_refresh(s, si);
            }
            SessState::Established if sess.tx_pending().is_empty() => self.peer_refresh(s, si),
            _ => {
                self.peer_log_end(s, si, "session timeout");
                self.peer_end(now, s, si, CloseHow::Reset);
            }
        }
    }

    /// Announces interest and arms the session timer from its state.
    fn peer_refresh(&mut self, s: usize, si: usize) {
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        let connected = !matches!(sess.state, SessState::Connecting | SessState::RetryWait);
        let read =
            connected && sess.state != SessState::Closing && !sess.read0 && sess.rx.room() > 0;
        let write = connected && !sess.tx_pending().is_empty();
        let (sock, deadline) = (sess.sock, sess.deadline);
        self.set_interest(sock, read, write);
        self.timers.arm(
            TimerKey::PeerSession(s, si),
            deadline.map(|d| d.max(self.now.add_ms(1))),
        );
    }

    /// Logs ignored input, once per kind and session.
    fn peer_log_ignored(&mut self, s: usize, si: usize, ignored: &[(IgnoredKinds, String)]) {
        for (kind, text) in ignored {
            let sect = &mut self.peers[s];
            let Some(sess) = sect.sessions.get_mut(si) else {
                return;
            };
            if sess.ignored_logged.contains(*kind) {
                continue;
            }
            sess.ignored_logged.insert(*kind);
            let who = sess
                .peer
                .map_or("<unknown>".to_string(), |p| sect.peers[p].name.clone());
            let line = format!("Peers section '{}': peer '{}': {}.", sect.name, who, text);
            self.log(LogLevel::Notice, line);
        }
    }

    fn peer_log_end(&mut self, s: usize, si: usize, why: &str) {
        let sect = &self.peers[s];
        let Some(sess) = sect.sessions.get(si) else {
            return;
        };
        let who = match sess.peer {
            Some(p) => sect.peers[p].name.clone(),
            None => "<unknown>".into(),
        };
        let text = format!(
            "Peers section '{}': session with peer '{}' ended: {}.",
            sect.name, who, why
        );
        self.log(LogLevel::Notice, text);
    }

    /// Detaches the session from its peer (`peer_session_release`) but
    /// keeps it to flush its last bytes.
    fn peer_detach(&mut self, now: Time, s: usize, si: usize) {
        let sect = &mut self.peers[s];
        let Some(p) = sect.sessions.get(si).and_then(|sess| sess.peer) else {
            return;
        };
        let PeersSection {
            peers,
            flags,
            resync_timeout,
            ..
        } = sect;
        let peer = &mut peers[p];
        if peer.session != Some(si) {
            return;
        }
        peer.session = None;
        if peer.flags.contains(PeerFlags::LEARN_ASSIGN) {
            peer.flags.remove(PeerFlags::LEARN_ASSIGN);
            flags.remove(PeersFlags::RESYNC_ASSIGN | PeersFlags::RESYNC_PROCESS);
            *resync_timeout = Some(now.add_ms(RESYNC_TIMEOUT_MS));
        }
        peer.flags
            .remove(PeerFlags::TEACH_RESET | PeerFlags::LEARN_RESET);
        sect.woken = true;
    }

    /// Ends a session: detaches it and closes its socket.
    fn peer_end(&mut self, now: Time, s: usize, si: usize, how: CloseHow) {
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        let sock = sess.sock;
        self.close_sock(sock, how);
        self.peer_session_release(now, s, si);
    }

    /// Drops a session whose socket is already gone.
    fn peer_session_release(&mut self, now: Time, s: usize, si: usize) {
        self.peer_detach(now, s, si);
        self.timers.arm(TimerKey::PeerSession(s, si), None);
        self.peers[s].sessions.try_remove(si);
    }

    pub(crate) fn peer_close(&mut self, s: usize, si: usize, how: CloseHow) {
        let now = self.now;
        self.peer_end(now, s, si, how);
    }
}

//! The section's sync task: HAProxy's `process_peer_sync` (reconnects,
//! heartbeats, liveness, the resync phases: learning from the local peer
//! then from remote peers, and the local-peer handover when stopping).

use super::*;
use crate::engine::{Engine, TimerKey};
use crate::peers::section::*;
use crate::peers::StatusCode;
use crate::sock::{CloseHow, SockId};
use crate::time::Time;

impl Engine {
    /// 50 ms plus up to 2 s: the delay after we kill a session.
    pub(super) fn reconnect_backoff(&mut self) -> u64 {
        #[cfg(feature = "mutants")]
        if self.opts.mutant == Some(crate::mutants::Mutant::NoReconnectDelay) {
            return 0;
        }
        50 + self.rng.below(2000)
    }

    /// `process_peer_sync`: reconnects, heartbeats, liveness, resync phases.
    pub(crate) fn peers_sync_task(&mut self, now: Time, s: usize) {
        self.peers[s].woken = false;
        self.peers[s].task_calls += 1;
        let expire = if self.stopping.is_none() {
            self.peers_sync_running(now, s)
        } else {
            self.peers_sync_stopping(now, s)
        };
        let expire = expire.map(|t| {
            crate::bug_on!(t <= now, "sync task re-armed in the past");
            t.max(now.add_ms(1))
        });
        self.timers.arm(TimerKey::PeersSync(s), expire);
    }

    fn peers_sync_running(&mut self, now: Time, s: usize) -> Option<Time> {
        let mut expire: Option<Time> = None;
        let sect = &mut self.peers[s];
        if sect.flags.from_local()
            && (!self.opts.has_old_process || Time::is_expired(sect.resync_timeout, now))
            && !sect.flags.contains(PeersFlags::RESYNC_ASSIGN)
        {
            // No old process came to teach us: ask the remote peers.
            sect.flags
                .insert(PeersFlags::RESYNC_LOCAL | PeersFlags::RESYNC_LOCALTIMEOUT);
            sect.resync_timeout = Some(now.add_ms(RESYNC_TIMEOUT_MS));
        }
        for p in 0..self.peers[s].peers.len() {
            if self.peers[s].peers[p].local {
                continue;
            }
            let e = self.peers_sync_peer(now, s, p);
            expire = Time::first(expire, e);
        }
        let sect = &mut self.peers[s];
        if sect.flags.from_remote()
            && !sect.flags.contains(PeersFlags::RESYNC_ASSIGN)
            && Time::is_expired(sect.resync_timeout, now)
        {
            // Nobody taught us in time: consider ourselves synced.
            sect.flags
                .insert(PeersFlags::RESYNC_REMOTE | PeersFlags::RESYNC_REMOTETIMEOUT);
        }
        let sect = &self.peers[s];
        if !sect.flags.synced() {
            #[cfg(feature = "mutants")]
            if sect.bugs.has(crate::mutants::Mutant::ResyncExpiredRearm) {
                // Historic bug: re-armed even when already expired.
                return Time::first(expire, sect.resync_timeout.map(|t| t.max(now)));
            }
            if !Time::is_expired(sect.resync_timeout, now) {
                expire = Time::first(expire, sect.resync_timeout);
            }
        }
        expire
    }

    /// The sync task's work for one remote peer; returns its next deadline.
    fn peers_sync_peer(&mut self, now: Time, s: usize, p: usize) -> Option<Time> {
        let sect = &mut self.peers[s];
        let peer = &sect.peers[p];
        let Some(si) = peer.session else {
            let st = peer.status.0;
            if st == 0
                || ((st == 100 || st == 110 || st == 200) && Time::is_expired(peer.reconnect, now))
            {
                let peer = &mut sect.peers[p];
                peer.reconnect = Some(now.add_ms(RECONNECT_TIMEOUT_MS));
                peer.heartbeat = Some(now.add_ms(HEARTBEAT_TIMEOUT_MS));
                self.peer_session_create(now, s, p);
                return self.peers[s].peers[p].reconnect;
            }
            if !Time::is_expired(peer.reconnect, now) {
                return peer.reconnect;
            }
            return None;
        };
        if peer.status != StatusCode::SUCCESS || sect.sessions[si].state != SessState::Established {
            return None;
        }
        if sect.flags.from_remote()
            && !sect.flags.contains(PeersFlags::RESYNC_ASSIGN)
            && !peer.flags.contains(PeerFlags::LEARN_NOTUP2DATE)
        {
            // Assign this peer as teacher; the send pass asks the lesson.
            sect.peers[p].flags.insert(PeerFlags::LEARN_ASSIGN);
            sect.flags.insert(PeersFlags::RESYNC_ASSIGN);
            self.peer_wake_session(now, s, si);
            return None;
        }
        let tables = &self.tables;
        let to_push = peer
            .tables
            .iter()
            .any(|st| st.last_pushed != tables[st.table].localupdate());
        let peer = &mut sect.peers[p];
        if to_push {
            peer.flags.remove(PeerFlags::HEARTBEAT);
            peer.heartbeat = Some(now.add_ms(HEARTBEAT_TIMEOUT_MS));
            if Time::is_expired(peer.reconnect, now) {
                peer.reconnect = Some(now.add_ms(RECONNECT_TIMEOUT_MS));
            }
            let e = Time::first(peer.reconnect, peer.heartbeat);
            self.peer_wake_session(now, s, si);
            return e;
        }
        if Time::is_expired(peer.reconnect, now) {
            if peer.flags.contains(PeerFlags::ALIVE) {
                peer.flags.remove(PeerFlags::ALIVE);
                peer.reconnect = Some(now.add_ms(RECONNECT_TIMEOUT_MS));
            } else {
                // Nothing heard for a whole period: the peer is dead.
                peer.no_hbt += 1;
                peer.heartbeat = None;
                let delay = self.reconnect_backoff();
                self.peers[s].peers[p].reconnect = Some(now.add_ms(delay));
                self.peer_log_end(s, si, "no message from the peer for too long");
                self.peer_end(now, s, si, CloseHow::Graceful);
                return self.peers[s].peers[p].reconnect;
            }
        } else if Time::is_expired(peer.heartbeat, now) {
            peer.heartbeat = Some(now.add_ms(HEARTBEAT_TIMEOUT_MS));
            peer.flags.insert(PeerFlags::HEARTBEAT);
            let e = Time::first(peer.reconnect, peer.heartbeat);
            self.peer_wake_session(now, s, si);
            return e;
        }
        let peer = &self.peers[s].peers[p];
        Time::first(peer.reconnect, peer.heartbeat)
    }

    /// `appctx_wakeup`: run the send pass of a session now.
    fn peer_wake_session(&mut self, now: Time, s: usize, si: usize) {
        let Some(sess) = self.peers[s].sessions.get_mut(si) else {
            return;
        };
        if sess.state != SessState::Established {
            return;
        }
        let was_empty = sess.tx_pending().is_empty();
        send_msgs(&mut self.peers[s], si, &mut self.tables, now);
        let sess = &mut self.peers[s].sessions[si];
        if was_empty && !sess.tx_pending().is_empty() {
            sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
        }
        self.peer_refresh(s, si);
    }

    /// The sync task while stopping: teach the new process through the
    /// local peer, then let the process exit.
    fn peers_sync_stopping(&mut self, now: Time, s: usize) -> Option<Time> {
        let sect = &mut self.peers[s];
        if !sect.flags.contains(PeersFlags::DONOTSTOP) {
            return None;
        }
        let l = sect.local;
        let local = &sect.peers[l];
        if local.flags.contains(PeerFlags::TEACH_COMPLETE)
            || Time::is_expired(sect.stop_deadline, now)
        {
            sect.flags.remove(PeersFlags::DONOTSTOP);
            return None;
        }
        match local.session {
            None => {
                let st = local.status.0;
                if !matches!(st, 0 | 100 | 110 | 200 | 300) {
                    // Refused for good: exit without teaching.
                    sect.flags.remove(PeersFlags::DONOTSTOP);
                    return None;
                }
                if Time::is_expired(local.reconnect, now) || local.reconnect.is_none() {
                    sect.peers[l].reconnect = Some(now.add_ms(LOCAL_RETRY_MS));
                    self.peer_session_create(now, s, l);
                }
                let sect = &self.peers[s];
                Time::first(sect.peers[l].reconnect, sect.stop_deadline)
            }
            Some(si) => {
                self.peer_wake_session(now, s, si);
                self.peers[s].stop_deadline
            }
        }
    }

    /// Soft stop: close the remote sessions, then teach the new process.
    pub(crate) fn peers_soft_stop(&mut self, now: Time) {
        for s in 0..self.peers.len() {
            for p in 0..self.peers[s].peers.len() {
                if self.peers[s].peers[p].local {
                    continue;
                }
                let delay = self.reconnect_backoff();
                self.peers[s].peers[p].reconnect = Some(now.add_ms(delay));
                if let Some(si) = self.peers[s].peers[p].session {
                    self.peer_end(now, s, si, CloseHow::Graceful);
                }
            }
            let sect = &mut self.peers[s];
            // Only a fully synced process teaches; there must be something to teach.
            if sect.flags.synced() && !sect.tables.is_empty() {
                sect.flags.insert(PeersFlags::DONOTSTOP);
                sect.stop_deadline = Some(now.add_ms(RESYNC_TIMEOUT_MS));
                let l = sect.local;
                sect.peers[l].status = StatusCode(0);
                sect.peers[l].reconnect = None;
            }
            sect.woken = true;
        }
    }

    pub(crate) fn peers_may_exit(&self) -> bool {
        self.peers
            .iter()
            .all(|s| !s.flags.contains(PeersFlags::DONOTSTOP))
    }

    pub(crate) fn peers_hard_stop(&mut self) {
        for s in 0..self.peers.len() {
            let sessions: Vec<usize> = self.peers[s].sessions.iter().map(|(i, _)| i).collect();
            for si in sessions {
                self.peer_close(s, si, CloseHow::Graceful);
            }
            self.peers[s].flags.remove(PeersFlags::DONOTSTOP);
            self.timers.arm(TimerKey::PeersSync(s), None);
        }
    }

    pub(crate) fn peers_check_sock(&self, s: usize, si: usize, sock: SockId) {
        let sess = self
            .peers
            .get(s)
            .and_then(|sect| sect.sessions.get(si))
            .expect("peer session of a live socket");
        assert_eq!(sess.sock, sock, "peer session and socket disagree");
        if let Some(p) = sess.peer {
            let peer = &self.peers[s].peers[p];
            if sess.state == SessState::Established {
                assert!(peer.session == Some(si) || sess.state == SessState::Closing);
            }
        }
    }
}

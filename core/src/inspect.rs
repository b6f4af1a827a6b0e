//! What drivers and the simulator may look at or feed besides the socket
//! contract: a summary of each peer link, and local table updates as a
//! `track-sc` rule makes them.
//!
//! Everything here reads the engine's state or goes through the same
//! entry-point discipline as the other inputs (`now` first, sync tasks run
//! and invariants checked before returning), so a driver that uses it keeps
//! the contract of [`crate::engine`].

use crate::engine::Engine;
use crate::peers::section::SessState;
use crate::stick_table::{EntryId, StKey, StickTable};
use crate::time::Time;

/// Where one local peer entry (a remote member of a peers section) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// A session in the binary phase.
    Established,
    /// An outgoing attempt is under way (TCP connect, retries, status wait).
    Connecting,
    /// No session; the next attempt is allowed at this instant.
    Backoff(Time),
    /// A session the peer points at, in another state (closing...).
    Other(SessState),
    /// No session and no pending attempt.
    Idle,
}

impl Engine {
    /// The state of the link from this process to member `peer` of section
    /// `section`, as seen at `now`.
    pub fn link_state(&self, now: Time, section: usize, peer: usize) -> LinkState {
        let sect = &self.peers_sections()[section];
        let p = &sect.peers[peer];
        match p.session.map(|si| sect.sessions.get(si).map(|s| s.state)) {
            Some(Some(SessState::Established)) => LinkState::Established,
            Some(Some(SessState::Connecting | SessState::RetryWait | SessState::WaitStatus)) => {
                LinkState::Connecting
            }
            Some(Some(st)) => LinkState::Other(st),
            Some(None) => LinkState::Other(SessState::Closing),
            None => match p.reconnect {
                Some(t) if t > now => LinkState::Backoff(t),
                _ => LinkState::Idle,
            },
        }
    }

    /// Whether this process is stopping (soft or hard).
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_some()
    }

    /// A local change to the entry of `key` in table `name`, as a tracking
    /// rule makes it (HAProxy's `stream_inc_*` then `stktable_touch_local`):
    /// the entry is created if missing, `f` changes its data, then it is
    /// touched, its table's expiry moves and the peers sections sharing it
    /// are woken so the change is pushed. Returns `false` when the table
    /// does not exist or the entry cannot be allocated.
    pub fn track_local(
        &mut self,
        now: Time,
        name: &str,
        key: StKey,
        f: impl FnOnce(Time, &mut StickTable, EntryId),
    ) -> bool {
        self.set_now(now);
        let Some(t) = self.tables.iter().position(|t| t.params().id == name) else {
            return false;
        };
        let table = &mut self.tables[t];
        let Some(id) = table.get_or_create(now, key) else {
            self.after_entry();
            return false;
        };
        f(now, table, id);
        table.touch_local(now, id);
        self.table_touched(t);
        self.peers_table_changed(t);
        self.after_entry();
        true
    }
}

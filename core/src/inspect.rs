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
        let Some(t) = self.tables.by_name(name) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfgparse::{parse, ParseOptions};
    use crate::engine::EngineOptions;
    use crate::stick_table::DataType;

    fn engine() -> Engine {
        let text = "peers mesh\n    peer a 127.0.0.1:10000\n    peer b 127.0.0.2:10000\n    table t type integer size 10 expire 1m store gpc0,gpc0_rate(10s)\n";
        let mut o = ParseOptions::new("a");
        o.local_peer = Some("a".into());
        let cfg = parse("t.cfg", text, o).expect("config").config;
        let opts = EngineOptions {
            local_peer: "a".into(),
            ..EngineOptions::default()
        };
        let mut e =
            Engine::from_config(Time::from_ms(1000), &cfg, opts, &|_, _| None).expect("engine");
        while e.poll_action().is_some() {}
        e
    }

    #[test]
    fn track_local_logs_the_change_and_keeps_the_invariants() {
        let mut e = engine();
        let now = Time::from_ms(1001);
        let ok = e.track_local(now, "mesh/t", StKey::integer(7), |now, t, id| {
            t.update_freq(now, id, DataType::GPC0_RATE, 0, 3)
                .expect("stored");
        });
        assert!(ok);
        let t = e.table("mesh/t").expect("table");
        assert_eq!(t.len(), 1);
        assert_eq!(t.localupdate(), 1, "a local change takes an update id");
        let id = t.lookup(&StKey::integer(7)).expect("entry");
        assert_eq!(t.read_value(now, id, DataType::GPC0_RATE, 0), Ok(3));
        assert!(e.next_timeout().is_some_and(|t| t > now));
        assert!(!e.track_local(now, "mesh/nope", StKey::integer(7), |_, _, _| {}));
    }

    #[test]
    fn link_state_follows_the_session() {
        let mut e = engine();
        // The sync task connects to `b` at start.
        e.on_timeout(Time::from_ms(1001));
        let b = e.peers_sections()[0].find_peer(b"b").expect("peer b");
        assert_eq!(
            e.link_state(Time::from_ms(1001), 0, b),
            LinkState::Connecting
        );
        assert!(!e.is_stopping());
    }
}

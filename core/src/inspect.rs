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
        self.after_entry();
        true
    }

    /// Reverse HTTP's public side: the connections reversed to server
    /// `srv` of backend `be` (`attach-srv` done, still open) and the
    /// entries of that server's available list (HAProxy's
    /// `srv->per_thr[].avail_conns`); `None` without such a server.
    pub fn rhttp_server_conns(&self, be: &str, srv: &str) -> Option<(usize, usize)> {
        let id = self.live_server(self.backend_by_name(be)?, srv)?;
        let reversed = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.reverse.as_ref().is_some_and(|r| r.done && r.srv == id)
                    && c.side == crate::conn::ConnSide::Back { srv: id }
            })
            .count();
        Some((reversed, self.server(id)?.per_thr.avail.len()))
    }

    /// Reverse HTTP's edge side: the connections every `bind rhttp@`
    /// listener accepted and holds (its sessions), and the sum of their
    /// `nbconn`.
    /// HTTP/2 streams opened on a connection without a session (a
    /// reverse connection before its accept): refused; the simulator's
    /// `early` oracle wants none.
    pub fn streams_without_session(&self) -> u64 {
        self.h2_streams_without_session
    }

    pub fn rhttp_accepted(&self) -> (u32, u32) {
        self.listeners
            .iter()
            .filter_map(|l| l.rhttp.as_ref().map(|rx| (l.nbconn, rx.nbconn)))
            .fold((0, 0), |(a, b), (x, y)| (a + x, b + y))
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

    /// The table's expiry timer and the peers' sync-task count.
    fn propagation(e: &Engine) -> (Option<Time>, u64) {
        let t = e.tables.by_name("mesh/t").expect("table");
        (
            e.timers.deadline(crate::engine::TimerKey::TableExpire(t)),
            e.peers[0].task_calls,
        )
    }

    /// The single update entry point: whatever path changes an entry (the
    /// inspection API, the CLI, a driver through `table_mut`), the change
    /// re-arms the table's expiry at the entry's expiry and wakes the
    /// peers once, at the end of the entry point.
    #[test]
    fn every_update_path_rearms_expiry_and_wakes_the_peers() {
        let mut e = engine();
        e.on_timeout(Time::from_ms(1001));
        let (timer0, calls0) = propagation(&e);
        assert_eq!(timer0, None, "an empty table arms no expiry");

        // A tracking rule's change.
        let now = Time::from_ms(2000);
        assert!(e.track_local(now, "mesh/t", StKey::integer(7), |_, t, id| {
            t.set(id, DataType::GPC0, 0, crate::stick_table::StData::UInt(1))
                .expect("stored");
        }));
        let (timer1, calls1) = propagation(&e);
        let t = e.table("mesh/t").expect("table");
        let exp7 = t.expire(t.lookup(&StKey::integer(7)).expect("entry"));
        assert_eq!(timer1, exp7, "expiry re-armed at the entry's expiry");
        assert_eq!(calls1, calls0 + 1, "the sync task ran once");

        // `set table` on the CLI, later: a new entry, expiry unchanged
        // (the first entry still expires first), the peers woken.
        let now = Time::from_ms(3000);
        assert_eq!(e.cli_request(now, "set table mesh/t key 8 data.gpc0 5"), "");
        let (timer2, calls2) = propagation(&e);
        assert_eq!(timer2, timer1);
        assert_eq!(calls2, calls1 + 1);
        assert_eq!(e.table("mesh/t").expect("table").localupdate(), 2);

        // `clear table`: the expiry timer follows what is left.
        let now = Time::from_ms(4000);
        assert_eq!(e.cli_request(now, "clear table mesh/t key 7"), "");
        let (timer3, calls3) = propagation(&e);
        let t = e.table("mesh/t").expect("table");
        let exp8 = t.expire(t.lookup(&StKey::integer(8)).expect("entry"));
        assert_eq!(timer3, exp8, "expiry moved to the remaining entry");
        assert_eq!(calls3, calls2, "a removal pushes nothing");

        // A driver's change through `table_mut`, committed by the next
        // entry point like the engine's own.
        let now = Time::from_ms(5000);
        let t = e.table_mut("mesh/t").expect("table");
        let id = t.lookup(&StKey::integer(8)).expect("entry");
        t.set(id, DataType::GPC0, 0, crate::stick_table::StData::UInt(9))
            .expect("stored");
        t.touch_local(now, id);
        e.on_timeout(now);
        let (timer4, calls4) = propagation(&e);
        let t = e.table("mesh/t").expect("table");
        // The expiry queue keeps the entry's earlier slot (requeued when
        // it comes): the timer is armed at the queue's head.
        assert_eq!(timer4, t.next_expiry());
        assert!(timer4 <= t.expire(id));
        assert_eq!(calls4, calls3 + 1);
        e.check_invariants();
    }

    /// A path that writes an entry and forgets to touch it (no expiry
    /// renewal, no push to the peers) is caught by the engine's invariants.
    #[test]
    #[should_panic(expected = "written without touch_local/touch_remote")]
    fn a_write_without_touch_is_caught() {
        let mut e = engine();
        let now = Time::from_ms(2000);
        let t = e.table_mut("mesh/t").expect("table");
        let id = t.get_or_create(now, StKey::integer(7)).expect("entry");
        t.set(id, DataType::GPC0, 0, crate::stick_table::StData::UInt(1))
            .expect("stored");
        e.on_timeout(now);
        e.check_invariants();
    }

    /// A touched table that no entry point committed (its expiry timer and
    /// the peers not told) is caught by the engine's invariants.
    #[test]
    #[should_panic(expected = "changed without tables_commit")]
    fn a_change_without_commit_is_caught() {
        let mut e = engine();
        let now = Time::from_ms(1000);
        let t = e.table_mut("mesh/t").expect("table");
        let id = t.get_or_create(now, StKey::integer(7)).expect("entry");
        t.touch_local(now, id);
        e.check_invariants();
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

//! One stick table per process with `nbthread` above 1 (docs/threads.md,
//! "Stick tables"). HAProxy shares each table between its threads behind
//! locks; Sluice's engines share no memory, so every thread keeps a
//! replica of every table, and the replicas are kept equal by messages
//! the driver carries:
//!
//! * each key has a **home thread** (a hash of the key's bytes modulo the
//!   thread count), the one replica that orders the changes of that key;
//! * a thread applies its own changes at once (its rules see them) and
//!   records them ([`StickTable::take_journal`]): counters as deltas,
//!   frequency counters as event counts, other values as values; after
//!   each entry point it sends them to the key's home ([`TableMsg::Ops`]);
//! * the home replays them on its replica and sends the resulting entry to
//!   every other thread ([`TableMsg::Row`]), the sender included, which
//!   take it as it is; a change made on the home thread is sent the same
//!   way at once.
//!
//! Every change of a key reaches its home, and every thread receives the
//! home's rows in the order the home made them, so after the last message
//! every replica holds the home's entry: the tables are identical. Before
//! that a thread misses the changes still on their way (the slack of a
//! rate limit, docs/threads.md).

use super::table::{EntryId, JOp, JOpKind};
use super::{StData, StKey, TableId};
use crate::engine::{Engine, Shared, SharedKind};
use crate::time::Time;

/// A stick-table message between the engines of one process.
#[derive(Clone, Debug)]
pub(crate) enum TableMsg {
    /// Changes of one entry made on another thread, for the key's home.
    Ops {
        table: TableId,
        key: StKey,
        ops: Vec<JOp>,
        home: u32,
        from: u32,
    },
    /// The entry as the home holds it after a change, for every other
    /// thread.
    Row {
        table: TableId,
        key: StKey,
        row: Box<[StData]>,
        /// A thread that ignores it (only with the mutant
        /// `table-row-skips-sender`).
        skip: Option<u32>,
    },
}

impl TableMsg {
    /// The thread the message is for (`None`: every other thread).
    pub(crate) fn to(&self) -> Option<u32> {
        match self {
            TableMsg::Ops { home, .. } => Some(*home),
            TableMsg::Row { .. } => None,
        }
    }
}

/// The thread that orders the changes of `key` (FNV-1a of its bytes: the
/// same on every thread, unlike the tables' seeded hashers).
pub fn home_thread(key: &StKey, nbthread: u32) -> u32 {
    let h = key
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    (h % u64::from(nbthread.max(1))) as u32
}

/// Adds `op` to the changes of one entry, merged with an earlier change
/// of the same slot when they add up (one message per entry and entry
/// point, whatever the number of requests it counted).
fn push_op(ops: &mut Vec<JOp>, op: JOp) {
    if let Some(prev) = ops.iter_mut().rev().find(|o| o.slot == op.slot) {
        match (&mut prev.kind, &op.kind) {
            (JOpKind::Add(a), JOpKind::Add(b)) => {
                *a = a.wrapping_add(*b);
                return;
            }
            (JOpKind::Freq(a), JOpKind::Freq(b)) => {
                *a = a.saturating_add(*b);
                return;
            }
            (JOpKind::Set(_), JOpKind::Set(_)) => {
                *prev = op;
                return;
            }
            _ => {}
        }
    }
    ops.push(op);
}

impl Engine {
    /// After every entry point with threads and tables: this entry's local
    /// changes go to their keys' homes (or, on the home, out as rows).
    #[inline(never)]
    pub(crate) fn tables_share(&mut self) {
        let (me, n) = (self.opts.thread, self.opts.nbthread);
        for t in self.tables.ids() {
            let journal = self.tables[t].take_journal();
            if journal.is_empty() {
                continue;
            }
            let mut entries: Vec<(EntryId, Vec<JOp>)> = Vec::new();
            for (id, op) in journal {
                let i = match entries.iter().position(|e| e.0 == id) {
                    Some(i) => i,
                    None => {
                        entries.push((id, Vec::new()));
                        entries.len() - 1
                    }
                };
                if let Some(op) = op {
                    push_op(&mut entries[i].1, op);
                }
            }
            for (id, ops) in entries {
                // An entry removed since (purged, cleared) has nothing
                // left to tell.
                let Some(key) = self.tables[t].key(id).cloned() else {
                    continue;
                };
                let home = home_thread(&key, n);
                if home == me {
                    self.table_send_row(t, id, None);
                } else {
                    self.shared_out
                        .push_back(Shared(SharedKind::Table(TableMsg::Ops {
                            table: t,
                            key,
                            ops,
                            home,
                            from: me,
                        })));
                }
            }
        }
    }

    /// Sends entry `id` of table `t` as this (home) thread holds it.
    fn table_send_row(&mut self, t: TableId, id: EntryId, skip: Option<u32>) {
        let table = &self.tables[t];
        let (Some(key), Some(row)) = (table.key(id), table.row(id)) else {
            return;
        };
        let msg = TableMsg::Row {
            table: t,
            key: key.clone(),
            row: row.into(),
            skip,
        };
        self.shared_out.push_back(Shared(SharedKind::Table(msg)));
    }

    /// A message from another thread: the home replays changes and tells
    /// everybody the result; the others take the home's entry.
    pub(crate) fn tables_on(&mut self, now: Time, msg: TableMsg) {
        match msg {
            TableMsg::Ops {
                table,
                key,
                ops,
                from,
                ..
            } => {
                let Some(tb) = self.tables.get_mut(table) else {
                    return;
                };
                // A full `nopurge` table refuses the key here as on the
                // thread that made it (that thread keeps its entry).
                let Some(id) = tb.get_or_create(now, key) else {
                    return;
                };
                tb.unjournaled(|tb| {
                    for op in &ops {
                        let _ = tb.apply_op(now, id, op);
                    }
                    tb.touch_local(now, id);
                });
                #[cfg(feature = "mutants")]
                let skip = (self.opts.mutant == Some(crate::mutants::Mutant::TableRowSkipsSender))
                    .then_some(from);
                #[cfg(not(feature = "mutants"))]
                let skip = {
                    let _ = from;
                    None
                };
                self.table_send_row(table, id, skip);
            }
            TableMsg::Row {
                table,
                key,
                row,
                skip,
            } => {
                if skip == Some(self.opts.thread) {
                    return;
                }
                let Some(tb) = self.tables.get_mut(table) else {
                    return;
                };
                let Some(id) = tb.get_or_create(now, key) else {
                    return;
                };
                tb.unjournaled(|tb| {
                    let _ = tb.set_row(id, &row);
                    tb.touch_local(now, id);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_threads_spread_and_agree() {
        let mut seen = [0u32; 4];
        for i in 0..400u32 {
            let k = StKey::integer(i);
            let h = home_thread(&k, 4);
            assert_eq!(h, home_thread(&k.clone(), 4));
            seen[h as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 50), "{seen:?}");
        assert_eq!(home_thread(&StKey::integer(7), 1), 0);
    }

    #[test]
    fn ops_merge_per_slot() {
        let mut ops = Vec::new();
        for k in [JOpKind::Add(1), JOpKind::Add(-1), JOpKind::Add(1)] {
            push_op(&mut ops, JOp { slot: 0, kind: k });
        }
        push_op(
            &mut ops,
            JOp {
                slot: 1,
                kind: JOpKind::Freq(2),
            },
        );
        push_op(
            &mut ops,
            JOp {
                slot: 1,
                kind: JOpKind::Freq(3),
            },
        );
        assert_eq!(
            ops,
            vec![
                JOp {
                    slot: 0,
                    kind: JOpKind::Add(1)
                },
                JOp {
                    slot: 1,
                    kind: JOpKind::Freq(5)
                }
            ]
        );
    }
}

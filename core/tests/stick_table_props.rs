//! Random operation sequences on a stick table: after every step the slab,
//! key index, expiry index and update log agree (`check_invariants`), the
//! table never exceeds its size, referenced entries never disappear, and a
//! model of the update counter and of reference counts agrees with the table.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sluice_core::stick_table::{
    DataType, EntryId, KeyType, StKey, StickTable, StoreSpec, TableParams,
};
use sluice_core::time::Time;

#[derive(Clone, Debug)]
enum Op {
    Create(u8),
    Acquire(u8),
    Release(u8),
    TouchLocal(u8),
    TouchRemote(u8, Option<u32>),
    Purge(usize),
    Remove(u8),
    Clear,
    Advance(u16),
    Commit(u32),
    Counters(u32),
    Trash(usize),
    Bump(u8, u32),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..24;
    prop_oneof![
        4 => key.clone().prop_map(Op::Create),
        2 => key.clone().prop_map(Op::Acquire),
        2 => key.clone().prop_map(Op::Release),
        3 => key.clone().prop_map(Op::TouchLocal),
        2 => (key.clone(), proptest::option::of(0u32..5000)).prop_map(|(k, e)| Op::TouchRemote(k, e)),
        1 => prop_oneof![0usize..6, Just(usize::MAX)].prop_map(Op::Purge),
        1 => key.clone().prop_map(Op::Remove),
        1 => Just(Op::Clear),
        3 => any::<u16>().prop_map(Op::Advance),
        1 => (0u32..8).prop_map(Op::Commit),
        1 => prop_oneof![Just(u32::MAX - 3), Just((1u32 << 31) - 2), Just(0u32)].prop_map(Op::Counters),
        1 => (0usize..4).prop_map(Op::Trash),
        2 => (key, any::<u32>()).prop_map(|(k, n)| Op::Bump(k, n)),
    ]
}

struct Harness {
    tb: StickTable,
    now: Time,
    /// References this test holds, per key.
    refs: BTreeMap<u8, u32>,
}

impl Harness {
    fn new(size: usize, expire_ms: Option<u32>, synced: bool, nopurge: bool) -> Harness {
        let mut p = TableParams::new("t", KeyType::Integer, size);
        p.expire_ms = expire_ms;
        p.peers = synced.then(|| "mesh".to_string());
        p.nopurge = nopurge;
        p.store = vec![
            StoreSpec::plain(DataType::GPC0),
            StoreSpec::rate(DataType::CONN_RATE, 1000),
        ];
        Harness {
            tb: StickTable::new(p),
            now: Time::from_ms(1_000_000),
            refs: BTreeMap::new(),
        }
    }

    fn id(&self, k: u8) -> Option<EntryId> {
        self.tb.lookup(&StKey::integer(u32::from(k)))
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let (update, local) = (self.tb.update(), self.tb.localupdate());
        match *op {
            Op::Create(k) => {
                let existed = self.id(k);
                let got = self
                    .tb
                    .get_or_create(self.now, StKey::integer(u32::from(k)));
                if existed.is_some() {
                    prop_assert_eq!(got, existed);
                }
            }
            Op::Acquire(k) => {
                if let Some(id) = self.id(k) {
                    prop_assert!(self.tb.acquire(id));
                    *self.refs.entry(k).or_default() += 1;
                }
            }
            Op::Release(k) => {
                let id = self.id(k);
                if let (Some(n), Some(id)) = (self.refs.get_mut(&k), id) {
                    prop_assert!(self.tb.release(id));
                    *n -= 1;
                    if *n == 0 {
                        self.refs.remove(&k);
                    }
                }
            }
            Op::TouchLocal(k) => self.touch_local(k, update)?,
            Op::TouchRemote(k, e) => self.touch_remote(k, e, update, local)?,
            Op::Purge(max) => {
                let entries = |tb: &StickTable| -> Vec<(u8, bool)> {
                    (0u8..24)
                        .filter_map(|k| {
                            let id = tb.lookup(&StKey::integer(u32::from(k)))?;
                            let due = tb.ref_cnt(id) == Some(0)
                                && tb.params().expire_ms.is_some()
                                && tb.expire(id).is_some_and(|e| e <= self.now);
                            Some((k, due))
                        })
                        .collect()
                };
                let before = entries(&self.tb);
                let n = self.tb.purge_expired(self.now, max);
                prop_assert!(n <= max);
                let after: Vec<u8> = entries(&self.tb).iter().map(|&(k, _)| k).collect();
                for (k, due) in before {
                    let gone = !after.contains(&k);
                    // Only expired, unreferenced entries go; all of them
                    // when the purge is not bounded.
                    prop_assert!(!gone || due, "key {} purged before its time", k);
                    prop_assert!(
                        !(due && max == usize::MAX) || gone,
                        "key {} outlived its expiry",
                        k
                    );
                }
            }
            Op::Remove(k) => {
                let removed = self.tb.remove(&StKey::integer(u32::from(k)));
                prop_assert!(!(removed && self.refs.contains_key(&k)));
            }
            Op::Clear => {
                self.tb.clear();
                prop_assert_eq!(self.tb.len(), self.refs.len());
            }
            Op::Advance(ms) => self.now = self.now.add_ms(u64::from(ms)),
            Op::Commit(back) => {
                let c = self.tb.localupdate().wrapping_sub(back);
                self.tb.set_commitupdate(c);
            }
            Op::Counters(v) => {
                self.tb.set_update(v);
                self.tb.set_localupdate(v);
            }
            Op::Trash(n) => {
                prop_assert!(self.tb.trash_oldest(n) <= n);
            }
            Op::Bump(k, n) => {
                if let Some(id) = self.id(k) {
                    let r = self
                        .tb
                        .update_freq(self.now, id, DataType::CONN_RATE, 0, n % 100);
                    prop_assert!(r.is_ok());
                }
            }
        }
        Ok(())
    }

    fn touch_local(&mut self, k: u8, update: u32) -> Result<(), TestCaseError> {
        let Some(id) = self.id(k) else { return Ok(()) };
        let before = self.tb.update_id(id);
        prop_assert!(self.tb.touch_local(self.now, id));
        if !self.tb.is_synced() {
            prop_assert_eq!(self.tb.update_id(id), None);
            return Ok(());
        }
        // Either the id was kept (and no counter moved) or it is the new
        // newest (which may equal the old id after the counters were reset).
        let after = self.tb.update_id(id);
        if self.tb.update() == update {
            prop_assert!(before.is_some());
            prop_assert_eq!(after, before);
        } else {
            prop_assert_eq!(after, Some(update.wrapping_add(1)));
            prop_assert_eq!(self.tb.localupdate(), update.wrapping_add(1));
        }
        Ok(())
    }

    fn touch_remote(
        &mut self,
        k: u8,
        e: Option<u32>,
        update: u32,
        local: u32,
    ) -> Result<(), TestCaseError> {
        let Some(id) = self.id(k) else { return Ok(()) };
        let before = self.tb.update_id(id);
        prop_assert!(self.tb.touch_remote(self.now, id, e));
        prop_assert_eq!(self.tb.localupdate(), local);
        if let Some(ms) = e {
            prop_assert_eq!(self.tb.expire(id), Some(self.now.add_ms(u64::from(ms))));
        }
        if self.tb.is_synced() && before.is_none() {
            let far = update.wrapping_add(1).wrapping_add(1 << 31);
            prop_assert_eq!(self.tb.update_id(id), Some(far));
        } else {
            prop_assert_eq!(self.tb.update_id(id), before);
        }
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        if let Err(e) = self.tb.check_invariants() {
            return Err(TestCaseError::fail(e));
        }
        prop_assert!(self.tb.len() <= self.tb.params().size);
        for (&k, &n) in &self.refs {
            let id = self.id(k);
            prop_assert!(id.is_some(), "referenced key {} vanished", k);
            prop_assert_eq!(self.tb.ref_cnt(id.unwrap()), Some(n));
        }
        if self.tb.params().expire_ms.is_some() {
            // The queue is lazy: its head may be earlier than any real
            // expiry (the purge requeues), never later than the first
            // purgeable entry's, and it is empty only when nothing is.
            let min = self
                .tb
                .iter()
                .filter(|&(_, id)| self.tb.ref_cnt(id) == Some(0))
                .filter_map(|(_, id)| self.tb.expire(id))
                .min();
            let next = self.tb.next_expiry();
            if let Some(min) = min {
                prop_assert!(next.is_some_and(|n| n <= min), "{:?} > {:?}", next, min);
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_operations_keep_the_table_consistent(
        size in 0usize..10,
        expire in proptest::option::of(1u32..3000),
        synced in any::<bool>(),
        nopurge in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let mut h = Harness::new(size, expire, synced, nopurge);
        for op in &ops {
            h.apply(op)?;
            h.check()?;
        }
        // Releasing everything we hold, then clearing, empties the table.
        let held: Vec<(u8, u32)> = h.refs.iter().map(|(&k, &n)| (k, n)).collect();
        for (k, n) in held {
            let id = h.id(k).unwrap();
            for _ in 0..n {
                prop_assert!(h.tb.release(id));
            }
        }
        h.refs.clear();
        h.tb.clear();
        prop_assert!(h.tb.is_empty());
        prop_assert_eq!(h.tb.update_first(), None);
        h.check()?;
    }
}

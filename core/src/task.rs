//! Timers: HAProxy's wait queue (`src/task.c`, `timers` ebtree).
//!
//! Every entity that needs to be woken at some instant arms a timer keyed by
//! a small copyable name (`K`). The engine's `next_timeout` is the head of
//! this queue; `on_timeout(now)` pops everything at or before `now`.
//!
//! Invariant: one deadline per key. Re-arming moves the key; arming `None`
//! (eternity) removes it.

use std::collections::{BTreeMap, BTreeSet};

use crate::time::Time;

/// A queue of deadlines, one per key, ordered by time then key (so two
/// deadlines at the same instant pop in a deterministic order).
#[derive(Debug, Clone)]
pub struct WaitQueue<K: Ord + Copy> {
    by_time: BTreeSet<(Time, K)>,
    by_key: BTreeMap<K, Time>,
}

impl<K: Ord + Copy> Default for WaitQueue<K> {
    fn default() -> Self {
        WaitQueue {
            by_time: BTreeSet::new(),
            by_key: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy> WaitQueue<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `key` at `at`, replacing its previous deadline; `None` disarms it.
    pub fn arm(&mut self, key: K, at: Option<Time>) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
        if let Some(at) = at {
            self.by_key.insert(key, at);
            self.by_time.insert((at, key));
        }
    }

    /// The deadline of `key`, if armed.
    pub fn deadline(&self, key: K) -> Option<Time> {
        self.by_key.get(&key).copied()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Time> {
        self.by_time.first().map(|&(t, _)| t)
    }

    /// Removes and returns one key whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Time) -> Option<K> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rearm_moves_and_pop_is_ordered() {
        let mut q = WaitQueue::new();
        q.arm(1u32, Some(Time::from_ms(10)));
        q.arm(2u32, Some(Time::from_ms(5)));
        q.arm(3u32, Some(Time::from_ms(5)));
        q.arm(1u32, Some(Time::from_ms(4)));
        assert_eq!(q.len(), 3);
        assert_eq!(q.next(), Some(Time::from_ms(4)));
        assert_eq!(q.pop_expired(Time::from_ms(3)), None);
        assert_eq!(q.pop_expired(Time::from_ms(5)), Some(1));
        assert_eq!(q.pop_expired(Time::from_ms(5)), Some(2));
        q.arm(3, None);
        assert_eq!(q.pop_expired(Time::from_ms(100)), None);
        assert!(q.is_empty());
    }
}

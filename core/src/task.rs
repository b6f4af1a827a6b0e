//! Timers: HAProxy's wait queue (`src/task.c`, `timers` ebtree).
//!
//! Every entity that needs to be woken at some instant arms a timer keyed by
//! a small copyable name (`K`). The engine's `next_timeout` is the head of
//! this queue; `on_timeout(now)` pops everything at or before `now`.
//!
//! Invariant: one deadline per key. Re-arming to an earlier instant moves
//! the key; re-arming to a later one only records the new deadline, and the
//! key moves when its old position comes up (HAProxy's `task_queue` leaves
//! a task whose expiry moved later where it is, for the same reason:
//! timeouts are pushed back on every I/O, and most never fire). Keys pop
//! in (deadline, key) order all the same. Arming `None` (eternity) removes
//! the key.

use std::collections::{BTreeMap, BTreeSet};

use crate::time::Time;

/// A queue of deadlines, one per key, ordered by time then key (so two
/// deadlines at the same instant pop in a deterministic order).
#[derive(Debug, Clone)]
pub struct WaitQueue<K: Ord + Copy> {
    /// Positions: at or before each key's deadline.
    by_time: BTreeSet<(Time, K)>,
    /// Each key's deadline and its position in `by_time`.
    by_key: BTreeMap<K, (Time, Time)>,
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
        match (self.by_key.get_mut(&key), at) {
            (Some((deadline, pos)), Some(at)) if *pos <= at => {
                // Later (or same) than where it sits: moved lazily.
                *deadline = at;
            }
            (Some(&mut (_, pos)), at) => {
                self.by_time.remove(&(pos, key));
                match at {
                    Some(at) => {
                        self.by_key.insert(key, (at, at));
                        self.by_time.insert((at, key));
                    }
                    None => {
                        self.by_key.remove(&key);
                    }
                }
            }
            (None, Some(at)) => {
                self.by_key.insert(key, (at, at));
                self.by_time.insert((at, key));
            }
            (None, None) => {}
        }
    }

    /// The deadline of `key`, if armed.
    pub fn deadline(&self, key: K) -> Option<Time> {
        self.by_key.get(&key).map(|&(d, _)| d)
    }

    /// The earliest position: at or before the earliest deadline (a wake-up
    /// there may find only keys to move, and nothing to pop).
    pub fn next(&self) -> Option<Time> {
        self.by_time.first().map(|&(t, _)| t)
    }

    /// Removes and returns one key whose deadline is at or before `now`,
    /// in (deadline, key) order.
    pub fn pop_expired(&mut self, now: Time) -> Option<K> {
        loop {
            let &(pos, key) = self.by_time.first()?;
            if pos > now {
                return None;
            }
            self.by_time.remove(&(pos, key));
            let deadline = self.by_key.get(&key).map_or(pos, |&(d, _)| d);
            if deadline == pos {
                self.by_key.remove(&key);
                return Some(key);
            }
            // Its deadline moved later: move it there.
            self.by_key.insert(key, (deadline, deadline));
            self.by_time.insert((deadline, key));
        }
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

    /// A deadline pushed later stays put until its old position comes up,
    /// then pops at its real deadline, in order with the others.
    #[test]
    fn later_rearm_is_lazy_but_pops_in_deadline_order() {
        let mut q = WaitQueue::new();
        q.arm(1u32, Some(Time::from_ms(5)));
        q.arm(2u32, Some(Time::from_ms(7)));
        q.arm(1u32, Some(Time::from_ms(8)));
        assert_eq!(q.deadline(1), Some(Time::from_ms(8)));
        // The old position is still the head: a wake-up there pops nothing.
        assert_eq!(q.next(), Some(Time::from_ms(5)));
        assert_eq!(q.pop_expired(Time::from_ms(6)), None);
        assert_eq!(q.next(), Some(Time::from_ms(7)));
        assert_eq!(q.pop_expired(Time::from_ms(10)), Some(2));
        assert_eq!(q.pop_expired(Time::from_ms(10)), Some(1));
        assert!(q.is_empty());
        // Earlier re-arms move at once; disarming a lazily moved key works.
        q.arm(3u32, Some(Time::from_ms(20)));
        q.arm(3u32, Some(Time::from_ms(30)));
        q.arm(3u32, Some(Time::from_ms(15)));
        assert_eq!(q.next(), Some(Time::from_ms(15)));
        q.arm(3u32, Some(Time::from_ms(40)));
        q.arm(3u32, None);
        assert!(q.is_empty());
        assert_eq!(q.next(), None);
    }
}

//! The buffer pool and its wait queue: HAProxy's `pool_head_buffer`,
//! `b_alloc` and `buffer_wait` list (`dynbuf.c`).
//!
//! Channels take a buffer when they need one and give it back when it is
//! empty, so idle connections hold no memory. The pool is bounded
//! (`limit` buffers of `bufsize` bytes); whoever cannot get a buffer
//! registers in the wait queue and is woken, in order, when one is given
//! back — a waiter never stalls forever as long as buffers are released.
//!
//! Invariants: `allocated <= limit`; `free.len() <= allocated`; a waiter
//! appears at most once in the queue.

use std::collections::VecDeque;

use crate::buf::Buffer;

/// A bounded pool of equally sized buffers.
#[derive(Debug)]
pub struct Pool<W: PartialEq + Copy> {
    bufsize: usize,
    limit: usize,
    /// Buffers handed out or sitting in `free`.
    allocated: usize,
    free: Vec<Buffer>,
    waiters: VecDeque<W>,
    /// Times a caller had to wait (for `show info`).
    pub failed: u64,
}

impl<W: PartialEq + Copy> Pool<W> {
    /// A pool of at most `limit` buffers of `bufsize` bytes.
    pub fn new(bufsize: usize, limit: usize) -> Self {
        Pool {
            bufsize,
            limit,
            allocated: 0,
            free: Vec::new(),
            waiters: VecDeque::new(),
            failed: 0,
        }
    }

    pub fn bufsize(&self) -> usize {
        self.bufsize
    }

    /// Buffers currently handed out.
    pub fn in_use(&self) -> usize {
        self.allocated - self.free.len()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A buffer, or `None` when the pool is exhausted; then `waiter` is
    /// queued (once) and will be returned by [`Pool::release`].
    pub fn alloc(&mut self, waiter: W) -> Option<Buffer> {
        if let Some(b) = self.free.pop() {
            return Some(b);
        }
        if self.allocated < self.limit {
            self.allocated += 1;
            return Some(Buffer::with_capacity(self.bufsize));
        }
        self.failed += 1;
        if !self.waiters.contains(&waiter) {
            self.waiters.push_back(waiter);
        }
        None
    }

    /// Gives a buffer back; returns the first waiter to wake, if any.
    pub fn release(&mut self, mut b: Buffer) -> Option<W> {
        if b.is_null() {
            return None;
        }
        b.reset();
        crate::bug_on!(b.capacity() != self.bufsize, "foreign buffer released");
        self.free.push(b);
        self.waiters.pop_front()
    }

    /// Forgets a waiter that no longer needs a buffer (it ended).
    pub fn cancel(&mut self, waiter: W) {
        self.waiters.retain(|w| *w != waiter);
    }

    /// Whether someone is waiting for a buffer.
    pub fn has_waiters(&self) -> bool {
        !self.waiters.is_empty()
    }

    /// Number of queued waiters.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    pub fn check_invariants(&self) {
        assert!(self.allocated <= self.limit, "pool over its limit");
        assert!(self.free.len() <= self.allocated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_queues_and_release_wakes_in_order() {
        let mut p: Pool<u32> = Pool::new(16, 2);
        let a = p.alloc(1).unwrap();
        let b = p.alloc(2).unwrap();
        assert!(p.alloc(3).is_none());
        assert!(p.alloc(4).is_none());
        assert!(p.alloc(3).is_none(), "a waiter is queued once");
        assert_eq!(p.waiting(), 2);
        assert_eq!(p.release(a), Some(3));
        let c = p.alloc(3).unwrap();
        assert_eq!(p.in_use(), 2);
        p.cancel(4);
        assert_eq!(p.release(b), None);
        assert_eq!(p.release(c), None);
        assert_eq!(p.in_use(), 0);
        p.check_invariants();
    }
}

//! Process-wide server `maxconn` and queues over the threads of a process:
//! slot leases (docs/threads.md, "Server maxconn: slot leases").
//!
//! HAProxy counts a server's connections in one `served` counter shared by
//! every thread (atomics) and keeps one queue per server, taken by any
//! thread that frees a slot (`queue.c`, `process_srv_queue`). Sluice's
//! engines share no memory, so for a server with `maxconn` and
//! `nbthread` above 1:
//!
//! * thread 0 **owns** the server's `maxconn` slots ([`SlotOwner`]): the
//!   ones leased to no thread (`pool`) and the threads waiting for one
//!   (`wanting`, first come first served);
//! * every thread (thread 0 too) holds a [`Lease`] of slots and never has
//!   more connections to the server than its lease (`dyn_maxconn` is at
//!   most the lease). At start the `maxconn` slots are split evenly.
//!
//! A thread whose lease is used up queues its streams locally, as a full
//! server does, and asks thread 0 for one slot (`Wanted`, at most one
//! request on its way). Thread 0 grants from the pool, or else records
//! the thread and tells every thread that the server is *contended*
//! (`Demand { on: true }`). While contended, a thread keeps no spare
//! slot: it returns every slot it does not use, and every slot it frees,
//! to thread 0 (even when it has waiters of its own: it asks again like
//! the others), which grants them one by one to the waiting threads in
//! the order they asked. When nobody waits any more, thread 0 says so
//! (`Demand { on: false }`) and the threads keep the slots they hold.
//!
//! Exact: a slot is in one place at a time (a lease, the pool or one
//! message), so the process never has more than `maxconn` connections to
//! the server. Fair between threads: under contention a freed slot goes
//! to the thread that has waited longest for one, whichever thread freed
//! it; within a thread, streams keep their queue order.
//!
//! The other threads report their load of each limited server (`Load`:
//! connections and queue lengths) to thread 0 when it changes, at most
//! once per engine entry, so that `show stat` (on thread 0) shows the
//! process's `scur`/`qcur`.

use std::collections::VecDeque;

use crate::backend::server::ServerId;
use crate::engine::{Engine, Shared, SharedKind};

/// What one thread holds of a limited server's `maxconn` slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    /// The slots this thread may use: its `cur_sess` never exceeds them.
    pub slots: u32,
    /// A `Wanted` of this thread is on its way to thread 0 or waits there.
    pub asked: bool,
    /// Some thread waits for a slot of this server: spare and freed slots
    /// go back to thread 0.
    pub contended: bool,
    /// What this thread last told thread 0 of its load: `cur_sess`, the
    /// server's queue, the backend's queue.
    pub reported: (u32, u32, u32),
}

/// Thread 0's side of a limited server: the slots nobody holds, and the
/// threads waiting for one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotOwner {
    pub pool: u32,
    /// Threads that asked for a slot, oldest first, each at most once.
    pub wanting: VecDeque<u32>,
    /// `Demand { on: true }` was told and not taken back.
    pub demand: bool,
    /// Each thread's last reported load (`cur_sess`, server queue,
    /// backend queue); thread 0's own entry stays at zero.
    pub loads: Vec<(u32, u32, u32)>,
}

/// A slot lease message between the engines of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SlotMsg {
    /// Thread `from` has streams waiting and no slot left (to thread 0).
    Wanted { srv: ServerId, from: u32 },
    /// One slot for thread `to` (from thread 0).
    Granted { srv: ServerId, to: u32 },
    /// Slots given back to thread 0.
    Returned { srv: ServerId, n: u32 },
    /// Whether some thread waits for a slot (thread 0 to every thread).
    Demand { srv: ServerId, on: bool },
    /// Thread `from`'s connections to the server and queue lengths (to
    /// thread 0, for `show stat`).
    Load {
        srv: ServerId,
        from: u32,
        cur: u32,
        queue: u32,
        be_queue: u32,
    },
}

impl SlotMsg {
    /// The thread the message is for (`None`: every other thread).
    pub(crate) fn to(&self) -> Option<u32> {
        match self {
            SlotMsg::Wanted { .. } | SlotMsg::Returned { .. } | SlotMsg::Load { .. } => Some(0),
            SlotMsg::Granted { to, .. } => Some(*to),
            SlotMsg::Demand { .. } => None,
        }
    }
}

/// Thread `t`'s share of `maxconn` slots at start: an even split, the
/// remainder to the first threads.
pub fn initial_share(maxconn: u32, nbthread: u32, t: u32) -> u32 {
    let n = nbthread.max(1);
    maxconn / n + u32::from(t < maxconn % n)
}

impl Engine {
    /// Gives every server with `maxconn` its lease (and thread 0 the
    /// ownership of its slots). Only with `nbthread` above 1.
    pub(crate) fn slots_init(&mut self) {
        let (t, n) = (self.opts.thread, self.opts.nbthread);
        if n <= 1 {
            return;
        }
        for (pi, p) in self.proxies.iter_mut().enumerate() {
            let Some(b) = p.be.as_mut() else { continue };
            let be = crate::proxy::ProxyId::new(pi);
            for (i, s) in b.servers.iter_mut().enumerate() {
                let Some(m) = s.cfg.maxconn else { continue };
                s.lease = Some(Lease {
                    slots: initial_share(m, n, t),
                    ..Default::default()
                });
                if t == 0 {
                    s.owner = Some(Box::new(SlotOwner {
                        loads: vec![(0, 0, 0); n as usize],
                        ..Default::default()
                    }));
                }
                self.leased.push(ServerId::new(be, i));
            }
        }
    }

    /// Sends a slot message: to this engine itself when it is addressed
    /// here (thread 0 is both an owner and a holder), to the other
    /// threads otherwise; a `Demand` goes to both.
    fn slot_send(&mut self, msg: SlotMsg) {
        match msg.to() {
            Some(t) if t == self.opts.thread => self.slot_local.push_back(msg),
            Some(_) => self.shared_out.push_back(Shared(SharedKind::Slots(msg))),
            None => {
                self.slot_local.push_back(msg.clone());
                self.shared_out.push_back(Shared(SharedKind::Slots(msg)));
            }
        }
    }

    /// A slot message from another thread, or from this one.
    pub(crate) fn slots_on(&mut self, msg: SlotMsg) {
        if msg.to().is_some_and(|t| t != self.opts.thread) {
            return; // for another thread
        }
        match msg {
            SlotMsg::Wanted { srv, from } => self.slots_owner_wanted(srv, from),
            SlotMsg::Returned { srv, n } => self.slots_owner_returned(srv, n),
            SlotMsg::Load {
                srv,
                from,
                cur,
                queue,
                be_queue,
            } => {
                let Some(s) = self.server_mut(srv) else {
                    return;
                };
                let Some(o) = s.owner.as_mut() else { return };
                if let Some(l) = o.loads.get_mut(from as usize) {
                    *l = (cur, queue, be_queue);
                }
                s.max_sess = s.max_sess.max(s.cur_sess_all());
                s.max_queue = s.max_queue.max(s.queue_all());
            }
            SlotMsg::Granted { srv, .. } => {
                let Some(l) = self.server_mut(srv).and_then(|s| s.lease.as_mut()) else {
                    return;
                };
                l.slots += 1;
                l.asked = false;
                self.process_srv_queue(srv);
            }
            SlotMsg::Demand { srv, on } => {
                let Some(l) = self.server_mut(srv).and_then(|s| s.lease.as_mut()) else {
                    return;
                };
                l.contended = on;
                if on {
                    self.slots_balance(srv);
                }
            }
        }
    }

    /// Thread 0: thread `from` wants a slot.
    fn slots_owner_wanted(&mut self, srv: ServerId, from: u32) {
        let Some(o) = self.server_mut(srv).and_then(|s| s.owner.as_mut()) else {
            return;
        };
        if o.pool > 0 {
            o.pool -= 1;
            return self.slot_send(SlotMsg::Granted { srv, to: from });
        }
        if !o.wanting.contains(&from) {
            o.wanting.push_back(from);
        }
        if !o.demand {
            o.demand = true;
            self.slot_send(SlotMsg::Demand { srv, on: true });
        }
    }

    /// Thread 0: `n` slots came back; the waiting threads get them, oldest
    /// request first.
    fn slots_owner_returned(&mut self, srv: ServerId, n: u32) {
        let Some(o) = self.server_mut(srv).and_then(|s| s.owner.as_mut()) else {
            return;
        };
        o.pool += n;
        let mut grants = Vec::new();
        while o.pool > 0 {
            let Some(t) = o.wanting.pop_front() else {
                break;
            };
            o.pool -= 1;
            grants.push(t);
        }
        let off = o.wanting.is_empty() && o.demand;
        if off {
            o.demand = false;
        }
        for to in grants {
            self.slot_send(SlotMsg::Granted { srv, to });
        }
        if off {
            self.slot_send(SlotMsg::Demand { srv, on: false });
        }
    }

    /// After the slots, connections or queues of a limited server changed
    /// on this thread: asks for a slot when streams wait and the lease is
    /// used up; under contention, gives back every slot not in use.
    pub(crate) fn slots_balance(&mut self, srv: ServerId) {
        let thread = self.opts.thread;
        let Some(b) = self.backend_mut(srv.be) else {
            return;
        };
        let be_waiting = !b.queue.is_empty();
        let load = b.load();
        let Some(s) = b.servers.get_mut(srv.pos()) else {
            return;
        };
        // Streams wait that a slot more would serve: not when the server
        // is unusable, nor full for another reason (a warm-up's limit).
        let waiting = (be_waiting || !s.queue.is_empty())
            && s.usable()
            && s.dyn_maxconn_process(load).is_none_or(|m| s.cur_sess < m);
        let cur = s.cur_sess;
        let Some(l) = s.lease.as_mut() else { return };
        let mut out = Vec::new();
        if l.contended && l.slots > cur {
            let n = l.slots - cur;
            l.slots = cur;
            out.push(SlotMsg::Returned { srv, n });
        }
        if waiting && cur >= l.slots && !l.asked {
            l.asked = true;
            out.push(SlotMsg::Wanted { srv, from: thread });
        }
        for m in out {
            self.slot_send(m);
        }
    }

    /// After every entry point, with limited servers and threads: the
    /// messages this engine sent itself, then this thread's load for
    /// thread 0 where it changed.
    #[inline(never)]
    pub(crate) fn slots_after_entry(&mut self) {
        // Each message moves a slot or a flag once: this ends (the bound
        // is a guard; what is left waits for the next entry).
        for _ in 0..100_000 {
            let Some(m) = self.slot_local.pop_front() else {
                break;
            };
            self.slots_on(m);
        }
        if self.opts.thread == 0 {
            return;
        }
        let from = self.opts.thread;
        let mut loads = Vec::new();
        for i in 0..self.leased.len() {
            let srv = self.leased[i];
            let Some(b) = self.backend_mut(srv.be) else {
                continue;
            };
            let be_queue = b.queue.len() as u32;
            let Some(s) = b.servers.get_mut(srv.pos()) else {
                continue;
            };
            let now = (s.cur_sess, s.queue.len() as u32, be_queue);
            let Some(l) = s.lease.as_mut() else { continue };
            if l.reported != now {
                l.reported = now;
                loads.push(Shared(SharedKind::Slots(SlotMsg::Load {
                    srv,
                    from,
                    cur: now.0,
                    queue: now.1,
                    be_queue: now.2,
                })));
            }
        }
        // Before the slots this entry gave back: thread 0 never counts a
        // connection that is over on this thread together with the one
        // its slot now serves elsewhere (`smax` stays within `maxconn`).
        // A report not carried yet is superseded (the driver may carry
        // the messages of several entries at once).
        if !loads.is_empty() {
            let fresh: Vec<ServerId> = loads
                .iter()
                .filter_map(|m| match &m.0 {
                    SharedKind::Slots(SlotMsg::Load { srv, .. }) => Some(*srv),
                    _ => None,
                })
                .collect();
            self.shared_out.retain(|m| {
                !matches!(&m.0, SharedKind::Slots(SlotMsg::Load { srv, .. }) if fresh.contains(srv))
            });
        }
        for m in loads.into_iter().rev() {
            self.shared_out.push_front(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_shares_add_up_to_maxconn() {
        for m in [0, 1, 2, 3, 10, 11, 1000] {
            for n in 1..=8 {
                let sum: u32 = (0..n).map(|t| initial_share(m, n, t)).sum();
                assert_eq!(sum, m, "maxconn {m} over {n} threads");
            }
        }
        assert_eq!(initial_share(3, 2, 0), 2);
        assert_eq!(initial_share(3, 2, 1), 1);
        assert_eq!(initial_share(1, 2, 1), 0);
    }
}

//! A stick table: HAProxy 2.6's `struct stktable` and its entries (`struct
//! stksess`), from `src/stick_table.c`.
//!
//! # Storage
//!
//! Entries live in a [`Slab`] and are named by generation-checked
//! [`EntryId`]s: a handle to a removed entry is stale and every accessor
//! answers `None` (or an error) for it, even once the slot is reused.
//! Three indexes point into the slab, as HAProxy's three ebtrees do:
//!
//! * `keys` (`t->keys`): key -> entry, unique. A hash table of slab
//!   indexes hashed with a per-table seed (drawn from the engine's seed:
//!   the same run after run in the simulator, unknown to clients in
//!   production, so that chosen keys cannot pile up in one bucket). HAProxy
//!   walks its tree in key order for `show table`; [`StickTable::iter`]
//!   sorts to give the same order;
//! * `exps` (`t->exps`): `(queued expiry, id)`, requeued lazily as HAProxy
//!   does (`stktable_trash_oldest`, `process_table_expire`): a touch only
//!   writes the entry's `expire`; the entry stays queued at its older,
//!   earlier time and is moved when the purge or an eviction reaches it.
//!   A queued time is never later than the entry's `expire`, and every
//!   unreferenced entry is queued. Referenced entries met by a purge or
//!   an eviction leave the queue until released, so neither ever loops on
//!   one. For a table without `expire`, `expire` is the time of the last
//!   touch (HAProxy's `tick_add(now_ms, 0)`), which makes eviction "least
//!   recently touched first";
//! * `updates` (`t->updates`, only when the table is synchronised): update
//!   id -> entry, the log the peers layer pushes from.
//!
//! # Update log (`stktable_touch_with_exp`)
//!
//! ```text
//!  local touch:  id := ++update, localupdate := update
//!                unless the entry is in the log with commitupdate < id < localupdate
//!                (waiting to be pushed and not the newest change): it keeps its id
//!  remote touch: if not in the log: id := ++update + 2^31 ("far away")
//!  ids compare as signed 32-bit differences; an insert whose id is already
//!  taken evicts the previous holder from the log (HAProxy's unique eb32 tree)
//! ```
//!
//! # Entry lifecycle
//!
//! ```text
//!  get_or_create --> [unreferenced] --acquire--> [referenced] --release--+
//!                      |   ^                                             |
//!                      |   +---------------------------------------------+
//!                      +--> removed by purge_expired (expired), eviction
//!                           on a full table, remove/clear (CLI)
//! ```
//!
//! Invariants ([`StickTable::check_invariants`]): the slab, the key index,
//! the expiry index and the update log agree; `len() <= size`; every entry's
//! key fits the table and its data has the table's layout.

use core::fmt::Write as _;
use core::hash::BuildHasher as _;
use std::collections::{BTreeMap, BTreeSet};

use foldhash::quality::FixedState;
use hashbrown::HashTable;

use slab::Slab;

use super::data::{DataError, DataLayout, StData};
use super::data_type::{DataType, StdType};
use super::key::StKey;
use super::params::TableParams;
use crate::freq_ctr::FreqCtr;
use crate::time::Time;

/// A handle to a stick-table entry (HAProxy's `struct stksess *`), checked
/// against the slot's generation so that a stale handle never reaches
/// another entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    index: u32,
    gen: u32,
}

impl EntryId {
    /// A number naming the entry while it lives (what `show table` prints
    /// where HAProxy prints the entry's address).
    pub fn as_u64(self) -> u64 {
        (u64::from(self.gen) << 32) | u64::from(self.index)
    }
}

/// One entry: HAProxy's `struct stksess`.
#[derive(Debug)]
struct StkSess {
    key: StKey,
    gen: u32,
    /// `ref_cnt`: users (tracked sessions, the peers layer, a CLI dump).
    ref_cnt: u32,
    /// `expire`: when the entry expires (last touch for tables without `expire`).
    expire: Time,
    /// `upd.key` while the entry is in the update log (`upd.node.leaf_p`).
    upd: Option<u32>,
    /// `exp.key` while the entry is in the expiry queue (`exp.node.leaf_p`):
    /// never later than `expire`.
    exp: Option<Time>,
    data: Box<[StData]>,
}

/// A stick table (HAProxy's `struct stktable`): entries by key, their
/// expiry, reference counts and, when synchronised, the update log.
///
/// Invariants (see the module documentation and
/// [`check_invariants`](Self::check_invariants)): `len() <= size`; the key
/// index, the expiry index (unreferenced entries only) and the update log
/// (synchronised tables only) describe exactly the entries in the slab.
#[derive(Debug)]
pub struct StickTable {
    params: TableParams,
    layout: DataLayout,
    entries: Slab<StkSess>,
    /// Slab indexes, hashed by key with `hasher`.
    keys: HashTable<u32>,
    hasher: FixedState,
    exps: BTreeSet<(Time, EntryId)>,
    updates: BTreeMap<u32, EntryId>,
    /// `t->update`: the last update id given.
    update: u32,
    /// `t->localupdate`: the last update id given to a local change.
    localupdate: u32,
    /// `t->commitupdate`: up to where every peer was pushed (set by peers).
    commitupdate: u32,
    next_gen: u32,
    /// What changed since the owner last called
    /// [`take_pending`](Self::take_pending): the one place where a change
    /// re-arms expiry and wakes the peers (see [`Pending`]).
    pending: Pending,
    /// Data writes not yet followed by a touch (local or remote).
    unsealed: u32,
    /// With threads: the local changes not yet told to the other threads
    /// (`stick_table/threads.rs`); `None` with one thread.
    journal: Option<Vec<(EntryId, Option<JOp>)>>,
}

/// One local change of an entry's data, as the other threads replay it
/// (`stick_table/threads.rs`): counters travel as deltas so that
/// concurrent increments on several threads add up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JOp {
    /// The data slot (position in the entry's data array).
    pub slot: u16,
    pub kind: JOpKind,
}

/// What a [`JOp`] does to its slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JOpKind {
    /// A counter (`std_t_uint` but `gpt`, `std_t_ull`) moved by this much.
    Add(i64),
    /// A frequency counter counted this many events.
    Freq(u32),
    /// Any other value (`gpt`, `server_id`, `server_key`, a CLI set) was
    /// replaced by this one.
    Set(StData),
}

/// Changes of a table that its owner must propagate, once, after the
/// entries are updated (HAProxy's `stktable_touch_local` wakes the expiry
/// task and the peers' sync task; Sluice records it here and the engine
/// acts on it at the end of each entry point, in one place).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// The expiry queue may have changed: re-arm the table's expiry timer.
    pub expiry: bool,
    /// A local change to push: wake the peers sections sharing the table.
    pub sync: bool,
}

impl Pending {
    /// Nothing to propagate.
    pub fn is_empty(self) -> bool {
        !self.expiry && !self.sync
    }
}

/// Half the update id space: learned entries sit this far from local ones.
const FAR_AWAY: u32 = 1 << 31;

impl StickTable {
    /// An empty table configured by `params`, its key index hashed with a
    /// fixed seed (tests and benchmarks; the engine uses
    /// [`with_hash_seed`](Self::with_hash_seed)).
    pub fn new(params: TableParams) -> StickTable {
        Self::with_hash_seed(params, 0)
    }

    /// An empty table whose key index is hashed with `seed`.
    pub fn with_hash_seed(params: TableParams, seed: u64) -> StickTable {
        let layout = DataLayout::new(&params);
        StickTable {
            params,
            layout,
            entries: Slab::new(),
            keys: HashTable::new(),
            hasher: FixedState::with_seed(seed),
            exps: BTreeSet::new(),
            updates: BTreeMap::new(),
            update: 0,
            localupdate: 0,
            commitupdate: 0,
            next_gen: 0,
            pending: Pending::default(),
            unsealed: 0,
            journal: None,
        }
    }

    /// Records local changes for the other threads from now on
    /// ([`take_journal`](Self::take_journal)).
    pub fn enable_journal(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// The local changes recorded since the last call, in order: `(entry,
    /// None)` for a touch, `(entry, Some(op))` for a data change. Empty
    /// without a journal.
    pub fn take_journal(&mut self) -> Vec<(EntryId, Option<JOp>)> {
        match self.journal.as_mut() {
            Some(j) => core::mem::take(j),
            None => Vec::new(),
        }
    }

    /// Stops recording while `f` runs (changes learned from another
    /// thread are not told back).
    pub fn unjournaled<R>(&mut self, f: impl FnOnce(&mut StickTable) -> R) -> R {
        let j = self.journal.take();
        let r = f(self);
        self.journal = j;
        r
    }

    /// The entry's data slots, in layout order.
    pub fn row(&self, id: EntryId) -> Option<&[StData]> {
        self.sess(id).map(|e| &e.data[..])
    }

    /// Replaces the entry's data slots by `row` (same layout: every
    /// value of its slot's storage type); not journaled, does not touch.
    pub fn set_row(&mut self, id: EntryId, row: &[StData]) -> Result<(), DataError> {
        let e = self.sess_mut(id).ok_or(DataError::NoEntry)?;
        if e.data.len() != row.len()
            || e.data
                .iter()
                .zip(row)
                .any(|(a, b)| a.std_type() != b.std_type())
        {
            return Err(DataError::WrongType);
        }
        e.data.clone_from_slice(row);
        self.unsealed = self.unsealed.saturating_add(1);
        Ok(())
    }

    /// Replays a change learned from another thread on slot `op.slot`
    /// (not journaled, does not touch).
    pub fn apply_op(&mut self, now: Time, id: EntryId, op: &JOp) -> Result<(), DataError> {
        let i = usize::from(op.slot);
        let period = self.layout.period_of_slot(i).ok_or(DataError::NotStored)?;
        let e = self.sess_mut(id).ok_or(DataError::NoEntry)?;
        let slot = e.data.get_mut(i).ok_or(DataError::NotStored)?;
        match (&op.kind, slot) {
            (JOpKind::Add(d), StData::UInt(v)) => {
                *v = if *d < 0 {
                    v.saturating_sub(d.unsigned_abs().min(u64::from(u32::MAX)) as u32)
                } else {
                    v.wrapping_add(*d as u32)
                };
            }
            (JOpKind::Add(d), StData::Ull(v)) => *v = v.wrapping_add(*d as u64),
            (JOpKind::Freq(n), StData::Freq(f)) => {
                f.update(now.tick(), period, *n);
            }
            (JOpKind::Set(new), slot) if new.std_type() == slot.std_type() => {
                *slot = new.clone();
            }
            _ => return Err(DataError::WrongType),
        }
        self.unsealed = self.unsealed.saturating_add(1);
        Ok(())
    }

    /// The table's configuration.
    pub fn params(&self) -> &TableParams {
        &self.params
    }

    /// Where each stored data type lives in an entry.
    pub fn layout(&self) -> &DataLayout {
        &self.layout
    }

    /// Number of entries (HAProxy's `t->current`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether changes are logged for peers (`t->sync_task` is set).
    pub fn is_synced(&self) -> bool {
        self.params.peers.is_some()
    }

    fn sess(&self, id: EntryId) -> Option<&StkSess> {
        self.entries
            .get(id.index as usize)
            .filter(|e| e.gen == id.gen)
    }

    fn sess_mut(&mut self, id: EntryId) -> Option<&mut StkSess> {
        self.entries
            .get_mut(id.index as usize)
            .filter(|e| e.gen == id.gen)
    }

    /// Whether `id` names a live entry.
    pub fn contains(&self, id: EntryId) -> bool {
        self.sess(id).is_some()
    }

    /// The entry with this key (`__stktable_lookup_key`).
    pub fn lookup(&self, key: &StKey) -> Option<EntryId> {
        let hash = self.hasher.hash_one(key);
        let entries = &self.entries;
        let &index = self.keys.find(hash, |&i| entries[i as usize].key == *key)?;
        Some(EntryId {
            index,
            gen: entries[index as usize].gen,
        })
    }

    /// The entry's key.
    pub fn key(&self, id: EntryId) -> Option<&StKey> {
        self.sess(id).map(|e| &e.key)
    }

    /// The entry's reference count (`ref_cnt`).
    pub fn ref_cnt(&self, id: EntryId) -> Option<u32> {
        self.sess(id).map(|e| e.ref_cnt)
    }

    /// The entry's expiry (`ts->expire`; the last touch for a table
    /// without `expire`).
    pub fn expire(&self, id: EntryId) -> Option<Time> {
        self.sess(id).map(|e| e.expire)
    }

    /// The entry's update id, while it is in the update log.
    pub fn update_id(&self, id: EntryId) -> Option<u32> {
        self.sess(id).and_then(|e| e.upd)
    }

    /// Entries in key order (sorted on each call: for dumps, not for the
    /// data path).
    pub fn iter(&self) -> impl Iterator<Item = (&StKey, EntryId)> + '_ {
        let mut all: Vec<(&StKey, EntryId)> = self
            .entries
            .iter()
            .map(|(index, e)| {
                let id = EntryId {
                    index: index as u32,
                    gen: e.gen,
                };
                (&e.key, id)
            })
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    /// The entry with `key`, created if missing (`__stktable_get_entry`).
    ///
    /// A new entry has zeroed data, no reference, expires `expire` after
    /// `now` (or is stamped `now` without `expire`) and is not in the update
    /// log until touched. When the table is full, the oldest unreferenced
    /// entries are evicted first (`(size >> 8) + 1` of them); `None` when
    /// that is impossible (`nopurge`, or every entry referenced), or when
    /// the key does not belong to this table.
    pub fn get_or_create(&mut self, now: Time, key: StKey) -> Option<EntryId> {
        if let Some(id) = self.lookup(&key) {
            return Some(id);
        }
        if !key.fits(&self.params) {
            return None;
        }
        if self.entries.len() >= self.params.size && !self.make_room() {
            return None;
        }
        let id = self.insert_new(now, key);
        self.debug_check();
        Some(id)
    }

    /// `__stksess_new`'s purge: evicts a batch when the table is full.
    fn make_room(&mut self) -> bool {
        if self.params.nopurge {
            return false;
        }
        self.trash_oldest((self.params.size >> 8) + 1) > 0
    }

    fn insert_new(&mut self, now: Time, key: StKey) -> EntryId {
        let gen = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1);
        let expire = self.local_expiry(now);
        let hash = self.hasher.hash_one(&key);
        let index = self.entries.insert(StkSess {
            key,
            gen,
            ref_cnt: 0,
            expire,
            upd: None,
            exp: Some(expire),
            data: self.layout.zeroed(),
        });
        let id = EntryId {
            index: index as u32,
            gen,
        };
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.keys.insert_unique(hash, index as u32, |&i| {
            hasher.hash_one(&entries[i as usize].key)
        });
        self.exps.insert((expire, id));
        id
    }

    /// `stktable_trash_oldest`: removes up to `batch` unreferenced entries,
    /// earliest expiry first, expired or not. Returns how many went.
    pub fn trash_oldest(&mut self, batch: usize) -> usize {
        let mut done = 0;
        while done < batch {
            let Some((_, id)) = self.exps.pop_first() else {
                break;
            };
            if self.requeued(id) {
                continue;
            }
            self.unlink(id);
            done += 1;
        }
        done
    }

    /// An entry just taken off the expiry queue: queued again at its real
    /// `expire` when that is later than where it was, left out while
    /// referenced (`release` queues it). `false`: it was due there, and
    /// is out of the queue.
    fn requeued(&mut self, id: EntryId) -> bool {
        let Some(e) = self.sess_mut(id) else {
            return true;
        };
        let queued = e.exp.take();
        if e.ref_cnt > 0 {
            return true;
        }
        if queued.is_some_and(|q| q < e.expire) {
            e.exp = Some(e.expire);
            let expire = e.expire;
            self.exps.insert((expire, id));
            return true;
        }
        false
    }

    /// The expiry a local touch gives: `now + expire`, or `now` without one.
    fn local_expiry(&self, now: Time) -> Time {
        now.add_ms(u64::from(self.params.expire_ms.unwrap_or(0)))
    }

    /// A new expiry: the queue only moves when the entry must come out
    /// earlier than where it is queued (or is not queued and may be
    /// purged); a later expiry is found when the queue reaches it.
    fn set_expire(&mut self, id: EntryId, expire: Time) {
        let Some(e) = self.sess_mut(id) else { return };
        e.expire = expire;
        match e.exp {
            Some(q) if q <= expire => {}
            Some(q) => {
                e.exp = Some(expire);
                self.exps.remove(&(q, id));
                self.exps.insert((expire, id));
            }
            None if e.ref_cnt == 0 => {
                e.exp = Some(expire);
                self.exps.insert((expire, id));
            }
            None => {}
        }
    }

    /// Removes an entry from every index and the slab, whatever its count.
    fn unlink(&mut self, id: EntryId) {
        let Some(e) = self.sess(id) else { return };
        let (exp, upd) = (e.exp, e.upd);
        let hash = self.hasher.hash_one(&e.key);
        if let Ok(slot) = self.keys.find_entry(hash, |&i| i == id.index) {
            slot.remove();
        }
        self.entries.remove(id.index as usize);
        if let Some(q) = exp {
            self.exps.remove(&(q, id));
        }
        if let Some(k) = upd {
            self.updates.remove(&k);
        }
    }
}

/// Reference counting (`ref_cnt`).
impl StickTable {
    /// Takes a reference: the entry cannot be evicted, purged or cleared
    /// until released. `false` for a stale handle.
    pub fn acquire(&mut self, id: EntryId) -> bool {
        let Some(e) = self.sess_mut(id) else {
            return false;
        };
        let Some(n) = e.ref_cnt.checked_add(1) else {
            return false;
        };
        e.ref_cnt = n;
        self.debug_check();
        true
    }

    /// Drops a reference taken by [`acquire`](Self::acquire). Releasing an
    /// unreferenced entry is a caller bug (`false`, and a `bug_on!`).
    pub fn release(&mut self, id: EntryId) -> bool {
        // The entry may enter the expiry queue; the sync task is woken too,
        // as Sluice always did when a session let go of its entries.
        self.pending = Pending {
            expiry: true,
            sync: true,
        };
        let Some(e) = self.sess_mut(id) else {
            return false;
        };
        if e.ref_cnt == 0 {
            crate::bug_on!(true, "release of an unreferenced entry");
            return false;
        }
        e.ref_cnt -= 1;
        if e.ref_cnt == 0 && e.exp.is_none() {
            let expire = e.expire;
            e.exp = Some(expire);
            self.exps.insert((expire, id));
        }
        self.debug_check();
        true
    }
}

/// Touching entries and the update log (`stktable_touch_with_exp`).
impl StickTable {
    /// `stktable_touch_local`: the entry was changed here. Its expiry is
    /// renewed and, when the table is synchronised, it gets a new update id
    /// (see the module documentation for when it keeps its id).
    pub fn touch_local(&mut self, now: Time, id: EntryId) -> bool {
        self.pending = Pending {
            expiry: true,
            sync: true,
        };
        self.unsealed = 0;
        if !self.contains(id) {
            return false;
        }
        if let Some(j) = self.journal.as_mut() {
            j.push((id, None));
        }
        self.set_expire(id, self.local_expiry(now));
        if self.is_synced() && !self.keeps_local_id(id) {
            self.update = self.update.wrapping_add(1);
            self.localupdate = self.update;
            self.log_insert(id, self.update);
        }
        self.debug_check();
        true
    }

    /// In the log, after `commitupdate` (not yet pushed to every peer) and
    /// before `localupdate` (not the newest local change).
    fn keeps_local_id(&self, id: EntryId) -> bool {
        let Some(k) = self.update_id(id) else {
            return false;
        };
        (self.commitupdate.wrapping_sub(k) as i32) < 0
            && (k.wrapping_sub(self.localupdate) as i32) < 0
    }

    /// `stktable_touch_remote` after a peer update: the entry expires
    /// `expire_ms` from now (a timed update's remaining lifetime, used as
    /// is like 2.6 does) or after the table's own `expire`; when the table
    /// is synchronised and the entry is not in the log yet, it enters it
    /// with id `++update + 2^31`. `localupdate` never moves.
    pub fn touch_remote(&mut self, now: Time, id: EntryId, expire_ms: Option<u32>) -> bool {
        self.pending.expiry = true;
        self.unsealed = 0;
        if !self.contains(id) {
            return false;
        }
        let life = expire_ms.or(self.params.expire_ms).unwrap_or(0);
        self.set_expire(id, now.add_ms(u64::from(life)));
        if self.is_synced() && self.update_id(id).is_none() {
            self.update = self.update.wrapping_add(1);
            self.log_insert(id, self.update.wrapping_add(FAR_AWAY));
        }
        self.debug_check();
        true
    }

    /// Moves `id` to update id `k`; whoever held `k` leaves the log
    /// (HAProxy's unique tree: `eb32_insert` found a duplicate, it is
    /// deleted and ours inserted).
    fn log_insert(&mut self, id: EntryId, k: u32) {
        if let Some(old) = self.update_id(id) {
            self.updates.remove(&old);
        }
        if let Some(prev) = self.updates.insert(k, id) {
            if prev != id {
                if let Some(p) = self.sess_mut(prev) {
                    p.upd = None;
                }
            }
        }
        if let Some(e) = self.sess_mut(id) {
            e.upd = Some(k);
        }
    }

    /// `eb32_lookup_ge(&t->updates, key)`: the first logged entry whose
    /// update id is `>= key` (unsigned order, no wrap: the caller wraps to
    /// [`update_first`](Self::update_first) like peers.c does).
    pub fn update_lookup_ge(&self, key: u32) -> Option<(u32, EntryId)> {
        self.updates.range(key..).next().map(|(&k, &id)| (k, id))
    }

    /// `eb32_first(&t->updates)`.
    pub fn update_first(&self) -> Option<(u32, EntryId)> {
        self.updates.first_key_value().map(|(&k, &id)| (k, id))
    }

    /// Number of entries in the update log.
    pub fn update_log_len(&self) -> usize {
        self.updates.len()
    }

    /// `t->update`: the last update id given.
    pub fn update(&self) -> u32 {
        self.update
    }

    /// `t->localupdate`: the last update id given to a local change.
    pub fn localupdate(&self) -> u32 {
        self.localupdate
    }

    /// `t->commitupdate`.
    pub fn commitupdate(&self) -> u32 {
        self.commitupdate
    }

    /// Set by the peers layer: every peer was pushed up to `id`.
    pub fn set_commitupdate(&mut self, id: u32) {
        self.commitupdate = id;
    }

    /// Sets `t->update` (state carried over a reload, and tests).
    pub fn set_update(&mut self, id: u32) {
        self.update = id;
    }

    /// Sets `t->localupdate` (state carried over a reload, and tests).
    pub fn set_localupdate(&mut self, id: u32) {
        self.localupdate = id;
    }
}

/// Propagation of changes (the table's side of the engine's single update
/// entry point).
impl StickTable {
    /// Takes what changed since the last call: the engine re-arms the
    /// table's expiry timer and wakes the peers from it, in one place
    /// (`Engine::tables_commit`), so that no path that updates an entry
    /// can forget either.
    pub fn take_pending(&mut self) -> Pending {
        core::mem::take(&mut self.pending)
    }

    /// Whether changes wait for [`take_pending`](Self::take_pending).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Data writes ([`set`](Self::set), [`update_freq`](Self::update_freq),
    /// ...) not followed by [`touch_local`](Self::touch_local) or
    /// [`touch_remote`](Self::touch_remote): such a change would neither
    /// renew the entry's expiry nor reach the peers. The engine checks it
    /// is 0 at the end of every entry point.
    pub fn unsealed_writes(&self) -> u32 {
        self.unsealed
    }

    /// Declares the writes since the last touch deliberately untouched:
    /// the byte counters of tracked entries, which Sluice updates as data
    /// flows without renewing the entry or pushing it (the next touch
    /// carries them).
    pub fn seal_untouched(&mut self) {
        self.unsealed = 0;
    }
}

/// Expiry and removal.
impl StickTable {
    /// `stktable_trash_expired`: removes up to `max` expired, unreferenced
    /// entries (none for a table without `expire`, as HAProxy runs no expiry
    /// task for it). Returns how many were removed.
    pub fn purge_expired(&mut self, now: Time, max: usize) -> usize {
        if self.params.expire_ms.is_none() {
            return 0;
        }
        let (mut done, mut work) = (0, 0);
        while work < max {
            match self.exps.first() {
                Some(&(q, _)) if q <= now => {}
                _ => break,
            }
            work += 1;
            let Some((_, id)) = self.exps.pop_first() else {
                break;
            };
            if self.requeued(id) {
                continue;
            }
            self.unlink(id);
            done += 1;
        }
        self.debug_check();
        done
    }

    /// When [`purge_expired`](Self::purge_expired) next has work: the
    /// earliest queued expiry (`t->exp_next`), which may be earlier than
    /// the entry's real one (the purge then requeues it); `None` for an
    /// empty queue or a table without `expire`. May be `<= now` when a
    /// purge stopped at its `max`.
    pub fn next_expiry(&self) -> Option<Time> {
        self.params.expire_ms?;
        self.exps.first().map(|&(t, _)| t)
    }

    /// `clear table <t> key <k>` (`stksess_kill`): removes the entry unless
    /// it is referenced. `true` if it was removed.
    pub fn remove(&mut self, key: &StKey) -> bool {
        self.pending.expiry = true;
        match self.lookup(key) {
            Some(id) => self.remove_entry(id),
            None => false,
        }
    }

    /// Removes one entry unless it is referenced. `true` if it was removed.
    pub fn remove_entry(&mut self, id: EntryId) -> bool {
        self.pending.expiry = true;
        if self.ref_cnt(id) != Some(0) {
            return false;
        }
        self.unlink(id);
        self.debug_check();
        true
    }

    /// `clear table <t>`: removes every unreferenced entry; returns how many.
    pub fn clear(&mut self) -> usize {
        self.pending.expiry = true;
        let ids: Vec<EntryId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.ref_cnt == 0)
            .map(|(index, e)| EntryId {
                index: index as u32,
                gen: e.gen,
            })
            .collect();
        for &id in &ids {
            self.unlink(id);
        }
        self.debug_check();
        ids.len()
    }
}

/// Data access.
impl StickTable {
    fn slot_index(&self, dt: DataType, idx: usize) -> Result<usize, DataError> {
        self.layout.index(dt, idx).ok_or(DataError::NotStored)
    }

    /// Element `idx` (0 for non-array types) of data type `dt`.
    pub fn get(&self, id: EntryId, dt: DataType, idx: usize) -> Result<&StData, DataError> {
        let i = self.slot_index(dt, idx)?;
        let e = self.sess(id).ok_or(DataError::NoEntry)?;
        Ok(&e.data[i])
    }

    /// Stores `value` in element `idx` of `dt`; its variant must be the
    /// type's storage type. Does not touch the entry.
    pub fn set(
        &mut self,
        id: EntryId,
        dt: DataType,
        idx: usize,
        value: StData,
    ) -> Result<(), DataError> {
        let i = self.slot_index(dt, idx)?;
        let std_type = self.layout.slot(dt).map(|s| s.std_type);
        if std_type != Some(value.std_type()) {
            return Err(DataError::WrongType);
        }
        if self.journal.is_some() {
            let old = &self.sess(id).ok_or(DataError::NoEntry)?.data[i];
            let kind = match (old, &value) {
                (StData::UInt(a), StData::UInt(b))
                    if dt != DataType::GPT0 && dt != DataType::GPT =>
                {
                    JOpKind::Add(i64::from(b.wrapping_sub(*a) as i32))
                }
                (StData::Ull(a), StData::Ull(b)) => JOpKind::Add(b.wrapping_sub(*a) as i64),
                _ => JOpKind::Set(value.clone()),
            };
            let op = JOp {
                slot: i as u16,
                kind,
            };
            if let Some(j) = self.journal.as_mut() {
                j.push((id, Some(op)));
            }
        }
        let e = self.sess_mut(id).ok_or(DataError::NoEntry)?;
        e.data[i] = value;
        self.unsealed = self.unsealed.saturating_add(1);
        Ok(())
    }

    /// The frequency counter in element `idx` of `dt`, with its period.
    pub fn freq_mut(
        &mut self,
        id: EntryId,
        dt: DataType,
        idx: usize,
    ) -> Result<(&mut FreqCtr, u32), DataError> {
        let i = self.slot_index(dt, idx)?;
        let period = self.layout.slot(dt).map_or(0, |s| s.period_ms);
        if !self.contains(id) {
            return Err(DataError::NoEntry);
        }
        self.unsealed = self.unsealed.saturating_add(1);
        let e = self.sess_mut(id).ok_or(DataError::NoEntry)?;
        match &mut e.data[i] {
            StData::Freq(f) => Ok((f, period)),
            _ => Err(DataError::WrongType),
        }
    }

    /// `update_freq_ctr_period` on a stored counter, with its period.
    pub fn update_freq(
        &mut self,
        now: Time,
        id: EntryId,
        dt: DataType,
        idx: usize,
        inc: u32,
    ) -> Result<u32, DataError> {
        let (f, period) = self.freq_mut(id, dt, idx)?;
        let v = f.update(now.tick(), period, inc);
        if let Some(j) = self.journal.as_mut() {
            if let Some(i) = self.layout.index(dt, idx) {
                let kind = JOpKind::Freq(inc);
                j.push((
                    id,
                    Some(JOp {
                        slot: i as u16,
                        kind,
                    }),
                ));
            }
        }
        Ok(v)
    }

    /// `set table ... data.<type> <value>` (HAProxy 2.6
    /// `table_process_entry_per_key`): the value is cast like C casts a
    /// `long long` (truncated to 32 bits for `sint`/`uint`); a frequency
    /// counter restarts at `now` with `curr_ctr = value` and `prev_ctr = 0`.
    /// A dictionary type is refused ([`DataError::NotNumeric`]; 2.6 accepts
    /// the command and stores nothing). The caller touches the entry
    /// ([`touch_local`](Self::touch_local)) once all values are set.
    pub fn set_from_cli(
        &mut self,
        now: Time,
        id: EntryId,
        dt: DataType,
        idx: usize,
        value: i64,
    ) -> Result<(), DataError> {
        let std_type = self.layout.slot(dt).ok_or(DataError::NotStored)?.std_type;
        let v = match std_type {
            StdType::SInt => StData::SInt(value as i32),
            StdType::UInt => StData::UInt(value as u32),
            StdType::Ull => StData::Ull(value as u64),
            StdType::FreqP => StData::Freq(FreqCtr::new(now.tick(), value as u32, 0)),
            StdType::Dict => return Err(DataError::NotNumeric),
        };
        self.set(id, dt, idx, v)
    }

    /// The number `show table <t> data.<type> <op> <value>` compares (a
    /// C `long long`): integers as they are (`u64` reinterpreted), the
    /// *rate* of a frequency counter read at `now`, 0 for a dictionary type
    /// (HAProxy leaves it at 0).
    pub fn read_value(
        &self,
        now: Time,
        id: EntryId,
        dt: DataType,
        idx: usize,
    ) -> Result<i64, DataError> {
        let period = self.layout.slot(dt).map_or(0, |s| s.period_ms);
        Ok(match self.get(id, dt, idx)? {
            StData::SInt(v) => i64::from(*v),
            StData::UInt(v) => i64::from(*v),
            StData::Ull(v) => *v as i64,
            StData::Freq(f) => i64::from(f.read(now.tick(), period)),
            StData::Dict(_) => 0,
        })
    }
}

/// `show table` output (`table_dump_head_to_buffer`,
/// `table_dump_entry_to_buffer`).
impl StickTable {
    /// `# table: mesh/t_ip, type: ip, size:1024, used:4` (no newline).
    pub fn dump_header(&self) -> String {
        format!(
            "# table: {}, type: {}, size:{}, used:{}",
            self.params.id,
            self.params.key_type.name(),
            self.params.size,
            self.len()
        )
    }

    /// One entry as `show table` prints it, without the leading `0x...: `
    /// pointer and without the newline: `key=... use=<ref_cnt> exp=<ms
    /// left> <data>...`, data types in id order, array elements split as
    /// `gpt0 gpt1`, `gpc0_rate(10000)`. HAProxy prints `ref_cnt - 1`
    /// because its dumper holds a reference; Sluice's does not.
    pub fn dump_entry(&self, now: Time, id: EntryId) -> Option<String> {
        let e = self.sess(id)?;
        let mut s = format!(
            "key={} use={} exp={}",
            e.key,
            e.ref_cnt,
            e.expire.saturating_since(now)
        );
        for (dt, slot) in self.layout.iter() {
            let Some(info) = dt.info() else { continue };
            let values = &e.data[slot.first..slot.first + slot.len];
            for (i, v) in values.iter().enumerate() {
                s.push(' ');
                push_data_name(&mut s, info.name, info.is_array().then_some(i));
                if info.has_period() {
                    let _ = write!(s, "({})", slot.period_ms);
                }
                s.push('=');
                push_value(&mut s, now, v, slot.period_ms);
            }
        }
        Some(s)
    }
}

/// `gpt` -> `gpt0`, `gpc_rate` -> `gpc0_rate`: the index goes before the
/// first `_` of an array type's name.
fn push_data_name(s: &mut String, name: &str, idx: Option<usize>) {
    match idx {
        None => s.push_str(name),
        Some(i) => {
            let (pfx, sfx) = name.split_at(name.find('_').unwrap_or(name.len()));
            let _ = write!(s, "{pfx}{i}{sfx}");
        }
    }
}

fn push_value(s: &mut String, now: Time, v: &StData, period_ms: u32) {
    let _ = match v {
        StData::SInt(x) => write!(s, "{x}"),
        StData::UInt(x) => write!(s, "{x}"),
        StData::Ull(x) => write!(s, "{x}"),
        StData::Freq(f) => write!(s, "{}", f.read(now.tick(), period_ms)),
        StData::Dict(None) => write!(s, "-"),
        StData::Dict(Some(name)) => {
            let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
            write!(s, "{}", String::from_utf8_lossy(name))
        }
    };
}

/// Consistency checks (TigerBeetle-style: after every entry point in debug
/// builds, and on demand in tests).
impl StickTable {
    /// Cheap checks run after each mutating entry point in debug builds.
    fn debug_check(&self) {
        crate::bug_on!(self.keys.len() != self.entries.len(), "key index size");
        crate::bug_on!(self.exps.len() > self.entries.len(), "expiry index size");
        crate::bug_on!(self.updates.len() > self.entries.len(), "update log size");
        crate::bug_on!(self.entries.len() > self.params.size, "table over size");
    }

    /// Full check that the slab, the key index, the expiry index and the
    /// update log agree, that `len() <= size`, that keys fit and data has the
    /// table's layout. `Err` names the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.entries.len() > self.params.size {
            return Err(format!(
                "{} entries > size {}",
                self.len(),
                self.params.size
            ));
        }
        let mut queued = 0;
        let mut logged = 0;
        for (index, e) in self.entries.iter() {
            let id = EntryId {
                index: index as u32,
                gen: e.gen,
            };
            self.check_entry(id, e)?;
            queued += usize::from(e.exp.is_some());
            logged += usize::from(e.upd.is_some());
        }
        check_eq("key index", self.keys.len(), self.entries.len())?;
        check_eq("expiry index", self.exps.len(), queued)?;
        check_eq("update log", self.updates.len(), logged)?;
        Ok(())
    }

    fn check_entry(&self, id: EntryId, e: &StkSess) -> Result<(), String> {
        if self.lookup(&e.key) != Some(id) {
            return Err(format!("{:?}: key index does not point back", e.key));
        }
        if !e.key.fits(&self.params) {
            return Err(format!("{:?}: key does not fit the table", e.key));
        }
        if !self.layout.matches(&e.data) {
            return Err(format!("{:?}: data does not match the layout", e.key));
        }
        let queued = e
            .exp
            .is_some_and(|q| q <= e.expire && self.exps.contains(&(q, id)));
        if (e.exp.is_some() && !queued) || (e.ref_cnt == 0 && e.exp.is_none()) {
            return Err(format!(
                "{:?}: expiry queue disagrees (ref_cnt {}, expire {:?}, queued {:?})",
                e.key, e.ref_cnt, e.expire, e.exp
            ));
        }
        match e.upd {
            Some(k) if self.updates.get(&k) != Some(&id) => {
                Err(format!("{:?}: update log does not hold id {k}", e.key))
            }
            Some(_) if !self.is_synced() => {
                Err(format!("{:?}: logged in an unsynced table", e.key))
            }
            _ => Ok(()),
        }
    }
}

fn check_eq(what: &str, got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got} items, {want} expected"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stick_table::params::{KeyType, StoreSpec};
    use crate::time::Tick;

    fn t(ms: u64) -> Time {
        Time::from_ms(ms)
    }

    fn int_table(size: usize, expire_ms: Option<u32>, synced: bool) -> StickTable {
        let mut p = TableParams::new("t", KeyType::Integer, size);
        p.expire_ms = expire_ms;
        p.peers = synced.then(|| "mesh".to_string());
        p.store = vec![
            StoreSpec::plain(DataType::SERVER_ID),
            StoreSpec::plain(DataType::GPC0),
            StoreSpec::rate(DataType::CONN_RATE, 10_000),
            StoreSpec::plain(DataType::BYTES_IN_CNT),
            StoreSpec::plain(DataType::SERVER_KEY),
        ];
        StickTable::new(p)
    }

    fn k(n: u32) -> StKey {
        StKey::integer(n)
    }

    fn add(tb: &mut StickTable, now: u64, n: u32) -> EntryId {
        tb.get_or_create(t(now), k(n))
            .expect("room for a new entry")
    }

    fn keys(tb: &StickTable) -> Vec<u32> {
        tb.iter()
            .map(|(k, _)| u32::from_be_bytes(k.as_bytes().try_into().unwrap()))
            .collect()
    }

    fn ok(tb: &StickTable) {
        tb.check_invariants().unwrap();
    }

    #[test]
    fn full_table_evicts_earliest_expiry_first() {
        let mut tb = int_table(4, Some(1000), false);
        for (i, n) in [1, 2, 3, 4].into_iter().enumerate() {
            add(&mut tb, 10 * i as u64, n); // expiries 1000, 1010, 1020, 1030
        }
        let two = tb.lookup(&k(2)).unwrap();
        tb.touch_local(t(40), two); // 2 now expires at 1040
        add(&mut tb, 50, 5); // full: batch (4 >> 8) + 1 = 1 -> evicts 1 (1000)
        assert_eq!(keys(&tb), [2, 3, 4, 5]);
        add(&mut tb, 60, 6); // evicts 3 (1020), not 2
        assert_eq!(keys(&tb), [2, 4, 5, 6]);
        add(&mut tb, 70, 7); // evicts 4 (1030)
        add(&mut tb, 80, 8); // evicts 2 (1040)
        assert_eq!(keys(&tb), [5, 6, 7, 8]);
        // An existing key is found, nothing evicted.
        assert_eq!(tb.get_or_create(t(90), k(5)), tb.lookup(&k(5)));
        assert_eq!(tb.len(), 4);
        ok(&tb);
    }

    #[test]
    fn table_without_expire_evicts_least_recently_touched() {
        let mut tb = int_table(2, None, false);
        let a = add(&mut tb, 0, 1);
        add(&mut tb, 10, 2);
        tb.touch_local(t(20), a); // a stamped 20, b still 10
        add(&mut tb, 30, 3);
        assert_eq!(keys(&tb), [1, 3]);
        // No expiry task for such a table: nothing is ever purged.
        assert_eq!(tb.purge_expired(t(1_000_000), 100), 0);
        assert_eq!(tb.next_expiry(), None);
        // HAProxy prints exp=0 (tick_remain of a past stamp).
        assert!(tb.dump_entry(t(40), a).unwrap().contains(" exp=0 "));
        ok(&tb);
    }

    #[test]
    fn eviction_trashes_a_batch_of_size_over_256_plus_one() {
        let mut tb = int_table(512, Some(1000), false);
        for n in 0..512 {
            add(&mut tb, u64::from(n), n);
        }
        add(&mut tb, 600, 9999); // batch (512 >> 8) + 1 = 3
        assert_eq!(tb.len(), 510);
        assert!(tb.lookup(&k(0)).is_none() && tb.lookup(&k(2)).is_none());
        assert!(tb.lookup(&k(3)).is_some());
        ok(&tb);
    }

    #[test]
    fn references_protect_from_eviction_purge_and_clear() {
        let mut tb = int_table(2, Some(1000), false);
        let a = add(&mut tb, 0, 1);
        let b = add(&mut tb, 10, 2);
        assert!(tb.acquire(a) && tb.acquire(b) && tb.acquire(a));
        assert_eq!(tb.ref_cnt(a), Some(2));
        // Full and every entry referenced: creation fails, nothing panics.
        assert_eq!(tb.get_or_create(t(20), k(3)), None);
        // Expired but referenced: neither purged nor offered as next expiry.
        assert_eq!(tb.purge_expired(t(5000), 10), 0);
        assert_eq!(tb.next_expiry(), None);
        assert!(!tb.remove(&k(1)));
        assert_eq!(tb.clear(), 0);
        assert_eq!(tb.len(), 2);
        // Released: b is unreferenced again and its (past) expiry is due.
        assert!(tb.release(b));
        assert_eq!(tb.next_expiry(), Some(t(1010)));
        assert!(tb.get_or_create(t(30), k(3)).is_some()); // evicts b
        assert_eq!(keys(&tb), [1, 3]);
        assert!(tb.release(a) && tb.release(a));
        assert_eq!(tb.clear(), 2);
        assert!(tb.is_empty());
        ok(&tb);
    }

    #[test]
    fn nopurge_refuses_new_entries_when_full() {
        let mut tb = int_table(1, Some(1000), false);
        let mut p = tb.params().clone();
        p.nopurge = true;
        tb = StickTable::new(p);
        add(&mut tb, 0, 1);
        assert_eq!(tb.get_or_create(t(5000), k(2)), None);
        assert!(tb.get_or_create(t(5000), k(1)).is_some());
        let mut zero = int_table(0, None, false);
        assert_eq!(zero.get_or_create(t(0), k(1)), None);
    }

    #[test]
    fn purge_is_driven_by_now_and_bounded() {
        let mut tb = int_table(16, Some(1000), false);
        add(&mut tb, 0, 1); // 1000
        add(&mut tb, 500, 2); // 1500
        assert_eq!(tb.next_expiry(), Some(t(1000)));
        assert_eq!(tb.purge_expired(t(999), 10), 0);
        assert_eq!(tb.purge_expired(t(1000), 10), 1);
        assert_eq!(keys(&tb), [2]);
        assert_eq!(tb.next_expiry(), Some(t(1500)));
        for n in 10..15 {
            add(&mut tb, 600, n); // 1600
        }
        assert_eq!(tb.purge_expired(t(2000), 0), 0);
        assert_eq!(tb.purge_expired(t(2000), 2), 2);
        assert!(tb.next_expiry().unwrap() <= t(2000)); // more work due
        assert_eq!(tb.purge_expired(t(2000), 100), 4);
        assert!(tb.is_empty());
        assert_eq!(tb.next_expiry(), None);
        ok(&tb);
    }

    #[test]
    fn stale_handles_reach_nothing() {
        let mut tb = int_table(4, Some(1000), false);
        let a = add(&mut tb, 0, 1);
        assert!(tb.remove_entry(a));
        let b = add(&mut tb, 0, 2); // reuses the slab slot
        assert_ne!(a, b);
        assert!(!tb.contains(a));
        assert_eq!(tb.get(a, DataType::GPC0, 0), Err(DataError::NoEntry));
        assert!(!tb.acquire(a) && !tb.release(a) && !tb.touch_local(t(1), a));
        assert!(!tb.touch_remote(t(1), a, None) && !tb.remove_entry(a));
        assert_eq!(tb.dump_entry(t(0), a), None);
        assert!(tb.contains(b));
        ok(&tb);
    }

    #[test]
    fn keys_of_another_table_are_refused() {
        let mut tb = int_table(4, None, false);
        assert_eq!(tb.get_or_create(t(0), StKey::string(33, b"x")), None);
        assert!(tb.is_empty());
    }

    #[test]
    fn touch_local_renews_or_keeps_ids() {
        let mut tb = int_table(8, Some(1000), true);
        let (a, b, c) = (add(&mut tb, 0, 1), add(&mut tb, 0, 2), add(&mut tb, 0, 3));
        assert_eq!(tb.update_id(a), None); // created, not touched: not logged
        for id in [a, b, c] {
            tb.touch_local(t(1), id);
        }
        assert_eq!(
            [tb.update_id(a), tb.update_id(b), tb.update_id(c)],
            [Some(1), Some(2), Some(3)]
        );
        assert_eq!(
            (tb.update(), tb.localupdate(), tb.commitupdate()),
            (3, 3, 0)
        );
        // a: commit 0 < 1 < localupdate 3 -> waiting and not newest: keeps 1.
        tb.touch_local(t(2), a);
        assert_eq!((tb.update_id(a), tb.update()), (Some(1), 3));
        // c: id 3 == localupdate (the newest change) -> renewed to 4.
        tb.touch_local(t(2), c);
        assert_eq!((tb.update_id(c), tb.localupdate()), (Some(4), 4));
        // b: 0 < 2 < 4 -> keeps 2.
        tb.touch_local(t(2), b);
        assert_eq!(tb.update_id(b), Some(2));
        // Every peer pushed up to 2: b (2) is no longer after commit -> 5.
        tb.set_commitupdate(2);
        tb.touch_local(t(3), b);
        assert_eq!(tb.update_id(b), Some(5));
        // a (1) is before commit too -> 6.
        tb.touch_local(t(3), a);
        assert_eq!(tb.update_id(a), Some(6));
        assert_eq!(tb.update_first(), Some((4, c)));
        assert_eq!(tb.update_lookup_ge(5), Some((5, b)));
        assert_eq!(tb.update_lookup_ge(7), None);
        assert_eq!(tb.update_log_len(), 3);
        ok(&tb);
    }

    #[test]
    fn touch_local_ids_across_update_counter_wrap() {
        let mut tb = int_table(8, Some(1000), true);
        let (a, b) = (add(&mut tb, 0, 1), add(&mut tb, 0, 2));
        tb.set_update(u32::MAX - 1);
        tb.set_localupdate(u32::MAX - 1);
        tb.set_commitupdate(u32::MAX - 1);
        tb.touch_local(t(1), a);
        tb.touch_local(t(1), b);
        assert_eq!(
            (tb.update_id(a), tb.update_id(b)),
            (Some(u32::MAX), Some(0))
        );
        assert_eq!(tb.localupdate(), 0);
        // a: commit (MAX-1) - MAX = -1 < 0 and MAX - 0 = -1 < 0 (signed): kept.
        tb.touch_local(t(2), a);
        assert_eq!(tb.update_id(a), Some(u32::MAX));
        // b is the newest change: renewed to 1.
        tb.touch_local(t(2), b);
        assert_eq!(tb.update_id(b), Some(1));
        // Pushed up to 0 (across the wrap): a (MAX) is behind commit -> 2.
        tb.set_commitupdate(0);
        tb.touch_local(t(3), a);
        assert_eq!(tb.update_id(a), Some(2));
        // Unsigned log order: 1 (b), 2 (a).
        assert_eq!(tb.update_first(), Some((1, b)));
        ok(&tb);
    }

    #[test]
    fn touch_remote_logs_far_away_once() {
        let mut tb = int_table(8, Some(600_000), true);
        let x = add(&mut tb, 0, 1);
        tb.touch_remote(t(100), x, None);
        assert_eq!(tb.update_id(x), Some(1 + (1 << 31)));
        assert_eq!((tb.update(), tb.localupdate()), (1, 0));
        assert_eq!(tb.expire(x), Some(t(600_100)));
        // Already logged: same id, counter unchanged; timed lifetime used as is.
        tb.touch_remote(t(200), x, Some(30_000));
        assert_eq!((tb.update_id(x), tb.update()), (Some(1 + (1 << 31)), 1));
        assert_eq!(tb.expire(x), Some(t(30_200)));
        // A local change of a learned entry: commit 0 - (2^31+1) is positive
        // as i32 -> renewed with a local id.
        tb.touch_local(t(300), x);
        assert_eq!((tb.update_id(x), tb.localupdate()), (Some(2), 2));
        ok(&tb);
    }

    #[test]
    fn colliding_update_id_evicts_the_previous_holder_from_the_log() {
        let mut tb = int_table(8, Some(1000), true);
        let (a, b) = (add(&mut tb, 0, 1), add(&mut tb, 0, 2));
        tb.set_update(4);
        tb.set_localupdate(4);
        tb.touch_local(t(1), a); // id 5
        tb.set_update((1 << 31) + 4);
        tb.set_localupdate(5);
        tb.touch_remote(t(1), b, None); // ++update = 2^31 + 5, + 2^31 = 5
        assert_eq!(tb.update_id(b), Some(5));
        assert_eq!(tb.update_id(a), None);
        assert_eq!(tb.update_log_len(), 1);
        ok(&tb);
        // Removing b empties the log; a is still in the table.
        assert!(tb.remove_entry(b));
        assert_eq!(tb.update_first(), None);
        assert!(tb.contains(a));
        ok(&tb);
    }

    #[test]
    fn unsynced_tables_keep_no_log() {
        let mut tb = int_table(8, Some(1000), false);
        let a = add(&mut tb, 0, 1);
        tb.touch_local(t(1), a);
        tb.touch_remote(t(1), a, None);
        assert_eq!(
            (tb.update_id(a), tb.update(), tb.update_first()),
            (None, 0, None)
        );
        assert_eq!(tb.expire(a), Some(t(1001)));
    }

    #[test]
    fn cli_set_follows_haproxy_casts() {
        let mut tb = int_table(8, Some(1000), false);
        let a = add(&mut tb, 0, 1);
        let now = t(12_345);
        tb.set_from_cli(now, a, DataType::SERVER_ID, 0, -1).unwrap();
        tb.set_from_cli(now, a, DataType::GPC0, 0, (1 << 32) + 5)
            .unwrap();
        tb.set_from_cli(now, a, DataType::BYTES_IN_CNT, 0, 123_456_789_012)
            .unwrap();
        tb.set_from_cli(now, a, DataType::CONN_RATE, 0, 5).unwrap();
        assert_eq!(tb.get(a, DataType::SERVER_ID, 0), Ok(&StData::SInt(-1)));
        assert_eq!(tb.get(a, DataType::GPC0, 0), Ok(&StData::UInt(5)));
        assert_eq!(
            tb.get(a, DataType::BYTES_IN_CNT, 0),
            Ok(&StData::Ull(123_456_789_012))
        );
        let f = FreqCtr {
            curr_tick: Tick(12_344),
            curr_ctr: 5,
            prev_ctr: 0,
        };
        assert_eq!(tb.get(a, DataType::CONN_RATE, 0), Ok(&StData::Freq(f)));
        assert_eq!(
            tb.set_from_cli(now, a, DataType::SERVER_KEY, 0, 1),
            Err(DataError::NotNumeric)
        );
        assert_eq!(
            tb.set_from_cli(now, a, DataType::GPT0, 0, 1),
            Err(DataError::NotStored)
        );
        assert_eq!(
            tb.set_from_cli(now, a, DataType::GPC0, 1, 1),
            Err(DataError::NotStored)
        );
        assert_eq!(
            tb.set(a, DataType::GPC0, 0, StData::Ull(1)),
            Err(DataError::WrongType)
        );
    }

    #[test]
    fn filter_values_read_rates_at_now() {
        let mut tb = int_table(8, Some(1000), false);
        let a = add(&mut tb, 0, 1);
        tb.set_from_cli(t(10_000), a, DataType::CONN_RATE, 0, 8)
            .unwrap();
        tb.set(a, DataType::BYTES_IN_CNT, 0, StData::Ull(u64::MAX))
            .unwrap();
        // Half a period after the window ended: 8 * 5000 / 10000 = 4.
        assert_eq!(tb.read_value(t(25_000), a, DataType::CONN_RATE, 0), Ok(4));
        assert_eq!(
            tb.read_value(t(25_000), a, DataType::BYTES_IN_CNT, 0),
            Ok(-1)
        );
        assert_eq!(tb.read_value(t(0), a, DataType::SERVER_KEY, 0), Ok(0));
        assert_eq!(
            tb.update_freq(t(25_000), a, DataType::CONN_RATE, 0, 3),
            Ok(3)
        );
        // Rotated at 20_000: prev 8, curr 3, 5000 into the window -> 4 + 3.
        assert_eq!(tb.read_value(t(25_000), a, DataType::CONN_RATE, 0), Ok(7));
    }

    #[test]
    fn dump_prints_arrays_dicts_and_periods() {
        let mut p = TableParams::new("mesh/t_ip6", KeyType::Ipv6, 1024);
        p.expire_ms = Some(600_000);
        p.store = vec![
            StoreSpec::plain(DataType::SERVER_KEY),
            StoreSpec::array(DataType::GPT, 2, 0),
            StoreSpec::array(DataType::GPC_RATE, 2, 10_000),
        ];
        let mut tb = StickTable::new(p);
        let key = StKey::ipv6("::1".parse().unwrap());
        let a = tb.get_or_create(t(1000), key).unwrap();
        tb.acquire(a);
        tb.set(a, DataType::GPT, 1, StData::UInt(9)).unwrap();
        assert_eq!(
            tb.dump_entry(t(1500), a).unwrap(),
            "key=::1 use=1 exp=599500 server_key=- gpt0=0 gpt1=9 gpc0_rate(10000)=0 gpc1_rate(10000)=0"
        );
        tb.set(
            a,
            DataType::SERVER_KEY,
            0,
            StData::Dict(Some(bytes::Bytes::from_static(b"s1"))),
        )
        .unwrap();
        assert!(tb
            .dump_entry(t(1500), a)
            .unwrap()
            .contains(" server_key=s1 "));
        assert_eq!(
            tb.dump_header(),
            "# table: mesh/t_ip6, type: ipv6, size:1024, used:1"
        );
    }
}

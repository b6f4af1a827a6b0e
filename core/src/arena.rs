//! Slabs with typed, generation-checked handles (STYLE rule 7).
//!
//! Engine entities (connections, sessions, streams) live in an [`Arena`] and
//! refer to each other through [`Id`]s. An id outlives its entity harmlessly:
//! once the slot is freed (and even after it is reused) the id no longer
//! resolves, so a late timer or a stale queue entry cannot reach another
//! entity.

use core::fmt;
use core::marker::PhantomData;

use slab::Slab;

/// A handle to a `T` in an [`Arena<T>`].
pub struct Id<T> {
    idx: u32,
    gen: u32,
    _t: PhantomData<fn() -> T>,
}

impl<T> Id<T> {
    /// The slot index (stable while the entity lives).
    pub fn index(self) -> usize {
        self.idx as usize
    }

    /// A number naming the entity for logs and the CLI.
    pub fn as_u64(self) -> u64 {
        (u64::from(self.gen) << 32) | u64::from(self.idx)
    }

    /// A handle of slot `idx` not from an arena, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(idx: u32) -> Id<T> {
        Id {
            idx,
            gen: 0,
            _t: PhantomData,
        }
    }
}

impl<T> Clone for Id<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Id<T> {}
impl<T> PartialEq for Id<T> {
    fn eq(&self, o: &Self) -> bool {
        self.idx == o.idx && self.gen == o.gen
    }
}
impl<T> Eq for Id<T> {}
impl<T> PartialOrd for Id<T> {
    fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Id<T> {
    fn cmp(&self, o: &Self) -> core::cmp::Ordering {
        (self.idx, self.gen).cmp(&(o.idx, o.gen))
    }
}
impl<T> core::hash::Hash for Id<T> {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        (self.idx, self.gen).hash(h)
    }
}
impl<T> fmt::Debug for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.idx, self.gen)
    }
}

struct Slot<T> {
    gen: u32,
    value: T,
}

/// A slab whose entries are named by [`Id`]s.
pub struct Arena<T> {
    slab: Slab<Slot<T>>,
    next_gen: u32,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena {
            slab: Slab::new(),
            next_gen: 1,
        }
    }
}

impl<T> fmt::Debug for Arena<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Arena({} live)", self.slab.len())
    }
}

impl<T> Arena<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` and returns its id.
    pub fn insert(&mut self, value: T) -> Id<T> {
        let gen = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        let idx = self.slab.insert(Slot { gen, value });
        Id {
            idx: idx as u32,
            gen,
            _t: PhantomData,
        }
    }

    /// The id the next [`Arena::insert`] will return.
    pub fn next_id(&self) -> Id<T> {
        Id {
            idx: self.slab.vacant_key() as u32,
            gen: self.next_gen,
            _t: PhantomData,
        }
    }

    pub fn get(&self, id: Id<T>) -> Option<&T> {
        self.slab
            .get(id.idx as usize)
            .filter(|s| s.gen == id.gen)
            .map(|s| &s.value)
    }

    pub fn get_mut(&mut self, id: Id<T>) -> Option<&mut T> {
        self.slab
            .get_mut(id.idx as usize)
            .filter(|s| s.gen == id.gen)
            .map(|s| &mut s.value)
    }

    pub fn contains(&self, id: Id<T>) -> bool {
        self.get(id).is_some()
    }

    /// Removes and returns the entity, if the id is live.
    pub fn remove(&mut self, id: Id<T>) -> Option<T> {
        if self.contains(id) {
            Some(self.slab.remove(id.idx as usize).value)
        } else {
            None
        }
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Live entities with their ids, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Id<T>, &T)> + '_ {
        self.slab.iter().map(|(i, s)| {
            (
                Id {
                    idx: i as u32,
                    gen: s.gen,
                    _t: PhantomData,
                },
                &s.value,
            )
        })
    }

    /// Every live id.
    pub fn ids(&self) -> Vec<Id<T>> {
        self.iter().map(|(id, _)| id).collect()
    }
}

impl<T> core::ops::Index<Id<T>> for Arena<T> {
    type Output = T;
    /// Panics on a stale id: only for ids the caller just checked.
    fn index(&self, id: Id<T>) -> &T {
        self.get(id).expect("stale arena id")
    }
}

impl<T> core::ops::IndexMut<Id<T>> for Arena<T> {
    fn index_mut(&mut self, id: Id<T>) -> &mut T {
        self.get_mut(id).expect("stale arena id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_do_not_resolve_after_reuse() {
        let mut a: Arena<&str> = Arena::new();
        let x = a.insert("x");
        assert_eq!(a.get(x), Some(&"x"));
        assert_eq!(a.remove(x), Some("x"));
        let y = a.insert("y");
        assert_eq!(x.index(), y.index(), "slot reused");
        assert_eq!(a.get(x), None);
        assert_eq!(a.get(y), Some(&"y"));
        assert_eq!(a.remove(x), None);
        assert_eq!(a.len(), 1);
    }
}

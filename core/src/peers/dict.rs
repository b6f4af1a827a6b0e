//! Dictionary values (`server_key`, PROTOCOL.md §8.5) and the per-session
//! caches of both directions: HAProxy's `struct dcache` with its
//! `dcache_tx` ring and `dcache_rx` slots (`peers.c`).
//!
//! ```text
//! varint L | L bytes: varint id (1..=128) [ varint vlen | vlen bytes ]
//! L = 0: no value;  id alone: "reuse slot id";  id + string: "slot id := string"
//! ```
//!
//! The caches are plain data: the session owns one [`DictTxCache`] and one
//! [`DictRxCache`] and resets both when the session ends.

use slots::Slots;

use super::error::{Field, Malformed, Reason};
use super::reader::Reader;
use super::varint;

/// Number of cache slots per direction; ids on the wire are `1..=128`.
pub const DICT_CACHE_SLOTS: usize = 128;

/// One dictionary value as sent in an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictValue<'a> {
    /// `L = 0`: the entry has no value.
    None,
    /// Reuse the string cached in slot `id` (1..=128).
    Reference(u8),
    /// Cache `value` in slot `id` (1..=128) and use it.
    Define { id: u8, value: &'a [u8] },
}

impl<'a> DictValue<'a> {
    /// Decodes one value. A length or string past the end, a truncated id,
    /// or an id outside `1..=128` are protocol errors (2.6 does not check
    /// the id when a string follows; we do, as §8.5 asks). Bytes of the
    /// `L` region after the string are skipped.
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<DictValue<'a>, Malformed> {
        let len = r.varint(Field::DictLength)?;
        if len == 0 {
            return Ok(DictValue::None);
        }
        let region = r.bytes(len, Field::DictLength)?;
        let mut inner = Reader::new(region);
        let id = inner.varint(Field::DictId)?;
        let id = match u8::try_from(id) {
            Ok(0) => return Err(Malformed::new(Field::DictId, Reason::Zero)),
            Ok(id) if usize::from(id) <= DICT_CACHE_SLOTS => id,
            _ => return Err(Malformed::new(Field::DictId, Reason::OutOfRange)),
        };
        if inner.is_empty() {
            return Ok(DictValue::Reference(id));
        }
        let vlen = inner.varint(Field::DictStringLength)?;
        let value = inner.bytes(vlen, Field::DictString)?;
        Ok(DictValue::Define { id, value })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            DictValue::None => out.push(0),
            DictValue::Reference(id) => {
                crate::bug_on!(id == 0 || usize::from(id) > DICT_CACHE_SLOTS);
                varint::encode(varint::encoded_len(u64::from(id)) as u64, out);
                varint::encode(u64::from(id), out);
            }
            DictValue::Define { id, value } => {
                crate::bug_on!(id == 0 || usize::from(id) > DICT_CACHE_SLOTS);
                let vlen = value.len() as u64;
                let len =
                    varint::encoded_len(u64::from(id)) + varint::encoded_len(vlen) + value.len();
                varint::encode(len as u64, out);
                varint::encode(u64::from(id), out);
                varint::encode(vlen, out);
                out.extend_from_slice(value);
            }
        }
    }
}

/// The sender's cache: a ring of 128 slots filled in order 0, 1, 2, ...
/// (wrapping). A string already in a slot is sent as a reference, a new one
/// takes the next slot (evicting what was there) and is sent in full.
#[derive(Clone, Debug, Default)]
pub struct DictTxCache {
    slots: Slots,
    next: usize,
}

impl DictTxCache {
    pub fn new() -> DictTxCache {
        DictTxCache::default()
    }

    /// The value to send for `value`, updating the cache.
    pub fn encode_value<'v>(&mut self, value: &'v [u8]) -> DictValue<'v> {
        if let Some(slot) = self.slots.position(value) {
            return DictValue::Reference(slot_id(slot));
        }
        let slot = self.next;
        self.slots.set(slot, value);
        self.next = (slot + 1) % DICT_CACHE_SLOTS;
        DictValue::Define {
            id: slot_id(slot),
            value,
        }
    }

    /// Forgets everything (end of session).
    pub fn reset(&mut self) {
        *self = DictTxCache::default();
    }
}

/// The receiver's cache: 128 slots, filled by [`DictValue::Define`].
#[derive(Clone, Debug, Default)]
pub struct DictRxCache {
    slots: Slots,
}

impl DictRxCache {
    pub fn new() -> DictRxCache {
        DictRxCache::default()
    }

    /// Applies a received value and returns the string it stands for.
    /// A reference to an empty slot gives `None`, as in 2.6 (no error).
    pub fn apply(&mut self, v: &DictValue<'_>) -> Option<&[u8]> {
        match *v {
            DictValue::None => None,
            DictValue::Reference(id) => self.slots.get(slot_index(id)?),
            DictValue::Define { id, value } => {
                let slot = slot_index(id)?;
                self.slots.set(slot, value);
                self.slots.get(slot)
            }
        }
    }

    /// The string in slot `id` (1..=128), if any.
    pub fn get(&self, id: u8) -> Option<&[u8]> {
        self.slots.get(slot_index(id)?)
    }

    /// Forgets everything (end of session).
    pub fn reset(&mut self) {
        *self = DictRxCache::default();
    }
}

fn slot_id(slot: usize) -> u8 {
    crate::bug_on!(slot >= DICT_CACHE_SLOTS);
    (slot + 1) as u8
}

/// The slot of a wire id; `None` (and a debug assertion) outside `1..=128`,
/// which decoding already rejects.
fn slot_index(id: u8) -> Option<usize> {
    let ok = id != 0 && usize::from(id) <= DICT_CACHE_SLOTS;
    crate::bug_on!(!ok, "dictionary id out of range");
    ok.then(|| usize::from(id) - 1)
}

mod slots {
    use super::DICT_CACHE_SLOTS;

    /// 128 optional strings, allocated on first use.
    #[derive(Clone, Debug, Default)]
    pub(super) struct Slots(Vec<Option<Vec<u8>>>);

    impl Slots {
        pub(super) fn get(&self, slot: usize) -> Option<&[u8]> {
            self.0.get(slot)?.as_deref()
        }

        pub(super) fn set(&mut self, slot: usize, value: &[u8]) {
            if self.0.is_empty() {
                self.0 = vec![None; DICT_CACHE_SLOTS];
            }
            if let Some(s) = self.0.get_mut(slot) {
                *s = Some(value.to_vec());
            }
        }

        pub(super) fn position(&self, value: &[u8]) -> Option<usize> {
            self.0.iter().position(|s| s.as_deref() == Some(value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_define_then_reference() {
        let mut tx = DictTxCache::new();
        let mut out = Vec::new();
        tx.encode_value(b"s1").encode(&mut out);
        tx.encode_value(b"s1").encode(&mut out);
        assert_eq!(out, [0x04, 0x01, 0x02, 0x73, 0x31, 0x01, 0x01]);
        let mut r = Reader::new(&out);
        let mut rx = DictRxCache::new();
        let a = DictValue::decode(&mut r).unwrap();
        let b = DictValue::decode(&mut r).unwrap();
        assert_eq!(
            a,
            DictValue::Define {
                id: 1,
                value: b"s1"
            }
        );
        assert_eq!(b, DictValue::Reference(1));
        assert_eq!(rx.apply(&a), Some(&b"s1"[..]));
        assert_eq!(rx.apply(&b), Some(&b"s1"[..]));
        assert_eq!(rx.apply(&DictValue::Reference(2)), None);
    }

    #[test]
    fn ring_wraps_and_evicts() {
        let mut tx = DictTxCache::new();
        for i in 0..DICT_CACHE_SLOTS {
            let v = [i as u8];
            assert_eq!(
                tx.encode_value(&v),
                DictValue::Define {
                    id: i as u8 + 1,
                    value: &v
                }
            );
        }
        assert_eq!(tx.encode_value(&[5]), DictValue::Reference(6));
        // The 129th string takes slot 0 (id 1) and evicts [0].
        assert!(matches!(
            tx.encode_value(b"new"),
            DictValue::Define { id: 1, .. }
        ));
        assert!(matches!(
            tx.encode_value(&[0]),
            DictValue::Define { id: 2, .. }
        ));
        tx.reset();
        assert!(matches!(
            tx.encode_value(b"new"),
            DictValue::Define { id: 1, .. }
        ));
    }

    #[test]
    fn hostile_values() {
        let err = |b: &[u8]| DictValue::decode(&mut Reader::new(b)).unwrap_err();
        assert_eq!(err(&[0x05, 0x01]).field, Field::DictLength);
        assert_eq!(err(&[0x01, 0x00]).reason, Reason::Zero);
        assert_eq!(err(&[0x02, 0x81, 0x00]).reason, Reason::OutOfRange);
        assert_eq!(
            err(&[0x04, 0xf0, 0x01, 0x01, 0x41]).reason,
            Reason::OutOfRange
        );
        assert_eq!(err(&[0x03, 0x01, 0x05, 0x41]).field, Field::DictString);
        assert_eq!(err(&[0x02, 0x01, 0xf0]).field, Field::DictStringLength);
        assert_eq!(err(&[0x01, 0xf0]).field, Field::DictId);
        assert_eq!(
            DictValue::decode(&mut Reader::new(&[0x01, 0x80])),
            Ok(DictValue::Reference(128))
        );
    }
}

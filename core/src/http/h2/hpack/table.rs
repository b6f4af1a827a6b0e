//! The static and dynamic tables (RFC 7541 §2.3, §4, Appendix A): HAProxy's
//! `hpack-tbl.c`.
//!
//! Index space: 1..=61 is the static table, 62.. the dynamic table, newest
//! entry first. An entry's size is its name and value lengths plus 32
//! ([`ENTRY_OVERHEAD`]); the table's size never exceeds its maximum: an
//! insertion evicts the oldest entries first, and an entry larger than the
//! maximum empties the table (RFC 7541 §4.4, not an error).

use std::collections::VecDeque;

/// Bytes counted for each entry on top of its name and value (RFC 7541 §4.1).
pub const ENTRY_OVERHEAD: usize = 32;

/// RFC 7541 Appendix A, index 1 first.
pub const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// One dynamic table entry: name and value in one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    bytes: Box<[u8]>,
    name_len: usize,
}

impl Entry {
    fn name(&self) -> &[u8] {
        &self.bytes[..self.name_len]
    }
    fn value(&self) -> &[u8] {
        &self.bytes[self.name_len..]
    }
    fn size(&self) -> usize {
        self.bytes.len() + ENTRY_OVERHEAD
    }
}

/// The dynamic table of one direction of a connection (HAProxy's
/// `struct hpack_dht`). Invariant: `size` is the sum of the entries' sizes
/// and never exceeds `max_size`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    /// An empty table of at most `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// The sum of the entries' sizes (RFC 7541 §4.1).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The current maximum size (the last size update).
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries newest first, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(|e| (e.name(), e.value()))
    }

    /// Changes the maximum size, evicting the oldest entries to fit
    /// (RFC 7541 §4.3).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
        self.check_invariants();
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            let Some(e) = self.entries.pop_back() else {
                break;
            };
            self.size -= e.size();
        }
    }

    /// Adds an entry at the front, evicting to make room; an entry larger
    /// than the maximum empties the table and is not added (RFC 7541 §4.4).
    pub fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
        } else {
            self.evict_to(self.max_size - size);
            let mut bytes = Vec::with_capacity(name.len() + value.len());
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(value);
            self.entries.push_front(Entry {
                bytes: bytes.into_boxed_slice(),
                name_len: name.len(),
            });
            self.size += size;
        }
        self.check_invariants();
    }

    /// The field at `index` of the whole index space (1-based: static
    /// entries, then this table's newest first).
    pub fn get(&self, index: u32) -> Option<(&[u8], &[u8])> {
        let index = index as usize;
        if index == 0 {
            return None;
        }
        if index <= STATIC_TABLE.len() {
            return Some(STATIC_TABLE[index - 1]);
        }
        let e = self.entries.get(index - STATIC_TABLE.len() - 1)?;
        Some((e.name(), e.value()))
    }

    /// Where `(name, value)` is in the index space: `Ok(index)` for the
    /// whole field, `Err(Some(index))` for the name only, `Err(None)` when
    /// neither is. Static entries are preferred (their index never changes).
    pub fn find(&self, name: &[u8], value: &[u8]) -> Result<u32, Option<u32>> {
        let mut name_at = None;
        for (i, &(n, v)) in STATIC_TABLE.iter().enumerate() {
            if n == name {
                if v == value {
                    return Ok(i as u32 + 1);
                }
                name_at = name_at.or(Some(i as u32 + 1));
            }
        }
        let base = STATIC_TABLE.len() as u32 + 1;
        for (i, e) in self.entries.iter().enumerate() {
            if e.name() == name {
                if e.value() == value {
                    return Ok(base + i as u32);
                }
                name_at = name_at.or(Some(base + i as u32));
            }
        }
        Err(name_at)
    }

    fn check_invariants(&self) {
        debug_assert_eq!(
            self.size,
            self.entries.iter().map(Entry::size).sum::<usize>()
        );
        debug_assert!(self.size <= self.max_size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_and_oversized_entry() {
        // RFC 7541 §4.4: room is made by evicting from the end; an entry
        // larger than the table empties it.
        let mut t = DynamicTable::new(100);
        t.insert(b"a", b"1"); // 34
        t.insert(b"b", b"2"); // 68
        assert_eq!((t.len(), t.size()), (2, 68));
        assert_eq!(t.get(62), Some((&b"b"[..], &b"2"[..])));
        assert_eq!(t.get(63), Some((&b"a"[..], &b"1"[..])));
        assert_eq!(t.get(64), None);
        t.insert(b"c", b"3"); // evicts "a"
        assert_eq!((t.len(), t.size()), (2, 68));
        assert_eq!(t.get(63), Some((&b"b"[..], &b"2"[..])));
        t.insert(&[b'x'; 60], b"12345678"); // 100: exactly fits, evicts all
        assert_eq!((t.len(), t.size()), (1, 100));
        t.insert(&[b'x'; 61], b"12345678"); // 101: empties the table
        assert_eq!((t.len(), t.size()), (0, 0));
        t.insert(b"a", b"1");
        t.set_max_size(0);
        assert!(t.is_empty());
    }

    #[test]
    fn find_prefers_static_and_full_matches() {
        let mut t = DynamicTable::new(4096);
        assert_eq!(t.find(b":method", b"GET"), Ok(2));
        assert_eq!(t.find(b":method", b"PUT"), Err(Some(2)));
        assert_eq!(t.find(b"x-a", b"1"), Err(None));
        t.insert(b"x-a", b"1");
        t.insert(b"x-a", b"2");
        assert_eq!(t.find(b"x-a", b"1"), Ok(63));
        assert_eq!(t.find(b"x-a", b"3"), Err(Some(62)));
        assert_eq!(t.get(0), None);
        assert_eq!(t.get(61), Some((&b"www-authenticate"[..], &b""[..])));
    }
}

//! The field block encoder (RFC 7541 §6): HAProxy's `hpack-enc.c`, with a
//! dynamic table (HAProxy encodes without one; the choice of what to index
//! follows nghttp2 and the `h2` crate).
//!
//! Per field, in order:
//! 1. sensitive fields (`authorization`, `proxy-authorization`, a `cookie`
//!    shorter than 20 bytes, or a field decoded as never indexed) are
//!    literals never indexed (RFC 7541 §7.1), their name indexed if it can be;
//! 2. a field in the static or dynamic table is sent as its index;
//! 3. otherwise a literal, its name indexed when possible, added to the
//!    dynamic table unless its name is in [`NOT_INDEXED`] (values that rarely
//!    repeat) or it would take more than 3/4 of the table.
//!
//! Strings are Huffman-encoded when that is shorter. A change of the peer's
//! SETTINGS_HEADER_TABLE_SIZE is signalled at the start of the next block
//! (the smallest size since the last block first, then the final one,
//! RFC 7541 §4.2).

use super::decode::Field;
use super::table::{DynamicTable, ENTRY_OVERHEAD};
use super::{encode_int, encode_str, DEFAULT_TABLE_SIZE};

/// Names whose values rarely repeat: never added to the dynamic table.
pub const NOT_INDEXED: &[&[u8]] = &[
    b":path",
    b"age",
    b"content-length",
    b"etag",
    b"if-modified-since",
    b"if-none-match",
];

/// The encoding side of one connection (HAProxy: `h2c->ddht`'s twin).
#[derive(Debug, Clone)]
pub struct Encoder {
    table: DynamicTable,
    /// The largest table this side uses, whatever the peer allows.
    own_max: usize,
    /// A size update owed at the start of the next block: (the smallest
    /// size since the last block, the size now).
    pending: Option<(usize, usize)>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new(DEFAULT_TABLE_SIZE)
    }
}

impl Encoder {
    /// An encoder that uses at most `own_max` bytes of dynamic table (0:
    /// no dynamic table), for a peer with the default SETTINGS_HEADER_TABLE_SIZE.
    pub fn new(own_max: usize) -> Self {
        let mut e = Encoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            own_max,
            pending: None,
        };
        e.set_peer_max_table_size(DEFAULT_TABLE_SIZE);
        e
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE (from its SETTINGS frame).
    pub fn set_peer_max_table_size(&mut self, peer_max: usize) {
        let size = peer_max.min(self.own_max);
        if size == self.table.max_size() && self.pending.is_none() {
            return;
        }
        let low = self.pending.map_or(size, |(low, _)| low.min(size));
        self.pending = Some((low, size));
        self.table.set_max_size(size);
    }

    /// The dynamic table (for tests and `show` commands).
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Appends the field block of `fields` to `dst`. Names must be
    /// lowercase (RFC 9113 §8.2.1): the mux's job.
    pub fn encode<'a, I>(&mut self, fields: I, dst: &mut Vec<u8>)
    where
        I: IntoIterator<Item = Field<'a>>,
    {
        if let Some((low, size)) = self.pending.take() {
            if low < size {
                encode_int(low as u32, 5, 0x20, dst);
            }
            encode_int(size as u32, 5, 0x20, dst);
        }
        for f in fields {
            self.encode_field(f, dst);
        }
    }

    fn encode_field(&mut self, f: Field<'_>, dst: &mut Vec<u8>) {
        let found = self.table.find(f.name, f.value);
        if f.never_indexed || is_sensitive(f.name, f.value) {
            // A whole-field match names an entry with this name too.
            let name_index = match found {
                Ok(i) => Some(i),
                Err(n) => n,
            };
            literal(name_index, 4, 0x10, f, dst);
            return;
        }
        let name_index = match found {
            Ok(index) => {
                encode_int(index, 7, 0x80, dst);
                return;
            }
            Err(n) => n,
        };
        let size = f.name.len() + f.value.len() + ENTRY_OVERHEAD;
        if NOT_INDEXED.contains(&f.name) || size > self.table.max_size() / 4 * 3 {
            literal(name_index, 4, 0x00, f, dst);
        } else {
            literal(name_index, 6, 0x40, f, dst);
            self.table.insert(f.name, f.value);
        }
    }
}

fn literal(name_index: Option<u32>, prefix: u8, flags: u8, f: Field<'_>, dst: &mut Vec<u8>) {
    match name_index {
        Some(i) => encode_int(i, prefix, flags, dst),
        None => {
            encode_int(0, prefix, flags, dst);
            encode_str(f.name, dst);
        }
    }
    encode_str(f.value, dst);
}

/// Fields that must not enter any compression context (RFC 7541 §7.1.3):
/// credentials, and cookies short enough to be guessed (nghttp2's rule).
fn is_sensitive(name: &[u8], value: &[u8]) -> bool {
    name == b"authorization"
        || name == b"proxy-authorization"
        || (name == b"cookie" && value.len() < 20)
}

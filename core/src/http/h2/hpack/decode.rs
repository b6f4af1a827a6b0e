//! The field block decoder (RFC 7541 §3, §6): HAProxy's `hpack_decode_frame`.

use super::table::{DynamicTable, ENTRY_OVERHEAD};
use super::{decode_int, decode_str, huffman, HpackError, DEFAULT_TABLE_SIZE};

/// One decoded field, borrowed from a [`HeaderList`] (or given to the
/// [`super::Encoder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    /// Sent as "never indexed" (RFC 7541 §6.2.3): an intermediary forwards
    /// it the same way (§7.1.3).
    pub never_indexed: bool,
}

impl<'a> Field<'a> {
    /// A field that may be indexed.
    pub fn new(name: &'a [u8], value: &'a [u8]) -> Self {
        Field {
            name,
            value,
            never_indexed: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    name: (usize, usize),
    value: (usize, usize),
    never_indexed: bool,
}

/// A decoded header list: names and values in one arena, in block order,
/// with the RFC 9113 §6.5.2 size bound (`max_header_list_size`). Reused
/// from block to block: [`Decoder::decode`] clears it first.
#[derive(Debug, Clone, Default)]
pub struct HeaderList {
    buf: Vec<u8>,
    fields: Vec<Pos>,
    size: usize,
    max_size: usize,
}

impl HeaderList {
    /// An empty list that accepts at most `max_size` bytes (names, values
    /// and 32 per field, RFC 9113 §6.5.2).
    pub fn new(max_size: usize) -> Self {
        HeaderList {
            max_size,
            ..Default::default()
        }
    }

    /// Changes the bound for the next decoded block.
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
    }

    /// The bound on [`HeaderList::size`].
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Forgets every field, keeps the memory.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.fields.clear();
        self.size = 0;
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there is no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The list's size as RFC 9113 §6.5.2 counts it.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The `i`-th field.
    pub fn get(&self, i: usize) -> Option<Field<'_>> {
        self.fields.get(i).map(|p| self.field(p))
    }

    /// Fields in block order.
    pub fn iter(&self) -> impl Iterator<Item = Field<'_>> {
        self.fields.iter().map(|p| self.field(p))
    }

    fn field(&self, p: &Pos) -> Field<'_> {
        Field {
            name: &self.buf[p.name.0..p.name.1],
            value: &self.buf[p.value.0..p.value.1],
            never_indexed: p.never_indexed,
        }
    }

    /// Whether a field of `name_len + value_len` still fits.
    fn fits(&self, name_len: usize, value_len: usize) -> bool {
        self.size + name_len + value_len + ENTRY_OVERHEAD <= self.max_size
    }
}

/// How a literal is to be indexed (RFC 7541 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexing {
    Incremental,
    Without,
    Never,
}

/// The decoding side of one connection (HAProxy keeps it in `h2c->ddht`).
#[derive(Debug, Clone)]
pub struct Decoder {
    table: DynamicTable,
    /// Our SETTINGS_HEADER_TABLE_SIZE, as the peer acknowledged it.
    max_table_size: usize,
    /// Set when that setting went below the table's size: the next block
    /// must start with an update to at most this.
    required_update: Option<usize>,
    /// A table entry's name while the same entry is re-inserted.
    scratch: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_TABLE_SIZE)
    }
}

impl Decoder {
    /// A decoder whose peer may use a table of `max_table_size` bytes
    /// (SETTINGS_HEADER_TABLE_SIZE; 4096 unless we announce otherwise).
    pub fn new(max_table_size: usize) -> Self {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_table_size,
            required_update: None,
            scratch: Vec::new(),
        }
    }

    /// Our SETTINGS_HEADER_TABLE_SIZE changed (call when the peer acknowledges
    /// it). Going below the table's current maximum obliges the peer to start
    /// its next block with a size update (RFC 7541 §4.2).
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        if max_table_size < self.table.max_size() {
            let r = self
                .required_update
                .map_or(max_table_size, |r| r.min(max_table_size));
            self.required_update = Some(r);
        }
        self.max_table_size = max_table_size;
    }

    /// The dynamic table (for tests and `show` commands).
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one complete field block into `out` (cleared first).
    ///
    /// On [`HpackError::HeaderListTooLarge`] the whole block was decoded (the
    /// table is in step) and `out` holds the fields that fit. On any other
    /// error the connection must end with COMPRESSION_ERROR: the table is
    /// then out of step and `out` is unspecified.
    pub fn decode(&mut self, block: &[u8], out: &mut HeaderList) -> Result<(), HpackError> {
        out.clear();
        let mut too_large = false;
        let mut fields_seen = false;
        let mut pos = 0;
        while let Some(&b) = block.get(pos) {
            let rest = &block[pos..];
            if b & 0xe0 == 0x20 {
                // Dynamic table size update (RFC 7541 §6.3).
                if fields_seen {
                    return Err(HpackError::SizeUpdateNotFirst);
                }
                pos += self.size_update(rest)?;
                continue;
            }
            if self.required_update.is_some() {
                return Err(HpackError::SizeUpdateMissing);
            }
            fields_seen = true;
            pos += if b & 0x80 != 0 {
                self.indexed(rest, out, &mut too_large)?
            } else {
                let (prefix, how) = match b {
                    _ if b & 0x40 != 0 => (6, Indexing::Incremental),
                    _ if b & 0x10 != 0 => (4, Indexing::Never),
                    _ => (4, Indexing::Without),
                };
                self.literal(rest, prefix, how, out, &mut too_large)?
            };
        }
        self.check_invariants();
        if too_large {
            return Err(HpackError::HeaderListTooLarge);
        }
        Ok(())
    }

    fn size_update(&mut self, src: &[u8]) -> Result<usize, HpackError> {
        let (size, n) = decode_int(src, 5)?;
        let size = size as usize;
        if size > self.max_table_size {
            return Err(HpackError::SizeUpdateTooLarge);
        }
        if self.required_update.is_some_and(|r| size <= r) {
            self.required_update = None;
        }
        self.table.set_max_size(size);
        Ok(n)
    }

    /// Indexed field (RFC 7541 §6.1). Nothing is copied once the list is
    /// full: a block of references to a large entry costs no memory.
    fn indexed(
        &self,
        src: &[u8],
        out: &mut HeaderList,
        too_large: &mut bool,
    ) -> Result<usize, HpackError> {
        let (index, n) = decode_int(src, 7)?;
        let (name, value) = self.table.get(index).ok_or(HpackError::InvalidIndex)?;
        if *too_large || !out.fits(name.len(), value.len()) {
            *too_large = true;
            return Ok(n);
        }
        let start = out.buf.len();
        out.buf.extend_from_slice(name);
        out.buf.extend_from_slice(value);
        push(
            out,
            start,
            name.len(),
            start + name.len(),
            value.len(),
            false,
        );
        Ok(n)
    }

    /// Literal field, name indexed or literal (RFC 7541 §6.2).
    fn literal(
        &mut self,
        src: &[u8],
        prefix: u8,
        how: Indexing,
        out: &mut HeaderList,
        too_large: &mut bool,
    ) -> Result<usize, HpackError> {
        let (name_index, mut n) = decode_int(src, prefix)?;
        let mark = out.buf.len();
        // A literal name goes to the arena first; an indexed one stays in
        // the table until the value is known to fit.
        let name_len = if name_index == 0 {
            let (h, raw, m) = decode_str(&src[n..])?;
            n += m;
            append_str(h, raw, &mut out.buf)?;
            out.buf.len() - mark
        } else {
            let (name, _) = self.table.get(name_index).ok_or(HpackError::InvalidIndex)?;
            name.len()
        };
        let value_start = out.buf.len();
        let (h, raw, m) = decode_str(&src[n..])?;
        n += m;
        append_str(h, raw, &mut out.buf)?;
        let value_len = out.buf.len() - value_start;
        let keep = !*too_large && out.fits(name_len, value_len);
        // Where the name is in the arena, once copied there.
        let mut name_start = mark;
        if name_index != 0 && (keep || how == Indexing::Incremental) {
            let (name, _) = self.table.get(name_index).ok_or(HpackError::InvalidIndex)?;
            if keep {
                name_start = out.buf.len();
                out.buf.extend_from_slice(name);
            } else {
                self.scratch.clear();
                self.scratch.extend_from_slice(name);
            }
        }
        if how == Indexing::Incremental {
            let value = &out.buf[value_start..value_start + value_len];
            if name_index != 0 && !keep {
                self.table.insert(&self.scratch, value);
            } else {
                self.table
                    .insert(&out.buf[name_start..name_start + name_len], value);
            }
        }
        if keep {
            push(
                out,
                name_start,
                name_len,
                value_start,
                value_len,
                how == Indexing::Never,
            );
        } else {
            *too_large = true;
            out.buf.truncate(mark);
        }
        Ok(n)
    }

    fn check_invariants(&self) {
        debug_assert!(
            self.table.max_size() <= self.max_table_size || self.required_update.is_some()
        );
        debug_assert!(self.table.size() <= self.table.max_size());
    }
}

fn push(
    out: &mut HeaderList,
    name_start: usize,
    name_len: usize,
    value_start: usize,
    value_len: usize,
    never: bool,
) {
    out.size += name_len + value_len + ENTRY_OVERHEAD;
    out.fields.push(Pos {
        name: (name_start, name_start + name_len),
        value: (value_start, value_start + value_len),
        never_indexed: never,
    });
    debug_assert!(out.size <= out.max_size);
}

/// Appends a string literal's bytes, Huffman-decoded when flagged.
fn append_str(huffman: bool, raw: &[u8], dst: &mut Vec<u8>) -> Result<(), HpackError> {
    if huffman {
        huffman::decode(raw, dst)
    } else {
        dst.extend_from_slice(raw);
        Ok(())
    }
}

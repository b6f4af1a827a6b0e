//! Stick tables (HAProxy's `stick_table.c`).
//!
//! * [`data_type`]: the data types a table can store, with HAProxy's ids.
//! * [`params`]: what a table is configured with (`type`, `size`, `expire`, `store`, ...).
//! * [`key`]: normalised keys ([`StKey`]), their wire/CLI forms and `show table` format.
//! * [`data`]: stored values ([`StData`]) and a table's data layout.
//! * [`table`]: the table itself ([`StickTable`]): entries, expiry, eviction,
//!   reference counts, the update log that feeds the peers, `show table` lines.

pub mod data;
pub mod data_type;
pub mod key;
pub mod params;
pub mod table;

pub use data::{DataError, DataLayout, Slot, StData};
pub use data_type::{ArgKind, DataType, DataTypeInfo, StdType};
pub use key::{KeyError, StKey};
pub use params::{KeyType, StoreSpec, TableParams};
pub use table::{EntryId, StickTable};

/// A stick table: its position in the engine's table list, fixed when the
/// configuration is loaded (HAProxy's `struct stktable *`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct TableId(pub u32);

impl TableId {
    /// The handle of the table at position `i`.
    pub const fn new(i: usize) -> TableId {
        TableId(i as u32)
    }

    /// Its position in the engine's list.
    pub const fn idx(self) -> usize {
        self.0 as usize
    }
}

impl core::ops::Index<TableId> for [StickTable] {
    type Output = StickTable;
    fn index(&self, id: TableId) -> &StickTable {
        &self[id.idx()]
    }
}

impl core::ops::IndexMut<TableId> for [StickTable] {
    fn index_mut(&mut self, id: TableId) -> &mut StickTable {
        &mut self[id.idx()]
    }
}

impl core::ops::Index<TableId> for Vec<StickTable> {
    type Output = StickTable;
    fn index(&self, id: TableId) -> &StickTable {
        &self[id.idx()]
    }
}

impl core::ops::IndexMut<TableId> for Vec<StickTable> {
    fn index_mut(&mut self, id: TableId) -> &mut StickTable {
        &mut self[id.idx()]
    }
}

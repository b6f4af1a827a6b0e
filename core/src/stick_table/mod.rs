//! Stick tables (HAProxy's `stick_table.c`).
//!
//! * [`data_type`]: the data types a table can store, with HAProxy's ids.
//! * [`params`]: what a table is configured with (`type`, `size`, `expire`, `store`, ...).
//! * [`key`]: normalised keys ([`StKey`]), their wire/CLI forms and `show table` format.
//! * [`data`]: stored values ([`StData`]) and a table's data layout.
//! * [`table`]: the table itself ([`StickTable`]): entries, expiry, eviction,
//!   reference counts, the update log that feeds the peers, `show table` lines.
//! * [`threads`]: one table per process with `nbthread` above 1 (replicas
//!   kept equal by messages between the engines, docs/threads.md).

pub mod data;
pub mod data_type;
pub mod key;
pub mod params;
pub mod table;
pub mod threads;

pub use data::{DataError, DataLayout, Slot, StData};
pub use data_type::{ArgKind, DataType, DataTypeInfo, StdType};
pub use key::{KeyError, StKey};
pub use params::{KeyType, SrvKey, StoreSpec, TableParams};
pub use table::{EntryId, JOp, JOpKind, Pending, StickTable};

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

/// The engine's stick tables, indexed by [`TableId`] (peers-section tables
/// first, then proxy tables, in configuration order).
#[derive(Debug, Default)]
pub struct Tables(Vec<StickTable>);

impl Tables {
    /// Adds a table; returns its handle.
    pub fn push(&mut self, t: StickTable) -> TableId {
        self.0.push(t);
        TableId::new(self.0.len() - 1)
    }

    /// Table `id`, if there is one.
    pub fn get(&self, id: TableId) -> Option<&StickTable> {
        self.0.get(id.idx())
    }

    /// Table `id`, if there is one.
    pub fn get_mut(&mut self, id: TableId) -> Option<&mut StickTable> {
        self.0.get_mut(id.idx())
    }

    /// The table named `name` (`id` of its parameters).
    pub fn by_name(&self, name: &str) -> Option<TableId> {
        self.0
            .iter()
            .position(|t| t.params().id == name)
            .map(TableId::new)
    }

    /// Every table's handle, in order.
    pub fn ids(&self) -> impl Iterator<Item = TableId> {
        (0..self.0.len()).map(TableId::new)
    }
}

impl core::ops::Deref for Tables {
    type Target = [StickTable];
    fn deref(&self) -> &[StickTable] {
        &self.0
    }
}

impl core::ops::DerefMut for Tables {
    fn deref_mut(&mut self) -> &mut [StickTable] {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a Tables {
    type Item = &'a StickTable;
    type IntoIter = core::slice::Iter<'a, StickTable>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

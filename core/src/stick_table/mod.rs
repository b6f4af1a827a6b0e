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

//! Stick tables (HAProxy's `stick_table.c`).

pub mod data_type;
pub mod params;

pub use data_type::{ArgKind, DataType, DataTypeInfo, StdType};
pub use params::{KeyType, StoreSpec, TableParams};

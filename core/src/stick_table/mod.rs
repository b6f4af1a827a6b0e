//! Stick tables (HAProxy's `stick_table.c`).

pub mod data_type;

pub use data_type::{ArgKind, DataType, DataTypeInfo, StdType};

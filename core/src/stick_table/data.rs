//! The data stored with each stick-table entry: HAProxy's `union
//! stktable_data` and the per-table layout (`t->data_ofs[]`,
//! `t->data_nbelem[]`, `t->data_arg[]`) built from the `store` clauses.
//!
//! Each stored data type gets a run of slots in the entry's data array: one
//! slot, or `array_len` slots for the array types `gpt`, `gpc`, `gpc_rate`.
//! The variant in a slot always matches the type's [`StdType`]; this is the
//! invariant [`DataLayout::matches`] checks.

use core::fmt;

use bytes::Bytes;

use super::data_type::{DataType, StdType};
use super::params::TableParams;
use crate::freq_ctr::FreqCtr;

/// One stored value (HAProxy's `union stktable_data`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StData {
    /// `std_t_sint` (`server_id`).
    SInt(i32),
    /// `std_t_uint` (counters, `gpt0`, `conn_cur`, ...).
    UInt(u32),
    /// `std_t_ull` (`bytes_in_cnt`, `bytes_out_cnt`).
    Ull(u64),
    /// `std_t_frqp`: a frequency counter over the type's period.
    Freq(FreqCtr),
    /// `std_t_dict` (`server_key`): a server name, or none.
    Dict(Option<Bytes>),
}

impl StData {
    /// The zero value of a storage type (HAProxy memsets new entries to 0).
    pub fn zero(std_type: StdType) -> StData {
        match std_type {
            StdType::SInt => StData::SInt(0),
            StdType::UInt => StData::UInt(0),
            StdType::Ull => StData::Ull(0),
            StdType::FreqP => StData::Freq(FreqCtr::default()),
            StdType::Dict => StData::Dict(None),
        }
    }

    /// The storage type of this value.
    pub fn std_type(&self) -> StdType {
        match self {
            StData::SInt(_) => StdType::SInt,
            StData::UInt(_) => StdType::UInt,
            StData::Ull(_) => StdType::Ull,
            StData::Freq(_) => StdType::FreqP,
            StData::Dict(_) => StdType::Dict,
        }
    }
}

/// Why a data access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataError {
    /// The entry handle is stale.
    NoEntry,
    /// The table does not store this type, or the index is past the array
    /// (HAProxy: "Data type not stored in this table").
    NotStored,
    /// A value of another storage type than the data type's.
    WrongType,
    /// A numeric CLI value for a dictionary type (HAProxy 2.6 accepts the
    /// command and silently stores nothing).
    NotNumeric,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataError::NoEntry => "No such entry",
            DataError::NotStored => "Data type not stored in this table",
            DataError::WrongType => "Value of the wrong type for this data type",
            DataError::NotNumeric => "Data type does not hold a number",
        })
    }
}

/// Where one stored data type lives in an entry's data array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Index of element 0.
    pub first: usize,
    /// Number of elements (1, or the array size).
    pub len: usize,
    /// The period of a frequency counter, in ms (0 otherwise).
    pub period_ms: u32,
    pub std_type: StdType,
}

/// The data layout of a table: which types it stores, in id order, and
/// where (HAProxy's `data_ofs`/`data_nbelem`/`data_arg`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataLayout {
    /// Indexed by data type id; `None` when the type is not stored.
    slots: Vec<Option<Slot>>,
    total: usize,
}

impl DataLayout {
    /// The layout of `params.store`. Unknown data types are skipped; array
    /// sizes are clamped to 1..=100 and non-array types get one element, so
    /// a bad spec never makes an entry unbounded.
    pub fn new(params: &TableParams) -> DataLayout {
        let mut slots = vec![None; usize::from(DataType::COUNT)];
        let mut total = 0;
        for dt in DataType::all() {
            let Some(spec) = params.store_spec(dt) else {
                continue;
            };
            let Some(info) = dt.info() else { continue };
            let len = if info.is_array() {
                usize::from(spec.array_len).clamp(1, DataType::MAX_ARRAY_LEN)
            } else {
                1
            };
            slots[usize::from(dt.0)] = Some(Slot {
                first: total,
                len,
                period_ms: spec.period_ms,
                std_type: info.std_type,
            });
            total += len;
        }
        DataLayout { slots, total }
    }

    /// The slot of a stored type.
    pub fn slot(&self, dt: DataType) -> Option<&Slot> {
        self.slots.get(usize::from(dt.0))?.as_ref()
    }

    /// Index of element `idx` of type `dt` in an entry's data array.
    pub fn index(&self, dt: DataType, idx: usize) -> Option<usize> {
        let s = self.slot(dt)?;
        (idx < s.len).then_some(s.first + idx)
    }

    /// The period (ms, 0 but for frequency counters) of data slot `i`;
    /// `None` past the entry's data.
    pub fn period_of_slot(&self, i: usize) -> Option<u32> {
        self.slots
            .iter()
            .flatten()
            .find(|s| (s.first..s.first + s.len).contains(&i))
            .map(|s| s.period_ms)
    }

    /// Stored types in id order with their slots.
    pub fn iter(&self) -> impl Iterator<Item = (DataType, &Slot)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((DataType(i as u8), s.as_ref()?)))
    }

    /// Total number of slots of one entry.
    pub fn total(&self) -> usize {
        self.total
    }

    /// A fresh entry's data: every slot at its type's zero.
    pub fn zeroed(&self) -> Box<[StData]> {
        let mut v = Vec::with_capacity(self.total);
        for (_, s) in self.iter() {
            v.extend((0..s.len).map(|_| StData::zero(s.std_type)));
        }
        v.into_boxed_slice()
    }

    /// Whether `data` has this layout (length and variant of every slot).
    pub fn matches(&self, data: &[StData]) -> bool {
        data.len() == self.total
            && self.iter().all(|(_, s)| {
                data[s.first..s.first + s.len]
                    .iter()
                    .all(|d| d.std_type() == s.std_type)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stick_table::params::{KeyType, StoreSpec};

    #[test]
    fn arrays_expand_and_types_keep_id_order() {
        let mut p = TableParams::new("t", KeyType::Ipv6, 8);
        p.store = vec![
            StoreSpec::plain(DataType::CONN_CUR),
            StoreSpec::rate(DataType::BYTES_OUT_RATE, 60_000),
            StoreSpec::plain(DataType::HTTP_FAIL_CNT),
            StoreSpec::array(DataType::GPT, 2, 0),
            StoreSpec::array(DataType::GPC, 2, 0),
            StoreSpec::array(DataType::GPC_RATE, 2, 10_000),
        ];
        let l = DataLayout::new(&p);
        assert_eq!(l.total(), 9);
        assert_eq!(l.index(DataType::CONN_CUR, 0), Some(0));
        assert_eq!(l.index(DataType::GPT, 1), Some(4));
        assert_eq!(l.index(DataType::GPT, 2), None);
        assert_eq!(l.index(DataType::GPC_RATE, 1), Some(8));
        assert_eq!(l.index(DataType::GPC0, 0), None);
        assert_eq!(l.slot(DataType::GPC_RATE).unwrap().period_ms, 10_000);
        let order: Vec<u8> = l.iter().map(|(d, _)| d.0).collect();
        assert_eq!(order, [6, 16, 20, 22, 23, 24]);
        let z = l.zeroed();
        assert!(l.matches(&z));
        assert_eq!(z[8], StData::Freq(FreqCtr::default()));
        let mut bad = z.to_vec();
        bad[0] = StData::Ull(0);
        assert!(!l.matches(&bad));
    }

    #[test]
    fn bad_specs_are_clamped() {
        let mut p = TableParams::new("t", KeyType::Ipv4, 8);
        p.store = vec![
            StoreSpec::array(DataType::GPT, 0, 0),
            StoreSpec::array(DataType::GPC, 1000, 0),
            StoreSpec::array(DataType::GPC0, 7, 0),
            StoreSpec::plain(DataType(200)),
        ];
        let l = DataLayout::new(&p);
        assert_eq!(l.slot(DataType::GPT).unwrap().len, 1);
        assert_eq!(l.slot(DataType::GPC).unwrap().len, 100);
        assert_eq!(l.slot(DataType::GPC0).unwrap().len, 1);
        assert_eq!(l.total(), 102);
    }
}

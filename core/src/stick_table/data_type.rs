//! Stick-table data types: HAProxy's `stktable_data_types[]`
//! (`include/haproxy/stick_table-t.h`, `src/stick_table.c`).
//!
//! A data type is identified on the wire by its numeric id (`STKTABLE_DT_*`),
//! so [`DataType`] is an open newtype: an id this build does not know is still
//! a value, never a panic. [`DataType::info`] gives what is known about it:
//! its configuration name, how it is stored ([`StdType`], HAProxy's
//! `STD_T_*`), which parameter it takes in a `store` clause, whether it is an
//! array, and whether it is local-only (never learned from a peer).

use core::fmt;

/// HAProxy's `STD_T_*`: how one value of a data type is stored and encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdType {
    /// `STD_T_SINT`: signed 32 bits; sent as the varint of its 64-bit sign extension.
    SInt,
    /// `STD_T_UINT`: unsigned 32 bits; varint.
    UInt,
    /// `STD_T_ULL`: unsigned 64 bits; varint.
    Ull,
    /// `STD_T_FRQP`: a frequency counter over a period; sent as a triplet
    /// `age, curr_ctr, prev_ctr`.
    FreqP,
    /// `STD_T_DICT`: a reference into a dictionary of strings (server names).
    Dict,
}

/// The parameter a data type takes in a `store` clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// No parameter: `gpc0`.
    None,
    /// A period: `conn_rate(10s)` (`ARG_T_DELAY`).
    Period,
    /// An array size: `gpt(2)`.
    Array,
    /// An array size and a period: `gpc_rate(2,10s)`.
    ArrayPeriod,
}

/// What is known about one data type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataTypeInfo {
    /// The keyword used in `store`, in `data.<name>` and in `show table`.
    pub name: &'static str,
    /// How one element is stored and encoded.
    pub std_type: StdType,
    /// The parameter it takes in a `store` clause.
    pub arg: ArgKind,
    /// HAProxy's `is_local`: never learned from a peer (e.g. `conn_cur`).
    pub local_only: bool,
}

impl DataTypeInfo {
    /// An array type (`gpt`, `gpc`, `gpc_rate`).
    pub fn is_array(&self) -> bool {
        matches!(self.arg, ArgKind::Array | ArgKind::ArrayPeriod)
    }

    /// A frequency counter (or an array of them): it has a period.
    pub fn has_period(&self) -> bool {
        matches!(self.arg, ArgKind::Period | ArgKind::ArrayPeriod)
    }
}

/// A stick-table data type id (`STKTABLE_DT_*`), as sent on the wire.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataType(pub u8);

macro_rules! data_types {
    ($( $id:literal $konst:ident $name:literal $std:ident $arg:ident $local:literal ; )*) => {
        impl DataType {
            $(
                #[doc = concat!("`", $name, "` (`STKTABLE_DT_", stringify!($konst), "`).")]
                pub const $konst: DataType = DataType($id);
            )*
        }
        const INFOS: &[DataTypeInfo] = &[
            $( DataTypeInfo { name: $name, std_type: StdType::$std, arg: ArgKind::$arg, local_only: $local } ),*
        ];
    };
}

// id, const, name, storage, parameter, local-only. Ids 0..=24 are HAProxy
// 2.6's; 25 and 26 arrived in 3.0 and are known so that a newer sender's
// updates still decode.
data_types! {
    0  SERVER_ID      "server_id"      SInt  None        false;
    1  GPT0           "gpt0"           UInt  None        false;
    2  GPC0           "gpc0"           UInt  None        false;
    3  GPC0_RATE      "gpc0_rate"      FreqP Period      false;
    4  CONN_CNT       "conn_cnt"       UInt  None        false;
    5  CONN_RATE      "conn_rate"      FreqP Period      false;
    6  CONN_CUR       "conn_cur"       UInt  None        true;
    7  SESS_CNT       "sess_cnt"       UInt  None        false;
    8  SESS_RATE      "sess_rate"      FreqP Period      false;
    9  HTTP_REQ_CNT   "http_req_cnt"   UInt  None        false;
    10 HTTP_REQ_RATE  "http_req_rate"  FreqP Period      false;
    11 HTTP_ERR_CNT   "http_err_cnt"   UInt  None        false;
    12 HTTP_ERR_RATE  "http_err_rate"  FreqP Period      false;
    13 BYTES_IN_CNT   "bytes_in_cnt"   Ull   None        false;
    14 BYTES_IN_RATE  "bytes_in_rate"  FreqP Period      false;
    15 BYTES_OUT_CNT  "bytes_out_cnt"  Ull   None        false;
    16 BYTES_OUT_RATE "bytes_out_rate" FreqP Period      false;
    17 GPC1           "gpc1"           UInt  None        false;
    18 GPC1_RATE      "gpc1_rate"      FreqP Period      false;
    19 SERVER_KEY     "server_key"     Dict  None        false;
    20 HTTP_FAIL_CNT  "http_fail_cnt"  UInt  None        false;
    21 HTTP_FAIL_RATE "http_fail_rate" FreqP Period      false;
    22 GPT            "gpt"            UInt  Array       false;
    23 GPC            "gpc"            UInt  Array       false;
    24 GPC_RATE       "gpc_rate"       FreqP ArrayPeriod false;
    25 GLITCH_CNT     "glitch_cnt"     UInt  None        false;
    26 GLITCH_RATE    "glitch_rate"    FreqP Period      false;
}

impl DataType {
    /// Number of data types this build knows (ids `0..COUNT`).
    pub const COUNT: u8 = INFOS.len() as u8;

    /// Largest element count of an array type (`gpt(N)`, `gpc(N)`), as in HAProxy.
    pub const MAX_ARRAY_LEN: usize = 100;

    /// What is known about this type, or `None` for an id this build does not know.
    pub fn info(self) -> Option<&'static DataTypeInfo> {
        INFOS.get(self.0 as usize)
    }

    /// The type whose `store` keyword is `name`.
    pub fn from_name(name: &str) -> Option<DataType> {
        INFOS
            .iter()
            .position(|i| i.name == name)
            .map(|i| DataType(i as u8))
    }

    /// Every known type, in id order.
    pub fn all() -> impl Iterator<Item = DataType> {
        (0..Self::COUNT).map(DataType)
    }

    /// This type's bit in a data-types bitfield (`1 << id`), or 0 if the id
    /// does not fit in 64 bits.
    pub fn bit(self) -> u64 {
        1u64.checked_shl(u32::from(self.0)).unwrap_or(0)
    }
}

impl fmt::Debug for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Some(i) => write!(f, "{}", i.name),
            None => write!(f, "DataType({})", self.0),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_haproxy_2_6() {
        assert_eq!(DataType::from_name("server_id"), Some(DataType(0)));
        assert_eq!(DataType::from_name("http_req_rate"), Some(DataType(10)));
        assert_eq!(DataType::from_name("server_key"), Some(DataType(19)));
        assert_eq!(DataType::from_name("gpc_rate"), Some(DataType(24)));
        assert_eq!(DataType::GPC_RATE.info().unwrap().arg, ArgKind::ArrayPeriod);
        assert!(DataType::CONN_CUR.info().unwrap().local_only);
        assert_eq!(
            DataType::BYTES_IN_CNT.info().unwrap().std_type,
            StdType::Ull
        );
        assert_eq!(DataType(27).info(), None);
        assert_eq!(DataType(200).bit(), 0);
        // The bitfield of /t_ip in the captures: 0x2437.
        let bits: u64 = [0u8, 1, 2, 4, 5, 10, 13]
            .iter()
            .map(|&i| DataType(i).bit())
            .sum();
        assert_eq!(bits, 0x2437);
    }
}

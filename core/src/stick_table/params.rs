//! What a stick table is configured with: HAProxy's `struct stktable` fields
//! that come from a `table` line in a `peers` section or a `stick-table` line
//! in a proxy (`type`, `len`, `size`, `expire`, `store`, `peers`, `nopurge`).

use super::data_type::{ArgKind, DataType};

/// A stick-table key type (`type ip|ipv6|integer|string|binary`), with its
/// wire id in the peers protocol's table definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `type ip`: an IPv4 address, 4 bytes in network order (wire id 4).
    Ipv4,
    /// `type ipv6`: 16 bytes (wire id 5).
    Ipv6,
    /// `type integer`: 32 bits, sent big-endian (wire id 2).
    Integer,
    /// `type string [len N]`: up to `key_size - 1` bytes (wire id 6).
    String,
    /// `type binary [len N]`: exactly `key_size` bytes, zero-padded (wire id 7).
    Binary,
}

impl KeyType {
    /// The id of this key type in a TABLE_DEFINITION.
    pub const fn wire_id(self) -> u8 {
        match self {
            KeyType::Integer => 2,
            KeyType::Ipv4 => 4,
            KeyType::Ipv6 => 5,
            KeyType::String => 6,
            KeyType::Binary => 7,
        }
    }

    /// The key type with wire id `id`, if any (0, 1, 3 and > 7 are unused).
    pub const fn from_wire(id: u64) -> Option<KeyType> {
        match id {
            2 => Some(KeyType::Integer),
            4 => Some(KeyType::Ipv4),
            5 => Some(KeyType::Ipv6),
            6 => Some(KeyType::String),
            7 => Some(KeyType::Binary),
            _ => None,
        }
    }

    /// The configuration keyword (`type <name>`), also printed by `show table`.
    pub const fn name(self) -> &'static str {
        match self {
            KeyType::Ipv4 => "ip",
            KeyType::Ipv6 => "ipv6",
            KeyType::Integer => "integer",
            KeyType::String => "string",
            KeyType::Binary => "binary",
        }
    }

    /// The key type named `name` in a configuration.
    pub fn from_name(name: &str) -> Option<KeyType> {
        Some(match name {
            "ip" | "ipv4" => KeyType::Ipv4,
            "ipv6" => KeyType::Ipv6,
            "integer" => KeyType::Integer,
            "string" => KeyType::String,
            "binary" => KeyType::Binary,
            _ => return None,
        })
    }

    /// HAProxy's key size when no `len` is given: 4, 16, 4, 32, 32.
    pub const fn default_key_size(self) -> usize {
        match self {
            KeyType::Ipv4 | KeyType::Integer => 4,
            KeyType::Ipv6 => 16,
            KeyType::String | KeyType::Binary => 32,
        }
    }

    /// Whether `len N` is accepted for this key type.
    pub const fn takes_len(self) -> bool {
        matches!(self, KeyType::String | KeyType::Binary)
    }

    /// The key size HAProxy uses for `len N`: a string keeps room for its
    /// terminating NUL (`len 32` -> 33), a binary key is exactly `N` bytes.
    pub const fn key_size_for_len(self, len: usize) -> usize {
        match self {
            KeyType::String => len + 1,
            _ => len,
        }
    }
}

/// One data type in a `store` clause: `gpc0`, `conn_rate(10s)`, `gpt(2)`,
/// `gpc_rate(2,10s)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreSpec {
    pub data_type: DataType,
    /// Number of elements: the array size for array types, 1 otherwise.
    pub array_len: u16,
    /// The period of a frequency counter, in ms; 0 for other types.
    pub period_ms: u32,
}

impl StoreSpec {
    /// A non-array type without a period (`gpc0`, `server_id`, ...).
    pub fn plain(data_type: DataType) -> StoreSpec {
        StoreSpec {
            data_type,
            array_len: 1,
            period_ms: 0,
        }
    }

    /// A frequency counter over `period_ms` (`conn_rate(10s)`).
    pub fn rate(data_type: DataType, period_ms: u32) -> StoreSpec {
        StoreSpec {
            data_type,
            array_len: 1,
            period_ms,
        }
    }

    /// An array type (`gpt(2)`, or `gpc_rate(2,10s)` with a period).
    pub fn array(data_type: DataType, array_len: u16, period_ms: u32) -> StoreSpec {
        StoreSpec {
            data_type,
            array_len,
            period_ms,
        }
    }

    /// Whether the spec is consistent with its type: arrays have 1..=100
    /// elements, counters have a non-zero period, other types neither.
    pub fn is_valid(&self) -> bool {
        let Some(info) = self.data_type.info() else {
            return false;
        };
        let len_ok = if info.is_array() {
            (1..=DataType::MAX_ARRAY_LEN as u16).contains(&self.array_len)
        } else {
            self.array_len == 1
        };
        let period_ok = match info.arg {
            ArgKind::Period | ArgKind::ArrayPeriod => self.period_ms > 0,
            ArgKind::None | ArgKind::Array => self.period_ms == 0,
        };
        len_ok && period_ok
    }
}

/// What a stick rule stores in `server_key` to name the server (HAProxy's
/// `server_key_type`, `srvkey name|addr`): the match finds the server by
/// it first, then by `server_id`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[doc(alias = "STKTABLE_SRV_NAME")]
pub enum SrvKey {
    /// The server's name (`srv->id`), the default.
    #[default]
    Name,
    /// The server's address and port (`srv->addr_key`, `ip:port`).
    Addr,
}

/// Everything a stick table is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableParams {
    /// The name used by the CLI and by `table` arguments: `mesh/t_ip` for a
    /// table declared in peers section `mesh`, the proxy name (`be_stick`)
    /// for a `stick-table` line.
    pub id: String,
    /// The name sent in peers TABLE_DEFINITION messages: `/t_ip` for a
    /// peers-section table, the proxy name for a proxy table.
    pub wire_name: String,
    pub key_type: KeyType,
    /// HAProxy's `key_size`: 4 (ip, integer), 16 (ipv6), `len + 1` for
    /// strings (32 without `len`), `len` for binary (32 without `len`).
    pub key_size: usize,
    /// Maximum number of entries (`size`).
    pub size: usize,
    /// `expire`, in ms; `None` when the table has no expiry.
    pub expire_ms: Option<u32>,
    /// `store` clauses, sorted by data type id, one per type.
    pub store: Vec<StoreSpec>,
    /// The peers section the table is synchronised through (`peers NAME`).
    pub peers: Option<String>,
    /// `nopurge`: when full, refuse new entries instead of evicting old ones.
    pub nopurge: bool,
    /// `srvkey name|addr`.
    pub srvkey: SrvKey,
}

impl TableParams {
    /// A table with HAProxy's defaults for `key_type`, no data and no expiry.
    pub fn new(id: impl Into<String>, key_type: KeyType, size: usize) -> TableParams {
        let id = id.into();
        TableParams {
            wire_name: id.clone(),
            id,
            key_type,
            key_size: key_type.default_key_size(),
            size,
            expire_ms: None,
            store: Vec::new(),
            peers: None,
            nopurge: false,
            srvkey: SrvKey::Name,
        }
    }

    /// The bitfield of stored data types, as sent in a TABLE_DEFINITION.
    pub fn data_types_bitfield(&self) -> u64 {
        self.store.iter().fold(0, |acc, s| acc | s.data_type.bit())
    }

    /// The `store` clause of `data_type`, if the table stores it.
    pub fn store_spec(&self, data_type: DataType) -> Option<&StoreSpec> {
        self.store.iter().find(|s| s.data_type == data_type)
    }
}

//! TABLE_DEFINITION (`0a 82`, PROTOCOL.md §8.1), HAProxy's
//! `peer_send_switchmsg`/`peer_prepare_switchmsg` (which send definitions)
//! and `peer_treat_definemsg`.
//!
//! ```text
//! table id | name len | name | key type | key size | data types | [expire | params...]
//! varint   | varint>0 | ...  | varint   | varint   | varint u64 | varints
//! ```
//!
//! The receiver's rules have two scopes, so decoding has two results:
//!
//! * [`TableDefinition::decode`] fails only on what is a protocol error
//!   **always**: a truncated table id or name length, an empty name, a name
//!   reaching the end of the body.
//! * [`TableDefinition::fields`] holds the rest. Its error
//!   [`DefinitionFieldsError::Truncated`] is a protocol error **only if the
//!   name matches a local table**; the other errors make the definition
//!   ignored. The session compares key type and key size with its table
//!   (a mismatch ignores the definition) before using the parameters.

use super::error::{Field, Malformed, Reason};
use super::frame::{Frame, MsgClass};
use super::message::StkType;
use super::reader::Reader;
use super::varint;
use crate::stick_table::{ArgKind, DataType, KeyType, TableParams};

/// The definition parameter of one data type: an array's element count and
/// a counter's period, in the order they are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeParam {
    pub data_type: DataType,
    /// Arrays only: the number of elements.
    pub element_count: Option<u64>,
    /// Frequency counters (and arrays of them): the period in ms.
    pub period_ms: Option<u64>,
}

/// Everything after the name in a definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinitionFields {
    /// Wire key type (2, 4, 5, 6, 7 are used; see [`KeyType::from_wire`]).
    pub key_type: u64,
    /// HAProxy's `key_size`.
    pub key_size: u64,
    /// Bit n set: data type n is sent in every update, in increasing order.
    pub data_types: u64,
    /// The table's `expire` in ms. `None`: an old-style definition that ends
    /// right after the data types, so it has no parameters either (an expire
    /// field that does not decode is treated the same way, as 2.6 does).
    pub expire_ms: Option<u64>,
    /// One entry per set bit of a known array or counter type, in
    /// increasing type order. Empty when `expire_ms` is `None`.
    pub params: Vec<TypeParam>,
}

/// Why [`DefinitionFields`] could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefinitionFieldsError {
    /// The key type, key size or data types field is truncated: a protocol
    /// error if the name matches a local table, ignored otherwise.
    Truncated(Field),
    /// An old-style definition (no expire, no parameters) announcing an
    /// array type, whose element count is then unknown: ignored.
    ArrayWithoutParameters(DataType),
    /// The parameter of a set bit is missing or truncated: ignored.
    MissingParameter(DataType),
    /// A parameter names another type than the expected bit: ignored.
    MismatchedParameter { expected: DataType, found: u64 },
}

impl DefinitionFieldsError {
    /// Whether HAProxy answers PROTOCOL_ERROR, provided the name matches a
    /// local table (otherwise the definition is ignored anyway).
    pub const fn is_protocol_error(&self) -> bool {
        matches!(self, DefinitionFieldsError::Truncated(_))
    }
}

/// A TABLE_DEFINITION message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDefinition<'a> {
    /// The sender's id for the table; acks and switches refer to it.
    pub table_id: u64,
    /// The wire name: `/t_ip` for a peers-section table, the proxy name for
    /// a `stick-table` line.
    pub name: &'a [u8],
    /// The fields after the name, or why they are unusable.
    pub fields: Result<DefinitionFields, DefinitionFieldsError>,
}

impl<'a> TableDefinition<'a> {
    /// Decodes a definition body. `Err` is always a protocol error.
    /// Bytes after the last parameter are ignored.
    pub fn decode(body: &'a [u8]) -> Result<TableDefinition<'a>, Malformed> {
        let mut r = Reader::new(body);
        let table_id = r.varint(Field::TableId)?;
        let name_len = r.varint(Field::NameLength)?;
        if name_len == 0 {
            return Err(Malformed::new(Field::NameLength, Reason::Zero));
        }
        // At least one byte must follow the name.
        if name_len >= r.rest().len() as u64 {
            return Err(Malformed::new(Field::Name, Reason::ReachesEnd));
        }
        let name = r.bytes(name_len, Field::Name)?;
        let fields = DefinitionFields::decode(&mut r);
        Ok(TableDefinition {
            table_id,
            name,
            fields,
        })
    }

    /// Appends the whole message. Fields that did not decode are not
    /// written (senders always have `Ok` fields).
    pub fn encode(&self, out: &mut Vec<u8>) {
        crate::bug_on!(self.fields.is_err(), "encoding a definition without fields");
        crate::bug_on!(self.name.is_empty(), "a table name is never empty");
        Frame::encode_with(out, MsgClass::STICK_TABLE, StkType::DEFINE.0, |out| {
            varint::encode(self.table_id, out);
            varint::encode(self.name.len() as u64, out);
            out.extend_from_slice(self.name);
            if let Ok(fields) = &self.fields {
                fields.encode(out);
            }
        });
    }
}

impl DefinitionFields {
    /// The fields HAProxy sends for a local table: key, bitfield, expire
    /// (0 for none) and one parameter per array or counter.
    pub fn from_table_params(params: &TableParams) -> DefinitionFields {
        let mut store: Vec<_> = params
            .store
            .iter()
            .filter(|s| s.data_type.info().is_some())
            .collect();
        store.sort_by_key(|s| s.data_type);
        let type_params = store
            .iter()
            .filter_map(|s| {
                let info = s.data_type.info()?;
                let element_count = info.is_array().then_some(u64::from(s.array_len));
                let period_ms = info.has_period().then_some(u64::from(s.period_ms));
                (element_count.is_some() || period_ms.is_some()).then_some(TypeParam {
                    data_type: s.data_type,
                    element_count,
                    period_ms,
                })
            })
            .collect();
        DefinitionFields {
            key_type: u64::from(params.key_type.wire_id()),
            key_size: params.key_size as u64,
            data_types: params.data_types_bitfield(),
            expire_ms: Some(u64::from(params.expire_ms.unwrap_or(0))),
            params: type_params,
        }
    }

    /// The key type, if it is one HAProxy uses.
    pub fn key_type(&self) -> Option<KeyType> {
        KeyType::from_wire(self.key_type)
    }

    /// The parameter sent for `data_type`, if any.
    pub fn param(&self, data_type: DataType) -> Option<&TypeParam> {
        self.params.iter().find(|p| p.data_type == data_type)
    }

    fn decode(r: &mut Reader<'_>) -> Result<DefinitionFields, DefinitionFieldsError> {
        let truncated = |m: Malformed| DefinitionFieldsError::Truncated(m.field);
        let key_type = r.varint(Field::KeyType).map_err(truncated)?;
        let key_size = r.varint(Field::KeySize).map_err(truncated)?;
        let data_types = r.varint(Field::DataTypes).map_err(truncated)?;
        let known = known_set_types(data_types);
        let Ok(expire) = r.varint(Field::DataTypes) else {
            if let Some(dt) = known
                .clone()
                .find(|dt| dt.info().is_some_and(|i| i.is_array()))
            {
                return Err(DefinitionFieldsError::ArrayWithoutParameters(dt));
            }
            return Ok(DefinitionFields {
                key_type,
                key_size,
                data_types,
                expire_ms: None,
                params: Vec::new(),
            });
        };
        let mut params = Vec::new();
        for dt in known {
            if let Some(p) = decode_param(r, dt)? {
                params.push(p);
            }
        }
        Ok(DefinitionFields {
            key_type,
            key_size,
            data_types,
            expire_ms: Some(expire),
            params,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        varint::encode(self.key_type, out);
        varint::encode(self.key_size, out);
        varint::encode(self.data_types, out);
        let Some(expire) = self.expire_ms else {
            crate::bug_on!(!self.params.is_empty(), "parameters need an expire");
            return;
        };
        varint::encode(expire, out);
        for p in &self.params {
            varint::encode(u64::from(p.data_type.0), out);
            if let Some(n) = p.element_count {
                varint::encode(n, out);
            }
            if let Some(period) = p.period_ms {
                varint::encode(period, out);
            }
        }
    }
}

/// The set bits of `bits` in increasing order, stopping at the first type
/// this build does not know (unknown types come last, their parameters are
/// left unread as 2.6 does).
pub(crate) fn known_set_types(bits: u64) -> impl Iterator<Item = DataType> + Clone {
    (0..64u8)
        .filter(move |i| bits & (1u64 << i) != 0)
        .map(DataType)
        .take_while(|dt| dt.info().is_some())
}

fn decode_param(
    r: &mut Reader<'_>,
    dt: DataType,
) -> Result<Option<TypeParam>, DefinitionFieldsError> {
    let Some(info) = dt.info() else {
        return Ok(None);
    };
    if info.arg == ArgKind::None {
        return Ok(None);
    }
    let missing = |_| DefinitionFieldsError::MissingParameter(dt);
    let found = r.varint(Field::DataTypes).map_err(missing)?;
    if found != u64::from(dt.0) {
        return Err(DefinitionFieldsError::MismatchedParameter {
            expected: dt,
            found,
        });
    }
    let element_count = if info.is_array() {
        Some(r.varint(Field::DataTypes).map_err(missing)?)
    } else {
        None
    };
    let period_ms = if info.has_period() {
        Some(r.varint(Field::DataTypes).map_err(missing)?)
    } else {
        None
    };
    Ok(Some(TypeParam {
        data_type: dt,
        element_count,
        period_ms,
    }))
}

//! Updates (`0a 80/81/85/86`, PROTOCOL.md §8.3 to §8.5): HAProxy's
//! `peer_prepare_updatemsg` and `peer_treat_updatemsg`.
//!
//! ```text
//! [update id: BE32] [lifetime ms: BE32] key value(type a) value(type b) ...
//!  0x80, 0x85        0x85, 0x86          per the sender's definition
//! ```
//!
//! An update can only be read with the *sender's* definition of the current
//! table: its key type and size, its data-types bitfield and its array
//! sizes, gathered in an [`UpdateLayout`]. The session decodes an update
//! only when it has a current table (otherwise 2.6 ignores the message
//! unparsed); then every [`Malformed`] is a protocol error.
//!
//! Integers and counter fields are kept as the raw `u64` of their varint, so
//! that re-encoding is byte-exact; [`Value`] has the 32-bit conversions the
//! receiver applies.

use super::definition::{known_set_types, DefinitionFields};
use super::dict::DictValue;
use super::error::{Field, Malformed};
use super::frame::{Frame, MsgClass};
use super::message::StkType;
use super::reader::Reader;
use super::varint;
use crate::stick_table::{DataType, KeyType, StdType, TableParams};

/// The four update messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpdateKind {
    /// 0x80: explicit id, no lifetime.
    #[doc(alias = "PEER_MSG_STKT_UPDATE")]
    Update,
    /// 0x81: id = previous + 1, no lifetime.
    #[doc(alias = "PEER_MSG_STKT_INCUPDATE")]
    Incremental,
    /// 0x85: explicit id, lifetime.
    #[doc(alias = "PEER_MSG_STKT_UPDATE_TIMED")]
    Timed,
    /// 0x86: id = previous + 1, lifetime.
    #[doc(alias = "PEER_MSG_STKT_INCUPDATE_TIMED")]
    IncrementalTimed,
}

impl UpdateKind {
    /// The kind of a stick-table message type, if it is an update.
    pub const fn from_type(typ: StkType) -> Option<UpdateKind> {
        Some(match typ.0 {
            0x80 => UpdateKind::Update,
            0x81 => UpdateKind::Incremental,
            0x85 => UpdateKind::Timed,
            0x86 => UpdateKind::IncrementalTimed,
            _ => return None,
        })
    }

    /// The kind with these fields.
    pub const fn new(explicit_id: bool, timed: bool) -> UpdateKind {
        match (explicit_id, timed) {
            (true, false) => UpdateKind::Update,
            (false, false) => UpdateKind::Incremental,
            (true, true) => UpdateKind::Timed,
            (false, true) => UpdateKind::IncrementalTimed,
        }
    }

    pub const fn stk_type(self) -> StkType {
        match self {
            UpdateKind::Update => StkType::UPDATE,
            UpdateKind::Incremental => StkType::INCUPDATE,
            UpdateKind::Timed => StkType::UPDATE_TIMED,
            UpdateKind::IncrementalTimed => StkType::INCUPDATE_TIMED,
        }
    }

    /// Whether the body starts with a BE32 update id.
    pub const fn has_id(self) -> bool {
        matches!(self, UpdateKind::Update | UpdateKind::Timed)
    }

    /// Whether the body carries a BE32 remaining lifetime.
    pub const fn is_timed(self) -> bool {
        matches!(self, UpdateKind::Timed | UpdateKind::IncrementalTimed)
    }
}

/// How the key of an update is encoded, from the key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyLayout {
    Integer,
    Ipv4,
    Ipv6,
    String,
    Binary(usize),
}

/// Why a definition gives no [`UpdateLayout`]: the session ignores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// A key type HAProxy does not use (2.6 indexes an array with it
    /// unchecked; 3.4 ignores the definition, and so do we).
    UnknownKeyType(u64),
    /// An array type without its element count.
    MissingArrayLen(DataType),
}

/// What is needed to read the updates of one sender's table: the key type
/// and size, the data types sent (only the known ones; unknown types come
/// last and their bytes are left as trailing data) and the element count of
/// every array type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateLayout {
    key: KeyLayout,
    key_size: u64,
    data_types: u64,
    /// Element count per known type id (1 for non-arrays).
    counts: [u32; DataType::COUNT as usize],
}

impl UpdateLayout {
    /// A layout with no array type; add arrays with [`UpdateLayout::with_array_len`].
    pub fn new(key_type: KeyType, key_size: usize, data_types: u64) -> UpdateLayout {
        let key = match key_type {
            KeyType::Integer => KeyLayout::Integer,
            KeyType::Ipv4 => KeyLayout::Ipv4,
            KeyType::Ipv6 => KeyLayout::Ipv6,
            KeyType::String => KeyLayout::String,
            KeyType::Binary => KeyLayout::Binary(key_size),
        };
        UpdateLayout {
            key,
            key_size: key_size as u64,
            data_types,
            counts: [1; DataType::COUNT as usize],
        }
    }

    /// Sets the element count of an array type.
    pub fn with_array_len(mut self, data_type: DataType, n: u32) -> UpdateLayout {
        if let Some(c) = self.counts.get_mut(usize::from(data_type.0)) {
            *c = n;
        }
        self
    }

    /// The layout of the sender's table, from its definition.
    pub fn from_definition(fields: &DefinitionFields) -> Result<UpdateLayout, LayoutError> {
        let key_type = fields
            .key_type()
            .ok_or(LayoutError::UnknownKeyType(fields.key_type))?;
        // A key size beyond memory cannot match any body: it fails as truncated.
        let key_size = usize::try_from(fields.key_size).unwrap_or(usize::MAX);
        let mut layout = UpdateLayout::new(key_type, key_size, fields.data_types);
        layout.key_size = fields.key_size;
        for dt in known_set_types(fields.data_types) {
            if dt.info().is_some_and(|i| i.is_array()) {
                let n = fields
                    .param(dt)
                    .and_then(|p| p.element_count)
                    .ok_or(LayoutError::MissingArrayLen(dt))?;
                // Counts beyond u32 cannot fit in a body either.
                layout = layout.with_array_len(dt, u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
        Ok(layout)
    }

    /// The layout of a local table, for encoding our own updates.
    pub fn from_table_params(params: &TableParams) -> UpdateLayout {
        let mut layout = UpdateLayout::new(
            params.key_type,
            params.key_size,
            params.data_types_bitfield(),
        );
        for s in &params.store {
            if s.data_type.info().is_some_and(|i| i.is_array()) {
                layout = layout.with_array_len(s.data_type, u32::from(s.array_len));
            }
        }
        layout
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        match self.key {
            KeyLayout::Integer => KeyType::Integer,
            KeyLayout::Ipv4 => KeyType::Ipv4,
            KeyLayout::Ipv6 => KeyType::Ipv6,
            KeyLayout::String => KeyType::String,
            KeyLayout::Binary(_) => KeyType::Binary,
        }
    }

    /// The key size announced by the sender.
    pub fn key_size(&self) -> u64 {
        self.key_size
    }

    pub fn data_types(&self) -> u64 {
        self.data_types
    }

    /// The element count of `data_type` (1 for non-arrays).
    pub fn element_count(&self, data_type: DataType) -> u32 {
        self.counts
            .get(usize::from(data_type.0))
            .copied()
            .unwrap_or(0)
    }

    /// The values of an update, in order: `(type, storage, element count)`.
    pub fn value_types(&self) -> impl Iterator<Item = (DataType, StdType, u32)> + '_ {
        known_set_types(self.data_types)
            .filter_map(move |dt| Some((dt, dt.info()?.std_type, self.element_count(dt))))
    }
}

/// An update key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key<'a> {
    /// Key type 2: BE32.
    Integer(u32),
    /// Key type 4: network order.
    Ipv4([u8; 4]),
    /// Key type 5: network order.
    Ipv6([u8; 16]),
    /// Key type 6: the announced bytes (a receiver keeps at most key size - 1).
    String(&'a [u8]),
    /// Key type 7: exactly key-size bytes.
    Binary(&'a [u8]),
}

/// A frequency counter as sent: the raw varints `age, curr_ctr, prev_ctr`.
/// `age` is how long ago (ms, u32 wrapping) the current period started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FreqCtrValue {
    pub age: u64,
    pub curr_ctr: u64,
    pub prev_ctr: u64,
}

/// One value of an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `STD_T_SINT`/`UINT`/`ULL`: the raw varint.
    Int(u64),
    /// `STD_T_FRQP`.
    FreqCtr(FreqCtrValue),
    /// `STD_T_DICT`.
    Dict(DictValue<'a>),
}

impl Value<'_> {
    /// A `SInt` value as stored: truncated to 32 bits (−1 is sent as the
    /// 64-bit sign extension).
    pub fn as_sint(&self) -> Option<i32> {
        match *self {
            Value::Int(v) => Some(v as u32 as i32),
            _ => None,
        }
    }

    /// A `UInt` value as stored: truncated to 32 bits.
    pub fn as_uint(&self) -> Option<u32> {
        match *self {
            Value::Int(v) => Some(v as u32),
            _ => None,
        }
    }

    /// A `Ull` value.
    pub fn as_ull(&self) -> Option<u64> {
        match *self {
            Value::Int(v) => Some(v),
            _ => None,
        }
    }
}

/// A value with its data type and, for arrays, its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateValue<'a> {
    pub data_type: DataType,
    /// Position in an array type; 0 otherwise.
    pub index: u32,
    pub value: Value<'a>,
}

/// One update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update<'a> {
    /// Explicit id (0x80/0x85); `None` for the incremental forms, whose id
    /// is the last one received for the table plus one ([`Update::id_after`]).
    pub update_id: Option<u32>,
    /// Remaining lifetime in ms (0x85/0x86).
    pub expire_ms: Option<u32>,
    pub key: Key<'a>,
    /// One per element of every set type, in layout order.
    pub values: Vec<UpdateValue<'a>>,
}

impl<'a> Update<'a> {
    /// The message type these fields make.
    pub fn kind(&self) -> UpdateKind {
        UpdateKind::new(self.update_id.is_some(), self.expire_ms.is_some())
    }

    /// The update id, given the last id received for the table.
    pub fn id_after(&self, last_received: u32) -> u32 {
        self.update_id.unwrap_or(last_received.wrapping_add(1))
    }

    /// The values of one data type, in array order.
    pub fn values_of(&self, data_type: DataType) -> impl Iterator<Item = &Value<'a>> + '_ {
        self.values
            .iter()
            .filter(move |v| v.data_type == data_type)
            .map(|v| &v.value)
    }

    /// The first value of one data type.
    pub fn value(&self, data_type: DataType) -> Option<&Value<'a>> {
        self.values_of(data_type).next()
    }

    /// Decodes an update body of type `kind` with the sender's `layout`.
    /// Every error is a protocol error; bytes after the last value are ignored.
    pub fn decode(
        kind: UpdateKind,
        body: &'a [u8],
        layout: &UpdateLayout,
    ) -> Result<Update<'a>, Malformed> {
        let mut r = Reader::new(body);
        let update_id = if kind.has_id() {
            Some(r.be32(Field::UpdateId)?)
        } else {
            None
        };
        let expire_ms = if kind.is_timed() {
            Some(r.be32(Field::Lifetime)?)
        } else {
            None
        };
        let key = decode_key(&mut r, layout.key)?;
        let mut values = Vec::new();
        for (dt, std, count) in layout.value_types() {
            for index in 0..count {
                let value = decode_value(&mut r, dt, std)?;
                values.push(UpdateValue {
                    data_type: dt,
                    index,
                    value,
                });
            }
        }
        Ok(Update {
            update_id,
            expire_ms,
            key,
            values,
        })
    }

    /// Appends the body only.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        if let Some(id) = self.update_id {
            out.extend_from_slice(&id.to_be_bytes());
        }
        if let Some(exp) = self.expire_ms {
            out.extend_from_slice(&exp.to_be_bytes());
        }
        match self.key {
            Key::Integer(k) => out.extend_from_slice(&k.to_be_bytes()),
            Key::Ipv4(k) => out.extend_from_slice(&k),
            Key::Ipv6(k) => out.extend_from_slice(&k),
            Key::String(k) => {
                varint::encode(k.len() as u64, out);
                out.extend_from_slice(k);
            }
            Key::Binary(k) => out.extend_from_slice(k),
        }
        for v in &self.values {
            match &v.value {
                Value::Int(x) => varint::encode(*x, out),
                Value::FreqCtr(f) => {
                    varint::encode(f.age, out);
                    varint::encode(f.curr_ctr, out);
                    varint::encode(f.prev_ctr, out);
                }
                Value::Dict(d) => d.encode(out),
            }
        }
    }

    /// Appends the whole message. The values must follow the layout the
    /// receiver knows (the definition sent before): [`Update::matches_layout`].
    pub fn encode(&self, out: &mut Vec<u8>) {
        Frame::encode_with(
            out,
            MsgClass::STICK_TABLE,
            self.kind().stk_type().0,
            |out| self.encode_body(out),
        );
    }

    /// Whether key and values have the shape `layout` describes, so that a
    /// receiver with this layout decodes exactly these values.
    pub fn matches_layout(&self, layout: &UpdateLayout) -> bool {
        let key_ok = match (self.key, layout.key) {
            (Key::Integer(_), KeyLayout::Integer)
            | (Key::Ipv4(_), KeyLayout::Ipv4)
            | (Key::Ipv6(_), KeyLayout::Ipv6)
            | (Key::String(_), KeyLayout::String) => true,
            (Key::Binary(k), KeyLayout::Binary(n)) => k.len() == n,
            _ => false,
        };
        let mut values = self.values.iter();
        let shape_ok = layout.value_types().all(|(dt, std, count)| {
            (0..count).all(|index| {
                values.next().is_some_and(|v| {
                    v.data_type == dt && v.index == index && std_matches(std, &v.value)
                })
            })
        });
        key_ok && shape_ok && values.next().is_none()
    }
}

fn std_matches(std: StdType, v: &Value<'_>) -> bool {
    matches!(
        (std, v),
        (StdType::SInt | StdType::UInt | StdType::Ull, Value::Int(_))
            | (StdType::FreqP, Value::FreqCtr(_))
            | (StdType::Dict, Value::Dict(_))
    )
}

fn decode_key<'a>(r: &mut Reader<'a>, layout: KeyLayout) -> Result<Key<'a>, Malformed> {
    Ok(match layout {
        KeyLayout::Integer => Key::Integer(r.be32(Field::Key)?),
        KeyLayout::Ipv4 => Key::Ipv4(r.array(Field::Key)?),
        KeyLayout::Ipv6 => Key::Ipv6(r.array(Field::Key)?),
        KeyLayout::String => {
            let len = r.varint(Field::Key)?;
            Key::String(r.bytes(len, Field::Key)?)
        }
        KeyLayout::Binary(n) => Key::Binary(r.bytes(n as u64, Field::Key)?),
    })
}

fn decode_value<'a>(
    r: &mut Reader<'a>,
    dt: DataType,
    std: StdType,
) -> Result<Value<'a>, Malformed> {
    let field = Field::Value(dt);
    Ok(match std {
        StdType::SInt | StdType::UInt | StdType::Ull => Value::Int(r.varint(field)?),
        StdType::FreqP => Value::FreqCtr(FreqCtrValue {
            age: r.varint(field)?,
            curr_ctr: r.varint(field)?,
            prev_ctr: r.varint(field)?,
        }),
        StdType::Dict => Value::Dict(DictValue::decode(r)?),
    })
}

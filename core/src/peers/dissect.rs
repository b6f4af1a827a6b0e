//! A passive decoder of one direction of a peers session: the Rust
//! counterpart of `captures/tools/peers_decode.py`. Used by the capture
//! tests, by the fuzz targets and for traces; it is not a session (it sends
//! nothing, keeps no stick table and never acks).
//!
//! It reads the optional handshake text (a hello or a status line, chosen by
//! [`Start`]), then messages, and tracks what a receiver tracks to read
//! updates: the sender's definitions (one [`UpdateLayout`] per sender table
//! id), the current table, the last update id per table (incremental ids
//! are previous + 1) and the dictionary cache. It behaves like a receiver
//! that has a local table for every announced name, with the sender's key
//! type and size: a definition with truncated fields is a protocol error,
//! one with missing or mismatched parameters is ignored.
//!
//! Push-style like the rest of the codec: [`Dissector::next`] takes the
//! unread bytes and answers `Partial` (state untouched) or one item and the
//! bytes it used.

use std::collections::BTreeMap;

use super::dict::DictRxCache;
use super::error::Malformed;
use super::frame::{Frame, FrameError, FrameLimits};
use super::handshake::{HelloLines, LineTooLong, StatusCode, DEFAULT_MAX_LINE_LEN};
use super::message::{Message, MessageError};
use super::update::{LayoutError, Update, UpdateKind, UpdateLayout, Value};
use super::{DefinitionFieldsError, Status};

/// What one direction starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The connector's direction: three hello lines.
    Hello,
    /// The acceptor's direction: one status line.
    Status,
    /// Binary messages right away.
    Binary,
}

/// One decoded item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Hello(HelloLines<'a>),
    Status(StatusCode),
    /// Any message but an update with a current table.
    Message(Message<'a>),
    /// An update of the current table.
    Update {
        /// The sender's id of the current table.
        table_id: u64,
        /// The explicit id, or the last id of the table + 1.
        update_id: u32,
        update: Update<'a>,
    },
}

/// Why the direction cannot be read further (what a receiver closes on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DissectError {
    Line(LineTooLong),
    Frame(FrameError),
    Message(MessageError),
    /// A definition of a (supposedly local) table with truncated fields.
    DefinitionFields(DefinitionFieldsError),
    /// An update of the current table that does not decode.
    Update(Malformed),
}

#[derive(Clone, Debug)]
struct SenderTable {
    layout: UpdateLayout,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct Dissector {
    phase: Start,
    limits: FrameLimits,
    max_line_len: usize,
    tables: BTreeMap<u64, SenderTable>,
    current: Option<u64>,
    last_ids: BTreeMap<u64, u32>,
    dict: DictRxCache,
}

impl Dissector {
    pub fn new(start: Start) -> Dissector {
        Dissector::with_limits(start, FrameLimits::default(), DEFAULT_MAX_LINE_LEN)
    }

    pub fn with_limits(start: Start, limits: FrameLimits, max_line_len: usize) -> Dissector {
        Dissector {
            phase: start,
            limits,
            max_line_len,
            tables: BTreeMap::new(),
            current: None,
            last_ids: BTreeMap::new(),
            dict: DictRxCache::new(),
        }
    }

    /// The sender's id of the current table.
    pub fn current_table(&self) -> Option<u64> {
        self.current
    }

    /// The layout of the sender's table `table_id`, from its last accepted
    /// definition.
    pub fn layout(&self, table_id: u64) -> Option<&UpdateLayout> {
        self.tables.get(&table_id).map(|t| &t.layout)
    }

    /// The receiver-side dictionary cache after the items read so far.
    pub fn dict(&self) -> &DictRxCache {
        &self.dict
    }

    /// Reads the next item at the start of `buf`.
    pub fn next<'a>(&mut self, buf: &'a [u8]) -> Result<Status<(Item<'a>, usize)>, DissectError> {
        match self.phase {
            Start::Hello => {
                let st = HelloLines::parse(buf, self.max_line_len).map_err(DissectError::Line)?;
                Ok(self.text(st.complete().map(|(h, n)| (Item::Hello(h), n))))
            }
            Start::Status => {
                let st = StatusCode::parse(buf, self.max_line_len).map_err(DissectError::Line)?;
                Ok(self.text(st.complete().map(|(s, n)| (Item::Status(s), n))))
            }
            Start::Binary => self.binary(buf),
        }
    }

    fn text<'a>(&mut self, item: Option<(Item<'a>, usize)>) -> Status<(Item<'a>, usize)> {
        match item {
            Some(done) => {
                self.phase = Start::Binary;
                Status::Complete(done)
            }
            None => Status::Partial,
        }
    }

    fn binary<'a>(&mut self, buf: &'a [u8]) -> Result<Status<(Item<'a>, usize)>, DissectError> {
        let (frame, n) = match Frame::decode(buf, &self.limits).map_err(DissectError::Frame)? {
            Status::Complete(c) => c,
            Status::Partial => return Ok(Status::Partial),
        };
        let msg = Message::parse(&frame).map_err(DissectError::Message)?;
        let item = match msg {
            Message::TableDefinition(ref def) => {
                self.define(def.table_id, &def.fields)?;
                Item::Message(msg)
            }
            Message::TableSwitch(sw) => {
                self.current = self
                    .tables
                    .contains_key(&sw.table_id)
                    .then_some(sw.table_id);
                Item::Message(msg)
            }
            Message::Update { kind, body } => match self.update(kind, body) {
                Some(r) => r?,
                None => Item::Message(msg),
            },
            _ => Item::Message(msg),
        };
        Ok(Status::Complete((item, n)))
    }

    fn define(
        &mut self,
        table_id: u64,
        fields: &Result<super::DefinitionFields, DefinitionFieldsError>,
    ) -> Result<(), DissectError> {
        // Whatever follows, the table id is forgotten and nothing is current.
        self.current = None;
        self.tables.remove(&table_id);
        let fields = match fields {
            Ok(f) => f,
            Err(e) if e.is_protocol_error() => return Err(DissectError::DefinitionFields(*e)),
            Err(_) => return Ok(()),
        };
        match UpdateLayout::from_definition(fields) {
            Ok(layout) => {
                self.tables.insert(table_id, SenderTable { layout });
                self.current = Some(table_id);
            }
            Err(LayoutError::UnknownKeyType(_) | LayoutError::MissingArrayLen(_)) => {}
        }
        Ok(())
    }

    /// `None`: no current table, the update is ignored unparsed.
    fn update<'a>(
        &mut self,
        kind: UpdateKind,
        body: &'a [u8],
    ) -> Option<Result<Item<'a>, DissectError>> {
        let table_id = self.current?;
        let table = self.tables.get(&table_id)?;
        let update = match Update::decode(kind, body, &table.layout) {
            Ok(u) => u,
            Err(e) => return Some(Err(DissectError::Update(e))),
        };
        let last = self.last_ids.get(&table_id).copied().unwrap_or(0);
        let update_id = update.id_after(last);
        self.last_ids.insert(table_id, update_id);
        for v in &update.values {
            if let Value::Dict(d) = &v.value {
                let _ = self.dict.apply(d);
            }
        }
        Some(Ok(Item::Update {
            table_id,
            update_id,
            update,
        }))
    }
}

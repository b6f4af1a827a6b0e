//! One decoded binary message: HAProxy's `peer_treat_awaited_msg`
//! dispatch, as a value.
//!
//! [`Message::parse`] turns a [`Frame`] into a [`Message`]. It decodes what
//! can be decoded without session state; updates stay raw because they need
//! the sender's layout ([`super::Update::decode`]), and 2.6 does not even
//! parse them when no table is current. Unknown classes and types are
//! values ([`Message::Unknown`], or an unknown [`ControlType`]/[`ErrorType`]):
//! the session ignores them.

use core::fmt;

use super::ack::{TableSwitch, UpdateAck};
use super::control::{ControlType, ErrorType};
use super::definition::TableDefinition;
use super::error::Malformed;
use super::frame::{Frame, MsgClass};
use super::update::UpdateKind;

/// A stick-table message type (class 10), HAProxy's `PEER_MSG_STKT_*`.
/// Open: unknown types (0x87..) are values, ignored by 2.6.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StkType(pub u8);

impl StkType {
    #[doc(alias = "PEER_MSG_STKT_UPDATE")]
    pub const UPDATE: StkType = StkType(0x80);
    #[doc(alias = "PEER_MSG_STKT_INCUPDATE")]
    pub const INCUPDATE: StkType = StkType(0x81);
    #[doc(alias = "PEER_MSG_STKT_DEFINE")]
    pub const DEFINE: StkType = StkType(0x82);
    #[doc(alias = "PEER_MSG_STKT_SWITCH")]
    pub const SWITCH: StkType = StkType(0x83);
    #[doc(alias = "PEER_MSG_STKT_ACK")]
    pub const ACK: StkType = StkType(0x84);
    #[doc(alias = "PEER_MSG_STKT_UPDATE_TIMED")]
    pub const UPDATE_TIMED: StkType = StkType(0x85);
    #[doc(alias = "PEER_MSG_STKT_INCUPDATE_TIMED")]
    pub const INCUPDATE_TIMED: StkType = StkType(0x86);

    /// The name of a known type.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x80 => "UPDATE",
            0x81 => "INCREMENTAL_UPDATE",
            0x82 => "TABLE_DEFINITION",
            0x83 => "TABLE_SWITCH",
            0x84 => "UPDATE_ACK",
            0x85 => "UPDATE_TIMED",
            0x86 => "INCREMENTAL_UPDATE_TIMED",
            _ => return None,
        })
    }
}

impl fmt::Debug for StkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "StkType({:#04x})", self.0),
        }
    }
}

/// One binary message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Class 0, a type below 0x80 (known or not).
    Control(ControlType),
    /// Class 1, a type below 0x80. A 2.6 receiver ignores them all.
    Error(ErrorType),
    /// `0a 82`.
    TableDefinition(TableDefinition<'a>),
    /// `0a 83`.
    TableSwitch(TableSwitch),
    /// `0a 80/81/85/86`: decode with [`super::Update::decode`] and the
    /// sender's layout of the current table, if there is one.
    Update { kind: UpdateKind, body: &'a [u8] },
    /// `0a 84`.
    UpdateAck(UpdateAck),
    /// Any other class or type: ignored by 2.6 (after reading its body).
    Unknown(Frame<'a>),
}

/// A malformed message. All are answered with PROTOCOL_ERROR (`01 00`) and
/// a close, except [`MessageError::Ack`] while teaching that peer (2.6 then
/// ignores acks without parsing them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// Class 255 (normally already reported by [`Frame::decode`]).
    ReservedClass,
    /// A definition whose id, name length or name is unusable.
    Definition(Malformed),
    /// A switch with a truncated id.
    Switch(Malformed),
    /// An ack with a truncated table id or update id.
    Ack(Malformed),
}

impl MessageError {
    /// What HAProxy sends before closing.
    pub const fn reply(&self) -> ErrorType {
        ErrorType::PROTOCOL_ERROR
    }
}

impl<'a> Message<'a> {
    /// Decodes the message in `frame`.
    pub fn parse(frame: &Frame<'a>) -> Result<Message<'a>, MessageError> {
        let body_less = !Frame::type_has_body(frame.typ);
        Ok(match frame.class {
            MsgClass::RESERVED => return Err(MessageError::ReservedClass),
            MsgClass::CONTROL if body_less => Message::Control(ControlType(frame.typ)),
            MsgClass::ERROR if body_less => Message::Error(ErrorType(frame.typ)),
            MsgClass::STICK_TABLE => Message::parse_stick_table(frame)?,
            _ => Message::Unknown(*frame),
        })
    }

    fn parse_stick_table(frame: &Frame<'a>) -> Result<Message<'a>, MessageError> {
        let typ = StkType(frame.typ);
        if let Some(kind) = UpdateKind::from_type(typ) {
            return Ok(Message::Update {
                kind,
                body: frame.body,
            });
        }
        Ok(match typ {
            StkType::DEFINE => Message::TableDefinition(
                TableDefinition::decode(frame.body).map_err(MessageError::Definition)?,
            ),
            StkType::SWITCH => {
                Message::TableSwitch(TableSwitch::decode(frame.body).map_err(MessageError::Switch)?)
            }
            StkType::ACK => {
                Message::UpdateAck(UpdateAck::decode(frame.body).map_err(MessageError::Ack)?)
            }
            _ => Message::Unknown(*frame),
        })
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::Control(t) => t.encode(out),
            Message::Error(t) => t.encode(out),
            Message::TableDefinition(d) => d.encode(out),
            Message::TableSwitch(s) => s.encode(out),
            Message::Update { kind, body } => Frame {
                class: MsgClass::STICK_TABLE,
                typ: kind.stk_type().0,
                body,
            }
            .encode(out),
            Message::UpdateAck(a) => a.encode(out),
            Message::Unknown(f) => f.encode(out),
        }
    }
}

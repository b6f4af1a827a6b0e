//! The peers protocol (HAProxy's `peers.c`): stick-table synchronisation
//! between processes, HAProxy 2.6 dialect, byte-exact with
//! `shared/peers/PROTOCOL.md`.
//!
//! This module is the wire codec only; sessions, tables, acks and resyncs
//! are built on top of it. Layers, bottom up:
//!
//! * [`varint`]: the peers integers (§4).
//! * [`handshake`]: hello lines and status lines (§3).
//! * [`Frame`]: `class type [length body]` (§5), push-style.
//! * [`Message`]: control (§6), error (§7) and stick-table messages (§8):
//!   [`TableDefinition`], [`TableSwitch`], [`UpdateAck`], and raw updates
//!   that [`Update::decode`] reads with the sender's [`UpdateLayout`].
//! * [`DictTxCache`]/[`DictRxCache`]: the `server_key` dictionaries (§8.5).
//! * [`dissect`]: a passive decoder of one direction of a session, for
//!   traces, tests and fuzzing.
//!
//! Decoding never panics and never allocates more than one bounded message
//! needs; `Partial` means "call again with more bytes" and is not an error.
//! Every error type says what HAProxy answers (`reply()`); see
//! `docs/peers-protocol.md` for what the session does with each. Encoders
//! append to a caller-owned `Vec<u8>`.

pub mod ack;
mod applet;
pub mod control;
pub mod definition;
pub mod dict;
pub mod dissect;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod message;
mod reader;
pub mod section;
pub mod update;
pub mod varint;

pub use ack::{TableSwitch, UpdateAck};
pub use control::{ControlType, ErrorType};
pub use definition::{DefinitionFields, DefinitionFieldsError, TableDefinition, TypeParam};
pub use dict::{DictRxCache, DictTxCache, DictValue, DICT_CACHE_SLOTS};
pub use error::{Field, Malformed, Reason};
pub use frame::{Frame, FrameError, FrameLimits, MsgClass, DEFAULT_MAX_BODY_LEN};
pub use handshake::{HandshakeError, Hello, HelloLines, LineTooLong, StatusCode, Version};
pub use message::{Message, MessageError, StkType};
pub use update::{
    FreqCtrValue, Key, LayoutError, Update, UpdateKind, UpdateLayout, UpdateValue, Value,
};
pub use varint::VarintError;

/// The result of a push-style decoder (as in `httparse`): a complete value
/// with the number of bytes it used, or the need for more bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Status<T> {
    Complete(T),
    /// The input is a valid beginning; call again with more bytes.
    Partial,
}

impl<T> Status<T> {
    pub fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }

    /// The complete value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(t) => Some(t),
            Status::Partial => None,
        }
    }
}

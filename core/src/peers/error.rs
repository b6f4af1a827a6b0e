//! Errors of the peers codec and their scope.
//!
//! Every decoding error says what HAProxy 2.6 does about it (PROTOCOL.md
//! §12): the [`ErrorType`] to send before closing, or that the message is
//! ignored. The session, not the codec, decides to close.

use super::control::ErrorType;
use crate::stick_table::DataType;

/// A field of a stick-table message body, as named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The table id of a definition, switch or ack.
    TableId,
    /// The name length of a definition.
    NameLength,
    /// The table name of a definition.
    Name,
    /// The key type of a definition.
    KeyType,
    /// The key size of a definition.
    KeySize,
    /// The data-types bitfield of a definition.
    DataTypes,
    /// The BE32 update id of an explicit update or of an ack.
    UpdateId,
    /// The BE32 remaining lifetime of a timed update.
    Lifetime,
    /// The key of an update.
    Key,
    /// The value of a data type in an update.
    Value(DataType),
    /// The length `L` of a dictionary value (§8.5).
    DictLength,
    /// The cache id of a dictionary value.
    DictId,
    /// The string length of a dictionary value.
    DictStringLength,
    /// The string of a dictionary value.
    DictString,
}

/// What is wrong with a [`Field`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The body ends inside the field.
    Truncated,
    /// A varint longer than 10 bytes.
    VarintTooLong,
    /// A length or id that must not be zero is zero.
    Zero,
    /// The field reaches the end of the body where something must follow.
    ReachesEnd,
    /// A dictionary id outside `1..=128`.
    OutOfRange,
}

/// A malformed message body: HAProxy answers `01 00` (PROTOCOL_ERROR) and
/// closes, in the cases of §12 (see each decoder for when the error applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub field: Field,
    pub reason: Reason,
}

impl Malformed {
    pub(crate) const fn new(field: Field, reason: Reason) -> Malformed {
        Malformed { field, reason }
    }

    /// What HAProxy sends before closing: always PROTOCOL_ERROR.
    pub const fn reply(&self) -> ErrorType {
        ErrorType::PROTOCOL_ERROR
    }
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "malformed {:?}: {:?}", self.field, self.reason)
    }
}

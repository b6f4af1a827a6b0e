//! Control (class 0, PROTOCOL.md §6) and error (class 1, §7) messages:
//! HAProxy's `enum peer_msg_ctrl_type` and `enum peer_msg_err_type`.
//!
//! Both are two-byte messages `class type`. The types are open newtypes: a
//! type this build does not know is still a value (a 2.6 receiver ignores
//! unknown control types, and ignores every error message it receives).

use core::fmt;

use super::frame::MsgClass;

/// A control message type (class 0), HAProxy's `PEER_MSG_CTRL_*`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ControlType(pub u8);

impl ControlType {
    /// `00 00`: "teach me everything you have" (§10.2).
    #[doc(alias = "PEER_MSG_CTRL_RESYNCREQ")]
    pub const RESYNC_REQUEST: ControlType = ControlType(0);
    /// `00 01`: end of a full teach, the teacher is fully synced.
    #[doc(alias = "PEER_MSG_CTRL_RESYNCFINISHED")]
    pub const RESYNC_FINISHED: ControlType = ControlType(1);
    /// `00 02`: end of a full teach, the teacher is not fully synced itself.
    #[doc(alias = "PEER_MSG_CTRL_RESYNCPARTIAL")]
    pub const RESYNC_PARTIAL: ControlType = ControlType(2);
    /// `00 03`: acknowledges one FINISHED or PARTIAL.
    #[doc(alias = "PEER_MSG_CTRL_RESYNCCONFIRM")]
    pub const RESYNC_CONFIRM: ControlType = ControlType(3);
    /// `00 04`: keep-alive (§11).
    #[doc(alias = "PEER_MSG_CTRL_HEARTBEAT")]
    pub const HEARTBEAT: ControlType = ControlType(4);

    /// The name of a known type.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "RESYNC_REQUEST",
            1 => "RESYNC_FINISHED",
            2 => "RESYNC_PARTIAL",
            3 => "RESYNC_CONFIRM",
            4 => "HEARTBEAT",
            _ => return None,
        })
    }

    /// Appends the two-byte message. Only types below 0x80 are two-byte
    /// messages; a type with bit 7 set would need a body (see [`super::Frame`]).
    pub fn encode(self, out: &mut Vec<u8>) {
        crate::bug_on!(
            self.0 & 0x80 != 0,
            "control types with a body are not two-byte messages"
        );
        out.extend_from_slice(&[MsgClass::CONTROL.0, self.0]);
    }
}

impl fmt::Debug for ControlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "ControlType({})", self.0),
        }
    }
}

/// An error message type (class 1), HAProxy's `PEER_MSG_ERR_*`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorType(pub u8);

impl ErrorType {
    /// `01 00`: malformed message; the sender closes right after.
    #[doc(alias = "PEER_MSG_ERR_PROTOCOL")]
    pub const PROTOCOL_ERROR: ErrorType = ErrorType(0);
    /// `01 01`: announced body length too large; the sender closes right after.
    #[doc(alias = "PEER_MSG_ERR_SIZELIMIT")]
    pub const SIZE_LIMIT: ErrorType = ErrorType(1);

    /// The name of a known type.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("PROTOCOL_ERROR"),
            1 => Some("SIZE_LIMIT"),
            _ => None,
        }
    }

    /// Appends the two-byte message (`01 00` or `01 01`).
    pub fn encode(self, out: &mut Vec<u8>) {
        crate::bug_on!(
            self.0 & 0x80 != 0,
            "error types with a body are not two-byte messages"
        );
        out.extend_from_slice(&[MsgClass::ERROR.0, self.0]);
    }
}

impl fmt::Debug for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "ErrorType({})", self.0),
        }
    }
}

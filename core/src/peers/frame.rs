//! Binary message framing (PROTOCOL.md §5), HAProxy's `peer_recv_msg` and
//! the header part of every `peer_prepare_*msg`.
//!
//! ```text
//! +-------+------+------------------------------+--------------+
//! | class | type | length (varint, max 5 bytes) | body         |
//! | 1 B   | 1 B  | only if type >= 0x80          | length bytes |
//! +-------+------+------------------------------+--------------+
//! ```
//!
//! [`Frame::decode`] is push-style: give it everything received so far; it
//! answers [`Status::Partial`] until one whole message is there, then the
//! frame (borrowing the body) and how many bytes it used. It never allocates
//! and never looks further than header + length + body. Limits come from the
//! caller ([`FrameLimits`], HAProxy's `tune.bufsize`).
//!
//! Errors are all fatal for the session; [`FrameError::reply`] says what
//! HAProxy sends before closing.

use super::control::ErrorType;
use super::varint::{self, VarintError};
use super::Status;

/// A message class, HAProxy's `enum peer_msg_class`. Open: an unknown class
/// is a value (2.6 ignores such messages), except [`MsgClass::RESERVED`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgClass(pub u8);

impl MsgClass {
    /// Control messages (§6).
    #[doc(alias = "PEER_MSG_CLASS_CONTROL")]
    pub const CONTROL: MsgClass = MsgClass(0);
    /// Error messages (§7).
    #[doc(alias = "PEER_MSG_CLASS_ERROR")]
    pub const ERROR: MsgClass = MsgClass(1);
    /// Stick-table messages (§8).
    #[doc(alias = "PEER_MSG_CLASS_STICKTABLE")]
    pub const STICK_TABLE: MsgClass = MsgClass(10);
    /// Reserved: any message of this class is a protocol error (§5.3).
    #[doc(alias = "PEER_MSG_CLASS_RESERVED")]
    pub const RESERVED: MsgClass = MsgClass(255);
}

/// HAProxy's default `tune.bufsize`, the default body length limit.
pub const DEFAULT_MAX_BODY_LEN: usize = 16384;

/// Limits applied while framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// A body longer than this is a [`FrameError::SizeLimit`]
    /// (HAProxy: `tune.bufsize`).
    pub max_body_len: usize,
}

impl Default for FrameLimits {
    fn default() -> FrameLimits {
        FrameLimits {
            max_body_len: DEFAULT_MAX_BODY_LEN,
        }
    }
}

/// Why a byte stream is not a valid sequence of messages. Every variant ends
/// the session after sending [`FrameError::reply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length varint has not ended after 5 bytes.
    LengthTooLong,
    /// The announced body length (kept modulo 2^32) is above the limit.
    SizeLimit {
        /// The announced length.
        len: u32,
    },
    /// A complete message of class 255.
    ReservedClass,
}

impl FrameError {
    /// What HAProxy sends before closing: `01 01` for a size limit, `01 00`
    /// otherwise.
    pub const fn reply(&self) -> ErrorType {
        match self {
            FrameError::SizeLimit { .. } => ErrorType::SIZE_LIMIT,
            FrameError::LengthTooLong | FrameError::ReservedClass => ErrorType::PROTOCOL_ERROR,
        }
    }
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::LengthTooLong => f.write_str("message length varint longer than 5 bytes"),
            FrameError::SizeLimit { len } => {
                write!(f, "message body of {len} bytes over the limit")
            }
            FrameError::ReservedClass => f.write_str("message of the reserved class 255"),
        }
    }
}

/// One binary message: class, type and body (empty when the type has no
/// body). The unit every message decoder starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub class: MsgClass,
    /// The type byte; its meaning depends on the class.
    pub typ: u8,
    pub body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Whether messages of type `typ` carry a length and a body (bit 7 set),
    /// whatever the class (§5.1).
    pub const fn type_has_body(typ: u8) -> bool {
        typ & 0x80 != 0
    }

    /// Decodes the message at the start of `buf`.
    ///
    /// `Ok(Status::Complete((frame, n)))`: one message, `n` bytes consumed.
    /// `Ok(Status::Partial)`: `buf` holds the beginning of a message; call
    /// again with more bytes. The length is checked against the limit as
    /// soon as it is known, before its body arrives; the reserved class is
    /// reported once its whole message is there, as HAProxy does.
    pub fn decode(
        buf: &'a [u8],
        limits: &FrameLimits,
    ) -> Result<Status<(Frame<'a>, usize)>, FrameError> {
        let (class, typ) = match buf {
            [c, t, ..] => (MsgClass(*c), *t),
            _ => return Ok(Status::Partial),
        };
        let (body, used) = if Frame::type_has_body(typ) {
            let after_head = &buf[2..];
            let (len, n) = match varint::decode_max(after_head, varint::MAX_LEN_MSG_LENGTH) {
                Ok(v) => v,
                Err(VarintError::Incomplete) => return Ok(Status::Partial),
                Err(VarintError::TooLong) => return Err(FrameError::LengthTooLong),
            };
            // 2.6 keeps the length in 32 bits.
            let len = len as u32;
            let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
            if len_usize > limits.max_body_len {
                return Err(FrameError::SizeLimit { len });
            }
            match after_head.get(n..n + len_usize) {
                Some(body) => (body, 2 + n + len_usize),
                None => return Ok(Status::Partial),
            }
        } else {
            (&buf[..0], 2)
        };
        if class == MsgClass::RESERVED {
            return Err(FrameError::ReservedClass);
        }
        Ok(Status::Complete((Frame { class, typ, body }, used)))
    }

    /// Number of bytes [`Frame::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        if Frame::type_has_body(self.typ) {
            2 + varint::encoded_len(self.body.len() as u64) + self.body.len()
        } else {
            2
        }
    }

    /// Appends the message. A type without bit 7 must have an empty body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let body = self.body;
        Frame::encode_with(out, self.class, self.typ, |out| out.extend_from_slice(body));
    }

    /// Appends a message whose body is written by `body`; the length varint
    /// is inserted in front of it afterwards.
    pub(crate) fn encode_with(
        out: &mut Vec<u8>,
        class: MsgClass,
        typ: u8,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        out.push(class.0);
        out.push(typ);
        let start = out.len();
        body(out);
        let len = out.len() - start;
        if Frame::type_has_body(typ) {
            // HAProxy's sender keeps lengths in 16 bits; ours stay far below.
            crate::bug_on!(len > u32::MAX as usize, "message body too large to frame");
            let (buf, n) = varint::encode_array(len as u64);
            out.splice(start..start, buf[..n].iter().copied());
        } else {
            crate::bug_on!(len != 0, "a type below 0x80 has no body");
            out.truncate(start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_messages_ignore_following_bytes() {
        let l = FrameLimits::default();
        let got = Frame::decode(&[0x00, 0x04, 0x0a], &l).unwrap();
        let Status::Complete((f, n)) = got else {
            panic!("partial")
        };
        assert_eq!(
            (f.class, f.typ, f.body, n),
            (MsgClass::CONTROL, 4, &[][..], 2)
        );
        assert_eq!(Frame::decode(&[0x00], &l), Ok(Status::Partial));
    }

    #[test]
    fn limits_and_errors() {
        let l = FrameLimits::default();
        // Length 20000 > 16384: known before the body arrives.
        assert_eq!(
            Frame::decode(&[0x0a, 0x80, 0xf0, 0xd3, 0x08], &l),
            Err(FrameError::SizeLimit { len: 20000 })
        );
        assert_eq!(
            Frame::decode(&[0x0a, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00], &l),
            Err(FrameError::LengthTooLong)
        );
        assert_eq!(
            Frame::decode(&[0x0a, 0x80, 0xff, 0xff, 0xff, 0xff], &l),
            Ok(Status::Partial)
        );
        assert_eq!(
            Frame::decode(&[0xff, 0x80, 0x02, 0x00], &l),
            Ok(Status::Partial)
        );
        assert_eq!(
            Frame::decode(&[0xff, 0x80, 0x02, 0x00, 0x00], &l),
            Err(FrameError::ReservedClass)
        );
        assert_eq!(
            FrameError::SizeLimit { len: 1 }.reply(),
            ErrorType::SIZE_LIMIT
        );
        assert_eq!(FrameError::ReservedClass.reply(), ErrorType::PROTOCOL_ERROR);
        // 2^32 in 5 bytes wraps to a length of 0 (§5.1, 2.6 quirk).
        let mut wrap = vec![0x0a, 0x80];
        varint::encode(1 << 32, &mut wrap);
        assert_eq!(wrap.len(), 7);
        let Ok(Status::Complete((f, n))) = Frame::decode(&wrap, &l) else {
            panic!()
        };
        assert_eq!((f.body.len(), n), (0, 7));
    }

    #[test]
    fn encode_inserts_the_length() {
        let body = [7u8; 300];
        let f = Frame {
            class: MsgClass::STICK_TABLE,
            typ: 0x84,
            body: &body,
        };
        let mut out = vec![0xaa];
        f.encode(&mut out);
        assert_eq!(&out[..5], &[0xaa, 0x0a, 0x84, 0xfc, 0x03]);
        assert_eq!(out.len(), 1 + f.encoded_len());
        let Ok(Status::Complete((g, n))) = Frame::decode(&out[1..], &FrameLimits::default()) else {
            panic!()
        };
        assert_eq!((g, n), (f, f.encoded_len()));
    }
}

//! HTTP/2 frames (RFC 9113 §4, §6): the connection preface, the 9-byte frame
//! header, typed frames with every check RFC 9113 attaches to a single frame,
//! and their encoders. HAProxy's `h2.c` / the frame parsers of `mux_h2.c`
//! (`h2_get_frame_hdr`, `h2c_handle_settings`, ...).
//!
//! Decoding is push-style over the bytes received so far, like `httparse`:
//! [`FrameDecoder::decode`] answers [`Status::Partial`] until a whole frame is
//! there, then the frame, borrowing its payload from the input, and how many
//! bytes it took. A frame larger than our SETTINGS_MAX_FRAME_SIZE is refused
//! as soon as its header is there, before its payload is buffered.
//!
//! Errors say their scope (RFC 9113 §5.4): [`H2Error::Connection`] (GOAWAY
//! with the code, then close) or [`H2Error::Stream`] (RST_STREAM on that
//! stream, the connection goes on). Which one, for each malformed case, is
//! the RFC's; where the RFC lets the receiver choose (a frame size error on
//! a frame that does not alter connection state, §4.2) this takes the
//! connection, as HAProxy does.
//!
//! What needs the connection's state is in [`FrameDecoder`] (the first frame
//! after the client preface is SETTINGS, §3.4; CONTINUATION frames follow
//! their HEADERS on the same stream and nothing comes between, §6.10; a
//! bound on a field block's HEADERS + CONTINUATION bytes, the CONTINUATION
//! flood defence, CVE-2024-27316). Stream states (§5.1) are the mux's.

use super::hpack::DEFAULT_TABLE_SIZE;

/// The client connection preface (RFC 9113 §3.4), followed by a SETTINGS frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Bytes of a frame header (RFC 9113 §4.1).
pub const FRAME_HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE's initial value and lower bound (§6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;
/// SETTINGS_MAX_FRAME_SIZE's upper bound (§6.5.2).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;
/// SETTINGS_INITIAL_WINDOW_SIZE's initial value (§6.9.2).
pub const DEFAULT_INITIAL_WINDOW_SIZE: u32 = 65_535;
/// Largest flow-control window (§6.9.1).
pub const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;
/// Default bound on one field block (HEADERS + CONTINUATION payloads, and
/// 9 bytes per frame so that empty CONTINUATION frames count too).
pub const DEFAULT_MAX_FIELD_BLOCK: usize = 64 * 1024;

/// The result of a push-style decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// Done, with what was decoded.
    Complete(T),
    /// Not enough bytes yet: call again with more. Not an error.
    Partial,
}

/// An error code (RFC 9113 §7). Open: unknown codes are values too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The RFC's name, or `None` for an unknown code.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        NAMES.get(self.0 as usize).copied()
    }
}

/// A frame type (RFC 9113 §6, §11.2). Open: unknown types are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameType(pub u8);

impl FrameType {
    pub const DATA: FrameType = FrameType(0x0);
    pub const HEADERS: FrameType = FrameType(0x1);
    pub const PRIORITY: FrameType = FrameType(0x2);
    pub const RST_STREAM: FrameType = FrameType(0x3);
    pub const SETTINGS: FrameType = FrameType(0x4);
    pub const PUSH_PROMISE: FrameType = FrameType(0x5);
    pub const PING: FrameType = FrameType(0x6);
    pub const GOAWAY: FrameType = FrameType(0x7);
    pub const WINDOW_UPDATE: FrameType = FrameType(0x8);
    pub const CONTINUATION: FrameType = FrameType(0x9);
}

/// Frame flags (RFC 9113 §6), named as HAProxy's `H2_F_*`.
pub mod flags {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// A setting identifier (RFC 9113 §6.5.2, RFC 8441 §3, RFC 9218 §2.1).
/// Open: unknown settings are ignored (§6.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SettingId(pub u16);

impl SettingId {
    pub const HEADER_TABLE_SIZE: SettingId = SettingId(0x1);
    pub const ENABLE_PUSH: SettingId = SettingId(0x2);
    pub const MAX_CONCURRENT_STREAMS: SettingId = SettingId(0x3);
    pub const INITIAL_WINDOW_SIZE: SettingId = SettingId(0x4);
    pub const MAX_FRAME_SIZE: SettingId = SettingId(0x5);
    pub const MAX_HEADER_LIST_SIZE: SettingId = SettingId(0x6);
    pub const ENABLE_CONNECT_PROTOCOL: SettingId = SettingId(0x8);
    pub const NO_RFC7540_PRIORITIES: SettingId = SettingId(0x9);
}

/// A protocol error with its scope (RFC 9113 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Error {
    /// §5.4.1: send GOAWAY with `code`, then close the connection.
    Connection {
        code: ErrorCode,
        reason: &'static str,
    },
    /// §5.4.2: send RST_STREAM with `code` on `stream_id`; the connection
    /// goes on (the frame has been consumed).
    Stream {
        stream_id: u32,
        code: ErrorCode,
        reason: &'static str,
    },
}

impl H2Error {
    fn conn(code: ErrorCode, reason: &'static str) -> Self {
        H2Error::Connection { code, reason }
    }

    fn proto(reason: &'static str) -> Self {
        H2Error::conn(ErrorCode::PROTOCOL_ERROR, reason)
    }

    fn size(reason: &'static str) -> Self {
        H2Error::conn(ErrorCode::FRAME_SIZE_ERROR, reason)
    }

    /// The error code to send.
    pub fn code(&self) -> ErrorCode {
        match *self {
            H2Error::Connection { code, .. } | H2Error::Stream { code, .. } => code,
        }
    }
}

impl std::fmt::Display for H2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self.code();
        let name = code.name().unwrap_or("unknown");
        match self {
            H2Error::Connection { reason, .. } => write!(f, "connection error {name}: {reason}"),
            H2Error::Stream {
                stream_id, reason, ..
            } => {
                write!(f, "stream {stream_id} error {name}: {reason}")
            }
        }
    }
}

impl std::error::Error for H2Error {}

/// Checks the client connection preface (RFC 9113 §3.4) at the start of
/// `buf`: `Complete(24)` once it is all there, `Partial` while `buf` is a
/// prefix of it, PROTOCOL_ERROR as soon as a byte differs.
pub fn check_preface(buf: &[u8]) -> Result<Status<usize>, H2Error> {
    let n = buf.len().min(PREFACE.len());
    if buf[..n] != PREFACE[..n] {
        return Err(H2Error::proto("invalid connection preface"));
    }
    Ok(if n == PREFACE.len() {
        Status::Complete(n)
    } else {
        Status::Partial
    })
}

/// The 9-byte frame header (RFC 9113 §4.1; HAProxy's `struct h2_fh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub len: u32,
    pub kind: FrameType,
    pub flags: u8,
    /// Stream identifier, the reserved bit cleared (ignored on receipt).
    pub stream_id: u32,
}

impl FrameHeader {
    /// The header at the start of `buf`, if 9 bytes are there.
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; FRAME_HEADER_LEN] = buf.get(..FRAME_HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: FrameType(h[3]),
            flags: h[4],
            stream_id: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & MAX_WINDOW_SIZE,
        })
    }

    /// Appends the 9 bytes (the reserved bit unset).
    pub fn encode(&self, dst: &mut Vec<u8>) {
        debug_assert!(self.len <= MAX_MAX_FRAME_SIZE);
        dst.extend_from_slice(&self.len.to_be_bytes()[1..]);
        dst.push(self.kind.0);
        dst.push(self.flags);
        dst.extend_from_slice(&(self.stream_id & MAX_WINDOW_SIZE).to_be_bytes());
    }
}

/// Stream dependency and weight (RFC 9113 §5.3.2, §6.3; deprecated by
/// §5.3.2 but still parsed so that self-dependency is caught).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub exclusive: bool,
    pub dependency: u32,
    /// The weight minus one, as on the wire.
    pub weight: u8,
}

impl Priority {
    fn parse(b: &[u8; 5]) -> Priority {
        let dep = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        Priority {
            exclusive: dep & 0x8000_0000 != 0,
            dependency: dep & MAX_WINDOW_SIZE,
            weight: b[4],
        }
    }

    fn encode(&self, dst: &mut Vec<u8>) {
        let e = if self.exclusive { 0x8000_0000 } else { 0 };
        dst.extend_from_slice(&(e | (self.dependency & MAX_WINDOW_SIZE)).to_be_bytes());
        dst.push(self.weight);
    }
}

/// The parameters of a SETTINGS frame, validated when the frame was decoded
/// (§6.5.2): iterating them cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsParams<'a>(&'a [u8]);

impl<'a> SettingsParams<'a> {
    /// `(identifier, value)` in frame order, unknown identifiers included.
    pub fn iter(&self) -> impl Iterator<Item = (SettingId, u32)> + 'a {
        self.0.chunks_exact(6).map(|c| {
            (
                SettingId(u16::from_be_bytes([c[0], c[1]])),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len() / 6
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A decoded frame, its payload borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// §6.1. `flow_len` is the whole payload, padding included, which
    /// flow control counts (§6.9.1).
    Data {
        stream_id: u32,
        end_stream: bool,
        data: &'a [u8],
        pad_len: Option<u8>,
        flow_len: u32,
    },
    /// §6.2: the first fragment of a field block. `error` is a stream
    /// error found in the frame (a stream depending on itself, §5.3.1): the
    /// field block must still be decoded (the HPACK state is the
    /// connection's, §4.3), then the stream reset.
    Headers {
        stream_id: u32,
        end_stream: bool,
        end_headers: bool,
        priority: Option<Priority>,
        fragment: &'a [u8],
        pad_len: Option<u8>,
        error: Option<H2Error>,
    },
    /// §6.3: accepted and ignored.
    Priority { stream_id: u32, priority: Priority },
    /// §6.4.
    RstStream { stream_id: u32, code: ErrorCode },
    /// §6.5: parameters (empty when `ack`).
    Settings {
        ack: bool,
        params: SettingsParams<'a>,
    },
    /// §6.6: only ever decoded by a client that enabled push.
    PushPromise {
        stream_id: u32,
        promised_id: u32,
        end_headers: bool,
        fragment: &'a [u8],
        pad_len: Option<u8>,
    },
    /// §6.7.
    Ping { ack: bool, data: [u8; 8] },
    /// §6.8.
    GoAway {
        last_stream_id: u32,
        code: ErrorCode,
        debug: &'a [u8],
    },
    /// §6.9: `increment` is never 0 (an error).
    WindowUpdate { stream_id: u32, increment: u32 },
    /// §6.10.
    Continuation {
        stream_id: u32,
        end_headers: bool,
        fragment: &'a [u8],
    },
    /// §4.1, §5.5: an unknown type, to be ignored.
    Unknown {
        kind: FrameType,
        flags: u8,
        stream_id: u32,
        payload: &'a [u8],
    },
}

/// Which end of the connection this is (what the peer may send differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We accepted the connection (HAProxy's frontend side, `H2_CF_IS_BACK` unset).
    Server,
    /// We opened it (backend side).
    Client,
}

/// Strips the padding of a PADDED frame (§6.1, §6.2, §6.6): the payload
/// minus the pad length byte and the padding, and the pad length.
fn unpad<'a>(h: &FrameHeader, payload: &'a [u8]) -> Result<(&'a [u8], Option<u8>), H2Error> {
    if h.flags & flags::PADDED == 0 {
        return Ok((payload, None));
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(H2Error::size("padded frame without a pad length"));
    };
    // "If the length of the padding is the length of the frame payload or
    // greater, the recipient MUST treat this as a connection error of type
    // PROTOCOL_ERROR" (§6.1, §6.2, §6.6).
    let end = rest
        .len()
        .checked_sub(usize::from(pad))
        .ok_or(H2Error::proto("padding exceeds the frame payload"))?;
    Ok((&rest[..end], Some(pad)))
}

impl<'a> Frame<'a> {
    /// Decodes one frame from its header and whole payload, with every check
    /// that needs only this frame and our role. Frame size against
    /// SETTINGS_MAX_FRAME_SIZE and sequencing are [`FrameDecoder`]'s.
    pub fn parse(
        h: &FrameHeader,
        payload: &'a [u8],
        role: Role,
        push_enabled: bool,
    ) -> Result<Frame<'a>, H2Error> {
        debug_assert_eq!(payload.len(), h.len as usize);
        let sid = h.stream_id;
        match h.kind {
            FrameType::DATA => {
                if sid == 0 {
                    return Err(H2Error::proto("DATA on stream 0"));
                }
                let (data, pad_len) = unpad(h, payload)?;
                Ok(Frame::Data {
                    stream_id: sid,
                    end_stream: h.flags & flags::END_STREAM != 0,
                    data,
                    pad_len,
                    flow_len: h.len,
                })
            }
            FrameType::HEADERS => parse_headers(h, payload),
            FrameType::PRIORITY => {
                if sid == 0 {
                    return Err(H2Error::proto("PRIORITY on stream 0"));
                }
                let Ok(b) = <&[u8; 5]>::try_from(payload) else {
                    // §6.3: a stream error, unlike most size errors.
                    return Err(H2Error::Stream {
                        stream_id: sid,
                        code: ErrorCode::FRAME_SIZE_ERROR,
                        reason: "PRIORITY frame not 5 bytes long",
                    });
                };
                let priority = Priority::parse(b);
                check_self_dependency(sid, &priority)?;
                Ok(Frame::Priority {
                    stream_id: sid,
                    priority,
                })
            }
            FrameType::RST_STREAM => {
                if sid == 0 {
                    return Err(H2Error::proto("RST_STREAM on stream 0"));
                }
                let b: [u8; 4] = payload
                    .try_into()
                    .map_err(|_| H2Error::size("RST_STREAM frame not 4 bytes long"))?;
                Ok(Frame::RstStream {
                    stream_id: sid,
                    code: ErrorCode(u32::from_be_bytes(b)),
                })
            }
            FrameType::SETTINGS => parse_settings(h, payload, role),
            FrameType::PUSH_PROMISE => parse_push_promise(h, payload, role, push_enabled),
            FrameType::PING => {
                if sid != 0 {
                    return Err(H2Error::proto("PING on a stream"));
                }
                let data: [u8; 8] = payload
                    .try_into()
                    .map_err(|_| H2Error::size("PING frame not 8 bytes long"))?;
                Ok(Frame::Ping {
                    ack: h.flags & flags::ACK != 0,
                    data,
                })
            }
            FrameType::GOAWAY => {
                if sid != 0 {
                    return Err(H2Error::proto("GOAWAY on a stream"));
                }
                if payload.len() < 8 {
                    return Err(H2Error::size("GOAWAY frame shorter than 8 bytes"));
                }
                Ok(Frame::GoAway {
                    last_stream_id: u32::from_be_bytes([
                        payload[0], payload[1], payload[2], payload[3],
                    ]) & MAX_WINDOW_SIZE,
                    code: ErrorCode(u32::from_be_bytes([
                        payload[4], payload[5], payload[6], payload[7],
                    ])),
                    debug: &payload[8..],
                })
            }
            FrameType::WINDOW_UPDATE => parse_window_update(h, payload),
            FrameType::CONTINUATION => {
                if sid == 0 {
                    return Err(H2Error::proto("CONTINUATION on stream 0"));
                }
                Ok(Frame::Continuation {
                    stream_id: sid,
                    end_headers: h.flags & flags::END_HEADERS != 0,
                    fragment: payload,
                })
            }
            kind => Ok(Frame::Unknown {
                kind,
                flags: h.flags,
                stream_id: sid,
                payload,
            }),
        }
    }
}

/// §5.3.1: "A stream cannot depend on itself": a stream error.
fn check_self_dependency(sid: u32, p: &Priority) -> Result<(), H2Error> {
    if p.dependency == sid {
        return Err(H2Error::Stream {
            stream_id: sid,
            code: ErrorCode::PROTOCOL_ERROR,
            reason: "stream depends on itself",
        });
    }
    Ok(())
}

fn parse_headers<'a>(h: &FrameHeader, payload: &'a [u8]) -> Result<Frame<'a>, H2Error> {
    let sid = h.stream_id;
    if sid == 0 {
        return Err(H2Error::proto("HEADERS on stream 0"));
    }
    let (mut fragment, pad_len) = unpad(h, payload)?;
    let mut priority = None;
    let mut error = None;
    if h.flags & flags::PRIORITY != 0 {
        let Some((b, rest)) = fragment.split_first_chunk::<5>() else {
            // The priority fields are mandatory data; with padding, what is
            // left after the padding is too short: a size error (§4.2).
            return Err(H2Error::size("HEADERS frame too short for its priority"));
        };
        let p = Priority::parse(b);
        error = check_self_dependency(sid, &p).err();
        priority = Some(p);
        fragment = rest;
    }
    Ok(Frame::Headers {
        stream_id: sid,
        end_stream: h.flags & flags::END_STREAM != 0,
        end_headers: h.flags & flags::END_HEADERS != 0,
        priority,
        fragment,
        pad_len,
        error,
    })
}

fn parse_push_promise<'a>(
    h: &FrameHeader,
    payload: &'a [u8],
    role: Role,
    push_enabled: bool,
) -> Result<Frame<'a>, H2Error> {
    // §8.4: "servers MUST treat the receipt of a PUSH_PROMISE frame as a
    // connection error of type PROTOCOL_ERROR"; §6.6: so must a client that
    // disabled push (Sluice always does).
    if role == Role::Server {
        return Err(H2Error::proto("PUSH_PROMISE received by a server"));
    }
    if !push_enabled {
        return Err(H2Error::proto("PUSH_PROMISE with push disabled"));
    }
    if h.stream_id == 0 {
        return Err(H2Error::proto("PUSH_PROMISE on stream 0"));
    }
    let (fragment, pad_len) = unpad(h, payload)?;
    let Some((id, fragment)) = fragment.split_first_chunk::<4>() else {
        return Err(H2Error::size("PUSH_PROMISE frame too short"));
    };
    Ok(Frame::PushPromise {
        stream_id: h.stream_id,
        promised_id: u32::from_be_bytes(*id) & MAX_WINDOW_SIZE,
        end_headers: h.flags & flags::END_HEADERS != 0,
        fragment,
        pad_len,
    })
}

fn parse_settings<'a>(
    h: &FrameHeader,
    payload: &'a [u8],
    role: Role,
) -> Result<Frame<'a>, H2Error> {
    if h.stream_id != 0 {
        return Err(H2Error::proto("SETTINGS on a stream"));
    }
    let ack = h.flags & flags::ACK != 0;
    if ack && !payload.is_empty() {
        return Err(H2Error::size("SETTINGS ACK with a payload"));
    }
    if payload.len() % 6 != 0 {
        return Err(H2Error::size("SETTINGS length not a multiple of 6"));
    }
    let params = SettingsParams(payload);
    for (id, value) in params.iter() {
        check_setting(id, value, role)?;
    }
    Ok(Frame::Settings { ack, params })
}

/// The range of each setting (RFC 9113 §6.5.2, RFC 8441 §3, RFC 9218 §2.1).
fn check_setting(id: SettingId, value: u32, role: Role) -> Result<(), H2Error> {
    match id {
        SettingId::ENABLE_PUSH if value > 1 => {
            Err(H2Error::proto("SETTINGS_ENABLE_PUSH not 0 or 1"))
        }
        // "A client MUST treat receipt of a SETTINGS frame with
        // SETTINGS_ENABLE_PUSH set to 1 as a connection error".
        SettingId::ENABLE_PUSH if value == 1 && role == Role::Client => {
            Err(H2Error::proto("SETTINGS_ENABLE_PUSH 1 sent by a server"))
        }
        SettingId::INITIAL_WINDOW_SIZE if value > MAX_WINDOW_SIZE => Err(H2Error::conn(
            ErrorCode::FLOW_CONTROL_ERROR,
            "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
        )),
        SettingId::MAX_FRAME_SIZE
            if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) =>
        {
            Err(H2Error::proto("SETTINGS_MAX_FRAME_SIZE out of range"))
        }
        SettingId::ENABLE_CONNECT_PROTOCOL if value > 1 => Err(H2Error::proto(
            "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1",
        )),
        SettingId::NO_RFC7540_PRIORITIES if value > 1 => {
            Err(H2Error::proto("SETTINGS_NO_RFC7540_PRIORITIES not 0 or 1"))
        }
        _ => Ok(()),
    }
}

fn parse_window_update<'a>(h: &FrameHeader, payload: &'a [u8]) -> Result<Frame<'a>, H2Error> {
    let b: [u8; 4] = payload
        .try_into()
        .map_err(|_| H2Error::size("WINDOW_UPDATE frame not 4 bytes long"))?;
    let increment = u32::from_be_bytes(b) & MAX_WINDOW_SIZE;
    if increment == 0 {
        // §6.9: a stream error, or a connection error on stream 0.
        return Err(match h.stream_id {
            0 => H2Error::proto("WINDOW_UPDATE with a 0 increment on the connection"),
            stream_id => H2Error::Stream {
                stream_id,
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "WINDOW_UPDATE with a 0 increment",
            },
        });
    }
    Ok(Frame::WindowUpdate {
        stream_id: h.stream_id,
        increment,
    })
}

fn push_padding(pad_len: Option<u8>, dst: &mut Vec<u8>) {
    if let Some(p) = pad_len {
        dst.resize(dst.len() + usize::from(p), 0);
    }
}

fn padded_len(pad_len: Option<u8>) -> usize {
    pad_len.map_or(0, |p| 1 + usize::from(p))
}

fn pad_flag(pad_len: Option<u8>) -> u8 {
    if pad_len.is_some() {
        flags::PADDED
    } else {
        0
    }
}

fn flag(on: bool, f: u8) -> u8 {
    if on {
        f
    } else {
        0
    }
}

impl Frame<'_> {
    /// The frame's type.
    pub fn kind(&self) -> FrameType {
        match self {
            Frame::Data { .. } => FrameType::DATA,
            Frame::Headers { .. } => FrameType::HEADERS,
            Frame::Priority { .. } => FrameType::PRIORITY,
            Frame::RstStream { .. } => FrameType::RST_STREAM,
            Frame::Settings { .. } => FrameType::SETTINGS,
            Frame::PushPromise { .. } => FrameType::PUSH_PROMISE,
            Frame::Ping { .. } => FrameType::PING,
            Frame::GoAway { .. } => FrameType::GOAWAY,
            Frame::WindowUpdate { .. } => FrameType::WINDOW_UPDATE,
            Frame::Continuation { .. } => FrameType::CONTINUATION,
            Frame::Unknown { kind, .. } => *kind,
        }
    }

    /// Appends the frame, header included; padding is zeros (§6.1). The
    /// caller keeps payloads within the peer's SETTINGS_MAX_FRAME_SIZE
    /// ([`encode_field_block`] splits field blocks).
    pub fn encode(&self, dst: &mut Vec<u8>) {
        let start = dst.len();
        dst.extend_from_slice(&[0; FRAME_HEADER_LEN]);
        let (fl, sid) = self.encode_payload(dst);
        let len = (dst.len() - start - FRAME_HEADER_LEN) as u32;
        let mut h = Vec::with_capacity(FRAME_HEADER_LEN);
        FrameHeader {
            len,
            kind: self.kind(),
            flags: fl,
            stream_id: sid,
        }
        .encode(&mut h);
        dst[start..start + FRAME_HEADER_LEN].copy_from_slice(&h);
    }

    /// Writes the payload, returns the flags and the stream.
    fn encode_payload(&self, dst: &mut Vec<u8>) -> (u8, u32) {
        match *self {
            Frame::Data {
                stream_id,
                end_stream,
                data,
                pad_len,
                ..
            } => {
                if let Some(p) = pad_len {
                    dst.push(p);
                }
                dst.extend_from_slice(data);
                push_padding(pad_len, dst);
                (
                    flag(end_stream, flags::END_STREAM) | pad_flag(pad_len),
                    stream_id,
                )
            }
            Frame::Headers {
                stream_id,
                end_stream,
                end_headers,
                priority,
                fragment,
                pad_len,
                ..
            } => {
                if let Some(p) = pad_len {
                    dst.push(p);
                }
                if let Some(p) = priority {
                    p.encode(dst);
                }
                dst.extend_from_slice(fragment);
                push_padding(pad_len, dst);
                let f = flag(end_stream, flags::END_STREAM)
                    | flag(end_headers, flags::END_HEADERS)
                    | flag(priority.is_some(), flags::PRIORITY)
                    | pad_flag(pad_len);
                (f, stream_id)
            }
            Frame::Priority {
                stream_id,
                priority,
            } => {
                priority.encode(dst);
                (0, stream_id)
            }
            Frame::RstStream { stream_id, code } => {
                dst.extend_from_slice(&code.0.to_be_bytes());
                (0, stream_id)
            }
            Frame::Settings { ack, params } => {
                dst.extend_from_slice(params.0);
                (flag(ack, flags::ACK), 0)
            }
            Frame::PushPromise {
                stream_id,
                promised_id,
                end_headers,
                fragment,
                pad_len,
            } => {
                if let Some(p) = pad_len {
                    dst.push(p);
                }
                dst.extend_from_slice(&(promised_id & MAX_WINDOW_SIZE).to_be_bytes());
                dst.extend_from_slice(fragment);
                push_padding(pad_len, dst);
                (
                    flag(end_headers, flags::END_HEADERS) | pad_flag(pad_len),
                    stream_id,
                )
            }
            Frame::Ping { ack, data } => {
                dst.extend_from_slice(&data);
                (flag(ack, flags::ACK), 0)
            }
            Frame::GoAway {
                last_stream_id,
                code,
                debug,
            } => {
                dst.extend_from_slice(&(last_stream_id & MAX_WINDOW_SIZE).to_be_bytes());
                dst.extend_from_slice(&code.0.to_be_bytes());
                dst.extend_from_slice(debug);
                (0, 0)
            }
            Frame::WindowUpdate {
                stream_id,
                increment,
            } => {
                dst.extend_from_slice(&(increment & MAX_WINDOW_SIZE).to_be_bytes());
                (0, stream_id)
            }
            Frame::Continuation {
                stream_id,
                end_headers,
                fragment,
            } => {
                dst.extend_from_slice(fragment);
                (flag(end_headers, flags::END_HEADERS), stream_id)
            }
            Frame::Unknown {
                flags,
                stream_id,
                payload,
                ..
            } => {
                dst.extend_from_slice(payload);
                (flags, stream_id)
            }
        }
    }

    /// The payload length this frame encodes to.
    pub fn payload_len(&self) -> usize {
        match *self {
            Frame::Data { data, pad_len, .. } => data.len() + padded_len(pad_len),
            Frame::Headers {
                priority,
                fragment,
                pad_len,
                ..
            } => fragment.len() + padded_len(pad_len) + if priority.is_some() { 5 } else { 0 },
            Frame::Priority { .. } => 5,
            Frame::RstStream { .. } | Frame::WindowUpdate { .. } => 4,
            Frame::Settings { params, .. } => params.0.len(),
            Frame::PushPromise {
                fragment, pad_len, ..
            } => 4 + fragment.len() + padded_len(pad_len),
            Frame::Ping { .. } => 8,
            Frame::GoAway { debug, .. } => 8 + debug.len(),
            Frame::Continuation { fragment, .. } => fragment.len(),
            Frame::Unknown { payload, .. } => payload.len(),
        }
    }
}

/// Appends a SETTINGS frame carrying `params` (not an ACK).
pub fn encode_settings(params: &[(SettingId, u32)], dst: &mut Vec<u8>) {
    FrameHeader {
        len: (params.len() * 6) as u32,
        kind: FrameType::SETTINGS,
        flags: 0,
        stream_id: 0,
    }
    .encode(dst);
    for (id, v) in params {
        dst.extend_from_slice(&id.0.to_be_bytes());
        dst.extend_from_slice(&v.to_be_bytes());
    }
}

/// Appends a field block as one HEADERS frame and as many CONTINUATION
/// frames as `max_frame_size` (the peer's SETTINGS_MAX_FRAME_SIZE) requires
/// (§4.3: the frames are contiguous, END_HEADERS on the last).
pub fn encode_field_block(
    stream_id: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut Vec<u8>,
) {
    let max = (max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE)) as usize;
    let mut chunks = block.chunks(max);
    let first = chunks.next().unwrap_or(&[]);
    let mut rest = chunks.peekable();
    Frame::Headers {
        stream_id,
        end_stream,
        end_headers: rest.peek().is_none(),
        priority: None,
        fragment: first,
        pad_len: None,
        error: None,
    }
    .encode(dst);
    while let Some(c) = rest.next() {
        Frame::Continuation {
            stream_id,
            end_headers: rest.peek().is_none(),
            fragment: c,
        }
        .encode(dst);
    }
}

/// Settings of one end of a connection (RFC 9113 §6.5.2; HAProxy keeps the
/// peer's in `h2c->mfs`, `h2c->miw`, ...). Values are the RFC's initial
/// ones until a SETTINGS frame is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub header_table_size: u32,
    pub enable_push: bool,
    /// `None`: unlimited (the initial value).
    pub max_concurrent_streams: Option<u32>,
    pub initial_window_size: u32,
    pub max_frame_size: u32,
    /// `None`: unlimited (the initial value).
    pub max_header_list_size: Option<u32>,
    /// RFC 8441 extended CONNECT.
    pub enable_connect_protocol: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            header_table_size: DEFAULT_TABLE_SIZE as u32,
            enable_push: true,
            max_concurrent_streams: None,
            initial_window_size: DEFAULT_INITIAL_WINDOW_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
            enable_connect_protocol: false,
        }
    }
}

impl Settings {
    /// Applies a decoded (hence validated) SETTINGS frame's parameters in
    /// order; unknown identifiers are ignored (§6.5.2).
    pub fn apply(&mut self, params: SettingsParams<'_>) {
        for (id, v) in params.iter() {
            match id {
                SettingId::HEADER_TABLE_SIZE => self.header_table_size = v,
                SettingId::ENABLE_PUSH => self.enable_push = v == 1,
                SettingId::MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(v),
                SettingId::INITIAL_WINDOW_SIZE => self.initial_window_size = v,
                SettingId::MAX_FRAME_SIZE => self.max_frame_size = v,
                SettingId::MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(v),
                SettingId::ENABLE_CONNECT_PROTOCOL => self.enable_connect_protocol = v == 1,
                _ => {}
            }
        }
    }

    /// Appends a SETTINGS frame with every value that differs from the
    /// initial one (so an all-default end sends an empty SETTINGS).
    pub fn encode(&self, dst: &mut Vec<u8>) {
        let d = Settings::default();
        let mut p: Vec<(SettingId, u32)> = Vec::new();
        let mut put = |on: bool, id, v| {
            if on {
                p.push((id, v));
            }
        };
        put(
            self.header_table_size != d.header_table_size,
            SettingId::HEADER_TABLE_SIZE,
            self.header_table_size,
        );
        put(
            self.enable_push != d.enable_push,
            SettingId::ENABLE_PUSH,
            u32::from(self.enable_push),
        );
        if let Some(v) = self.max_concurrent_streams {
            put(true, SettingId::MAX_CONCURRENT_STREAMS, v);
        }
        put(
            self.initial_window_size != d.initial_window_size,
            SettingId::INITIAL_WINDOW_SIZE,
            self.initial_window_size,
        );
        put(
            self.max_frame_size != d.max_frame_size,
            SettingId::MAX_FRAME_SIZE,
            self.max_frame_size,
        );
        if let Some(v) = self.max_header_list_size {
            put(true, SettingId::MAX_HEADER_LIST_SIZE, v);
        }
        put(
            self.enable_connect_protocol,
            SettingId::ENABLE_CONNECT_PROTOCOL,
            1,
        );
        encode_settings(&p, dst);
    }
}

/// Where the frame decoder is in the connection's frame sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeqState {
    /// The peer's first frame must be SETTINGS (§3.4).
    Preface,
    Idle,
    /// Inside a field block (§4.3, §6.10): only CONTINUATION on this stream.
    Continuation {
        stream_id: u32,
        block_len: usize,
    },
}

/// The receiving side's frame decoder for one connection (HAProxy's
/// demux loop `h2_process_demux`, minus the streams).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    role: Role,
    /// Our SETTINGS_MAX_FRAME_SIZE as the peer knows it.
    max_frame_size: u32,
    /// Bound on a field block: payloads plus 9 bytes per frame.
    max_field_block: usize,
    push_enabled: bool,
    state: SeqState,
}

impl FrameDecoder {
    /// A decoder for a new connection, after the client preface (a
    /// server checks it with [`check_preface`] first).
    pub fn new(role: Role) -> Self {
        FrameDecoder {
            role,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_field_block: DEFAULT_MAX_FIELD_BLOCK,
            push_enabled: false,
            state: SeqState::Preface,
        }
    }

    /// Our SETTINGS_MAX_FRAME_SIZE: raise it once the peer acknowledged it
    /// (until then it may still send up to the old value).
    pub fn set_max_frame_size(&mut self, n: u32) {
        self.max_frame_size = n.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
    }

    /// Bound on one field block (HEADERS and its CONTINUATION frames,
    /// counting 9 bytes per frame): past it the connection ends with
    /// ENHANCE_YOUR_CALM (CONTINUATION flood, CVE-2024-27316).
    pub fn set_max_field_block(&mut self, n: usize) {
        self.max_field_block = n;
    }

    /// Whether we (a client) enabled server push; Sluice never does.
    /// The connection changed sides (reverse HTTP): frames are received
    /// as `role` from now on (what a PUSH_PROMISE or SETTINGS_ENABLE_PUSH
    /// means depends on it). Push stays off.
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
        self.push_enabled = false;
    }

    pub fn set_push_enabled(&mut self, on: bool) {
        self.push_enabled = on && self.role == Role::Client;
    }

    /// Whether a field block is open (CONTINUATION expected).
    pub fn in_field_block(&self) -> bool {
        matches!(self.state, SeqState::Continuation { .. })
    }

    /// Decodes the frame at the start of `buf`: `Partial` until it is all
    /// there (or, for a frame too large, until its header is), then the
    /// frame or its error and the bytes it took. After a
    /// [`H2Error::Stream`] the connection goes on from there; after an
    /// [`H2Error::Connection`] it must end (the byte count is meaningless).
    #[allow(clippy::type_complexity)]
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Status<(Result<Frame<'a>, H2Error>, usize)> {
        let Some(h) = FrameHeader::parse(buf) else {
            return Status::Partial;
        };
        if let Err(e) = self.check_header(&h) {
            return Status::Complete((Err(e), FRAME_HEADER_LEN));
        }
        let total = FRAME_HEADER_LEN + h.len as usize;
        let Some(payload) = buf.get(FRAME_HEADER_LEN..total) else {
            return Status::Partial;
        };
        let res = Frame::parse(&h, payload, self.role, self.push_enabled);
        if matches!(res, Err(H2Error::Connection { .. })) {
            return Status::Complete((res, total));
        }
        self.advance(&h);
        Status::Complete((res, total))
    }

    /// Checks made on the header alone, before the payload is buffered.
    fn check_header(&self, h: &FrameHeader) -> Result<(), H2Error> {
        // §4.2: "An endpoint MUST send an error code of FRAME_SIZE_ERROR if
        // a frame exceeds the size defined in SETTINGS_MAX_FRAME_SIZE".
        if h.len > self.max_frame_size {
            return Err(H2Error::size("frame larger than SETTINGS_MAX_FRAME_SIZE"));
        }
        match self.state {
            // §3.4: the preface's SETTINGS frame comes first.
            SeqState::Preface if h.kind != FrameType::SETTINGS || h.flags & flags::ACK != 0 => {
                Err(H2Error::proto("first frame is not SETTINGS"))
            }
            SeqState::Continuation {
                stream_id,
                block_len,
            } => {
                // §6.10 and §5.5: nothing, not even an unknown frame, comes
                // inside a field block.
                if h.kind != FrameType::CONTINUATION || h.stream_id != stream_id {
                    return Err(H2Error::proto("field block interrupted by another frame"));
                }
                if block_len + FRAME_HEADER_LEN + h.len as usize > self.max_field_block {
                    return Err(H2Error::conn(
                        ErrorCode::ENHANCE_YOUR_CALM,
                        "field block too large",
                    ));
                }
                Ok(())
            }
            _ if h.kind == FrameType::CONTINUATION => {
                Err(H2Error::proto("CONTINUATION outside a field block"))
            }
            _ => Ok(()),
        }
    }

    /// The sequence state after a frame that did not end the connection.
    fn advance(&mut self, h: &FrameHeader) {
        let end_headers = h.flags & flags::END_HEADERS != 0;
        self.state = match (self.state, h.kind) {
            (
                SeqState::Continuation {
                    stream_id,
                    block_len,
                },
                _,
            ) if !end_headers => SeqState::Continuation {
                stream_id,
                block_len: block_len + FRAME_HEADER_LEN + h.len as usize,
            },
            (_, FrameType::HEADERS | FrameType::PUSH_PROMISE) if !end_headers => {
                SeqState::Continuation {
                    stream_id: h.stream_id,
                    block_len: FRAME_HEADER_LEN + h.len as usize,
                }
            }
            _ => SeqState::Idle,
        };
    }
}

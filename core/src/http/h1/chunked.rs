//! The chunked transfer coding (RFC 9112 §7.1): a push decoder that hands
//! out payload slices borrowed from its input, an encoder, and the
//! `Content-Length` body counter. HAProxy's `h1_parse_chunk_size`,
//! `h1_skip_chunk_crlf` and the `H1_MSG_CHUNK_*`/`H1_MSG_TRAILERS` states.
//!
//! ```text
//!            hex digit                       ';' ext bytes
//!   ┌──────┐ ───────> Size ──SP/HTAB──> SizeBws ──';'──> Ext ──┐
//!   │start │           │ ';' ──────────────────────────────┘    │ CR
//!   └──────┘           └──CR──────────────────────────────> SizeLf
//!                                                            │ LF
//!                  size > 0 ┌──────────────────────────────────┤ size == 0
//!                           v                                  v
//!      Size <──LF── DataLf <──CR── DataCr <──(size bytes)── Data    Trailers ──CRLF CRLF──> Done
//! ```
//!
//! Strict on purpose (every rule below is a known request smuggling
//! vector somewhere): the size is 1+ hex digits below 2^63; whitespace is
//! only allowed before a `;` (RFC 9112 `BWS`), so `5 \r\n` is refused
//! (HAProxy 2.6 accepts it); every line ends with CRLF, a bare LF is
//! refused (HAProxy 2.6 accepts it); chunk data must be followed by CRLF;
//! extension bytes are visible ASCII, SP, HTAB or obs-text and the whole
//! size line is bounded; trailers are bounded in bytes and fields.
//!
//! Trailers are **kept**: parsed into [`Headers`] and available from
//! [`ChunkedDecoder::take_trailers`] once the message ended, so a chunked
//! peer can get them. Fields that would change framing or routing if a
//! recipient merged them into the head (`Content-Length`,
//! `Transfer-Encoding`, `Host`, `Connection`, ... see [`DROPPED_TRAILERS`])
//! are dropped, as RFC 9110 §6.5.1 allows.
//!
//! # Forwarding in place
//!
//! A proxy that forwards the raw framing (the HTTP analysers do) must not
//! pass on what another parser could read differently. The decoder says
//! what to change, as [`Rewrite`]s over the byte offsets it consumed
//! ([`ChunkedDecoder::offset`]): a size line that is not canonical
//! (leading zeros, whitespace, extensions: `0005;a=b` becomes `5`), and a
//! trailer line that is dropped. A canonical line costs nothing (no
//! rewrite is recorded); every rewrite makes the bytes shorter, so the
//! caller compacts its buffer in place. Until a line is complete the
//! caller must not forward it: [`ChunkedDecoder::partial_line_start`] says
//! where the unfinished line began.

use super::errpos::H1MsgState;
use super::headers::Headers;
use super::{H1Error, H1ErrorKind, Side};

/// Limits of the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Longest chunk-size line (digits, whitespace, extensions; CRLF excluded).
    pub max_line_len: usize,
    /// Longest trailer section (final CRLF excluded).
    pub max_trailers_len: usize,
    /// Most trailer fields.
    pub max_trailers: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_line_len: 4096,
            max_trailers_len: super::DEFAULT_MAX_HEAD_LEN,
            max_trailers: super::DEFAULT_MAX_HEADERS,
        }
    }
}

/// Trailer fields dropped by the decoder (lower case).
pub const DROPPED_TRAILERS: &[&[u8]] = &[
    b"content-length",
    b"transfer-encoding",
    b"host",
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"upgrade",
    b"te",
    b"trailer",
];

/// A change the forwarder must make to the raw framing it passes on (see
/// the module documentation). Offsets count the bytes the decoder
/// consumed since it was created or reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// The size line of `len` bytes (CRLF included) at `start` becomes the
    /// canonical `<hex size>\r\n` ([`encode_size_line`]), which is shorter.
    SizeLine { start: u64, len: u64, size: u64 },
    /// The trailer line of `len` bytes (CRLF included) at `start` goes.
    Drop { start: u64, len: u64 },
}

impl Rewrite {
    /// Where the rewritten range starts, and how long it is.
    pub fn range(&self) -> (u64, u64) {
        match *self {
            Rewrite::SizeLine { start, len, .. } | Rewrite::Drop { start, len } => (start, len),
        }
    }
}

/// The canonical size line of a chunk of `size` bytes: lower-case hex
/// digits without leading zeros, then CRLF (`0\r\n` for the last chunk).
/// Returns the bytes written at the start of `out` (18 at most).
pub fn encode_size_line(size: u64, out: &mut [u8; 18]) -> &[u8] {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = size;
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    out[..len].copy_from_slice(&digits[i..]);
    out[len..len + 2].copy_from_slice(CRLF);
    &out[..len + 2]
}

fn is_dropped_trailer(name: &[u8]) -> bool {
    DROPPED_TRAILERS
        .iter()
        .any(|d| d.len() == name.len() && d.eq_ignore_ascii_case(name))
}

/// Where the decoder is in the chunked grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the size's hex digits (`H1_MSG_CHUNK_SIZE`).
    Size,
    /// Whitespace after the size: only more of it or `;` may follow.
    SizeBws,
    /// Inside chunk extensions, up to CR.
    Ext,
    /// CR seen at the end of the size line.
    SizeLf,
    /// Chunk data, `remaining` bytes to go (`H1_MSG_DATA`).
    Data,
    /// Expecting CR after chunk data (`H1_MSG_CHUNK_CRLF`).
    DataCr,
    DataLf,
    /// At the start of a trailer line (`H1_MSG_TRAILERS`).
    TrailerStart,
    /// Inside a trailer line.
    TrailerLine,
    /// CR seen at the end of a trailer line.
    TrailerLineLf,
    /// CR seen on an empty line: the final LF ends the message.
    TrailerEndLf,
    /// The message ended (`H1_MSG_DONE`).
    Done,
    /// An error was found; it is returned again on every call.
    Failed(H1ErrorKind),
}

/// What one [`ChunkedDecoder::decode`] call produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Decoded<'a> {
    /// Payload bytes, borrowed from the input: the last `len()` bytes of
    /// the consumed range. Never empty.
    Data(&'a [u8]),
    /// All the input was consumed (framing only); call again with more.
    NeedMore,
    /// The last chunk and the trailers were read: the message is over.
    /// Input after the consumed count belongs to the next message.
    End,
}

/// Push-style chunked decoder. Feed it any split of the body, one byte at
/// a time works; it never copies payload.
///
/// ```
/// use sluice_core::http::h1::{ChunkedDecoder, Decoded, Side};
/// let mut d = ChunkedDecoder::new(Side::Request);
/// let input = b"5\r\nhello\r\n0\r\n\r\nNEXT";
/// let (mut pos, mut body) = (0, Vec::new());
/// loop {
///     let (what, n) = d.decode(&input[pos..]).unwrap();
///     pos += n;
///     match what {
///         Decoded::Data(d) => body.extend_from_slice(d),
///         Decoded::NeedMore => break,
///         Decoded::End => break,
///     }
/// }
/// assert_eq!((&body[..], &input[pos..]), (&b"hello"[..], &b"NEXT"[..]));
/// ```
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    side: Side,
    limits: ChunkLimits,
    state: State,
    /// The chunk size being read, then the data bytes left in the chunk.
    remaining: u64,
    /// At least one hex digit was read for the current size.
    have_digit: bool,
    /// Bytes of the current size line.
    line_len: usize,
    /// Raw trailer section being read, then its parsed form.
    raw_trailers: Vec<u8>,
    trailers: Headers,
    /// Payload bytes handed out so far.
    body_len: u64,
    /// Bytes consumed so far (the offsets of [`Rewrite`]s).
    offset: u64,
    /// Where the current line (size or trailer) began.
    line_start: u64,
    /// The current size line started with `0` and has more digits, or has
    /// whitespace or extensions: it is not canonical.
    line_odd: bool,
    /// Digits of the current size line.
    line_digits: u32,
    /// Where the current trailer line starts in `raw_trailers`.
    raw_line_start: usize,
    /// Rewrites found and not yet taken.
    rewrites: Vec<Rewrite>,
    /// Once failed: the offset of the refused byte and the state it was
    /// refused in (HAProxy's `err_pos`, `err_state`), for `show errors`.
    failed_at: Option<(u64, H1MsgState)>,
}

impl ChunkedDecoder {
    pub fn new(side: Side) -> Self {
        Self::with_limits(side, ChunkLimits::default())
    }

    pub fn with_limits(side: Side, limits: ChunkLimits) -> Self {
        Self {
            side,
            limits,
            state: State::Size,
            remaining: 0,
            have_digit: false,
            line_len: 0,
            raw_trailers: Vec::new(),
            trailers: Headers::new(),
            body_len: 0,
            offset: 0,
            line_start: 0,
            line_odd: false,
            line_digits: 0,
            raw_line_start: 0,
            rewrites: Vec::new(),
            failed_at: None,
        }
    }

    /// Ready for a new message (limits and side kept).
    pub fn reset(&mut self) {
        *self = Self::with_limits(self.side, self.limits);
    }

    /// Decodes from the start of `input`: returns what it found and how
    /// many bytes of `input` it consumed. See [`Decoded`].
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(Decoded<'a>, usize), H1Error> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Failed(k) => return Err(H1Error::new(k, self.side)),
                State::Done => return Ok((Decoded::End, pos)),
                State::Data => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return Ok((Decoded::NeedMore, pos));
                    }
                    let n = usize::try_from(self.remaining)
                        .unwrap_or(usize::MAX)
                        .min(avail);
                    self.remaining -= n as u64;
                    self.body_len += n as u64;
                    self.offset += n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok((Decoded::Data(&input[pos..pos + n]), pos + n));
                }
                _ => {
                    let Some(&b) = input.get(pos) else {
                        return Ok((Decoded::NeedMore, pos));
                    };
                    pos += 1;
                    let r = self.step(b);
                    self.offset += 1;
                    if let Err(k) = r {
                        self.failed_at = Some((self.offset - 1, self.msg_state()));
                        self.state = State::Failed(k);
                        return Err(H1Error::new(k, self.side));
                    }
                }
            }
        }
    }

    /// True once the last chunk and the trailers were read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes decoded so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Bytes consumed since the decoder was created or reset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Where the line being read began, when part of a size line or of a
    /// trailer line was consumed but not its end: a forwarder holds those
    /// bytes back until the line is complete (it may have to rewrite it).
    pub fn partial_line_start(&self) -> Option<u64> {
        match self.state {
            State::Size | State::SizeBws | State::Ext | State::SizeLf
                if self.offset > self.line_start =>
            {
                Some(self.line_start)
            }
            State::TrailerLine | State::TrailerLineLf => Some(self.line_start),
            _ => None,
        }
    }

    /// The rewrites found so far, in offset order (see [`Rewrite`]); the
    /// decoder forgets them. Empty (and no allocation) while the framing
    /// is canonical.
    pub fn take_rewrites(&mut self) -> Vec<Rewrite> {
        core::mem::take(&mut self.rewrites)
    }

    /// The caller cannot hold more of the unfinished line (its buffer is
    /// full of it): the line is too long. The error sticks.
    pub fn give_up_line(&mut self) -> H1Error {
        let k = match self.state {
            State::TrailerStart
            | State::TrailerLine
            | State::TrailerLineLf
            | State::TrailerEndLf => H1ErrorKind::TrailersTooLarge,
            State::Failed(k) => k,
            _ => H1ErrorKind::ChunkLineTooLong,
        };
        if self.failed_at.is_none() {
            self.failed_at = Some((self.offset, self.msg_state()));
        }
        self.state = State::Failed(k);
        H1Error::new(k, self.side)
    }

    /// Once an error was returned: the decoder offset of the byte refused
    /// and the HAProxy state it was refused in (`show errors`).
    pub fn failed_at(&self) -> Option<(u64, H1MsgState)> {
        self.failed_at
    }

    /// Bytes left in the current chunk (HAProxy's `h1m->curr_len`).
    pub fn chunk_left(&self) -> u64 {
        match self.state {
            State::Data => self.remaining,
            _ => 0,
        }
    }

    /// HAProxy's `h1m->state` for where the decoder stands.
    fn msg_state(&self) -> H1MsgState {
        match self.state {
            State::Size | State::SizeBws | State::Ext | State::SizeLf => H1MsgState::ChunkSize,
            State::Data => H1MsgState::Data,
            State::DataCr | State::DataLf => H1MsgState::ChunkCrlf,
            State::TrailerStart
            | State::TrailerLine
            | State::TrailerLineLf
            | State::TrailerEndLf => H1MsgState::Trailers,
            State::Done | State::Failed(_) => H1MsgState::Done,
        }
    }

    /// Whether rewrites are waiting in [`ChunkedDecoder::take_rewrites`].
    pub fn has_rewrites(&self) -> bool {
        !self.rewrites.is_empty()
    }

    /// The trailer fields, once [`Decoded::End`] was returned (empty before
    /// and after a first call).
    pub fn take_trailers(&mut self) -> Headers {
        core::mem::take(&mut self.trailers)
    }

    /// The peer closed: an error unless the message had ended.
    pub fn on_close(&self) -> Result<(), H1Error> {
        match self.state {
            State::Done => Ok(()),
            State::Failed(k) => Err(H1Error::new(k, self.side)),
            _ => Err(H1Error::new(H1ErrorKind::TruncatedBody, self.side)),
        }
    }

    /// One framing byte.
    fn step(&mut self, b: u8) -> Result<(), H1ErrorKind> {
        use H1ErrorKind::*;
        match self.state {
            State::Size | State::SizeBws | State::Ext => {
                self.line_len += 1;
                if self.line_len > self.limits.max_line_len {
                    return Err(ChunkLineTooLong);
                }
                self.size_line_byte(b)
            }
            State::SizeLf => {
                if b != b'\n' {
                    return Err(BadChunkSize);
                }
                if self.line_odd {
                    // `offset` is this LF's: the line ends after it.
                    self.rewrites.push(Rewrite::SizeLine {
                        start: self.line_start,
                        len: self.offset + 1 - self.line_start,
                        size: self.remaining,
                    });
                }
                self.line_len = 0;
                self.have_digit = false;
                self.line_odd = false;
                self.line_digits = 0;
                self.line_start = self.offset + 1;
                self.state = if self.remaining == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                };
                Ok(())
            }
            State::DataCr => self.expect(b, b'\r', State::DataLf, MissingChunkCrlf),
            State::DataLf => {
                self.expect(b, b'\n', State::Size, MissingChunkCrlf)?;
                self.line_start = self.offset + 1;
                Ok(())
            }
            State::TrailerStart
            | State::TrailerLine
            | State::TrailerLineLf
            | State::TrailerEndLf => self.trailer_byte(b),
            // `decode` handles these without calling `step`.
            State::Data | State::Done | State::Failed(_) => Ok(()),
        }
    }

    fn expect(
        &mut self,
        b: u8,
        want: u8,
        next: State,
        err: H1ErrorKind,
    ) -> Result<(), H1ErrorKind> {
        if b != want {
            return Err(err);
        }
        self.state = next;
        Ok(())
    }

    fn size_line_byte(&mut self, b: u8) -> Result<(), H1ErrorKind> {
        use H1ErrorKind::*;
        match (self.state, b) {
            (State::Size, _) if b.is_ascii_hexdigit() => {
                if self.remaining >> 59 != 0 {
                    // One more digit would reach 2^63.
                    return Err(ChunkSizeOverflow);
                }
                let d = match b {
                    b'0'..=b'9' => b - b'0',
                    _ => (b | 0x20) - b'a' + 10,
                };
                // A leading zero followed by more digits is not canonical.
                if self.line_digits == 1 && self.remaining == 0 {
                    self.line_odd = true;
                }
                self.line_digits += 1;
                self.remaining = self.remaining << 4 | u64::from(d);
                self.have_digit = true;
            }
            (State::Size, b' ' | b'\t') if self.have_digit => {
                self.line_odd = true;
                self.state = State::SizeBws;
            }
            (State::Size | State::SizeBws, b';') if self.have_digit => {
                self.line_odd = true;
                self.state = State::Ext;
            }
            (State::Size, b'\r') if self.have_digit => self.state = State::SizeLf,
            (State::Size, _) => return Err(BadChunkSize),
            (State::SizeBws, b' ' | b'\t') => {}
            (State::SizeBws, _) => return Err(BadChunkSize),
            (State::Ext, b'\r') => self.state = State::SizeLf,
            (State::Ext, b'\t' | b' '..=b'~' | 0x80..=0xff) => {}
            (State::Ext, _) => return Err(BadChunkExt),
            _ => crate::bug_on!(true, "size_line_byte in {:?}", self.state),
        }
        Ok(())
    }

    fn trailer_byte(&mut self, b: u8) -> Result<(), H1ErrorKind> {
        use H1ErrorKind::*;
        match (self.state, b) {
            (State::TrailerStart, b'\r') => self.state = State::TrailerEndLf,
            (State::TrailerEndLf, b'\n') => {
                self.finish_trailers()?;
                self.state = State::Done;
            }
            (State::TrailerStart | State::TrailerLine, b'\n') => return Err(BadTrailers),
            (State::TrailerLine, b'\r') => self.state = State::TrailerLineLf,
            (State::TrailerLineLf, b'\n') => {
                let line = &self.raw_trailers[self.raw_line_start..];
                let name = line.split(|&c| c == b':').next().unwrap_or(line);
                if is_dropped_trailer(name) {
                    self.rewrites.push(Rewrite::Drop {
                        start: self.line_start,
                        len: self.offset + 1 - self.line_start,
                    });
                }
                self.push_trailer(b"\r\n")?;
                self.state = State::TrailerStart;
            }
            (State::TrailerLineLf | State::TrailerEndLf, _) => return Err(BadTrailers),
            (State::TrailerStart, _) => {
                self.line_start = self.offset;
                self.raw_line_start = self.raw_trailers.len();
                self.push_trailer(&[b])?;
                self.state = State::TrailerLine;
            }
            (State::TrailerLine, _) => self.push_trailer(&[b])?,
            _ => crate::bug_on!(true, "trailer_byte in {:?}", self.state),
        }
        Ok(())
    }

    fn push_trailer(&mut self, bytes: &[u8]) -> Result<(), H1ErrorKind> {
        if self.raw_trailers.len() + bytes.len() > self.limits.max_trailers_len {
            return Err(H1ErrorKind::TrailersTooLarge);
        }
        self.raw_trailers.extend_from_slice(bytes);
        Ok(())
    }

    /// Parses the trailer section read so far into `self.trailers`.
    fn finish_trailers(&mut self) -> Result<(), H1ErrorKind> {
        if self.raw_trailers.is_empty() {
            return Ok(());
        }
        self.raw_trailers.extend_from_slice(b"\r\n");
        let mut slots = vec![httparse::EMPTY_HEADER; self.limits.max_trailers];
        let fields = match httparse::parse_headers(&self.raw_trailers, &mut slots) {
            Ok(httparse::Status::Complete((_, fields))) => fields,
            Err(httparse::Error::TooManyHeaders) => return Err(H1ErrorKind::TrailersTooLarge),
            // Every line ended with CRLF and the block with an empty line:
            // `Partial` cannot happen, and any error is a bad field.
            _ => return Err(H1ErrorKind::BadTrailers),
        };
        let mut out = Headers::with_capacity(fields.len(), self.raw_trailers.len());
        for f in fields.iter() {
            let name = f.name.as_bytes();
            if is_dropped_trailer(name) {
                continue;
            }
            out.add(name, f.value)
                .map_err(|_| H1ErrorKind::BadTrailers)?;
        }
        self.trailers = out;
        self.raw_trailers = Vec::new();
        Ok(())
    }
}

/// The line terminator.
pub const CRLF: &[u8] = b"\r\n";

/// The last chunk of a message without trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends the size line of a chunk of `len` bytes (`<hex>\r\n`). A chunk
/// of 0 bytes is the end of the message, so `len == 0` writes nothing: use
/// [`encode_last_chunk`]. After the payload, append [`CRLF`].
pub fn encode_chunk_header(len: usize, out: &mut Vec<u8>) {
    crate::bug_on!(len == 0, "a 0-byte chunk would end the message");
    if len == 0 {
        return;
    }
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = len as u64;
    while n != 0 {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(CRLF);
}

/// Appends `data` as one chunk (nothing for empty data).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.reserve(data.len() + 20);
    encode_chunk_header(data.len(), out);
    out.extend_from_slice(data);
    out.extend_from_slice(CRLF);
}

/// Appends the last chunk, the trailer fields and the final CRLF.
pub fn encode_last_chunk(trailers: &Headers, out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n");
    trailers.encode(out);
    out.extend_from_slice(CRLF);
}

/// Counts down a `Content-Length` body (HAProxy's `h1m->curr_len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthCounter {
    remaining: u64,
}

impl LengthCounter {
    pub fn new(len: u64) -> Self {
        Self { remaining: len }
    }

    /// Of `available` bytes at the head of the input, how many belong to
    /// the body; they are counted as consumed.
    pub fn take(&mut self, available: usize) -> usize {
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(available);
        self.remaining -= n as u64;
        n
    }

    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// The peer closed: an error if body bytes are still missing.
    pub fn on_close(&self, side: Side) -> Result<(), H1Error> {
        if self.remaining == 0 {
            Ok(())
        } else {
            Err(H1Error::new(H1ErrorKind::TruncatedBody, side))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes all of `input` fed in pieces of `step` bytes: the payload,
    /// the outcome, and the bytes left after the end.
    pub(crate) fn run(input: &[u8], step: usize) -> (Vec<u8>, Result<usize, H1Error>) {
        run_with(&mut ChunkedDecoder::new(Side::Request), input, step)
    }

    fn run_with(
        d: &mut ChunkedDecoder,
        input: &[u8],
        step: usize,
    ) -> (Vec<u8>, Result<usize, H1Error>) {
        let mut body = Vec::new();
        let mut pos = 0;
        let mut fed = step.min(input.len());
        loop {
            match d.decode(&input[pos..fed]) {
                Ok((Decoded::Data(s), n)) => {
                    assert!(!s.is_empty());
                    body.extend_from_slice(s);
                    pos += n;
                }
                Ok((Decoded::NeedMore, n)) => {
                    pos += n;
                    assert_eq!(pos, fed);
                    if fed == input.len() {
                        return (body, Ok(usize::MAX));
                    }
                    fed = (fed + step).min(input.len());
                }
                Ok((Decoded::End, n)) => return (body, Ok(pos + n)),
                Err(e) => return (body, Err(e)),
            }
        }
    }

    fn err(k: H1ErrorKind) -> Result<usize, H1Error> {
        Err(H1Error::new(k, Side::Request))
    }

    #[test]
    fn rfc9112_example_and_splits() {
        let input = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
        for step in 1..input.len() + 1 {
            let (body, end) = run(input, step);
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
            assert_eq!(end, Ok(input.len()));
        }
    }

    #[test]
    fn extensions_and_bws() {
        let input = b"3;name=val;x=\"q s\"\r\nabc\r\n0 ; last\r\n\r\n";
        let (b, e) = run(input, 64);
        assert_eq!((b.as_slice(), e), (&b"abc"[..], Ok(input.len())));
        assert_eq!(
            run(b"3 \r\nabc\r\n0\r\n\r\n", 64).1,
            err(H1ErrorKind::BadChunkSize)
        );
        assert_eq!(
            run(b" 3\r\nabc\r\n0\r\n\r\n", 64).1,
            err(H1ErrorKind::BadChunkSize)
        );
        assert_eq!(
            run(b"3;a\0\r\nabc\r\n0\r\n\r\n", 64).1,
            err(H1ErrorKind::BadChunkExt)
        );
        assert_eq!(
            run(b"3;a\nabc\r\n0\r\n\r\n", 64).1,
            err(H1ErrorKind::BadChunkExt)
        );
    }

    #[test]
    fn strict_sizes() {
        use H1ErrorKind::*;
        assert_eq!(run(b"\r\nabc\r\n0\r\n\r\n", 64).1, err(BadChunkSize));
        assert_eq!(run(b"0x3\r\nabc\r\n", 64).1, err(BadChunkSize));
        assert_eq!(run(b"-3\r\nabc\r\n", 64).1, err(BadChunkSize));
        assert_eq!(run(b"+3\r\nabc\r\n", 64).1, err(BadChunkSize));
        assert_eq!(run(b"g\r\n", 64).1, err(BadChunkSize));
        assert_eq!(run(b"3\nabc\r\n0\r\n\r\n", 64).1, err(BadChunkSize));
        assert_eq!(run(b"3\r\nabc\n0\r\n\r\n", 64).1, err(MissingChunkCrlf));
        assert_eq!(run(b"3\r\nabcd\r\n0\r\n\r\n", 64).1, err(MissingChunkCrlf));
        // 2^63 - 1 is accepted (then waits for data), 2^63 is not.
        assert_eq!(run(b"7fffffffffffffff\r\n", 64).1, Ok(usize::MAX));
        assert_eq!(run(b"8000000000000000\r\n", 64).1, err(ChunkSizeOverflow));
        assert_eq!(run(b"10000000000000000\r\n", 64).1, err(ChunkSizeOverflow));
        // Leading zeros are fine within the line limit.
        assert_eq!(
            run(b"0000000000000000000003\r\nabc\r\n0\r\n\r\n", 64).0,
            b"abc"
        );
        let long = [&b"1;"[..], &[b'a'; 5000], b"\r\nx\r\n0\r\n\r\n"].concat();
        assert_eq!(run(&long, 64).1, err(ChunkLineTooLong));
    }

    #[test]
    fn trailers_kept_framing_fields_dropped() {
        let input = b"1\r\nx\r\n0\r\nX-Sum: 12\r\nContent-Length: 5\r\nx-b: 2\r\n\r\nGET";
        let mut d = ChunkedDecoder::new(Side::Response);
        let mut pos = 0;
        loop {
            let (what, n) = d.decode(&input[pos..]).unwrap();
            pos += n;
            if what == Decoded::End {
                break;
            }
        }
        assert_eq!(&input[pos..], b"GET");
        let t = d.take_trailers();
        let all: Vec<_> = t.iter().collect();
        assert_eq!(all, [(&b"X-Sum"[..], &b"12"[..]), (b"x-b", b"2")]);
        assert_eq!(d.decode(b"more"), Ok((Decoded::End, 0)));
        assert_eq!(d.on_close(), Ok(()));
    }

    #[test]
    fn bad_trailers() {
        use H1ErrorKind::*;
        assert_eq!(run(b"0\r\nX: 1\n\r\n", 64).1, err(BadTrailers));
        assert_eq!(run(b"0\r\nX : 1\r\n\r\n", 64).1, err(BadTrailers));
        assert_eq!(run(b"0\r\nX: 1\r\n more\r\n\r\n", 64).1, err(BadTrailers));
        assert_eq!(run(b"0\r\nX: a\0b\r\n\r\n", 64).1, err(BadTrailers));
        assert_eq!(run(b"0\r\n\n", 64).1, err(BadTrailers));
        assert_eq!(run(b"0\r\n\rX", 64).1, err(BadTrailers));
        let mut d = ChunkedDecoder::with_limits(
            Side::Request,
            ChunkLimits {
                max_trailers_len: 10,
                ..ChunkLimits::default()
            },
        );
        assert_eq!(
            d.decode(b"0\r\nX-Long: 0123456789\r\n\r\n"),
            Err(H1Error::new(TrailersTooLarge, Side::Request))
        );
        // The error sticks.
        assert_eq!(
            d.decode(b""),
            Err(H1Error::new(TrailersTooLarge, Side::Request))
        );
    }

    #[test]
    fn truncated() {
        let mut d = ChunkedDecoder::new(Side::Response);
        let _ = d.decode(b"5\r\nab").unwrap();
        assert_eq!(
            d.on_close(),
            Err(H1Error::new(H1ErrorKind::TruncatedBody, Side::Response))
        );
        let mut c = LengthCounter::new(5);
        assert_eq!(c.take(3), 3);
        assert_eq!(c.take(10), 2);
        assert!(c.is_done());
        assert_eq!(c.take(10), 0);
        assert_eq!(
            LengthCounter::new(1)
                .on_close(Side::Request)
                .unwrap_err()
                .kind,
            H1ErrorKind::TruncatedBody
        );
    }

    /// Feeds `input` in pieces of `step`, applies the rewrites to a copy
    /// the way a forwarder compacts its buffer, and returns the copy up to
    /// the end of the message.
    pub(crate) fn canonical(input: &[u8], step: usize) -> Vec<u8> {
        let mut d = ChunkedDecoder::new(Side::Request);
        let mut pos = 0;
        let mut end = None;
        while end.is_none() {
            let fed = (pos + step).min(input.len());
            loop {
                match d.decode(&input[pos..fed]).unwrap() {
                    (Decoded::Data(_), n) => pos += n,
                    (Decoded::NeedMore, n) => {
                        pos += n;
                        break;
                    }
                    (Decoded::End, n) => {
                        pos += n;
                        end = Some(pos);
                        break;
                    }
                }
            }
            // The unfinished line never has a rewrite yet.
            if let Some(p) = d.partial_line_start() {
                assert!(d.rewrites.iter().all(|r| r.range().0 + r.range().1 <= p));
            }
            assert!(end.is_some() || fed < input.len(), "incomplete input");
        }
        let mut out = Vec::new();
        let mut r = 0;
        for rw in d.take_rewrites() {
            let (start, len) = rw.range();
            out.extend_from_slice(&input[r..start as usize]);
            if let Rewrite::SizeLine { size, .. } = rw {
                let mut b = [0; 18];
                let line = encode_size_line(size, &mut b);
                assert!((line.len() as u64) < len, "a rewrite makes it shorter");
                out.extend_from_slice(line);
            }
            r = (start + len) as usize;
        }
        out.extend_from_slice(&input[r..end.unwrap()]);
        out
    }

    #[test]
    fn rewrites_make_the_framing_canonical() {
        let input = b"00000000000000000000000005\r\nhello\r\n5;a=b\r\nworld\r\n\
            3 ; x = \"y\"\r\nabc\r\nA\r\n0123456789\r\n\
            0;GET /smuggled HTTP/1.1\r\nContent-Length: 5\r\nX-T: 1\r\n\
            transfer-encoding: chunked\r\nHost: evil\r\nX-Other: ok\r\n\r\nNEXT";
        let want = b"5\r\nhello\r\n5\r\nworld\r\n3\r\nabc\r\nA\r\n0123456789\r\n\
            0\r\nX-T: 1\r\nX-Other: ok\r\n\r\n";
        for step in 1..input.len() + 1 {
            assert_eq!(
                canonical(input, step).escape_ascii().to_string(),
                want.escape_ascii().to_string(),
                "step {step}"
            );
        }
        // Canonical framing: nothing to do, whatever the split.
        let clean = b"5\r\nhello\r\n1f\r\n0123456789012345678901234567890\r\n0\r\nX: 1\r\n\r\n";
        for step in 1..clean.len() + 1 {
            let mut d = ChunkedDecoder::new(Side::Request);
            let (_, end) = run_with(&mut d, clean, step);
            assert_eq!(end, Ok(clean.len()));
            assert!(!d.has_rewrites());
            assert_eq!(d.offset(), clean.len() as u64);
        }
        let mut b = [0; 18];
        assert_eq!(encode_size_line(0, &mut b), b"0\r\n");
        assert_eq!(
            encode_size_line(0x7fff_ffff_ffff_ffff, &mut b),
            b"7fffffffffffffff\r\n"
        );
    }

    #[test]
    fn partial_lines_are_reported_from_their_start() {
        let mut d = ChunkedDecoder::new(Side::Request);
        assert_eq!(d.partial_line_start(), None);
        let _ = d.decode(b"00").unwrap();
        assert_eq!(d.partial_line_start(), Some(0));
        let _ = d.decode(b"2\r").unwrap();
        assert_eq!(d.partial_line_start(), Some(0));
        let (what, n) = d.decode(b"\nab\r\n1").unwrap();
        assert_eq!((what, n), (Decoded::Data(b"ab"), 3));
        assert_eq!(d.partial_line_start(), None);
        let (_, n) = d.decode(b"\r\n1").unwrap();
        assert_eq!(n, 3);
        assert_eq!(d.partial_line_start(), Some(9));
        assert_eq!(
            d.take_rewrites(),
            [Rewrite::SizeLine {
                start: 0,
                len: 5,
                size: 2
            }]
        );
    }

    #[test]
    fn encoder() {
        let mut out = Vec::new();
        encode_chunk(b"hello", &mut out);
        encode_chunk(b"", &mut out);
        encode_chunk(&[b'z'; 300], &mut out);
        let mut t = Headers::new();
        t.add("X-T", "1").unwrap();
        encode_last_chunk(&t, &mut out);
        assert!(out.starts_with(b"5\r\nhello\r\n12c\r\n"));
        assert!(out.ends_with(b"\r\n0\r\nX-T: 1\r\n\r\n"));
        let (body, end) = run(&out, 7);
        assert_eq!(body.len(), 305);
        assert_eq!(end, Ok(out.len()));
        let mut out = Vec::new();
        encode_last_chunk(&Headers::new(), &mut out);
        assert_eq!(out, LAST_CHUNK);
    }
}

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
/// use sluice_core::h1::{ChunkedDecoder, Decoded, Side};
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
                    if let Err(k) = self.step(b) {
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
                self.line_len = 0;
                self.have_digit = false;
                self.state = if self.remaining == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                };
                Ok(())
            }
            State::DataCr => self.expect(b, b'\r', State::DataLf, MissingChunkCrlf),
            State::DataLf => self.expect(b, b'\n', State::Size, MissingChunkCrlf),
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
                self.remaining = self.remaining << 4 | u64::from(d);
                self.have_digit = true;
            }
            (State::Size, b' ' | b'\t') if self.have_digit => self.state = State::SizeBws,
            (State::Size | State::SizeBws, b';') if self.have_digit => self.state = State::Ext,
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
                self.push_trailer(b"\r\n")?;
                self.state = State::TrailerStart;
            }
            (State::TrailerLineLf | State::TrailerEndLf, _) => return Err(BadTrailers),
            (State::TrailerStart | State::TrailerLine, _) => {
                self.push_trailer(&[b])?;
                self.state = State::TrailerLine;
            }
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
            if DROPPED_TRAILERS
                .iter()
                .any(|d| d.len() == name.len() && d.eq_ignore_ascii_case(name))
            {
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
        let mut d = ChunkedDecoder::new(Side::Request);
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

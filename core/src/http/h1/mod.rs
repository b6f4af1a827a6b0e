//! HTTP/1.1 messages: head parsing, framing, the chunked codec and
//! serialisation, and the conversion to the HTTP message ([`htx`]): HAProxy's
//! `h1.c` and `h1_htx.c`. The H1 mux (client and server side) and the HTTP
//! analysers build on this.
//!
//! Everything here is pure and push-style, like `httparse` (which does the
//! byte-level head parsing): a decoder is handed the bytes received so far
//! and answers `Complete` with what it used, `Partial` ("call again with
//! more"), or an [`H1Error`]. Nothing panics on any input, nothing keeps a
//! reference into the caller's buffer once a head is returned (the buffer is
//! recycled), and every limit is the caller's.
//!
//! ```text
//!   bytes ──HeadParser──> ReqHead / ResHead ──request_body / response_body──> BodyLen
//!                          (owned, validated)                                  │
//!            ┌─────────────────────────────────────────────────────────────────┘
//!            ├─ Length(n)   LengthCounter: how much of the input is body
//!            ├─ Chunked     ChunkedDecoder: payload slices borrowed from input, then trailers
//!            ├─ UntilClose  (responses only) everything until the server closes
//!            ├─ Tunnel      (2xx to CONNECT, 101) bytes both ways, no more HTTP
//!            └─ None
//!   heads ──encode──> Vec<u8>; set_conn_mode / set_body_framing fix the headers first
//! ```
//!
//! # Strictness (HAProxy 2.6 behaviour, checked against `haproxy 2.6.12`)
//!
//! Request smuggling defences live in [`head`] (header-level rules) and
//! [`chunked`] (body-level rules); `docs/http1.md` lists every rule with
//! where Sluice and HAProxy differ. In short: conflicting `Content-Length`
//! values, any `Transfer-Encoding` but a single final `chunked`, whitespace
//! before a colon, control bytes in values, obs-fold in requests, bad chunk
//! sizes and bare LFs in chunked framing are errors; `Content-Length` next to
//! `Transfer-Encoding: chunked` is dropped and the connection is marked
//! [`MsgFlags::MUST_CLOSE`].
//!
//! # Modules
//!
//! * [`headers`]: [`Headers`], an ordered, case-preserving field list in one arena.
//! * [`head`]: [`ReqHead`], [`ResHead`], [`Method`], [`HeadParser`].
//! * [`framing`]: [`BodyLen`], [`request_body`], [`response_body`], connection tokens.
//! * [`chunked`]: [`ChunkedDecoder`], the chunk encoder, [`LengthCounter`].
//! * [`encode`]: head serialisation and the header rewrites the mux needs.
//! * [`http_err`]: HAProxy-style error responses.

pub mod chunked;
pub mod encode;
pub mod errpos;
pub mod framing;
pub mod head;
pub mod headers;
pub mod http_err;
pub mod htx;
pub mod target;

pub use chunked::{
    encode_chunk, encode_chunk_header, encode_last_chunk, encode_size_line, ChunkLimits,
    ChunkedDecoder, Decoded, LengthCounter, Rewrite, CRLF, LAST_CHUNK,
};
pub use encode::{set_body_framing, set_conn_mode, ConnMode};
pub use framing::{request_body, response_body, BodyLen};
pub use head::{
    parse_request, parse_response, HeadParser, Method, MsgFlags, ParseOptions, ReqHead, ResHead,
    Version, DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEAD_LEN, MAX_HEADERS_LIMIT,
};
pub use headers::{HeaderError, Headers};
pub use http_err::{error_response, ERROR_STATUSES};
pub use target::TargetForm;

/// The result of a push-style parser (as in `httparse`): a complete value
/// with the number of bytes it used, or the need for more bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Status<T> {
    Complete(T),
    /// The input is a valid beginning; call again with more bytes.
    Partial,
}

/// Which message an error was found in: it decides the status code sent
/// back (400 for requests, 502 for responses) and the termination state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Request,
    Response,
}

/// What was wrong. One kind per rule, so logs and counters can tell them
/// apart; [`H1Error::status`] maps them to what HAProxy answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum H1ErrorKind {
    /// The head is longer than `ParseOptions::max_head_len` (HAProxy:
    /// `tune.bufsize - tune.maxrewrite`).
    HeadTooLarge,
    /// More header lines than `ParseOptions::max_headers` (`tune.http.maxhdr`).
    TooManyHeaders,
    /// The method is not a token.
    BadMethod,
    /// The request target is empty, has a byte outside `0x21..=0x7e` or a
    /// `#`, or is not a form its method allows: origin form (`/...`),
    /// absolute form (`scheme://authority...`, not for CONNECT), authority
    /// form (`host:port`, CONNECT only) or `*` (OPTIONS only).
    BadUri,
    /// Not `HTTP/1.0` or `HTTP/1.1`.
    BadVersion,
    /// The status code is not three digits, or below 100.
    BadStatus,
    /// A header name with a non-token byte, including whitespace before the colon.
    BadHeaderName,
    /// A header value with a control byte (NUL, a lone CR, ...).
    BadHeaderValue,
    /// A line folded onto the previous one (obs-fold), refused in requests.
    ObsFold,
    /// A CR not followed by LF, or some other broken line ending.
    BadLineEnding,
    /// A `Content-Length` value that is not a plain decimal number
    /// (empty, a sign, a non-digit, more than `u64::MAX`).
    BadContentLength,
    /// Two `Content-Length` values that differ.
    ConflictingContentLength,
    /// `Transfer-Encoding` without `chunked` as its single, final coding.
    BadTransferEncoding,
    /// A coding other than `chunked` before the final `chunked` (HAProxy
    /// 2.6.12 answers 422).
    UnsupportedTransferCoding,
    /// Two `Host` values that differ, a `Host` with a byte that makes it
    /// ambiguous (`/`, `,`, `@`, ...), or a `Host` that does not agree with
    /// the authority of an absolute-form or CONNECT request target.
    BadHost,
    /// No `Host` in an HTTP/1.1 request, when `ParseOptions::require_host`.
    MissingHost,
    /// A websocket handshake (`Connection: upgrade`, `Upgrade: websocket`)
    /// without a 24-character `Sec-WebSocket-Key` (request) or without
    /// `Sec-WebSocket-Accept` (response): HAProxy's H1 mux refuses it
    /// (`h1_search_websocket_key`).
    BadWebsocketKey,
    /// A chunk size that is not hexadecimal, or whitespace where the
    /// grammar has none.
    BadChunkSize,
    /// A chunk size of 2^63 or more.
    ChunkSizeOverflow,
    /// A chunk-size line (size and extensions) over `ChunkLimits::max_line_len`.
    ChunkLineTooLong,
    /// A byte that is not allowed in a chunk extension.
    BadChunkExt,
    /// Chunk data not followed by CRLF.
    MissingChunkCrlf,
    /// A trailer section that does not parse as header fields.
    BadTrailers,
    /// A trailer section over `ChunkLimits::max_trailers_len` or with more
    /// than `ChunkLimits::max_trailers` fields.
    TrailersTooLarge,
    /// The connection closed before the announced body was complete.
    TruncatedBody,
}

/// An HTTP/1 protocol error: the kind and the side it was found on
/// (HAProxy's `h1m->err_state` plus the `H1S_F_PARSING_ERROR` side). The
/// caller answers [`H1Error::status`] (if it still can), logs
/// [`H1Error::termination`] and closes the connection. Errors are values:
/// no input makes this module panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct H1Error {
    pub kind: H1ErrorKind,
    pub side: Side,
}

impl H1Error {
    pub const fn new(kind: H1ErrorKind, side: Side) -> Self {
        Self { kind, side }
    }

    /// The status HAProxy sends for this error: 400 (422 for a coding it
    /// does not process) for requests, 502 for responses.
    pub fn status(&self) -> u16 {
        match (self.side, self.kind) {
            (Side::Response, _) => 502,
            (Side::Request, H1ErrorKind::UnsupportedTransferCoding) => 422,
            (Side::Request, _) => 400,
        }
    }

    /// True for errors in a body (chunked framing, trailers, truncation),
    /// found after the head was forwarded.
    pub fn in_body(&self) -> bool {
        use H1ErrorKind::*;
        matches!(
            self.kind,
            BadChunkSize
                | ChunkSizeOverflow
                | ChunkLineTooLong
                | BadChunkExt
                | MissingChunkCrlf
                | BadTrailers
                | TrailersTooLarge
                | TruncatedBody
        )
    }
}

impl core::fmt::Display for H1Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let side = match self.side {
            Side::Request => "request",
            Side::Response => "response",
        };
        write!(f, "invalid HTTP/1 {side}: {:?}", self.kind)
    }
}

/// `OWS` of RFC 9110 §5.6.3: spaces and horizontal tabs.
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing `OWS`.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1),
/// trimmed. Empty elements are skipped, as the RFC asks of recipients.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// `tchar` of RFC 9110 §5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

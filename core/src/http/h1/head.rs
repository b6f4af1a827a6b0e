//! Request and response heads: push-style parsing with `httparse`, then
//! HAProxy's header-level checks (`h1_headers_to_hdr_list`,
//! `h1_parse_cont_len_header`, `h1_parse_xfer_enc_header`,
//! `h1_parse_connection_header` in `h1.c`; RFC 9112 §2-§7).
//!
//! ```text
//!  HeadParser (HAProxy's `struct h1m` while in H1_MSG_RQBEFORE..H1_MSG_LAST_LF)
//!
//!   parse(buf) ──first call──> httparse over buf[..max] ── Complete ──> checks ──> head
//!        │                             └─ Partial: remember how far we scanned
//!        └─later calls──> look for the blank line from where we stopped
//!                          └─ found: httparse over the head once ──> checks ──> head
//! ```
//!
//! `httparse` re-parses from the start on every call; a client that sends
//! its head one byte per packet would make that quadratic in the head size.
//! [`HeadParser`] remembers how far it looked for the end of the head, so
//! each byte is scanned a bounded number of times whatever the split. The
//! free functions [`parse_request`]/[`parse_response`] are the one-shot form.
//!
//! Checks on a complete head, in order (all errors carry the side, so the
//! caller answers 400 or 502):
//!
//! * request target: visible ASCII only (`0x21..=0x7e`);
//! * `Content-Length`: comma lists of equal values merge into one field,
//!   duplicates with the same value are dropped, anything else is an error;
//! * `Transfer-Encoding`: all fields together must list `chunked` exactly
//!   once, last; other codings before it are [`H1ErrorKind::UnsupportedTransferCoding`];
//! * both: `Content-Length` is dropped and [`MsgFlags::MUST_CLOSE`] set;
//!   `Transfer-Encoding` in HTTP/1.0 sets it too (RFC 9112 §6.1);
//! * `Host` (requests): duplicates must be equal (one is kept); an
//!   absolute-form target's authority must match it; missing is accepted
//!   unless [`ParseOptions::require_host`] (HAProxy 2.6 accepts it);
//! * `Connection`, `Upgrade`, `Expect` tokens become [`MsgFlags`].
//!
//! obs-fold (a header line starting with SP or HTAB, RFC 9112 §5.2) is an
//! error in requests (the RFC allows rejecting it; HAProxy replaces it with
//! spaces) and is replaced with spaces in responses, as HAProxy does.

use super::headers::Headers;
use super::target::{self, TargetForm};
use super::{list_elements, trim_ows, H1Error, H1ErrorKind, Side, Status};
use core::mem::MaybeUninit;

/// HAProxy's default `tune.bufsize - tune.maxrewrite` (16384 - 1024).
pub const DEFAULT_MAX_HEAD_LEN: usize = 16384 - 1024;
/// Header lines HAProxy 2.6 accepts by default: `tune.http.maxhdr` is 101,
/// and a head with 101 header lines is refused (measured).
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Upper bound for [`ParseOptions::max_headers`]: the parser's header slots
/// live on the stack.
pub const MAX_HEADERS_LIMIT: usize = 512;

/// Caller-given limits and policies for head parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Longest head accepted, leading empty lines and final CRLF included.
    pub max_head_len: usize,
    /// Most header lines accepted (clamped to [`MAX_HEADERS_LIMIT`]).
    pub max_headers: usize,
    /// Refuse HTTP/1.1 requests without `Host` (RFC 9112 §3.2 asks origin
    /// servers to; HAProxy 2.6 forwards them).
    pub require_host: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            max_head_len: DEFAULT_MAX_HEAD_LEN,
            max_headers: DEFAULT_MAX_HEADERS,
            require_host: false,
        }
    }
}

/// A request method (RFC 9110 §9), open: HAProxy's `enum http_meth_t`
/// names the common ones and keeps the others as text (`HTTP_METH_OTHER`).
/// Methods are case-sensitive: `get` is `Other("get")`.
#[allow(clippy::upper_case_acronyms)] // spelled as on the wire, like `http::Method::GET`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    GET,
    HEAD,
    POST,
    PUT,
    DELETE,
    CONNECT,
    OPTIONS,
    TRACE,
    PATCH,
    /// Any other token.
    Other(Box<str>),
}

impl Method {
    /// The method for a token. The caller checked it is a token.
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::GET,
            "HEAD" => Method::HEAD,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "DELETE" => Method::DELETE,
            "CONNECT" => Method::CONNECT,
            "OPTIONS" => Method::OPTIONS,
            "TRACE" => Method::TRACE,
            "PATCH" => Method::PATCH,
            other => Method::Other(other.into()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::CONNECT => "CONNECT",
            Method::OPTIONS => "OPTIONS",
            Method::TRACE => "TRACE",
            Method::PATCH => "PATCH",
            Method::Other(s) => s,
        }
    }
}

/// The protocol version of a message (RFC 9112 §2.3). `httparse` knows no
/// other; HAProxy 2.6 also takes `HTTP/1.2` and `HTTP/2.0` on an H1
/// connection and forwards them as 1.1, Sluice refuses them (400/502).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

bitflags::bitflags! {
    /// What the parser found in a head, named after HAProxy's `H1_MF_*`
    /// message flags. They describe the head *as received*; after editing
    /// headers, [`super::request_body`]/[`super::response_body`] and
    /// [`Headers::has_token`] read the fields again.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MsgFlags: u32 {
        /// `HTTP/1.1` (`H1_MF_VER_11`).
        const VER_11 = 1 << 0;
        /// A valid `Content-Length` is present (`H1_MF_CLEN`).
        const CLEN = 1 << 1;
        /// `Transfer-Encoding` ends with `chunked` (`H1_MF_CHNK`).
        const CHNK = 1 << 2;
        /// `Transfer-Encoding` is present (`H1_MF_XFER_ENC`).
        const XFER_ENC = 1 << 3;
        /// `Connection: close` (`H1_MF_CONN_CLO`).
        const CONN_CLO = 1 << 4;
        /// `Connection: keep-alive` (`H1_MF_CONN_KAL`).
        const CONN_KAL = 1 << 5;
        /// `Connection: upgrade` (`H1_MF_CONN_UPG`).
        const CONN_UPG = 1 << 6;
        /// `Upgrade: websocket` (`H1_MF_UPG_WEBSOCKET`).
        const UPG_WEBSOCKET = 1 << 7;
        /// `Expect: 100-continue` in an HTTP/1.1 request (RFC 9110 §10.1.1
        /// says to ignore it in 1.0).
        const EXPECT_100 = 1 << 8;
        /// The framing had to be repaired (`Content-Length` dropped next to
        /// `Transfer-Encoding`, or `Transfer-Encoding` in HTTP/1.0): the
        /// connection must close once this transaction is over
        /// (RFC 9112 §6.1). The mux reads this one.
        const MUST_CLOSE = 1 << 9;
        /// obs-fold lines were unfolded into spaces (responses only).
        const UNFOLDED = 1 << 10;
    }
}

/// A request head (HAProxy's request start line `h1_sl.rq` plus its header
/// list). Owned: the parse buffer can be reused as soon as it is returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReqHead {
    pub method: Method,
    /// The request target as sent: origin-form, absolute-form,
    /// authority-form (CONNECT) or `*`. Visible ASCII only.
    pub uri: String,
    pub version: Version,
    pub headers: Headers,
    pub flags: MsgFlags,
}

/// A response head (HAProxy's `h1_sl.st` plus its header list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResHead {
    pub version: Version,
    /// 100 to 999.
    pub status: u16,
    /// The reason phrase as sent (may be empty).
    pub reason: String,
    pub headers: Headers,
    pub flags: MsgFlags,
}

impl ReqHead {
    /// Whether the client asked to keep the connection open: HTTP/1.1
    /// unless `close`, HTTP/1.0 only with `keep-alive` (RFC 9112 §9.3), and
    /// never once the framing was repaired.
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.flags)
    }

    /// `Expect: 100-continue` in HTTP/1.1.
    pub fn expects_continue(&self) -> bool {
        self.flags.contains(MsgFlags::EXPECT_100)
    }

    /// `Connection: upgrade` with an `Upgrade` field.
    pub fn wants_upgrade(&self) -> bool {
        self.flags.contains(MsgFlags::CONN_UPG) && self.headers.contains("upgrade")
    }
}

impl ResHead {
    /// Whether the server keeps the connection open (same rules as requests).
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.flags)
    }

    /// 1xx other than 101: more responses follow for the same request.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

fn keep_alive(flags: MsgFlags) -> bool {
    if flags.intersects(MsgFlags::CONN_CLO | MsgFlags::MUST_CLOSE) {
        false
    } else {
        flags.intersects(MsgFlags::VER_11 | MsgFlags::CONN_KAL)
    }
}

/// Parses one request head from the start of `buf` (one-shot form of
/// [`HeadParser::parse_request`]).
pub fn parse_request(buf: &[u8], opts: &ParseOptions) -> Result<Status<(ReqHead, usize)>, H1Error> {
    HeadParser::new(*opts).parse_request(buf)
}

/// Parses one response head from the start of `buf` (one-shot form of
/// [`HeadParser::parse_response`]).
pub fn parse_response(
    buf: &[u8],
    opts: &ParseOptions,
) -> Result<Status<(ResHead, usize)>, H1Error> {
    HeadParser::new(*opts).parse_response(buf)
}

/// Push-style head parser keeping how far it has looked (see the module
/// docs). Feed it the same growing buffer (the message's first byte at
/// index 0) until it answers `Complete` or an error; it then resets itself
/// for the next message.
#[doc(alias = "h1m")]
#[derive(Clone, Debug)]
pub struct HeadParser {
    opts: ParseOptions,
    /// `httparse` already saw a prefix of this message.
    started: bool,
    /// Bytes of leading empty lines (tolerated before a start line).
    skip: usize,
    /// Where to resume looking for the blank line (HAProxy's `h1m->next`).
    next: usize,
}

impl HeadParser {
    pub fn new(opts: ParseOptions) -> Self {
        Self {
            opts,
            started: false,
            skip: 0,
            next: 0,
        }
    }

    pub fn options(&self) -> &ParseOptions {
        &self.opts
    }

    /// Forgets the current message (the next call starts a new one).
    pub fn reset(&mut self) {
        self.started = false;
        self.skip = 0;
        self.next = 0;
    }

    /// Parses a request head. `Complete((head, n))`: `buf[..n]` was the
    /// head (leading empty lines included) and the body starts at `n`.
    pub fn parse_request(&mut self, buf: &[u8]) -> Result<Status<(ReqHead, usize)>, H1Error> {
        let Some((len, on_partial)) = self.plan(buf) else {
            return Ok(Status::Partial);
        };
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS_LIMIT];
        let slots = &mut slots[..self.opts.max_headers.min(MAX_HEADERS_LIMIT)];
        let mut req = httparse::Request::new(&mut []);
        // HAProxy's h1 parser skips every SP/HTAB between the method, the
        // target and the version (`POST /1  HTTP/1.1` is accepted).
        let mut cfg = httparse::ParserConfig::default();
        cfg.allow_multiple_spaces_in_request_line_delimiters(true);
        match cfg.parse_request_with_uninit_headers(&mut req, &buf[..len], slots) {
            Ok(httparse::Status::Complete(n)) => {
                self.reset();
                let raw = RawReq {
                    method: req.method.unwrap_or(""),
                    uri: req.path.unwrap_or(""),
                    minor: req.version.unwrap_or(0),
                    headers: req.headers,
                };
                let head = finish_request(raw, &buf[..n], &self.opts)?;
                Ok(Status::Complete((head, n)))
            }
            Ok(httparse::Status::Partial) => self.partial(buf, on_partial, Side::Request),
            Err(e) => {
                self.reset();
                let kind = map_httparse(e, &buf[..len], Side::Request);
                Err(H1Error::new(kind, Side::Request))
            }
        }
    }

    /// Parses a response head (see [`HeadParser::parse_request`]). Interim
    /// (1xx) responses are heads like any other: parse again after them.
    pub fn parse_response(&mut self, buf: &[u8]) -> Result<Status<(ResHead, usize)>, H1Error> {
        let Some((len, on_partial)) = self.plan(buf) else {
            return Ok(Status::Partial);
        };
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS_LIMIT];
        let slots = &mut slots[..self.opts.max_headers.min(MAX_HEADERS_LIMIT)];
        let mut res = httparse::Response::new(&mut []);
        let mut cfg = httparse::ParserConfig::default();
        cfg.allow_obsolete_multiline_headers_in_responses(true);
        match cfg.parse_response_with_uninit_headers(&mut res, &buf[..len], slots) {
            Ok(httparse::Status::Complete(n)) => {
                self.reset();
                let raw = RawRes {
                    minor: res.version.unwrap_or(0),
                    code: res.code.unwrap_or(0),
                    reason: res.reason.unwrap_or(""),
                    headers: res.headers,
                };
                let head = finish_response(raw, &buf[..n])?;
                Ok(Status::Complete((head, n)))
            }
            Ok(httparse::Status::Partial) => self.partial(buf, on_partial, Side::Response),
            Err(e) => {
                self.reset();
                let kind = map_httparse(e, &buf[..len], Side::Response);
                Err(H1Error::new(kind, Side::Response))
            }
        }
    }

    /// Decides whether `httparse` must run this time, and over how many
    /// bytes: at most once per call, and over bytes scanned a bounded
    /// number of times in total. `None`: still partial, nothing to parse.
    fn plan(&mut self, buf: &[u8]) -> Option<(usize, OnPartial)> {
        let max = self.opts.max_head_len;
        let window = &buf[..buf.len().min(max)];
        let too_large = if buf.len() >= max {
            OnPartial::TooLarge
        } else {
            OnPartial::Wait
        };
        if buf.len() < self.next {
            // Not the buffer we were fed before: start over.
            crate::bug_on!(true, "HeadParser fed a shorter buffer");
            self.reset();
        }
        if !self.started {
            // Fast path: most heads arrive whole; one pass, no pre-scan.
            self.started = true;
            return Some((window.len(), too_large));
        }
        match self.find_end(window) {
            Some(end) => Some((end, OnPartial::Wait)),
            // Longer than the window: parse it once more so that a syntax
            // error inside wins, whatever the split.
            None if too_large == OnPartial::TooLarge => Some((window.len(), too_large)),
            None => None,
        }
    }

    /// `httparse` said `Partial` over the planned bytes.
    fn partial<T>(&mut self, buf: &[u8], on: OnPartial, side: Side) -> Result<Status<T>, H1Error> {
        match on {
            OnPartial::TooLarge => {
                self.reset();
                Err(H1Error::new(H1ErrorKind::HeadTooLarge, side))
            }
            OnPartial::Wait => {
                let window = &buf[..buf.len().min(self.opts.max_head_len)];
                let found = self.find_end(window);
                crate::bug_on!(found.is_some(), "httparse partial on a complete head");
                Ok(Status::Partial)
            }
        }
    }

    /// Looks for the blank line ending a head in `w` from where the last
    /// call stopped; returns the head's length if found.
    fn find_end(&mut self, w: &[u8]) -> Option<usize> {
        // Leading empty lines (RFC 9112 §2.2 lets a server skip them).
        if self.next == self.skip {
            loop {
                match (w.get(self.skip), w.get(self.skip + 1)) {
                    (Some(b'\n'), _) => self.skip += 1,
                    (Some(b'\r'), Some(b'\n')) => self.skip += 2,
                    // Still among the empty lines: wait, do not mistake
                    // them for the end of a head.
                    (None, _) | (Some(b'\r'), None) => {
                        self.next = self.skip;
                        return None;
                    }
                    _ => break,
                }
            }
            self.next = self.skip;
        }
        let mut i = self.next;
        while let Some(p) = w.get(i..).and_then(|s| s.iter().position(|&b| b == b'\n')) {
            let lf = i + p;
            match (w.get(lf + 1), w.get(lf + 2)) {
                (Some(b'\n'), _) => return Some(lf + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
                (None, _) | (Some(b'\r'), None) => {
                    self.next = lf;
                    return None;
                }
                _ => i = lf + 1,
            }
        }
        self.next = w.len();
        None
    }
}

/// What to make of an `httparse` `Partial`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnPartial {
    /// Wait for more bytes.
    Wait,
    /// The buffer already holds `max_head_len` bytes: the head is too large.
    TooLarge,
}

/// What `httparse` found in a request, with borrowed slices.
struct RawReq<'a> {
    method: &'a str,
    uri: &'a str,
    minor: u8,
    headers: &'a [httparse::Header<'a>],
}

struct RawRes<'a> {
    minor: u8,
    code: u16,
    reason: &'a str,
    headers: &'a [httparse::Header<'a>],
}

/// Maps an `httparse` error to a kind. `bytes` is what was parsed: an
/// obs-fold shows as a bad name, told apart by a line starting with SP/HTAB.
fn map_httparse(e: httparse::Error, bytes: &[u8], side: Side) -> H1ErrorKind {
    use httparse::Error as E;
    match e {
        E::HeaderName => header_name_error(bytes),
        E::HeaderValue => H1ErrorKind::BadHeaderValue,
        E::NewLine => H1ErrorKind::BadLineEnding,
        E::Status => H1ErrorKind::BadStatus,
        E::Token if side == Side::Request => {
            // The method is the tchars after the empty lines: if a SP ends
            // it, the target was the problem. Only bytes before the error
            // are looked at, so every split gives the same kind.
            let start = bytes
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .unwrap_or(bytes.len());
            let line = &bytes[start..];
            match line.iter().position(|&b| !super::is_tchar(b)) {
                Some(end) if end > 0 && line[end] == b' ' => {
                    // A target ended by CR/LF: an HTTP/0.9 request line.
                    let uri = &line[end + 1..];
                    match uri.iter().position(|b| !(0x21..=0x7e).contains(b)) {
                        Some(i) if i > 0 && matches!(uri[i], b'\r' | b'\n') => {
                            H1ErrorKind::BadVersion
                        }
                        _ => H1ErrorKind::BadUri,
                    }
                }
                _ => H1ErrorKind::BadMethod,
            }
        }
        E::Token => H1ErrorKind::BadStatus,
        E::TooManyHeaders => H1ErrorKind::TooManyHeaders,
        E::Version => H1ErrorKind::BadVersion,
    }
}

/// Tells an obs-fold (a line starting with SP/HTAB) from another bad
/// name, looking at the first header line that is wrong, so the answer
/// does not depend on bytes after the error.
fn header_name_error(bytes: &[u8]) -> H1ErrorKind {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let mut lines = bytes[start..].split(|&b| b == b'\n').skip(1);
    for line in lines.by_ref() {
        match line.first() {
            None | Some(b'\r') => break,
            Some(b' ' | b'\t') => return H1ErrorKind::ObsFold,
            Some(_) => {
                let name_ok = line
                    .iter()
                    .position(|&b| b == b':')
                    .is_some_and(|c| c > 0 && line[..c].iter().all(|&b| super::is_tchar(b)));
                if !name_ok {
                    break;
                }
            }
        }
    }
    H1ErrorKind::BadHeaderName
}

// ------------------------------------------------------------ semantics

/// Facts gathered from the header fields, before the per-side decisions.
#[derive(Default)]
struct Scan {
    flags: MsgFlags,
    /// The agreed `Content-Length`, if any.
    clen: Option<u64>,
    /// Index of the field that carries the kept `Content-Length`.
    clen_field: Option<usize>,
    /// Transfer codings over all `Transfer-Encoding` fields.
    te: TeScan,
    /// Index of the first `Host` field.
    host_field: Option<usize>,
    /// A `TE` field is present (requests).
    te_field: bool,
    /// Fields to drop (duplicates merged away).
    drop: Vec<bool>,
}

/// The transfer codings of all `Transfer-Encoding` fields, in order
/// (RFC 9112 §6.1; HAProxy 2.6.12: `chunked` once, last, alone).
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TeScan {
    pub(crate) present: bool,
    pub(crate) chunked: u32,
    pub(crate) last_is_chunked: bool,
    pub(crate) others: bool,
}

impl TeScan {
    pub(crate) fn feed(&mut self, value: &[u8]) {
        self.present = true;
        for coding in list_elements(value) {
            if coding.eq_ignore_ascii_case(b"chunked") {
                self.chunked += 1;
                self.last_is_chunked = true;
            } else {
                // Codings with parameters (`chunked;q=1`) land here too.
                self.others = true;
                self.last_is_chunked = false;
            }
        }
    }

    /// `Ok(true)` for a valid chunked framing, `Ok(false)` if absent.
    pub(crate) fn check(&self) -> Result<bool, H1ErrorKind> {
        if !self.present {
            Ok(false)
        } else if self.chunked != 1 || !self.last_is_chunked {
            Err(H1ErrorKind::BadTransferEncoding)
        } else if self.others {
            Err(H1ErrorKind::UnsupportedTransferCoding)
        } else {
            Ok(true)
        }
    }
}

/// Parses a `Content-Length` value: one decimal number or a comma list of
/// equal ones (RFC 9110 §8.6), equal to `prev` if given. No sign, no
/// empty element, no overflow (`h1_parse_cont_len_header`).
pub(crate) fn parse_content_length(value: &[u8], prev: Option<u64>) -> Result<u64, H1ErrorKind> {
    let mut found = prev;
    let mut any = false;
    for word in value.split(|&b| b == b',') {
        let word = trim_ows(word);
        if word.is_empty() {
            return Err(H1ErrorKind::BadContentLength);
        }
        let mut n: u64 = 0;
        for &b in word {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err(H1ErrorKind::BadContentLength);
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .ok_or(H1ErrorKind::BadContentLength)?;
        }
        match found {
            Some(f) if f != n => return Err(H1ErrorKind::ConflictingContentLength),
            _ => found = Some(n),
        }
        any = true;
    }
    match found {
        Some(n) if any => Ok(n),
        _ => Err(H1ErrorKind::BadContentLength),
    }
}

fn name_is(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len() && name.eq_ignore_ascii_case(lower)
}

/// Walks the fields once: framing, connection tokens, duplicate `Host`.
fn scan_fields(h: &Headers, side: Side) -> Result<Scan, H1ErrorKind> {
    let mut s = Scan::default();
    for i in 0..h.len() {
        let name = h.name_at(i);
        let value = h.value_at(i);
        // Cheap dispatch on length first: most fields are none of these.
        match name.len() {
            14 if name_is(name, b"content-length") => {
                let n = parse_content_length(value, s.clen)?;
                if s.clen.is_some() {
                    mark(&mut s.drop, i, h.len());
                } else {
                    s.clen_field = Some(i);
                }
                s.clen = Some(n);
            }
            17 if name_is(name, b"transfer-encoding") => s.te.feed(value),
            10 if name_is(name, b"connection") => {
                for tok in list_elements(value) {
                    if tok.eq_ignore_ascii_case(b"close") {
                        s.flags |= MsgFlags::CONN_CLO;
                    } else if tok.eq_ignore_ascii_case(b"keep-alive") {
                        s.flags |= MsgFlags::CONN_KAL;
                    } else if tok.eq_ignore_ascii_case(b"upgrade") {
                        s.flags |= MsgFlags::CONN_UPG;
                    }
                }
            }
            7 if name_is(name, b"upgrade") => {
                let ws = list_elements(value).any(|p| {
                    let proto = p.split(|&b| b == b'/').next().unwrap_or(p);
                    proto.eq_ignore_ascii_case(b"websocket")
                });
                if ws {
                    s.flags |= MsgFlags::UPG_WEBSOCKET;
                }
            }
            6 if side == Side::Request
                && name_is(name, b"expect")
                && trim_ows(value).eq_ignore_ascii_case(b"100-continue") =>
            {
                s.flags |= MsgFlags::EXPECT_100;
            }
            2 if side == Side::Request && name_is(name, b"te") => s.te_field = true,
            4 if side == Side::Request && name_is(name, b"host") => match s.host_field {
                None => s.host_field = Some(i),
                Some(first) if h.value_at(first).eq_ignore_ascii_case(value) => {
                    mark(&mut s.drop, i, h.len())
                }
                Some(_) => return Err(H1ErrorKind::BadHost),
            },
            _ => {}
        }
    }
    Ok(s)
}

fn mark(drop: &mut Vec<bool>, i: usize, len: usize) {
    if drop.is_empty() {
        drop.resize(len, false);
    }
    drop[i] = true;
}

/// Applies the framing rules to the scanned fields and edits `h`
/// accordingly; returns the head's flags.
fn resolve_framing(
    h: &mut Headers,
    mut s: Scan,
    version: Version,
) -> Result<MsgFlags, H1ErrorKind> {
    let mut flags = s.flags;
    if version == Version::Http11 {
        flags |= MsgFlags::VER_11;
    } else {
        flags.remove(MsgFlags::EXPECT_100);
    }
    if s.te.check()? {
        flags |= MsgFlags::XFER_ENC | MsgFlags::CHNK;
        if version == Version::Http10 {
            flags |= MsgFlags::MUST_CLOSE;
        }
        if let Some(i) = s.clen_field.take() {
            // Transfer-Encoding wins; the length is dropped and the
            // connection will not be reused (RFC 9112 §6.1, §6.3).
            mark(&mut s.drop, i, h.len());
            flags |= MsgFlags::MUST_CLOSE;
        }
    } else if let (Some(i), Some(n)) = (s.clen_field, s.clen) {
        flags |= MsgFlags::CLEN;
        // A list (`5, 5`) becomes the single number, as HAProxy forwards it.
        if h.value_at(i).contains(&b',') {
            let mut digits = [0u8; 20];
            let text = fmt_u64(n, &mut digits);
            h.replace_value(i, text)
                .map_err(|_| H1ErrorKind::HeadTooLarge)?;
        }
    }
    if !s.drop.is_empty() {
        h.remove_indices(&s.drop);
    }
    Ok(flags)
}

fn finish_request(raw: RawReq<'_>, head: &[u8], opts: &ParseOptions) -> Result<ReqHead, H1Error> {
    let err = |k| H1Error::new(k, Side::Request);
    if raw.uri.is_empty() || !raw.uri.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(err(H1ErrorKind::BadUri));
    }
    let method = Method::from_token(raw.method);
    let connect = method == Method::CONNECT;
    let form = target::target_form(connect, method == Method::OPTIONS, raw.uri).map_err(err)?;
    let version = version_of(raw.minor);
    let mut headers = copy_headers(raw.headers, head);
    let scan = scan_fields(&headers, Side::Request).map_err(err)?;
    // `Host` cut to this many bytes (CONNECT: a default port dropped).
    let mut host_cut = None;
    let te = scan.te_field;
    if let Some(host) = scan.host_field.map(|i| headers.value_at(i)) {
        if target::has_forbidden_char(host) {
            return Err(err(H1ErrorKind::BadHost));
        }
        match form {
            TargetForm::Absolute => {
                let abs = target::split_absolute(raw.uri);
                if !abs.is_some_and(|a| target::absolute_matches_host(&a, host)) {
                    return Err(err(H1ErrorKind::BadHost));
                }
            }
            TargetForm::Authority => {
                host_cut = target::connect_host_check(raw.uri.as_bytes(), host).map_err(err)?;
            }
            TargetForm::Origin | TargetForm::Asterisk => {}
        }
    } else if opts.require_host && version == Version::Http11 {
        return Err(err(H1ErrorKind::MissingHost));
    }
    let mut flags = resolve_framing(&mut headers, scan, version).map_err(err)?;
    if ws_key_missing(&headers, flags, Side::Request) {
        return Err(err(H1ErrorKind::BadWebsocketKey));
    }
    let mut uri = raw.uri.to_owned();
    if form == TargetForm::Absolute {
        // `http://h:80/` is `http://h/`, and so is its `Host`.
        if let Some((normal, host)) = target::normalize_default_port(raw.uri) {
            set_host(&mut headers, host.as_bytes()).map_err(err)?;
            uri = normal;
        }
    }
    if let Some(len) = host_cut {
        let host = headers.get("host").map(|h| h[..len.min(h.len())].to_vec());
        if let Some(host) = host {
            set_host(&mut headers, &host).map_err(err)?;
        }
    }
    if te {
        normalize_te(&mut headers);
    }
    if connect {
        // A CONNECT request has no content (RFC 9110 §9.3.6): what follows
        // its head is tunnel data, as HAProxy's `h1_postparse_req_hdrs`
        // has it; framing fields would only mislead the server.
        if headers.contains("content-length") || headers.contains("transfer-encoding") {
            headers.retain(|n, _| {
                !n.eq_ignore_ascii_case(b"content-length")
                    && !n.eq_ignore_ascii_case(b"transfer-encoding")
            });
        }
        flags.remove(MsgFlags::CLEN | MsgFlags::CHNK | MsgFlags::XFER_ENC);
    }
    Ok(ReqHead {
        method,
        uri,
        version,
        headers,
        flags,
    })
}

/// `TE` says which transfer codings the client accepts in the response;
/// the proxy decodes none but chunked, so only `trailers` may go on to the
/// server (a `TE: gzip` would let it answer with a coding the proxy then
/// refuses). A field without `trailers` is dropped, one with it becomes
/// `TE: trailers`, as HAProxy's H1 mux writes it.
fn normalize_te(h: &mut Headers) {
    let mut i = 0;
    while i < h.len() {
        if !name_is(h.name_at(i), b"te") {
            i += 1;
            continue;
        }
        let v = h.value_at(i);
        if v == b"trailers" {
            i += 1;
        } else if list_elements(v).any(|e| e.eq_ignore_ascii_case(b"trailers")) {
            // Cannot fail: the value gets shorter.
            let _ = h.replace_value(i, b"trailers");
            i += 1;
        } else {
            let mut n = 0;
            h.retain(|_, _| {
                n += 1;
                n != i + 1
            });
        }
    }
}

/// Sets the value of every `Host` field (after duplicates were merged,
/// there is at most one).
fn set_host(h: &mut Headers, value: &[u8]) -> Result<(), H1ErrorKind> {
    for i in 0..h.len() {
        if name_is(h.name_at(i), b"host") && h.value_at(i) != value {
            h.replace_value(i, value)
                .map_err(|_| H1ErrorKind::HeadTooLarge)?;
        }
    }
    Ok(())
}

fn finish_response(raw: RawRes<'_>, head: &[u8]) -> Result<ResHead, H1Error> {
    let err = |k| H1Error::new(k, Side::Response);
    if raw.code < 100 {
        return Err(err(H1ErrorKind::BadStatus));
    }
    let version = version_of(raw.minor);
    let mut headers = copy_headers(raw.headers, head);
    let unfolded = unfold(&mut headers);
    let scan = scan_fields(&headers, Side::Response).map_err(err)?;
    let mut flags = resolve_framing(&mut headers, scan, version).map_err(err)?;
    if ws_key_missing(&headers, flags, Side::Response) {
        return Err(err(H1ErrorKind::BadWebsocketKey));
    }
    if unfolded {
        flags |= MsgFlags::UNFOLDED;
    }
    if (100..200).contains(&raw.code) || raw.code == 204 {
        // Never a body, so never framing fields (RFC 9110 §8.6, RFC 9112
        // §6.1: a server MUST NOT send them): a recipient that believed
        // them would read the next response as this one's body. HAProxy's
        // H1 mux leaves them out too. 304 and HEAD responses keep theirs:
        // they describe the representation, as the RFC allows.
        if flags.intersects(MsgFlags::CLEN | MsgFlags::XFER_ENC) {
            headers
                .retain(|n, _| !name_is(n, b"content-length") && !name_is(n, b"transfer-encoding"));
        }
        flags.remove(MsgFlags::CLEN | MsgFlags::CHNK | MsgFlags::XFER_ENC);
    }
    Ok(ResHead {
        version,
        status: raw.code,
        reason: raw.reason.to_owned(),
        headers,
        flags,
    })
}

/// A websocket handshake message without its key: a request without a
/// 24-byte `Sec-WebSocket-Key`, a response without `Sec-WebSocket-Accept`
/// (HAProxy's `h1_search_websocket_key`, when both `H1_MF_CONN_UPG` and
/// `H1_MF_UPG_WEBSOCKET` are set).
fn ws_key_missing(headers: &Headers, flags: MsgFlags, side: Side) -> bool {
    if !flags.contains(MsgFlags::CONN_UPG | MsgFlags::UPG_WEBSOCKET) {
        return false;
    }
    match side {
        Side::Request => !headers.get_all("sec-websocket-key").any(|v| v.len() == 24),
        Side::Response => !headers.contains("sec-websocket-accept"),
    }
}

fn version_of(minor: u8) -> Version {
    if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    }
}

/// One copy of the header block into the arena; fields are offsets in it.
fn copy_headers(raw: &[httparse::Header<'_>], head: &[u8]) -> Headers {
    let base = head.as_ptr() as usize;
    let Some(first) = raw.first() else {
        return Headers::new();
    };
    let start = (first.name.as_ptr() as usize)
        .saturating_sub(base)
        .min(head.len());
    let mut h = Headers::from_block(&head[start..], raw.len());
    for f in raw {
        let n = (f.name.as_ptr() as usize).saturating_sub(base + start);
        let v = (f.value.as_ptr() as usize).saturating_sub(base + start);
        h.push_range((n, f.name.len()), (v, f.value.len()));
    }
    h
}

/// Replaces the CR/LF of obs-folded values with spaces (RFC 9112 §5.2;
/// HAProxy does the same). Returns whether anything was folded.
fn unfold(h: &mut Headers) -> bool {
    let mut any = false;
    for i in 0..h.len() {
        if !h.value_at(i).iter().any(|&b| b == b'\r' || b == b'\n') {
            continue;
        }
        if let Some(v) = h.value_mut(i) {
            for b in v.iter_mut() {
                if *b == b'\r' || *b == b'\n' {
                    *b = b' ';
                    any = true;
                }
            }
        }
    }
    any
}

/// Decimal text of `n` in `buf`.
pub(crate) fn fmt_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

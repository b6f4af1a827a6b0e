//! The text handshake (PROTOCOL.md §3): the connector's three-line hello
//! and the acceptor's status line. HAProxy's `peer_getline`, the
//! `PEER_SESS_ST_GETVERSION`/`GETHOST`/`GETPEER` states of the peers applet,
//! `peer_get_version` and the `PEER_SESS_SC_*` status codes.
//!
//! ```text
//! connector                                     acceptor
//!   "HAProxyS 2.1\n"        line 1  --------->  checks 1, 2 (501, 502)
//!   "<called>\n"            line 2  --------->  check 3     (503)
//!   "<own> <pid> 1\n"       line 3  --------->  checks 4, 5 (501, 504)
//!                                               (check 6, 300: session layer)
//!                           <---------  "200\n" then binary messages
//! ```
//!
//! Parsing is push-style like the frame layer: functions take everything
//! received so far and answer [`Status::Partial`] until they can decide.
//! [`accept_hello`] validates each line as soon as it is complete, like the
//! acceptor, so a bad first line is rejected without waiting for the others.
//! A line longer than the caller's limit is [`HandshakeError::LineTooLong`]:
//! close without a status.

use core::fmt;

use super::Status;

/// The 9 bytes every hello starts with (check 1).
pub const PROTOCOL_ID: &[u8] = b"HAProxyS ";

/// Default longest handshake line, terminator included: HAProxy reads lines
/// into a `tune.bufsize` buffer.
pub const DEFAULT_MAX_LINE_LEN: usize = super::frame::DEFAULT_MAX_BODY_LEN;

/// A handshake line that does not fit in the caller's limit: HAProxy closes
/// without sending a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineTooLong;

/// Reads one LF-terminated line at the start of `buf`; a CR right before the
/// LF is removed. Returns the line (without terminator) and the bytes used.
/// `max_len` bounds the whole line, terminator included.
pub fn read_line(buf: &[u8], max_len: usize) -> Result<Status<(&[u8], usize)>, LineTooLong> {
    let window = &buf[..buf.len().min(max_len)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            let line = &buf[..lf];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok(Status::Complete((line, lf + 1)))
        }
        None if buf.len() >= max_len => Err(LineTooLong),
        None => Ok(Status::Partial),
    }
}

/// A protocol version `<major>.<minor>` from hello line 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// Sent after a downgrade (a 502 answer); no timed updates (§3.4).
    pub const V2_0: Version = Version { major: 2, minor: 0 };
    /// What HAProxy 2.6 announces.
    pub const V2_1: Version = Version { major: 2, minor: 1 };

    /// Parses `<digits>.<digits>` and nothing else. Numbers saturate at
    /// `u32::MAX` (which then fails [`Version::is_supported`]).
    pub fn parse(text: &[u8]) -> Option<Version> {
        let dot = text.iter().position(|&b| b == b'.')?;
        let major = parse_digits(&text[..dot])?;
        let minor = parse_digits(&text[dot + 1..])?;
        Some(Version { major, minor })
    }

    /// Check 2: major 2, minor at most 1.
    pub const fn is_supported(self) -> bool {
        self.major == 2 && self.minor <= 1
    }

    /// Whether the peer may receive timed updates (0x85/0x86): 2.1 and later.
    /// A 2.6 acceptor never sends them on a `2.0` session.
    pub const fn supports_timed_updates(self) -> bool {
        self.major > 2 || (self.major == 2 && self.minor >= 1)
    }
}

fn parse_digits(text: &[u8]) -> Option<u32> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0u32, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    }))
}

/// A handshake status code, HAProxy's `PEER_SESS_SC_*`. Open: whatever a
/// peer answers is a value; only 200 lets the session go on.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// Internal only ("CONN" in `show peers`): connecting. Never on the wire.
    #[doc(alias = "PEER_SESS_SC_CONNECTCODE")]
    pub const CONNECTING: StatusCode = StatusCode(100);
    /// Internal only ("HSHK"): TCP connected, waiting for the status.
    #[doc(alias = "PEER_SESS_SC_CONNECTEDCODE")]
    pub const CONNECTED: StatusCode = StatusCode(110);
    /// Handshake accepted; binary messages follow.
    #[doc(alias = "PEER_SESS_SC_SUCCESSCODE")]
    pub const SUCCESS: StatusCode = StatusCode(200);
    /// Try again later: a session from the local name (an old process) exists.
    /// Decided by the session layer (check 6), not by [`Hello::validate`].
    #[doc(alias = "PEER_SESS_SC_TRYAGAIN")]
    pub const TRY_AGAIN: StatusCode = StatusCode(300);
    /// Bad protocol identifier, or line 3 without a space.
    #[doc(alias = "PEER_SESS_SC_ERRPROTO")]
    pub const PROTOCOL_ERROR: StatusCode = StatusCode(501);
    /// Unsupported version; the connector downgrades to 2.0.
    #[doc(alias = "PEER_SESS_SC_ERRVERSION")]
    pub const BAD_VERSION: StatusCode = StatusCode(502);
    /// Line 2 is not the acceptor's name.
    #[doc(alias = "PEER_SESS_SC_ERRHOST")]
    pub const WRONG_HOST: StatusCode = StatusCode(503);
    /// Line 3 names an unknown peer.
    #[doc(alias = "PEER_SESS_SC_ERRPEER")]
    pub const UNKNOWN_PEER: StatusCode = StatusCode(504);
    /// What a status line whose `atoi` value is outside `0..=65535` maps to:
    /// like any code but 200 it ends the session, and it is none of the codes
    /// after which HAProxy reconnects (0, 100, 110, 200).
    pub const OUT_OF_RANGE: StatusCode = StatusCode(u16::MAX);

    pub const fn is_success(self) -> bool {
        self.0 == 200
    }

    /// The status from a status line, with C `atoi` semantics: leading
    /// whitespace, an optional sign, then digits up to the first non-digit;
    /// no digits gives 0. Values outside `u16` give [`StatusCode::OUT_OF_RANGE`].
    pub fn from_atoi(line: &[u8]) -> StatusCode {
        let v = atoi(line);
        u16::try_from(v).map_or(StatusCode::OUT_OF_RANGE, StatusCode)
    }

    /// Parses the status line at the start of `buf` (connector side, §3.3).
    /// Bytes after the line are already binary messages.
    pub fn parse(
        buf: &[u8],
        max_line_len: usize,
    ) -> Result<Status<(StatusCode, usize)>, LineTooLong> {
        Ok(match read_line(buf, max_line_len)? {
            Status::Complete((line, n)) => Status::Complete((StatusCode::from_atoi(line), n)),
            Status::Partial => Status::Partial,
        })
    }

    /// Appends the status line: decimal text and LF (`"200\n"`).
    pub fn encode(self, out: &mut Vec<u8>) {
        push_decimal(u64::from(self.0), out);
        out.push(b'\n');
    }
}

impl fmt::Debug for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusCode({})", self.0)
    }
}

/// C `atoi`, saturating instead of overflowing (overflow is undefined in C).
pub fn atoi(text: &[u8]) -> i64 {
    let mut rest = text;
    while let [b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r', tail @ ..] = rest {
        rest = tail;
    }
    let negative = match rest {
        [b'-', tail @ ..] => {
            rest = tail;
            true
        }
        [b'+', tail @ ..] => {
            rest = tail;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    for &d in rest.iter().take_while(|b| b.is_ascii_digit()) {
        let d = i64::from(d - b'0');
        v = if negative {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v
}

pub(crate) fn push_decimal(v: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut v = v;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend(digits[..n].iter().rev());
}

/// Appends a hello: `HAProxyS <version>\n<called>\n<own> <pid> 1\n`
/// (HAProxy 2.6 always sends 1 as the relative pid).
pub fn encode_hello(version: Version, called: &[u8], own: &[u8], pid: u32, out: &mut Vec<u8>) {
    crate::bug_on!(
        called.contains(&b'\n') || own.contains(&b'\n'),
        "peer names are single lines"
    );
    crate::bug_on!(own.contains(&b' '), "a peer name has no space");
    out.extend_from_slice(PROTOCOL_ID);
    push_decimal(u64::from(version.major), out);
    out.push(b'.');
    push_decimal(u64::from(version.minor), out);
    out.push(b'\n');
    out.extend_from_slice(called);
    out.push(b'\n');
    out.extend_from_slice(own);
    out.push(b' ');
    push_decimal(u64::from(pid), out);
    out.extend_from_slice(b" 1\n");
}

/// The three hello lines as received, not validated (terminators removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloLines<'a> {
    /// `HAProxyS 2.1`
    pub line1: &'a [u8],
    /// The name of the peer being called.
    pub line2: &'a [u8],
    /// `<own name> <pid> <relpid>`
    pub line3: &'a [u8],
}

impl<'a> HelloLines<'a> {
    /// Reads three lines at the start of `buf`.
    pub fn parse(
        buf: &'a [u8],
        max_line_len: usize,
    ) -> Result<Status<(HelloLines<'a>, usize)>, LineTooLong> {
        let mut lines: [&[u8]; 3] = [&[]; 3];
        let mut pos = 0;
        for line in &mut lines {
            match read_line(&buf[pos..], max_line_len)? {
                Status::Complete((l, n)) => {
                    *line = l;
                    pos += n;
                }
                Status::Partial => return Ok(Status::Partial),
            }
        }
        let [line1, line2, line3] = lines;
        Ok(Status::Complete((
            HelloLines {
                line1,
                line2,
                line3,
            },
            pos,
        )))
    }

    /// Checks 1 to 5 of §3.2, in order, against the local peer name and a
    /// predicate telling whether a name is a peer of the section (the local
    /// name included). `Err` is the status to send before closing.
    pub fn validate(
        &self,
        local_name: &[u8],
        is_known_peer: impl Fn(&[u8]) -> bool,
    ) -> Result<Hello<'a>, StatusCode> {
        let version = check_line1(self.line1)?;
        check_line2(self.line2, local_name)?;
        let (sender, sender_args) = check_line3(self.line3, is_known_peer)?;
        Ok(Hello {
            version,
            called: self.line2,
            sender,
            sender_args,
        })
    }
}

fn check_line1(line: &[u8]) -> Result<Version, StatusCode> {
    let version = line
        .strip_prefix(PROTOCOL_ID)
        .ok_or(StatusCode::PROTOCOL_ERROR)?;
    match Version::parse(version) {
        Some(v) if v.is_supported() => Ok(v),
        _ => Err(StatusCode::BAD_VERSION),
    }
}

fn check_line2(line: &[u8], local_name: &[u8]) -> Result<(), StatusCode> {
    if line == local_name {
        Ok(())
    } else {
        Err(StatusCode::WRONG_HOST)
    }
}

fn check_line3(
    line: &[u8],
    is_known_peer: impl Fn(&[u8]) -> bool,
) -> Result<(&[u8], &[u8]), StatusCode> {
    let space = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(StatusCode::PROTOCOL_ERROR)?;
    let name = &line[..space];
    if !is_known_peer(name) {
        return Err(StatusCode::UNKNOWN_PEER);
    }
    Ok((name, &line[space + 1..]))
}

/// A hello that passed checks 1 to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello<'a> {
    /// 2.0 or 2.1: a 2.0 peer gets no timed updates.
    pub version: Version,
    /// Line 2: the acceptor's own name.
    pub called: &'a [u8],
    /// The sender's peer name (line 3 up to the first space). Equal to the
    /// local name when an old process of ours connects (reload, §10.3):
    /// the session applies check 6 (300) then.
    pub sender: &'a [u8],
    /// The rest of line 3 (`<pid> <relpid>`), ignored by HAProxy.
    pub sender_args: &'a [u8],
}

/// Why [`accept_hello`] ends the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Close without a status.
    LineTooLong,
    /// Send this status line, then close.
    Rejected(StatusCode),
}

impl From<LineTooLong> for HandshakeError {
    fn from(_: LineTooLong) -> HandshakeError {
        HandshakeError::LineTooLong
    }
}

/// The acceptor's side of the handshake: reads the hello at the start of
/// `buf` line by line and applies each check as soon as its line is
/// complete. On success the caller still applies check 6 (300), then sends
/// [`StatusCode::SUCCESS`]; the bytes after the `n` used are binary messages.
pub fn accept_hello<'a>(
    buf: &'a [u8],
    max_line_len: usize,
    local_name: &[u8],
    is_known_peer: impl Fn(&[u8]) -> bool,
) -> Result<Status<(Hello<'a>, usize)>, HandshakeError> {
    let Status::Complete((line1, n1)) = read_line(buf, max_line_len)? else {
        return Ok(Status::Partial);
    };
    let version = check_line1(line1).map_err(HandshakeError::Rejected)?;
    let Status::Complete((called, n2)) = read_line(&buf[n1..], max_line_len)? else {
        return Ok(Status::Partial);
    };
    check_line2(called, local_name).map_err(HandshakeError::Rejected)?;
    let Status::Complete((line3, n3)) = read_line(&buf[n1 + n2..], max_line_len)? else {
        return Ok(Status::Partial);
    };
    let (sender, sender_args) =
        check_line3(line3, is_known_peer).map_err(HandshakeError::Rejected)?;
    let hello = Hello {
        version,
        called,
        sender,
        sender_args,
    };
    Ok(Status::Complete((hello, n1 + n2 + n3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(n: &[u8]) -> bool {
        n == b"A" || n == b"B"
    }

    #[test]
    fn observed_hello() {
        let mut out = Vec::new();
        encode_hello(Version::V2_1, b"A", b"B", 32010, &mut out);
        assert_eq!(out, b"HAProxyS 2.1\nA\nB 32010 1\n");
        let Ok(Status::Complete((h, n))) = accept_hello(&out, 64, b"A", known) else {
            panic!()
        };
        assert_eq!(n, 25);
        assert_eq!(
            (h.version, h.sender, h.sender_args),
            (Version::V2_1, &b"B"[..], &b"32010 1"[..])
        );
    }

    #[test]
    fn checks_in_order_and_early() {
        fn rej(buf: &[u8]) -> Result<Status<(Hello<'_>, usize)>, HandshakeError> {
            accept_hello(buf, 64, b"A", known)
        }
        // A bad line 1 is rejected before line 2 arrives.
        assert_eq!(
            rej(b"HAProxyZ 2.1\n"),
            Err(HandshakeError::Rejected(StatusCode::PROTOCOL_ERROR))
        );
        assert_eq!(
            rej(b"HAProxyS 2.2\n"),
            Err(HandshakeError::Rejected(StatusCode::BAD_VERSION))
        );
        assert_eq!(
            rej(b"HAProxyS 2.1x\n"),
            Err(HandshakeError::Rejected(StatusCode::BAD_VERSION))
        );
        assert_eq!(
            rej(b"HAProxyS 2.\n"),
            Err(HandshakeError::Rejected(StatusCode::BAD_VERSION))
        );
        assert_eq!(
            rej(b"HAProxyS 2.1\nX\n"),
            Err(HandshakeError::Rejected(StatusCode::WRONG_HOST))
        );
        assert_eq!(
            rej(b"HAProxyS 2.1\nA\nB\n"),
            Err(HandshakeError::Rejected(StatusCode::PROTOCOL_ERROR))
        );
        assert_eq!(
            rej(b"HAProxyS 2.1\nA\nZ 1 1\n"),
            Err(HandshakeError::Rejected(StatusCode::UNKNOWN_PEER))
        );
        assert_eq!(rej(b"HAProxyS 2.1\nA\nB 1"), Ok(Status::Partial));
        let Ok(Status::Complete((h, _))) = rej(b"HAProxyS 2.0\r\nA\r\nA 303 1\r\n") else {
            panic!()
        };
        assert_eq!((h.version, h.sender), (Version::V2_0, &b"A"[..]));
        assert!(!h.version.supports_timed_updates());
    }

    #[test]
    fn line_limit() {
        assert_eq!(read_line(b"abcd", 4), Err(LineTooLong));
        assert_eq!(read_line(b"abc", 4), Ok(Status::Partial));
        assert_eq!(
            read_line(b"abc\n", 4),
            Ok(Status::Complete((&b"abc"[..], 4)))
        );
        assert_eq!(read_line(b"abcd\n", 4), Err(LineTooLong));
        assert_eq!(
            accept_hello(b"HAProxyS 2.1\nAAAAAAAA", 8, b"A", known),
            Err(HandshakeError::LineTooLong)
        );
    }

    #[test]
    fn status_lines() {
        let mut out = Vec::new();
        StatusCode::UNKNOWN_PEER.encode(&mut out);
        assert_eq!(out, b"504\n");
        assert_eq!(
            StatusCode::parse(b"200\n\x00\x04", 16),
            Ok(Status::Complete((StatusCode::SUCCESS, 4)))
        );
        assert_eq!(StatusCode::from_atoi(b"  +300 junk"), StatusCode::TRY_AGAIN);
        assert_eq!(StatusCode::from_atoi(b"junk"), StatusCode(0));
        assert_eq!(StatusCode::from_atoi(b"-200"), StatusCode::OUT_OF_RANGE);
        assert_eq!(StatusCode::from_atoi(b"65736"), StatusCode::OUT_OF_RANGE);
        assert_eq!(atoi(b"99999999999999999999999"), i64::MAX);
        assert_eq!(atoi(b"-99999999999999999999999"), i64::MIN);
    }
}

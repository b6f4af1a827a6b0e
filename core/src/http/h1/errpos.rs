//! Where an H1 message went wrong: HAProxy's `h1m->err_pos` and
//! `h1m->err_state` (`h1.c`), for `show errors`.
//!
//! The parsers of this module's siblings answer *what* is wrong (an
//! [`H1Error`](super::H1Error)) and keep no position on their fast path.
//! Once an error is known, [`head_error_at`] walks the head again, byte by
//! byte, with the states of HAProxy's `h1_headers_to_hdr_list`, and stops
//! at the first byte HAProxy refuses; errors that are not about a byte
//! (conflicting `Content-Length`, a bad `Host`...) are placed where HAProxy
//! places them: the start of the faulty header value (`H1_MSG_HDR_L2_LWS`).
//! It runs once per refused message, never on a good one.

use super::{is_tchar, H1ErrorKind, Side};

/// HAProxy's `enum h1m_state`, with its numbers (`show errors` prints
/// both the name and the number).
#[doc(alias = "h1m_state")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum H1MsgState {
    RqBefore = 0,
    RqBeforeCr = 1,
    RqMeth = 2,
    RqMethSp = 3,
    RqUri = 4,
    RqUriSp = 5,
    RqVer = 6,
    RqLineEnd = 7,
    RpBefore = 8,
    RpBeforeCr = 9,
    RpVer = 10,
    RpVerSp = 11,
    RpCode = 12,
    RpCodeSp = 13,
    RpReason = 14,
    RpLineEnd = 15,
    HdrFirst = 16,
    HdrName = 17,
    HdrCol = 18,
    HdrL1Sp = 19,
    HdrL1Lf = 20,
    HdrL1Lws = 21,
    HdrVal = 22,
    HdrL2Lf = 23,
    HdrL2Lws = 24,
    LastLf = 25,
    ChunkSize = 26,
    Data = 27,
    ChunkCrlf = 28,
    Trailers = 29,
    Done = 30,
    Tunnel = 31,
}

impl H1MsgState {
    /// HAProxy's `h1m_state_str`.
    pub fn name(self) -> &'static str {
        use H1MsgState::*;
        match self {
            RqBefore => "MSG_RQBEFORE",
            RqBeforeCr => "MSG_RQBEFORE_CR",
            RqMeth => "MSG_RQMETH",
            RqMethSp => "MSG_RQMETH_SP",
            RqUri => "MSG_RQURI",
            RqUriSp => "MSG_RQURI_SP",
            RqVer => "MSG_RQVER",
            RqLineEnd => "MSG_RQLINE_END",
            RpBefore => "MSG_RPBEFORE",
            RpBeforeCr => "MSG_RPBEFORE_CR",
            RpVer => "MSG_RPVER",
            RpVerSp => "MSG_RPVER_SP",
            RpCode => "MSG_RPCODE",
            RpCodeSp => "MSG_RPCODE_SP",
            RpReason => "MSG_RPREASON",
            RpLineEnd => "MSG_RPLINE_END",
            HdrFirst => "MSG_HDR_FIRST",
            HdrName => "MSG_HDR_NAME",
            HdrCol => "MSG_HDR_COL",
            HdrL1Sp => "MSG_HDR_L1_SP",
            HdrL1Lf => "MSG_HDR_L1_LF",
            HdrL1Lws => "MSG_HDR_L1_LWS",
            HdrVal => "MSG_HDR_VAL",
            HdrL2Lf => "MSG_HDR_L2_LF",
            HdrL2Lws => "MSG_HDR_L2_LWS",
            LastLf => "MSG_LAST_LF",
            ChunkSize => "MSG_CHUNK_SIZE",
            Data => "MSG_DATA",
            ChunkCrlf => "MSG_CHUNK_CRLF",
            Trailers => "MSG_TRAILERS",
            Done => "MSG_DONE",
            Tunnel => "MSG_TUNNEL",
        }
    }
}

/// Where the error of kind `kind` is in `input`, a head that starts at its
/// first byte (leading empty lines included): the byte offset and the
/// parser state, as HAProxy reports them. Called on the error path only.
pub fn head_error_at(input: &[u8], side: Side, kind: H1ErrorKind) -> (usize, H1MsgState) {
    let walk = walk_head(input, side);
    if let Some(at) = walk.invalid {
        return at;
    }
    use H1ErrorKind::*;
    let value_of = |name: &[u8], nth: usize| {
        walk.fields
            .iter()
            .filter(|f| input[f.name.0..f.name.1].eq_ignore_ascii_case(name))
            .nth(nth)
            .map(|f| (f.value, H1MsgState::HdrL2Lws))
    };
    let found = match kind {
        BadContentLength => value_of(b"content-length", 0),
        ConflictingContentLength => value_of(b"content-length", 1),
        BadTransferEncoding | UnsupportedTransferCoding => value_of(b"transfer-encoding", 0),
        BadHost => value_of(b"host", 1).or_else(|| value_of(b"host", 0)),
        BadUri => walk.uri.map(|u| (u, H1MsgState::RqUri)),
        BadVersion => walk.version.map(|v| {
            let st = match side {
                Side::Request => H1MsgState::RqVer,
                Side::Response => H1MsgState::RpVer,
            };
            (v, st)
        }),
        BadStatus => walk.code.map(|c| (c, H1MsgState::RpCode)),
        TooManyHeaders => walk
            .fields
            .get(walk.fields.len().saturating_sub(1))
            .map(|f| (f.name.0, H1MsgState::HdrName)),
        _ => None,
    };
    // Anything else (a head too large, no `Host`): the last parsing point.
    found.unwrap_or((walk.end, walk.state))
}

/// One header line as the walk saw it: the name's bounds, where its value
/// starts.
#[derive(Clone, Copy, Debug)]
struct Field {
    name: (usize, usize),
    value: usize,
}

/// What walking a head found.
#[derive(Debug)]
struct Walk {
    /// The first refused byte and the state it was refused in.
    invalid: Option<(usize, H1MsgState)>,
    fields: Vec<Field>,
    uri: Option<usize>,
    version: Option<usize>,
    code: Option<usize>,
    /// Where the walk stopped (the end of the head, or of the input), and
    /// in which state.
    end: usize,
    state: H1MsgState,
}

/// HAProxy's `h1_headers_to_hdr_list` states over `input`, without
/// storing anything but positions.
fn walk_head(input: &[u8], side: Side) -> Walk {
    use H1MsgState::*;
    let mut w = Walk {
        invalid: None,
        fields: Vec::new(),
        uri: None,
        version: None,
        code: None,
        end: input.len(),
        state: match side {
            Side::Request => RqBefore,
            Side::Response => RpBefore,
        },
    };
    let mut p = 0;
    // Leading empty lines.
    while p < input.len() && (input[p] == b'\r' || input[p] == b'\n') {
        p += 1;
    }
    let line_end = match side {
        Side::Request => request_line(input, p, &mut w),
        Side::Response => status_line(input, p, &mut w),
    };
    let Some(mut p) = line_end else {
        return w;
    };
    w.state = HdrFirst;
    loop {
        match input.get(p) {
            None => {
                w.end = p;
                return w;
            }
            Some(b'\r') => {
                w.state = LastLf;
                match input.get(p + 1) {
                    None => w.end = p + 1,
                    Some(b'\n') => {
                        w.end = p + 2;
                        w.state = Data;
                    }
                    Some(_) => w.invalid = Some((p + 1, LastLf)),
                }
                return w;
            }
            Some(b'\n') => {
                w.end = p + 1;
                w.state = Data;
                return w;
            }
            Some(b' ' | b'\t') if !w.fields.is_empty() && side == Side::Request => {
                // obs-fold: refused in requests.
                w.invalid = Some((p, HdrL2Lws));
                return w;
            }
            Some(_) => match header_line(input, p, &mut w) {
                Some(next) => p = next,
                None => return w,
            },
        }
    }
}

/// Stops the walk at `p` in `state` when `p` is past the input (out of
/// data: `end`) or marks `p` invalid.
fn stop(w: &mut Walk, input: &[u8], p: usize, state: H1MsgState) -> Option<usize> {
    if p >= input.len() {
        w.end = input.len();
        w.state = state;
    } else {
        w.invalid = Some((p, state));
    }
    None
}

/// A line end at `p` (CRLF or LF): the offset after it.
fn eol(input: &[u8], p: usize, w: &mut Walk, lf_state: H1MsgState) -> Option<usize> {
    match input.get(p) {
        Some(b'\n') => Some(p + 1),
        Some(b'\r') => match input.get(p + 1) {
            Some(b'\n') => Some(p + 2),
            _ => stop(w, input, p + 1, lf_state),
        },
        _ => stop(w, input, p, lf_state),
    }
}

fn request_line(input: &[u8], mut p: usize, w: &mut Walk) -> Option<usize> {
    use H1MsgState::*;
    while p < input.len() && is_tchar(input[p]) {
        p += 1;
    }
    if input.get(p) != Some(&b' ') {
        return stop(w, input, p, RqMeth);
    }
    while input.get(p) == Some(&b' ') {
        p += 1;
    }
    w.uri = Some(p);
    while p < input.len() && (0x21..=0x7e).contains(&input[p]) {
        p += 1;
    }
    if input.get(p) != Some(&b' ') {
        return stop(w, input, p, RqUri);
    }
    while input.get(p) == Some(&b' ') {
        p += 1;
    }
    w.version = Some(p);
    while p < input.len() && !matches!(input[p], b'\r' | b'\n') {
        if !(0x21..=0x7e).contains(&input[p]) {
            return stop(w, input, p, RqVer);
        }
        p += 1;
    }
    eol(input, p, w, RqLineEnd)
}

fn status_line(input: &[u8], mut p: usize, w: &mut Walk) -> Option<usize> {
    use H1MsgState::*;
    w.version = Some(p);
    while p < input.len() && (0x21..=0x7e).contains(&input[p]) {
        p += 1;
    }
    if input.get(p) != Some(&b' ') {
        return stop(w, input, p, RpVer);
    }
    while input.get(p) == Some(&b' ') {
        p += 1;
    }
    w.code = Some(p);
    while p < input.len() && input[p].is_ascii_digit() {
        p += 1;
    }
    match input.get(p) {
        Some(b' ') => {}
        Some(b'\r' | b'\n') => return eol(input, p, w, RpLineEnd),
        _ => return stop(w, input, p, RpCode),
    }
    while p < input.len() && !matches!(input[p], b'\r' | b'\n') {
        if input[p] < 0x20 && input[p] != b'\t' {
            return stop(w, input, p, RpReason);
        }
        p += 1;
    }
    eol(input, p, w, RpLineEnd)
}

/// One header line from `p` (its first byte is neither CR nor LF): the
/// offset of the next line.
fn header_line(input: &[u8], mut p: usize, w: &mut Walk) -> Option<usize> {
    use H1MsgState::*;
    let start = p;
    while p < input.len() && is_tchar(input[p]) {
        p += 1;
    }
    if input.get(p) != Some(&b':') || p == start {
        return stop(w, input, p, HdrName);
    }
    let name = (start, p);
    p += 1;
    while matches!(input.get(p), Some(b' ' | b'\t')) {
        p += 1;
    }
    w.fields.push(Field { name, value: p });
    loop {
        match input.get(p) {
            None => return stop(w, input, p, HdrVal),
            Some(b'\r' | b'\n') => break,
            Some(_) => {}
        }
        // Control bytes but HT in a value (HAProxy refuses NUL; Sluice all
        // of them, docs/http1.md).
        if input[p] < 0x20 && input[p] != b'\t' || input[p] == 0x7f {
            return stop(w, input, p, HdrVal);
        }
        p += 1;
    }
    eol(input, p, w, HdrL2Lf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use H1ErrorKind::*;
    use H1MsgState::*;

    /// HAProxy 2.6.12 `show errors` on the same bytes.
    #[test]
    fn a_space_in_a_header_name_is_where_haproxy_says() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n";
        assert_eq!(
            head_error_at(req, Side::Request, BadHeaderName),
            (28, HdrName)
        );
    }

    #[test]
    fn byte_errors_in_each_part() {
        let at = |b: &[u8], s, k| head_error_at(b, s, k);
        assert_eq!(
            at(b"G(T / HTTP/1.1\r\n\r\n", Side::Request, BadMethod),
            (1, RqMeth)
        );
        assert_eq!(
            at(b"GET /\x01 HTTP/1.1\r\n\r\n", Side::Request, BadUri),
            (5, RqUri)
        );
        assert_eq!(
            at(b"GET / HTTP/1.1\rX\r\n", Side::Request, BadLineEnding),
            (15, RqLineEnd)
        );
        assert_eq!(
            at(
                b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n",
                Side::Request,
                BadHeaderValue
            ),
            (20, HdrVal)
        );
        assert_eq!(
            at(
                b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
                Side::Request,
                ObsFold
            ),
            (22, HdrL2Lws)
        );
        assert_eq!(
            at(b"HTTP/1.1 2x0 OK\r\n\r\n", Side::Response, BadStatus),
            (10, RpCode)
        );
    }

    #[test]
    fn value_errors_point_at_the_value() {
        let req = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(
            head_error_at(req, Side::Request, ConflictingContentLength),
            (52, HdrL2Lws)
        );
        let req = b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n";
        assert_eq!(
            head_error_at(req, Side::Request, BadContentLength),
            (33, HdrL2Lws)
        );
        let bad_version = b"GET / HTTP/2.7\r\n\r\n";
        assert_eq!(
            head_error_at(bad_version, Side::Request, BadVersion),
            (6, RqVer)
        );
    }

    #[test]
    fn a_head_too_large_stops_where_the_input_ends() {
        let req = b"GET / HTTP/1.1\r\nA: bbbb";
        assert_eq!(
            head_error_at(req, Side::Request, HeadTooLarge),
            (req.len(), HdrVal)
        );
    }
}

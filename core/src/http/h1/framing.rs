//! Message body length (RFC 9112 §6.3; HAProxy's `h1_process_input`
//! choosing between `H1_MSG_DATA`, `H1_MSG_CHUNK_SIZE` and close-delimited
//! `H1_MF_XFER_LEN` unset).
//!
//! Both functions read the header fields again rather than the parse-time
//! [`MsgFlags`](super::MsgFlags), so they stay right after an analyser
//! edited the head.

use super::head::{parse_content_length, Method, ReqHead, ResHead, TeScan};
use super::headers::Headers;
use super::{H1Error, H1ErrorKind, Side};

/// How the body of a message is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyLen {
    /// No body at all (a request without `Content-Length` or
    /// `Transfer-Encoding`; a response to HEAD; 1xx but 101, 204, 304).
    None,
    /// Exactly this many bytes (`Content-Length`; may be 0).
    Length(u64),
    /// Chunked transfer coding, ended by the last chunk and trailers.
    Chunked,
    /// Responses only: every byte until the server closes (RFC 9112 §6.3
    /// rule 8). The connection cannot be reused.
    UntilClose,
    /// No more HTTP on this connection: a 2xx answer to CONNECT (rule 2)
    /// or 101 Switching Protocols. Bytes flow both ways until either
    /// side closes.
    Tunnel,
}

/// The body framing of a request (RFC 9112 §6.3 rules 3, 4, 5, 6, 7):
/// chunked if `Transfer-Encoding` ends with it, else `Content-Length`, else
/// none (`UntilClose` is never valid for a request). Errors are the same
/// as at parse time, for heads edited since.
pub fn request_body(head: &ReqHead) -> Result<BodyLen, H1Error> {
    framing(&head.headers).map_err(|k| H1Error::new(k, Side::Request))
}

/// The body framing of a response to a request with `request_method`.
/// `request_was_connect` says the request established a tunnel: a 2xx
/// answer to it is [`BodyLen::Tunnel`] (the method may have been rewritten
/// since, so the mux says it). Never fails: a response whose length fields
/// no longer make sense is read until close, the safe reading for a
/// response (RFC 9112 §6.3 rule 5 asks a proxy to treat it as an error,
/// which the parser already did for the head as received).
pub fn response_body(
    head: &ResHead,
    request_method: &Method,
    request_was_connect: bool,
) -> BodyLen {
    let status = head.status;
    if status == 101 {
        return BodyLen::Tunnel;
    }
    if request_was_connect && (200..300).contains(&status) {
        return BodyLen::Tunnel;
    }
    if *request_method == Method::HEAD
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return BodyLen::None;
    }
    match framing(&head.headers) {
        Ok(BodyLen::None) => BodyLen::UntilClose,
        Ok(b) => b,
        Err(_) if has_final_chunked(&head.headers) => BodyLen::Chunked,
        Err(_) => BodyLen::UntilClose,
    }
}

/// Chunked, length or none, from the fields.
fn framing(h: &Headers) -> Result<BodyLen, H1ErrorKind> {
    let mut te = TeScan::default();
    let mut clen: Result<Option<u64>, H1ErrorKind> = Ok(None);
    for (name, value) in h.iter() {
        if name.len() == 17 && name.eq_ignore_ascii_case(b"transfer-encoding") {
            te.feed(value);
        } else if name.len() == 14 && name.eq_ignore_ascii_case(b"content-length") {
            if let Ok(prev) = clen {
                clen = parse_content_length(value, prev).map(Some);
            }
        }
    }
    if te.check()? {
        // Transfer-Encoding overrides Content-Length (rule 3).
        return Ok(BodyLen::Chunked);
    }
    Ok(clen?.map_or(BodyLen::None, BodyLen::Length))
}

/// `Transfer-Encoding` whose last coding is `chunked` (rule 4 for responses).
fn has_final_chunked(h: &Headers) -> bool {
    let mut te = TeScan::default();
    h.for_each_value(b"transfer-encoding", |v| te.feed(v));
    te.present && te.last_is_chunked
}

#[cfg(test)]
mod tests {
    use super::super::{parse_request, parse_response, ParseOptions, Status};
    use super::*;

    fn req(raw: &[u8]) -> ReqHead {
        match parse_request(raw, &ParseOptions::default()) {
            Ok(Status::Complete((h, _))) => h,
            other => panic!("{other:?}"),
        }
    }

    fn res(raw: &[u8]) -> ResHead {
        match parse_response(raw, &ParseOptions::default()) {
            Ok(Status::Complete((h, _))) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_framing() {
        let r = req(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(request_body(&r), Ok(BodyLen::None));
        let r = req(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(request_body(&r), Ok(BodyLen::Length(0)));
        let r = req(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(request_body(&r), Ok(BodyLen::Chunked));
        let mut r = req(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n");
        r.headers.add("Content-Length", "4").unwrap();
        assert_eq!(
            request_body(&r),
            Err(H1Error::new(
                H1ErrorKind::ConflictingContentLength,
                Side::Request
            ))
        );
    }

    #[test]
    fn response_framing_rules() {
        let get = Method::GET;
        let ok = res(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(response_body(&ok, &get, false), BodyLen::Length(5));
        assert_eq!(response_body(&ok, &Method::HEAD, false), BodyLen::None);
        assert_eq!(response_body(&ok, &Method::CONNECT, true), BodyLen::Tunnel);
        for s in [&b"100 Continue"[..], b"204 No Cont", b"304 Not Mod"] {
            let raw = [&b"HTTP/1.1 "[..], s, b"\r\nContent-Length: 5\r\n\r\n"].concat();
            assert_eq!(response_body(&res(&raw), &get, false), BodyLen::None);
        }
        let sw = res(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
        assert_eq!(response_body(&sw, &get, false), BodyLen::Tunnel);
        let close = res(b"HTTP/1.0 200 OK\r\n\r\n");
        assert_eq!(response_body(&close, &get, false), BodyLen::UntilClose);
        let chunked = res(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(response_body(&chunked, &get, false), BodyLen::Chunked);
        // A non-2xx answer to CONNECT has a body like any other.
        let denied = res(b"HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(
            response_body(&denied, &Method::CONNECT, true),
            BodyLen::Length(2)
        );
    }

    #[test]
    fn edited_response_headers_fall_back_to_close() {
        let mut r = res(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        r.headers.set("Content-Length", "x").unwrap();
        assert_eq!(response_body(&r, &Method::GET, false), BodyLen::UntilClose);
        r.headers.set("Transfer-Encoding", "gzip, chunked").unwrap();
        assert_eq!(response_body(&r, &Method::GET, false), BodyLen::Chunked);
        r.headers.set("Transfer-Encoding", "chunked, gzip").unwrap();
        assert_eq!(response_body(&r, &Method::GET, false), BodyLen::UntilClose);
    }
}

//! The frontend side of `mux_h2` (`h2c` without `H2_CF_IS_BACK`, HAProxy's
//! `h2c_frt_*` functions): a client's connection. What only this side
//! does: it waits for and checks the client preface (`h2c_frt_recv_preface`),
//! refuses streams past `tune.h2.max-concurrent-streams`, turns a
//! request's HEADERS into an HTTP/1.1 request in its stream's `rxbuf`
//! (request line from `:method` / `:path`, `Host` from `:authority`, the
//! body framed with its `content-length`, or chunked;
//! `h2c_frt_handle_headers`), and frames the HTTP/1.1 response the
//! analysers forward as HEADERS (HPACK) and DATA (`h2_snd_buf`).
//!
//! ```text
//!   rx ──FrameDecoder──> HEADERS+CONTINUATION ──HPACK──> H1 head ──> H2s.rxbuf ──glue──> req channel
//!                        DATA ──(chunked if no content-length)──> H2s.rxbuf
//!   res channel output ──glue──> mux_output: H1 head ──> HEADERS (HPACK); body ──> DATA (windows) ──> tx
//! ```
//!
//! Invariants: a client's stream ids are odd and increasing (`max_id` is
//! the highest seen; a HEADERS at or below it that names no live stream
//! is a connection error); a stream stays in the table until its engine
//! stream detaches (or, reset before one was created, until [`H2c::gc`]).
//! The glue is `stream::sc_h2`.

use std::collections::BTreeMap;

use super::{
    is_conn_specific, parse_clen, put_field, valid_field, BodyStep, H2Conn, H2cState, RxFlow, Side,
    TxBody,
};
use crate::arena::Id;
use crate::http::h1::{self, ChunkedDecoder, Method};
use crate::http::h2::frame::{check_preface, ErrorCode, H2Error, Role, Settings, Status};
use crate::http::h2::hpack::{Field, HeaderList};
use crate::http::h2::window::Window;
use crate::stream::Stream;

/// Limits of one connection (`tune.h2.*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Limits {
    /// `tune.h2.max-concurrent-streams` (default 100).
    pub max_concurrent_streams: u32,
    /// Decoded header list bound (RFC 9113 §6.5.2 counting): `tune.bufsize`.
    pub max_header_list: usize,
}

impl Default for H2Limits {
    fn default() -> Self {
        H2Limits {
            max_concurrent_streams: 100,
            max_header_list: 16 * 1024,
        }
    }
}

/// How the request body is framed in HTTP/1.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReqBody {
    /// Bytes as they come (`content-length` known, or CONNECT).
    Raw,
    /// Each DATA frame becomes a chunk; END_STREAM the last chunk.
    Chunked,
    /// Nothing more may come.
    None,
}

/// Where the response conversion stands.
#[derive(Debug)]
enum ResSt {
    /// Waiting for a (final) head.
    Head,
    /// A body of `content-length`, or chunked.
    Body(TxBody),
    /// Until the engine shuts the response (until-close, tunnel).
    UntilClose,
    /// END_STREAM sent (or the stream reset): the rest is discarded.
    Done,
}

/// One stream of a client connection (`struct h2s`).
#[derive(Debug)]
pub struct H2s {
    pub id: u32,
    /// The engine stream, once created, until it detaches.
    pub sid: Option<Id<Stream>>,
    /// The engine stream is to be created (a request head arrived).
    pub need_stream: bool,
    /// HTTP/1.1 bytes of the request not yet in the request channel.
    pub rxbuf: Vec<u8>,
    /// Receive flow control; the stream credit is returned once `rxbuf`
    /// drains into the channel (the connection's as DATA is demuxed).
    rx: RxFlow,
    /// The send window (`h2s->sws`).
    sws: Window,
    req: ReqBody,
    /// END_STREAM received.
    pub req_done: bool,
    res: ResSt,
    /// The engine shut the response (everything is in `tx` once drained).
    res_shut: bool,
    /// RST_STREAM received or sent, or a stream error: the engine stream
    /// must be aborted; no frame is sent for it any more.
    pub reset: bool,
    is_head: bool,
    is_connect: bool,
    /// The request's `:scheme` (`None` for CONNECT): the log shows the
    /// request in absolute form with it, as HAProxy's HTX start line is.
    pub scheme: Option<Scheme>,
}

/// A request's `:scheme`, without an allocation for the usual two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
    Other(Box<str>),
}

impl Scheme {
    fn from_bytes(b: &[u8]) -> Scheme {
        if b.eq_ignore_ascii_case(b"http") {
            Scheme::Http
        } else if b.eq_ignore_ascii_case(b"https") {
            Scheme::Https
        } else {
            Scheme::Other(String::from_utf8_lossy(b).into())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Other(s) => s,
        }
    }
}

impl H2s {
    fn new(id: u32, sws: u32) -> H2s {
        H2s {
            id,
            sid: None,
            need_stream: false,
            rxbuf: Vec::new(),
            rx: RxFlow::new(),
            sws: Window::new(id, sws),
            req: ReqBody::None,
            req_done: false,
            res: ResSt::Head,
            res_shut: false,
            reset: false,
            is_head: false,
            is_connect: false,
            scheme: None,
        }
    }

    /// The response is over as far as the peer is concerned.
    pub fn res_done(&self) -> bool {
        matches!(self.res, ResSt::Done)
    }

    /// Marks the stream reset: nothing more is sent or delivered for it.
    fn mark_reset(&mut self) {
        self.reset = true;
        self.res = ResSt::Done;
        self.rxbuf.clear();
        self.rx.owed = 0;
    }
}

/// The frontend side (`!H2_CF_IS_BACK`): what only a client connection
/// keeps.
#[derive(Debug)]
pub struct Front {
    limits: H2Limits,
}

/// A client connection (`struct h2c` on a frontend).
pub type H2c = H2Conn<Front>;

impl Side for Front {
    type Streams = BTreeMap<u32, H2s>;
    const ROLE: Role = Role::Server;
    const PUSH_PROMISE: &'static str = "PUSH_PROMISE from a client";

    fn conn_error(h: &mut H2c, code: ErrorCode) {
        h.goaway(code);
    }

    fn stream_error(h: &mut H2c, id: u32, code: ErrorCode) {
        h.rst(id, code);
        if let Some(s) = h.streams.get_mut(&id) {
            s.mark_reset();
        }
    }

    fn idle(h: &H2c, id: u32) -> bool {
        id > h.max_id
    }

    fn initial_window_changed(h: &mut H2c, old: u32, new: u32) -> Result<(), H2Error> {
        for s in h.streams.values_mut() {
            s.sws.apply_initial_change(old, new)?;
        }
        Ok(())
    }

    fn window_update(h: &mut H2c, id: u32, increment: u32) -> Result<(), H2Error> {
        if let Some(s) = h.streams.get_mut(&id) {
            s.sws.increase(increment)?;
        }
        Ok(())
    }

    fn rst_stream(h: &mut H2c, id: u32, _code: ErrorCode) -> Result<(), H2Error> {
        if let Some(s) = h.streams.get_mut(&id) {
            s.mark_reset();
        }
        Ok(())
    }

    fn goaway_received(_h: &mut H2c, _last_stream_id: u32, _code: ErrorCode) {}

    fn data(
        h: &mut H2c,
        id: u32,
        end_stream: bool,
        data: &[u8],
        flow_len: u32,
    ) -> Result<(), H2Error> {
        let Some(s) = h.streams.get_mut(&id) else {
            if id > h.max_id || id % 2 == 0 {
                return Err(H2Error::Connection {
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "DATA on an idle stream",
                });
            }
            return Err(H2Error::Stream {
                stream_id: id,
                code: ErrorCode::STREAM_CLOSED,
                reason: "DATA on a closed stream",
            });
        };
        if s.req_done {
            return Err(H2Error::Stream {
                stream_id: id,
                code: ErrorCode::STREAM_CLOSED,
                reason: "DATA after END_STREAM",
            });
        }
        if s.reset {
            return Ok(());
        }
        s.rx.recv(id, data, flow_len, end_stream)?;
        match s.req {
            ReqBody::None => {
                if !data.is_empty() {
                    return Err(H2Error::Stream {
                        stream_id: id,
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "body where none may be",
                    });
                }
            }
            ReqBody::Raw => {
                s.rxbuf.extend_from_slice(data);
            }
            ReqBody::Chunked => {
                if !data.is_empty() {
                    h1::encode_chunk(data, &mut s.rxbuf);
                }
                if end_stream {
                    s.rxbuf.extend_from_slice(h1::LAST_CHUNK);
                }
            }
        }
        if end_stream {
            s.req_done = true;
            s.req = ReqBody::None;
        }
        Ok(())
    }

    /// A whole field block: a new request, or trailers.
    fn headers(h: &mut H2c, id: u32, es: bool, too_large: bool) -> Result<(), H2Error> {
        if let Some(s) = h.streams.get_mut(&id) {
            // Trailers (§8.1): END_STREAM required, no pseudo-header.
            if s.req_done {
                return Err(H2Error::Stream {
                    stream_id: id,
                    code: ErrorCode::STREAM_CLOSED,
                    reason: "HEADERS after END_STREAM",
                });
            }
            if !es {
                return Err(H2Error::Stream {
                    stream_id: id,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "trailers without END_STREAM",
                });
            }
            if !s.rx.clen_complete() {
                return Err(H2Error::Stream {
                    stream_id: id,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "content-length mismatch",
                });
            }
            if s.req == ReqBody::Chunked && !s.reset {
                s.rxbuf.extend_from_slice(b"0\r\n");
                for f in h.hlist.iter() {
                    if f.name.first() == Some(&b':') || !valid_field(f.name, f.value) {
                        continue;
                    }
                    put_field(&mut s.rxbuf, f.name, f.value);
                }
                s.rxbuf.extend_from_slice(b"\r\n");
            }
            s.req_done = true;
            s.req = ReqBody::None;
            return Ok(());
        }
        if id % 2 == 0 || id <= h.max_id {
            // §5.1.1: a new stream id must be odd and higher than any
            // before (a closed stream's id included).
            return Err(H2Error::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "HEADERS on a closed or invalid stream",
            });
        }
        h.max_id = id;
        if h.state != H2cState::Frames {
            // Draining: streams after our GOAWAY are not processed.
            h.rst(id, ErrorCode::REFUSED_STREAM);
            return Ok(());
        }
        if h.active_streams() >= h.side.limits.max_concurrent_streams as usize {
            h.rst(id, ErrorCode::REFUSED_STREAM);
            return Ok(());
        }
        h.nb_streams_total += 1;
        if too_large {
            // Headers too large: 431 from the mux, the request goes no
            // further (RFC 9113 §10.5.1).
            h.send_fields(id, [Field::new(b":status", b"431")], true);
            if !es {
                h.rst(id, ErrorCode::NO_ERROR);
            }
            return Ok(());
        }
        let mut s = H2s::new(id, h.peer.initial_window_size);
        match make_request(&h.hlist, es, &mut s.rxbuf) {
            Ok(info) => {
                s.req = info.body;
                s.rx.clen_left = info.clen;
                s.is_head = info.head;
                s.is_connect = info.connect;
                s.scheme = info.scheme;
                if es {
                    s.req_done = true;
                    if !s.rx.clen_complete() {
                        h.streams.insert(id, s);
                        return Err(H2Error::Stream {
                            stream_id: id,
                            code: ErrorCode::PROTOCOL_ERROR,
                            reason: "content-length mismatch",
                        });
                    }
                }
                s.need_stream = true;
                h.streams.insert(id, s);
                Ok(())
            }
            Err(reason) => {
                h.streams.insert(id, s);
                Err(H2Error::Stream {
                    stream_id: id,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason,
                })
            }
        }
    }
}

impl H2c {
    /// A client connection: our SETTINGS goes first (§3.4), then the
    /// connection window is opened; the client preface is awaited.
    pub fn new(limits: H2Limits) -> H2c {
        let mut h = H2Conn::with_side(
            H2cState::Preface,
            Front { limits },
            BTreeMap::new(),
            limits.max_header_list,
        );
        h.send_settings(Settings {
            max_concurrent_streams: Some(limits.max_concurrent_streams),
            enable_push: true,
            ..Settings::default()
        });
        h
    }

    /// Streams open (not reset): those `max_concurrent_streams` counts.
    pub fn active_streams(&self) -> usize {
        self.streams.values().filter(|s| !s.reset).count()
    }

    /// Whether the connection is to be closed now: after an error, or
    /// once draining (GOAWAY either way) found no stream left; in both
    /// cases once every frame is written.
    pub fn should_close(&self) -> bool {
        if !self.tx_pending().is_empty() {
            return false;
        }
        match self.state {
            H2cState::Error => true,
            H2cState::Closing => self.streams.is_empty(),
            _ => self.peer_goaway && self.streams.is_empty(),
        }
    }

    /// Sends GOAWAY (`h2c_send_goaway_error`): `NO_ERROR` drains
    /// gracefully (soft stop, idle timeout), anything else is a
    /// connection error.
    pub fn goaway(&mut self, code: ErrorCode) {
        if matches!(self.state, H2cState::Error) {
            return;
        }
        if self.state == H2cState::Closing && code == ErrorCode::NO_ERROR {
            return;
        }
        self.send_goaway(self.max_id, code);
        if code == ErrorCode::NO_ERROR {
            self.state = H2cState::Closing;
        } else {
            self.state = H2cState::Error;
            for s in self.streams.values_mut() {
                s.reset = true;
                s.res = ResSt::Done;
            }
        }
    }

    /// Demultiplexes everything received (`h2_process_demux`), after the
    /// client preface (`h2c_frt_recv_preface`). Control frames are
    /// answered in `tx`; request bytes land in the streams' `rxbuf`; new
    /// streams get `need_stream`.
    pub fn demux(&mut self) {
        let mut pos = 0;
        if self.state == H2cState::Preface {
            match check_preface(&self.rx[..self.rx_len]) {
                Ok(Status::Partial) => return,
                Ok(Status::Complete(n)) => {
                    pos = n;
                    self.state = H2cState::Frames;
                }
                Err(e) => {
                    self.rx_len = 0;
                    return self.goaway(e.code());
                }
            }
        }
        self.demux_frames(pos);
    }

    /// Forgets the streams no engine stream will ever carry (reset
    /// before one was created).
    pub fn gc(&mut self) {
        self.streams
            .retain(|_, s| !(s.reset && s.sid.is_none() && !s.need_stream));
    }

    /// `rxbuf` of stream `id` was delivered up to `n` bytes: once it is
    /// empty, the flow-control credit goes back to the peer.
    pub fn delivered(&mut self, id: u32, n: usize) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let credit = !s.req_done && !s.reset;
        let mut rxbuf = std::mem::take(&mut s.rxbuf);
        let mut rx = std::mem::replace(&mut s.rx, RxFlow::new());
        self.delivered_bytes(id, &mut rx, &mut rxbuf, n, credit);
        if let Some(s) = self.streams.get_mut(&id) {
            s.rxbuf = rxbuf;
            s.rx = rx;
        }
    }

    /// Encodes what it can of stream `id`'s HTTP/1 response `out` (the
    /// response channel's output) into frames (`h2_snd_buf`): returns the
    /// bytes of `out` consumed (all of it when the response cannot be
    /// converted: the stream is then reset).
    pub fn mux_output(&mut self, id: u32, out: &[u8]) -> usize {
        let mut used = 0;
        loop {
            if !self.tx_room() || self.state == H2cState::Error {
                return used;
            }
            let max_frame = self.peer.max_frame_size as usize;
            let Some(s) = self.streams.get_mut(&id) else {
                return out.len();
            };
            let rest = &out[used..];
            match &mut s.res {
                ResSt::Done => return out.len(),
                ResSt::Head => {
                    let opts = h1::ParseOptions::default();
                    let (head, n) = match h1::parse_response(rest, &opts) {
                        Ok(h1::Status::Complete(x)) => x,
                        Ok(h1::Status::Partial) => return used,
                        Err(_) => {
                            Front::stream_error(self, id, ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                    };
                    used += n;
                    let method = if s.is_head { Method::HEAD } else { Method::GET };
                    let body = if head.is_interim() {
                        h1::BodyLen::None
                    } else {
                        h1::response_body(&head, &method, s.is_connect)
                    };
                    if head.status == 101 {
                        // No upgrade in HTTP/2 (RFC 9113 §8.6).
                        Front::stream_error(self, id, ErrorCode::INTERNAL_ERROR);
                        return out.len();
                    }
                    let end = !head.is_interim() && body == h1::BodyLen::None;
                    s.res = if head.is_interim() {
                        ResSt::Head
                    } else {
                        match body {
                            h1::BodyLen::None => ResSt::Done,
                            h1::BodyLen::Length(0) => ResSt::Done,
                            h1::BodyLen::Length(n) => ResSt::Body(TxBody::Length(n)),
                            h1::BodyLen::Chunked => ResSt::Body(TxBody::Chunked(Box::new(
                                ChunkedDecoder::new(h1::Side::Response),
                            ))),
                            h1::BodyLen::UntilClose | h1::BodyLen::Tunnel => ResSt::UntilClose,
                        }
                    };
                    let end = end || body == h1::BodyLen::Length(0);
                    let mut status = [0u8; 3];
                    let st = head.status.min(999);
                    status[0] = b'0' + (st / 100) as u8;
                    status[1] = b'0' + (st / 10 % 10) as u8;
                    status[2] = b'0' + (st % 10) as u8;
                    let mut names: Vec<Vec<u8>> = Vec::with_capacity(head.headers.len());
                    for (name, _) in head.headers.iter() {
                        names.push(name.to_ascii_lowercase());
                    }
                    let fields = std::iter::once(Field::new(b":status", &status)).chain(
                        head.headers
                            .iter()
                            .zip(names.iter())
                            .filter(|(_, n)| !is_conn_specific(n))
                            .map(|((_, v), n)| Field::new(n, v)),
                    );
                    self.send_fields(id, fields, end);
                }
                ResSt::UntilClose => {
                    let n = rest
                        .len()
                        .min(max_frame)
                        .min(s.sws.available() as usize)
                        .min(self.mws.available() as usize);
                    if n == 0 {
                        if rest.is_empty() && s.res_shut {
                            super::data_frame(&mut self.tx, id, &[], true);
                            s.res = ResSt::Done;
                        }
                        return used;
                    }
                    s.sws.sent(n as u32);
                    self.mws.sent(n as u32);
                    super::data_frame(&mut self.tx, id, &rest[..n], false);
                    used += n;
                }
                ResSt::Body(_) => {
                    let ResSt::Body(mut body) = std::mem::replace(&mut s.res, ResSt::Done) else {
                        unreachable!()
                    };
                    let mut sws = s.sws;
                    let step = self.body_step(id, &mut sws, &mut body, rest);
                    let Some(s) = self.streams.get_mut(&id) else {
                        return out.len();
                    };
                    s.sws = sws;
                    match step {
                        BodyStep::Blocked => {
                            s.res = ResSt::Body(body);
                            return used;
                        }
                        BodyStep::Used(n) => {
                            s.res = ResSt::Body(body);
                            used += n;
                        }
                        BodyStep::End(n) => used += n,
                        BodyStep::Error => {
                            s.res = ResSt::Body(body);
                            Front::stream_error(self, id, ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                    }
                }
            }
        }
    }

    /// The engine shut stream `id`'s response (`sc_shutw`): once its
    /// output is drained, END_STREAM goes (an until-close body ends).
    pub fn shut_res(&mut self, id: u32) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.res_shut = true;
            if matches!(s.res, ResSt::UntilClose) && self.state != H2cState::Error {
                super::data_frame(&mut self.tx, id, &[], true);
                s.res = ResSt::Done;
            }
        }
    }

    /// The engine stream of `id` is gone (`h2_detach`): a response that
    /// did not end is reset (`CANCEL` when the stream was aborted, as
    /// HAProxy does); a request the client may still be sending is
    /// stopped with RST_STREAM(NO_ERROR) (RFC 9113 §8.1). The stream is
    /// forgotten.
    pub fn detach(&mut self, id: u32) {
        // Stream-level credit dies with the stream; the connection's was
        // returned as the bytes were demuxed.
        let Some(s) = self.streams.remove(&id) else {
            return;
        };
        if s.reset || self.state == H2cState::Error {
            return self.credit_conn();
        }
        if !s.res_done() {
            if s.res_shut && matches!(s.res, ResSt::UntilClose) {
                super::data_frame(&mut self.tx, id, &[], true);
            } else {
                self.rst(id, ErrorCode::CANCEL);
                return self.credit_conn();
            }
        }
        if !s.req_done {
            self.rst(id, ErrorCode::NO_ERROR);
        }
        self.credit_conn();
    }
}

/// RFC 3986 §3.1: `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn valid_scheme(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_alphabetic)
        && s[1..]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// What the request head said about its body.
struct ReqInfo {
    body: ReqBody,
    clen: Option<u64>,
    head: bool,
    connect: bool,
    scheme: Option<Scheme>,
}
/// Writes the HTTP/1.1 form of a request's decoded header list
/// (`h2_make_htx_request` then `h1_format_htx_reqline` in HAProxy 2.x).
fn make_request(
    list: &HeaderList,
    end_stream: bool,
    out: &mut Vec<u8>,
) -> Result<ReqInfo, &'static str> {
    let (mut method, mut scheme, mut authority, mut path) = (None, None, None, None);
    let mut regular = false;
    for f in list.iter() {
        if let Some(p) = f.name.strip_prefix(b":") {
            if regular {
                return Err("pseudo-header after a regular field");
            }
            let slot = match p {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"authority" => &mut authority,
                b"path" => &mut path,
                _ => return Err("unknown or response pseudo-header"),
            };
            if slot.is_some() {
                return Err("repeated pseudo-header");
            }
            if f.value.iter().any(|&b| b <= b' ' || b == 0x7f) && p != b"authority" {
                return Err("invalid pseudo-header value");
            }
            *slot = Some(f.value);
        } else {
            regular = true;
        }
    }
    let method = method.ok_or("missing :method")?;
    if method.is_empty() || !method.iter().all(|b| b.is_ascii_graphic()) {
        return Err("invalid :method");
    }
    let connect = method == b"CONNECT";
    if let Some(a) = authority {
        if a.is_empty() || a.iter().any(|&b| b <= b' ' || b == 0x7f || b == b'@') {
            return Err("invalid :authority");
        }
    }
    let target = if connect {
        if scheme.is_some() || path.is_some() {
            return Err("CONNECT with :scheme or :path");
        }
        authority.ok_or("CONNECT without :authority")?
    } else {
        let sch = scheme.ok_or("missing :scheme")?;
        if !valid_scheme(sch) {
            // HAProxy flags the message HTX_FL_PARSING_ERROR: the analyser
            // answers 400 and logs `<BADREQ>`. The channel carries
            // HTTP/1.1, so the same outcome is a head no parser accepts.
            out.extend_from_slice(b"<invalid :scheme>\r\n\r\n");
            return Ok(ReqInfo {
                body: if end_stream {
                    ReqBody::None
                } else {
                    ReqBody::Raw
                },
                clen: None,
                head: false,
                connect: false,
                scheme: None,
            });
        }
        let p = path.ok_or("missing :path")?;
        if p.is_empty() {
            return Err("empty :path");
        }
        // RFC 9113 §8.3.1: an absolute path, or `*` (HAProxy resets any
        // other :path rather than answering 400).
        if p[0] != b'/' && p != b"*" {
            return Err("invalid :path");
        }
        p
    };
    // Scheme-based normalisation (RFC 3986 §6.2.3, HAProxy's
    // `http_scheme_based_normalize`): the scheme's default port, or an
    // empty one, is dropped from the authority.
    if let (false, Some(sch), Some(a)) = (connect, scheme, authority) {
        if a.contains(&b':') {
            if let (Ok(sch), Ok(a_str)) = (std::str::from_utf8(sch), std::str::from_utf8(a)) {
                let abs = format!("{sch}://{a_str}/");
                if let Some((_, host)) = crate::http::h1::target::normalize_default_port(&abs) {
                    authority = Some(&a[..host.len()]);
                }
            }
        }
    }
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(a) = authority {
        put_field(out, b"host", a);
    }
    let mut clen: Option<u64> = None;
    let mut cookies: Vec<&[u8]> = Vec::new();
    for f in list.iter() {
        if f.name.first() == Some(&b':') {
            continue;
        }
        if !valid_field(f.name, f.value) {
            return Err("invalid field name or value");
        }
        match f.name {
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding"
            | b"upgrade" => return Err("connection-specific field"),
            b"te" if f.value != b"trailers" => return Err("te other than trailers"),
            b"host" if authority.is_some() => continue,
            b"cookie" => {
                cookies.push(f.value);
                continue;
            }
            b"content-length" => {
                let v = parse_clen(f.value).ok_or("invalid content-length")?;
                if clen.is_some_and(|c| c != v) {
                    return Err("conflicting content-length");
                }
                if clen.is_some() {
                    continue;
                }
                clen = Some(v);
            }
            _ => {}
        }
        put_field(out, f.name, f.value);
    }
    if !cookies.is_empty() {
        // RFC 9113 §8.2.3: split cookies are joined for HTTP/1.
        out.extend_from_slice(b"cookie: ");
        for (i, c) in cookies.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(c);
        }
        out.extend_from_slice(b"\r\n");
    }
    let body = if end_stream {
        ReqBody::None
    } else if clen.is_some() || connect {
        ReqBody::Raw
    } else {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        ReqBody::Chunked
    };
    out.extend_from_slice(b"\r\n");
    Ok(ReqInfo {
        body,
        clen,
        head: method == b"HEAD",
        connect,
        scheme: scheme.filter(|_| !connect).map(Scheme::from_bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h2::hpack::{Decoder, Encoder};

    /// The HTTP/1.1 head a request's pseudo-headers and fields become.
    fn convert(fields: &[(&str, &str)]) -> Result<(String, ReqInfo), &'static str> {
        let mut block = Vec::new();
        Encoder::new(4096).encode(
            fields
                .iter()
                .map(|(n, v)| Field::new(n.as_bytes(), v.as_bytes())),
            &mut block,
        );
        let mut list = HeaderList::new(65536);
        Decoder::new(4096).decode(&block, &mut list).unwrap();
        let mut out = Vec::new();
        let info = make_request(&list, true, &mut out)?;
        Ok((String::from_utf8(out).unwrap(), info))
    }

    fn get(scheme: &str, authority: &str, path: &str) -> Result<(String, ReqInfo), &'static str> {
        convert(&[
            (":method", "GET"),
            (":scheme", scheme),
            (":authority", authority),
            (":path", path),
        ])
    }

    #[test]
    fn the_default_port_of_the_scheme_leaves_the_authority() {
        let host = |s, a| get(s, a, "/").unwrap().0.lines().nth(1).unwrap().to_owned();
        assert_eq!(host("http", "hostname:80"), "host: hostname");
        assert_eq!(host("http", "hostname:"), "host: hostname");
        assert_eq!(host("http", "hostname:8080"), "host: hostname:8080");
        assert_eq!(host("https", "hostname:443"), "host: hostname");
        assert_eq!(host("https", "hostname:80"), "host: hostname:80");
        assert_eq!(host("HTTPS", "[::1]:443"), "host: [::1]");
        assert_eq!(host("ftp", "hostname:21"), "host: hostname:21");
        let (_, info) = get("https", "h", "/").unwrap();
        assert_eq!(info.scheme, Some(Scheme::Https));
        let (_, info) = get("foo+bar", "h", "/").unwrap();
        assert_eq!(info.scheme, Some(Scheme::Other("foo+bar".into())));
    }

    #[test]
    fn a_path_that_is_not_absolute_resets_the_stream() {
        assert_eq!(get("http", "h", "hello-world").err(), Some("invalid :path"));
        assert_eq!(get("http", "h", "?x").err(), Some("invalid :path"));
        assert!(get("http", "h", "*").is_ok());
        assert!(get("http", "h", "/a").is_ok());
    }

    #[test]
    fn an_invalid_scheme_becomes_a_head_the_analyser_refuses() {
        for bad in ["http://localhost/?", "1http", "-"] {
            let (head, info) = convert(&[(":method", "GET"), (":scheme", bad), (":path", "/")])
                .unwrap_or_else(|e| panic!("{bad}: {e}"));
            assert_eq!(info.scheme, None);
            assert!(
                h1::head::parse_request(head.as_bytes(), &Default::default()).is_err(),
                "{bad}: {head:?} parsed"
            );
        }
    }
}

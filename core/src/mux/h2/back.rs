//! The backend side of `mux_h2` (`h2c` with `H2_CF_IS_BACK`, HAProxy's
//! `h2c_bck_*` functions): a connection Sluice opened to a server. What
//! only this side does: it sends the client preface with its SETTINGS
//! (`h2c_bck_send_preface`), opens streams (`h2c_bck_stream_new`) and
//! frames each one's HTTP/1.1 request (the request channel's output, as
//! the analysers forward it) as HEADERS (+ CONTINUATION) and DATA
//! (`h2s_bck_make_req_headers`, `h2_snd_buf`), and turns the server's
//! HEADERS, DATA and trailers back into an HTTP/1.1 response (status
//! line, fields, a body framed by its `content-length` or chunked,
//! trailers as chunked trailers; `h2c_bck_handle_headers`) that the
//! response analysers parse as if an HTTP/1.1 server had sent it.
//!
//! ```text
//!   req channel output ──glue──> mux_request: H1 head ──HPACK──> HEADERS; body ──> DATA (windows) ──> tx
//!   rx ──FrameDecoder──> HEADERS+CONTINUATION ──HPACK──> H1 head ──> rxbuf ──glue──> res channel
//!                        DATA ──(chunked if no content-length)──> rxbuf
//! ```
//!
//! The stream table holds [`H2bs`] streams, each named by its `key` and
//! carrying its engine stream; a stream gets its wire id (odd, rising)
//! when its HEADERS go out, so ids rise on the wire whatever order the
//! streams were created in, as HAProxy does. The glue (`stream::sc_h2b`)
//! attaches several engine streams to one connection, up to
//! [`H2b::streams_limit`] (the server's SETTINGS_MAX_CONCURRENT_STREAMS
//! capped by our own `tune.h2.max-concurrent-streams`), and the engine
//! reuses the connection (`backend`: the available list and the idle
//! pool). Invariants: a stream takes a slot from its creation until its
//! engine stream detaches, then leaves the table (reset with CANCEL if
//! unfinished), and frames for it are ignored; no stream is opened after
//! a GOAWAY from the server (every opened stream above its
//! last-stream-id fails as not processed); a failure is recorded once per
//! stream ([`H2bs::fail`]) and reported once.

use super::{
    is_conn_specific, parse_clen, put_field, valid_field, BodyStep, H2Conn, H2Tune, H2cState,
    RxFlow, Side, TxBody,
};
use crate::arena::Id;
use crate::http::h1::{self, ChunkedDecoder, Method};
use crate::http::h2::frame::{ErrorCode, H2Error, Role, PREFACE};
use crate::http::h2::hpack::{Encoder, Field};
use crate::http::h2::window::Window;
use crate::stream::Stream;

/// The id of the first stream a connection opens.
pub const STREAM_ID: u32 = 1;

/// Our own limit of streams at once on a server connection when none is
/// configured (HAProxy's `tune.h2.max-concurrent-streams` default).
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;

/// Why a stream cannot complete (reported once to the engine stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H2bFail {
    /// The server reset the stream (RST_STREAM with this code).
    Reset(ErrorCode),
    /// The server sent GOAWAY without having processed the stream.
    GoAway(ErrorCode),
    /// A protocol error of the server: we reset the stream or closed the
    /// connection with this code.
    Protocol(ErrorCode),
    /// The connection closed before the response ended.
    Closed,
}

/// Where the request conversion stands.
#[derive(Debug)]
enum ReqSt {
    /// Waiting for the HTTP/1.1 request head in the channel.
    Head,
    /// A body of `content-length`, or chunked.
    Body(TxBody),
    /// An extended CONNECT (RFC 8441) was sent: the bytes that follow go
    /// as DATA as they come, END_STREAM once the engine shuts the request
    /// (`H2_SF_BODY_TUNNEL`).
    Tunnel,
    /// END_STREAM sent.
    Done,
}

/// Where the response conversion stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResSt {
    /// Waiting for a (final) HEADERS.
    Head,
    /// Body bytes as they come (`content-length` known, `left` of it).
    Length(u64),
    /// Each DATA frame becomes a chunk; END_STREAM the last chunk.
    Chunked,
    /// A body that may not be (HEAD, 204, 304): DATA is an error.
    NoBody,
    /// The 200 to an extended CONNECT (written as a 101): DATA bytes as
    /// they come, END_STREAM the end of the tunnel.
    Tunnel,
    /// END_STREAM received.
    Done,
}

/// One stream of a server connection (`struct h2s` on a backend).
#[derive(Debug)]
pub struct H2bs {
    /// The handle of the stream on its connection (creation order,
    /// never reused): what the glue names it by, before and after it has
    /// a wire id.
    pub key: u32,
    /// The stream id on the wire: 0 until its HEADERS go out, then the
    /// next odd id (ids rise on the wire in the order HEADERS are sent,
    /// whatever order the streams were created in).
    pub id: u32,
    /// The engine stream carried, until it detaches.
    pub sid: Option<Id<Stream>>,
    req: ReqSt,
    /// The request is a HEAD (its response has no body).
    is_head: bool,
    /// HEADERS went out (the stream is open).
    opened: bool,
    /// The stream send window (`h2s->sws`).
    sws: Window,
    /// Receive flow control of the response.
    rx: RxFlow,
    res: ResSt,
    /// HTTP/1.1 bytes of the response not yet in the response channel.
    pub rxbuf: Vec<u8>,
    /// Why the stream failed, when it did.
    pub fail: Option<H2bFail>,
    /// The failure was reported to the engine stream.
    pub fail_reported: bool,
    /// The response head came in a HEADERS with END_STREAM and no
    /// `content-length` (a gRPC "trailers-only" response): the
    /// `content-length: 0` in [`H2bs::rxbuf`] is ours, for HTTP/1.1, not
    /// the server's (HAProxy's `HTX_SL_F_BODYLESS` without a length). The
    /// glue takes it into the transaction so that an HTTP/2 client does
    /// not get the field.
    pub synth_clen: bool,
    /// The head of a response that may have no body (to a HEAD, a 204,
    /// a 304) whose HEADERS came without END_STREAM: kept until the
    /// stream ends, so that the transaction does not end (and the next
    /// request go) while the server still sends on it. HAProxy's HTX
    /// message ends at END_STREAM the same way (the server may be a proxy
    /// that reads and drops a body for a HEAD it turned into a GET).
    held_head: Vec<u8>,
    /// The protocol of the HTTP/1.1 `Upgrade` request sent as an extended
    /// CONNECT (RFC 8441 `:protocol`, HAProxy's `h2s->upgrade_protocol`
    /// with `H2_SF_EXT_CONNECT_SENT`): a 200 comes back as a 101 naming it.
    upgrade_protocol: Option<Vec<u8>>,
    /// The `Sec-WebSocket-Key` of that request, for the 101's
    /// `Sec-WebSocket-Accept` when the server (which has no such field in
    /// RFC 8441) sends none: HAProxy's H1 mux adds it from the key it
    /// kept (`h1s->ws_key`).
    ws_key: Option<Vec<u8>>,
    /// The response became a tunnel (the 101 went to the channel): the
    /// server's END_STREAM is a read close for the engine stream.
    pub tunnel: bool,
    /// That read close was reported to the engine stream.
    pub shutr_reported: bool,
    /// The engine shut the request (`sc_shutw`): a tunnel's END_STREAM
    /// goes once what precedes it is sent.
    req_shut: bool,
}

impl H2bs {
    /// END_STREAM received: a held head goes to the channel now.
    fn res_end(&mut self) {
        self.res = ResSt::Done;
        if !self.held_head.is_empty() {
            let mut head = std::mem::take(&mut self.held_head);
            head.append(&mut self.rxbuf);
            self.rxbuf = head;
        }
    }

    /// The response ended (END_STREAM received) and is all in the
    /// response channel.
    pub fn res_complete(&self) -> bool {
        self.res == ResSt::Done && self.rxbuf.is_empty()
    }

    /// Nothing of the request went to the server, which so never
    /// processed it (HEADERS not sent), and we did not refuse it
    /// ourselves: another connection may carry it.
    pub fn unprocessed(&self) -> bool {
        !self.opened && !matches!(self.fail, Some(H2bFail::Protocol(_)))
    }

    /// The request ended (END_STREAM sent).
    pub fn req_complete(&self) -> bool {
        matches!(self.req, ReqSt::Done)
    }

    /// A tunnel's request was shut with nothing left to send: its
    /// END_STREAM is due.
    pub fn req_end_due(&self) -> bool {
        matches!(self.req, ReqSt::Tunnel) && self.req_shut
    }

    /// Both directions ended.
    fn closed(&self) -> bool {
        self.req_complete() && self.res == ResSt::Done
    }

    fn fail(&mut self, f: H2bFail) {
        if self.fail.is_none() && !self.res_complete() {
            self.fail = Some(f);
        }
    }

    /// Nothing more goes either way (after a failure).
    fn end(&mut self) {
        self.req = ReqSt::Done;
        self.res = ResSt::Done;
    }

    fn err(&self, code: ErrorCode, reason: &'static str) -> H2Error {
        H2Error::Stream {
            stream_id: self.id,
            code,
            reason,
        }
    }
}

/// The backend side (`H2_CF_IS_BACK`): what only a server connection
/// keeps.
#[derive(Debug)]
pub struct Back {
    /// `:scheme` of the requests (`https` over TLS).
    https: bool,
    /// The id the next stream opened (HEADERS sent) gets.
    next_id: u32,
    /// The key the next stream created gets.
    next_key: u32,
    /// Our own limit of streams at once (`tune.h2.max-concurrent-streams`),
    /// which also caps the server's `SETTINGS_MAX_CONCURRENT_STREAMS`.
    own_limit: u32,
    /// The session a private connection belongs to (`conn->owner` with
    /// `CO_FL_PRIVATE`: `http-reuse never`, `send-proxy`): only its
    /// streams may use the connection.
    pub owner: Option<Id<crate::session::Session>>,
}

impl Back {
    /// A connection with no stream yet, whose first stream gets id 1.
    fn new(https: bool) -> Back {
        Back {
            https,
            next_id: STREAM_ID,
            next_key: 1,
            own_limit: DEFAULT_MAX_CONCURRENT_STREAMS,
            owner: None,
        }
    }
}

/// A server connection (`struct h2c` with `H2_CF_IS_BACK`).
pub type H2b = H2Conn<Back>;

impl Side for Back {
    type Streams = Vec<H2bs>;
    const ROLE: Role = Role::Client;
    const PUSH_PROMISE: &'static str = "PUSH_PROMISE while push is disabled";

    fn conn_error(h: &mut H2b, code: ErrorCode) {
        h.goaway(code);
    }

    fn stream_error(h: &mut H2b, id: u32, code: ErrorCode) {
        if let Some(key) = h.by_id_ref(id).map(|s| s.key) {
            h.reset(key, code);
        } else {
            h.rst(id, code);
        }
    }

    fn idle(h: &H2b, id: u32) -> bool {
        // Streams are opened in id order: above the highest opened one,
        // a stream is idle; below it, open or closed (a closed one may
        // be gone from the table: its frames are ignored).
        id > h.max_id || id % 2 == 0
    }

    fn initial_window_changed(h: &mut H2b, old: u32, new: u32) -> Result<(), H2Error> {
        for s in h.streams.iter_mut() {
            s.sws.apply_initial_change(old, new)?;
        }
        Ok(())
    }

    fn window_update(h: &mut H2b, id: u32, increment: u32) -> Result<(), H2Error> {
        if let Some(s) = h.by_id(id) {
            if !s.closed() {
                s.sws.increase(increment)?;
            }
        }
        Ok(())
    }

    fn rst_stream(h: &mut H2b, id: u32, code: ErrorCode) -> Result<(), H2Error> {
        let Some(s) = h.by_id(id) else {
            return Ok(());
        };
        if code == ErrorCode::NO_ERROR && s.res == ResSt::Done {
            // The response is whole; the server wants no more of the
            // request (§8.1).
            s.req = ReqSt::Done;
            return Ok(());
        }
        s.fail(H2bFail::Reset(code));
        s.end();
        s.rx.owed = 0;
        Ok(())
    }

    fn goaway_received(h: &mut H2b, last_stream_id: u32, code: ErrorCode) {
        let mut unprocessed = false;
        for s in h.streams.iter_mut() {
            if s.opened && last_stream_id < s.id {
                // Not processed by the server (RFC 9113 §6.8).
                s.fail(H2bFail::GoAway(code));
                s.end();
                unprocessed = true;
            }
        }
        if !unprocessed && code != ErrorCode::NO_ERROR {
            for s in h.streams.iter_mut() {
                s.fail(H2bFail::GoAway(code));
            }
            h.state = H2cState::Error;
        }
    }

    fn data(
        h: &mut H2b,
        id: u32,
        end_stream: bool,
        data: &[u8],
        flow_len: u32,
    ) -> Result<(), H2Error> {
        if Back::idle(h, id) {
            return Err(H2Error::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "DATA on an idle stream",
            });
        }
        let slack = h.rx_slack();
        let Some(s) = h.by_id(id) else {
            return Ok(());
        };
        if s.fail.is_some() {
            return Ok(());
        }
        match s.res {
            ResSt::Done => return Err(s.err(ErrorCode::STREAM_CLOSED, "DATA after END_STREAM")),
            ResSt::Head => {
                return Err(s.err(ErrorCode::PROTOCOL_ERROR, "DATA before the response head"))
            }
            _ => {}
        }
        s.rx.recv(id, data, flow_len, end_stream, slack)?;
        match s.res {
            ResSt::NoBody if !data.is_empty() => {
                return Err(s.err(ErrorCode::PROTOCOL_ERROR, "body where none may be"));
            }
            ResSt::Length(_) | ResSt::NoBody | ResSt::Tunnel => s.rxbuf.extend_from_slice(data),
            ResSt::Chunked => {
                if !data.is_empty() {
                    // Upper-case hex sizes, as HAProxy's H1 mux writes them.
                    s.rxbuf
                        .extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
                    s.rxbuf.extend_from_slice(data);
                    s.rxbuf.extend_from_slice(b"\r\n");
                }
                if end_stream {
                    s.rxbuf.extend_from_slice(h1::LAST_CHUNK);
                }
            }
            ResSt::Head | ResSt::Done => {}
        }
        if end_stream {
            s.res_end();
        }
        Ok(())
    }

    /// A whole field block: a response head (interim or final), or
    /// trailers.
    fn headers(h: &mut H2b, id: u32, es: bool, too_large: bool) -> Result<(), H2Error> {
        if Back::idle(h, id) {
            // A server never opens streams (no push).
            return Err(H2Error::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "HEADERS on an idle stream",
            });
        }
        let Some(i) = h.streams.iter().position(|s| s.opened && s.id == id) else {
            return Ok(());
        };
        let s = &mut h.streams[i];
        if s.fail.is_some() {
            return Ok(());
        }
        if too_large {
            return Err(s.err(ErrorCode::PROTOCOL_ERROR, "response head too large"));
        }
        match s.res {
            ResSt::Done => Err(s.err(ErrorCode::STREAM_CLOSED, "HEADERS after END_STREAM")),
            ResSt::Head => {
                response_head(s, &h.hlist, es)?;
                if matches!(s.req, ReqSt::Tunnel) && s.res != ResSt::Head && !s.tunnel {
                    // The extended CONNECT was refused: no tunnel, the
                    // request (which had no body) ends now.
                    s.req = ReqSt::Done;
                    let id = s.id;
                    super::data_frame(&mut h.tx, id, &[], true);
                }
                Ok(())
            }
            ResSt::Tunnel => Err(s.err(ErrorCode::PROTOCOL_ERROR, "HEADERS in a tunnel")),
            ResSt::Length(_) | ResSt::Chunked | ResSt::NoBody => {
                // Trailers (§8.1): END_STREAM, no pseudo-header.
                if !es {
                    return Err(s.err(ErrorCode::PROTOCOL_ERROR, "trailers without END_STREAM"));
                }
                if !s.rx.clen_complete() {
                    return Err(s.err(ErrorCode::PROTOCOL_ERROR, "content-length mismatch"));
                }
                let mut out = Vec::new();
                for f in h.hlist.iter() {
                    if f.name.first() == Some(&b':') || !valid_field(f.name, f.value) {
                        return Err(s.err(ErrorCode::PROTOCOL_ERROR, "invalid trailer field"));
                    }
                    put_field(&mut out, f.name, f.value);
                }
                if s.res == ResSt::Chunked {
                    // HTTP/1.1 carries trailers after the last chunk.
                    s.rxbuf.extend_from_slice(b"0\r\n");
                    s.rxbuf.extend_from_slice(&out);
                    s.rxbuf.extend_from_slice(b"\r\n");
                }
                // A body of known length has no place for trailers in
                // HTTP/1.1: they are dropped (as HAProxy's H1 mux does).
                s.res_end();
                Ok(())
            }
        }
    }
}

/// The response head (`h2c_bck_handle_headers`), written as HTTP/1.1
/// into the stream's `rxbuf`.
fn response_head(
    s: &mut H2bs,
    list: &crate::http::h2::hpack::HeaderList,
    es: bool,
) -> Result<(), H2Error> {
    let mut status: Option<u16> = None;
    let mut regular = false;
    for f in list.iter() {
        if let Some(p) = f.name.strip_prefix(b":") {
            if regular || p != b"status" || status.is_some() {
                return Err(s.err(ErrorCode::PROTOCOL_ERROR, "invalid response pseudo-header"));
            }
            let st = std::str::from_utf8(f.value)
                .ok()
                .filter(|v| v.len() == 3 && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u16>().ok())
                .filter(|v| *v >= 100);
            status = Some(st.ok_or(s.err(ErrorCode::PROTOCOL_ERROR, "invalid :status"))?);
        } else {
            regular = true;
        }
    }
    let status = status.ok_or(s.err(ErrorCode::PROTOCOL_ERROR, "missing :status"))?;
    // RFC 8441 §5: a 200 accepts the extended CONNECT; the HTTP/1.1 side
    // gets the 101 of the upgrade it asked for (HAProxy's
    // `h2_prepare_htx_stsline` with `H2_MSGF_EXT_CONNECT`).
    let switched = status == 200 && s.upgrade_protocol.is_some();
    let status = if switched { 101 } else { status };
    let interim = (100..200).contains(&status) && !switched;
    if (status == 101 && !switched) || (interim && es) {
        return Err(s.err(
            ErrorCode::PROTOCOL_ERROR,
            "101 or an interim response with END_STREAM",
        ));
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    if !switched {
        // The 101 made of a 200 has no reason phrase, as HAProxy 2.6
        // writes it ("HTTP/1.1 101 ").
        out.extend_from_slice(reason(status).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    let mut clen: Option<u64> = None;
    for f in list.iter() {
        if f.name.first() == Some(&b':') {
            continue;
        }
        if !valid_field(f.name, f.value) || is_conn_specific(f.name) {
            return Err(s.err(
                ErrorCode::PROTOCOL_ERROR,
                "invalid or connection-specific field",
            ));
        }
        if f.name == b"content-length" {
            let v = parse_clen(f.value)
                .ok_or(s.err(ErrorCode::PROTOCOL_ERROR, "invalid content-length"))?;
            if clen.is_some_and(|c| c != v) {
                return Err(s.err(ErrorCode::PROTOCOL_ERROR, "conflicting content-length"));
            }
            if clen.is_some() {
                continue;
            }
            clen = Some(v);
        }
        put_field(&mut out, f.name, f.value);
    }
    if switched {
        if let Some(p) = s.upgrade_protocol.as_deref() {
            put_field(&mut out, b"connection", b"upgrade");
            put_field(&mut out, b"upgrade", p);
        }
        let has_accept = list.iter().any(|f| f.name == b"sec-websocket-accept");
        if let (Some(k), false) = (s.ws_key.as_deref(), has_accept) {
            put_field(
                &mut out,
                b"sec-websocket-accept",
                &crate::http::ana::ws_accept(k),
            );
        }
        out.extend_from_slice(b"\r\n");
        s.rxbuf.extend_from_slice(&out);
        s.tunnel = true;
        s.res = ResSt::Tunnel;
        s.rx.clen_left = None;
        if es {
            s.res_end();
        }
        return Ok(());
    }
    let bodyless = s.is_head || interim || status == 204 || status == 304;
    if interim {
        out.extend_from_slice(b"\r\n");
        s.rxbuf.extend_from_slice(&out);
        return Ok(());
    }
    s.res = if bodyless {
        // HEAD, 204, 304: a content-length describes another body.
        s.rx.clen_left = None;
        ResSt::NoBody
    } else if let Some(n) = clen {
        s.rx.clen_left = Some(n);
        ResSt::Length(n)
    } else if es {
        // No body and no length: say so, or HTTP/1.1 would read until
        // close.
        out.extend_from_slice(b"content-length: 0\r\n");
        s.synth_clen = true;
        ResSt::Length(0)
    } else {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        ResSt::Chunked
    };
    out.extend_from_slice(b"\r\n");
    if bodyless && !es {
        s.held_head = out;
    } else {
        s.rxbuf.extend_from_slice(&out);
    }
    if es {
        if !s.rx.clen_complete() {
            return Err(s.err(ErrorCode::PROTOCOL_ERROR, "content-length mismatch"));
        }
        s.res = ResSt::Done;
    }
    Ok(())
}

impl H2b {
    /// A new connection: the client preface and our SETTINGS go first
    /// (RFC 9113 §3.4), then the connection window is opened.
    pub fn new(https: bool, max_header_list: usize) -> H2b {
        H2b::with_tune(
            https,
            max_header_list,
            H2Tune::default(),
            DEFAULT_MAX_CONCURRENT_STREAMS,
        )
    }

    /// [`H2b::new`] with our own settings (`tune.h2.header-table-size`,
    /// `tune.h2.[be.]initial-window-size`, `tune.h2.max-frame-size`) and
    /// our own limit of streams at once
    /// (`tune.h2.[be.]max-concurrent-streams`; 0: unlimited, not
    /// announced), announced in our SETTINGS as HAProxy's backend does.
    pub fn with_tune(https: bool, max_header_list: usize, tune: H2Tune, limit: u32) -> H2b {
        let mut h = H2Conn::with_side(
            H2cState::Frames,
            Back::new(https),
            Vec::new(),
            max_header_list,
            tune,
        );
        h.tx.extend_from_slice(PREFACE);
        // No push (§8.4): SETTINGS_ENABLE_PUSH 0, as HAProxy sends.
        h.send_settings(true, true, limit);
        h.set_own_limit(limit);
        h
    }

    /// A client connection reversed into a server connection (reverse
    /// HTTP's public side, `attach-srv`): the peer sent the client preface
    /// and its SETTINGS, which are acknowledged; we open streams from id 1
    /// as any backend connection does (the edge's frontend mux receives
    /// them as a server would). `front` carries no stream.
    pub fn from_reversed(front: super::H2c, https: bool) -> H2b {
        front.into_side(Back::new(https), Vec::new())
    }

    /// Sets our own limit of streams at once
    /// (`tune.h2.[be.]max-concurrent-streams`; 0: none).
    pub fn set_own_limit(&mut self, limit: u32) {
        // 0: no limit of ours (HAProxy's "0 disables the limit").
        self.side.own_limit = if limit == 0 { u32::MAX } else { limit };
    }

    /// Our own limit of streams at once.
    pub fn own_limit(&self) -> u32 {
        self.side.own_limit
    }

    /// Streams this connection may carry at once (`h2c->streams_limit`):
    /// the server's `SETTINGS_MAX_CONCURRENT_STREAMS` (our own limit until
    /// its SETTINGS arrive), capped by our own limit.
    pub fn streams_limit(&self) -> u32 {
        self.peer
            .max_concurrent_streams
            .unwrap_or(self.side.own_limit)
            .min(self.side.own_limit)
    }

    /// Streams in the table (`h2c->nb_streams`): each takes a slot until
    /// it is detached (created and not yet opened ones too).
    pub fn nb_streams(&self) -> usize {
        self.streams.len()
    }

    /// How many more streams the connection takes now
    /// (`h2_avail_streams`): none after a GOAWAY from the server, an
    /// error, or once the stream ids run out.
    pub fn avail_streams(&self) -> usize {
        if !self.takes_new_streams() {
            return 0;
        }
        let ids_left = (((1u32 << 31) - 1 - self.side.next_id) / 2) as usize;
        (self.streams_limit() as usize)
            .saturating_sub(self.nb_streams())
            .min(ids_left)
    }

    /// Whether a new stream may still be opened: no error, the stream ids
    /// not exhausted, no GOAWAY from the server. Even a graceful one
    /// (last-stream-id 2^31-1) stops new streams: RFC 9113 §6.8 says
    /// initiating further requests is prohibited then, while HAProxy 2.6
    /// goes on opening streams up to its last-stream-id (its
    /// `h2_avail_streams`), which the final GOAWAY may then leave
    /// unprocessed (docs/http2.md).
    pub fn takes_new_streams(&self) -> bool {
        self.state != H2cState::Error && self.side.next_id < (1 << 31) - 1 && !self.peer_goaway
    }

    /// Creates a stream (`h2c_bck_stream_new`) and returns its key; its
    /// request goes out through [`H2b::mux_request`], which gives it its
    /// wire id when the HEADERS go.
    pub fn new_stream(&mut self) -> u32 {
        let key = self.side.next_key;
        self.side.next_key += 1;
        self.streams.push(H2bs {
            key,
            id: 0,
            sid: None,
            req: ReqSt::Head,
            is_head: false,
            opened: false,
            sws: Window::new(0, self.peer.initial_window_size),
            rx: self.rx_flow(),
            res: ResSt::Head,
            rxbuf: Vec::new(),
            fail: None,
            fail_reported: false,
            synth_clen: false,
            held_head: Vec::new(),
            upgrade_protocol: None,
            ws_key: None,
            tunnel: false,
            shutr_reported: false,
            req_shut: false,
        });
        key
    }

    /// A stream for engine stream `sid` (`h2_attach`); returns its key.
    /// The caller checks [`H2b::avail_streams`] first.
    pub fn attach(&mut self, sid: Id<Stream>) -> u32 {
        let key = self.new_stream();
        if let Some(s) = self.by_key(key) {
            s.sid = Some(sid);
        }
        key
    }

    /// Engine stream `sid` is no longer carried (`h2_detach`): its stream
    /// leaves the table (its slot is free again), reset with CANCEL when
    /// it was open and not closed both ways (`h2_detach` -> `h2s_shutw` /
    /// `h2s_destroy`).
    pub fn detach(&mut self, sid: Id<Stream>) {
        let Some(i) = self.streams.iter().position(|s| s.sid == Some(sid)) else {
            return;
        };
        let s = self.streams.remove(i);
        if s.opened && !s.closed() && self.state != H2cState::Error {
            self.rst(s.id, ErrorCode::CANCEL);
        }
    }

    /// The stream of key `key`.
    pub fn by_key(&mut self, key: u32) -> Option<&mut H2bs> {
        self.streams.iter_mut().find(|s| s.key == key)
    }

    /// The stream of key `key`.
    pub fn by_key_ref(&self, key: u32) -> Option<&H2bs> {
        self.streams.iter().find(|s| s.key == key)
    }

    /// The open stream of wire id `id`.
    pub fn by_id(&mut self, id: u32) -> Option<&mut H2bs> {
        self.streams.iter_mut().find(|s| s.opened && s.id == id)
    }

    /// The open stream of wire id `id`.
    pub fn by_id_ref(&self, id: u32) -> Option<&H2bs> {
        self.streams.iter().find(|s| s.opened && s.id == id)
    }

    /// The stream carrying engine stream `sid`.
    pub fn stream_of(&self, sid: Id<Stream>) -> Option<&H2bs> {
        self.streams.iter().find(|s| s.sid == Some(sid))
    }

    /// The stream carrying engine stream `sid`.
    pub fn stream_of_mut(&mut self, sid: Id<Stream>) -> Option<&mut H2bs> {
        self.streams.iter_mut().find(|s| s.sid == Some(sid))
    }

    /// The engine streams carried.
    pub fn engine_streams(&self) -> impl Iterator<Item = Id<Stream>> + '_ {
        self.streams.iter().filter_map(|s| s.sid)
    }

    /// Whether any stream failed.
    pub fn any_failed(&self) -> bool {
        self.streams.iter().any(|s| s.fail.is_some())
    }

    /// Whether the connection must close once `tx` is flushed.
    pub fn should_close(&self) -> bool {
        self.state == H2cState::Error && self.tx_pending().is_empty()
    }

    /// Sends GOAWAY for a connection error: nothing more is processed;
    /// every stream fails.
    pub fn goaway(&mut self, code: ErrorCode) {
        if self.state == H2cState::Error {
            return;
        }
        self.send_goaway(0, code);
        self.state = H2cState::Error;
        self.rx_len = 0;
        for s in self.streams.iter_mut() {
            s.fail(H2bFail::Protocol(code));
        }
    }

    /// Resets stream `key` (a stream error of the server, or the engine
    /// stream gave up).
    pub fn reset(&mut self, key: u32, code: ErrorCode) {
        let error = self.state == H2cState::Error;
        let Some(s) = self.by_key(key) else {
            return;
        };
        let send = s.opened && !error && !s.closed();
        let id = s.id;
        s.fail(H2bFail::Protocol(code));
        s.end();
        if send {
            self.rst(id, code);
        }
    }

    /// Streams opened (HEADERS sent) and not closed both ways: those the
    /// server's `SETTINGS_MAX_CONCURRENT_STREAMS` counts.
    pub fn open_streams(&self) -> usize {
        self.streams
            .iter()
            .filter(|s| s.opened && !s.closed())
            .count()
    }

    /// The server closed the connection (or it failed): every stream
    /// fails.
    pub fn closed(&mut self) {
        for s in self.streams.iter_mut() {
            s.fail(H2bFail::Closed);
        }
        self.state = H2cState::Error;
    }

    /// The engine shut stream `key`'s request (`sc_shutw`): a tunnel ends
    /// with END_STREAM once what the channel still holds is sent (by
    /// [`H2b::mux_request`]; at once when nothing is left).
    pub fn shut_req(&mut self, key: u32) {
        let error = self.state == H2cState::Error;
        let Some(s) = self.by_key(key) else {
            return;
        };
        if !error {
            s.req_shut = true;
        }
    }

    /// Demultiplexes everything received (`h2_process_demux`).
    pub fn demux(&mut self) {
        self.demux_frames(0);
    }

    /// `n` bytes of stream `key`'s `rxbuf` were delivered to the response
    /// channel: once it is empty, the flow-control credit goes back to
    /// the server.
    pub fn delivered(&mut self, key: u32, n: usize) {
        let error = self.state == H2cState::Error;
        let Some(s) = self.by_key(key) else {
            return;
        };
        let id = s.id;
        let credit = s.res != ResSt::Done && s.fail.is_none() && !error;
        let mut rxbuf = std::mem::take(&mut s.rxbuf);
        let mut rx = std::mem::replace(&mut s.rx, RxFlow::new(0));
        self.delivered_bytes(id, &mut rx, &mut rxbuf, n, credit);
        if let Some(s) = self.by_key(key) {
            s.rxbuf = rxbuf;
            s.rx = rx;
        }
    }

    /// Encodes what it can of stream `key`'s HTTP/1.1 request `out` (the
    /// request channel's output) into frames (`h2_snd_buf`); returns the
    /// bytes of `out` consumed. A request that cannot be converted resets
    /// the stream (its `fail` is then set). `h2_front`: the client spoke
    /// HTTP/2, so its `:authority` (the `host` of the HTTP/1.1 form) goes
    /// on as `:authority`; an HTTP/1.1 client's origin-form request keeps
    /// its `host` field and has no `:authority`, as HAProxy 2.6 sends it.
    pub fn mux_request(&mut self, key: u32, out: &[u8], h2_front: bool) -> usize {
        let mut used = 0;
        loop {
            let error = self.state == H2cState::Error;
            let room = self.tx_room();
            let goaway = !self.takes_new_streams();
            // A new stream waits while the server's limit is reached.
            let full = self.open_streams() as u64
                >= u64::from(self.peer.max_concurrent_streams.unwrap_or(u32::MAX));
            let next_id = self.side.next_id;
            let iws = self.peer.initial_window_size;
            let (settings_seen, rfc8441) =
                (self.peer_settings_seen, self.peer.enable_connect_protocol);
            let max_frame = self.peer.max_frame_size as usize;
            let mws = self.mws.available() as usize;
            let Some(s) = self.by_key(key) else {
                return out.len();
            };
            if !room || error || s.fail.is_some() {
                return if s.fail.is_some() { out.len() } else { used };
            }
            let rest = &out[used..];
            match &mut s.req {
                ReqSt::Done => return out.len(),
                ReqSt::Head => {
                    if full || goaway {
                        // The server takes no stream now.
                        return used;
                    }
                    let opts = h1::ParseOptions::default();
                    let (head, n) = match h1::parse_request(rest, &opts) {
                        Ok(h1::Status::Complete(x)) => x,
                        Ok(h1::Status::Partial) => return used,
                        Err(_) => {
                            self.reset(key, ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                    };
                    // An HTTP/1.1 `Upgrade` (`Connection: upgrade`) goes as
                    // an extended CONNECT (RFC 8441), which the server
                    // must have offered in its SETTINGS: wait for them.
                    let upgrade = head.wants_upgrade();
                    if upgrade && !settings_seen {
                        return used;
                    }
                    used += n;
                    let body = match h1::request_body(&head) {
                        Ok(b) => b,
                        Err(_) => {
                            self.reset(key, ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                    };
                    s.is_head = head.method == Method::HEAD;
                    let end = matches!(body, h1::BodyLen::None | h1::BodyLen::Length(0));
                    if upgrade && (!rfc8441 || !end) {
                        // No RFC 8441 on this server, or a body that an
                        // upgrade cannot carry: the request fails (502), as
                        // HAProxy's "reject upgrade because of no RFC8441
                        // support", which takes the stream's id and resets
                        // it (`h2s_error`) without HEADERS. RFC 9113 §6.4
                        // lets the server take that RST_STREAM on an idle
                        // stream as a connection error; HAProxy 2.6 sends
                        // it and VTest's `protocol_upgrade.vtc` waits for
                        // it, so it goes (docs/http2.md).
                        let id = next_id;
                        s.id = id;
                        s.opened = true;
                        s.fail(H2bFail::Protocol(ErrorCode::INTERNAL_ERROR));
                        s.end();
                        self.side.next_id += 2;
                        self.max_id = self.max_id.max(id);
                        self.rst(id, ErrorCode::INTERNAL_ERROR);
                        return out.len();
                    }
                    if upgrade {
                        // The first protocol of `Upgrade` (`:protocol` is
                        // single-valued), as HAProxy keeps it.
                        let p = head.headers.get("upgrade").unwrap_or_default();
                        let p = p.split(|&b| b == b',').next().unwrap_or_default();
                        let p = p.trim_ascii();
                        if p.eq_ignore_ascii_case(b"websocket") {
                            s.ws_key = head
                                .headers
                                .get("sec-websocket-key")
                                .filter(|k| k.len() == super::WS_KEY_LEN)
                                .map(<[u8]>::to_vec);
                        }
                        s.upgrade_protocol = Some(p.to_vec());
                    }
                    s.req = match body {
                        h1::BodyLen::Length(n) if n > 0 => ReqSt::Body(TxBody::Length(n)),
                        h1::BodyLen::Chunked => ReqSt::Body(TxBody::Chunked(Box::new(
                            ChunkedDecoder::new(h1::Side::Request),
                        ))),
                        _ if upgrade => ReqSt::Tunnel,
                        _ => ReqSt::Done,
                    };
                    let end = end && !upgrade;
                    let protocol = s.upgrade_protocol.clone();
                    // The stream id is given now, so that ids rise on
                    // the wire (RFC 9113 §5.1.1).
                    let id = next_id;
                    s.id = id;
                    s.opened = true;
                    s.sws = Window::new(id, iws);
                    self.side.next_id += 2;
                    self.max_id = self.max_id.max(id);
                    self.nb_streams_total += 1;
                    let mut block = Vec::new();
                    request_fields(
                        &head,
                        self.side.https,
                        h2_front,
                        protocol.as_deref(),
                        &mut self.henc,
                        &mut block,
                    );
                    super::encode_field_block(
                        id,
                        &block,
                        end,
                        self.peer.max_frame_size,
                        &mut self.tx,
                    );
                }
                ReqSt::Tunnel => {
                    let n = rest
                        .len()
                        .min(max_frame)
                        .min(s.sws.available() as usize)
                        .min(mws);
                    let id = s.id;
                    if n == 0 {
                        if rest.is_empty() && s.req_shut {
                            s.req = ReqSt::Done;
                            super::data_frame(&mut self.tx, id, &[], true);
                            return out.len();
                        }
                        return used;
                    }
                    s.sws.sent(n as u32);
                    self.mws.sent(n as u32);
                    super::data_frame(&mut self.tx, id, &rest[..n], false);
                    used += n;
                }
                ReqSt::Body(_) => {
                    let ReqSt::Body(mut body) = std::mem::replace(&mut s.req, ReqSt::Done) else {
                        unreachable!()
                    };
                    let mut sws = s.sws;
                    let id = s.id;
                    let step = self.body_step(id, &mut sws, &mut body, rest);
                    let Some(s) = self.by_key(key) else {
                        return out.len();
                    };
                    s.sws = sws;
                    match step {
                        BodyStep::Blocked => {
                            s.req = ReqSt::Body(body);
                            return used;
                        }
                        BodyStep::Used(n) => {
                            s.req = ReqSt::Body(body);
                            used += n;
                        }
                        BodyStep::End(n) => used += n,
                        BodyStep::Error => {
                            s.req = ReqSt::Body(body);
                            self.reset(key, ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                    }
                }
            }
        }
    }
}

/// The request's HEADERS field block (`h2s_bck_make_req_headers`):
/// `:method`, `:scheme`, `:authority` (from an absolute URI, else, for an
/// HTTP/2 client, from `host`), `:path`, then the fields, lowercased,
/// without the connection-specific ones (RFC 9113 §8.2.2, §8.3.1) and
/// without `host` when `:authority` is sent.
fn request_fields(
    head: &h1::ReqHead,
    https: bool,
    h2_front: bool,
    protocol: Option<&[u8]>,
    henc: &mut Encoder,
    block: &mut Vec<u8>,
) {
    let method = if protocol.is_some() {
        b"CONNECT".to_vec()
    } else {
        head.method.as_str().as_bytes().to_vec()
    };
    let uri = head.uri.as_bytes();
    let connect = head.method == Method::CONNECT && protocol.is_none();
    let (mut scheme, mut authority, mut path): (Vec<u8>, Option<Vec<u8>>, Vec<u8>) = (
        // An extended CONNECT from an origin-form request has no scheme
        // of its own: `https`, as HAProxy's default ("sent by browsers").
        if https || protocol.is_some() {
            b"https".to_vec()
        } else {
            b"http".to_vec()
        },
        None,
        uri.to_vec(),
    );
    if connect {
        authority = Some(uri.to_vec());
    } else if let Some(p) = uri.iter().position(|&b| b == b':').filter(|&p| {
        uri[p..].starts_with(b"://") && uri[..p].iter().all(|b| b.is_ascii_alphanumeric())
    }) {
        // Absolute form: scheme://authority/path.
        scheme = uri[..p].to_ascii_lowercase();
        let after = &uri[p + 3..];
        let end = after
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(after.len());
        authority = Some(after[..end].to_vec());
        path = if end == after.len() {
            b"/".to_vec()
        } else if after[end] == b'?' {
            let mut v = b"/".to_vec();
            v.extend_from_slice(&after[end..]);
            v
        } else {
            after[end..].to_vec()
        };
    }
    if (authority.is_none() && h2_front) || protocol.is_some() {
        // RFC 8441 §4: an extended CONNECT carries `:authority`, the
        // `host` when there is one.
        if let Some(h) = head.headers.get("host") {
            authority = Some(h.to_vec());
        }
    }
    if path.is_empty() {
        path = b"/".to_vec();
    }
    let has_authority = authority.is_some();
    let mut names: Vec<Vec<u8>> = Vec::with_capacity(head.headers.len());
    for (name, _) in head.headers.iter() {
        names.push(name.to_ascii_lowercase());
    }
    let mut fields: Vec<Field<'_>> = Vec::with_capacity(head.headers.len() + 4);
    fields.push(Field::new(b":method", &method));
    if !connect {
        fields.push(Field::new(b":scheme", &scheme));
    }
    if let Some(a) = authority.as_deref() {
        fields.push(Field::new(b":authority", a));
    }
    if !connect {
        fields.push(Field::new(b":path", &path));
    }
    if let Some(p) = protocol {
        fields.push(Field::new(b":protocol", p));
    }
    for ((_, v), n) in head.headers.iter().zip(names.iter()) {
        let drop = is_conn_specific(n)
            || (n == b"host" && has_authority)
            || n == b"http2-settings"
            || (n == b"te" && !v.eq_ignore_ascii_case(b"trailers"));
        if !drop {
            fields.push(Field::new(n, v));
        }
    }
    henc.encode(fields, block);
}

/// The reason phrase HAProxy writes for a status received over HTTP/2
/// (`http_get_reason`).
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        425 => "Too Early",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h2::frame::Settings;
    use crate::http::h2::frame::{encode_field_block, Frame};
    use crate::http::h2::hpack::Encoder as HEnc;

    /// A server's frames for a response.
    fn server_frames(
        status: &[u8],
        fields: &[(&[u8], &[u8])],
        body: &[u8],
        trailers: bool,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        Settings::default().encode(&mut out);
        let mut enc = HEnc::default();
        let mut block = Vec::new();
        let f = std::iter::once(Field::new(b":status", status))
            .chain(fields.iter().map(|(n, v)| Field::new(n, v)));
        enc.encode(f, &mut block);
        encode_field_block(
            STREAM_ID,
            &block,
            body.is_empty() && !trailers,
            16384,
            &mut out,
        );
        if !body.is_empty() {
            data_frame(STREAM_ID, !trailers, body, &mut out);
        }
        if trailers {
            let mut block = Vec::new();
            enc.encode([Field::new(b"grpc-status", b"0")], &mut block);
            encode_field_block(STREAM_ID, &block, true, 16384, &mut out);
        }
        out
    }

    /// A DATA frame without padding, appended to `out`.
    fn data_frame(stream_id: u32, end_stream: bool, data: &[u8], out: &mut Vec<u8>) {
        Frame::Data {
            stream_id,
            end_stream,
            data,
            pad_len: None,
            flow_len: data.len() as u32,
        }
        .encode(out);
    }

    fn s(h: &H2b) -> &H2bs {
        h.by_id_ref(STREAM_ID).unwrap()
    }

    fn feed(h: &mut H2b, bytes: &[u8]) {
        let mut pos = 0;
        while pos < bytes.len() {
            let spare = h.rx_spare();
            let n = spare.len().min(bytes.len() - pos);
            spare[..n].copy_from_slice(&bytes[pos..pos + n]);
            h.received(n);
            pos += n;
            h.demux();
        }
    }

    #[test]
    fn request_then_response_round_trip() {
        let mut h = H2b::new(false, 16384);
        let id = h.new_stream();
        assert!(h.tx_pending().starts_with(PREFACE));
        let req = b"POST /x?y HTTP/1.1\r\nHost: example\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(h.mux_request(id, req, false), req.len());
        assert!(s(&h).req_complete());
        let frames = server_frames(b"200", &[(b"content-type", b"text/plain")], b"hello", false);
        feed(&mut h, &frames);
        let text = String::from_utf8(s(&h).rxbuf.clone()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        h.delivered(id, s(&h).rxbuf.len());
        assert!(s(&h).res_complete());
        assert_eq!(s(&h).fail, None);
    }

    #[test]
    fn trailers_become_chunked_trailers() {
        let mut h = H2b::new(false, 16384);
        let id = h.new_stream();
        h.mux_request(id, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        feed(&mut h, &server_frames(b"200", &[], b"xy", true));
        let text = String::from_utf8(s(&h).rxbuf.clone()).unwrap();
        assert!(
            text.ends_with("2\r\nxy\r\n0\r\ngrpc-status: 0\r\n\r\n"),
            "{text}"
        );
    }

    #[test]
    fn empty_response_gets_a_length() {
        let mut h = H2b::new(false, 16384);
        let id = h.new_stream();
        h.mux_request(id, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        feed(&mut h, &server_frames(b"404", &[], b"", false));
        assert_eq!(
            s(&h).rxbuf,
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec()
        );
    }

    /// reg-test http_bodyless_response: the head of a response to a HEAD
    /// waits for END_STREAM (an empty DATA here), so the transaction does
    /// not end while the server still works on the stream.
    #[test]
    fn bodyless_head_waits_for_end_stream() {
        let mut h = H2b::new(false, 16384);
        let id = h.new_stream();
        h.mux_request(id, b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        let mut frames = server_frames(b"200", &[(b"content-length", b"12")], b"", true);
        // Only SETTINGS and the HEADERS: drop the trailers block.
        let mut enc = HEnc::default();
        let mut block = Vec::new();
        enc.encode([Field::new(b"grpc-status", b"0")], &mut block);
        let mut tail = Vec::new();
        encode_field_block(STREAM_ID, &block, true, 16384, &mut tail);
        frames.truncate(frames.len() - tail.len());
        feed(&mut h, &frames);
        assert!(s(&h).rxbuf.is_empty(), "the head is held");
        let mut end = Vec::new();
        data_frame(STREAM_ID, true, b"", &mut end);
        feed(&mut h, &end);
        let text = String::from_utf8(s(&h).rxbuf.clone()).unwrap();
        assert_eq!(text, "HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n");
        h.delivered(id, s(&h).rxbuf.len());
        assert!(s(&h).res_complete());
    }

    #[test]
    fn rst_stream_fails_the_stream() {
        let mut h = H2b::new(false, 16384);
        let id = h.new_stream();
        h.mux_request(id, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        let mut f = Vec::new();
        Settings::default().encode(&mut f);
        Frame::RstStream {
            stream_id: STREAM_ID,
            code: ErrorCode::INTERNAL_ERROR,
        }
        .encode(&mut f);
        feed(&mut h, &f);
        assert_eq!(s(&h).fail, Some(H2bFail::Reset(ErrorCode::INTERNAL_ERROR)));
    }

    #[test]
    fn window_bounds_the_request_body() {
        let mut h = H2b::new(false, 16384);
        let id = h.new_stream();
        let body = vec![b'a'; 100_000];
        let mut req = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n".to_vec();
        req.extend_from_slice(&body);
        let head = req.len() - body.len();
        let used = h.mux_request(id, &req, false);
        assert_eq!(used, head + 65_535);
        let mut f = Vec::new();
        Settings::default().encode(&mut f);
        Frame::WindowUpdate {
            stream_id: 0,
            increment: 40_000,
        }
        .encode(&mut f);
        Frame::WindowUpdate {
            stream_id: STREAM_ID,
            increment: 40_000,
        }
        .encode(&mut f);
        feed(&mut h, &f);
        h.sent(h.tx_pending().len());
        let more = h.mux_request(id, &req[used..], false);
        assert_eq!(more, 100_000 - 65_535);
        assert!(s(&h).req_complete());
    }

    type SentFrame = (&'static str, u32, bool, Vec<(String, String)>);

    /// What the mux sent, as a server reads it: (frame type name, stream
    /// id, END_STREAM, decoded fields of a HEADERS / DATA payload).
    fn sent(h: &mut H2b) -> Vec<SentFrame> {
        use crate::http::h2::frame::FrameDecoder;
        use crate::http::h2::hpack::{Decoder, HeaderList};
        let mut tx = h.tx_pending().to_vec();
        h.sent(tx.len());
        if tx.starts_with(PREFACE) {
            tx.drain(..PREFACE.len());
        } else {
            // A fresh decoder expects SETTINGS first.
            let mut t = Vec::new();
            Settings::default().encode(&mut t);
            t.append(&mut tx);
            tx = t;
        }
        let mut dec = FrameDecoder::new(Role::Server);
        let mut hdec = Decoder::new(4096);
        let mut pos = 0;
        let mut out = Vec::new();
        while let crate::http::h2::frame::Status::Complete((f, n)) = dec.decode(&tx[pos..]) {
            pos += n;
            out.push(match f.expect("valid frames") {
                Frame::Headers {
                    stream_id,
                    end_stream,
                    fragment,
                    ..
                } => {
                    let mut list = HeaderList::new(65536);
                    hdec.decode(fragment, &mut list).unwrap();
                    let fields = list
                        .iter()
                        .map(|f| {
                            (
                                String::from_utf8_lossy(f.name).into_owned(),
                                String::from_utf8_lossy(f.value).into_owned(),
                            )
                        })
                        .collect();
                    ("HEADERS", stream_id, end_stream, fields)
                }
                Frame::Data {
                    stream_id,
                    end_stream,
                    data,
                    ..
                } => (
                    "DATA",
                    stream_id,
                    end_stream,
                    vec![(String::new(), String::from_utf8_lossy(data).into_owned())],
                ),
                Frame::RstStream { stream_id, .. } => ("RST_STREAM", stream_id, false, vec![]),
                Frame::Settings { .. } => ("SETTINGS", 0, false, vec![]),
                _ => ("OTHER", 0, false, vec![]),
            });
        }
        out
    }

    /// SETTINGS of a server, with SETTINGS_ENABLE_CONNECT_PROTOCOL = `ws`.
    fn server_settings(ws: Option<u32>) -> Vec<u8> {
        let mut f = Vec::new();
        let mut params = Vec::new();
        if let Some(v) = ws {
            params.extend_from_slice(&[0, 8]);
            params.extend_from_slice(&v.to_be_bytes());
        }
        let len = params.len() as u32;
        f.extend_from_slice(&len.to_be_bytes()[1..]);
        f.extend_from_slice(&[4, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&params);
        f
    }

    const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example\r\nConnection: upgrade\r\n\
        Upgrade: websocket, foo\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

    /// An HTTP/1.1 `Upgrade` to an HTTP/2 server (RFC 8441, HAProxy's
    /// `H2_SF_EXT_CONNECT_SENT`): it waits for the server's SETTINGS, goes
    /// as an extended CONNECT, the 200 comes back as a 101 (with the
    /// accept of the client's key), then bytes go both ways as DATA and
    /// END_STREAM ends each direction.
    #[test]
    fn an_upgrade_goes_as_an_extended_connect_and_tunnels() {
        let mut h = H2b::new(false, 16384);
        let key = h.new_stream();
        let mut req = UPGRADE.to_vec();
        req.extend_from_slice(b"early");
        assert_eq!(h.mux_request(key, &req, false), 0, "waits for SETTINGS");
        sent(&mut h);
        feed(&mut h, &server_settings(Some(1)));
        let head = UPGRADE.len();
        assert_eq!(h.mux_request(key, &req, false), req.len());
        let frames = sent(&mut h);
        let hdrs = frames.iter().find(|f| f.0 == "HEADERS").expect("HEADERS");
        assert!(!hdrs.2, "no END_STREAM on an extended CONNECT");
        let names: Vec<(&str, &str)> = hdrs
            .3
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (":method", "CONNECT"),
                (":scheme", "https"),
                (":authority", "example"),
                (":path", "/chat"),
                (":protocol", "websocket"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ]
        );
        let data: Vec<_> = frames.iter().filter(|f| f.0 == "DATA").collect();
        assert_eq!(data.len(), 1);
        assert_eq!(data[0].3[0].1, "early");
        assert!(!data[0].2);
        let _ = head;
        // The 200 is the 101 of the HTTP/1.1 side.
        let mut enc = HEnc::default();
        let mut block = Vec::new();
        enc.encode([Field::new(b":status", b"200")], &mut block);
        let mut f = Vec::new();
        encode_field_block(STREAM_ID, &block, false, 16384, &mut f);
        data_frame(STREAM_ID, false, b"pong", &mut f);
        feed(&mut h, &f);
        let text = String::from_utf8(s(&h).rxbuf.clone()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 101 \r\nconnection: upgrade\r\nupgrade: websocket\r\n\
             sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\npong"
        );
        assert!(s(&h).tunnel);
        h.delivered(key, s(&h).rxbuf.len());
        // The engine shuts the request: END_STREAM.
        h.shut_req(key);
        assert!(s(&h).req_end_due());
        assert_eq!(h.mux_request(key, b"", false), 0);
        let frames = sent(&mut h);
        assert!(frames
            .iter()
            .any(|f| f.0 == "DATA" && f.2 && f.3[0].1.is_empty()));
        assert!(s(&h).req_complete());
        // The server's END_STREAM ends the tunnel.
        let mut f = Vec::new();
        data_frame(STREAM_ID, true, b"", &mut f);
        feed(&mut h, &f);
        assert!(s(&h).res_complete());
        assert_eq!(s(&h).fail, None);
    }

    /// A server that did not offer RFC 8441 (or offered 0): the upgrade
    /// fails (a 502 for the engine), its stream reset as HAProxy does; a
    /// refused extended CONNECT (403) is an ordinary response, and the
    /// request ends.
    #[test]
    fn an_upgrade_without_rfc8441_fails_and_a_refusal_ends_the_request() {
        for ws in [None, Some(0)] {
            let mut h = H2b::new(false, 16384);
            let key = h.new_stream();
            feed(&mut h, &server_settings(ws));
            sent(&mut h);
            assert_eq!(h.mux_request(key, UPGRADE, false), UPGRADE.len());
            let frames = sent(&mut h);
            assert!(frames.iter().all(|f| f.0 != "HEADERS"), "{frames:?}");
            assert!(frames
                .iter()
                .any(|f| f.0 == "RST_STREAM" && f.1 == STREAM_ID));
            assert_eq!(
                h.by_key_ref(key).unwrap().fail,
                Some(H2bFail::Protocol(ErrorCode::INTERNAL_ERROR))
            );
        }
        let mut h = H2b::new(false, 16384);
        let key = h.new_stream();
        feed(&mut h, &server_settings(Some(1)));
        h.mux_request(key, UPGRADE, false);
        sent(&mut h);
        let mut enc = HEnc::default();
        let mut block = Vec::new();
        enc.encode([Field::new(b":status", b"403")], &mut block);
        let mut f = Vec::new();
        encode_field_block(STREAM_ID, &block, true, 16384, &mut f);
        feed(&mut h, &f);
        assert_eq!(
            s(&h).rxbuf,
            b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n".to_vec()
        );
        assert!(!s(&h).tunnel);
        assert!(s(&h).req_complete());
        let frames = sent(&mut h);
        assert!(frames.iter().any(|f| f.0 == "DATA" && f.2), "{frames:?}");
        // A plain request needs no SETTINGS and is no CONNECT.
        let mut h = H2b::new(false, 16384);
        let key = h.new_stream();
        let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(h.mux_request(key, req, false), req.len());
        let frames = sent(&mut h);
        assert_eq!(frames[1].3[0], (":method".into(), "GET".into()));
    }

    #[test]
    fn garbage_is_a_connection_error() {
        let mut h = H2b::new(false, 16384);
        let id = h.new_stream();
        h.mux_request(id, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        feed(&mut h, b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.state, H2cState::Error);
        assert!(s(&h).fail.is_some());
    }

    /// A response of `body` (with a `content-length`) on stream `id`,
    /// one HPACK encoder for the whole connection as a server has.
    fn response_on(enc: &mut HEnc, id: u32, status: &[u8], body: &[u8], out: &mut Vec<u8>) {
        let len = body.len().to_string();
        let mut block = Vec::new();
        enc.encode(
            [
                Field::new(b":status", status),
                Field::new(b"content-length", len.as_bytes()),
            ],
            &mut block,
        );
        encode_field_block(id, &block, body.is_empty(), 16384, out);
        if !body.is_empty() {
            data_frame(id, true, body, out);
        }
    }

    /// A connection with two streams whose requests (GET, no body) went;
    /// their wire ids.
    fn two_streams() -> (H2b, u32, u32) {
        let mut h = H2b::new(false, 16384);
        let (a, b) = (h.new_stream(), h.new_stream());
        h.mux_request(a, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", false);
        h.mux_request(b, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n", false);
        let id = |k| h.by_key_ref(k).unwrap().id;
        let (a, b) = (id(a), id(b));
        (h, a, b)
    }

    /// The wire id of the stream of `key`.
    fn wire(h: &H2b, key: u32) -> u32 {
        h.by_key_ref(key).unwrap().id
    }

    #[test]
    fn ids_are_given_when_headers_go() {
        // Stream `a` is created first but its request comes second: the
        // ids still rise on the wire.
        let mut h = H2b::new(false, 16384);
        let (a, b) = (h.new_stream(), h.new_stream());
        assert_eq!((wire(&h, a), wire(&h, b)), (0, 0));
        h.mux_request(b, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n", false);
        h.mux_request(a, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", false);
        assert_eq!((wire(&h, a), wire(&h, b)), (3, 1));
        assert_eq!(h.max_id, 3);
        // The frames on the wire: HEADERS 1 then HEADERS 3.
        let tx = h.tx_pending().to_vec();
        let mut pos = PREFACE.len();
        let mut ids = Vec::new();
        while pos + 9 <= tx.len() {
            let len = u32::from_be_bytes([0, tx[pos], tx[pos + 1], tx[pos + 2]]) as usize;
            if tx[pos + 3] == 1 {
                ids.push(u32::from_be_bytes([
                    tx[pos + 5],
                    tx[pos + 6],
                    tx[pos + 7],
                    tx[pos + 8],
                ]));
            }
            pos += 9 + len;
        }
        assert_eq!(ids, vec![1, 3]);
    }

    #[test]
    fn stream_slots_follow_the_limits() {
        let mut h = H2b::new(false, 16384);
        h.set_own_limit(10);
        assert_eq!(h.avail_streams(), 10);
        // The server allows 2 at once (below our own limit).
        let mut f = Vec::new();
        Settings {
            max_concurrent_streams: Some(2),
            ..Settings::default()
        }
        .encode(&mut f);
        feed(&mut h, &f);
        assert_eq!(h.streams_limit(), 2);
        let sid = |n| Id::<Stream>::for_test(n);
        let a = h.attach(sid(1));
        assert_eq!(h.avail_streams(), 1);
        let _b = h.attach(sid(2));
        assert_eq!(h.avail_streams(), 0);
        // A stream that ends frees its slot; an unfinished one detached
        // is reset with CANCEL.
        h.mux_request(a, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", false);
        h.sent(h.tx_pending().len());
        h.detach(sid(1));
        assert_eq!(h.avail_streams(), 1);
        let mut rst = Vec::new();
        Frame::RstStream {
            stream_id: 1,
            code: ErrorCode::CANCEL,
        }
        .encode(&mut rst);
        assert_eq!(h.tx_pending(), &rst[..]);
        // Frames for the stream that left are ignored, not an error.
        let mut f = Vec::new();
        let mut enc = HEnc::default();
        response_on(&mut enc, 1, b"200", b"late", &mut f);
        feed(&mut h, &f);
        assert_eq!(h.state, H2cState::Frames);
        // Our own limit caps a larger server limit.
        let mut h = H2b::new(false, 16384);
        h.set_own_limit(3);
        let mut f = Vec::new();
        Settings {
            max_concurrent_streams: Some(1000),
            ..Settings::default()
        }
        .encode(&mut f);
        feed(&mut h, &f);
        assert_eq!(h.avail_streams(), 3);
    }

    #[test]
    fn goaway_takes_no_more_streams() {
        let (mut h, a, _b) = two_streams();
        assert!(h.avail_streams() > 0);
        let mut f = Vec::new();
        Settings::default().encode(&mut f);
        // Even a graceful GOAWAY (2^31-1) stops new streams (§6.8).
        Frame::GoAway {
            last_stream_id: (1 << 31) - 1,
            code: ErrorCode::NO_ERROR,
            debug: &[],
        }
        .encode(&mut f);
        feed(&mut h, &f);
        assert!(h.avail_streams() == 0 && !h.takes_new_streams());
        let mut f = Vec::new();
        Frame::GoAway {
            last_stream_id: a,
            code: ErrorCode::NO_ERROR,
            debug: &[],
        }
        .encode(&mut f);
        feed(&mut h, &f);
        assert_eq!(h.avail_streams(), 0);
    }

    #[test]
    fn several_streams_on_one_connection() {
        // The table holds several streams: ids in creation order, each
        // response demuxed to its own stream, interleaved.
        let (mut h, a, b) = two_streams();
        assert_eq!((a, b), (1, 3));
        assert_eq!(h.max_id, 3);
        let mut f = Vec::new();
        Settings::default().encode(&mut f);
        let mut enc = HEnc::default();
        response_on(&mut enc, b, b"404", b"bee", &mut f);
        response_on(&mut enc, a, b"200", b"ay", &mut f);
        feed(&mut h, &f);
        let text = |id| String::from_utf8(h.by_id_ref(id).unwrap().rxbuf.clone()).unwrap();
        assert_eq!(text(a), "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nay");
        assert_eq!(
            text(b),
            "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nbee"
        );
        assert!(h.streams.iter().all(|s| s.fail.is_none()));
    }

    #[test]
    fn goaway_fails_only_the_streams_it_did_not_process() {
        let (mut h, a, b) = two_streams();
        let mut f = Vec::new();
        Settings::default().encode(&mut f);
        Frame::GoAway {
            last_stream_id: a,
            code: ErrorCode::NO_ERROR,
            debug: &[],
        }
        .encode(&mut f);
        let mut enc = HEnc::default();
        response_on(&mut enc, a, b"200", b"ok", &mut f);
        feed(&mut h, &f);
        assert!(h.peer_goaway);
        assert_eq!(h.by_id_ref(a).unwrap().fail, None);
        assert!(h.by_id_ref(a).unwrap().rxbuf.ends_with(b"\r\n\r\nok"));
        assert_eq!(
            h.by_id_ref(b).unwrap().fail,
            Some(H2bFail::GoAway(ErrorCode::NO_ERROR))
        );
        // A reset of one stream leaves the other alone.
        let (mut h, a, b) = two_streams();
        let mut f = Vec::new();
        Settings::default().encode(&mut f);
        Frame::RstStream {
            stream_id: b,
            code: ErrorCode::REFUSED_STREAM,
        }
        .encode(&mut f);
        feed(&mut h, &f);
        assert_eq!(h.by_id_ref(a).unwrap().fail, None);
        assert_eq!(
            h.by_id_ref(b).unwrap().fail,
            Some(H2bFail::Reset(ErrorCode::REFUSED_STREAM))
        );
    }
}

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
    is_conn_specific, parse_clen, put_field, valid_field, BodyStep, H2Conn, H2Tune, H2cState,
    RxFlow, Side, TxBody,
};
use crate::arena::Id;
use crate::http::h1::{self, ChunkedDecoder, Method};
use crate::http::h2::frame::{check_preface, ErrorCode, H2Error, Role, Status};
use crate::http::h2::hpack::{Field, HeaderList};
use crate::http::h2::window::Window;
use crate::stream::Stream;

/// Limits of one connection (`tune.h2.*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Limits {
    /// `tune.h2.fe.max-concurrent-streams`, else
    /// `tune.h2.max-concurrent-streams` (default 100; 0: unlimited, not
    /// announced, as HAProxy).
    pub max_concurrent_streams: u32,
    /// Our SETTINGS (`tune.h2.header-table-size`,
    /// `tune.h2.[fe.]initial-window-size`, `tune.h2.max-frame-size`).
    pub tune: H2Tune,
    /// Decoded header list bound (RFC 9113 §6.5.2 counting): `tune.bufsize`.
    pub max_header_list: usize,
    /// `tune.h2.fe.glitches-threshold` (0: no threshold, HAProxy's
    /// default).
    pub glitches_threshold: u32,
    /// `tune.h2.fe.max-total-streams` (0: no limit, HAProxy's default).
    pub max_total_streams: u32,
}

impl Default for H2Limits {
    fn default() -> Self {
        H2Limits {
            max_concurrent_streams: 100,
            tune: H2Tune::default(),
            max_header_list: 16 * 1024,
            glitches_threshold: 0,
            max_total_streams: 0,
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
    /// The response to a `HEAD` whose body the engine drops (the server
    /// was sent another method): END_STREAM goes once the engine is done
    /// with it (shut or detach), not with the HEADERS.
    Skipped,
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
    /// An extended CONNECT (RFC 8441, `:protocol`), written as an HTTP/1.1
    /// `GET` with `Upgrade` (`H2_SF_EXT_CONNECT_RCVD`): its 101 goes back
    /// as a 200, then the stream is a tunnel.
    ext_connect: bool,
    /// Where the `Sec-WebSocket-Key` the mux adds to an extended CONNECT
    /// that has none stands in `rxbuf` (24 placeholder bytes), until the
    /// glue draws it when it creates the engine stream (HAProxy's H1 mux
    /// generates it as it writes the request: `h1_generate_random_ws_input_key`).
    pub ws_key_at: Option<usize>,
    /// That key once drawn: the server's `Sec-WebSocket-Accept` must
    /// match it (`h1s->ws_key`, checked by `h1_search_websocket_key`).
    pub ws_key: Option<[u8; 24]>,
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
    fn new(id: u32, sws: u32, rx: RxFlow) -> H2s {
        H2s {
            id,
            sid: None,
            need_stream: false,
            rxbuf: Vec::new(),
            rx,
            sws: Window::new(id, sws),
            req: ReqBody::None,
            req_done: false,
            res: ResSt::Head,
            res_shut: false,
            reset: false,
            is_head: false,
            is_connect: false,
            ext_connect: false,
            ws_key_at: None,
            ws_key: None,
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
        // Mutant: the credit goes to the newest stream, whichever the
        // WINDOW_UPDATE named.
        #[cfg(feature = "mutants")]
        let id = if h.mutant_is(crate::mutants::Mutant::H2WindowUpdateWrongStream) {
            h.max_id
        } else {
            id
        };
        if let Some(s) = h.streams.get_mut(&id) {
            s.sws.increase(increment)?;
        }
        Ok(())
    }

    fn rst_stream(h: &mut H2c, id: u32, _code: ErrorCode) -> Result<(), H2Error> {
        let Some(s) = h.streams.get_mut(&id) else {
            return Ok(());
        };
        // Reset before its response started: the work of a stream that
        // nobody waits for (rapid reset, CVE-2023-44487; HAProxy's
        // "received early RST_STREAM, attack suspected").
        let early = !s.reset && matches!(s.res, ResSt::Head);
        s.mark_reset();
        if early {
            h.report_glitch(1)?;
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
        if flow_len == 0 && !end_stream {
            // An empty DATA frame moves nothing: a flood of them is work
            // for nothing.
            h.report_glitch(1)?;
            let Some(s) = h.streams.get_mut(&id) else {
                return Ok(());
            };
            if s.reset {
                return Ok(());
            }
        }
        let slack = h.rx_slack();
        #[cfg(feature = "mutants")]
        let forward_reset = h.mutant_is(crate::mutants::Mutant::H2ResetDataForwarded);
        #[cfg(not(feature = "mutants"))]
        let forward_reset = false;
        let Some(s) = h.streams.get_mut(&id) else {
            return Ok(());
        };
        if s.reset && !forward_reset {
            return Ok(());
        }
        s.rx.recv(id, data, flow_len, end_stream, slack)?;
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
        let max_total = u64::from(h.side.limits.max_total_streams);
        let hard = u64::from(h.side.limits.max_concurrent_streams);
        if max_total > 0 && h.nb_streams_total >= max_total + hard {
            // Told to go away long ago and still opening streams.
            h.report_glitch(1)?;
            return Err(H2Error::Connection {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                reason: "stream limit violated",
            });
        }
        if h.state != H2cState::Frames && h.last_sid.is_none_or(|l| id > l) {
            // Draining: streams after our GOAWAY are not processed.
            h.rst(id, ErrorCode::REFUSED_STREAM);
            return Ok(());
        }
        let mcs = h.side.limits.max_concurrent_streams;
        if mcs != 0 && h.active_streams() >= mcs as usize {
            h.rst(id, ErrorCode::REFUSED_STREAM);
            return h.report_glitch(1);
        }
        h.nb_streams_total += 1;
        if max_total > 0 && h.nb_streams_total >= max_total {
            // Enough streams on this connection (`tune.h2.fe.max-total-streams`):
            // a graceful GOAWAY that still admits the streams the client
            // may have in flight (twice the concurrent limit in ids).
            let last = id.saturating_add(2 * h.side.limits.max_concurrent_streams);
            h.graceful_goaway(last);
        }
        if too_large {
            h.report_glitch(1)?;
            // Headers too large: 431 from the mux, the request goes no
            // further (RFC 9113 §10.5.1).
            h.send_fields(id, [Field::new(b":status", b"431")], true);
            if !es {
                h.rst(id, ErrorCode::NO_ERROR);
            }
            return Ok(());
        }
        let mut s = H2s::new(id, h.peer.initial_window_size, h.rx_flow());
        match make_request(&h.hlist, es, &mut s.rxbuf) {
            Ok(info) if info.ext_connect && h.ours.no_ext_connect => {
                // Not offered (`h2-workaround-bogus-websocket-clients`):
                // HAProxy's `h2_make_htx_request` refuses it.
                h.streams.insert(id, s);
                Err(H2Error::Stream {
                    stream_id: id,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "extended CONNECT not offered",
                })
            }
            Ok(info) => {
                s.req = info.body;
                s.rx.clen_left = info.clen;
                s.is_head = info.head;
                s.is_connect = info.connect;
                s.ext_connect = info.ext_connect;
                s.ws_key_at = info.ws_key_at;
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
            limits.tune,
        );
        h.glitches_threshold = limits.glitches_threshold;
        h.streams_hard_limit = limits.max_concurrent_streams;
        // RFC 8441 §3: extended CONNECT is offered, as HAProxy 2.4+ does
        // unless `h2-workaround-bogus-websocket-clients`.
        h.send_settings(false, true, limits.max_concurrent_streams);
        h
    }

    /// An active reverse connection (`bind rhttp@`, HAProxy's preconnect
    /// in `proto_rhttp.c`): Sluice opened the TCP connection, so it sends
    /// the client preface and its SETTINGS first, as the backend mux does
    /// before HAProxy reverses it (`h2_conn_reverse`), and then serves the
    /// requests the peer (the public node) sends on odd streams. New
    /// streams are held ([`H2Conn::hold_new_streams`], HAProxy's
    /// `H2_CF_DEM_TOOMANY` while `conn_reverse_in_preconnect`) until the
    /// listener accepts the connection: no session may see a request
    /// before it exists.
    pub fn new_reverse_active(limits: H2Limits) -> H2c {
        let mut h = H2Conn::with_side(
            H2cState::Frames,
            Front { limits },
            BTreeMap::new(),
            limits.max_header_list,
            limits.tune,
        );
        h.glitches_threshold = limits.glitches_threshold;
        h.streams_hard_limit = limits.max_concurrent_streams;
        h.tx.extend_from_slice(crate::http::h2::frame::PREFACE);
        // Sluice opened the connection: it speaks as a client first (no
        // push), as HAProxy's backend mux before the reversal.
        h.send_settings(true, true, limits.max_concurrent_streams);
        h.hold_new_streams = true;
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
        if code == ErrorCode::NO_ERROR {
            // Lowers what an earlier graceful GOAWAY allowed, if any.
            return self.graceful_goaway(self.max_id);
        }
        self.send_goaway(self.max_id, code);
        self.state = H2cState::Error;
        for s in self.streams.values_mut() {
            s.reset = true;
            s.res = ResSt::Done;
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
        // After END_STREAM too, as HAProxy 2.6 does (its `rcvd_s` is
        // sent back for a stream whatever its state: VTest's reg-tests
        // wait for that WINDOW_UPDATE); RFC 9113 §6.9 lets the peer
        // receive it on a half-closed stream.
        let credit = !s.reset;
        let mut rxbuf = std::mem::take(&mut s.rxbuf);
        let mut rx = std::mem::replace(&mut s.rx, RxFlow::new(0));
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
        self.mux_output_opts(id, out, false, false)
    }

    /// [`H2c::mux_output`]; `synth_clen`: the response head's
    /// `content-length: 0` was added by the server-side HTTP/2 mux (see
    /// `TxnFlags::RES_SYNTH_CLEN`) and does not go out: the HEADERS ends
    /// the stream without it, as the server sent it (a gRPC trailers-only
    /// response keeps exactly its fields). `skipped_body`: the request
    /// was a `HEAD` but the server was sent another method, and the engine
    /// drops the body it sends (`TxnFlags::SKIP_RES_BODY`): the stream
    /// ends when the engine shuts the response, not with the HEADERS, so
    /// that the next request waits until the server connection is free
    /// again (HAProxy sends END_STREAM at the end of the message it drops).
    pub fn mux_output_opts(
        &mut self,
        id: u32,
        out: &[u8],
        synth_clen: bool,
        skipped_body: bool,
    ) -> usize {
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
                ResSt::Skipped => {
                    if s.res_shut {
                        super::data_frame(&mut self.tx, id, &[], true);
                        s.res = ResSt::Done;
                    }
                    return out.len();
                }
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
                    // The switched protocol: until the engine shuts it.
                    let body = if head.status == 101 && s.ext_connect {
                        h1::BodyLen::Tunnel
                    } else {
                        body
                    };
                    let mut head = head;
                    if head.status == 101 {
                        if !s.ext_connect {
                            // No upgrade in HTTP/2 (RFC 9113 §8.6).
                            Front::stream_error(self, id, ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                        // RFC 8441 §5: the extended CONNECT succeeded; a
                        // 200 says so, then DATA both ways.
                        head.status = 200;
                        s.ext_connect = false;
                    }
                    let end = !head.is_interim() && body == h1::BodyLen::None && !skipped_body;
                    s.res = if head.is_interim() {
                        ResSt::Head
                    } else if skipped_body {
                        ResSt::Skipped
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
                            .filter(|((_, v), n)| {
                                !(synth_clen
                                    && end
                                    && n.as_slice() == b"content-length"
                                    && *v == b"0")
                            })
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
            if matches!(s.res, ResSt::UntilClose | ResSt::Skipped) && self.state != H2cState::Error
            {
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
            let ended = matches!(s.res, ResSt::Skipped)
                || (s.res_shut && matches!(s.res, ResSt::UntilClose));
            if ended {
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
    ext_connect: bool,
    ws_key_at: Option<usize>,
    scheme: Option<Scheme>,
}

/// Length of a `Sec-WebSocket-Key` (16 bytes in base64, RFC 6455 §4.1).
pub const WS_KEY_LEN: usize = 24;

/// Writes the HTTP/1.1 form of a request's decoded header list
/// (`h2_make_htx_request` then `h1_format_htx_reqline` in HAProxy 2.x).
fn make_request(
    list: &HeaderList,
    end_stream: bool,
    out: &mut Vec<u8>,
) -> Result<ReqInfo, &'static str> {
    let (mut method, mut scheme, mut authority, mut path) = (None, None, None, None);
    let mut protocol = None;
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
                b"protocol" => &mut protocol,
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
    // RFC 8441 §4: `:protocol` makes a CONNECT an extended one, which
    // carries `:scheme` and `:path` as any request (HAProxy's
    // `H2_MSGF_EXT_CONNECT`); it becomes an HTTP/1.1 `GET` with `Upgrade`.
    let ext_connect = method == b"CONNECT" && protocol.is_some();
    if protocol.is_some() && !ext_connect {
        return Err(":protocol without CONNECT");
    }
    if let Some(p) = protocol {
        if p.is_empty() || p.eq_ignore_ascii_case(b"h2") || p.eq_ignore_ascii_case(b"h2c") {
            return Err("invalid :protocol");
        }
        if authority.is_none() {
            return Err("extended CONNECT without :authority");
        }
    }
    let connect = method == b"CONNECT" && !ext_connect;
    let method: &[u8] = if ext_connect { b"GET" } else { method };
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
                ext_connect: false,
                ws_key_at: None,
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
    // HAProxy writes `host` at the first regular field, else after the
    // fields it adds (an extended CONNECT's `upgrade`, `connection`).
    let host_first = list.iter().any(|f| f.name.first() != Some(&b':'));
    if let (true, Some(a)) = (host_first, authority) {
        put_field(out, b"host", a);
    }
    let mut clen: Option<u64> = None;
    let mut cookies: Vec<&[u8]> = Vec::new();
    let mut ws_key = false;
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
            b"sec-websocket-key" => ws_key = true,
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
    let mut ws_key_at = None;
    if let Some(p) = protocol {
        put_field(out, b"upgrade", p);
        put_field(out, b"connection", b"upgrade");
    }
    if let (false, Some(a)) = (host_first, authority) {
        put_field(out, b"host", a);
    }
    if let Some(p) = protocol {
        if p.eq_ignore_ascii_case(b"websocket") && !ws_key {
            // Drawn by the glue (the mux has no randomness of its own).
            out.extend_from_slice(b"sec-websocket-key: ");
            ws_key_at = Some(out.len());
            out.extend_from_slice(&[b'A'; WS_KEY_LEN]);
            out.extend_from_slice(b"\r\n");
        }
    }
    let body = if end_stream {
        ReqBody::None
    } else if clen.is_some() || connect || ext_connect {
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
        ext_connect,
        ws_key_at,
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
    fn an_extended_connect_becomes_a_get_with_upgrade() {
        let ext = |extra: &[(&'static str, &'static str)]| {
            let mut f = vec![
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "https"),
                (":authority", "h:443"),
                (":path", "/chat?x"),
            ];
            f.extend_from_slice(extra);
            convert(&f)
        };
        let (head, info) = ext(&[("origin", "o")]).unwrap();
        let at = info.ws_key_at.expect("a key to draw");
        assert_eq!(
            head,
            format!(
                "GET /chat?x HTTP/1.1\r\nhost: h\r\norigin: o\r\nupgrade: websocket\r\n\
                 connection: upgrade\r\nsec-websocket-key: {}\r\n\r\n",
                "A".repeat(WS_KEY_LEN)
            )
        );
        assert_eq!(&head[at..at + WS_KEY_LEN], "A".repeat(WS_KEY_LEN));
        assert!(info.ext_connect && !info.connect);
        assert_eq!(info.scheme, Some(Scheme::Https));
        // The client's own key is kept; no other protocol gets one.
        let (head, info) = ext(&[("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")]).unwrap();
        assert_eq!(info.ws_key_at, None);
        assert_eq!(head.matches("sec-websocket-key").count(), 1);
        let (head, info) = convert(&[
            (":method", "CONNECT"),
            (":protocol", "custom"),
            (":scheme", "http"),
            (":authority", "h"),
            (":path", "/"),
        ])
        .unwrap();
        assert_eq!(info.ws_key_at, None);
        assert!(
            head.contains("upgrade: custom\r\nconnection: upgrade\r\n"),
            "{head}"
        );
        // RFC 8441 §4 / HAProxy: what is refused.
        for (bad, why) in [
            (
                vec![
                    (":method", "GET"),
                    (":protocol", "websocket"),
                    (":scheme", "http"),
                    (":authority", "h"),
                    (":path", "/"),
                ],
                ":protocol without CONNECT",
            ),
            (
                vec![
                    (":method", "CONNECT"),
                    (":protocol", "h2c"),
                    (":scheme", "http"),
                    (":authority", "h"),
                    (":path", "/"),
                ],
                "invalid :protocol",
            ),
            (
                vec![
                    (":method", "CONNECT"),
                    (":protocol", "websocket"),
                    (":scheme", "http"),
                    (":path", "/"),
                ],
                "extended CONNECT without :authority",
            ),
            (
                vec![
                    (":method", "CONNECT"),
                    (":protocol", "websocket"),
                    (":authority", "h"),
                    (":path", "/"),
                ],
                "missing :scheme",
            ),
        ] {
            assert_eq!(convert(&bad).err(), Some(why));
        }
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

/// Flood defences (issue 16 item 5): raw frames built by hand are fed to
/// the mux; what it answers is decoded back. Each attack is checked
/// against a flooding connection and a well-behaved one beside it.
#[cfg(test)]
mod flood_tests {
    use super::*;
    use crate::http::h2::frame::Settings;
    use crate::http::h2::frame::{Frame, FrameDecoder, PREFACE};
    use crate::http::h2::hpack::Encoder;

    /// What the mux sent, in short.
    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Settings(bool),
        Ping,
        Headers { id: u32, end: bool },
        Data { id: u32, end: bool },
        Rst { id: u32, code: u32 },
        GoAway { last: u32, code: u32 },
        Wu,
        Other,
    }

    fn limits(glitches: u32) -> H2Limits {
        H2Limits {
            glitches_threshold: glitches,
            ..H2Limits::default()
        }
    }

    /// A connection past the preface and SETTINGS exchange, its output
    /// drained.
    fn open(l: H2Limits) -> H2c {
        let mut h = H2c::new(l);
        let mut b = PREFACE.to_vec();
        Settings::default().encode(&mut b);
        feed(&mut h, &b);
        take(&mut h);
        assert_eq!(h.state, H2cState::Frames);
        h
    }

    /// Feeds `bytes` to the mux as the socket would (while it reads).
    fn feed(h: &mut H2c, mut bytes: &[u8]) {
        while !bytes.is_empty() && h.want_read() {
            let spare = h.rx_spare();
            let n = spare.len().min(bytes.len());
            spare[..n].copy_from_slice(&bytes[..n]);
            h.received(n);
            bytes = &bytes[n..];
            h.demux();
        }
    }

    /// Decodes and drains what the mux queued.
    fn take(h: &mut H2c) -> Vec<Got> {
        // A client decoder expects SETTINGS first: one is put before.
        let mut tx = Vec::new();
        Settings::default().encode(&mut tx);
        let first = tx.len();
        tx.extend_from_slice(h.tx_pending());
        h.sent(tx.len() - first);
        let mut dec = FrameDecoder::new(Role::Client);
        let mut pos = 0;
        let mut out = Vec::new();
        while let Status::Complete((f, n)) = dec.decode(&tx[pos..]) {
            pos += n;
            out.push(match f.expect("the mux sends valid frames") {
                Frame::Settings { ack, .. } => Got::Settings(ack),
                Frame::Ping { .. } => Got::Ping,
                Frame::Headers {
                    stream_id,
                    end_stream,
                    ..
                } => Got::Headers {
                    id: stream_id,
                    end: end_stream,
                },
                Frame::Data {
                    stream_id,
                    end_stream,
                    ..
                } => Got::Data {
                    id: stream_id,
                    end: end_stream,
                },
                Frame::RstStream { stream_id, code } => Got::Rst {
                    id: stream_id,
                    code: code.0,
                },
                Frame::GoAway {
                    last_stream_id,
                    code,
                    ..
                } => Got::GoAway {
                    last: last_stream_id,
                    code: code.0,
                },
                Frame::WindowUpdate { .. } => Got::Wu,
                _ => Got::Other,
            });
        }
        assert_eq!(pos, tx.len());
        out.remove(0);
        out
    }

    fn goaways(got: &[Got]) -> Vec<(u32, u32)> {
        got.iter()
            .filter_map(|g| match g {
                Got::GoAway { last, code } => Some((*last, *code)),
                _ => None,
            })
            .collect()
    }

    const CALM: u32 = ErrorCode::ENHANCE_YOUR_CALM.0;

    fn get_block(enc: &mut Encoder) -> Vec<u8> {
        let mut block = Vec::new();
        enc.encode(
            [
                Field::new(b":method", b"GET"),
                Field::new(b":scheme", b"http"),
                Field::new(b":path", b"/"),
                Field::new(b":authority", b"x"),
            ],
            &mut block,
        );
        block
    }

    fn headers(enc: &mut Encoder, id: u32, end_stream: bool, out: &mut Vec<u8>) {
        let block = get_block(enc);
        Frame::Headers {
            stream_id: id,
            end_stream,
            end_headers: true,
            priority: None,
            fragment: &block,
            pad_len: None,
            error: None,
        }
        .encode(out);
    }

    fn rst(id: u32, out: &mut Vec<u8>) {
        Frame::RstStream {
            stream_id: id,
            code: ErrorCode::CANCEL,
        }
        .encode(out);
    }

    /// A well-behaved client: `n` requests one after the other, each
    /// answered and detached; nothing counts as a glitch.
    fn serve_well(h: &mut H2c, enc: &mut Encoder, first_id: u32, n: u32) {
        for i in 0..n {
            let id = first_id + 2 * i;
            let mut b = Vec::new();
            headers(enc, id, true, &mut b);
            feed(h, &b);
            assert!(h.streams.get(&id).is_some_and(|s| s.need_stream));
            let res = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            assert_eq!(h.mux_output(id, res), res.len());
            h.detach(id);
            let got = take(h);
            assert!(got.contains(&Got::Data { id, end: true }), "{got:?}");
        }
        assert_eq!(h.state, H2cState::Frames);
    }

    #[test]
    fn rapid_reset_is_killed_at_the_glitches_threshold() {
        let mut bad = open(limits(100));
        let mut good = open(limits(100));
        let mut enc = Encoder::default();
        let mut genc = Encoder::default();
        let mut b = Vec::new();
        for i in 0..200u32 {
            headers(&mut enc, 1 + 2 * i, false, &mut b);
            rst(1 + 2 * i, &mut b);
        }
        feed(&mut bad, &b);
        let got = take(&mut bad);
        // 75%: a graceful GOAWAY past the streams in flight; 100%: calm.
        assert_eq!(
            goaways(&got),
            vec![(2 * 74 + 1 + 200, 0), (2 * 99 + 1, CALM)],
            "{got:?}"
        );
        assert_eq!(bad.glitches, 100);
        assert!(bad.glitch_killed);
        assert_eq!(bad.state, H2cState::Error);
        assert!(bad.should_close());
        assert!(!bad.want_read());
        // The same client, cancelling requests it got answers to, is
        // served as long as it likes.
        serve_well(&mut good, &mut genc, 1, 150);
        let mut b = Vec::new();
        for id in (301..501).step_by(2) {
            headers(&mut genc, id, true, &mut b);
            feed(&mut good, &b);
            b.clear();
            let res = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\npart";
            good.mux_output(id, res);
            rst(id, &mut b);
            feed(&mut good, &b);
            b.clear();
            good.detach(id);
        }
        assert_eq!(good.glitches, 0);
        assert!(goaways(&take(&mut good)).is_empty());
    }

    /// `h2-workaround-bogus-websocket-clients`: SETTINGS without
    /// ENABLE_CONNECT_PROTOCOL, and an extended CONNECT is reset
    /// (PROTOCOL_ERROR) while the connection goes on.
    #[test]
    fn the_websocket_workaround_offers_no_extended_connect() {
        let settings_ids = |h: &H2c| -> Vec<u16> {
            let tx = h.tx_pending();
            let len = usize::from(tx[1]) << 8 | usize::from(tx[2]);
            assert_eq!(tx[3], 4, "SETTINGS first");
            tx[9..9 + len]
                .chunks(6)
                .map(|p| u16::from(p[0]) << 8 | u16::from(p[1]))
                .collect()
        };
        let mut l = limits(0);
        assert!(settings_ids(&H2c::new(l)).contains(&8));
        l.tune.no_ext_connect = true;
        assert!(!settings_ids(&H2c::new(l)).contains(&8));
        let mut h = open(l);
        let mut enc = Encoder::default();
        let mut block = Vec::new();
        enc.encode(
            [
                Field::new(b":method", b"CONNECT"),
                Field::new(b":protocol", b"websocket"),
                Field::new(b":scheme", b"http"),
                Field::new(b":path", b"/"),
                Field::new(b":authority", b"x"),
            ],
            &mut block,
        );
        let mut b = Vec::new();
        Frame::Headers {
            stream_id: 1,
            end_stream: false,
            end_headers: true,
            priority: None,
            fragment: &block,
            pad_len: None,
            error: None,
        }
        .encode(&mut b);
        feed(&mut h, &b);
        let got = take(&mut h);
        assert!(
            got.contains(&Got::Rst {
                id: 1,
                code: ErrorCode::PROTOCOL_ERROR.0
            }),
            "{got:?}"
        );
        assert_eq!(h.state, H2cState::Frames);
        // A plain request is served.
        let mut b = Vec::new();
        headers(&mut enc, 3, true, &mut b);
        feed(&mut h, &b);
        assert!(h.streams.get(&3).is_some_and(|s| !s.reset));
    }

    #[test]
    fn without_a_threshold_glitches_count_and_nothing_is_killed() {
        let mut h = open(limits(0));
        let mut enc = Encoder::default();
        let mut b = Vec::new();
        for i in 0..300u32 {
            headers(&mut enc, 1 + 2 * i, false, &mut b);
            rst(1 + 2 * i, &mut b);
        }
        feed(&mut h, &b);
        h.gc();
        assert_eq!(h.glitches, 300);
        assert_eq!(h.state, H2cState::Frames);
        assert!(goaways(&take(&mut h)).is_empty());
    }

    #[test]
    fn empty_data_frames_are_glitches() {
        let mut h = open(limits(50));
        let mut enc = Encoder::default();
        let mut b = Vec::new();
        headers(&mut enc, 1, false, &mut b);
        for _ in 0..100 {
            super::super::data_frame(&mut b, 1, &[], false);
        }
        feed(&mut h, &b);
        let got = take(&mut h);
        assert_eq!(goaways(&got), vec![(1 + 200, 0), (1, CALM)], "{got:?}");
        assert_eq!(h.glitches, 50);
        // Empty DATA that ends the stream is how bodies end: no glitch.
        let mut good = open(limits(50));
        let mut genc = Encoder::default();
        let mut b = Vec::new();
        for id in (1..200).step_by(2) {
            headers(&mut genc, id, false, &mut b);
            super::super::data_frame(&mut b, id, b"x", false);
            super::super::data_frame(&mut b, id, &[], true);
            feed(&mut good, &b);
            b.clear();
            good.detach(id);
        }
        assert_eq!(good.glitches, 0);
        assert_eq!(good.state, H2cState::Frames);
    }

    /// A field block cut into `frags` CONTINUATION frames of `size` bytes
    /// (the first fragment in HEADERS), padded with a long header.
    fn fragmented(enc: &mut Encoder, id: u32, frags: usize, out: &mut Vec<u8>) {
        let mut block = get_block(enc);
        // A value of its own per stream: the dynamic table cannot shrink it.
        let pad = format!("{id}-").repeat(200);
        enc.encode([Field::new(b"x-pad", pad.as_bytes())], &mut block);
        let size = block.len().div_ceil(frags + 1);
        let mut parts = block.chunks(size);
        let first = parts.next().unwrap();
        let rest: Vec<&[u8]> = parts.collect();
        Frame::Headers {
            stream_id: id,
            end_stream: true,
            end_headers: rest.is_empty(),
            priority: None,
            fragment: first,
            pad_len: None,
            error: None,
        }
        .encode(out);
        for (i, p) in rest.iter().enumerate() {
            Frame::Continuation {
                stream_id: id,
                end_headers: i + 1 == rest.len(),
                fragment: p,
            }
            .encode(out);
        }
    }

    #[test]
    fn tiny_continuation_fragments_are_glitches() {
        let mut h = open(limits(20));
        let mut enc = Encoder::default();
        let mut b = Vec::new();
        // 64 fragments of a few bytes: 5 glitches per block (one per 16
        // CONTINUATION frames, rounded up).
        for id in (1..20).step_by(2) {
            fragmented(&mut enc, id, 64, &mut b);
        }
        feed(&mut h, &b);
        let got = take(&mut h);
        assert_eq!(goaways(&got), vec![(5 + 200, 0), (7, CALM)], "{got:?}");
        assert_eq!(h.glitches, 20);
        // Four fragments, or fragments of 1 kB and more, are fine.
        let mut good = open(limits(20));
        let mut genc = Encoder::default();
        for id in (1..100).step_by(2) {
            let mut b = Vec::new();
            fragmented(&mut genc, id, 3, &mut b);
            feed(&mut good, &b);
            good.detach(id);
        }
        assert_eq!(good.glitches, 0);
        assert_eq!(good.state, H2cState::Frames);
    }

    #[test]
    fn an_endless_continuation_is_a_calm_connection_error() {
        let mut h = open(limits(0));
        let mut enc = Encoder::default();
        let block = get_block(&mut enc);
        let mut b = Vec::new();
        Frame::Headers {
            stream_id: 1,
            end_stream: true,
            end_headers: false,
            priority: None,
            fragment: &block,
            pad_len: None,
            error: None,
        }
        .encode(&mut b);
        for _ in 0..100_000 {
            Frame::Continuation {
                stream_id: 1,
                end_headers: false,
                fragment: b"",
            }
            .encode(&mut b);
        }
        feed(&mut h, &b);
        let got = take(&mut h);
        assert_eq!(goaways(&got), vec![(0, CALM)], "{got:?}");
        assert_eq!(h.state, H2cState::Error);
    }

    #[test]
    fn a_ping_or_settings_flood_is_bounded_and_counted() {
        for settings in [false, true] {
            let flood = |n: usize| {
                let mut b = Vec::new();
                for _ in 0..n {
                    if settings {
                        Settings::default().encode(&mut b);
                    } else {
                        Frame::Ping {
                            ack: false,
                            data: *b"flooding",
                        }
                        .encode(&mut b);
                    }
                }
                b
            };
            // Without a threshold, a client that does not read the
            // answers stops being read: what is queued stays bounded.
            let mut h = open(limits(0));
            feed(&mut h, &flood(100_000));
            assert!(!h.want_read());
            let queued = h.tx_pending().len();
            assert!(
                queued < super::super::TX_READ_STOP + super::super::RX_CAP,
                "{queued}"
            );
            assert!(h.glitches > 1000, "{}", h.glitches);
            // With one, the flood is killed.
            let mut h = open(limits(1000));
            feed(&mut h, &flood(100_000));
            let got = take(&mut h);
            assert_eq!(goaways(&got), vec![(200, 0), (0, CALM)]);
            assert_eq!(h.state, H2cState::Error);
            // A client that reads its answers may ping all day.
            let mut good = open(limits(10));
            for _ in 0..1000 {
                feed(&mut good, &flood(50));
                let got = take(&mut good);
                assert_eq!(got.len(), 50);
            }
            assert_eq!(good.glitches, 0);
        }
    }

    #[test]
    fn a_zero_window_update_on_a_stream_is_a_glitch() {
        let mut h = open(limits(3));
        let mut enc = Encoder::default();
        let mut b = Vec::new();
        for id in [1, 3, 5] {
            headers(&mut enc, id, false, &mut b);
            b.extend_from_slice(&[0, 0, 4, 8, 0, 0, 0, 0, id as u8, 0, 0, 0, 0]);
        }
        feed(&mut h, &b);
        let got = take(&mut h);
        assert!(got.contains(&Got::Rst {
            id: 1,
            code: ErrorCode::PROTOCOL_ERROR.0
        }));
        assert_eq!(goaways(&got), vec![(3 + 200, 0), (5, CALM)], "{got:?}");
    }

    #[test]
    fn max_total_streams_sends_a_graceful_goaway() {
        let l = H2Limits {
            max_concurrent_streams: 2,
            max_total_streams: 3,
            ..H2Limits::default()
        };
        let mut h = open(l);
        let mut enc = Encoder::default();
        // Three streams, then a GOAWAY(NO_ERROR) that still admits the two
        // the client may have in flight (ids up to 5 + 2 * 2).
        serve_well(&mut h, &mut enc, 1, 2);
        let mut b = Vec::new();
        headers(&mut enc, 5, true, &mut b);
        feed(&mut h, &b);
        let got = take(&mut h);
        assert_eq!(goaways(&got), vec![(9, 0)], "{got:?}");
        assert_eq!(h.state, H2cState::Closing);
        h.detach(5);
        take(&mut h);
        assert!(h.should_close());
        // A client that goes on within the limit is served; beyond it,
        // refused; opening still more is the connection error.
        let mut b = Vec::new();
        headers(&mut enc, 7, true, &mut b);
        headers(&mut enc, 9, true, &mut b);
        feed(&mut h, &b);
        assert!(h.streams.contains_key(&7) && h.streams.contains_key(&9));
        h.detach(7);
        h.detach(9);
        take(&mut h);
        let mut b = Vec::new();
        headers(&mut enc, 11, true, &mut b);
        feed(&mut h, &b);
        let got = take(&mut h);
        assert_eq!(goaways(&got), vec![(11, CALM)], "{got:?}");
        assert_eq!(h.nb_streams_total, 5);
        // Without the limit, the connection lives on.
        let mut good = open(H2Limits {
            max_concurrent_streams: 2,
            ..H2Limits::default()
        });
        serve_well(&mut good, &mut Encoder::default(), 1, 50);
    }

    /// HPACK bomb: one large field indexed once, then referenced again
    /// and again (a byte each) decodes to far more than the bound: the
    /// stream is answered 431, the connection goes on.
    #[test]
    fn an_hpack_bomb_is_answered_431() {
        let mut h = open(limits(0));
        let mut enc = Encoder::default();
        let mut block = get_block(&mut enc);
        // Literal with incremental indexing, new name (RFC 7541 §6.2.1).
        block.push(0x40);
        block.push(5);
        block.extend_from_slice(b"x-big");
        // Value length 4000: 0x7f then 4000 - 127 in 7-bit groups.
        let mut v = 4000 - 127;
        block.push(0x7f);
        while v >= 128 {
            block.push((v % 128) as u8 | 0x80);
            v /= 128;
        }
        block.push(v as u8);
        block.extend(std::iter::repeat_n(b'b', 4000));
        // The dynamic table's newest entry is index 62.
        block.extend(std::iter::repeat_n(0x80 | 62, 1000));
        let mut b = Vec::new();
        Frame::Headers {
            stream_id: 1,
            end_stream: true,
            end_headers: true,
            priority: None,
            fragment: &block,
            pad_len: None,
            error: None,
        }
        .encode(&mut b);
        feed(&mut h, &b);
        let got = take(&mut h);
        assert!(got.contains(&Got::Headers { id: 1, end: true }), "{got:?}");
        assert!(!h.streams.contains_key(&1));
        assert_eq!(h.glitches, 1);
        assert_eq!(h.state, H2cState::Frames);
        serve_well(&mut h, &mut enc, 3, 10);
    }

    /// `tune.h2.initial-window-size` below 65535 is announced, and
    /// enforced once the client acknowledged it; before, the client may
    /// still count with the RFC's 65535 (§6.9.2).
    #[test]
    fn a_small_initial_window_is_enforced_once_acknowledged() {
        let l = H2Limits {
            tune: H2Tune {
                initial_window_size: 1000,
                ..H2Tune::default()
            },
            ..H2Limits::default()
        };
        let mut h = H2c::new(l);
        assert_eq!(
            h.tx_pending(),
            [
                0, 0, 18, 4, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 1, 0, 4, 0, 0, 3, 0xe8, 0, 3, 0, 0, 0,
                100
            ]
        );
        let mut b = PREFACE.to_vec();
        Settings::default().encode(&mut b);
        feed(&mut h, &b);
        take(&mut h);
        let data = |id: u32, out: &mut Vec<u8>| {
            Frame::Data {
                stream_id: id,
                end_stream: false,
                data: &[b'x'; 2000],
                pad_len: None,
                flow_len: 2000,
            }
            .encode(out)
        };
        let mut enc = Encoder::default();
        let mut b = Vec::new();
        headers(&mut enc, 1, false, &mut b);
        data(1, &mut b);
        feed(&mut h, &b);
        assert!(!take(&mut h).iter().any(|g| matches!(g, Got::Rst { .. })));
        assert!(!h.settings_acked);
        // The ACK: from now on 1000 bytes per stream.
        let mut b = vec![0, 0, 0, 4, 1, 0, 0, 0, 0];
        headers(&mut enc, 3, false, &mut b);
        data(3, &mut b);
        feed(&mut h, &b);
        assert!(h.settings_acked);
        assert_eq!(
            take(&mut h),
            [Got::Rst {
                id: 3,
                code: ErrorCode::FLOW_CONTROL_ERROR.0
            }]
        );
    }

    /// The SETTINGS ACK timer runs from the first time it is asked for and
    /// stops with the ACK; past it, GOAWAY(SETTINGS_TIMEOUT).
    #[test]
    fn settings_ack_timer() {
        let t0 = crate::time::Time::default();
        let mut h = open(limits(0));
        let exp = h.settings_ack_timer(t0).expect("armed");
        assert_eq!(exp, t0.add_ms(super::super::SETTINGS_ACK_TIMEOUT_MS));
        assert_eq!(h.settings_ack_timer(t0.add_ms(5)), Some(exp));
        assert!(!h.settings_ack_expired(t0.add_ms(9_999)));
        assert!(h.settings_ack_expired(exp));
        h.settings_timeout();
        assert_eq!(goaways(&take(&mut h)), [(0, ErrorCode::SETTINGS_TIMEOUT.0)]);
        assert!(h.should_close());
        // Acknowledged: no timer.
        let mut h = open(limits(0));
        h.settings_ack_timer(t0);
        feed(&mut h, &[0, 0, 0, 4, 1, 0, 0, 0, 0]);
        assert_eq!(h.settings_ack_timer(t0), None);
        assert!(!h.settings_ack_expired(exp));
    }
}

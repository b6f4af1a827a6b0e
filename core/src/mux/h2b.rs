//! `mux_h2` (`mux_h2.c`), server side: HAProxy's `struct h2c` with
//! `H2_CF_IS_BACK` (a connection Sluice opened to a server), carrying one
//! stream (step 1: no multiplexing of several client streams over one
//! server connection; the connection is not reused either).
//!
//! Like the client side (`mux::h2`), it works in HAProxy 1.8's shape: the
//! stream's channels carry HTTP/1.1. The request channel's output (what
//! the analysers forward) is parsed with the H1 head parser and encoded as
//! HEADERS (+ CONTINUATION) and DATA frames; the server's HEADERS, DATA
//! and trailers are written back as an HTTP/1.1 response (status line,
//! fields, a body framed by its `content-length` or chunked, trailers as
//! chunked trailers) that the response analysers parse as if an HTTP/1.1
//! server had sent it.
//!
//! This part knows bytes and frames only; the glue is
//! `stream::sc_h2b`.
//!
//! ```text
//!   req channel output ──glue──> mux_request: H1 head ──HPACK──> HEADERS; body ──> DATA (windows) ──> tx
//!   rx ──FrameDecoder──> HEADERS+CONTINUATION ──HPACK──> H1 head ──> rxbuf ──glue──> res channel
//!                        DATA ──(chunked if no content-length)──> rxbuf
//! ```

use crate::arena::Id;
use crate::http::h1::{self, ChunkedDecoder, Decoded, Method};
use crate::http::h2::frame::{
    self, encode_field_block, ErrorCode, Frame, FrameDecoder, H2Error, Role, Settings, Status,
    DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, PREFACE,
};
use crate::http::h2::hpack::{Decoder, Encoder, Field, HeaderList, HpackError};
use crate::http::h2::window::Window;
use crate::stream::Stream;

/// Receive buffer: a whole frame of our SETTINGS_MAX_FRAME_SIZE fits twice.
const RX_CAP: usize = 2 * (DEFAULT_MAX_FRAME_SIZE as usize + FRAME_HEADER_LEN);
/// The mux stops encoding the request while this much waits to be sent.
const TX_HIGH: usize = 64 * 1024;
/// The connection window we announce (the stream window bounds what the
/// stream buffers).
const CONN_WINDOW: u32 = 1 << 24;
/// Connection-level credit is returned once this much is owed.
const CONN_CREDIT_BATCH: u32 = 16 * 1024;
/// The id of the one stream a connection carries (step 1).
pub const STREAM_ID: u32 = 1;

/// The connection's state (`H2_CS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H2bState {
    /// Frames flow (the preface and our SETTINGS are queued at once).
    Frames,
    /// A connection error: GOAWAY queued, nothing more is read.
    Error,
}

/// Why the stream cannot complete (reported once to the engine stream).
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
    /// Body of `content-length`: bytes left.
    Length(u64),
    /// Chunked body, decoded into DATA frames.
    Chunked(Box<ChunkedDecoder>),
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
    /// END_STREAM received.
    Done,
}

/// The server-side connection and its one stream.
#[derive(Debug)]
pub struct H2b {
    pub state: H2bState,
    rx: Box<[u8]>,
    rx_len: usize,
    tx: Vec<u8>,
    tx_off: usize,
    dec: FrameDecoder,
    hdec: Decoder,
    henc: Encoder,
    hlist: HeaderList,
    block: Vec<u8>,
    block_sid: u32,
    block_es: bool,
    block_err: Option<H2Error>,
    /// The server's settings.
    pub peer: Settings,
    /// The server's first SETTINGS arrived.
    pub peer_settings_seen: bool,
    /// The connection send window (`h2c->mws`).
    mws: Window,
    conn_owed: u32,
    /// The engine stream carried, if any.
    pub stream: Option<Id<Stream>>,
    /// `:scheme` of the requests (`https` over TLS).
    https: bool,
    req: ReqSt,
    /// The request is a HEAD (its response has no body).
    is_head: bool,
    /// HEADERS went out (stream 1 is open).
    opened: bool,
    /// The stream send window (`h2s->sws`).
    sws: Window,
    /// Our receive window of the stream as the server sees it.
    rwin: i64,
    rx_owed: u32,
    res: ResSt,
    /// `content-length` of the response, checked against DATA.
    clen_left: Option<u64>,
    /// HTTP/1.1 bytes of the response not yet in the response channel.
    pub rxbuf: Vec<u8>,
    /// Why the stream failed, when it did.
    pub fail: Option<H2bFail>,
    /// The failure was reported to the engine stream.
    pub fail_reported: bool,
    /// The server sent GOAWAY (no new stream on this connection).
    pub peer_goaway: bool,
}

impl H2b {
    /// A new connection: the client preface and our SETTINGS go first
    /// (RFC 9113 §3.4), then the connection window is opened.
    pub fn new(https: bool, max_header_list: usize) -> H2b {
        let mut h = H2b {
            state: H2bState::Frames,
            rx: vec![0; RX_CAP].into_boxed_slice(),
            rx_len: 0,
            tx: Vec::with_capacity(1024),
            tx_off: 0,
            dec: FrameDecoder::new(Role::Client),
            hdec: Decoder::new(crate::http::h2::hpack::DEFAULT_TABLE_SIZE),
            henc: Encoder::default(),
            hlist: HeaderList::new(max_header_list),
            block: Vec::new(),
            block_sid: 0,
            block_es: false,
            block_err: None,
            peer: Settings::default(),
            peer_settings_seen: false,
            mws: Window::connection(),
            conn_owed: 0,
            stream: None,
            https,
            req: ReqSt::Head,
            is_head: false,
            opened: false,
            sws: Window::new(STREAM_ID, DEFAULT_INITIAL_WINDOW_SIZE),
            rwin: i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
            rx_owed: 0,
            res: ResSt::Head,
            clen_left: None,
            rxbuf: Vec::new(),
            fail: None,
            fail_reported: false,
            peer_goaway: false,
        };
        h.tx.extend_from_slice(PREFACE);
        // No push (§8.4): SETTINGS_ENABLE_PUSH 0, as HAProxy sends.
        let ours = Settings {
            enable_push: false,
            ..Settings::default()
        };
        ours.encode(&mut h.tx);
        Frame::WindowUpdate {
            stream_id: 0,
            increment: CONN_WINDOW - DEFAULT_INITIAL_WINDOW_SIZE,
        }
        .encode(&mut h.tx);
        h
    }

    /// Where received bytes go.
    pub fn rx_spare(&mut self) -> &mut [u8] {
        if self.state == H2bState::Error {
            return &mut [];
        }
        &mut self.rx[self.rx_len..]
    }

    /// `n` bytes were written into [`H2b::rx_spare`].
    pub fn received(&mut self, n: usize) {
        self.rx_len = (self.rx_len + n).min(self.rx.len());
    }

    /// Whether the socket is to be read.
    pub fn want_read(&self) -> bool {
        self.state != H2bState::Error && self.rx_len < self.rx.len()
    }

    /// Frames waiting to be written.
    pub fn tx_pending(&self) -> &[u8] {
        &self.tx[self.tx_off..]
    }

    /// `n` bytes of [`H2b::tx_pending`] were written.
    pub fn sent(&mut self, n: usize) {
        self.tx_off = (self.tx_off + n).min(self.tx.len());
        if self.tx_off == self.tx.len() {
            self.tx.clear();
            self.tx_off = 0;
        }
    }

    fn tx_room(&self) -> bool {
        self.tx.len() - self.tx_off < TX_HIGH
    }

    /// The response ended (END_STREAM received) and is all in the
    /// response channel.
    pub fn res_complete(&self) -> bool {
        self.res == ResSt::Done && self.rxbuf.is_empty()
    }

    /// The request ended (END_STREAM sent).
    pub fn req_complete(&self) -> bool {
        matches!(self.req, ReqSt::Done)
    }

    /// Whether the connection must close once `tx` is flushed.
    pub fn should_close(&self) -> bool {
        self.state == H2bState::Error && self.tx_pending().is_empty()
    }

    fn fail(&mut self, f: H2bFail) {
        if self.fail.is_none() && !self.res_complete() {
            self.fail = Some(f);
        }
    }

    /// Sends GOAWAY for a connection error: nothing more is processed.
    pub fn goaway(&mut self, code: ErrorCode) {
        if self.state == H2bState::Error {
            return;
        }
        Frame::GoAway {
            last_stream_id: 0,
            code,
            debug: &[],
        }
        .encode(&mut self.tx);
        self.state = H2bState::Error;
        self.rx_len = 0;
        self.fail(H2bFail::Protocol(code));
    }

    /// Resets the stream (a stream error of the server, or the engine
    /// stream gave up).
    pub fn reset(&mut self, code: ErrorCode) {
        if self.opened && self.state != H2bState::Error && !self.stream_closed() {
            Frame::RstStream {
                stream_id: STREAM_ID,
                code,
            }
            .encode(&mut self.tx);
        }
        self.fail(H2bFail::Protocol(code));
        self.req = ReqSt::Done;
        self.res = ResSt::Done;
    }

    /// Both directions ended.
    fn stream_closed(&self) -> bool {
        self.req_complete() && self.res == ResSt::Done
    }

    /// The server closed the connection (or it failed).
    pub fn closed(&mut self) {
        self.fail(H2bFail::Closed);
        self.state = H2bState::Error;
    }

    /// Demultiplexes everything received (`h2_process_demux`).
    pub fn demux(&mut self) {
        let mut pos = 0;
        while self.state != H2bState::Error {
            let rx = std::mem::take(&mut self.rx);
            let status = self.dec.decode(&rx[pos..self.rx_len]);
            let (res, used) = match status {
                Status::Partial => {
                    self.rx = rx;
                    break;
                }
                Status::Complete((res, used)) => (res, used),
            };
            let r = match res {
                Ok(f) => self.handle_frame(f),
                Err(e) => Err(e),
            };
            self.rx = rx;
            pos += used;
            match r {
                Ok(()) => {}
                Err(H2Error::Stream {
                    stream_id, code, ..
                }) => {
                    if stream_id == STREAM_ID {
                        self.reset(code);
                    } else {
                        Frame::RstStream { stream_id, code }.encode(&mut self.tx);
                    }
                }
                Err(e @ H2Error::Connection { .. }) => self.goaway(e.code()),
            }
        }
        if self.state == H2bState::Error {
            self.rx_len = 0;
            return;
        }
        self.rx.copy_within(pos..self.rx_len, 0);
        self.rx_len -= pos;
        if self.conn_owed >= CONN_CREDIT_BATCH {
            self.credit_conn();
        }
    }

    fn credit_conn(&mut self) {
        if self.conn_owed > 0 && self.state != H2bState::Error {
            Frame::WindowUpdate {
                stream_id: 0,
                increment: self.conn_owed,
            }
            .encode(&mut self.tx);
        }
        self.conn_owed = 0;
    }

    fn idle(&self, id: u32) -> bool {
        id != STREAM_ID || !self.opened
    }

    fn handle_frame(&mut self, f: Frame<'_>) -> Result<(), H2Error> {
        match f {
            Frame::Settings { ack: true, .. } => Ok(()),
            Frame::Settings { ack: false, params } => {
                let old = self.peer.initial_window_size;
                self.peer.apply(params);
                self.peer_settings_seen = true;
                let new = self.peer.initial_window_size;
                if old != new {
                    self.sws.apply_initial_change(old, new)?;
                }
                self.henc
                    .set_peer_max_table_size(self.peer.header_table_size as usize);
                frame::FrameHeader {
                    len: 0,
                    kind: frame::FrameType::SETTINGS,
                    flags: frame::flags::ACK,
                    stream_id: 0,
                }
                .encode(&mut self.tx);
                Ok(())
            }
            Frame::Ping { ack: false, data } => {
                Frame::Ping { ack: true, data }.encode(&mut self.tx);
                Ok(())
            }
            Frame::Ping { ack: true, .. } => Ok(()),
            Frame::GoAway {
                last_stream_id,
                code,
                ..
            } => {
                self.peer_goaway = true;
                if self.opened && last_stream_id < STREAM_ID {
                    // Our stream was not processed (RFC 9113 §6.8).
                    self.fail(H2bFail::GoAway(code));
                    self.req = ReqSt::Done;
                    self.res = ResSt::Done;
                } else if code != ErrorCode::NO_ERROR {
                    self.fail(H2bFail::GoAway(code));
                    self.state = H2bState::Error;
                }
                Ok(())
            }
            Frame::WindowUpdate {
                stream_id: 0,
                increment,
            } => self.mws.increase(increment),
            Frame::WindowUpdate {
                stream_id,
                increment,
            } => {
                if self.idle(stream_id) {
                    return Err(H2Error::Connection {
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "WINDOW_UPDATE on an idle stream",
                    });
                }
                if !self.stream_closed() {
                    self.sws.increase(increment)?;
                }
                Ok(())
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::RstStream { stream_id, code } => {
                if self.idle(stream_id) {
                    return Err(H2Error::Connection {
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "RST_STREAM on an idle stream",
                    });
                }
                if code == ErrorCode::NO_ERROR && self.res == ResSt::Done {
                    // The response is whole; the server wants no more of
                    // the request (§8.1).
                    self.req = ReqSt::Done;
                    return Ok(());
                }
                self.fail(H2bFail::Reset(code));
                self.req = ReqSt::Done;
                self.res = ResSt::Done;
                self.rx_owed = 0;
                Ok(())
            }
            Frame::PushPromise { .. } => Err(H2Error::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "PUSH_PROMISE while push is disabled",
            }),
            Frame::Data {
                stream_id,
                end_stream,
                data,
                flow_len,
                ..
            } => self.handle_data(stream_id, end_stream, data, flow_len),
            Frame::Headers {
                stream_id,
                end_stream,
                end_headers,
                fragment,
                error,
                ..
            } => {
                self.block.clear();
                self.block.extend_from_slice(fragment);
                self.block_sid = stream_id;
                self.block_es = end_stream;
                self.block_err = error;
                if end_headers {
                    self.handle_block()
                } else {
                    Ok(())
                }
            }
            Frame::Continuation {
                end_headers,
                fragment,
                ..
            } => {
                self.block.extend_from_slice(fragment);
                if end_headers {
                    self.handle_block()
                } else {
                    Ok(())
                }
            }
        }
    }

    fn stream_err(code: ErrorCode, reason: &'static str) -> H2Error {
        H2Error::Stream {
            stream_id: STREAM_ID,
            code,
            reason,
        }
    }

    fn handle_data(
        &mut self,
        id: u32,
        end_stream: bool,
        data: &[u8],
        flow_len: u32,
    ) -> Result<(), H2Error> {
        self.conn_owed += flow_len;
        if self.idle(id) {
            return Err(H2Error::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "DATA on an idle stream",
            });
        }
        if self.fail.is_some() {
            return Ok(());
        }
        match self.res {
            ResSt::Done => {
                return Err(Self::stream_err(
                    ErrorCode::STREAM_CLOSED,
                    "DATA after END_STREAM",
                ))
            }
            ResSt::Head => {
                return Err(Self::stream_err(
                    ErrorCode::PROTOCOL_ERROR,
                    "DATA before the response head",
                ))
            }
            _ => {}
        }
        if i64::from(flow_len) > self.rwin {
            return Err(Self::stream_err(
                ErrorCode::FLOW_CONTROL_ERROR,
                "data beyond the stream window",
            ));
        }
        self.rwin -= i64::from(flow_len);
        self.rx_owed += flow_len;
        if let Some(left) = self.clen_left.as_mut() {
            if data.len() as u64 > *left || (end_stream && data.len() as u64 != *left) {
                return Err(Self::stream_err(
                    ErrorCode::PROTOCOL_ERROR,
                    "content-length mismatch",
                ));
            }
            *left -= data.len() as u64;
        }
        match self.res {
            ResSt::NoBody if !data.is_empty() => {
                return Err(Self::stream_err(
                    ErrorCode::PROTOCOL_ERROR,
                    "body where none may be",
                ));
            }
            ResSt::Length(_) | ResSt::NoBody => self.rxbuf.extend_from_slice(data),
            ResSt::Chunked => {
                if !data.is_empty() {
                    // Upper-case hex sizes, as HAProxy's H1 mux writes them.
                    self.rxbuf
                        .extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
                    self.rxbuf.extend_from_slice(data);
                    self.rxbuf.extend_from_slice(b"\r\n");
                }
                if end_stream {
                    self.rxbuf.extend_from_slice(h1::LAST_CHUNK);
                }
            }
            ResSt::Head | ResSt::Done => {}
        }
        if end_stream {
            self.res = ResSt::Done;
        }
        Ok(())
    }

    /// A whole field block: a response head (interim or final), or
    /// trailers.
    fn handle_block(&mut self) -> Result<(), H2Error> {
        let id = self.block_sid;
        let es = self.block_es;
        let block = std::mem::take(&mut self.block);
        let r = self.hdec.decode(&block, &mut self.hlist);
        self.block = block;
        let too_large = match r {
            Ok(()) => false,
            Err(HpackError::HeaderListTooLarge) => true,
            Err(_) => {
                return Err(H2Error::Connection {
                    code: ErrorCode::COMPRESSION_ERROR,
                    reason: "HPACK decoding error",
                })
            }
        };
        if let Some(e) = self.block_err.take() {
            return Err(e);
        }
        if self.idle(id) {
            // A server never opens streams (no push).
            return Err(H2Error::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "HEADERS on an idle stream",
            });
        }
        if self.fail.is_some() {
            return Ok(());
        }
        if too_large {
            return Err(Self::stream_err(
                ErrorCode::PROTOCOL_ERROR,
                "response head too large",
            ));
        }
        match self.res {
            ResSt::Done => Err(Self::stream_err(
                ErrorCode::STREAM_CLOSED,
                "HEADERS after END_STREAM",
            )),
            ResSt::Head => self.response_head(es),
            ResSt::Length(_) | ResSt::Chunked | ResSt::NoBody => {
                // Trailers (§8.1): END_STREAM, no pseudo-header.
                if !es {
                    return Err(Self::stream_err(
                        ErrorCode::PROTOCOL_ERROR,
                        "trailers without END_STREAM",
                    ));
                }
                if self.clen_left.is_some_and(|l| l != 0) {
                    return Err(Self::stream_err(
                        ErrorCode::PROTOCOL_ERROR,
                        "content-length mismatch",
                    ));
                }
                let mut out = Vec::new();
                for f in self.hlist.iter() {
                    if f.name.first() == Some(&b':') || !valid_field(f.name, f.value) {
                        return Err(Self::stream_err(
                            ErrorCode::PROTOCOL_ERROR,
                            "invalid trailer field",
                        ));
                    }
                    put_field(&mut out, f.name, f.value);
                }
                if self.res == ResSt::Chunked {
                    // HTTP/1.1 carries trailers after the last chunk.
                    self.rxbuf.extend_from_slice(b"0\r\n");
                    self.rxbuf.extend_from_slice(&out);
                    self.rxbuf.extend_from_slice(b"\r\n");
                }
                // A body of known length has no place for trailers in
                // HTTP/1.1: they are dropped (as HAProxy's H1 mux does).
                self.res = ResSt::Done;
                Ok(())
            }
        }
    }

    /// The response head (`h2c_bck_handle_headers`), written as HTTP/1.1.
    fn response_head(&mut self, es: bool) -> Result<(), H2Error> {
        let mut status: Option<u16> = None;
        let mut regular = false;
        for f in self.hlist.iter() {
            if let Some(p) = f.name.strip_prefix(b":") {
                if regular || p != b"status" || status.is_some() {
                    return Err(Self::stream_err(
                        ErrorCode::PROTOCOL_ERROR,
                        "invalid response pseudo-header",
                    ));
                }
                let st = std::str::from_utf8(f.value)
                    .ok()
                    .filter(|v| v.len() == 3 && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u16>().ok())
                    .filter(|v| *v >= 100);
                status = Some(st.ok_or(Self::stream_err(
                    ErrorCode::PROTOCOL_ERROR,
                    "invalid :status",
                ))?);
            } else {
                regular = true;
            }
        }
        let status = status.ok_or(Self::stream_err(
            ErrorCode::PROTOCOL_ERROR,
            "missing :status",
        ))?;
        let interim = (100..200).contains(&status);
        if status == 101 || (interim && es) {
            return Err(Self::stream_err(
                ErrorCode::PROTOCOL_ERROR,
                "101 or an interim response with END_STREAM",
            ));
        }
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        let mut clen: Option<u64> = None;
        for f in self.hlist.iter() {
            if f.name.first() == Some(&b':') {
                continue;
            }
            if !valid_field(f.name, f.value) || is_conn_specific(f.name) {
                return Err(Self::stream_err(
                    ErrorCode::PROTOCOL_ERROR,
                    "invalid or connection-specific field",
                ));
            }
            if f.name == b"content-length" {
                let v = std::str::from_utf8(f.value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(Self::stream_err(
                        ErrorCode::PROTOCOL_ERROR,
                        "invalid content-length",
                    ))?;
                if clen.is_some_and(|c| c != v) {
                    return Err(Self::stream_err(
                        ErrorCode::PROTOCOL_ERROR,
                        "conflicting content-length",
                    ));
                }
                if clen.is_some() {
                    continue;
                }
                clen = Some(v);
            }
            put_field(&mut out, f.name, f.value);
        }
        let bodyless = self.is_head || interim || status == 204 || status == 304;
        if interim {
            out.extend_from_slice(b"\r\n");
            self.rxbuf.extend_from_slice(&out);
            return Ok(());
        }
        self.res = if bodyless {
            // HEAD, 204, 304: a content-length describes another body.
            self.clen_left = None;
            ResSt::NoBody
        } else if let Some(n) = clen {
            self.clen_left = Some(n);
            ResSt::Length(n)
        } else if es {
            // No body and no length: say so, or HTTP/1.1 would read
            // until close.
            out.extend_from_slice(b"content-length: 0\r\n");
            ResSt::Length(0)
        } else {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            ResSt::Chunked
        };
        out.extend_from_slice(b"\r\n");
        self.rxbuf.extend_from_slice(&out);
        if es {
            if self.clen_left.is_some_and(|l| l != 0) {
                return Err(Self::stream_err(
                    ErrorCode::PROTOCOL_ERROR,
                    "content-length mismatch",
                ));
            }
            self.res = ResSt::Done;
        }
        Ok(())
    }

    /// `n` bytes of `rxbuf` were delivered to the response channel: once
    /// it is empty, the flow-control credit goes back to the server.
    pub fn delivered(&mut self, n: usize) {
        self.rxbuf.drain(..n.min(self.rxbuf.len()));
        if self.rxbuf.is_empty() && self.rx_owed > 0 {
            let owed = self.rx_owed;
            self.rx_owed = 0;
            if self.res != ResSt::Done && self.fail.is_none() && self.state != H2bState::Error {
                self.rwin += i64::from(owed);
                Frame::WindowUpdate {
                    stream_id: STREAM_ID,
                    increment: owed,
                }
                .encode(&mut self.tx);
            }
        }
        if self.conn_owed > 0 {
            self.credit_conn();
        }
    }

    /// Encodes what it can of the HTTP/1.1 request `out` (the request
    /// channel's output) into frames (`h2_snd_buf`); returns the bytes of
    /// `out` consumed. A request that cannot be converted resets the
    /// stream (`fail` is then set). `h2_front`: the client spoke HTTP/2,
    /// so its `:authority` (the `host` of the HTTP/1.1 form) goes on as
    /// `:authority`; an HTTP/1.1 client's origin-form request keeps its
    /// `host` field and has no `:authority`, as HAProxy 2.6 sends it.
    pub fn mux_request(&mut self, out: &[u8], h2_front: bool) -> usize {
        let mut used = 0;
        loop {
            if !self.tx_room() || self.state == H2bState::Error || self.fail.is_some() {
                return if self.fail.is_some() { out.len() } else { used };
            }
            let max_frame = self.peer.max_frame_size as usize;
            let rest = &out[used..];
            match &mut self.req {
                ReqSt::Done => return out.len(),
                ReqSt::Head => {
                    if self.peer.max_concurrent_streams == Some(0) || self.peer_goaway {
                        // The server takes no stream now.
                        return used;
                    }
                    let opts = h1::ParseOptions::default();
                    let (head, n) = match h1::parse_request(rest, &opts) {
                        Ok(h1::Status::Complete(x)) => x,
                        Ok(h1::Status::Partial) => return used,
                        Err(_) => {
                            self.reset(ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                    };
                    used += n;
                    let body = match h1::request_body(&head) {
                        Ok(b) => b,
                        Err(_) => {
                            self.reset(ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                    };
                    self.is_head = head.method == Method::HEAD;
                    let end = matches!(body, h1::BodyLen::None | h1::BodyLen::Length(0));
                    self.req = match body {
                        h1::BodyLen::Length(n) if n > 0 => ReqSt::Length(n),
                        h1::BodyLen::Chunked => {
                            ReqSt::Chunked(Box::new(ChunkedDecoder::new(h1::Side::Request)))
                        }
                        _ => ReqSt::Done,
                    };
                    let mut block = Vec::new();
                    request_fields(&head, self.https, h2_front, &mut self.henc, &mut block);
                    encode_field_block(
                        STREAM_ID,
                        &block,
                        end,
                        self.peer.max_frame_size,
                        &mut self.tx,
                    );
                    self.opened = true;
                }
                ReqSt::Length(left) => {
                    let want = (*left).min(rest.len() as u64) as usize;
                    if want == 0 {
                        return used;
                    }
                    let n = want
                        .min(max_frame)
                        .min(self.sws.available() as usize)
                        .min(self.mws.available() as usize);
                    if n == 0 {
                        return used;
                    }
                    *left -= n as u64;
                    let end = *left == 0;
                    self.sws.sent(n as u32);
                    self.mws.sent(n as u32);
                    data_frame(&mut self.tx, &rest[..n], end);
                    used += n;
                    if end {
                        self.req = ReqSt::Done;
                    }
                }
                ReqSt::Chunked(d) => {
                    if rest.is_empty() {
                        return used;
                    }
                    let credit =
                        (self.sws.available().min(self.mws.available()) as usize).min(max_frame);
                    if credit == 0 {
                        return used;
                    }
                    let limit = rest.len().min(credit);
                    match d.decode(&rest[..limit]) {
                        Err(_) => {
                            self.reset(ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                        Ok((Decoded::NeedMore, n)) => {
                            used += n;
                            if n == 0 {
                                return used;
                            }
                        }
                        Ok((Decoded::Data(p), n)) => {
                            self.sws.sent(p.len() as u32);
                            self.mws.sent(p.len() as u32);
                            data_frame(&mut self.tx, p, false);
                            used += n;
                        }
                        Ok((Decoded::End, n)) => {
                            used += n;
                            let trailers = d.take_trailers();
                            if trailers.is_empty() {
                                data_frame(&mut self.tx, &[], true);
                            } else {
                                let names: Vec<Vec<u8>> = trailers
                                    .iter()
                                    .map(|(n, _)| n.to_ascii_lowercase())
                                    .collect();
                                let fields = trailers
                                    .iter()
                                    .zip(names.iter())
                                    .filter(|(_, n)| !is_conn_specific(n))
                                    .map(|((_, v), n)| Field::new(n, v));
                                let mut block = Vec::new();
                                self.henc.encode(fields, &mut block);
                                encode_field_block(
                                    STREAM_ID,
                                    &block,
                                    true,
                                    self.peer.max_frame_size,
                                    &mut self.tx,
                                );
                            }
                            self.req = ReqSt::Done;
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
    henc: &mut Encoder,
    block: &mut Vec<u8>,
) {
    let method = head.method.as_str().as_bytes().to_vec();
    let uri = head.uri.as_bytes();
    let connect = head.method == Method::CONNECT;
    let (mut scheme, mut authority, mut path): (Vec<u8>, Option<Vec<u8>>, Vec<u8>) = (
        if https {
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
    if authority.is_none() && h2_front {
        authority = head.headers.get("host").map(<[u8]>::to_vec);
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

/// A DATA frame on the stream.
fn data_frame(tx: &mut Vec<u8>, data: &[u8], end: bool) {
    Frame::Data {
        stream_id: STREAM_ID,
        end_stream: end,
        data,
        pad_len: None,
        flow_len: data.len() as u32,
    }
    .encode(tx);
}

/// Connection-specific fields (RFC 9113 §8.2.2), never sent in HTTP/2.
fn is_conn_specific(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
    )
}

/// A field name and value fit for HTTP/1 (RFC 9113 §8.2.1).
fn valid_field(name: &[u8], value: &[u8]) -> bool {
    !name.is_empty()
        && name.iter().all(|&b| {
            b.is_ascii_graphic() && !b.is_ascii_uppercase() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
        })
        && !value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
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
            Frame::Data {
                stream_id: STREAM_ID,
                end_stream: !trailers,
                data: body,
                pad_len: None,
                flow_len: body.len() as u32,
            }
            .encode(&mut out);
        }
        if trailers {
            let mut block = Vec::new();
            enc.encode([Field::new(b"grpc-status", b"0")], &mut block);
            encode_field_block(STREAM_ID, &block, true, 16384, &mut out);
        }
        out
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
        assert!(h.tx_pending().starts_with(PREFACE));
        let req = b"POST /x?y HTTP/1.1\r\nHost: example\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(h.mux_request(req, false), req.len());
        assert!(h.req_complete());
        let frames = server_frames(b"200", &[(b"content-type", b"text/plain")], b"hello", false);
        feed(&mut h, &frames);
        let text = String::from_utf8(h.rxbuf.clone()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        h.delivered(h.rxbuf.len());
        assert!(h.res_complete());
        assert_eq!(h.fail, None);
    }

    #[test]
    fn trailers_become_chunked_trailers() {
        let mut h = H2b::new(false, 16384);
        h.mux_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        feed(&mut h, &server_frames(b"200", &[], b"xy", true));
        let text = String::from_utf8(h.rxbuf.clone()).unwrap();
        assert!(
            text.ends_with("2\r\nxy\r\n0\r\ngrpc-status: 0\r\n\r\n"),
            "{text}"
        );
    }

    #[test]
    fn empty_response_gets_a_length() {
        let mut h = H2b::new(false, 16384);
        h.mux_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        feed(&mut h, &server_frames(b"404", &[], b"", false));
        assert_eq!(
            h.rxbuf,
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn rst_stream_fails_the_stream() {
        let mut h = H2b::new(false, 16384);
        h.mux_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        let mut f = Vec::new();
        Settings::default().encode(&mut f);
        Frame::RstStream {
            stream_id: STREAM_ID,
            code: ErrorCode::INTERNAL_ERROR,
        }
        .encode(&mut f);
        feed(&mut h, &f);
        assert_eq!(h.fail, Some(H2bFail::Reset(ErrorCode::INTERNAL_ERROR)));
    }

    #[test]
    fn window_bounds_the_request_body() {
        let mut h = H2b::new(false, 16384);
        let body = vec![b'a'; 100_000];
        let mut req = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n".to_vec();
        req.extend_from_slice(&body);
        let head = req.len() - body.len();
        let used = h.mux_request(&req, false);
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
        let more = h.mux_request(&req[used..], false);
        assert_eq!(more, 100_000 - 65_535);
        assert!(h.req_complete());
    }

    #[test]
    fn garbage_is_a_connection_error() {
        let mut h = H2b::new(false, 16384);
        h.mux_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false);
        feed(&mut h, b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.state, H2bState::Error);
        assert!(h.fail.is_some());
    }
}

//! `mux_h2` (`mux_h2.c`), client side: HAProxy's `struct h2c` (the
//! connection) and `struct h2s` (one stream), in the shape HAProxy 1.8 had
//! before HTX: each HTTP/2 stream is an engine stream whose channels carry
//! HTTP/1.1. The demux writes a request in canonical HTTP/1.1 form into
//! the stream's request channel (request line from `:method` / `:path`,
//! `Host` from `:authority`, the body framed with its `content-length`, or
//! chunked), so every analyser, rule, fetch and log works unchanged; the
//! mux parses the HTTP/1 response the analysers forward and re-encodes it
//! as HEADERS (HPACK) and DATA frames.
//!
//! This part knows bytes and frames only (no engine, no channel): the
//! glue (`stream::sc_h2`) moves bytes between an [`H2s`]'s buffers and its
//! engine stream.
//!
//! ```text
//!   rx ──FrameDecoder──> HEADERS+CONTINUATION ──HPACK──> H1 head ──> H2s.rxbuf ──glue──> req channel
//!                        DATA ──(chunked if no content-length)──> H2s.rxbuf
//!   res channel output ──glue──> mux_output: H1 head ──> HEADERS (HPACK); body ──> DATA (windows) ──> tx
//! ```

use std::collections::BTreeMap;

use crate::arena::Id;
use crate::http::h1::{self, ChunkedDecoder, Decoded, Method};
use crate::http::h2::frame::{
    self, check_preface, encode_field_block, ErrorCode, Frame, FrameDecoder, H2Error, Role,
    Settings, Status, DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN,
    MAX_WINDOW_SIZE,
};
use crate::http::h2::hpack::{Decoder, Encoder, Field, HeaderList, HpackError};
use crate::http::h2::window::Window;
use crate::stream::Stream;

/// Receive buffer: a whole frame of our SETTINGS_MAX_FRAME_SIZE fits twice.
const RX_CAP: usize = 2 * (DEFAULT_MAX_FRAME_SIZE as usize + FRAME_HEADER_LEN);
/// The mux stops encoding responses while this much waits to be sent.
const TX_HIGH: usize = 64 * 1024;
/// The connection window we announce (credited as data is demuxed;
/// per-stream windows bound what streams buffer).
const CONN_WINDOW: u32 = 1 << 24;
/// Connection-level credit is returned once this much is owed.
const CONN_CREDIT_BATCH: u32 = 16 * 1024;

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

/// The connection's state (`H2_CS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H2cState {
    /// Waiting for the client preface (`H2_CS_PREFACE`).
    Preface,
    /// Frames flow (`H2_CS_FRAME_*`).
    Frames,
    /// A GOAWAY went out (error or graceful): no new stream; the
    /// connection closes once its streams are over and `tx` is flushed.
    Closing,
    /// A connection error: GOAWAY queued, nothing more is read; closes
    /// once `tx` is flushed (`H2_CS_ERROR`).
    Error,
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
    /// Body of `content-length`: bytes left.
    Length(u64),
    /// Chunked body, decoded.
    Chunked(Box<ChunkedDecoder>),
    /// Until the engine shuts the response (until-close, tunnel).
    UntilClose,
    /// END_STREAM sent (or the stream reset): the rest is discarded.
    Done,
}

/// One stream (`struct h2s`).
#[derive(Debug)]
pub struct H2s {
    pub id: u32,
    /// The engine stream, once created, until it detaches.
    pub sid: Option<Id<Stream>>,
    /// The engine stream is to be created (a request head arrived).
    pub need_stream: bool,
    /// HTTP/1.1 bytes of the request not yet in the request channel.
    pub rxbuf: Vec<u8>,
    /// Flow-controlled bytes received on this stream and not yet
    /// credited back to its window (once `rxbuf` drains into the channel;
    /// the connection window is credited as DATA is demuxed).
    rx_owed: u32,
    /// Our receive window as the peer sees it.
    rwin: i64,
    /// The send window (`h2s->sws`).
    sws: Window,
    req: ReqBody,
    /// `content-length` still expected (checked against DATA, §8.1.1).
    clen_left: Option<u64>,
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
}

impl H2s {
    fn new(id: u32, sws: u32) -> H2s {
        H2s {
            id,
            sid: None,
            need_stream: false,
            rxbuf: Vec::new(),
            rx_owed: 0,
            rwin: i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
            sws: Window::new(id, sws),
            req: ReqBody::None,
            clen_left: None,
            req_done: false,
            res: ResSt::Head,
            res_shut: false,
            reset: false,
            is_head: false,
            is_connect: false,
        }
    }

    /// The response is over as far as the peer is concerned.
    pub fn res_done(&self) -> bool {
        matches!(self.res, ResSt::Done)
    }
}

/// The connection (`struct h2c`).
#[derive(Debug)]
pub struct H2c {
    pub state: H2cState,
    rx: Box<[u8]>,
    rx_len: usize,
    tx: Vec<u8>,
    tx_off: usize,
    dec: FrameDecoder,
    hdec: Decoder,
    henc: Encoder,
    hlist: HeaderList,
    /// The field block being assembled (HEADERS + CONTINUATION).
    block: Vec<u8>,
    block_sid: u32,
    block_es: bool,
    block_err: Option<H2Error>,
    /// The peer's settings.
    peer: Settings,
    /// The connection send window (`h2c->mws`).
    mws: Window,
    /// Connection-level bytes owed back to the peer.
    conn_owed: u32,
    pub streams: BTreeMap<u32, H2s>,
    /// The highest stream id the peer opened (`h2c->max_id`).
    pub max_id: u32,
    /// The peer sent GOAWAY.
    pub peer_goaway: bool,
    limits: H2Limits,
    /// Streams created by the peer (for `show` and tests).
    pub nb_streams_total: u64,
}

impl H2c {
    /// A server-side connection: our SETTINGS goes first (§3.4), then the
    /// connection window is opened.
    pub fn new(limits: H2Limits) -> H2c {
        let mut h = H2c {
            state: H2cState::Preface,
            rx: vec![0; RX_CAP].into_boxed_slice(),
            rx_len: 0,
            tx: Vec::with_capacity(1024),
            tx_off: 0,
            dec: FrameDecoder::new(Role::Server),
            hdec: Decoder::new(crate::http::h2::hpack::DEFAULT_TABLE_SIZE),
            henc: Encoder::default(),
            hlist: HeaderList::new(limits.max_header_list),
            block: Vec::new(),
            block_sid: 0,
            block_es: false,
            block_err: None,
            peer: Settings::default(),
            mws: Window::connection(),
            conn_owed: 0,
            streams: BTreeMap::new(),
            max_id: 0,
            peer_goaway: false,
            limits,
            nb_streams_total: 0,
        };
        let ours = Settings {
            max_concurrent_streams: Some(limits.max_concurrent_streams),
            enable_push: true,
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
        if self.state == H2cState::Error {
            return &mut [];
        }
        &mut self.rx[self.rx_len..]
    }

    /// Takes the bytes read before the mux was installed (after a PROXY
    /// header): as many as fit.
    pub fn prefill(&mut self, data: &[u8]) -> usize {
        let spare = self.rx_spare();
        let n = data.len().min(spare.len());
        spare[..n].copy_from_slice(&data[..n]);
        self.rx_len += n;
        n
    }

    /// `n` bytes were written into [`H2c::rx_spare`].
    pub fn received(&mut self, n: usize) {
        self.rx_len = (self.rx_len + n).min(self.rx.len());
    }

    /// Whether the socket is to be read.
    pub fn want_read(&self) -> bool {
        self.state != H2cState::Error && self.rx_len < self.rx.len()
    }

    /// Frames waiting to be written.
    pub fn tx_pending(&self) -> &[u8] {
        &self.tx[self.tx_off..]
    }

    /// `n` bytes of [`H2c::tx_pending`] were written.
    pub fn sent(&mut self, n: usize) {
        self.tx_off = (self.tx_off + n).min(self.tx.len());
        if self.tx_off == self.tx.len() {
            self.tx.clear();
            self.tx_off = 0;
        }
    }

    /// Room for more response frames.
    pub fn tx_room(&self) -> bool {
        self.tx.len() - self.tx_off < TX_HIGH
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
        Frame::GoAway {
            last_stream_id: self.max_id,
            code,
            debug: &[],
        }
        .encode(&mut self.tx);
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

    fn rst(&mut self, id: u32, code: ErrorCode) {
        Frame::RstStream {
            stream_id: id,
            code,
        }
        .encode(&mut self.tx);
    }

    /// Resets stream `id` (a stream error): RST_STREAM, the engine
    /// stream aborted by the glue.
    fn stream_error(&mut self, id: u32, code: ErrorCode) {
        self.rst(id, code);
        if let Some(s) = self.streams.get_mut(&id) {
            s.reset = true;
            s.res = ResSt::Done;
            s.rxbuf.clear();
            s.rx_owed = 0;
        }
    }

    /// Demultiplexes everything received (`h2_process_demux`). Control
    /// frames are answered in `tx`; request bytes land in the streams'
    /// `rxbuf`; new streams get `need_stream`.
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
        while self.state != H2cState::Error {
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
                }) => self.stream_error(stream_id, code),
                Err(e @ H2Error::Connection { .. }) => {
                    self.goaway(e.code());
                }
            }
        }
        if self.state == H2cState::Error {
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
        if self.conn_owed > 0 && self.state != H2cState::Error {
            Frame::WindowUpdate {
                stream_id: 0,
                increment: self.conn_owed,
            }
            .encode(&mut self.tx);
        }
        self.conn_owed = 0;
    }

    fn handle_frame(&mut self, f: Frame<'_>) -> Result<(), H2Error> {
        match f {
            Frame::Settings { ack: true, .. } => Ok(()),
            Frame::Settings { ack: false, params } => {
                let old = self.peer.initial_window_size;
                self.peer.apply(params);
                let new = self.peer.initial_window_size;
                if old != new {
                    for s in self.streams.values_mut() {
                        s.sws.apply_initial_change(old, new)?;
                    }
                }
                self.henc
                    .set_peer_max_table_size(self.peer.header_table_size as usize);
                // SETTINGS ACK: an empty SETTINGS frame with the ACK flag.
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
            Frame::GoAway { .. } => {
                self.peer_goaway = true;
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
                if stream_id > self.max_id {
                    // §5.1: WINDOW_UPDATE on an idle stream.
                    return Err(H2Error::Connection {
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "WINDOW_UPDATE on an idle stream",
                    });
                }
                if let Some(s) = self.streams.get_mut(&stream_id) {
                    s.sws.increase(increment)?;
                }
                Ok(())
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::RstStream { stream_id, .. } => {
                if stream_id > self.max_id {
                    return Err(H2Error::Connection {
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "RST_STREAM on an idle stream",
                    });
                }
                if let Some(s) = self.streams.get_mut(&stream_id) {
                    s.reset = true;
                    s.res = ResSt::Done;
                    s.rxbuf.clear();
                    s.rx_owed = 0;
                }
                Ok(())
            }
            Frame::PushPromise { .. } => Err(H2Error::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "PUSH_PROMISE from a client",
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

    fn handle_data(
        &mut self,
        id: u32,
        end_stream: bool,
        data: &[u8],
        flow_len: u32,
    ) -> Result<(), H2Error> {
        // The connection window counts every DATA frame, even for a
        // stream that is gone (§6.9).
        self.conn_owed += flow_len;
        let Some(s) = self.streams.get_mut(&id) else {
            if id > self.max_id || id % 2 == 0 {
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
        if i64::from(flow_len) > s.rwin {
            return Err(H2Error::Stream {
                stream_id: id,
                code: ErrorCode::FLOW_CONTROL_ERROR,
                reason: "data beyond the stream window",
            });
        }
        s.rwin -= i64::from(flow_len);
        s.rx_owed += flow_len;
        if let Some(left) = s.clen_left.as_mut() {
            if data.len() as u64 > *left || (end_stream && data.len() as u64 != *left) {
                return Err(H2Error::Stream {
                    stream_id: id,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "content-length mismatch",
                });
            }
            *left -= data.len() as u64;
        }
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
        if let Some(s) = self.streams.get_mut(&id) {
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
            if s.clen_left.is_some_and(|l| l != 0) {
                return Err(H2Error::Stream {
                    stream_id: id,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "content-length mismatch",
                });
            }
            if s.req == ReqBody::Chunked && !s.reset {
                s.rxbuf.extend_from_slice(b"0\r\n");
                for f in self.hlist.iter() {
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
        if id % 2 == 0 || id <= self.max_id {
            // §5.1.1: a new stream id must be odd and higher than any
            // before (a closed stream's id included).
            return Err(H2Error::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: "HEADERS on a closed or invalid stream",
            });
        }
        self.max_id = id;
        if self.state != H2cState::Frames {
            // Draining: streams after our GOAWAY are not processed.
            self.rst(id, ErrorCode::REFUSED_STREAM);
            return Ok(());
        }
        if self.active_streams() >= self.limits.max_concurrent_streams as usize {
            self.rst(id, ErrorCode::REFUSED_STREAM);
            return Ok(());
        }
        self.nb_streams_total += 1;
        if too_large {
            // Headers too large: 431 from the mux, the request goes no
            // further (RFC 9113 §10.5.1).
            let mut block = Vec::new();
            self.henc
                .encode([Field::new(b":status", b"431")], &mut block);
            encode_field_block(id, &block, true, self.peer.max_frame_size, &mut self.tx);
            if !es {
                self.rst(id, ErrorCode::NO_ERROR);
            }
            return Ok(());
        }
        let mut s = H2s::new(id, self.peer.initial_window_size);
        match make_request(&self.hlist, es, &mut s.rxbuf) {
            Ok(info) => {
                s.req = info.body;
                s.clen_left = info.clen;
                s.is_head = info.head;
                s.is_connect = info.connect;
                if es {
                    s.req_done = true;
                    if s.clen_left.is_some_and(|l| l != 0) {
                        self.streams.insert(id, s);
                        return Err(H2Error::Stream {
                            stream_id: id,
                            code: ErrorCode::PROTOCOL_ERROR,
                            reason: "content-length mismatch",
                        });
                    }
                }
                s.need_stream = true;
                self.streams.insert(id, s);
                Ok(())
            }
            Err(reason) => {
                self.streams.insert(id, s);
                Err(H2Error::Stream {
                    stream_id: id,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason,
                })
            }
        }
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
        s.rxbuf.drain(..n.min(s.rxbuf.len()));
        if s.rxbuf.is_empty() && s.rx_owed > 0 {
            let owed = s.rx_owed;
            s.rx_owed = 0;
            if !s.req_done && !s.reset {
                s.rwin += i64::from(owed);
                Frame::WindowUpdate {
                    stream_id: id,
                    increment: owed,
                }
                .encode(&mut self.tx);
            }
        }
        if self.conn_owed > 0 {
            self.credit_conn();
        }
    }

    /// Encodes what it can of stream `id`'s HTTP/1 response `out` (the
    /// response channel's output) into frames (`h2_snd_buf`): returns the
    /// bytes of `out` consumed, or `Err` when the response cannot be
    /// converted (the stream is then reset).
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
                            self.stream_error(id, ErrorCode::INTERNAL_ERROR);
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
                        self.stream_error(id, ErrorCode::INTERNAL_ERROR);
                        return out.len();
                    }
                    let end = !head.is_interim() && body == h1::BodyLen::None;
                    s.res = if head.is_interim() {
                        ResSt::Head
                    } else {
                        match body {
                            h1::BodyLen::None => ResSt::Done,
                            h1::BodyLen::Length(0) => ResSt::Done,
                            h1::BodyLen::Length(n) => ResSt::Length(n),
                            h1::BodyLen::Chunked => {
                                ResSt::Chunked(Box::new(ChunkedDecoder::new(h1::Side::Response)))
                            }
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
                    let mut block = Vec::new();
                    self.henc.encode(fields, &mut block);
                    encode_field_block(id, &block, end, self.peer.max_frame_size, &mut self.tx);
                }
                ResSt::Length(left) => {
                    let want = (*left).min(rest.len() as u64) as usize;
                    let n = want
                        .min(max_frame)
                        .min(s.sws.available() as usize)
                        .min(self.mws.available() as usize);
                    if n == 0 && want > 0 {
                        return used;
                    }
                    if want == 0 {
                        return used;
                    }
                    *left -= n as u64;
                    let end = *left == 0;
                    s.sws.sent(n as u32);
                    self.mws.sent(n as u32);
                    data_frame(&mut self.tx, id, &rest[..n], end);
                    used += n;
                    if end {
                        s.res = ResSt::Done;
                    }
                }
                ResSt::UntilClose => {
                    let n = rest
                        .len()
                        .min(max_frame)
                        .min(s.sws.available() as usize)
                        .min(self.mws.available() as usize);
                    if n == 0 {
                        if rest.is_empty() && s.res_shut {
                            data_frame(&mut self.tx, id, &[], true);
                            s.res = ResSt::Done;
                        }
                        return used;
                    }
                    s.sws.sent(n as u32);
                    self.mws.sent(n as u32);
                    data_frame(&mut self.tx, id, &rest[..n], false);
                    used += n;
                }
                ResSt::Chunked(d) => {
                    let credit =
                        (s.sws.available().min(self.mws.available()) as usize).min(max_frame);
                    if rest.is_empty() {
                        return used;
                    }
                    if credit == 0 {
                        return used;
                    }
                    // Payload is a part of the input: giving the decoder
                    // at most `credit` bytes keeps the payload within it.
                    let limit = rest.len().min(credit);
                    match d.decode(&rest[..limit]) {
                        Err(_) => {
                            self.stream_error(id, ErrorCode::INTERNAL_ERROR);
                            return out.len();
                        }
                        Ok((Decoded::NeedMore, n)) => {
                            used += n;
                            if n == 0 {
                                return used;
                            }
                        }
                        Ok((Decoded::Data(p), n)) => {
                            s.sws.sent(p.len() as u32);
                            self.mws.sent(p.len() as u32);
                            data_frame(&mut self.tx, id, p, false);
                            used += n;
                        }
                        Ok((Decoded::End, n)) => {
                            used += n;
                            let trailers = d.take_trailers();
                            if trailers.is_empty() {
                                data_frame(&mut self.tx, id, &[], true);
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
                                    id,
                                    &block,
                                    true,
                                    self.peer.max_frame_size,
                                    &mut self.tx,
                                );
                            }
                            s.res = ResSt::Done;
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
                data_frame(&mut self.tx, id, &[], true);
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
                data_frame(&mut self.tx, id, &[], true);
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

/// A DATA frame.
fn data_frame(tx: &mut Vec<u8>, id: u32, data: &[u8], end: bool) {
    Frame::Data {
        stream_id: id,
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

/// A field name and value fit for HTTP/1 (RFC 9113 §8.2.1): names are
/// lowercase tokens, values have no CR, LF or NUL.
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

/// What the request head said about its body.
struct ReqInfo {
    body: ReqBody,
    clen: Option<u64>,
    head: bool,
    connect: bool,
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
        scheme.ok_or("missing :scheme")?;
        let p = path.ok_or("missing :path")?;
        if p.is_empty() {
            return Err("empty :path");
        }
        p
    };
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
                let v = std::str::from_utf8(f.value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or("invalid content-length")?;
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
    let _ = MAX_WINDOW_SIZE;
    Ok(ReqInfo {
        body,
        clen,
        head: method == b"HEAD",
        connect,
    })
}

//! `mux_h2` (`mux_h2.c`): one HTTP/2 connection core for both sides, as
//! HAProxy has one `struct h2c` whose `H2_CF_IS_BACK` flag says whether it
//! is a client connection (frontend) or a connection Sluice opened to a
//! server (backend).
//!
//! [`H2Conn`] is HAProxy's `struct h2c`: the receive and send buffers
//! (`dbuf` / `mbuf`), the frame decoder, the HPACK decoder and encoder
//! (`ddht` / `edht`), the field block being assembled from HEADERS and
//! CONTINUATION, the peer's SETTINGS, the connection send window
//! (`h2c->mws`) and the credit owed back to the peer, GOAWAY in both
//! directions, the highest stream id seen (`h2c->max_id`) and the stream
//! table (`h2c->streams_by_id`). Its demux ([`H2Conn::demux_frames`],
//! `h2_process_demux`) reads frames and answers the connection-level
//! ones itself: SETTINGS (applied, then ACKed), PING (answered),
//! WINDOW_UPDATE on stream 0, PRIORITY and unknown types (ignored),
//! PUSH_PROMISE (a connection error: neither side accepts push); the
//! frames that concern a stream go to its side ([`Side`]):
//!
//! | side | HAProxy | what only it does |
//! |------|---------|-------------------|
//! | [`front::Front`] ([`H2c`]) | `h2c` without `H2_CF_IS_BACK`, `h2c_frt_*` | checks the client preface, turns a request's HEADERS into an HTTP/1.1 request, frames the response |
//! | [`back::Back`] ([`H2b`]) | `h2c` with `H2_CF_IS_BACK`, `h2c_bck_*` | sends the preface, frames the request, turns the response's HEADERS into an HTTP/1.1 response |
//!
//! Both sides work in HAProxy 1.8's shape (no HTX): a stream's channels
//! carry HTTP/1.1, which the side converts to and from frames.
//!
//! Invariants (both sides):
//! - nothing is read or written once `state` is [`H2cState::Error`] but
//!   the GOAWAY already queued in `tx`;
//! - every DATA frame received counts against the connection window and
//!   is credited back (`conn_owed`, batched by [`CONN_CREDIT_BATCH`]),
//!   whether or not its stream still exists (RFC 9113 §6.9); a stream's
//!   own credit is returned only once its bytes left the mux (`rxbuf`
//!   delivered), so a stream never buffers more than its window;
//! - a DATA frame sent fits the peer's max frame size, the stream's send
//!   window (`sws`) and the connection's (`mws`), both debited as it goes;
//! - the HPACK decoder sees every field block, in order, even those of a
//!   stream that is gone (its dynamic table is the connection's);
//! - the stream table is keyed by stream id; a side holds as many streams
//!   as it was given (the backend opens one per connection for now);
//! - flood defences (`docs/http2.md`, "Flood defences"): suspicious events
//!   add to `glitches` ([`H2Conn::report_glitch`], HAProxy 3.x's
//!   `h2c_report_glitch`), killed with ENHANCE_YOUR_CALM at the threshold;
//!   the socket is not read while [`TX_READ_STOP`] bytes wait to be sent,
//!   so unread PING / SETTINGS answers cannot grow `tx` without bound.

pub mod back;
pub mod front;

pub use back::{H2b, H2bFail, H2bs, STREAM_ID};
pub use front::{H2Limits, H2c, H2s, WS_KEY_LEN};

use crate::http::h1::{ChunkedDecoder, Decoded};
use crate::http::h2::frame::{
    self, encode_field_block, encode_settings, ErrorCode, Frame, FrameDecoder, H2Error, Role,
    SettingId, Settings, Status, DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE,
    FRAME_HEADER_LEN, MAX_MAX_FRAME_SIZE,
};
use crate::http::h2::hpack::{Decoder, Encoder, Field, HeaderList, HpackError};
use crate::http::h2::window::Window;
use crate::time::Time;

/// Receive buffer with the default SETTINGS_MAX_FRAME_SIZE: a whole frame
/// fits twice ([`H2Tune::rx_cap`]).
#[cfg(test)]
const RX_CAP: usize = 2 * (DEFAULT_MAX_FRAME_SIZE as usize + FRAME_HEADER_LEN);
/// How long a peer has to acknowledge our SETTINGS before the connection
/// error SETTINGS_TIMEOUT (RFC 9113 §6.5.3; HAProxy has no such bound, see
/// docs/http2.md): any live peer answers at its first read, so this only
/// ends connections whose peer ignores our SETTINGS, hence may use a
/// larger window, table or frame than we announced.
pub const SETTINGS_ACK_TIMEOUT_MS: u64 = 10_000;

/// Our own SETTINGS on one side (HAProxy's `h2_settings_*` globals and
/// their `h2_fe_*` / `h2_be_*` variants, `tune.h2.*`): what we announce
/// and enforce on what the peer sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Tune {
    /// `tune.h2.header-table-size` (default 4096): the HPACK dynamic table
    /// the peer may use in the field blocks it sends.
    pub header_table_size: u32,
    /// `tune.h2.[fe.|be.]initial-window-size` (default 65535, HAProxy
    /// 2.6's): each stream's receive window.
    pub initial_window_size: u32,
    /// Our SETTINGS_MAX_FRAME_SIZE ([`H2Tune::frame_size`]).
    pub max_frame_size: u32,
    /// `h2-workaround-bogus-websocket-clients`: SETTINGS_ENABLE_CONNECT_PROTOCOL
    /// (RFC 8441) is not announced, so a client's extended CONNECT is a
    /// stream error.
    pub no_ext_connect: bool,
}

impl Default for H2Tune {
    fn default() -> Self {
        H2Tune {
            header_table_size: crate::http::h2::hpack::DEFAULT_TABLE_SIZE as u32,
            initial_window_size: DEFAULT_INITIAL_WINDOW_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            no_ext_connect: false,
        }
    }
}

impl H2Tune {
    /// The frame size announced (`h2c_send_settings`): `tune.h2.max-frame-size`
    /// (`cfg`, 0 when absent: `tune.bufsize`), never more than
    /// `tune.bufsize`, as HAProxy; and never less than 16384, which
    /// HAProxy would announce with a smaller `tune.bufsize` although RFC
    /// 9113 §6.5.2 makes it a PROTOCOL_ERROR.
    pub fn frame_size(cfg: u32, bufsize: usize) -> u32 {
        let buf = u32::try_from(bufsize).unwrap_or(MAX_MAX_FRAME_SIZE);
        let mfs = if cfg == 0 { buf } else { cfg.min(buf) };
        mfs.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE)
    }

    /// The receive buffer: a whole frame of our SETTINGS_MAX_FRAME_SIZE
    /// fits twice.
    fn rx_cap(&self) -> usize {
        2 * (self.max_frame_size as usize + FRAME_HEADER_LEN)
    }
}
/// The mux stops encoding a message while this much waits to be sent.
const TX_HIGH: usize = 64 * 1024;
/// The connection window we announce (credited as data is demuxed;
/// per-stream windows bound what streams buffer).
const CONN_WINDOW: u32 = 1 << 24;
/// Connection-level credit is returned once this much is owed.
const CONN_CREDIT_BATCH: u32 = 16 * 1024;
/// While this much waits to be sent, the socket is not read: only the
/// answers to control frames (PING, SETTINGS ACK, RST_STREAM) can grow
/// `tx` past [`TX_HIGH`], so a client that floods PING or SETTINGS and
/// does not read the answers stops being read (nghttp2's
/// `max_outbound_ack`, in bytes).
const TX_READ_STOP: usize = 2 * TX_HIGH;
/// PING and SETTINGS answers queued while earlier output is still unsent
/// beyond which each one more counts a glitch (a burst no client needs).
const CTRL_ANSWERS_BURST: u32 = 100;

/// The connection's state (`H2_CS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H2cState {
    /// Waiting for the client preface (`H2_CS_PREFACE`; frontend only:
    /// a backend connection queues its preface and starts in `Frames`).
    Preface,
    /// Frames flow (`H2_CS_FRAME_*`).
    Frames,
    /// A GOAWAY went out (graceful): no new stream; the connection
    /// closes once its streams are over and `tx` is flushed.
    Closing,
    /// A connection error: GOAWAY queued, nothing more is read; closes
    /// once `tx` is flushed (`H2_CS_ERROR`).
    Error,
}

/// What a side (frontend or backend) does with the frames that concern
/// its streams; the connection core calls it from its demux. Each hook
/// mirrors the `h2c_frt_*` / `h2c_bck_*` pair (or the `H2_CF_IS_BACK`
/// branch) of the HAProxy function named.
pub trait Side: Sized {
    /// The stream table (`h2c->streams_by_id`).
    type Streams: std::fmt::Debug;
    /// Which frames the decoder accepts (a server receives requests).
    const ROLE: Role;
    /// A connection error (`h2c_error`): GOAWAY with `code`.
    fn conn_error(h: &mut H2Conn<Self>, code: ErrorCode);
    /// A stream error (`h2s_error`): RST_STREAM on `id` with `code`.
    fn stream_error(h: &mut H2Conn<Self>, id: u32, code: ErrorCode);
    /// Whether `id` names a stream in the idle state (RFC 9113 §5.1):
    /// WINDOW_UPDATE or RST_STREAM on it is a connection error.
    fn idle(h: &H2Conn<Self>, id: u32) -> bool;
    /// SETTINGS_INITIAL_WINDOW_SIZE went from `old` to `new`: every
    /// stream's send window moves by the difference (§6.9.2).
    fn initial_window_changed(h: &mut H2Conn<Self>, old: u32, new: u32) -> Result<(), H2Error>;
    /// WINDOW_UPDATE on a stream that is not idle (`h2c_handle_window_update`).
    fn window_update(h: &mut H2Conn<Self>, id: u32, increment: u32) -> Result<(), H2Error>;
    /// RST_STREAM on a stream that is not idle (`h2c_handle_rst_stream`).
    fn rst_stream(h: &mut H2Conn<Self>, id: u32, code: ErrorCode) -> Result<(), H2Error>;
    /// GOAWAY from the peer (`h2c_handle_goaway`): `peer_goaway` is set.
    fn goaway_received(h: &mut H2Conn<Self>, last_stream_id: u32, code: ErrorCode);
    /// Why PUSH_PROMISE is refused (a connection error either way).
    const PUSH_PROMISE: &'static str;
    /// DATA on a stream (`h2c_handle_data`, `h2_frt_transfer_data`); the
    /// connection credit is already counted.
    fn data(
        h: &mut H2Conn<Self>,
        id: u32,
        end_stream: bool,
        data: &[u8],
        flow_len: u32,
    ) -> Result<(), H2Error>;
    /// A whole field block, decoded into `h.hlist` (`h2c_frt_handle_headers`
    /// / `h2c_bck_handle_headers`): `too_large` when the header list
    /// passed its bound.
    fn headers(
        h: &mut H2Conn<Self>,
        id: u32,
        end_stream: bool,
        too_large: bool,
    ) -> Result<(), H2Error>;
}

/// An HTTP/2 connection (`struct h2c`), frontend or backend as its side
/// `S` says (`H2_CF_IS_BACK`).
#[derive(Debug)]
pub struct H2Conn<S: Side> {
    pub state: H2cState,
    rx: Box<[u8]>,
    rx_len: usize,
    tx: Vec<u8>,
    tx_off: usize,
    dec: FrameDecoder,
    hdec: Decoder,
    henc: Encoder,
    /// The last field block decoded.
    hlist: HeaderList,
    /// The field block being assembled (HEADERS + CONTINUATION).
    block: Vec<u8>,
    block_sid: u32,
    block_es: bool,
    block_err: Option<H2Error>,
    /// CONTINUATION frames in the field block being assembled.
    block_frags: u32,
    /// The peer's settings.
    pub peer: Settings,
    /// The peer's first SETTINGS arrived.
    pub peer_settings_seen: bool,
    /// Our own settings (`tune.h2.*`).
    pub ours: H2Tune,
    /// The peer acknowledged our SETTINGS.
    pub settings_acked: bool,
    /// When the peer's ACK of our SETTINGS is due (set by the glue from
    /// its `now` when it first arms the connection's timer): past it,
    /// GOAWAY(SETTINGS_TIMEOUT) ([`SETTINGS_ACK_TIMEOUT_MS`]).
    pub settings_ack_exp: Option<Time>,
    /// The connection send window (`h2c->mws`).
    mws: Window,
    /// Connection-level bytes owed back to the peer.
    conn_owed: u32,
    /// The connection window was opened to [`CONN_WINDOW`] (HAProxy's
    /// `H2_CF_WINDOW_OPENED`).
    conn_window_opened: bool,
    /// The stream table.
    pub streams: S::Streams,
    /// The highest stream id opened on the connection (`h2c->max_id`):
    /// by the client on a frontend, by us on a backend.
    pub max_id: u32,
    /// The peer sent GOAWAY (no new stream on this connection).
    pub peer_goaway: bool,
    /// Streams opened (by the client on a frontend, by us on a backend),
    /// for `show` and tests.
    pub nb_streams_total: u64,
    /// Glitches counted on the connection (`h2c->glitches`, the
    /// `fc_glitches` fetch): protocol events a well-behaved peer seldom
    /// causes (see [`H2Conn::report_glitch`]).
    pub glitches: u32,
    /// `tune.h2.fe.glitches-threshold` (0: none): at 75% of it a graceful
    /// GOAWAY, at 100% GOAWAY(ENHANCE_YOUR_CALM) and close.
    glitches_threshold: u32,
    /// The connection was killed by its glitches (counted once by the
    /// engine).
    pub glitch_killed: bool,
    /// `max-concurrent-streams`, which a graceful GOAWAY adds twice to
    /// `max_id` (`h2c->streams_hard_limit`).
    streams_hard_limit: u32,
    /// The last stream id a graceful GOAWAY allows (`h2c->last_sid`).
    pub last_sid: Option<u32>,
    /// PING / SETTINGS answered since `tx` was last empty.
    ctrl_answers: u32,
    /// A HEADERS frame opening a new stream is left unread (with all that
    /// follows it) while set: an active reverse connection not accepted by
    /// its listener yet (HAProxy's `H2_CF_DEM_TOOMANY` during preconnect).
    pub hold_new_streams: bool,
    /// `idle-ping`: the next expiry of the connection's timer sends a
    /// PING instead of ending it (HAProxy's `H2_CF_IDL_PING`).
    pub idle_ping_due: bool,
    /// `idle-ping`: a PING is out and its ACK not back yet
    /// (`H2_CF_IDL_PING_SENT`): the next expiry closes the connection,
    /// without GOAWAY.
    pub idle_ping_sent: bool,
    /// `idle-ping` on an idle frontend connection: when its `timeout
    /// http-keep-alive` expires, fixed at the start of the idle period.
    pub idle_ka_exp: Option<Time>,
    /// The active mutant (`--mutant`, `mutants` builds only).
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutants::Mutant>,
    /// What only this side knows.
    pub side: S,
}

impl<S: Side> H2Conn<S> {
    /// A connection with nothing queued yet, in `state`.
    fn with_side(
        state: H2cState,
        side: S,
        streams: S::Streams,
        max_header_list: usize,
        ours: H2Tune,
    ) -> Self {
        let mut dec = FrameDecoder::new(S::ROLE);
        // Frames up to what we announce are accepted at once: a peer that
        // has not seen our SETTINGS yet sends smaller ones anyway.
        dec.set_max_frame_size(ours.max_frame_size);
        H2Conn {
            state,
            rx: vec![0; ours.rx_cap()].into_boxed_slice(),
            rx_len: 0,
            tx: Vec::with_capacity(1024),
            tx_off: 0,
            dec,
            hdec: Decoder::new(ours.header_table_size as usize),
            henc: Encoder::default(),
            hlist: HeaderList::new(max_header_list),
            block: Vec::new(),
            block_sid: 0,
            block_es: false,
            block_err: None,
            block_frags: 0,
            peer: Settings::default(),
            peer_settings_seen: false,
            ours,
            settings_acked: false,
            settings_ack_exp: None,
            mws: Window::connection(),
            conn_owed: 0,
            conn_window_opened: false,
            streams,
            max_id: 0,
            peer_goaway: false,
            nb_streams_total: 0,
            glitches: 0,
            glitches_threshold: 0,
            glitch_killed: false,
            streams_hard_limit: 100,
            last_sid: None,
            ctrl_answers: 0,
            hold_new_streams: false,
            idle_ping_due: false,
            idle_ping_sent: false,
            idle_ka_exp: None,
            #[cfg(feature = "mutants")]
            mutant: None,
            side,
        }
    }

    /// Switches a mutant on (`--mutant`): `continuation-unbounded` lifts
    /// the bound on a field block's CONTINUATION frames.
    #[cfg(feature = "mutants")]
    pub fn set_mutant(&mut self, m: Option<crate::mutants::Mutant>) {
        self.mutant = m;
        if m == Some(crate::mutants::Mutant::H2ContinuationUnbounded) {
            self.dec.set_max_field_block(usize::MAX);
        }
    }

    /// Whether mutant `m` is on.
    #[cfg(feature = "mutants")]
    pub(crate) fn mutant_is(&self, m: crate::mutants::Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// The same connection on the other side (HAProxy's `h2_conn_reverse`
    /// flipping `H2_CF_IS_BACK`): buffers, HPACK tables, windows and the
    /// peer's settings are kept; the stream table starts empty (a
    /// connection is only reversed with no stream), stream ids start
    /// over (`max_id` 0), the decoder receives as `T`'s role, and the
    /// client-side flood accounting (glitches, graceful GOAWAY limit) is
    /// reset.
    pub(crate) fn into_side<T: Side>(self, side: T, streams: T::Streams) -> H2Conn<T> {
        let mut dec = self.dec;
        dec.set_role(T::ROLE);
        H2Conn {
            state: self.state,
            rx: self.rx,
            rx_len: self.rx_len,
            tx: self.tx,
            tx_off: self.tx_off,
            dec,
            hdec: self.hdec,
            henc: self.henc,
            hlist: self.hlist,
            block: self.block,
            block_sid: self.block_sid,
            block_es: self.block_es,
            block_err: self.block_err,
            block_frags: self.block_frags,
            peer: self.peer,
            peer_settings_seen: self.peer_settings_seen,
            ours: self.ours,
            settings_acked: self.settings_acked,
            settings_ack_exp: self.settings_ack_exp,
            mws: self.mws,
            conn_owed: self.conn_owed,
            conn_window_opened: self.conn_window_opened,
            streams,
            max_id: 0,
            peer_goaway: self.peer_goaway,
            nb_streams_total: 0,
            glitches: 0,
            glitches_threshold: 0,
            glitch_killed: false,
            streams_hard_limit: self.streams_hard_limit,
            last_sid: None,
            ctrl_answers: self.ctrl_answers,
            hold_new_streams: false,
            idle_ping_due: false,
            idle_ping_sent: false,
            idle_ka_exp: None,
            #[cfg(feature = "mutants")]
            mutant: self.mutant,
            side,
        }
    }

    /// `idle-ping`: queues a PING on an idle connection
    /// (`h2c_send_ping(h2c, 0)`, HAProxy's payload) and remembers it is
    /// out.
    pub fn send_idle_ping(&mut self) {
        Frame::Ping {
            ack: false,
            data: [0, 1, 2, 3, 4, 5, 6, 7],
        }
        .encode(&mut self.tx);
        self.idle_ping_due = false;
        self.idle_ping_sent = true;
    }

    /// `idle-ping` (`h2c_update_timeout`): the connection's timer for an
    /// idle connection, the first of `idle` (its other timeout) and
    /// `now` plus `ping_ms`; when the PING's comes first, its expiry sends
    /// a PING (unless one is out already, then it closes).
    pub fn idle_ping_timer(&mut self, now: Time, idle: Option<Time>, ping_ms: u32) -> Time {
        self.idle_ping_due = false;
        let ping = now.add_ms(u64::from(ping_ms));
        match idle {
            Some(t) if t <= ping => {
                // Another timer first: its expiry ends the connection as
                // usual (GOAWAY).
                self.idle_ping_sent = false;
                t
            }
            _ => {
                if !self.idle_ping_sent {
                    self.idle_ping_due = true;
                }
                ping
            }
        }
    }

    /// Queues our SETTINGS (`h2c_send_settings`), in HAProxy's order:
    /// ENABLE_PUSH 0 (`no_push`: the server side), ENABLE_CONNECT_PROTOCOL
    /// 1 (`connect_protocol`, RFC 8441), then HEADER_TABLE_SIZE,
    /// INITIAL_WINDOW_SIZE and MAX_FRAME_SIZE when they differ from the
    /// RFC's initial values, and MAX_CONCURRENT_STREAMS unless unlimited
    /// (`mcs` 0, which the protocol cannot say). The connection window
    /// stays at the RFC's 65535 until the first DATA is credited back, when
    /// it is opened to [`CONN_WINDOW`] (as HAProxy's `h2c_send_conn_wu`): a
    /// WINDOW_UPDATE here would come between our SETTINGS and the ACK of the
    /// peer's, where strict peers (VTest) expect the ACK.
    fn send_settings(&mut self, no_push: bool, connect_protocol: bool, mcs: u32) {
        let t = self.ours;
        let d = H2Tune::default();
        let mut p: Vec<(SettingId, u32)> = Vec::with_capacity(6);
        if no_push {
            p.push((SettingId::ENABLE_PUSH, 0));
        }
        if connect_protocol && !t.no_ext_connect {
            p.push((SettingId::ENABLE_CONNECT_PROTOCOL, 1));
        }
        if t.header_table_size != d.header_table_size {
            p.push((SettingId::HEADER_TABLE_SIZE, t.header_table_size));
        }
        if t.initial_window_size != d.initial_window_size {
            p.push((SettingId::INITIAL_WINDOW_SIZE, t.initial_window_size));
        }
        if mcs != 0 {
            p.push((SettingId::MAX_CONCURRENT_STREAMS, mcs));
        }
        if t.max_frame_size != d.max_frame_size {
            p.push((SettingId::MAX_FRAME_SIZE, t.max_frame_size));
        }
        encode_settings(&p, &mut self.tx);
    }

    /// A new stream's receive flow control: our initial window.
    fn rx_flow(&self) -> RxFlow {
        RxFlow::new(self.ours.initial_window_size)
    }

    /// Bytes a peer may send on a stream beyond our window while it has
    /// not acknowledged our SETTINGS: until then it may still count with
    /// the RFC's 65535 (§6.9.2), so a smaller window of ours is not
    /// enforced yet.
    fn rx_slack(&self) -> u32 {
        if self.settings_acked {
            0
        } else {
            DEFAULT_INITIAL_WINDOW_SIZE.saturating_sub(self.ours.initial_window_size)
        }
    }

    /// The SETTINGS ACK timer: armed at `now` + [`SETTINGS_ACK_TIMEOUT_MS`]
    /// the first time the glue asks, gone once the ACK came.
    pub fn settings_ack_timer(&mut self, now: Time) -> Option<Time> {
        if self.settings_acked || self.state == H2cState::Error {
            return None;
        }
        Some(
            *self
                .settings_ack_exp
                .get_or_insert(now.add_ms(SETTINGS_ACK_TIMEOUT_MS)),
        )
    }

    /// Whether the peer let the SETTINGS ACK timer expire at `now`.
    pub fn settings_ack_expired(&self, now: Time) -> bool {
        !self.settings_acked
            && self.state != H2cState::Error
            && self.settings_ack_exp.is_some_and(|e| e <= now)
    }

    /// The connection error SETTINGS_TIMEOUT (§6.5.3): GOAWAY, then close.
    pub fn settings_timeout(&mut self) {
        S::conn_error(self, ErrorCode::SETTINGS_TIMEOUT);
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

    /// `n` bytes were written into [`H2Conn::rx_spare`].
    pub fn received(&mut self, n: usize) {
        self.rx_len = (self.rx_len + n).min(self.rx.len());
    }

    /// Whether the socket is to be read.
    pub fn want_read(&self) -> bool {
        self.state != H2cState::Error
            && self.rx_len < self.rx.len()
            && self.tx.len() - self.tx_off < TX_READ_STOP
    }

    /// Counts `n` glitches (`h2c_report_glitch`): at 75% of
    /// `tune.h2.fe.glitches-threshold` a graceful GOAWAY tells the client
    /// to reconnect (last stream id `max_id` + twice the concurrent
    /// streams limit, as HAProxy); at the threshold, the connection error
    /// ENHANCE_YOUR_CALM. HAProxy also waits for the CPU to be busy
    /// (`tune.glitches.kill.cpu-usage`, default 0: always kills), which
    /// Sluice does not measure.
    fn report_glitch(&mut self, n: u32) -> Result<(), H2Error> {
        self.glitches = self.glitches.saturating_add(n);
        let thres = self.glitches_threshold;
        if thres == 0 || self.glitches < (thres * 3 + 1) / 4 {
            return Ok(());
        }
        if self.glitches >= thres {
            self.glitch_killed = true;
            return Err(H2Error::Connection {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                reason: "glitches threshold reached",
            });
        }
        let last = self.max_id + 2 * self.streams_hard_limit;
        self.graceful_goaway(last);
        Ok(())
    }

    /// A graceful GOAWAY(NO_ERROR) allowing streams up to `last_sid`
    /// (`h2c_send_goaway_error` with `h2c->last_sid` set): sent when it
    /// lowers the limit already announced; the connection then takes no
    /// stream above it and closes once its streams are over.
    pub fn graceful_goaway(&mut self, last_sid: u32) {
        if self.state == H2cState::Error || self.last_sid.is_some_and(|l| l <= last_sid) {
            return;
        }
        self.last_sid = Some(last_sid);
        self.send_goaway(last_sid, ErrorCode::NO_ERROR);
        self.state = H2cState::Closing;
    }

    /// Frames waiting to be written.
    pub fn tx_pending(&self) -> &[u8] {
        &self.tx[self.tx_off..]
    }

    /// `n` bytes of [`H2Conn::tx_pending`] were written.
    pub fn sent(&mut self, n: usize) {
        self.tx_off = (self.tx_off + n).min(self.tx.len());
        if self.tx_off == self.tx.len() {
            self.tx.clear();
            self.tx_off = 0;
            self.ctrl_answers = 0;
        }
    }

    /// Room for more frames of a message.
    pub fn tx_room(&self) -> bool {
        self.tx.len() - self.tx_off < TX_HIGH
    }

    /// Queues RST_STREAM (`h2c_send_rst_stream`).
    fn rst(&mut self, id: u32, code: ErrorCode) {
        Frame::RstStream {
            stream_id: id,
            code,
        }
        .encode(&mut self.tx);
    }

    /// Queues GOAWAY with `last_stream_id` (`h2c_send_goaway_error`).
    fn send_goaway(&mut self, last_stream_id: u32, code: ErrorCode) {
        Frame::GoAway {
            last_stream_id,
            code,
            debug: &[],
        }
        .encode(&mut self.tx);
    }

    /// Returns the connection-level credit owed (WINDOW_UPDATE on 0); the
    /// first one also opens the window from 65535 to [`CONN_WINDOW`].
    fn credit_conn(&mut self) {
        if self.conn_owed > 0 && self.state != H2cState::Error {
            let mut increment = self.conn_owed;
            if !self.conn_window_opened {
                self.conn_window_opened = true;
                increment += CONN_WINDOW - DEFAULT_INITIAL_WINDOW_SIZE;
            }
            Frame::WindowUpdate {
                stream_id: 0,
                increment,
            }
            .encode(&mut self.tx);
        }
        self.conn_owed = 0;
    }

    /// Demultiplexes the frames received from `pos` on
    /// (`h2_process_demux`): control frames are answered in `tx`, the
    /// others go to the side. Errors are the side's to answer: a stream
    /// error resets that stream, a connection error sends GOAWAY.
    fn demux_frames(&mut self, mut pos: usize) {
        while self.state != H2cState::Error {
            if self.hold_new_streams && self.opens_stream(&self.rx[pos..self.rx_len]) {
                break;
            }
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
                    // Every stream error is a glitch (HAProxy counts one
                    // for each protocol error it answers).
                    S::stream_error(self, stream_id, code);
                    if let Err(e) = self.report_glitch(1) {
                        S::conn_error(self, e.code());
                    }
                }
                Err(e @ H2Error::Connection { .. }) => S::conn_error(self, e.code()),
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

    /// Whether the frame at the start of `rx` is a HEADERS frame opening
    /// a stream (an id above any seen), outside a field block.
    fn opens_stream(&self, rx: &[u8]) -> bool {
        if rx.len() < FRAME_HEADER_LEN || self.dec.in_field_block() {
            return false;
        }
        let id = u32::from_be_bytes([rx[5], rx[6], rx[7], rx[8]]) & 0x7fff_ffff;
        rx[3] == frame::FrameType::HEADERS.0 && id > self.max_id
    }

    fn handle_frame(&mut self, f: Frame<'_>) -> Result<(), H2Error> {
        match f {
            Frame::Settings { ack: true, .. } => {
                self.settings_acked = true;
                self.settings_ack_exp = None;
                Ok(())
            }
            Frame::Settings { ack: false, params } => {
                let old = self.peer.initial_window_size;
                self.peer.apply(params);
                self.peer_settings_seen = true;
                let new = self.peer.initial_window_size;
                if old != new {
                    S::initial_window_changed(self, old, new)?;
                }
                self.henc
                    .set_peer_max_table_size(self.peer.header_table_size as usize);
                self.ctrl_answered()?;
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
                self.ctrl_answered()?;
                Frame::Ping { ack: true, data }.encode(&mut self.tx);
                Ok(())
            }
            Frame::Ping { ack: true, .. } => {
                // The answer to our idle PING (`h2c_handle_ping`): the
                // connection lives on (its timer is re-armed after the
                // demux).
                if self.idle_ping_sent && !self.idle_ping_due {
                    self.idle_ping_sent = false;
                }
                Ok(())
            }
            Frame::GoAway {
                last_stream_id,
                code,
                ..
            } => {
                self.peer_goaway = true;
                S::goaway_received(self, last_stream_id, code);
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
                if S::idle(self, stream_id) {
                    // §5.1: WINDOW_UPDATE on an idle stream.
                    return Err(H2Error::Connection {
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "WINDOW_UPDATE on an idle stream",
                    });
                }
                S::window_update(self, stream_id, increment)
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::RstStream { stream_id, code } => {
                if S::idle(self, stream_id) {
                    return Err(H2Error::Connection {
                        code: ErrorCode::PROTOCOL_ERROR,
                        reason: "RST_STREAM on an idle stream",
                    });
                }
                S::rst_stream(self, stream_id, code)
            }
            Frame::PushPromise { .. } => Err(H2Error::Connection {
                code: ErrorCode::PROTOCOL_ERROR,
                reason: S::PUSH_PROMISE,
            }),
            Frame::Data {
                stream_id,
                end_stream,
                data,
                flow_len,
                ..
            } => {
                // The connection window counts every DATA frame, even for
                // a stream that is gone (§6.9).
                self.conn_owed += flow_len;
                S::data(self, stream_id, end_stream, data, flow_len)
            }
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
                self.block_frags = 0;
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
                self.block_frags += 1;
                if end_headers {
                    self.handle_block()
                } else {
                    Ok(())
                }
            }
        }
    }

    /// A PING or SETTINGS is answered: past [`CTRL_ANSWERS_BURST`] answers
    /// while output waits, each one more is a glitch (a PING / SETTINGS
    /// flood whose answers the client does not read).
    fn ctrl_answered(&mut self) -> Result<(), H2Error> {
        self.ctrl_answers += 1;
        if self.ctrl_answers > CTRL_ANSWERS_BURST {
            return self.report_glitch(1);
        }
        Ok(())
    }

    /// A whole field block: decoded (always, for the dynamic table's
    /// sake), then given to the side.
    fn handle_block(&mut self) -> Result<(), H2Error> {
        let id = self.block_sid;
        let es = self.block_es;
        // HAProxy's CONTINUATION abuse check: more than 4 fragments of
        // less than 1 kB each on average count one glitch per 16.
        let frags = std::mem::take(&mut self.block_frags);
        if frags > 4 && frags as usize > self.block.len() / 1024 {
            self.report_glitch(frags.div_ceil(16))?;
        }
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
        S::headers(self, id, es, too_large)
    }

    /// Encodes `fields` (HPACK) into HEADERS + CONTINUATION frames on
    /// stream `id`.
    fn send_fields<'a>(&mut self, id: u32, fields: impl IntoIterator<Item = Field<'a>>, end: bool) {
        let mut block = Vec::new();
        self.henc.encode(fields, &mut block);
        encode_field_block(id, &block, end, self.peer.max_frame_size, &mut self.tx);
    }

    /// Frames what it can of a message body in HTTP/1.1 form (`rest`, the
    /// channel's output) as DATA on stream `id`, within `sws`, the
    /// connection window and the peer's max frame size (`h2s_make_data`).
    fn body_step(&mut self, id: u32, sws: &mut Window, body: &mut TxBody, rest: &[u8]) -> BodyStep {
        let max_frame = self.peer.max_frame_size as usize;
        match body {
            TxBody::Length(left) => {
                let want = (*left).min(rest.len() as u64) as usize;
                if want == 0 {
                    return BodyStep::Blocked;
                }
                let n = want
                    .min(max_frame)
                    .min(sws.available() as usize)
                    .min(self.mws.available() as usize);
                if n == 0 {
                    return BodyStep::Blocked;
                }
                *left -= n as u64;
                let end = *left == 0;
                sws.sent(n as u32);
                self.mws.sent(n as u32);
                data_frame(&mut self.tx, id, &rest[..n], end);
                if end {
                    BodyStep::End(n)
                } else {
                    BodyStep::Used(n)
                }
            }
            TxBody::Chunked(d) => {
                if rest.is_empty() {
                    return BodyStep::Blocked;
                }
                let credit = (sws.available().min(self.mws.available()) as usize).min(max_frame);
                if credit == 0 {
                    return BodyStep::Blocked;
                }
                // Payload is a part of the input: giving the decoder at
                // most `credit` bytes keeps the payload within it.
                let limit = rest.len().min(credit);
                match d.decode(&rest[..limit]) {
                    Err(_) => BodyStep::Error,
                    Ok((Decoded::NeedMore, 0)) => BodyStep::Blocked,
                    Ok((Decoded::NeedMore, n)) => BodyStep::Used(n),
                    Ok((Decoded::Data(p), n)) => {
                        sws.sent(p.len() as u32);
                        self.mws.sent(p.len() as u32);
                        data_frame(&mut self.tx, id, p, false);
                        BodyStep::Used(n)
                    }
                    Ok((Decoded::End, n)) => {
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
                            self.send_fields(id, fields, true);
                        }
                        BodyStep::End(n)
                    }
                }
            }
        }
    }

    /// `n` bytes of a stream's `rxbuf` left the mux: once it is empty,
    /// the stream's credit goes back to the peer (when `credit` says the
    /// peer may still send on it), then the connection's.
    fn delivered_bytes(
        &mut self,
        id: u32,
        rx: &mut RxFlow,
        rxbuf: &mut Vec<u8>,
        n: usize,
        credit: bool,
    ) {
        rxbuf.drain(..n.min(rxbuf.len()));
        if rxbuf.is_empty() && rx.owed > 0 {
            let owed = rx.owed;
            rx.owed = 0;
            if credit {
                rx.rwin += i64::from(owed);
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
}

/// An outgoing message body being framed as DATA.
#[derive(Debug)]
enum TxBody {
    /// Body of `content-length`: bytes left.
    Length(u64),
    /// Chunked body, decoded; its trailers become a HEADERS frame.
    Chunked(Box<ChunkedDecoder>),
}

/// What [`H2Conn::body_step`] did.
enum BodyStep {
    /// Nothing more can go now (no input, or no credit).
    Blocked,
    /// This many bytes of the input were taken; the body goes on.
    Used(usize),
    /// This many bytes were taken and END_STREAM went out.
    End(usize),
    /// The body cannot be converted: the stream is to be reset.
    Error,
}

/// The receive side of a stream's flow control.
#[derive(Debug)]
struct RxFlow {
    /// Flow-controlled bytes received and not yet credited back (once
    /// `rxbuf` drains into the channel).
    owed: u32,
    /// Our receive window as the peer sees it.
    rwin: i64,
    /// `content-length` still expected (checked against DATA, §8.1.1).
    clen_left: Option<u64>,
}

impl RxFlow {
    /// A stream whose window is `iws` (our SETTINGS_INITIAL_WINDOW_SIZE).
    fn new(iws: u32) -> RxFlow {
        RxFlow {
            owed: 0,
            rwin: i64::from(iws),
            clen_left: None,
        }
    }

    /// A DATA frame on stream `id`: within the window we announced (plus
    /// `slack`, [`H2Conn::rx_slack`]), and within the `content-length`
    /// announced (§8.1.1).
    fn recv(
        &mut self,
        id: u32,
        data: &[u8],
        flow_len: u32,
        end_stream: bool,
        slack: u32,
    ) -> Result<(), H2Error> {
        if i64::from(flow_len) > self.rwin + i64::from(slack) {
            return Err(H2Error::Stream {
                stream_id: id,
                code: ErrorCode::FLOW_CONTROL_ERROR,
                reason: "data beyond the stream window",
            });
        }
        self.rwin -= i64::from(flow_len);
        self.owed += flow_len;
        if let Some(left) = self.clen_left.as_mut() {
            if data.len() as u64 > *left || (end_stream && data.len() as u64 != *left) {
                return Err(H2Error::Stream {
                    stream_id: id,
                    code: ErrorCode::PROTOCOL_ERROR,
                    reason: "content-length mismatch",
                });
            }
            *left -= data.len() as u64;
        }
        Ok(())
    }

    /// Trailers (or END_STREAM) end the body: all of `content-length`
    /// must have come.
    fn clen_complete(&self) -> bool {
        self.clen_left.is_none_or(|l| l == 0)
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

/// One `name: value` line of an HTTP/1.1 head.
fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A `content-length` value: digits only, one number.
fn parse_clen(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v)
        .ok()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
}

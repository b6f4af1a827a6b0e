//! Muxes: HAProxy's `struct mux_ops` (`connection-t.h`), the layer that
//! turns a connection's byte stream into streams and back.
//!
//! ```text
//!   stream  <-- stconn (scf / scb) --> sedesc
//!                                        |  attach / detach / wake
//!   mux     Pt (mux_pt.c)  | H2 (mux_h2.c, both sides) | H1 (issue 15)
//!   xprt    Raw (raw_sock.c) | TLS (issue 9)
//!   ctrl    the driver's socket (SockId)
//! ```
//!
//! A mux knows its connection's state and the streams it carries, never a
//! stream's analysers, transaction or proxies: the stream connector glue
//! (`stream::stconn`, HAProxy's `sc_conn_recv` / `sc_conn_send`) is the
//! only code that knows both a stream and a mux. The operations are those
//! of `mux_ops` in a sans-IO shape:
//!
//! | `mux_ops`        | here                         |
//! |------------------|------------------------------|
//! | `init`           | [`Mux::init_pt`]             |
//! | `attach`         | [`Mux::attach`]              |
//! | `detach`         | [`Mux::detach`]              |
//! | `avail_streams`  | [`Mux::avail_streams`]       |
//! | `rcv_buf`        | [`Mux::rx_stream`] (where received bytes go) |
//! | `snd_buf`        | [`Mux::tx_stream`] (whose bytes are sent)    |
//! | `wake`           | [`Mux::streams`] (every stream to wake on a connection event) |
//!
//! `mux_pt` carries one stream at a time and moves bytes untouched; the
//! HTTP/1 analysers still parse in the channel until `mux_h1` takes over
//! (the rest of issue 15), and HTTP/2 (issue 16) adds a mux that carries
//! many streams at once, which is why every operation names its stream.

pub mod h2;
pub mod pt;

use crate::arena::Id;
use crate::stream::Stream;

pub use h2::{H2b, H2c};
pub use pt::MuxPt;

/// The multiplexer installed on a connection (`conn->mux` and its
/// context).
#[derive(Debug, Default)]
pub enum Mux {
    /// Not installed yet: the connection's handshakes (`accept-proxy`,
    /// later TLS) run first.
    #[default]
    None,
    /// `mux_pt`: one stream, bytes pass through untouched.
    Pt(MuxPt),
    /// `mux_h2` (client side): many streams, each an engine stream whose
    /// channels carry HTTP/1.1 (see [`h2::front`]; the connection core is
    /// [`h2::H2Conn`], shared with the server side). The stream-level operations
    /// below answer `None` for it: its glue (`stream::sc_h2`) names the
    /// streams itself.
    H2(Box<H2c>),
    /// `mux_h2` (server side): a connection to a `proto h2` server (or
    /// one that chose ALPN `h2`) carrying streams whose channels carry
    /// HTTP/1.1 (see [`h2::back`]); like `H2`, its glue (`stream::sc_h2b`)
    /// moves the bytes.
    H2b(Box<H2b>),
}

impl PartialEq for Mux {
    fn eq(&self, other: &Mux) -> bool {
        match (self, other) {
            (Mux::None, Mux::None) => true,
            (Mux::Pt(a), Mux::Pt(b)) => a == b,
            (Mux::H2(a), Mux::H2(b)) => std::ptr::eq(&**a, &**b),
            (Mux::H2b(a), Mux::H2b(b)) => std::ptr::eq(&**a, &**b),
            _ => false,
        }
    }
}

impl Mux {
    /// `mux_pt`'s `init`, with its first stream or none (an idle server
    /// connection has none).
    pub fn init_pt(stream: Option<Id<Stream>>) -> Mux {
        Mux::Pt(MuxPt::new(stream))
    }

    /// Whether a mux is installed (handshakes are over).
    pub fn installed(&self) -> bool {
        !matches!(self, Mux::None)
    }

    /// `attach`: `stream` is carried from now on. Returns `false` when the
    /// mux has no room for it (callers check [`Mux::avail_streams`]).
    pub fn attach(&mut self, stream: Id<Stream>) -> bool {
        match self {
            Mux::None => false,
            Mux::Pt(pt) => pt.attach(stream),
            Mux::H2(_) | Mux::H2b(_) => false,
        }
    }

    /// `detach`: `stream` is no longer carried; the connection stays
    /// (idle, or lingering).
    pub fn detach(&mut self, stream: Id<Stream>) {
        match self {
            Mux::None => {}
            Mux::Pt(pt) => pt.detach(stream),
            Mux::H2(_) => {}
            Mux::H2b(h) => h.detach(stream),
        }
    }

    /// How many more streams the connection can carry now
    /// (`avail_streams`).
    pub fn avail_streams(&self) -> usize {
        match self {
            Mux::None => 0,
            Mux::Pt(pt) => usize::from(pt.stream().is_none()),
            Mux::H2(_) => 0,
            Mux::H2b(h) => h.avail_streams(),
        }
    }

    /// The stream received bytes go to now (`rcv_buf`'s target), if any:
    /// a connection with none is idle, or lingering.
    pub fn rx_stream(&self) -> Option<Id<Stream>> {
        match self {
            Mux::None | Mux::H2(_) | Mux::H2b(_) => None,
            Mux::Pt(pt) => pt.stream(),
        }
    }

    /// The stream whose bytes are sent now (`snd_buf`'s source), if any.
    pub fn tx_stream(&self) -> Option<Id<Stream>> {
        match self {
            Mux::None | Mux::H2(_) | Mux::H2b(_) => None,
            Mux::Pt(pt) => pt.stream(),
        }
    }

    /// Every stream the connection carries: those a connection event
    /// (error, close) must reach (`wake`).
    pub fn streams(&self) -> impl Iterator<Item = Id<Stream>> + use<> {
        let (one, many) = match self {
            Mux::None => (None, Vec::new()),
            Mux::Pt(pt) => (pt.stream(), Vec::new()),
            Mux::H2(h) => (None, h.streams.values().filter_map(|s| s.sid).collect()),
            Mux::H2b(h) => (None, h.engine_streams().collect()),
        };
        one.into_iter().chain(many)
    }

    /// The server-side H2 mux, when it is the one installed.
    pub fn h2b(&self) -> Option<&H2b> {
        match self {
            Mux::H2b(h) => Some(h),
            _ => None,
        }
    }

    /// The server-side H2 mux, when it is the one installed.
    pub fn h2b_mut(&mut self) -> Option<&mut H2b> {
        match self {
            Mux::H2b(h) => Some(h),
            _ => None,
        }
    }

    /// The H2 mux, when it is the one installed.
    pub fn h2(&self) -> Option<&H2c> {
        match self {
            Mux::H2(h) => Some(h),
            _ => None,
        }
    }

    /// The H2 mux, when it is the one installed.
    pub fn h2_mut(&mut self) -> Option<&mut H2c> {
        match self {
            Mux::H2(h) => Some(h),
            _ => None,
        }
    }
}

//! Transport layers: HAProxy's `struct xprt_ops` (`raw_sock.c`,
//! `ssl_sock.c`), between a connection's socket (the *ctrl* layer, the
//! driver's) and its mux.
//!
//! The driver moves bytes only: it reads into the buffer the engine lends
//! and writes what the engine shows it. Below the mux, the xprt decides
//! what those buffers are:
//!
//! * [`Xprt::Raw`] (`raw_sock`): the driver reads straight into the
//!   stream's channel and writes straight from it; a byte is copied once
//!   in (kernel to channel) and once out (channel to kernel).
//! * [`Xprt::Tls`] (`ssl_sock`, `conn/tls.rs`): the driver reads
//!   ciphertext into the connection's own buffer, rustls decrypts into the
//!   channel, and encrypts the channel's output into a ciphertext buffer
//!   the driver writes from (docs/tls.md counts the copies). The handshake
//!   runs as a connection handshake step after `accept-proxy`, before the
//!   session is complete (client side), or before the stream learns that
//!   its server connection is up (server side).
//!
//! Every connection has an xprt, so that health checks, peers and the
//! stats socket get TLS where the data path does.

use super::tls::Tls;

/// The transport layer of a connection (`conn->xprt` and its context).
/// The raw variant holds nothing: the keep-alive hot path matches on the
/// tag and touches no TLS state.
#[derive(Debug, Default)]
pub enum Xprt {
    /// Plain TCP or unix stream bytes (`raw_sock`).
    #[default]
    Raw,
    /// TLS through rustls (`ssl_sock`).
    Tls(Box<Tls>),
}

impl Xprt {
    /// The TLS state, on a TLS connection.
    pub fn tls(&self) -> Option<&Tls> {
        match self {
            Xprt::Raw => None,
            Xprt::Tls(t) => Some(t),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Xprt::Tls(_))
    }
}

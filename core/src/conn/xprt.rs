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
//! * TLS (issue 9) will own a ciphertext buffer on each side: the driver
//!   reads ciphertext into it, rustls decrypts into the channel (one more
//!   copy each way), and the handshake runs as a connection handshake step
//!   after `accept-proxy`, before the session is complete.
//!
//! Every connection has an xprt, so that health checks, peers and the
//! stats socket get TLS where the data path does.

/// The transport layer of a connection (`conn->xprt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Xprt {
    /// Plain TCP or unix stream bytes (`raw_sock`).
    #[default]
    Raw,
}

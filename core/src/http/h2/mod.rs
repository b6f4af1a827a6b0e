//! HTTP/2 codecs (RFC 9113, RFC 7541): the parts of HAProxy's `mux_h2.c`,
//! `h2.c` and `hpack-*.c` that work on bytes alone.
//!
//! Pure, sans-IO and allocation-free per byte: decoders read from slices and
//! borrow from them, encoders append to a caller's `Vec<u8>`, nothing
//! panics on peer input. The mux (streams, flow control on buffers, the
//! connection state machine) builds on these.
//!
//! * [`hpack`]: header compression, the dynamic tables, Huffman.
//! * [`frame`]: the connection preface, the frame header, typed frames with
//!   RFC 9113's validation and error codes, and their encoders.
//! * [`window`]: flow-control windows, with RFC 9113's overflow rules.

pub mod frame;
pub mod hpack;
pub mod window;

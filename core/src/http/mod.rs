//! HTTP: the analysers, actions and fetches that work on an HTTP
//! transaction (HAProxy's `http_ana.c`, `http_act.c`, `http_fetch.c`), and
//! the HTTP/1 codec ([`h1`], HAProxy's `h1.c` / `h1_htx.c`).
//!
//! The codec knows nothing of streams or proxies: it parses and encodes
//! message heads and framing over byte slices.

pub(crate) mod act;
pub mod ana;
pub mod comp;
pub mod cookie;
pub mod errors;
pub(crate) mod fetch;
pub mod h1;
pub mod h2;
pub mod htx;
mod persist;
pub(crate) mod retry;

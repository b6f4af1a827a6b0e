//! `sluice-core`: Sluice's sans-IO engine.
//!
//! Everything that decides — what to accept, what to send, when to time out,
//! how stick tables evolve — lives here as pure state machines. Nothing in this
//! crate touches a socket, a clock, a file, a thread or OS randomness: time is
//! passed in ([`time::Time`]), randomness comes from a PRNG seeded by the
//! driver ([`rng::Rng`]). `core/clippy.toml` and `tests/purity.rs` enforce it.
//!
//! # Driving contract
//!
//! Every state machine in this crate is driven the same way: after any
//! `handle_*`/`on_*` input, drain the `poll_*` outputs until they are empty,
//! then read the next timeout and call back no later than that.
//!
//! # Modules, named after HAProxy's C files
//!
//! * [`backend`]: server assignment, queues and idle pools (`backend.c`,
//!   `queue.c`), load balancing (`lb_*.c`), servers (`server.c`), health
//!   checks (`check.c`).
//! * [`freq_ctr`]: frequency counters (`freq_ctr.c`).
//! * [`stick_table`]: stick tables, keys, data types (`stick_table.c`).
//! * [`peers`]: the peers protocol: wire codec and sessions (`peers.c`).
//! * [`sample`]: samples, fetches, converters (`sample.c`, `arg.c`): `sample/`
//!   splits values, the fetch table, the converters and arguments.
//! * [`pattern`]: pattern files, maps and their references (`pattern.c`,
//!   `map.c`).
//! * [`rules`]: rule types and their parser (`http_act.c`, `tcp_rules.c`
//!   keyword parsers): `rules/`.
//! * `testkit` (cargo feature `testkit`): the in-memory driver shared by
//!   the scenario tests, the engine fuzz targets and the engine benchmark.
//! * `fuzzing` (cargo feature `fuzzing`): entry points shared by the fuzz
//!   targets and the corpus replay test; not compiled into production builds.

#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod acl;
pub mod applet;
pub mod arena;
pub mod auth;
pub mod backend;
pub mod base64;
pub mod buf;
pub mod cfgparse;
pub mod conn;
pub mod dns;
pub mod engine;
mod fetch;
pub mod freq_ctr;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http;
pub mod inspect;
pub mod listener;
pub mod log;
#[cfg(feature = "mutants")]
pub mod mutants;
pub mod mux;
pub mod pattern;
pub mod peers;
pub mod pool;
pub mod proxy;
pub mod rng;
pub mod rules;
pub mod sample;
pub mod session;
pub mod sock;
pub mod stick_table;
pub mod stream;
pub mod task;
mod tcp_rules;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod time;
mod vars;

/// An internal invariant (HAProxy's `BUG_ON`): checked in debug builds, in
/// tests, in the simulator and under fuzzing; never reachable from peer input.
#[macro_export]
macro_rules! bug_on {
    ($cond:expr $(, $($arg:tt)+)?) => {
        debug_assert!(!($cond) $(, $($arg)+)?)
    };
}

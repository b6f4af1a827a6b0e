//! Sluice: a load balancer and reverse proxy that follows HAProxy's
//! architecture and speaks HAProxy's peers protocol.
//!
//! This root crate only re-exports the workspace members and hosts the
//! black-box tests (`tests/`) and the benchmarks (`benches/`):
//!
//! * [`core`] (`sluice-core`): the sans-IO engine; no clock, no socket, no
//!   OS randomness.
//! * [`mio`] (`sluice-mio`): the `proxy-mio` production driver.
//! * [`sim`] (`sluice-sim`): the deterministic simulator.

pub use sluice_core as core;
pub use sluice_mio as mio;
pub use sluice_sim as sim;

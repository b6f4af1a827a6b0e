//! `sluice-mio`: the `proxy-mio` driver. It owns sockets, the poller, the
//! clock, OS entropy, signals, config file loading and the stats socket
//! transport; every decision is the engine's (`sluice-core`).

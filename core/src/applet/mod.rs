//! Applets: HAProxy's `struct applet`, the endpoints that are code rather
//! than a connection. The CLI of the stats socket (`cli.c`) and the stats
//! dump it serves (`stats.c`) live here; the peers applet is in
//! [`crate::peers`].

pub mod cli;
pub(crate) mod cli_cmds;
pub(crate) mod cli_crtlist;
pub(crate) mod cli_errors;
pub(crate) mod cli_map;
pub(crate) mod cli_srv;
pub(crate) mod promex;
pub(crate) mod stats;
pub mod stats_page;
pub(crate) mod stats_threads;

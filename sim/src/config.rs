//! The haproxy.cfg text every node runs: a full peers mesh and stick tables
//! of several key and data types, including counters and `*_rate`
//! frequency counters. Scenarios use real configuration text, parsed by
//! `sluice_core::cfgparse`, so what is simulated is what ships.

use core::fmt::Write as _;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use sluice_core::cfgparse::{self, Config, ParseOptions};

/// Port every peer listens on (each node has its own loopback address).
pub const PEER_PORT: u16 = 10000;
/// Name of the peers section.
pub const SECTION: &str = "mesh";
/// Name of the adversary's peer entry, when a scenario has one.
pub const ADVERSARY: &str = "mallory";

/// The tables, by short name; `TABLES[i]` is `mesh/<name>` on the CLI.
pub const TABLES: [&str; 4] = ["t_ip", "t_int", "t_str", "t_bin"];

/// The peer name of honest node `i`.
pub fn node_name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// The address of node `i` (the adversary is node `n` in an `n`-node mesh).
pub fn node_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8)), PEER_PORT)
}

/// The node whose address is `ip`, if any.
pub fn node_of_ip(ip: IpAddr) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (o[0] == 127 && o[1] == 0 && o[2] == 0 && o[3] >= 1).then(|| o[3] as usize - 1)
        }
        IpAddr::V6(_) => None,
    }
}

/// The configuration of an `n`-node mesh (plus the adversary when
/// `adversary`), with `max_updates` as `tune.peers.max-updates-at-once`.
pub fn mesh_config(n: usize, adversary: bool, max_updates: u32) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "global");
    let _ = writeln!(s, "    tune.peers.max-updates-at-once {max_updates}");
    let _ = writeln!(s);
    let _ = writeln!(s, "peers {SECTION}");
    for i in 0..n {
        let _ = writeln!(s, "    peer {} {}", node_name(i), node_addr(i));
    }
    if adversary {
        let _ = writeln!(s, "    peer {ADVERSARY} {}", node_addr(n));
    }
    s.push_str(
        "    table t_ip type ip size 100k expire 30m store conn_cnt,conn_rate(1m),gpc0,http_req_rate(1m)\n\
         \x20   table t_int type integer size 100k expire 1h store server_id,gpt0,gpc0,gpc0_rate(1m),bytes_in_cnt\n\
         \x20   table t_str type string len 32 size 100k expire 1h store http_req_cnt,gpc(2),gpc_rate(2,1m),server_key\n\
         \x20   table t_bin type binary len 16 size 100k store gpt(2),http_err_cnt,bytes_out_cnt,bytes_out_rate(1m)\n",
    );
    s
}

/// Parses the mesh configuration as node `local` sees it.
pub fn parse(text: &str, local: &str) -> Result<Config, String> {
    let mut opts = ParseOptions::new(local);
    opts.local_peer = Some(local.to_string());
    cfgparse::parse("sim.cfg", text, opts)
        .map(|p| p.config)
        .map_err(|e| format!("{e:?}"))
}

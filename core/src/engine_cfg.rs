//! Building an engine from a parsed configuration (what HAProxy does after
//! `readcfgfile`: `check_config_validity`, then `init` of every subsystem).
//!
//! Host names are resolved by the driver, through the `resolve` callback:
//! the core never touches a resolver.

use core::fmt;
use core::net::SocketAddr;

use crate::cfgparse::{Addr, Config, Host, StatsLevel};
use crate::engine::{CliLevel, Engine, EngineOptions};
use crate::sock::ListenAddr;
use crate::stick_table::StickTable;
use crate::time::Time;

/// Why a checked configuration still cannot start (an address that does
/// not resolve, a peers section without a local address...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parsing [{}:{}] : {}",
            self.file, self.line, self.message
        )
    }
}

/// Resolves a host name and port to a socket address (the driver's job).
pub type Resolver<'a> = &'a dyn Fn(&str, u16) -> Option<SocketAddr>;

fn resolve_addr(addr: &Addr, resolve: Resolver<'_>) -> Result<SocketAddr, String> {
    match addr {
        Addr::Inet {
            host,
            port: Some(port),
        } => match host {
            Host::Ip(ip) => Ok(SocketAddr::new(*ip, *port)),
            Host::Name(n) => {
                resolve(n, *port).ok_or_else(|| format!("could not resolve address '{n}'"))
            }
        },
        Addr::Inet { port: None, .. } => Err(format!("missing port in '{addr}'")),
        other => Err(format!("unsupported address family for '{other}'")),
    }
}

impl Engine {
    /// An engine running `cfg`, started at `now`.
    pub fn from_config(
        now: Time,
        cfg: &Config,
        mut opts: EngineOptions,
        resolve: Resolver<'_>,
    ) -> Result<Engine, StartError> {
        if opts.local_peer.is_empty() {
            opts.local_peer = cfg.local_peer.clone();
        }
        let mut e = Engine::empty(now, opts);
        e.stats_timeout_ms = u64::from(cfg.global.stats_timeout_ms);
        for t in cfg.tables() {
            e.tables.push(StickTable::new(t.params.clone()));
        }
        for s in &cfg.global.stats_sockets {
            let level = match s.level {
                StatsLevel::User => CliLevel::User,
                StatsLevel::Operator => CliLevel::Operator,
                StatsLevel::Admin => CliLevel::Admin,
            };
            let addr = match &s.addr {
                Addr::Unix(path) => ListenAddr::Unix {
                    path: path.clone(),
                    mode: s.mode,
                },
                a => ListenAddr::Tcp(resolve_addr(a, resolve).map_err(|m| StartError {
                    file: s.place.file.clone(),
                    line: s.place.line,
                    message: format!("'stats socket' : {m}"),
                })?),
            };
            e.add_stats_socket(addr, level);
        }
        e.build_peers(cfg, resolve)?;
        Ok(e)
    }

    fn build_peers(&mut self, cfg: &Config, resolve: Resolver<'_>) -> Result<(), StartError> {
        let local = self.opts.local_peer.clone();
        for sect in cfg.peers.iter().filter(|s| !s.disabled) {
            let err = |line: u32, message: String| StartError {
                file: sect.place.file.clone(),
                line,
                message,
            };
            let mut members = Vec::new();
            for p in &sect.peers {
                let is_local = p.name == local;
                let addr = match (&p.addr, is_local) {
                    (Some(a), _) => a,
                    (None, true) => sect.local_addr(&local).ok_or_else(|| {
                        err(
                            p.place.line,
                            format!(
                                "peers section '{}': no address for local peer '{}'",
                                sect.name, p.name
                            ),
                        )
                    })?,
                    (None, false) => {
                        return Err(err(
                            p.place.line,
                            format!(
                                "peers section '{}': peer '{}' has no address",
                                sect.name, p.name
                            ),
                        ))
                    }
                };
                let addr = resolve_addr(addr, resolve)
                    .map_err(|m| err(p.place.line, format!("'peer {}' : {m}", p.name)))?;
                members.push((p.name.clone(), addr, is_local));
            }
            if !members.iter().any(|m| m.2) {
                // HAProxy ignores a section that does not list the local
                // peer (the checker warns about it).
                continue;
            }
            let bind = match &sect.bind {
                Some(b) => match b.addrs.first() {
                    Some(a) => Some(
                        resolve_addr(&a.addr, resolve)
                            .map_err(|m| err(b.place.line, format!("'bind' : {m}")))?,
                    ),
                    None => None,
                },
                None => None,
            };
            let tables: Vec<usize> = self
                .tables
                .iter()
                .enumerate()
                .filter(|(_, t)| t.params().peers.as_deref() == Some(sect.name.as_str()))
                .map(|(i, _)| i)
                .collect();
            let s = self.add_peers_section(
                &sect.name,
                members,
                tables,
                bind,
                cfg.global.tune_bufsize as usize,
            );
            self.peers[s].max_updates_at_once =
                cfg.global.tune_peers_max_updates_at_once.max(1) as usize;
        }
        Ok(())
    }
}

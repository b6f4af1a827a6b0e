//! The file descriptor budget, as HAProxy 2.6 computes and enforces it
//! (`compute_ideal_maxconn()`, `compute_ideal_maxsock()` and the
//! `RLIMIT_NOFILE` steps of `main()`):
//!
//! * `maxsock`, the descriptors the process may need: a fixed part (a
//!   reserve of 10 as HAProxy's initial `maxsock`, the poller, the signal
//!   pipe, every listening socket, 10 sessions per stats socket, two per
//!   remote peer, one per health-checked server, the log files) plus a
//!   per-connection part times `maxconn`: a client and a server socket,
//!   and a pipe (2 descriptors) per direction a proxy may splice. Sluice
//!   has no `maxpipes` pool to fall back from, so every possible pipe is
//!   counted (HAProxy counts `maxconn / 4` pipes).
//! * Without `maxconn`, it is derived from the hard limit (capped by
//!   `fd-hard-limit`): as many connections as fit, at least 100.
//! * The soft limit is set to `ulimit-n`, or to `maxsock`, the hard one
//!   raised if needed. When that fails, `strict-limits` (HAProxy 2.6's
//!   default) stops the start ("Cannot raise FD limit to N, limit is M.");
//!   `no strict-limits` sets the most it can and warns.
//! * Once privileges are dropped, a limit still under `maxsock` is an
//!   alert, and a refusal to start under `strict-limits`.

use std::io;

use sluice_core::cfgparse::{Config, LogAddr};

/// HAProxy's `DEFAULT_MAXCONN`: the least a derived `maxconn` may be.
pub const DEFAULT_MAXCONN: u64 = 100;

/// What the configuration needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdPlan {
    /// The global `maxconn` in effect (derived when the configuration has
    /// none).
    pub maxconn: u32,
    /// Whether `maxconn` was derived from the limits.
    pub derived: bool,
    /// Descriptors needed with `maxconn` connections.
    pub maxsock: u64,
}

/// Descriptors needed whatever the traffic.
pub fn fixed_fds(cfg: &Config) -> u64 {
    // Reserve (stdio included), the poller, the signal pipe.
    let mut n: u64 = 10 + 1 + 2;
    for p in cfg.proxies.iter().filter(|p| !p.disabled) {
        if p.kind.is_frontend() {
            for b in &p.binds {
                for a in &b.addrs {
                    let first = match &a.addr {
                        sluice_core::cfgparse::Addr::Inet { port: Some(p), .. } => *p,
                        _ => 0,
                    };
                    let last = a.port_last.unwrap_or(first).max(first);
                    n += u64::from(last - first) + 1;
                }
            }
        }
        if p.kind.is_backend() {
            n += p.servers.iter().filter(|s| s.opts.check).count() as u64;
        }
    }
    n += 11 * cfg.global.stats_sockets.len() as u64;
    for s in cfg.peers.iter().filter(|s| !s.disabled) {
        n += 1 + 2 * s.peers.len() as u64;
    }
    n += cfg
        .global
        .logs
        .iter()
        .filter(|l| matches!(l.addr, LogAddr::Unix(_)))
        .count() as u64;
    n
}

/// Descriptors one connection may hold: its two sockets and a pipe for
/// each direction a proxy may splice.
pub fn fds_per_conn(cfg: &Config) -> u64 {
    let live = || cfg.proxies.iter().filter(|p| !p.disabled);
    let req = live().any(|p| p.options.splice_auto || p.options.splice_request);
    let res = live().any(|p| p.options.splice_auto || p.options.splice_response);
    2 + 2 * (u64::from(req) + u64::from(res))
}

/// The plan for `cfg` under the limits the process started with.
pub fn plan(cfg: &Config, boot: Rlimit) -> FdPlan {
    let fixed = fixed_fds(cfg);
    let per = fds_per_conn(cfg);
    let (maxconn, derived) = match cfg.global.maxconn {
        Some(m) => (u64::from(m), false),
        None => {
            // HAProxy: MAX(rlim_fd_cur_at_boot, rlim_fd_max_at_boot).
            let mut remain = boot.cur.max(boot.max).min(u64::from(u32::MAX));
            if let Some(h) = cfg.global.fd_hard_limit {
                remain = remain.min(u64::from(h));
            }
            let m = remain.saturating_sub(fixed) / per;
            (m.max(DEFAULT_MAXCONN), true)
        }
    };
    let maxconn = maxconn.min(u64::from(u32::MAX)) as u32;
    FdPlan {
        maxconn,
        derived,
        maxsock: fixed + u64::from(maxconn) * per,
    }
}

/// A soft and a hard `RLIMIT_NOFILE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

pub fn get_nofile() -> Rlimit {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    Rlimit {
        cur: rl.rlim_cur,
        max: rl.rlim_max,
    }
}

fn set_nofile(l: Rlimit) -> io::Result<()> {
    let rl = libc::rlimit {
        rlim_cur: l.cur,
        rlim_max: l.max,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the soft limit to `ulimit-n` or `maxsock` (HAProxy's "ulimits"
/// step, before binding). `Err`: the start must stop; `warn` gets the
/// warning when `no strict-limits` lets it go on.
pub fn apply(
    cfg: &Config,
    plan: &FdPlan,
    boot: Rlimit,
    warn: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let want = cfg.global.ulimit_n.map_or(plan.maxsock, u64::from);
    let hard_cap = cfg.global.fd_hard_limit.map(u64::from);
    let target = Rlimit {
        cur: want,
        max: boot.max.max(want),
    };
    if hard_cap.is_none_or(|h| want <= h) && set_nofile(target).is_ok() {
        return Ok(());
    }
    let mut now = get_nofile();
    if let Some(h) = hard_cap {
        now.cur = now.cur.min(h);
    }
    if cfg.global.strict_limits {
        return Err(format!(
            "[proxy-mio.main()] Cannot raise FD limit to {want}, limit is {}.",
            now.cur
        ));
    }
    // Set the most we can at least.
    let mut most = Rlimit {
        cur: now.max,
        max: now.max,
    };
    if let Some(h) = hard_cap {
        most.cur = most.cur.min(h);
    }
    let cur = match set_nofile(most) {
        Ok(()) => get_nofile().cur,
        Err(_) => now.cur,
    };
    warn(&format!(
        "[proxy-mio.main()] Cannot raise FD limit to {want}, limit is {cur}."
    ));
    Ok(())
}

/// The check after privileges are dropped: `Err` stops the start
/// (`strict-limits`); `alert` gets the alert otherwise.
pub fn check(cfg: &Config, plan: &FdPlan, alert: &mut dyn FnMut(&str)) -> Result<(), String> {
    let cur = get_nofile().cur;
    if cur >= plan.maxsock {
        return Ok(());
    }
    let m = format!(
        "[proxy-mio.main()] FD limit ({cur}) too low for maxconn={}/maxsock={}. Please raise 'ulimit-n' to {} or more to avoid any trouble.",
        plan.maxconn, plan.maxsock, plan.maxsock
    );
    if cfg.global.strict_limits {
        return Err(m);
    }
    alert(&m);
    Ok(())
}

/// `-m MEGS`: caps the address space at `mb` MiB (`RLIMIT_AS`), as
/// HAProxy applies `global.rlimit_memmax`.
pub fn set_memmax(mb: u64) -> Result<(), String> {
    let bytes = mb.saturating_mul(1 << 20);
    let lim = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) } == -1 {
        return Err(format!(
            "Cannot fix MEM limit to {mb} megs: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::cfgparse::{parse, ParseOptions};

    fn cfg(text: &str) -> Config {
        parse("t.cfg", text, ParseOptions::new("h")).unwrap().config
    }

    const PROXIES: &str = "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend f\n    bind 127.0.0.1:80,127.0.0.1:8000-8009\n    default_backend b\nbackend b\n    server s1 127.0.0.1:1 check\n    server s2 127.0.0.1:2\n";

    #[test]
    fn maxsock_counts_listeners_checks_and_connections() {
        let c = cfg(&format!(
            "global\n    maxconn 1000\n    stats socket /tmp/x.sock\n{PROXIES}"
        ));
        // 13 fixed, 11 listeners, 1 check, 11 for the stats socket.
        assert_eq!(fixed_fds(&c), 13 + 11 + 1 + 11);
        let p = plan(&c, Rlimit { cur: 256, max: 256 });
        assert_eq!(
            p,
            FdPlan {
                maxconn: 1000,
                derived: false,
                maxsock: 36 + 2000
            }
        );
        // Splicing both ways: two pipes more per connection.
        let c = cfg(&format!(
            "global\n    maxconn 1000\n{PROXIES}    option splice-auto\n"
        ));
        assert_eq!(fds_per_conn(&c), 6);
    }

    #[test]
    fn maxconn_is_derived_from_the_hard_limit_as_haproxy_does() {
        let c = cfg(&format!("global\n{PROXIES}"));
        let fixed = fixed_fds(&c);
        let p = plan(
            &c,
            Rlimit {
                cur: 256,
                max: 20000,
            },
        );
        assert!(p.derived);
        assert_eq!(u64::from(p.maxconn), (20000 - fixed) / 2);
        assert!(p.maxsock <= 20000);
        // fd-hard-limit caps it; a tiny limit still gives 100.
        let c = cfg(&format!("global\n    fd-hard-limit 1000\n{PROXIES}"));
        assert_eq!(
            u64::from(
                plan(
                    &c,
                    Rlimit {
                        cur: 256,
                        max: 20000
                    }
                )
                .maxconn
            ),
            (1000 - fixed) / 2
        );
        assert_eq!(plan(&c, Rlimit { cur: 20, max: 20 }).maxconn, 100);
    }
}

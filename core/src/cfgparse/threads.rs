//! Threads: HAProxy's `cpu-map` (global), and which configurations may run
//! on several threads yet (docs/threads.md).
//!
//! Sluice runs one engine per thread. Some of what HAProxy keeps
//! process-wide (peers, `maxqueue`, frontend `maxconn`, ...) is not
//! shared between engines yet: a configuration that uses any of it runs
//! one thread, and [`single_thread_reasons`] says why, so that nothing
//! silently becomes per-thread.

use super::addr::Addr;
use super::model::{Balance, Config, Place, Proxy, ProxyKind};
use super::{Diagnostic, Ln};

/// The most threads (HAProxy 2.6's `MAX_THREADS` on 64-bit builds; also
/// the width of `cpu-map`'s CPU sets).
pub const MAX_THREADS: u32 = 64;

/// One `cpu-map [auto:]<process-set>[/<thread-set>] <cpu-set>...` line.
/// Sets are bit masks: bit `i` is process or thread `i + 1`, CPU `i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuMap {
    pub place: Place,
    /// `auto:`: the threads (or processes) are bound one to one, in
    /// order, to the CPUs (the sets must have the same size).
    pub auto: bool,
    pub procs: u64,
    /// `None`: no `/thread-set`: the line is about whole processes.
    pub threads: Option<u64>,
    pub cpus: u64,
}

/// HAProxy's `parse_process_number()`: `all`, `odd`, `even`, `N`, `N-M`
/// (1 to 64).
fn parse_set(t: &str) -> Option<u64> {
    let all = u64::MAX;
    let odd = 0x5555_5555_5555_5555u64; // 1, 3, 5...
    match t {
        "all" => return Some(all),
        "odd" => return Some(odd),
        "even" => return Some(!odd),
        _ => {}
    }
    let (lo, hi) = match t.split_once('-') {
        Some((a, "")) => (a.parse::<u32>().ok()?, MAX_THREADS),
        Some(("", b)) => (1, b.parse::<u32>().ok()?),
        Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
        None => {
            let n = t.parse::<u32>().ok()?;
            (n, n)
        }
    };
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    if lo < 1 || hi > MAX_THREADS {
        return None;
    }
    Some((lo..=hi).fold(0u64, |m, i| m | 1 << (i - 1)))
}

/// A CPU list word: `N` or `N-M`, 0 to 63.
fn parse_cpus(t: &str) -> Option<u64> {
    let (lo, hi) = match t.split_once('-') {
        Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
        None => {
            let n = t.parse::<u32>().ok()?;
            (n, n)
        }
    };
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    if hi >= MAX_THREADS {
        return None;
    }
    Some((lo..=hi).fold(0u64, |m, i| m | 1 << i))
}

/// Parses a `cpu-map` line, with HAProxy 2.6's messages.
pub(super) fn parse_cpu_map(ln: &Ln<'_>) -> Result<CpuMap, Diagnostic> {
    if ln.arg(2).is_empty() {
        return Err(ln.diag(
            "cpu-map expects a process number  ('all', 'odd', 'even', a number from 1 to 64 or a range),  followed by a list of CPU ranges with numbers from 0 to 63.",
        ));
    }
    let spec = ln.arg(1);
    let (auto, spec) = match spec.strip_prefix("auto:") {
        Some(s) => (true, s),
        None => (false, spec),
    };
    let (p, t) = match spec.split_once('/') {
        Some((p, t)) => (p, Some(t)),
        None => (spec, None),
    };
    let bad_set = |w: &str| {
        ln.diag(format!(
            "cpu-map : '{w}' is not a valid number/range. It supports numbers from 1 to 64.\n"
        ))
    };
    let procs = parse_set(p).ok_or_else(|| bad_set(p))?;
    let threads = match t {
        Some(t) => Some(parse_set(t).ok_or_else(|| bad_set(t))?),
        None => None,
    };
    let mut cpus = 0u64;
    for w in &ln.words[2..] {
        cpus |=
            parse_cpus(w).ok_or_else(|| ln.diag(format!("cpu-map : '{w}' is not a CPU range.")))?;
    }
    let set = threads.unwrap_or(procs);
    if auto && set.count_ones() != cpus.count_ones() {
        return Err(ln.diag(
            "cpu-map : PROC/THREAD range and CPU sets must have the same size to be automatically bound",
        ));
    }
    Ok(CpuMap {
        place: ln.place(),
        auto,
        procs,
        threads,
        cpus,
    })
}

/// The `n`-th set bit of `mask` (from 0), as a single-bit mask.
fn nth_bit(mask: u64, n: u32) -> u64 {
    let mut m = mask;
    for _ in 0..n {
        m &= m - 1;
    }
    m & m.wrapping_neg()
}

/// The CPUs each of the `nbthread` threads is bound to (a mask; `None`:
/// not bound), from the `cpu-map` lines, later lines winning, as HAProxy
/// applies them to its only process (process 1).
pub fn thread_cpus(maps: &[CpuMap], nbthread: u32) -> Vec<Option<u64>> {
    let mut out = vec![None; nbthread.min(MAX_THREADS) as usize];
    for m in maps {
        if m.procs & 1 == 0 {
            continue; // only process 1 exists
        }
        match m.threads {
            // Whole process: every thread; `auto:` gives the process the
            // CPU at its rank in the process set (rank 0: process 1).
            None => {
                let cpus = if m.auto { nth_bit(m.cpus, 0) } else { m.cpus };
                out.iter_mut().for_each(|c| *c = Some(cpus));
            }
            Some(threads) => {
                for (t, c) in out.iter_mut().enumerate() {
                    let bit = 1u64 << t;
                    if threads & bit == 0 {
                        continue;
                    }
                    *c = Some(if m.auto {
                        nth_bit(m.cpus, (threads & (bit - 1)).count_ones())
                    } else {
                        m.cpus
                    });
                }
            }
        }
    }
    out
}

fn proxy_label(p: &Proxy) -> String {
    let kind = match p.kind {
        ProxyKind::Frontend => "frontend",
        ProxyKind::Backend => "backend",
        ProxyKind::Listen => "proxy",
        ProxyKind::Defaults => "defaults",
    };
    format!("{kind} '{}'", p.name)
}

/// Why the configuration must run on one thread for now: each entry names
/// a feature whose state HAProxy keeps process-wide and Sluice does not
/// share between threads yet (issue 13), in configuration order. Empty:
/// the configuration behaves the same on any number of threads.
pub fn single_thread_reasons(cfg: &Config) -> Vec<String> {
    let mut r = Vec::new();
    const ISSUE: &str = "not implemented yet, issue 13";
    if let Some(p) = cfg.peers.iter().find(|p| !p.disabled) {
        r.push(format!(
            "peers section '{}' is used (one peers session per process: {ISSUE})",
            p.name
        ));
    }
    if let Some(p) = cfg.peers.iter().find(|p| !p.tables.is_empty()) {
        r.push(format!(
            "peers section '{}' declares a stick-table (process-wide stick tables: {ISSUE})",
            p.name
        ));
    }
    for p in &cfg.proxies {
        proxy_reasons(p, &mut r);
    }
    let dns = cfg.proxies.iter().filter(|p| !p.disabled).find_map(|p| {
        p.servers
            .iter()
            .find(|s| s.opts.resolvers.is_some())
            .map(|s| (p, s))
    });
    if let Some((p, s)) = dns {
        r.push(format!(
            "server '{}/{}' uses resolvers (DNS resolution once per process: not implemented yet, docs/dns.md)",
            p.name, s.name
        ));
    }
    r
}

fn proxy_reasons(p: &Proxy, r: &mut Vec<String>) {
    const ISSUE: &str = "not implemented yet, issue 13";
    let who = proxy_label(p);
    if p.disabled {
        return;
    }
    // Stick tables and stick rules are process-wide: every thread keeps
    // a replica, kept equal by messages (stick_table/threads.rs).
    if p.kind.is_frontend() {
        if let Some(m) = p.maxconn {
            r.push(format!(
                "{who} has 'maxconn {m}' (process-wide frontend limits: {ISSUE})"
            ));
        }
        for b in &p.binds {
            if let Some(m) = b.maxconn {
                r.push(format!(
                    "{who} has a bind with 'maxconn {m}' (process-wide listener limits: {ISSUE})"
                ));
            }
            if b.addrs.iter().any(|a| matches!(a.addr, Addr::Rhttp(_))) {
                r.push(format!(
                    "{who} has a reverse HTTP bind (one pool of reverse connections per process: {ISSUE})"
                ));
            }
        }
        if p.stats.is_some() {
            r.push(format!(
                "{who} serves the stats page (process-wide statistics: {ISSUE})"
            ));
        }
    }
    if !p.stats_admin.is_empty() {
        r.push(format!(
            "{who} has 'stats admin' (admin actions on every thread: {ISSUE})"
        ));
    }
    if matches!(p.balance, Balance::LeastConn | Balance::First) && !p.servers.is_empty() {
        r.push(format!(
            "{who} has 'balance {}' (process-wide server connection counts: {ISSUE})",
            p.balance.name()
        ));
    }
    for s in &p.servers {
        let o = &s.opts;
        // `check` is process-wide: checks run on thread 0, which tells
        // the other threads every result (docs/threads.md).
        // `maxconn` is process-wide: slot leases (backend/slots.rs). A
        // dynamic limit (`minconn`) follows the backend's load, which is
        // per thread, and `maxqueue` bounds a queue that is per thread.
        let what = if o.minconn.is_some() {
            Some((
                "'minconn'",
                "a dynamic maxconn from the process-wide backend load",
            ))
        } else if o.maxqueue.is_some() {
            Some(("'maxqueue'", "process-wide server queue lengths"))
        } else if o.agent_check {
            Some((
                "'agent-check'",
                "agent checks run once per process, as health checks do",
            ))
        } else if matches!(s.addr, Addr::Rhttp(_)) {
            Some((
                "a reverse HTTP address",
                "one pool of reverse connections per process",
            ))
        } else {
            None
        };
        if let Some((kw, feature)) = what {
            r.push(format!(
                "{who} server '{}' has {kw} ({feature}: {ISSUE})",
                s.name
            ));
        }
    }
    rule_reasons(p, &who, r);
}

/// Rules and ACLs that read or write process-wide state.
fn rule_reasons(p: &Proxy, who: &str, r: &mut Vec<String>) {
    const ISSUE: &str = "not implemented yet, issue 13";
    let lists = [
        &p.acls,
        &p.tcp_request_connection,
        &p.tcp_request_session,
        &p.tcp_request_content,
        &p.tcp_response_content,
        &p.http_request,
        &p.http_response,
        &p.http_after_response,
    ];
    for l in lists.iter().flat_map(|l| l.iter()) {
        let words = l
            .words
            .iter()
            .chain(l.cond.iter().flat_map(|c| c.words.iter()));
        for w in words {
            let found = if w.contains("proc.") {
                Some("a process-wide variable ('proc.')")
            } else if w.contains("prometheus-exporter") {
                Some("the Prometheus exporter (process-wide statistics")
            } else if w.starts_with("attach-srv") {
                Some("'attach-srv' (one pool of reverse connections per process")
            } else {
                None
            };
            if let Some(f) = found {
                let f = if f.ends_with(')') {
                    format!("{f} ({ISSUE})")
                } else {
                    format!("{f}: {ISSUE})")
                };
                r.push(format!("{who} uses {f} at {}:{}", l.file, l.line));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(line: &str) -> Result<CpuMap, String> {
        let ln = Ln {
            file: "t.cfg",
            line: 1,
            words: line.split_whitespace().map(str::to_string).collect(),
            kwm: super::super::Kwm::Std,
            env: Default::default(),
        };
        parse_cpu_map(&ln).map_err(|d| d.to_string())
    }

    #[test]
    fn cpu_map_forms_bind_threads_as_haproxy_does() {
        let m = |l: &str| map(l).unwrap();
        // auto: thread 1 -> CPU 0, thread 2 -> CPU 1.
        assert_eq!(
            thread_cpus(&[m("cpu-map auto:1/1-2 0-1")], 2),
            vec![Some(1), Some(2)]
        );
        // One thread to one CPU, the others unbound.
        assert_eq!(
            thread_cpus(&[m("cpu-map 1/2 3")], 3),
            vec![None, Some(8), None]
        );
        // Every thread to the whole set; a later line wins.
        assert_eq!(
            thread_cpus(&[m("cpu-map 1/all 0-3"), m("cpu-map 1/1 2")], 2),
            vec![Some(4), Some(0xf)]
        );
        // The whole process; several CPU words.
        assert_eq!(
            thread_cpus(&[m("cpu-map 1 0 2")], 2),
            vec![Some(5), Some(5)]
        );
        // Process 2 does not exist; thread 3 of 2 is nobody.
        assert_eq!(
            thread_cpus(&[m("cpu-map 2/1 0"), m("cpu-map 1/3 1")], 2),
            vec![None, None]
        );
    }

    #[test]
    fn cpu_map_errors_are_haproxys() {
        assert!(map("cpu-map auto:1/odd 4-5")
            .unwrap_err()
            .contains("must have the same size"));
        assert!(map("cpu-map auto:1/1-3 0-1")
            .unwrap_err()
            .contains("must have the same size"));
        assert!(map("cpu-map 1/x 0")
            .unwrap_err()
            .contains("'x' is not a valid number/range"));
        assert!(map("cpu-map 1/0 0")
            .unwrap_err()
            .contains("'0' is not a valid number/range"));
        assert!(map("cpu-map 1/1 a")
            .unwrap_err()
            .contains("'a' is not a CPU range"));
        assert!(map("cpu-map 1/1 64")
            .unwrap_err()
            .contains("'64' is not a CPU range"));
        assert!(map("cpu-map 1/1")
            .unwrap_err()
            .contains("cpu-map expects a process number"));
    }
}

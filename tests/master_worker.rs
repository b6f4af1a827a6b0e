//! Master-worker mode (`-W`, `-S`; issue 12 item 4), side by side with
//! HAProxy 2.6 (`haproxy -W -S`).
//!
//! * Reloads under load: clients send requests without pause through the
//!   proxy (keep-alive ones, and ones that open a new connection for every
//!   request) while the master is sent SIGUSR2 20 times. What must hold for
//!   Sluice: no connection refused, no request failed (a reused idle
//!   connection closed before any byte of the response is retried, as HTTP
//!   clients do: RFC 9110 §9.2.2), and the stick table entry set before the
//!   first reload is still there after the last one (handed over worker to
//!   worker through the local peer). HAProxy's figures are printed beside.
//! * A configuration that fails to load on reload leaves the worker serving
//!   (`show proc` counts the failure); the master CLI's `reload` then works.
//! * `show proc` lists the master and the worker with HAProxy's columns;
//!   `@1 CMD` reaches the worker's stats CLI.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn cfg(fe: u16, srv: u16, peer: u16) -> String {
    format!(
        "peers mesh\n    peer me 127.0.0.1:{peer}\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n    http-request track-sc0 src table t\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{srv}\n\
         backend t\n    stick-table type ip size 1k expire 10m peers mesh store http_req_cnt,gpc0\n"
    )
}

/// A master-worker process (Sluice's or HAProxy's) and its master CLI.
struct Mw {
    proc: Proc,
    mcli: PathBuf,
}

impl Mw {
    fn start(who: &str, dir: &TempDir, cfg: &Path) -> Mw {
        let bin: PathBuf = if who == "Sluice" {
            proxy_mio().to_path_buf()
        } else {
            haproxy_bin().unwrap().into()
        };
        let tag = if who == "Sluice" { "sluice" } else { "haproxy" };
        let mcli = dir.join(&format!("{tag}-master.sock"));
        let mut c = Command::new(bin);
        c.arg("-W")
            .arg("-S")
            .arg(&mcli)
            .args(["-L", "me", "-f"])
            .arg(cfg);
        let proc = Proc::spawn(tag, c, dir.join(&format!("{tag}.log")));
        let up = poll(Duration::from_secs(5), Duration::from_millis(20), || {
            master_cli(&mcli, "show proc")
                .ok()
                .filter(|o| worker_pids(o).len() == 1)
        });
        assert!(up.is_some(), "{who}: master CLI up: {}", proc.output());
        Mw { proc, mcli }
    }

    fn mcli(&self, cmd: &str) -> String {
        // HAProxy's master re-executes itself on reload: its CLI refuses
        // connections for a moment.
        let mut last = None;
        for _ in 0..100 {
            match master_cli(&self.mcli, cmd) {
                Ok(o) => return o,
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("master CLI {cmd}: {last:?}")
    }

    /// Waits until the current worker is not `prev` and its peers section
    /// is synced (`show peers` flags `RESYNC_LOCAL|RESYNC_REMOTE`);
    /// returns its pid.
    fn wait_synced(&self, prev: Option<u32>, within: Duration) -> Option<u32> {
        poll(within, Duration::from_millis(50), || {
            let cur = current_worker(&self.mcli("show proc"))?;
            if Some(cur) == prev {
                return None;
            }
            let peers = self.mcli(&format!("@!{cur} show peers"));
            let flags = peers
                .lines()
                .next()?
                .split_whitespace()
                .find_map(|w| w.strip_prefix("flags=0x"))?;
            let flags = u32::from_str_radix(flags, 16).ok()?;
            (flags & 3 == 3).then_some(cur)
        })
    }

    fn workers(&self) -> Vec<u32> {
        worker_pids(&self.mcli("show proc"))
    }

    /// Stops the master with SIGTERM and waits for it (and its workers).
    fn stop(mut self) -> Option<std::process::ExitStatus> {
        self.proc.signal(libc::SIGTERM);
        self.proc.wait_exit(Duration::from_secs(5))
    }
}

/// One command to a master CLI: HAProxy's answers, then waits for the
/// client to close its side; Sluice's closes at once.
fn master_cli(sock: &Path, cmd: &str) -> std::io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The worker pids `show proc` lists (current and old).
fn worker_pids(show_proc: &str) -> Vec<u32> {
    show_proc
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("worker"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The current worker's pid (first line under `# workers`).
fn current_worker(show_proc: &str) -> Option<u32> {
    let mut lines = show_proc.lines().skip_while(|l| *l != "# workers");
    lines.next()?;
    lines.next()?.split_whitespace().next()?.parse().ok()
}

/// Requests the server of the load test answered.
static SEEN: AtomicUsize = AtomicUsize::new(0);
/// The same for the other tests (they run in parallel).
static OTHER: AtomicUsize = AtomicUsize::new(0);

fn server(port: u16, seen: &'static AtomicUsize) -> TestServer {
    TestServer::start(port, move |mut s, _| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                buf.drain(..end + 4);
                if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .is_err()
                {
                    return;
                }
                seen.fetch_add(1, Ordering::SeqCst);
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
}

/// The `KEY` entry of `show table` output, as its `name=value` fields.
fn entry(show_table: &str, key: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let line = show_table
        .lines()
        .find(|l| l.contains(&format!(" key={key} ")))?;
    Some(
        line.split_whitespace()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

const RELOADS: usize = 20;

#[test]
fn reloads_under_load_lose_nothing() {
    if !haproxy_or_skip("master_worker reloads_under_load_lose_nothing") {
        return;
    }
    let dir = TempDir::new("mworker-load");
    let p = free_ports(3);
    let (fe, srv, peer) = (p[0], p[1], p[2]);
    let _srv = server(srv, &SEEN);
    let path = dir.join("mw.cfg");
    std::fs::write(&path, cfg(fe, srv, peer)).unwrap();
    let mut failures = Vec::new();
    for who in ["HAProxy 2.6", "Sluice"] {
        SEEN.store(0, Ordering::SeqCst);
        let mw = Mw::start(who, &dir, &path);
        let set = mw.mcli("@1 set table t key 10.0.0.1 data.gpc0 42");
        assert!(set.trim().is_empty(), "{who}: set table: {set:?}");
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..12)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || reload_client(fe, i % 3 != 0, stop))
            })
            .collect();
        let t0 = Instant::now();
        // The first worker is alone in its peers section: its tables are
        // "synced" after the 5 s resync timeout (as HAProxy's); only a
        // synced process teaches its successor.
        let first = mw.wait_synced(None, Duration::from_secs(8));
        let mut prev = first;
        let mut unsynced = 0;
        for _ in 0..RELOADS {
            mw.proc.signal(libc::SIGUSR2);
            std::thread::sleep(Duration::from_millis(200));
            // A reload every ~0.3 s or as soon as the new worker has learned
            // the tables from the old one, whichever is later.
            let next = mw.wait_synced(prev, Duration::from_secs(6));
            if next.is_none() {
                unsynced += 1;
            }
            prev = next.or(prev);
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        let mut t = Tally::default();
        for c in clients {
            let c = c.join().unwrap();
            t.ok += c.ok;
            t.retried += c.retried;
            t.refused.extend(c.refused);
            t.failed.extend(c.failed);
        }
        let elapsed = t0.elapsed();
        let proc_out = mw.mcli("show proc");
        let master_line = proc_out.lines().nth(1).unwrap_or("").to_string();
        let table = mw.mcli("@1 show table t");
        let kept = entry(&table, "10.0.0.1").and_then(|e| e.get("gpc0").cloned());
        let counted = entry(&table, "127.0.0.1").and_then(|e| e.get("http_req_cnt").cloned());
        let seen = SEEN.load(Ordering::SeqCst);
        eprintln!(
            "{who}: {} responses in {elapsed:?} over {RELOADS} reloads; {} retried (idle keep-alive connection closed); refused {}; failed {} {:?}; server saw {seen}; \
             table after: 10.0.0.1 gpc0={kept:?}, 127.0.0.1 http_req_cnt={counted:?}; reloads not synced within 6 s: {unsynced}; master: {master_line}",
            t.ok,
            t.retried,
            t.refused.len(),
            t.failed.len(),
            t.failed.iter().take(5).collect::<Vec<_>>(),
        );
        if who == "Sluice" {
            if t.ok < 500 {
                failures.push(format!("too little traffic: {t:?}"));
            }
            if !t.refused.is_empty() || !t.failed.is_empty() {
                failures.push(format!(
                    "refused {:?}, failed {:?}",
                    &t.refused[..t.refused.len().min(5)],
                    &t.failed[..t.failed.len().min(5)]
                ));
            }
            if kept.as_deref() != Some("42") {
                failures.push(format!("table entry lost: {table}"));
            }
            if !master_line.contains(&format!("{RELOADS} [failed: 0]")) {
                failures.push(format!("show proc: {proc_out}"));
            }
            // Nothing the server answered went unanswered to a client:
            // each request it saw is a response a client read, or one a
            // stopping worker had not forwarded (a retry's cause).
            if !(seen <= t.ok + t.retried && t.ok <= seen) {
                failures.push(format!("server saw {seen}, clients got {}", t.ok));
            }
        }
        let log = mw.proc.output();
        if who == "Sluice" {
            // Each new worker adopted the old one's sockets (the frontend's
            // and the peers listener) instead of binding its own.
            let passed = log
                .lines()
                .filter(|l| l.contains("took over 2 listening socket(s)"))
                .count();
            if passed != RELOADS {
                failures.push(format!("sockets passed on {passed} of {RELOADS} reloads"));
            }
        }
        let st = mw.stop();
        if who == "Sluice" && !st.is_some_and(|s| s.success()) {
            failures.push(format!("master exit {st:?}: {log}"));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(failures.is_empty(), "Sluice: {failures:#?}");
}

#[test]
fn bad_config_on_reload_keeps_the_worker_serving() {
    let dir = TempDir::new("mworker-bad");
    let p = free_ports(3);
    let (fe, srv, peer) = (p[0], p[1], p[2]);
    let _srv = server(srv, &OTHER);
    let path = dir.join("mw.cfg");
    let good = cfg(fe, srv, peer);
    std::fs::write(&path, &good).unwrap();
    let mw = Mw::start("Sluice", &dir, &path);
    let first = mw.workers();
    // The master lists the worker before the worker listens.
    let listening = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        std::net::TcpStream::connect(("127.0.0.1", fe))
            .ok()
            .map(drop)
    });
    assert!(
        listening.is_some(),
        "worker listening: {}",
        mw.proc.output()
    );
    assert!(http_get(fe, None, &[]).starts_with("HTTP/1.1 200"));
    std::fs::write(&path, format!("{good}    bogus-keyword here\n")).unwrap();
    mw.proc.signal(libc::SIGUSR2);
    let failed = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let o = mw.mcli("show proc");
        // As HAProxy 2.6: the attempt counts as a reload, and as failed.
        o.contains(" 1 [failed: 1]").then_some(o)
    });
    assert!(
        failed.is_some(),
        "failed reload counted: {}\n{}",
        mw.mcli("show proc"),
        mw.proc.output()
    );
    assert_eq!(mw.workers(), first, "the worker is the same");
    assert!(http_get(fe, None, &[]).starts_with("HTTP/1.1 200"));
    assert!(
        mw.proc.output().contains("Reloading failed"),
        "{}",
        mw.proc.output()
    );
    // Fixed, and reloaded from the master CLI.
    std::fs::write(&path, &good).unwrap();
    let _ = master_cli(&mw.mcli, "reload");
    let next = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let o = mw.mcli("show proc");
        let cur = current_worker(&o)?;
        (Some(&cur) != first.first() && worker_pids(&o).len() == 1).then_some(o)
    });
    assert!(next.is_some(), "{}", mw.mcli("show proc"));
    assert!(next.unwrap().contains(" 2 [failed: 1]"));
    assert!(http_get(fe, None, &[]).starts_with("HTTP/1.1 200"));
    let st = mw.stop();
    assert!(st.is_some_and(|s| s.success()), "{st:?}");
}

#[test]
fn show_proc_and_worker_commands_as_haproxy() {
    if !haproxy_or_skip("master_worker show_proc_and_worker_commands_as_haproxy") {
        return;
    }
    let dir = TempDir::new("mworker-proc");
    let p = free_ports(3);
    let path = dir.join("mw.cfg");
    std::fs::write(&path, cfg(p[0], p[1], p[2])).unwrap();
    // Columns: everything but the version, digits masked.
    let shape = |o: &str| -> Vec<String> {
        o.lines()
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                if l.starts_with('#') || cols.len() < 5 {
                    l.trim_end().to_string()
                } else {
                    // The PID column is 15 wide whatever the PID's digit
                    // count (CI's PIDs are 4 or 5 digits): keep it fixed.
                    let rest = &l[..l.rfind(cols[cols.len() - 1]).unwrap()];
                    let pid_col = 16.min(rest.len());
                    format!("<pid>{}", mask_digits(&rest[pid_col..]))
                }
            })
            .collect()
    };
    let mut shapes = Vec::new();
    for who in ["HAProxy 2.6", "Sluice"] {
        let mw = Mw::start(who, &dir, &path);
        let o = mw.mcli("show proc");
        let info = mw.mcli("@1 show info");
        assert!(info.contains("\nProcess_num: 1\n"), "{who}: {info}");
        let by_pid = mw.mcli(&format!("@!{} show info", mw.workers()[0]));
        assert!(by_pid.contains("\nProcess_num: 1\n"), "{who}: {by_pid}");
        let help = mw.mcli("help");
        for c in [
            "show proc",
            "reload",
            "prompt",
            "@<relative pid>",
            "@!<pid>",
        ] {
            assert!(help.contains(c), "{who}: help lists {c}: {help}");
        }
        shapes.push((who, shape(&o)));
        mw.stop();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(shapes[0].1, shapes[1].1, "{shapes:#?}");
}

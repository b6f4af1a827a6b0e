//! Seamless reloads without master-worker mode (issue 12 item 4): the new
//! process is started with `-x STATS_SOCKET -sf OLD_PID` and takes the old
//! one's listening sockets over the stats socket (`stats socket ...
//! expose-fd listeners`, HAProxy's `_getsocks`) instead of binding, side
//! by side with HAProxy 2.6.
//!
//! * Reloads under load: clients send requests without pause while the
//!   process is replaced 20 times. What must hold for Sluice: no
//!   connection refused, no request failed (a reused idle connection
//!   closed before any byte of the response is retried, as HTTP clients
//!   do), and the listening socket is the *same* socket all along: its
//!   inode (`/proc/net/tcp`) is the first process's, found in each new
//!   process's descriptors. A re-bind (`SO_REUSEPORT`) would give a new
//!   inode and fail the test. HAProxy's figures are printed beside.
//! * Interop: HAProxy 2.6 takes Sluice's sockets with `-x`, then Sluice
//!   takes them back from HAProxy: the format is HAProxy's. The UNIX
//!   stats socket and an abstract listener go over too.
//! * `-x` on a stats socket without `expose-fd listeners` stops the start
//!   with HAProxy's messages.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn cfg(sock: &Path, fe: u16, expose: bool) -> String {
    let expose = if expose { " expose-fd listeners" } else { "" };
    format!(
        "global\n    stats socket {} level admin{expose}\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n    http-request return status 200 content-type text/plain string ok\n",
        sock.display()
    )
}

/// Starts Sluice's or HAProxy's process on `cfg`, with `-x SOCK -sf OLD`
/// when `old` is given.
fn start(who: &str, dir: &TempDir, n: usize, cfg: &Path, old: Option<(&Path, u32)>) -> Proc {
    let (mut c, tag) = if who == "Sluice" {
        (Command::new(proxy_mio()), "sluice")
    } else {
        let mut c = Command::new(haproxy_bin().unwrap());
        c.arg("-db");
        (c, "haproxy")
    };
    c.arg("-f").arg(cfg);
    if let Some((sock, pid)) = old {
        c.arg("-x").arg(sock).arg("-sf").arg(pid.to_string());
    }
    Proc::spawn(tag, c, dir.join(&format!("{tag}-{n}.log")))
}

/// The inodes of the sockets listening on 127.0.0.1:`port`
/// (`/proc/net/tcp`, state 0A).
fn listening_inodes(port: u16) -> Vec<u64> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    tcp.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A"))
                .then(|| f.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// The inodes of the UNIX sockets listening on a path (or an abstract
/// name, `@NAME`) that starts with `prefix` (`/proc/net/unix`: flags
/// `__SO_ACCEPTCON`).
fn unix_listening_inodes(prefix: &str) -> Vec<u64> {
    let unix = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    unix.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&"00010000") && f.get(7).is_some_and(|p| p.starts_with(prefix)))
                .then(|| f.get(6)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Whether process `pid` holds the socket of inode `ino`.
fn holds(pid: u32, ino: u64) -> bool {
    let want = format!("socket:[{ino}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .any(|l| l.to_string_lossy() == want)
        })
        .unwrap_or(false)
}

/// Waits until something listens on `port`; returns the one inode.
fn wait_listening(port: u16) -> Option<u64> {
    poll(Duration::from_secs(5), Duration::from_millis(20), || {
        let v = listening_inodes(port);
        (v.len() == 1).then(|| v[0])
    })
}

const RELOADS: usize = 20;

#[test]
fn reloads_with_x_keep_the_socket_and_lose_nothing() {
    if !haproxy_or_skip("seamless_reload reloads_with_x_keep_the_socket_and_lose_nothing") {
        return;
    }
    let dir = TempDir::new("xfd-load");
    let fe = free_ports(1)[0];
    let mut failures = Vec::new();
    for who in ["HAProxy 2.6", "Sluice"] {
        let tag = if who == "Sluice" { "sluice" } else { "haproxy" };
        let sock = dir.join(&format!("{tag}.sock"));
        let path = dir.join(&format!("{tag}.cfg"));
        std::fs::write(&path, cfg(&sock, fe, true)).unwrap();
        let mut procs = vec![start(who, &dir, 0, &path, None)];
        let Some(ino) = wait_listening(fe) else {
            panic!("{who}: not listening: {}", procs[0].output());
        };
        assert!(
            poll(Duration::from_secs(5), Duration::from_millis(20), || {
                sock.exists().then_some(())
            })
            .is_some(),
            "{who}: stats socket"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..8)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || reload_client(fe, i % 2 == 0, stop))
            })
            .collect();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        // Reloads whose new process did not hold the first socket.
        let mut not_adopted = Vec::new();
        for n in 1..=RELOADS {
            let old = procs.last().unwrap().pid();
            let p = start(who, &dir, n, &path, Some((&sock, old)));
            let pid = p.pid();
            procs.push(p);
            let adopted = poll(Duration::from_secs(5), Duration::from_millis(10), || {
                holds(pid, ino).then_some(())
            });
            if adopted.is_none() {
                not_adopted.push(n);
            }
            // The old one stops listening once the new one is up (-sf):
            // one socket on the port again, before the next reload.
            let _ = poll(Duration::from_secs(5), Duration::from_millis(10), || {
                (!holds(old, ino)).then_some(())
            });
            std::thread::sleep(Duration::from_millis(100));
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
        let inodes_after = listening_inodes(fe);
        // Every old process exits on its own (soft stop).
        let mut not_exited = 0;
        let last = procs.pop().unwrap();
        for p in &mut procs {
            if p.wait_exit(Duration::from_secs(6)).is_none() {
                not_exited += 1;
            }
        }
        eprintln!(
            "{who}: {} responses in {elapsed:?} over {RELOADS} reloads with -x; {} retried (idle keep-alive connection closed); \
             refused {}; failed {} {:?}; listening socket inode {ino}, after: {inodes_after:?}; \
             new processes without the first socket: {not_adopted:?}; old processes not exited: {not_exited}",
            t.ok,
            t.retried,
            t.refused.len(),
            t.failed.len(),
            t.failed.iter().take(5).collect::<Vec<_>>(),
        );
        if who == "Sluice" {
            if t.ok < 300 {
                failures.push(format!("too little traffic: {t:?}"));
            }
            if !t.refused.is_empty() || !t.failed.is_empty() {
                failures.push(format!(
                    "refused {:?}, failed {:?}",
                    &t.refused[..t.refused.len().min(5)],
                    &t.failed[..t.failed.len().min(5)]
                ));
            }
            if !not_adopted.is_empty() || inodes_after != [ino] {
                failures.push(format!(
                    "the listening socket was bound again: reloads {not_adopted:?}, inodes {inodes_after:?} (first {ino}); {}",
                    last.output()
                ));
            }
            if not_exited > 0 {
                failures.push(format!("{not_exited} old processes still running"));
            }
            // The frontend's socket and the stats socket.
            let took = (1..=RELOADS)
                .filter(|n| {
                    std::fs::read_to_string(dir.join(&format!("sluice-{n}.log")))
                        .unwrap_or_default()
                        .contains(
                            "took over 2 listening socket(s) from the previous process (0 unused",
                        )
                })
                .count();
            if took != RELOADS {
                failures.push(format!("took over on {took} of {RELOADS} reloads"));
            }
        }
        drop(last);
        drop(procs);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(failures.is_empty(), "Sluice: {failures:#?}");
}

/// Sluice -> HAProxy 2.6 -> Sluice, each with `-x` and `-sf`: the socket
/// (its inode) goes through all three, and each serves.
#[test]
fn haproxy_and_sluice_take_each_others_sockets() {
    if !haproxy_or_skip("seamless_reload haproxy_and_sluice_take_each_others_sockets") {
        return;
    }
    let dir = TempDir::new("xfd-interop");
    let fe = free_ports(1)[0];
    let sock = dir.join("stats.sock");
    let path = dir.join("x.cfg");
    // An abstract listener too, and the stats socket itself: every
    // listening socket goes over, UNIX ones included.
    let abns = format!("xfd{fe}");
    std::fs::write(
        &path,
        format!("{}    bind abns@{abns}\n", cfg(&sock, fe, true)),
    )
    .unwrap();
    let mut procs = vec![start("Sluice", &dir, 0, &path, None)];
    let ino = wait_listening(fe).expect("Sluice listens");
    assert!(poll(Duration::from_secs(5), Duration::from_millis(20), || {
        sock.exists().then_some(())
    })
    .is_some());
    let stats_ino = unix_listening_inodes(&sock.to_string_lossy());
    let abns_ino = unix_listening_inodes(&format!("@{abns}@"));
    assert_eq!((stats_ino.len(), abns_ino.len()), (1, 1));
    for (n, who) in ["HAProxy 2.6", "Sluice"].into_iter().enumerate() {
        let old = procs.last().unwrap().pid();
        let p = start(who, &dir, n + 1, &path, Some((&sock, old)));
        let pid = p.pid();
        procs.push(p);
        let adopted = poll(Duration::from_secs(5), Duration::from_millis(20), || {
            holds(pid, ino).then_some(())
        });
        assert!(
            adopted.is_some(),
            "{who} did not take the socket: {}",
            procs.last().unwrap().output()
        );
        let prev = procs.len() - 2;
        let gone = procs[prev].wait_exit(Duration::from_secs(6));
        assert!(
            gone.is_some_and(|s| s.success()),
            "{} (soft-stopped by {who}) exits: {gone:?}: {}",
            procs[prev].name,
            procs[prev].output()
        );
        assert!(
            http_get(fe, None, &[]).starts_with("HTTP/1.1 200"),
            "{who} serves"
        );
        assert_eq!(listening_inodes(fe), [ino], "one socket, the first");
        for (what, i) in [("stats socket", stats_ino[0]), ("abns", abns_ino[0])] {
            assert!(holds(pid, i), "{who} holds the first {what}");
        }
        assert!(
            cli(&sock, "show info").is_ok_and(|o| o.contains("Nbthread")),
            "{who}: the stats socket answers"
        );
    }
}

/// `-x` to a stats socket without `expose-fd listeners`: the old process
/// closes without a word, the new one stops with HAProxy's messages.
#[test]
fn x_without_expose_fd_fails_as_haproxy() {
    if !haproxy_or_skip("seamless_reload x_without_expose_fd_fails_as_haproxy") {
        return;
    }
    let dir = TempDir::new("xfd-refused");
    let fe = free_ports(1)[0];
    let sock = dir.join("stats.sock");
    let path = dir.join("x.cfg");
    std::fs::write(&path, cfg(&sock, fe, false)).unwrap();
    let _old = start("Sluice", &dir, 0, &path, None);
    wait_listening(fe).expect("listening");
    assert!(poll(Duration::from_secs(5), Duration::from_millis(20), || {
        sock.exists().then_some(())
    })
    .is_some());
    let mut seen = Vec::new();
    for who in ["HAProxy 2.6", "Sluice"] {
        // Another port: the start must fail on -x, not on the bind.
        let other = dir.join(&format!("{who}.cfg"));
        let port = free_ports(1)[0];
        std::fs::write(&other, cfg(&dir.join("other.sock"), port, false)).unwrap();
        let mut c = if who == "Sluice" {
            Command::new(proxy_mio())
        } else {
            let mut c = Command::new(haproxy_bin().unwrap());
            c.arg("-db");
            c
        };
        c.arg("-f").arg(&other).arg("-x").arg(&sock);
        let mut p = Proc::spawn(who, c, dir.join(&format!("{who}-x.log")));
        let st = p.wait_exit(Duration::from_secs(5));
        let out = p.output();
        assert_eq!(st.and_then(|s| s.code()), Some(1), "{who}: {out}");
        let lines: Vec<String> = out
            .lines()
            .filter(|l| l.contains("sockets"))
            .map(|l| l.split_once(" : ").map_or(l, |x| x.1).to_string())
            .collect();
        seen.push((who, lines));
    }
    assert_eq!(
        seen[1].1,
        [
            "Failed to get the number of sockets to be transferred !",
            "Failed to get the sockets from the old process!"
        ],
        "{seen:?}"
    );
    assert_eq!(seen[0].1, seen[1].1, "{seen:?}");
}

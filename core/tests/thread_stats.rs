//! The stats socket with threads (docs/threads.md, step 4): two engines of
//! one process (thread 0 with the stats socket, thread 1 without, as
//! `proxy-mio` builds them), the `Shared` messages carried by hand.
//! `show stat` and `show info` on thread 0 wait for thread 1's counters
//! and add them up; a command that changes state acts on both threads,
//! logged once.

mod common;

use common::{ServerMode, World};
use sluice_core::engine::EngineOptions;

const FE: &str = "127.0.0.1:8000";
const CLI: &str = "127.0.0.1:9999";
const S1: &str = "127.0.0.1:9001";

fn cfg(stats_socket: bool) -> String {
    let sock = if stats_socket {
        format!("global\n    stats socket ipv4@{CLI} level admin\n")
    } else {
        String::new()
    };
    format!(
        "{sock}defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 100s\n    timeout server 100s\n\
         listen app\n    bind {FE}\n    server s1 {S1}\n"
    )
}

fn threads() -> [World; 2] {
    [0, 1].map(|t| {
        let opts = EngineOptions {
            thread: t,
            nbthread: 2,
            ..EngineOptions::default()
        };
        let mut w = World::with_options(&cfg(t == 0), opts);
        w.server(S1, ServerMode::Echo);
        w
    })
}

/// Carries the messages between the two engines until none is left.
fn exchange(w: &mut [World; 2]) -> usize {
    let mut n = 0;
    loop {
        let mut moved = false;
        for from in 0..2 {
            let to = 1 - from;
            while let Some(m) = w[from].engine.poll_shared() {
                assert!(m.to().is_none_or(|t| t as usize == to), "{m:?}");
                w[to].on_shared(m);
                moved = true;
                n += 1;
            }
        }
        if !moved {
            return n;
        }
    }
}

/// One line on a new stats socket connection of thread 0; the answer,
/// once thread 1 has said what it had to.
fn cli(w: &mut [World; 2], line: &str) -> String {
    let c = w[0].connect(CLI);
    w[0].send(c, format!("{line}\n").as_bytes());
    exchange(w);
    String::from_utf8_lossy(&w[0].peers[c].from_engine).into_owned()
}

fn field(csv: &str, px: &str, sv: &str, name: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let i = header.iter().position(|h| *h == name).expect("column");
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&px) && f.get(1) == Some(&sv))
        .map(|f| f[i].to_string())
        .unwrap_or_else(|| panic!("no {px}/{sv}:\n{csv}"))
}

#[test]
fn show_stat_and_show_info_add_up_both_threads() {
    let mut w = threads();
    // Two connections on thread 0, three on thread 1, one still open.
    for (t, n) in [(0, 2), (1, 3)] {
        for i in 0..n {
            let c = w[t].connect(FE);
            w[t].send(c, b"hello");
            if t == 0 || i < 2 {
                w[t].fin(c);
            }
        }
    }
    exchange(&mut w);
    let out = cli(&mut w, "show stat");
    assert_eq!(field(&out, "app", "FRONTEND", "stot"), "5", "{out}");
    assert_eq!(field(&out, "app", "s1", "stot"), "5", "{out}");
    assert_eq!(field(&out, "app", "BACKEND", "stot"), "5", "{out}");
    assert_eq!(field(&out, "app", "FRONTEND", "scur"), "1", "{out}");
    assert_eq!(field(&out, "app", "s1", "scur"), "1", "{out}");
    assert_eq!(field(&out, "app", "FRONTEND", "bin"), "25", "{out}");
    // Thread 0 alone knows of its 2 (plus the CLI's own connection: not
    // on this frontend).
    assert_eq!(w[0].stat("app", "FRONTEND", "stot"), "2");
    assert!(out.ends_with("\n\n"), "{out:?}");
    let info = cli(&mut w, "show info");
    assert!(info.contains("Nbthread: 2\n"), "{info}");
    let cum = |s: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix("CumConns: "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{s}"))
    };
    // Thread 1's 3 and thread 0's own.
    let now = w[0].now;
    let local = w[0].engine.cli_request(now, "show info");
    assert!(cum(&local) >= 2, "{local}");
    assert_eq!(cum(&info), cum(&local) + 3, "{info}");
    // Commands after an aggregated one on the same line wait for it.
    let out = cli(&mut w, "show info; get weight app/s1; show stat");
    let a = out.find("Nbthread: 2").expect("info");
    let b = out.find("1 (initial 1)").expect("weight");
    let c = out.find("# pxname").expect("stat");
    assert!(a < b && b < c, "{out}");
}

#[test]
fn admin_commands_act_on_both_threads_logged_once() {
    let mut w = threads();
    let out = cli(&mut w, "disable server app/s1");
    assert_eq!(out, "\n");
    for (t, w) in w.iter_mut().enumerate() {
        assert_eq!(w.stat("app", "s1", "status"), "MAINT", "thread {t}");
    }
    let maint = |w: &World| {
        w.log_texts()
            .iter()
            .filter(|l| l.contains("going DOWN for maintenance"))
            .count()
    };
    assert_eq!((maint(&w[0]), maint(&w[1])), (1, 0));
    cli(&mut w, "set weight app/s1 50%; enable server app/s1");
    for (t, w) in w.iter_mut().enumerate() {
        assert_eq!(w.stat("app", "s1", "status"), "no check", "thread {t}");
        let now = w.now;
        let weight = w.engine.cli_request(now, "get weight app/s1");
        assert_eq!(weight, "0 (initial 1)\n", "thread {t}");
    }
    // Refused where the threads could end up different.
    let out = cli(&mut w, "del server app/s1");
    assert!(out.contains("not supported with nbthread 2"), "{out}");
    assert_eq!(exchange(&mut w), 0);
}

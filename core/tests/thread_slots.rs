//! Server `maxconn` across threads (docs/threads.md, slot leases): two
//! engines of one process (thread 0 and thread 1 of 2), in memory, with
//! the `Shared` messages carried between them by hand as `proxy-mio`
//! carries them. A server with `maxconn 3` never has more than 3
//! connections from both; a stream queued on one thread is served when
//! the other frees a slot; `show stat` on thread 0 counts both threads.

mod common;

use common::{ServerMode, World};
use sluice_core::engine::EngineOptions;

const FE: &str = "127.0.0.1:8000";
const S1: &str = "127.0.0.1:9001";

fn cfg(maxconn: u32) -> String {
    format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 100s\n    timeout server 100s\n    timeout queue 100s\n\
         listen app\n    bind {FE}\n    server s1 {S1} maxconn {maxconn}\n"
    )
}

fn threads(maxconn: u32) -> [World; 2] {
    [0, 1].map(|t| {
        let opts = EngineOptions {
            thread: t,
            nbthread: 2,
            ..EngineOptions::default()
        };
        let mut w = World::with_options(&cfg(maxconn), opts);
        w.server(S1, ServerMode::Echo);
        w
    })
}

/// Carries the messages between the two engines until none is left;
/// returns how many were carried.
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

#[test]
fn maxconn_holds_for_the_process_and_slots_move_to_waiters() {
    let mut w = threads(3);
    // Leases at start: 2 slots on thread 0, 1 on thread 1.
    // Thread 1 gets 3 clients: its one slot, then two more lent by
    // thread 0, which uses none of its own.
    let c1: Vec<usize> = (0..3).map(|_| w[1].connect(FE)).collect();
    assert_eq!(w[1].stat("app", "s1", "scur"), "1");
    assert_eq!(
        w[1].stat("app", "BACKEND", "qcur"),
        "2",
        "queued for any server"
    );
    exchange(&mut w);
    assert_eq!(
        w[1].stat("app", "s1", "scur"),
        "3",
        "slots lent to thread 1"
    );
    assert_eq!(w[1].stat("app", "BACKEND", "qcur"), "0");
    // Thread 0's `show stat` is the process's.
    assert_eq!(w[0].stat("app", "s1", "scur"), "3");
    // Thread 0's clients wait: every slot is in use on thread 1.
    let c0: Vec<usize> = (0..2).map(|_| w[0].connect(FE)).collect();
    exchange(&mut w);
    assert_eq!(w[0].stat("app", "s1", "scur"), "3");
    assert_eq!(
        w[0].stat("app", "BACKEND", "qcur"),
        "2",
        "process: 2 queued on thread 0"
    );
    assert_eq!(server_conns(&w), 3);
    // Thread 1 frees one: it goes to thread 0's oldest waiter.
    w[1].fin(c1[0]);
    exchange(&mut w);
    assert_eq!(server_conns(&w), 3);
    assert_eq!(w[1].stat("app", "s1", "scur"), "2");
    assert_eq!(w[0].stat("app", "s1", "scur"), "3");
    assert_eq!(w[0].stat("app", "BACKEND", "qcur"), "1");
    // A third client on thread 1 waits too; the next freed slot (on
    // thread 1) goes to thread 0, which asked first; the one after to
    // thread 1.
    let late = w[1].connect(FE);
    exchange(&mut w);
    w[1].fin(c1[1]);
    exchange(&mut w);
    assert_eq!(server_conns(&w), 3);
    assert_eq!(w[0].stat("app", "s1", "scur"), "3");
    assert_eq!(
        w[0].stat("app", "BACKEND", "qcur"),
        "1",
        "thread 1's late client"
    );
    assert_eq!(
        w[1].stat("app", "BACKEND", "qcur"),
        "1",
        "thread 1's late client waits"
    );
    w[0].fin(c0[0]);
    exchange(&mut w);
    assert_eq!(
        w[1].stat("app", "BACKEND", "qcur"),
        "0",
        "served by thread 0's slot"
    );
    assert_eq!(server_conns(&w), 3);
    // Everybody leaves: nothing is lost, every slot is somewhere.
    for c in [c1[2], late] {
        w[1].fin(c);
    }
    w[0].fin(c0[1]);
    exchange(&mut w);
    assert_eq!(server_conns(&w), 0);
    assert_eq!(w[1].stat("app", "s1", "scur"), "0");
    assert_eq!(w[0].stat("app", "s1", "scur"), "0");
    assert_eq!(w[0].stat("app", "BACKEND", "qcur"), "0");
    assert!(
        w[0].stat("app", "s1", "smax").parse::<u32>().unwrap() <= 3,
        "smax"
    );
    for x in &w {
        x.assert_drained();
    }
    // And all of them can serve again, on either thread.
    let again: Vec<usize> = (0..3).map(|_| w[0].connect(FE)).collect();
    exchange(&mut w);
    assert_eq!(server_conns(&w), 3);
    for c in again {
        w[0].fin(c);
    }
    exchange(&mut w);
    assert_eq!(server_conns(&w), 0);
}

/// Server connections still open, on both threads: neither closed nor
/// shut by the engine.
fn server_conns(w: &[World; 2]) -> usize {
    w.iter()
        .map(|x| {
            x.accepted.get(&common::addr(S1)).map_or(0, |ps| {
                ps.iter()
                    .filter(|&&p| {
                        x.peers[p].closed_by_engine.is_none() && !x.peers[p].fin_from_engine
                    })
                    .count()
            })
        })
        .sum()
}

//! `slowstart`: a server coming back warms up (HAProxy's `server_warmup`,
//! `server_recalc_eweight`, `srv_dynamic_maxconn`). In-memory scenarios:
//! the effective weight and throttle `show stat` reports second by second
//! (the values HAProxy 2.6 shows for the same configuration), and the
//! share of new connections each algorithm gives the warming server.

mod common;

use common::{ServerMode, World};

const FE: &str = "127.0.0.1:8000";
const S1: &str = "127.0.0.1:9001";
const S2: &str = "127.0.0.1:9002";

fn cfg(balance: &str, s1_opts: &str) -> String {
    format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 100s\n    timeout server 100s\n\
         listen app\n    bind {FE}\n    balance {balance}\n    default-server slowstart 10s\n\
         \x20   server s1 {S1} weight 32 {s1_opts}\n    server s2 {S2} weight 32\n"
    )
}

fn world(balance: &str, s1_opts: &str) -> World {
    let mut w = World::new(&cfg(balance, s1_opts));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    w
}

/// Takes s1 through maintenance and back: its warm-up starts now.
fn bounce_s1(w: &mut World) {
    let now = w.now;
    assert_eq!(w.engine.cli_request(now, "disable server app/s1"), "");
    assert_eq!(w.engine.cli_request(now, "enable server app/s1"), "");
}

/// `(weight, throttle)` of s1 and the backend's weight.
fn weights(w: &mut World) -> (String, String, String) {
    (
        w.stat("app", "s1", "weight"),
        w.stat("app", "s1", "throttle"),
        w.stat("app", "BACKEND", "weight"),
    )
}

fn t(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

#[test]
fn weight_and_throttle_ramp_second_by_second() {
    let mut w = world("roundrobin", "maxconn 20");
    // At startup a server is up at once, without a warm-up.
    assert_eq!(weights(&mut w), t("32", "", "64"));
    bounce_s1(&mut w);
    // What HAProxy 2.6 shows: weight 32 * (16 * s + 10) / 10 / 16 rounded
    // up, throttle `(100 * eweight + 15) / (16 * 32)`.
    assert_eq!(weights(&mut w), t("2", "6", "34"));
    w.advance(999);
    assert_eq!(weights(&mut w), t("2", "6", "34"), "whole seconds");
    w.advance(1);
    assert_eq!(weights(&mut w), t("4", "12", "36"));
    w.advance(1000);
    assert_eq!(weights(&mut w), t("8", "25", "40"));
    w.advance(3000);
    assert_eq!(weights(&mut w), t("18", "56", "50"));
    w.advance(4000);
    assert_eq!(weights(&mut w), t("30", "93", "62"));
    w.advance(1000);
    assert_eq!(weights(&mut w), t("32", "", "64"), "full after slowstart");
    assert_eq!(w.stat("app", "s1", "slim"), "20", "slim stays maxconn");
    // Back into maintenance in the middle of a warm-up, then out again:
    // the warm-up starts over.
    bounce_s1(&mut w);
    w.advance(2000);
    let now = w.now;
    w.engine.cli_request(now, "disable server app/s1");
    assert_eq!(w.stat("app", "s1", "throttle"), "");
    w.advance(5000);
    bounce_s1(&mut w);
    assert_eq!(weights(&mut w), t("2", "6", "34"));
    w.assert_drained();
}

/// Picks for `n` connections, each closed at once: how many went to s1.
fn s1_share(w: &mut World, n: usize) -> usize {
    let before: u64 = w.stat("app", "s1", "stot").parse().unwrap();
    for _ in 0..n {
        let c = w.connect(FE);
        w.fin(c);
    }
    let after: u64 = w.stat("app", "s1", "stot").parse().unwrap();
    (after - before) as usize
}

#[test]
fn roundrobin_follows_the_ramp() {
    let mut w = world("roundrobin", "");
    bounce_s1(&mut w);
    // 1/16 of s2's weight: one connection in 17.
    let got = s1_share(&mut w, 34);
    assert!((1..=3).contains(&got), "{got} of 34 to s1 at 1/16");
    w.advance(5000);
    // (16 * 5 + 10) / 10 = 9 sixteenths: 9 to 16.
    let got = s1_share(&mut w, 50);
    assert!((16..=20).contains(&got), "{got} of 50 to s1 at 9/16");
    w.advance(5000);
    assert_eq!(s1_share(&mut w, 40), 20, "even once warm");
    w.assert_drained();
}

/// Holds `n` connections open; returns them with the count on s1.
fn hold(w: &mut World, n: usize) -> (Vec<usize>, u64) {
    let cs: Vec<usize> = (0..n).map(|_| w.connect(FE)).collect();
    let s1 = w.stat("app", "s1", "scur").parse().unwrap();
    (cs, s1)
}

fn release(w: &mut World, cs: Vec<usize>) {
    for c in cs {
        w.fin(c);
    }
}

#[test]
fn leastconn_follows_the_ramp() {
    let mut w = world("leastconn", "");
    bounce_s1(&mut w);
    // Loads (conns + 1) / eweight: s1 at 1/16 of s2's weight takes one
    // or two of 20 while s2 stays below 32 connections.
    let (cs, s1) = hold(&mut w, 20);
    assert!((1..=2).contains(&s1), "{s1} of 20 on s1");
    release(&mut w, cs);
    w.advance(10_000);
    let (cs, s1) = hold(&mut w, 20);
    assert_eq!(s1, 10, "even once warm");
    release(&mut w, cs);
    w.assert_drained();
}

#[test]
fn maxconn_ramps_with_first() {
    // `balance first` fills s1 up to its maxconn before using s2: the
    // maxconn of a warming server is `maxconn * elapsed%` (at least 1).
    let mut w = world("first", "maxconn 20");
    let (cs, s1) = hold(&mut w, 25);
    assert_eq!(s1, 20, "full maxconn at startup");
    release(&mut w, cs);
    bounce_s1(&mut w);
    let (cs, s1) = hold(&mut w, 25);
    assert_eq!(s1, 1, "at least 1");
    release(&mut w, cs);
    w.advance(5000);
    let (cs, s1) = hold(&mut w, 25);
    assert_eq!(s1, 10, "half of maxconn after half of slowstart");
    release(&mut w, cs);
    w.advance(5000);
    let (cs, s1) = hold(&mut w, 25);
    assert_eq!(s1, 20);
    release(&mut w, cs);
    w.assert_drained();
}

#[test]
fn static_algorithms_do_not_ramp_the_weight() {
    // HAProxy ramps only dynamic algorithms' weights (`BE_LB_PROP_DYN`);
    // a static-rr server is at its full weight at once.
    let mut w = world("static-rr", "");
    bounce_s1(&mut w);
    assert_eq!(w.stat("app", "s1", "weight"), "32");
    assert_eq!(w.stat("app", "s1", "throttle"), "100");
    assert_eq!(s1_share(&mut w, 20), 10);
    w.advance(10_000);
    assert_eq!(w.stat("app", "s1", "throttle"), "");
    w.assert_drained();
}

#[test]
fn a_health_check_coming_up_starts_the_warm_up() {
    let mut w = World::new(&cfg("roundrobin", "check inter 1s rise 1 fall 1"));
    w.server(S1, ServerMode::Refuse);
    w.server(S2, ServerMode::Echo);
    w.advance(1500);
    assert_eq!(w.stat("app", "s1", "status"), "DOWN");
    w.server(S1, ServerMode::Echo);
    w.advance(1000);
    assert_eq!(w.stat("app", "s1", "status"), "UP");
    let thr: u32 = w.stat("app", "s1", "throttle").parse().unwrap();
    assert!(thr < 20, "warming up: {thr}");
    w.advance(10_000);
    assert_eq!(w.stat("app", "s1", "throttle"), "");
    assert_eq!(w.stat("app", "s1", "weight"), "32");
    w.assert_drained();
}

// ------------------------------------- on-marked-down, on-marked-up

const CHK: &str = "127.0.0.1:9011";
const B1: &str = "127.0.0.1:9003";

/// s1 checked on another port (`CHK`) so that its checks can fail while
/// its established connections live on; b1 a backup.
fn marked_world(opts: &str) -> World {
    let text = format!(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 1s\n    timeout client 100s\n    timeout server 100s\n\
         listen app\n    bind {FE}\n\
         \x20   server s1 {S1} check port 9011 inter 1s rise 1 fall 1 {opts}\n    server b1 {B1} backup\n"
    );
    let mut w = World::new(&text);
    w.server(S1, ServerMode::Echo);
    w.server(CHK, ServerMode::Echo);
    w.server(B1, ServerMode::Echo);
    w
}

fn logs_with(w: &World, what: &str) -> Vec<String> {
    w.log_texts()
        .into_iter()
        .filter(|l| l.contains(what))
        .collect()
}

#[test]
fn on_marked_down_shutdown_sessions_closes_the_streams_of_a_down_server() {
    let mut w = marked_world("on-marked-down shutdown-sessions");
    let c = w.connect(FE);
    w.send(c, b"hi");
    assert_eq!(w.peers[c].from_engine, b"hi");
    w.server(CHK, ServerMode::Refuse);
    w.advance(1000);
    assert_eq!(logs_with(&w, "Server app/s1 is DOWN").len(), 1);
    // The client gets a FIN and the stream is logged `D-`, as HAProxy 2.6
    // logs it (`app app/s1 1/0/123 2 D- ...`).
    assert!(w.peers[c].fin_from_engine, "FIN to the client");
    let line = logs_with(&w, " app app/s1 ");
    assert_eq!(line.len(), 1, "{:?}", w.log_texts());
    assert!(line[0].contains(" 2 D- "), "{}", line[0]);
    w.fin(c);
    w.assert_drained();
}

#[test]
fn without_on_marked_down_streams_outlive_the_server_going_down() {
    let mut w = marked_world("");
    let c = w.connect(FE);
    w.send(c, b"hi");
    w.server(CHK, ServerMode::Refuse);
    w.advance(1000);
    assert_eq!(logs_with(&w, "Server app/s1 is DOWN").len(), 1);
    assert!(!w.peers[c].fin_from_engine);
    w.send(c, b"yo");
    assert_eq!(w.peers[c].from_engine, b"hiyo");
    w.fin(c);
    w.assert_drained();
}

#[test]
fn on_marked_down_shutdown_sessions_on_maintenance() {
    let mut w = marked_world("on-marked-down shutdown-sessions");
    let c = w.connect(FE);
    w.send(c, b"hi");
    let now = w.now;
    w.engine.cli_request(now, "disable server app/s1");
    // Carries out what the engine asked for.
    w.advance(1);
    assert!(w.peers[c].fin_from_engine, "FIN to the client");
    assert!(logs_with(&w, " app app/s1 ")[0].contains(" D- "));
    w.fin(c);
    w.assert_drained();
}

#[test]
fn on_marked_up_shutdown_backup_sessions_closes_the_backups_streams() {
    let mut w = marked_world("on-marked-up shutdown-backup-sessions");
    w.server(CHK, ServerMode::Refuse);
    w.advance(1000);
    // s1 is down: the connection goes to the backup.
    let c = w.connect(FE);
    w.send(c, b"yo");
    assert_eq!(w.peers[c].from_engine, b"yo");
    w.server(CHK, ServerMode::Echo);
    w.advance(1000);
    assert_eq!(logs_with(&w, "Server app/s1 is UP").len(), 1);
    // HAProxy 2.6: `app app/b1 1/0/195 2 U- ...`.
    assert!(w.peers[c].fin_from_engine, "FIN to the client");
    let line = logs_with(&w, " app app/b1 ");
    assert_eq!(line.len(), 1, "{:?}", w.log_texts());
    assert!(line[0].contains(" 2 U- "), "{}", line[0]);
    w.fin(c);
    w.assert_drained();
}

// ------------------------------------------------- minconn, fullconn

#[test]
fn minconn_grows_to_maxconn_with_the_backend_load() {
    // `balance first` fills s1 up to its dynamic maxconn, max(minconn,
    // maxconn * beconn / fullconn), the stream being assigned counted.
    let text = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 100s\n    timeout server 100s\n\
         listen app\n    bind {FE}\n    balance first\n    fullconn 20\n\
         \x20   server s1 {S1} minconn 2 maxconn 10\n    server s2 {S2}\n"
    );
    let mut w = World::new(&text);
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    let mut cs = Vec::new();
    let mut seen = Vec::new();
    for k in 1..=25 {
        cs.push(w.connect(FE));
        if [1, 2, 3, 5, 6, 10, 20, 25].contains(&k) {
            seen.push((
                k,
                w.stat("app", "s1", "scur").parse::<u32>().unwrap(),
                w.stat("app", "s2", "scur").parse::<u32>().unwrap(),
            ));
        }
    }
    // What HAProxy 2.6 serves with the same configuration.
    assert_eq!(
        seen,
        vec![
            (1, 1, 0),
            (2, 2, 0),
            (3, 2, 1),
            (5, 2, 3),
            (6, 3, 3),
            (10, 5, 5),
            (20, 10, 10),
            (25, 10, 15)
        ]
    );
    release(&mut w, cs);
    w.assert_drained();
}

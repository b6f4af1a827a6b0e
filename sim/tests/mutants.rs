//! Proof of power: each historic bug (`--mutant`) is caught by its
//! scenario within 500 seeds, by the oracle that is meant to see it, and
//! the same seed passes without the bug. The sweep stops at the first
//! failing seed, so this stays fast. The first failing seeds are listed in
//! docs/sim.md.
#![cfg(feature = "mutants")]

use sluice_sim::{run, sweep, RunOptions, Scenario};

/// Seeds tried per mutant at most.
const MAX_SEEDS: u64 = 500;

fn caught(mutant: &str, sc: Scenario, oracles: &[&str]) {
    let mut base = RunOptions::new(sc, 0);
    base.mutant = Some(mutant.to_string());
    let rep = sweep(&base, 0..MAX_SEEDS, true, |_, _| {});
    let r = rep
        .failures
        .first()
        .unwrap_or_else(|| panic!("{mutant} survived {MAX_SEEDS} seeds of {sc}"));
    let f = r.failure.as_ref().expect("a failure");
    // Debug builds check the engine's timer invariants with `bug_on!`: a
    // panic that says so is the busy-loop oracle firing from inside.
    let timer_panic = f.oracle == "panic"
        && (f.detail.contains("re-armed in the past") || f.detail.contains("busy loop"));
    let oracle = if timer_panic { "busy-loop" } else { f.oracle };
    assert!(
        oracles.contains(&oracle),
        "{mutant} caught by [{}] rather than {oracles:?}: {f}",
        f.oracle
    );
    // The failure is the bug's: the same seed passes without it.
    let clean = run(&RunOptions::new(sc, r.options.seed));
    assert!(
        clean.passed(),
        "{sc} seed {} fails without {mutant}: {:?}",
        r.options.seed,
        clean.failure
    );
    eprintln!("{mutant}: {sc} seed {} [{}]", r.options.seed, f.oracle);
}

#[test]
fn no_reconnect_delay() {
    // Both ends retry in lockstep and collide forever: never established.
    // Debug builds: the zero delay re-arms the sync task at `now`.
    caught(
        "no-reconnect-delay",
        Scenario::ReconnectStorm,
        &["converge", "reconnects", "stuck", "busy-loop"],
    );
}

#[test]
fn freq_age_sign() {
    caught("freq-age-sign", Scenario::PartitionHeal, &["converge"]);
}

#[test]
fn resync_expired_rearm() {
    // Release builds: the wake-up rate; debug builds: the engine's own
    // `bug_on!` on a timer re-armed in the past.
    caught(
        "resync-expired-rearm",
        Scenario::MalformedPeer,
        &["busy-loop"],
    );
}

#[test]
fn teach_origin_reset() {
    caught("teach-origin-reset", Scenario::RollingReload, &["dup-push"]);
}

#[test]
fn int_key_byte_order() {
    caught("int-key-byte-order", Scenario::PartitionHeal, &["converge"]);
}

#[test]
fn shutdown_fresh_session() {
    caught(
        "shutdown-fresh-session",
        Scenario::ReconnectStorm,
        &["stuck"],
    );
}

#[test]
fn ack_wrong_id() {
    caught(
        "ack-wrong-id",
        Scenario::PartitionHeal,
        &["dup-push", "converge"],
    );
}

#[test]
fn tls_eof_in_record() {
    // A client's garbage shaped like a record header swallows its next
    // records; its FIN then comes mid-record and is read as a clean close:
    // the stream is logged `--` with the client's bytes lost.
    caught("tls-eof-in-record", Scenario::TlsProxy, &["complete"]);
}

#[test]
fn rhttp_no_retry_delay() {
    // The public node refuses for a while: the edges dial it in a loop.
    caught(
        "rhttp-no-retry-delay",
        Scenario::ReverseHttp,
        &["reconnects"],
    );
}

#[test]
fn rhttp_headers_before_accept() {
    // An edge's reverse connection past maxconn waits unaccepted; with
    // its mux reading HEADERS, the public node's requests on it open
    // streams no session can take.
    caught(
        "rhttp-headers-before-accept",
        Scenario::ReverseHttp,
        &["early"],
    );
}

#[test]
fn rhttp_avail_twice() {
    // One reversed connection counted twice in its server's available
    // list: more entries than reversed connections.
    caught("rhttp-avail-twice", Scenario::ReverseHttp, &["bounded"]);
}

#[test]
fn rhttp_reversed_idle() {
    // A reversed connection whose last stream ended goes to the idle
    // pool: purged there, closed by the public node while its edge still
    // holds it, once the faults are over.
    caught("rhttp-reversed-idle", Scenario::ReverseHttp, &["steady"]);
}

#[test]
fn dns_ignore_change() {
    // A server keeps its address when the answers no longer give it: a
    // connection goes to an address the name stopped answering more than
    // `W` ago.
    caught("dns-ignore-change", Scenario::DnsProxy, &["dns"]);
}

#[test]
fn unknown_mutant_is_refused() {
    let mut o = RunOptions::new(Scenario::Swarm, 0);
    o.mutant = Some("no-such-bug".into());
    let r = run(&o);
    assert_eq!(r.failure.map(|f| f.oracle), Some("setup"));
}

#[test]
fn h2_window_update_wrong_stream() {
    // The credit of one stream goes to the newest: that one sends past
    // the client's window, and the `h2` client (an independent RFC 9113
    // implementation) sees a flow-control violation.
    caught(
        "h2-window-update-wrong-stream",
        Scenario::H2Proxy,
        &["protocol"],
    );
}

#[test]
fn h2_continuation_unbounded() {
    // A CONTINUATION flooder is read for ever instead of being closed
    // once its field block passes 64 KiB.
    caught("h2-continuation-unbounded", Scenario::H2Proxy, &["flood"]);
}

#[test]
fn h2_reset_data_forwarded() {
    // DATA that follows a client's RST_STREAM on its stream (a smuggler
    // sends both in one segment, after its request went out) is
    // forwarded: the server reads past the 10 bytes sent before the
    // reset, and the request's end.
    caught("h2-reset-data-forwarded", Scenario::H2Proxy, &["integrity"]);
}

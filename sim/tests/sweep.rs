//! CI sweep: every scenario over a bounded number of seeds, with no mutant,
//! must pass every oracle. One test per scenario so they run in parallel;
//! seed counts keep the whole file to a couple of minutes in the dev
//! profile (opt-level 1). Wider sweeps: `sluice-sim --scenario all --seeds 0..500`.

use sluice_sim::{sweep, RunOptions, Scenario};

const SEEDS: u64 = 40;

/// What the sweep did, summed over its runs (so that a scenario that
/// stopped exercising its faults fails here).
#[derive(Default, Debug)]
struct Seen {
    collisions: u64,
    proto_errors: u64,
    stalls: u64,
    reloads: u64,
    faults: u64,
}

fn sweep_ok(sc: Scenario) -> Seen {
    let mut seen = Seen::default();
    let rep = sweep(&RunOptions::new(sc, 0), 0..SEEDS, false, |r, _| {
        seen.collisions += r.stats.collisions;
        seen.proto_errors += r.stats.proto_errors;
        seen.stalls += r.stats.stalls;
        seen.reloads += r.stats.reloads;
        seen.faults += r.stats.faults;
    });
    assert_eq!(rep.runs, SEEDS);
    assert!(
        rep.sim_ms > SEEDS * 30_000,
        "{sc}: runs cover the fault phase"
    );
    let fails: Vec<String> = rep
        .failures
        .iter()
        .map(|r| {
            format!(
                "{} -> replay: {}",
                r.failure.as_ref().expect("failed"),
                r.options.replay_command()
            )
        })
        .collect();
    assert!(fails.is_empty(), "{sc}: {fails:#?}");
    assert!(
        seen.faults > 0 || sc == Scenario::MalformedPeer,
        "{sc}: {seen:?}"
    );
    seen
}

#[test]
fn reconnect_storm() {
    let seen = sweep_ok(Scenario::ReconnectStorm);
    assert!(
        seen.collisions > 0,
        "both ends reconnected at once somewhere: {seen:?}"
    );
}

#[test]
fn partition_heal() {
    sweep_ok(Scenario::PartitionHeal);
}

#[test]
fn rolling_reload() {
    let seen = sweep_ok(Scenario::RollingReload);
    assert!(seen.reloads >= 3 * SEEDS, "every node reloads: {seen:?}");
}

#[test]
fn malformed_peer() {
    let seen = sweep_ok(Scenario::MalformedPeer);
    assert!(
        seen.proto_errors > 0,
        "the adversary's messages were refused: {seen:?}"
    );
}

#[test]
fn slow_peer() {
    let seen = sweep_ok(Scenario::SlowPeer);
    assert!(seen.stalls > 0, "senders hit backpressure: {seen:?}");
}

#[test]
fn swarm() {
    sweep_ok(Scenario::Swarm);
}

//! CI sweep: every scenario over a bounded number of seeds, with no mutant,
//! must pass every oracle. One test per scenario so they run in parallel;
//! seed counts keep the whole file to a couple of minutes in the dev
//! profile (opt-level 1). Wider sweeps: `sluice-sim --scenario all --seeds 0..500`.

use sluice_sim::{sweep, RunOptions, Scenario};

const SEEDS: u64 = 40;

fn sweep_ok(sc: Scenario) {
    let rep = sweep(&RunOptions::new(sc, 0), 0..SEEDS, false, |_, _| {});
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
}

#[test]
fn reconnect_storm() {
    sweep_ok(Scenario::ReconnectStorm);
}

#[test]
fn partition_heal() {
    sweep_ok(Scenario::PartitionHeal);
}

#[test]
fn rolling_reload() {
    sweep_ok(Scenario::RollingReload);
}

#[test]
fn malformed_peer() {
    sweep_ok(Scenario::MalformedPeer);
}

#[test]
fn slow_peer() {
    sweep_ok(Scenario::SlowPeer);
}

#[test]
fn swarm() {
    sweep_ok(Scenario::Swarm);
}

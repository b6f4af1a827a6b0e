//! The simulator is a pure function of `(scenario, seed)`: two runs give
//! the same event trace, byte for byte, and another seed gives another one.

use sluice_sim::{run, RunOptions, Scenario};

fn trace_of(sc: Scenario, seed: u64) -> (u64, u64, String) {
    let mut o = RunOptions::new(sc, seed);
    o.trace = true;
    let r = run(&o);
    assert!(r.passed(), "{sc} seed {seed}: {:?}", r.failure);
    (r.trace_hash, r.trace_lines, r.trace.expect("trace kept"))
}

#[test]
fn same_seed_same_trace_every_scenario() {
    for sc in Scenario::ALL {
        let (h1, n1, t1) = trace_of(sc, 7);
        let (h2, n2, t2) = trace_of(sc, 7);
        assert!(n1 > 100, "{sc}: a real run has events ({n1})");
        assert_eq!(t1, t2, "{sc}: the text traces differ");
        assert_eq!((h1, n1), (h2, n2), "{sc}: the trace hashes differ");
    }
}

#[test]
fn another_seed_another_trace() {
    let (h1, _, _) = trace_of(Scenario::Swarm, 1);
    let (h2, _, _) = trace_of(Scenario::Swarm, 2);
    assert_ne!(h1, h2);
}

#[test]
fn the_hash_does_not_depend_on_keeping_the_text() {
    let with = trace_of(Scenario::PartitionHeal, 3).0;
    let without = run(&RunOptions::new(Scenario::PartitionHeal, 3)).trace_hash;
    assert_eq!(with, without);
}

#[test]
fn replay_command_names_everything() {
    let mut o = RunOptions::new(Scenario::SlowPeer, 42);
    assert_eq!(
        o.replay_command(),
        "sluice-sim --scenario slow-peer --seed 42"
    );
    o.mutant = Some("ack-wrong-id".into());
    o.nodes = Some(5);
    assert_eq!(
        o.replay_command(),
        "sluice-sim --scenario slow-peer --seed 42 --nodes 5 --mutant ack-wrong-id"
    );
}

#[test]
fn data_path_swarm_seeds_are_deterministic_too() {
    // `seed % 3 == 2`: swarm runs the data path, TCP then HTTP in turn.
    for seed in [2, 5] {
        let (h1, n1, t1) = trace_of(Scenario::Swarm, seed);
        let (h2, n2, t2) = trace_of(Scenario::Swarm, seed);
        assert!(
            t1.contains("\ndp servers="),
            "seed {seed} runs the data path"
        );
        assert_eq!(t1, t2);
        assert_eq!((h1, n1), (h2, n2));
    }
}

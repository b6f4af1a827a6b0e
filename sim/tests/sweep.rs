//! CI sweep: every scenario over a bounded number of seeds, with no mutant,
//! must pass every oracle. One test per scenario so they run in parallel;
//! seed counts keep the whole file to a couple of minutes in the dev
//! profile (opt-level 1). Wider sweeps: `sluice-sim --scenario all --seeds 0..500`.

use sluice_sim::dp::DpStats;
use sluice_sim::{sweep, RunOptions, Scenario, SweepReport};

const SEEDS: u64 = 40;
/// The data-path scenarios are cheaper per seed (one engine, 10-30 s of
/// traffic): more seeds in the same time.
const DP_SEEDS: u64 = 100;
/// `tls-proxy` pays for the handshakes' crypto (the seeded provider):
/// fewer seeds.
const TLS_SEEDS: u64 = 80;
/// Seeds of `reverse-http` (about 10 s: several engines per run).
const RHTTP_SEEDS: u64 = 60;

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

/// Fails with every failing seed's one-line replay command.
fn assert_no_failure(sc: Scenario, rep: &SweepReport) {
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
    assert_no_failure(sc, &rep);
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

/// What the data-path sweep did, summed over its runs.
#[derive(Default, Debug)]
struct DpSeen {
    dp: DpStats,
    pauses: u64,
    splices: u64,
    spliced_bytes: u64,
    faults: u64,
}

fn sweep_dp_ok(sc: Scenario, seeds: u64) -> DpSeen {
    let mut seen = DpSeen::default();
    let rep = sweep(&RunOptions::new(sc, 0), 0..seeds, false, |r, _| {
        let d = &r.stats.dp;
        let s = &mut seen.dp;
        s.clients += d.clients;
        s.accepted += d.accepted;
        s.refused += d.refused;
        s.client_resets += d.client_resets;
        s.server_resets += d.server_resets;
        s.server_closes += d.server_closes;
        s.bytes_up += d.bytes_up;
        s.bytes_down += d.bytes_down;
        s.srv_conns += d.srv_conns;
        s.server_down_logs += d.server_down_logs;
        s.requests += d.requests;
        s.responses += d.responses;
        s.pipelined += d.pipelined;
        s.interim += d.interim;
        s.garbage += d.garbage;
        s.tls_handshakes += d.tls_handshakes;
        s.rhttp_attempts += d.rhttp_attempts;
        s.edge_restarts += d.edge_restarts;
        s.public_reloads += d.public_reloads;
        s.public_crashes += d.public_crashes;
        s.no_edge_503 += d.no_edge_503;
        for (k, v) in &d.terms {
            *s.terms.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &d.statuses {
            *s.statuses.entry(*k).or_insert(0) += v;
        }
        seen.pauses += r.stats.pauses;
        seen.splices += r.stats.splices;
        seen.spliced_bytes += r.stats.spliced_bytes;
        seen.faults += r.stats.faults;
    });
    assert_eq!(rep.runs, seeds);
    assert_no_failure(sc, &rep);
    let d = &seen.dp;
    assert!(
        d.accepted > 0 && d.srv_conns > 0 && d.bytes_up > 0 && d.bytes_down > 0,
        "{sc}: traffic flowed: {seen:?}"
    );
    assert!(
        seen.faults > 0 && d.client_resets > 0 && d.server_resets > 0 && d.server_closes > 0,
        "{sc}: faults happened: {seen:?}"
    );
    assert!(
        d.server_down_logs > 0,
        "{sc}: checks took a server down: {seen:?}"
    );
    assert!(
        seen.pauses > 0,
        "{sc}: a listener paused at maxconn: {seen:?}"
    );
    let clean = d.terms.get("--").copied().unwrap_or(0);
    let total: u64 = d.terms.values().sum();
    assert!(
        clean > total / 2 && clean < total,
        "{sc}: most streams end cleanly, not all: {:?}",
        d.terms
    );
    seen
}

#[test]
fn tcp_proxy() {
    let seen = sweep_dp_ok(Scenario::TcpProxy, DP_SEEDS);
    assert!(
        seen.splices > 0 && seen.spliced_bytes > 0,
        "the driver spliced: {seen:?}"
    );
    for t in ["CD", "SD", "sD", "cD", "SC"] {
        assert!(
            seen.dp.terms.contains_key(t),
            "some stream ended {t}: {:?}",
            seen.dp.terms
        );
    }
}

#[test]
fn http_proxy() {
    let seen = sweep_dp_ok(Scenario::HttpProxy, DP_SEEDS);
    let d = &seen.dp;
    assert!(
        d.requests > d.responses && d.responses > 0,
        "requests answered, some not: {seen:?}"
    );
    assert!(
        d.pipelined > 0 && d.interim > 0 && d.garbage > 0,
        "pipelining, 1xx and garbage happened: {seen:?}"
    );
    for st in [200, 204, 304, 403, 502, 503] {
        assert!(
            d.statuses.contains_key(&st),
            "some response was a {st}: {:?}",
            d.statuses
        );
    }
    for t in ["LR", "PR", "SH", "CD"] {
        assert!(
            d.terms.contains_key(t),
            "some transaction ended {t}: {:?}",
            d.terms
        );
    }
}

#[test]
fn tls_proxy() {
    let seen = sweep_dp_ok(Scenario::TlsProxy, TLS_SEEDS);
    let d = &seen.dp;
    assert!(
        d.tls_handshakes > d.accepted / 2,
        "most clients completed their handshake: {seen:?}"
    );
    assert!(d.garbage > 0, "garbage records went out: {seen:?}");
    // HS: a handshake failure log (cuts and resets mid-handshake); CD: a
    // client's bad records (garbage) after its handshake.
    for t in ["HS", "CD", "CC"] {
        assert!(
            d.terms.contains_key(t),
            "some connection ended {t}: {:?}",
            d.terms
        );
    }
}

#[test]
fn reverse_http() {
    let seen = sweep_dp_ok(Scenario::ReverseHttp, RHTTP_SEEDS);
    let d = &seen.dp;
    assert!(
        d.edge_restarts > 0 && d.public_reloads > 0 && d.public_crashes > 0,
        "edges restarted, public nodes reloaded and crashed: {seen:?}"
    );
    assert!(
        d.no_edge_503 > 0,
        "a public node that no edge dials answered 503s (the `no-edge` oracle judged some): {seen:?}"
    );
    assert!(
        d.rhttp_attempts > d.edge_restarts,
        "the edges dialed again after faults: {seen:?}"
    );
    // 503: no reversed connection (an edge cut off or not back yet);
    // 502: a reversed connection died under a request.
    for st in [200, 403, 502, 503] {
        assert!(
            d.statuses.contains_key(&st),
            "some response was a {st}: {:?}",
            d.statuses
        );
    }
    for t in ["LR", "SC", "SH"] {
        assert!(
            d.terms.contains_key(t),
            "some transaction ended {t}: {:?}",
            d.terms
        );
    }
}

#[test]
fn dns_proxy() {
    // Servers found by DNS: answers change, fail, turn to garbage; every
    // connection the proxy opens is checked by the `dns` oracle.
    let (mut changes, mut faulty, mut checked, mut maint, mut queries) = (0, 0, 0, 0, 0);
    let mut terms = std::collections::BTreeMap::new();
    let rep = sweep(
        &RunOptions::new(Scenario::DnsProxy, 0),
        0..DP_SEEDS,
        false,
        |r, _| {
            let d = &r.stats.dp;
            changes += d.dns_changes;
            faulty += d.dns_faulty;
            checked += d.dns_checked;
            maint += d.dns_maint;
            queries += d.dns_queries;
            for (k, v) in &d.terms {
                *terms.entry(k.clone()).or_insert(0u64) += v;
            }
        },
    );
    assert_eq!(rep.runs, DP_SEEDS);
    assert_no_failure(Scenario::DnsProxy, &rep);
    assert!(
        queries > 0 && faulty > 0 && checked > 0,
        "the DNS node answered, sometimes wrong, and connections were checked: {queries} {faulty} {checked}"
    );
    assert!(
        changes > 0 && maint > 0,
        "servers moved ({changes}) and went to MAINT (resolution) ({maint})"
    );
    assert!(terms.contains_key("--"), "streams completed: {terms:?}");
}

#[test]
fn h2_proxy() {
    let seen = sweep_dp_ok(Scenario::H2Proxy, DP_SEEDS);
    let d = &seen.dp;
    assert!(
        d.requests > d.responses && d.responses > 0,
        "requests answered, some not: {seen:?}"
    );
    for st in [200, 403, 502] {
        assert!(
            d.statuses.contains_key(&st),
            "some response was a {st}: {:?}",
            d.statuses
        );
    }
    assert!(d.server_resets > 0, "servers reset streams: {seen:?}");
}

//! Load-balancing algorithms (`sluice_core::backend::lb`): distribution, smoothness,
//! runtime changes, maxconn, backups, redispatch, and random operation
//! sequences for every algorithm.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use sluice_core::backend::lb::{hash_ip, Algo, Lb, LbServer, BE_WEIGHT_SCALE, MAX_WEIGHT};

const ALL: [Algo; 5] = [
    Algo::RoundRobin,
    Algo::StaticRr,
    Algo::LeastConn,
    Algo::First,
    Algo::Source,
];

fn servers(weights: &[u32]) -> Vec<LbServer> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| LbServer {
            puid: i as u32 + 1,
            ..LbServer::active(w)
        })
        .collect()
}

fn backup(weight: u32) -> LbServer {
    LbServer {
        backup: true,
        ..LbServer::active(weight)
    }
}

fn picks(lb: &mut Lb, s: &[LbServer], n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| lb.pick(s, None, None).expect("a server"))
        .collect()
}

fn counts(seq: &[usize], n: usize) -> Vec<u32> {
    let mut c = vec![0u32; n];
    for &i in seq {
        c[i] += 1;
    }
    c
}

// ------------------------------------------------ round robin, static-rr

/// A server warming up after `slowstart` (`ramp` sixteenths of its
/// weight): dynamic algorithms give it that share, static ones ignore it.
#[test]
fn slowstart_ramp_scales_dynamic_weights() {
    let mut s = servers(&[2, 2]);
    s[0].ramp = 4;
    // Round robin: effective weights 8 and 32, exactly over a cycle.
    let mut lb = Lb::new(Algo::RoundRobin, &s);
    assert_eq!(counts(&picks(&mut lb, &s, 40), 2), vec![8, 32]);
    // The ramp goes on: joins at the new share.
    s[0].ramp = 16;
    lb.recalc(&s);
    assert_eq!(counts(&picks(&mut lb, &s, 40), 2), vec![20, 20]);
    // static-rr: the initial weights whatever the ramp.
    s[0].ramp = 1;
    let mut lb = Lb::new(Algo::StaticRr, &s);
    assert_eq!(counts(&picks(&mut lb, &s, 40), 2), vec![20, 20]);
    // Leastconn: s0 at 1/4 of s1's effective weight is picked while its
    // load (conns + 1) / 8 stays below s1's (conns + 1) / 32.
    s[0].ramp = 4;
    s[0].cur_conns = 1;
    s[1].cur_conns = 6;
    let mut lb = Lb::new(Algo::LeastConn, &s);
    assert_eq!(lb.pick(&s, None, None), Some(1), "2/8 > 7/32");
    s[1].cur_conns = 7;
    assert_eq!(
        lb.pick(&s, None, None),
        Some(0),
        "2/8 == 8/32: least recently picked"
    );
    // Consistent hashing: a warming server has fewer points, so fewer keys.
    let mut lb = Lb::new(Algo::Chash, &s);
    let mut c = [0u32; 2];
    for k in 0..4000u32 {
        c[lb.pick(&s, Some(k.wrapping_mul(2_654_435_761)), None)
            .unwrap()] += 1;
    }
    assert!(c[0] * 2 < c[1], "{c:?}");
}

#[test]
fn roundrobin_exact_counts_every_cycle() {
    for weights in [
        vec![1],
        vec![1, 1],
        vec![3, 2, 1],
        vec![5, 1, 1],
        vec![256, 1],
        vec![7, 11, 13, 2],
    ] {
        let s = servers(&weights);
        let total: u32 = weights.iter().sum();
        for algo in [Algo::RoundRobin, Algo::StaticRr] {
            let mut lb = Lb::new(algo, &s);
            for cycle in 0..5 {
                let seq = picks(&mut lb, &s, total as usize);
                assert_eq!(
                    counts(&seq, s.len()),
                    weights,
                    "{algo:?} {weights:?} cycle {cycle}"
                );
            }
        }
    }
}

#[test]
fn roundrobin_interleaves_smoothly() {
    // 3:2:1 gives A B A C B A: no server twice in a row when avoidable.
    let s = servers(&[3, 2, 1]);
    let mut lb = Lb::new(Algo::RoundRobin, &s);
    assert_eq!(picks(&mut lb, &s, 12), [0, 1, 0, 2, 1, 0, 0, 1, 0, 2, 1, 0]);
    // static-rr walks HAProxy's map (`recalc_server_map`): A A B A B C.
    let mut lb = Lb::new(Algo::StaticRr, &s);
    assert_eq!(picks(&mut lb, &s, 12), [0, 0, 1, 0, 1, 2, 0, 0, 1, 0, 1, 2]);
    // Equal weights alternate, never the same server twice in a row.
    for w in [1, 2, 10, 256] {
        let s = servers(&[w, w]);
        for algo in [Algo::RoundRobin, Algo::StaticRr] {
            let mut lb = Lb::new(algo, &s);
            let seq = picks(&mut lb, &s, 200);
            assert!(
                seq.windows(2).all(|p| p[0] != p[1]),
                "{algo:?} weight {w}: {seq:?}"
            );
        }
    }
    // A heavy server is spread out: between two picks of the light one, the
    // heavy one gets its share (9 or 10 picks for 10:1).
    let s = servers(&[10, 1]);
    let mut lb = Lb::new(Algo::RoundRobin, &s);
    let seq = picks(&mut lb, &s, 110);
    let light: Vec<usize> = (0..seq.len()).filter(|&i| seq[i] == 1).collect();
    assert_eq!(light.len(), 10);
    assert!(light.windows(2).all(|w| w[1] - w[0] == 11));
}

#[test]
fn roundrobin_weight_change_at_runtime() {
    let mut s = servers(&[1, 1]);
    let mut lb = Lb::new(Algo::RoundRobin, &s);
    let _ = picks(&mut lb, &s, 7);
    // `set weight` 3 on server 0.
    s[0].weight = 3;
    lb.recalc(&s);
    let seq = picks(&mut lb, &s, 400);
    let c = counts(&seq, 2);
    assert!((299..=301).contains(&c[0]), "{c:?}");
    // Every window of 4 picks is 3:1 give or take one.
    for w in seq.windows(4) {
        let zeros = w.iter().filter(|&&i| i == 0).count();
        assert!((2..=4).contains(&zeros), "{w:?}");
    }
    // Down to 1 again: back to alternating.
    s[0].weight = 1;
    lb.recalc(&s);
    let seq = picks(&mut lb, &s, 100);
    assert!(seq[2..].windows(2).all(|p| p[0] != p[1]), "{seq:?}");
    // Weight 0 (drain): never picked.
    s[1].weight = 0;
    lb.recalc(&s);
    assert!(picks(&mut lb, &s, 20).iter().all(|&i| i == 0));
}

#[test]
fn static_rr_weights_are_frozen() {
    // HAProxy's static algorithms accept only 0% and 100% at runtime.
    let mut s = servers(&[3, 1]);
    let mut lb = Lb::new(Algo::StaticRr, &s);
    s[0].weight = 1;
    lb.recalc(&s);
    assert_eq!(counts(&picks(&mut lb, &s, 40), 2), [30, 10]);
    s[0].weight = 0;
    lb.recalc(&s);
    assert_eq!(counts(&picks(&mut lb, &s, 40), 2), [0, 40]);
    s[0].weight = 100;
    lb.recalc(&s);
    assert_eq!(counts(&picks(&mut lb, &s, 40), 2), [30, 10]);
}

#[test]
fn down_and_up() {
    for algo in [Algo::RoundRobin, Algo::StaticRr] {
        let mut s = servers(&[1, 1, 1]);
        let mut lb = Lb::new(algo, &s);
        let _ = picks(&mut lb, &s, 4);
        s[1].usable = false;
        lb.recalc(&s);
        let seq = picks(&mut lb, &s, 30);
        assert_eq!(counts(&seq, 3), [15, 0, 15], "{algo:?}");
        s[1].usable = true;
        lb.recalc(&s);
        // Back in turn, without a burst to catch up.
        let seq = picks(&mut lb, &s, 30);
        let c = counts(&seq, 3);
        assert!(c.iter().all(|&n| (9..=11).contains(&n)), "{algo:?} {c:?}");
        assert!(seq.windows(2).all(|p| p[0] != p[1]), "{algo:?} {seq:?}");
    }
}

#[test]
fn servers_added_at_runtime() {
    for algo in ALL {
        let mut s = servers(&[1]);
        let mut lb = Lb::new(algo, &s);
        s.push(LbServer::active(1));
        // Not known before recalc.
        assert_eq!(lb.pick(&s, Some(1), None), Some(0), "{algo:?}");
        lb.recalc(&s);
        assert_eq!(lb.tier(), [0, 1]);
        if algo != Algo::First {
            let mut seen = [false; 2];
            for h in 0..8 {
                seen[lb.pick(&s, Some(h), None).unwrap()] = true;
            }
            assert_eq!(seen, [true, true], "{algo:?}");
        }
        // And removed again.
        s.pop();
        lb.recalc(&s);
        assert_eq!(lb.pick(&s, Some(1), None), Some(0), "{algo:?}");
    }
}

// ---------------------------------------------------------------- leastconn

#[test]
fn leastconn_fewest_connections_per_weight() {
    let mut s = servers(&[1, 1, 1]);
    let mut lb = Lb::new(Algo::LeastConn, &s);
    s[0].cur_conns = 3;
    s[1].cur_conns = 1;
    s[2].cur_conns = 2;
    assert_eq!(lb.pick(&s, None, None), Some(1));
    // The caller accounts for the new connection, and so on.
    s[1].cur_conns = 2;
    let p = lb.pick(&s, None, None).unwrap();
    assert!(p == 1 || p == 2);
    // Connections end on server 0.
    s[0].cur_conns = 0;
    assert_eq!(lb.pick(&s, None, None), Some(0));
    // Weights: the load is (conns + 1) / weight once busy.
    let mut s = servers(&[1, 3]);
    let mut lb = Lb::new(Algo::LeastConn, &s);
    s[0].cur_conns = 1; // (1+1)/1 = 2
    s[1].cur_conns = 3; // (3+1)/3 = 1.33
    assert_eq!(lb.pick(&s, None, None), Some(1));
    s[1].cur_conns = 5; // 6/3 = 2: tie, the least recently picked
    assert_eq!(lb.pick(&s, None, None), Some(0));
}

#[test]
fn leastconn_rotates_among_equals() {
    let s = servers(&[1, 1, 1]);
    let mut lb = Lb::new(Algo::LeastConn, &s);
    // All idle: round robin.
    assert_eq!(picks(&mut lb, &s, 7), [0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn leastconn_follows_a_changing_load() {
    // Simulated connections: each pick opens one, every third step the
    // oldest closes; every pick goes to a least loaded server.
    let mut s = servers(&[1, 1, 1, 1]);
    let mut lb = Lb::new(Algo::LeastConn, &s);
    let mut open: Vec<usize> = Vec::new();
    for step in 0..300 {
        let min = s.iter().map(|x| x.cur_conns).min().unwrap();
        let i = lb.pick(&s, None, None).unwrap();
        assert_eq!(s[i].cur_conns, min, "step {step}: {s:?}");
        s[i].cur_conns += 1;
        open.push(i);
        if step % 3 == 2 {
            let j = open.remove(0);
            s[j].cur_conns -= 1;
        }
    }
    // A weighted pair under the same load ends near 1:3.
    let mut s = servers(&[1, 3]);
    let mut lb = Lb::new(Algo::LeastConn, &s);
    for _ in 0..40 {
        let i = lb.pick(&s, None, None).unwrap();
        s[i].cur_conns += 1;
    }
    assert!((9..=10).contains(&s[0].cur_conns), "{s:?}");
}

// -------------------------------------------------------------------- first

#[test]
fn first_fills_servers_in_order() {
    let mut s = servers(&[1, 1, 1]);
    s[0].maxconn = Some(2);
    s[1].maxconn = Some(1);
    let mut lb = Lb::new(Algo::First, &s);
    let mut got = Vec::new();
    for _ in 0..5 {
        let i = lb.pick(&s, None, None).unwrap();
        s[i].cur_conns += 1;
        got.push(i);
    }
    // Server 2 has no maxconn: it takes everything after the others.
    assert_eq!(got, [0, 0, 1, 2, 2]);
    // A slot frees up on server 0: it is first again.
    s[0].cur_conns -= 1;
    assert_eq!(lb.pick(&s, None, None), Some(0));
    // Everything full: the caller queues.
    s[2].maxconn = Some(2);
    s[0].cur_conns = 2;
    assert_eq!(lb.pick(&s, None, None), None);
}

// -------------------------------------------------------------------- source

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn hash_ip_is_haproxy_source_hash_input() {
    assert_eq!(hash_ip(v4(10, 0, 0, 1)), 0x0a00_0001);
    assert_eq!(hash_ip(v4(255, 255, 255, 255)), u32::MAX);
    // Words 2001:0db8, 0000:0001, 0000:0000, 0000:0005.
    let v6: Ipv6Addr = "2001:db8:0:1:0:0:0:5".parse().unwrap();
    assert_eq!(
        hash_ip(IpAddr::V6(v6)),
        0x2001_0db8 ^ 0x0000_0001 ^ 0x0000_0005
    );
    assert_eq!(hash_ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), 0);
}

fn client_ips() -> Vec<IpAddr> {
    (0..2000u32)
        .map(|i| {
            IpAddr::V4(Ipv4Addr::from(
                0xc000_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761)),
            ))
        })
        .collect()
}

fn assignment(lb: &mut Lb, s: &[LbServer], ips: &[IpAddr]) -> Vec<Option<usize>> {
    ips.iter()
        .map(|&ip| lb.pick(s, Some(hash_ip(ip)), None))
        .collect()
}

#[test]
fn source_same_client_same_server() {
    let mut s = servers(&[1, 1, 1, 1]);
    let mut lb = Lb::new(Algo::Source, &s);
    let ips = client_ips();
    let first = assignment(&mut lb, &s, &ips);
    assert!(first.iter().all(Option::is_some));
    // Picks, load and recalcs without a change of the set do not move anyone.
    for (n, ip) in ips.iter().enumerate() {
        s[n % 4].cur_conns = (n % 7) as u32;
        assert_eq!(lb.pick(&s, Some(hash_ip(*ip)), None), first[n]);
    }
    lb.recalc(&s);
    assert_eq!(assignment(&mut lb, &s, &ips), first);
    // Even a full server keeps its clients (they queue on it).
    s[2].maxconn = Some(1);
    s[2].cur_conns = 1;
    assert_eq!(assignment(&mut lb, &s, &ips), first);
    // Spread over the four servers by weight.
    let c = counts(&first.iter().map(|x| x.unwrap()).collect::<Vec<_>>(), 4);
    assert!(c.iter().all(|&n| (400..=600).contains(&n)), "{c:?}");
}

#[test]
fn source_redistributes_only_when_the_set_changes() {
    let mut s = servers(&[1, 1, 1, 1]);
    let mut lb = Lb::new(Algo::Source, &s);
    let ips = client_ips();
    let before = assignment(&mut lb, &s, &ips);
    s[3].usable = false;
    lb.recalc(&s);
    let during = assignment(&mut lb, &s, &ips);
    assert!(during.iter().all(|x| x.is_some_and(|i| i != 3)));
    assert_ne!(during, before);
    // The server comes back: everyone is where they were.
    s[3].usable = true;
    lb.recalc(&s);
    assert_eq!(assignment(&mut lb, &s, &ips), before);
    // A weight change is not a change of the map-based set (static).
    s[0].weight = 50;
    lb.recalc(&s);
    assert_eq!(assignment(&mut lb, &s, &ips), before);
}

#[test]
fn source_weights_and_fallback() {
    let s = servers(&[3, 1]);
    let mut lb = Lb::new(Algo::Source, &s);
    let a = assignment(&mut lb, &s, &client_ips());
    let c = counts(&a.iter().map(|x| x.unwrap()).collect::<Vec<_>>(), 2);
    assert!((1400..=1600).contains(&c[0]), "{c:?}");
    // No address to hash (a UNIX socket client): round robin over the map.
    assert_eq!(picks(&mut lb, &s, 8), [0, 0, 0, 1, 0, 0, 0, 1]);
}

// ----------------------------------------------------------------- backups

#[test]
fn backup_only_when_no_active_is_usable() {
    for algo in ALL {
        let mut s = vec![
            LbServer::active(1),
            LbServer::active(1),
            backup(1),
            backup(1),
        ];
        let mut lb = Lb::new(algo, &s);
        for h in 0..20 {
            assert!(lb.pick(&s, Some(h), None).unwrap() < 2, "{algo:?}");
        }
        // Actives full: no backup, the caller queues.
        if algo != Algo::Source {
            s[0].maxconn = Some(0);
            s[1].maxconn = Some(0);
            assert_eq!(lb.pick(&s, None, None), None, "{algo:?}");
            s[0].maxconn = None;
            s[1].maxconn = None;
        }
        // Every active down: the first backup only.
        s[0].usable = false;
        s[1].usable = false;
        lb.recalc(&s);
        assert!(lb.on_backup());
        for h in 0..20 {
            assert_eq!(lb.pick(&s, Some(h), None), Some(2), "{algo:?}");
        }
        // The first backup goes down too: the next one.
        s[2].usable = false;
        lb.recalc(&s);
        assert_eq!(lb.pick(&s, Some(7), None), Some(3), "{algo:?}");
        // An active comes back: backups are left.
        s[1].usable = true;
        lb.recalc(&s);
        assert!(!lb.on_backup());
        for h in 0..20 {
            assert_eq!(lb.pick(&s, Some(h), None), Some(1), "{algo:?}");
        }
        // An active of weight 0 does not count as usable.
        s[1].weight = 0;
        lb.recalc(&s);
        assert_eq!(lb.pick(&s, Some(3), None), Some(3), "{algo:?}");
    }
}

// ----------------------------------------------------- maxconn, avoid, none

#[test]
fn full_servers_are_skipped() {
    for algo in [
        Algo::RoundRobin,
        Algo::StaticRr,
        Algo::LeastConn,
        Algo::First,
    ] {
        let mut s = servers(&[1, 1, 1]);
        s[1].maxconn = Some(4);
        s[1].cur_conns = 4;
        let mut lb = Lb::new(algo, &s);
        for _ in 0..30 {
            assert_ne!(lb.pick(&s, None, None), Some(1), "{algo:?}");
        }
        for x in &mut s {
            x.maxconn = Some(0);
        }
        assert_eq!(lb.pick(&s, None, None), None, "{algo:?}");
    }
}

#[test]
fn avoid_redispatches_when_possible() {
    for algo in ALL {
        let mut s = servers(&[1, 1, 1]);
        let mut lb = Lb::new(algo, &s);
        for n in 0..30u32 {
            let avoid = (n % 3) as usize;
            let got = lb.pick(&s, Some(n), Some(avoid)).unwrap();
            if algo == Algo::Source {
                // HAProxy's map lookup ignores the server to avoid.
                assert_eq!(got, avoid, "{algo:?}");
            } else {
                assert_ne!(got, avoid, "{algo:?}");
            }
        }
        // The only other servers are full: the avoided one is still better
        // than nothing (hash-based Source ignores fullness).
        s[1].maxconn = Some(0);
        s[2].maxconn = Some(0);
        if algo != Algo::Source {
            assert_eq!(lb.pick(&s, Some(1), Some(0)), Some(0), "{algo:?}");
        }
        // The only usable server is the avoided one.
        s[1].usable = false;
        s[2].usable = false;
        lb.recalc(&s);
        assert_eq!(lb.pick(&s, Some(1), Some(0)), Some(0), "{algo:?}");
    }
}

#[test]
fn nothing_usable_gives_none() {
    for algo in ALL {
        let mut s = vec![LbServer::active(1), LbServer::active(0), backup(0)];
        s[0].usable = false;
        let mut lb = Lb::new(algo, &s);
        assert_eq!(lb.pick(&s, Some(5), None), None, "{algo:?}");
        assert_eq!(lb.pick(&s, None, Some(0)), None, "{algo:?}");
        let mut empty = Lb::new(algo, &[]);
        assert_eq!(empty.pick(&[], Some(1), None), None);
        // A slice shorter than what the Lb knows: no panic.
        assert_eq!(Lb::new(algo, &servers(&[1, 1])).pick(&[], None, None), None);
    }
}

#[test]
fn weight_zero_and_stale_state_are_never_picked() {
    for algo in ALL {
        let mut s = servers(&[0, 2, 0]);
        let mut lb = Lb::new(algo, &s);
        for h in 0..50 {
            assert_eq!(lb.pick(&s, Some(h), None), Some(1), "{algo:?}");
        }
        // The caller marks server 1 down but forgets recalc: still never
        // returned.
        s[1].usable = false;
        for h in 0..10 {
            assert_eq!(lb.pick(&s, Some(h), None), None, "{algo:?}");
        }
    }
}

#[test]
fn weights_above_the_maximum_are_capped() {
    let s = servers(&[u32::MAX, MAX_WEIGHT]);
    for algo in [Algo::RoundRobin, Algo::StaticRr] {
        let mut lb = Lb::new(algo, &s);
        let seq = picks(&mut lb, &s, 512);
        assert_eq!(counts(&seq, 2), [256, 256], "{algo:?}");
    }
}

// ------------------------------------------------ random operation sequences

#[derive(Clone, Debug)]
enum Op {
    /// A slowstart step: the server's share of its weight changes.
    Ramp {
        server: usize,
        ramp: u32,
    },
    Pick {
        hash: Option<u32>,
        avoid: Option<usize>,
    },
    Conns {
        server: usize,
        conns: u32,
    },
    Usable {
        server: usize,
        usable: bool,
    },
    Weight {
        server: usize,
        weight: u32,
    },
    MaxConn {
        server: usize,
        maxconn: Option<u32>,
    },
    Recalc,
}

fn arb_server() -> impl Strategy<Value = LbServer> {
    (
        0u32..6,
        any::<bool>(),
        prop::bool::weighted(0.2),
        0u32..4,
        prop::option::of(0u32..4),
        prop::option::of(1u32..=16),
    )
        .prop_map(
            |(weight, usable, backup, cur_conns, maxconn, ramp)| LbServer {
                weight,
                usable,
                backup,
                cur_conns,
                maxconn,
                puid: 0,
                // A few servers warm up after a slowstart.
                ramp: ramp.unwrap_or(BE_WEIGHT_SCALE),
            },
        )
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::option::of(any::<u32>()), prop::option::of(0usize..8))
            .prop_map(|(hash, avoid)| Op::Pick { hash, avoid }),
        1 => (0usize..8, 0u32..5).prop_map(|(server, conns)| Op::Conns { server, conns }),
        1 => (0usize..8, any::<bool>()).prop_map(|(server, usable)| Op::Usable { server, usable }),
        1 => (0usize..8, 0u32..300).prop_map(|(server, weight)| Op::Weight { server, weight }),
        1 => (0usize..8, prop::option::of(0u32..4)).prop_map(|(server, maxconn)| Op::MaxConn { server, maxconn }),
        1 => (0usize..8, 1u32..=16).prop_map(|(server, ramp)| Op::Ramp { server, ramp }),
        1 => Just(Op::Recalc),
    ]
}

fn algo_strategy() -> impl Strategy<Value = Algo> {
    prop::sample::select(ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever the sequence of changes, a pick follows the rules once the
    /// state has been recalculated: eligible, in the right tier, not full
    /// (but hash-based Source), not the avoided one when another fits.
    #[test]
    fn picks_follow_the_rules(
        algo in algo_strategy(),
        init in prop::collection::vec(arb_server(), 0..8),
        ops in prop::collection::vec(arb_op(), 0..120),
    ) {
        let mut s = init;
        let mut lb = Lb::new(algo, &s);
        let mut synced = true;
        let initial: Vec<u32> = s.iter().map(|x| x.weight).collect();
        for op in ops {
            match op {
                Op::Pick { hash, avoid } => {
                    let got = lb.pick(&s, hash, avoid);
                    let eff = |i: usize| {
                        let w = s[i].weight.min(MAX_WEIGHT);
                        if algo.is_static() && w != 0 { initial[i].min(MAX_WEIGHT) } else { w }
                    };
                    let eligible = |i: usize| s[i].usable && eff(i) > 0;
                    if let Some(i) = got {
                        prop_assert!(i < s.len() && eligible(i));
                        let hashed = algo == Algo::Source && hash.is_some();
                        prop_assert!(hashed || !s[i].is_full());
                        if synced {
                            let any_active = (0..s.len()).any(|j| eligible(j) && !s[j].backup);
                            if any_active {
                                prop_assert!(!s[i].backup);
                            } else if algo.is_static() {
                                // HAProxy's map in backup mode: sized by
                                // the first backup's weight, filled from
                                // every usable backup.
                                prop_assert!(s[i].backup);
                            } else {
                                let fbck = (0..s.len()).find(|&j| eligible(j));
                                prop_assert_eq!(Some(i), fbck);
                            }
                            if avoid == Some(i) && !hashed {
                                // No other server of the tier could take it.
                                let others = lb.tier().iter().any(|&j| j != i && lb.can_pick(j) && eligible(j) && (hashed || !s[j].is_full()));
                                prop_assert!(!others);
                            }
                        }
                    } else if synced {
                        let tier_ok = lb.tier().iter().any(|&j| lb.can_pick(j) && eligible(j) && (!s[j].is_full() || (algo == Algo::Source && hash.is_some())));
                        prop_assert!(!tier_ok, "None although {:?} could take it", lb.tier());
                    }
                }
                Op::Conns { server, conns } => {
                    if let Some(x) = s.get_mut(server) { x.cur_conns = conns; }
                }
                Op::Usable { server, usable } => {
                    if let Some(x) = s.get_mut(server) { x.usable = usable; synced = false; }
                }
                Op::Weight { server, weight } => {
                    if let Some(x) = s.get_mut(server) { x.weight = weight; synced = false; }
                }
                Op::Ramp { server, ramp } => {
                    if let Some(x) = s.get_mut(server) { x.ramp = ramp; synced = false; }
                }
                Op::MaxConn { server, maxconn } => {
                    if let Some(x) = s.get_mut(server) { x.maxconn = maxconn; }
                }
                Op::Recalc => {
                    lb.recalc(&s);
                    synced = true;
                }
            }
        }
    }

    /// Round robin and static-rr give exact shares over whole cycles.
    #[test]
    fn rr_shares_are_exact(weights in prop::collection::vec(1u32..20, 1..8), cycles in 1usize..4) {
        let s = servers(&weights);
        let total: u32 = weights.iter().sum();
        for algo in [Algo::RoundRobin, Algo::StaticRr] {
            let mut lb = Lb::new(algo, &s);
            let seq = picks(&mut lb, &s, total as usize * cycles);
            let want: Vec<u32> = weights.iter().map(|w| w * cycles as u32).collect();
            prop_assert_eq!(counts(&seq, s.len()), want);
        }
    }
}

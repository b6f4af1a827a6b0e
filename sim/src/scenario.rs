//! Scenarios: from a seed, the shape of one run (nodes, network, writers,
//! faults and when they stop). Every number here is drawn from the run's
//! one PRNG, so `(scenario, seed)` decides everything.

use core::fmt;

use sluice_core::rng::Rng;
use sluice_core::time::Time;

/// The scenarios `--scenario` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// Links flap over and over with tiny latency: both ends reconnect at once.
    ReconnectStorm,
    /// Partitions (pairs and isolated nodes) that heal.
    PartitionHeal,
    /// Every node is replaced by a new process that learns from the old one.
    RollingReload,
    /// An adversary speaks the peers protocol with hostile messages.
    MalformedPeer,
    /// A node reads slowly: its senders hit backpressure.
    SlowPeer,
    /// A random mix of every fault, weights drawn from the seed.
    Swarm,
    /// The TCP data path: clients -> Sluice -> servers, with latency, RSTs,
    /// server flaps and slow readers.
    TcpProxy,
    /// The HTTP/1.1 data path: keep-alive clients, pipelining, bodies,
    /// misbehaving servers, rules.
    HttpProxy,
    /// `tcp-proxy` with TLS on both sides of Sluice: seeded crypto,
    /// garbage records, truncations, cuts and resets mid-handshake.
    TlsProxy,
    /// `http-proxy` with the servers behind edges that dial the proxy
    /// (reverse HTTP: `bind rhttp@`, `attach-srv`), through partitions,
    /// refusals, restarts and resets mid-handshake.
    ReverseHttp,
    /// `tcp-proxy` whose servers are found by DNS (`resolvers`,
    /// `server ... resolvers`, `server-template`): a simulated DNS node
    /// whose answers change, fail and turn to garbage.
    DnsProxy,
    /// HTTP/2 clients and servers (and some HTTP/1.1 servers) through
    /// Sluice: window stalls, RST_STREAMs, GOAWAYs, server restarts.
    H2Proxy,
}

impl Scenario {
    pub const ALL: [Scenario; 12] = [
        Scenario::ReconnectStorm,
        Scenario::PartitionHeal,
        Scenario::RollingReload,
        Scenario::MalformedPeer,
        Scenario::SlowPeer,
        Scenario::Swarm,
        Scenario::TcpProxy,
        Scenario::HttpProxy,
        Scenario::TlsProxy,
        Scenario::ReverseHttp,
        Scenario::DnsProxy,
        Scenario::H2Proxy,
    ];

    /// Whether the scenario runs the data path (one proxy, simulated
    /// clients and servers) rather than a peers mesh.
    pub fn is_datapath(self) -> bool {
        matches!(
            self,
            Scenario::TcpProxy
                | Scenario::HttpProxy
                | Scenario::TlsProxy
                | Scenario::ReverseHttp
                | Scenario::DnsProxy
                | Scenario::H2Proxy
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::ReconnectStorm => "reconnect-storm",
            Scenario::PartitionHeal => "partition-heal",
            Scenario::RollingReload => "rolling-reload",
            Scenario::MalformedPeer => "malformed-peer",
            Scenario::SlowPeer => "slow-peer",
            Scenario::Swarm => "swarm",
            Scenario::TcpProxy => "tcp-proxy",
            Scenario::HttpProxy => "http-proxy",
            Scenario::TlsProxy => "tls-proxy",
            Scenario::ReverseHttp => "reverse-http",
            Scenario::DnsProxy => "dns-proxy",
            Scenario::H2Proxy => "h2-proxy",
        }
    }

    pub fn from_name(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One fault, applied at its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every connection between two nodes is reset (both ends get a RST),
    /// then the link is down for `down_ms`.
    Flap { a: usize, b: usize, down_ms: u64 },
    /// No segment crosses between `a` and `b` for `ms`.
    Partition { a: usize, b: usize, ms: u64 },
    /// No segment crosses between `node` and anyone for `ms`.
    Isolate { node: usize, ms: u64 },
    /// A new process replaces the node's current one (reload).
    Reload { node: usize },
    /// The node reads at most `chunk` bytes per socket every `every_ms`, for `ms`.
    Slow {
        node: usize,
        chunk: usize,
        every_ms: u64,
        ms: u64,
    },
    /// Connections to the node are refused for `ms`.
    Refuse { node: usize, ms: u64 },
    /// Extra latency between two nodes for `ms`.
    Latency {
        a: usize,
        b: usize,
        extra_ms: u64,
        ms: u64,
    },
    /// The node's writer makes `n` updates at once.
    Burst { node: usize, n: u32 },
}

/// Everything a run needs besides the seed's PRNG stream.
#[derive(Clone, Debug)]
pub struct Spec {
    pub scenario: Scenario,
    /// Honest nodes.
    pub nodes: usize,
    /// An adversary node joins the mesh (`malformed-peer`, some swarms).
    pub adversary: bool,
    pub max_updates: u32,
    /// The world clock at the start (an offset, sometimes near a 2^32 ms
    /// tick wrap).
    pub start: Time,
    /// Base one-way latency per pair of nodes (symmetric), in ms.
    pub latency: Vec<Vec<u64>>,
    pub jitter_ms: u64,
    /// Extra delay of a TCP connect, up to.
    pub connect_extra_ms: u64,
    /// Pipe capacities are drawn in this range.
    pub cap_min: usize,
    pub cap_max: usize,
    /// Mean ms between two writer operations, per node.
    pub write_every_ms: Vec<u64>,
    pub keys_per_table: u32,
    pub faults: Vec<(Time, Fault)>,
    /// Faults and writers stop here; the quiet phase starts.
    pub fault_end: Time,
    /// The tables must converge within this after `fault_end`.
    pub converge_ms: u64,
    /// Mean ms between two adversary actions.
    pub adversary_every_ms: u64,
    /// The data-path scenarios: proxy configuration, clients, servers.
    pub dp: Option<Box<crate::dp::DpSpec>>,
}

impl Spec {
    /// The spec of `scenario` for seed `seed`, whose PRNG is `rng`.
    /// `swarm` runs the data path with every fault mixed for one seed in
    /// three (`seed % 3 == 2`, alternating TCP and HTTP), decided from the
    /// seed rather than drawn so that the other swarm seeds keep their runs.
    pub fn generate_for_seed(
        scenario: Scenario,
        seed: u64,
        rng: &mut Rng,
        nodes: Option<usize>,
    ) -> Spec {
        if scenario == Scenario::Swarm && seed % 3 == 2 && nodes.is_none() {
            let http = (seed / 3) % 2 == 1;
            return crate::dp::generate(Scenario::Swarm, http, rng);
        }
        Spec::generate(scenario, rng, nodes)
    }

    /// The spec of `scenario` for the run whose PRNG is `rng`.
    /// `nodes` overrides the number of honest nodes (2 to 50).
    pub fn generate(scenario: Scenario, rng: &mut Rng, nodes: Option<usize>) -> Spec {
        if scenario.is_datapath() {
            let http = matches!(
                scenario,
                Scenario::HttpProxy | Scenario::ReverseHttp | Scenario::H2Proxy
            );
            return crate::dp::generate(scenario, http, rng);
        }
        let drawn = match scenario {
            Scenario::ReconnectStorm => 3 + rng.below(3) as usize,
            _ => 3 + rng.below(2) as usize,
        };
        let nodes = nodes.map_or(drawn, |n| n.clamp(2, 50));
        let start = if rng.chance(1, 4) {
            // Near a 32-bit tick wrap: ticks wrap during the run.
            Time::from_ms(((1 + rng.below(4)) << 32) - 20_000 - rng.below(40_000))
        } else {
            Time::from_ms(1_000_000 + rng.below(1 << 40))
        };
        let tiny = scenario == Scenario::ReconnectStorm;
        let mut latency = vec![vec![0; nodes + 1]; nodes + 1];
        #[allow(clippy::needless_range_loop)] // a symmetric matrix
        for a in 0..=nodes {
            for b in a + 1..=nodes {
                let l = if tiny {
                    rng.below(2)
                } else {
                    1 + rng.below(25)
                };
                latency[a][b] = l;
                latency[b][a] = l;
            }
        }
        let (cap_min, cap_max) = match scenario {
            Scenario::SlowPeer => (1024, 8192),
            _ if rng.chance(1, 3) => (2048, 16384),
            _ => (16384, 131072),
        };
        // The storm is about reconnects: lighter writers (still tens of
        // updates per second across the mesh); the others push hard.
        let write_every_ms = (0..nodes)
            .map(|_| {
                if tiny {
                    50 + rng.below(400)
                } else {
                    5 + rng.below(60)
                }
            })
            .collect();
        let mut spec = Spec {
            scenario,
            nodes,
            adversary: scenario == Scenario::MalformedPeer,
            max_updates: [1, 5, 50, 200][rng.below(4) as usize],
            start,
            latency,
            jitter_ms: if tiny { rng.below(2) } else { rng.below(10) },
            connect_extra_ms: if tiny { 1 } else { 20 },
            cap_min,
            cap_max,
            write_every_ms,
            keys_per_table: 20 + rng.below(200) as u32,
            faults: Vec::new(),
            fault_end: start,
            converge_ms: CONVERGE_MS,
            adversary_every_ms: 20 + rng.below(200),
            dp: None,
        };
        let dur = 30_000 + rng.below(30_000);
        spec.fault_end = start.add_ms(dur);
        match scenario {
            Scenario::ReconnectStorm => spec.storm(rng, dur),
            Scenario::PartitionHeal => spec.partitions(rng, dur),
            Scenario::RollingReload => spec.reloads(rng, dur),
            Scenario::MalformedPeer => spec.malformed(rng, dur),
            Scenario::SlowPeer => spec.slow(rng, dur),
            Scenario::Swarm => spec.swarm(rng, dur),
            Scenario::TcpProxy
            | Scenario::HttpProxy
            | Scenario::TlsProxy
            | Scenario::ReverseHttp
            | Scenario::DnsProxy
            | Scenario::H2Proxy => {
                unreachable!("data path")
            }
        }
        spec.faults.sort_by_key(|(t, _)| *t);
        spec
    }

    fn at(&self, rng: &mut Rng, dur: u64) -> Time {
        self.start
            .add_ms(1000 + rng.below(dur.saturating_sub(1000).max(1)))
    }

    fn pair(&self, rng: &mut Rng) -> (usize, usize) {
        let a = rng.below(self.nodes as u64) as usize;
        let b = (a + 1 + rng.below(self.nodes as u64 - 1) as usize) % self.nodes;
        (a, b)
    }

    fn storm(&mut self, rng: &mut Rng, dur: u64) {
        // Flaps every few hundred ms to a few seconds, on random links.
        let mut t = self.start.add_ms(500 + rng.below(2000));
        let end = self.start.add_ms(dur);
        let mean = 200 + rng.below(2000);
        while t < end {
            let (a, b) = self.pair(rng);
            let down_ms = rng.below(3) * rng.below(400);
            self.faults.push((t, Fault::Flap { a, b, down_ms }));
            t = t.add_ms(1 + rng.below(2 * mean));
        }
    }

    fn partitions(&mut self, rng: &mut Rng, dur: u64) {
        let n = 2 + rng.below(6);
        for _ in 0..n {
            let t = self.at(rng, dur);
            let ms = 200 + rng.below(15_000);
            let f = if rng.chance(1, 3) {
                Fault::Isolate {
                    node: rng.below(self.nodes as u64) as usize,
                    ms,
                }
            } else {
                let (a, b) = self.pair(rng);
                Fault::Partition { a, b, ms }
            };
            self.faults.push((t, f));
        }
    }

    fn reloads(&mut self, rng: &mut Rng, dur: u64) {
        // Each node once, in a random order, spaced so that reloads overlap
        // sometimes but a node is never reloaded twice at once.
        let mut order: Vec<usize> = (0..self.nodes).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let gap = dur / (self.nodes as u64 + 1);
        let mut t = self.start.add_ms(2000 + rng.below(4000));
        for node in order {
            self.faults.push((t, Fault::Reload { node }));
            if rng.chance(1, 3) {
                let n = 50 + rng.below(500) as u32;
                self.faults
                    .push((t.add_ms(rng.below(200)), Fault::Burst { node, n }));
            }
            t = t.add_ms(gap / 2 + rng.below(gap));
        }
    }

    fn malformed(&mut self, rng: &mut Rng, dur: u64) {
        // The adversary does the damage; a few flaps keep sessions moving.
        for _ in 0..rng.below(3) {
            let t = self.at(rng, dur);
            let (a, b) = self.pair(rng);
            self.faults.push((t, Fault::Flap { a, b, down_ms: 0 }));
        }
    }

    fn slow(&mut self, rng: &mut Rng, dur: u64) {
        let n = 1 + rng.below(3);
        for _ in 0..n {
            let t = self.at(rng, dur);
            let node = rng.below(self.nodes as u64) as usize;
            let f = Fault::Slow {
                node,
                chunk: 16 + rng.below(1024) as usize,
                every_ms: 5 + rng.below(200),
                ms: 1000 + rng.below(20_000),
            };
            self.faults.push((t, f));
            // Bursts towards the slow node's peers fill its pipes.
            for _ in 0..1 + rng.below(3) {
                let from = rng.below(self.nodes as u64) as usize;
                let bt = t.add_ms(rng.below(3000));
                self.faults.push((
                    bt,
                    Fault::Burst {
                        node: from,
                        n: 200 + rng.below(2000) as u32,
                    },
                ));
            }
        }
    }

    fn swarm(&mut self, rng: &mut Rng, dur: u64) {
        // Weights of each fault kind, from the seed.
        let w: Vec<u64> = (0..7).map(|_| rng.below(10)).collect();
        let total: u64 = w.iter().sum::<u64>().max(1);
        let n = 5 + rng.below(40);
        self.adversary = rng.chance(1, 3);
        let mut reload_free = vec![self.start; self.nodes];
        for _ in 0..n {
            let t = self.at(rng, dur);
            let mut pick = rng.below(total);
            let mut kind = 0;
            for (i, wi) in w.iter().enumerate() {
                if pick < *wi {
                    kind = i;
                    break;
                }
                pick -= wi;
            }
            let (a, b) = self.pair(rng);
            let f = match kind {
                0 => Fault::Flap {
                    a,
                    b,
                    down_ms: rng.below(2) * rng.below(1000),
                },
                1 => Fault::Partition {
                    a,
                    b,
                    ms: 100 + rng.below(12_000),
                },
                2 => Fault::Isolate {
                    node: a,
                    ms: 100 + rng.below(8000),
                },
                3 => {
                    if t < reload_free[a] {
                        continue;
                    }
                    reload_free[a] = t.add_ms(12_000);
                    Fault::Reload { node: a }
                }
                4 => Fault::Slow {
                    node: a,
                    chunk: 16 + rng.below(2048) as usize,
                    every_ms: 5 + rng.below(100),
                    ms: 500 + rng.below(10_000),
                },
                5 => Fault::Refuse {
                    node: a,
                    ms: 100 + rng.below(5000),
                },
                _ => {
                    if rng.chance(1, 2) {
                        Fault::Latency {
                            a,
                            b,
                            extra_ms: rng.below(3000),
                            ms: 100 + rng.below(8000),
                        }
                    } else {
                        Fault::Burst {
                            node: a,
                            n: 10 + rng.below(1500) as u32,
                        }
                    }
                }
            };
            self.faults.push((t, f));
        }
    }
}

/// Convergence bound after the faults stop, in simulated ms. Why this much:
/// a node may wait up to 5 s between two outgoing attempts (§11), a dead
/// session is only detected after 5 to 10 s of silence, a resync waits up
/// to 5 s per phase, and a partial teach re-arms 5 s: 30 s covers the worst
/// chain of those with room to spare.
pub const CONVERGE_MS: u64 = 30_000;

//! `sluice-sim`: a deterministic discrete-event world that runs many Sluice
//! engines over a simulated network, driven by one seeded PRNG.
//!
//! A run is a pure function of `(scenario, seed)` (and the mutant, when the
//! `mutants` feature is on): the seed makes one [`Rng`], which draws the
//! scenario's shape ([`scenario::Spec`]), every engine's seed, every
//! latency, jitter and fault. The world keeps no wall clock, no hash-map
//! iteration order and no threads, so the same inputs give the same event
//! trace byte for byte ([`RunReport::trace_hash`]).
//!
//! * [`world`]: the clock, the event queue, the simulated driver of each
//!   process, the writers and the faults.
//! * [`net`]: simulated TCP.
//! * [`adversary`]: a peer that speaks the protocol with hostile messages.
//! * [`oracle`]: what must hold during and after a run.
//! * [`scenario`]: the scenarios and their parameters.
//! * [`dp`]: the data-path scenarios (`tcp-proxy`, `http-proxy`): one
//!   engine as a proxy between simulated clients and servers, and their
//!   oracles.
//!
//! See `docs/sim.md` for the model, the oracles and their bounds.

pub mod adversary;
pub mod config;
pub mod dp;
pub mod net;
pub mod oracle;
pub mod scenario;
pub mod tls;
pub mod trace;
pub mod world;

use std::panic::{catch_unwind, AssertUnwindSafe};

use sluice_core::rng::Rng;

pub use oracle::Failure;
pub use scenario::Scenario;
pub use world::Stats;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub scenario: Scenario,
    pub seed: u64,
    /// A historic bug to switch on (`--mutant`), by name.
    pub mutant: Option<String>,
    /// Keep the event log as text.
    pub trace: bool,
    /// Overrides the number of honest nodes the scenario draws.
    pub nodes: Option<usize>,
}

impl RunOptions {
    pub fn new(scenario: Scenario, seed: u64) -> RunOptions {
        RunOptions {
            scenario,
            seed,
            mutant: None,
            trace: false,
            nodes: None,
        }
    }

    /// The one-line command that replays this run.
    pub fn replay_command(&self) -> String {
        let mut s = format!(
            "sluice-sim --scenario {} --seed {}",
            self.scenario, self.seed
        );
        if let Some(n) = self.nodes {
            s.push_str(&format!(" --nodes {n}"));
        }
        if let Some(m) = &self.mutant {
            s.push_str(" --mutant ");
            s.push_str(m);
        }
        s
    }
}

/// What a run gave.
#[derive(Debug)]
pub struct RunReport {
    pub options: RunOptions,
    pub failure: Option<Failure>,
    /// FNV-1a of the whole event trace (and of every byte transferred).
    pub trace_hash: u64,
    pub trace_lines: u64,
    /// Simulated ms the run covered.
    pub sim_ms: u64,
    pub stats: Stats,
    pub trace: Option<String>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// The mutant named `name`, checked against this build.
#[cfg(feature = "mutants")]
pub fn parse_mutant(name: &str) -> Result<sluice_core::mutants::Mutant, String> {
    sluice_core::mutants::Mutant::from_name(name).ok_or_else(|| {
        let all: Vec<&str> = sluice_core::mutants::Mutant::ALL
            .iter()
            .map(|m| m.name())
            .collect();
        format!("unknown mutant '{name}' (known: {})", all.join(", "))
    })
}

/// Without the `mutants` feature there is no mutant code to switch on.
#[cfg(not(feature = "mutants"))]
pub fn parse_mutant(name: &str) -> Result<(), String> {
    Err(format!(
        "--mutant {name}: this sluice-sim was built without the `mutants` feature \
         (cargo build -p sluice-sim --release --features mutants)"
    ))
}

/// Runs one seed. Never panics: a panic (in an engine or in the world)
/// becomes a `panic` failure.
pub fn run(opts: &RunOptions) -> RunReport {
    let mut slot: Option<world::World> = None;
    let res = catch_unwind(AssertUnwindSafe(|| run_in(opts, &mut slot)));
    let failure = match res {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(Failure {
            oracle: "setup",
            at_ms: 0,
            detail: e,
        }),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            let at_ms = slot.as_ref().map_or(0, |w| w.now - w.spec.start);
            Some(Failure {
                oracle: "panic",
                at_ms,
                detail: msg,
            })
        }
    };
    match slot {
        Some(mut w) => {
            let failure = failure.or_else(|| w.failure.take());
            RunReport {
                options: opts.clone(),
                failure,
                trace_hash: w.trace.hash(),
                trace_lines: w.trace.lines(),
                sim_ms: w.now - w.spec.start,
                stats: w.stats.clone(),
                trace: w.trace.take_text(),
            }
        }
        None => RunReport {
            options: opts.clone(),
            failure,
            trace_hash: 0,
            trace_lines: 0,
            sim_ms: 0,
            stats: Stats::default(),
            trace: None,
        },
    }
}

fn run_in(opts: &RunOptions, slot: &mut Option<world::World>) -> Result<(), String> {
    let mut rng = Rng::new(opts.seed);
    let spec = scenario::Spec::generate_for_seed(opts.scenario, opts.seed, &mut rng, opts.nodes);
    let w = world::World::new(spec, rng, opts.trace)?;
    let w = slot.insert(w);
    #[cfg(feature = "mutants")]
    if let Some(m) = &opts.mutant {
        w.set_mutant(Some(parse_mutant(m)?));
    }
    #[cfg(not(feature = "mutants"))]
    if let Some(m) = &opts.mutant {
        parse_mutant(m)?;
    }
    w.start();
    w.run();
    Ok(())
}

/// The outcome of a range of seeds.
#[derive(Debug, Default)]
pub struct SweepReport {
    pub runs: u64,
    pub sim_ms: u64,
    pub failures: Vec<RunReport>,
    /// Highest per-run peaks and convergence time over the sweep.
    pub peak_wakeups_per_s: u32,
    pub peak_attempts_per_min: usize,
    pub max_converge_ms: u64,
}

/// Runs `seeds` of `base` (its scenario, mutant, nodes) one after the other, calling `progress`
/// after each; stops at the first failure when `stop_at_first`.
pub fn sweep(
    base: &RunOptions,
    seeds: core::ops::Range<u64>,
    stop_at_first: bool,
    mut progress: impl FnMut(&RunReport, &SweepReport),
) -> SweepReport {
    let mut rep = SweepReport::default();
    for seed in seeds {
        let mut o = base.clone();
        o.seed = seed;
        o.trace = false;
        let r = run(&o);
        rep.runs += 1;
        rep.sim_ms += r.sim_ms;
        rep.peak_wakeups_per_s = rep.peak_wakeups_per_s.max(r.stats.peak_wakeups_per_s);
        rep.peak_attempts_per_min = rep.peak_attempts_per_min.max(r.stats.peak_attempts_per_min);
        rep.max_converge_ms = rep.max_converge_ms.max(r.stats.converge_ms.unwrap_or(0));
        progress(&r, &rep);
        if !r.passed() {
            rep.failures.push(r);
            if stop_at_first {
                break;
            }
        }
    }
    rep
}

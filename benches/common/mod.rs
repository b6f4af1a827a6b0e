//! What the micro-benchmarks share: a seeded PRNG (inputs are the same on
//! every run) and a driver that runs each case either under criterion or a
//! fixed number of times, for `valgrind --tool=callgrind` (instruction
//! counts are stable where wall-clock time on a shared machine is not).
//!
//! Each case is a closure that processes `elements` items (values,
//! messages, operations) per call and returns a checksum, so that the work
//! cannot be optimised away. Criterion reports `elements` per second.
//!
//! * `cargo bench --bench NAME [-- FILTER]`: criterion.
//! * `SLUICE_BENCH_ITERS=N target/release/deps/NAME-* [FILTER]`: calls each
//!   matching case N times after one warm-up call and prints nothing but a
//!   checksum; `benches/callgrind.sh` runs it under callgrind with two
//!   values of N and prints instructions per item.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};

/// splitmix64: deterministic inputs without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// One benchmark: `run` processes `elements` items per call.
pub struct Case {
    pub name: String,
    pub elements: u64,
    pub run: Box<dyn FnMut() -> u64>,
}

impl Case {
    pub fn new(name: &str, elements: u64, run: impl FnMut() -> u64 + 'static) -> Case {
        Case {
            name: name.to_string(),
            elements,
            run: Box::new(run),
        }
    }
}

/// A criterion group name and the function building its cases.
pub type Builder<'a> = (&'a str, fn() -> Vec<Case>);

/// Runs the cases of each builder (a criterion group `group/sub`) under
/// criterion, or in fixed mode when `SLUICE_BENCH_ITERS` is set.
pub fn main(group: &str, builders: &[Builder<'_>]) {
    if let Some(iters) = std::env::var("SLUICE_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
        fixed(group, builders, iters, filter.as_deref());
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for (sub, build) in builders {
        let mut g = c.benchmark_group(format!("{group}/{sub}"));
        for mut case in build() {
            g.throughput(Throughput::Elements(case.elements));
            g.bench_function(case.name.as_str(), |b| b.iter(|| black_box((case.run)())));
        }
        g.finish();
    }
    c.final_summary();
}

/// Fixed mode: one warm-up call, then `iters` calls of every case whose
/// full name contains `filter`.
fn fixed(group: &str, builders: &[Builder<'_>], iters: u64, filter: Option<&str>) {
    let mut sum = 0u64;
    for (sub, build) in builders {
        // A filter naming another group/sub does not pay for this setup.
        let prefix = format!("{group}/{sub}/");
        if filter
            .is_some_and(|f| f.contains('/') && !f.starts_with(&prefix) && !prefix.starts_with(f))
        {
            continue;
        }
        for mut case in build() {
            let full = format!("{prefix}{}", case.name);
            if filter.is_some_and(|f| !full.contains(f)) {
                continue;
            }
            sum = sum.wrapping_add((case.run)());
            for _ in 0..iters {
                sum = sum.wrapping_add(black_box((case.run)()));
            }
            eprintln!("{full}: {iters} x {} items", case.elements);
        }
    }
    println!("checksum {sum}");
}

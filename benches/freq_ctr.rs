//! Frequency counter throughput: `update_freq_ctr_period` and
//! `read_freq_ctr_period` over 1024 counters (one per tracked entry), with
//! `now` moving so that periods rotate as they do in production.
//!
//!     cargo bench --bench freq_ctr
//!     benches/callgrind.sh freq_ctr           # instructions per op

mod common;

use common::{Case, Rng};
use sluice_core::freq_ctr::FreqCtr;
use sluice_core::time::Tick;

const COUNTERS: usize = 1024;
const PERIOD_MS: u32 = 10_000;
/// Operations per call; `now` advances 1 ms per call, so a period rotates
/// every 10k calls and a counter also sees idle gaps of several periods.
const OPS: usize = 8 * COUNTERS;

/// Counters at different ages, and a random visiting order.
fn setup() -> (Vec<FreqCtr>, Vec<u16>, Tick) {
    let mut rng = Rng::new(0x5eed_0005);
    let now = Tick(0xffff_0000); // wraps during the run
    let ctrs = (0..COUNTERS)
        .map(|_| {
            let age = rng.below(3 * u64::from(PERIOD_MS)) as u32;
            FreqCtr::new(
                now.wrapping_sub(age),
                rng.below(500) as u32,
                rng.below(500) as u32,
            )
        })
        .collect();
    let order = (0..OPS)
        .map(|_| rng.below(COUNTERS as u64) as u16)
        .collect();
    (ctrs, order, now)
}

fn cases() -> Vec<Case> {
    let (mut ctrs, order, mut now) = setup();
    let (rctrs, rorder, mut rnow) = setup();
    vec![
        Case::new("update", OPS as u64, move || {
            now = now.wrapping_add(1);
            let mut sum = 0u64;
            for &i in &order {
                sum += u64::from(ctrs[usize::from(i)].update(now, PERIOD_MS, 1));
            }
            sum
        }),
        Case::new("read", OPS as u64, move || {
            rnow = rnow.wrapping_add(1);
            let mut sum = 0u64;
            for &i in &rorder {
                sum += u64::from(rctrs[usize::from(i)].read(rnow, PERIOD_MS));
            }
            sum
        }),
    ]
}

fn main() {
    common::main("freq_ctr", &[("period_10s", cases)]);
}

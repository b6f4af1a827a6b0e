//! Frequency counters: HAProxy 2.6's `struct freq_ctr` (`include/haproxy/freq_ctr-t.h`,
//! `include/haproxy/freq_ctr.h`, `src/freq_ctr.c`).
//!
//! A counter counts events over a sliding *period* (in ms) with two windows:
//! the current one, which started at `curr_tick`, and the previous one. A rate
//! is read by interpolating the previous window linearly over the part of it
//! that still overlaps "the last period":
//!
//! ```text
//!            prev_ctr                curr_ctr
//!   |-----------------------|-----------------------|
//!   curr_tick - period      curr_tick        now    curr_tick + period
//!                  <------------ period ------------>
//!   rate ~= prev_ctr * (curr_tick + period - now) / period + curr_ctr
//! ```
//!
//! The period is not stored in the counter (HAProxy keeps it in the table's
//! `data_arg`): every call takes it, and `now` (a [`Tick`], HAProxy's
//! `global_now_ms`) as arguments.
//!
//! Invariants and conventions, as in HAProxy:
//! * ticks wrap every 2^32 ms; all arithmetic on them is wrapping, and a
//!   counter is meaningful while `now - curr_tick < 2^31`;
//! * bit 0 of `curr_tick` is HAProxy's rotation lock: it is always stored
//!   cleared, so that the ticks compare equal to HAProxy's (and to the age
//!   sent on the wire);
//! * a counter that was never used has `curr_tick == 0`; the first update
//!   restarts it at `now`.
//!
//! Period 0 is a configuration bug (a `store` clause always has a period);
//! the reading functions then answer "no events" instead of dividing by zero.

use crate::time::Tick;

/// HAProxy's `struct freq_ctr`: events in the current and previous period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreqCtr {
    /// Start of the current period (bit 0 always clear).
    pub curr_tick: Tick,
    /// Events counted since `curr_tick`.
    pub curr_ctr: u32,
    /// Events counted during the period before.
    pub prev_ctr: u32,
}

/// Clears bit 0 (HAProxy's rotation lock bit) of a tick.
const fn unlocked(t: Tick) -> Tick {
    Tick(t.0 & !1)
}

impl FreqCtr {
    /// A counter started at `curr_tick` with the given windows (bit 0 of the
    /// tick is cleared, as HAProxy stores it).
    pub const fn new(curr_tick: Tick, curr_ctr: u32, prev_ctr: u32) -> FreqCtr {
        FreqCtr {
            curr_tick: unlocked(curr_tick),
            curr_ctr,
            prev_ctr,
        }
    }

    /// The age sent in a peers update (§8.5 of PROTOCOL.md): ms since the
    /// current period started, in wrapping arithmetic (`now - curr_tick`).
    pub const fn age(&self, now: Tick) -> u32 {
        now.since(self.curr_tick)
    }

    /// A counter learned from a peer: its period started `age` ms before
    /// `now` (never in the future), bit 0 cleared as 2.6 does on receipt.
    pub const fn from_age(now: Tick, age: u32, curr_ctr: u32, prev_ctr: u32) -> FreqCtr {
        FreqCtr::new(now.wrapping_sub(age), curr_ctr, prev_ctr)
    }

    /// `update_freq_ctr_period`: counts `inc` events at `now` and returns the
    /// new value of the current window.
    ///
    /// Within the current period the events are added. Otherwise the windows
    /// rotate (previous = current, current = `inc`, start += period), and if
    /// `now` is still a full period past the new start (two periods or more
    /// were missed) the previous window is zeroed and the period restarts at
    /// `now`.
    pub fn update(&mut self, now: Tick, period: u32, inc: u32) -> u32 {
        if now.since(self.curr_tick) < period {
            self.curr_ctr = self.curr_ctr.wrapping_add(inc);
            return self.curr_ctr;
        }
        self.prev_ctr = self.curr_ctr;
        self.curr_ctr = inc;
        let mut tick = self.curr_tick.wrapping_add(period);
        if now.since(tick) >= period {
            self.prev_ctr = 0;
            tick = now;
        }
        self.curr_tick = unlocked(tick);
        inc
    }

    /// `freq_ctr_total`: the number of events over the last period, times
    /// the period (so that no precision is lost before the caller divides).
    ///
    /// `pend` events not counted yet are added to the current window. With
    /// `pend == None` (HAProxy's `pend = -1`), the low-rate flapping
    /// correction applies: an idle current window after a previous window of
    /// 0 or 1 event reports the previous window whole instead of fading it.
    ///
    /// Arithmetic is wrapping, like HAProxy's `ullong`s (it can only wrap for
    /// periods or counts near 2^32, far beyond any sane configuration).
    pub fn total(&self, now: Tick, period: u32, pend: Option<u32>) -> u64 {
        let mut curr = u64::from(self.curr_ctr);
        let mut past = u64::from(self.prev_ctr);
        // Time left before the current window is a full period old.
        let mut remain = self.curr_tick.wrapping_add(period).since(now) as i32;
        if remain < 0 {
            // The current window is over: it becomes the past one, fading out
            // over the next period, or is forgotten if that is over too.
            remain = (remain as u32).wrapping_add(period) as i32;
            past = if remain >= 0 { curr } else { 0 };
            curr = 0;
        }
        let pend = match pend {
            Some(p) => u64::from(p),
            None if curr == 0 && past <= 1 => return past.wrapping_mul(u64::from(period)),
            None => 0,
        };
        // `past` is 0 whenever `remain` is negative, so the product is too.
        let faded = past.wrapping_mul(remain.max(0) as u64);
        faded.wrapping_add(curr.wrapping_add(pend).wrapping_mul(u64::from(period)))
    }

    /// `read_freq_ctr_period`: the event rate over the last period, with the
    /// flapping correction (truncated to 32 bits like HAProxy's `div64_32`).
    pub fn read(&self, now: Tick, period: u32) -> u32 {
        if period == 0 {
            return 0;
        }
        (self.total(now, period, None) / u64::from(period)) as u32
    }

    /// `freq_ctr_remain_period`: how many more events may happen now without
    /// the rate over the last period exceeding `freq`, counting `pend`
    /// pending events.
    pub fn remain(&self, now: Tick, period: u32, freq: u32, pend: u32) -> u32 {
        if period == 0 {
            return freq;
        }
        let total = self.total(now, period, pend_arg(pend));
        let avg = ((total / u64::from(period)) as u32).min(freq);
        freq - avg
    }

    /// `next_event_delay_period`: ms to wait before one more event fits under
    /// `freq` events per period (0 when it fits now, at least 1 otherwise).
    pub fn next_event_delay(&self, now: Tick, period: u32, freq: u32, pend: u32) -> u32 {
        let total = self.total(now, period, pend_arg(pend));
        let limit = u64::from(freq) * u64::from(period);
        if total < limit {
            return 0;
        }
        // Each event beyond the limit takes period/freq ms to fade out.
        let wait = ((total - limit) / u64::from(freq.max(1))) as u32;
        wait.max(1)
    }
}

/// HAProxy passes `unsigned int pend` to `freq_ctr_total(.., int pend)`: a
/// value above `i32::MAX` arrives negative and selects the flapping mode.
fn pend_arg(pend: u32) -> Option<u32> {
    if (pend as i32) < 0 {
        None
    } else {
        Some(pend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: u32 = 10_000;

    fn ctr(tick: u32, curr: u32, prev: u32) -> FreqCtr {
        FreqCtr::new(Tick(tick), curr, prev)
    }

    #[test]
    fn new_clears_lock_bit() {
        assert_eq!(ctr(1001, 1, 2).curr_tick, Tick(1000));
    }

    #[test]
    fn wire_age_round_trips_across_the_wrap() {
        // Sender: period started at 4_294_967_000, now 2000 after the wrap:
        // age = 2000 + 296 = 2296. Receiver at tick 50_001: start = 47_705,
        // stored 47_704 (bit 0 cleared).
        let c = ctr(4_294_967_000, 5, 1);
        assert_eq!(c.age(Tick(2000)), 2296);
        let r = FreqCtr::from_age(Tick(50_001), 2296, 5, 1);
        assert_eq!(r, ctr(47_704, 5, 1));
        assert_eq!(r.curr_tick, Tick(47_704));
        // Same rate on both sides at the same age (modulo the cleared bit).
        assert_eq!(c.read(Tick(2000), P), r.read(Tick(50_000), P));
    }

    #[test]
    fn first_update_restarts_an_unused_counter_at_now() {
        // Unused counter: tick 0. now 5_000_001 - 0 >= P -> rotate: prev = 0
        // (old curr), curr = 1, tick = 0 + P = 10_000; now - 10_000 >= P
        // still -> prev = 0, tick = now & !1 = 5_000_000.
        let mut c = FreqCtr::default();
        assert_eq!(c.update(Tick(5_000_001), P, 1), 1);
        assert_eq!(c, ctr(5_000_000, 1, 0));
    }

    #[test]
    fn updates_within_the_period_accumulate() {
        let mut c = ctr(1000, 0, 0);
        assert_eq!(c.update(Tick(1000), P, 2), 2);
        assert_eq!(c.update(Tick(5000), P, 3), 5);
        // 10_999 - 1000 = 9_999 < P: still the same window.
        assert_eq!(c.update(Tick(10_999), P, 1), 6);
        assert_eq!(c, ctr(1000, 6, 0));
    }

    #[test]
    fn window_roll_over_keeps_the_grid() {
        // tick 1000, curr 6. now 11_500: 11_500 - 1000 = 10_500 >= P ->
        // prev = 6, curr = 4, tick = 11_000; 11_500 - 11_000 = 500 < P: kept.
        let mut c = ctr(1000, 6, 0);
        assert_eq!(c.update(Tick(11_500), P, 4), 4);
        assert_eq!(c, ctr(11_000, 4, 6));
        // The period start stays on the 1000 + k*P grid, not at now.
        assert_eq!(c.update(Tick(21_000), P, 1), 1);
        assert_eq!(c, ctr(21_000, 1, 4));
    }

    #[test]
    fn idle_gap_longer_than_two_periods_forgets_the_past() {
        // tick 1000, curr 6, prev 3. now 1000 + 2P + 777 = 21_777:
        // rotate -> tick 11_000, 21_777 - 11_000 = 10_777 >= P -> prev = 0,
        // tick = 21_777 & !1 = 21_776.
        let mut c = ctr(1000, 6, 3);
        assert_eq!(c.update(Tick(21_777), P, 2), 2);
        assert_eq!(c, ctr(21_776, 2, 0));
        // Exactly two periods: now = 21_000 -> tick 11_000, 10_000 >= P -> reset.
        let mut c = ctr(1000, 6, 3);
        c.update(Tick(21_000), P, 1);
        assert_eq!(c, ctr(21_000, 1, 0));
    }

    #[test]
    fn read_interpolates_the_previous_window() {
        // tick 10_000, curr 10, prev 40, P = 10_000.
        let c = ctr(10_000, 10, 40);
        // now = tick: remain = P -> (40*10_000 + 10*10_000)/P = 50.
        assert_eq!(c.read(Tick(10_000), P), 50);
        // now = tick + 2500: remain 7500 -> (40*7500 + 10*10_000)/P = 30 + 10 = 40.
        assert_eq!(c.read(Tick(12_500), P), 40);
        // now = tick + 5000: remain 5000 -> 20 + 10 = 30.
        assert_eq!(c.read(Tick(15_000), P), 30);
        // now = tick + 9999: remain 1 -> (40 + 100_000)/P = 10 (40/10_000 truncated).
        assert_eq!(c.read(Tick(19_999), P), 10);
        // now = tick + P: remain 0 -> 10.
        assert_eq!(c.read(Tick(20_000), P), 10);
        // now = tick + 1.5P: remain = -5000 + P = 5000, past = curr = 10,
        // curr = 0 -> 10*5000/P = 5.
        assert_eq!(c.read(Tick(25_000), P), 5);
        // now = tick + 2P - 1: remain 1 -> 10/P = 0.
        assert_eq!(c.read(Tick(29_999), P), 0);
        // now = tick + 2P + 1: remain -1 -> past = 0 -> 0.
        assert_eq!(c.read(Tick(30_001), P), 0);
    }

    #[test]
    fn total_without_flapping_correction() {
        let c = ctr(10_000, 10, 40);
        // remain 7500: 40*7500 + (10+5)*10_000 = 300_000 + 150_000.
        assert_eq!(c.total(Tick(12_500), P, Some(5)), 450_000);
        assert_eq!(c.total(Tick(12_500), P, None), 400_000);
    }

    #[test]
    fn flapping_correction_at_very_low_rates() {
        // curr 0, prev 1, half-way: without correction 1*5000/P = 0 events;
        // with it the previous event counts whole: 1*P/P = 1.
        let c = ctr(10_000, 0, 1);
        assert_eq!(c.read(Tick(15_000), P), 1);
        assert_eq!(c.total(Tick(15_000), P, Some(0)), 5_000);
        // A single event a period and a half ago: remain = -5000 + P = 5000,
        // past = curr = 1, curr = 0 -> correction returns 1*P -> rate 1.
        let c = ctr(10_000, 1, 0);
        assert_eq!(c.read(Tick(25_000), P), 1);
        // prev 2 is above the threshold: 2*5000/P = 1, interpolated normally.
        let c = ctr(10_000, 0, 2);
        assert_eq!(c.read(Tick(17_500), P), 0); // 2*2500/P = 0
        assert_eq!(c.total(Tick(17_500), P, None), 5_000);
        // Beyond two periods even the corrected value is 0 (past forgotten).
        let c = ctr(10_000, 1, 0);
        assert_eq!(c.read(Tick(30_001), P), 0);
    }

    #[test]
    fn remain_at_and_past_the_limit() {
        // curr 8, prev 0 at tick: total = 8*P (+ pend*P).
        let c = ctr(10_000, 8, 0);
        assert_eq!(c.remain(Tick(10_000), P, 10, 0), 2); // 10 - 8
        assert_eq!(c.remain(Tick(10_000), P, 10, 2), 0); // 10 - 10: at the limit
        assert_eq!(c.remain(Tick(10_000), P, 10, 5), 0); // avg 13 capped at 10
        assert_eq!(c.remain(Tick(10_000), P, 5, 0), 0); // already past
                                                        // pend > i32::MAX is HAProxy's negative pend: flapping mode, pend ignored.
        assert_eq!(c.remain(Tick(10_000), P, 10, u32::MAX), 2);
    }

    #[test]
    fn next_event_delay_at_and_past_the_limit() {
        let c = ctr(10_000, 8, 0);
        // total 8*P < limit 10*P -> 0.
        assert_eq!(c.next_event_delay(Tick(10_000), P, 10, 0), 0);
        // total 8*P + 2*P = limit: not below -> wait (0)/10 = 0 -> at least 1.
        assert_eq!(c.next_event_delay(Tick(10_000), P, 10, 2), 1);
        // freq 4: limit 40_000, total 80_000 -> 40_000 / 4 = 10_000 ms.
        assert_eq!(c.next_event_delay(Tick(10_000), P, 4, 0), 10_000);
        // Half a period later the current window still counts whole: total
        // = 80_000 -> same wait. 1.5 periods later: remain 5000, past 8 ->
        // total 40_000 = limit -> 1.
        assert_eq!(c.next_event_delay(Tick(15_000), P, 4, 0), 10_000);
        assert_eq!(c.next_event_delay(Tick(25_000), P, 4, 0), 1);
        // freq 0: limit 0, divided by 1 -> total itself: 8*5000 = 40_000.
        assert_eq!(c.next_event_delay(Tick(25_000), P, 0, 0), 40_000);
    }

    #[test]
    fn counters_run_across_tick_wrap() {
        // Period started 1000 ms before the wrap.
        let start = u32::MAX - 999; // 4_294_966_296, even
        let mut c = ctr(start, 0, 0);
        assert_eq!(c.update(Tick(start), P, 3), 3);
        // now = 5000 after the wrap: since = 1000 + 5000 = 6000 < P: same window.
        assert_eq!(c.update(Tick(5000), P, 2), 5);
        assert_eq!(c, ctr(start, 5, 0));
        // remain = start + P - 5000 = 4000 (wrapping) -> total 5*P -> 5.
        assert_eq!(c.read(Tick(5000), P), 5);
        // now = 9500: since = 10_500 -> rotate, tick = start + P = 9000.
        assert_eq!(c.update(Tick(9500), P, 1), 1);
        assert_eq!(c, ctr(9000, 1, 5));
        // read at 14_000: remain = 9000 + P - 14_000 = 5000 -> (5*5000 + 1*P)/P = 3.
        assert_eq!(c.read(Tick(14_000), P), 3);
        // An idle gap across the wrap: tick near the top, now past the wrap by
        // more than two periods -> restart at now.
        let mut c = ctr(u32::MAX - 1, 7, 7);
        c.update(Tick(30_001), P, 1);
        assert_eq!(c, ctr(30_000, 1, 0));
    }

    #[test]
    fn period_zero_never_divides() {
        let c = ctr(10, 5, 5);
        assert_eq!(c.read(Tick(10), 0), 0);
        assert_eq!(c.remain(Tick(10), 0, 7, 0), 7);
        let _ = c.next_event_delay(Tick(10), 0, 7, 0);
    }

    proptest! {
        #[test]
        fn read_never_exceeds_both_windows(
            tick in any::<u32>(), curr in any::<u32>(), prev in any::<u32>(),
            age in 0u32..(1 << 31), period in 1u32..(1 << 30),
        ) {
            // `now` is never before the start of the current window (age < 2^31).
            let c = ctr(tick, curr, prev);
            let now = c.curr_tick.wrapping_add(age);
            let r = u64::from(c.read(now, period));
            prop_assert!(r <= u64::from(curr) + u64::from(prev), "read {} > {} + {}", r, curr, prev);
        }

        #[test]
        fn nothing_panics_on_any_state(
            tick in any::<u32>(), curr in any::<u32>(), prev in any::<u32>(),
            now in any::<u32>(), period in any::<u32>(), freq in any::<u32>(),
            pend in any::<u32>(), inc in any::<u32>(),
        ) {
            let mut c = ctr(tick, curr, prev);
            let _ = c.total(Tick(now), period, Some(pend));
            let _ = c.read(Tick(now), period);
            prop_assert!(c.remain(Tick(now), period, freq, pend) <= freq);
            let _ = c.next_event_delay(Tick(now), period, freq, pend);
            c.update(Tick(now), period, inc);
            prop_assert_eq!(c.curr_tick.0 & 1, 0);
        }

        #[test]
        fn update_then_read_counts_recent_events(
            start in any::<u32>(), steps in proptest::collection::vec((0u32..3000, 0u32..100), 1..50),
        ) {
            // Events counted within the last period are all visible: a rate
            // read right after an update is at least the current window.
            let mut c = FreqCtr::default();
            let mut now = Tick(start);
            for (dt, inc) in steps {
                now = now.wrapping_add(dt);
                let curr = c.update(now, P, inc);
                prop_assert!(c.read(now, P) >= curr || (curr == 0));
                prop_assert!(now.since(c.curr_tick) < P);
            }
        }
    }
}

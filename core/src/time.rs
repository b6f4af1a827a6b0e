//! Time as the engine sees it: a value passed in by the driver.
//!
//! Mirrors HAProxy's `now_ms` and its tick helpers (`include/haproxy/ticks.h`).
//! The engine never reads a clock: every entry point that can depend on time
//! takes `now: Time` as its first argument.
//!
//! * [`Time`] is a monotonic instant in **milliseconds** since an arbitrary
//!   origin chosen by the driver (`proxy-mio`: process start; the simulator:
//!   an offset drawn from the seed). It is 64 bits wide and never wraps.
//! * [`Tick`] is HAProxy's 32-bit wrapping millisecond clock. Frequency
//!   counters and the peers wire format work in ticks, so they wrap every
//!   ~49.7 days exactly as HAProxy's do; comparisons go through signed
//!   differences ([`Tick::is_before`]).
//!
//! Eternity is `None` (an `Option<Time>`), never a magic zero (HAProxy's
//! `TICK_ETERNITY`).

use core::fmt;
use core::ops::{Add, Sub};

/// A monotonic instant, in milliseconds since the driver's origin.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    /// The driver's origin.
    pub const ZERO: Time = Time(0);

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_ms(ms: u64) -> Time {
        Time(ms)
    }

    /// Milliseconds since the origin.
    pub const fn as_ms(self) -> u64 {
        self.0
    }

    /// The 32-bit wrapping tick of this instant (HAProxy's `now_ms`).
    pub const fn tick(self) -> Tick {
        Tick(self.0 as u32)
    }

    /// `self + ms`, saturating (an instant that far away is eternity anyway).
    pub const fn add_ms(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, 0 if `earlier` is later.
    pub const fn saturating_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// HAProxy's `tick_first`: the earlier of two optional deadlines, where
    /// `None` is eternity.
    pub fn first(a: Option<Time>, b: Option<Time>) -> Option<Time> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, None) => a,
            (None, b) => b,
        }
    }

    /// HAProxy's `tick_is_expired`: a deadline is expired once `now` reaches it.
    pub fn is_expired(deadline: Option<Time>, now: Time) -> bool {
        matches!(deadline, Some(d) if d <= now)
    }
}

impl Add<u64> for Time {
    type Output = Time;
    fn add(self, ms: u64) -> Time {
        self.add_ms(ms)
    }
}

impl Sub for Time {
    type Output = u64;
    /// Milliseconds between two instants; saturates at 0.
    fn sub(self, rhs: Time) -> u64 {
        self.saturating_since(rhs)
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// HAProxy's 32-bit wrapping millisecond tick (`now_ms`).
///
/// Invariant: ticks are only ever compared through wrapping differences, so
/// two ticks less than 2^31 ms apart compare correctly across a wrap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tick(pub u32);

impl Tick {
    /// `self + ms`, wrapping.
    pub const fn wrapping_add(self, ms: u32) -> Tick {
        Tick(self.0.wrapping_add(ms))
    }

    /// `self - ms`, wrapping.
    pub const fn wrapping_sub(self, ms: u32) -> Tick {
        Tick(self.0.wrapping_sub(ms))
    }

    /// Milliseconds from `earlier` to `self`, as a wrapping difference.
    pub const fn since(self, earlier: Tick) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    /// HAProxy's `tick_is_lt`: `self` is strictly before `other`, assuming
    /// they are less than 2^31 ms apart.
    pub const fn is_before(self, other: Tick) -> bool {
        (self.0.wrapping_sub(other.0) as i32) < 0
    }
}

impl fmt::Debug for Tick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tick:{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_comparisons_survive_wrap() {
        let a = Tick(u32::MAX - 5);
        let b = a.wrapping_add(10);
        assert_eq!(b.0, 4);
        assert!(a.is_before(b));
        assert!(!b.is_before(a));
        assert_eq!(b.since(a), 10);
        assert_eq!(a.since(b), u32::MAX - 9);
    }

    #[test]
    fn time_first_treats_none_as_eternity() {
        let t = Time::from_ms(5);
        assert_eq!(Time::first(None, Some(t)), Some(t));
        assert_eq!(Time::first(Some(Time::from_ms(9)), Some(t)), Some(t));
        assert_eq!(Time::first(None, None), None);
        assert!(Time::is_expired(Some(t), t));
        assert!(!Time::is_expired(Some(t.add_ms(1)), t));
        assert!(!Time::is_expired(None, t));
        assert_eq!(Time::from_ms((1 << 32) + 7).tick(), Tick(7));
    }
}

/// Formats a wall-clock instant (ms since the Unix epoch, UTC) the way
/// HAProxy prints dates in logs and on the CLI: `22/Nov/2026:00:00:22.123`.
pub fn fmt_date(epoch_ms: u64, with_ms: bool) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86400) as i64);
    let rem = secs % 86400;
    let mut s = format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if with_ms {
        s.push_str(&format!(".{:03}", epoch_ms % 1000));
    }
    s
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod date_tests {
    use super::fmt_date;

    #[test]
    fn dates_match_known_instants() {
        assert_eq!(fmt_date(0, false), "01/Jan/1970:00:00:00");
        // 2026-11-21T23:04:02Z, the date in the captures' `show peers`.
        assert_eq!(fmt_date(1_795_302_242_000, false), "21/Nov/2026:23:04:02");
        assert_eq!(fmt_date(951_782_400_123, true), "29/Feb/2000:00:00:00.123");
    }
}

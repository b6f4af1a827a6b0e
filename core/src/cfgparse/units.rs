//! HAProxy's value syntaxes: times (`parse_time_err`, configuration.txt §2.5),
//! sizes (`parse_size_err`) and plain integers.

use core::fmt;

/// Largest time HAProxy accepts, in ms (`TIMER_LOOK_BACK`: 2^31 - 1, ~24.8 days).
pub const MAX_TIME_MS: u32 = i32::MAX as u32;

/// Why a value did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// Nothing where a number was expected.
    Empty,
    /// A character that is neither a digit nor a known unit.
    BadChar(char),
    /// The value does not fit.
    Overflow,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::Empty => write!(f, "expects an integer value"),
            ValueError::BadChar(c) => write!(f, "unexpected character '{c}'"),
            ValueError::Overflow => write!(f, "value too large"),
        }
    }
}

/// Splits a leading run of ASCII digits from the rest and parses it.
fn leading_number(s: &str) -> Result<(u64, &str), ValueError> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return match s.chars().next() {
            None => Err(ValueError::Empty),
            Some(c) => Err(ValueError::BadChar(c)),
        };
    }
    let n = s[..end].parse::<u64>().map_err(|_| ValueError::Overflow)?;
    Ok((n, &s[end..]))
}

/// A time in milliseconds: digits and an optional unit `us`, `ms` (the
/// default), `s`, `m`, `h` or `d`. Microseconds round up to the next ms.
/// At most [`MAX_TIME_MS`].
pub fn parse_time_ms(s: &str) -> Result<u32, ValueError> {
    let (n, unit) = leading_number(s)?;
    // (unit length, multiplier, divider), as HAProxy reads the unit.
    let (len, mult, div) = match unit.as_bytes() {
        [] => (0, 1, 1),
        [b'u', b's', ..] => (2, 1, 1000),
        [b'm', b's', ..] => (2, 1, 1),
        [b'm', ..] => (1, 60_000, 1),
        [b's', ..] => (1, 1000, 1),
        [b'h', ..] => (1, 3_600_000, 1),
        [b'd', ..] => (1, 86_400_000, 1),
        // Unknown unit: its first character is reported below.
        _ => (0, 1, 1),
    };
    if let Some(c) = unit[len..].chars().next() {
        return Err(ValueError::BadChar(c));
    }
    let ms = n.checked_mul(mult).map(|v| v.div_ceil(div));
    match ms {
        Some(ms) if ms <= u64::from(MAX_TIME_MS) => Ok(ms as u32),
        _ => Err(ValueError::Overflow),
    }
}

/// A time in seconds (HAProxy's `parse_time_err` with `TIME_UNIT_S`):
/// digits and an optional unit `us`, `ms`, `s` (the default), `m`, `h` or
/// `d`, rounded up to the next second; below 2^31.
pub fn parse_time_s(s: &str) -> Result<u32, ValueError> {
    let (n, unit) = leading_number(s)?;
    let (len, mult, div) = match unit.as_bytes() {
        [] => (0, 1, 1),
        [b'u', b's', ..] => (2, 1, 1_000_000),
        [b'm', b's', ..] => (2, 1, 1000),
        [b'm', ..] => (1, 60, 1),
        [b's', ..] => (1, 1, 1),
        [b'h', ..] => (1, 3600, 1),
        [b'd', ..] => (1, 86_400, 1),
        _ => (0, 1, 1),
    };
    if let Some(c) = unit[len..].chars().next() {
        return Err(ValueError::BadChar(c));
    }
    match n.checked_mul(mult).map(|v| v.div_ceil(div)) {
        Some(v) if v < 0x8000_0000 => Ok(v as u32),
        _ => Err(ValueError::Overflow),
    }
}

/// A size in bytes: digits and an optional `k`, `m` or `g` (either case),
/// powers of 1024.
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    let (n, unit) = leading_number(s)?;
    let mult: u64 = match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        other => {
            let bad = match other.chars().next() {
                Some('k' | 'K' | 'm' | 'M' | 'g' | 'G') => other[1..].chars().next(),
                c => c,
            };
            return Err(ValueError::BadChar(bad.unwrap_or('?')));
        }
    };
    n.checked_mul(mult).ok_or(ValueError::Overflow)
}

/// An unsigned decimal integer that fits in a `u32`, nothing else.
pub fn parse_u32(s: &str) -> Result<u32, ValueError> {
    let (n, rest) = leading_number(s)?;
    if let Some(c) = rest.chars().next() {
        return Err(ValueError::BadChar(c));
    }
    u32::try_from(n).map_err(|_| ValueError::Overflow)
}

/// An octal number (`mode 600` of a UNIX socket).
pub fn parse_octal(s: &str) -> Result<u32, ValueError> {
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    if let Some(c) = s.chars().find(|c| !('0'..='7').contains(c)) {
        return Err(ValueError::BadChar(c));
    }
    u32::from_str_radix(s, 8).map_err(|_| ValueError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_unit() {
        assert_eq!(parse_time_ms("5000"), Ok(5000));
        assert_eq!(parse_time_ms("5000ms"), Ok(5000));
        assert_eq!(parse_time_ms("2s"), Ok(2000));
        assert_eq!(parse_time_ms("10m"), Ok(600_000));
        assert_eq!(parse_time_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_time_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_time_ms("1500us"), Ok(2));
        assert_eq!(parse_time_ms("0"), Ok(0));
        assert_eq!(parse_time_ms("2147483647"), Ok(MAX_TIME_MS));
    }

    #[test]
    fn bad_times() {
        assert_eq!(parse_time_ms(""), Err(ValueError::Empty));
        assert_eq!(parse_time_ms("2x"), Err(ValueError::BadChar('x')));
        assert_eq!(parse_time_ms("x"), Err(ValueError::BadChar('x')));
        assert_eq!(parse_time_ms("2sx"), Err(ValueError::BadChar('x')));
        assert_eq!(parse_time_ms("2msx"), Err(ValueError::BadChar('x')));
        assert_eq!(parse_time_ms("2mx"), Err(ValueError::BadChar('x')));
        assert_eq!(parse_time_ms("-1"), Err(ValueError::BadChar('-')));
        assert_eq!(parse_time_ms("2147483648"), Err(ValueError::Overflow));
        assert_eq!(parse_time_ms("25d"), Err(ValueError::Overflow));
        assert_eq!(
            parse_time_ms("99999999999999999999999"),
            Err(ValueError::Overflow)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("16K"), Ok(16384));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("1kb"), Err(ValueError::BadChar('b')));
        assert_eq!(parse_size("k"), Err(ValueError::BadChar('k')));
        assert_eq!(
            parse_size("18446744073709551615g"),
            Err(ValueError::Overflow)
        );
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u32("42"), Ok(42));
        assert_eq!(parse_u32("4294967296"), Err(ValueError::Overflow));
        assert_eq!(parse_u32("4a"), Err(ValueError::BadChar('a')));
        assert_eq!(parse_u32("-1"), Err(ValueError::BadChar('-')));
        assert_eq!(parse_octal("600"), Ok(0o600));
        assert_eq!(parse_octal("680"), Err(ValueError::BadChar('8')));
    }
}

//! Durations in Go syntax (`2190h`, `90m`, `1h30m`, `1.5h`, `45s`), as `tctl` takes them.
//!
//! The grammar and the range follow Go's `time.ParseDuration`: a sequence of decimal numbers,
//! each with an optional fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), at most
//! 2^63-1 nanoseconds in total. rctl refuses what a lifetime cannot be: zero and negative values.

pub use crate::error::format_std;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result, shorten};

/// A positive span of time, to the nanosecond, at most `i64::MAX` nanoseconds (about 292 years).
///
/// ```
/// let ttl: rctl::Ttl = "1h30m".parse().unwrap();
/// assert_eq!(ttl.as_std().as_secs(), 5400);
/// assert_eq!(ttl.to_string(), "1h30m0s");
/// assert!("0s".parse::<rctl::Ttl>().is_err());
/// assert!("1d".parse::<rctl::Ttl>().is_err()); // Go has no day unit
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(std::time::Duration);

const NANOS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

impl Ttl {
    /// Hours, for the common case in code and tests. Panics on zero (a programming error).
    pub const fn from_hours(hours: u64) -> Ttl {
        assert!(hours > 0 && hours < 2_562_047, "hours out of range");
        Ttl(std::time::Duration::from_secs(hours * 3600))
    }

    /// Converts a std duration, refusing zero and values past Go's range.
    pub fn from_std(d: std::time::Duration) -> Result<Ttl> {
        if d.is_zero() {
            return Err(invalid(&format_std(d), "must be greater than zero"));
        }
        if d.as_nanos() > i64::MAX as u128 {
            return Err(invalid(&format_std(d), "too large (at most 2562047h)"));
        }
        Ok(Ttl(d))
    }

    /// Refuses a certificate lifetime that a certificate cannot carry: certificates count
    /// whole seconds, so 999ms or 1.5s would be rounded (to an expired certificate).
    pub(crate) fn check_whole_seconds(self) -> Result<Ttl> {
        if self.0.subsec_nanos() != 0 {
            return Err(invalid(
                &format_std(self.0),
                "a certificate lifetime counts whole seconds",
            ));
        }
        Ok(self)
    }

    /// The duration as std's type.
    pub fn as_std(self) -> std::time::Duration {
        self.0
    }

    /// The duration as the `time` crate's type.
    pub fn as_time(self) -> time::Duration {
        // Within i64 nanoseconds by construction, so this cannot saturate.
        time::Duration::new(self.0.as_secs() as i64, self.0.subsec_nanos() as i32)
    }
}

/// Parses Go duration syntax into a span that may be zero (`0`, `0s`). Negative values are refused.
pub fn parse_duration(input: &str) -> Result<std::time::Duration> {
    let s = input;
    if s.is_empty() {
        return Err(invalid(
            input,
            "empty; use Go syntax such as 12h, 90m or 1h30m",
        ));
    }
    let (neg, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return if neg {
            Err(invalid(input, "must not be negative"))
        } else {
            Ok(std::time::Duration::ZERO)
        };
    }
    if rest.is_empty() {
        return Err(invalid(input, "no number"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let too_large = || invalid(input, "too large (at most 2562047h)");
        total = total
            .checked_add(term(input, &mut rest)?)
            .ok_or_else(too_large)?;
        if total > i64::MAX as u128 {
            return Err(too_large());
        }
    }
    if neg && total > 0 {
        return Err(invalid(input, "must not be negative"));
    }
    Ok(std::time::Duration::new(
        (total / 1_000_000_000) as u64,
        (total % 1_000_000_000) as u32,
    ))
}

/// One term of a duration (`1.5h`) taken from the front of `rest`, in nanoseconds; `input`
/// is the whole text, for messages.
fn term(input: &str, rest: &mut &str) -> Result<u128> {
    let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let int_part = &rest[..int_len];
    *rest = &rest[int_len..];
    let mut frac_part = "";
    if let Some(after_dot) = rest.strip_prefix('.') {
        let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        frac_part = &after_dot[..frac_len];
        *rest = &after_dot[frac_len..];
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(invalid(
            input,
            "expected a number; use Go syntax such as 12h, 90m or 1h30m",
        ));
    }
    let unit_len = rest
        .char_indices()
        .find(|(_, c)| *c == '.' || c.is_ascii_digit())
        .map_or(rest.len(), |(i, _)| i);
    let unit = &rest[..unit_len];
    *rest = &rest[unit_len..];
    if unit.is_empty() {
        return Err(invalid(input, "missing unit (one of ns, us, ms, s, m, h)"));
    }
    let Some(&(_, scale)) = NANOS.iter().find(|(u, _)| *u == unit) else {
        return Err(invalid(
            input,
            &format!(
                "unknown unit {:?} (use ns, us, ms, s, m or h)",
                shorten(unit)
            ),
        ));
    };
    let too_large = || invalid(input, "too large (at most 2562047h)");
    let whole: u128 = if int_part.is_empty() {
        0
    } else {
        // More than 39 digits cannot fit u128; anything past i64 nanoseconds is refused anyway.
        if int_part.len() > 30 {
            return Err(too_large());
        }
        int_part.parse::<u128>().map_err(|_| too_large())?
    };
    let mut value = whole.checked_mul(scale).ok_or_else(too_large)?;
    // Fraction: as Go, digits past what the unit can express are dropped.
    let mut unit_frac = scale;
    for d in frac_part.bytes() {
        if unit_frac < 10 {
            break;
        }
        unit_frac /= 10;
        value += u128::from(d - b'0') * unit_frac;
    }
    Ok(value)
}

impl FromStr for Ttl {
    type Err = Error;

    /// Parses a lifetime: Go syntax, greater than zero.
    fn from_str(s: &str) -> Result<Ttl> {
        let d = parse_duration(s)?;
        if d.is_zero() {
            return Err(invalid(s, "must be greater than zero"));
        }
        Ok(Ttl(d))
    }
}

impl fmt::Display for Ttl {
    /// Formats as Go's `Duration.String()` does: `2190h0m0s`, `1h30m0s`, `45s`, `1.5s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_std(self.0))
    }
}

impl fmt::Debug for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ttl({self})")
    }
}

fn invalid(input: &str, reason: &str) -> Error {
    Error::InvalidDuration {
        input: shorten(input),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn secs(s: &str) -> f64 {
        s.parse::<Ttl>().unwrap().as_std().as_secs_f64()
    }

    #[test]
    fn accepts_tctl_examples() {
        assert_eq!(secs("2190h"), 2190.0 * 3600.0);
        assert_eq!(secs("90m"), 5400.0);
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("1.5h"), 5400.0);
        assert_eq!(secs("45s"), 45.0);
        assert_eq!(secs("+12h"), 43200.0);
        assert_eq!(secs(".5h"), 1800.0);
        assert_eq!(secs("1.h"), 3600.0);
        assert_eq!(secs("1h1m1s1ms1us1ns"), 3661.001001001);
        assert_eq!(secs("2µs"), 0.000002);
    }

    #[test]
    fn zero_is_a_duration_but_not_a_ttl() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for zero in ["0", "0s", "0h0m", "-0"] {
            assert!(zero.parse::<Ttl>().is_err(), "{zero} accepted as a TTL");
        }
    }

    #[test]
    fn refuses_bad_input_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("-1h", "negative"),
            ("12", "missing unit"),
            ("h", "expected a number"),
            ("1d", "unknown unit"),
            ("1 h", "unknown unit"),
            (" 1h", "expected a number"),
            ("1h ", "unknown unit"),
            ("1.5.h", "missing unit"),
            ("abc", "expected a number"),
            ("1h\n", "unknown unit"),
            ("2562048h", "too large"),
            ("9223372036854775808ns", "too large"),
            ("99999999999999999999999999999999999999999h", "too large"),
        ];
        for (input, want) in cases {
            let err = input.parse::<Ttl>().unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
            assert!(!err.contains('\n'), "{input:?}: error spans lines: {err}");
        }
    }

    #[test]
    fn largest_go_duration_is_accepted() {
        let d = parse_duration("9223372036854775807ns").unwrap();
        assert_eq!(d.as_nanos(), i64::MAX as u128);
        assert!("2562047h".parse::<Ttl>().is_ok());
    }

    #[test]
    fn formats_like_go() {
        let f = |s: &str| s.parse::<Ttl>().unwrap().to_string();
        assert_eq!(f("2190h"), "2190h0m0s");
        assert_eq!(f("90m"), "1h30m0s");
        assert_eq!(f("45s"), "45s");
        assert_eq!(f("1.5s"), "1.5s");
        assert_eq!(f("1500ms"), "1.5s");
        assert_eq!(f("12ms"), "12ms");
        assert_eq!(f("1m0.25s"), "1m0.25s");
        assert_eq!(f("7ns"), "7ns");
    }

    #[test]
    fn time_conversion_keeps_nanoseconds() {
        let t: Ttl = "1h0.000000001s".parse().unwrap();
        assert_eq!(t.as_time().whole_nanoseconds(), 3_600_000_000_001);
    }
}

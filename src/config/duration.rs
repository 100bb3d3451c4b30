//! Go's duration syntax, read and written.
//!
//! Operators pass `-inactive-producer-timeout=1m30s` and put
//! `tombstone_lifetime = "45s"` in config files; both must mean what they
//! mean to the Go binary. Go's config loader also takes a bare integer as
//! milliseconds; [`from_config_int`] does the same.

use std::fmt::Write as _;
use std::time::Duration;

/// Parses a Go duration: `300s`, `1m30s`, `1.5h`, `250ms`, `10us`, `10µs`,
/// `0`. A negative duration reads as zero: Go accepts them, and every
/// duration we take is a timeout or lifetime that elapsed time is compared
/// against, where a negative one means what zero means (every producer
/// inactive, tombstones hiding nothing).
pub fn parse(s: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {s:?}");
    let mut rest = s;
    let mut negative = false;
    if let Some(r) = rest.strip_prefix('-') {
        negative = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit in duration {s:?}")),
            _ => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = int.checked_mul(scale).ok_or_else(invalid)?;
        // Fractions are exact to the nanosecond, truncated as Go does.
        let mut frac_scale = scale;
        for d in frac_part.bytes() {
            frac_scale /= 10;
            if frac_scale == 0 {
                break;
            }
            value += u128::from(d - b'0') * frac_scale;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
        rest = after;
    }
    if negative {
        return Ok(Duration::ZERO);
    }
    Ok(Duration::from_nanos(total as u64))
}

/// A config-file integer: milliseconds, as Go's option loader reads it
/// (negative reads as zero, as in [`parse`]).
pub fn from_config_int(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Formats like Go's `time.Duration.String`: `5m0s`, `45s`, `1.5ms`,
/// `23.1µs`, `0s`.
pub fn format(d: Duration) -> String {
    let ns = d.as_nanos().min(u64::MAX as u128) as u64;
    let mut out = String::new();
    if ns < 1_000_000_000 {
        match ns {
            0 => out.push_str("0s"),
            n if n < 1_000 => {
                let _ = write!(out, "{n}ns");
            }
            n if n < 1_000_000 => {
                push_frac(&mut out, n, 3);
                out.push_str("µs");
            }
            n => {
                push_frac(&mut out, n, 6);
                out.push_str("ms");
            }
        }
        return out;
    }
    let secs = ns / 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    push_frac(&mut out, (s * 1_000_000_000) + ns % 1_000_000_000, 9);
    out.push('s');
    out
}

/// Writes `v / 10^digits` with its fraction, trailing zeros dropped.
fn push_frac(out: &mut String, v: u64, digits: u32) {
    let scale = 10u64.pow(digits);
    let _ = write!(out, "{}", v / scale);
    let frac = v % scale;
    if frac != 0 {
        let s = format!("{:0width$}", frac, width = digits as usize);
        out.push('.');
        out.push_str(s.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        let ok = |s: &str, ns: u64| assert_eq!(parse(s), Ok(Duration::from_nanos(ns)), "{s}");
        ok("0", 0);
        ok("-0", 0);
        ok("+5s", 5_000_000_000);
        ok("300s", 300_000_000_000);
        ok("1m30s", 90_000_000_000);
        ok("1.5h", 5_400_000_000_000);
        ok("250ms", 250_000_000);
        ok("10us", 10_000);
        ok("10µs", 10_000);
        ok("10μs", 10_000);
        ok("7ns", 7);
        ok(".5s", 500_000_000);
        ok("1.s", 1_000_000_000);
        ok("1h2m3s4ms5us6ns", 3_723_004_005_006);
        ok("0.000000001s", 1);
        ok("0.0000000019s", 1);
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            "",
            "10",
            "s",
            "1x",
            "1.2.3s",
            "-1x",
            ".s",
            "1s ",
            " 1s",
            "9999999999h",
            "+",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
        // Negative means what zero means, as in Go.
        assert_eq!(parse("-1s"), Ok(Duration::ZERO));
        assert_eq!(parse("-1h30m"), Ok(Duration::ZERO));
    }

    #[test]
    fn formats_like_go() {
        let f = |ns: u64| format(Duration::from_nanos(ns));
        assert_eq!(f(0), "0s");
        assert_eq!(f(1), "1ns");
        assert_eq!(f(1_100), "1.1µs");
        assert_eq!(f(2_200_000), "2.2ms");
        assert_eq!(f(3_300_000_000), "3.3s");
        assert_eq!(f(45_000_000_000), "45s");
        assert_eq!(f(300_000_000_000), "5m0s");
        assert_eq!(f(3_600_000_000_000), "1h0m0s");
        assert_eq!(f(5_403_000_000_001), "1h30m3.000000001s");
    }

    #[test]
    fn config_integers_are_milliseconds() {
        assert_eq!(from_config_int(1500), Duration::from_millis(1500));
        assert_eq!(from_config_int(-1), Duration::ZERO);
    }

    #[test]
    fn example_parse() {
        use std::time::Duration;
        use crate::config::duration::parse;
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5ms"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse("-5s"), Ok(Duration::ZERO));
        assert!(parse("10").is_err());
    }

    #[test]
    fn example_format() {
        use std::time::Duration;
        assert_eq!(crate::config::duration::format(Duration::from_secs(300)), "5m0s");
    }
}

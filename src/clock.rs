//! Time as the registry sees it: monotonic nanoseconds.
//!
//! Inactivity and tombstone decisions must not jump when the wall clock is
//! set, so the registry works on a monotonic [`Timestamp`]. Only `/debug`
//! shows wall-clock times (Unix nanoseconds, as Go prints them), converted
//! at the edge by [`Timestamp::unix_nanos`]. Because every registry method
//! takes `now` as an argument, tests drive time by hand.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Nanoseconds on a monotonic clock whose zero is fixed per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

/// Where the process starts on the registry's clock: 2^60 ns (36 years)
/// after its zero, so moments before the process started (a tombstone set
/// before a restart, restored from a snapshot) are still on the clock.
const START: u64 = 1 << 60;

struct Base {
    instant: Instant,
    unix_nanos: i64,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| Base {
        instant: Instant::now(),
        unix_nanos: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    })
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        let elapsed = base().instant.elapsed();
        Timestamp(START.saturating_add(nanos(elapsed)))
    }

    /// The moment `ago` before this one.
    pub fn minus(self, ago: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(nanos(ago)))
    }

    /// The time elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The moment `later` after this one (saturating).
    pub fn plus(self, later: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos(later)))
    }

    /// The same moment as an `Instant`, for timers.
    pub fn instant(self) -> Instant {
        let b = base().instant;
        if self.0 >= START {
            b + Duration::from_nanos(self.0 - START)
        } else {
            b.checked_sub(Duration::from_nanos(START - self.0))
                .unwrap_or(b)
        }
    }

    /// Wall-clock Unix nanoseconds, as Go's `time.Time.UnixNano` shows them.
    pub fn unix_nanos(self) -> i64 {
        let since_start = i128::from(self.0) - i128::from(START);
        let nanos = i128::from(base().unix_nanos) + since_start;
        i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
    }
}

/// What Go prints for `time.Time{}.UnixNano()`: the zero time's nanoseconds
/// overflow `int64` and wrap. `/debug` shows it as `tombstoned_at` for a
/// producer never tombstoned, so we show the same number.
pub const GO_ZERO_TIME_UNIX_NANOS: i64 = (-62_135_596_800i64).wrapping_mul(1_000_000_000);

/// `d` in nanoseconds, saturating (a `u64` of them spans 584 years).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_time_wraps_like_go() {
        assert_eq!(GO_ZERO_TIME_UNIX_NANOS, -6_795_364_578_871_345_152);
    }

    #[test]
    fn monotonic_and_wall() {
        let a = Timestamp::now();
        let b = Timestamp::now();
        assert!(b >= a);
        assert_eq!(a.since(b), Duration::ZERO);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert!((b.unix_nanos() - wall).abs() < 5_000_000_000);
    }
}

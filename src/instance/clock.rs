//! The instance's clock: the system's monotonic clock, or, for tests, one
//! that moves only when told to.
//!
//! Inactivity and tombstone lifetimes are decided at query time against
//! [`State::now`](super::State::now), so a test holding a manual clock
//! checks a 5-minute timeout without waiting 5 minutes, and without
//! racing the wall clock on a loaded machine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use crate::clock::Timestamp;

/// Where an instance reads the time.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicU64>>);

impl Clock {
    /// The system's monotonic clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that starts at the system's now and moves only by
    /// [`Clock::advance`].
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn manual() -> Clock {
        Clock(Some(Arc::new(AtomicU64::new(Timestamp::now().0))))
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        match &self.0 {
            None => Timestamp::now(),
            Some(t) => Timestamp(t.load(Ordering::SeqCst)),
        }
    }

    /// Moves a manual clock forward (a system clock moves by itself).
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn advance(&self, by: std::time::Duration) {
        if let Some(t) = &self.0 {
            t.fetch_add(crate::clock::nanos(by), Ordering::SeqCst);
        }
    }

    /// Whether it moves only when told to.
    pub fn is_manual(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = Clock::manual();
        let t = c.now();
        std::thread::yield_now();
        assert_eq!(c.now(), t);
        c.advance(Duration::from_secs(300));
        assert_eq!(c.now().since(t), Duration::from_secs(300));
        assert!(c.is_manual() && !Clock::system().is_manual());
    }
}

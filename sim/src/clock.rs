//! The simulated clock: time moves only when the harness moves it.
//!
//! [`SimClock`] implements [`logbook::Clock`]. Clones share one time value, so the harness
//! keeps a clone and advances it while the engine reads it. Nothing here reads a wall clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A shared, hand-driven monotonic clock in milliseconds.
///
/// Contract: the time never decreases. [`SimClock::advance`] saturates at `u64::MAX`;
/// [`SimClock::set`] to an earlier time is a bug of the caller (debug assertion) and is ignored
/// in release builds.
#[derive(Clone, Debug, Default)]
pub struct SimClock {
    now: Arc<AtomicU64>,
}

impl SimClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        SimClock {
            now: Arc::new(AtomicU64::new(start_ms)),
        }
    }

    /// The current time (same as [`logbook::Clock::now_ms`]).
    pub fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    /// Moves the time forward by `ms`; returns the new time.
    pub fn advance(&self, ms: u64) -> u64 {
        let prev = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms))
            })
            .unwrap_or_else(|t| t);
        prev.saturating_add(ms)
    }

    /// Sets the time to `ms`, which must not be earlier than the current time.
    pub fn set(&self, ms: u64) {
        let prev = self.now.fetch_max(ms, Ordering::SeqCst);
        debug_assert!(
            prev <= ms,
            "SimClock::set({ms}) would move time back from {prev}"
        );
    }
}

impl logbook::Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logbook::Clock;

    #[test]
    fn clones_share_time_and_time_only_moves_forward() {
        let c = SimClock::new(10);
        let d = c.clone();
        assert_eq!(d.now_ms(), 10);
        assert_eq!(c.advance(5), 15);
        assert_eq!(d.now_ms(), 15);
        d.set(100);
        assert_eq!(c.now_ms(), 100);
        c.set(100);
        assert_eq!(c.now_ms(), 100);
        assert_eq!(c.advance(u64::MAX), u64::MAX);
        assert_eq!(d.now_ms(), u64::MAX);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "move time back")]
    fn set_backwards_is_a_bug() {
        let c = SimClock::new(10);
        c.set(9);
    }
}

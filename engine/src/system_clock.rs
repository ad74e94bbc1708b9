//! The OS backend of [`Clock`]: the only module of the engine that names `Instant`, and the
//! only one that sleeps.

use std::time::{Duration, Instant};

use crate::clock::Clock;

/// [`Clock`] on `std::time::Instant`, counted from the clock's creation.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }
}

/// Converts a wait in milliseconds to a `Duration` for condition-variable timeouts in the
/// threaded [`crate::Store`].
pub(crate) fn wait_duration(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// [`Clock`] on the async runtime's time: tokio's `Instant` in a normal build, madsim's
/// simulated time under `--cfg madsim`.
#[cfg(feature = "async")]
#[derive(Debug, Clone, Copy)]
pub struct TaskClock {
    origin: madsim::time::Instant,
}

#[cfg(feature = "async")]
impl TaskClock {
    /// A clock whose origin is now (madsim's time under `--cfg madsim`).
    pub fn new() -> Self {
        TaskClock {
            origin: madsim::time::Instant::now(),
        }
    }
}

#[cfg(feature = "async")]
impl Default for TaskClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "async")]
impl Clock for TaskClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }
}

//! The time boundary. The engine reads time only through [`Clock`]; [`crate::system_clock`]
//! implements it on the OS monotonic clock, and the simulator advances it by hand.

/// A monotonic clock since an arbitrary origin.
///
/// Contract: `now_ms` and `now_us` never decrease between two calls on the same clock, and
/// `now_us() / 1000` is at most `now_ms()` read after it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the origin: what flush deadlines are measured in.
    fn now_ms(&self) -> u64;

    /// Microseconds since the origin, for the latencies reported as metrics. The default
    /// has the resolution of `now_ms`.
    fn now_us(&self) -> u64 {
        self.now_ms().saturating_mul(1000)
    }
}

//! The time boundary. The engine reads time only through [`Clock`]; [`crate::system_clock`]
//! implements it on the OS monotonic clock, and the simulator advances it by hand.

/// A monotonic clock in milliseconds since an arbitrary origin.
///
/// Contract: `now_ms` never decreases between two calls on the same clock.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> u64;
}

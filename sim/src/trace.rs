//! A deterministic trace of one simulated run, shared by the disk and the harness.
//!
//! Every event is one line of text. Each line (plus a terminating `\n`) is always folded into
//! a running 64-bit FNV-1a hash, [`Trace::digest`]; the lines themselves are kept only when the
//! trace records them ([`Trace::new`] with `record_lines = true`), so that a swarm run pays for
//! a hash and a replay with a full trace pays for the text.
//!
//! Contract: the digest is a pure function of the sequence of lines. Two runs that emit the
//! same lines in the same order have byte-identical [`Trace::lines`] and equal digests, whether
//! or not they record. Nothing here reads a wall clock or any other ambient state.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A streaming 64-bit FNV-1a hasher (also usable as a `fmt::Write` sink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Fnv1a {
    /// A hasher in its initial state.
    pub const fn new() -> Self {
        Fnv1a(FNV_OFFSET)
    }

    /// Folds `bytes` into the hash.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// The hash of everything folded in so far.
    pub const fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Fnv1a {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.update(s.as_bytes());
        Ok(())
    }
}

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a::new();
    h.update(bytes);
    h.finish()
}

/// A cloneable handle on one shared trace. Clones see and extend the same trace.
#[derive(Clone)]
pub struct Trace {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    hash: Fnv1a,
    events: u64,
    record: bool,
    lines: Vec<String>,
}

impl Trace {
    /// A new empty trace. With `record_lines`, every line is also kept for [`Trace::lines`].
    pub fn new(record_lines: bool) -> Self {
        Trace {
            inner: Arc::new(Mutex::new(Inner {
                hash: Fnv1a::new(),
                events: 0,
                record: record_lines,
                lines: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one event line. Use `format_args!` to avoid an allocation when not recording.
    ///
    /// The line must not contain a newline (checked in debug builds). The `Display` impl is
    /// run under the trace's lock, so it must not itself write to this trace.
    pub fn event(&self, line: impl fmt::Display) {
        let mut g = self.lock();
        let g = &mut *g;
        if g.record {
            let text = line.to_string();
            debug_assert!(!text.contains('\n'), "trace line with a newline: {text:?}");
            g.hash.update(text.as_bytes());
            g.lines.push(text);
        } else {
            // Writing into the hasher cannot fail; a failing Display impl is its own bug.
            let _ = write!(g.hash, "{line}");
        }
        g.hash.update(b"\n");
        g.events += 1;
    }

    /// The FNV-1a hash of every line so far, each followed by `\n`.
    pub fn digest(&self) -> u64 {
        self.lock().hash.finish()
    }

    /// How many events were appended so far (recorded or not).
    pub fn events(&self) -> u64 {
        self.lock().events
    }

    /// Whether lines are kept.
    pub fn is_recording(&self) -> bool {
        self.lock().record
    }

    /// A copy of the recorded lines (empty when not recording).
    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Moves the recorded lines out; the digest and the event count are unaffected.
    pub fn take_lines(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().lines)
    }
}

impl Default for Trace {
    /// A trace that only hashes.
    fn default() -> Self {
        Trace::new(false)
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.lock();
        f.debug_struct("Trace")
            .field("events", &g.events)
            .field("digest", &format_args!("{:016x}", g.hash.finish()))
            .field("recording", &g.record)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn digest_does_not_depend_on_recording() {
        let a = Trace::new(true);
        let b = Trace::new(false);
        for t in [&a, &b] {
            t.event("open /db/seg-1");
            t.event(format_args!("write off={} len={}", 4096, 118));
        }
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.events(), 2);
        assert_eq!(a.lines(), vec!["open /db/seg-1", "write off=4096 len=118"]);
        assert!(b.lines().is_empty());
        assert_eq!(
            a.digest(),
            fnv1a(b"open /db/seg-1\nwrite off=4096 len=118\n")
        );
    }

    #[test]
    fn digest_separates_lines_and_order() {
        let a = Trace::new(false);
        a.event("ab");
        a.event("c");
        let b = Trace::new(false);
        b.event("a");
        b.event("bc");
        assert_ne!(a.digest(), b.digest());
        let c = Trace::new(false);
        c.event("c");
        c.event("ab");
        assert_ne!(a.digest(), c.digest());
    }

    #[test]
    fn take_lines_keeps_digest_and_clones_share() {
        let a = Trace::new(true);
        let b = a.clone();
        a.event("x");
        b.event("y");
        let d = a.digest();
        assert_eq!(b.take_lines(), vec!["x", "y"]);
        assert!(a.lines().is_empty());
        assert_eq!(a.digest(), d);
        assert_eq!(a.events(), 2);
    }
}

//! Fault rates, fault counters, the seeded fault stream and the errors the disk injects.

use std::io;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The probability of each fault, applied once per opportunity (see the module doc of
/// [`crate::disk`] for what an opportunity is for each fault).
///
/// Every rate is a probability in `0.0..=1.0`; [`FaultRates::validate`] checks that. A rate of
/// `0.0` never consumes randomness, so turning one fault on does not shift the others' rolls
/// for calls that never reach it. Scenario files set them by name; unknown names are an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRates {
    /// At a crash, a pending write or `set_len` is dropped.
    pub lost_write: f64,
    /// At a crash, a pending write (not dropped) persists in part: a subset of its sectors.
    pub torn_write: f64,
    /// At a crash, an un-synced create, rename or remove vanishes.
    pub lost_dir_entry: f64,
    /// At a crash, a surviving un-synced rename was not atomic: neither name survives.
    pub non_atomic_rename: f64,
    /// Once per crash, one bit of one durable file (that passes the rot filter) flips.
    pub bit_rot: f64,
    /// A `sync_data` with pending ops fails with EIO; each op is kept or dropped at random.
    pub fsync_error: f64,
    /// A `sync_dir` with pending ops fails with EIO. `None`: the same as `fsync_error`.
    pub dir_sync_error: Option<f64>,
    /// OUT of contract: a `sync_data` with pending ops returns `Ok` and persists nothing.
    pub lying_fsync: f64,
    /// A `read_at` fails with EIO.
    pub read_error: f64,
    /// The fraction of read errors that stick: the file's reads fail until the next crash.
    pub read_error_sticky: f64,
    /// A `write_at` or a growing `set_len` fails with ENOSPC and changes nothing.
    pub disk_full: f64,
    /// A limit on the total live bytes of all files; past it, writes fail with ENOSPC.
    pub capacity_bytes: Option<u64>,
}

impl FaultRates {
    /// No faults at all: an ideal disk (crashes still happen when the harness asks).
    pub const fn none() -> Self {
        FaultRates {
            lost_write: 0.0,
            torn_write: 0.0,
            lost_dir_entry: 0.0,
            non_atomic_rename: 0.0,
            bit_rot: 0.0,
            fsync_error: 0.0,
            dir_sync_error: None,
            lying_fsync: 0.0,
            read_error: 0.0,
            read_error_sticky: 0.0,
            disk_full: 0.0,
            capacity_bytes: None,
        }
    }

    /// The effective `sync_dir` error rate.
    pub fn dir_sync_error_rate(&self) -> f64 {
        self.dir_sync_error.unwrap_or(self.fsync_error)
    }

    /// Each rate by name (the effective `dir_sync_error`).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> {
        [
            ("lost_write", self.lost_write),
            ("torn_write", self.torn_write),
            ("lost_dir_entry", self.lost_dir_entry),
            ("non_atomic_rename", self.non_atomic_rename),
            ("bit_rot", self.bit_rot),
            ("fsync_error", self.fsync_error),
            ("dir_sync_error", self.dir_sync_error_rate()),
            ("lying_fsync", self.lying_fsync),
            ("read_error", self.read_error),
            ("read_error_sticky", self.read_error_sticky),
            ("disk_full", self.disk_full),
        ]
        .into_iter()
    }

    /// Checks that every rate is a probability and that `lost_write + torn_write <= 1`.
    pub fn validate(&self) -> Result<(), InvalidRates> {
        for (name, p) in self.iter() {
            if !(0.0..=1.0).contains(&p) {
                return Err(InvalidRates(format!("{name} = {p} is not in 0..=1")));
            }
        }
        if self.lost_write + self.torn_write > 1.0 {
            return Err(InvalidRates(format!(
                "lost_write + torn_write = {} exceeds 1",
                self.lost_write + self.torn_write
            )));
        }
        Ok(())
    }
}

impl Default for FaultRates {
    fn default() -> Self {
        FaultRates::none()
    }
}

/// Fault rates that are not probabilities.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid fault rates: {0}")]
pub struct InvalidRates(pub String);

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// How many faults of each kind the disk injected (and how many crashes it resolved).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct FaultCounters {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl FaultCounters {
            /// Every counter as `(name, count)`, in declaration order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($name), self.$name),)*].into_iter()
            }

            /// Adds `other` counter by counter (to sum over runs).
            pub fn add(&mut self, other: &FaultCounters) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

counters! {
    /// Crashes resolved by `crash()`, whether between calls or inside one.
    crashes,
    /// Crashes that hit inside an Fs call (armed with `arm_crash_at`).
    crashes_in_call,
    /// Pending writes dropped at a crash.
    lost_writes,
    /// Pending writes kept in part at a crash.
    torn_writes,
    /// Pending `set_len`s dropped at a crash.
    lost_set_lens,
    /// Un-synced create/rename/remove ops that vanished at a crash.
    lost_dir_entries,
    /// Un-synced renames that left neither name at a crash.
    non_atomic_renames,
    /// Bits flipped in durable images.
    bit_rots,
    /// `sync_data` calls that returned EIO.
    fsync_errors,
    /// Pending file ops dropped by those failed `sync_data` calls.
    fsync_dropped_ops,
    /// `sync_dir` calls that returned EIO.
    dir_sync_errors,
    /// `sync_data` calls that lied.
    lying_fsyncs,
    /// `read_at` calls that returned EIO (sticky ones included).
    read_errors,
    /// Read errors that made a file's reads fail until the next crash.
    sticky_read_errors,
    /// Writes or extensions refused with ENOSPC (random or over capacity).
    disk_full,
}

impl FaultCounters {
    /// The number of faults injected, crashes excluded.
    pub fn faults(&self) -> u64 {
        self.iter()
            .filter(|(name, _)| !name.starts_with("crashes"))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The payload of every error the simulated disk returns; find it with [`sim_error`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The machine crashed (inside this call, or earlier and `crash()` has not run yet).
    #[error("simulated crash")]
    Crash,
    /// The handle was opened before the last crash; it stays dead.
    #[error("simulated crash: handle from before the last crash")]
    StaleHandle,
    /// An injected I/O error (`EIO`) in the named call.
    #[error("simulated EIO in {0}")]
    Eio(&'static str),
    /// No space left (random `disk_full` or over `capacity_bytes`).
    #[error("simulated ENOSPC")]
    NoSpace,
}

impl SimError {
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match self {
            SimError::NoSpace => io::ErrorKind::StorageFull,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// The simulator's payload of an `io::Error`, if the simulated disk made it.
pub fn sim_error(err: &io::Error) -> Option<&SimError> {
    err.get_ref()?.downcast_ref::<SimError>()
}

/// Whether `err` is the simulated crash (or a dead handle after one).
pub fn is_crash_error(err: &io::Error) -> bool {
    matches!(
        sim_error(err),
        Some(SimError::Crash | SimError::StaleHandle)
    )
}

/// The disk's private fault stream. When disabled it answers "no fault" (and picks the first
/// alternative) without consuming randomness.
pub(crate) struct FaultRng {
    rng: ChaCha8Rng,
    pub(crate) enabled: bool,
}

impl FaultRng {
    pub(crate) fn new(seed: u64) -> Self {
        FaultRng {
            rng: ChaCha8Rng::seed_from_u64(seed),
            enabled: true,
        }
    }

    /// True with probability `p` (never when disabled; no randomness for `p <= 0` or `p >= 1`).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        if !self.enabled || p.is_nan() || p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.rng.gen::<f64>() < p
        }
    }

    /// A fair coin (false when disabled).
    pub(crate) fn coin(&mut self) -> bool {
        self.chance(0.5)
    }

    /// A uniform number in `0..n` (0 when disabled or `n <= 1`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if !self.enabled || n <= 1 {
            0
        } else {
            self.rng.gen_range(0..n)
        }
    }

    /// One draw among three outcomes: 1 with probability `p1`, 2 with `p2`, else 0.
    pub(crate) fn pick3(&mut self, p1: f64, p2: f64) -> u8 {
        let p1 = if p1.is_nan() { 0.0 } else { p1.max(0.0) };
        let p2 = if p2.is_nan() { 0.0 } else { p2.max(0.0) };
        if !self.enabled || p1 + p2 <= 0.0 {
            return 0;
        }
        if p1 >= 1.0 {
            return 1;
        }
        if p1 == 0.0 && p2 >= 1.0 {
            return 2;
        }
        let r = self.rng.gen::<f64>();
        if r < p1 {
            1
        } else if r < p1 + p2 {
            2
        } else {
            0
        }
    }
}

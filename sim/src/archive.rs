//! [`SimArchive`]: the archive tier in the simulator, with faults.
//!
//! The objects live in directory `/archive` of the run's own [`SimDisk`] (an
//! [`logbook::FsArchive`] over it), so every archive call is a disk call: a numbered crash
//! point, traced, subject to the disk's in-contract faults (torn and lost writes of a put in
//! progress, lost directory entries, fsync errors, read errors, disk full). On top of that,
//! per call, drawn from the seed's own `Archive` stream while the disk's faults are on:
//!
//! - **failed put** (`put_fail`, in contract): EIO before anything is written;
//! - **lost put** (`put_lost`, in contract because the engine verifies): the put reports
//!   `Ok` and keeps nothing; the engine's read-back must catch it before the manifest
//!   records the segment;
//! - **slow put** (`put_slow`, in contract): the put takes up to `slow_ms` of simulated time
//!   (the clock the engine's flush policy reads moves on);
//! - **read error** (`read_error`, in contract): a read fails with EIO (a typed
//!   `Error::Archive`, never wrong data);
//! - **lying put** (`put_unsynced`, OUT of contract): the put writes the object under its
//!   name and returns `Ok` without any fsync, so the read-back passes and a crash may lose
//!   it after the manifest relied on it; the checkers must report the loss.
//!
//! Each fault fired is counted ([`ArchiveCounters`]) and traced as `archive fault ...`.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use logbook::{Archive, Fs, FsArchive};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::clock::SimClock;
use crate::disk::SimDisk;

/// Where the simulated archive keeps its objects on the run's disk.
pub const ARCHIVE_DIR: &str = "/archive";

/// The archive's fault rates (a scenario's `[archive]` table; its presence turns the tier
/// on).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveRates {
    /// Per put: fails with EIO, nothing written.
    pub put_fail: f64,
    /// Per put: reports `Ok`, keeps nothing.
    pub put_lost: f64,
    /// Per put: takes up to `slow_ms` of simulated time.
    pub put_slow: f64,
    /// The longest a slow put takes, in simulated milliseconds.
    pub slow_ms: u32,
    /// Per read: fails with EIO.
    pub read_error: f64,
    /// Per put (out of contract): written without fsync, reported durable.
    pub put_unsynced: f64,
}

impl Default for ArchiveRates {
    fn default() -> Self {
        ArchiveRates {
            put_fail: 0.0,
            put_lost: 0.0,
            put_slow: 0.0,
            slow_ms: 50,
            read_error: 0.0,
            put_unsynced: 0.0,
        }
    }
}

impl ArchiveRates {
    /// The rates as `(name, rate)`.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> {
        [
            ("put_fail", self.put_fail),
            ("put_lost", self.put_lost),
            ("put_slow", self.put_slow),
            ("read_error", self.read_error),
            ("put_unsynced", self.put_unsynced),
        ]
        .into_iter()
    }
}

/// How many faults of each kind the archive fired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveCounters {
    pub puts: u64,
    pub put_failed: u64,
    pub put_lost: u64,
    pub put_slow: u64,
    pub read_errors: u64,
    pub put_unsynced: u64,
}

impl ArchiveCounters {
    /// Every fault counter as `(name, count)` (puts excluded).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("put_failed", self.put_failed),
            ("put_lost", self.put_lost),
            ("put_slow", self.put_slow),
            ("archive_read_errors", self.read_errors),
            ("put_unsynced", self.put_unsynced),
        ]
        .into_iter()
    }

    /// The faults fired.
    pub fn faults(&self) -> u64 {
        self.iter().map(|(_, n)| n).sum()
    }

    /// Adds `o` counter by counter.
    pub fn add(&mut self, o: &ArchiveCounters) {
        self.puts += o.puts;
        self.put_failed += o.put_failed;
        self.put_lost += o.put_lost;
        self.put_slow += o.put_slow;
        self.read_errors += o.read_errors;
        self.put_unsynced += o.put_unsynced;
    }
}

/// The simulator's archive (see the module docs).
///
/// Its `FsArchive` handle lives as long as the machine: after a crash (a restart) it is
/// opened again, so an fsync failure poisons it only until then.
#[derive(Debug)]
pub struct SimArchive {
    /// The disk generation the handle was opened in, and the handle.
    inner: Mutex<(u64, Arc<FsArchive>)>,
    disk: SimDisk,
    clock: SimClock,
    rates: ArchiveRates,
    state: Mutex<(ChaCha8Rng, ArchiveCounters)>,
}

impl SimArchive {
    /// The archive in [`ARCHIVE_DIR`] of `disk`, its faults drawn from `rng` at `rates`.
    pub fn new(
        disk: SimDisk,
        clock: SimClock,
        rates: ArchiveRates,
        rng: ChaCha8Rng,
    ) -> io::Result<Arc<SimArchive>> {
        let inner = Arc::new(FsArchive::open(Arc::new(disk.clone()), ARCHIVE_DIR)?);
        Ok(Arc::new(SimArchive {
            inner: Mutex::new((disk.generation(), inner)),
            disk,
            clock,
            rates,
            state: Mutex::new((rng, ArchiveCounters::default())),
        }))
    }

    /// The archive handle of the machine's current life.
    fn inner(&self) -> Arc<FsArchive> {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = self.disk.generation();
        if g.0 != generation {
            let fs = Arc::new(self.disk.clone());
            *g = (generation, Arc::new(FsArchive::existing(fs, ARCHIVE_DIR)));
        }
        g.1.clone()
    }

    /// The faults fired so far.
    pub fn counters(&self) -> ArchiveCounters {
        self.lock().1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (ChaCha8Rng, ArchiveCounters)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Draws a fault at `rate` (never while the disk's faults are off or the disk is down).
    fn roll(&self, rate: f64) -> bool {
        if rate <= 0.0 || !self.disk.faults_enabled() || self.disk.is_crashed() {
            return false;
        }
        self.lock().0.gen_bool(rate.min(1.0))
    }

    fn fault(&self, kind: &str, name: &str) {
        self.disk
            .trace()
            .event(format_args!("archive fault {kind} {name}"));
    }
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("simulated archive EIO in {what}"))
}

impl Archive for SimArchive {
    fn put(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.lock().1.puts += 1;
        if self.roll(self.rates.put_fail) {
            self.lock().1.put_failed += 1;
            self.fault("put_failed", name);
            return Err(eio("put"));
        }
        if self.roll(self.rates.put_slow) {
            let ms = self.lock().0.gen_range(1..=self.rates.slow_ms.max(1));
            self.lock().1.put_slow += 1;
            self.fault("put_slow", &format!("{name} {ms}ms"));
            self.clock.advance(ms as u64);
        }
        if self.roll(self.rates.put_lost) {
            self.lock().1.put_lost += 1;
            self.fault("put_lost", name);
            return Ok(());
        }
        if self.roll(self.rates.put_unsynced) {
            self.lock().1.put_unsynced += 1;
            self.fault("put_unsynced", name);
            let file = self.disk.open(&Path::new(ARCHIVE_DIR).join(name), true)?;
            file.set_len(0)?;
            return file.write_at(bytes, 0);
        }
        self.inner().put(name, bytes)
    }

    fn read(&self, name: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        if self.roll(self.rates.read_error) {
            self.lock().1.read_errors += 1;
            self.fault("read_error", name);
            return Err(eio("read"));
        }
        self.inner().read(name, offset, len)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.inner().list()
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        self.inner().delete(name)
    }
}

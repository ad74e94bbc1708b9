//! [`Log`]: the single-threaded core of a store. Every operation of docs/DESIGN.md §1, for both
//! strategies, with the flush policy evaluated by [`Log::poll`] at a time the caller gives,
//! so the simulator can drive it deterministically and [`crate::Store`] can wrap it in a
//! flusher thread.
//!
//! Invariants (checked with `debug_assert!` in `Log::check_invariants`):
//! - `durable_index <= last_index()`, and it only grows by a completed sync;
//! - every entry above the boundary is contiguous and terms never decrease;
//! - MemFirst: `mem` holds exactly the entries `first_index() ..= last entry`;
//! - a poisoned log performs no write.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::canary::Canary;
use crate::clock::Clock;
use crate::config::{Config, FlushPolicy, Strategy};
use crate::error::{Error, Result};
use crate::fs::{DirLock, Fs};
use crate::meta::MetaFile;
use crate::segments::{SegmentLog, SyncJob};
use crate::telemetry;
use crate::types::{Entry, HardState, LogId};
use crate::window::Window;

mod cuts;
mod open;
mod reads;

/// Counters of what a log did since it was opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// Torn tails (and torn segment creations) cut by recovery at open.
    pub torn_cuts_at_open: u32,
    /// Sync jobs completed (each is one or more fsyncs).
    pub syncs: u64,
    /// DiskFirst: entries read from the cache.
    pub cache_hits: u64,
    /// DiskFirst: reads that went to disk (each reads a prefetch run).
    pub cache_misses: u64,
}

/// Syncs prepared under the lock, to be run outside it and completed with
/// [`Log::complete_sync`].
///
/// A MemFirst sync also carries the entries it owes the disk *and the segment files
/// themselves*: the writes, any rotation and the fsyncs all run outside the lock, so
/// appenders are never held up by a flush. Until [`Log::complete_sync`] hands the files
/// back, the log refuses what needs them ([`Error::SyncInFlight`]).
#[derive(Debug)]
pub struct PreparedSync {
    job: SyncJob,
    /// MemFirst: the lent segment files and what to write to them before the fsyncs.
    write: Option<LentWrite>,
    upto: u64,
    epoch: u64,
    /// For the metrics: when it was prepared, and what it makes durable if it succeeds.
    started_us: u64,
    entries: u64,
    bytes: u64,
}

#[derive(Debug)]
struct LentWrite {
    segs: SegmentLog,
    entries: Vec<Entry>,
    durable_hint: u64,
    /// The last index durable once this write and its fsyncs are done.
    upto: u64,
}

impl PreparedSync {
    /// The last index durable once this sync completed `Ok`.
    pub fn upto(&self) -> u64 {
        self.upto
    }

    /// Runs the writes and fsyncs. Call it without holding the front's lock.
    pub fn run(&mut self, fs: &dyn Fs) -> Result<()> {
        if let Some(w) = &mut self.write {
            w.segs.write(&w.entries, w.durable_hint)?;
            debug_assert!(
                self.job.is_empty(),
                "MemFirst takes its job after the write"
            );
            self.job = w.segs.take_sync_job()?;
        }
        self.job.run(fs)
    }
}

const LENT: &str = "the segment files are lent to a sync in flight";

/// Truncations remembered for [`Log::truncated_since`].
const CUTS_KEPT: usize = 1024;

/// One Raft log on disk. See the module docs.
#[derive(Debug)]
pub struct Log {
    fs: Arc<dyn Fs>,
    clock: Arc<dyn Clock>,
    cfg: Config,
    _lock: Box<dyn DirLock>,
    meta: MetaFile,
    dir: PathBuf,
    /// The segment files; `None` only while a MemFirst [`PreparedSync`] holds them.
    segs: Option<SegmentLog>,
    hard_state: HardState,
    last_purged: Option<LogId>,
    /// The last log id: the last entry, else the boundary, else (0, 0).
    last: LogId,
    durable_index: u64,
    /// Bumped by truncation so that a sync prepared before it cannot advance `durable_index`.
    epoch: u64,
    /// The last `CUTS_KEPT` truncations as (epoch, from), for appenders waiting on entries a
    /// truncation may have removed.
    cuts: std::collections::VecDeque<(u64, u64)>,
    /// When the oldest append not yet durable arrived.
    pending_since_ms: Option<u64>,
    poisoned: Option<String>,
    /// DiskFirst: a [`PreparedSync`] is out (between `prepare_sync` and `complete_sync`), so
    /// its fsync's verdict is unknown; an append that would rotate waits for it.
    disk_sync_in_flight: bool,
    /// DiskFirst: the most recent appends, and the last prefetched run.
    cache_tail: Window,
    cache_ahead: Window,
    /// MemFirst: every entry above the boundary.
    mem: Window,
    /// MemFirst: last index written to the segment files.
    disk_written: u64,
    /// MemFirst: a truncation the segment files still owe.
    disk_truncate: Option<u64>,
    /// MemFirst: the boundary the metadata still owes.
    meta_dirty: bool,
    /// MemFirst: payload bytes of the entries above `disk_written`.
    unflushed_bytes: u64,
    /// MemFirst: payload bytes handed to the sync in flight. With `unflushed_bytes`, the
    /// backpressure gauge: memory is bounded until the disk has the entries.
    in_flight_bytes: u64,
    /// DiskFirst: payload bytes appended since the last sync was prepared (for the metrics).
    unsynced_bytes: u64,
    stats: LogStats,
}

impl Log {
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment files, unless a MemFirst sync in flight holds them.
    fn segs(&mut self) -> Result<&mut SegmentLog> {
        self.segs.as_mut().ok_or(Error::SyncInFlight)
    }

    pub fn stats(&self) -> LogStats {
        self.stats
    }

    fn boundary(&self) -> u64 {
        self.last_purged.map_or(0, |l| l.index)
    }

    /// The first index a read can return (`last_purged + 1`).
    pub fn first_index(&self) -> u64 {
        self.boundary() + 1
    }

    /// The last entry's index, or the boundary when the log is empty.
    pub fn last_index(&self) -> u64 {
        self.last.index
    }

    /// The last entry's id, else the purge boundary, else `None` for a new log.
    pub fn last_log_id(&self) -> Option<LogId> {
        (self.last.index > 0).then_some(self.last)
    }

    pub fn last_purged(&self) -> Option<LogId> {
        self.last_purged
    }

    /// The highest index known durable: a crash now keeps every entry up to it.
    pub fn durable_index(&self) -> u64 {
        self.durable_index
    }

    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Why the log refuses writes, if it does.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// `Ok` unless the log is poisoned; then the [`Error::Poisoned`] every write gets.
    pub fn check_writable(&self) -> Result<()> {
        if self.cfg.canaries.on(Canary::WriteAfterPoison) {
            return Ok(());
        }
        match &self.poisoned {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Records a write-path failure: the handle refuses writes from now on (fail-stop).
    fn poison<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            tracing::error!(error = %e, "write path failed; the store is poisoned until reopened");
            self.poisoned.get_or_insert_with(|| e.to_string());
        }
        r
    }

    pub(crate) fn check_invariants(&self) {
        debug_assert!(
            self.durable_index <= self.last.index,
            "durable index ahead of the log"
        );
        debug_assert!(self.last.index >= self.boundary());
        if self.cfg.strategy == Strategy::MemFirst {
            debug_assert_eq!(
                self.mem.last_index().unwrap_or(self.boundary()),
                self.last.index
            );
            debug_assert!(self.mem.is_empty() || self.mem.get(self.first_index()).is_some());
        }
    }

    /// Accepts `entries`, which must continue the log. DiskFirst writes them (and with
    /// `Immediate`, or a full batch, fsyncs before returning); MemFirst keeps them in memory
    /// or refuses with [`Error::Backpressure`]. They count as durable only once
    /// [`Log::durable_index`] reaches them.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        self.append_nosync(entries)?;
        if self.cfg.strategy == Strategy::DiskFirst && self.sync_due(self.clock.now_ms()) {
            self.sync()?;
        }
        Ok(())
    }

    /// [`Log::append`] without the policy's sync: the threaded store syncs outside its lock.
    pub fn append_nosync(&mut self, entries: &[Entry]) -> Result<()> {
        self.check_writable()?;
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let mut prev = self.last;
        let mut payload_bytes = 0u64;
        for e in entries {
            if e.index != prev.index + 1 {
                return Err(Error::NotContinuous {
                    expected: prev.index + 1,
                    got: e.index,
                });
            }
            if e.term < prev.term {
                return Err(Error::TermRegression {
                    index: e.index,
                    term: e.term,
                    prev_term: prev.term,
                });
            }
            if e.payload.len() > self.cfg.payload_size_max_bytes as usize {
                return Err(Error::PayloadTooLarge {
                    size_bytes: e.payload.len(),
                    max_bytes: self.cfg.payload_size_max_bytes,
                });
            }
            payload_bytes += e.payload.len() as u64;
            prev = e.log_id();
        }
        debug_assert_eq!(first.index, self.last.index + 1);
        match self.cfg.strategy {
            Strategy::DiskFirst => {
                // A rotation seals (fsyncs) the segment a sync in flight is fsyncing: if that
                // fsync fails, the kernel may have dropped pages this one would call durable,
                // leaving a hole in a sealed segment. Wait for the sync's verdict first.
                if self.disk_sync_in_flight && self.segs.as_ref().expect(LENT).rotates_for(entries)
                {
                    return Err(Error::SyncInFlight);
                }
                let hint = self.durable_index;
                let r = self.segs.as_mut().expect(LENT).write(entries, hint);
                self.poison(r)?;
                for e in entries {
                    self.cache_tail.push(e.clone());
                }
                self.cache_tail.shrink_front_to(self.cfg.cache_entries_max);
                self.cache_ahead.truncate_from(first.index);
                self.unsynced_bytes += payload_bytes;
            }
            Strategy::MemFirst => {
                debug_assert_eq!(
                    self.unflushed_bytes,
                    self.mem.payload_bytes_after(self.disk_written)
                );
                let unflushed = self.unflushed_bytes + self.in_flight_bytes;
                if unflushed > 0 && unflushed + payload_bytes > self.cfg.unflushed_bytes_max {
                    telemetry::backpressure_wait();
                    return Err(Error::Backpressure {
                        unflushed_bytes: unflushed,
                        max_bytes: self.cfg.unflushed_bytes_max,
                    });
                }
                for e in entries {
                    self.mem.push(e.clone());
                }
                self.unflushed_bytes += payload_bytes;
            }
        }
        self.last = prev;
        self.pending_since_ms
            .get_or_insert_with(|| self.clock.now_ms());
        if self.cfg.canaries.on(Canary::AckBeforeFsync) && self.cfg.strategy == Strategy::DiskFirst
        {
            self.durable_index = self.last.index;
        }
        telemetry::durable_lag(self.last.index - self.durable_index);
        self.check_invariants();
        Ok(())
    }

    /// True when nothing is owed to the disk: a crash now keeps exactly the current state.
    pub fn is_fully_durable(&self) -> bool {
        !self.sync_owed()
    }

    fn sync_owed(&self) -> bool {
        self.last.index > self.durable_index || self.meta_dirty || self.disk_truncate.is_some()
    }

    /// Whether the flush policy wants a sync at `now_ms`.
    pub fn sync_due(&self, now_ms: u64) -> bool {
        if self.sync_due_by_count() {
            return true;
        }
        match self.cfg.flush {
            FlushPolicy::Batch { interval_ms, .. } if self.sync_owed() => {
                let since = self.pending_since_ms.unwrap_or(now_ms);
                now_ms >= since.saturating_add(interval_ms)
            }
            _ => false,
        }
    }

    /// Whether the policy wants a sync for the number of entries owed alone, without a
    /// clock: `Immediate` with anything owed, `Batch` at its threshold. The interval is the
    /// flusher's to watch; an append asks only this, so its hot path reads no clock.
    pub fn sync_due_by_count(&self) -> bool {
        self.sync_owed()
            && match self.cfg.flush {
                FlushPolicy::Immediate => true,
                FlushPolicy::Batch { threshold, .. } => {
                    self.last.index - self.durable_index >= threshold as u64
                }
            }
    }

    /// When the policy next wants [`Log::poll`] to run, if anything is owed.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        if !self.sync_owed() {
            return None;
        }
        let since = self.pending_since_ms.unwrap_or(0);
        Some(match self.cfg.flush {
            FlushPolicy::Immediate => since,
            FlushPolicy::Batch { interval_ms, .. } => since.saturating_add(interval_ms),
        })
    }

    /// Runs the flush policy at `now_ms`: syncs if it is due. Returns the next deadline.
    pub fn poll(&mut self, now_ms: u64) -> Result<Option<u64>> {
        if self.poisoned.is_none() && self.sync_due(now_ms) {
            self.sync()?;
        }
        Ok(self.next_deadline_ms())
    }

    /// Makes everything accepted so far durable, then returns.
    pub fn sync(&mut self) -> Result<()> {
        // More than one round only when a MemFirst backlog exceeds `flush_entries_max`.
        loop {
            let durable_before = self.durable_index;
            let Some(mut prepared) = self.prepare_sync()? else {
                return Ok(());
            };
            let result = prepared.run(&*self.fs);
            self.complete_sync(prepared, result)?;
            if !self.sync_owed() || self.durable_index == durable_before {
                return Ok(());
            }
        }
    }

    /// First half of a sync: performs the writes the strategy owes (MemFirst: truncation,
    /// boundary, entries) and collects the fsyncs to run.
    pub fn prepare_sync(&mut self) -> Result<Option<PreparedSync>> {
        self.check_writable()?;
        if self.segs.is_none() {
            return Err(Error::SyncInFlight);
        }
        if !self.sync_owed() {
            return Ok(None);
        }
        let started_us = self.clock.now_us();
        let (job, write) = match self.cfg.strategy {
            Strategy::DiskFirst => {
                let job = self.segs.as_mut().expect(LENT).take_sync_job();
                self.disk_sync_in_flight = true;
                (self.poison(job)?, None)
            }
            Strategy::MemFirst => {
                let r = self.write_owed_memfirst();
                (SyncJob::default(), Some(self.poison(r)?))
            }
        };
        let upto = write.as_ref().map_or(self.last.index, |w| w.upto);
        let bytes = match self.cfg.strategy {
            Strategy::DiskFirst => std::mem::take(&mut self.unsynced_bytes),
            Strategy::MemFirst => self.in_flight_bytes,
        };
        if self.cfg.canaries.on(Canary::MemFirstEarlyDurable)
            && self.cfg.strategy == Strategy::MemFirst
        {
            self.durable_index = upto;
        }
        Ok(Some(PreparedSync {
            job,
            write,
            upto,
            epoch: self.epoch,
            started_us,
            entries: upto.saturating_sub(self.durable_index),
            bytes,
        }))
    }

    /// MemFirst, under the lock: performs the rare owed work (a truncation, a new boundary)
    /// and lends the segment files, with the entries they lack, to the sync.
    fn write_owed_memfirst(&mut self) -> Result<LentWrite> {
        let boundary = self.boundary();
        let segs = self.segs.as_mut().expect(LENT);
        if let Some(from) = self.disk_truncate.take() {
            segs.truncate(from)?;
        }
        if self.meta_dirty {
            self.meta
                .save(self.meta.body.hard_state, self.last_purged, false)?;
            self.meta_dirty = false;
            segs.remove_upto(boundary)?;
        }
        let from = (self.disk_written + 1).max(boundary + 1);
        let mut entries = Vec::new();
        // Everything owed, unless the backlog is longer than one flush takes: then a prefix.
        let mut upto = self.last.index;
        if from <= self.last.index {
            debug_assert_eq!(segs.next_index(), from, "segment files would get a gap");
            upto = self
                .last
                .index
                .min(from.saturating_add(self.cfg.flush_entries_max as u64 - 1));
            entries = self.mem.slice(from, upto);
            self.disk_written = upto;
        }
        let in_flight: u64 = entries.iter().map(|e| e.payload.len() as u64).sum();
        self.unflushed_bytes = self.unflushed_bytes.saturating_sub(in_flight);
        self.in_flight_bytes = in_flight;
        Ok(LentWrite {
            segs: self.segs.take().expect(LENT),
            entries,
            durable_hint: self.durable_index,
            upto,
        })
    }

    /// Second half of a sync. An error poisons the log: the failed range is never reported
    /// durable.
    pub fn complete_sync(&mut self, prepared: PreparedSync, result: Result<()>) -> Result<()> {
        self.disk_sync_in_flight = false;
        if let Some(w) = prepared.write {
            debug_assert!(self.segs.is_none(), "two syncs in flight");
            self.segs = Some(w.segs);
            self.in_flight_bytes = 0;
        }
        let elapsed_us = self.clock.now_us().saturating_sub(prepared.started_us);
        let made_durable = match result {
            Ok(()) => (prepared.entries, prepared.bytes),
            Err(_) => (0, 0),
        };
        telemetry::sync_done(elapsed_us, made_durable.0, made_durable.1);
        self.poison(result)?;
        self.stats.syncs += 1;
        if prepared.epoch == self.epoch {
            self.durable_index = self.durable_index.max(prepared.upto.min(self.last.index));
        }
        telemetry::durable_lag(self.last.index - self.durable_index);
        self.pending_since_ms = if self.sync_owed() {
            Some(self.clock.now_ms())
        } else {
            None
        };
        self.check_invariants();
        Ok(())
    }

    /// Saves the hard state durably before returning, under every strategy.
    pub fn save_hard_state(&mut self, hs: HardState) -> Result<()> {
        self.check_writable()?;
        let no_fsync = self.cfg.canaries.on(Canary::HardStateNoFsync);
        let purged = self.meta.body.last_purged;
        let r = self.meta.save(hs, purged, no_fsync);
        self.poison(r)?;
        self.hard_state = hs;
        Ok(())
    }

    /// Flushes everything and closes the store.
    pub fn close(mut self) -> Result<()> {
        if self.poisoned.is_none() {
            self.sync()?;
        }
        Ok(())
    }
}

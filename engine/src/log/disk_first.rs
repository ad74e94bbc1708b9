//! DiskFirst (docs/DESIGN.md §1): appends go to the segment files' pending write buffer and
//! are durable once a sync covers them; truncate and purge are durable before they return;
//! reads hit a bounded cache of recent appends and the last prefetched run, and a miss reads
//! a prefetch run from disk.
//!
//! DiskFirst owns its [`SegmentLog`] outright: it never lends the files to a sync, so no
//! path here can find them missing.

use crate::canary::Canary;
use crate::error::{Error, Result};
use crate::segments::{Cut, SegmentLog};
use crate::telemetry;
use crate::types::{Entry, LogId};
use crate::window::Window;

use super::prepared::{LentWrite, PreparedSync};
use super::shared::Core;

/// The state only DiskFirst has.
///
/// Invariants (checked with `debug_assert!` by [`DiskFirst::check_invariants`] while the log
/// is not poisoned): both caches hold only entries of the log, at or below its last index;
/// `sync_in_flight` is true exactly between a `prepare_sync` and its `complete_sync`.
#[derive(Debug)]
pub(super) struct DiskFirst {
    /// The segment files, always here.
    segs: SegmentLog,
    /// The most recent appends, at most `cache_entries_max` of them.
    cache_tail: Window,
    /// The last run read from disk (a prefetch).
    cache_ahead: Window,
    /// A [`PreparedSync`] is out (between `prepare_sync` and `complete_sync`), so its
    /// fsync's verdict is unknown; an append that would rotate waits for it.
    sync_in_flight: bool,
    /// Payload bytes appended since the last sync was prepared (for the metrics).
    unsynced_bytes: u64,
}

impl DiskFirst {
    /// DiskFirst over the segment files recovery opened, with empty caches.
    pub fn new(segs: SegmentLog) -> DiskFirst {
        DiskFirst {
            segs,
            cache_tail: Window::default(),
            cache_ahead: Window::default(),
            sync_in_flight: false,
            unsynced_bytes: 0,
        }
    }

    /// Writes `entries` (already checked to continue the log, `payload_bytes` of payload)
    /// to the pending buffer and the tail cache. The caller then moves the log's end.
    pub fn append(&mut self, core: &mut Core, entries: &[Entry], payload_bytes: u64) -> Result<()> {
        // A rotation seals (fsyncs) the segment a sync in flight is fsyncing: if that fsync
        // fails, the kernel may have dropped pages this one would call durable, leaving a
        // hole in a sealed segment. Wait for the sync's verdict first.
        if self.sync_in_flight && self.segs.rotates_for(entries) {
            return Err(Error::SyncInFlight);
        }
        let r = self.segs.write(entries, core.durable_index);
        core.poison(r)?;
        for e in entries {
            self.cache_tail.push(e.clone());
        }
        self.cache_tail.shrink_front_to(core.cfg.cache_entries_max);
        if let Some(first) = entries.first() {
            self.cache_ahead.truncate_from(first.index);
        }
        self.unsynced_bytes += payload_bytes;
        if core.cfg.canaries.on(Canary::AckBeforeFsync) {
            if let Some(last) = entries.last() {
                core.durable_index = last.index;
            }
        }
        Ok(())
    }

    /// Writes the pending buffer out and collects the fsyncs that make everything appended
    /// so far durable. From now until [`DiskFirst::sync_returned`] the sync is in flight.
    pub fn prepare_sync(&mut self, core: &mut Core, started_us: u64) -> Result<PreparedSync> {
        let job = self.segs.take_sync_job();
        self.sync_in_flight = true;
        let job = core.poison(job)?;
        let upto = core.last.index;
        Ok(PreparedSync {
            job,
            write: None,
            upto,
            epoch: core.epoch,
            started_us,
            entries: upto.saturating_sub(core.durable_index),
            bytes: std::mem::take(&mut self.unsynced_bytes),
        })
    }

    /// The sync prepared last has returned (whatever its verdict): appends may rotate again.
    pub fn sync_returned(&mut self, write: Option<LentWrite>) {
        debug_assert!(write.is_none(), "DiskFirst lends nothing");
        self.sync_in_flight = false;
    }

    /// Removes `from..` (inside the log, above the boundary). Inside the active segment the
    /// cut is owed to the next sync (`core.cut_owed`), which makes it durable together with
    /// the entries appended after it: one fsync for a follower's truncate and append. A cut
    /// further back is durable before it returns, with everything written before it (a
    /// segment whose creation is not yet synced in its directory included). The caller then
    /// moves the log's end (epoch bumped already).
    pub fn truncate(&mut self, core: &mut Core, from: u64) -> Result<()> {
        let canary = core.cfg.canaries.on(Canary::TruncateNotDurable);
        let fs = core.fs.clone();
        let segs = &mut self.segs;
        let hint = core.durable_index;
        let r = segs
            .truncate(from, hint)
            .and_then(|cut| match (cut, canary) {
                (_, true) => Ok(Cut::Durable),
                (Cut::Owed, false) => Ok(Cut::Owed),
                (Cut::Durable, false) => segs.take_sync_job()?.run(&*fs).map(|()| Cut::Durable),
            });
        let cut = core.poison(r)?;
        self.cache_tail.truncate_from(from);
        self.cache_ahead.truncate_from(from);
        match cut {
            Cut::Owed => {
                core.cut_owed = Some(core.epoch);
                core.note_pending();
            }
            Cut::Durable if !canary => core.durable_index = from - 1,
            Cut::Durable => {}
        }
        Ok(())
    }

    /// Makes the new boundary `upto` (already in `core`) durable in the metadata, then
    /// removes the segments wholly at or below it.
    pub fn purge(&mut self, core: &mut Core, upto: LogId) -> Result<()> {
        let early = core.cfg.canaries.on(Canary::PurgeBeforeBoundaryDurable);
        let segs = &mut self.segs;
        let fs = core.fs.clone();
        let cut_owed = core.cut_owed.is_some();
        let r = (|| {
            if early {
                segs.remove_upto(upto.index)?;
            }
            // A truncation still owed is made durable before the boundary: a crash must not
            // keep a boundary past the cut with the cut entries back in a segment the
            // boundary makes a purge leftover.
            if cut_owed {
                segs.take_sync_job()?.run(&*fs)?;
            }
            core.meta.save(core.hard_state, Some(upto), false)?;
            segs.remove_upto(upto.index)
        })();
        core.poison(r)?;
        if cut_owed {
            core.cut_owed = None;
        }
        self.cache_tail.drop_upto(upto.index);
        self.cache_ahead.drop_upto(upto.index);
        if self.segs.is_empty() {
            // Every file is gone and the boundary is durable: nothing is owed.
            core.durable_index = core.last.index;
        }
        Ok(())
    }

    /// The segment files (to move sealed ones to the archive).
    pub fn segs_mut(&mut self) -> &mut SegmentLog {
        &mut self.segs
    }

    /// The cached entry at `index`, if either cache holds it.
    fn cached(&self, index: u64) -> Option<Entry> {
        self.cache_tail
            .get(index)
            .or_else(|| self.cache_ahead.get(index))
            .cloned()
    }

    /// The entry at `index` (inside the log): from the cache, else from a prefetch run read
    /// from disk.
    pub fn entry(&mut self, core: &mut Core, index: u64) -> Result<Option<Entry>> {
        if let Some(e) = self.cached(index) {
            core.stats.cache_hits += 1;
            telemetry::cache_read(true);
            return Ok(Some(e));
        }
        core.stats.cache_misses += 1;
        telemetry::cache_read(false);
        let run = self.read_run(core, index, core.cfg.prefetch_entries + 1)?;
        Ok(run.into_iter().next())
    }

    /// What `Log::entries` takes next at `i` (inside the log): the cached entry, else a run
    /// read from disk of `want` entries, at least a prefetch run.
    pub fn batch_at(&mut self, core: &mut Core, i: u64, want: usize) -> Result<Vec<Entry>> {
        let cached = self.cached(i);
        telemetry::cache_read(cached.is_some());
        match cached.is_some() {
            true => core.stats.cache_hits += 1,
            false => core.stats.cache_misses += 1,
        }
        match cached {
            Some(e) => Ok(vec![e]),
            None => self.read_run(core, i, want.max(core.cfg.prefetch_entries)),
        }
    }

    /// Reads from disk a run starting at `index` and keeps it as the prefetched window.
    fn read_run(&mut self, core: &mut Core, index: u64, count_max: usize) -> Result<Vec<Entry>> {
        let count_max = count_max.min((core.last.index + 1 - index) as usize);
        // A read writes the pending records out first; if that write fails they are gone,
        // and the log must refuse to sync (and acknowledge) them: poison it here, as every
        // write path does. (Found by the store scenarios: a failed read-triggered write,
        // then a sync that reported the dropped records durable.)
        let written = self.segs.write_pending();
        core.poison(written)?;
        let run = self.segs.read(index, count_max)?;
        if run.first().map(|e| e.index) != Some(index) {
            // A failed write dropped it from the files (and poisoned the log): say so.
            core.check_writable()?;
            return Err(Error::corruption(
                &core.dir,
                0,
                format!("entry {index} missing from its segment"),
            ));
        }
        self.cache_ahead.clear();
        for e in run.iter().take(core.cfg.prefetch_entries + 1) {
            self.cache_ahead.push(e.clone());
        }
        Ok(run)
    }

    /// The invariants of [`DiskFirst`]'s docs (a failed write may leave the caches ahead of
    /// a poisoned log, so they hold only while it is not poisoned).
    pub fn check_invariants(&self, core: &Core) {
        if core.poisoned.is_some() {
            return;
        }
        let last = core.last.index;
        debug_assert!(self.cache_tail.last_index().is_none_or(|i| i <= last));
        debug_assert!(self.cache_ahead.last_index().is_none_or(|i| i <= last));
    }
}

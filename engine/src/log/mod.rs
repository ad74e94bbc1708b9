//! [`Log`]: the single-threaded core of a store. Every operation of docs/DESIGN.md §1, for both
//! strategies, with the flush policy evaluated by [`Log::poll`] at a time the caller gives,
//! so the simulator can drive it deterministically and [`crate::Store`] can wrap it in a
//! flusher thread.
//!
//! The strategy is a type: a log is a [`Core`] (what both strategies share, `shared.rs`) and
//! a `Mode`, either [`DiskFirst`] (`disk_first.rs`, which owns its segment files) or
//! [`MemFirst`] (`mem_first.rs`, which lends them to a sync). This file checks what every
//! operation checks and hands the rest to the mode; `open.rs` builds the mode from
//! `Config::strategy`, `cuts.rs` truncates and purges, `reads.rs` reads, `prepared.rs` is
//! the [`PreparedSync`]. `shared.rs` names no strategy, the two strategies name each other
//! nowhere, and only this file and its `impl Log` children name both: no import cycle.
//!
//! Invariants (checked with `debug_assert!` in `Log::check_invariants`):
//! - `durable_index <= last_index()`, and it only grows by a completed sync (or a durable
//!   DiskFirst truncate or purge);
//! - every entry above the boundary is contiguous and terms never decrease;
//! - each mode's own invariants (see [`DiskFirst`] and [`MemFirst`]);
//! - a poisoned log performs no write.

use std::path::Path;
use std::sync::Arc;

use crate::canary::Canary;
use crate::clock::Clock;
use crate::config::{Config, FlushPolicy};
use crate::error::{Error, Poison, Result};
use crate::fs::Fs;
use crate::telemetry;
use crate::types::{Entry, HardState, LogId};

mod cuts;
mod disk_first;
mod mem_first;
mod open;
mod pace;
mod prepared;
mod reads;
mod shared;
mod tier;

use disk_first::DiskFirst;
use mem_first::MemFirst;
pub use prepared::PreparedSync;
use shared::Core;
pub use shared::LogStats;

/// The strategy's own state: one of the two, never a mix.
#[derive(Debug)]
enum Mode {
    /// Appends durable once synced; truncate and purge durable before they return.
    DiskFirst(DiskFirst),
    /// Appends in memory, flushed per the policy; cuts owed to the next flush.
    MemFirst(MemFirst),
}

/// One Raft log on disk. See the module docs.
#[derive(Debug)]
pub struct Log {
    /// What both strategies share.
    core: Core,
    /// The strategy's own state.
    mode: Mode,
}

impl Log {
    /// The configuration the log was opened with.
    pub fn config(&self) -> &Config {
        &self.core.cfg
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.core.dir
    }

    /// What the log did since it was opened.
    pub fn stats(&self) -> LogStats {
        self.core.stats
    }

    /// The purge boundary's index, 0 before any purge.
    fn boundary(&self) -> u64 {
        self.core.boundary()
    }

    /// The first index a read can return (`last_purged + 1`).
    pub fn first_index(&self) -> u64 {
        self.boundary() + 1
    }

    /// The last entry's index, or the boundary when the log is empty.
    pub fn last_index(&self) -> u64 {
        self.core.last.index
    }

    /// The last entry's id, else the purge boundary, else `None` for a new log.
    pub fn last_log_id(&self) -> Option<LogId> {
        (self.core.last.index > 0).then_some(self.core.last)
    }

    /// The purge boundary, if the log was ever purged.
    pub fn last_purged(&self) -> Option<LogId> {
        self.core.last_purged
    }

    /// The highest index known durable: a crash now keeps every entry up to it.
    pub fn durable_index(&self) -> u64 {
        self.core.durable_index
    }

    /// The hard state last saved.
    pub fn hard_state(&self) -> HardState {
        self.core.hard_state
    }

    /// Why the log refuses writes, if it does.
    pub fn poisoned(&self) -> Option<&Poison> {
        self.core.poisoned.as_ref()
    }

    /// `Ok` unless the log is poisoned; then the [`Error::Poisoned`] every write gets.
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.core.check_writable()
    }

    /// Checks the invariants of the module docs, the shared ones and the mode's.
    pub(crate) fn check_invariants(&self) {
        self.core.check_invariants();
        match &self.mode {
            Mode::DiskFirst(d) => d.check_invariants(&self.core),
            Mode::MemFirst(m) => m.check_invariants(&self.core),
        }
    }

    /// Accepts `entries`, which must continue the log. DiskFirst writes them (and with
    /// `Immediate`, or a full batch, fsyncs before returning); MemFirst keeps them in memory
    /// or refuses with [`Error::Backpressure`]. They count as durable only once
    /// [`Log::durable_index`] reaches them.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        self.append_nosync(entries)?;
        let syncs_inline = matches!(self.mode, Mode::DiskFirst(_));
        if syncs_inline && self.sync_due(self.core.clock.now_ms()) {
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
        let (last, payload_bytes) = self.check_continues(entries)?;
        debug_assert_eq!(first.index, self.core.last.index + 1);
        match &mut self.mode {
            Mode::DiskFirst(d) => d.append(&mut self.core, entries, payload_bytes)?,
            Mode::MemFirst(m) => m.append(&self.core.cfg, entries, payload_bytes)?,
        }
        self.core.last = last;
        self.core.note_pending();
        if matches!(self.core.cfg.flush, FlushPolicy::Adaptive { .. }) {
            self.core.pace.on_append(self.core.clock.now_us());
        }
        telemetry::durable_lag(self.core.last.index - self.core.durable_index);
        self.check_invariants();
        Ok(())
    }

    /// Checks that `entries` continue the log (contiguous, no term regression, payloads
    /// within bounds); returns the last one's id and their payload bytes.
    fn check_continues(&self, entries: &[Entry]) -> Result<(LogId, u64)> {
        let mut prev = self.core.last;
        let mut payload_bytes = 0u64;
        let payload_max = self.core.cfg.payload_size_max_bytes;
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
            if e.payload.len() > payload_max as usize {
                return Err(Error::PayloadTooLarge {
                    size_bytes: e.payload.len(),
                    max_bytes: payload_max,
                });
            }
            payload_bytes += e.payload.len() as u64;
            prev = e.log_id();
        }
        Ok((prev, payload_bytes))
    }

    /// True when nothing is owed to the disk: a crash now keeps exactly the current state.
    pub fn is_fully_durable(&self) -> bool {
        !self.sync_owed()
    }

    /// Whether anything is owed to the disk: writes (see [`Log::writes_owed`]), or a
    /// truncation not yet synced (DiskFirst: written in place; MemFirst: not yet written).
    fn sync_owed(&self) -> bool {
        self.writes_owed() || self.truncation_owed()
    }

    /// Whether a truncation is not yet durable: a cut written in place and owed to the next
    /// sync, or (MemFirst) one not yet written.
    fn truncation_owed(&self) -> bool {
        let unwritten = match &self.mode {
            Mode::DiskFirst(_) => false,
            Mode::MemFirst(m) => m.owes_truncation(),
        };
        self.core.cut_owed.is_some() || unwritten
    }

    /// Whether a follower's resolved conflict is owed: entries appended after the last
    /// truncation and not yet durable, whether that truncation is still owed or not, and
    /// whether or not the entries it cut had reached the disk. Every policy syncs them at
    /// once, in one fsync with the cut when it is owed. A conflict follows a leader
    /// change, and the new leader commits nothing (not even a read index) until an entry
    /// of its term is durable on a majority, so holding them for `Batch`'s interval or
    /// `Adaptive`'s delay would stall the cluster; conflicts are rare, so syncing them at
    /// once costs little of the batching those policies buy. Once a sync covers the first
    /// of them, later appends wait as the policy says.
    fn conflict_owed(&self) -> bool {
        let core = &self.core;
        core.cuts
            .back()
            .is_some_and(|&(_, from)| core.durable_index < from && core.last.index >= from)
    }

    /// Whether writes are owed: entries above the durable index, or (MemFirst) a boundary
    /// not yet written. A truncation is not one: it rides on the next sync, which a
    /// follower's next append brings at once, so under `Immediate` it alone starts none (a
    /// sync for it would delay that append's); `Batch` and `Adaptive` sync it when their
    /// interval or delay runs out, and `flush` at once.
    fn writes_owed(&self) -> bool {
        let boundary_owed = match &self.mode {
            Mode::DiskFirst(_) => false,
            Mode::MemFirst(m) => m.owes_boundary(),
        };
        self.entries_owed() || boundary_owed
    }

    /// Whether the flush policy wants a sync at `now_ms`.
    pub(crate) fn sync_due(&self, now_ms: u64) -> bool {
        if self.sync_due_by_count() {
            return true;
        }
        match self.core.cfg.flush {
            FlushPolicy::Batch { interval_ms, .. } if self.sync_owed() => {
                let since = self.core.pending_since_ms.unwrap_or(now_ms);
                now_ms >= since.saturating_add(interval_ms)
            }
            FlushPolicy::Adaptive { delay_max_us } if self.sync_owed() => {
                let now_us = self.core.clock.now_us().max(now_ms.saturating_mul(1000));
                match self.entries_owed() {
                    true => self.core.pace.due(now_us, delay_max_us),
                    // Only cuts owed: they wait the delay for an append to carry them.
                    false => {
                        let since_us = self.core.pending_since_ms.unwrap_or(now_ms) * 1000;
                        now_us >= since_us.saturating_add(delay_max_us)
                    }
                }
            }
            _ => false,
        }
    }

    /// Whether the policy wants a sync for the number of entries owed alone, without a
    /// clock: a resolved conflict under every policy, `Immediate` with any write owed,
    /// `Batch` at its threshold, `Adaptive` once the expected batch of append calls is
    /// owed. The interval (or delay) is the flusher's to watch; an append asks only this,
    /// so its hot path reads no clock.
    pub(crate) fn sync_due_by_count(&self) -> bool {
        if self.conflict_owed() {
            return true;
        }
        self.writes_owed()
            && match self.core.cfg.flush {
                FlushPolicy::Immediate => true,
                FlushPolicy::Batch { threshold, .. } => {
                    self.core.last.index - self.core.durable_index >= threshold as u64
                }
                FlushPolicy::Adaptive { .. } => {
                    self.entries_owed() && self.core.pace.due_by_count()
                }
            }
    }

    /// Whether entries above the durable index are owed (not only a truncation or a
    /// boundary).
    fn entries_owed(&self) -> bool {
        self.core.last.index > self.core.durable_index
    }

    /// When the policy next wants [`Log::poll`] to run, if anything is owed.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        if !self.sync_owed() {
            return None;
        }
        let since = self.core.pending_since_ms.unwrap_or(0);
        if self.conflict_owed() {
            return Some(since);
        }
        Some(match self.core.cfg.flush {
            FlushPolicy::Immediate if !self.writes_owed() => return None,
            FlushPolicy::Immediate => since,
            FlushPolicy::Batch { interval_ms, .. } => since.saturating_add(interval_ms),
            FlushPolicy::Adaptive { delay_max_us } if !self.entries_owed() => {
                since.saturating_add(delay_max_us.div_ceil(1000))
            }
            FlushPolicy::Adaptive { delay_max_us } => match self.core.pace.due_by_count() {
                true => since,
                // Whole milliseconds, rounded up: never before the policy wants it.
                false => {
                    (self.core.pace.deadline_us(delay_max_us)).map_or(since, |d| d.div_ceil(1000))
                }
            },
        })
    }

    /// Runs the flush policy at `now_ms`: syncs if it is due. Returns the next deadline.
    pub fn poll(&mut self, now_ms: u64) -> Result<Option<u64>> {
        if self.core.poisoned.is_none() && self.sync_due(now_ms) {
            self.sync()?;
        }
        Ok(self.next_deadline_ms())
    }

    /// Makes everything accepted so far durable, then returns.
    pub fn sync(&mut self) -> Result<()> {
        // More than one round only when a MemFirst backlog exceeds `flush_entries_max`.
        loop {
            let durable_before = self.core.durable_index;
            let Some(mut prepared) = self.prepare_sync()? else {
                return Ok(());
            };
            let result = prepared.run(&*self.core.fs);
            self.complete_sync(prepared, result)?;
            if !self.sync_owed() || self.core.durable_index == durable_before {
                return Ok(());
            }
        }
    }

    /// First half of a sync: performs the writes the strategy owes (MemFirst: truncation,
    /// boundary, entries) and collects the fsyncs to run.
    pub fn prepare_sync(&mut self) -> Result<Option<PreparedSync>> {
        self.check_writable()?;
        if let Mode::MemFirst(m) = &self.mode {
            m.check_not_lent()?;
        }
        if !self.sync_owed() {
            return Ok(None);
        }
        let started_us = self.core.clock.now_us();
        if self.core.pace.on_sync_prepared(started_us) {
            self.core.stats.paced_syncs += 1;
        }
        let prepared = match &mut self.mode {
            Mode::DiskFirst(d) => d.prepare_sync(&mut self.core, started_us)?,
            Mode::MemFirst(m) => m.prepare_sync(&mut self.core, started_us)?,
        };
        Ok(Some(prepared))
    }

    /// Second half of a sync. An error poisons the log: the failed range is never reported
    /// durable.
    pub fn complete_sync(&mut self, prepared: PreparedSync, result: Result<()>) -> Result<()> {
        let PreparedSync {
            write,
            upto,
            epoch,
            started_us,
            entries,
            bytes,
            job: _,
        } = prepared;
        match &mut self.mode {
            Mode::DiskFirst(d) => d.sync_returned(write),
            Mode::MemFirst(m) => m.sync_returned(write),
        }
        let core = &mut self.core;
        let elapsed_us = core.clock.now_us().saturating_sub(started_us);
        let made_durable = match result {
            Ok(()) => (entries, bytes),
            Err(_) => (0, 0),
        };
        if result.is_ok() {
            core.pace.on_sync_done(elapsed_us);
        }
        telemetry::sync_done(elapsed_us, made_durable.0, made_durable.1);
        core.poison(result)?;
        core.stats.syncs += 1;
        if epoch == core.epoch {
            core.durable_index = core.durable_index.max(upto.min(core.last.index));
        }
        if core.cut_owed.is_some_and(|cut| cut <= epoch) {
            core.cut_owed = None;
        }
        telemetry::durable_lag(core.last.index - core.durable_index);
        self.core.pending_since_ms = if self.sync_owed() {
            Some(self.core.clock.now_ms())
        } else {
            None
        };
        self.check_invariants();
        Ok(())
    }

    /// Saves the hard state durably before returning, under every strategy.
    pub fn save_hard_state(&mut self, hs: HardState) -> Result<()> {
        self.check_writable()?;
        let core = &mut self.core;
        let no_fsync = core.cfg.canaries.on(Canary::HardStateNoFsync);
        let purged = core.meta.body.last_purged;
        let r = core.meta.save(hs, purged, no_fsync);
        core.poison(r)?;
        core.hard_state = hs;
        Ok(())
    }

    /// Flushes everything and closes the store.
    pub fn close(mut self) -> Result<()> {
        if self.core.poisoned.is_none() {
            self.sync()?;
        }
        Ok(())
    }
}

//! [`Core`]: the state of a [`Log`](super::Log) that both strategies share (the metadata,
//! the boundary, the last id, the durable index, the truncation epoch, the poison), and the
//! small operations on it that both strategies call.
//!
//! This module names no strategy and imports nothing from the log's other modules: `disk_first.rs` and `mem_first.rs` build on it, and
//! `mod.rs` on all three, so the log's modules import each other without a cycle.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use crate::canary::Canary;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Poison, Result};
use crate::fs::{DirLock, Fs};
use crate::meta::MetaFile;
use crate::types::{HardState, LogId};

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
    /// [`FlushPolicy::Adaptive`](crate::FlushPolicy::Adaptive): syncs the policy held back
    /// to gather more than one append call.
    pub paced_syncs: u64,
    /// MemFirst after an open with [`crate::Config::snapshot_hint`]: entries read from disk
    /// below the preloaded memory.
    pub cold_reads: u64,
}

/// What every log holds whatever its strategy.
///
/// Invariants (checked with `debug_assert!` by [`Core::check_invariants`]):
/// - `boundary() <= last.index`, and `durable_index <= last.index`;
/// - `durable_index` rises only by a completed sync, by open, or by a durable DiskFirst
///   truncate or purge; a truncation lowers it;
/// - once `poisoned` is set it stays set, and no write runs (see [`Core::check_writable`]).
#[derive(Debug)]
pub(super) struct Core {
    /// Where every I/O goes.
    pub fs: Arc<dyn Fs>,
    /// The clock of the flush policy and of the metrics.
    pub clock: Arc<dyn Clock>,
    /// The configuration the log was opened with.
    pub cfg: Config,
    /// The store directory's lock, held while the log is open.
    pub _lock: Box<dyn DirLock>,
    /// The metadata file: hard state and purge boundary.
    pub meta: MetaFile,
    /// The store directory.
    pub dir: PathBuf,
    /// The hard state last saved.
    pub hard_state: HardState,
    /// The purge boundary (in memory; MemFirst may still owe it to `meta`).
    pub last_purged: Option<LogId>,
    /// The last log id: the last entry, else the boundary, else (0, 0).
    pub last: LogId,
    /// The highest index a crash now keeps.
    pub durable_index: u64,
    /// The last index the archive tier holds (0: none); truncation never reaches it.
    pub archived_upto: u64,
    /// Bumped by truncation so that a sync prepared before it cannot advance `durable_index`.
    pub epoch: u64,
    /// The epoch of the last truncation written to the segment files but not yet synced
    /// (`segments/cut.rs`, in place): until a sync prepared at or after it completes, a
    /// crash may bring the cut entries back, so the log is not fully durable.
    pub cut_owed: Option<u64>,
    /// The last [`CUTS_KEPT`] truncations as (epoch, from), for appenders waiting on entries
    /// a truncation may have removed.
    pub cuts: VecDeque<(u64, u64)>,
    /// When the oldest change not yet durable arrived.
    pub pending_since_ms: Option<u64>,
    /// The adaptive flush policy's estimates (kept under every policy, fed only under it).
    pub pace: super::pace::Pace,
    /// Why the log refuses writes, once a write path failed.
    pub poisoned: Option<Poison>,
    /// What the log did since it was opened.
    pub stats: LogStats,
}

/// Truncations remembered for [`Log::truncated_since`](super::Log::truncated_since).
pub(super) const CUTS_KEPT: usize = 1024;

impl Core {
    /// The purge boundary's index, 0 before any purge.
    pub fn boundary(&self) -> u64 {
        self.last_purged.map_or(0, |l| l.index)
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
    pub fn poison<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            tracing::error!(error = %e, "write path failed; the store is poisoned until reopened");
            self.poisoned.get_or_insert_with(|| Poison::of(e));
        }
        r
    }

    /// Notes that a change now waits for a sync, unless an older one already does.
    pub fn note_pending(&mut self) {
        self.pending_since_ms
            .get_or_insert_with(|| self.clock.now_ms());
    }

    /// The invariants of the module docs that need no strategy.
    pub fn check_invariants(&self) {
        debug_assert!(
            self.durable_index <= self.last.index,
            "durable index ahead of the log"
        );
        debug_assert!(self.last.index >= self.boundary());
    }
}

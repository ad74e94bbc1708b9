//! [`PreparedSync`]: a sync prepared under the front's lock, run outside it, and completed
//! under it again with [`Log::complete_sync`](super::Log::complete_sync).

use crate::error::Result;
use crate::fs::Fs;
use crate::segments::{SegmentLog, SyncJob};
use crate::types::Entry;

/// Syncs prepared under the lock, to be run outside it and completed with
/// [`Log::complete_sync`](super::Log::complete_sync).
///
/// A MemFirst sync also carries the entries it owes the disk *and the segment files
/// themselves*: the writes, any rotation and the fsyncs all run outside the lock, so
/// appenders are never held up by a flush. Until
/// [`Log::complete_sync`](super::Log::complete_sync) hands the files back, the log refuses
/// what needs them ([`Error::SyncInFlight`](crate::Error::SyncInFlight)).
///
/// Invariant: a DiskFirst sync has no `write`; a MemFirst one has one, and its `job` is
/// empty until [`PreparedSync::run`] takes it after the write.
#[derive(Debug)]
pub struct PreparedSync {
    /// The fsyncs to run.
    pub(super) job: SyncJob,
    /// MemFirst: the lent segment files and what to write to them before the fsyncs.
    pub(super) write: Option<LentWrite>,
    /// The last index durable once this sync completed `Ok`.
    pub(super) upto: u64,
    /// The truncation epoch it was prepared at: a truncation since voids its `upto`.
    pub(super) epoch: u64,
    /// For the metrics: when it was prepared.
    pub(super) started_us: u64,
    /// For the metrics: the entries it makes durable if it succeeds.
    pub(super) entries: u64,
    /// For the metrics: the payload bytes it makes durable if it succeeds.
    pub(super) bytes: u64,
}

/// MemFirst: the segment files lent to a sync, and the entries to write to them.
#[derive(Debug)]
pub(super) struct LentWrite {
    /// The segment files, out of the log until the sync completes.
    pub segs: SegmentLog,
    /// The entries the segment files lack, in order from their `next_index`.
    pub entries: Vec<Entry>,
    /// The durable index when the sync was prepared, written into each record.
    pub durable_hint: u64,
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

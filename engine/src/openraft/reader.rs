//! The read path, shared by [`super::LogStore`] and its [`LogReader`]s.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use ::openraft::{
    ErrorSubject, ErrorVerb, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError,
};

use super::error::{message, EngineResultExt, Result};
use super::log_store::Shared;
use super::record::{decode, Record};

/// `limited_get_log_entries` returns at most this many entries...
pub const LIMITED_READ_ENTRIES_MAX: usize = 4096;
/// ...and stops once this many payload bytes are read (at least one entry is returned).
pub const LIMITED_READ_BYTES_MAX: u64 = 8 << 20;

impl<C> Shared<C>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    /// The entries of `range` that the log holds, in order, within the limits. Indexes that
    /// were purged or never written are left out.
    pub(super) fn read(
        &self,
        range: impl RangeBounds<u64>,
        count_max: usize,
        bytes_max: u64,
    ) -> Result<Vec<C::Entry>> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => u64::MAX,
        };
        let view = self.lock_view();
        let Some(last) = view.last else {
            return Ok(Vec::new());
        };
        let start = start.max(view.first_visible());
        let end = end.min(last.index + 1);
        let (Some(lb_start), true) = (view.lb(start), start < end) else {
            return Ok(Vec::new());
        };
        let raw = self
            .store
            .entries(lb_start, lb_start + (end - start), count_max, bytes_max)
            .or_storage(ErrorSubject::Logs, ErrorVerb::Read)?;
        let mut out = Vec::with_capacity(raw.len());
        for (i, e) in raw.into_iter().enumerate() {
            let want = start + i as u64;
            let entry = match decode::<C::Entry>(e.index, &e.payload)? {
                Record::Entry(entry) if entry.get_log_id().index == want => entry,
                other => {
                    return Err(message(
                        ErrorSubject::LogIndex(want),
                        ErrorVerb::Read,
                        format!(
                            "logbook entry {} should hold openraft entry {want}, holds {other:?}",
                            e.index
                        ),
                    ))
                }
            };
            out.push(entry);
        }
        Ok(out)
    }
}

/// A cheap, cloneable reader of the log, for openraft's replication tasks.
pub struct LogReader<C: RaftTypeConfig> {
    pub(super) shared: Arc<Shared<C>>,
}

impl<C: RaftTypeConfig> Clone for LogReader<C> {
    fn clone(&self) -> Self {
        LogReader {
            shared: self.shared.clone(),
        }
    }
}

impl<C: RaftTypeConfig> Debug for LogReader<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").finish_non_exhaustive()
    }
}

impl<C> RaftLogReader<C> for LogReader<C>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<u64>> {
        self.shared.read(range, usize::MAX, u64::MAX)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<C::Entry>, StorageError<u64>> {
        self.shared
            .read(start..end, LIMITED_READ_ENTRIES_MAX, LIMITED_READ_BYTES_MAX)
    }
}

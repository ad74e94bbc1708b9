//! `raft::Storage` on [`LogStorage`].

use raft::eraftpb::{Entry as RaftEntry, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use super::{codec, raft_state, to_raft_error, LogStorage};

impl Storage for LogStorage {
    /// The hard state (commit clamped to the last index, see the module docs) and the
    /// configuration.
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(raft_state(&self.log.borrow(), self.conf_state()))
    }

    /// Entries `low..high`, limited to `max_size` bytes of protobuf encoding as raft-rs
    /// limits them (at least one entry when any is in range). `Compacted` below the first
    /// index; `Unavailable` when `high` passes `last_index + 1` or `low > high` (raft-rs's
    /// own storage panics there). Reads are synchronous: `context` is not used.
    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<RaftEntry>> {
        let max_size = max_size.into();
        let mut log = self.log.borrow_mut();
        if low < log.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > log.last_index() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        if low == high {
            return Ok(Vec::new());
        }
        // The protobuf size bounds the payload size from above, so reading at most
        // `max_size` payload bytes (and one entry past it) never cuts the answer short.
        let bytes_max = max_size.unwrap_or(u64::MAX).saturating_add(1);
        let stored = log
            .entries(low, high, (high - low) as usize, bytes_max)
            .map_err(to_raft_error)?;
        let mut out = stored
            .iter()
            .map(codec::decode_entry)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| raft::Error::Store(StorageError::Other(Box::new(e))))?;
        raft::util::limit_size(&mut out, max_size);
        Ok(out)
    }

    /// The term at `idx` for `first_index() - 1 ..= last_index()`: the boundary's term is
    /// kept by logbook's purge. `Compacted` below, `Unavailable` above.
    fn term(&self, idx: u64) -> raft::Result<u64> {
        let mut log = self.log.borrow_mut();
        let boundary = log.first_index() - 1;
        if idx == boundary {
            return Ok(log.last_purged().map_or(0, |l| l.term));
        }
        if idx < boundary {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > log.last_index() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        match log.entry(idx).map_err(to_raft_error)? {
            Some(e) => Ok(e.term),
            None => Err(raft::Error::Store(StorageError::Unavailable)),
        }
    }

    /// The boundary plus one (1 for a new log).
    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.log.borrow().first_index())
    }

    /// The last entry's index, else the boundary.
    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.log.borrow().last_index())
    }

    /// The latest saved snapshot if its index is at least `request_index`; otherwise
    /// `SnapshotTemporarilyUnavailable` (the application has not taken a recent enough one
    /// yet; raft-rs asks again later).
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let snap = self.latest_snapshot();
        let index = snap.get_metadata().index;
        if index == 0 || index < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(snap.clone())
    }
}

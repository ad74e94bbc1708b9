//! A front for raft-rs 0.7 (feature `raft-rs`): [`LogStorage`] implements `raft::Storage` on
//! the single-threaded core [`Log`], and [`ready`] holds the write path of a `Ready`.
//!
//! # Layout
//!
//! A node's directory holds two logbook logs:
//!
//! - `<dir>/log`: the raft-rs entries, one logbook entry per raft-rs entry at the same index
//!   and term (payload: the entry's protobuf encoding, see [`codec`]); the hard state is
//!   logbook's [`HardState`] (`vote` 0 is `None`); raft-rs's compaction boundary is
//!   logbook's purge boundary, whose term logbook keeps, so `term(first_index - 1)` answers
//!   after a compaction or a snapshot.
//! - `<dir>/state`: the configuration (`ConfState`) and the latest snapshot (metadata and
//!   application data), one record, replaced durably by every change (see [`state`]).
//!
//! # Durability
//!
//! - The hard state, the configuration and snapshots are durable before the call that saves
//!   them returns, under every strategy.
//! - Entries follow the log's strategy. [`ready::persist_ready`] writes a `Ready`'s entries;
//!   with DiskFirst it then syncs, so `RawNode::advance` may follow at once; with MemFirst the
//!   entries are durable only once [`Log::durable_index`] covers them, and
//!   [`ready::AsyncReadies`] holds each `Ready`'s persisted messages (votes, append
//!   responses) and calls `RawNode::on_persist_ready` only then. Acknowledging earlier
//!   would let a majority crash lose a committed entry.
//! - The commit index a `LightReady` announces after `advance` is not saved (saving it
//!   would cost a metadata fsync per commit): Raft re-learns the commit index from the
//!   leader, so after a restart entries are re-applied once the cluster commits again.
//! - A snapshot is saved before the log moves its boundary to it (compaction, install); a
//!   crash in between is finished at open (boundary moved, a conflicting suffix cut, the
//!   commit index raised to the snapshot), so raft-rs always restarts from the snapshot.
//! - The saved commit index never passes the log's durable index. raft-rs hands a
//!   follower a commit index covering entries it has not persisted yet; saved as is, with
//!   MemFirst a crash could leave it covering entries the disk lacks, or stale entries
//!   that a truncation had replaced in memory only: the node would then apply a stale entry
//!   as committed (the cluster simulation found exactly this). Saved no further than the
//!   durable index, it covers only entries the disk holds as they are; the rest of the
//!   commit index is re-learned from the leader. [`Storage::initial_state`](raft::Storage::initial_state)
//!   also reports `commit` clamped to the last index, as raft-rs refuses to start past it.
//!
//! # Threads
//!
//! `LogStorage` is single-threaded (`RawNode` is), with reads through a `RefCell` because
//! `raft::Storage` reads take `&self` while logbook's reads fill a cache. The MemFirst flush
//! policy runs when the caller calls [`LogStorage::poll`] (as with [`Log::poll`]); a
//! deterministic simulation and a node's own event loop drive it the same way.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use raft::eraftpb::{ConfState, Entry as RaftEntry, HardState as RaftHardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};

use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;
use crate::fs::Fs;
use crate::log::Log;
use crate::types::{HardState, LogId};

pub mod codec;
pub mod ready;
pub mod state;
mod storage;

pub use protobuf;
pub use raft;
pub use ready::{persist_ready, AsyncReadies};
pub use slog;
pub use state::StateLog;

/// A logbook-backed raft-rs storage. See the module docs.
#[derive(Debug)]
pub struct LogStorage {
    log: RefCell<Log>,
    state: StateLog,
}

/// Converts an engine error into raft-rs's: a purged index is `Compacted`, anything else is
/// `Other` carrying the engine error.
pub fn to_raft_error(e: Error) -> raft::Error {
    match e {
        Error::Purged { .. } => raft::Error::Store(StorageError::Compacted),
        other => raft::Error::Store(StorageError::Other(Box::new(other))),
    }
}

fn to_hard_state(hs: &RaftHardState) -> HardState {
    HardState {
        term: hs.term,
        vote: (hs.vote != 0).then_some(hs.vote),
        commit: hs.commit,
    }
}

impl LogStorage {
    /// Opens (or creates) a node's storage in `dir`: entries in `dir/log` with `cfg`, the
    /// configuration and snapshot in `dir/state`.
    pub fn open(
        fs: Arc<dyn Fs>,
        clock: Arc<dyn Clock>,
        dir: impl AsRef<Path>,
        cfg: Config,
    ) -> crate::Result<LogStorage> {
        let dir = dir.as_ref();
        let mut log = Log::open(fs.clone(), clock.clone(), dir.join("log"), cfg)?;
        let state = StateLog::open(fs, clock, &dir.join("state"))?;
        finish_snapshot(&mut log, state.current().snapshot.get_metadata())?;
        Ok(LogStorage {
            log: RefCell::new(log),
            state,
        })
    }

    /// Runs `f` on the underlying log (for its durable index, stats, flush policy...).
    pub fn with_log<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        f(&mut self.log.borrow_mut())
    }

    /// The highest index known durable (see [`Log::durable_index`]).
    pub fn durable_index(&self) -> u64 {
        self.log.borrow().durable_index()
    }

    /// Runs the log's flush policy at `now_ms` (see [`Log::poll`]).
    pub fn poll(&mut self, now_ms: u64) -> crate::Result<Option<u64>> {
        self.log.get_mut().poll(now_ms)
    }

    /// Makes every entry accepted so far durable.
    pub fn sync(&mut self) -> crate::Result<()> {
        self.log.get_mut().sync()
    }

    /// The configuration raft-rs starts from.
    pub fn conf_state(&self) -> &ConfState {
        &self.state.current().conf_state
    }

    /// The latest snapshot saved with [`LogStorage::create_snapshot`] or
    /// [`LogStorage::apply_snapshot`] (default if none).
    pub fn latest_snapshot(&self) -> &Snapshot {
        &self.state.current().snapshot
    }

    /// Sets the first configuration of a new cluster, durably. Refused with
    /// `StorageError::Other` once the storage holds a configuration, entries or a hard state
    /// (call it on every initial member with the same value).
    pub fn initialize_with_conf_state(&mut self, cs: ConfState) -> raft::Result<()> {
        let state = raft::Storage::initial_state(self)?;
        if state.initialized() || !state.hard_state.eq(&RaftHardState::default()) {
            return Err(to_raft_error(Error::InvalidConfig(
                "raft-rs storage is already initialized".into(),
            )));
        }
        self.set_conf_state(cs)
    }

    /// Saves the configuration durably (after applying a configuration change).
    pub fn set_conf_state(&mut self, cs: ConfState) -> raft::Result<()> {
        let mut record = self.state.current().clone();
        record.conf_state = cs;
        self.state.save(record).map_err(to_raft_error)
    }

    /// Saves the hard state durably, under every strategy, with `commit` lowered to the
    /// log's durable index: a commit index saved past it could, after a crash, cover entries
    /// the disk does not hold or, worse, older entries a truncation had replaced in memory
    /// only (see the module docs).
    pub fn set_hard_state(&mut self, hs: &RaftHardState) -> raft::Result<()> {
        let log = self.log.get_mut();
        let mut saved = to_hard_state(hs);
        saved.commit = saved.commit.min(log.durable_index());
        log.save_hard_state(saved).map_err(to_raft_error)
    }

    /// Appends `entries`, first removing any existing entries from `entries[0].index` on
    /// (a conflicting suffix). Entries at or below the boundary get `Compacted`; a gap after
    /// the last entry gets `StorageError::Other` (logbook's `NotContinuous`). Durable per the
    /// log's strategy.
    pub fn append(&mut self, entries: &[RaftEntry]) -> raft::Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let log = self.log.get_mut();
        if first.index < log.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if first.index <= log.last_index() {
            log.truncate(first.index).map_err(to_raft_error)?;
        }
        let encoded = entries
            .iter()
            .map(codec::encode_entry)
            .collect::<Result<Vec<_>, _>>()?;
        log.append(&encoded).map_err(to_raft_error)
    }

    /// Saves `data` as the snapshot at `index` (which must hold an entry or be the boundary;
    /// its term is looked up) with configuration `cs`, durably. Refused with
    /// `SnapshotOutOfDate` at or below the current snapshot's index, `Unavailable` past the
    /// last index.
    pub fn create_snapshot(
        &mut self,
        index: u64,
        cs: ConfState,
        data: Vec<u8>,
    ) -> raft::Result<()> {
        let current = self.latest_snapshot().get_metadata().index;
        if index <= current && current > 0 {
            return Err(raft::Error::Store(StorageError::SnapshotOutOfDate));
        }
        let term = raft::Storage::term(self, index)?;
        let mut record = self.state.current().clone();
        let meta = record.snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(cs);
        record.snapshot.data = data.into();
        self.state.save(record).map_err(to_raft_error)
    }

    /// Drops the entries before `compact_index` (they must be covered by the latest
    /// snapshot, so a lagging follower can still catch up). Below the first index it is a
    /// no-op; past `last_index + 1`, or past the snapshot, a typed error.
    pub fn compact(&mut self, compact_index: u64) -> raft::Result<()> {
        let log = self.log.get_mut();
        if compact_index <= log.first_index() {
            return Ok(());
        }
        if compact_index > log.last_index() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let snap = self.state.current().snapshot.get_metadata().index;
        if compact_index - 1 > snap {
            return Err(raft::Error::Store(StorageError::Other(
                format!(
                    "compact to {compact_index} would drop entries past the snapshot at {snap}"
                )
                .into(),
            )));
        }
        let upto = compact_index - 1;
        let term = raft::Storage::term(self, upto)?;
        self.log
            .get_mut()
            .purge(LogId::new(term, upto))
            .map_err(to_raft_error)
    }

    /// Installs a snapshot received from the leader: saves it (and its configuration)
    /// durably, drops every entry (and any conflicting suffix) up to and after it as raft-rs
    /// expects, and raises the hard state's term and commit to it. `SnapshotOutOfDate` if
    /// it lies before the first index.
    pub fn apply_snapshot(&mut self, snap: Snapshot) -> raft::Result<()> {
        let meta = snap.get_metadata().clone();
        let log = self.log.get_mut();
        if log.first_index() > meta.index {
            return Err(raft::Error::Store(StorageError::SnapshotOutOfDate));
        }
        if log.last_index() > meta.index {
            log.truncate(meta.index + 1).map_err(to_raft_error)?;
        }
        let record = codec::StateRecord {
            conf_state: meta.get_conf_state().clone(),
            snapshot: snap,
        };
        self.state.save(record).map_err(to_raft_error)?;
        let log = self.log.get_mut();
        log.purge(LogId::new(meta.term, meta.index))
            .map_err(to_raft_error)?;
        // MemFirst owes the boundary and truncation to a flush: make them durable with the
        // snapshot, so the log never reopens behind the snapshot it already saved.
        log.sync().map_err(to_raft_error)?;
        let mut hs = log.hard_state();
        hs.term = hs.term.max(meta.term);
        hs.commit = meta.index;
        log.save_hard_state(hs).map_err(to_raft_error)
    }

    /// Flushes and closes both logs.
    pub fn close(self) -> crate::Result<()> {
        self.log.into_inner().close()?;
        self.state.close()
    }
}

/// Finishes what a crash may have left between a durable snapshot and the log: a
/// compaction or a snapshot install saves the snapshot first, then moves the log's boundary,
/// then (install) raises the hard state. At open, a boundary behind the snapshot is moved up
/// to it (after cutting a suffix that conflicts with it: an install's truncation that
/// MemFirst still owed), and a saved commit index below it is raised: the snapshot covers
/// only committed entries. raft-rs could not start otherwise (its applied index, the
/// snapshot's, would pass its commit index).
fn finish_snapshot(log: &mut Log, meta: &raft::eraftpb::SnapshotMetadata) -> crate::Result<()> {
    if meta.index == 0 {
        return Ok(());
    }
    if log.first_index() <= meta.index {
        if log.last_index() > meta.index {
            let term = log.entry(meta.index)?.map(|e| e.term);
            if term != Some(meta.term) {
                log.truncate(meta.index + 1)?;
            }
        }
        tracing::warn!(
            index = meta.index,
            "finishing a snapshot a crash interrupted"
        );
        log.purge(LogId::new(meta.term, meta.index))?;
        log.sync()?;
    }
    let mut hs = log.hard_state();
    if hs.commit < meta.index {
        hs.commit = meta.index;
        hs.term = hs.term.max(meta.term);
        log.save_hard_state(hs)?;
    }
    Ok(())
}

/// The raft-rs view of the hard state, commit clamped as the module docs explain.
fn raft_state(log: &Log, conf_state: &ConfState) -> RaftState {
    let hs = log.hard_state();
    let out = RaftHardState {
        term: hs.term,
        vote: hs.vote.unwrap_or(0),
        commit: hs.commit.min(log.last_index()),
        ..Default::default()
    };
    RaftState::new(out, conf_state.clone())
}

/// A logger that drops everything, for `RawNode::new` when the node logs elsewhere.
pub fn discard_logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

/// The context raft-rs passes to `entries`, for callers outside raft-rs.
pub fn no_context() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

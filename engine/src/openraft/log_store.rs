//! [`LogStore`]: openraft's `RaftLogStorage` on a logbook [`Store`].

use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use ::openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use ::openraft::{
    ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader, RaftTypeConfig, StorageError, Vote,
};

use super::error::{message, EngineResultExt, Result};
use super::reader::{LogReader, LIMITED_READ_BYTES_MAX, LIMITED_READ_ENTRIES_MAX};
use super::view::{load, View};
use super::vote::{from_hard_state, to_hard_state};
use crate::config::Config;
use crate::store::Store;

/// The store and the adapter's view of it, shared with every [`LogReader`].
pub(super) struct Shared<C> {
    pub(super) store: Store,
    view: Mutex<View>,
    _config: PhantomData<fn() -> C>,
}

impl<C> Shared<C> {
    pub(super) fn lock_view(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// openraft 0.9's log storage (`storage-v2`) on a logbook [`Store`]. See the module docs of
/// [`crate::openraft`] for the layout and the mappings.
pub struct LogStore<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
}

impl<C: RaftTypeConfig> Debug for LogStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("store", &self.shared.store)
            .field("view", &*self.shared.lock_view())
            .finish()
    }
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    /// Opens (or creates) the store in `dir` on the real filesystem and clock.
    pub fn open(dir: impl AsRef<Path>, cfg: Config) -> Result<Self> {
        let store = Store::open(dir, cfg).or_storage(ErrorSubject::Store, ErrorVerb::Read)?;
        Self::new(store)
    }

    /// Wraps an open store. The store must be empty or have been written by this adapter.
    /// Finishes a purge that a crash interrupted.
    pub fn new(store: Store) -> Result<Self> {
        let view = load::<C>(&store)?;
        Ok(LogStore {
            shared: Arc::new(Shared {
                store,
                view: Mutex::new(view),
                _config: PhantomData,
            }),
        })
    }

    /// The underlying store, e.g. for [`Store::flush`] or its durable index.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// A reader sharing this store.
    pub fn reader(&self) -> LogReader<C> {
        LogReader {
            shared: self.shared.clone(),
        }
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
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

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<u64>> {
        let view = self.shared.lock_view();
        Ok(LogState {
            last_purged_log_id: view.last_purged(),
            last_log_id: view.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    /// Durable before it returns, under every strategy (logbook's `save_hard_state`).
    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        self.shared
            .store
            .save_hard_state(to_hard_state(vote))
            .or_storage(ErrorSubject::Vote, ErrorVerb::Write)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        let hs = self
            .shared
            .store
            .hard_state()
            .or_storage(ErrorSubject::Vote, ErrorVerb::Read)?;
        from_hard_state(hs).map_err(|why| message(ErrorSubject::Vote, ErrorVerb::Read, why))
    }

    /// Returns once the entries are readable; `callback` runs once they are durable: before
    /// this returns under `Immediate` (the fsync runs inline), later under `Batch`.
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.shared.append(entries.into_iter().collect(), callback)
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        self.shared.truncate(log_id)
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        self.shared.purge(log_id)
    }
}

//! The store under test: [`LogStore`] (one open Raft log store), [`StoreFactory`] (how to
//! open one on an [`Fs`] and a directory), and their implementation for logbook's [`Log`].
//!
//! Another store joins the suite by implementing these two traits; another [`Fs`] backend
//! joins it by running [`LogbookFactory`] on a [`super::Disks`] that hands out its own
//! directories.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use logbook::{Config, Entry, Error, FlushPolicy, Fs, HardState, Log, LogId, Strategy};

use crate::clock::SimClock;

/// Why a store operation failed, in the suite's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// An append that does not continue the log (a gap, an overlap, a wrong first index).
    NotContinuous { expected: u64, got: u64 },
    /// An appended entry's term is below the previous entry's (or the boundary's) term.
    TermRegression { index: u64, term: u64 },
    /// An operation named an index at or below the purge boundary.
    Purged { index: u64 },
    /// The store found damaged data (fail-stop).
    Corruption(String),
    /// An I/O failure, a full disk or a handle poisoned by one: the store must be reopened.
    Io(String),
    /// Anything else.
    Other(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotContinuous { expected, got } => {
                write!(f, "not continuous: expected index {expected}, got {got}")
            }
            StoreError::TermRegression { index, term } => {
                write!(f, "term regression at index {index} (term {term})")
            }
            StoreError::Purged { index } => write!(f, "index {index} is purged"),
            StoreError::Corruption(m) => write!(f, "corruption: {m}"),
            StoreError::Io(m) => write!(f, "I/O: {m}"),
            StoreError::Other(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<Error> for StoreError {
    fn from(e: Error) -> StoreError {
        match e {
            Error::NotContinuous { expected, got } => StoreError::NotContinuous { expected, got },
            Error::TermRegression { index, term, .. } => StoreError::TermRegression { index, term },
            Error::Purged { index, .. } => StoreError::Purged { index },
            e @ Error::Corruption { .. } => StoreError::Corruption(e.to_string()),
            e @ (Error::Io { .. } | Error::DiskFull { .. } | Error::Poisoned { .. }) => {
                StoreError::Io(e.to_string())
            }
            e => StoreError::Other(e.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One open Raft log store, as docs/DESIGN.md §1 defines it. Indexes start at 1; the log holds the
/// contiguous entries `first_index() ..= last_index()` and the purge boundary.
pub trait LogStore {
    /// Appends entries that continue the log (`index == last_index() + 1`, terms never below
    /// the last entry's or the boundary's); otherwise [`StoreError::NotContinuous`] or
    /// [`StoreError::TermRegression`] and nothing changes. An empty slice is a no-op.
    fn append(&mut self, entries: &[Entry]) -> StoreResult<()>;
    /// The entry at `index`, or `None` outside `first_index() ..= last_index()`.
    fn entry(&mut self, index: u64) -> StoreResult<Option<Entry>>;
    /// Entries `from..to_exclusive`, at most `count_max`, stopping once `bytes_max` payload
    /// bytes are reached (the entry that reaches it is included; at least one entry is
    /// returned when one exists and `count_max > 0`), stopping at the end of the log.
    /// `from` at or below the boundary: [`StoreError::Purged`] (or no entries).
    fn entries(
        &mut self,
        from: u64,
        to_exclusive: u64,
        count_max: usize,
        bytes_max: u64,
    ) -> StoreResult<Vec<Entry>>;
    /// Removes `from..`; removing nothing is fine. `from` is above the boundary.
    fn truncate(&mut self, from: u64) -> StoreResult<()>;
    /// Removes `..=upto.index` and sets the boundary to `upto` (never moving it back);
    /// `upto` may lie past the last entry, and then `last_index() == upto.index`.
    fn purge(&mut self, upto: LogId) -> StoreResult<()>;
    /// Saves the hard state; durable before it returns, under every strategy.
    fn save_hard_state(&mut self, hs: HardState) -> StoreResult<()>;
    fn hard_state(&self) -> HardState;
    /// Makes everything accepted so far durable, then returns.
    fn flush(&mut self) -> StoreResult<()>;
    /// Lets time pass (one millisecond) and runs whatever background work is due (a flush
    /// policy). The suite calls it after every operation.
    fn tick(&mut self) -> StoreResult<()> {
        Ok(())
    }
    /// The highest index known durable: a crash now keeps every entry up to it.
    fn durable_index(&self) -> u64;
    /// True when nothing is owed to the disk: a crash now keeps exactly the current state.
    /// `false` is always safe (the crash checks then accept more outcomes).
    fn is_fully_durable(&self) -> bool;
    /// `last_purged + 1`, or 1.
    fn first_index(&self) -> u64;
    /// The last entry's index, else the boundary's, else 0.
    fn last_index(&self) -> u64;
    fn last_purged(&self) -> Option<LogId>;
    /// Flushes and closes; the store can then be reopened on the same directory.
    fn close(self: Box<Self>) -> StoreResult<()>;
}

/// Opens a store kept in `dir` on `fs`, creating it if it does not exist.
pub trait StoreFactory {
    /// A short name for reports.
    fn name(&self) -> String;
    fn open(&self, fs: Arc<dyn Fs>, dir: &Path) -> StoreResult<Box<dyn LogStore>>;
}

/// A [`StoreFactory`] made of a name and a closure.
pub struct FnFactory<F> {
    name: String,
    open: F,
}

/// Wraps `open` as a [`StoreFactory`] called `name`.
pub fn factory_fn<F>(name: impl Into<String>, open: F) -> FnFactory<F>
where
    F: Fn(Arc<dyn Fs>, &Path) -> StoreResult<Box<dyn LogStore>>,
{
    FnFactory {
        name: name.into(),
        open,
    }
}

impl<F> StoreFactory for FnFactory<F>
where
    F: Fn(Arc<dyn Fs>, &Path) -> StoreResult<Box<dyn LogStore>>,
{
    fn name(&self) -> String {
        self.name.clone()
    }
    fn open(&self, fs: Arc<dyn Fs>, dir: &Path) -> StoreResult<Box<dyn LogStore>> {
        (self.open)(fs, dir)
    }
}

/// logbook's [`Log`] with the simulated clock it polls its flush policy with.
#[derive(Debug)]
pub struct LogbookStore {
    pub log: Log,
    pub clock: SimClock,
}

impl LogStore for LogbookStore {
    fn append(&mut self, entries: &[Entry]) -> StoreResult<()> {
        Ok(self.log.append(entries)?)
    }
    fn entry(&mut self, index: u64) -> StoreResult<Option<Entry>> {
        Ok(self.log.entry(index)?)
    }
    fn entries(
        &mut self,
        from: u64,
        to_exclusive: u64,
        count_max: usize,
        bytes_max: u64,
    ) -> StoreResult<Vec<Entry>> {
        Ok(self.log.entries(from, to_exclusive, count_max, bytes_max)?)
    }
    fn truncate(&mut self, from: u64) -> StoreResult<()> {
        Ok(self.log.truncate(from)?)
    }
    fn purge(&mut self, upto: LogId) -> StoreResult<()> {
        Ok(self.log.purge(upto)?)
    }
    fn save_hard_state(&mut self, hs: HardState) -> StoreResult<()> {
        Ok(self.log.save_hard_state(hs)?)
    }
    fn hard_state(&self) -> HardState {
        self.log.hard_state()
    }
    fn flush(&mut self) -> StoreResult<()> {
        Ok(self.log.sync()?)
    }
    fn tick(&mut self) -> StoreResult<()> {
        let now = self.clock.advance(1);
        self.log.poll(now)?;
        Ok(())
    }
    fn durable_index(&self) -> u64 {
        self.log.durable_index()
    }
    fn is_fully_durable(&self) -> bool {
        self.log.is_fully_durable()
    }
    fn first_index(&self) -> u64 {
        self.log.first_index()
    }
    fn last_index(&self) -> u64 {
        self.log.last_index()
    }
    fn last_purged(&self) -> Option<LogId> {
        self.log.last_purged()
    }
    fn close(self: Box<Self>) -> StoreResult<()> {
        Ok(self.log.close()?)
    }
}

/// Opens logbook [`Log`]s with one [`Config`] and a shared [`SimClock`] (time moves only by
/// [`LogStore::tick`], so runs are deterministic on any disk).
#[derive(Debug, Clone)]
pub struct LogbookFactory {
    pub cfg: Config,
    pub clock: SimClock,
}

impl LogbookFactory {
    /// A config sized for the suite: 4 KiB segments (the smallest), so a few 2 KB entries
    /// rotate; a 4-entry cache with 2 entries of prefetch, so DiskFirst reads hit the disk;
    /// `Batch` groups up to 4 entries or 3 ms (3 ticks).
    pub fn suite_config(strategy: Strategy, batch: bool) -> Config {
        let flush = match batch {
            true => FlushPolicy::Batch {
                threshold: 4,
                interval_ms: 3,
            },
            false => FlushPolicy::Immediate,
        };
        Config::new(strategy, flush)
            .with_segment_size_bytes(4096)
            .with_cache_entries_max(4)
            .with_prefetch_entries(2)
    }

    pub fn new(cfg: Config) -> LogbookFactory {
        LogbookFactory {
            cfg,
            clock: SimClock::new(0),
        }
    }
}

impl StoreFactory for LogbookFactory {
    fn name(&self) -> String {
        let policy = crate::scenario::policy_name(self.cfg.flush());
        format!("logbook {:?}/{policy}", self.cfg.strategy())
    }

    fn open(&self, fs: Arc<dyn Fs>, dir: &Path) -> StoreResult<Box<dyn LogStore>> {
        let clock = self.clock.clone();
        let log = Log::open(fs, Arc::new(clock.clone()), dir, self.cfg.clone())?;
        Ok(Box::new(LogbookStore { log, clock }))
    }
}

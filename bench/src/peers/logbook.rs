//! logbook, the system under test, through its thread-safe [`Store`].
//!
//! Writers share one log, as the proposals of one Raft node do. Index assignment is
//! serialized by a sequencer lock; the append call that hands the entries over is made
//! under it (the store must receive them in order), through [`Store::append_deferred`], and
//! the wait for durability happens outside it, through [`Store::wait`] (DiskFirst) or
//! [`Store::wait_durable`] (MemFirst): the waiting writer leads the group commit itself, as
//! a raft-engine writer does. (openraft's `append(entries, callback)` style,
//! [`Store::append_with_callback`], adds a hand-off to the syncing thread and back; the
//! diagnostics measure both.)

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use logbook::{Config, Entry, FlushPolicy, LogId, Store, Strategy};

use super::{newest_file_number, Res, WriteTarget};

/// The flush policy of a logbook row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Immediate,
    /// `FlushPolicy::Batch` with the run's `BatchParams`.
    Batch,
    /// `FlushPolicy::Adaptive` with `ADAPTIVE_DELAY_MAX_US`.
    Adaptive,
}

/// The adaptive rows' `delay_max_us`.
pub const ADAPTIVE_DELAY_MAX_US: u64 = 1000;

/// The ways to run logbook: a strategy and a flush policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub strategy: Strategy,
    pub policy: Policy,
}

/// Every strategy x policy, in table order.
pub const VARIANTS: [Variant; 6] = [
    Variant {
        strategy: Strategy::DiskFirst,
        policy: Policy::Immediate,
    },
    Variant {
        strategy: Strategy::DiskFirst,
        policy: Policy::Batch,
    },
    Variant {
        strategy: Strategy::DiskFirst,
        policy: Policy::Adaptive,
    },
    Variant {
        strategy: Strategy::MemFirst,
        policy: Policy::Immediate,
    },
    Variant {
        strategy: Strategy::MemFirst,
        policy: Policy::Batch,
    },
    Variant {
        strategy: Strategy::MemFirst,
        policy: Policy::Adaptive,
    },
];

/// The group-commit policy the `Batch` rows use.
#[derive(Debug, Clone, Copy)]
pub struct BatchParams {
    pub threshold: usize,
    pub interval_ms: u64,
}

impl Variant {
    pub fn name(&self) -> String {
        let s = match self.strategy {
            Strategy::DiskFirst => "DiskFirst",
            Strategy::MemFirst => "MemFirst",
        };
        let p = match self.policy {
            Policy::Immediate => "Immediate",
            Policy::Batch => "Batch",
            Policy::Adaptive => "Adaptive",
        };
        format!("logbook {s}/{p}")
    }

    pub fn config(&self, batch: BatchParams) -> Config {
        let flush = match self.policy {
            Policy::Immediate => FlushPolicy::Immediate,
            Policy::Batch => FlushPolicy::Batch {
                threshold: batch.threshold,
                interval_ms: batch.interval_ms,
            },
            Policy::Adaptive => FlushPolicy::Adaptive {
                delay_max_us: ADAPTIVE_DELAY_MAX_US,
            },
        };
        Config::new(self.strategy, flush)
    }
}

pub struct LogbookTarget {
    store: Arc<Store>,
    /// The sequencer: the next index to hand out.
    next: Mutex<u64>,
    dir: PathBuf,
    strategy: Strategy,
}

impl LogbookTarget {
    pub fn open(dir: &Path, cfg: Config) -> Res<LogbookTarget> {
        Self::open_with(dir, cfg, Arc::new(logbook::StdFs))
    }

    /// As [`LogbookTarget::open`], on a given `Fs` (the diagnostics count fsyncs with it).
    pub fn open_with(dir: &Path, cfg: Config, fs: Arc<dyn logbook::Fs>) -> Res<LogbookTarget> {
        let strategy = cfg.strategy();
        let clock = Arc::new(logbook::SystemClock::new());
        let store = Store::open_with(fs, clock, dir, cfg)?;
        let next = store.last_index()? + 1;
        Ok(LogbookTarget {
            store: Arc::new(store),
            next: Mutex::new(next),
            dir: dir.to_path_buf(),
            strategy,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl WriteTarget for LogbookTarget {
    fn append(&self, _w: usize, n: usize, payload: &Bytes, sync: bool) -> Res<()> {
        // Build the batch outside the sequencer; only the indexes are set under it.
        let mut entries: Vec<Entry> = (0..n).map(|_| Entry::new(0, 1, payload.clone())).collect();
        if sync {
            // Accept under the sequencer, wait outside it: concurrent writers share fsyncs,
            // and the waiting writer leads the fsync itself, as raft-engine's writers do.
            let appended = {
                let mut next = self.next.lock().unwrap();
                for (i, e) in entries.iter_mut().enumerate() {
                    e.index = *next + i as u64;
                }
                let appended = self.store.append_deferred(&entries)?;
                *next += n as u64;
                appended
            };
            match self.strategy {
                Strategy::DiskFirst => {
                    self.store.wait(appended)?;
                }
                Strategy::MemFirst => self.store.wait_durable(appended.last_index())?,
            }
        } else {
            let mut next = self.next.lock().unwrap();
            for (i, e) in entries.iter_mut().enumerate() {
                e.index = *next + i as u64;
            }
            // Accepted but not yet durable: MemFirst's `append` returns from memory;
            // DiskFirst's only non-waiting call is `append_with_callback`.
            match self.strategy {
                Strategy::MemFirst => {
                    self.store.append(&entries)?;
                }
                Strategy::DiskFirst => self.store.append_with_callback(&entries, |_| {})?,
            }
            *next += n as u64;
        }
        Ok(())
    }

    fn rotation_marker(&self) -> Res<u64> {
        newest_file_number(&self.dir, "seg-")
    }

    fn finish(self: Box<Self>) -> Res<()> {
        let store = Arc::try_unwrap(self.store).map_err(|_| "store still shared")?;
        store.close()?;
        Ok(())
    }
}

/// Fills `dir` with `count` entries of `payload` through the single-threaded core, fast:
/// large batches, one fsync per `sync_every` entries. Returns the last index.
pub fn populate(
    dir: &Path,
    count: u64,
    payload: &Bytes,
    segment_size_bytes: u64,
    chunk: usize,
) -> Res<u64> {
    let cfg = Config::new(
        Strategy::DiskFirst,
        FlushPolicy::Batch {
            threshold: usize::MAX,
            interval_ms: u64::MAX / 4,
        },
    )
    .with_segment_size_bytes(segment_size_bytes)
    .with_cache_entries_max(chunk);
    let fs: Arc<dyn logbook::Fs> = Arc::new(logbook::StdFs);
    let clock: Arc<dyn logbook::Clock> = Arc::new(logbook::SystemClock::new());
    let mut log = logbook::Log::open(fs, clock, dir, cfg)?;
    let mut next = log.last_index() + 1;
    let end = next + count;
    let mut batch: Vec<Entry> = Vec::with_capacity(chunk);
    while next < end {
        batch.clear();
        let n = ((end - next) as usize).min(chunk);
        batch.extend((0..n as u64).map(|i| Entry::new(next + i, 1, payload.clone())));
        log.append(&batch)?;
        next += n as u64;
    }
    log.sync()?;
    let last = log.last_index();
    log.close()?;
    Ok(last)
}

/// Opens `dir` with `cfg` and returns the store (the recovery workload times this).
pub fn open_store(dir: &Path, cfg: Config) -> Res<Store> {
    Ok(Store::open(dir, cfg)?)
}

pub fn log_id(index: u64) -> LogId {
    LogId::new(1, index)
}

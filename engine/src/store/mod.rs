//! [`Store`]: the thread-safe handle production code uses. It wraps [`Log`] in a mutex and
//! adds what needs threads:
//! - **group commit**: appenders encode their records under the lock (a copy, no syscall);
//!   one waiting thread (the leader) takes the sync, writes the pending records once and
//!   runs the fsyncs *outside* the lock while others keep appending. A finished sync wakes
//!   exactly the waiters it made durable (the wake-ups fan out as a tree, see `sync.rs`),
//!   and while waiters need a sync that is due the leader starts it at once;
//! - two ways to wait: [`Store::append_deferred`] + [`Store::wait`] (or
//!   [`Store::wait_durable`]), where the waiting thread leads the fsync itself, and the
//!   callback API ([`Store::append_with_callback`]) like openraft's `append(entries,
//!   callback)`, where the syncing thread calls back;
//! - a **flusher thread** that runs the flush policy at the clock's deadlines (MemFirst,
//!   and DiskFirst `Batch` intervals). A MemFirst flush writes, rotates and fsyncs without
//!   the lock: the `Log` lends it its segment files.
//!
//! DiskFirst [`Store::append`] returns only once its entries are durable. MemFirst returns
//! at once; past `unflushed_bytes_max` it waits for the flusher (backpressure by waiting).
//!
//! Invariant: a waiter returns only on what it reads under the lock (`durable_index`, the
//! truncation epoch, the poison); a wake-up, lost or spurious, only makes it look again.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::clock::Clock;
use crate::config::{Config, Strategy};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::log::Log;
use crate::std_fs::StdFs;
use crate::system_clock::{wait_duration, SystemClock};
use crate::types::{Entry, HardState, LogId};

mod sync;
use sync::{
    flusher_loop, lead_sync, notify_changed, take_relay, take_waiters, unpark, wait_changed, Wake,
};

type Callback = Box<dyn FnOnce(Result<u64>) + Send>;

/// Who runs the sync an append makes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leader {
    /// The appending thread, which waits for durability anyway (DiskFirst `append`).
    Caller,
    /// The flusher thread (callbacks, MemFirst).
    Flusher,
}

/// Entries accepted by [`Store::append_deferred`], to pass to [`Store::wait`].
#[derive(Debug)]
#[must_use = "an append is acknowledged only once `Store::wait` returns"]
pub struct Appended(Accepted);

impl Appended {
    /// The index of the last entry accepted.
    pub fn last_index(&self) -> u64 {
        self.0.last
    }
}

/// What [`Store::append_accept`] accepted.
#[derive(Debug)]
struct Accepted {
    last: u64,
    /// The truncation epoch at acceptance (see [`Log::truncated_since`]).
    epoch: u64,
    strategy: Strategy,
}

#[derive(Debug)]
struct State {
    log: Option<Log>,
    syncing: bool,
    shutdown: bool,
    callbacks: Vec<(u64, CallbackBox)>,
    /// Threads parked in [`Store::wait_until_durable`], keyed by (last index, waiter id).
    /// A finished sync unparks exactly those it made durable, and the next one in line to
    /// lead: with dozens of writers, waking all of them on every fsync cost more CPU than
    /// the appends themselves.
    waiters: std::collections::BTreeMap<(u64, u64), std::thread::Thread>,
    waiter_ids: u64,
    /// Released waiters still to wake. A sync wakes a few itself and leaves the rest here;
    /// every waiter that takes the lock wakes `RELAY_FANOUT` more, so the wake-ups spread as
    /// a tree over the threads (and cores) instead of costing one thread a syscall each.
    relay: Vec<std::thread::Thread>,
    /// Threads waiting on `Shared::changed`; a notify with none is a wasted syscall.
    changed_waiters: usize,
    /// The flusher is waiting on `Shared::work`. When it is not, it looks at the log again
    /// before it next waits, so a kick would be a wasted syscall.
    flusher_sleeping: bool,
}

struct CallbackBox(Callback);

impl std::fmt::Debug for CallbackBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("callback")
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when the durable index moves, a sync ends, or the log is poisoned/closed.
    changed: Condvar,
    /// Signalled when the flusher has work.
    work: Condvar,
    fs: Arc<dyn Fs>,
    clock: Arc<dyn Clock>,
}

/// A thread-safe store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

impl Store {
    /// Opens the store in `dir` on the real filesystem and clock.
    pub fn open(dir: impl AsRef<Path>, cfg: Config) -> Result<Store> {
        Store::open_with(Arc::new(StdFs), Arc::new(SystemClock::new()), dir, cfg)
    }

    pub fn open_with(
        fs: Arc<dyn Fs>,
        clock: Arc<dyn Clock>,
        dir: impl AsRef<Path>,
        cfg: Config,
    ) -> Result<Store> {
        let log = Log::open(fs.clone(), clock.clone(), dir, cfg)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                log: Some(log),
                syncing: false,
                shutdown: false,
                callbacks: Vec::new(),
                waiters: std::collections::BTreeMap::new(),
                waiter_ids: 0,
                relay: Vec::new(),
                changed_waiters: 0,
                flusher_sleeping: false,
            }),
            changed: Condvar::new(),
            work: Condvar::new(),
            fs,
            clock,
        });
        let flusher_shared = shared.clone();
        let flusher = std::thread::Builder::new()
            .name("logbook-flusher".into())
            .spawn(move || flusher_loop(&flusher_shared))
            .map_err(|e| Error::io("spawn flusher", "", e))?;
        Ok(Store {
            shared,
            flusher: Some(flusher),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_log<T>(&self, f: impl FnOnce(&mut Log) -> Result<T>) -> Result<T> {
        let mut st = self.lock();
        let log = st.log.as_mut().ok_or(Error::Closed)?;
        f(log)
    }

    /// Appends `entries`. DiskFirst: returns once they are durable (group commit).
    /// MemFirst: returns once they are in memory, waiting while the unflushed bound is hit.
    /// Returns the index of the last entry.
    ///
    /// If another thread truncates these entries before they are durable, a DiskFirst append
    /// returns [`Error::Truncated`]: they will never be durable.
    pub fn append(&self, entries: &[Entry]) -> Result<u64> {
        let appended = self.append_deferred(entries)?;
        self.wait(appended)
    }

    /// The first half of [`Store::append`]: accepts `entries` and returns at once. Pass the
    /// result to [`Store::wait`] for the second half. For a caller that orders its appends
    /// under a lock of its own (a Raft node's sequencer) but must not hold that lock through
    /// the fsync: appenders then share fsyncs (group commit), and the waiting thread leads
    /// the fsync itself, with no hand-off to another thread and back.
    pub fn append_deferred(&self, entries: &[Entry]) -> Result<Appended> {
        let accepted = self.append_accept(entries, Leader::Caller)?;
        Ok(Appended(accepted))
    }

    /// The second half of [`Store::append`]: DiskFirst waits until the entries are durable
    /// (or fails with [`Error::Truncated`] if a truncation removed them first); MemFirst
    /// returns at once. Returns the index of the last entry.
    pub fn wait(&self, appended: Appended) -> Result<u64> {
        let a = appended.0;
        if a.strategy == Strategy::DiskFirst {
            self.wait_until_durable(a.last, Some(a.epoch))?;
        }
        Ok(a.last)
    }

    /// Waits until `durable_index() >= last`, leading syncs when due. With `accepted_at`
    /// (the truncation epoch at which the caller's entries up to `last` were accepted), fails
    /// with [`Error::Truncated`] once a truncation removes them.
    fn wait_until_durable(&self, last: u64, accepted_at: Option<u64>) -> Result<()> {
        let mut st = self.lock();
        st.waiter_ids += 1;
        let key = (last, st.waiter_ids);
        loop {
            st.waiters.remove(&key);
            let relay = take_relay(&mut st);
            let step = self.wait_step(&st, last, accepted_at);
            if let Step::Park { .. } = step {
                // Registered under the lock, so an unpark cannot slip in before we park (and
                // an unpark that comes first makes the park return at once).
                st.waiters.insert(key, std::thread::current());
            }
            drop(st);
            unpark(relay);
            match step {
                Step::Return(r) => return r,
                Step::Lead => lead_sync(&self.shared),
                Step::Park { wait_ms } => std::thread::park_timeout(wait_duration(wait_ms)),
            }
            st = self.lock();
        }
    }

    /// What a durability waiter does next, decided under the lock.
    fn wait_step(&self, st: &State, last: u64, accepted_at: Option<u64>) -> Step {
        let Some(log) = st.log.as_ref() else {
            return Step::Return(Err(Error::Closed));
        };
        if let Some(from) = accepted_at.and_then(|epoch| log.truncated_since(epoch, last)) {
            return Step::Return(Err(Error::Truncated { index: last, from }));
        }
        if log.durable_index() >= last {
            return Step::Return(Ok(()));
        }
        if let Err(poisoned) = log.check_writable() {
            return Step::Return(Err(poisoned));
        }
        let now = self.shared.clock.now_ms();
        if !st.syncing && log.sync_due(now) {
            return Step::Lead;
        }
        let wait_ms = log
            .next_deadline_ms()
            .map_or(50, |d| d.saturating_sub(now).clamp(1, 50));
        Step::Park { wait_ms }
    }

    /// Appends and returns at once; `callback` runs (on the syncing thread) with the last
    /// index once the entries are durable, or with the error that poisoned the store.
    pub fn append_with_callback(
        &self,
        entries: &[Entry],
        callback: impl FnOnce(Result<u64>) + Send + 'static,
    ) -> Result<()> {
        let last = self.append_accept(entries, Leader::Flusher)?.last;
        let mut st = self.lock();
        let log = st.log.as_ref().ok_or(Error::Closed)?;
        if log.durable_index() >= last {
            drop(st);
            callback(Ok(last));
            return Ok(());
        }
        st.callbacks.push((last, CallbackBox(Box::new(callback))));
        Ok(())
    }

    /// Accepts entries. Never syncs on the caller's thread. It wakes the flusher when the
    /// append changed what the flusher must do (the first entry owed, or a sync now due),
    /// except for a blocking DiskFirst [`Store::append`] (`Leader::Caller`): that caller leads
    /// the sync itself from its wait, and waking a second thread to race it for the same
    /// fsync would only add a context switch to the latency of every append.
    fn append_accept(&self, entries: &[Entry], leader: Leader) -> Result<Accepted> {
        let mut st = self.lock();
        loop {
            let flusher_sleeping = st.flusher_sleeping;
            let log = st.log.as_mut().ok_or(Error::Closed)?;
            let was_idle = log.is_fully_durable();
            match log.append_nosync(entries) {
                Ok(()) => {
                    let strategy = log.config().strategy;
                    let accepted = Accepted {
                        last: log.last_index(),
                        epoch: log.truncation_epoch(),
                        strategy,
                    };
                    let caller_leads = leader == Leader::Caller && strategy == Strategy::DiskFirst;
                    let wake =
                        !caller_leads && flusher_sleeping && (was_idle || log.sync_due_by_count());
                    drop(st);
                    if wake {
                        self.shared.work.notify_one();
                    }
                    return Ok(accepted);
                }
                Err(Error::Backpressure { .. }) => {
                    self.shared.work.notify_one();
                    st = wait_changed(&self.shared, st);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Blocks until `durable_index() >= index`, leading syncs when due.
    pub fn wait_durable(&self, index: u64) -> Result<()> {
        self.wait_until_durable(index, None)
    }

    /// Makes everything accepted so far durable (entries, truncations, purges), then
    /// returns; an error if the sync failed. Waiting on the durable index alone is not
    /// enough: a MemFirst truncation or purge is owed to disk while the index already
    /// covers the last entry.
    pub fn flush(&self) -> Result<()> {
        let mut st = self.lock();
        loop {
            let log = st.log.as_ref().ok_or(Error::Closed)?;
            log.check_writable()?;
            if log.is_fully_durable() {
                return Ok(());
            }
            if st.syncing {
                st = wait_changed(&self.shared, st);
            } else {
                drop(st);
                lead_sync(&self.shared);
                st = self.lock();
            }
        }
    }

    pub fn durable_index(&self) -> Result<u64> {
        self.with_log(|log| Ok(log.durable_index()))
    }
    pub fn entry(&self, index: u64) -> Result<Option<Entry>> {
        self.with_log(|log| log.entry(index))
    }
    pub fn entries(
        &self,
        from: u64,
        to_exclusive: u64,
        count_max: usize,
        bytes_max: u64,
    ) -> Result<Vec<Entry>> {
        self.with_log(|log| log.entries(from, to_exclusive, count_max, bytes_max))
    }
    pub fn first_index(&self) -> Result<u64> {
        self.with_log(|log| Ok(log.first_index()))
    }
    pub fn last_index(&self) -> Result<u64> {
        self.with_log(|log| Ok(log.last_index()))
    }
    pub fn last_log_id(&self) -> Result<Option<LogId>> {
        self.with_log(|log| Ok(log.last_log_id()))
    }
    pub fn last_purged(&self) -> Result<Option<LogId>> {
        self.with_log(|log| Ok(log.last_purged()))
    }
    pub fn hard_state(&self) -> Result<HardState> {
        self.with_log(|log| Ok(log.hard_state()))
    }
    /// Durable before it returns, under every strategy.
    pub fn save_hard_state(&self, hs: HardState) -> Result<()> {
        self.with_log(|log| log.save_hard_state(hs))
    }
    /// Removes entries `from..`. Callbacks still waiting for entries at or past `from` get
    /// [`Error::Truncated`]: their entries will never be durable, and replacements at the same
    /// indexes must not acknowledge them.
    pub fn truncate(&self, from: u64) -> Result<()> {
        self.wait_idle(|log| log.truncate(from))?;
        let orphans: Vec<(u64, CallbackBox)> = {
            let mut st = self.lock();
            let (orphans, keep) = std::mem::take(&mut st.callbacks)
                .into_iter()
                .partition(|(i, _)| *i >= from);
            st.callbacks = keep;
            orphans
        };
        for (index, cb) in orphans {
            (cb.0)(Err(Error::Truncated { index, from }));
        }
        Ok(())
    }
    pub fn purge(&self, upto: LogId) -> Result<()> {
        self.wait_idle(|log| log.purge(upto))
    }

    /// Runs `f` once no sync is in flight, so a truncation or purge never races the files
    /// a leader is fsyncing.
    fn wait_idle<T>(&self, f: impl FnOnce(&mut Log) -> Result<T>) -> Result<T> {
        let mut st = self.lock();
        while st.syncing {
            st = wait_changed(&self.shared, st);
        }
        let log = st.log.as_mut().ok_or(Error::Closed)?;
        let r = f(log);
        let woken = take_waiters(&mut st, Wake::All);
        let watched = st.changed_waiters > 0;
        drop(st);
        unpark(woken);
        notify_changed(&self.shared, watched);
        r
    }

    /// Flushes, stops the flusher and closes the log.
    pub fn close(mut self) -> Result<()> {
        let flushed = self.flush();
        let log = self.shutdown();
        match log {
            Some(log) if flushed.is_ok() => log.close(),
            _ => flushed,
        }
    }

    fn shutdown(&mut self) -> Option<Log> {
        let log = {
            let mut st = self.lock();
            st.shutdown = true;
            let log = st.log.take();
            let woken = take_waiters(&mut st, Wake::All);
            drop(st);
            unpark(woken);
            log
        };
        self.shared.work.notify_all();
        self.shared.changed.notify_all();
        if let Some(h) = self.flusher.take() {
            let _ = h.join();
        }
        log
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A durability waiter's next step.
enum Step {
    Return(Result<()>),
    Lead,
    Park { wait_ms: u64 },
}

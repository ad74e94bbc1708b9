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
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::canary::Canary;
use crate::clock::Clock;
use crate::config::{Config, Strategy};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::group_commit::{GroupCommit, LogView, WaitStep, WakeupCounts};
use crate::log::Log;
use crate::sched::{self, Condvar, JoinHandle, Mutex, MutexGuard, Thread};
use crate::std_fs::StdFs;
use crate::system_clock::SystemClock;
use crate::types::{Entry, HardState, LogId};

mod sync;
use sync::{flusher_loop, lead_sync, notify_changed, run_release, unpark, wait_changed};

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
    /// The group-commit decisions (`group_commit.rs`): the leader, the parked waiters keyed
    /// by index, the relay of wake-ups, the callbacks, the poison of a lost sync.
    gc: GroupCommit<Thread, CallbackBox>,
    shutdown: bool,
    /// The last index the sync in flight makes durable (the `WaiterEarlyRelease` canary).
    in_flight_upto: Option<u64>,
    /// Threads waiting on `Shared::changed`; a notify with none is a wasted syscall.
    changed_waiters: usize,
    /// The flusher is waiting on `Shared::work`. When it is not, it looks at the log again
    /// before it next waits, so a kick would be a wasted syscall.
    flusher_sleeping: bool,
    /// An append left the flusher work it must be kicked for, and no kick has answered it
    /// since the flusher last looked (see [`Wakeups::flusher_late`]).
    kick_owed: bool,
    /// Changes that `changed` waiters must look at (the end of a sync or of a pipelined
    /// round, a truncation, purge or archive), counted; and the last of them that notified
    /// nobody (see [`Wakeups::changed_late`]).
    changed_events: u64,
    changed_silent: u64,
}

impl State {
    /// What the group-commit core sees of the log at `now_ms`; `None` once closed.
    fn view(&self, now_ms: u64) -> Option<LogView<'_>> {
        self.log.as_ref().map(|log| log_view(log, now_ms))
    }

    /// A change `changed` waiters must look at, which notifies them if `notifies`.
    fn changed_event(&mut self, notifies: bool) {
        self.changed_events += 1;
        if !notifies {
            self.changed_silent = self.changed_events;
        }
    }
}

/// The group-commit core's view of `log` at `now_ms`.
pub(crate) fn log_view(log: &Log, now_ms: u64) -> LogView<'_> {
    LogView {
        durable: log.durable_index(),
        fully_durable: log.is_fully_durable(),
        poison: log.poisoned(),
        sync_due: log.sync_due(now_ms),
        due_by_count: log.sync_due_by_count(),
        next_deadline_ms: log.next_deadline_ms(),
        now_ms,
    }
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
    /// The group-commit core's wake-up counts (see [`Wakeups`]); this front adds `woken`.
    wakeups: Arc<WakeupCounts>,
}

/// How the threads of a [`Store`] that wait were woken, counted since it opened: the parked
/// durability waiters, the flusher, and the threads waiting for a change (backpressure, a
/// sync in flight, a truncation or flush waiting for the sync to end).
///
/// The contract: a waiter is woken by the sync (or truncation, purge, close) that ended its
/// wait, directly or through the relay, never left to find out when its park times out. So
/// once every waiter has returned, `parked == released + expired`, `woken == released` and
/// `late == 0`. Likewise the flusher is kicked for the work an append leaves it, and every
/// change wakes the threads waiting for one: `flusher_late == 0` and `changed_late == 0`.
/// The simulator checks all five after every store incarnation. A late wake-up costs only
/// latency (every wait ends in the end), so no acknowledgement shows it: only these do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wakeups {
    /// Parks: a waiter entered the parked set.
    pub parked: u64,
    /// Waiters taken out of the parked set to be woken.
    pub released: u64,
    /// Waiters that looked while still parked (their park timed out, or a spurious wake-up)
    /// and left the parked set themselves.
    pub expired: u64,
    /// Wake-ups delivered to them (`unpark` calls, at once or through the relay).
    pub woken: u64,
    /// Waiters that looked while still parked and found their wait already over: released
    /// by a timeout (or a spurious wake-up) instead of by what ended their wait.
    pub late: u64,
    /// Flusher wake-ups that came late: an append left the flusher work to sync while it
    /// slept (a callback's or a MemFirst append's entries, which nobody else syncs, that made
    /// the log owe its first entry or made a sync due by count) and no kick answered it, so
    /// the flusher woke by its timeout (up to 100 ms later) and found a sync due.
    ///
    /// What the append owed is noted under the lock from what it saw, and a kick answers it
    /// in the same critical section, so the race of a timeout that fires just before a kick
    /// (the flusher then finds the kick's work) does not count. Neither does a blocking
    /// DiskFirst append's work (its caller leads the sync), nor work the flusher finds when
    /// it wakes at a deadline it planned (the policy's interval) or because it was awake.
    pub flusher_late: u64,
    /// Wake-ups of threads waiting for a change (`append` under backpressure or behind a
    /// sync in flight, `flush`, `truncate`, `purge`) that slept through a change that
    /// notified nobody although they were waiting: the end of a sync or of a pipelined
    /// round, a truncation, a purge. A later change woke them, so the wait was only longer.
    pub changed_late: u64,
}

/// A thread-safe store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle>,
}

impl Store {
    /// Opens the store in `dir` on the real filesystem and clock.
    pub fn open(dir: impl AsRef<Path>, cfg: Config) -> Result<Store> {
        Store::open_with(Arc::new(StdFs), Arc::new(SystemClock::new()), dir, cfg)
    }

    /// Opens the store in `dir` on `fs` and `clock` (the simulator's, or a test double), and
    /// starts its flusher thread.
    pub fn open_with(
        fs: Arc<dyn Fs>,
        clock: Arc<dyn Clock>,
        dir: impl AsRef<Path>,
        cfg: Config,
    ) -> Result<Store> {
        let canaries = cfg.canaries;
        let log = Log::open(fs.clone(), clock.clone(), dir, cfg)?;
        let gc = GroupCommit::new(canaries);
        let wakeups = gc.counts();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                log: Some(log),
                gc,
                shutdown: false,
                in_flight_upto: None,
                changed_waiters: 0,
                flusher_sleeping: false,
                kick_owed: false,
                changed_events: 0,
                changed_silent: 0,
            }),
            changed: Condvar::new(),
            work: Condvar::new(),
            fs,
            clock,
            wakeups,
        });
        let flusher_shared = shared.clone();
        let flusher = sched::spawn("logbook-flusher", move || flusher_loop(&flusher_shared))
            .map_err(|e| Error::io("spawn flusher", "", e))?;
        Ok(Store {
            shared,
            flusher: Some(flusher),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock()
    }

    /// What the log did since the store was opened (syncs, cache hits, paced syncs).
    pub fn stats(&self) -> Result<crate::LogStats> {
        self.with_log(|log| Ok(log.stats()))
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
        let key = st.gc.new_waiter(last);
        loop {
            let now = self.shared.clock.now_ms();
            let (step, relay) = {
                let st = &mut *st;
                let Some(log) = st.log.as_ref() else {
                    return Err(Error::Closed);
                };
                let truncated = accepted_at.and_then(|epoch| log.truncated_since(epoch, last));
                if truncated.is_none() && st.gc.early_release(last, st.in_flight_upto) {
                    return Ok(());
                }
                st.gc.wait_step(key, truncated, &log_view(log, now))
            };
            if let WaitStep::Park { .. } = step {
                // Registered under the lock, so an unpark cannot slip in before we park (and
                // an unpark that comes first makes the park return at once).
                st.gc.park(key, sched::current());
            }
            drop(st);
            unpark(&self.shared, relay);
            match step {
                WaitStep::Return(r) => return r,
                WaitStep::Lead => lead_sync(&self.shared),
                WaitStep::Park { deadline_ms } => {
                    sched::park_until(&*self.shared.clock, deadline_ms)
                }
            }
            st = self.lock();
        }
    }

    /// Appends and returns at once; `callback` runs (on the syncing thread) with the last
    /// index once the entries are durable, or with the error that poisoned or closed the
    /// store, or [`Error::Truncated`] if a truncation removed them first.
    pub fn append_with_callback(
        &self,
        entries: &[Entry],
        callback: impl FnOnce(Result<u64>) + Send + 'static,
    ) -> Result<()> {
        let last = self.append_accept(entries, Leader::Flusher)?.last;
        let mut guard = self.lock();
        let now = self.shared.clock.now_ms();
        let st = &mut *guard;
        let log = st.log.as_ref().ok_or(Error::Closed)?;
        let run_now =
            st.gc
                .add_callback(last, CallbackBox(Box::new(callback)), &log_view(log, now));
        drop(guard);
        // Never under the lock: a callback may call the store.
        if let Some((cb, result)) = run_now {
            (cb.0)(result);
        }
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
            let st_ref = &mut *st;
            let log = st_ref.log.as_mut().ok_or(Error::Closed)?;
            st_ref.gc.check_writable_with(log.poisoned())?;
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
                    let due_by_count = log.sync_due_by_count();
                    let wake = !caller_leads && flusher_sleeping && (was_idle || due_by_count);
                    let canaries = log.config().canaries;
                    let wake = wake && !canaries.on(Canary::MissedFlusherKick);
                    // The same contract from the flusher's side, for `Wakeups::flusher_late`:
                    // nobody but the flusher syncs a callback's or a MemFirst append's entries.
                    let for_flusher = leader == Leader::Flusher || strategy == Strategy::MemFirst;
                    st.kick_owed |= for_flusher && (was_idle || due_by_count);
                    st.kick_owed &= !wake;
                    drop(st);
                    if wake {
                        self.shared.work.notify_one();
                    }
                    return Ok(accepted);
                }
                Err(Error::Backpressure { .. }) => {
                    st.kick_owed = false;
                    self.shared.work.notify_one();
                    st = wait_changed(&self.shared, st);
                }
                // The append would seal the segment a sync in flight is fsyncing: wait for
                // that sync's verdict (it notifies `changed`), then try again.
                Err(Error::SyncInFlight) => st = wait_changed(&self.shared, st),
                Err(e) => return Err(e),
            }
        }
    }

    /// Blocks until `durable_index() >= index`, leading syncs when due.
    pub fn wait_durable(&self, index: u64) -> Result<()> {
        self.wait_until_durable(index, None)
    }

    /// Makes everything accepted so far durable (entries, truncations, purges), then
    /// returns; an error if the sync failed (or was lost). Waiting on the durable index alone
    /// is not enough: a MemFirst truncation or purge is owed to disk while the index already
    /// covers the last entry.
    pub fn flush(&self) -> Result<()> {
        let mut st = self.lock();
        loop {
            let st_ref = &*st;
            let log = st_ref.log.as_ref().ok_or(Error::Closed)?;
            st_ref.gc.check_writable_with(log.poisoned())?;
            if log.is_fully_durable() {
                return Ok(());
            }
            if st_ref.gc.syncing() {
                st = wait_changed(&self.shared, st);
            } else {
                drop(st);
                lead_sync(&self.shared);
                st = self.lock();
            }
        }
    }

    /// How parked waiters were woken so far (see [`Wakeups`]); read without the lock. The
    /// counts are only meaningful once no thread is waiting.
    pub fn wakeups(&self) -> Wakeups {
        let c = &self.shared.wakeups;
        Wakeups {
            parked: c.parked.load(Ordering::SeqCst),
            released: c.released.load(Ordering::SeqCst),
            expired: c.expired.load(Ordering::SeqCst),
            woken: c.woken.load(Ordering::SeqCst),
            late: c.late.load(Ordering::SeqCst),
            flusher_late: c.flusher_late.load(Ordering::SeqCst),
            changed_late: c.changed_late.load(Ordering::SeqCst),
        }
    }

    /// The highest index known durable (see [`Log::durable_index`]).
    pub fn durable_index(&self) -> Result<u64> {
        self.with_log(|log| Ok(log.durable_index()))
    }
    /// The entry at `index`, if the log holds it (see [`Log::entry`]).
    pub fn entry(&self, index: u64) -> Result<Option<Entry>> {
        self.with_log(|log| log.entry(index))
    }
    /// Entries from `from`, bounded as [`Log::entries`] says.
    pub fn entries(
        &self,
        from: u64,
        to_exclusive: u64,
        count_max: usize,
        bytes_max: u64,
    ) -> Result<Vec<Entry>> {
        self.with_log(|log| log.entries(from, to_exclusive, count_max, bytes_max))
    }
    /// See [`Log::first_index`].
    pub fn first_index(&self) -> Result<u64> {
        self.with_log(|log| Ok(log.first_index()))
    }
    /// See [`Log::last_index`].
    pub fn last_index(&self) -> Result<u64> {
        self.with_log(|log| Ok(log.last_index()))
    }
    /// See [`Log::last_log_id`].
    pub fn last_log_id(&self) -> Result<Option<LogId>> {
        self.with_log(|log| Ok(log.last_log_id()))
    }
    /// See [`Log::last_purged`].
    pub fn last_purged(&self) -> Result<Option<LogId>> {
        self.with_log(|log| Ok(log.last_purged()))
    }
    /// The hard state last saved.
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
        self.wait_idle(|log| log.truncate(from), Some(from))
    }
    /// Purges entries up to `upto` (see [`Log::purge`]).
    pub fn purge(&self, upto: LogId) -> Result<()> {
        self.wait_idle(|log| log.purge(upto), None)
    }

    /// Moves sealed segments to the archive tier (see [`Log::archive_upto`]), once no sync
    /// is in flight. The lock is held through the archive's puts: call it from a
    /// background task, at a quiet moment.
    pub fn archive_upto(&self, index: u64) -> Result<crate::archive::ArchiveReport> {
        self.wait_idle(|log| log.archive_upto(index), None)
    }

    /// Runs `f` once no sync is in flight, so a truncation or purge never races the files
    /// a leader is fsyncing; then every waiter looks again (and, after a truncation from
    /// `truncated_from`, the callbacks it orphaned get [`Error::Truncated`]).
    fn wait_idle<T>(
        &self,
        f: impl FnOnce(&mut Log) -> Result<T>,
        truncated_from: Option<u64>,
    ) -> Result<T> {
        let mut st = self.lock();
        while st.gc.syncing() {
            st = wait_changed(&self.shared, st);
        }
        let now = self.shared.clock.now_ms();
        let st_ref = &mut *st;
        let log = st_ref.log.as_mut().ok_or(Error::Closed)?;
        let r = f(log);
        let view = log_view(log, now);
        let release = match (truncated_from, &r) {
            (Some(from), Ok(_)) => st_ref.gc.truncated(from, &view),
            _ => st_ref.gc.wake_all(&view),
        };
        let watched = st.changed_waiters > 0;
        st.changed_event(watched);
        drop(st);
        run_release(&self.shared, release);
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
            let release = st.gc.closed();
            drop(st);
            run_release(&self.shared, release);
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

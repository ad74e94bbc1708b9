//! [`AsyncStore`]: the async front for Raft nodes on tokio (feature `async`).
//!
//! It is written against madsim's re-exports (`madsim::task`, `madsim::time`) and tokio's
//! runtime-agnostic `sync` primitives, so a normal build runs on tokio and a `--cfg madsim`
//! build runs on madsim's seeded, deterministic scheduler. The engine underneath still does
//! all I/O through [`Fs`] and reads time through [`Clock`].
//!
//! - Many tasks append and read concurrently. An append is accepted under the lock (it is
//!   then visible to reads, as the log model says), and a background flusher task syncs per
//!   the flush policy; appends accepted while a sync runs share the next one (group commit).
//!   The fsync itself runs in `spawn_blocking`, outside the lock.
//! - DiskFirst `append` resolves once its entries are durable; MemFirst once accepted.
//!   Any task can `wait_durable(index)`; [`AsyncStore::durable`] is a watch of the durable
//!   index, for a Raft node that counts an entry towards commit only once durable.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex, Notify};

use crate::canary::Canary;
use crate::clock::Clock;
use crate::config::{Config, Strategy};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::group_commit::{FlusherStep, GroupCommit};
use crate::log::Log;
use crate::store::log_view;
use crate::types::{Entry, HardState, LogId};

/// What the flusher last published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durability {
    pub index: u64,
    /// Truncations so far: a change wakes appenders whose entries may have been cut.
    pub truncations: u64,
    /// Set once a write-path failure poisoned the store.
    pub poisoned: Option<crate::error::Poison>,
    pub closed: bool,
}

#[derive(Debug)]
struct State {
    log: Option<Log>,
    /// The group-commit decisions shared with `Store` (`group_commit.rs`): who leads, the
    /// poison of a lost sync. Waiters here watch `Shared::durable` instead of parking.
    gc: GroupCommit<(), ()>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    durable: watch::Sender<Durability>,
    /// Wakes the flusher: new work, or shutdown.
    kick: Notify,
    /// Wakes truncate/purge waiting for a sync to finish.
    idle: Notify,
    fs: Arc<dyn Fs>,
    clock: Arc<dyn Clock>,
    strategy: Strategy,
    /// The `StaleReadAfterTruncate` canary's never-invalidated read cache.
    stale: std::sync::Mutex<Option<HashMap<u64, Entry>>>,
}

/// An async, clonable handle on one store.
#[derive(Debug, Clone)]
pub struct AsyncStore {
    shared: Arc<Shared>,
}

impl AsyncStore {
    /// Opens the store and spawns its flusher task on the current runtime.
    pub async fn open(
        fs: Arc<dyn Fs>,
        clock: Arc<dyn Clock>,
        dir: impl AsRef<Path>,
        cfg: Config,
    ) -> Result<AsyncStore> {
        let strategy = cfg.strategy;
        let canaries = cfg.canaries;
        let stale = cfg
            .canaries
            .on(Canary::StaleReadAfterTruncate)
            .then(HashMap::new);
        let log = Log::open(fs.clone(), clock.clone(), dir, cfg)?;
        let (durable, _) = watch::channel(Durability {
            index: log.durable_index(),
            truncations: 0,
            poisoned: None,
            closed: false,
        });
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                log: Some(log),
                gc: GroupCommit::new(canaries),
            }),
            durable,
            kick: Notify::new(),
            idle: Notify::new(),
            fs,
            clock,
            strategy,
            stale: std::sync::Mutex::new(stale),
        });
        let flusher = shared.clone();
        madsim::task::spawn(async move { flusher_loop(&flusher).await });
        Ok(AsyncStore { shared })
    }

    async fn with_state<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut st = self.shared.state.lock().await;
        f(&mut st)
    }

    async fn with_log<T>(&self, f: impl FnOnce(&mut Log) -> Result<T>) -> Result<T> {
        let mut st = self.shared.state.lock().await;
        f(st.log.as_mut().ok_or(Error::Closed)?)
    }

    /// Appends; DiskFirst resolves once the entries are durable, MemFirst once accepted.
    /// Returns the last index. If another task truncates these entries before they are
    /// durable, a DiskFirst append fails with [`Error::Truncated`].
    pub async fn append(&self, entries: &[Entry]) -> Result<u64> {
        let (last, epoch) = self.accept(entries).await?;
        if self.shared.strategy == Strategy::DiskFirst {
            self.wait_until_durable(last, Some(epoch)).await?;
        }
        Ok(last)
    }

    /// Accepts entries (visible to reads from now on) without waiting for durability.
    pub async fn append_accept(&self, entries: &[Entry]) -> Result<u64> {
        Ok(self.accept(entries).await?.0)
    }

    /// Accepts entries; wakes the flusher only when the append changed its work (the first
    /// entry owed, or a sync now due), or to make room under backpressure.
    async fn accept(&self, entries: &[Entry]) -> Result<(u64, u64)> {
        let clock = self.shared.clock.clone();
        loop {
            let r = self
                .with_state(|st| {
                    let log = st.log.as_mut().ok_or(Error::Closed)?;
                    st.gc.check_writable_with(log.poisoned())?;
                    let was_idle = log.is_fully_durable();
                    log.append_nosync(entries).map(|()| {
                        let wake = was_idle || log.sync_due(clock.now_ms());
                        (log.last_index(), log.truncation_epoch(), wake)
                    })
                })
                .await;
            match r {
                Ok((last, epoch, wake)) => {
                    if wake {
                        self.shared.kick.notify_one();
                    }
                    return Ok((last, epoch));
                }
                Err(Error::Backpressure { .. }) => {
                    self.shared.kick.notify_one();
                    self.wait_change().await?
                }
                // The append would seal the segment a sync in flight is fsyncing.
                Err(Error::SyncInFlight) => self.wait_change().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Resolves once `durable_index() >= last`. With `accepted_at` (the truncation epoch at
    /// which the caller's entries up to `last` were accepted), fails with
    /// [`Error::Truncated`] once a truncation removes them.
    async fn wait_until_durable(&self, last: u64, accepted_at: Option<u64>) -> Result<()> {
        let mut rx = self.shared.durable.subscribe();
        loop {
            let truncations = rx.borrow_and_update().truncations;
            if let Some(epoch) = accepted_at.filter(|e| truncations > *e) {
                let cut = self
                    .with_log(|log| Ok(log.truncated_since(epoch, last)))
                    .await?;
                if let Some(from) = cut {
                    return Err(Error::Truncated { index: last, from });
                }
            }
            {
                let d = rx.borrow();
                if d.index >= last {
                    return Ok(());
                }
                if let Some(cause) = &d.poisoned {
                    return Err(Error::Poisoned {
                        cause: cause.clone(),
                    });
                }
                if d.closed {
                    return Err(Error::Closed);
                }
            }
            self.shared.kick.notify_one();
            if rx.changed().await.is_err() {
                return Err(Error::Closed);
            }
        }
    }

    /// Resolves once `durable_index() >= index`.
    pub async fn wait_durable(&self, index: u64) -> Result<()> {
        self.wait_until_durable(index, None).await
    }

    async fn wait_change(&self) -> Result<()> {
        let mut rx = self.shared.durable.subscribe();
        rx.changed().await.map_err(|_| Error::Closed)
    }

    /// The durable index as last published.
    pub fn durable_index(&self) -> u64 {
        self.shared.durable.borrow().index
    }

    /// A watch of the durable index.
    pub fn durable(&self) -> watch::Receiver<Durability> {
        self.shared.durable.subscribe()
    }

    /// The entry at `index`, or `None` outside `first_index()..=last_index()`.
    pub async fn entry(&self, index: u64) -> Result<Option<Entry>> {
        if let Some(cache) = self.shared.stale.lock().expect("stale").as_ref() {
            if let Some(e) = cache.get(&index) {
                return Ok(Some(e.clone()));
            }
        }
        let e = self.with_log(|log| log.entry(index)).await?;
        if let (Some(cache), Some(e)) = (self.shared.stale.lock().expect("stale").as_mut(), &e) {
            cache.insert(index, e.clone());
        }
        Ok(e)
    }

    /// Entries `from..to_exclusive`, stopping after `count_max` entries or once
    /// `bytes_max` payload bytes are reached (at least one when any exists).
    pub async fn entries(
        &self,
        from: u64,
        to_exclusive: u64,
        count_max: usize,
        bytes_max: u64,
    ) -> Result<Vec<Entry>> {
        self.with_log(|log| log.entries(from, to_exclusive, count_max, bytes_max))
            .await
    }

    /// The first index held (the purge boundary plus one).
    pub async fn first_index(&self) -> Result<u64> {
        self.with_log(|log| Ok(log.first_index())).await
    }
    /// The last index accepted (durable or not).
    pub async fn last_index(&self) -> Result<u64> {
        self.with_log(|log| Ok(log.last_index())).await
    }
    /// The id of the last entry, else of the purge boundary, else `None`.
    pub async fn last_log_id(&self) -> Result<Option<LogId>> {
        self.with_log(|log| Ok(log.last_log_id())).await
    }
    /// The purge boundary, if any.
    pub async fn last_purged(&self) -> Result<Option<LogId>> {
        self.with_log(|log| Ok(log.last_purged())).await
    }
    /// The hard state last saved.
    pub async fn hard_state(&self) -> Result<HardState> {
        self.with_log(|log| Ok(log.hard_state())).await
    }
    /// Durable before it resolves, under every strategy.
    pub async fn save_hard_state(&self, hs: HardState) -> Result<()> {
        self.with_log(|log| log.save_hard_state(hs)).await
    }
    /// Removes the entries from `from` on, once no sync is in flight; waiters on them get
    /// [`Error::Truncated`](crate::Error::Truncated).
    pub async fn truncate(&self, from: u64) -> Result<()> {
        self.when_idle(|log| log.truncate(from)).await
    }
    /// Drops the entries up to `upto` (after a snapshot), once no sync is in flight.
    pub async fn purge(&self, upto: LogId) -> Result<()> {
        self.when_idle(|log| log.purge(upto)).await
    }

    /// Makes everything accepted so far durable (entries, truncations, purges), or fails.
    /// Waiting on the durable index alone is not enough: a MemFirst truncation or purge is
    /// owed to disk while the index already covers the last entry.
    pub async fn flush(&self) -> Result<()> {
        loop {
            let idle = self.shared.idle.notified();
            {
                let st = self.shared.state.lock().await;
                let log = st.log.as_ref().ok_or(Error::Closed)?;
                st.gc.check_writable_with(log.poisoned())?;
                if log.is_fully_durable() {
                    return Ok(());
                }
                if !st.gc.syncing() {
                    drop(st);
                    lead_sync(&self.shared).await;
                    continue;
                }
            }
            idle.await;
        }
    }

    /// Runs `f` once no sync is in flight, so a truncation or purge never races the files a
    /// sync is fsyncing.
    async fn when_idle<T>(&self, f: impl FnOnce(&mut Log) -> Result<T>) -> Result<T> {
        loop {
            let idle = self.shared.idle.notified();
            {
                let mut st = self.shared.state.lock().await;
                if !st.gc.syncing() {
                    let r = f(st.log.as_mut().ok_or(Error::Closed)?);
                    drop(st);
                    self.publish().await;
                    return r;
                }
            }
            idle.await;
        }
    }

    async fn publish(&self) {
        publish(&self.shared, &*self.shared.state.lock().await);
    }

    /// Flushes what is owed, stops the flusher and closes the log.
    pub async fn close(&self) -> Result<()> {
        let flushed = self.flush().await;
        let log = loop {
            let idle = self.shared.idle.notified();
            let mut st = self.shared.state.lock().await;
            if !st.gc.syncing() {
                let _ = st.gc.closed();
                break st.log.take();
            }
            drop(st);
            idle.await;
        };
        self.shared.durable.send_modify(|d| d.closed = true);
        self.shared.kick.notify_one();
        match log {
            Some(log) if flushed.is_ok() => log.close(),
            _ => flushed,
        }
    }
}

fn publish(shared: &Shared, st: &State) {
    if let Some(log) = &st.log {
        let d = Durability {
            index: log.durable_index(),
            truncations: log.truncation_epoch(),
            poisoned: st.gc.poison_cause(log.poisoned()),
            closed: false,
        };
        shared.durable.send_if_modified(|cur| {
            let changed = *cur != d;
            *cur = d;
            changed
        });
    }
}

async fn flusher_loop(shared: &Shared) {
    loop {
        let step = {
            let st = shared.state.lock().await;
            let Some(log) = &st.log else { return };
            if st.gc.poison_cause(log.poisoned()).is_some() {
                publish(shared, &st);
                return;
            }
            let now = shared.clock.now_ms();
            let idle = log.next_deadline_ms().is_none();
            (st.gc.flusher_step(&log_view(log, now)), now, idle)
        };
        match step {
            (FlusherStep::Lead, _, _) => lead_sync(shared).await,
            (_, _, true) => shared.kick.notified().await,
            (FlusherStep::Sleep { deadline_ms }, now, false) => {
                tokio::select! {
                    _ = madsim::time::sleep(Duration::from_millis(deadline_ms - now)) => {}
                    _ = shared.kick.notified() => {}
                }
            }
        }
    }
}

/// One group commit: prepare under the lock, fsync in `spawn_blocking`, complete under the
/// lock, publish the durable index. A sync whose task fails (it panicked, or the runtime
/// dropped it) is lost: the core poisons the store, and the publish tells every waiter, so
/// `flush`, `close` and later syncs return the poison instead of waiting forever.
async fn lead_sync(shared: &Shared) {
    let prepared = {
        let mut guard = shared.state.lock().await;
        let st = &mut *guard;
        let Some(log) = st.log.as_mut() else { return };
        let now = shared.clock.now_ms();
        if !st.gc.try_lead(&log_view(log, now)) {
            return;
        }
        match log.prepare_sync() {
            Ok(Some(p)) => p,
            Ok(None) | Err(_) => {
                let _ = st.gc.nothing_to_sync(&log_view(log, now));
                publish(shared, st);
                drop(guard);
                shared.idle.notify_waiters();
                return;
            }
        }
    };
    let fs = shared.fs.clone();
    let done = madsim::task::spawn_blocking(move || {
        let mut prepared = prepared;
        let r = prepared.run(&*fs);
        (prepared, r)
    })
    .await;
    let mut guard = shared.state.lock().await;
    let st = &mut *guard;
    let now = shared.clock.now_ms();
    match (st.log.as_mut(), done) {
        (Some(log), Ok((prepared, result))) => {
            let _ = log.complete_sync(prepared, result);
            let _ = st.gc.sync_done(&log_view(log, now));
        }
        (Some(log), Err(_)) => {
            let cause = "the sync task failed (it panicked or was cancelled)";
            let _ = st.gc.sync_lost(cause, &log_view(log, now));
        }
        (None, _) => {
            let _ = st
                .gc
                .sync_lost("the store closed during the sync", &Default::default());
        }
    }
    publish(shared, st);
    drop(guard);
    shared.idle.notify_waiters();
}

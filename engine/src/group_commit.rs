//! The group-commit decisions of both fronts, as a state machine with no I/O, no threads and
//! no clock reads: [`crate::Store`] and [`crate::AsyncStore`] feed it events (a waiter
//! arrives, a sync starts, a sync finished `Ok`/`Err`, a sync was lost to a panic, a
//! truncation, a close) together with a [`LogView`] they read under their lock, and carry out
//! what it returns (whom to wake, which callbacks to run with what result, whether to start
//! the next sync at once, when the flusher looks again). The fronts keep only their parking,
//! threads or tasks.
//!
//! Invariants (checked with `debug_assert!`):
//! - a waiter is released (returns `Ok`) only when the view's durable index covers it;
//! - a callback gets `Ok(index)` only when the durable index covers `index`;
//! - once a sync is lost (it panicked or its task died) the core is poisoned for good: every
//!   waiter and callback is released with [`Error::Poisoned`] and no sync is led again, so
//!   nothing waits on a sync that will never finish.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::canary::{Canary, CanarySet};
use crate::error::{Error, Poison, Result};

/// Consecutive fsyncs one leader may run before handing leadership on.
pub(crate) const LEAD_ROUNDS_MAX: u32 = 4;

/// How many parked waiters a woken waiter wakes in turn (the relay tree's fan-out).
pub(crate) const RELAY_FANOUT: usize = 2;

/// The longest a parked durability waiter sleeps before it looks again, in ms.
pub(crate) const WAITER_PARK_MAX_MS: u64 = 50;

/// The longest the flusher sleeps before it looks again, in ms.
pub(crate) const FLUSHER_SLEEP_MAX_MS: u64 = 100;

/// What a front read from its `Log` under its lock: the core's only view of the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LogView<'a> {
    /// `Log::durable_index`.
    pub durable: u64,
    /// `Log::is_fully_durable`.
    pub fully_durable: bool,
    /// `Log::poisoned`.
    pub poison: Option<&'a Poison>,
    /// `Log::sync_due` now.
    pub sync_due: bool,
    /// `Log::sync_due_by_count`.
    pub due_by_count: bool,
    /// `Log::next_deadline_ms`.
    pub next_deadline_ms: Option<u64>,
    /// The clock when the view was taken.
    pub now_ms: u64,
}

/// A parked waiter's key: (last index it waits for, waiter id).
pub(crate) type WaiterKey = (u64, u64);

/// What a durability waiter does next.
#[derive(Debug)]
pub(crate) enum WaitStep {
    /// Return this result to the caller.
    Return(Result<()>),
    /// Lead a sync (none is in flight and one is due).
    Lead,
    /// Park (registered) until woken or until the clock reaches `deadline_ms`.
    Park { deadline_ms: u64 },
}

/// What the flusher does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FlusherStep {
    Lead,
    /// Sleep until kicked or until the clock reaches `deadline_ms`.
    Sleep {
        deadline_ms: u64,
    },
}

/// What an event released: wake `wake_now` once the lock is dropped, then run `callbacks`.
#[derive(Debug)]
pub(crate) struct Release<W, C> {
    pub wake_now: Vec<W>,
    pub callbacks: Vec<(C, Result<u64>)>,
    /// The leader goes on with the next sync at once (`syncing` stays set).
    pub lead_next: bool,
}

/// The group-commit state of one store, generic over how a front wakes a waiter (`W`, a
/// thread handle) and what it calls back (`C`).
#[derive(Debug)]
pub(crate) struct GroupCommit<W, C> {
    syncing: bool,
    /// Syncs the current leader ran back to back.
    rounds: u32,
    waiters: BTreeMap<WaiterKey, W>,
    waiter_ids: u64,
    /// Released waiters still to wake; every waiter that looks wakes `RELAY_FANOUT` more.
    relay: Vec<W>,
    callbacks: Vec<(u64, C)>,
    /// Why a sync was lost (panicked, or its task died): the store is poisoned for good.
    lost: Option<Poison>,
    /// `RelayUncovered` canary only: keys released by a wake-up rather than by the index.
    released_keys: Vec<WaiterKey>,
    /// How waiters were released and woken (shared with the front, which counts the
    /// wake-ups it delivers).
    counts: Arc<WakeupCounts>,
    canaries: CanarySet,
}

/// The wake-up accounting of one store: atomics, so a front reads them without its lock
/// (and, under a simulated schedule, without a scheduling point).
#[derive(Debug, Default)]
pub(crate) struct WakeupCounts {
    /// Parks: a waiter entered the parked set (once per park; it leaves it by a release, or
    /// by its own look, `expired`).
    pub parked: AtomicU64,
    /// Waiters taken out of the parked set to be woken (at once or through the relay).
    pub released: AtomicU64,
    /// Waiters that looked while still in the parked set (woken by their timeout, or
    /// spuriously) and took themselves out.
    pub expired: AtomicU64,
    /// Wake-ups the front delivered to them.
    pub woken: AtomicU64,
    /// Waiters that looked while still parked and found their wait over: nothing woke them,
    /// though the sync (or truncation) that ended their wait had run.
    pub late: AtomicU64,
    /// `Store` only: flusher wake-ups that found a sync due which an append owed it a kick
    /// for, and no kick came (it woke by its timeout instead).
    pub flusher_late: AtomicU64,
    /// `Store` only: wake-ups of threads waiting on `changed` that slept through a change
    /// that notified nobody, though they were waiting (a later change woke them).
    pub changed_late: AtomicU64,
}

impl WakeupCounts {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::SeqCst);
    }
}

impl<W, C> GroupCommit<W, C> {
    pub(crate) fn new(canaries: CanarySet) -> Self {
        GroupCommit {
            syncing: false,
            rounds: 0,
            waiters: BTreeMap::new(),
            waiter_ids: 0,
            relay: Vec::new(),
            callbacks: Vec::new(),
            lost: None,
            released_keys: Vec::new(),
            counts: Arc::default(),
            canaries,
        }
    }

    /// The wake-up accounting. Once every waiter returned, every park ended by a release or
    /// by the waiter's own look (`parked == released + expired`), the front has delivered
    /// exactly `released` wake-ups (the relay drains: every waiter that looks takes its
    /// share), and `late` is 0 unless a release missed a waiter whose wait it ended.
    pub(crate) fn counts(&self) -> Arc<WakeupCounts> {
        self.counts.clone()
    }

    /// Whether a sync is in flight.
    pub(crate) fn syncing(&self) -> bool {
        self.syncing
    }

    /// The poison every write gets, from a lost sync or from the log.
    pub(crate) fn poison(&self, view: &LogView<'_>) -> Option<Error> {
        let cause = self.lost.as_ref().or(view.poison)?;
        Some(Error::Poisoned {
            cause: cause.clone(),
        })
    }

    /// Why the store is poisoned, from a lost sync or from the log (`Log::poisoned`).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn poison_cause(&self, log_poison: Option<&Poison>) -> Option<Poison> {
        self.lost.as_ref().or(log_poison).cloned()
    }

    /// `Ok` unless poisoned (see [`GroupCommit::poison`]).
    pub(crate) fn check_writable(&self, view: &LogView<'_>) -> Result<()> {
        self.check_writable_with(view.poison)
    }

    /// [`GroupCommit::check_writable`] given only the log's poison (`Log::poisoned`).
    pub(crate) fn check_writable_with(&self, log_poison: Option<&Poison>) -> Result<()> {
        if self.canaries.on(Canary::WriteAfterPoison) {
            return Ok(());
        }
        match self.lost.as_ref().or(log_poison) {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// A new durability waiter for `last`; its key for [`GroupCommit::wait_step`].
    pub(crate) fn new_waiter(&mut self, last: u64) -> WaiterKey {
        self.waiter_ids += 1;
        (last, self.waiter_ids)
    }

    /// The waiter `key` looks (under the lock): it leaves the parked set, takes its share of
    /// the relay, and learns what to do. `truncated` is `Some(from)` when a truncation removed
    /// its entries. On [`WaitStep::Park`] the front parks `me` with [`GroupCommit::park`].
    pub(crate) fn wait_step(
        &mut self,
        key: WaiterKey,
        truncated: Option<u64>,
        view: &LogView<'_>,
    ) -> (WaitStep, Vec<W>) {
        let still_parked = self.waiters.remove(&key).is_some();
        let relay = self.take_relay();
        let last = key.0;
        if still_parked {
            WakeupCounts::add(&self.counts.expired, 1);
            if truncated.is_some() || view.durable >= last {
                WakeupCounts::add(&self.counts.late, 1);
            }
        }
        if let Some(from) = truncated {
            return (
                WaitStep::Return(Err(Error::Truncated { index: last, from })),
                relay,
            );
        }
        if let Some(i) = self.released_keys.iter().position(|k| *k == key) {
            // The `RelayUncovered` canary: trusts the wake-up instead of the index.
            self.released_keys.swap_remove(i);
            return (WaitStep::Return(Ok(())), relay);
        }
        if view.durable >= last {
            return (WaitStep::Return(Ok(())), relay);
        }
        if let Some(poisoned) = self.poison(view) {
            return (WaitStep::Return(Err(poisoned)), relay);
        }
        if !self.syncing && view.sync_due {
            return (WaitStep::Lead, relay);
        }
        let wait_ms = view.next_deadline_ms.map_or(WAITER_PARK_MAX_MS, |d| {
            d.saturating_sub(view.now_ms).clamp(1, WAITER_PARK_MAX_MS)
        });
        let deadline_ms = view.now_ms + wait_ms;
        (WaitStep::Park { deadline_ms }, relay)
    }

    /// Parks waiter `key` (after [`WaitStep::Park`], still under the lock).
    pub(crate) fn park(&mut self, key: WaiterKey, me: W) {
        WakeupCounts::add(&self.counts.parked, 1);
        let displaced = self.waiters.insert(key, me);
        debug_assert!(
            displaced.is_none(),
            "two parked waiters share the key {key:?}"
        );
    }

    /// The `WaiterEarlyRelease` canary: a waiter covered by the sync in flight returns as
    /// soon as that sync is prepared, before its fsyncs ran.
    pub(crate) fn early_release(&self, last: u64, in_flight_upto: Option<u64>) -> bool {
        self.canaries.on(Canary::WaiterEarlyRelease) && in_flight_upto.is_some_and(|u| u >= last)
    }

    /// Registers a callback for entries up to `last`, or hands it back with its result when
    /// it can run at once (already durable, or poisoned).
    pub(crate) fn add_callback(
        &mut self,
        last: u64,
        cb: C,
        view: &LogView<'_>,
    ) -> Option<(C, Result<u64>)> {
        if let Some(poisoned) = self.poison(view) {
            return Some((cb, Err(poisoned)));
        }
        if view.durable >= last {
            return Some((cb, Ok(last)));
        }
        self.callbacks.push((last, cb));
        None
    }

    /// Becomes the leader if no sync is in flight and the store is not poisoned. The caller
    /// then prepares the sync and reports [`GroupCommit::sync_done`],
    /// [`GroupCommit::nothing_to_sync`] or [`GroupCommit::sync_lost`].
    pub(crate) fn try_lead(&mut self, view: &LogView<'_>) -> bool {
        if self.syncing || self.check_writable(view).is_err() {
            return false;
        }
        self.syncing = true;
        self.rounds = 0;
        true
    }

    /// The leader found nothing to sync (or failed to prepare): leadership ends.
    pub(crate) fn nothing_to_sync(&mut self, view: &LogView<'_>) -> Release<W, C> {
        self.syncing = false;
        self.release(view, false)
    }

    /// A sync finished (`Log::complete_sync` ran; `view` is the log after it). Releases the
    /// waiters and callbacks it made durable, or everyone if it failed, and decides whether
    /// the leader runs the next sync at once: while waiters need a sync that is due.
    pub(crate) fn sync_done(&mut self, view: &LogView<'_>) -> Release<W, C> {
        debug_assert!(self.syncing, "a sync finished that nobody led");
        self.rounds += 1;
        let waited_for = self
            .waiters
            .keys()
            .next_back()
            .is_some_and(|k| k.0 > view.durable);
        let lead_next = self.rounds < LEAD_ROUNDS_MAX
            && waited_for
            && view.sync_due
            && self.poison(view).is_none();
        if !lead_next {
            self.syncing = false;
        }
        self.release(view, lead_next)
    }

    /// A sync was lost: it panicked, or the task running it died, so `Log::complete_sync`
    /// never ran (and a MemFirst sync's lent files are gone). Poisons the store for good and
    /// releases every waiter and callback with the poison: nothing may wait on it.
    pub(crate) fn sync_lost(&mut self, cause: &str, view: &LogView<'_>) -> Release<W, C> {
        self.lost.get_or_insert_with(|| Poison::sync_lost(cause));
        self.syncing = false;
        self.release(view, false)
    }

    /// A truncation from `from` happened (`view` is the log after it): every waiter looks
    /// again (its entries may be gone), the callbacks of entries at or past `from` get
    /// [`Error::Truncated`], and those the cut made durable run.
    pub(crate) fn truncated(&mut self, from: u64, view: &LogView<'_>) -> Release<W, C> {
        let (orphans, keep) = std::mem::take(&mut self.callbacks)
            .into_iter()
            .partition(|(i, _)| *i >= from);
        self.callbacks = keep;
        let mut release = self.wake_all(view);
        release.callbacks.extend(
            orphans
                .into_iter()
                .map(|(index, cb): (u64, C)| (cb, Err(Error::Truncated { index, from }))),
        );
        release
    }

    /// Something every waiter must look at changed (a purge, a truncation): wake them all,
    /// and run the callbacks the change made durable. A DiskFirst purge or truncation syncs
    /// and can move the durable index with no sync to follow: a callback it covered that
    /// waited for the next sync would wait forever.
    pub(crate) fn wake_all(&mut self, view: &LogView<'_>) -> Release<W, C> {
        let poison = self.lost.as_ref().or(view.poison).cloned();
        Release {
            wake_now: self.take_all(),
            callbacks: self.ready_callbacks(view, &poison),
            lead_next: false,
        }
    }

    /// The store closes: every waiter looks again (and finds it closed); every callback
    /// still waiting gets [`Error::Closed`].
    pub(crate) fn closed(&mut self) -> Release<W, C> {
        let callbacks = std::mem::take(&mut self.callbacks)
            .into_iter()
            .map(|(_, cb)| (cb, Err(Error::Closed)))
            .collect();
        Release {
            wake_now: self.take_all(),
            callbacks,
            lead_next: false,
        }
    }

    /// The flusher's next step: lead a sync that is due, else sleep until the policy's next
    /// deadline (at most `FLUSHER_SLEEP_MAX_MS`).
    pub(crate) fn flusher_step(&self, view: &LogView<'_>) -> FlusherStep {
        let poisoned = self.poison(view).is_some();
        let mut due = !poisoned && view.sync_due;
        if self.canaries.on(Canary::FlusherSkipsBatch) {
            due = due && view.due_by_count;
        }
        if due && !self.syncing {
            return FlusherStep::Lead;
        }
        let deadline = if poisoned {
            None
        } else {
            view.next_deadline_ms
        };
        let wait_ms = deadline.map_or(FLUSHER_SLEEP_MAX_MS, |d| {
            d.saturating_sub(view.now_ms).clamp(1, FLUSHER_SLEEP_MAX_MS)
        });
        FlusherStep::Sleep {
            deadline_ms: view.now_ms + wait_ms,
        }
    }

    /// The relay's next `RELAY_FANOUT` waiters, for a waiter to wake once it drops the lock.
    pub(crate) fn take_relay(&mut self) -> Vec<W> {
        if self.canaries.on(Canary::LostWakeup) {
            return Vec::new();
        }
        let keep = self.relay.len().saturating_sub(RELAY_FANOUT);
        self.relay.split_off(keep)
    }

    fn take_all(&mut self) -> Vec<W> {
        let mut all: Vec<W> = std::mem::take(&mut self.waiters).into_values().collect();
        WakeupCounts::add(&self.counts.released, all.len() as u64);
        all.append(&mut self.relay);
        all
    }

    /// After a sync: the waiters and callbacks it released. With `lead_next` only the
    /// released waiters are woken and one of them now (this thread has an fsync to start);
    /// otherwise also the next in line to lead, `1 + RELAY_FANOUT` now. The rest go to the
    /// relay. Poisoned: everyone, with the poison.
    fn release(&mut self, view: &LogView<'_>, lead_next: bool) -> Release<W, C> {
        let poison = self.lost.as_ref().or(view.poison).cloned();
        let callbacks = self.ready_callbacks(view, &poison);
        let mut wake = if poison.is_some() {
            self.take_all()
        } else {
            self.take_released(view, lead_next)
        };
        let now = if lead_next { 1 } else { 1 + RELAY_FANOUT };
        if wake.len() > now {
            self.relay.extend(wake.drain(now..));
        }
        Release {
            wake_now: wake,
            callbacks,
            lead_next,
        }
    }

    fn take_released(&mut self, view: &LogView<'_>, lead_next: bool) -> Vec<W> {
        let mut split = view.durable + 1;
        if self.canaries.on(Canary::RelayUncovered) {
            // Hands the wake-up (and the ack) to one waiter the sync did not cover.
            if let Some(k) = self.waiters.range((split, 0)..).next().map(|(k, _)| *k) {
                self.released_keys.push(k);
                split = k.0 + 1;
            }
        }
        let still_waiting = self.waiters.split_off(&(split, 0));
        let done = std::mem::replace(&mut self.waiters, still_waiting);
        debug_assert!(
            self.canaries.on(Canary::RelayUncovered) || done.keys().all(|k| k.0 <= view.durable),
            "a waiter released beyond the durable index"
        );
        let mut wake = Vec::with_capacity(done.len() + 1);
        // The next leader first: the fsync it starts is what everyone else waits for.
        if !view.fully_durable && !lead_next {
            if let Some((_, next_leader)) = self.waiters.pop_first() {
                wake.push(next_leader);
            }
        }
        wake.extend(done.into_values());
        WakeupCounts::add(&self.counts.released, wake.len() as u64);
        wake
    }

    fn ready_callbacks(
        &mut self,
        view: &LogView<'_>,
        poison: &Option<Poison>,
    ) -> Vec<(C, Result<u64>)> {
        if let Some(cause) = poison {
            return std::mem::take(&mut self.callbacks)
                .into_iter()
                .map(|(_, cb)| {
                    let cause = cause.clone();
                    (cb, Err(Error::Poisoned { cause }))
                })
                .collect();
        }
        let mut covered = view.durable;
        if self.canaries.on(Canary::CallbackBeyondDurable) {
            covered = covered.saturating_add(1);
        }
        let (ready, waiting) = std::mem::take(&mut self.callbacks)
            .into_iter()
            .partition(|(i, _)| *i <= covered);
        self.callbacks = waiting;
        ready
            .into_iter()
            .map(|(index, cb): (u64, C)| {
                debug_assert!(
                    self.canaries.on(Canary::CallbackBeyondDurable) || index <= view.durable
                );
                (cb, Ok(index))
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "group_commit_tests.rs"]
mod tests;

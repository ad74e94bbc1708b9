//! Group commit, carried out: leading a sync (and the next ones while waiters need them),
//! waking the waiters a sync released, running callbacks, and the flusher thread. Every
//! decision is the group-commit core's (`group_commit.rs`); this file only locks, runs the
//! fsyncs outside the lock, parks and unparks.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;
use crate::group_commit::{FlusherStep, Release};

/// Runs one sync as leader if none is in flight: prepare under the lock, fsync outside it,
/// complete under the lock, then release waiters and callbacks. A sync that panics is lost:
/// the core poisons the store and releases everyone, so no thread waits on it forever.
pub(super) fn lead_sync(shared: &Shared) {
    let mut guard = shared.state.lock();
    let now = shared.clock.now_ms();
    let st = &mut *guard;
    let Some(log) = st.log.as_mut() else { return };
    if !st.gc.try_lead(&log_view(log, now)) {
        return;
    }
    let mut prepared = match log.prepare_sync() {
        Ok(Some(p)) => p,
        Ok(None) | Err(_) => {
            let release = st.gc.nothing_to_sync(&log_view(log, now));
            return finish(shared, guard, release);
        }
    };
    st.in_flight_upto = Some(prepared.upto());
    drop(guard);
    loop {
        let result = catch_unwind(AssertUnwindSafe(|| prepared.run(&*shared.fs)));
        let mut guard = shared.state.lock();
        let now = shared.clock.now_ms();
        let st = &mut *guard;
        st.in_flight_upto = None;
        let Some(log) = st.log.as_mut() else {
            let release = st
                .gc
                .sync_lost("the store closed during the sync", &LogView::default());
            return finish(shared, guard, release);
        };
        let release = match result {
            Ok(result) => {
                let _ = log.complete_sync(prepared, result);
                st.gc.sync_done(&log_view(log, now))
            }
            Err(panic) => st.gc.sync_lost(&panic_cause(&*panic), &log_view(log, now)),
        };
        if !release.lead_next {
            return finish(shared, guard, release);
        }
        // The pipeline: waiters need more, so start their fsync on this thread at once and
        // leave most wake-ups of the released to the relay.
        let next = match log.prepare_sync() {
            Ok(Some(next)) => next,
            Ok(None) | Err(_) => {
                let more = st.gc.nothing_to_sync(&log_view(log, now));
                finish(shared, guard, release);
                return run_release(shared, more);
            }
        };
        st.in_flight_upto = Some(next.upto());
        let watched = st.changed_waiters > 0;
        st.changed_event(watched);
        drop(guard);
        run_release(shared, release);
        notify_changed(shared, watched);
        prepared = next;
    }
}

/// What a panic carried, for the poison's cause.
fn panic_cause(p: &(dyn std::any::Any + Send)) -> String {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    format!("the sync panicked: {msg}")
}

/// Drops the lock, then wakes, calls back and tells the `changed` waiters.
fn finish(shared: &Shared, mut st: MutexGuard<'_, State>, release: Release<Thread, CallbackBox>) {
    let watched = st.changed_waiters > 0;
    st.changed_event(watched);
    drop(st);
    run_release(shared, release);
    notify_changed(shared, watched);
}

/// Carries out a release (without the lock): unparks, then runs the callbacks.
pub(super) fn run_release(shared: &Shared, release: Release<Thread, CallbackBox>) {
    unpark(shared, release.wake_now);
    for (cb, result) in release.callbacks {
        (cb.0)(result);
    }
}

/// Waits on `changed`, counted so that notifiers can skip the syscall when nobody waits.
/// Counts the wake-up in [`Wakeups::changed_late`] if a change while this thread was
/// counted as waiting notified nobody.
pub(super) fn wait_changed<'a>(
    shared: &'a Shared,
    mut st: MutexGuard<'a, State>,
) -> MutexGuard<'a, State> {
    st.changed_waiters += 1;
    let since = st.changed_events;
    let mut st = shared.changed.wait(st);
    st.changed_waiters -= 1;
    if st.changed_silent > since {
        WakeupCounts::add(&shared.wakeups.changed_late, 1);
    }
    st
}

/// Wakes the `changed` waiters, if `watched` (read under the lock that changed the state).
pub(super) fn notify_changed(shared: &Shared, watched: bool) {
    if watched {
        shared.changed.notify_all();
    }
}

/// Unparks `threads` (once the lock is dropped: a thread woken under it would only block
/// again on the lock), counted in [`Wakeups::woken`].
pub(super) fn unpark(shared: &Shared, threads: Vec<Thread>) {
    for t in threads {
        WakeupCounts::add(&shared.wakeups.woken, 1);
        t.unpark();
    }
}

/// The flusher: sleeps until the policy's next deadline (or a kick), then leads a sync.
/// A wake-up that finds a sync due which an append owed it a kick for, unanswered, counts
/// in [`Wakeups::flusher_late`]; every look answers what was owed before it.
pub(super) fn flusher_loop(shared: &Shared) {
    let mut st = shared.state.lock();
    let mut woke = false;
    loop {
        if st.shutdown {
            return;
        }
        let now = shared.clock.now_ms();
        let step = match st.view(now) {
            Some(view) => {
                if woke && st.kick_owed && view.sync_due {
                    WakeupCounts::add(&shared.wakeups.flusher_late, 1);
                }
                st.gc.flusher_step(&view)
            }
            None => return,
        };
        st.kick_owed = false;
        woke = matches!(step, FlusherStep::Sleep { .. });
        match step {
            FlusherStep::Lead => {
                drop(st);
                lead_sync(shared);
                st = shared.state.lock();
            }
            FlusherStep::Sleep { deadline_ms } => {
                st.flusher_sleeping = true;
                st = shared.work.wait_until(st, &*shared.clock, deadline_ms);
                st.flusher_sleeping = false;
            }
        }
    }
}

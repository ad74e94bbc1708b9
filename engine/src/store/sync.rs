//! Group commit: leading a sync (and the next ones while waiters need them), waking the
//! waiters a sync released, running callbacks, and the flusher thread.

use super::*;

/// Runs one sync as leader if none is in flight: prepare under the lock, fsync outside it,
/// complete under the lock, then release waiters and callbacks.
pub(super) fn lead_sync(shared: &Shared) {
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    if st.syncing {
        return;
    }
    let Some(log) = st.log.as_mut() else { return };
    let mut prepared = match log.prepare_sync() {
        Ok(Some(p)) => p,
        Ok(None) | Err(_) => return release(shared, st, Wake::Done),
    };
    st.syncing = true;
    drop(st);
    let mut rounds = 1;
    loop {
        let result = prepared.run(&*shared.fs);
        let mut guard = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *guard;
        let Some(log) = st.log.as_mut() else {
            st.syncing = false;
            return;
        };
        let _ = log.complete_sync(prepared, result);
        // The pipeline: if waiters need more, start their fsync on this thread at once,
        // and leave the wake-ups of the released to the first of them.
        let durable = log.durable_index();
        let waited_for = st.waiters.keys().next_back().is_some_and(|k| k.0 > durable);
        let next = (rounds < LEAD_ROUNDS_MAX && waited_for && log.sync_due(shared.clock.now_ms()))
            .then(|| log.prepare_sync().ok().flatten())
            .flatten();
        let Some(next) = next else {
            st.syncing = false;
            return release(shared, guard, Wake::Done);
        };
        // Wake one now (this thread has an fsync to start); the tree does the rest.
        let released = take_waiters(st, Wake::Released);
        let first = relay_beyond(st, released, 1);
        let watched = st.changed_waiters > 0;
        drop(guard);
        unpark(first);
        fire_callbacks(shared);
        notify_changed(shared, watched);
        prepared = next;
        rounds += 1;
    }
}

/// After a sync: takes the waiters to wake under the lock, drops it, then wakes them, runs
/// the callbacks and tells the `changed` waiters.
fn release(shared: &Shared, mut st: MutexGuard<'_, State>, wake: Wake) {
    let woken = take_waiters(&mut st, wake);
    let woken = relay_beyond(&mut st, woken, 1 + RELAY_FANOUT);
    let watched = st.changed_waiters > 0;
    drop(st);
    unpark(woken);
    fire_callbacks(shared);
    notify_changed(shared, watched);
}

/// Waits on `changed`, counted so that notifiers can skip the syscall when nobody waits.
pub(super) fn wait_changed<'a>(
    shared: &'a Shared,
    mut st: MutexGuard<'a, State>,
) -> MutexGuard<'a, State> {
    st.changed_waiters += 1;
    let mut st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
    st.changed_waiters -= 1;
    st
}

/// Wakes the `changed` waiters, if `watched` (read under the lock that changed the state).
pub(super) fn notify_changed(shared: &Shared, watched: bool) {
    if watched {
        shared.changed.notify_all();
    }
}

/// Consecutive fsyncs one leader may run before handing leadership on.
pub(super) const LEAD_ROUNDS_MAX: u32 = 4;

/// Which parked waiters to wake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    /// After a sync: those it made durable, and the next in line if more is owed. All of
    /// them if the log is poisoned or closed.
    Done,
    /// Everyone: a truncation or a shutdown changed what they wait for.
    All,
    /// Only those a sync made durable (the leader goes on leading).
    Released,
}

/// Takes the waiters to wake from `st`. Unpark them once the lock is dropped: a thread woken
/// under it would only block again on the lock, and each unpark is a syscall that would hold
/// every appender up.
#[must_use = "the waiters taken must be unparked"]
pub(super) fn take_waiters(st: &mut State, wake_kind: Wake) -> Vec<std::thread::Thread> {
    let (durable, owed, failed) = match st.log.as_ref() {
        Some(log) => (
            log.durable_index(),
            !log.is_fully_durable(),
            log.poisoned().is_some(),
        ),
        None => (0, false, true),
    };
    if wake_kind == Wake::All || failed {
        let mut all: Vec<_> = std::mem::take(&mut st.waiters).into_values().collect();
        all.append(&mut st.relay);
        return all;
    }
    let still_waiting = st.waiters.split_off(&(durable + 1, 0));
    let done = std::mem::replace(&mut st.waiters, still_waiting);
    let mut wake = Vec::with_capacity(done.len() + 1);
    // The next leader first: the fsync it starts is what everyone else waits for, and a
    // thread woken first is scheduled first.
    if owed && wake_kind == Wake::Done {
        if let Some((_, next_leader)) = st.waiters.first_key_value() {
            wake.push(next_leader.clone());
        }
    }
    wake.extend(done.into_values());
    wake
}

/// How many parked threads a woken waiter wakes in turn.
const RELAY_FANOUT: usize = 2;

/// Keeps the first `now` of `threads` to wake at once and leaves the rest to the relay.
fn relay_beyond(
    st: &mut State,
    mut threads: Vec<std::thread::Thread>,
    now: usize,
) -> Vec<std::thread::Thread> {
    if threads.len() > now {
        st.relay.extend(threads.drain(now..));
    }
    threads
}

/// The relay's next `RELAY_FANOUT` threads, for a waiter to wake once it drops the lock.
pub(super) fn take_relay(st: &mut State) -> Vec<std::thread::Thread> {
    let keep = st.relay.len().saturating_sub(RELAY_FANOUT);
    st.relay.split_off(keep)
}

pub(super) fn unpark(threads: Vec<std::thread::Thread>) {
    for t in threads {
        t.unpark();
    }
}

fn fire_callbacks(shared: &Shared) {
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    let Some(log) = st.log.as_ref() else { return };
    let durable = log.durable_index();
    let poisoned = log.poisoned().map(str::to_string);
    let ready: Vec<(u64, CallbackBox)> = if poisoned.is_some() {
        std::mem::take(&mut st.callbacks)
    } else {
        let (ready, waiting) = std::mem::take(&mut st.callbacks)
            .into_iter()
            .partition(|(i, _)| *i <= durable);
        st.callbacks = waiting;
        ready
    };
    drop(st);
    for (index, cb) in ready {
        (cb.0)(match &poisoned {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(index),
        });
    }
}

/// The flusher: sleeps until the policy's next deadline (or a kick), then leads a sync.
pub(super) fn flusher_loop(shared: &Shared) {
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if st.shutdown {
            return;
        }
        let now = shared.clock.now_ms();
        let (due, deadline) = match st.log.as_ref() {
            Some(log) if log.poisoned().is_none() => (log.sync_due(now), log.next_deadline_ms()),
            _ => (false, None),
        };
        if due && !st.syncing {
            drop(st);
            lead_sync(shared);
            st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            continue;
        }
        let wait_ms = deadline.map_or(100, |d| d.saturating_sub(now).clamp(1, 100));
        st.flusher_sleeping = true;
        st = shared
            .work
            .wait_timeout(st, wait_duration(wait_ms))
            .unwrap_or_else(|p| p.into_inner())
            .0;
        st.flusher_sleeping = false;
    }
}

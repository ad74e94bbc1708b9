//! One worker thread of a store run: its share of the schedule, each op on the real `Store`
//! (appends three ways, truncate, purge, hard state, reads, flush, ticks), every result
//! checked or booked.

use std::sync::{Arc, Mutex, MutexGuard};

use logbook::{Error, HardState, LogId, Store, Strategy};

use super::book::Book;
use crate::clock::SimClock;
use crate::disk::SimDisk;
use crate::model::{describe, Invariant};
use crate::ops::Op;
use crate::trace::Trace;

/// Everything the threads of one store incarnation share.
pub struct World {
    pub store: Store,
    /// The harness's sequencer (a Raft node's): orders appends, cuts, reads and flushes.
    pub seq: shuttle::sync::Mutex<()>,
    pub book: Arc<Mutex<Book>>,
    pub trace: Trace,
    pub clock: SimClock,
    pub disk: SimDisk,
    pub timers: Arc<logbook::sched::sim::Timers>,
    pub strategy: Strategy,
    pub payload_seed: u64,
    /// `[threads] unsequenced_flush`: flushes do not take the sequencer.
    pub unsequenced_flush: bool,
}

impl World {
    #[track_caller]
    pub fn book(&self) -> MutexGuard<'_, Book> {
        lock_book(&self.book)
    }

    /// Takes the sequencer, unless the store failed (or a violation was found) while this
    /// thread waited for it: then the op is not issued.
    fn sequence(&self) -> Option<shuttle::sync::MutexGuard<'_, ()>> {
        let seq = self.seq.lock().unwrap_or_else(|p| p.into_inner());
        // Read first: dropping `seq` is a scheduling point, never taken holding the book.
        let stopped = self.book().stopped();
        (!stopped).then_some(seq)
    }
}

/// Locks the book. Every simulated thread runs on one OS thread, so the lock is never
/// contended unless a thread held it across a scheduling point: a harness bug, reported as
/// one instead of hanging the process.
#[track_caller]
pub fn lock_book(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    thread_local! {
        static LAST: std::cell::Cell<Option<&'static std::panic::Location<'static>>> =
            const { std::cell::Cell::new(None) };
    }
    let b = match book.try_lock() {
        Ok(b) => b,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            let holder = LAST.with(|l| l.get()).map_or("?".into(), |l| l.to_string());
            panic!("harness bug: the book was held across a scheduling point (taken at {holder})")
        }
    };
    let here = std::panic::Location::caller();
    LAST.with(|l| l.set(Some(here)));
    b
}

/// How an append is acknowledged; thread `t` uses `Mode::of(t)`.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// `Store::append` (blocking).
    Append,
    /// `Store::append_deferred` under the sequencer, `Store::wait` outside it.
    Deferred,
    /// `Store::append_with_callback`.
    Callback,
}

impl Mode {
    fn of(thread: usize) -> Mode {
        [Mode::Append, Mode::Deferred, Mode::Callback][thread % 3]
    }
}

/// Runs thread `t`'s ops (schedule position, op) until done or stopped.
pub fn worker(w: Arc<World>, t: usize, ops: Vec<(usize, Op)>) {
    for (i, op) in ops {
        if w.book().stopped() {
            break;
        }
        w.trace.event(format_args!("t{t} op {i}: {op}"));
        w.book().stats.ops += 1;
        step(&w, t, i, &op);
        observe_durable(&w, i);
    }
}

fn step(w: &Arc<World>, t: usize, i: usize, op: &Op) {
    match *op {
        Op::Append {
            count,
            new_term,
            payload_len,
        } => append(w, t, i, count, new_term, payload_len),
        Op::Truncate { back } => {
            let Some(_seq) = w.sequence() else { return };
            let from = {
                let mut b = w.book();
                let cur = b.model.current();
                let last = cur.last().index;
                let from = last
                    .saturating_sub(back as u64)
                    .max(cur.boundary_index() + 1);
                if from > last {
                    return;
                }
                b.truncate(from);
                from
            };
            let r = w.store.truncate(from);
            w.trace
                .event(format_args!("t{t}   truncate from {from}: {r:?}"));
            if let Err(e) = r {
                on_error(w, e, i);
            }
        }
        Op::Purge { ahead } => purge(w, i, ahead),
        Op::HardState {
            new_term,
            vote,
            commit_back,
        } => hard_state(w, i, new_term, vote, commit_back),
        Op::ReadOne { back } => read_one(w, i, back),
        Op::ReadRange { back, count, bytes } => read_range(w, i, back, count, bytes),
        Op::Flush if w.unsequenced_flush => match w.store.flush() {
            // Nothing to book: appends may have come in while it ran.
            Ok(()) => {}
            Err(e) => on_error(w, e, i),
        },
        Op::Flush => {
            let Some(_seq) = w.sequence() else { return };
            match w.store.flush() {
                Ok(()) => w.book().model.mark_durable(),
                Err(e) => on_error(w, e, i),
            }
        }
        Op::Tick { ms } => {
            let now = w.clock.advance(ms as u64);
            w.timers.fire_due(now);
        }
        // Crashes and reopens delimit the incarnations; they never reach a worker.
        Op::Crash | Op::CrashInside { .. } | Op::Reopen | Op::Archive { .. } => {}
    }
}

fn append(w: &Arc<World>, t: usize, i: usize, count: u16, new_term: bool, payload_len: u16) {
    let Some(seq) = w.sequence() else { return };
    let (entries, generation) = w
        .book()
        .next_entries(count, new_term, payload_len, w.payload_seed);
    let last = entries.last().map_or(0, |e| e.index);
    let disk_first = w.strategy == Strategy::DiskFirst;
    let r = match Mode::of(t) {
        Mode::Append => {
            let r = w.store.append(&entries);
            drop(seq);
            r.map(|l| disk_first.then_some(l))
        }
        Mode::Deferred => {
            let accepted = w.store.append_deferred(&entries);
            drop(seq);
            accepted
                .and_then(|a| w.store.wait(a))
                .map(|l| disk_first.then_some(l))
        }
        Mode::Callback => {
            w.book().callbacks_pending += 1;
            let (book, trace) = (w.book.clone(), w.trace.clone());
            let r = w.store.append_with_callback(&entries, move |r| {
                trace.event(format_args!("  callback {last}: {}", brief(&r)));
                let mut b = lock_book(&book);
                b.callbacks_pending -= 1;
                match r {
                    Ok(l) if l != last => b.violate(
                        Invariant::DurablePrefix,
                        format!("the callback of {last} was called with {l}"),
                        i,
                    ),
                    Ok(l) => b.claim(l, generation),
                    Err(_) => {}
                }
            });
            drop(seq);
            if r.is_err() {
                // Refused at once: the callback was dropped without a call.
                w.book().callbacks_pending -= 1;
            }
            r.map(|()| None)
        }
    };
    w.trace.event(format_args!(
        "t{t}   append ..={last} {:?}: {}",
        Mode::of(t),
        brief(&r)
    ));
    match r {
        Ok(Some(l)) => w.book().claim(l, generation),
        Ok(None) | Err(Error::Truncated { .. }) => {}
        Err(e) => on_error(w, e, i),
    }
}

fn purge(w: &World, i: usize, ahead: i32) {
    let Some(_seq) = w.sequence() else { return };
    let upto = {
        let mut b = w.book();
        let cur = b.model.current().clone();
        let last = cur.last();
        let upto = (last.index as i64 + ahead as i64).max(0) as u64;
        if upto <= cur.boundary_index() {
            return;
        }
        let term = cur.get(upto).map_or(last.term, |e| e.term);
        let upto = LogId::new(term, upto);
        b.model.push(cur.purged(upto));
        upto
    };
    match w.store.purge(upto) {
        Ok(()) if w.strategy == Strategy::DiskFirst => {
            let mut b = w.book();
            b.model.boundary_floor = b.model.boundary_floor.max(upto.index);
        }
        Ok(()) => {}
        Err(e) => on_error(w, e, i),
    }
}

fn hard_state(w: &World, i: usize, new_term: bool, vote: Option<u8>, commit_back: u16) {
    let Some(_seq) = w.sequence() else { return };
    let hs = {
        let mut b = w.book();
        let last = b.model.current().last().index;
        let hs = HardState {
            term: b.model.hard_state.term.max(b.term) + new_term as u64,
            vote: vote.map(u64::from),
            commit: last.saturating_sub(commit_back as u64),
        };
        b.model.hard_state_in_flight = Some(hs);
        hs
    };
    match w.store.save_hard_state(hs) {
        Ok(()) => {
            let mut b = w.book();
            b.model.hard_state = hs;
            b.model.hard_state_in_flight = None;
        }
        Err(e) => on_error(w, e, i),
    }
}

fn read_one(w: &World, i: usize, back: u16) {
    let Some(_seq) = w.sequence() else { return };
    let index = w
        .book()
        .model
        .current()
        .last()
        .index
        .saturating_sub(back as u64);
    match w.store.entry(index) {
        Ok(got) => {
            let mut b = w.book();
            b.stats.reads_checked += 1;
            b.stats.checks += 1;
            let want = b.model.current().visible(index).cloned();
            if got != want {
                let msg = format!(
                    "read of {index} returned {} but the log holds {}",
                    describe(got.as_ref()),
                    describe(want.as_ref())
                );
                b.violate(Invariant::NoPhantomReads, msg, i);
            }
        }
        Err(e) => on_read_error(w, e, i),
    }
}

fn read_range(w: &World, i: usize, back: u16, count: u16, bytes: u32) {
    let Some(_seq) = w.sequence() else { return };
    let (from, to) = {
        let b = w.book();
        let cur = b.model.current();
        let from = cur
            .last()
            .index
            .saturating_sub(back as u64)
            .max(cur.boundary_index() + 1);
        (from, from + count as u64 + 3)
    };
    match w.store.entries(from, to, count as usize, bytes as u64) {
        Ok(got) => {
            let mut b = w.book();
            b.stats.reads_checked += got.len() as u64;
            b.stats.checks += 1;
            let want = b
                .model
                .current()
                .range(from, to, count as usize, bytes as u64);
            if got != want {
                let at = (0..got.len().max(want.len()))
                    .find(|&k| got.get(k) != want.get(k))
                    .unwrap_or(0);
                let msg = format!(
                    "range read from {from}: at position {at} got {} but the log holds {}",
                    describe(got.get(at)),
                    describe(want.get(at))
                );
                b.violate(Invariant::NoPhantomReads, msg, i);
            }
        }
        Err(e) => on_read_error(w, e, i),
    }
}

/// Every `durable_index` a thread sees binds the store (read under the sequencer, so no
/// truncation is half done).
fn observe_durable(w: &World, i: usize) {
    let Some(_seq) = w.sequence() else { return };
    match w.store.durable_index() {
        Ok(d) => {
            let mut b = w.book();
            let g = b.generation;
            b.claim(d, g);
        }
        Err(e) => on_error(w, e, i),
    }
}

fn on_read_error(w: &World, e: Error, i: usize) {
    match e {
        Error::Io { .. } if !w.disk.is_crashed() => {
            w.trace.event(format_args!("  read error: {e}"));
        }
        e => on_error(w, e, i),
    }
}

/// Fail-stop on a write-path failure (the machine restarts after this incarnation); any
/// other error is a violation.
fn on_error(w: &World, e: Error, i: usize) {
    w.trace.event(format_args!("  error: {e}"));
    let mut b = w.book();
    match e {
        Error::Io { .. } | Error::DiskFull { .. } | Error::Poisoned { .. } => {
            if !b.failed {
                b.stats.fail_stop_restarts += 1;
            }
            b.failed = true;
        }
        Error::Corruption { path, .. } => b.violate(
            Invariant::Classification,
            format!(
                "corruption reported in {} but nothing rotted",
                path.display()
            ),
            i,
        ),
        e => b.violate(
            Invariant::LiveState,
            format!("unexpected error from the store: {e}"),
            i,
        ),
    }
}

fn brief<T: std::fmt::Debug>(r: &Result<T, Error>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("err {e}"),
    }
}

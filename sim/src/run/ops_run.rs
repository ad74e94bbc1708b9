//! The harness's side of each operation: the model moves first, then the engine is called;
//! reads are checked against the model (invariant 5), and after every op the live store
//! must match it (0).

use logbook::{Entry, Error, HardState, LogId, Strategy};

use super::{violation, Harness, Step};
use crate::model::{describe, Invariant};
use crate::ops::Op;

impl Harness {
    pub(super) fn step(&mut self, op: &Op) -> Step {
        match *op {
            Op::Append {
                count,
                new_term,
                payload_len,
            } => self.append(count, new_term, payload_len),
            Op::Truncate { back } => self.truncate(back),
            Op::Purge { ahead } => self.purge(ahead),
            Op::HardState {
                new_term,
                vote,
                commit_back,
            } => self.save_hard_state(new_term, vote, commit_back),
            Op::ReadOne { back } => self.read_one(back),
            Op::ReadRange { back, count, bytes } => self.read_range(back, count, bytes),
            Op::Flush => self.log().sync().or_else(|e| self.on_error(e)),
            Op::Tick { ms } => {
                self.clock.advance(ms as u64);
                Ok(())
            }
            Op::Crash => self.crash_and_recover(),
            Op::CrashInside { calls } => {
                let at = self.disk.fs_calls() + calls as u64;
                self.trace.event(format_args!("  crash armed at call {at}"));
                self.disk.arm_crash_at(at);
                Ok(())
            }
            Op::Archive { back } => self.archive(back),
            Op::Reopen => {
                let log = self.log.take().expect("open");
                self.stats.add_log(&log.stats());
                if let Err(e) = log.close() {
                    return self.on_error(e);
                }
                self.model.mark_durable();
                self.recover()
            }
        }
    }

    /// `count` entries after the last, in the current term (a new one if asked, or after a
    /// truncation: the next append comes from a new leader).
    fn append(&mut self, count: u16, new_term: bool, payload_len: u16) -> Step {
        let cur = self.model.current().clone();
        let last = cur.last();
        if new_term || self.bump_term {
            self.term += 1;
            self.bump_term = false;
        }
        self.term = self.term.max(last.term);
        let entries: Vec<Entry> = (1..=count as u64)
            .map(|k| Entry {
                index: last.index + k,
                term: self.term,
                payload: self.payload(last.index + k, self.term, payload_len),
            })
            .collect();
        self.model.push(cur.appended(&entries));
        match self.log().append(&entries) {
            Ok(()) => self.trace.event(format_args!(
                "  appended {}..={} term {}",
                last.index + 1,
                last.index + count as u64,
                self.term
            )),
            Err(Error::Backpressure { .. }) => {
                self.model.pop();
                self.stats.backpressure += 1;
                self.trace.event("  backpressure");
            }
            Err(e) => return self.on_error(e),
        }
        Ok(())
    }

    /// Moves sealed segments up to `back` below the durable index to the archive. The
    /// logical state does not change; an archive failure changes nothing and is no error.
    fn archive(&mut self, back: u16) -> Step {
        let upto = self.log().durable_index().saturating_sub(back as u64);
        match self.log().archive_upto(upto) {
            Ok(r) => {
                self.stats.archived_segments += r.segments as u64;
                self.trace.event(format_args!(
                    "  archived {} segments, archive holds up to {}",
                    r.segments, r.archived_upto
                ));
                Ok(())
            }
            Err(e @ Error::Archive { .. }) if !self.disk.is_crashed() => {
                self.trace.event(format_args!("  archive failed: {e}"));
                Ok(())
            }
            Err(e) => self.on_error(e),
        }
    }

    /// The last `back` entries (never the purged prefix, never archived entries: those are
    /// committed).
    fn truncate(&mut self, back: u16) -> Step {
        let cur = self.model.current().clone();
        let last = cur.last();
        let archived = self.log().archived_upto();
        let from = last
            .index
            .saturating_sub(back as u64)
            .max(cur.boundary_index() + 1)
            .max(archived + 1);
        if from > last.index {
            return Ok(());
        }
        self.model.push(cur.truncated(from));
        self.model.void_claims_from(from);
        self.bump_term = true;
        match self.log().truncate(from) {
            // Reading the new last entry from the archive failed: nothing changed.
            Err(e @ Error::Archive { .. }) if !self.disk.is_crashed() => {
                self.model.pop();
                self.trace.event(format_args!("  truncate failed: {e}"));
                return Ok(());
            }
            Err(e) => return self.on_error(e),
            Ok(()) => {}
        }
        self.trace.event(format_args!("  truncated from {from}"));
        Ok(())
    }

    /// Up to `ahead` entries past the last (or before it, if negative).
    fn purge(&mut self, ahead: i32) -> Step {
        let cur = self.model.current().clone();
        let last = cur.last();
        let upto = (last.index as i64 + ahead as i64).max(0) as u64;
        if upto <= cur.boundary_index() {
            return Ok(());
        }
        let term = cur.get(upto).map_or(last.term, |e| e.term);
        let upto = LogId::new(term, upto);
        self.model.push(cur.purged(upto));
        if let Err(e) = self.log().purge(upto) {
            return self.on_error(e);
        }
        if self.cfg.strategy() == Strategy::DiskFirst {
            self.model.boundary_floor = self.model.boundary_floor.max(upto.index);
        }
        self.trace
            .event(format_args!("  purged up to {}", upto.index));
        Ok(())
    }

    fn save_hard_state(&mut self, new_term: bool, vote: Option<u8>, commit_back: u16) -> Step {
        let prev = self.model.hard_state;
        let hs = HardState {
            term: prev.term.max(self.term) + new_term as u64,
            vote: vote.map(u64::from),
            commit: self
                .model
                .current()
                .last()
                .index
                .saturating_sub(commit_back as u64),
        };
        self.model.hard_state_in_flight = Some(hs);
        if let Err(e) = self.log().save_hard_state(hs) {
            return self.on_error(e);
        }
        self.model.hard_state = hs;
        self.model.hard_state_in_flight = None;
        Ok(())
    }

    /// Invariant 5 on one entry `back` below the last.
    fn read_one(&mut self, back: u16) -> Step {
        let cur = self.model.current().clone();
        let i = cur.last().index.saturating_sub(back as u64);
        let got = match self.log().entry(i) {
            Ok(got) => got,
            Err(e) => return self.on_read_error(e),
        };
        self.stats.reads_checked += 1;
        self.stats.checks += 1;
        let want = cur.visible(i);
        if got.as_ref() != want {
            return Err(violation(
                Invariant::NoPhantomReads,
                format!(
                    "read of {i} returned {} but the log holds {}",
                    describe(got.as_ref()),
                    describe(want)
                ),
            ));
        }
        Ok(())
    }

    /// Invariant 5 on a bounded range read (`count` entries, `bytes` bytes at most).
    fn read_range(&mut self, back: u16, count: u16, bytes: u32) -> Step {
        let cur = self.model.current().clone();
        let from = cur
            .last()
            .index
            .saturating_sub(back as u64)
            .max(cur.boundary_index() + 1);
        let to = from + count as u64 + 3;
        let got = match self.log().entries(from, to, count as usize, bytes as u64) {
            Ok(got) => got,
            Err(e) => return self.on_read_error(e),
        };
        self.stats.reads_checked += got.len() as u64;
        self.stats.checks += 1;
        let want = cur.range(from, to, count as usize, bytes as u64);
        if got != want {
            let at = (0..got.len().max(want.len()))
                .find(|&k| got.get(k) != want.get(k))
                .unwrap_or(0);
            return Err(violation(
                Invariant::NoPhantomReads,
                format!(
                    "range read from {from} (count {count}, bytes {bytes}): at position {at} \
                     got {} but the log holds {}",
                    describe(got.get(at)),
                    describe(want.get(at))
                ),
            ));
        }
        Ok(())
    }

    /// After every op: time passes, the flush policy runs, the durable baseline moves, and
    /// the live store must match the model.
    pub(super) fn after_op(&mut self) -> Step {
        self.clock.advance(1);
        let now = self.clock.now();
        if let Err(e) = self.log().poll(now) {
            return self.on_error(e);
        }
        let durable = self.log().durable_index();
        self.model.observe_durable(durable);
        if self.log().is_fully_durable() {
            self.model.mark_durable();
        }
        let (last, purged) = (self.log().last_index(), self.log().last_purged());
        let cur = self.model.current();
        self.stats.checks += 1;
        if last != cur.last().index || purged != cur.boundary {
            return Err(violation(
                Invariant::LiveState,
                format!(
                    "store has last {last} boundary {purged:?}, model has last {} boundary {:?}",
                    cur.last().index,
                    cur.boundary
                ),
            ));
        }
        Ok(())
    }
}

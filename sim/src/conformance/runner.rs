//! Runs one case's operations on a store and keeps a reference model in step.
//!
//! After every operation the runner lets one tick pass, then compares the whole observable
//! state (bounds, boundary, hard state, every entry by single and by range reads, reads at
//! and below the boundary) with the model. In [`Mode::ReopenEach`] it then closes and
//! reopens the store and requires the same observable state again.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use logbook::{Entry, Fs, HardState, LogId};

use super::disks::CaseDisk;
use super::report::Mode;
use super::store::{LogStore, StoreError, StoreFactory};
use crate::disk::SimDisk;
use crate::model::{describe, State};
use crate::seeds;

/// A case step's verdict: `Err` says what went wrong.
pub type Step = Result<(), String>;

/// An entry of exactly `len` payload bytes: its index and term, then filler derived from both.
pub fn make_entry(index: u64, term: u64, len: usize) -> Entry {
    let mut v = format!("{index}:{term}:").into_bytes();
    let mut x = seeds::mix(index.wrapping_mul(0x9E37) ^ term.wrapping_mul(0x1_0003));
    while v.len() < len {
        x = seeds::mix(x);
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    Entry::new(index, term, Bytes::from(v))
}

/// Entries `first..=last` in `term`, each `len` bytes.
pub fn make_entries(first: u64, last: u64, term: u64, len: usize) -> Vec<Entry> {
    (first..=last).map(|i| make_entry(i, term, len)).collect()
}

/// What a store shows from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    first: u64,
    last: u64,
    purged: Option<LogId>,
    hard_state: HardState,
    entries: Vec<Entry>,
}

/// One case's store, its model and its counters.
pub struct Runner<'a> {
    factory: &'a dyn StoreFactory,
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    sim: Option<SimDisk>,
    store: Option<Box<dyn LogStore>>,
    model: State,
    hard_state: HardState,
    mode: Mode,
    op: String,
    pub(crate) ops: u64,
    pub(crate) checks: u64,
    pub(crate) reopens: u64,
}

impl<'a> Runner<'a> {
    /// Opens the store on a fresh directory.
    pub fn new(factory: &'a dyn StoreFactory, disk: CaseDisk, mode: Mode) -> Result<Self, String> {
        let store = factory
            .open(disk.fs.clone(), &disk.dir)
            .map_err(|e| format!("open of a fresh store failed: {e}"))?;
        Ok(Runner {
            factory,
            fs: disk.fs,
            dir: disk.dir,
            sim: disk.sim,
            store: Some(store),
            model: State::default(),
            hard_state: HardState::default(),
            mode,
            op: "open".into(),
            ops: 0,
            checks: 0,
            reopens: 0,
        })
    }

    /// The factory, for cases that open stores of their own.
    pub fn factory(&self) -> &'a dyn StoreFactory {
        self.factory
    }

    /// The simulated disk under the store, if it is one.
    pub fn sim(&self) -> Option<&SimDisk> {
        self.sim.as_ref()
    }

    fn store(&mut self) -> &mut dyn LogStore {
        self.store
            .as_deref_mut()
            .expect("the store is open between steps")
    }

    /// The model's last log id.
    pub fn last(&self) -> LogId {
        self.model.last()
    }

    fn fail(&self, what: impl std::fmt::Display) -> String {
        format!("op {} ({}): {what}", self.ops, self.op)
    }

    fn begin(&mut self, op: String) {
        self.ops += 1;
        self.op = op;
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> Step {
        self.checks += 1;
        match ok {
            true => Ok(()),
            false => Err(self.fail(what())),
        }
    }

    /// Appends entries that must be accepted.
    pub fn append(&mut self, entries: &[Entry]) -> Step {
        let range = match (entries.first(), entries.last()) {
            (Some(a), Some(b)) => format!("{}..={} term {}", a.index, b.index, b.term),
            _ => "nothing".into(),
        };
        self.begin(format!("append {range}"));
        if let Err(e) = self.store().append(entries) {
            return Err(self.fail(format!("refused: {e}")));
        }
        self.model = self.model.appended(entries);
        self.after_op()
    }

    /// Appends entries that must be refused with exactly `want`, changing nothing.
    pub fn reject(&mut self, entries: &[Entry], want: StoreError) -> Step {
        let ids: Vec<String> = entries
            .iter()
            .map(|e| format!("{}/{}", e.index, e.term))
            .collect();
        self.begin(format!("append [{}] (must be refused)", ids.join(" ")));
        let got = self.store().append(entries);
        self.check(got.as_ref().err() == Some(&want), || {
            format!("expected the error `{want}`, got {got:?}")
        })?;
        self.after_op()
    }

    pub fn truncate(&mut self, from: u64) -> Step {
        self.begin(format!("truncate from {from}"));
        if let Err(e) = self.store().truncate(from) {
            return Err(self.fail(format!("failed: {e}")));
        }
        if from <= self.model.last().index {
            self.model = self.model.truncated(from);
        }
        self.after_op()
    }

    pub fn purge(&mut self, upto: LogId) -> Step {
        self.begin(format!("purge up to {}/{}", upto.index, upto.term));
        if let Err(e) = self.store().purge(upto) {
            return Err(self.fail(format!("failed: {e}")));
        }
        if upto.index > self.model.boundary_index() {
            self.model = self.model.purged(upto);
        }
        self.after_op()
    }

    pub fn save_hard_state(&mut self, hs: HardState) -> Step {
        self.begin(format!("save hard state {hs:?}"));
        if let Err(e) = self.store().save_hard_state(hs) {
            return Err(self.fail(format!("failed: {e}")));
        }
        self.hard_state = hs;
        self.after_op()
    }

    /// Flushes; afterwards the store must report everything durable.
    pub fn flush(&mut self) -> Step {
        self.begin("flush".into());
        if let Err(e) = self.store().flush() {
            return Err(self.fail(format!("failed: {e}")));
        }
        let (durable, last) = (self.store().durable_index(), self.store().last_index());
        self.check(durable == last, || {
            format!("after a flush durable_index is {durable}, last_index {last}")
        })?;
        self.after_op()
    }

    /// Closes and reopens the store; it must show the same state.
    pub fn reopen(&mut self) -> Step {
        self.begin("close and reopen".into());
        self.reopen_unchanged()
    }

    /// Checks the bounds the case expects, independently of the model.
    pub fn expect_bounds(&mut self, first: u64, last: u64, purged: Option<LogId>) -> Step {
        let s = self.store();
        let got = (s.first_index(), s.last_index(), s.last_purged());
        self.check(got == (first, last, purged), || {
            format!(
                "expected (first_index, last_index, last_purged) = {:?}, got {got:?}",
                (first, last, purged)
            )
        })
    }

    /// Checks the hard state the case expects, independently of the model.
    pub fn expect_hard_state(&mut self, hs: HardState) -> Step {
        let got = self.store().hard_state();
        self.check(got == hs, || {
            format!("expected hard state {hs:?}, got {got:?}")
        })
    }

    /// Checks one single read the case expects, independently of the model.
    pub fn expect_entry(&mut self, index: u64, want: Option<&Entry>) -> Step {
        let got = self.store().entry(index);
        self.check(matches!(&got, Ok(g) if g.as_ref() == want), || {
            format!("entry({index}): expected {}, got {got:?}", describe(want))
        })
    }

    /// Range reads `from..to` for every count and byte limit in the lists, each against
    /// the model (one operation).
    pub fn read_grid(
        &mut self,
        froms: &[u64],
        tos: &[u64],
        counts: &[usize],
        bytes: &[u64],
    ) -> Step {
        self.begin("range reads".into());
        let boundary = self.model.boundary_index();
        for &from in froms {
            for &to in tos {
                for &count in counts {
                    for &b in bytes {
                        let got = self.store().entries(from, to, count, b);
                        let what = format!("entries({from}, {to}, count {count}, bytes {b})");
                        if from <= boundary {
                            self.check(matches!(&got, Err(StoreError::Purged { .. })) || matches!(&got, Ok(v) if v.is_empty()), || {
                                format!("{what} starts at or below the boundary {boundary}: expected Purged or nothing, got {got:?}")
                            })?;
                            continue;
                        }
                        let want = self.model.range(from, to, count, b);
                        self.check(got.as_ref().ok() == Some(&want), || match &got {
                            Err(e) => format!("{what} failed: {e}"),
                            Ok(v) => format!(
                                "{what} returned {} entries ({:?}), expected {} ({:?})",
                                v.len(),
                                v.iter().map(|e| e.index).collect::<Vec<_>>(),
                                want.len(),
                                want.iter().map(|e| e.index).collect::<Vec<_>>()
                            ),
                        })?;
                    }
                }
            }
        }
        self.after_op()
    }

    /// What the store shows, read through its API.
    fn observe(&mut self) -> Result<Observed, String> {
        let s = self.store();
        let (first, last, purged, hard_state) = (
            s.first_index(),
            s.last_index(),
            s.last_purged(),
            s.hard_state(),
        );
        let entries = s
            .entries(first, last.saturating_add(1), usize::MAX, u64::MAX)
            .map_err(|e| format!("reading {first}..={last} failed: {e}"))?;
        Ok(Observed {
            first,
            last,
            purged,
            hard_state,
            entries,
        })
    }

    /// The whole observable state against the model.
    fn verify(&mut self) -> Step {
        let m = self.model.clone();
        let b = m.boundary_index();
        let last = m.last().index;
        let want = Observed {
            first: b + 1,
            last,
            purged: m.boundary,
            hard_state: self.hard_state,
            entries: m.range(b + 1, last + 1, usize::MAX, u64::MAX),
        };
        let got = self.observe().map_err(|e| self.fail(e))?;
        self.check(got == want, || diff(&got, &want))?;
        let durable = self.store().durable_index();
        self.check(durable <= last, || {
            format!("durable_index {durable} is past last_index {last}")
        })?;
        let mut probes = vec![0, b, b + 1, last, last + 1, last + 2];
        probes.extend((b + 1)..=last);
        probes.sort_unstable();
        probes.dedup();
        for i in probes {
            let got = self.store().entry(i);
            let want = m.visible(i);
            self.check(matches!(&got, Ok(g) if g.as_ref() == want), || {
                format!("entry({i}) returned {got:?}, expected {}", describe(want))
            })?;
        }
        if b > 0 {
            let got = self.store().entries(b, last + 1, usize::MAX, u64::MAX);
            self.check(
                matches!(&got, Err(StoreError::Purged { .. }))
                    || matches!(&got, Ok(v) if v.is_empty()),
                || format!("a range read from the boundary {b} returned {got:?}"),
            )?;
        }
        Ok(())
    }

    /// After every operation: a tick, the model check and, in reopen-each mode, a reopen.
    fn after_op(&mut self) -> Step {
        if let Err(e) = self.store().tick() {
            return Err(self.fail(format!("the tick after it failed: {e}")));
        }
        self.verify()?;
        if self.mode == Mode::ReopenEach {
            self.reopen_unchanged()?;
        }
        Ok(())
    }

    fn reopen_unchanged(&mut self) -> Step {
        let before = self.observe().map_err(|e| self.fail(e))?;
        let store = self.store.take().expect("open");
        store
            .close()
            .map_err(|e| self.fail(format!("close failed: {e}")))?;
        self.reopens += 1;
        let store = self
            .factory
            .open(self.fs.clone(), &self.dir)
            .map_err(|e| self.fail(format!("reopen failed: {e}")))?;
        self.store = Some(store);
        let after = self.observe().map_err(|e| self.fail(e))?;
        self.check(after == before, || {
            format!("the reopened store differs: {}", diff(&after, &before))
        })?;
        self.verify()
    }

    /// Closes the store at the end of a case, after a last reopen check.
    pub fn finish(mut self) -> Step {
        self.begin("final close and reopen".into());
        self.reopen_unchanged()?;
        let store = self.store.take().expect("open");
        store
            .close()
            .map_err(|e| format!("final close failed: {e}"))
    }
}

/// The first difference between what a store shows and what it should.
fn diff(got: &Observed, want: &Observed) -> String {
    let mut d = Vec::new();
    if (got.first, got.last, got.purged) != (want.first, want.last, want.purged) {
        d.push(format!(
            "(first, last, last_purged) is ({}, {}, {:?}), expected ({}, {}, {:?})",
            got.first, got.last, got.purged, want.first, want.last, want.purged
        ));
    }
    if got.hard_state != want.hard_state {
        d.push(format!(
            "hard state {:?}, expected {:?}",
            got.hard_state, want.hard_state
        ));
    }
    if got.entries != want.entries {
        let n = got.entries.len().max(want.entries.len());
        let at = (0..n)
            .find(|&k| got.entries.get(k) != want.entries.get(k))
            .unwrap_or(0);
        d.push(format!(
            "entries: {} read, {} expected; at position {at} got {} expected {}",
            got.entries.len(),
            want.entries.len(),
            describe(got.entries.get(at)),
            describe(want.entries.get(at))
        ));
    }
    d.join("; ")
}

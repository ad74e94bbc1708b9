//! [`Exec`]: one store on a simulated disk driven by [`Sym`]s with the reference model in
//! step (as `run.rs` keeps it: every state since the last one the store held fully durable,
//! every `durable_index` it reported), and the checks of a recovered store.

use std::path::Path;
use std::sync::Arc;

use logbook::{Entry, HardState, LogId};

use super::alphabet::Sym;
use super::disks::SIM_STORE_DIR;
use super::runner::{make_entries, make_entry};
use super::store::{LogStore, StoreError, StoreFactory};
use crate::disk::SimDisk;
use crate::model::{check_recovered, Model, Recovered};
use crate::trace::Fnv1a;

/// Why a run stopped early.
pub(crate) enum Halt {
    /// The disk crashed (as armed).
    Crashed,
    /// A violation without a crash.
    Failed(String),
}

/// A store on a simulated disk, driven by [`Sym`]s, with the model in step.
pub(crate) struct Exec<'a> {
    factory: &'a dyn StoreFactory,
    disk: SimDisk,
    store: Option<Box<dyn LogStore>>,
    model: Model,
    term: u64,
    bump_term: bool,
    pub(crate) ops: u64,
}

impl<'a> Exec<'a> {
    pub(crate) fn new(factory: &'a dyn StoreFactory, disk: SimDisk) -> Self {
        Exec {
            factory,
            disk,
            store: None,
            model: Model::new(),
            term: 1,
            bump_term: false,
            ops: 0,
        }
    }

    fn halt(&mut self, what: &str, e: StoreError) -> Halt {
        if let Some(s) = &self.store {
            self.model.observe_durable(s.durable_index());
        }
        match self.disk.is_crashed() {
            true => Halt::Crashed,
            false => Halt::Failed(format!("{what} failed without a crash: {e}")),
        }
    }

    pub(crate) fn open(&mut self) -> Result<(), Halt> {
        let fs = Arc::new(self.disk.clone());
        match self.factory.open(fs, Path::new(SIM_STORE_DIR)) {
            Ok(s) => {
                self.store = Some(s);
                Ok(())
            }
            Err(e) => Err(self.halt("open", e)),
        }
    }

    fn store(&mut self) -> &mut dyn LogStore {
        self.store.as_deref_mut().expect("open")
    }

    /// Runs `sym` on the store and the model, then the tick, then compares the two.
    pub(crate) fn run(&mut self, sym: Sym) -> Result<(), Halt> {
        self.ops += 1;
        if let Err(e) = self.apply(sym) {
            return Err(self.halt(sym.name(), e));
        }
        let durable = self.store().durable_index();
        self.model.observe_durable(durable);
        if let Err(e) = self.store().tick() {
            return Err(self.halt(&format!("the tick after {}", sym.name()), e));
        }
        self.compare(sym)
    }

    /// `sym` on the model and the store.
    fn apply(&mut self, sym: Sym) -> Result<(), StoreError> {
        let cur = self.model.current().clone();
        let last = cur.last();
        let b = cur.boundary_index();
        match sym {
            Sym::Append1 | Sym::AppendRotate => {
                if std::mem::take(&mut self.bump_term) {
                    self.term += 1;
                }
                self.term = self.term.max(last.term);
                let (count, len) = match sym {
                    Sym::Append1 => (1, 40),
                    _ => (3, super::cases::BIG),
                };
                let entries = make_entries(last.index + 1, last.index + count, self.term, len);
                self.model.push(cur.appended(&entries));
                self.store().append(&entries)
            }
            Sym::Truncate => {
                let from = last.index.saturating_sub(1).max(b + 1);
                if from <= last.index {
                    self.model.push(cur.truncated(from));
                    self.model.void_claims_from(from);
                    self.bump_term = true;
                }
                self.store().truncate(from)
            }
            Sym::Purge => {
                let upto = match last.index > b + 1 {
                    true => last.index - 1,
                    false => last.index + 2,
                };
                let upto = LogId::new(cur.get(upto).map_or(last.term, |e| e.term), upto);
                self.model.push(cur.purged(upto));
                self.store().purge(upto)
            }
            Sym::HardState => {
                let hs = HardState {
                    term: self.model.hard_state.term.max(self.term) + 1,
                    vote: Some(1),
                    commit: last.index,
                };
                self.model.hard_state_in_flight = Some(hs);
                let r = self.store().save_hard_state(hs);
                if r.is_ok() {
                    self.model.hard_state = hs;
                    self.model.hard_state_in_flight = None;
                }
                r
            }
            Sym::Flush => self.store().flush(),
        }
    }

    /// After `sym` and its tick: what the store reports durable moves the model on, and
    /// its bounds must be the model's.
    fn compare(&mut self, sym: Sym) -> Result<(), Halt> {
        let s = self.store.as_deref().expect("open");
        let (durable, fully, got_last, purged) = (
            s.durable_index(),
            s.is_fully_durable(),
            s.last_index(),
            s.last_purged(),
        );
        self.model.observe_durable(durable);
        if fully {
            self.model.mark_durable();
        }
        let cur = self.model.current();
        if got_last != cur.last().index || purged != cur.boundary || durable > got_last {
            return Err(Halt::Failed(format!(
                "after {}: store has last {got_last} boundary {purged:?} durable {durable}, \
                 model has last {} boundary {:?}",
                sym.name(),
                cur.last().index,
                cur.boundary
            )));
        }
        Ok(())
    }

    /// Crashes now (or resolves the crash that hit), with faults off afterwards.
    pub(crate) fn crash(&mut self) {
        self.store = None;
        self.disk.disarm_crash();
        self.disk.crash();
        self.disk.set_faults_enabled(false);
    }

    /// A hash of the durable store directory: names and contents.
    pub(crate) fn fingerprint(&self) -> u64 {
        let dir = Path::new(SIM_STORE_DIR);
        let mut h = Fnv1a::new();
        for name in self.disk.list_durable(dir) {
            h.update(name.as_bytes());
            h.update(&[0]);
            let data = self.disk.durable_file(&dir.join(&name)).unwrap_or_default();
            h.update(&(data.len() as u64).to_le_bytes());
            h.update(&data);
        }
        h.finish()
    }

    /// Reopens the crashed store and checks it. Returns the number of checks.
    pub(crate) fn check_recovery(&mut self) -> Result<u64, String> {
        let fs = Arc::new(self.disk.clone());
        let dir = Path::new(SIM_STORE_DIR);
        let mut s = self
            .factory
            .open(fs.clone(), dir)
            .map_err(|e| format!("invariant 7 (classification): recovery failed: {e}"))?;
        let r = read_recovered(&mut *s)?;
        let mut checks = check_recovered(&self.model, &r).map_err(|v| v.to_string())?;
        checks += check_point_reads(&mut *s, &r)?;
        // The recovered store takes a new entry, and a clean reopen keeps it and the rest.
        let term = r
            .entries
            .last()
            .map_or(0, |e| e.term)
            .max(r.boundary.map_or(0, |l| l.term))
            .max(1);
        let next = make_entry(r.last_index + 1, term, 40);
        let after = (|| {
            s.append(std::slice::from_ref(&next))?;
            s.flush()?;
            s.close()
        })();
        after.map_err(|e| format!("the recovered store refused a new entry: {e}"))?;
        let mut s = self
            .factory
            .open(fs, dir)
            .map_err(|e| format!("reopen after recovery failed: {e}"))?;
        let r2 = read_recovered(&mut *s)?;
        checks += 1;
        check_kept(&r, next, &r2)?;
        s.close()
            .map_err(|e| format!("close after recovery failed: {e}"))?;
        Ok(checks)
    }
}

/// What a reopened store holds, read with one range read.
fn read_recovered(s: &mut dyn LogStore) -> Result<Recovered, String> {
    let boundary = s.last_purged();
    let last_index = s.last_index();
    let from = boundary.map_or(0, |b| b.index) + 1;
    if s.first_index() != from {
        return Err(format!(
            "first_index {} with boundary {boundary:?}",
            s.first_index()
        ));
    }
    let entries = s
        .entries(from, last_index.saturating_add(1), usize::MAX, u64::MAX)
        .map_err(|e| format!("invariant 7: reading the recovered store failed: {e}"))?;
    Ok(Recovered {
        boundary,
        last_index,
        entries,
        hard_state: s.hard_state(),
    })
}

/// Invariant 5 on a recovered store: each point read, from the boundary to one past the
/// end, agrees with the range read `r`. Returns the number of checks.
fn check_point_reads(s: &mut dyn LogStore, r: &Recovered) -> Result<u64, String> {
    let b = r.boundary.map_or(0, |l| l.index);
    let mut checks = 0;
    for i in b..=r.last_index.saturating_add(1) {
        checks += 1;
        let want = (i > b)
            .then(|| r.entries.get((i - b - 1) as usize))
            .flatten();
        let got = s.entry(i);
        if !matches!(&got, Ok(g) if g.as_ref() == want) {
            return Err(format!(
                "invariant 5 (no phantom reads): entry({i}) returned {got:?}, the range read {}",
                crate::model::describe(want)
            ));
        }
    }
    Ok(checks)
}

/// After the recovered store `r` took `next` and closed, a clean reopen `r2` keeps
/// everything.
fn check_kept(r: &Recovered, next: Entry, r2: &Recovered) -> Result<(), String> {
    let mut want = r.entries.clone();
    want.push(next);
    if r2.boundary != r.boundary || r2.entries != want || r2.hard_state != r.hard_state {
        return Err(format!(
            "the recovered store took entry {} and flushed it, but a clean reopen shows \
             boundary {:?} (was {:?}), last {} with {} entries (want {} with {}), \
             hard state {:?} (was {:?})",
            r.last_index + 1,
            r2.boundary,
            r.boundary,
            r2.last_index,
            r2.entries.len(),
            r.last_index + 1,
            want.len(),
            r2.hard_state,
            r.hard_state
        ));
    }
    Ok(())
}

/// Runs `seq` on `disk` (crashing where it is armed). `Ok(true)` when the disk crashed.
pub(crate) fn drive(exec: &mut Exec<'_>, seq: &[Sym]) -> Result<bool, String> {
    let mut go = || {
        exec.open()?;
        for &sym in seq {
            exec.run(sym)?;
        }
        Ok(())
    };
    match go() {
        Ok(()) => Ok(false),
        Err(Halt::Crashed) => Ok(true),
        Err(Halt::Failed(m)) => Err(m),
    }
}

//! The reference model: the history of logical log states since the last durable one, and
//! the checks of docs/DESIGN.md §3 against what a store recovered or returned.
//!
//! For the checks a purge only moves a state's boundary; entries leave a logical log only by
//! truncation. `history[0]` is `S_k`, the last state made durable (DiskFirst: the last state
//! after which the store owed nothing to the disk; MemFirst: the last one a flush covered);
//! later states are the mutations since, the last one possibly in flight at a crash.

use std::fmt;
use std::sync::Arc;

use logbook::{Entry, HardState, LogId};

/// One logical log state: entries sorted by index (contiguous above the boundary; a purge
/// past the end leaves a gap below it), and the purge boundary.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub boundary: Option<LogId>,
    pub log: Arc<Vec<Entry>>,
}

impl State {
    pub fn boundary_index(&self) -> u64 {
        self.boundary.map_or(0, |b| b.index)
    }

    /// The logical entry at `index`, purged or not.
    pub fn get(&self, index: u64) -> Option<&Entry> {
        self.log
            .binary_search_by_key(&index, |e| e.index)
            .ok()
            .map(|i| &self.log[i])
    }

    /// What a read of `index` must return.
    pub fn visible(&self, index: u64) -> Option<&Entry> {
        (index > self.boundary_index())
            .then(|| self.get(index))
            .flatten()
    }

    /// The last log id: the last entry above the boundary, else the boundary, else (0, 0).
    pub fn last(&self) -> LogId {
        match self.log.last() {
            Some(e) if e.index > self.boundary_index() => e.log_id(),
            _ => self.boundary.unwrap_or(LogId::new(0, 0)),
        }
    }

    pub fn appended(&self, entries: &[Entry]) -> State {
        let mut log = (*self.log).clone();
        log.extend_from_slice(entries);
        State {
            boundary: self.boundary,
            log: Arc::new(log),
        }
    }

    pub fn truncated(&self, from: u64) -> State {
        let log = self
            .log
            .iter()
            .filter(|e| e.index < from)
            .cloned()
            .collect();
        State {
            boundary: self.boundary,
            log: Arc::new(log),
        }
    }

    pub fn purged(&self, upto: LogId) -> State {
        // Entries far below the boundary are never needed again: keep the model small.
        let log = self
            .log
            .iter()
            .filter(|e| e.index > upto.index)
            .cloned()
            .collect();
        State {
            boundary: Some(upto),
            log: Arc::new(log),
        }
    }

    /// The answer a range read must give (see `logbook::Log::entries`).
    pub fn range(
        &self,
        from: u64,
        to_exclusive: u64,
        count_max: usize,
        bytes_max: u64,
    ) -> Vec<Entry> {
        let end = to_exclusive.min(self.last().index + 1);
        let mut out: Vec<Entry> = Vec::new();
        let mut bytes = 0;
        for i in from..end {
            if out.len() >= count_max || (!out.is_empty() && bytes >= bytes_max) {
                break;
            }
            let Some(e) = self.visible(i) else { break };
            bytes += e.payload.len() as u64;
            out.push(e.clone());
        }
        out
    }
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    pub history: Vec<State>,
    pub hard_state: HardState,
    /// A save whose outcome a crash made unknown.
    pub hard_state_in_flight: Option<HardState>,
    /// DiskFirst: the highest boundary a purge returned (durable on return).
    pub boundary_floor: u64,
    /// The highest `durable_index` the store reported since the last recovery, lowered by
    /// truncations: every entry up to it (above the boundary) must survive a crash.
    pub claimed_durable: u64,
}

impl Model {
    pub fn new() -> Model {
        Model {
            history: vec![State::default()],
            ..Model::default()
        }
    }

    pub fn current(&self) -> &State {
        self.history.last().expect("history is never empty")
    }

    pub fn push(&mut self, s: State) {
        self.history.push(s);
    }

    /// The last pushed mutation was refused: it never happened.
    pub fn pop(&mut self) {
        debug_assert!(self.history.len() > 1);
        self.history.pop();
    }

    /// The store owes nothing to the disk: the current state is the new `S_k`.
    pub fn mark_durable(&mut self) {
        if self.history.len() > 1 {
            self.history.drain(..self.history.len() - 1);
        }
    }

    /// The store reported `durable_index() == index`.
    pub fn observe_durable(&mut self, index: u64) {
        self.claimed_durable = self.claimed_durable.max(index);
    }

    /// A truncation from `from` is starting: claims at or above it no longer bind.
    pub fn void_claims_from(&mut self, from: u64) {
        self.claimed_durable = self.claimed_durable.min(from.saturating_sub(1));
    }

    /// After a checked recovery, the recovered state is durable and the only one.
    pub fn reset(&mut self, boundary: Option<LogId>, entries: Vec<Entry>, hs: HardState) {
        self.history = vec![State {
            boundary,
            log: Arc::new(entries),
        }];
        self.hard_state = hs;
        self.hard_state_in_flight = None;
        self.boundary_floor = self.boundary_floor.max(boundary.map_or(0, |b| b.index));
        self.claimed_durable = self.current().last().index;
    }
}

/// What a reopened store holds.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub boundary: Option<LogId>,
    pub last_index: u64,
    pub entries: Vec<Entry>,
    pub hard_state: HardState,
}

/// The invariants of docs/DESIGN.md §3, numbered as there; `LiveState` (0) is the live
/// state diverging from the model while no crash happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// 0: between crashes, what the store says matches the model.
    LiveState,
    /// 1: everything acknowledged durable survives a crash.
    DurablePrefix,
    /// 2: what is recovered is a prefix of a state the log really had.
    RealStatePrefix,
    /// 3: a purged or truncated entry never comes back.
    NoResurrection,
    /// 4: the hard state recovered is the last one saved.
    HardState,
    /// 5: every read returns what was appended at that index.
    NoPhantomReads,
    /// 6: concurrent clients see a linearizable log.
    Linearizability,
    /// 7: recovery tells a torn tail from corruption and reports the latter.
    Classification,
    /// 8: recovering twice gives the same state as recovering once.
    IdempotentRecovery,
    /// 9: the same seed gives the same trace.
    Determinism,
    /// 10: every acknowledgement a front owes arrives.
    Liveness,
}

impl Invariant {
    /// Every invariant, by number.
    pub const ALL: [Invariant; 11] = [
        Invariant::LiveState,
        Invariant::DurablePrefix,
        Invariant::RealStatePrefix,
        Invariant::NoResurrection,
        Invariant::HardState,
        Invariant::NoPhantomReads,
        Invariant::Linearizability,
        Invariant::Classification,
        Invariant::IdempotentRecovery,
        Invariant::Determinism,
        Invariant::Liveness,
    ];

    /// Its number in docs/DESIGN.md §3.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The invariant numbered `n`, if any.
    pub fn from_number(n: u8) -> Option<Invariant> {
        Invariant::ALL.get(n as usize).copied()
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::LiveState => "live state matches the model",
            Invariant::DurablePrefix => "durable prefix",
            Invariant::RealStatePrefix => "prefix of a real state",
            Invariant::NoResurrection => "no resurrection",
            Invariant::HardState => "hard state",
            Invariant::NoPhantomReads => "no phantom reads",
            Invariant::Linearizability => "linearizability",
            Invariant::Classification => "classification",
            Invariant::IdempotentRecovery => "recovery is idempotent",
            Invariant::Determinism => "determinism",
            Invariant::Liveness => "liveness (every acknowledgement arrives)",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {} ({})", self.number(), self.name())
    }
}

/// A broken invariant and what the check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// What broke it.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.message)
    }
}

fn violation(invariant: Invariant, message: String) -> Violation {
    Violation { invariant, message }
}

/// A short description of an entry for diffs.
pub fn describe(e: Option<&Entry>) -> String {
    match e {
        None => "nothing".into(),
        Some(e) => format!(
            "(index {}, term {}, {} bytes, hash {:016x})",
            e.index,
            e.term,
            e.payload.len(),
            crate::trace::fnv1a(&e.payload)
        ),
    }
}

/// The expected-versus-recovered difference, for a failure's picture: one row per index
/// where the last durable state, the latest state and the recovered store do not all agree,
/// `"<index> | <durable> | <latest> | <recovered>"`, at most `rows_max` rows (the first
/// ones, where a log goes wrong first).
pub fn diff_rows(m: &Model, r: &Recovered, rows_max: usize) -> Vec<String> {
    let durable = &m.history[0];
    let latest = m.current();
    let recovered = |i: u64| r.entries.iter().find(|e| e.index == i);
    let last = durable
        .last()
        .index
        .max(latest.last().index)
        .max(r.last_index);
    (1..=last)
        .filter_map(|i| {
            let row = [durable.visible(i), latest.visible(i), recovered(i)].map(describe);
            (row[0] != row[1] || row[1] != row[2]).then(|| format!("{i} | {}", row.join(" | ")))
        })
        .take(rows_max)
        .collect()
}

mod checks;
#[cfg(test)]
mod tests;

pub use checks::check_recovered;

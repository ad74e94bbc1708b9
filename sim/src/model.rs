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

/// Checks invariants 1-4 on a recovered store. Returns the number of checks made.
pub fn check_recovered(m: &Model, r: &Recovered) -> Result<u64, Violation> {
    let b = r.boundary.map_or(0, |l| l.index);
    let mut checks = 0;
    // The store's own shape: contiguous entries above the boundary.
    for (k, e) in r.entries.iter().enumerate() {
        if e.index != b + 1 + k as u64 {
            return Err(violation(
                Invariant::RealStatePrefix,
                format!(
                    "recovered entries are not contiguous from {}: found index {} at position {k}",
                    b + 1,
                    e.index
                ),
            ));
        }
    }
    let last = r.entries.last().map_or(b, |e| e.index);
    if last != r.last_index {
        return Err(violation(
            Invariant::RealStatePrefix,
            format!("last_index {} but the entries end at {last}", r.last_index),
        ));
    }
    // 3. No resurrection.
    let s_k = &m.history[0];
    checks += 1;
    if b < s_k.boundary_index() || b < m.boundary_floor {
        return Err(violation(
            Invariant::NoResurrection,
            format!(
                "recovered boundary {b} is below the durable boundary {} (acknowledged floor {})",
                s_k.boundary_index(),
                m.boundary_floor
            ),
        ));
    }
    if !m.history.iter().any(|s| s.boundary == r.boundary) {
        return Err(violation(
            Invariant::NoResurrection,
            format!(
                "recovered boundary {:?} is no state's boundary since the last durable one",
                r.boundary
            ),
        ));
    }
    // 1. Durable prefix: what every state since S_k shares must be there.
    checks += 1;
    let mut i = s_k.boundary_index() + 1;
    while let Some(e) = s_k.get(i) {
        if !m.history[1..].iter().all(|s| s.get(i) == Some(e)) {
            break;
        }
        if i > b {
            let got = r.entries.get((i - b - 1) as usize);
            if got != Some(e) {
                return Err(violation(
                    Invariant::DurablePrefix,
                    format!(
                        "index {i}: durable {} but recovered {}",
                        describe(Some(e)),
                        describe(got)
                    ),
                ));
            }
        }
        i += 1;
    }
    // 1, as the store reported it: every entry up to the durable index it claimed.
    checks += 1;
    for i in (b + 1)..=m.claimed_durable {
        let want = m.current().get(i);
        let got = r.entries.get((i - b - 1) as usize);
        if want.is_some() && got != want {
            return Err(violation(
                Invariant::DurablePrefix,
                format!(
                    "the store reported index {} durable, but index {i} recovered {} instead of {}",
                    m.claimed_durable,
                    describe(got),
                    describe(want)
                ),
            ));
        }
    }
    // 2. Prefix of a real state.
    checks += 1;
    let agrees = |s: &State| {
        r.entries.iter().all(|e| s.get(e.index) == Some(e))
            && last <= s.last().index.max(s.log.last().map_or(0, |e| e.index))
    };
    if !m.history.iter().any(agrees) {
        let s = m.current();
        let bad = r.entries.iter().find(|e| s.get(e.index) != Some(*e));
        return Err(violation(Invariant::RealStatePrefix, match bad {
            Some(e) => format!("index {}: recovered {} matches no state since the last durable one (current has {})",
                e.index, describe(Some(e)), describe(s.get(e.index))),
            None => format!("recovered log ends at {last}, past every state since the last durable one"),
        }));
    }
    // 4. Hard state.
    checks += 1;
    if r.hard_state != m.hard_state && Some(r.hard_state) != m.hard_state_in_flight {
        return Err(violation(
            Invariant::HardState,
            format!(
                "recovered {:?}, last saved {:?}",
                r.hard_state, m.hard_state
            ),
        ));
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(index: u64, term: u64) -> Entry {
        Entry::new(index, term, format!("{index}/{term}").into_bytes())
    }

    fn model(states: Vec<State>) -> Model {
        Model {
            history: states,
            ..Model::default()
        }
    }

    fn st(entries: Vec<Entry>, boundary: Option<LogId>) -> State {
        State {
            boundary,
            log: Arc::new(entries),
        }
    }

    fn rec(entries: Vec<Entry>, boundary: Option<LogId>) -> Recovered {
        let last = entries
            .last()
            .map_or(boundary.map_or(0, |b| b.index), |e| e.index);
        Recovered {
            boundary,
            last_index: last,
            entries,
            hard_state: HardState::default(),
        }
    }

    /// (what happened, the history, what recovery found, the invariant that must fail or 0)
    #[test]
    fn the_checks_accept_exactly_the_legal_recoveries() {
        let durable = st(vec![e(1, 1), e(2, 1)], None);
        let appended = st(vec![e(1, 1), e(2, 1), e(3, 1), e(4, 1)], None);
        let truncated = st(vec![e(1, 1), e(2, 1), e(3, 2)], None);
        let purged = st(vec![e(1, 1), e(2, 1)], Some(LogId::new(1, 2)));
        let cases: Vec<(&str, Vec<State>, Recovered, u8)> = vec![
            (
                "exact durable state",
                vec![durable.clone()],
                rec(vec![e(1, 1), e(2, 1)], None),
                0,
            ),
            (
                "lost a durable entry",
                vec![durable.clone()],
                rec(vec![e(1, 1)], None),
                1,
            ),
            (
                "unflushed suffix lost",
                vec![durable.clone(), appended.clone()],
                rec(vec![e(1, 1), e(2, 1), e(3, 1)], None),
                0,
            ),
            (
                "a hole",
                vec![durable.clone(), appended.clone()],
                rec(vec![e(1, 1), e(2, 1), e(4, 1)], None),
                2,
            ),
            (
                "mixes a truncated entry with its replacement",
                vec![durable.clone(), appended.clone(), truncated.clone()],
                rec(vec![e(1, 1), e(2, 1), e(3, 2), e(4, 1)], None),
                2,
            ),
            (
                "replacement kept",
                vec![durable.clone(), appended.clone(), truncated.clone()],
                rec(vec![e(1, 1), e(2, 1), e(3, 2)], None),
                0,
            ),
            (
                "never written",
                vec![durable.clone()],
                rec(vec![e(1, 1), e(2, 1), e(3, 9)], None),
                2,
            ),
            (
                "durable purge resurrected",
                vec![purged.clone()],
                rec(vec![e(1, 1), e(2, 1)], None),
                3,
            ),
            (
                "purge in flight may be lost",
                vec![durable.clone(), purged.clone()],
                rec(vec![e(1, 1), e(2, 1)], None),
                0,
            ),
            (
                "purge in flight may land",
                vec![durable.clone(), purged.clone()],
                rec(vec![], Some(LogId::new(1, 2))),
                0,
            ),
            (
                "a boundary nobody set",
                vec![durable.clone()],
                rec(vec![e(2, 1)], Some(LogId::new(1, 1))),
                3,
            ),
        ];
        for (name, history, r, want) in cases {
            let got = check_recovered(&model(history), &r)
                .err()
                .map_or(0, |v| v.invariant.number());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn hard_state_must_be_the_last_saved_or_the_one_in_flight() {
        let mut m = model(vec![State::default()]);
        m.hard_state = HardState {
            term: 2,
            vote: Some(1),
            commit: 0,
        };
        let mut r = rec(vec![], None);
        r.hard_state = HardState {
            term: 1,
            vote: Some(1),
            commit: 0,
        };
        assert_eq!(
            check_recovered(&m, &r).unwrap_err().invariant,
            Invariant::HardState
        );
        m.hard_state_in_flight = Some(r.hard_state);
        assert!(check_recovered(&m, &r).is_ok());
    }
}

#[cfg(test)]
mod invariant_tests {
    use super::Invariant;

    /// Each invariant's number and name are those of docs/DESIGN.md §3 (`N. **Name...`),
    /// so a report's "invariant N (name)" can be looked up there.
    #[test]
    fn invariants_are_numbered_and_named_as_the_design_document_does() {
        let doc = include_str!("../../docs/DESIGN.md");
        let start = doc.find("## 3. The invariants").expect("DESIGN.md has §3");
        let end = doc[start..]
            .find("\n## 4.")
            .map_or(doc.len(), |e| start + e);
        let design = &doc[start..end];
        for i in Invariant::ALL.into_iter().skip(1) {
            let heading = format!("\n{}. **", i.number());
            let at = design
                .find(&heading)
                .unwrap_or_else(|| panic!("DESIGN.md has no item {}", i.number()));
            let line = design[at + heading.len()..].lines().next().unwrap_or("");
            let word = i.name().split_whitespace().next().unwrap_or("");
            assert!(
                line.to_lowercase().starts_with(word),
                "{i}: DESIGN.md says `{line}`"
            );
        }
        for (n, i) in Invariant::ALL.into_iter().enumerate() {
            assert_eq!(Invariant::from_number(n as u8), Some(i));
        }
        assert_eq!(Invariant::from_number(11), None);
    }
}

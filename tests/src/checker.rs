//! The kill test's checker: given the state a round started from, everything the crashee
//! printed before it was killed, and what the reopened store shows, decide whether the
//! store kept its promises (docs/DESIGN.md §3, invariants 1–5).
//!
//! The round's history is the sequence of elementary mutations the crashee *attempted*
//! (from its intent lines): `Append(index, term)` per entry, `Truncate(from)`,
//! `Purge(LogId)`. State `S_j` is the start state after the first `j` mutations. An
//! acknowledgement names one mutation and promises that it and everything before it is
//! durable, so the last durable state is `S_k`, `k` = one past the latest acknowledged
//! mutation. The in-flight operation and every unacknowledged one may or may not have
//! reached the disk (a SIGKILL loses no page cache, so often they did). The recovered store
//! (boundary `B`, entries `R` above it) must satisfy:
//!
//! - **shape**: `first_index == B + 1`, `R` contiguous up to `last_index`, terms never
//!   decrease, `last_log_id` is `R`'s last entry (else the boundary), and every payload is
//!   exactly `payload(index, term)` (no phantom or damaged bytes);
//! - **durable prefix** (1): every entry of `S_k` above `B` that no later attempted
//!   truncation may have removed is in `R`, with its term (and so its bytes); in
//!   particular every `D` ack not followed by an attempted truncation at or below it;
//! - **prefix of a real state** (2): `R` agrees index by index with the log of one `S_j`,
//!   `j >= k`, and ends at or before its end;
//! - **no resurrection** (3): `B >= B_k`, `B` is the boundary of some `S_j`, `j >= k`, and
//!   so at least every acknowledged `P`;
//! - **hard state** (4): the last acknowledged `H`, or the one whose save was in flight.
//!
//! In the model, as in docs/DESIGN.md §3, a purge only moves the boundary: entries leave a log
//! only by truncation.

use std::collections::{BTreeMap, HashMap, HashSet};

use logbook::{Entry, HardState, LogId, Store};

use crate::protocol::{Line, StartLine};
use crate::workload::payload_matches;

/// A recovered state the checker accepted: the start of the next round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub last_purged: Option<LogId>,
    /// The entries above the boundary, contiguous.
    pub entries: Vec<LogId>,
    pub hard_state: HardState,
}

impl Verified {
    pub fn boundary(&self) -> u64 {
        self.last_purged.map_or(0, |l| l.index)
    }

    pub fn last_log_id(&self) -> Option<LogId> {
        self.entries.last().copied().or(self.last_purged)
    }

    /// The `S` line a crashee opening this state must print.
    pub fn start_line(&self) -> StartLine {
        let last = self.last_log_id().unwrap_or(LogId::new(0, 0));
        StartLine {
            first_index: self.boundary() + 1,
            last_index: last.index,
            last_term: last.term,
            last_purged: self.last_purged,
            hard_state: self.hard_state,
        }
    }
}

/// What a reopened store shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub first_index: u64,
    pub last_index: u64,
    pub last_log_id: Option<LogId>,
    pub last_purged: Option<LogId>,
    pub hard_state: HardState,
    /// What reads of `first_index..=last_index` returned, in order.
    pub entries: Vec<Entry>,
    /// Reads that misbehaved (an entry at or below the boundary, a purged range readable).
    pub read_problems: Vec<String>,
}

impl Snapshot {
    /// Reads everything the store holds. An error is a recovery or read failure.
    pub fn read(store: &Store) -> logbook::Result<Snapshot> {
        let mut s = Snapshot {
            first_index: store.first_index()?,
            last_index: store.last_index()?,
            last_log_id: store.last_log_id()?,
            last_purged: store.last_purged()?,
            hard_state: store.hard_state()?,
            ..Snapshot::default()
        };
        let mut from = s.first_index;
        while from <= s.last_index {
            let batch = store.entries(from, s.last_index + 1, 512, 1 << 20)?;
            let Some(last) = batch.last() else { break };
            from = last.index + 1;
            s.entries.extend(batch);
        }
        let boundary = s.last_purged.map_or(0, |l| l.index);
        if boundary > 0 {
            if let Some(e) = store.entry(boundary)? {
                s.read_problems.push(format!(
                    "entry({boundary}) at the boundary returned ({}, {})",
                    e.index, e.term
                ));
            }
            if store.entries(boundary, boundary + 1, 1, u64::MAX).is_ok() {
                s.read_problems.push(format!(
                    "entries({boundary}..) at the boundary did not fail"
                ));
            }
        }
        // The single-entry path must agree with the range path at both ends.
        for e in [s.entries.first(), s.entries.last()].into_iter().flatten() {
            if store.entry(e.index)?.as_ref() != Some(e) {
                s.read_problems
                    .push(format!("entry({}) disagrees with entries()", e.index));
            }
        }
        Ok(s)
    }

    fn boundary(&self) -> u64 {
        self.last_purged.map_or(0, |l| l.index)
    }

    /// The state this snapshot shows, for the next round.
    pub fn verified(&self) -> Verified {
        Verified {
            last_purged: self.last_purged,
            entries: self.entries.iter().map(Entry::log_id).collect(),
            hard_state: self.hard_state,
        }
    }
}

/// What one check covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Recovered entries whose index, term and bytes were checked.
    pub entries_verified: u64,
    pub bytes_verified: u64,
    /// `D` lines read, and how many of them the recovered store still had to hold.
    pub acked_entries: u64,
    pub acked_entries_required: u64,
    /// Entries of the last durable state the durable-prefix rule required.
    pub durable_prefix_entries: u64,
    pub truncations_attempted: u64,
    pub truncations_acked: u64,
    pub purges_attempted: u64,
    pub purges_acked: u64,
    pub hard_states_acked: u64,
    /// Rounds whose recovered state went past the last acknowledged one (fine: unacked
    /// writes may survive a SIGKILL) and rounds that recovered a boundary or hard state
    /// from an unacknowledged operation.
    pub recovered_beyond_ack: u64,
    pub unacked_boundary: u64,
    pub in_flight_hard_state: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.entries_verified += o.entries_verified;
        self.bytes_verified += o.bytes_verified;
        self.acked_entries += o.acked_entries;
        self.acked_entries_required += o.acked_entries_required;
        self.durable_prefix_entries += o.durable_prefix_entries;
        self.truncations_attempted += o.truncations_attempted;
        self.truncations_acked += o.truncations_acked;
        self.purges_attempted += o.purges_attempted;
        self.purges_acked += o.purges_acked;
        self.hard_states_acked += o.hard_states_acked;
        self.recovered_beyond_ack += o.recovered_beyond_ack;
        self.unacked_boundary += o.unacked_boundary;
        self.in_flight_hard_state += o.in_flight_hard_state;
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub violations: Vec<String>,
    pub stats: Stats,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mutation {
    Append(LogId),
    Truncate(u64),
    Purge(LogId),
}

fn fmt_id(id: Option<LogId>) -> String {
    id.map_or("none".to_string(), |l| format!("({}, {})", l.index, l.term))
}

/// Checks one round. `start` is the state the crashee opened (the previous round's
/// verified state), `lines` what it printed, `snap` what the reopened store shows.
pub fn check(start: &Verified, lines: &[Line], snap: &Snapshot) -> Report {
    let mut v: Vec<String> = Vec::new();
    let mut st = Stats::default();

    check_shape(snap, &mut v, &mut st);

    // The history: mutations from the intents, and the latest position of each, so that an
    // ack finds the mutation it acknowledges.
    let mut muts: Vec<Mutation> = Vec::new();
    let mut latest: HashMap<Mutation, usize> = HashMap::new();
    let mut k = 0usize;
    let mut acked_entries: Vec<(LogId, usize)> = Vec::new();
    let mut acked_purges: Vec<LogId> = Vec::new();
    let mut last_acked_hs: Option<HardState> = None;
    let mut hs_in_flight: Option<HardState> = None;
    fn push(m: Mutation, muts: &mut Vec<Mutation>, latest: &mut HashMap<Mutation, usize>) {
        latest.insert(m, muts.len());
        muts.push(m);
    }
    for (n, line) in lines.iter().enumerate() {
        match line {
            Line::Start(s) => {
                if n != 0 {
                    v.push(format!("protocol: S line at line {}", n + 1));
                }
                let want = start.start_line();
                if *s != want {
                    v.push(format!(
                        "recovery is not idempotent: the crashee opened {s:?}, \
                         the checker had verified {want:?}"
                    ));
                }
            }
            Line::Append { first, last, term } => {
                for index in *first..=*last {
                    push(
                        Mutation::Append(LogId::new(*term, index)),
                        &mut muts,
                        &mut latest,
                    );
                }
            }
            Line::Truncate { from } => {
                st.truncations_attempted += 1;
                push(Mutation::Truncate(*from), &mut muts, &mut latest);
            }
            Line::Purge(id) => {
                st.purges_attempted += 1;
                push(Mutation::Purge(*id), &mut muts, &mut latest);
            }
            Line::HardState(hs) => hs_in_flight = Some(*hs),
            Line::AckEntry { index, term } => {
                st.acked_entries += 1;
                let id = LogId::new(*term, *index);
                match latest.get(&Mutation::Append(id)) {
                    Some(&pos) => {
                        k = k.max(pos + 1);
                        acked_entries.push((id, pos));
                    }
                    None => v.push(format!(
                        "protocol: ack D {index} {term} for an entry never appended"
                    )),
                }
            }
            Line::AckTruncate { from } => {
                st.truncations_acked += 1;
                match latest.get(&Mutation::Truncate(*from)) {
                    Some(&pos) => k = k.max(pos + 1),
                    None => v.push(format!("protocol: ack T {from} without its intent")),
                }
            }
            Line::AckPurge(id) => {
                st.purges_acked += 1;
                match latest.get(&Mutation::Purge(*id)) {
                    Some(&pos) => {
                        k = k.max(pos + 1);
                        acked_purges.push(*id);
                    }
                    None => v.push(format!(
                        "protocol: ack P {} {} without its intent",
                        id.index, id.term
                    )),
                }
            }
            Line::AckHardState(hs) => {
                st.hard_states_acked += 1;
                if hs_in_flight != Some(*hs) {
                    v.push(format!("protocol: ack H {hs:?} without its intent"));
                }
                last_acked_hs = Some(*hs);
                hs_in_flight = None;
            }
            Line::Error(msg) => v.push(format!("the crashee's store returned an error: {msg}")),
        }
    }

    // Replay the history, collecting what the invariants need about the states S_j, j >= k.
    let boundary = snap.boundary();
    let recovered: BTreeMap<u64, u64> = snap.entries.iter().map(|e| (e.index, e.term)).collect();
    let r_last = snap.entries.last().map(Entry::log_id);
    let mut log: BTreeMap<u64, u64> = start.entries.iter().map(|l| (l.index, l.term)).collect();
    let mut bound = start.last_purged;
    let mut last = start.last_log_id().unwrap_or(LogId::new(0, 0));
    let mut log_k = BTreeMap::new();
    let mut bound_k = None;
    let mut bounds_after_k: HashSet<Option<LogId>> = HashSet::new();
    let mut trunc_after_k: Option<u64> = None;
    let mut truncations: Vec<(usize, u64)> = Vec::new();
    let mut agrees: Option<u64> = None; // the j whose log R agrees with
    let mut disagreement: Option<String> = None;
    let mut protocol_broken = false;
    for j in 0..=muts.len() {
        if j == k {
            log_k = log.clone();
            bound_k = bound;
        }
        if j >= k {
            bounds_after_k.insert(bound);
            let fresh = j == k || (Some(muts[j - 1]) == r_last.map(Mutation::Append));
            if agrees.is_none() && fresh {
                match r_last {
                    None => agrees = Some(j as u64),
                    Some(rl) if log.get(&rl.index) == Some(&rl.term) => {
                        match snap
                            .entries
                            .iter()
                            .find(|e| log.get(&e.index) != Some(&e.term))
                        {
                            None => agrees = Some(j as u64),
                            Some(e) => {
                                disagreement.get_or_insert(format!(
                                    "recovered entry ({}, {}) but the state after {j} \
                                     mutations that holds the recovered last entry has {}",
                                    e.index,
                                    e.term,
                                    log.get(&e.index)
                                        .map_or("nothing".to_string(), |t| format!("term {t}"))
                                ));
                            }
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        let Some(&m) = muts.get(j) else { break };
        match m {
            Mutation::Append(id) => {
                if id.index != last.index + 1 || id.term < last.term {
                    protocol_broken = true;
                    v.push(format!(
                        "protocol: append of ({}, {}) after ({}, {})",
                        id.index, id.term, last.index, last.term
                    ));
                }
                log.insert(id.index, id.term);
                last = id;
            }
            Mutation::Truncate(from) => {
                let b = bound.map_or(0, |l| l.index);
                if from <= b {
                    protocol_broken = true;
                    v.push(format!(
                        "protocol: truncate {from} at or below boundary {b}"
                    ));
                }
                truncations.push((j, from));
                if j >= k {
                    trunc_after_k = Some(trunc_after_k.map_or(from, |t| t.min(from)));
                }
                if from <= last.index {
                    log.split_off(&from);
                    last = match log.get(&(from - 1)) {
                        Some(&t) if from - 1 > b => LogId::new(t, from - 1),
                        _ => bound.unwrap_or(LogId::new(0, 0)),
                    };
                }
            }
            Mutation::Purge(id) => {
                if id.index > bound.map_or(0, |l| l.index) {
                    bound = Some(id);
                    if id.index >= last.index {
                        last = id;
                    }
                }
            }
        }
    }
    if protocol_broken {
        return Report {
            violations: v,
            stats: st,
        };
    }

    // (2) R agrees with the log of one S_j, j >= k.
    if agrees.is_none() {
        v.push(disagreement.unwrap_or_else(|| {
            format!(
                "phantom: the recovered last entry {} is in no log state at or after the \
                 last durable one (mutation {k} of {})",
                fmt_id(r_last),
                muts.len()
            )
        }));
    } else if snap
        .entries
        .iter()
        .any(|e| log_k.get(&e.index) != Some(&e.term))
    {
        st.recovered_beyond_ack = 1;
    }

    // (1) The durable prefix: S_k's entries above B that no later truncation may have cut.
    let k_end = log_k.keys().next_back().copied().unwrap_or(0);
    let prefix_end = trunc_after_k.map_or(k_end, |t| k_end.min(t - 1));
    let required = if prefix_end > boundary {
        log_k.range(boundary + 1..=prefix_end)
    } else {
        log_k.range(0..0)
    };
    for (&index, &term) in required {
        st.durable_prefix_entries += 1;
        if recovered.get(&index) != Some(&term) {
            v.push(format!(
                "durable prefix lost: entry ({index}, {term}) of the last durable state \
                 (mutation {k} of {}) is {} after recovery (boundary {boundary})",
                muts.len(),
                recovered
                    .get(&index)
                    .map_or("missing".to_string(), |t| format!("term {t}"))
            ));
            break;
        }
    }
    // The same for each D ack, by name, for a readable message (the first few of them).
    let mut lost = 0usize;
    for &(id, pos) in &acked_entries {
        let cut_later = truncations
            .iter()
            .any(|&(tp, from)| tp > pos && from <= id.index);
        if id.index <= boundary || cut_later {
            continue;
        }
        st.acked_entries_required += 1;
        if recovered.get(&id.index) != Some(&id.term) {
            lost += 1;
            if lost > 5 {
                continue;
            }
            v.push(format!(
                "acknowledged entry lost: D {} {} but the store has {}",
                id.index,
                id.term,
                recovered
                    .get(&id.index)
                    .map_or("nothing".to_string(), |t| format!("term {t}"))
            ));
        }
    }

    if lost > 5 {
        v.push(format!("... {} more acknowledged entries lost", lost - 5));
    }

    // (3) No resurrection: B is the boundary of some S_j, j >= k, so at least B_k.
    let b_k = bound_k.map_or(0, |l| l.index);
    if boundary < b_k {
        v.push(format!(
            "purge undone: boundary {} is below the durable boundary {}",
            fmt_id(snap.last_purged),
            fmt_id(bound_k)
        ));
    } else if !bounds_after_k.contains(&snap.last_purged) {
        v.push(format!(
            "boundary {} is no boundary the log had at or after its durable state",
            fmt_id(snap.last_purged)
        ));
    }
    if snap.last_purged != bound_k {
        st.unacked_boundary = 1;
    }
    for p in &acked_purges {
        if boundary < p.index {
            v.push(format!(
                "acknowledged purge lost: P {} {} but last_purged is {}",
                p.index,
                p.term,
                fmt_id(snap.last_purged)
            ));
        }
    }

    // (4) The hard state.
    let acked_hs = last_acked_hs.unwrap_or(start.hard_state);
    if snap.hard_state != acked_hs {
        if Some(snap.hard_state) == hs_in_flight {
            st.in_flight_hard_state = 1;
        } else {
            v.push(format!(
                "hard state {:?} is neither the last acknowledged {:?} nor the one in flight {:?}",
                snap.hard_state, acked_hs, hs_in_flight
            ));
        }
    }

    Report {
        violations: v,
        stats: st,
    }
}

/// The snapshot's own consistency: contiguity, terms, bounds and every payload's bytes.
fn check_shape(snap: &Snapshot, v: &mut Vec<String>, st: &mut Stats) {
    v.extend(snap.read_problems.iter().cloned());
    let boundary = snap.boundary();
    if snap.first_index != boundary + 1 {
        v.push(format!(
            "first_index {} but last_purged is {}",
            snap.first_index,
            fmt_id(snap.last_purged)
        ));
    }
    if snap.last_index < boundary {
        v.push(format!(
            "last_index {} below the boundary {boundary}",
            snap.last_index
        ));
    }
    let want_count = snap.last_index.saturating_sub(boundary);
    if snap.entries.len() as u64 != want_count {
        v.push(format!(
            "hole: reads of {}..={} returned {} entries, expected {want_count}",
            snap.first_index,
            snap.last_index,
            snap.entries.len()
        ));
    }
    let mut prev = snap.last_purged.unwrap_or(LogId::new(0, 0));
    for (i, e) in snap.entries.iter().enumerate() {
        let want_index = boundary + 1 + i as u64;
        if e.index != want_index {
            v.push(format!(
                "not contiguous: read returned index {} where {want_index} belongs",
                e.index
            ));
            break;
        }
        if e.term < prev.term {
            v.push(format!(
                "term decreases: ({}, {}) after ({}, {})",
                e.index, e.term, prev.index, prev.term
            ));
        }
        if !payload_matches(e.index, e.term, &e.payload) {
            v.push(format!(
                "phantom or damaged payload at ({}, {}): {} bytes starting {:?}",
                e.index,
                e.term,
                e.payload.len(),
                String::from_utf8_lossy(&e.payload[..e.payload.len().min(24)])
            ));
        }
        st.entries_verified += 1;
        st.bytes_verified += e.payload.len() as u64;
        prev = e.log_id();
    }
    let want_last = snap.entries.last().map(Entry::log_id).or(snap.last_purged);
    if snap.last_log_id != want_last {
        v.push(format!(
            "last_log_id {} but the log ends at {}",
            fmt_id(snap.last_log_id),
            fmt_id(want_last)
        ));
    }
}

#[cfg(test)]
mod tests {
    //! The checker must be able to fail: doctored stores and doctored ack streams, each
    //! next to its honest twin that passes.

    use super::*;
    use crate::protocol::parse_output;
    use crate::workload::{payload, store_config};
    use logbook::{Config, FlushPolicy, Strategy};

    fn hs(term: u64, vote: Option<u64>, commit: u64) -> HardState {
        HardState { term, vote, commit }
    }

    /// A snapshot holding `(index, term)` entries with their true payloads.
    fn snap(purged: Option<LogId>, entries: &[(u64, u64)], hard_state: HardState) -> Snapshot {
        let entries: Vec<Entry> = entries
            .iter()
            .map(|&(i, t)| Entry::new(i, t, payload(i, t)))
            .collect();
        let boundary = purged.map_or(0, |l| l.index);
        Snapshot {
            first_index: boundary + 1,
            last_index: entries.last().map_or(boundary, |e| e.index),
            last_log_id: entries.last().map(Entry::log_id).or(purged),
            last_purged: purged,
            hard_state,
            entries,
            read_problems: Vec::new(),
        }
    }

    fn run(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<(u64, u64)> {
        range.map(|i| (i, term)).collect()
    }

    fn acks(range: std::ops::RangeInclusive<u64>, term: u64) -> String {
        range.map(|i| format!("D {i} {term}\n")).collect()
    }

    fn lines(text: &str) -> Vec<Line> {
        parse_output(text.as_bytes()).unwrap()
    }

    fn assert_violation(report: &Report, needle: &str) {
        assert!(
            report.violations.iter().any(|v| v.contains(needle)),
            "expected a violation containing {needle:?}, got {:?}",
            report.violations
        );
    }

    fn assert_clean(report: &Report) {
        assert!(
            report.ok(),
            "unexpected violations: {:?}",
            report.violations
        );
    }

    const START: &str = "S 1 0 0 - - 0 - 0\nh 1 1 0\nH 1 1 0\n";

    #[test]
    fn honest_round_passes_and_counts() {
        let text = format!("{START}a 1 10 1\n{}", acks(1..=10, 1));
        let r = check(
            &Verified::default(),
            &lines(&text),
            &snap(None, &run(1..=10, 1), hs(1, Some(1), 0)),
        );
        assert_clean(&r);
        assert_eq!(r.stats.entries_verified, 10);
        assert_eq!(r.stats.acked_entries_required, 10);
        assert!(r.stats.bytes_verified > 0);
    }

    #[test]
    fn ack_for_an_entry_the_store_lacks_is_reported() {
        // Doctored ack stream: the store holds 1..=10, the crashee claims 1..=12 durable.
        let text = format!("{START}a 1 12 1\n{}", acks(1..=12, 1));
        let r = check(
            &Verified::default(),
            &lines(&text),
            &snap(None, &run(1..=10, 1), hs(1, Some(1), 0)),
        );
        assert_violation(&r, "acknowledged entry lost: D 11 1");
        assert_violation(&r, "durable prefix lost");
        // Without the acks for 11 and 12 the same store is fine (they may be lost).
        let text = format!("{START}a 1 12 1\n{}", acks(1..=10, 1));
        let r = check(
            &Verified::default(),
            &lines(&text),
            &snap(None, &run(1..=10, 1), hs(1, Some(1), 0)),
        );
        assert_clean(&r);
    }

    #[test]
    fn ack_without_an_append_is_reported() {
        let text = format!("{START}a 1 3 1\n{}D 50 1\n", acks(1..=3, 1));
        let r = check(
            &Verified::default(),
            &lines(&text),
            &snap(None, &run(1..=3, 1), hs(1, Some(1), 0)),
        );
        assert_violation(&r, "never appended");
    }

    #[test]
    fn damaged_or_foreign_payload_is_reported() {
        let text = format!("{START}a 1 5 1\n{}", acks(1..=5, 1));
        let mut s = snap(None, &run(1..=5, 1), hs(1, Some(1), 0));
        s.entries[2].payload = bytes::Bytes::from(payload(3, 2));
        let r = check(&Verified::default(), &lines(&text), &s);
        assert_violation(&r, "phantom or damaged payload at (3, 1)");
    }

    #[test]
    fn entry_never_written_is_a_phantom() {
        // The store shows (6, 2), which no state of the history ever held.
        let text = format!("{START}a 1 6 1\n{}", acks(1..=5, 1));
        let mut entries = run(1..=5, 1);
        entries.push((6, 2));
        let r = check(
            &Verified::default(),
            &lines(&text),
            &snap(None, &entries, hs(1, Some(1), 0)),
        );
        assert_violation(&r, "phantom");
        // (6, 1) was appended, never acknowledged: keeping it is fine.
        let r = check(
            &Verified::default(),
            &lines(&text),
            &snap(None, &run(1..=6, 1), hs(1, Some(1), 0)),
        );
        assert_clean(&r);
    }

    #[test]
    fn acknowledged_truncation_undone_is_reported() {
        let history = format!(
            "{START}a 1 10 1\n{}h 2 1 0\nH 2 1 0\nt 6\nT 6\na 6 8 2\n",
            acks(1..=10, 1)
        );
        // The truncation was acknowledged, so the old suffix must not come back.
        let r = check(
            &Verified::default(),
            &lines(&history),
            &snap(None, &run(1..=10, 1), hs(2, Some(1), 0)),
        );
        assert_violation(&r, "phantom");
        // A mix of the old suffix and its replacement is no state of the log.
        let mut mixed = run(1..=6, 1);
        mixed.extend(run(7..=8, 2));
        let r = check(
            &Verified::default(),
            &lines(&history),
            &snap(None, &mixed, hs(2, Some(1), 0)),
        );
        assert!(!r.ok(), "a mixed log passed");
        // The honest outcomes: cut, cut and partly re-appended.
        for entries in [run(1..=5, 1), [run(1..=5, 1), run(6..=7, 2)].concat()] {
            let r = check(
                &Verified::default(),
                &lines(&history),
                &snap(None, &entries, hs(2, Some(1), 0)),
            );
            assert_clean(&r);
        }
    }

    #[test]
    fn truncation_in_flight_may_or_may_not_have_happened() {
        let history = format!("{START}a 1 10 1\n{}t 6\n", acks(1..=10, 1));
        for entries in [run(1..=10, 1), run(1..=5, 1), run(1..=8, 1)] {
            let r = check(
                &Verified::default(),
                &lines(&history),
                &snap(None, &entries, hs(1, Some(1), 0)),
            );
            assert_clean(&r);
        }
        // ...but it cannot cut below its `from`.
        let r = check(
            &Verified::default(),
            &lines(&history),
            &snap(None, &run(1..=4, 1), hs(1, Some(1), 0)),
        );
        assert_violation(&r, "durable prefix lost: entry (5, 1)");
    }

    #[test]
    fn purge_undone_and_hard_state_lost_are_reported() {
        let history = format!(
            "{START}a 1 10 1\n{}p 5 1\nP 5 1\nh 1 1 5\nH 1 1 5\n",
            acks(1..=10, 1)
        );
        let r = check(
            &Verified::default(),
            &lines(&history),
            &snap(None, &run(1..=10, 1), hs(1, Some(1), 0)),
        );
        assert_violation(&r, "purge undone");
        assert_violation(&r, "acknowledged purge lost");
        assert_violation(&r, "hard state");
        let r = check(
            &Verified::default(),
            &lines(&history),
            &snap(Some(LogId::new(1, 5)), &run(6..=10, 1), hs(1, Some(1), 5)),
        );
        assert_clean(&r);
        // A boundary no purge ever set is reported too.
        let r = check(
            &Verified::default(),
            &lines(&history),
            &snap(Some(LogId::new(1, 6)), &run(7..=10, 1), hs(1, Some(1), 5)),
        );
        assert_violation(&r, "no boundary");
    }

    #[test]
    fn purge_and_hard_state_in_flight_may_have_landed() {
        let history = format!("{START}a 1 10 1\n{}p 5 1\nh 1 1 5\n", acks(1..=10, 1));
        for (purged, entries) in [
            (None, run(1..=10, 1)),
            (Some(LogId::new(1, 5)), run(6..=10, 1)),
        ] {
            for h in [hs(1, Some(1), 0), hs(1, Some(1), 5)] {
                let r = check(
                    &Verified::default(),
                    &lines(&history),
                    &snap(purged, &entries, h),
                );
                assert_clean(&r);
            }
        }
    }

    #[test]
    fn holes_and_shape_errors_are_reported() {
        let text = format!("{START}a 1 10 1\n{}", acks(1..=10, 1));
        let mut s = snap(None, &run(1..=10, 1), hs(1, Some(1), 0));
        s.entries.remove(4);
        let r = check(&Verified::default(), &lines(&text), &s);
        assert_violation(&r, "hole");
        assert_violation(&r, "not contiguous");
        let mut s = snap(None, &run(1..=10, 1), hs(1, Some(1), 0));
        s.last_log_id = Some(LogId::new(1, 11));
        let r = check(&Verified::default(), &lines(&text), &s);
        assert_violation(&r, "last_log_id");
    }

    #[test]
    fn a_restart_that_recovers_another_state_is_reported() {
        let start = Verified {
            last_purged: None,
            entries: (1..=4).map(|i| LogId::new(1, i)).collect(),
            hard_state: hs(1, Some(1), 2),
        };
        let r = check(
            &start,
            &lines("S 1 3 1 - - 1 1 2\n"),
            &snap(None, &run(1..=4, 1), hs(1, Some(1), 2)),
        );
        assert_violation(&r, "not idempotent");
        // The start state is durable: losing part of it is reported even with no acks.
        let r = check(
            &start,
            &lines("S 1 4 1 - - 1 1 2\n"),
            &snap(None, &run(1..=3, 1), hs(1, Some(1), 2)),
        );
        assert_violation(&r, "durable prefix lost: entry (4, 1)");
    }

    fn real_store(entries: &[Entry]) -> (tempfile::TempDir, Config) {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = store_config(Strategy::DiskFirst, FlushPolicy::Immediate, 4096);
        let store = Store::open(tmp.path(), cfg.clone()).unwrap();
        store.append(entries).unwrap();
        store.save_hard_state(hs(1, Some(1), 0)).unwrap();
        store.close().unwrap();
        (tmp, cfg)
    }

    #[test]
    fn doctored_real_store_is_caught() {
        let text = format!("{START}a 1 30 1\n{}", acks(1..=30, 1));
        let honest: Vec<Entry> = (1..=30).map(|i| Entry::new(i, 1, payload(i, 1))).collect();
        let (tmp, cfg) = real_store(&honest);
        let store = Store::open(tmp.path(), cfg).unwrap();
        assert_clean(&check(
            &Verified::default(),
            &lines(&text),
            &Snapshot::read(&store).unwrap(),
        ));
        drop(store);

        // A store that lost its last 5 acknowledged entries.
        let (tmp, cfg) = real_store(&honest[..25]);
        let store = Store::open(tmp.path(), cfg).unwrap();
        let r = check(
            &Verified::default(),
            &lines(&text),
            &Snapshot::read(&store).unwrap(),
        );
        assert_violation(&r, "acknowledged entry lost: D 26 1");
        drop(store);

        // A store whose entry 17 has other bytes.
        let mut doctored = honest.clone();
        doctored[16].payload = bytes::Bytes::from_static(b"not what was appended");
        let (tmp, cfg) = real_store(&doctored);
        let store = Store::open(tmp.path(), cfg).unwrap();
        let r = check(
            &Verified::default(),
            &lines(&text),
            &Snapshot::read(&store).unwrap(),
        );
        assert_violation(&r, "phantom or damaged payload at (17, 1)");
    }
}

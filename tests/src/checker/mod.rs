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

use logbook::{Entry, HardState, LogId, Store};
use logbook_sim::model::{check_recovered, Recovered};

use crate::protocol::{Line, StartLine};
use crate::workload::payload_matches;

mod history;
use history::Round;

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

fn fmt_id(id: Option<LogId>) -> String {
    id.map_or("none".to_string(), |l| format!("({}, {})", l.index, l.term))
}

/// Checks one round. `start` is the state the crashee opened (the previous round's
/// verified state), `lines` what it printed, `snap` what the reopened store shows.
///
/// The invariants are the simulator's (`logbook_sim::model::check_recovered`, one model for
/// every harness); this checker adds what only a real store and the crashee's lines can
/// show: the snapshot's own shape and bytes, and the protocol of the lines.
pub fn check(start: &Verified, lines: &[Line], snap: &Snapshot) -> Report {
    let mut v: Vec<String> = Vec::new();
    let mut st = Stats::default();
    check_shape(snap, &mut v, &mut st);
    let Some(round) = Round::from_lines(start, lines, &mut v, &mut st) else {
        return Report {
            violations: v,
            stats: st,
        };
    };
    let recovered = Recovered {
        boundary: snap.last_purged,
        last_index: snap.last_index,
        entries: snap.entries.clone(),
        hard_state: snap.hard_state,
    };
    let model = round.model();
    if let Err(violation) = check_recovered(&model, &recovered) {
        v.push(violation.to_string());
    }
    let durable = round.durable();
    st.acked_entries_required = round.acks_binding(snap.boundary());
    st.durable_prefix_entries = durable.log.len() as u64;
    st.recovered_beyond_ack = u64::from(
        snap.entries
            .iter()
            .any(|e| durable.get(e.index).map(|d| d.term) != Some(e.term)),
    );
    st.unacked_boundary = u64::from(snap.last_purged != durable.boundary);
    st.in_flight_hard_state = u64::from(
        snap.hard_state != model.hard_state
            && Some(snap.hard_state) == round.hard_state_in_flight(),
    );
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
mod tests;

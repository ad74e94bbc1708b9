//! The crashee's lines as the shared model's history (`logbook_sim::model`): one logical
//! state per mutation line, the last durable one fixed by the acknowledgements, and the
//! protocol checks only the crashee's lines can fail (an ack without its intent, an append
//! that does not continue the log, a restart that opened another state).

use std::collections::HashMap;
use std::sync::Arc;

use logbook::{Entry, HardState, LogId};
use logbook_sim::model::{Model, State};

use super::{Stats, Verified};
use crate::protocol::Line;
use crate::workload::payload;

/// A round's history as the model sees it, and the acknowledgements that bind it.
pub(super) struct Round {
    /// `S_0` (the verified start) and the state after each mutation line.
    states: Vec<State>,
    /// One past the last mutation an acknowledgement covers: `S_k` is the last durable state.
    k: usize,
    /// The model's own bookkeeping of acks (claimed durable index, purge floor, hard state).
    model: Model,
    /// Each `D` ack with the state position of its append and the positions of the
    /// truncations attempted after it, for the count of acks that still bind.
    acked: Vec<(LogId, usize)>,
    truncations: Vec<(usize, u64)>,
}

/// Where the latest append of an entry landed: the state after its line, and that line's
/// last index.
type AppendedAt = HashMap<LogId, (usize, u64)>;

fn state_of(start: &Verified) -> State {
    let entries = start
        .entries
        .iter()
        .map(|id| Entry::new(id.index, id.term, payload(id.index, id.term)))
        .collect();
    State {
        boundary: start.last_purged,
        log: Arc::new(entries),
    }
}

/// Where each intent landed among the states, for its acknowledgement.
#[derive(Default)]
struct Intents {
    appended: AppendedAt,
    truncated_at: HashMap<u64, usize>,
    purged_at: HashMap<LogId, usize>,
}

impl Round {
    /// Reads `lines`; protocol violations go to `v`. `None` if the protocol is broken so
    /// badly (an append that does not continue the log, a truncation of the purged prefix)
    /// that no model applies.
    pub(super) fn from_lines(
        start: &Verified,
        lines: &[Line],
        v: &mut Vec<String>,
        st: &mut Stats,
    ) -> Option<Round> {
        let mut r = Round {
            states: vec![state_of(start)],
            k: 0,
            model: Model::new(),
            acked: Vec::new(),
            truncations: Vec::new(),
        };
        r.model.hard_state = start.hard_state;
        let mut at = Intents::default();
        for (n, line) in lines.iter().enumerate() {
            match line {
                Line::Start(s) if n == 0 && *s == start.start_line() => {}
                Line::Start(s) if n == 0 => v.push(format!(
                    "recovery is not idempotent: the crashee opened {s:?}, the checker had \
                     verified {:?}",
                    start.start_line()
                )),
                Line::Start(_) => v.push(format!("protocol: S line at line {}", n + 1)),
                Line::Error(msg) => v.push(format!("the crashee's store returned an error: {msg}")),
                Line::Append { .. }
                | Line::Truncate { .. }
                | Line::Purge(_)
                | Line::HardState(_) => r.intent(line, &mut at, v, st)?,
                _ => r.acknowledged(line, &at, v, st),
            }
        }
        Some(r)
    }

    /// An intent line: the state it makes, remembered in `at` for its acknowledgement.
    fn intent(
        &mut self,
        line: &Line,
        at: &mut Intents,
        v: &mut Vec<String>,
        st: &mut Stats,
    ) -> Option<()> {
        match line {
            Line::Append { first, last, term } => {
                self.append(*first, *last, *term, v)?;
                for index in *first..=*last {
                    at.appended
                        .insert(LogId::new(*term, index), (self.pos(), *last));
                }
            }
            Line::Truncate { from } => {
                st.truncations_attempted += 1;
                self.truncate(*from, v)?;
                at.truncated_at.insert(*from, self.pos());
            }
            Line::Purge(id) => {
                st.purges_attempted += 1;
                self.purge(*id);
                at.purged_at.insert(*id, self.pos());
            }
            Line::HardState(hs) => self.model.hard_state_in_flight = Some(*hs),
            _ => debug_assert!(false, "not an intent: {line:?}"),
        }
        Some(())
    }

    /// An acknowledgement line: the state its intent made (in `at`) is now durable.
    fn acknowledged(&mut self, line: &Line, at: &Intents, v: &mut Vec<String>, st: &mut Stats) {
        match line {
            Line::AckEntry { index, term } => {
                st.acked_entries += 1;
                self.ack_entry(LogId::new(*term, *index), &at.appended, v);
            }
            Line::AckTruncate { from } => {
                st.truncations_acked += 1;
                self.ack(at.truncated_at.get(from), || format!("T {from}"), v);
            }
            Line::AckPurge(id) => {
                st.purges_acked += 1;
                let pos = at.purged_at.get(id);
                if pos.is_some() {
                    self.model.boundary_floor = self.model.boundary_floor.max(id.index);
                }
                self.ack(pos, || format!("P {} {}", id.index, id.term), v);
            }
            Line::AckHardState(hs) => {
                st.hard_states_acked += 1;
                if self.model.hard_state_in_flight != Some(*hs) {
                    v.push(format!("protocol: ack H {hs:?} without its intent"));
                }
                self.model.hard_state = *hs;
                self.model.hard_state_in_flight = None;
            }
            _ => debug_assert!(false, "not an acknowledgement: {line:?}"),
        }
    }

    fn pos(&self) -> usize {
        self.states.len() - 1
    }

    fn current(&self) -> &State {
        self.states.last().expect("S_0 is always there")
    }

    fn append(&mut self, first: u64, last: u64, term: u64, v: &mut Vec<String>) -> Option<()> {
        let prev = self.current().last();
        if first != prev.index + 1 || last < first || term < prev.term {
            v.push(format!(
                "protocol: append of {first}..={last} term {term} after ({}, {})",
                prev.index, prev.term
            ));
            return None;
        }
        let entries: Vec<Entry> = (first..=last)
            .map(|i| Entry::new(i, term, payload(i, term)))
            .collect();
        let next = self.current().appended(&entries);
        self.states.push(next);
        Some(())
    }

    fn truncate(&mut self, from: u64, v: &mut Vec<String>) -> Option<()> {
        let b = self.current().boundary_index();
        if from <= b {
            v.push(format!(
                "protocol: truncate {from} at or below boundary {b}"
            ));
            return None;
        }
        self.model.void_claims_from(from);
        self.truncations.push((self.states.len(), from));
        let next = self.current().truncated(from);
        self.states.push(next);
        Some(())
    }

    fn purge(&mut self, upto: LogId) {
        // A purge at or below the boundary changes nothing (the store ignores it).
        let next = if upto.index > self.current().boundary_index() {
            self.current().purged(upto)
        } else {
            self.current().clone()
        };
        self.states.push(next);
    }

    /// An ack of the mutation at state position `at`: it and everything before are durable.
    fn ack(&mut self, at: Option<&usize>, what: impl FnOnce() -> String, v: &mut Vec<String>) {
        match at {
            Some(&pos) => self.k = self.k.max(pos),
            None => v.push(format!("protocol: ack {} without its intent", what())),
        }
    }

    /// A `D` ack: the entry and everything before it are durable. An entry inside a batch
    /// makes the state before the batch durable and binds the rest through the claimed
    /// durable index, as a store's reported `durable_index` does.
    fn ack_entry(&mut self, id: LogId, appended: &AppendedAt, v: &mut Vec<String>) {
        let Some(&(pos, line_last)) = appended.get(&id) else {
            v.push(format!(
                "protocol: ack D {} {} for an entry never appended",
                id.index, id.term
            ));
            return;
        };
        self.k = self
            .k
            .max(if id.index == line_last { pos } else { pos - 1 });
        self.model.observe_durable(id.index);
        self.acked.push((id, pos));
    }

    /// The model of the round: the states since the last durable one and every ack.
    pub(super) fn model(&self) -> Model {
        Model {
            history: self.states[self.k..].to_vec(),
            ..self.model.clone()
        }
    }

    /// The last durable state.
    pub(super) fn durable(&self) -> &State {
        &self.states[self.k]
    }

    /// How many `D` acks the recovered store (boundary `b`) still had to hold: those above
    /// the boundary that no later attempted truncation may have cut.
    pub(super) fn acks_binding(&self, b: u64) -> u64 {
        let cut = |id: LogId, pos: usize| {
            self.truncations
                .iter()
                .any(|&(tp, from)| tp > pos && from <= id.index)
        };
        self.acked
            .iter()
            .filter(|(id, pos)| id.index > b && !cut(*id, *pos))
            .count() as u64
    }

    /// The hard state whose save was in flight, if any.
    pub(super) fn hard_state_in_flight(&self) -> Option<HardState> {
        self.model.hard_state_in_flight
    }
}

//! The book of a store run: the reference model and everything the threads were told.
//!
//! Threads append, truncate and read under the harness's sequencer (as a Raft node orders
//! its writes), so the model's history is the store's order. Acknowledgements (a `wait` or
//! `append` that returned, a callback, a `durable_index` read) arrive on any thread at any
//! time; each names the truncation generation at which its entries were accepted, and a
//! truncation begun after that voids the claim at and past its cut, as it voids the
//! acknowledgements of the single-threaded harness.

use logbook::Entry;

use crate::model::{Invariant, Model, Violation};
use crate::run::RunStats;
use crate::seeds;

/// The shared record of one store run (behind a std mutex never held across a scheduling
/// point: it is locked only between two store calls).
#[derive(Debug, Default)]
pub struct Book {
    pub model: Model,
    /// The highest term used so far.
    pub term: u64,
    /// A truncation happened: the next append comes from a new leader, in a higher term.
    pub bump_term: bool,
    /// Truncations so far (the generation of the model).
    pub generation: u64,
    /// Every truncation as (generation it started, from).
    pub truncations: Vec<(u64, u64)>,
    /// A write-path failure: the store is fail-stopped until the machine restarts.
    pub failed: bool,
    /// The first violation, with the op during which it was found.
    pub violation: Option<(Violation, usize)>,
    pub stats: RunStats,
    /// Callbacks registered and not yet called.
    pub callbacks_pending: u64,
    /// The highest index acknowledged durable, for the trace.
    pub acked: u64,
    /// Parked waiters released by a sync, truncation or purge, over the run's incarnations
    /// (a check of the wake-ups that saw none proved nothing).
    pub wakeups_released: u64,
}

impl Book {
    pub fn new() -> Book {
        Book {
            model: Model::new(),
            term: 1,
            ..Book::default()
        }
    }

    /// The store acknowledged every entry up to `index`, accepted at `generation`, durable.
    pub fn claim(&mut self, index: u64, generation: u64) {
        let cut = self
            .truncations
            .iter()
            .filter(|(g, _)| *g > generation)
            .map(|(_, from)| from.saturating_sub(1))
            .min()
            .unwrap_or(u64::MAX);
        let index = index.min(cut);
        self.acked = self.acked.max(index);
        self.model.observe_durable(index);
    }

    /// A truncation from `from` starts now.
    pub fn truncate(&mut self, from: u64) {
        let cur = self.model.current().clone();
        self.model.push(cur.truncated(from));
        self.model.void_claims_from(from);
        self.generation += 1;
        self.truncations.push((self.generation, from));
        self.bump_term = true;
    }

    /// Entries continuing the current state, pushed as the next state; with the generation.
    pub fn next_entries(
        &mut self,
        count: u16,
        new_term: bool,
        payload_len: u16,
        payload_seed: u64,
    ) -> (Vec<Entry>, u64) {
        let cur = self.model.current().clone();
        let last = cur.last();
        if new_term || self.bump_term {
            self.term += 1;
            self.bump_term = false;
        }
        self.term = self.term.max(last.term);
        let entries: Vec<Entry> = (1..=count as u64)
            .map(|k| {
                let index = last.index + k;
                Entry::new(
                    index,
                    self.term,
                    payload(payload_seed, index, self.term, payload_len),
                )
            })
            .collect();
        self.model.push(cur.appended(&entries));
        (entries, self.generation)
    }

    /// Records the first violation.
    pub fn violate(&mut self, invariant: Invariant, message: String, op_index: usize) {
        if self.violation.is_none() {
            self.violation = Some((Violation { invariant, message }, op_index));
        }
    }

    /// Whether threads should stop issuing ops (fail-stop or a violation found).
    pub fn stopped(&self) -> bool {
        self.failed || self.violation.is_some()
    }
}

/// A payload that names its index and term, with pseudo-random filler.
fn payload(seed: u64, index: u64, term: u64, len: u16) -> Vec<u8> {
    let mut x = seeds::mix(seed ^ index.wrapping_mul(31) ^ term.wrapping_mul(1_000_003));
    let mut v: Vec<u8> = format!("{index}:{term}:").into_bytes();
    let keep = v.len().max(len as usize);
    while v.len() < keep {
        x = seeds::mix(x);
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(keep);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_cut_by_truncations_begun_after_its_acceptance_only() {
        let mut b = Book::new();
        let (_, g0) = b.next_entries(10, false, 4, 1);
        b.truncate(6);
        let (_, g1) = b.next_entries(3, false, 4, 1);
        // Accepted before the truncation: only 1..=5 still bind.
        b.claim(10, g0);
        assert_eq!(b.model.claimed_durable, 5);
        // Accepted after it: the replacements bind.
        b.claim(8, g1);
        assert_eq!(b.model.claimed_durable, 8);
    }
}

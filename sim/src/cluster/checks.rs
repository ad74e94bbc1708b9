//! The cluster's safety checks, run after every step (C1-C4) and at the end (C5; C6, the
//! client history, is checked in `world.rs`).
//!
//! - **C1** at most one leader per term.
//! - **C2** log matching: two nodes' logs that hold an entry with the same index and term
//!   are identical up to it. Each node's log is mirrored as a hash chain
//!   (`chain[i] = H(chain[i-1], term_i, entry_i)`), so the property is "same term at an
//!   index implies same chain there", checked for every entry a node appends.
//! - **C3** leader completeness: an entry committed in term `c` is in the log of every
//!   leader of a term after `c`. A commit is recorded with the term of the leader whose
//!   commit index first covered it.
//! - **C4** state machine safety: no two nodes apply different entries at one index.
//! - **C5** (at the end, after the network heals and every node restarted): every committed
//!   entry is held by a majority of the nodes.

use std::collections::BTreeMap;
use std::fmt;

use crate::trace::fnv1a;

/// Which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckKind {
    /// C1.
    LeaderPerTerm,
    /// C2.
    LogMatching,
    /// C3.
    LeaderCompleteness,
    /// C4.
    StateMachineSafety,
    /// C5.
    CommittedLost,
    /// C6.
    Linearizability,
    /// A node could not reopen its storage after a crash.
    Recovery,
    /// raft-rs stopped on one of its own assertions (a commit index past a follower's log:
    /// the follower lost entries it had acknowledged).
    RaftAssertion,
}

impl CheckKind {
    /// The check's short name (`C1` ...).
    pub fn code(self) -> &'static str {
        match self {
            CheckKind::LeaderPerTerm => "C1",
            CheckKind::LogMatching => "C2",
            CheckKind::LeaderCompleteness => "C3",
            CheckKind::StateMachineSafety => "C4",
            CheckKind::CommittedLost => "C5",
            CheckKind::Linearizability => "C6",
            CheckKind::Recovery => "R",
            CheckKind::RaftAssertion => "RA",
        }
    }

    /// True for the checks that mean a committed entry was lost or replaced.
    pub fn loses_committed(self) -> bool {
        matches!(
            self,
            CheckKind::LeaderCompleteness
                | CheckKind::StateMachineSafety
                | CheckKind::CommittedLost
        )
    }
}

/// A failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The check that failed.
    pub kind: CheckKind,
    /// Simulated time of the failure.
    pub at_ms: u64,
    /// What the check saw.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:?}) at {} ms: {}",
            self.kind.code(),
            self.kind,
            self.at_ms,
            self.detail
        )
    }
}

/// One log entry as the checks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The entry's term.
    pub term: u64,
    /// The entry's hash (type and data).
    pub hash: u64,
    /// The chain up to and including it.
    pub chain: u64,
}

fn chain(prev: u64, term: u64, hash: u64) -> u64 {
    let mut b = [0u8; 24];
    b[..8].copy_from_slice(&prev.to_le_bytes());
    b[8..16].copy_from_slice(&term.to_le_bytes());
    b[16..].copy_from_slice(&hash.to_le_bytes());
    fnv1a(&b)
}

/// The hash of an entry's type and data.
pub fn entry_hash(entry_type: i32, data: &[u8]) -> u64 {
    fnv1a(&[&entry_type.to_le_bytes()[..], data].concat())
}

/// The checks' state. See the module docs.
#[derive(Debug)]
pub struct Checks {
    /// C1: the leader of each term seen.
    leaders: BTreeMap<u64, u64>,
    /// C2: each live node's log (index `i` at `i - 1`); empty while the node is down.
    mirrors: Vec<Vec<Seen>>,
    /// C4: the entries applied, by index (`i` at `i - 1`), as first applied.
    applied: Vec<Seen>,
    /// C3: for each commit term, the highest index first committed in it.
    committed_in: BTreeMap<u64, u64>,
    /// C3: the highest index whose commit is recorded.
    commit_recorded: u64,
    /// Checks made.
    pub checks: u64,
    /// The first violation; the checks stop there.
    pub violation: Option<Violation>,
}

impl Checks {
    /// Checks for `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Checks {
            leaders: BTreeMap::new(),
            mirrors: vec![Vec::new(); nodes],
            applied: Vec::new(),
            committed_in: BTreeMap::new(),
            commit_recorded: 0,
            checks: 0,
            violation: None,
        }
    }

    fn fail(&mut self, kind: CheckKind, at_ms: u64, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                kind,
                at_ms,
                detail,
            });
        }
    }

    /// Entries committed and applied somewhere so far.
    pub fn committed_len(&self) -> u64 {
        self.applied.len() as u64
    }

    /// A node crashed: its log is unknown until it restarts.
    pub fn node_down(&mut self, node: usize) {
        self.mirrors[node].clear();
    }

    /// Node `node`'s log now starts after a snapshot (or compaction) at `index`: the
    /// entries up to it are taken to be the committed ones, which a snapshot covers (0:
    /// an empty log).
    pub fn install_snapshot(&mut self, node: usize, index: u64, now: u64) {
        let index = index as usize;
        if index > self.applied.len() {
            let detail = format!(
                "node {} holds a snapshot at {index}, past the {} entries ever applied",
                node + 1,
                self.applied.len()
            );
            return self.fail(CheckKind::StateMachineSafety, now, detail);
        }
        self.mirrors[node] = self.applied[..index].to_vec();
    }

    /// Node `node` now holds `entries` from `first` on (replacing what was there), as
    /// `(term, hash)`; checks C2 against every other live node.
    pub fn on_append(&mut self, node: usize, first: u64, entries: &[(u64, u64)], now: u64) {
        let Some(keep) = (first as usize).checked_sub(1) else {
            return self.fail(CheckKind::LogMatching, now, "entry at index 0".into());
        };
        let m = &mut self.mirrors[node];
        if keep > m.len() {
            let detail = format!(
                "node {} appended at {first} past its last {}",
                node + 1,
                m.len()
            );
            return self.fail(CheckKind::LogMatching, now, detail);
        }
        m.truncate(keep);
        for &(term, hash) in entries {
            let prev = m.last().map_or(0, |s| s.chain);
            m.push(Seen {
                term,
                hash,
                chain: chain(prev, term, hash),
            });
        }
        for i in keep..self.mirrors[node].len() {
            let mine = self.mirrors[node][i];
            for other in 0..self.mirrors.len() {
                let Some(theirs) = self.mirrors[other].get(i).copied() else {
                    continue;
                };
                self.checks += 1;
                if other != node && theirs.term == mine.term && theirs.chain != mine.chain {
                    let detail = format!(
                        "nodes {} and {} both hold index {} in term {} but their logs differ \
                         up to it",
                        node + 1,
                        other + 1,
                        i + 1,
                        mine.term
                    );
                    return self.fail(CheckKind::LogMatching, now, detail);
                }
            }
        }
    }

    /// Node `node` applied the entry `index` (`term`, `hash`): C4.
    pub fn on_apply(&mut self, node: usize, index: u64, term: u64, hash: u64, now: u64) {
        self.checks += 1;
        let i = index as usize - 1;
        if let Some(seen) = self.applied.get(i) {
            if (seen.term, seen.hash) != (term, hash) {
                let detail = format!(
                    "node {} applied index {index} term {term}, but term {} with other data \
                     was applied there before: a committed entry was lost",
                    node + 1,
                    seen.term
                );
                self.fail(CheckKind::StateMachineSafety, now, detail);
            }
            return;
        }
        if i != self.applied.len() {
            let detail = format!("node {} applied index {index} before index {i}", node + 1);
            return self.fail(CheckKind::StateMachineSafety, now, detail);
        }
        let prev = self.applied.last().map_or(0, |s| s.chain);
        self.applied.push(Seen {
            term,
            hash,
            chain: chain(prev, term, hash),
        });
    }

    /// Node `node` is leader of `term` with commit index `commit`: C1, then records the
    /// commits it made and checks C3 against its log.
    pub fn on_leader(&mut self, node: usize, term: u64, commit: u64, now: u64) {
        self.checks += 1;
        let id = node as u64 + 1;
        match self.leaders.get(&term) {
            Some(&other) if other != id => {
                let detail = format!("nodes {other} and {id} are both leader of term {term}");
                return self.fail(CheckKind::LeaderPerTerm, now, detail);
            }
            Some(_) => {}
            None => {
                self.leaders.insert(term, id);
            }
        }
        if commit > self.commit_recorded {
            let top = self.committed_in.entry(term).or_insert(0);
            *top = (*top).max(commit);
            self.commit_recorded = commit;
        }
        self.check_completeness(node, term, now);
    }

    /// C3: the leader of `term` holds every entry committed in an earlier term (as far as
    /// the applied entries tell what those entries are).
    fn check_completeness(&mut self, node: usize, term: u64, now: u64) {
        let Some(need) = self.committed_in.range(..term).map(|(_, &i)| i).max() else {
            return;
        };
        let need = need.min(self.applied.len() as u64);
        if need == 0 {
            return;
        }
        self.checks += 1;
        let want = self.applied[need as usize - 1];
        let has = self.mirrors[node].get(need as usize - 1).copied();
        if has.map(|s| s.chain) != Some(want.chain) {
            let detail = format!(
                "node {} leads term {term} without committed entry {need} (term {}): {}",
                node + 1,
                want.term,
                match has {
                    Some(s) => format!("it holds term {} there", s.term),
                    None => format!("its log ends at {}", self.mirrors[node].len()),
                }
            );
            self.fail(CheckKind::LeaderCompleteness, now, detail);
        }
    }

    /// C5, with every node up: the last committed entry (and so, by C2, every one before
    /// it) is held by a majority.
    pub fn check_committed_held(&mut self, now: u64) {
        let Some(last) = self.applied.last().copied() else {
            return;
        };
        self.checks += 1;
        let index = self.applied.len();
        let holders = self
            .mirrors
            .iter()
            .filter(|m| m.get(index - 1).is_some_and(|s| s.chain == last.chain))
            .count();
        let majority = self.mirrors.len() / 2 + 1;
        if holders < majority {
            let detail = format!(
                "committed entry {index} (term {}) is held by {holders} of {} nodes after \
                 every node restarted",
                last.term,
                self.mirrors.len()
            );
            self.fail(CheckKind::CommittedLost, now, detail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_matching_catches_two_logs_that_differ_below_a_common_term() {
        let mut c = Checks::new(3);
        c.on_append(0, 1, &[(1, 10), (2, 20)], 0);
        c.on_append(1, 1, &[(1, 10), (2, 20)], 0);
        assert!(c.violation.is_none());
        c.on_append(2, 1, &[(1, 11), (2, 20)], 5);
        let v = c.violation.expect("C2");
        assert_eq!((v.kind, v.at_ms), (CheckKind::LogMatching, 5));
    }

    #[test]
    fn a_conflicting_suffix_of_another_term_is_allowed() {
        let mut c = Checks::new(2);
        c.on_append(0, 1, &[(1, 10), (2, 20)], 0);
        c.on_append(1, 1, &[(1, 10), (3, 30)], 0);
        c.on_append(0, 2, &[(3, 30)], 0);
        assert!(c.violation.is_none());
    }

    #[test]
    fn state_machine_safety_catches_another_entry_applied_at_an_index() {
        let mut c = Checks::new(2);
        c.on_apply(0, 1, 1, 10, 0);
        c.on_apply(1, 1, 1, 10, 0);
        assert!(c.violation.is_none());
        c.on_apply(1, 2, 2, 20, 0);
        c.on_apply(0, 2, 2, 21, 7);
        assert_eq!(c.violation.unwrap().kind, CheckKind::StateMachineSafety);
    }

    #[test]
    fn one_leader_per_term_and_leader_completeness() {
        let mut c = Checks::new(3);
        c.on_append(0, 1, &[(1, 10), (1, 11)], 0);
        c.on_apply(0, 1, 1, 10, 0);
        c.on_apply(0, 2, 1, 11, 0);
        c.on_leader(0, 1, 2, 0);
        assert!(c.violation.is_none());
        // Node 2 holds only the first entry and leads term 2: entry 2 was committed in 1.
        c.on_append(1, 1, &[(1, 10)], 0);
        c.on_leader(1, 2, 1, 9);
        assert_eq!(
            c.violation.clone().unwrap().kind,
            CheckKind::LeaderCompleteness
        );
        let mut d = Checks::new(3);
        d.on_leader(0, 4, 0, 0);
        d.on_leader(2, 4, 0, 1);
        assert_eq!(d.violation.unwrap().kind, CheckKind::LeaderPerTerm);
    }

    #[test]
    fn a_committed_entry_held_by_a_minority_is_lost() {
        let mut c = Checks::new(3);
        c.on_apply(0, 1, 1, 10, 0);
        c.on_append(0, 1, &[(1, 10)], 0);
        c.on_append(1, 1, &[(1, 10)], 0);
        c.check_committed_held(0);
        assert!(c.violation.is_none());
        c.node_down(1);
        c.check_committed_held(1);
        assert_eq!(c.violation.unwrap().kind, CheckKind::CommittedLost);
    }
}

//! openraft's [`Vote`] ↔ logbook's [`HardState`].
//!
//! | `HardState` field | holds |
//! | --- | --- |
//! | `term` | `vote.leader_id.term` |
//! | `vote` | `vote.leader_id.voted_for()`: the candidate's node id |
//! | `commit` | `vote.committed` as `0` (false) or `1` (true) |
//!
//! `commit` is not a commit index here. openraft's committed *log id* is a leader id plus an
//! index, which a `u64` cannot hold, so the adapter keeps openraft's default for
//! `save_committed` (not persisted) and the field is free to carry the flag losslessly, in
//! the same atomic, durable save as the rest of the vote. Reading rejects any other value
//! (a store written by something else).
//!
//! A store that never saw a vote holds `HardState::default()` and reads back as `None`,
//! which openraft treats as `Vote::default()`. Under openraft's default leader-id mode a vote
//! always names a node, so a saved vote never equals the default; under `single-term-leader`
//! `Vote::default()` itself maps to the default and reads back as `None`: the same value.

use ::openraft::Vote;

use crate::types::HardState;

pub(super) fn to_hard_state(vote: &Vote<u64>) -> HardState {
    HardState {
        term: vote.leader_id.term,
        vote: vote.leader_id.voted_for(),
        commit: u64::from(vote.committed),
    }
}

/// The vote `hs` holds, `None` for a store that never saved one.
pub(super) fn from_hard_state(hs: HardState) -> Result<Option<Vote<u64>>, String> {
    if hs == HardState::default() {
        return Ok(None);
    }
    let committed = match hs.commit {
        0 => false,
        1 => true,
        other => {
            return Err(format!(
                "hard state commit {other} is not a vote's committed flag (0 or 1): \
                 the store was not written by the openraft adapter"
            ))
        }
    };
    let mut vote = match hs.vote {
        Some(node) => Vote::new(hs.term, node),
        None => {
            let mut v = Vote::default();
            v.leader_id.term = hs.term;
            if v.leader_id.voted_for().is_some() {
                return Err(format!(
                    "hard state term {} has no candidate, which this openraft build's \
                     leader id cannot represent",
                    hs.term
                ));
            }
            v
        }
    };
    vote.committed = committed;
    Ok(Some(vote))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_round_trips() {
        for vote in [
            Vote::new(0, 0),
            Vote::new(1, 0),
            Vote::new(5, 3),
            Vote::new_committed(5, 3),
            Vote::new_committed(u64::MAX, u64::MAX),
        ] {
            let hs = to_hard_state(&vote);
            assert_eq!(from_hard_state(hs).unwrap(), Some(vote), "{hs:?}");
        }
    }

    #[test]
    fn committed_flag_is_kept_in_commit() {
        let hs = to_hard_state(&Vote::new_committed(4, 2));
        assert_eq!(
            hs,
            HardState {
                term: 4,
                vote: Some(2),
                commit: 1
            }
        );
        assert_eq!(to_hard_state(&Vote::new(4, 2)).commit, 0);
    }

    #[test]
    fn fresh_store_has_no_vote_and_foreign_values_are_rejected() {
        assert_eq!(from_hard_state(HardState::default()).unwrap(), None);
        let foreign = HardState {
            term: 3,
            vote: Some(1),
            commit: 17,
        };
        assert!(from_hard_state(foreign).is_err());
    }
}

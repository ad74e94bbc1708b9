//! The values a Raft log holds.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A log position: the term and index of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogId {
    /// The term of the leader that created the entry.
    pub term: u64,
    /// The entry's position, from 1.
    pub index: u64,
}

impl LogId {
    /// The id of the entry at `index` created in `term` (note the order: term first).
    pub fn new(term: u64, index: u64) -> Self {
        LogId { term, index }
    }
}

/// One log entry. Indexes start at 1; a log's indexes are contiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Its position, from 1.
    pub index: u64,
    /// The term of the leader that created it; never below the previous entry's.
    pub term: u64,
    /// The command, opaque to the engine (at most `payload_size_max_bytes`).
    pub payload: Bytes,
}

impl Entry {
    /// The entry at `index` of `term` holding `payload`.
    pub fn new(index: u64, term: u64, payload: impl Into<Bytes>) -> Self {
        Entry {
            index,
            term,
            payload: payload.into(),
        }
    }

    /// Its (term, index).
    pub fn log_id(&self) -> LogId {
        LogId::new(self.term, self.index)
    }
}

/// Raft's persistent hard state. It is durable before `save_hard_state` returns, under
/// every strategy: a lost vote lets a node vote twice in one term.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term the node has seen.
    pub term: u64,
    /// The node voted for in `term`, if any.
    pub vote: Option<u64>,
    /// Opaque to the engine unless [`crate::Config::with_commit_check`] gives it Raft's
    /// meaning (the committed index).
    pub commit: u64,
}

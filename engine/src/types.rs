//! The values a Raft log holds.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A log position: the term and index of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogId {
    pub term: u64,
    pub index: u64,
}

impl LogId {
    pub fn new(term: u64, index: u64) -> Self {
        LogId { term, index }
    }
}

/// One log entry. Indexes start at 1; a log's indexes are contiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub payload: Bytes,
}

impl Entry {
    pub fn new(index: u64, term: u64, payload: impl Into<Bytes>) -> Self {
        Entry {
            index,
            term,
            payload: payload.into(),
        }
    }

    pub fn log_id(&self) -> LogId {
        LogId::new(self.term, self.index)
    }
}

/// Raft's persistent hard state. It is durable before `save_hard_state` returns, under
/// every strategy: a lost vote lets a node vote twice in one term.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    pub term: u64,
    pub vote: Option<u64>,
    pub commit: u64,
}

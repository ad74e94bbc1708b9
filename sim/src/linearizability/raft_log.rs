//! A sequential model of one Raft log store, for checking concurrent clients.
//!
//! Plain `u64`s only (payloads are represented by a hash), so the model does not depend on
//! the engine crate; a harness maps the engine's calls and results onto these types.

use super::model::Model;

/// One log entry. `payload` stands for the entry's bytes (a hash of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogEntry {
    pub index: u64,
    pub term: u64,
    pub payload: u64,
}

impl From<(u64, u64, u64)> for LogEntry {
    /// From `(index, term, payload)`.
    fn from((index, term, payload): (u64, u64, u64)) -> Self {
        LogEntry {
            index,
            term,
            payload,
        }
    }
}

/// The state of the log.
///
/// Invariant: the entries' indexes are contiguous and the first one is `last_purged + 1`
/// (there are no entries at or below the purge boundary, and no holes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LogState {
    last_purged: u64,
    entries: Vec<LogEntry>,
}

impl LogState {
    /// A state with this boundary and these entries, or `None` if they break the invariant.
    pub fn new(last_purged: u64, entries: Vec<LogEntry>) -> Option<Self> {
        let contiguous = entries
            .iter()
            .zip(1u64..)
            .all(|(e, k)| last_purged.checked_add(k) == Some(e.index));
        contiguous.then_some(LogState {
            last_purged,
            entries,
        })
    }

    /// The purge boundary: no index at or below it is readable. 0 if never purged.
    pub fn last_purged(&self) -> u64 {
        self.last_purged
    }

    /// The entries, in index order.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// The last entry's index, or `last_purged` if the log is empty; the next append must
    /// start at `last_index() + 1`.
    pub fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.last_purged, |e| e.index)
    }

    /// The entry at `index`, if present (above the boundary and at most `last_index()`).
    pub fn get(&self, index: u64) -> Option<&LogEntry> {
        let offset = index.checked_sub(self.last_purged)?.checked_sub(1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    fn debug_check(&self) {
        debug_assert!(
            LogState::new(self.last_purged, self.entries.clone()).is_some(),
            "log state invariant broken: {self:?}"
        );
    }
}

/// An operation on the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogInput {
    /// Append entries at the end.
    Append { entries: Vec<LogEntry> },
    /// Read one entry.
    Read { index: u64 },
    /// Read the entries in `[from, to_exclusive)`.
    ReadRange { from: u64, to_exclusive: u64 },
    /// Ask for the last index.
    LastIndex,
    /// Remove the entries at `from` and above (conflict resolution).
    Truncate { from: u64 },
    /// Remove the entries at `upto` and below, and raise the purge boundary to `upto`.
    Purge { upto: u64 },
}

/// A typed failure the log may report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogError {
    /// An append did not start at `last_index() + 1`, or its entries were not contiguous.
    NotContinuous,
    /// An operation named an index at or below the purge boundary.
    Purged,
}

/// What a log operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogOutput {
    /// `Append`, `Truncate` or `Purge` succeeded.
    Ok,
    /// The operation failed and changed nothing.
    Err(LogError),
    /// `Read`: `(term, payload)`, or `None` if there is no such entry.
    Entry(Option<(u64, u64)>),
    /// `ReadRange`: the entries, in index order.
    Entries(Vec<LogEntry>),
    /// `LastIndex`.
    LastIndex(u64),
}

/// The log model. Initial state: empty, `last_purged == 0`, so the first append is at 1.
///
/// Semantics, with `last = last_index()` and `B = last_purged`:
/// - `Append { entries }`: empty `entries` → `Ok`, no change. Otherwise `Ok` iff the first
///   index is `last + 1` and the indexes are contiguous; the entries are added. If not,
///   `Err(NotContinuous)` and no change. Terms are not checked.
/// - `Read { index }`: `Entry(Some((term, payload)))` if `B < index <= last`, else
///   `Entry(None)`. For `index <= B`, `Err(Purged)` is also accepted.
/// - `ReadRange { from, to_exclusive }`: `Entries` holding exactly the log's entries with
///   indexes in `[from, min(to_exclusive, last + 1))`: the store may return fewer than asked
///   only because the log ends. Entries at or below `B` do not exist, so for `from <= B`
///   the answer starts at `B + 1`; a store may instead refuse such a range with
///   `Err(Purged)` (accepted when `from <= B` and `from < to_exclusive`).
/// - `LastIndex` → `LastIndex(last)` (`B` when the log is empty).
/// - `Truncate { from }`: removes every entry with index `>= from`, `Ok`; removing nothing
///   (`from > last`) is fine. For `from <= B` (which a Raft node never asks), both `Ok`
///   (every entry removed, `B` unchanged) and `Err(Purged)` (no change) are accepted.
/// - `Purge { upto }`: `B = max(B, upto)`, every entry `<= upto` removed, `Ok`. If
///   `upto >= last` the log becomes empty and the next append must be at `upto + 1`.
///   A purge never lowers `B`.
///
/// An output of the wrong kind for the input is illegal. An unknown output allows every
/// outcome listed above.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftLog;

impl Model for RaftLog {
    type State = LogState;
    type Input = LogInput;
    type Output = LogOutput;

    fn init(&self) -> LogState {
        LogState::default()
    }

    fn step(
        &self,
        state: &LogState,
        input: &LogInput,
        output: Option<&LogOutput>,
    ) -> Vec<LogState> {
        let mut next: Vec<LogState> = outcomes(state, input)
            .into_iter()
            .filter(|(_, out)| output.is_none_or(|o| o == out))
            .map(|(next, _)| next)
            .collect();
        // Outcomes that differ only in their output sit next to each other.
        next.dedup();
        next
    }

    /// Reads and last-index queries whatever they returned, and anything that failed.
    fn is_read_only(&self, input: &LogInput, output: Option<&LogOutput>) -> bool {
        matches!(
            (input, output),
            (
                LogInput::Read { .. } | LogInput::ReadRange { .. } | LogInput::LastIndex,
                _
            ) | (_, Some(LogOutput::Err(_)))
        )
    }
}

impl RaftLog {
    /// Every legal `(next state, output)` of `input` in `state`, per [`RaftLog`]'s
    /// semantics. Deterministic order; no two outcomes are equal.
    pub fn outcomes(state: &LogState, input: &LogInput) -> Vec<(LogState, LogOutput)> {
        outcomes(state, input)
    }
}

fn outcomes(state: &LogState, input: &LogInput) -> Vec<(LogState, LogOutput)> {
    let b = state.last_purged;
    let last = state.last_index();
    let unchanged = |out| vec![(state.clone(), out)];
    let result = match input {
        LogInput::Append { entries } => {
            let continues = entries
                .iter()
                .zip(1u64..)
                .all(|(e, k)| last.checked_add(k) == Some(e.index));
            if continues {
                let mut next = state.clone();
                next.entries.extend_from_slice(entries);
                vec![(next, LogOutput::Ok)]
            } else {
                unchanged(LogOutput::Err(LogError::NotContinuous))
            }
        }
        LogInput::Read { index } => {
            let found = state.get(*index).map(|e| (e.term, e.payload));
            let mut v = unchanged(LogOutput::Entry(found));
            if *index <= b {
                v.push((state.clone(), LogOutput::Err(LogError::Purged)));
            }
            v
        }
        LogInput::ReadRange { from, to_exclusive } => {
            let hi = (*to_exclusive).min(last.saturating_add(1));
            let entries = state
                .entries
                .iter()
                .filter(|e| e.index >= *from && e.index < hi)
                .copied()
                .collect();
            let mut v = unchanged(LogOutput::Entries(entries));
            if *from <= b && from < to_exclusive {
                v.push((state.clone(), LogOutput::Err(LogError::Purged)));
            }
            v
        }
        LogInput::LastIndex => unchanged(LogOutput::LastIndex(last)),
        LogInput::Truncate { from } => {
            let mut next = state.clone();
            next.entries.retain(|e| e.index < *from);
            let mut v = vec![(next, LogOutput::Ok)];
            if *from <= b {
                v.push((state.clone(), LogOutput::Err(LogError::Purged)));
            }
            v
        }
        LogInput::Purge { upto } => {
            let mut next = state.clone();
            next.last_purged = b.max(*upto);
            next.entries.retain(|e| e.index > *upto);
            vec![(next, LogOutput::Ok)]
        }
    };
    for (next, _) in &result {
        next.debug_check();
    }
    result
}

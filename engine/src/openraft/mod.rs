//! An adapter implementing openraft 0.9's log storage (`RaftLogStorage`, feature
//! `storage-v2`, and `RaftLogReader`) on a logbook [`Store`](crate::Store). Enabled by the
//! engine's `openraft` feature.
//!
//! ```ignore
//! let log = logbook::openraft::LogStore::<MyTypeConfig>::open(dir, Config::new(...))?;
//! let raft = openraft::Raft::new(id, config, network, log, state_machine).await?;
//! ```
//!
//! Requirements on the type config `C`: `C::NodeId = u64` (logbook's hard state names the
//! candidate by a `u64`); `C::Entry` is stored with serde, which openraft's `serde` feature
//! (enabled by this adapter) requires of every entry type. Both of openraft's leader-id modes
//! are supported: log ids are stored whole, never rebuilt from a term.
//!
//! # Durability
//!
//! - `append(entries, callback)` returns once the entries are readable; the callback runs
//!   only once logbook's durable index covers them (`Store::append_with_callback`), or with
//!   the error that poisoned the store. Never before.
//! - `save_vote` returns once the vote is durable, under every strategy.
//! - `truncate` is durable on return with DiskFirst; with MemFirst it is owed to the next
//!   flush, which writes it before any later entry, so no later callback runs before it.
//! - `purge` is durable on return with DiskFirst; with MemFirst the boundary is owed to the
//!   next flush (openraft allows purges to land late).
//!
//! # Layout
//!
//! Each logbook entry's payload is a tagged bincode record (see [`record`](self)): an
//! openraft entry (`Entry<C>` serialized whole; logbook's term is `log_id.leader_id.term`),
//! or a **head** record. openraft indexes start at 0 and logbook's at 1, and openraft's purge
//! boundary is a full log id (under openraft's default mode the leader id is a term *and* a
//! node id), which logbook's `(term, index)` boundary cannot hold. So the first logbook entry
//! above logbook's own boundary is always a head that says where openraft's log starts:
//!
//! - a **genesis** record: nothing purged; openraft index 0 follows;
//! - an **entry kept as a sentinel**: `purge(id)` of an entry the log holds moves logbook's
//!   boundary to just below that entry (one atomic engine purge, after the entry is durable);
//!   the entry then reads as openraft's `last_purged_log_id`, never as an entry;
//! - a **purge record** holding the id: `purge(id)` past the last entry appends the record,
//!   waits until it is durable, then moves logbook's boundary up to it. A crash in between
//!   leaves the record last; opening the store finishes the purge.
//!
//! openraft's entries follow the head at consecutive logbook indexes.
//!
//! # Vote and committed
//!
//! See [`vote`](self): `HardState { term: leader_id.term, vote: leader_id.voted_for(),
//! commit: committed as 0 or 1 }`. `save_committed`/`read_committed` keep openraft's default
//! (not persisted): a committed log id does not fit in `HardState.commit`.
//!
//! # Input openraft's contract excludes
//!
//! openraft promises logs without holes; its test suite's fixtures do not always keep that
//! promise. The adapter accepts exactly these cases, and refuses every other hole with
//! `Violation::LogsNonConsecutive`:
//!
//! - entries at or below the purge boundary are skipped (they are compacted already);
//! - an append to a log with no entry above its boundary may start past the next index: the
//!   boundary moves to `first - 1` (keeping its leader id, or the smallest leader id when
//!   nothing was purged), i.e. the skipped indexes count as compacted: that is how openraft
//!   treats indexes its state machine already covers, the only case where it accepts an
//!   append past its last log id.
//!
//! `purge(id)` with `id.index` at or below the boundary is a no-op, even if `id`'s leader
//! differs. A purge to an id that is not in the log but is later than its last id empties the
//! log (openraft then takes `id` as its last log id). A purge to an id that is not in the log
//! while later entries stay is refused: nothing could record it.
//!
//! # Blocking
//!
//! Methods run the engine's blocking calls inline on the calling task: reads, the fsyncs of
//! `save_vote`, DiskFirst truncate/purge and DiskFirst `Immediate` appends.

// openraft's traits fix the error type: `StorageError` is large, and boxing it would only add
// a conversion at every trait method.
#![allow(clippy::result_large_err)]

mod error;
mod log_store;
mod reader;
mod record;
mod view;
mod vote;
mod write;

pub use error::Result;
pub use log_store::LogStore;
pub use reader::{LogReader, LIMITED_READ_BYTES_MAX, LIMITED_READ_ENTRIES_MAX};

#[cfg(test)]
mod tests;

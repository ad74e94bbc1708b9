//! A linearizability checker, generic over a sequential [`Model`].
//!
//! A [`History`] is a set of [`Operation`]s, each with a call time and, unless it never
//! returned, a return time and an output. The checker decides whether some sequential
//! execution of the model explains the history: every operation takes effect at one instant
//! between its call and its return, and the outputs are those the model produces in that
//! order. An operation that never returned (in flight at a crash, Jepsen's `:info`) is
//! *indeterminate*: it may take effect at any instant after its call, or never.
//!
//! The search is Wing & Gong's backtracking with Lowe's memoization of (set of linearized
//! operations, model state), as in the Porcupine checker (see `search.rs`). It is exact: a
//! verdict is never a guess. An optional step budget ([`Checker::max_steps`]) bounds the
//! work; when it runs out the verdict is [`CheckResult::Unknown`], never "ok".
//!
//! On a violation the checker reports a [`Window`]: the shortest prefix of the history (in
//! time order) that is already not linearizable, with the operations in it.
//!
//! Everything is deterministic: the same history and model give the same verdict, witness,
//! window and step count (hash sets are only queried, never iterated).
//!
//! Models: [`CasRegister`] (the Jepsen etcd register), [`RaftLog`] (one Raft log store) and
//! [`Kv`] (a key-value store). [`Checker::check_partitioned`] checks independent parts (keys)
//! one by one and stops at the first that fails.
//! [`parse_jepsen_log`] reads Jepsen's register histories.
//!
//! ```
//! use logbook_sim::linearizability::{check, CasRegister, History, RegisterInput, RegisterOutput};
//!
//! let mut h = History::new();
//! let w = h.invoke(1, RegisterInput::Write(7)).unwrap();
//! let r = h.invoke(2, RegisterInput::Read).unwrap();
//! h.complete(r, RegisterOutput::Read(Some(7))).unwrap(); // sees the concurrent write
//! h.complete(w, RegisterOutput::Write).unwrap();
//! assert!(check(&CasRegister, &h).is_linearizable());
//! ```

mod bitset;
mod cache;
mod checker;
mod event_list;
mod history;
mod jepsen;
mod kv;
mod model;
mod partition;
mod raft_log;
mod register;
mod search;

#[cfg(test)]
mod tests;

pub use checker::{check, CheckResult, Checked, Checker, Window};
pub use history::{History, HistoryError, OpId, Operation, MAX_OPS};
pub use jepsen::{
    load_jepsen_log, parse_jepsen_log, JepsenErrorKind, JepsenLoadError, JepsenParseError,
    RegisterHistory,
};
pub use kv::{Kv, KvInput, KvOp, KvOutput};
pub use model::Model;
pub use partition::{PartitionedCheck, TURN_STEPS};
pub use raft_log::{LogEntry, LogError, LogInput, LogOutput, LogState, RaftLog};
pub use register::{CasRegister, RegisterInput, RegisterOutput};

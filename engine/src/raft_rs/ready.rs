//! The write path of a raft-rs `Ready` on [`LogStorage`].
//!
//! DiskFirst (everything durable when [`persist_ready`] returns):
//!
//! ```ignore
//! let mut rd = node.ready();
//! send(rd.take_messages());                       // a leader's appends may leave at once
//! apply(rd.take_committed_entries());
//! persist_ready(node.mut_store(), &mut rd)?;      // snapshot, entries, hard state; synced
//! send(rd.take_persisted_messages());             // votes, append responses: after the fsync
//! let mut light = node.advance(rd);
//! send(light.take_messages());
//! apply(light.take_committed_entries());
//! node.advance_apply();
//! ```
//!
//! MemFirst (entries durable later, when the flush policy syncs them):
//!
//! ```ignore
//! let mut rd = node.ready();
//! send(rd.take_messages());
//! apply(rd.take_committed_entries());
//! let need = persist_ready(node.mut_store(), &mut rd)?;
//! readies.push(rd.number(), need, rd.take_persisted_messages());
//! node.advance_append_async(rd);
//! node.advance_apply();
//! // ... whenever the log may have synced (after `LogStorage::poll`):
//! send(readies.release(&mut node));               // on_persist_ready + the held messages
//! ```

use std::collections::VecDeque;

use raft::eraftpb::Message;
use raft::{RawNode, Ready};

use crate::config::Strategy;

use super::{to_raft_error, LogStorage};

/// Persists what `rd` asks to keep: its snapshot (durable), its entries (replacing any
/// conflicting suffix) and its hard state (durable) when its term or vote changed. With
/// DiskFirst the entries are synced before the hard state is saved, so all of `rd` is
/// durable on return; with MemFirst they wait for the flush policy. Returns the index that
/// must be durable before `rd`'s persisted messages may leave (0 if `rd` has no entries).
///
/// A hard state whose only change is the commit index is not saved (raft-rs's
/// `Ready::must_sync` is false for it): the commit index is volatile in Raft, a restarted
/// node learns it again from the leader, and saving it on every `Ready` cost two metadata
/// fsyncs per commit. The next save of a term or vote (or a snapshot) carries it.
pub fn persist_ready(store: &mut LogStorage, rd: &mut Ready) -> raft::Result<u64> {
    if !rd.snapshot().is_empty() {
        store.apply_snapshot(rd.snapshot().clone())?;
    }
    let need = rd.entries().last().map_or(0, |e| e.index);
    store.append(rd.entries())?;
    let disk_first = store.with_log(|l| l.config().strategy == Strategy::DiskFirst);
    if disk_first {
        store.sync().map_err(to_raft_error)?;
    }
    if let Some(hs) = rd.hs() {
        let saved = store.with_log(|l| l.hard_state());
        if hs.term != saved.term || hs.vote != saved.vote.unwrap_or(0) {
            store.set_hard_state(hs)?;
        }
    }
    Ok(need)
}

/// One MemFirst `Ready` whose entries are not yet known durable.
#[derive(Debug)]
struct Pending {
    number: u64,
    need: u64,
    messages: Vec<Message>,
}

/// The MemFirst `Ready`s written but not yet durable, in order, with the messages each may
/// send only once its entries are durable.
#[derive(Debug, Default)]
pub struct AsyncReadies {
    pending: VecDeque<Pending>,
}

impl AsyncReadies {
    /// Records the `Ready` numbered `number`, which needs index `need` durable (see
    /// [`persist_ready`]), and its persisted messages.
    pub fn push(&mut self, number: u64, need: u64, messages: Vec<Message>) {
        debug_assert!(
            self.pending.back().is_none_or(|p| p.number < number),
            "readies are recorded in order"
        );
        self.pending.push_back(Pending {
            number,
            need,
            messages,
        });
    }

    /// How many `Ready`s wait for their entries.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when no `Ready` waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Forgets every pending `Ready` (the node crashed; its messages must never leave).
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Releases, in order, every `Ready` whose entries the log's durable index now covers:
    /// tells `node` (`on_persist_ready`) and returns their persisted messages. A `Ready`
    /// whose entries a later one replaced counts as persisted once the log's current
    /// entries up to its last index are durable.
    pub fn release(&mut self, node: &mut RawNode<LogStorage>) -> Vec<Message> {
        let (durable, last) = node
            .store()
            .with_log(|l| (l.durable_index(), l.last_index()));
        let mut out = Vec::new();
        let mut released = None;
        while let Some(p) = self.pending.front() {
            if durable < p.need.min(last) {
                break;
            }
            let p = self.pending.pop_front().expect("front exists");
            released = Some(p.number);
            out.extend(p.messages);
        }
        if let Some(number) = released {
            node.on_persist_ready(number);
        }
        out
    }
}

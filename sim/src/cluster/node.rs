//! One cluster node: a raft-rs `RawNode` over logbook's `Log` (through
//! [`logbook::raft_rs::LogStorage`]) on its own [`SimDisk`], with the key-value state
//! machine, driven through the write path of a `Ready`.
//!
//! The single-threaded core is used rather than `Store`: `Store` runs a flusher thread and
//! group commit across threads, whose timing a seeded simulation cannot replay. The core is
//! what `Store` wraps, so the storage semantics are the same.

use std::collections::BTreeSet;
use std::sync::Arc;

use logbook::raft_rs::raft::eraftpb::{ConfState, Entry, EntryType, Message};
use logbook::raft_rs::raft::{Config as RaftConfig, RawNode, StateRole};
use logbook::raft_rs::{discard_logger, persist_ready, AsyncReadies, LogStorage};
use logbook::Strategy;

use super::kv::{Command, StateMachine};
use crate::clock::SimClock;
use crate::disk::SimDisk;
use crate::linearizability::KvOutput;

/// How the node persists a `Ready` (the bug switches of expected-violation scenarios).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePath {
    /// The log's strategy.
    pub strategy: Strategy,
    /// MemFirst only: send persisted messages and advance before the entries are durable.
    pub ack_before_durable: bool,
    /// Save every hard state without its vote.
    pub forget_vote: bool,
    /// Snapshot and compact once this many entries are applied past the first index (0:
    /// never).
    pub compact_entries: u64,
}

/// A node that is up.
pub struct Up {
    /// raft-rs, on the node's storage.
    pub raw: RawNode<LogStorage>,
    readies: AsyncReadies,
    /// The key-value state machine (rebuilt from the log after a restart).
    pub sm: StateMachine,
    /// Requests this node proposed, as (client, seq): it answers them once applied.
    pub waiting: BTreeSet<(u64, u64)>,
    /// Syncs of the log counted so far (for the fsync cost).
    syncs_seen: u64,
    /// The last index applied to `sm`.
    applied: u64,
}

/// What one drive of a node produced.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Raft messages to send.
    pub messages: Vec<Message>,
    /// Changes to the log, in order.
    pub appended: Vec<LogChange>,
    /// Entries applied: (index, term, hash).
    pub applied: Vec<(u64, u64, u64)>,
    /// Answers to clients: (client, seq, output).
    pub replies: Vec<(u64, u64, KvOutput)>,
    /// Log syncs made during the drive.
    pub syncs: u64,
}

/// One change to a node's log, as the checks mirror it.
#[derive(Debug)]
pub enum LogChange {
    /// Entries from this index on, as (term, hash), replacing what was there.
    Append(u64, Vec<(u64, u64)>),
    /// A snapshot from the leader up to this index replaced the whole log.
    Snapshot(u64),
}

/// The raft-rs configuration of node `id`: a one-tick election timeout range, so raft-rs's
/// unseeded RNG has a single value to draw; the jitter comes from the simulator's tick skew.
pub fn raft_config(id: u64, applied: u64) -> RaftConfig {
    RaftConfig {
        id,
        applied,
        election_tick: 10,
        heartbeat_tick: 2,
        min_election_tick: 10,
        max_election_tick: 11,
        max_size_per_msg: 64 << 10,
        max_inflight_msgs: 64,
        ..Default::default()
    }
}

impl Up {
    /// Opens node `id`'s storage on `disk` (initializing a new cluster of `voters`) and
    /// starts raft-rs on it.
    pub fn start(
        id: u64,
        voters: u64,
        disk: &SimDisk,
        clock: &SimClock,
        cfg: logbook::Config,
    ) -> Result<Up, String> {
        let mut storage = LogStorage::open(
            Arc::new(disk.clone()),
            Arc::new(clock.clone()),
            "/node",
            cfg,
        )
        .map_err(|e| format!("open: {e}"))?;
        if storage.conf_state().voters.is_empty() {
            let cs = ConfState {
                voters: (1..=voters).collect(),
                ..Default::default()
            };
            storage
                .initialize_with_conf_state(cs)
                .map_err(|e| format!("initialize: {e}"))?;
        }
        let syncs_seen = storage.with_log(|l| l.stats().syncs);
        let snap = storage.latest_snapshot();
        let applied = snap.get_metadata().index;
        let sm = StateMachine::decode(&snap.data)
            .ok_or_else(|| format!("undecodable snapshot at {applied}"))?;
        let raw = RawNode::new(&raft_config(id, applied), storage, &discard_logger())
            .map_err(|e| format!("raft-rs refused the recovered state: {e}"))?;
        Ok(Up {
            raw,
            readies: AsyncReadies::default(),
            sm,
            waiting: BTreeSet::new(),
            syncs_seen,
            applied,
        })
    }

    /// The node's role and term.
    pub fn role(&self) -> (StateRole, u64) {
        (self.raw.raft.state, self.raw.raft.term)
    }

    /// Handles every `Ready` (and, with MemFirst, runs the flush policy at `now_ms` and
    /// releases what became durable). An error is a storage failure: the node must stop.
    pub fn drive(&mut self, now_ms: u64, path: WritePath, out: &mut Outbox) -> Result<(), String> {
        let mem_first = path.strategy == Strategy::MemFirst;
        for _ in 0..1000 {
            if mem_first {
                self.raw
                    .mut_store()
                    .poll(now_ms)
                    .map_err(|e| format!("flush: {e}"))?;
                out.messages.extend(self.readies.release(&mut self.raw));
            }
            if !self.raw.has_ready() {
                self.maybe_compact(path.compact_entries)?;
                self.count_syncs(out);
                return Ok(());
            }
            self.handle_ready(path, out)?;
        }
        Err("raft-rs kept producing readies (1000 in one drive)".into())
    }

    fn count_syncs(&mut self, out: &mut Outbox) {
        let syncs = self.raw.store().with_log(|l| l.stats().syncs);
        out.syncs += syncs - self.syncs_seen;
        self.syncs_seen = syncs;
    }

    fn handle_ready(&mut self, path: WritePath, out: &mut Outbox) -> Result<(), String> {
        let mut rd = self.raw.ready();
        out.messages.extend(rd.take_messages());
        if !rd.snapshot().is_empty() {
            let index = rd.snapshot().get_metadata().index;
            self.sm = StateMachine::decode(&rd.snapshot().data)
                .ok_or_else(|| format!("undecodable snapshot at {index} from the leader"))?;
            self.applied = index;
            out.appended.push(LogChange::Snapshot(index));
        }
        self.apply(&rd.take_committed_entries(), out);
        if let Some(first) = rd.entries().first() {
            let seen = rd.entries().iter().map(|e| (e.term, hash(e))).collect();
            out.appended.push(LogChange::Append(first.index, seen));
        }
        let need =
            persist_ready(self.raw.mut_store(), &mut rd).map_err(|e| format!("persist: {e}"))?;
        if path.forget_vote {
            if let Some(hs) = rd.hs() {
                let mut hs = hs.clone();
                hs.vote = 0;
                self.raw
                    .mut_store()
                    .set_hard_state(&hs)
                    .map_err(|e| format!("hard state: {e}"))?;
            }
        }
        if path.strategy == Strategy::MemFirst && !path.ack_before_durable {
            self.readies
                .push(rd.number(), need, rd.take_persisted_messages());
            self.raw.advance_append_async(rd);
            // What is durable already (a snapshot install is, on return) is released before
            // `advance_apply`: raft-rs applies nothing past what it knows persisted.
            out.messages.extend(self.readies.release(&mut self.raw));
            self.raw.advance_apply();
            return Ok(());
        }
        out.messages.extend(rd.take_persisted_messages());
        let mut light = self.raw.advance(rd);
        out.messages.extend(light.take_messages());
        self.apply(&light.take_committed_entries(), out);
        self.raw.advance_apply();
        Ok(())
    }

    fn apply(&mut self, entries: &[Entry], out: &mut Outbox) {
        for e in entries {
            self.applied = e.index;
            out.applied.push((e.index, e.term, hash(e)));
            if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
                continue;
            }
            // Only the simulator's clients propose, always with `Command::encode`.
            let Some(cmd) = Command::decode(&e.data) else {
                continue;
            };
            let output = self.sm.apply(&cmd);
            if self.waiting.remove(&(cmd.client, cmd.seq)) {
                out.replies.push((cmd.client, cmd.seq, output));
            }
        }
    }
}

impl Up {
    /// Snapshots the state machine at the applied index and compacts the log behind it,
    /// once `every` entries were applied past the first index. The saved commit index is
    /// raised to the snapshot first, so a restart may start raft-rs at it.
    fn maybe_compact(&mut self, every: u64) -> Result<(), String> {
        let first = self.raw.raft.raft_log.first_index();
        if every == 0 || self.applied < first + every {
            return Ok(());
        }
        let applied = self.applied;
        let mut hs = self.raw.raft.hard_state();
        hs.commit = hs.commit.max(applied);
        let cs = self.raw.store().conf_state().clone();
        let data = self.sm.encode();
        let store = self.raw.mut_store();
        store
            .set_hard_state(&hs)
            .and_then(|()| store.create_snapshot(applied, cs, data))
            .and_then(|()| store.compact(applied))
            .map_err(|e| format!("compact at {applied}: {e}"))
    }
}

fn hash(e: &Entry) -> u64 {
    super::checks::entry_hash(e.get_entry_type() as i32, &e.data)
}

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
}

/// What one drive of a node produced.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Raft messages to send.
    pub messages: Vec<Message>,
    /// Entries appended to the log: the first index and (term, hash) of each.
    pub appended: Vec<(u64, Vec<(u64, u64)>)>,
    /// Entries applied: (index, term, hash).
    pub applied: Vec<(u64, u64, u64)>,
    /// Answers to clients: (client, seq, output).
    pub replies: Vec<(u64, u64, KvOutput)>,
    /// Log syncs made during the drive.
    pub syncs: u64,
}

/// The raft-rs configuration of node `id`: a one-tick election timeout range, so raft-rs's
/// unseeded RNG has a single value to draw; the jitter comes from the simulator's tick skew.
pub fn raft_config(id: u64) -> RaftConfig {
    RaftConfig {
        id,
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
        let raw = RawNode::new(&raft_config(id), storage, &discard_logger())
            .map_err(|e| format!("raft-rs refused the recovered state: {e}"))?;
        Ok(Up {
            raw,
            readies: AsyncReadies::default(),
            sm: StateMachine::default(),
            waiting: BTreeSet::new(),
            syncs_seen,
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
        self.apply(&rd.take_committed_entries(), out);
        if let Some(first) = rd.entries().first() {
            let seen = rd.entries().iter().map(|e| (e.term, hash(e))).collect();
            out.appended.push((first.index, seen));
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

fn hash(e: &Entry) -> u64 {
    super::checks::entry_hash(e.get_entry_type() as i32, &e.data)
}

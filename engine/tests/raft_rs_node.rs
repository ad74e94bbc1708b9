//! A raft-rs `RawNode` on logbook through the write path of `logbook::raft_rs::ready`: with
//! DiskFirst a proposal commits in one pass; with MemFirst it commits only once the log's
//! durable index covers it, and the persisted messages wait for the same moment.
#![cfg(feature = "raft-rs")]

use std::sync::Arc;

use logbook::raft_rs::raft::eraftpb::{ConfState, Entry, EntryType};
use logbook::raft_rs::raft::{Config as RaftConfig, RawNode, StateRole};
use logbook::raft_rs::{discard_logger, persist_ready, AsyncReadies, LogStorage};
use logbook::{Config, FlushPolicy, StdFs, Strategy, SystemClock};

fn node(dir: &std::path::Path, strategy: Strategy) -> RawNode<LogStorage> {
    let cfg = Config::new(strategy, FlushPolicy::Immediate).with_segment_size_bytes(1 << 16);
    let mut storage =
        LogStorage::open(Arc::new(StdFs), Arc::new(SystemClock::new()), dir, cfg).unwrap();
    if storage.conf_state().voters.is_empty() {
        let cs = ConfState {
            voters: vec![1],
            ..Default::default()
        };
        storage.initialize_with_conf_state(cs).unwrap();
    }
    let rc = RaftConfig {
        id: 1,
        election_tick: 10,
        heartbeat_tick: 2,
        ..Default::default()
    };
    RawNode::new(&rc, storage, &discard_logger()).unwrap()
}

fn data(entries: &[Entry]) -> Vec<Vec<u8>> {
    entries
        .iter()
        .filter(|e| e.get_entry_type() == EntryType::EntryNormal && !e.data.is_empty())
        .map(|e| e.data.to_vec())
        .collect()
}

/// One DiskFirst pass: everything durable, then `advance`. Returns what got applied.
fn disk_first_pass(n: &mut RawNode<LogStorage>) -> Vec<Vec<u8>> {
    let mut applied = Vec::new();
    while n.has_ready() {
        let mut rd = n.ready();
        applied.extend(data(&rd.take_committed_entries()));
        persist_ready(n.mut_store(), &mut rd).unwrap();
        assert!(rd.take_persisted_messages().is_empty(), "single node");
        let mut light = n.advance(rd);
        applied.extend(data(&light.take_committed_entries()));
        n.advance_apply();
    }
    applied
}

/// One MemFirst pass without any flush. Returns what got applied.
fn mem_first_pass(n: &mut RawNode<LogStorage>, readies: &mut AsyncReadies) -> Vec<Vec<u8>> {
    let mut applied = Vec::new();
    readies.release(n);
    while n.has_ready() {
        let mut rd = n.ready();
        applied.extend(data(&rd.take_committed_entries()));
        let need = persist_ready(n.mut_store(), &mut rd).unwrap();
        readies.push(rd.number(), need, rd.take_persisted_messages());
        n.advance_append_async(rd);
        n.advance_apply();
        readies.release(n);
    }
    applied
}

#[test]
fn disk_first_commits_a_proposal_in_one_pass_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut n = node(dir.path(), Strategy::DiskFirst);
        n.campaign().unwrap();
        disk_first_pass(&mut n);
        assert_eq!(n.raft.state, StateRole::Leader);
        n.propose(vec![], b"x=1".to_vec()).unwrap();
        assert_eq!(disk_first_pass(&mut n), vec![b"x=1".to_vec()]);
        assert_eq!(n.store().durable_index(), n.raft.raft_log.last_index());
    }
    let mut n = node(dir.path(), Strategy::DiskFirst);
    assert_eq!(n.raft.term, 1, "the hard state survives");
    // The commit index a LightReady announces is not saved (Raft re-learns it): a new
    // election commits the entry again, from the log.
    n.campaign().unwrap();
    assert_eq!(disk_first_pass(&mut n), vec![b"x=1".to_vec()]);
    assert_eq!(n.raft.term, 2);
}

#[test]
fn mem_first_commits_only_once_the_entry_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = node(dir.path(), Strategy::MemFirst);
    let mut readies = AsyncReadies::default();
    n.campaign().unwrap();
    mem_first_pass(&mut n, &mut readies);
    // The leader's empty entry is not durable yet: raft-rs must not count its own vote.
    assert!(!readies.is_empty());
    n.mut_store().sync().unwrap();
    mem_first_pass(&mut n, &mut readies);
    assert_eq!(n.raft.state, StateRole::Leader);
    n.propose(vec![], b"y=2".to_vec()).unwrap();
    assert!(
        mem_first_pass(&mut n, &mut readies).is_empty(),
        "not durable, so not committed"
    );
    assert!(n.store().durable_index() < n.raft.raft_log.last_index());
    n.mut_store().poll(u64::MAX).unwrap();
    assert_eq!(mem_first_pass(&mut n, &mut readies), vec![b"y=2".to_vec()]);
    assert!(readies.is_empty());
}

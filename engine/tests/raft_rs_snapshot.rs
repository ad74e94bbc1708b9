//! raft-rs's snapshot path on logbook: a leader compacts its log behind a snapshot, a node
//! that was away catches up by installing it (`persist_ready` → `apply_snapshot`), and both
//! survive a reopen with the boundary, its term and the snapshot data.
#![cfg(feature = "raft-rs")]

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use logbook::raft_rs::raft::eraftpb::{ConfState, EntryType, Message};
use logbook::raft_rs::raft::{Config as RaftConfig, RawNode, StateRole, Storage};
use logbook::raft_rs::{discard_logger, persist_ready, LogStorage};
use logbook::{Config, FlushPolicy, StdFs, Strategy, SystemClock};

fn node(dir: &Path, id: u64) -> RawNode<LogStorage> {
    let cfg =
        Config::new(Strategy::DiskFirst, FlushPolicy::Immediate).with_segment_size_bytes(1 << 16);
    let mut s = LogStorage::open(Arc::new(StdFs), Arc::new(SystemClock::new()), dir, cfg).unwrap();
    if s.conf_state().voters.is_empty() {
        let cs = ConfState {
            voters: vec![1, 2, 3],
            ..Default::default()
        };
        s.initialize_with_conf_state(cs).unwrap();
    }
    let applied = s.latest_snapshot().get_metadata().index;
    let rc = RaftConfig {
        id,
        election_tick: 10,
        heartbeat_tick: 2,
        applied,
        ..Default::default()
    };
    RawNode::new(&rc, s, &discard_logger()).unwrap()
}

/// A node and its applied commands (the snapshot data is their concatenation).
struct Peer {
    raw: RawNode<LogStorage>,
    applied: Vec<u8>,
}

fn apply(p: &mut Peer, entries: &[logbook::raft_rs::raft::eraftpb::Entry]) {
    for e in entries {
        if e.get_entry_type() == EntryType::EntryNormal && !e.data.is_empty() {
            p.applied.extend_from_slice(&e.data);
        }
    }
}

/// Handles one node's readies; returns the messages it sends.
fn drive(p: &mut Peer) -> Vec<Message> {
    let mut out = Vec::new();
    while p.raw.has_ready() {
        let mut rd = p.raw.ready();
        out.extend(rd.take_messages());
        if !rd.snapshot().is_empty() {
            p.applied = rd.snapshot().data.to_vec();
        }
        let committed = rd.take_committed_entries();
        apply(p, &committed);
        persist_ready(p.raw.mut_store(), &mut rd).unwrap();
        out.extend(rd.take_persisted_messages());
        let mut light = p.raw.advance(rd);
        out.extend(light.take_messages());
        let committed = light.take_committed_entries();
        apply(p, &committed);
        p.raw.advance_apply();
    }
    out
}

/// Delivers messages among `peers` (ids 1..), dropping those to or from `away`, until quiet.
fn settle(peers: &mut [Peer], away: Option<u64>) {
    let mut queue: VecDeque<Message> = VecDeque::new();
    for _ in 0..200 {
        for p in peers.iter_mut() {
            queue.extend(drive(p));
        }
        if queue.is_empty() {
            return;
        }
        while let Some(m) = queue.pop_front() {
            if Some(m.to) == away || Some(m.from) == away {
                continue;
            }
            let _ = peers[m.to as usize - 1].raw.step(m);
        }
    }
    panic!("the cluster did not settle");
}

#[test]
fn a_node_that_was_away_catches_up_from_a_snapshot() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut peers: Vec<Peer> = (0..3)
        .map(|i| Peer {
            raw: node(dirs[i].path(), i as u64 + 1),
            applied: Vec::new(),
        })
        .collect();
    peers[0].raw.campaign().unwrap();
    settle(&mut peers, Some(3));
    assert_eq!(peers[0].raw.raft.state, StateRole::Leader);
    for k in 0..20u8 {
        peers[0].raw.propose(vec![], vec![b'a' + k]).unwrap();
        settle(&mut peers, Some(3));
    }
    assert_eq!(peers[0].applied.len(), 20);
    // The leader snapshots what it applied and compacts its log behind it.
    let applied = peers[0].raw.raft.raft_log.applied;
    let data = peers[0].applied.clone();
    let cs = peers[0].raw.store().conf_state().clone();
    let store = peers[0].raw.mut_store();
    store.create_snapshot(applied, cs, data.clone()).unwrap();
    store.compact(applied).unwrap();
    assert_eq!(store.first_index(), Ok(applied));
    // Node 3 comes back: its log is behind the leader's first index, so it gets the snapshot
    // (the leader's heartbeats find it again).
    for _ in 0..4 {
        peers[0].raw.tick();
        settle(&mut peers, None);
    }
    peers[0].raw.propose(vec![], b"z".to_vec()).unwrap();
    settle(&mut peers, None);
    let want = [data.as_slice(), b"z"].concat();
    assert_eq!(
        peers[2].applied, want,
        "node 3 installed the snapshot, then applied z"
    );
    let s3 = peers[2].raw.store();
    assert_eq!(s3.latest_snapshot().get_metadata().index, applied);
    assert!(
        s3.first_index().unwrap() > applied,
        "node 3 holds no entry up to the snapshot"
    );
    // Reopen node 3: the boundary, its term and the snapshot survive.
    let term = s3.term(applied).unwrap();
    drop(peers.pop());
    let reopened = node(dirs[2].path(), 3);
    let s = reopened.store();
    assert_eq!(s.term(applied), Ok(term));
    assert_eq!(&s.snapshot(applied, 0).unwrap().data[..], data.as_slice());
    assert_eq!(reopened.raft.raft_log.applied, applied);
}

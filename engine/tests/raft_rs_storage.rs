//! `raft::Storage` on logbook, against raft-rs's own storage semantics: the cases of
//! raft-rs 0.7's `MemStorage` tests (`src/storage.rs`), ported table by table, plus what
//! only a durable storage has (reopen, a lost MemFirst tail).
//!
//! The fixture is raft-rs's `[(3, 3), (4, 4), (5, 5)]`: on logbook, entries 3..=5 above a
//! purge boundary at (2, term 2). Two deliberate differences from `MemStorage`, both from the
//! `Storage` contract: `term(first_index - 1)` answers the boundary's term (the issue asks
//! for it; `MemStorage` only keeps it after a snapshot), and bad input is a typed error
//! where `MemStorage` panics.
#![cfg(feature = "raft-rs")]

use std::path::Path;
use std::sync::Arc;

use logbook::raft_rs::protobuf::Message as _;
use logbook::raft_rs::raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use logbook::raft_rs::raft::{Error as RaftError, Storage, StorageError};
use logbook::raft_rs::{no_context, LogStorage};
use logbook::{Config, FlushPolicy, LogId, StdFs, Strategy, SystemClock};

fn new_entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        ..Default::default()
    }
}

fn size_of(e: &Entry) -> u64 {
    u64::from(e.compute_size())
}

fn open(dir: &Path, strategy: Strategy) -> LogStorage {
    let cfg = Config::new(strategy, FlushPolicy::Immediate).with_segment_size_bytes(1 << 16);
    LogStorage::open(Arc::new(StdFs), Arc::new(SystemClock::new()), dir, cfg).unwrap()
}

/// raft-rs's fixture: `ents` above a boundary at the first entry's index minus one.
fn with_entries(dir: &Path, ents: &[Entry]) -> LogStorage {
    let mut s = open(dir, Strategy::DiskFirst);
    let first = ents[0].index;
    s.with_log(|l| l.purge(LogId::new(first - 1, first - 1)))
        .unwrap();
    s.append(ents).unwrap();
    s
}

fn base() -> Vec<Entry> {
    vec![new_entry(3, 3), new_entry(4, 4), new_entry(5, 5)]
}

fn stored(s: &LogStorage) -> Vec<Entry> {
    let (first, last) = (s.first_index().unwrap(), s.last_index().unwrap());
    s.entries(first, last + 1, None, no_context()).unwrap()
}

fn compacted<T>() -> Result<T, RaftError> {
    Err(RaftError::Store(StorageError::Compacted))
}

fn unavailable<T>() -> Result<T, RaftError> {
    Err(RaftError::Store(StorageError::Unavailable))
}

#[test]
fn storage_term() {
    let cases = [
        (1, compacted()),
        (2, Ok(2)), // MemStorage: Compacted (it keeps no boundary term without a snapshot)
        (3, Ok(3)),
        (4, Ok(4)),
        (5, Ok(5)),
        (6, unavailable()),
    ];
    for (i, (idx, want)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let s = with_entries(dir.path(), &base());
        assert_eq!(s.term(idx), want, "#{i}");
    }
}

#[test]
fn storage_entries() {
    let ents = vec![
        new_entry(3, 3),
        new_entry(4, 4),
        new_entry(5, 5),
        new_entry(6, 6),
    ];
    let (s1, s2, s3) = (size_of(&ents[1]), size_of(&ents[2]), size_of(&ents[3]));
    let max = u64::MAX;
    let cases = [
        (2, 6, max, compacted()),
        (3, 4, max, Ok(vec![new_entry(3, 3)])),
        (4, 5, max, Ok(vec![new_entry(4, 4)])),
        (4, 6, max, Ok(ents[1..3].to_vec())),
        (4, 7, max, Ok(ents[1..4].to_vec())),
        // even if max_size is zero, the first entry is returned
        (4, 7, 0, Ok(vec![new_entry(4, 4)])),
        (4, 7, s1 + s2, Ok(ents[1..3].to_vec())),
        (4, 7, s1 + s2 + s3 / 2, Ok(ents[1..3].to_vec())),
        (4, 7, s1 + s2 + s3 - 1, Ok(ents[1..3].to_vec())),
        (4, 7, s1 + s2 + s3, Ok(ents[1..4].to_vec())),
        // MemStorage panics on these two
        (4, 8, max, unavailable()),
        (5, 4, max, unavailable()),
    ];
    for (i, (lo, hi, max_size, want)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let s = with_entries(dir.path(), &ents);
        assert_eq!(s.entries(lo, hi, max_size, no_context()), want, "#{i}");
    }
}

#[test]
fn storage_last_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = with_entries(dir.path(), &base());
    assert_eq!(s.last_index(), Ok(5));
    s.append(&[new_entry(6, 5)]).unwrap();
    assert_eq!(s.last_index(), Ok(6));
}

#[test]
fn storage_first_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = with_entries(dir.path(), &base());
    assert_eq!(s.first_index(), Ok(3));
    // logbook compacts only what a snapshot covers: take one at 3 first.
    s.create_snapshot(3, ConfState::default(), b"sm".to_vec())
        .unwrap();
    s.compact(4).unwrap();
    assert_eq!(s.first_index(), Ok(4));
    assert_eq!(s.term(3), Ok(3), "the new boundary keeps its term");
}

#[test]
fn storage_compact() {
    // (compact index, first index, its term, entries left)
    let cases = [(2, 3, 3, 3), (3, 3, 3, 3), (4, 4, 4, 2), (5, 5, 5, 1)];
    for (i, (idx, windex, wterm, wlen)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = with_entries(dir.path(), &base());
        if idx > 3 {
            s.create_snapshot(idx - 1, ConfState::default(), vec![])
                .unwrap();
        }
        s.compact(idx).unwrap();
        let index = s.first_index().unwrap();
        assert_eq!(index, windex, "#{i}");
        let term = s.entries(index, index + 1, 1, no_context()).unwrap()[0].term;
        assert_eq!(term, wterm, "#{i}");
        assert_eq!(stored(&s).len(), wlen, "#{i}");
    }
}

#[test]
fn compact_refuses_what_no_snapshot_covers_and_past_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = with_entries(dir.path(), &base());
    assert!(s.compact(5).is_err(), "no snapshot covers 4");
    assert_eq!(s.compact(7), unavailable(), "MemStorage panics here");
    assert_eq!(stored(&s), base());
}

fn snapshot(index: u64, term: u64, voters: Vec<u64>, data: &[u8]) -> Snapshot {
    let mut s = Snapshot::default();
    s.mut_metadata().index = index;
    s.mut_metadata().term = term;
    s.mut_metadata().mut_conf_state().voters = voters;
    s.data = data.to_vec().into();
    s
}

#[test]
fn storage_create_snapshot() {
    let nodes = vec![1, 2, 3];
    let cs = ConfState {
        voters: nodes.clone(),
        ..Default::default()
    };
    let temporarily = || {
        Err(RaftError::Store(
            StorageError::SnapshotTemporarilyUnavailable,
        ))
    };
    // (snapshot taken at, requested index, answer). MemStorage builds its snapshot from the
    // commit index and raises it to the request; logbook returns the one the application
    // saved, or asks raft-rs to wait for a recent enough one.
    let cases = [
        (Some(4), 0, Ok(snapshot(4, 4, nodes.clone(), b"d"))),
        (Some(5), 5, Ok(snapshot(5, 5, nodes.clone(), b"d"))),
        (Some(5), 6, temporarily()),
        (None, 0, temporarily()),
    ];
    for (i, (at, request, want)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = with_entries(dir.path(), &base());
        if let Some(at) = at {
            s.create_snapshot(at, cs.clone(), b"d".to_vec()).unwrap();
        }
        assert_eq!(s.snapshot(request, 0), want, "#{i}");
    }
}

#[test]
fn storage_append() {
    let e = new_entry;
    let ok = |v: Vec<Entry>| Some(v);
    let cases = [
        (base(), ok(base())),
        (
            vec![e(3, 3), e(4, 6), e(5, 6)],
            ok(vec![e(3, 3), e(4, 6), e(5, 6)]),
        ),
        (
            vec![e(3, 3), e(4, 4), e(5, 5), e(6, 5)],
            ok(vec![e(3, 3), e(4, 4), e(5, 5), e(6, 5)]),
        ),
        // overwriting compacted entries is refused (MemStorage panics)
        (vec![e(2, 3), e(3, 3), e(4, 5)], None),
        // truncate the existing entries and append
        (vec![e(4, 5)], ok(vec![e(3, 3), e(4, 5)])),
        // direct append
        (vec![e(6, 6)], ok(vec![e(3, 3), e(4, 4), e(5, 5), e(6, 6)])),
        // a gap is refused (MemStorage panics)
        (vec![e(8, 8)], None),
    ];
    for (i, (entries, want)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = with_entries(dir.path(), &base());
        let r = s.append(&entries);
        match want {
            Some(want) => {
                r.unwrap();
                assert_eq!(stored(&s), want, "#{i}");
            }
            None => {
                assert!(r.is_err(), "#{i}");
                assert_eq!(stored(&s), base(), "#{i}: unchanged");
            }
        }
    }
}

#[test]
fn storage_apply_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path(), Strategy::DiskFirst);
    s.apply_snapshot(snapshot(4, 4, vec![1, 2, 3], b"sm"))
        .unwrap();
    assert_eq!((s.first_index(), s.last_index()), (Ok(5), Ok(4)));
    assert_eq!(s.term(4), Ok(4));
    let st = s.initial_state().unwrap();
    assert_eq!((st.hard_state.term, st.hard_state.commit), (4, 4));
    assert_eq!(st.conf_state.voters, vec![1, 2, 3]);
    let err = s.apply_snapshot(snapshot(3, 3, vec![1, 2, 3], b""));
    assert_eq!(err, Err(RaftError::Store(StorageError::SnapshotOutOfDate)));
}

#[test]
fn apply_snapshot_drops_a_conflicting_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = with_entries(dir.path(), &base());
    s.apply_snapshot(snapshot(4, 7, vec![1], b"")).unwrap();
    assert_eq!((s.first_index(), s.last_index()), (Ok(5), Ok(4)));
    assert_eq!(s.term(4), Ok(7), "the snapshot's term, not the old entry's");
}

#[test]
fn everything_survives_a_reopen_under_both_strategies() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let dir = tempfile::tempdir().unwrap();
        let cs = ConfState {
            voters: vec![1, 2, 3],
            ..Default::default()
        };
        {
            let mut s = open(dir.path(), strategy);
            s.initialize_with_conf_state(cs.clone()).unwrap();
            assert!(s.initialize_with_conf_state(cs.clone()).is_err());
            s.append(&[new_entry(1, 1), new_entry(2, 1), new_entry(3, 2)])
                .unwrap();
            s.sync().unwrap(); // the saved commit never passes the durable index
            let hs = HardState {
                term: 2,
                vote: 3,
                commit: 2,
                ..Default::default()
            };
            s.set_hard_state(&hs).unwrap();
            s.create_snapshot(2, cs.clone(), b"state".to_vec()).unwrap();
            s.compact(3).unwrap();
            s.close().unwrap();
        }
        let s = open(dir.path(), strategy);
        let st = s.initial_state().unwrap();
        assert_eq!(
            (st.hard_state.term, st.hard_state.vote, st.hard_state.commit),
            (2, 3, 2)
        );
        assert_eq!(st.conf_state, cs);
        assert_eq!((s.first_index(), s.last_index()), (Ok(3), Ok(3)));
        assert_eq!(s.term(2), Ok(1), "{strategy:?}: boundary term");
        assert_eq!(stored(&s), vec![new_entry(3, 2)]);
        assert_eq!(&s.snapshot(2, 0).unwrap().data[..], b"state");
    }
}

#[test]
fn a_commit_past_a_lost_memfirst_tail_is_clamped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = open(dir.path(), Strategy::MemFirst);
        s.append(&[new_entry(1, 1), new_entry(2, 1)]).unwrap();
        s.sync().unwrap();
        s.append(&[new_entry(3, 1), new_entry(4, 1)]).unwrap();
        let hs = HardState {
            term: 1,
            commit: 4,
            ..Default::default()
        };
        s.set_hard_state(&hs).unwrap();
        // dropped without a flush: entries 3 and 4 were only in memory
    }
    let s = open(dir.path(), Strategy::MemFirst);
    assert_eq!(s.last_index(), Ok(2));
    assert_eq!(s.initial_state().unwrap().hard_state.commit, 2);
}

#[test]
fn a_saved_commit_never_covers_a_truncation_owed_to_the_disk() {
    // Entries 1..=3 of term 1 are durable; a new leader replaces 2.. with term 2 in memory
    // (MemFirst owes the truncation to the next flush) and says 3 is committed.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = open(dir.path(), Strategy::MemFirst);
        s.append(&[new_entry(1, 1), new_entry(2, 1), new_entry(3, 1)])
            .unwrap();
        s.sync().unwrap();
        s.append(&[new_entry(2, 2), new_entry(3, 2)]).unwrap();
        let hs = HardState {
            term: 2,
            commit: 3,
            ..Default::default()
        };
        s.set_hard_state(&hs).unwrap();
        // power loss before the flush
    }
    let s = open(dir.path(), Strategy::MemFirst);
    assert_eq!(s.term(3), Ok(1), "the disk still holds the stale entries");
    assert_eq!(
        s.initial_state().unwrap().hard_state.commit,
        1,
        "so the commit index must not cover them"
    );
}

#[test]
fn a_snapshot_saved_before_a_crash_is_finished_at_open() {
    use logbook::raft_rs::codec::StateRecord;
    use logbook::raft_rs::StateLog;
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = open(dir.path(), Strategy::DiskFirst);
        s.append(&(1..=5).map(|i| new_entry(i, 1)).collect::<Vec<_>>())
            .unwrap();
        s.close().unwrap();
    }
    // A crash right after a snapshot install saved the leader's snapshot (4, term 2): the
    // log still holds the conflicting entries and the old commit index.
    let mut record = StateRecord::default();
    record.snapshot.mut_metadata().index = 4;
    record.snapshot.mut_metadata().term = 2;
    let clock = Arc::new(SystemClock::new());
    let mut state = StateLog::open(Arc::new(StdFs), clock, &dir.path().join("state")).unwrap();
    state.save(record).unwrap();
    state.close().unwrap();
    let s = open(dir.path(), Strategy::DiskFirst);
    assert_eq!((s.first_index(), s.last_index()), (Ok(5), Ok(4)));
    assert_eq!(
        s.term(4),
        Ok(2),
        "the snapshot's term, the stale suffix cut"
    );
    assert_eq!(s.initial_state().unwrap().hard_state.commit, 4);
}

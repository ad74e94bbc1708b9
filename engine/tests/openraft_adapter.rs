//! What the openraft suite does not check: durability across reopen (vote with its committed
//! flag, purge boundaries with their node ids), the append callback's timing, and the holes
//! the adapter refuses.
#![cfg(feature = "openraft")]

mod common;
mod openraft_common;

use std::time::Instant;

use logbook::openraft::LogStore;
use logbook::{Config, FlushPolicy, Strategy};
use openraft::storage::{RaftLogReaderExt, RaftLogStorage, RaftLogStorageExt};
use openraft::testing::log_id;
use openraft::{EntryPayload, LogId, RaftLogReader, StorageError, Vote};

use openraft_common::{Entry, TypeConfig};

type Store = LogStore<TypeConfig>;

fn ent(term: u64, node: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, node, index),
        payload: EntryPayload::Normal(format!("{term}-{node}-{index}")),
    }
}

fn ents(term: u64, node: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
    indexes.map(|i| ent(term, node, i)).collect()
}

async fn state(s: &mut Store) -> (Option<LogId<u64>>, Option<LogId<u64>>) {
    let st = s.get_log_state().await.unwrap();
    (st.last_purged_log_id, st.last_log_id)
}

async fn indexes(s: &mut Store) -> Vec<u64> {
    s.try_get_log_entries(..)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect()
}

fn configs() -> Vec<(&'static str, Config)> {
    common::all_configs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vote_and_boundaries_survive_reopen() {
    for (name, cfg) in configs() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Store::open(dir.path(), cfg.clone()).unwrap();
            s.save_vote(&Vote::new_committed(7, 3)).await.unwrap();
            s.blocking_append(ents(1, 2, 0..=4)).await.unwrap();
            s.blocking_append(ents(7, 3, 5..=9)).await.unwrap();
            // An entry the log holds: it stays as the head, with its leader's node id.
            s.purge(log_id(1, 2, 3)).await.unwrap();
            s.truncate(log_id(7, 3, 8)).await.unwrap();
            s.store().flush().unwrap();
        }
        {
            let mut s = Store::open(dir.path(), cfg.clone()).unwrap();
            assert_eq!(
                s.read_vote().await.unwrap(),
                Some(Vote::new_committed(7, 3)),
                "{name}"
            );
            let st = state(&mut s).await;
            assert_eq!(st, (Some(log_id(1, 2, 3)), Some(log_id(7, 3, 7))), "{name}");
            assert_eq!(indexes(&mut s).await, vec![4, 5, 6, 7], "{name}");
            let e = s.get_log_id(6).await.unwrap();
            assert_eq!(e, log_id(7, 3, 6), "{name}");
            // Past the last entry: a purge record keeps the id.
            s.purge(log_id(9, 5, 20)).await.unwrap();
            s.save_vote(&Vote::new(10, 5)).await.unwrap();
            s.store().flush().unwrap();
        }
        let mut s = Store::open(dir.path(), cfg).unwrap();
        assert_eq!(
            s.read_vote().await.unwrap(),
            Some(Vote::new(10, 5)),
            "{name}"
        );
        let st = state(&mut s).await;
        assert_eq!(
            st,
            (Some(log_id(9, 5, 20)), Some(log_id(9, 5, 20))),
            "{name}"
        );
        assert!(indexes(&mut s).await.is_empty(), "{name}");
        s.blocking_append(ents(10, 5, 21..=22)).await.unwrap();
        assert_eq!(indexes(&mut s).await, vec![21, 22], "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_waits_for_durability() {
    let slow = FlushPolicy::Batch {
        threshold: 1_000,
        interval_ms: 300,
    };
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), Config::new(strategy, slow)).unwrap();
        let t0 = Instant::now();
        s.blocking_append(ents(1, 0, 0..=2)).await.unwrap();
        let waited = t0.elapsed();
        // Genesis head + 3 entries: logbook index 4 must be durable when the callback ran.
        assert!(s.store().durable_index().unwrap() >= 4, "{strategy:?}");
        assert!(
            waited.as_millis() >= 250,
            "{strategy:?}: acked after {waited:?}"
        );
    }
}

fn is_defensive(e: &StorageError<u64>) -> bool {
    matches!(e, StorageError::Defensive { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holes_and_regressions_are_refused() {
    let (_, cfg) = configs().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), cfg).unwrap();
    s.blocking_append(ents(2, 1, 0..=3)).await.unwrap();
    // A hole after the last entry.
    let e = s.blocking_append(ents(2, 1, 5..=6)).await.unwrap_err();
    assert!(is_defensive(&e), "{e}");
    // A hole inside one append.
    let e = s
        .blocking_append(vec![ent(2, 1, 4), ent(2, 1, 6)])
        .await
        .unwrap_err();
    assert!(is_defensive(&e), "{e}");
    // A term going back.
    let e = s.blocking_append(ents(1, 1, 4..=4)).await.unwrap_err();
    assert!(is_defensive(&e), "{e}");
    // Overlap with entries the log holds (openraft truncates first).
    let e = s.blocking_append(ents(3, 1, 2..=4)).await.unwrap_err();
    assert!(is_defensive(&e), "{e}");
    // Nothing of that changed the log.
    assert_eq!(indexes(&mut s).await, vec![0, 1, 2, 3]);
    // A purge to an id the log does not hold, with later entries kept, is refused.
    assert!(s.purge(log_id(1, 9, 2)).await.is_err());
    // Truncating below the boundary is refused.
    s.purge(log_id(2, 1, 1)).await.unwrap();
    assert!(s.truncate(log_id(2, 1, 1)).await.is_err());
    // Conflict resolution: truncate, then append the new leader's entries.
    s.truncate(log_id(2, 1, 3)).await.unwrap();
    s.blocking_append(ents(4, 2, 3..=5)).await.unwrap();
    assert_eq!(indexes(&mut s).await, vec![2, 3, 4, 5]);
    assert_eq!(s.get_log_id(3).await.unwrap(), log_id(4, 2, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_stay_correct_across_segments_and_cache_misses() {
    for (name, cfg) in configs() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), cfg.clone()).unwrap();
        for i in 0..300 {
            s.blocking_append(vec![ent(1 + i / 100, 1, i)])
                .await
                .unwrap();
        }
        s.purge(log_id(1, 1, 49)).await.unwrap();
        // MemFirst owes the boundary to the next flush.
        s.store().flush().unwrap();
        drop(s);
        let mut s = Store::open(dir.path(), cfg).unwrap();
        let all = s.try_get_log_entries(0..1000).await.unwrap();
        assert_eq!(all.len(), 250, "{name}");
        for (k, e) in all.iter().enumerate() {
            let i = 50 + k as u64;
            assert_eq!(e.log_id, log_id(1 + i / 100, 1, i), "{name}");
            assert!(
                matches!(&e.payload, EntryPayload::Normal(p) if *p == format!("{}-1-{i}", 1 + i / 100))
            );
        }
        let some = s.limited_get_log_entries(120, 130).await.unwrap();
        assert!(!some.is_empty() && some.len() <= 10, "{name}");
        assert_eq!(some[0].log_id.index, 120, "{name}");
    }
}

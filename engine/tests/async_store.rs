//! The async front on tokio: group commit across tasks, durability before DiskFirst appends
//! resolve, the MemFirst flusher task.
#![cfg(feature = "async")]

mod common;

use std::sync::Arc;

use common::{entries, TestFs};
use logbook::{AsyncStore, Config, FlushPolicy, Strategy, TaskClock};

async fn open(fs: &TestFs, dir: &std::path::Path, cfg: Config) -> AsyncStore {
    AsyncStore::open(Arc::new(fs.clone()), Arc::new(TaskClock::new()), dir, cfg)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_disk_first_appends_share_fsyncs_and_resolve_durable() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let store = open(
        &fs,
        dir.path(),
        Config::new(
            Strategy::DiskFirst,
            FlushPolicy::Batch {
                threshold: 32,
                interval_ms: 1,
            },
        ),
    )
    .await;
    let sequencer = Arc::new(tokio::sync::Mutex::new(()));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (store, sequencer) = (store.clone(), sequencer.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let last = {
                    let _g = sequencer.lock().await;
                    let i = store.last_index().await.unwrap() + 1;
                    store.append_accept(&entries(i, i, 1)).await.unwrap()
                };
                store.wait_durable(last).await.unwrap();
                assert!(store.durable_index() >= last);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let syncs = fs.counters.syncs.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(store.durable_index(), 320);
    assert!(syncs < 320, "group commit: {syncs} fsyncs for 320 appends");
    store.close().await.unwrap();
}

#[tokio::test]
async fn mem_first_appends_resolve_at_once_and_the_flusher_persists_them() {
    for flush in [
        FlushPolicy::Immediate,
        FlushPolicy::Batch {
            threshold: 1000,
            interval_ms: 3,
        },
    ] {
        let dir = tempfile::tempdir().unwrap();
        let fs = TestFs::default();
        let store = open(&fs, dir.path(), Config::new(Strategy::MemFirst, flush)).await;
        store.append(&entries(1, 50, 1)).await.unwrap();
        store.wait_durable(50).await.unwrap();
        store.close().await.unwrap();
        let store = open(&fs, dir.path(), Config::new(Strategy::MemFirst, flush)).await;
        assert_eq!(
            store.entries(1, 51, 100, u64::MAX).await.unwrap(),
            entries(1, 50, 1),
            "{flush:?}"
        );
    }
}

/// The async front's old wedge: a sync whose blocking task failed left `syncing` set and the
/// files lent, so `flush`, `close` and every later sync waited forever. Now the lost sync
/// poisons the store and everything returns the poison.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_and_close_return_after_a_failed_or_panicked_sync() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        for panic in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let fs = TestFs::default();
            let cfg = Config::new(
                strategy,
                FlushPolicy::Batch {
                    threshold: 1000,
                    interval_ms: 60_000,
                },
            );
            let store = open(&fs, dir.path(), cfg).await;
            store.append_accept(&entries(1, 3, 1)).await.unwrap();
            fs.set(common::Inject {
                eio_on_sync: !panic,
                panic_on_sync: panic,
                ..Default::default()
            });
            let case = format!("{strategy:?} panic={panic}");
            let limit = std::time::Duration::from_secs(10);
            let flushed = tokio::time::timeout(limit, store.flush())
                .await
                .expect("flush returned");
            assert!(
                matches!(flushed, Err(logbook::Error::Poisoned { .. })),
                "{case}: {flushed:?}"
            );
            let waited = tokio::time::timeout(limit, store.wait_durable(3)).await;
            assert!(matches!(waited, Ok(Err(_))), "{case}: a waiter {waited:?}");
            assert!(
                store.append_accept(&entries(4, 4, 1)).await.is_err(),
                "{case}: a write"
            );
            fs.set(common::Inject::default());
            let closed = tokio::time::timeout(limit, store.close())
                .await
                .expect("close returned");
            assert!(closed.is_err(), "{case}: close reports the poison");
        }
    }
}

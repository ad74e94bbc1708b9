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

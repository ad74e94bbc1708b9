//! `FlushPolicy::Adaptive` on the real filesystem, through `Store`: a single writer is never
//! held back (one sync per append, none paced), while many writers share syncs; every
//! acknowledged append is durable after a reopen.

use std::sync::Arc;

use logbook::{Config, Entry, FlushPolicy, Store, Strategy};

const WRITERS: u64 = 16;
const APPENDS_PER_WRITER: u64 = 40;

/// A long delay: were the policy to hold a lone writer back, it would wait a whole second
/// per append and `paced_syncs` would count it.
fn config(strategy: Strategy) -> Config {
    Config::new(
        strategy,
        FlushPolicy::Adaptive {
            delay_max_us: 1_000_000,
        },
    )
}

#[test]
fn one_writer_is_never_held_back() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), config(strategy)).unwrap();
        for i in 1..=60u64 {
            store.append(&[Entry::new(i, 1, vec![7u8; 100])]).unwrap();
            store.wait_durable(i).unwrap();
        }
        let stats = store.stats().unwrap();
        assert_eq!(stats.paced_syncs, 0, "{strategy:?}: a lone writer waited");
        assert_eq!(stats.syncs, 60, "{strategy:?}: one sync per durable append");
        store.close().unwrap();
    }
}

#[test]
fn many_writers_share_syncs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), config(Strategy::DiskFirst)).unwrap());
    let next = Arc::new(std::sync::Mutex::new(0u64));
    let handles: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            std::thread::spawn(move || {
                for _ in 0..APPENDS_PER_WRITER {
                    // Indexes are handed out in order under the lock; the append and its
                    // wait for durability run concurrently.
                    let last = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        store.append_deferred(&[Entry::new(*n, 1, n.to_le_bytes().to_vec())])
                    }
                    .unwrap();
                    store.wait(last).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = WRITERS * APPENDS_PER_WRITER;
    let stats = store.stats().unwrap();
    assert!(
        stats.syncs < total,
        "{} syncs for {total} appends",
        stats.syncs
    );
    Arc::try_unwrap(store).unwrap().close().unwrap();
    let store = Store::open(dir.path(), config(Strategy::DiskFirst)).unwrap();
    assert_eq!(store.last_index().unwrap(), total);
    let all = store.entries(1, total + 1, usize::MAX, u64::MAX).unwrap();
    assert!(all
        .iter()
        .all(|e| e.payload[..] == e.index.to_le_bytes()[..]));
}

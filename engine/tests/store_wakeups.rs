//! Group commit's wake-ups, counted (`Store::wakeups`): a parked waiter is woken by the sync,
//! truncation or purge that ended its wait, never left to find out when its park times out.
//! A lost wake-up costs only latency (a parked waiter looks again every 50 ms), so no
//! acknowledgement shows it: only the count does. Once every waiter has returned, every park
//! ended by a release or by the waiter's own look (`parked == released + expired`), every
//! waiter released was woken (`woken == released`), and none was found still parked with
//! its wait over (`late == 0`).

mod common;

use std::sync::{Arc, Mutex};

use common::entries;
use logbook::{Config, Error, FlushPolicy, LogId, Store, Strategy, Wakeups};

/// A batch policy whose interval never comes in a test: only the caller, a flush, or a
/// truncation or purge can end a wait.
const NEVER: FlushPolicy = FlushPolicy::Batch {
    threshold: 1_000_000,
    interval_ms: 600_000,
};

/// The counts once the releasing threads are done: a thread that released waiters unparks
/// them after it drops the lock, so a waiter may return (on its own timeout) first. Waits
/// for that (a bounded number of looks) rather than for a time.
fn settled(store: &Store) -> Wakeups {
    let mut w = store.wakeups();
    for _ in 0..10_000 {
        if w.woken == w.released {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        w = store.wakeups();
    }
    w
}

fn assert_every_release_woke(store: &Store) -> Wakeups {
    let w = settled(store);
    assert_eq!(
        w.late, 0,
        "a waiter found its wait over while parked: {w:?}"
    );
    assert_eq!(w.woken, w.released, "a released waiter never woken: {w:?}");
    assert_eq!(
        w.parked,
        w.released + w.expired,
        "a park nobody ended: {w:?}"
    );
    w
}

/// Returns once some waiter has parked (a bounded number of looks).
fn until_parked(store: &Store) {
    for _ in 0..10_000 {
        if store.wakeups().parked > 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("the waiter never parked: {:?}", store.wakeups());
}

/// `writers` threads append single entries under a sequencer and wait outside it.
fn sequenced_waiters(store: &Arc<Store>, writers: usize, per_writer: usize) {
    let sequencer = Arc::new(Mutex::new(()));
    std::thread::scope(|s| {
        for _ in 0..writers {
            let (store, sequencer) = (store.clone(), sequencer.clone());
            s.spawn(move || {
                for _ in 0..per_writer {
                    let sequenced = sequencer.lock().unwrap();
                    let i = store.last_index().unwrap() + 1;
                    let appended = store.append_deferred(&entries(i, i, 1)).unwrap();
                    drop(sequenced);
                    store.wait(appended).unwrap();
                    store.wait_durable(i).unwrap();
                    assert!(store.durable_index().unwrap() >= i);
                }
            });
        }
    });
}

#[test]
fn every_waiter_a_sync_released_is_woken_by_it() {
    let configs = [
        Config::new(Strategy::DiskFirst, FlushPolicy::Immediate),
        Config::new(
            Strategy::DiskFirst,
            FlushPolicy::Batch {
                threshold: 64,
                interval_ms: 3,
            },
        ),
        Config::new(Strategy::MemFirst, FlushPolicy::Immediate),
    ];
    for cfg in configs {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), cfg.clone()).unwrap());
        sequenced_waiters(&store, 8, 25);
        assert_eq!(store.last_index().unwrap(), 200);
        assert_every_release_woke(&store);
    }
}

/// Appends `1..=5` and starts a thread that waits for them: parked, or about to park; under
/// `NEVER` its wait ends only by what the test does next.
fn parked_waiter(store: &Arc<Store>) -> std::thread::JoinHandle<logbook::Result<u64>> {
    let appended = store.append_deferred(&entries(1, 5, 1)).unwrap();
    let s = store.clone();
    std::thread::spawn(move || s.wait(appended))
}

#[test]
fn a_truncation_wakes_the_waiter_whose_entries_it_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), Config::new(Strategy::DiskFirst, NEVER)).unwrap());
    let waiter = parked_waiter(&store);
    until_parked(&store);
    store.truncate(3).unwrap();
    match waiter.join().unwrap() {
        Err(Error::Truncated { index: 5, from: 3 }) => {}
        other => panic!("expected Truncated {{ index: 5, from: 3 }}, got {other:?}"),
    }
    let w = assert_every_release_woke(&store);
    assert!(
        w.released >= 1,
        "the truncation released the parked waiter: {w:?}"
    );
    assert_eq!(store.last_index().unwrap(), 2);
}

#[test]
fn a_truncation_above_a_waiter_leaves_it_waiting_for_its_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), Config::new(Strategy::DiskFirst, NEVER)).unwrap());
    let waiter = parked_waiter(&store);
    let above = store.append_deferred(&entries(6, 8, 1)).unwrap();
    store.truncate(7).unwrap();
    store.flush().unwrap();
    // The first append's entries survive the cut: acknowledged, not Truncated.
    assert_eq!(waiter.join().unwrap().unwrap(), 5);
    match store.wait(above) {
        Err(Error::Truncated { index: 8, from: 7 }) => {}
        other => panic!("expected Truncated {{ index: 8, from: 7 }}, got {other:?}"),
    }
    assert_eq!(store.durable_index().unwrap(), 6);
    assert_every_release_woke(&store);
}

#[test]
fn a_purge_past_a_waiters_entries_wakes_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), Config::new(Strategy::DiskFirst, NEVER)).unwrap());
    let waiter = parked_waiter(&store);
    until_parked(&store);
    store.purge(LogId::new(1, 5)).unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 5);
    assert!(store.durable_index().unwrap() >= 5);
    let w = assert_every_release_woke(&store);
    assert!(
        w.released >= 1,
        "the purge released the parked waiter: {w:?}"
    );
}

#[test]
fn a_flush_releases_the_waiters_of_a_batch_that_is_not_due() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), Config::new(Strategy::DiskFirst, NEVER)).unwrap());
    let waiter = parked_waiter(&store);
    until_parked(&store);
    store.flush().unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 5);
    assert_eq!(store.durable_index().unwrap(), 5);
    let w = assert_every_release_woke(&store);
    assert!(
        w.released >= 1 && w.woken >= 1,
        "the flush's sync released it: {w:?}"
    );
}

#[test]
fn waiters_for_the_same_index_are_each_parked_and_each_released() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), Config::new(Strategy::DiskFirst, NEVER)).unwrap());
    let appended = store.append_deferred(&entries(1, 5, 1)).unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let s = store.clone();
            std::thread::spawn(move || s.wait_durable(5))
        })
        .collect();
    for _ in 0..10_000 {
        if store.wakeups().parked >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    store.flush().unwrap();
    for w in waiters {
        w.join().unwrap().unwrap();
    }
    assert_eq!(store.wait(appended).unwrap(), 5);
    let w = assert_every_release_woke(&store);
    // Each of the three parks was ended by the sync's release or by the waiter's own look.
    assert!(w.parked >= 3 && w.released >= 1, "{w:?}");
}

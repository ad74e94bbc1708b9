//! Group commit's wake-ups, counted (`Store::wakeups`): a parked waiter is woken by the sync,
//! truncation or purge that ended its wait, never left to find out when its park times out.
//! A lost wake-up costs only latency (a parked waiter looks again every 50 ms), so no
//! acknowledgement shows it: only the count does. Once every waiter has returned, every park
//! ended by a release or by the waiter's own look (`parked == released + expired`), every
//! waiter released was woken (`woken == released`), and none was found still parked with
//! its wait over (`late == 0`).

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{entries, TestFs};
use logbook::{Config, Error, FlushPolicy, LogId, Store, Strategy, SystemClock, Wakeups};

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
        w.flusher_late, 0,
        "the flusher found a sync it was owed a kick for by its timeout: {w:?}"
    );
    assert_eq!(
        w.changed_late, 0,
        "a thread waiting for a change slept through one that notified nobody: {w:?}"
    );
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
    parked_waiter_for(store, 1, 5)
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

/// Long enough for the flusher to have looked at the log and gone to sleep (for up to
/// 100 ms, its longest sleep): a kick is then what wakes it.
fn let_the_flusher_sleep() {
    std::thread::sleep(Duration::from_millis(20));
}

/// Returns once `durable_index() >= index`, by looking only: leading a sync here (as
/// `wait_durable` or `flush` would) would do the flusher's job for it.
fn until_durable(store: &Store, index: u64) {
    for _ in 0..5_000 {
        if store.durable_index().unwrap() >= index {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("{index} never became durable: {:?}", store.wakeups());
}

/// Appends `i..=i` (with a callback, or by `append`) and returns once it is durable, by the flusher's sync.
fn append_for_the_flusher(store: &Store, i: u64, callback: bool) {
    if callback {
        let (tx, rx) = mpsc::channel();
        store
            .append_with_callback(&entries(i, i, 1), move |r| tx.send(r).unwrap())
            .unwrap();
        let r = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the callback ran");
        assert_eq!(r.unwrap(), i);
    } else {
        assert_eq!(store.append(&entries(i, i, 1)).unwrap(), i);
        until_durable(store, i);
    }
}

/// The flusher is kicked for each sync an append leaves it (`flusher_late == 0`): a
/// callback's (DiskFirst) and every MemFirst append's, both the one that makes a sync due by
/// count (`Immediate`) and the first entry owed under a `Batch` interval shorter than the
/// flusher's sleep (the kick makes it plan for the interval). A missed kick still gets the
/// entries synced, by the flusher's timeout up to 100 ms later: only the count shows it.
#[test]
fn the_flusher_is_kicked_for_every_sync_an_append_leaves_it() {
    let batch = FlushPolicy::Batch {
        threshold: 1_000,
        interval_ms: 5,
    };
    let cases = [
        (Strategy::DiskFirst, FlushPolicy::Immediate, true),
        (Strategy::DiskFirst, batch, true),
        (Strategy::MemFirst, FlushPolicy::Immediate, false),
        (Strategy::MemFirst, batch, false),
        (Strategy::MemFirst, FlushPolicy::Immediate, true),
    ];
    for (strategy, policy, callback) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Config::new(strategy, policy)).unwrap();
        for i in 1..=3 {
            let_the_flusher_sleep();
            append_for_the_flusher(&store, i, callback);
        }
        let w = assert_every_release_woke(&store);
        assert_eq!(w.parked, 0, "{strategy:?} {policy:?}: nobody waited: {w:?}");
    }
}

/// A pipelined round (the leader goes on at once with the sync the parked waiters need)
/// tells the threads waiting for a change: a `flush` waiting for the sync in flight looks
/// again after each round, not only after the last.
#[test]
fn a_pipelined_round_tells_the_threads_waiting_for_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(Strategy::DiskFirst, FlushPolicy::Immediate);
    let clock = Arc::new(SystemClock::new());
    let store = Arc::new(Store::open_with(Arc::new(fs.clone()), clock, dir.path(), cfg).unwrap());
    fs.hold_syncs(true);
    let s = store.clone();
    let leader = std::thread::spawn(move || s.append(&entries(1, 5, 1)));
    for _ in 0..10_000 {
        if fs
            .counters
            .syncs_held_now
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Waits for a second sync: the first one's leader runs it at once, as a pipelined round.
    let waiter = parked_waiter_for(&store, 6, 8);
    until_parked(&store);
    let s = store.clone();
    let flusher = std::thread::spawn(move || s.flush());
    std::thread::sleep(Duration::from_millis(30));
    fs.hold_syncs(false);
    assert_eq!(leader.join().unwrap().unwrap(), 5);
    assert_eq!(waiter.join().unwrap().unwrap(), 8);
    flusher.join().unwrap().unwrap();
    assert_eq!(store.durable_index().unwrap(), 8);
    assert_every_release_woke(&store);
}

/// Appends `from..=to` and starts a thread that waits for them.
fn parked_waiter_for(
    store: &Arc<Store>,
    from: u64,
    to: u64,
) -> std::thread::JoinHandle<logbook::Result<u64>> {
    let appended = store.append_deferred(&entries(from, to, 1)).unwrap();
    let s = store.clone();
    std::thread::spawn(move || s.wait(appended))
}

/// A truncation tells the threads waiting for a change: here a MemFirst append held back by
/// `unflushed_bytes_max`, which a sync or a cut may let in. Under `NEVER` no sync comes by
/// itself, so without the truncation's notification it waits for the final `flush`.
#[test]
fn a_truncation_tells_the_threads_waiting_for_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(Strategy::MemFirst, NEVER).with_unflushed_bytes_max(40);
    let store = Arc::new(Store::open(dir.path(), cfg).unwrap());
    // 42 bytes of payload: over the bound, accepted because nothing else is unflushed.
    store.append(&entries(1, 3, 1)).unwrap();
    let s = store.clone();
    let held_back = std::thread::spawn(move || s.append(&entries(4, 4, 1)));
    // Each truncation (from past the end: it cuts nothing) is a change a waiter must see;
    // the appender waits through at least one of them.
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(5));
        store.truncate(4).unwrap();
    }
    store.flush().unwrap();
    assert_eq!(held_back.join().unwrap().unwrap(), 4);
    assert_every_release_woke(&store);
}

/// The sync of a blocking DiskFirst append is its caller's, who leads it from `wait`: the
/// flusher is owed no kick for it. When the caller does not wait (yet), the flusher finds
/// the work by its own timeout, and that wake-up is not late (`flusher_late == 0`).
#[test]
fn a_callers_own_sync_owes_the_flusher_no_kick() {
    let batch = FlushPolicy::Batch {
        threshold: 1_000,
        interval_ms: 5,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Config::new(Strategy::DiskFirst, batch)).unwrap();
    for i in 1..=2 {
        let_the_flusher_sleep();
        let appended = store.append_deferred(&entries(i, i, 1)).unwrap();
        // Synced by the flusher, at its timeout: nothing kicked it.
        until_durable(&store, i);
        assert_eq!(store.wait(appended).unwrap(), i);
    }
    assert_every_release_woke(&store);
}

//! The threaded store: group commit shares fsyncs between concurrent writers, callbacks fire
//! only once entries are durable, and the flusher thread persists MemFirst appends.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::{entries, TestFs};
use logbook::{Config, FlushPolicy, Store, Strategy, SystemClock};

fn store(fs: &TestFs, dir: &std::path::Path, cfg: Config) -> Arc<Store> {
    Arc::new(
        Store::open_with(Arc::new(fs.clone()), Arc::new(SystemClock::new()), dir, cfg).unwrap(),
    )
}

/// How a writer learns that its append is durable.
#[derive(Debug, Clone, Copy)]
enum Ack {
    /// `append_with_callback`: the syncing thread calls back.
    Callback,
    /// `append_deferred` under the sequencer, `wait` outside it: the writer may lead.
    Wait,
}

/// `writers` threads each append `per_writer` single entries; appends are ordered by a
/// sequencer lock, but each writer waits for durability outside it, as a Raft node does.
fn concurrent_appends(store: &Arc<Store>, writers: usize, per_writer: usize, ack: Ack) {
    let sequencer = Arc::new(Mutex::new(()));
    std::thread::scope(|s| {
        for _ in 0..writers {
            let (store, sequencer) = (store.clone(), sequencer.clone());
            s.spawn(move || {
                for _ in 0..per_writer {
                    let sequenced = sequencer.lock().unwrap();
                    let i = store.last_index().unwrap() + 1;
                    let durable = match ack {
                        Ack::Callback => {
                            let (tx, rx) = std::sync::mpsc::channel();
                            store
                                .append_with_callback(&entries(i, i, 1), move |r| {
                                    tx.send(r).unwrap()
                                })
                                .unwrap();
                            drop(sequenced);
                            rx.recv().unwrap().unwrap()
                        }
                        Ack::Wait => {
                            let appended = store.append_deferred(&entries(i, i, 1)).unwrap();
                            drop(sequenced);
                            store.wait(appended).unwrap();
                            store.wait_durable(i).unwrap(); // MemFirst's `wait` does not
                            i
                        }
                    };
                    assert_eq!(durable, i);
                    assert!(
                        store.durable_index().unwrap() >= i,
                        "acknowledged before durability"
                    );
                }
            });
        }
    });
}

#[test]
fn group_commit_shares_fsyncs_between_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(
        Strategy::DiskFirst,
        FlushPolicy::Batch {
            threshold: 64,
            interval_ms: 2,
        },
    );
    let s = store(&fs, dir.path(), cfg);
    let before = fs.counters.syncs.load(Ordering::SeqCst);
    concurrent_appends(&s, 16, 40, Ack::Callback);
    let syncs = fs.counters.syncs.load(Ordering::SeqCst) - before;
    println!("640 appends from 16 writers took {syncs} fsyncs");
    assert!(
        syncs < 640 / 2,
        "group commit should share fsyncs: {syncs} for 640 appends"
    );
    assert_eq!(s.durable_index().unwrap(), 640);
}

#[test]
fn immediate_disk_first_append_returns_durable() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let s = store(
        &fs,
        dir.path(),
        Config::new(Strategy::DiskFirst, FlushPolicy::Immediate),
    );
    for i in 1..=20 {
        s.append(&entries(i, i, 1)).unwrap();
        assert_eq!(s.durable_index().unwrap(), i);
    }
}

#[test]
fn mem_first_flusher_persists_without_being_asked() {
    for flush in [
        FlushPolicy::Immediate,
        FlushPolicy::Batch {
            threshold: 1000,
            interval_ms: 5,
        },
    ] {
        let dir = tempfile::tempdir().unwrap();
        let fs = TestFs::default();
        let s = store(&fs, dir.path(), Config::new(Strategy::MemFirst, flush));
        s.append(&entries(1, 10, 1)).unwrap();
        s.wait_durable(10).unwrap();
        assert_eq!(s.durable_index().unwrap(), 10, "{flush:?}");
        drop(s);
        let s = store(&fs, dir.path(), Config::new(Strategy::MemFirst, flush));
        assert_eq!(s.entries(1, 11, 100, u64::MAX).unwrap(), entries(1, 10, 1));
    }
}

#[test]
fn mem_first_appends_wait_for_the_flusher_past_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(
        Strategy::MemFirst,
        FlushPolicy::Batch {
            threshold: 1_000_000,
            interval_ms: 1,
        },
    )
    .with_unflushed_bytes_max(4096);
    let s = store(&fs, dir.path(), cfg);
    for i in 1..=100 {
        s.append(&[logbook::Entry::new(i, 1, vec![7u8; 1000])])
            .unwrap();
    }
    s.flush().unwrap();
    assert_eq!(s.durable_index().unwrap(), 100);
}

#[test]
fn a_disk_first_append_whose_entries_are_truncated_before_durable_fails_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let slow = FlushPolicy::Batch {
        threshold: 1000,
        interval_ms: 600_000,
    };
    let s = store(&fs, dir.path(), Config::new(Strategy::DiskFirst, slow));
    let appender = {
        let s = s.clone();
        std::thread::spawn(move || s.append(&entries(1, 3, 1)))
    };
    while s.last_index().unwrap() < 3 {
        std::thread::yield_now();
    }
    s.truncate(2).unwrap();
    match appender.join().unwrap() {
        Err(logbook::Error::Truncated { index: 3, from: 2 }) => {}
        other => panic!("expected Truncated, got {other:?}"),
    }
    // A later append that refills the indexes does not resurrect the old waiter's claim.
    s.append_with_callback(&entries(2, 3, 2), |_| {}).unwrap();
    s.flush().unwrap();
    assert_eq!(s.entry(3).unwrap().unwrap().term, 2);
}

#[test]
fn mem_first_appends_and_callbacks_never_fsync_on_the_callers_thread() {
    for flush in [
        FlushPolicy::Immediate,
        FlushPolicy::Batch {
            threshold: 1,
            interval_ms: 0,
        },
    ] {
        for strategy in [Strategy::MemFirst, Strategy::DiskFirst] {
            let dir = tempfile::tempdir().unwrap();
            let fs = TestFs::default();
            let s = store(&fs, dir.path(), Config::new(strategy, flush));
            fs.hold_syncs(true); // every fsync now blocks until released
            let (tx, rx) = std::sync::mpsc::channel();
            // Both return although no fsync can complete: they never sync inline.
            s.append_with_callback(&entries(1, 1, 1), move |r| tx.send(r).unwrap())
                .unwrap();
            if strategy == Strategy::MemFirst {
                s.append(&entries(2, 2, 1)).unwrap();
            }
            assert!(
                rx.try_recv().is_err(),
                "{strategy:?}/{flush:?}: callback before any fsync"
            );
            fs.hold_syncs(false);
            assert_eq!(rx.recv().unwrap().unwrap(), 1, "{strategy:?}/{flush:?}");
            s.flush().unwrap();
        }
    }
}

/// A MemFirst flush writes, rotates and fsyncs without the store's lock: while one is stuck
/// in the fsync that seals a full segment (held until the test releases it, as a slow disk
/// would), appends, reads and callback registrations go on.
#[test]
fn mem_first_appends_go_on_while_a_flush_is_stuck_in_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(Strategy::MemFirst, FlushPolicy::Immediate)
        .with_segment_size_bytes(4096)
        .with_unflushed_bytes_max(64 << 20);
    let s = store(&fs, dir.path(), cfg.clone());
    s.append(&entries(1, 40, 1)).unwrap();
    s.flush().unwrap();
    fs.hold_syncs(true);
    // Enough to fill the 4 KiB segment: the flush must seal it (an fsync) mid-write.
    s.append(&entries(41, 120, 1)).unwrap();
    while fs.counters.syncs_held_now.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now(); // until the flusher is inside the held fsync
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 121..=400 {
                s.append(&entries(i, i, 1)).unwrap();
                assert_eq!(s.entry(i).unwrap().unwrap().index, i);
            }
            s.append_with_callback(&entries(401, 401, 1), |_| {})
                .unwrap();
            tx.send(s.last_index().unwrap()).unwrap();
        })
    };
    let done = rx.recv_timeout(std::time::Duration::from_secs(10));
    fs.hold_syncs(false);
    assert_eq!(
        done,
        Ok(401),
        "appends blocked behind a flush stuck in fsync"
    );
    worker.join().unwrap();
    s.flush().unwrap();
    assert_eq!(s.durable_index().unwrap(), 401);
    drop(s);
    let s = store(&fs, dir.path(), cfg);
    assert_eq!(
        s.entries(1, 402, 1000, u64::MAX).unwrap(),
        entries(1, 401, 1)
    );
}

/// `append_deferred` + `wait` is `append` in two halves, for a caller that orders appends
/// under its own lock: the entries are durable when `wait` returns, the waiting thread ran
/// the fsync itself (no hand-off to the flusher and back), and a truncation before `wait`
/// turns into `Error::Truncated`.
#[test]
fn a_deferred_append_is_durable_when_wait_returns_and_its_waiter_leads_the_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let s = store(
        &fs,
        dir.path(),
        Config::new(Strategy::DiskFirst, FlushPolicy::Immediate),
    );
    let waiter = std::thread::Builder::new()
        .name("raft-writer".into())
        .spawn({
            let s = s.clone();
            move || {
                for i in 1..=20 {
                    let appended = s.append_deferred(&entries(i, i, 1)).unwrap();
                    assert_eq!(appended.last_index(), i);
                    assert_eq!(s.wait(appended).unwrap(), i);
                    assert_eq!(s.durable_index().unwrap(), i, "durable when wait returns");
                }
            }
        })
        .unwrap();
    waiter.join().unwrap();
    let threads = fs.counters.sync_threads.lock().unwrap().clone();
    // The flusher may wake on its own timer and take one; the writer leads the rest.
    let led = threads.iter().filter(|t| *t == "raft-writer").count();
    assert!(led >= 18, "the writer led {led} of the fsyncs: {threads:?}");

    let appended = s.append_deferred(&entries(21, 22, 1)).unwrap();
    s.truncate(21).unwrap();
    match s.wait(appended) {
        Err(logbook::Error::Truncated {
            index: 22,
            from: 21,
        }) => {}
        other => panic!("expected Truncated, got {other:?}"),
    }
}

/// Writers that order appends under a sequencer and wait outside it (`append_deferred` +
/// `wait`) share fsyncs; a leader may run several in a row and leave the wake-ups to the
/// writers it released. Every writer must come back, durable, under both strategies and
/// policies.
#[test]
fn sequenced_writers_waiting_outside_the_sequencer_share_fsyncs_and_all_return() {
    let policies = [
        FlushPolicy::Immediate,
        FlushPolicy::Batch {
            threshold: 8,
            interval_ms: 1,
        },
    ];
    for flush in policies {
        for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
            let dir = tempfile::tempdir().unwrap();
            let fs = TestFs::default();
            let s = store(&fs, dir.path(), Config::new(strategy, flush));
            let before = fs.counters.syncs.load(Ordering::SeqCst);
            let (writers, per_writer) = (16, 40);
            concurrent_appends(&s, writers, per_writer, Ack::Wait);
            let total = (writers * per_writer) as u64;
            let syncs = fs.counters.syncs.load(Ordering::SeqCst) - before;
            assert_eq!(s.durable_index().unwrap(), total, "{strategy:?}/{flush:?}");
            assert!(
                syncs < total / 2,
                "{strategy:?}/{flush:?}: {syncs} fsyncs for {total} appends"
            );
        }
    }
}

/// A MemFirst backlog longer than `flush_entries_max` goes out in several flushes, each a
/// durable prefix: the durable index climbs in steps of at most that many entries, and
/// everything is on disk after `flush`.
#[test]
fn a_long_mem_first_backlog_is_flushed_as_durable_prefixes() {
    use logbook::{Log, StdFs};
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(Strategy::MemFirst, FlushPolicy::Immediate)
        .with_segment_size_bytes(4096)
        .with_flush_entries_max(7);
    let clock = Arc::new(SystemClock::new());
    let mut log = Log::open(Arc::new(StdFs), clock.clone(), dir.path(), cfg.clone()).unwrap();
    log.append_nosync(&entries(1, 30, 1)).unwrap();
    let mut steps = Vec::new();
    while let Some(mut prepared) = log.prepare_sync().unwrap() {
        let r = prepared.run(&StdFs);
        log.complete_sync(prepared, r).unwrap();
        steps.push(log.durable_index());
    }
    assert_eq!(steps, vec![7, 14, 21, 28, 30]);
    log.append_nosync(&entries(31, 45, 1)).unwrap();
    log.sync().unwrap();
    assert_eq!(
        log.durable_index(),
        45,
        "sync takes as many flushes as it needs"
    );
    drop(log);
    let mut log = Log::open(Arc::new(StdFs), clock, dir.path(), cfg).unwrap();
    assert_eq!(
        log.entries(1, 46, 100, u64::MAX).unwrap(),
        entries(1, 45, 1)
    );
}

/// A sync that fails (EIO) or panics must not wedge the store: `flush` and `close` return
/// the poison, and so does every waiter, callback and later write.
#[test]
fn flush_and_close_return_after_a_failed_or_panicked_sync() {
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
            let store = store(&fs, dir.path(), cfg);
            let _pending = store.append_deferred(&entries(1, 3, 1)).unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            store
                .append_with_callback(&entries(4, 4, 1), move |r| tx.send(r).unwrap())
                .unwrap();
            fs.set(common::Inject {
                eio_on_sync: !panic,
                panic_on_sync: panic,
                ..Default::default()
            });
            let case = format!("{strategy:?} panic={panic}");
            let flushed = store.flush();
            assert!(
                matches!(flushed, Err(logbook::Error::Poisoned { .. })),
                "{case}: {flushed:?}"
            );
            let cb = rx.recv_timeout(std::time::Duration::from_secs(10));
            assert!(
                matches!(cb, Ok(Err(logbook::Error::Poisoned { .. }))),
                "{case}: the callback got {cb:?}"
            );
            assert!(store.flush().is_err(), "{case}: a second flush");
            assert!(store.wait_durable(4).is_err(), "{case}: a waiter");
            assert!(store.append(&entries(5, 5, 1)).is_err(), "{case}: a write");
            fs.set(common::Inject::default());
            let store = Arc::try_unwrap(store).unwrap();
            assert!(store.close().is_err(), "{case}: close reports the poison");
        }
    }
}

/// Found by the store scenarios: a DiskFirst read that misses the cache writes the pending
/// records out first; when that write failed, the records were dropped without poisoning
/// the log, and the next sync reported them durable.
#[test]
fn a_failed_write_behind_a_read_poisons_instead_of_acknowledging_lost_records() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(
        Strategy::DiskFirst,
        FlushPolicy::Batch {
            threshold: 1000,
            interval_ms: 60_000,
        },
    )
    .with_cache_entries_max(1)
    .with_prefetch_entries(0);
    let store = store(&fs, dir.path(), cfg);
    let _pending = store.append_deferred(&entries(1, 10, 1)).unwrap();
    fs.set(common::Inject {
        enospc_on_write: true,
        ..Default::default()
    });
    assert!(store.entry(2).is_err(), "the write behind the read fails");
    fs.set(common::Inject::default());
    let flushed = store.flush();
    assert!(
        matches!(flushed, Err(logbook::Error::Poisoned { .. })),
        "the dropped records must never be reported durable: {flushed:?}"
    );
    assert!(store.durable_index().unwrap() < 10);
}

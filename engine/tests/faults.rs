//! I/O failures through a fault-injecting `Fs`: typed errors, fail-stop on the write path,
//! nothing acknowledged lost. And the double-open lock and lazy loading.

mod common;

use std::sync::Arc;

use common::{entries, Inject, TestFs};
use logbook::{Config, Error, FlushPolicy, Log, PoisonKind, StdFs, Store, Strategy, SystemClock};

fn open_with(fs: &TestFs, dir: &std::path::Path, cfg: &Config) -> logbook::Result<Log> {
    Log::open(
        Arc::new(fs.clone()),
        Arc::new(SystemClock::new()),
        dir,
        cfg.clone(),
    )
}

#[test]
fn a_second_open_of_one_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(Strategy::DiskFirst, FlushPolicy::Immediate);
    let first = Log::open(
        Arc::new(StdFs),
        Arc::new(SystemClock::new()),
        dir.path(),
        cfg.clone(),
    )
    .unwrap();
    let second = Log::open(
        Arc::new(StdFs),
        Arc::new(SystemClock::new()),
        dir.path(),
        cfg.clone(),
    );
    assert!(matches!(second, Err(Error::Locked { .. })), "{second:?}");
    assert!(matches!(
        Store::open(dir.path(), cfg.clone()),
        Err(Error::Locked { .. })
    ));
    drop(first);
    assert!(
        Store::open(dir.path(), cfg).is_ok(),
        "the lock dies with its handle"
    );
}

/// (what fails, the error the failing call must return)
type Case = (&'static str, Inject, fn(&Error) -> bool, PoisonKind);

#[test]
fn write_path_failures_are_typed_fail_stop_and_lose_nothing_acknowledged() {
    let cases: [Case; 2] = [
        (
            "ENOSPC on write",
            Inject {
                enospc_on_write: true,
                ..Inject::default()
            },
            |e| matches!(e, Error::DiskFull { .. }),
            PoisonKind::DiskFull,
        ),
        (
            "EIO on fsync",
            Inject {
                eio_on_sync: true,
                ..Inject::default()
            },
            |e| matches!(e, Error::Io { .. }),
            PoisonKind::Io(std::io::ErrorKind::Other),
        ),
    ];
    for (name, inject, expected, poison_kind) in cases {
        for (cfg_name, cfg) in common::all_configs() {
            let dir = tempfile::tempdir().unwrap();
            let fs = TestFs::default();
            let mut log = open_with(&fs, dir.path(), &cfg).unwrap();
            log.append(&entries(1, 20, 1)).unwrap();
            log.sync().unwrap();
            let acked = log.durable_index();
            assert_eq!(acked, 20);
            fs.set(inject);
            let err = log
                .append(&entries(21, 40, 1))
                .and_then(|()| log.sync())
                .unwrap_err();
            assert!(expected(&err), "{name} / {cfg_name}: got {err:?}");
            assert_eq!(
                log.durable_index(),
                acked,
                "{name} / {cfg_name}: the failed range is never durable"
            );
            fs.set(Inject::default());
            let again = log.append(&entries(41, 41, 1)).and_then(|()| log.sync());
            assert!(
                matches!(
                    again,
                    Err(Error::Poisoned { .. }) | Err(Error::NotContinuous { .. })
                ),
                "{name} / {cfg_name}: {again:?}"
            );
            // The poison says what failed, typed, and as it was reported then.
            let poison = log.poisoned().expect("the handle is poisoned");
            let kind = match poison.kind() {
                PoisonKind::Io(_) => PoisonKind::Io(std::io::ErrorKind::Other),
                k => k,
            };
            assert_eq!(kind, poison_kind, "{name} / {cfg_name}: {poison}");
            assert_eq!(poison.message(), err.to_string(), "{name} / {cfg_name}");
            if let Err(Error::Poisoned { cause }) = &again {
                assert_eq!(cause, poison, "{name} / {cfg_name}");
            }
            drop(log);
            let mut log = open_with(&fs, dir.path(), &cfg).unwrap();
            assert!(log.last_index() >= acked, "{name} / {cfg_name}");
            for e in entries(1, acked, 1) {
                assert_eq!(log.entry(e.index).unwrap(), Some(e), "{name} / {cfg_name}");
            }
        }
    }
}

#[test]
fn read_errors_are_typed_and_transient() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(Strategy::DiskFirst, FlushPolicy::Immediate).with_cache_entries_max(1);
    let mut log = open_with(&fs, dir.path(), &cfg).unwrap();
    log.append(&entries(1, 50, 1)).unwrap();
    log.close().unwrap();
    fs.set(Inject {
        eio_on_read: true,
        ..Inject::default()
    });
    assert!(matches!(
        open_with(&fs, dir.path(), &cfg),
        Err(Error::Io { op: "read", .. })
    ));
    fs.set(Inject::default());
    let mut log = open_with(&fs, dir.path(), &cfg).unwrap();
    fs.set(Inject {
        eio_on_read: true,
        ..Inject::default()
    });
    assert!(matches!(log.entry(3), Err(Error::Io { .. })));
    fs.set(Inject::default());
    assert_eq!(log.entry(3).unwrap(), Some(entries(3, 3, 1).remove(0)));
    assert!(log.poisoned().is_none(), "a read error does not poison");
}

#[test]
fn a_disk_first_open_reads_only_the_last_segment_and_a_miss_prefetches() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(
        Strategy::DiskFirst,
        FlushPolicy::Batch {
            threshold: 1000,
            interval_ms: 1000,
        },
    )
    .with_segment_size_bytes(64 << 10)
    .with_prefetch_entries(32);
    let mut log = open_with(&fs, dir.path(), &cfg).unwrap();
    for chunk in entries(1, 100_000, 1).chunks(1000) {
        log.append(chunk).unwrap();
    }
    log.close().unwrap();
    let log_bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();

    let before = fs.bytes_read();
    let mut log = open_with(&fs, dir.path(), &cfg).unwrap();
    let open_bytes = fs.bytes_read() - before;
    println!("DiskFirst open of a {log_bytes}-byte, 100k-entry log read {open_bytes} bytes");
    assert!(
        open_bytes * 10 < log_bytes,
        "open read {open_bytes} of {log_bytes} bytes"
    );
    assert_eq!(log.last_index(), 100_000);

    let reads = fs.reads();
    let e = log.entry(500).unwrap().unwrap();
    assert_eq!(e.payload, entries(500, 500, 1)[0].payload);
    assert!(fs.reads() > reads, "the miss went to disk");
    let after_miss = fs.reads();
    for i in 501..=532 {
        assert_eq!(log.entry(i).unwrap().unwrap().index, i);
    }
    assert_eq!(
        fs.reads(),
        after_miss,
        "the next 32 entries were prefetched by the miss"
    );
    assert_eq!(log.stats().cache_hits, 32);
}

#[test]
fn mem_first_meets_backpressure_past_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(
        Strategy::MemFirst,
        FlushPolicy::Batch {
            threshold: 1_000_000,
            interval_ms: 1_000_000,
        },
    )
    .with_unflushed_bytes_max(10_000);
    let mut log = Log::open(
        Arc::new(StdFs),
        Arc::new(SystemClock::new()),
        dir.path(),
        cfg,
    )
    .unwrap();
    let big = |i: u64| vec![logbook::Entry::new(i, 1, vec![0u8; 1000])];
    for i in 1..=10 {
        log.append(&big(i)).unwrap();
    }
    assert!(matches!(
        log.append(&big(11)),
        Err(Error::Backpressure { .. })
    ));
    log.sync().unwrap();
    log.append(&big(11)).unwrap();
}

//! A DiskFirst append never seals (fsyncs) a segment while a sync of it is in flight: if that
//! sync's fsync fails, the kernel may have dropped pages a seal would then call durable,
//! leaving a hole in a sealed segment that no recovery may cut (found by the store
//! scenarios: store-disk-first-immediate seed 97, before the fix).

use std::sync::Arc;

use logbook::{Config, Entry, Error, FlushPolicy, Log, StdFs, Strategy, SystemClock};

fn entry(i: u64) -> Entry {
    Entry::new(i, 1, vec![i as u8; 200])
}

/// A log whose current segment is full, with one entry owed to a sync that is prepared (its
/// fsync "in flight") and then completed with `verdict`.
fn case(verdict: Result<(), ()>) -> (Result<(), Error>, Result<(), Error>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::new(
        Strategy::DiskFirst,
        FlushPolicy::Batch {
            threshold: 1_000,
            interval_ms: 60_000,
        },
    )
    .with_segment_size_bytes(4096);
    let mut log = Log::open(
        Arc::new(StdFs),
        Arc::new(SystemClock::new()),
        dir.path(),
        cfg,
    )
    .unwrap();
    let mut i = 1;
    // Fill the first segment (each append is one batch of 219 bytes; the 160-byte header
    // and checkpoint slots + 18 x 219 reach 4096): the next append rotates.
    while i <= 18 {
        log.append_nosync(&[entry(i)]).unwrap();
        i += 1;
    }
    let mut prepared = log.prepare_sync().unwrap().expect("entries are owed");
    prepared.run(&StdFs).unwrap();
    let during = log.append_nosync(&[entry(i)]);
    let result = verdict.map_err(|()| Error::Io {
        op: "sync_data",
        path: dir.path().into(),
        source: std::io::Error::from_raw_os_error(5),
    });
    let _ = log.complete_sync(prepared, result);
    let after = log.append_nosync(&[entry(i)]);
    (during, after)
}

#[test]
fn an_append_that_would_seal_waits_for_the_sync_in_flight() {
    // (the sync's verdict, what the rotating append gets after it)
    for (verdict, after_ok) in [(Ok(()), true), (Err(()), false)] {
        let (during, after) = case(verdict);
        assert!(matches!(during, Err(Error::SyncInFlight)), "{during:?}");
        match (after_ok, after) {
            (true, Ok(())) => {}
            (false, Err(Error::Poisoned { .. })) => {}
            (want_ok, got) => {
                panic!("after a sync that returned {verdict:?}: {got:?} (want ok: {want_ok})")
            }
        }
    }
}

//! The metrics the engine reports through the `metrics` facade (names in
//! `logbook::telemetry`, documented in the README), read back with a debugging recorder:
//! each one counts what the log did, checked against the filesystem's own counts where it
//! can be.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{entries, TestFs};
use logbook::telemetry::*;
use logbook::{Clock, Config, Error, FlushPolicy, Log, Strategy};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// A clock that moves 250 µs at every reading, so every measured span is positive.
#[derive(Debug, Default)]
struct Ticking(AtomicU64);

impl Clock for Ticking {
    fn now_ms(&self) -> u64 {
        self.now_us() / 1000
    }
    fn now_us(&self) -> u64 {
        self.0.fetch_add(250, Ordering::SeqCst) + 250
    }
}

/// What was recorded, by metric name and labels (`name{k=v}`).
#[derive(Debug, Default)]
struct Seen {
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, f64>,
    histograms: BTreeMap<String, Vec<f64>>,
}

fn seen(snapshotter: &Snapshotter) -> Seen {
    let mut out = Seen::default();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = match labels.is_empty() {
            true => key.name().to_string(),
            false => format!("{}{{{}}}", key.name(), labels.join(",")),
        };
        match value {
            DebugValue::Counter(n) => _ = out.counters.insert(name, n),
            DebugValue::Gauge(g) => _ = out.gauges.insert(name, g.into_inner()),
            DebugValue::Histogram(h) => {
                _ = out
                    .histograms
                    .insert(name, h.into_iter().map(|v| v.into_inner()).collect())
            }
        }
    }
    out
}

/// Runs `f` with a recorder local to this thread and returns what it recorded.
fn recorded(f: impl FnOnce()) -> Seen {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, f);
    seen(&snapshotter)
}

fn open(fs: &TestFs, dir: &std::path::Path, cfg: Config) -> logbook::Result<Log> {
    Log::open(Arc::new(fs.clone()), Arc::new(Ticking::default()), dir, cfg)
}

fn payload_bytes(from: u64, to: u64) -> u64 {
    entries(from, to, 1)
        .iter()
        .map(|e| e.payload.len() as u64)
        .sum()
}

#[test]
fn every_fsync_of_a_sync_is_counted_and_each_sync_reports_what_it_made_durable() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let batch = FlushPolicy::Batch {
        threshold: 4,
        interval_ms: 1_000_000,
    };
    let mut log = open(&fs, dir.path(), Config::new(Strategy::DiskFirst, batch)).unwrap();
    let fs_syncs =
        || fs.counters.syncs.load(Ordering::SeqCst) + fs.counters.dir_syncs.load(Ordering::SeqCst);
    let before = fs_syncs();
    let m = recorded(|| {
        for i in 1..=8 {
            log.append(&entries(i, i, 1)).unwrap();
        }
    });
    // Two batches of four, each one sync job.
    assert_eq!(m.counters[FSYNCS_TOTAL], fs_syncs() - before, "{m:?}");
    assert_eq!(m.histograms[SYNC_ENTRIES], vec![4.0, 4.0]);
    let bytes = vec![payload_bytes(1, 4) as f64, payload_bytes(5, 8) as f64];
    assert_eq!(m.histograms[SYNC_BYTES], bytes);
    let durations = &m.histograms[SYNC_DURATION_SECONDS];
    assert_eq!(durations.len(), 2);
    assert!(
        durations.iter().all(|&s| s > 0.0 && s < 0.01),
        "{durations:?}"
    );
    // Nothing is owed after the last sync.
    assert_eq!(m.gauges[DURABLE_LAG_ENTRIES], 0.0);
}

#[test]
fn mem_first_lag_and_backpressure_waits() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(Strategy::MemFirst, FlushPolicy::Immediate)
        .with_unflushed_bytes_max(payload_bytes(1, 3));
    let mut log = open(&fs, dir.path(), cfg).unwrap();
    let lag = recorded(|| log.append_nosync(&entries(1, 3, 1)).unwrap());
    assert_eq!(lag.gauges[DURABLE_LAG_ENTRIES], 3.0);
    let refused = recorded(|| {
        let r = log.append_nosync(&entries(4, 4, 1));
        assert!(matches!(r, Err(Error::Backpressure { .. })), "{r:?}");
    });
    assert_eq!(refused.counters[BACKPRESSURE_WAITS_TOTAL], 1);
    let synced = recorded(|| log.sync().unwrap());
    assert_eq!(synced.gauges[DURABLE_LAG_ENTRIES], 0.0);
    assert_eq!(synced.histograms[SYNC_ENTRIES], vec![3.0]);
    assert_eq!(
        synced.histograms[SYNC_BYTES],
        vec![payload_bytes(1, 3) as f64]
    );
    assert!(!synced.counters.contains_key(BACKPRESSURE_WAITS_TOTAL));
}

#[test]
fn disk_first_reads_count_cache_hits_and_misses() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(Strategy::DiskFirst, FlushPolicy::Immediate);
    let mut log = open(&fs, dir.path(), cfg.clone()).unwrap();
    log.append(&entries(1, 20, 1)).unwrap();
    drop(log);
    let mut log = open(&fs, dir.path(), cfg).unwrap();
    let m = recorded(|| {
        log.entry(5).unwrap().unwrap(); // a miss: reads a prefetch run from 5
        log.entry(6).unwrap().unwrap(); // prefetched
        log.entry(7).unwrap().unwrap();
    });
    assert_eq!(m.counters[CACHE_MISSES_TOTAL], 1, "{m:?}");
    assert_eq!(m.counters[CACHE_HITS_TOTAL], 2);
    assert_eq!(log.stats().cache_hits, 2);
}

#[test]
fn each_open_reports_its_recovery_time_and_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let fs = TestFs::default();
    let cfg = Config::new(Strategy::MemFirst, FlushPolicy::Immediate);
    let clean = recorded(|| {
        let mut log = open(&fs, dir.path(), cfg.clone()).unwrap();
        log.append(&entries(1, 3, 1)).unwrap();
        log.sync().unwrap();
    });
    assert_eq!(
        clean.counters[&format!("{RECOVERIES_TOTAL}{{verdict=clean}}")],
        1
    );
    assert!(clean.histograms[RECOVERY_DURATION_SECONDS][0] > 0.0);
    // Tear the last record: the next open cuts it.
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("a segment");
    let bytes = std::fs::read(&seg).unwrap();
    let sizes: Vec<usize> = common::format::records(&bytes)
        .iter()
        .map(|r| r.4)
        .collect();
    assert_eq!(sizes.len(), 3);
    let end = common::format::SEGMENT_HEADER_LEN + sizes.iter().sum::<usize>();
    let mut torn = bytes.clone();
    torn[end - 1] ^= 0xff;
    std::fs::write(&seg, &torn).unwrap();
    let cut = recorded(|| drop(open(&fs, dir.path(), cfg.clone()).unwrap()));
    let key = format!("{RECOVERIES_TOTAL}{{verdict=torn_tail_cut}}");
    assert_eq!(cut.counters[&key], 1, "{cut:?}");
    // A second store open on the same directory is refused (the lock): a typed error.
    let held = open(&fs, dir.path(), cfg.clone()).unwrap();
    let refused = recorded(|| assert!(open(&fs, dir.path(), cfg.clone()).is_err()));
    let key = format!("{RECOVERIES_TOTAL}{{verdict=refused}}");
    assert_eq!(refused.counters[&key], 1, "{refused:?}");
    drop(held);
}

#[test]
fn every_metric_is_described_once() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        describe();
        // Touch each so the snapshot lists it with its description.
        metrics::counter!(FSYNCS_TOTAL).increment(0);
    });
    let listed = snapshotter.snapshot().into_vec();
    let (_, unit, text, _) = listed
        .iter()
        .find(|(k, ..)| k.key().name() == FSYNCS_TOTAL)
        .expect("listed");
    assert_eq!(*unit, Some(metrics::Unit::Count));
    assert!(text.is_some());
}

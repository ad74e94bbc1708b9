//! CPU-side costs of logbook's single-threaded core ([`Log`]), with no fsync in the measured
//! loops.
//!
//! - `memfirst_append`: MemFirst appends of 100 B entries, one and 64 per call. The flush
//!   policy never syncs inside the loop (`Batch` with an unreachable threshold and
//!   interval); every `flush_every` entries the loop stops the clock, syncs, purges what
//!   was synced (so memory stays bounded) and restarts it. Indexes stay contiguous across
//!   iterations. `flush_every` is a parameter because an append's cost depends on how many
//!   entries are still unflushed.
//! - `diskfirst_append_nosync`: DiskFirst appends with no sync: record encoding + `pwrite`
//!   into the page cache.
//! - `read_hit`: `Log::entry` served from DiskFirst's tail cache and from MemFirst's memory.
//! - `decode`: record decoding measured through the public API: a DiskFirst open (it scans
//!   the last segment, decoding and checksumming every record), a MemFirst open (the same
//!   scan, keeping every entry) and DiskFirst cache misses (each reads and decodes a
//!   prefetch run).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logbook::{Clock, Config, Entry, FlushPolicy, Fs, Log, LogId, StdFs, Strategy, SystemClock};

const NEVER: FlushPolicy = FlushPolicy::Batch {
    threshold: usize::MAX,
    interval_ms: u64::MAX / 4,
};

fn payload() -> Bytes {
    Bytes::from((0..100u8).map(|i| i.wrapping_mul(37)).collect::<Vec<u8>>())
}

fn open(dir: &Path, cfg: Config) -> Log {
    let fs: Arc<dyn Fs> = Arc::new(StdFs);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    Log::open(fs, clock, dir, cfg).expect("open")
}

fn memfirst_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("memfirst_append_100B");
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    let p = payload();
    for per_call in [1usize, 64] {
        for flush_every in [100u64, 1_000, 10_000] {
            let dir = tempfile::tempdir().expect("tempdir");
            let cfg = Config::new(Strategy::MemFirst, NEVER).with_unflushed_bytes_max(1 << 40);
            let mut log = open(dir.path(), cfg);
            let mut next = log.last_index() + 1;
            g.throughput(Throughput::Elements(1));
            let id = BenchmarkId::new(
                format!("{per_call}_per_call"),
                format!("flush_every_{flush_every}"),
            );
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    // `iters` entries, in chunks of `flush_every` between untimed flushes.
                    let mut total = Duration::ZERO;
                    let mut done = 0u64;
                    while done < iters {
                        let n = (iters - done).min(flush_every);
                        let entries: Vec<Entry> =
                            (0..n).map(|i| Entry::new(next + i, 1, p.clone())).collect();
                        let t0 = Instant::now();
                        for chunk in entries.chunks(per_call) {
                            log.append(black_box(chunk)).expect("append");
                        }
                        total += t0.elapsed();
                        next += n;
                        done += n;
                        log.sync().expect("sync");
                        log.purge(LogId::new(1, next - 1)).expect("purge");
                        log.sync().expect("sync");
                    }
                    total
                })
            });
            log.close().expect("close");
        }
    }
    g.finish();
}

fn diskfirst_append_nosync(c: &mut Criterion) {
    let mut g = c.benchmark_group("diskfirst_append_nosync_100B");
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    let p = payload();
    for per_call in [1usize, 256] {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = Config::new(Strategy::DiskFirst, NEVER);
        let mut log = open(dir.path(), cfg);
        let mut next = log.last_index() + 1;
        g.throughput(Throughput::Elements(per_call as u64));
        g.bench_function(
            BenchmarkId::from_parameter(format!("{per_call}_per_call")),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut done = 0u64;
                    while done < iters {
                        let calls = (iters - done).min(4096);
                        let n = calls * per_call as u64;
                        let entries: Vec<Entry> =
                            (0..n).map(|i| Entry::new(next + i, 1, p.clone())).collect();
                        let t0 = Instant::now();
                        for chunk in entries.chunks(per_call) {
                            log.append(black_box(chunk)).expect("append");
                        }
                        total += t0.elapsed();
                        next += n;
                        done += calls;
                        // Untimed: make it durable and drop it so the files stay small.
                        log.sync().expect("sync");
                        log.purge(LogId::new(1, next - 1)).expect("purge");
                    }
                    total
                })
            },
        );
        log.close().expect("close");
    }
    g.finish();
}

fn read_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_hit");
    let p = payload();
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), Config::new(strategy, NEVER));
        let entries: Vec<Entry> = (1..=1000).map(|i| Entry::new(i, 1, p.clone())).collect();
        log.append(&entries).expect("append");
        log.sync().expect("sync");
        let mut i = 0u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{strategy:?}"), |b| {
            b.iter(|| {
                i = i % 1000 + 1;
                black_box(log.entry(black_box(i)).expect("read"))
            })
        });
        assert!(strategy == Strategy::MemFirst || log.stats().cache_misses == 0);
        log.close().expect("close");
    }
    g.finish();
}

const SEGMENT_BYTES: u64 = 32 << 20;

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_100B");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    let p = payload();
    // One segment holding 16 MiB of 100 B records, written once. Segments are preallocated
    // to `segment_size_bytes` and an open reads the last one whole, zeros included, so the
    // segment size is kept near the records' (32 MiB) rather than set huge.
    let dir = tempfile::tempdir().expect("tempdir");
    let records: u64 = (16 << 20) / (12 + 32 + 100);
    {
        let cfg = Config::new(Strategy::DiskFirst, NEVER).with_segment_size_bytes(SEGMENT_BYTES);
        let mut log = open(dir.path(), cfg);
        let entries: Vec<Entry> = (1..=records).map(|i| Entry::new(i, 1, p.clone())).collect();
        for chunk in entries.chunks(4096) {
            log.append(chunk).expect("append");
        }
        log.close().expect("close");
    }
    let cfg = Config::new(Strategy::DiskFirst, NEVER).with_segment_size_bytes(SEGMENT_BYTES);
    g.throughput(Throughput::Elements(records));
    g.bench_function("diskfirst_open_scans_segment", |b| {
        b.iter(|| {
            let log = open(dir.path(), cfg.clone());
            black_box(log.last_index());
        })
    });
    let mem_cfg = Config::new(Strategy::MemFirst, NEVER).with_segment_size_bytes(SEGMENT_BYTES);
    g.bench_function("memfirst_open_preloads_segment", |b| {
        b.iter(|| {
            let log = open(dir.path(), mem_cfg.clone());
            black_box(log.last_index());
        })
    });
    // Misses: each reads and decodes a run of `prefetch_entries + 1` records.
    let mut log = open(dir.path(), cfg.clone());
    let run = cfg.prefetch_entries() as u64 + 1;
    let mut x = 1u64;
    g.throughput(Throughput::Elements(run));
    g.bench_function("diskfirst_miss_reads_prefetch_run", |b| {
        b.iter(|| {
            x = (x * 6364136223846793005 + 1442695040888963407) % (records - run) + 1;
            black_box(log.entry(x).expect("read"))
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    memfirst_append,
    diskfirst_append_nosync,
    read_hit,
    decode
);
criterion_main!(benches);

//! The archive tier (`--only tier`; lines, not in the table): read latency of an archived
//! entry against a local one, and local disk use against log length with and without
//! archiving. The archive is an `FsArchive` in a second directory of the same filesystem,
//! so the latencies are the engine's fall-through cost, not a network's (add the object
//! store's round trip for S3 and the like).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use logbook::{
    ArchiveHandle, Config, Entry, FlushPolicy, FsArchive, Log, StdFs, Strategy, SystemClock,
};

use crate::peers::Res;
use crate::stats::{fmt_ns, Samples};
use crate::workloads::Opts;

const PAYLOAD: usize = 256;
const SEGMENT: u64 = 1 << 20;
/// How many recent entries the archiving store keeps local (`archive_upto(last - KEEP)`).
const KEEP: u64 = 20_000;

fn bytes_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum()
    })
}

fn open(dir: &Path, archive: Option<&ArchiveHandle>) -> Res<Log> {
    let mut cfg =
        Config::new(Strategy::DiskFirst, FlushPolicy::Immediate).with_segment_size_bytes(SEGMENT);
    if let Some(a) = archive {
        cfg = cfg.with_archive(a.clone());
    }
    Ok(Log::open(
        Arc::new(StdFs),
        Arc::new(SystemClock::new()),
        dir,
        cfg,
    )?)
}

/// A seeded index stream (xorshift), so both rows read the same pattern.
fn indexes(seed: u64, lo: u64, hi: u64, n: usize) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            lo + x % (hi - lo + 1)
        })
        .collect()
}

/// Reads each of `at` from a freshly opened store (cold offsets, cold caches of the engine;
/// the page cache stays warm) and returns the latencies.
fn read_lat(dir: &Path, archive: &ArchiveHandle, at: &[u64]) -> Res<Samples> {
    let mut log = open(dir, Some(archive))?;
    let mut s = Samples::with_capacity(at.len());
    for &i in at {
        let t = Instant::now();
        let e = log.entry(i)?;
        s.push(t.elapsed());
        assert_eq!(e.map(|e| e.index), Some(i));
    }
    Ok(s)
}

fn line(label: &str, mut s: Samples) {
    if let Some(l) = s.summary() {
        println!(
            "  {label:<44} p50 {:>9} p99 {:>9} max {:>9} ({} reads)",
            fmt_ns(l.p50_ns),
            fmt_ns(l.p99_ns),
            fmt_ns(l.max_ns),
            s.len()
        );
    }
}

pub fn tier(opts: &Opts) -> Res<()> {
    let root = opts.dir.join("tier");
    let _ = std::fs::remove_dir_all(&root);
    let (plain, tiered, arch) = (
        root.join("plain"),
        root.join("tiered"),
        root.join("archive"),
    );
    let archive = ArchiveHandle::new(FsArchive::open(Arc::new(StdFs), &arch)?);
    let total: u64 = (opts.read_entries / 5).max(100_000);
    let (mut a, mut b) = (open(&plain, None)?, open(&tiered, Some(&archive))?);
    println!("tier: DiskFirst Immediate, {PAYLOAD} B entries, {} MiB segments, archive keeps the last {KEEP} local", SEGMENT >> 20);
    println!(
        "  {:>10} {:>14} {:>14} {:>14}",
        "entries", "local (plain)", "local (tiered)", "archive"
    );
    let step = total / 10;
    let mut next = 1u64;
    while next <= total {
        let batch: Vec<Entry> = (next..next + step)
            .map(|i| Entry::new(i, 1, vec![(i % 251) as u8; PAYLOAD]))
            .collect();
        for chunk in batch.chunks(1000) {
            a.append(chunk)?;
            b.append(chunk)?;
        }
        next += step;
        b.archive_upto((next - 1).saturating_sub(KEEP))?;
        println!(
            "  {:>10} {:>11} KiB {:>11} KiB {:>11} KiB",
            next - 1,
            bytes_in(&plain) >> 10,
            bytes_in(&tiered) >> 10,
            bytes_in(&arch) >> 10
        );
    }
    let last = next - 1;
    let archived = b.archived_upto();
    drop((a, b));
    let n = 2_000;
    let local = indexes(7, archived + 1, last, n);
    let far = indexes(7, 1, archived, n);
    println!("tier: single-entry reads on a reopened store (entry(i), prefetch run 256)");
    line(
        "local entry (cache miss)",
        read_lat(&tiered, &archive, &local)?,
    );
    line(
        "archived entry, random over the archive",
        read_lat(&tiered, &archive, &far)?,
    );
    let one_seg: Vec<u64> = indexes(9, 1, 3_000, n);
    line(
        "archived entry, one segment (range reads)",
        read_lat(&tiered, &archive, &one_seg)?,
    );
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

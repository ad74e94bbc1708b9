//! The workloads. Each returns table rows; `main` prints them as one table.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use bytes::Bytes;
use logbook::{Config, Entry, Store, Strategy};

use crate::machine;
use crate::peers::floor::{self, FloorTarget, Mode};
use crate::peers::logbook::{self as lb, BatchParams, LogbookTarget, Variant, VARIANTS};
use crate::peers::okaywal::{self as ow, OkayWalTarget};
use crate::peers::raft_engine::{self as re, RaftEngineTarget};
use crate::peers::{dir_bytes, Res, WriteTarget};
use crate::stats::{fmt_ns, Row, Samples};

pub const RAFT_ENGINE: &str = "raft-engine 0.4";
pub const OKAYWAL: &str = "okaywal 0.3";

/// Entries per write batch when raft-engine's recovery log is written.
const RECOVERY_BATCH: usize = 256;

/// Sizes and durations of one run.
#[derive(Debug, Clone)]
pub struct Opts {
    pub dir: PathBuf,
    /// Wall time of one write row.
    pub row_time: Duration,
    /// Bytes one write row may write at most (keeps unsynced rows from filling the disk).
    pub row_bytes_max: u64,
    pub batch: BatchParams,
    /// Segment (file) size of every system in the write and read workloads.
    pub segment_bytes: u64,
    /// Segment size of the rotation workload, and rotations to observe.
    pub rot_segment_bytes: u64,
    pub rotations: u64,
    /// Entries of 100 B in the read workloads' log.
    pub read_entries: u64,
    /// Payload bytes of the recovery workload's log (100 B entries).
    pub recovery_payload_bytes: u64,
    pub cold_runs: usize,
    pub warm_runs: usize,
    /// Purge workload: segments of `purge_segment_bytes`, and how many.
    pub purge_segment_bytes: u64,
    pub purge_segments: u64,
    pub truncate_ops: usize,
}

pub fn payload(size: usize) -> Bytes {
    // Incompressible bytes (xorshift), so no layer can shrink them.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ size as u64;
    let v: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    Bytes::from(v)
}

fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

pub(crate) fn fresh_dir(opts: &Opts, name: &str) -> Res<PathBuf> {
    let d = opts.dir.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn remove_dir(d: &Path) {
    let _ = std::fs::remove_dir_all(d);
}

/// Who writes, in the write workloads.
#[derive(Debug, Clone, Copy)]
pub enum Sys {
    Logbook(Variant),
    RaftEngine,
    OkayWal,
    Floor(Mode),
}

impl Sys {
    pub fn name(&self) -> String {
        match self {
            Sys::Logbook(v) => v.name(),
            Sys::RaftEngine => RAFT_ENGINE.into(),
            Sys::OkayWal => OKAYWAL.into(),
            Sys::Floor(m) => FloorTarget::name(*m).into(),
        }
    }

    pub(crate) fn open(
        &self,
        dir: &Path,
        writers: usize,
        opts: &Opts,
        segment: u64,
        okaywal_segment: Option<u64>,
        prefill: u64,
    ) -> Res<Box<dyn WriteTarget>> {
        Ok(match self {
            Sys::Logbook(v) => Box::new(LogbookTarget::open(
                dir,
                v.config(opts.batch).with_segment_size_bytes(segment),
            )?),
            Sys::RaftEngine => Box::new(RaftEngineTarget::open(dir, writers, segment)?),
            Sys::OkayWal => Box::new(OkayWalTarget::open(dir, okaywal_segment)?),
            Sys::Floor(m) => Box::new(FloorTarget::open(
                dir,
                *m,
                prefill,
                Some(segment).filter(|_| okaywal_segment.is_some()),
            )?),
        })
    }
}

pub(crate) struct WriteOutcome {
    pub entries: u64,
    pub wall: Duration,
    pub lat: Samples,
    /// Latencies of the operations during which a new file was started.
    rot_lat: Samples,
    rotations: u64,
}

/// Runs `writers` threads, each appending `n` entries of `payload` per operation, until
/// `time` passes, `bytes_max` is written, or (with `rotations`) that many rotations happened.
#[allow(clippy::too_many_arguments)]
pub(crate) fn drive(
    t: &dyn WriteTarget,
    writers: usize,
    n: usize,
    payload: &Bytes,
    sync: bool,
    time: Duration,
    bytes_max: u64,
    rotations: Option<u64>,
) -> Res<WriteOutcome> {
    let budget = AtomicI64::new(bytes_max as i64);
    let op_bytes = (n * payload.len()) as i64;
    let barrier = Barrier::new(writers + 1);
    let rot_seen = std::sync::atomic::AtomicU64::new(0);
    let (results, wall) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (budget, barrier, rot_seen) = (&budget, &barrier, &rot_seen);
                s.spawn(move || -> Res<(u64, Samples, Samples)> {
                    let mut lat = Samples::with_capacity(4096);
                    let mut rot = Samples::default();
                    let mut entries = 0;
                    barrier.wait();
                    let deadline = Instant::now() + time;
                    let mut marker = if rotations.is_some() {
                        t.rotation_marker()?
                    } else {
                        0
                    };
                    loop {
                        if Instant::now() >= deadline
                            || budget.fetch_sub(op_bytes, Ordering::Relaxed) <= 0
                            || rotations.is_some_and(|r| rot_seen.load(Ordering::Relaxed) >= r)
                        {
                            break;
                        }
                        let t0 = Instant::now();
                        t.append(w, n, payload, sync)?;
                        let dt = t0.elapsed();
                        lat.push(dt);
                        entries += n as u64;
                        if rotations.is_some() {
                            let m = t.rotation_marker()?;
                            if m != marker {
                                marker = m;
                                rot.push(dt);
                                rot_seen.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Ok((entries, lat, rot))
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (results, start.elapsed())
    });
    let mut out = WriteOutcome {
        entries: 0,
        wall,
        lat: Samples::default(),
        rot_lat: Samples::default(),
        rotations: 0,
    };
    for r in results {
        let (entries, lat, rot) = r.map_err(|_| "writer thread panicked")??;
        out.entries += entries;
        out.lat.merge(lat);
        out.rotations += rot.len() as u64;
        out.rot_lat.merge(rot);
    }
    Ok(out)
}

fn write_row(opts: &Opts, workload: &str, sys: Sys, spec: (usize, usize, bool, usize)) -> Res<Row> {
    let (size, n, sync, writers) = spec;
    let dir = fresh_dir(opts, "write")?;
    let prefill = opts.row_bytes_max + (64 << 20);
    let t = sys.open(&dir, writers, opts, opts.segment_bytes, None, prefill)?;
    let p = payload(size);
    let out = drive(
        &*t,
        writers,
        n,
        &p,
        sync,
        opts.row_time,
        opts.row_bytes_max,
        None,
    )?;
    t.finish()?;
    remove_dir(&dir);
    if !sync {
        machine::sync_all();
    }
    let mut row = Row::new(workload, &sys.name());
    row.rate = Some(out.entries as f64 / out.wall.as_secs_f64());
    let mut lat = out.lat;
    row.lat = lat.summary();
    row.note = format!("{} ops", lat.len());
    Ok(row)
}

/// The write matrix: 100 B and 4 KiB, batches of 1, 16 and 256, sync on and off, one
/// writer; and 4, 16, 64 concurrent writers of single 100 B entries with sync on.
pub fn writes(opts: &Opts, emit: &mut dyn FnMut(Row)) -> Res<()> {
    let mut specs = Vec::new();
    for size in [100usize, 4096] {
        for n in [1usize, 16, 256] {
            for sync in [true, false] {
                specs.push((size, n, sync, 1usize));
            }
        }
    }
    for writers in [4usize, 16, 64] {
        specs.push((100, 1, true, writers));
    }
    for spec in specs {
        let (size, n, sync, writers) = spec;
        let workload = format!(
            "write {} x{} sync={} w={}",
            size_label(size),
            n,
            if sync { "on" } else { "off" },
            writers
        );
        let mut systems: Vec<Sys> = VARIANTS.iter().map(|v| Sys::Logbook(*v)).collect();
        systems.push(Sys::RaftEngine);
        systems.push(Sys::OkayWal);
        systems.push(Sys::Floor(Mode::Append));
        if sync {
            systems.push(Sys::Floor(Mode::Overwrite));
        }
        for sys in systems {
            if matches!(sys, Sys::OkayWal) && !sync {
                emit(Row::na(&workload, &sys.name(), "commit always fsyncs"));
                continue;
            }
            let mut row = write_row(opts, &workload, sys, spec)?;
            match sys {
                Sys::Logbook(v) if !sync && v.strategy == Strategy::DiskFirst => {
                    row.note += "; append_with_callback, no wait"
                }
                Sys::Logbook(_) if writers > 1 => row.note += "; one log, sequencer",
                Sys::RaftEngine if writers > 1 => row.note += "; region per writer",
                Sys::OkayWal => row.note += "; defaults (1 MiB files)",
                _ => {}
            }
            emit(row);
        }
    }
    Ok(())
}

/// Times `f` over groups of `group` calls; each sample is the mean of one group.
fn time_grouped(
    group: usize,
    time: Duration,
    max: usize,
    mut f: impl FnMut(usize) -> Res<()>,
) -> Res<(Samples, usize, Duration)> {
    let mut s = Samples::default();
    let start = Instant::now();
    let mut i = 0;
    while i < max && start.elapsed() < time {
        let t0 = Instant::now();
        for _ in 0..group {
            f(i)?;
            i += 1;
        }
        s.push_ns(t0.elapsed().as_nanos() as u64 / group as u64);
    }
    Ok((s, i, start.elapsed()))
}

fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

fn rate_row(workload: &str, system: &str, s: &mut Samples, n: usize, wall: Duration) -> Row {
    let mut row = Row::new(workload, system);
    row.rate = Some(n as f64 / wall.as_secs_f64());
    row.lat = s.summary();
    row
}

/// Point reads (hits, misses) and range reads over a log of `read_entries` 100 B entries.
pub fn reads(opts: &Opts, emit: &mut dyn FnMut(Row)) -> Res<()> {
    let p = payload(100);
    let n = opts.read_entries;
    let recent = 1000u64;
    let time = opts.row_time;
    let hit_w = "read hit (recent entry)";
    let miss_w = "read miss (random old entry, page cache warm)";
    let range_w = "range read (1000 entries per call)";

    let dir = fresh_dir(opts, "read-logbook")?;
    let last = lb::populate(&dir, n, &p, opts.segment_bytes, 4096)?;
    for v in VARIANTS {
        let name = v.name();
        let store = Store::open(
            &dir,
            v.config(opts.batch)
                .with_segment_size_bytes(opts.segment_bytes),
        )?;
        // Fresh appends fill DiskFirst's tail cache, as a leader's recent proposals do.
        let first_new = store.last_index()? + 1;
        let batch: Vec<Entry> = (0..recent)
            .map(|i| Entry::new(first_new + i, 1, p.clone()))
            .collect();
        store.append(&batch)?;
        store.flush()?;
        let last_now = store.last_index()?;

        let (mut s, k, wall) = time_grouped(64, time, 2_000_000, |i| {
            black_box(store.entry(first_new + (i as u64 % recent))?);
            Ok(())
        })?;
        let mut row = rate_row(hit_w, &name, &mut s, k, wall);
        row.note = "Store::entry; per read, mean of groups of 64".into();
        emit(row);

        let mut r = rng(7);
        let old = last.saturating_sub(70_000).max(1000);
        let (mut s, k, wall) = time_grouped(1, time, 20_000, |_| {
            black_box(store.entry(1 + r() % old)?);
            Ok(())
        })?;
        let mut row = rate_row(miss_w, &name, &mut s, k, wall);
        row.note = if v.strategy == Strategy::MemFirst {
            "memory: MemFirst never reads the disk".into()
        } else {
            "each miss reads a prefetch run; first miss in a segment scans it".into()
        };
        emit(row);

        let mut from = 1u64;
        let mut got = 0usize;
        let mut s = Samples::default();
        let start = Instant::now();
        while start.elapsed() < time {
            if from + 1000 > last_now {
                from = 1;
            }
            let t0 = Instant::now();
            let es = store.entries(from, from + 1000, 1000, u64::MAX)?;
            s.push(t0.elapsed());
            got += es.len();
            from += es.len() as u64;
        }
        let mut row = rate_row(range_w, &name, &mut s, got, start.elapsed());
        row.note = "Store::entries; latency per call".into();
        emit(row);
        store.close()?;
    }
    remove_dir(&dir);

    // raft-engine: the same log in region 1.
    let dir = fresh_dir(opts, "read-raft-engine")?;
    let last = re::populate(&dir, n, &p, opts.segment_bytes, 4096)?;
    {
        let engine = re::open_engine(&dir, opts.segment_bytes)?;
        let first_new = last + 1;
        let entries: Vec<_> = (0..recent).map(|i| re::entry(first_new + i, &p)).collect();
        let mut b = raft_engine::LogBatch::with_capacity(1);
        b.add_entries::<re::EntryExt>(1, &entries)?;
        engine.write(&mut b, true)?;
        let last_now = first_new + recent - 1;

        let (mut s, k, wall) = time_grouped(64, time, 2_000_000, |i| {
            black_box(engine.get_entry::<re::EntryExt>(1, first_new + (i as u64 % recent))?);
            Ok(())
        })?;
        let mut row = rate_row(hit_w, RAFT_ENGINE, &mut s, k, wall);
        row.note = "get_entry: memtable index + pread + decode; no entry cache".into();
        emit(row);

        let mut r = rng(7);
        let old = last.saturating_sub(70_000).max(1000);
        let (mut s, k, wall) = time_grouped(1, time, 20_000, |_| {
            black_box(engine.get_entry::<re::EntryExt>(1, 1 + r() % old)?);
            Ok(())
        })?;
        let mut row = rate_row(miss_w, RAFT_ENGINE, &mut s, k, wall);
        row.note = "same path as a hit".into();
        emit(row);

        let mut from = 1u64;
        let mut got = 0usize;
        let mut s = Samples::default();
        let start = Instant::now();
        let mut buf = Vec::with_capacity(1000);
        while start.elapsed() < time {
            if from + 1000 > last_now {
                from = 1;
            }
            buf.clear();
            let t0 = Instant::now();
            let k =
                engine.fetch_entries_to::<re::EntryExt>(1, from, from + 1000, None, &mut buf)?;
            s.push(t0.elapsed());
            got += k;
            from += k as u64;
        }
        let mut row = rate_row(range_w, RAFT_ENGINE, &mut s, got, start.elapsed());
        row.note = "fetch_entries_to; latency per call".into();
        emit(row);
    }
    remove_dir(&dir);

    for w in [hit_w, miss_w, range_w] {
        emit(Row::na(w, OKAYWAL, "no index-addressed read"));
    }

    // The floor: pread of raw 100 B records from one file in the page cache.
    let dir = fresh_dir(opts, "read-floor")?;
    let path = dir.join("floor.dat");
    {
        use std::os::unix::fs::FileExt;
        let mut all = Vec::with_capacity((n * 100) as usize);
        for _ in 0..n {
            all.extend_from_slice(&p);
        }
        std::fs::write(&path, &all)?;
        drop(all);
        let f = std::fs::File::open(&path)?;
        let mut one = [0u8; 100];
        let mut r = rng(7);
        let (mut s, k, wall) = time_grouped(1, time, 20_000, |_| {
            let i = r() % n;
            f.read_exact_at(&mut one, i * 100)?;
            black_box(&one);
            Ok(())
        })?;
        let mut row = rate_row(miss_w, FloorTarget::name(Mode::Append), &mut s, k, wall);
        row.note = "pread of 100 B".into();
        emit(row);
        let mut big = vec![0u8; 100 * 1000];
        let mut off = 0u64;
        let (mut s, k, wall) = time_grouped(1, time, usize::MAX, |_| {
            if off + big.len() as u64 > n * 100 {
                off = 0;
            }
            f.read_exact_at(&mut big, off)?;
            off += big.len() as u64;
            black_box(&big);
            Ok(())
        })?;
        let mut row = rate_row(
            range_w,
            FloorTarget::name(Mode::Append),
            &mut s,
            k * 1000,
            wall,
        );
        row.note = "pread of 1000 x 100 B".into();
        emit(row);
    }
    remove_dir(&dir);
    Ok(())
}

/// Conflict resolution: cut the last 10 entries and append one in their place, durably.
pub fn truncate(opts: &Opts, emit: &mut dyn FnMut(Row)) -> Res<()> {
    let workload = "truncate last 10 + append 1 (durable)";
    let p = payload(100);
    let base = 20_000u64;
    let ops = opts.truncate_ops;
    for v in VARIANTS {
        let dir = fresh_dir(opts, "truncate")?;
        let t = LogbookTarget::open(&dir, v.config(opts.batch))?;
        for _ in 0..(base / 1000) {
            t.append(0, 1000, &p, true)?;
        }
        let store = t.store();
        let mut s = Samples::default();
        let mut cut = Samples::default();
        let start = Instant::now();
        for _ in 0..ops {
            let last = store.last_index()?;
            let from = last - 9;
            let t0 = Instant::now();
            store.truncate(from)?;
            cut.push(t0.elapsed());
            let e = [Entry::new(from, 1, p.clone())];
            store.append(&e)?;
            store.wait_durable(from)?;
            s.push(t0.elapsed());
        }
        let wall = start.elapsed();
        let mut row = rate_row(workload, &v.name(), &mut s, ops, wall);
        row.rate = None;
        let c = cut.summary().expect("ops > 0");
        row.note = format!(
            "truncate() alone: p50 {} p99 {}{}",
            fmt_ns(c.p50_ns),
            fmt_ns(c.p99_ns),
            if v.strategy == Strategy::MemFirst {
                " (cut owed to the flush)"
            } else {
                ""
            }
        );
        emit(row);
        Box::new(t).finish()?;
        remove_dir(&dir);
    }

    let dir = fresh_dir(opts, "truncate-re")?;
    {
        let last0 = re::populate(&dir, base, &p, opts.segment_bytes, 1000)?;
        let engine = re::open_engine(&dir, opts.segment_bytes)?;
        let mut last = last0;
        let mut s = Samples::default();
        let start = Instant::now();
        for _ in 0..ops {
            let from = last - 9;
            let t0 = Instant::now();
            let mut b = raft_engine::LogBatch::with_capacity(1);
            b.add_entries::<re::EntryExt>(1, &[re::entry(from, &p)])?;
            engine.write(&mut b, true)?;
            s.push(t0.elapsed());
            last = from;
        }
        let wall = start.elapsed();
        let mut row = rate_row(workload, RAFT_ENGINE, &mut s, ops, wall);
        row.rate = None;
        row.note = "overwriting append (raft-engine has no separate truncate)".into();
        emit(row);
    }
    remove_dir(&dir);
    emit(Row::na(workload, OKAYWAL, "no truncation"));

    let dir = fresh_dir(opts, "truncate-floor")?;
    {
        use std::os::unix::fs::FileExt;
        let path = dir.join("floor.dat");
        let mut all = Vec::new();
        for _ in 0..base {
            all.extend_from_slice(&p);
        }
        std::fs::write(&path, &all)?;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        f.sync_all()?;
        let mut len = base * 100;
        let mut s = Samples::default();
        let start = Instant::now();
        for _ in 0..ops {
            let t0 = Instant::now();
            len -= 10 * 100;
            f.set_len(len)?;
            f.write_all_at(&p, len)?;
            len += 100;
            f.sync_data()?;
            s.push(t0.elapsed());
        }
        let wall = start.elapsed();
        let mut row = rate_row(workload, FloorTarget::name(Mode::Append), &mut s, ops, wall);
        row.rate = None;
        row.note = "ftruncate + pwrite + fdatasync".into();
        emit(row);
    }
    remove_dir(&dir);
    Ok(())
}

/// Purging a prefix one segment's worth at a time.
pub fn purge(opts: &Opts, emit: &mut dyn FnMut(Row)) -> Res<()> {
    let p = payload(100);
    let seg = opts.purge_segment_bytes;
    let per_seg = seg / logbook_record_size(100);
    let count = per_seg * opts.purge_segments;
    let workload = format!(
        "purge {} entries (1 segment of {} MiB) per call",
        per_seg,
        seg >> 20
    );
    for v in VARIANTS {
        let dir = fresh_dir(opts, "purge")?;
        let last = lb::populate(&dir, count, &p, seg, 4096)?;
        let store = Store::open(&dir, v.config(opts.batch).with_segment_size_bytes(seg))?;
        // Purge exactly up to each segment's last entry, oldest first; keep the last one.
        let mut firsts: Vec<u64> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("seg-")?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut s = Samples::default();
        let start = Instant::now();
        let mut purged = 0;
        for next_first in firsts.iter().skip(1) {
            let upto = next_first - 1;
            let t0 = Instant::now();
            store.purge(lb::log_id(upto))?;
            s.push(t0.elapsed());
            purged = upto as usize;
        }
        debug_assert!(purged as u64 <= last);
        let wall = start.elapsed();
        let t0 = Instant::now();
        store.flush()?;
        let flush = t0.elapsed();
        let mut row = rate_row(&workload, &v.name(), &mut s, purged, wall);
        row.note = if v.strategy == Strategy::MemFirst {
            format!(
                "boundary and file removal owed to the flush (one flush after all: {})",
                fmt_ns(flush.as_nanos() as u64)
            )
        } else {
            "durable boundary, then file removal".into()
        };
        emit(row);
        store.close()?;
        remove_dir(&dir);
    }

    let dir = fresh_dir(opts, "purge-re")?;
    {
        let mut cfg = re::config(&dir, seg);
        cfg.purge_threshold = raft_engine::ReadableSize(seg);
        let engine = re::open_engine_with(cfg.clone())?;
        drop(engine);
        let last = re::populate(&dir, count, &p, seg, 4096)?;
        let engine = re::open_engine_with(cfg)?;
        let mut s = Samples::default();
        let mut upto = 0;
        let mut purged = 0;
        let start = Instant::now();
        while upto + per_seg < last {
            upto += per_seg;
            let t0 = Instant::now();
            engine.compact_to(1, upto + 1);
            engine.purge_expired_files()?;
            s.push(t0.elapsed());
            purged += per_seg as usize;
        }
        let wall = start.elapsed();
        let mut row = rate_row(&workload, RAFT_ENGINE, &mut s, purged, wall);
        row.note = "compact_to (unsynced command) + purge_expired_files".into();
        emit(row);
    }
    remove_dir(&dir);
    emit(Row::na(
        &workload,
        OKAYWAL,
        "no prefix purge (recycles after checkpoints)",
    ));

    let dir = fresh_dir(opts, "purge-floor")?;
    {
        let chunk = vec![0xABu8; seg as usize];
        for i in 0..opts.purge_segments {
            std::fs::write(dir.join(format!("f-{i:08}")), &chunk)?;
        }
        machine::sync_all();
        let mut s = Samples::default();
        let start = Instant::now();
        for i in 0..opts.purge_segments - 1 {
            let t0 = Instant::now();
            std::fs::remove_file(dir.join(format!("f-{i:08}")))?;
            std::fs::File::open(&dir)?.sync_all()?;
            s.push(t0.elapsed());
        }
        let wall = start.elapsed();
        let n = ((opts.purge_segments - 1) * per_seg) as usize;
        let mut row = rate_row(&workload, FloorTarget::name(Mode::Append), &mut s, n, wall);
        row.note = "unlink + fsync(dir)".into();
        emit(row);
    }
    remove_dir(&dir);
    Ok(())
}

/// logbook's bytes on disk per record (12 B frame + 32 B body header + payload).
fn logbook_record_size(payload: u64) -> u64 {
    12 + 32 + payload
}

/// Opening a large log, warm (page cache full) and cold (dropped).
pub fn recovery(opts: &Opts, emit: &mut dyn FnMut(Row)) -> Res<()> {
    let p = payload(100);
    let count = opts.recovery_payload_bytes / 100;
    let size = if opts.recovery_payload_bytes >= 1 << 30 {
        format!("{} GiB", opts.recovery_payload_bytes >> 30)
    } else {
        format!("{} MiB", opts.recovery_payload_bytes >> 20)
    };
    let warm_w = format!("recover warm ({count} x 100 B = {size})");
    let cold_w = format!("recover cold ({count} x 100 B = {size})");
    let cold_ok = machine::drop_caches();
    let cold_na = cold_ok.as_ref().err().cloned();

    // Each system: (name, populate, open-and-count) with the page cache warm or cold.
    // The opened handle is returned so that dropping it (freeing a preloaded log) stays
    // outside the timed section.
    type Opened = (u64, Box<dyn std::any::Any>);
    type Open<'a> = Box<dyn Fn() -> Res<Opened> + 'a>;
    let mut systems: Vec<(String, PathBuf, Open<'_>, String)> = Vec::new();

    let lb_dir = fresh_dir(opts, "recover-logbook")?;
    eprintln!("  populating logbook with {count} entries");
    lb::populate(&lb_dir, count, &p, opts.segment_bytes, 8192)?;
    eprintln!("  logbook: {} MiB on disk", dir_bytes(&lb_dir)? >> 20);
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let d = lb_dir.clone();
        let seg = opts.segment_bytes;
        let batch = opts.batch;
        let open: Open<'_> = Box::new(move || {
            let v = Variant {
                strategy,
                batch: false,
            };
            let cfg: Config = v.config(batch).with_segment_size_bytes(seg);
            let store = lb::open_store(&d, cfg)?;
            let n = store.last_index()? + 1 - store.first_index()?;
            Ok((n, Box::new(store) as Box<dyn std::any::Any>))
        });
        let (name, note) = match strategy {
            Strategy::DiskFirst => (
                "logbook DiskFirst (either policy)",
                "reads the last segment only",
            ),
            Strategy::MemFirst => ("logbook MemFirst (either policy)", "preloads every entry"),
        };
        systems.push((name.into(), lb_dir.clone(), open, note.into()));
    }

    let re_dir = fresh_dir(opts, "recover-raft-engine")?;
    eprintln!("  populating raft-engine");
    // raft-engine recovers per write batch (one checksum and one index block per batch),
    // so the batch size of the writes decides its recovery cost; 256 is the largest batch
    // of the write workloads. logbook frames every record alone: batching does not change
    // its files.
    re::populate(&re_dir, count, &p, opts.segment_bytes, RECOVERY_BATCH)?;
    {
        let d = re_dir.clone();
        let seg = opts.segment_bytes;
        systems.push((
            RAFT_ENGINE.into(),
            re_dir.clone(),
            Box::new(move || {
                let e = re::open_engine(&d, seg)?;
                let n = e.last_index(1).unwrap_or(0) + 1 - e.first_index(1).unwrap_or(1);
                Ok((n, Box::new(e) as Box<dyn std::any::Any>))
            }),
            format!("rebuilds its index of every entry (4 recovery threads); written in batches of {RECOVERY_BATCH}"),
        ));
    }

    let ow_dir = fresh_dir(opts, "recover-okaywal")?;
    eprintln!("  populating okaywal");
    // okaywal fsyncs every commit; 8192 chunks per entry keeps populating it short.
    ow::populate(&ow_dir, count, &p, 8192)?;
    {
        let d = ow_dir.clone();
        systems.push((
            OKAYWAL.into(),
            ow_dir.clone(),
            Box::new(move || {
                let (n, wal) = ow::recover(&d)?;
                Ok((n, Box::new(wal) as Box<dyn std::any::Any>))
            }),
            "LogManager reads every chunk; written 8192 chunks per entry".into(),
        ));
    }
    {
        let d = lb_dir.clone();
        systems.push((
            FloorTarget::name(Mode::Append).into(),
            lb_dir.clone(),
            Box::new(move || {
                floor::read_all(&d)?;
                Ok((count, Box::new(()) as Box<dyn std::any::Any>))
            }),
            "sequential read of logbook's files".into(),
        ));
    }
    machine::sync_all();

    for (name, dir, open, note) in &systems {
        let on_disk = dir_bytes(dir)? >> 20;
        // Warm.
        drop(open()?); // fills the page cache
        let mut s = Samples::default();
        let mut got = 0;
        for _ in 0..opts.warm_runs {
            let t0 = Instant::now();
            let (n, handle) = open()?;
            s.push(t0.elapsed());
            got = n;
            drop(handle);
        }
        // Recovery rows carry times only: DiskFirst does not load the entries, so a rate
        // would compare different work.
        let mut row = Row::new(&warm_w, name);
        row.lat = s.summary();
        row.note = format!(
            "{note}; {got} entries; {on_disk} MiB on disk; {} run(s)",
            opts.warm_runs
        );
        emit(row);
        // Cold.
        match &cold_na {
            Some(why) => emit(Row::na(&cold_w, name, why)),
            None => {
                let mut s = Samples::default();
                for _ in 0..opts.cold_runs {
                    machine::drop_caches()?;
                    let t0 = Instant::now();
                    let (n, handle) = open()?;
                    s.push(t0.elapsed());
                    got = n;
                    drop(handle);
                }
                let mut row = Row::new(&cold_w, name);
                row.lat = s.summary();
                row.note = format!(
                    "{note}; {got} entries; page cache dropped; {} run(s)",
                    opts.cold_runs
                );
                emit(row);
            }
        }
    }
    drop(systems);
    remove_dir(&lb_dir);
    remove_dir(&re_dir);
    remove_dir(&ow_dir);
    Ok(())
}

/// The worst append latency while segments rotate: 4 KiB x 16 per append, one writer.
/// The MemFirst backlog bound of the rotation workload's sync-off rows.
const UNBOUNDED_BACKLOG_BYTES: u64 = 4 << 30;

pub fn rotation(opts: &Opts, emit: &mut dyn FnMut(Row)) -> Res<()> {
    let seg = opts.rot_segment_bytes;
    let workload = format!("rotation: 4 KiB x16, {} MiB segments", seg >> 20);
    let p = payload(4096);
    let mut systems: Vec<(Sys, bool)> = VARIANTS.iter().map(|v| (Sys::Logbook(*v), true)).collect();
    for v in VARIANTS.iter().filter(|v| v.strategy == Strategy::MemFirst) {
        systems.push((Sys::Logbook(*v), false));
    }
    systems.push((Sys::RaftEngine, true));
    systems.push((Sys::OkayWal, true));
    systems.push((Sys::Floor(Mode::Append), true));
    // Enough time for the rotations at a few ms per append, with a cap.
    let time = Duration::from_secs(60);
    for (sys, sync) in systems {
        let dir = fresh_dir(opts, "rotation")?;
        let t: Box<dyn WriteTarget> = match sys {
            // Unsynced MemFirst appends outrun the disk: with the default 64 MiB bound they
            // meet backpressure (by design), which would hide what a rotation costs them.
            // The bound is raised past what the row writes, so only the rotation shows.
            Sys::Logbook(v) if !sync => Box::new(LogbookTarget::open(
                &dir,
                v.config(opts.batch)
                    .with_segment_size_bytes(seg)
                    .with_unflushed_bytes_max(UNBOUNDED_BACKLOG_BYTES),
            )?),
            _ => sys.open(&dir, 1, opts, seg, Some(seg), 0)?,
        };
        let out = drive(
            &*t,
            1,
            16,
            &p,
            sync,
            time,
            u64::MAX / 2,
            Some(opts.rotations),
        )?;
        t.finish()?;
        remove_dir(&dir);
        machine::sync_all();
        let name = if sync {
            sys.name()
        } else {
            format!("{} (sync=off, 4 GiB bound)", sys.name())
        };
        let mut row = Row::new(&workload, &name);
        row.rate = Some(out.entries as f64 / out.wall.as_secs_f64());
        let mut lat = out.lat;
        row.lat = lat.summary();
        let mut rot = out.rot_lat;
        row.note = match rot.summary() {
            Some(r) if sync => format!(
                "max at a rotation {} over {} rotations",
                fmt_ns(r.max_ns),
                out.rotations
            ),
            Some(r) => format!(
                "{} rotations by the flusher; max of the appends a rotation overlapped {}",
                out.rotations,
                fmt_ns(r.max_ns)
            ),
            None => "no rotation observed".into(),
        };
        emit(row);
    }
    Ok(())
}

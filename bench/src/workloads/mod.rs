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
use crate::stats::{fmt_ns, fmt_rate, Row, Samples};

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
    /// Interleaved rounds of the `raft` group (each `row_time` long per system).
    pub raft_rounds: usize,
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

/// logbook's bytes on disk per entry written in a large batch (format 2: a one-byte term
/// delta, the payload length's varint, the payload; the batch header's ~20 bytes spread
/// over the batch).
fn logbook_record_size(payload: u64) -> u64 {
    let len_varint = if payload < 128 { 1 } else { 2 };
    1 + len_varint + payload
}

mod conflict;
mod maintenance;
mod raft;
mod reads;
mod recovery;
mod writes;

pub use conflict::truncate;
pub use maintenance::purge;
pub use raft::raft;
pub use reads::reads;
pub use recovery::recovery;
pub use writes::{rotation, writes};

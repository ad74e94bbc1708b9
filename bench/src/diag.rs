//! Diagnostics behind the hotspot report (`--only diag`; not part of the table).
//!
//! logbook does all its I/O through `Fs`, so wrapping `StdFs` in a counter shows how many
//! fsyncs a workload costs, how many entries each one covers, and on which thread they
//! run, without touching the engine.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use logbook::{Config, DirLock, Entry, Error, FlushPolicy, Fs, FsFile, StdFs, Store, Strategy};

use crate::peers::logbook::LogbookTarget;
use crate::peers::{Res, WriteTarget};
use crate::stats::{fmt_ns, fmt_rate, Samples};
use crate::workloads::{payload, Opts};

#[derive(Debug, Default)]
pub struct Counters {
    pub file_syncs: AtomicU64,
    pub dir_syncs: AtomicU64,
    pub writes: AtomicU64,
    /// fsyncs run on a thread named `logbook-flusher`.
    pub flusher_syncs: AtomicU64,
    pub sync_ns: AtomicU64,
}

#[derive(Debug)]
pub struct CountingFs {
    inner: StdFs,
    pub c: Arc<Counters>,
}

#[derive(Debug)]
struct CountingFile {
    inner: Arc<dyn FsFile>,
    c: Arc<Counters>,
}

impl FsFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.c.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write_at(buf, offset)
    }
    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        self.inner.set_len(len_bytes)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.c.file_syncs.fetch_add(1, Ordering::Relaxed);
        if std::thread::current().name() == Some("logbook-flusher") {
            self.c.flusher_syncs.fetch_add(1, Ordering::Relaxed);
        }
        let t0 = Instant::now();
        let r = self.inner.sync_data();
        self.c
            .sync_ns
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl Fs for CountingFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(CountingFile {
            inner: self.inner.open(path, create)?,
            c: self.c.clone(),
        }))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.c.dir_syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync_dir(dir)
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>> {
        self.inner.lock_dir(dir)
    }
}

/// `StdFs` wrapped in a counter (the `raft` group counts its leader's fsyncs with it too).
pub(crate) fn counting() -> (Arc<dyn Fs>, Arc<Counters>) {
    let c = Arc::new(Counters::default());
    (
        Arc::new(CountingFs {
            inner: StdFs,
            c: c.clone(),
        }),
        c,
    )
}

fn open_store(dir: &Path, cfg: Config, fs: Arc<dyn Fs>) -> Res<Store> {
    Ok(Store::open_with(
        fs,
        Arc::new(logbook::SystemClock::new()),
        dir,
        cfg,
    )?)
}

/// Runs `writers` threads for `time`, each calling `op` and timing it.
fn run(
    writers: usize,
    time: Duration,
    op: &(dyn Fn() -> Res<u64> + Sync),
) -> Res<(u64, Duration, Samples)> {
    let (res, wall) = std::thread::scope(|s| {
        let start = Instant::now();
        let hs: Vec<_> = (0..writers)
            .map(|_| {
                s.spawn(move || -> Res<(u64, Samples)> {
                    let mut lat = Samples::default();
                    let mut n = 0;
                    while start.elapsed() < time {
                        let t0 = Instant::now();
                        n += op()?;
                        lat.push(t0.elapsed());
                    }
                    Ok((n, lat))
                })
            })
            .collect();
        let res: Vec<_> = hs.into_iter().map(|h| h.join()).collect();
        (res, start.elapsed())
    });
    let mut n = 0;
    let mut lat = Samples::default();
    for r in res {
        let (k, l) = r.map_err(|_| "writer panicked")??;
        n += k;
        lat.merge(l);
    }
    Ok((n, wall, lat))
}

fn report(label: &str, n: u64, wall: Duration, lat: &mut Samples, c: &Counters) {
    let syncs = c.file_syncs.load(Ordering::Relaxed);
    let l = lat.summary().expect("ran");
    println!(
        "{label:<64} {:>9}/s  p50 {:>9}  p99 {:>9}  fsyncs {:>6} (flusher {:>5}, dir {:>4})  entries/fsync {:>6.1}  mean fsync {}",
        fmt_rate(n as f64 / wall.as_secs_f64()),
        fmt_ns(l.p50_ns),
        fmt_ns(l.p99_ns),
        syncs,
        c.flusher_syncs.load(Ordering::Relaxed),
        c.dir_syncs.load(Ordering::Relaxed),
        n as f64 / syncs.max(1) as f64,
        fmt_ns(c.sync_ns.load(Ordering::Relaxed) / syncs.max(1)),
    );
}

/// Group commit with a sequencer (as in the table) against writers calling `Store::append`
/// directly, each retrying with the next free index when another writer got there first.
pub fn group_commit(opts: &Opts) -> Res<()> {
    let p = payload(100);
    let time = opts.row_time * 2;
    println!("== group commit: 100 B x1, sync on, fsyncs counted through a wrapping Fs");
    for writers in [1usize, 4, 16, 64] {
        for flush in [
            FlushPolicy::Immediate,
            FlushPolicy::Batch {
                threshold: opts.batch.threshold,
                interval_ms: opts.batch.interval_ms,
            },
        ] {
            for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
                let cfg = Config::new(strategy, flush);
                let dir = opts.dir.join("diag");
                let _ = std::fs::remove_dir_all(&dir);
                // (a) sequencer + append_deferred, wait outside it, as in the table.
                let (fs, c) = counting();
                let t = LogbookTarget::open_with(&dir, cfg.clone(), fs)?;
                let (n, wall, mut lat) = run(writers, time, &|| {
                    t.append(0, 1, &p, true)?;
                    Ok(1)
                })?;
                report(
                    &format!("{strategy:?}/{flush:?} w={writers} sequencer+deferred"),
                    n,
                    wall,
                    &mut lat,
                    &c,
                );
                Box::new(t).finish()?;
                let _ = std::fs::remove_dir_all(&dir);
                if writers == 1 {
                    continue;
                }
                // (b) Store::append from every writer, no external sequencer.
                let (fs, c) = counting();
                let store = open_store(&dir, cfg, fs)?;
                let (n, wall, mut lat) = run(writers, time, &|| {
                    optimistic_append(&store, &p, strategy)?;
                    Ok(1)
                })?;
                report(
                    &format!("{strategy:?}/{flush:?} w={writers} Store::append, retry"),
                    n,
                    wall,
                    &mut lat,
                    &c,
                );
                store.close()?;
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    Ok(())
}

fn optimistic_append(store: &Store, p: &Bytes, strategy: Strategy) -> Res<()> {
    loop {
        let next = store.last_index()? + 1;
        let e = [Entry::new(next, 1, p.clone())];
        match store.append(&e) {
            Ok(last) => {
                if strategy == Strategy::MemFirst {
                    store.wait_durable(last)?;
                }
                return Ok(());
            }
            Err(Error::NotContinuous { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One writer, DiskFirst/Immediate, 100 B x1: the same append through each layer, against
/// the floor, interleaved in rounds so that load changes hit every layer alike.
pub fn single_writer(opts: &Opts) -> Res<()> {
    use crate::peers::floor::{FloorTarget, Mode};
    println!("== one writer, 100 B x1, sync on: p50 per layer (interleaved rounds)");
    let p = payload(100);
    let rounds = 5;
    let per_round = opts.row_time / 2;
    let names = [
        "Log::append (core, fsync inline)",
        "Store::append",
        "sequencer + append_deferred/wait (table)",
        "append_with_callback, wait for the callback",
        "floor: append+fdatasync",
    ];
    const FLOOR: usize = 4;
    let mut lat: Vec<Samples> = names.iter().map(|_| Samples::default()).collect();
    let mut flusher = [0u64; FLOOR];
    let mut syncs = [0u64; FLOOR];
    for _ in 0..rounds {
        for (k, lat) in lat.iter_mut().enumerate() {
            let dir = opts.dir.join("diag");
            let _ = std::fs::remove_dir_all(&dir);
            let cfg = Config::new(Strategy::DiskFirst, FlushPolicy::Immediate);
            let (fs, c) = counting();
            let start = Instant::now();
            match k {
                0 => {
                    let clock: Arc<dyn logbook::Clock> = Arc::new(logbook::SystemClock::new());
                    let mut log = logbook::Log::open(fs, clock, &dir, cfg)?;
                    let mut next = 1;
                    while start.elapsed() < per_round {
                        let e = [Entry::new(next, 1, p.clone())];
                        let t0 = Instant::now();
                        log.append(&e)?;
                        lat.push(t0.elapsed());
                        next += 1;
                    }
                    log.close()?;
                }
                1 => {
                    let store = open_store(&dir, cfg, fs)?;
                    let mut next = 1;
                    while start.elapsed() < per_round {
                        let e = [Entry::new(next, 1, p.clone())];
                        let t0 = Instant::now();
                        store.append(&e)?;
                        lat.push(t0.elapsed());
                        next += 1;
                    }
                    store.close()?;
                }
                2 => {
                    let t = LogbookTarget::open_with(&dir, cfg, fs)?;
                    while start.elapsed() < per_round {
                        let t0 = Instant::now();
                        t.append(0, 1, &p, true)?;
                        lat.push(t0.elapsed());
                    }
                    Box::new(t).finish()?;
                }
                3 => {
                    let store = open_store(&dir, cfg, fs)?;
                    let mut next = 1;
                    while start.elapsed() < per_round {
                        let e = [Entry::new(next, 1, p.clone())];
                        let (tx, rx) = std::sync::mpsc::channel();
                        let t0 = Instant::now();
                        store.append_with_callback(&e, move |r| {
                            let _ = tx.send(r);
                        })?;
                        rx.recv().map_err(|_| "callback dropped")??;
                        lat.push(t0.elapsed());
                        next += 1;
                    }
                    store.close()?;
                }
                _ => {
                    let t = FloorTarget::open(&dir, Mode::Append, 0, None)?;
                    while start.elapsed() < per_round {
                        let t0 = Instant::now();
                        t.append(0, 1, &p, true)?;
                        lat.push(t0.elapsed());
                    }
                    Box::new(t).finish()?;
                }
            }
            if k < FLOOR {
                flusher[k] += c.flusher_syncs.load(Ordering::Relaxed);
                syncs[k] += c.file_syncs.load(Ordering::Relaxed);
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let floor = lat[FLOOR].clone().summary().expect("ran").p50_ns as f64;
    for (k, name) in names.iter().enumerate() {
        let l = lat[k].summary().expect("ran");
        let fl = if k < FLOOR {
            format!(
                "fsyncs {:>5}, run by the flusher {:>5}",
                syncs[k], flusher[k]
            )
        } else {
            String::new()
        };
        println!(
            "  {name:<44} p50 {:>9} ({:.2}x floor)  p99 {:>9}  {fl}",
            fmt_ns(l.p50_ns),
            l.p50_ns as f64 / floor,
            fmt_ns(l.p99_ns)
        );
    }
    Ok(())
}

/// The fsync-bound targets, re-measured in interleaved rounds (every system once per
/// round, rounds repeated), so that a load change on the shared machine hits all systems
/// alike. Prints the median and range over rounds.
pub fn targets(opts: &Opts) -> Res<()> {
    use crate::peers::floor::Mode;
    use crate::peers::logbook::VARIANTS;
    use crate::workloads::{drive, fresh_dir, Sys};
    let rounds = 5;
    let time = opts.row_time;
    let peers = [
        Sys::RaftEngine,
        Sys::Floor(Mode::Append),
        Sys::Floor(Mode::Overwrite),
        Sys::Floor(Mode::Fallocate),
    ];
    // The one-writer latency target is DiskFirst/Immediate's; the others are every variant's.
    let one: Vec<Sys> = std::iter::once(Sys::Logbook(VARIANTS[0]))
        .chain(peers)
        .collect();
    let all: Vec<Sys> = VARIANTS
        .iter()
        .map(|v| Sys::Logbook(*v))
        .chain(peers)
        .collect();
    // (label, size, per call, writers, systems)
    let cases: Vec<(&str, usize, usize, usize, Vec<Sys>)> = vec![
        ("100 B x1, sync on, 1 writer", 100, 1, 1, one),
        ("100 B x1, sync on, 64 writers", 100, 1, 64, all.clone()),
        ("4 KiB x256, sync on, 1 writer", 4096, 256, 1, all),
    ];
    // `LOGBOOK_TARGET_CASE=64` re-measures only the cases whose label contains "64".
    let only = std::env::var("LOGBOOK_TARGET_CASE").unwrap_or_default();
    for (label, size, n, writers, systems) in cases {
        if !label.contains(only.as_str()) {
            continue;
        }
        // `LOGBOOK_TARGET_SYS=raft` keeps only the systems whose name contains "raft".
        let sys_only = std::env::var("LOGBOOK_TARGET_SYS").unwrap_or_default();
        let systems: Vec<Sys> = systems
            .into_iter()
            .filter(|s| s.name().contains(sys_only.as_str()))
            .collect();
        println!("== targets: {label}, {rounds} interleaved rounds of {time:?} per system");
        let p = payload(size);
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); systems.len()];
        let mut p50s: Vec<Vec<u64>> = vec![Vec::new(); systems.len()];
        for _ in 0..rounds {
            for (k, sys) in systems.iter().enumerate() {
                let dir = fresh_dir(opts, "targets")?;
                let t = sys.open(&dir, writers, opts, opts.segment_bytes, None, 512 << 20)?;
                let out = drive(&*t, writers, n, &p, true, time, 512 << 20, None)?;
                t.finish()?;
                let _ = std::fs::remove_dir_all(&dir);
                rates[k].push(out.entries as f64 / out.wall.as_secs_f64());
                let mut lat = out.lat;
                p50s[k].push(lat.summary().expect("ran").p50_ns);
            }
        }
        let med_f = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        let med_u = |v: &mut Vec<u64>| {
            v.sort_unstable();
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        for (k, sys) in systems.iter().enumerate() {
            let (r, rlo, rhi) = med_f(&mut rates[k]);
            let (q, qlo, qhi) = med_u(&mut p50s[k]);
            println!(
                "  {:<34} entries/s median {:>9} [{} .. {}]   p50 median {:>9} [{} .. {}]",
                sys.name(),
                fmt_rate(r),
                fmt_rate(rlo),
                fmt_rate(rhi),
                fmt_ns(q),
                fmt_ns(qlo),
                fmt_ns(qhi)
            );
        }
    }
    Ok(())
}

/// MemFirst `Store::append` latency as the unflushed backlog grows: the flusher is held
/// off (`Batch` with an unreachable threshold and interval) and the append cost is
/// sampled at backlog sizes.
pub fn memfirst_backlog(opts: &Opts) -> Res<()> {
    println!("== MemFirst append (100 B x1, Store) against the unflushed backlog");
    let p = payload(100);
    let dir = opts.dir.join("diag");
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config::new(
        Strategy::MemFirst,
        FlushPolicy::Batch {
            threshold: usize::MAX,
            interval_ms: u64::MAX / 4,
        },
    )
    .with_unflushed_bytes_max(1 << 40);
    let store = Store::open(&dir, cfg)?;
    let mut next = 1u64;
    let marks = [1_000u64, 10_000, 100_000, 1_000_000, 4_000_000];
    let mut k = 0;
    let mut lat = Samples::default();
    let t_all = Instant::now();
    let mut e = [Entry::new(0, 1, p.clone())];
    while k < marks.len() {
        e[0].index = next;
        let t0 = Instant::now();
        store.append(&e)?;
        lat.push(t0.elapsed());
        next += 1;
        if next > marks[k] {
            let l = lat.summary().expect("ran");
            println!(
                "  appends {:>7}..{:>7} (backlog up to {:>7} entries): p50 {:>9} p99 {:>9} max {:>9}",
                if k == 0 { 1 } else { marks[k - 1] + 1 },
                marks[k],
                marks[k],
                fmt_ns(l.p50_ns),
                fmt_ns(l.p99_ns),
                fmt_ns(l.max_ns)
            );
            lat = Samples::default();
            k += 1;
        }
    }
    println!("  total {:?}", t_all.elapsed());
    store.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Where a rotation's time goes: fsyncs per rotating append on the counted Fs.
pub fn rotation(opts: &Opts) -> Res<()> {
    println!("== rotation: DiskFirst/Immediate, 4 KiB x16 per append, 4 MiB segments");
    let p = payload(4096);
    let dir = opts.dir.join("diag");
    let _ = std::fs::remove_dir_all(&dir);
    let (fs, c) = counting();
    let cfg =
        Config::new(Strategy::DiskFirst, FlushPolicy::Immediate).with_segment_size_bytes(4 << 20);
    let t = LogbookTarget::open_with(&dir, cfg, fs)?;
    let seen = Mutex::new(Vec::new());
    let mut marker = t.rotation_marker()?;
    for _ in 0..(3 * 64 + 8) {
        let (f0, d0) = (
            c.file_syncs.load(Ordering::Relaxed),
            c.dir_syncs.load(Ordering::Relaxed),
        );
        let t0 = Instant::now();
        t.append(0, 16, &p, true)?;
        let dt = t0.elapsed();
        let m = t.rotation_marker()?;
        let f = c.file_syncs.load(Ordering::Relaxed) - f0;
        let d = c.dir_syncs.load(Ordering::Relaxed) - d0;
        seen.lock().unwrap().push((m != marker, dt, f, d));
        marker = m;
    }
    let seen = seen.into_inner().unwrap();
    let (rot, plain): (Vec<_>, Vec<_>) = seen.into_iter().partition(|x| x.0);
    let avg = |v: &[(bool, Duration, u64, u64)]| {
        let n = v.len().max(1) as u64;
        (
            v.iter().map(|x| x.1.as_nanos() as u64).sum::<u64>() / n,
            v.iter().map(|x| x.2).sum::<u64>() as f64 / n as f64,
            v.iter().map(|x| x.3).sum::<u64>() as f64 / n as f64,
        )
    };
    let (rl, rf, rd) = avg(&rot);
    let (pl, pf, pd) = avg(&plain);
    println!(
        "  rotating appends: {} , mean {} , file fsyncs {rf:.1}, dir fsyncs {rd:.1}",
        rot.len(),
        fmt_ns(rl)
    );
    println!(
        "  other appends:    {} , mean {} , file fsyncs {pf:.1}, dir fsyncs {pd:.1}",
        plain.len(),
        fmt_ns(pl)
    );
    Box::new(t).finish()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Opens a large log with MemFirst (and DiskFirst) again and again, for profiling
/// recovery: the log is written once to `<dir>/diag-open` and kept there, so a second
/// run (`--dir` the same directory) under `perf record` sees only the opens.
pub fn open_profile(opts: &Opts) -> Res<()> {
    use crate::peers::logbook as lb;
    let dir = opts.dir.join("diag-open");
    let count = opts.recovery_payload_bytes / 100;
    if !dir.join("meta").exists() {
        println!(
            "== populating {} with {count} entries of 100 B",
            dir.display()
        );
        lb::populate(&dir, count, &payload(100), opts.segment_bytes, 8192)?;
    }
    for strategy in [Strategy::MemFirst, Strategy::DiskFirst] {
        for _ in 0..3 {
            let cfg = Config::new(strategy, FlushPolicy::Immediate)
                .with_segment_size_bytes(opts.segment_bytes);
            let t0 = Instant::now();
            let store = Store::open(&dir, cfg)?;
            let dt = t0.elapsed();
            println!(
                "  {strategy:?} open of {} entries: {}",
                store.last_index()?,
                fmt_ns(dt.as_nanos() as u64)
            );
            drop(store);
        }
    }
    Ok(())
}

//! `--only diag-pipeline`: 64 durable 100 B appends in flight on one log, kept there by 64
//! blocking writer threads (`append_deferred` + `wait`, the table's writers, a park and a
//! wake-up per append), by one thread with `append_with_callback` (the openraft way: the
//! callback runs on the syncing thread, nobody parks per append), or by one async task on
//! `AsyncStore` (a current-thread tokio runtime: the flusher is a task, the fsync runs in
//! `spawn_blocking`). Every variant beside raft-engine's 64 writers, in interleaved rounds.
//!
//! The async task accepts its appends in index order, as a Raft node does (`append_accept`),
//! and then learns of durability either through one future per append (`wait_durable`, 64
//! of them in a `FuturesUnordered`) or through the store's one `durable()` watch.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use logbook::{AsyncStore, Entry};

use crate::peers::logbook::{open_store, Variant, VARIANTS};
use crate::peers::Res;
use crate::stats::{fmt_ns, fmt_rate, Samples};
use crate::workloads::{drive, fresh_dir, payload, Opts, Sys};

const IN_FLIGHT: usize = 64;

/// Appends in flight and completed, and the latencies of the completed ones.
#[derive(Default)]
struct Flight {
    in_flight: usize,
    done: u64,
    failed: Option<String>,
    lat: Samples,
}

/// One thread keeps `IN_FLIGHT` callback appends going for `time`: entries/s and latency.
fn callbacks(opts: &Opts, cfg: logbook::Config, time: Duration) -> Res<(f64, Samples)> {
    let dir = fresh_dir(opts, "pipeline")?;
    let store = open_store(&dir, cfg)?;
    let p = payload(100);
    let flight = Arc::new((Mutex::new(Flight::default()), Condvar::new()));
    let start = Instant::now();
    let mut next = 1u64;
    while start.elapsed() < time {
        {
            let (m, cv) = &*flight;
            let mut f = m.lock().unwrap();
            while f.in_flight >= IN_FLIGHT {
                f = cv.wait(f).unwrap();
            }
            if let Some(e) = f.failed.take() {
                return Err(e.into());
            }
            f.in_flight += 1;
        }
        let t0 = Instant::now();
        let fl = flight.clone();
        store.append_with_callback(&[Entry::new(next, 1, p.clone())], move |r| {
            let (m, cv) = &*fl;
            let mut f = m.lock().unwrap();
            f.in_flight -= 1;
            match r {
                Ok(_) => {
                    f.done += 1;
                    f.lat.push(t0.elapsed());
                }
                Err(e) => f.failed = Some(e.to_string()),
            }
            cv.notify_one();
        })?;
        next += 1;
    }
    let (m, cv) = &*flight;
    let mut f = m.lock().unwrap();
    while f.in_flight > 0 {
        f = cv.wait(f).unwrap();
    }
    let wall = start.elapsed();
    let rate = f.done as f64 / wall.as_secs_f64();
    let lat = std::mem::take(&mut f.lat);
    drop(f);
    store.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((rate, lat))
}

/// 64 blocking writers through the table's driver: entries/s and latency.
fn blocking(opts: &Opts, sys: &Sys, time: Duration) -> Res<(f64, Samples)> {
    let dir = fresh_dir(opts, "pipeline")?;
    let p = payload(100);
    let t = sys.open(&dir, IN_FLIGHT, opts, opts.segment_bytes, None, 512 << 20)?;
    let out = drive(&*t, IN_FLIGHT, 1, &p, true, time, 512 << 20, None)?;
    t.finish()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((out.entries as f64 / out.wall.as_secs_f64(), out.lat))
}

/// How an `AsyncStore` task learns that its appends are durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notice {
    /// One `wait_durable(last)` future per append.
    FutureEach,
    /// The store's `durable()` watch, one for all.
    Watch,
}

/// One task on a current-thread runtime keeps `IN_FLIGHT` `AsyncStore` appends going for
/// `time`: entries/s and latency (from before the accept to the notice of durability).
fn async_task(
    opts: &Opts,
    cfg: logbook::Config,
    time: Duration,
    how: Notice,
) -> Res<(f64, Samples)> {
    let dir = fresh_dir(opts, "pipeline")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        let fs = Arc::new(logbook::StdFs);
        let clock = Arc::new(logbook::TaskClock::new());
        let store = AsyncStore::open(fs, clock, &dir, cfg).await?;
        let start = Instant::now();
        let lat = match how {
            Notice::FutureEach => future_each(&store, time).await?,
            Notice::Watch => durable_watch(&store, time).await?,
        };
        let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
        store.close().await?;
        Res::Ok((rate, lat))
    });
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// Accepts entry `next` (then moves it on): its index, and when the append began.
async fn accept_next(store: &AsyncStore, next: &mut u64, p: &Bytes) -> Res<(u64, Instant)> {
    let t0 = Instant::now();
    let last = store
        .append_accept(&[Entry::new(*next, 1, p.clone())])
        .await?;
    *next += 1;
    Ok((last, t0))
}

/// Accepts in order, then waits for each append with its own `wait_durable` future.
async fn future_each(store: &AsyncStore, time: Duration) -> Res<Samples> {
    let p = payload(100);
    let mut flight = FuturesUnordered::new();
    let mut lat = Samples::default();
    let start = Instant::now();
    let mut next = 1u64;
    loop {
        while flight.len() < IN_FLIGHT && start.elapsed() < time {
            let (last, t0) = accept_next(store, &mut next, &p).await?;
            flight.push(async move { store.wait_durable(last).await.map(|()| t0.elapsed()) });
        }
        match flight.next().await {
            Some(r) => lat.push(r?),
            None => return Ok(lat),
        }
    }
}

/// Accepts in order and releases the appends the `durable()` watch covers, oldest first.
async fn durable_watch(store: &AsyncStore, time: Duration) -> Res<Samples> {
    let p = payload(100);
    let mut rx = store.durable();
    let mut flight: VecDeque<(u64, Instant)> = VecDeque::with_capacity(IN_FLIGHT);
    let mut lat = Samples::default();
    let start = Instant::now();
    let mut next = 1u64;
    loop {
        while flight.len() < IN_FLIGHT && start.elapsed() < time {
            flight.push_back(accept_next(store, &mut next, &p).await?);
        }
        if flight.is_empty() {
            return Ok(lat);
        }
        let d = rx.borrow_and_update().clone();
        if let Some(cause) = d.poisoned {
            return Err(format!("poisoned: {cause:?}").into());
        }
        let before = flight.len();
        while let Some(&(_, t0)) = flight.front().filter(|(i, _)| *i <= d.index) {
            lat.push(t0.elapsed());
            flight.pop_front();
        }
        if flight.len() == before {
            rx.changed().await?;
        }
    }
}

/// The ways a logbook variant keeps its appends in flight, in row order.
const WAYS: [&str; 4] = [
    "64 blocking writers",
    "1 thread, callbacks",
    "1 task, AsyncStore, a future each",
    "1 task, AsyncStore, durable watch",
];

fn run_way(opts: &Opts, v: &Variant, way: usize, time: Duration) -> Res<(f64, Samples)> {
    let cfg = v
        .config(opts.batch)
        .with_segment_size_bytes(opts.segment_bytes);
    match way {
        0 => blocking(opts, &Sys::Logbook(*v), time),
        1 => callbacks(opts, cfg, time),
        2 => async_task(opts, cfg, time, Notice::FutureEach),
        _ => async_task(opts, cfg, time, Notice::Watch),
    }
}

/// One row's results across rounds.
#[derive(Default)]
struct Row {
    name: String,
    rates: Vec<f64>,
    p50s: Vec<f64>,
    p99s: Vec<f64>,
}

impl Row {
    fn push(&mut self, (rate, mut lat): (f64, Samples)) {
        let l = lat.summary();
        self.rates.push(rate);
        self.p50s.push(l.map_or(0.0, |l| l.p50_ns as f64));
        self.p99s.push(l.map_or(0.0, |l| l.p99_ns as f64));
    }
}

pub fn pipeline(opts: &Opts) -> Res<()> {
    let rounds = 3;
    let time = opts.row_time;
    println!(
        "== {IN_FLIGHT} durable 100 B appends in flight, {rounds} interleaved rounds of {time:?}"
    );
    // Every logbook variant in every way, then raft-engine.
    let mut rows: Vec<Row> = Vec::new();
    for v in VARIANTS {
        for way in WAYS {
            let name = format!("{} {way}", v.name());
            rows.push(Row {
                name,
                ..Row::default()
            });
        }
    }
    let name = format!("raft-engine 0.4 {IN_FLIGHT} writers");
    rows.push(Row {
        name,
        ..Row::default()
    });
    for _ in 0..rounds {
        for (k, v) in VARIANTS.iter().enumerate() {
            for way in 0..WAYS.len() {
                rows[WAYS.len() * k + way].push(run_way(opts, v, way, time)?);
            }
        }
        let last = rows.len() - 1;
        rows[last].push(blocking(opts, &Sys::RaftEngine, time)?);
    }
    let peer = median(&mut rows[rows.len() - 1].rates.clone());
    for row in &mut rows {
        let r = median(&mut row.rates);
        println!(
            "  {:<62} entries/s median {:>9} ({:.2}x raft-engine)   p50 median {:>9}   p99 median {:>9}",
            row.name,
            fmt_rate(r),
            r / peer,
            fmt_ns(median(&mut row.p50s) as u64),
            fmt_ns(median(&mut row.p99s) as u64),
        );
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

//! `--only diag-pipeline`: 64 durable 100 B appends in flight on one log, kept there by 64
//! blocking writer threads (`append_deferred` + `wait`, the table's writers, a park and a
//! wake-up per append), or by one thread with `append_with_callback` (the openraft way:
//! the callback runs on the syncing thread, nobody parks per append). Every variant beside
//! raft-engine's 64 writers, in interleaved rounds.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use logbook::Entry;

use crate::peers::logbook::{open_store, VARIANTS};
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

pub fn pipeline(opts: &Opts) -> Res<()> {
    let rounds = 3;
    let time = opts.row_time;
    println!(
        "== {IN_FLIGHT} durable 100 B appends in flight, {rounds} interleaved rounds of {time:?}"
    );
    // (name, how): logbook variants twice (blocking writers, callbacks), then raft-engine.
    let mut names: Vec<String> = Vec::new();
    for v in VARIANTS {
        names.push(format!("{} {IN_FLIGHT} blocking writers", v.name()));
        names.push(format!("{} 1 thread, callbacks", v.name()));
    }
    names.push(format!("raft-engine 0.4 {IN_FLIGHT} writers"));
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut p50s: Vec<Vec<u64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        for (k, v) in VARIANTS.iter().enumerate() {
            let cfg = v
                .config(opts.batch)
                .with_segment_size_bytes(opts.segment_bytes);
            let runs = [
                blocking(opts, &Sys::Logbook(*v), time)?,
                callbacks(opts, cfg, time)?,
            ];
            for (j, (rate, mut lat)) in runs.into_iter().enumerate() {
                rates[2 * k + j].push(rate);
                p50s[2 * k + j].push(lat.summary().map_or(0, |l| l.p50_ns));
            }
        }
        let (rate, mut lat) = blocking(opts, &Sys::RaftEngine, time)?;
        let last = names.len() - 1;
        rates[last].push(rate);
        p50s[last].push(lat.summary().map_or(0, |l| l.p50_ns));
    }
    let peer = median(&mut rates[names.len() - 1].clone());
    for (k, name) in names.iter().enumerate() {
        let r = median(&mut rates[k]);
        let mut q = p50s[k].clone();
        q.sort_unstable();
        println!(
            "  {name:<52} entries/s median {:>9} ({:.2}x raft-engine)   p50 median {:>9}",
            fmt_rate(r),
            r / peer,
            fmt_ns(q[q.len() / 2])
        );
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

//! Conflict resolution, as a Raft follower does it: cut the last 10 entries and append one
//! in their place, durably.
//!
//! Every system is opened and filled first, then warmed up, then measured in interleaved
//! rounds (each system once per round, the order rotated every round), so that neither a
//! load change on the shared machine nor a device that speeds up as it warms favours a row
//! by its place in the table.

use super::*;

/// Untimed operations per system before the first round.
const WARM_UP_OPS: usize = 20;
/// Rounds the timed operations are spread over.
const ROUNDS: usize = 10;

/// One system resolving conflicts.
struct Resolver<'a> {
    name: String,
    note: &'static str,
    /// One truncate + append, durable: its time, and the truncate call's alone where the
    /// system has one.
    once: Box<dyn FnMut() -> Res<(Duration, Option<Duration>)> + 'a>,
    total: Samples,
    cut: Samples,
}

pub fn truncate(opts: &Opts, emit: &mut dyn FnMut(Row)) -> Res<()> {
    let workload = "truncate last 10 + append 1 (durable)";
    let p = payload(100);
    let base = 20_000u64;
    let mut dirs = Vec::new();
    let mut targets = Vec::new();
    for v in VARIANTS {
        let dir = fresh_dir(opts, &format!("truncate-{}", targets.len()))?;
        let t = LogbookTarget::open(&dir, v.config(opts.batch))?;
        for _ in 0..(base / 1000) {
            t.append(0, 1000, &p, true)?;
        }
        targets.push((v, t));
        dirs.push(dir);
    }
    let mut resolvers: Vec<Resolver> = targets
        .iter()
        .map(|(v, t)| logbook_resolver(v, t.store(), &p))
        .collect();
    let re_dir = fresh_dir(opts, "truncate-re")?;
    resolvers.push(raft_engine_resolver(&re_dir, base, &p, opts)?);
    let floor_dir = fresh_dir(opts, "truncate-floor")?;
    resolvers.push(floor_resolver(&floor_dir, base, &p)?);

    for r in resolvers.iter_mut() {
        for _ in 0..WARM_UP_OPS {
            (r.once)()?;
        }
    }
    let per_round = opts.truncate_ops.div_ceil(ROUNDS);
    for round in 0..ROUNDS {
        let n = resolvers.len();
        for k in 0..n {
            let r = &mut resolvers[(round + k) % n];
            for _ in 0..per_round {
                let (total, cut) = (r.once)()?;
                r.total.push(total);
                if let Some(cut) = cut {
                    r.cut.push(cut);
                }
            }
        }
    }
    for mut r in resolvers {
        let mut row = Row::new(workload, &r.name);
        row.lat = r.total.summary();
        row.note = match r.cut.summary() {
            Some(c) => format!(
                "truncate() alone: p50 {} p99 {}{}",
                fmt_ns(c.p50_ns),
                fmt_ns(c.p99_ns),
                r.note
            ),
            None => r.note.to_string(),
        };
        emit(row);
    }
    emit(Row::na(workload, OKAYWAL, "no truncation"));
    for (_, t) in targets {
        Box::new(t).finish()?;
    }
    for dir in dirs.iter().chain([&re_dir, &floor_dir]) {
        remove_dir(dir);
    }
    Ok(())
}

fn logbook_resolver<'a>(v: &Variant, store: &'a Store, p: &Bytes) -> Resolver<'a> {
    let p = p.clone();
    let once = move || -> Res<(Duration, Option<Duration>)> {
        let from = store.last_index()? - 9;
        let t0 = Instant::now();
        store.truncate(from)?;
        let cut = t0.elapsed();
        store.append(&[Entry::new(from, 1, p.clone())])?;
        store.wait_durable(from)?;
        Ok((t0.elapsed(), Some(cut)))
    };
    Resolver {
        name: v.name(),
        note: match v.strategy {
            Strategy::MemFirst => " (cut owed to the flush)",
            Strategy::DiskFirst => "",
        },
        once: Box::new(once),
        total: Samples::default(),
        cut: Samples::default(),
    }
}

fn raft_engine_resolver(dir: &Path, base: u64, p: &Bytes, opts: &Opts) -> Res<Resolver<'static>> {
    let mut last = re::populate(dir, base, p, opts.segment_bytes, 1000)?;
    let engine = re::open_engine(dir, opts.segment_bytes)?;
    let p = p.clone();
    let once = move || -> Res<(Duration, Option<Duration>)> {
        let from = last - 9;
        let t0 = Instant::now();
        let mut b = raft_engine::LogBatch::with_capacity(1);
        b.add_entries::<re::EntryExt>(1, &[re::entry(from, &p)])?;
        engine.write(&mut b, true)?;
        last = from;
        Ok((t0.elapsed(), None))
    };
    Ok(Resolver {
        name: RAFT_ENGINE.to_string(),
        note: "overwriting append (raft-engine has no separate truncate)",
        once: Box::new(once),
        total: Samples::default(),
        cut: Samples::default(),
    })
}

fn floor_resolver(dir: &Path, base: u64, p: &Bytes) -> Res<Resolver<'static>> {
    use std::os::unix::fs::FileExt;
    let path = dir.join("floor.dat");
    let mut all = Vec::new();
    for _ in 0..base {
        all.extend_from_slice(p);
    }
    std::fs::write(&path, &all)?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)?;
    f.sync_all()?;
    let mut len = base * 100;
    let p = p.clone();
    let once = move || -> Res<(Duration, Option<Duration>)> {
        let t0 = Instant::now();
        len -= 10 * 100;
        f.set_len(len)?;
        f.write_all_at(&p, len)?;
        len += 100;
        f.sync_data()?;
        Ok((t0.elapsed(), None))
    };
    Ok(Resolver {
        name: FloorTarget::name(Mode::Append).to_string(),
        note: "ftruncate + pwrite + fdatasync",
        once: Box::new(once),
        total: Samples::default(),
        cut: Samples::default(),
    })
}

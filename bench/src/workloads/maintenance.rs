//! Raft log maintenance: truncating a conflicting suffix, purging a prefix.

use super::*;

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

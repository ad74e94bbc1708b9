//! Read workloads: cache hits, random misses, range reads.

use super::*;

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

//! Raft log maintenance: purging a prefix.

use super::*;

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

//! Recovery: opening a large log, page cache warm and cold.

use super::*;

/// Entries after the snapshot hint in the hinted MemFirst open.
const HINT_TAIL: u64 = 10_000;

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
    lb::populate(&lb_dir, count, &p, opts.segment_bytes, RECOVERY_BATCH)?;
    let lb_data = logbook_data_bytes(&lb_dir, opts.segment_bytes)?;
    eprintln!(
        "  logbook: {} MiB of files, {} MiB of data",
        dir_bytes(&lb_dir)? >> 20,
        lb_data >> 20
    );
    // A restarted Raft node's snapshot sits near the end: the hinted open preloads the
    // segment holding it and the ones after (the last `HINT_TAIL` entries, give or take a
    // segment) and leaves the rest on disk.
    let hint = count.saturating_sub(HINT_TAIL);
    let opens = [
        (Strategy::DiskFirst, None),
        (Strategy::MemFirst, None),
        (Strategy::MemFirst, Some(hint)),
    ];
    for (strategy, hint) in opens {
        let d = lb_dir.clone();
        let seg = opts.segment_bytes;
        let batch = opts.batch;
        let open: Open<'_> = Box::new(move || {
            let v = Variant {
                strategy,
                policy: lb::Policy::Immediate,
            };
            let cfg: Config = v
                .config(batch)
                .with_segment_size_bytes(seg)
                .with_snapshot_hint(hint);
            let store = lb::open_store(&d, cfg)?;
            let n = store.last_index()? + 1 - store.first_index()?;
            Ok((n, Box::new(store) as Box<dyn std::any::Any>))
        });
        let (name, note) = match (strategy, hint) {
            (Strategy::DiskFirst, _) => (
                "logbook DiskFirst (either policy)".to_string(),
                "reads the last segment only".to_string(),
            ),
            (Strategy::MemFirst, None) => (
                "logbook MemFirst (either policy)".to_string(),
                "preloads every entry".to_string(),
            ),
            (Strategy::MemFirst, Some(h)) => (
                "logbook MemFirst, snapshot hint".to_string(),
                format!("snapshot_hint {h}: preloads from the segment holding it"),
            ),
        };
        systems.push((name, lb_dir.clone(), open, note));
    }

    let re_dir = fresh_dir(opts, "recover-raft-engine")?;
    eprintln!("  populating raft-engine");
    // Both engines frame each write batch once (a header and a checksum per batch), so the
    // batch size of the writes decides their bytes on disk and their recovery cost; both are
    // written in batches of 256, the largest batch of the write workloads.
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
        // logbook's files include the active segment's preallocated space; its data ends
        // where its last batch does.
        let data = match dir == &lb_dir {
            true => format!(" ({} MiB of data)", lb_data >> 20),
            false => String::new(),
        };
        row.note = format!(
            "{note}; {got} entries; {on_disk} MiB on disk{data}; {} run(s)",
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

/// The bytes logbook's store in `dir` holds: `meta` and each segment up to the end of its
/// last batch (the active segment's preallocated space left out).
fn logbook_data_bytes(dir: &std::path::Path, segment_bytes: u64) -> Res<u64> {
    let limits = logbook::inspect::Limits {
        segment_size_bytes: segment_bytes,
        ..Default::default()
    };
    let st = logbook::inspect::stat(std::sync::Arc::new(logbook::StdFs), dir, &limits)?;
    Ok(st.meta_bytes + st.segments.iter().map(|s| s.data_bytes).sum::<u64>())
}

//! Append workloads: the write matrix and the worst append across segment rotations.

use super::*;

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
            // Unsynced appends outrun the disk: stop at half the raised bound, so that
            // backpressure can never be what the row measures.
            if sync {
                u64::MAX / 2
            } else {
                UNBOUNDED_BACKLOG_BYTES / 2
            },
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

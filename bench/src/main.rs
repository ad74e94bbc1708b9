//! logbook's benchmark of fsync-bound work, against raft-engine 0.4, okaywal 0.3 and a
//! plain `write` + `fdatasync` file.
//!
//! ```text
//! cd bench && cargo run --release -- [--quick | --full] [--dir DIR] [--only GROUPS]
//! ```
//!
//! Progress goes to stderr; stdout gets the machine, the settings and ONE table.

mod diag;
mod machine;
mod peers;
mod pipeline;
mod stats;
mod tier;
mod workloads;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use peers::logbook::BatchParams;
use peers::Res;
use stats::Row;
use workloads::Opts;

const GROUPS: [&str; 7] = [
    "writes", "reads", "truncate", "purge", "recovery", "rotation", "raft",
];

const USAGE: &str = "usage: logbook-bench [--quick | --full] [--dir DIR] [--only GROUP,...]
                     [--batch-threshold N] [--batch-interval-ms MS]
  --quick   a smoke run of well under a minute (small sizes, short rows)
  --full    1 GiB recovery log, 64 MiB rotation segments, longer rows
  --dir     where the logs are written (default: a fresh directory under the system
            temporary directory); it should sit on the filesystem you care about
  --only    run only these groups: writes, reads, truncate, purge, recovery, rotation,
            raft (a 3-node raft-rs cluster, one storage directory per node); truncate
            runs its systems in interleaved rounds after a warm-up;
            `--only diag` runs the diagnostics behind the hotspot report instead (fsyncs
            counted through a wrapping Fs; printed as lines, not in the table), and
            `--only targets` re-measures the fsync-bound targets in interleaved rounds;
            `--only diag-open` (with --dir) reopens one large log for profiling recovery,
            `--only diag-memfirst` times MemFirst appends as the backlog grows to 4 M entries,
            `--only diag-pipeline` keeps 64 appends in flight with blocking writers, one
            thread's callbacks or one AsyncStore task,
            `--only tier` measures the archive tier (archived-entry reads, local disk use)
  --batch-threshold, --batch-interval-ms
            the FlushPolicy::Batch of logbook's Batch rows (default 64 entries, 1 ms)";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let mut quick = false;
    let mut full = false;
    let mut dir: Option<PathBuf> = None;
    let mut only: Vec<String> = GROUPS.iter().map(|s| s.to_string()).collect();
    let mut batch = BatchParams {
        threshold: 64,
        interval_ms: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => quick = true,
            "--full" => full = true,
            "--dir" => dir = Some(PathBuf::from(value("--dir")?)),
            "--only" => {
                only = value("--only")?.split(',').map(str::to_string).collect();
                if let Some(bad) = only.iter().find(|g| {
                    !GROUPS.contains(&g.as_str())
                        && ![
                            "diag",
                            "targets",
                            "diag-open",
                            "diag-memfirst",
                            "diag-pipeline",
                            "tier",
                        ]
                        .contains(&g.as_str())
                }) {
                    return Err(format!("unknown group {bad}\n{USAGE}").into());
                }
            }
            "--batch-threshold" => batch.threshold = value("--batch-threshold")?.parse()?,
            "--batch-interval-ms" => batch.interval_ms = value("--batch-interval-ms")?.parse()?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    if quick && full {
        return Err("--quick and --full exclude each other".into());
    }
    let (root, temp) = match dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("logbook-bench-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&root)?;
    let mib = |n: u64| n << 20;
    let opts = if quick {
        Opts {
            dir: root.clone(),
            row_time: Duration::from_millis(250),
            row_bytes_max: mib(32),
            batch,
            segment_bytes: mib(64),
            rot_segment_bytes: mib(4),
            rotations: 2,
            read_entries: 200_000,
            recovery_payload_bytes: mib(32),
            cold_runs: 1,
            warm_runs: 1,
            purge_segment_bytes: mib(1),
            purge_segments: 8,
            truncate_ops: 50,
            raft_rounds: 1,
        }
    } else if full {
        Opts {
            dir: root.clone(),
            row_time: Duration::from_secs(2),
            row_bytes_max: mib(1024),
            batch,
            segment_bytes: mib(64),
            rot_segment_bytes: mib(64),
            rotations: 4,
            read_entries: 2_000_000,
            recovery_payload_bytes: mib(1024),
            cold_runs: 2,
            warm_runs: 3,
            purge_segment_bytes: mib(1),
            purge_segments: 64,
            truncate_ops: 500,
            raft_rounds: 5,
        }
    } else {
        Opts {
            dir: root.clone(),
            row_time: Duration::from_secs(1),
            row_bytes_max: mib(256),
            batch,
            segment_bytes: mib(64),
            rot_segment_bytes: mib(16),
            rotations: 4,
            read_entries: 1_000_000,
            recovery_payload_bytes: mib(256),
            cold_runs: 2,
            warm_runs: 3,
            purge_segment_bytes: mib(1),
            purge_segments: 32,
            truncate_ops: 200,
            raft_rounds: 3,
        }
    };

    if only.iter().any(|g| g == "tier") {
        tier::tier(&opts)?;
        if temp {
            let _ = std::fs::remove_dir_all(&root);
        }
        return Ok(());
    }
    if only.iter().any(|g| g.starts_with("diag") || g == "targets") {
        std::fs::create_dir_all(&root)?;
        println!(
            "load average at start: {}; fdatasync probe: {}",
            machine::loadavg(),
            machine::fsync_probe(&root)
        );
        if only.iter().any(|g| g == "targets") {
            diag::targets(&opts)?;
        }
        if only.iter().any(|g| g == "diag-memfirst") {
            diag::memfirst_backlog(&opts)?;
        }
        if only.iter().any(|g| g == "diag-pipeline") {
            pipeline::pipeline(&opts)?;
        }
        if only.iter().any(|g| g == "diag-open") {
            diag::open_profile(&opts)?;
        }
        if only.iter().any(|g| g == "diag") {
            diag::single_writer(&opts)?;
            diag::group_commit(&opts)?;
            diag::memfirst_backlog(&opts)?;
            diag::rotation(&opts)?;
        }
        println!(
            "load average at end: {}; fdatasync probe: {}",
            machine::loadavg(),
            machine::fsync_probe(&root)
        );
        if temp {
            let _ = std::fs::remove_dir_all(&root);
        }
        return Ok(());
    }
    let load_before = machine::loadavg();
    let probe_before = machine::fsync_probe(&root);
    let machine_lines = machine::describe(&root);
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut emit = |r: Row| {
        eprintln!(
            "  {:<48} {:<34} {:>10} {}",
            r.workload,
            r.system,
            r.rate.map_or("-".into(), stats::fmt_rate),
            r.lat.map_or(String::new(), |l| format!(
                "p50 {} p99 {} max {}",
                stats::fmt_ns(l.p50_ns),
                stats::fmt_ns(l.p99_ns),
                stats::fmt_ns(l.max_ns)
            ))
        );
        rows.push(r);
    };
    for group in GROUPS.iter().filter(|g| only.iter().any(|o| o == *g)) {
        eprintln!("== {group}");
        match *group {
            "writes" => workloads::writes(&opts, &mut emit)?,
            "reads" => workloads::reads(&opts, &mut emit)?,
            "truncate" => workloads::truncate(&opts, &mut emit)?,
            "purge" => workloads::purge(&opts, &mut emit)?,
            "recovery" => workloads::recovery(&opts, &mut emit)?,
            "rotation" => workloads::rotation(&opts, &mut emit)?,
            "raft" => workloads::raft(&opts, &mut emit)?,
            _ => unreachable!(),
        }
    }
    let elapsed = started.elapsed();
    let load_after = machine::loadavg();
    let probe_after = machine::fsync_probe(&root);
    if temp {
        let _ = std::fs::remove_dir_all(&root);
    }
    stats::fill_ratios(&mut rows, workloads::RAFT_ENGINE, "floor: append");

    let cmd: Vec<String> = std::env::args().collect();
    println!("# logbook benchmark");
    println!();
    for l in machine_lines {
        println!("- {l}");
    }
    println!("- load average (1, 5, 15 min): {load_before} at start, {load_after} at end");
    println!(
        "- fdatasync probe (200 x 100 B appends): {probe_before} at start, {probe_after} at end"
    );
    println!(
        "- command: {} ({} run, {:.0} s)",
        cmd.join(" "),
        if quick {
            "quick"
        } else if full {
            "full"
        } else {
            "default"
        },
        elapsed.as_secs_f64()
    );
    println!(
        "- logbook Batch rows: FlushPolicy::Batch {{ threshold: {}, interval_ms: {} }}; segments {} MiB",
        batch.threshold,
        batch.interval_ms,
        opts.segment_bytes >> 20
    );
    match machine::drop_caches() {
        Ok(()) => {
            println!("- cold runs: page cache dropped with echo 3 > /proc/sys/vm/drop_caches")
        }
        Err(e) => println!("- cold runs NOT possible: {e}"),
    }
    println!(
        "- latencies are per operation (one append call of the batch, one read, one open); \
         entries/s counts entries (reads) over the row's wall time"
    );
    println!(
        "- ratios on logbook rows: `thr` = logbook entries/s / peer entries/s (above 1: logbook \
         faster); `p50` = logbook p50 / peer p50 (below 1: logbook faster)"
    );
    if only.iter().any(|g| g == "raft") {
        println!(
            "- raft rows: entries/s = committed proposals per second ({} interleaved round(s) of \
             {:.2} s per system, summed); p50/p99/max = commit latency, from `propose` on the \
             leader to the leader seeing the entry committed",
            opts.raft_rounds,
            opts.row_time.as_secs_f64()
        );
    }
    println!();
    print!("{}", stats::table(&rows));
    Ok(())
}

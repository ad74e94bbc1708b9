//! Real crashes: run `logbook-crashee` on a real directory, SIGKILL it after a seeded random
//! delay (a few to tens of milliseconds, so kills land in appends, fsyncs, segment
//! rotations, truncations, purges and hard-state saves, and sometimes in the open and
//! recovery itself), reopen the store here, and check it against everything the crashee
//! printed (see `logbook_tests::checker` for the exact rules). Then restart the crashee on
//! the same directory, which continues from the recovered state, and kill it again.
//!
//! Every scenario (DiskFirst and MemFirst, each with the `Immediate` and `Batch` policies)
//! runs on its own thread, on fresh directories of `LOGBOOK_KILL_ROUNDS` kills each.
//!
//! Environment:
//! - `LOGBOOK_KILLS`: total kills across the six scenarios (default 200, about 2 s);
//! - `LOGBOOK_KILL_SEED`: the seed of the kill schedule and of every crashee's workload
//!   (default: from the clock; always printed). Process scheduling is not seeded, so a
//!   seed replays the schedule, not the exact kill points;
//! - `LOGBOOK_KILL_ROUNDS`: kills per directory (default 15).
//!
//! 1,000 kills (about 10 s once built, on a 2-core machine):
//!
//! ```text
//! LOGBOOK_KILLS=1000 cargo test -p logbook-tests --release --test kill9 -- --nocapture
//! ```
//!
//! The engine bugs it found are reduced to deterministic regression tests in
//! `kill9_regressions.rs`.
//!
//! On a failure the directory is kept with the crashee's output (`crashee.out`) and stderr
//! (`crashee.err`) beside the store, and its path is printed with the seeds.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use logbook::{FlushPolicy, Store, Strategy};
use logbook_tests::checker::{check, Snapshot, Stats, Verified};
use logbook_tests::protocol::{parse_output, Line};
use logbook_tests::workload::{policy_arg, store_config, strategy_arg, SEGMENT_SIZE_BYTES};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CRASHEE: &str = env!("CARGO_BIN_EXE_logbook-crashee");

/// Held while this process has a store open and while it spawns a crashee. A child forked
/// by one scenario's thread inherits every descriptor of the test process until it execs,
/// the store's flock-ed `LOCK` file included; without this, a crashee of another scenario
/// may find its directory "locked by another handle" for a moment after we closed it.
static STORE_OR_SPAWN: Mutex<()> = Mutex::new(());

fn store_or_spawn() -> MutexGuard<'static, ()> {
    STORE_OR_SPAWN.lock().unwrap_or_else(|p| p.into_inner())
}
const SIGKILL: i32 = 9;

#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    strategy: Strategy,
    policy: FlushPolicy,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: "disk-first/immediate",
        strategy: Strategy::DiskFirst,
        policy: FlushPolicy::Immediate,
    },
    Scenario {
        name: "disk-first/batch",
        strategy: Strategy::DiskFirst,
        policy: FlushPolicy::Batch {
            threshold: 16,
            interval_ms: 2,
        },
    },
    Scenario {
        name: "mem-first/immediate",
        strategy: Strategy::MemFirst,
        policy: FlushPolicy::Immediate,
    },
    Scenario {
        name: "mem-first/batch",
        strategy: Strategy::MemFirst,
        policy: FlushPolicy::Batch {
            threshold: 32,
            interval_ms: 3,
        },
    },
    Scenario {
        name: "disk-first/adaptive",
        strategy: Strategy::DiskFirst,
        policy: FlushPolicy::Adaptive { delay_max_us: 500 },
    },
    Scenario {
        name: "mem-first/adaptive",
        strategy: Strategy::MemFirst,
        policy: FlushPolicy::Adaptive { delay_max_us: 500 },
    },
];

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

/// What a scenario did.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    kills: u64,
    /// Kills that landed before the crashee printed its `S` line (in open or recovery).
    kills_in_open: u64,
    /// Lines the crashees printed.
    lines: u64,
    /// What the last line before each kill announced (see [`Crash::in_flight`]).
    in_open: u64,
    in_append: u64,
    in_truncate: u64,
    in_purge: u64,
    in_hard_state: u64,
    in_other: u64,
    stats: Stats,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.kills += o.kills;
        self.kills_in_open += o.kills_in_open;
        self.lines += o.lines;
        self.in_open += o.in_open;
        self.in_append += o.in_append;
        self.in_truncate += o.in_truncate;
        self.in_purge += o.in_purge;
        self.in_hard_state += o.in_hard_state;
        self.in_other += o.in_other;
        self.stats.add(&o.stats);
    }
}

/// The delay before the kill: a few to tens of milliseconds, skewed short.
fn kill_delay(rng: &mut ChaCha8Rng) -> Duration {
    let us = match rng.gen_range(0..10) {
        0..=1 => rng.gen_range(0..3_000),
        2..=6 => rng.gen_range(3_000..20_000),
        _ => rng.gen_range(20_000..60_000),
    };
    Duration::from_micros(us)
}

struct Crash {
    out: Vec<u8>,
    err: Vec<u8>,
    /// Whether the `S` line came before the kill.
    opened: bool,
    status: std::process::ExitStatus,
}

/// Where a kill landed, judged by the last complete line printed: an intent means its
/// operation was running (or about to); an acknowledgement means the kill fell between
/// operations, or in a MemFirst sync, a `durable_index` poll or a flush.
enum InFlight {
    Open,
    Append,
    Truncate,
    Purge,
    HardState,
    Other,
}

impl Crash {
    fn in_flight(&self) -> InFlight {
        let complete = match self.out.iter().rposition(|&b| b == b'\n') {
            Some(end) => &self.out[..end],
            None => return InFlight::Open,
        };
        let last = complete.rsplit(|&b| b == b'\n').next().unwrap_or_default();
        match last.first() {
            Some(b'S') | None => InFlight::Open,
            Some(b'a') => InFlight::Append,
            Some(b't') => InFlight::Truncate,
            Some(b'p') => InFlight::Purge,
            Some(b'h') => InFlight::HardState,
            _ => InFlight::Other,
        }
    }
}

/// Starts the crashee, kills it after `delay` (counted from its `S` line, or from the spawn
/// when `from_spawn`), and collects what it printed.
fn run_and_kill(
    sc: &Scenario,
    dir: &Path,
    crashee_seed: u64,
    delay: Duration,
    from_spawn: bool,
    lie: bool,
) -> Crash {
    let spawning = store_or_spawn();
    let mut cmd = Command::new(CRASHEE);
    cmd.arg(dir)
        .arg(strategy_arg(sc.strategy))
        .arg(policy_arg(sc.policy))
        .arg(crashee_seed.to_string())
        .arg(SEGMENT_SIZE_BYTES.to_string());
    if lie {
        cmd.arg("lie");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logbook-crashee");
    drop(spawning);
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (ready_tx, ready_rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let mut ready = Some(ready_tx);
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if ready.is_some() && out.contains(&b'\n') {
                        let _ = ready.take().expect("some").send(());
                    }
                }
            }
        }
        out
    });
    let err_reader = thread::spawn(move || {
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err);
        err
    });
    if !from_spawn {
        // A crashee that dies before printing disconnects the channel: kill (a no-op) now.
        let _ = ready_rx.recv_timeout(Duration::from_secs(20));
    }
    thread::sleep(delay);
    let _ = child.kill(); // SIGKILL on Unix
    let status = child.wait().expect("wait for logbook-crashee");
    let out = reader.join().expect("stdout reader");
    let err = err_reader.join().expect("stderr reader");
    let opened = out.starts_with(b"S ");
    Crash {
        out,
        err,
        opened,
        status,
    }
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `rounds` kills on one fresh directory. On a failure the directory is kept.
fn run_dir(sc: &Scenario, seed: u64, dir_no: u64, rounds: u64, rng: &mut ChaCha8Rng) -> Tally {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("logbook-kill9-{}-", sc.name.replace('/', "-")))
        .tempdir()
        .expect("tempdir");
    let dir = tmp.path().join("store");
    let mut tally = Tally::default();
    let mut start = Verified::default();
    for round in 0..rounds {
        let crashee_seed: u64 = rng.gen();
        // Now and then count from the spawn, with a short delay, to land in open/recovery.
        let from_spawn = rng.gen_ratio(1, 8);
        let delay = if from_spawn {
            Duration::from_micros(rng.gen_range(0..8_000))
        } else {
            kill_delay(rng)
        };
        let crash = run_and_kill(sc, &dir, crashee_seed, delay, from_spawn, false);
        match check_round(sc, &dir, &start, &crash) {
            Ok((next, lines, stats)) => {
                tally.kills += 1;
                tally.kills_in_open += u64::from(!crash.opened);
                tally.lines += lines;
                match crash.in_flight() {
                    InFlight::Open => tally.in_open += 1,
                    InFlight::Append => tally.in_append += 1,
                    InFlight::Truncate => tally.in_truncate += 1,
                    InFlight::Purge => tally.in_purge += 1,
                    InFlight::HardState => tally.in_hard_state += 1,
                    InFlight::Other => tally.in_other += 1,
                }
                tally.stats.add(&stats);
                start = next;
            }
            Err(what) => {
                let kept = tmp.keep();
                let _ = std::fs::write(kept.join("crashee.out"), &crash.out);
                let _ = std::fs::write(kept.join("crashee.err"), &crash.err);
                panic!(
                    "{what}\nscenario {} seed {seed}: directory #{dir_no}, round {round}, \
                     crashee seed {crashee_seed}, kill after {delay:?} from {}\n\
                     kept: {}/store (the crashee's output is in crashee.out beside it)\n\
                     last lines printed:\n{}\nstderr:\n{}",
                    sc.name,
                    if from_spawn { "spawn" } else { "open" },
                    kept.display(),
                    tail(&crash.out, 15),
                    tail(&crash.err, 15)
                );
            }
        }
    }
    tally
}

/// Reopens the store after a kill and checks it; returns the verified state, the number of
/// lines the crashee printed and what the check covered.
fn check_round(
    sc: &Scenario,
    dir: &Path,
    start: &Verified,
    crash: &Crash,
) -> Result<(Verified, u64, Stats), String> {
    if crash.status.signal() != Some(SIGKILL) {
        return Err(format!(
            "the crashee ended by itself ({}) instead of being killed",
            crash.status
        ));
    }
    let lines = parse_output(&crash.out).map_err(|e| format!("unreadable crashee output: {e}"))?;
    if let Some(Line::Error(e)) = lines.last() {
        return Err(format!("the crashee's store failed: {e}"));
    }
    let cfg = store_config(sc.strategy, sc.policy, SEGMENT_SIZE_BYTES);
    let _open = store_or_spawn();
    let store = Store::open(dir, cfg).map_err(|e| format!("recovery after SIGKILL failed: {e}"))?;
    let snap =
        Snapshot::read(&store).map_err(|e| format!("reading the recovered store failed: {e}"))?;
    let report = check(start, &lines, &snap);
    if !report.ok() {
        return Err(format!(
            "{} violation(s) after SIGKILL:\n  {}",
            report.violations.len(),
            report.violations.join("\n  ")
        ));
    }
    store
        .close()
        .map_err(|e| format!("closing the recovered store failed: {e}"))?;
    Ok((snap.verified(), lines.len() as u64, report.stats))
}

fn run_scenario(sc: &Scenario, seed: u64, index: u64, kills: u64, rounds_per_dir: u64) -> Tally {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut tally = Tally::default();
    let mut dir_no = 0;
    while tally.kills < kills {
        let rounds = rounds_per_dir.min(kills - tally.kills);
        let t = run_dir(sc, seed, dir_no, rounds, &mut rng);
        tally.add(&t);
        dir_no += 1;
    }
    tally
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let kills_total = env_u64("LOGBOOK_KILLS").unwrap_or(200);
    let rounds_per_dir = env_u64("LOGBOOK_KILL_ROUNDS").unwrap_or(15).max(1);
    let seed = env_u64("LOGBOOK_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    println!(
        "kill9: seed {seed} ({kills_total} kills; replay the schedule with \
         LOGBOOK_KILL_SEED={seed} LOGBOOK_KILLS={kills_total})"
    );
    let started = Instant::now();
    let n = SCENARIOS.len() as u64;
    let tallies: Vec<(Scenario, Tally)> = thread::scope(|s| {
        let handles: Vec<_> = SCENARIOS
            .iter()
            .enumerate()
            .map(|(i, sc)| {
                let i = i as u64;
                let kills = kills_total / n + u64::from(i < kills_total % n);
                s.spawn(move || (*sc, run_scenario(sc, seed, i, kills, rounds_per_dir)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut total = Tally::default();
    for (sc, t) in &tallies {
        println!(
            "kill9: {:<22} {:>4} kills (before or in open {}, in append {}, truncate {}, \
             purge {}, hard state {}, between operations {}), {} entries / {} bytes verified, \
             {} acked entries ({} still required), truncations {}/{} acked, purges {}/{} acked, \
             {} rounds recovered past the last ack",
            sc.name,
            t.kills,
            t.kills_in_open + t.in_open,
            t.in_append,
            t.in_truncate,
            t.in_purge,
            t.in_hard_state,
            t.in_other,
            t.stats.entries_verified,
            t.stats.bytes_verified,
            t.stats.acked_entries,
            t.stats.acked_entries_required,
            t.stats.truncations_acked,
            t.stats.truncations_attempted,
            t.stats.purges_acked,
            t.stats.purges_attempted,
            t.stats.recovered_beyond_ack,
        );
        total.add(t);
    }
    let s = total.stats;
    println!(
        "kill9 summary: seed {seed}: {} kills in {:.1?}; {} entries ({} bytes) verified after \
         recovery; {} acknowledged entries checked ({} required present); {} durable-prefix \
         entries; truncations observed {} ({} acknowledged); purges observed {} ({} \
         acknowledged); {} hard states acknowledged ({} recovered from a save in flight); \
         {} boundaries recovered from an unacknowledged purge",
        total.kills,
        started.elapsed(),
        s.entries_verified,
        s.bytes_verified,
        s.acked_entries,
        s.acked_entries_required,
        s.durable_prefix_entries,
        s.truncations_attempted,
        s.truncations_acked,
        s.purges_attempted,
        s.purges_acked,
        s.hard_states_acked,
        s.in_flight_hard_state,
        s.unacked_boundary,
    );
    println!(
        "kill9 summary: kills landed before or in open {}, in append {}, truncate {}, purge {}, \
         hard-state save {}, between operations {}",
        total.kills_in_open + total.in_open,
        total.in_append,
        total.in_truncate,
        total.in_purge,
        total.in_hard_state,
        total.in_other
    );
    assert!(total.kills >= kills_total);
    assert!(
        s.entries_verified > 0 && s.acked_entries > 0,
        "the crashees did nothing before being killed: the test tested nothing"
    );
}

/// The whole pipeline can fail: a crashee that acknowledges MemFirst appends as soon as they
/// are in memory (`lie`) must be caught within a few kills. The flush policy waits 50 ms or
/// 1000 entries, so most acknowledged entries are still only in memory at the kill.
#[test]
fn a_crashee_that_acknowledges_before_durable_is_caught() {
    let sc = Scenario {
        name: "mem-first/lying",
        strategy: Strategy::MemFirst,
        policy: FlushPolicy::Batch {
            threshold: 1000,
            interval_ms: 50,
        },
    };
    let seed = env_u64("LOGBOOK_KILL_SEED").unwrap_or(7);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("store");
    let mut start = Verified::default();
    for round in 0..40 {
        let delay = Duration::from_millis(rng.gen_range(5..40));
        let crash = run_and_kill(&sc, &dir, rng.gen(), delay, false, true);
        match check_round(&sc, &dir, &start, &crash) {
            Ok((next, _, _)) => start = next,
            Err(what) => {
                assert!(
                    what.contains("acknowledged entry lost") || what.contains("durable prefix"),
                    "the lie was caught for the wrong reason: {what}"
                );
                println!("kill9: the lying crashee was caught at kill {round}: {what}");
                return;
            }
        }
    }
    panic!("40 kills of a crashee that acknowledges before durable went unnoticed: the checker is blind");
}

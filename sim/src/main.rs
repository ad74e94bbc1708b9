//! The `logbook-sim` command line: `swarm`, `run`, `shrink` and `cluster`.
//!
//! Exit codes: 0 all passed; 1 invariant violation; 2 engine panic; 3 determinism broken;
//! 4 expected violation not seen; 64 bad arguments or scenario.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use logbook::Canary;
use logbook_sim::report;
use logbook_sim::run::RunSpec;
use logbook_sim::scenario::{Expect, Scenario};
use logbook_sim::shrink;
use logbook_sim::swarm::{self, FailureClass, SwarmOptions};

const EXIT_USAGE: u8 = 64;

#[derive(Parser)]
#[command(
    name = "logbook-sim",
    about = "Deterministic crash simulation of the logbook Raft log engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run many seeds over every scenario (the main job).
    Swarm {
        /// The scenario directory.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
        /// Only these scenario files (repeatable).
        #[arg(long = "scenario")]
        only: Vec<PathBuf>,
        /// Seeds per scenario.
        #[arg(long, default_value_t = 200)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Worker threads (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run shard i of n (`i/n`, 0-based) so CI can split seeds across machines.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        /// Write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Run every seed twice and compare trace digests.
        #[arg(long)]
        check_determinism: bool,
        /// Turn on a canary (a deliberate bug; needs the `canary` feature).
        #[arg(long = "canary", value_parser = parse_canary)]
        canaries: Vec<Canary>,
    },
    /// Run one scenario with one seed.
    Run {
        #[arg(long)]
        scenario: PathBuf,
        #[arg(long)]
        seed: u64,
        /// Write every Fs call, fault, op and check here.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Run this schedule (from `shrink`) instead of the seed's own.
        #[arg(long)]
        schedule: Option<PathBuf>,
        #[arg(long = "canary", value_parser = parse_canary)]
        canaries: Vec<Canary>,
        #[arg(long)]
        check_determinism: bool,
    },
    /// A raft-rs cluster on logbook under network and disk faults (`cluster-*.toml`).
    Cluster(logbook_sim::cluster::ClusterArgs),
    /// Reduce a failing seed to a minimal failing schedule and print its replay command.
    Shrink {
        #[arg(long)]
        scenario: PathBuf,
        #[arg(long)]
        seed: u64,
        #[arg(long = "canary", value_parser = parse_canary)]
        canaries: Vec<Canary>,
        /// Where to write the shrunk schedule.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected i/n, e.g. 0/4")?;
    let (i, n): (u64, u64) = (
        i.parse().map_err(|_| "i is not a number")?,
        n.parse().map_err(|_| "n is not a number")?,
    );
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= i < n"));
    }
    Ok((i, n))
}

fn parse_canary(s: &str) -> Result<Canary, String> {
    if !cfg!(feature = "canary") {
        return Err("canaries need a build with `--features canary` (cargo run -p logbook-sim --features canary -- ...)".into());
    }
    Canary::from_name(s).ok_or_else(|| {
        format!(
            "unknown canary `{s}`; one of: {}",
            Canary::ALL
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(EXIT_USAGE)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Panics are captured per seed and reported as a failure class; keep stderr readable.
    std::panic::set_hook(Box::new(|_| {}));
    match cli.command {
        Command::Cluster(args) => logbook_sim::cluster::run_cli(args),
        Command::Swarm {
            scenarios,
            only,
            seeds,
            from,
            jobs,
            shard,
            junit,
            check_determinism,
            canaries,
        } => {
            let loaded = if only.is_empty() {
                Scenario::load_dir(&scenarios).map_err(|e| vec![e])
            } else {
                only.iter()
                    .map(|p| Scenario::load(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| vec![e])
            };
            let list = match loaded {
                Ok(l) if l.is_empty() => {
                    return usage_error(format!("no scenarios in {}", scenarios.display()))
                }
                Ok(l) => l,
                Err(errs) => return usage_error(&errs[0]),
            };
            let opts = SwarmOptions {
                seeds,
                from,
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                shard: shard.unwrap_or((0, 1)),
                check_determinism,
                canaries: canaries.clone(),
                stop_at_first: false,
            };
            let total = list.len() as u64 * opts.seeds().count() as u64;
            let bar = std::io::stderr().is_terminal().then(|| {
                let b = indicatif::ProgressBar::new(total);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} seeds {per_sec} eta {eta}",
                    )
                    .expect("template"),
                );
                b
            });
            // Wall time is read here only, for the seeds/s figure of the summary.
            let started = std::time::Instant::now();
            let sums = swarm::swarm(&list, &opts, &|n| {
                if let Some(b) = &bar {
                    b.inc(n)
                }
            });
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            print!(
                "{}",
                report::summary_table(&sums, started.elapsed().as_secs_f64())
            );
            if let Some(path) = junit {
                if let Err(e) = std::fs::write(&path, report::junit(&sums, &canaries)) {
                    return usage_error(format!("cannot write {}: {e}", path.display()));
                }
            }
            let mut worst: Option<FailureClass> = None;
            for s in &sums {
                for f in s.verdict() {
                    println!("{}", report::failure_line(s, &f, &canaries));
                    worst = Some(worst.map_or(f.class, |w| w.min(f.class)));
                }
            }
            match worst {
                None => ExitCode::SUCCESS,
                Some(c) => ExitCode::from(c.exit_code() as u8),
            }
        }
        Command::Run {
            scenario,
            seed,
            trace,
            schedule,
            canaries,
            check_determinism,
        } => {
            let sc = match Scenario::load(&scenario) {
                Ok(s) => s,
                Err(e) => return usage_error(e),
            };
            let mut spec = RunSpec::new(sc, seed);
            spec.record_trace = trace.is_some();
            spec.canaries = canaries.iter().fold(Default::default(), |s, c| s.with(*c));
            if let Some(path) = &schedule {
                let text = match std::fs::read_to_string(path) {
                    Ok(t) => t,
                    Err(e) => return usage_error(format!("{}: {e}", path.display())),
                };
                match shrink::parse_schedule(&text) {
                    Ok((ops, disabled)) => {
                        spec.schedule = Some(ops);
                        spec.disabled_faults = disabled;
                    }
                    Err(e) => return usage_error(format!("{}: {e}", path.display())),
                }
            }
            let outcome = swarm::run_seed(&spec, check_determinism);
            let result = std::panic::catch_unwind(|| logbook_sim::run::run(&spec)).ok();
            if let (Some(path), Some(r)) = (&trace, &result) {
                if let Err(e) = std::fs::write(path, r.trace.join("\n") + "\n") {
                    return usage_error(format!("cannot write {}: {e}", path.display()));
                }
                println!("trace: {} ({} lines)", path.display(), r.trace.len());
            }
            let s = outcome.stats;
            println!("scenario {} seed {}: {} ops, {} crashes, {} recoveries, {} checks, {} faults, digest {:016x}",
                spec.scenario.name, seed, s.ops, s.crashes, s.recoveries, s.checks, s.faults.faults(), result.as_ref().map_or(0, |r| r.digest));
            let expect_violation = spec.scenario.spec.expect == Expect::Violation;
            match (outcome.failure, outcome.violated, expect_violation) {
                (Some(f), _, _) => {
                    println!("FAIL [{}]: {}", f.class.name(), f.detail);
                    ExitCode::from(f.class.exit_code() as u8)
                }
                (None, true, true) => {
                    println!(
                        "violation found, as this out-of-contract scenario expects: {}",
                        result
                            .and_then(|r| r.failure)
                            .map_or(String::new(), |f| f.violation.to_string())
                    );
                    ExitCode::SUCCESS
                }
                (None, false, true) => {
                    println!(
                        "FAIL [{}]: no violation on this seed",
                        FailureClass::ExpectedViolationMissing.name()
                    );
                    ExitCode::from(FailureClass::ExpectedViolationMissing.exit_code() as u8)
                }
                (None, _, false) => {
                    println!("ok");
                    ExitCode::SUCCESS
                }
            }
        }
        Command::Shrink {
            scenario,
            seed,
            canaries,
            out,
        } => {
            let sc = match Scenario::load(&scenario) {
                Ok(s) => s,
                Err(e) => return usage_error(e),
            };
            let mut spec = RunSpec::new(sc, seed);
            spec.canaries = canaries.iter().fold(Default::default(), |s, c| s.with(*c));
            let Some(shrunk) = shrink::shrink(&spec) else {
                println!("seed {seed} does not fail: nothing to shrink");
                return ExitCode::SUCCESS;
            };
            let path = out.unwrap_or_else(|| PathBuf::from(format!("schedule-{seed}.txt")));
            if let Err(e) = std::fs::write(&path, shrink::schedule_text(&shrunk.spec)) {
                return usage_error(format!("cannot write {}: {e}", path.display()));
            }
            println!(
                "shrunk {} ops to {} (and {} fault kinds off) in {} runs: {}",
                shrunk.ops_before,
                shrunk.spec.schedule.as_ref().map_or(0, Vec::len),
                shrunk.spec.disabled_faults.len(),
                shrunk.runs,
                shrunk.failure.violation
            );
            let mut cmd = report::replay_command(&scenario.display().to_string(), seed, &canaries);
            cmd.push_str(&format!(" --schedule {}", path.display()));
            println!("replay: {cmd}");
            ExitCode::from(FailureClass::Violation.exit_code() as u8)
        }
    }
}

//! `logbook-sim cluster`: the cluster swarm (default), one seed (`--seed`), a shrink
//! (`--shrink --seed`), the consistency table (`--report`). Exit codes as the swarm's: 0
//! passed, 1 check failed, 2 panic, 3 determinism broken, 4 expected violation not seen, 64
//! bad arguments or scenario.

use std::path::PathBuf;
use std::process::ExitCode;

use super::report;
use super::shrink::{scenario_toml, shrink};
use super::swarm::{run_seed, swarm};
use super::{ClusterScenario, RunSpec};
use crate::scenario::Expect;
use crate::swarm::FailureClass;

const EXIT_USAGE: u8 = 64;

/// The options of `logbook-sim cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// The scenario directory (its `cluster-*.toml` files).
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
    /// Only these scenario files (repeatable).
    #[arg(long = "scenario")]
    only: Vec<PathBuf>,
    /// Seeds per scenario.
    #[arg(long, default_value_t = 50)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Run every seed twice and compare trace digests.
    #[arg(long)]
    check_determinism: bool,
    /// Print the "Consistency Guarantees" table (Markdown) measured by this swarm.
    #[arg(long)]
    report: bool,
    /// Run only this seed (with one `--scenario`).
    #[arg(long)]
    seed: Option<u64>,
    /// With `--seed`: write the trace here.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// With `--seed`: write the run's picture (one self-contained HTML page) here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// With `--seed`: shrink the failure and write the shrunk scenario.
    #[arg(long)]
    shrink: bool,
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// Runs the subcommand.
pub fn run_cli(a: ClusterArgs) -> ExitCode {
    let loaded = if a.only.is_empty() {
        ClusterScenario::load_dir(&a.scenarios)
    } else {
        a.only.iter().map(|p| ClusterScenario::load(p)).collect()
    };
    let list = match loaded {
        Ok(l) if l.is_empty() => return usage_error("no cluster scenarios (cluster-*.toml)"),
        Ok(l) => l,
        Err(e) => return usage_error(e),
    };
    match a.seed {
        Some(seed) if list.len() == 1 => {
            let spec = RunSpec::new(list[0].clone(), seed);
            match a.shrink {
                true => shrink_one(&spec),
                false => run_one(spec, a.trace, a.html, a.check_determinism),
            }
        }
        Some(_) => usage_error("--seed needs exactly one --scenario"),
        None if a.shrink || a.trace.is_some() || a.html.is_some() => {
            usage_error("--shrink, --trace and --html need --seed")
        }
        None => run_swarm(&a, &list),
    }
}

fn run_one(
    mut spec: RunSpec,
    trace: Option<PathBuf>,
    html: Option<PathBuf>,
    determinism: bool,
) -> ExitCode {
    spec.record_trace = trace.is_some() || html.is_some();
    let outcome = run_seed(&spec, determinism);
    let result = std::panic::catch_unwind(|| super::run(&spec)).ok();
    if let (Some(path), Some(r)) = (&trace, &result) {
        if let Err(e) = std::fs::write(path, r.trace.join("\n") + "\n") {
            return usage_error(format!("cannot write {}: {e}", path.display()));
        }
        println!("trace: {} ({} lines)", path.display(), r.trace.len());
    }
    if let (Some(path), Some(r)) = (&html, &result) {
        if let Err(e) = std::fs::write(path, super::picture::page(&spec, r)) {
            return usage_error(format!("cannot write {}: {e}", path.display()));
        }
        println!("picture: {}", path.display());
    }
    let s = &outcome.stats;
    println!(
        "scenario {} seed {}: {} events, {} crashes, {} leaders, {} commits, {} ops ({} unknown), {} checks, digest {:016x}",
        spec.scenario.name, spec.seed, s.events, s.crashes, s.elections, s.committed, s.ops_ok,
        s.ops_unknown, s.checks, result.as_ref().map_or(0, |r| r.digest)
    );
    let expect_violation = spec.scenario.spec.expect == Expect::Violation;
    match (outcome.failure, outcome.violation, expect_violation) {
        (Some(f), _, _) => {
            println!("FAIL [{}]: {}", f.class.name(), f.detail);
            ExitCode::from(f.class.exit_code() as u8)
        }
        (None, Some(v), true) => {
            println!("violation found, as this scenario expects: {v}");
            ExitCode::SUCCESS
        }
        (None, None, true) => {
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

fn shrink_one(spec: &RunSpec) -> ExitCode {
    let Some(s) = shrink(spec) else {
        println!("seed {} does not fail: nothing to shrink", spec.seed);
        return ExitCode::SUCCESS;
    };
    let path = PathBuf::from(format!("cluster-shrunk-{}.toml", spec.seed));
    let text = scenario_toml(&s.spec.scenario, s.spec.disk_faults);
    if let Err(e) = std::fs::write(&path, text) {
        return usage_error(format!("cannot write {}: {e}", path.display()));
    }
    println!(
        "shrunk in {} runs (off: {}; {} chaos faults kept, {} skipped): {}",
        s.runs,
        if s.removed.is_empty() {
            "nothing".into()
        } else {
            s.removed.join(", ")
        },
        s.faults_kept,
        s.spec.scenario.spec.skip_faults.len(),
        s.violation
    );
    println!(
        "replay: {}",
        report::replay_command(&path.display().to_string(), spec.seed)
    );
    ExitCode::from(FailureClass::Violation.exit_code() as u8)
}

fn run_swarm(a: &ClusterArgs, list: &[ClusterScenario]) -> ExitCode {
    let seeds: Vec<u64> = (a.from..a.from.saturating_add(a.seeds)).collect();
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Wall time is read here only, for the seeds/s figure of the summary.
    let started = std::time::Instant::now();
    let sums = swarm(list, &seeds, jobs, a.check_determinism, &|| {});
    print!(
        "{}",
        report::summary_table(&sums, started.elapsed().as_secs_f64())
    );
    if a.report {
        println!("\n{}", report::consistency_table(&sums));
    }
    if let Some(path) = &a.junit {
        if let Err(e) = std::fs::write(path, report::junit(&sums)) {
            return usage_error(format!("cannot write {}: {e}", path.display()));
        }
    }
    let mut worst: Option<FailureClass> = None;
    for s in &sums {
        for f in s.verdict() {
            println!("{}", report::failure_line(s, &f));
            worst = Some(worst.map_or(f.class, |w| w.min(f.class)));
        }
    }
    match worst {
        None => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.exit_code() as u8),
    }
}

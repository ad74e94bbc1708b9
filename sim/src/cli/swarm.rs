//! `logbook-sim swarm`: many seeds over every scenario, in parallel (the main job).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use logbook::Canary;
use logbook_sim::report;
use logbook_sim::scenario::Scenario;
use logbook_sim::swarm::{self, FailureClass, SwarmOptions};

use super::usage_error;

/// Run many seeds over every scenario (the main job).
#[derive(clap::Args)]
pub struct SwarmArgs {
    /// The scenario directory.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Only these scenario files (repeatable).
    #[arg(long = "scenario")]
    pub only: Vec<PathBuf>,
    /// Seeds per scenario.
    #[arg(long, default_value_t = 200)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run shard i of n (`i/n`, 0-based) so CI can split seeds across machines.
    #[arg(long, value_parser = super::parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Run every seed twice and compare trace digests.
    #[arg(long)]
    pub check_determinism: bool,
    /// Turn on a canary (a deliberate bug; needs the `canary` feature).
    #[arg(long = "canary", value_parser = super::parse_canary)]
    pub canaries: Vec<Canary>,
}

impl SwarmArgs {
    /// Runs the swarm; exits with the worst failure class (0 if none).
    pub fn exec(self) -> ExitCode {
        let list = match self.scenarios() {
            Ok(list) => list,
            Err(code) => return code,
        };
        let opts = SwarmOptions {
            seeds: self.seeds,
            from: self.from,
            jobs: self
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            shard: self.shard.unwrap_or((0, 1)),
            check_determinism: self.check_determinism,
            canaries: self.canaries.clone(),
            stop_at_first: false,
        };
        let total = list.len() as u64 * opts.seeds().count() as u64;
        let bar = std::io::stderr().is_terminal().then(|| progress_bar(total));
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
        let elapsed_s = started.elapsed().as_secs_f64();
        print!("{}", report::summary_table(&sums, elapsed_s));
        if let Some(path) = &self.junit {
            if let Err(e) = std::fs::write(path, report::junit(&sums, &self.canaries)) {
                return usage_error(format!("cannot write {}: {e}", path.display()));
            }
        }
        let mut worst: Option<FailureClass> = None;
        for s in &sums {
            for f in s.verdict() {
                println!("{}", report::failure_line(s, &f, &self.canaries));
                worst = Some(worst.map_or(f.class, |w| w.min(f.class)));
            }
        }
        match worst {
            None => ExitCode::SUCCESS,
            Some(c) => ExitCode::from(c.exit_code() as u8),
        }
    }

    /// The scenarios to run: the `--scenario` files, or every file of `--scenarios`.
    fn scenarios(&self) -> Result<Vec<Scenario>, ExitCode> {
        let loaded = if self.only.is_empty() {
            Scenario::load_dir(&self.scenarios)
        } else {
            self.only.iter().map(|p| Scenario::load(p)).collect()
        };
        match loaded {
            Ok(l) if l.is_empty() => Err(usage_error(format!(
                "no scenarios in {}",
                self.scenarios.display()
            ))),
            Ok(l) => Ok(l),
            Err(e) => Err(usage_error(e)),
        }
    }
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(total);
    let style =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {per_sec} eta {eta}")
            .expect("template");
    b.set_style(style);
    b
}

//! `logbook-sim run`: one scenario, one seed, with its trace and its picture on request.

use std::path::PathBuf;
use std::process::ExitCode;

use logbook::Canary;
use logbook_sim::report;
use logbook_sim::run::{RunResult, RunSpec};
use logbook_sim::scenario::{Expect, Scenario};
use logbook_sim::shrink;
use logbook_sim::swarm::{self, FailureClass};

use super::usage_error;

/// Run one scenario with one seed.
#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long)]
    pub scenario: PathBuf,
    #[arg(long)]
    pub seed: u64,
    /// Write every Fs call, fault, op and check here.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Write a picture of the run here: one self-contained HTML page with the timeline,
    /// the failing invariant and the expected-versus-recovered difference.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Run this schedule (from `shrink`) instead of the seed's own.
    #[arg(long)]
    pub schedule: Option<PathBuf>,
    #[arg(long = "canary", value_parser = super::parse_canary)]
    pub canaries: Vec<Canary>,
    #[arg(long)]
    pub check_determinism: bool,
}

impl RunArgs {
    /// Runs the seed; exits with its failure class (0 if it passed as its scenario expects).
    pub fn exec(self) -> ExitCode {
        let spec = match self.spec() {
            Ok(spec) => spec,
            Err(code) => return code,
        };
        let outcome = swarm::run_seed(&spec, self.check_determinism);
        let result = std::panic::catch_unwind(|| logbook_sim::run::run(&spec)).ok();
        let s = outcome.stats;
        let counts = format!(
            "{} ops, {} crashes, {} recoveries, {} checks, {} faults",
            s.ops,
            s.crashes,
            s.recoveries,
            s.checks,
            s.faults.faults()
        );
        if let Some(r) = &result {
            if let Err(code) = self.write_outputs(&spec, r, &counts) {
                return code;
            }
        }
        println!(
            "scenario {} seed {}: {counts}, digest {:016x}",
            spec.scenario.name,
            self.seed,
            result.as_ref().map_or(0, |r| r.digest)
        );
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

    /// The run this command asks for: the scenario, the seed, the canaries and, with
    /// `--schedule`, the shrunk schedule instead of the seed's own.
    fn spec(&self) -> Result<RunSpec, ExitCode> {
        let sc = Scenario::load(&self.scenario).map_err(usage_error)?;
        let mut spec = RunSpec::new(sc, self.seed);
        spec.record_trace = self.trace.is_some() || self.html.is_some();
        spec.canaries = self
            .canaries
            .iter()
            .fold(Default::default(), |s, c| s.with(*c));
        if let Some(path) = &self.schedule {
            let bad = |e: &dyn std::fmt::Display| usage_error(format!("{}: {e}", path.display()));
            let text = std::fs::read_to_string(path).map_err(|e| bad(&e))?;
            let (ops, disabled) = shrink::parse_schedule(&text).map_err(|e| bad(&e))?;
            spec.schedule = Some(ops);
            spec.disabled_faults = disabled;
        }
        Ok(spec)
    }

    /// Writes the trace (`--trace`) and the picture (`--html`) of the run `r`.
    fn write_outputs(&self, spec: &RunSpec, r: &RunResult, counts: &str) -> Result<(), ExitCode> {
        let write = |path: &PathBuf, text: String| {
            std::fs::write(path, text)
                .map_err(|e| usage_error(format!("cannot write {}: {e}", path.display())))
        };
        if let Some(path) = &self.trace {
            write(path, r.trace.join("\n") + "\n")?;
            println!("trace: {} ({} lines)", path.display(), r.trace.len());
        }
        if let Some(path) = &self.html {
            let scenario = self.scenario.display().to_string();
            let replay = report::replay_command(&scenario, self.seed, &self.canaries);
            let failure = r.failure.as_ref().map(|f| &f.violation);
            let page = logbook_sim::html::run_page(&logbook_sim::html::RunPage {
                scenario: &spec.scenario.name,
                seed: self.seed,
                replay: &replay,
                counts,
                failure: failure.map(|v| {
                    let i = v.invariant;
                    (i.number(), i.name(), v.message.as_str())
                }),
                trace: &r.trace,
            });
            write(path, page)?;
            println!("picture: {}", path.display());
        }
        Ok(())
    }
}

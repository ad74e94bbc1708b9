//! `logbook-sim shrink`, `lin` and `merge-junit`.

use std::path::PathBuf;
use std::process::ExitCode;

use logbook::Canary;
use logbook_sim::report;
use logbook_sim::run::RunSpec;
use logbook_sim::scenario::Scenario;
use logbook_sim::shrink;
use logbook_sim::swarm::FailureClass;

use super::usage_error;

/// Reduce a failing seed to a minimal failing schedule and print its replay command.
#[derive(clap::Args)]
pub struct ShrinkArgs {
    #[arg(long)]
    pub scenario: PathBuf,
    #[arg(long)]
    pub seed: u64,
    #[arg(long = "canary", value_parser = super::parse_canary)]
    pub canaries: Vec<Canary>,
    /// Where to write the shrunk schedule.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl ShrinkArgs {
    /// Shrinks the seed's failure; exits 1 with the shrunk schedule's replay command, or 0
    /// if the seed does not fail.
    pub fn exec(self) -> ExitCode {
        let ShrinkArgs {
            scenario,
            seed,
            canaries,
            out,
        } = self;
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

/// `logbook-sim lin`: exit 0 if linearizable, 1 if not, 64 if the file cannot be read.
pub fn lin(path: &std::path::Path, html: Option<&std::path::Path>) -> ExitCode {
    use logbook_sim::linearizability::{check, load_jepsen_log, CasRegister};
    let history = match load_jepsen_log(path) {
        Ok(h) => h,
        Err(e) => return usage_error(format!("{}: {e}", path.display())),
    };
    let result = check(&CasRegister, &history);
    let verdict = format!("{}: {} operations: {result}", path.display(), history.len());
    println!("{verdict}");
    if let Some(out) = html {
        let lanes = logbook_sim::html::LaneOp::from_history(&history, &result);
        let title = format!("linearizability of {}", path.display());
        let page =
            logbook_sim::html::lanes_page(&title, &verdict, result.is_not_linearizable(), &lanes);
        if let Err(e) = std::fs::write(out, page) {
            return usage_error(format!("cannot write {}: {e}", out.display()));
        }
        println!("picture: {}", out.display());
    }
    if result.is_linearizable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FailureClass::Violation.exit_code() as u8)
    }
}

/// `logbook-sim merge-junit`: the whole swarm's report and verdict from its shards'.
pub fn merge_junit(out: &std::path::Path, shards: &[PathBuf]) -> ExitCode {
    use logbook_sim::junit;
    let mut parsed = Vec::new();
    for path in shards {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return usage_error(format!("{}: {e}", path.display())),
        };
        match junit::parse(&text) {
            Ok(cases) => parsed.push(cases),
            Err(e) => return usage_error(format!("{}: {e}", path.display())),
        }
    }
    let merged = junit::merge(&parsed);
    if let Err(e) = std::fs::write(out, junit::render(&merged)) {
        return usage_error(format!("cannot write {}: {e}", out.display()));
    }
    let seeds: u64 = merged.iter().map(|c| c.seeds).sum();
    println!(
        "merged {} shards: {} scenarios, {seeds} seeds -> {}",
        shards.len(),
        merged.len(),
        out.display()
    );
    for f in merged.iter().flat_map(|c| &c.failures) {
        println!("{f}");
    }
    match junit::worst(&merged) {
        None => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.exit_code() as u8),
    }
}

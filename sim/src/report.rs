//! The swarm's summary table, failure lines and JUnit report.

use std::fmt::Write as _;

use crate::swarm::{ScenarioSummary, SeedFailure};

/// The one command that replays a failing seed with a full trace.
pub fn replay_command(scenario_path: &str, seed: u64, canaries: &[logbook::Canary]) -> String {
    // A canary exists only in a build with the feature: the command must ask for it.
    let features = if canaries.is_empty() {
        ""
    } else {
        " --features canary"
    };
    let mut cmd = format!(
        "cargo run --release -p logbook-sim{features} -- run --scenario {scenario_path} --seed {seed}"
    );
    for c in canaries {
        cmd.push_str(&format!(" --canary {}", c.name()));
    }
    cmd.push_str(&format!(
        " --trace trace-{seed}.txt --html seed-{seed}.html"
    ));
    cmd
}

/// The per-scenario summary table. `elapsed_s` (wall time, for seeds/s only) is measured by
/// the CLI; nothing in a run depends on it.
pub fn summary_table(sums: &[ScenarioSummary], elapsed_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:>6} {:>8} {:>7} {:>7} {:>8} {:>8} {:>7} {:>6} {:>5}",
        "scenario",
        "seeds",
        "ops",
        "crashes",
        "recov",
        "checks",
        "faults",
        "corrupt",
        "fail",
        "flag"
    );
    let total_seeds: u64 = sums.iter().map(|s| s.seeds_run).sum();
    for s in sums {
        scenario_rows(&mut out, s);
    }
    let _ = writeln!(
        out,
        "{total_seeds} seeds in {elapsed_s:.1} s: {:.0} seeds/s",
        total_seeds as f64 / elapsed_s.max(1e-9)
    );
    out
}

/// One scenario's rows of the summary table: its counts, its faults by kind and, for an
/// out-of-contract scenario, the seeds that caught it.
fn scenario_rows(out: &mut String, s: &ScenarioSummary) {
    let fails = s.verdict().len();
    let flag = if s.faults_never_fired() {
        "NO-FAULTS"
    } else if s.scenario.spec.expect == crate::scenario::Expect::Violation {
        "expect"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{:<26} {:>6} {:>8} {:>7} {:>7} {:>8} {:>8} {:>7} {:>6} {:>5}",
        s.scenario.name,
        s.seeds_run,
        s.stats.ops,
        s.stats.crashes,
        s.stats.recoveries,
        s.stats.checks,
        s.stats.faults.faults(),
        s.stats.corruption_reported,
        fails,
        flag
    );
    let kinds: Vec<String> = s
        .stats
        .faults
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    let _ = writeln!(
        out,
        "    faults: {}",
        if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.join(" ")
        }
    );
    if s.stats.paced_syncs > 0 {
        // The adaptive flush policy's waiting path ran (its scenarios show it fires).
        let _ = writeln!(out, "    paced syncs: {}", s.stats.paced_syncs);
    }
    if s.stats.cold_reads > 0 {
        // Entries a snapshot-hinted open left on disk were read (its scenarios show it).
        let _ = writeln!(out, "    cold reads: {}", s.stats.cold_reads);
    }
    if s.scenario.spec.archive.is_some() {
        let a = &s.stats.archive;
        let _ = writeln!(
            out,
            "    archive: segments moved={} puts={} put_failed={} put_lost={} put_slow={} read_errors={} put_unsynced={}",
            s.stats.archived_segments, a.puts, a.put_failed, a.put_lost, a.put_slow, a.read_errors, a.put_unsynced
        );
    }
    if s.scenario.spec.expect == crate::scenario::Expect::Violation {
        let _ = writeln!(
            out,
            "    violations found (expected) on {} of {} seeds; first at seed {:?}",
            s.detections.len(),
            s.seeds_run,
            s.detections.first()
        );
    }
}

/// One failure, with its replay command.
pub fn failure_line(s: &ScenarioSummary, f: &SeedFailure, canaries: &[logbook::Canary]) -> String {
    let path = s.scenario.path.display().to_string();
    let mut line = format!(
        "FAIL [{}] scenario {} seed {}: {}",
        f.class.name(),
        s.scenario.name,
        f.seed,
        f.detail
    );
    if let Some(fl) = &f.failure {
        line.push_str(&format!(
            " (at op {}, trace event {})",
            fl.op_index, fl.trace_event
        ));
    }
    if f.class != crate::swarm::FailureClass::ExpectedViolationMissing {
        line.push_str(&format!(
            "\n  replay: {}",
            replay_command(&path, f.seed, canaries)
        ));
    }
    line
}

/// The swarm's JUnit report (see [`crate::junit`] for its format and the merge of shards).
pub fn junit(sums: &[ScenarioSummary], canaries: &[logbook::Canary]) -> String {
    let cases: Vec<crate::junit::Case> = sums
        .iter()
        .map(|s| crate::junit::Case {
            name: s.scenario.name.clone(),
            seeds: s.seeds_run,
            ops: s.stats.ops,
            crashes: s.stats.crashes,
            checks: s.stats.checks,
            faults: s.stats.faults.faults(),
            expect_violation: s.scenario.spec.expect == crate::scenario::Expect::Violation,
            detections: s.detections.len() as u64,
            failures: s
                .verdict()
                .iter()
                .map(|f| failure_line(s, f, canaries))
                .collect(),
        })
        .collect();
    crate::junit::render(&cases)
}

//! The cluster swarm's outputs: the summary table, one line (and one replay command) per
//! failure, JUnit XML, and the "Consistency Guarantees" table of `--report`.

use std::fmt::Write as _;

use super::swarm::{ClusterFailure, ClusterSummary};
use crate::scenario::{Expect, FlushSpec, StrategySpec};

/// The command that replays one seed, with its trace.
pub fn replay_command(scenario_path: &str, seed: u64) -> String {
    format!(
        "cargo run --release -p logbook-sim -- cluster --scenario {scenario_path} --seed {seed} \
         --trace cluster-trace-{seed}.txt --html cluster-seed-{seed}.html"
    )
}

/// One row per scenario, then the seeds per second.
pub fn summary_table(sums: &[ClusterSummary], elapsed_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:>5} {:>8} {:>7} {:>6} {:>6} {:>7} {:>8} {:>7} {:>6} {:>9} {:>5}  flag",
        "scenario",
        "seeds",
        "events",
        "crashes",
        "maj",
        "fstop",
        "leaders",
        "commits",
        "ops",
        "unk",
        "checks",
        "fail"
    );
    let mut seeds = 0;
    for s in sums {
        let t = &s.stats;
        seeds += s.seeds_run;
        let flag = match s.scenario.spec.expect {
            Expect::Violation => format!("expected: found on {} seeds", s.violations.len()),
            Expect::Pass if t.crashes == 0 && t.dropped == 0 => "NO-FAULTS".into(),
            Expect::Pass => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<28} {:>5} {:>8} {:>7} {:>6} {:>6} {:>7} {:>8} {:>7} {:>6} {:>9} {:>5}  {flag}",
            s.scenario.name,
            s.seeds_run,
            t.events,
            t.crashes,
            t.majority_crashes,
            t.fail_stops,
            t.elections,
            t.committed,
            t.ops_ok,
            t.ops_unknown,
            t.checks,
            s.failures.len()
        );
    }
    let rate = if elapsed_s > 0.0 {
        seeds as f64 / elapsed_s
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "{seeds} cluster seeds in {elapsed_s:.1} s ({rate:.1} seeds/s)"
    );
    out
}

/// One failure: class, seed, check, and one replay command.
pub fn failure_line(s: &ClusterSummary, f: &ClusterFailure) -> String {
    let mut line = format!(
        "FAIL [{}] scenario {} seed {}: {}",
        f.class.name(),
        s.scenario.name,
        f.seed,
        f.detail
    );
    if f.class != crate::swarm::FailureClass::ExpectedViolationMissing {
        let _ = write!(
            line,
            "\n  replay: {}",
            replay_command(&s.scenario.path.display().to_string(), f.seed)
        );
    }
    line
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one test case per scenario.
pub fn junit(sums: &[ClusterSummary]) -> String {
    let failures: usize = sums.iter().filter(|s| !s.verdict().is_empty()).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"logbook-sim cluster\" \
         tests=\"{}\" failures=\"{failures}\">\n",
        sums.len()
    );
    for s in sums {
        let _ = write!(
            out,
            "  <testcase classname=\"cluster\" name=\"{}\">",
            xml_escape(&s.scenario.name)
        );
        for f in s.verdict() {
            let _ = write!(
                out,
                "<failure message=\"{}\">{}</failure>",
                xml_escape(&format!("{} seed {}", f.class.name(), f.seed)),
                xml_escape(&failure_line(s, &f))
            );
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}

fn percentile(v: &[u64], p: f64) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let i = ((s.len() - 1) as f64 * p).round() as usize;
    s[i].to_string()
}

fn policy(f: &FlushSpec) -> String {
    crate::scenario::policy_name(f.policy())
}

/// The design document's "Consistency Guarantees" table, measured: one row per scenario
/// (strategy x policy, and the deliberate bugs), as Markdown.
pub fn consistency_table(sums: &[ClusterSummary]) -> String {
    let mut out = String::from(
        "| strategy | policy | scenario | seeds | linearizability violations | committed entries lost | \
         restart catch-up p50 / p99 (sim ms) | commit latency p50 / p99 (sim ms) | throughput (ops per sim s) |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for s in sums {
        let t = &s.stats;
        let spec = &s.scenario.spec;
        let strategy = match spec.strategy {
            StrategySpec::DiskFirst => "DiskFirst",
            StrategySpec::MemFirst => "MemFirst",
        };
        let lin = s
            .violations
            .iter()
            .filter(|(_, v)| v.kind == super::CheckKind::Linearizability)
            .count();
        let lost = s
            .violations
            .iter()
            .filter(|(_, v)| v.kind.loses_committed())
            .count();
        let secs = t.sim_ms as f64 / 1000.0;
        let tput = if secs > 0.0 {
            t.ops_ok as f64 / secs
        } else {
            0.0
        };
        let mut name = s.scenario.name.clone();
        if spec.bug.ack_before_durable {
            name.push_str(" (bug: ack before durable)");
        }
        if spec.bug.forget_vote {
            name.push_str(" (bug: forgets its vote)");
        }
        if spec.bug.stale_reads {
            name.push_str(" (bug: reads off the log)");
        }
        let _ = writeln!(
            out,
            "| {strategy} | {} | {name} | {} | {lin} | {lost} | {} / {} | {} / {} | {tput:.0} |",
            policy(&spec.flush),
            s.seeds_run,
            percentile(&t.catch_up_ms, 0.5),
            percentile(&t.catch_up_ms, 0.99),
            percentile(&t.latency_ms, 0.5),
            percentile(&t.latency_ms, 0.99),
        );
    }
    out.push_str(
        "\nViolations and losses count seeds (a run stops at its first failed check). Catch-up: \
         simulated time from a node's restart until it applied everything committed when it \
         restarted. Latency: a client's send to its answer, answered operations only.\n",
    );
    out
}

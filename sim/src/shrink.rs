//! Shrinking a failing seed: delta debugging over its schedule, then switching fault kinds
//! off one by one, keeping only changes under which the same invariant still breaks.

use crate::ops::Op;
use crate::run::{run, Failure, RunSpec};

/// The most runs one shrink may spend.
pub const SHRINK_RUNS_MAX: u32 = 4000;

#[derive(Debug, Clone)]
pub struct Shrunk {
    pub spec: RunSpec,
    pub failure: Failure,
    pub runs: u32,
    pub ops_before: usize,
}

/// Shrinks `spec`, which must fail; `None` if it does not.
pub fn shrink(spec: &RunSpec) -> Option<Shrunk> {
    let first = run(spec);
    let target = first.failure.as_ref()?.violation.invariant;
    let ops_before = first.schedule.len();
    let mut best = spec.clone();
    best.schedule = Some(first.schedule[..=first.failure_op_index()].to_vec());
    best.record_trace = false;
    let mut runs = 1;
    let fails = |candidate: &RunSpec, runs: &mut u32| -> Option<Failure> {
        *runs += 1;
        run(candidate)
            .failure
            .filter(|f| f.violation.invariant == target)
    };
    let mut failure = fails(&best, &mut runs)?;
    // Delta debugging over the operations.
    let mut chunk = best.schedule.as_ref().map_or(1, |s| s.len() / 2).max(1);
    loop {
        let mut progressed = false;
        let mut start = 0;
        while start < best.schedule.as_ref().map_or(0, Vec::len) && runs < SHRINK_RUNS_MAX {
            let ops: &Vec<Op> = best.schedule.as_ref().expect("schedule");
            let mut candidate = best.clone();
            let mut fewer = ops.clone();
            fewer.drain(start..(start + chunk).min(ops.len()));
            candidate.schedule = Some(fewer);
            match fails(&candidate, &mut runs) {
                Some(f) => {
                    best = candidate;
                    failure = f;
                    progressed = true;
                }
                None => start += chunk,
            }
        }
        if runs >= SHRINK_RUNS_MAX || (chunk == 1 && !progressed) {
            break;
        }
        if !progressed {
            chunk = (chunk / 2).max(1);
        }
    }
    // Fault kinds that are not needed.
    let kinds: Vec<String> = crate::run::effective_rates(&best)
        .iter()
        .filter(|(_, r)| *r > 0.0)
        .map(|(n, _)| n.to_string())
        .collect();
    for kind in kinds {
        let mut candidate = best.clone();
        candidate.disabled_faults.push(kind);
        if let Some(f) = fails(&candidate, &mut runs) {
            best = candidate;
            failure = f;
        }
    }
    Some(Shrunk {
        spec: best,
        failure,
        runs,
        ops_before,
    })
}

/// Writes a schedule file: `disable <fault>` lines, then one op per line.
pub fn schedule_text(spec: &RunSpec) -> String {
    let mut out = format!(
        "# logbook-sim schedule for scenario {} seed {}\n",
        spec.scenario.name, spec.seed
    );
    for d in &spec.disabled_faults {
        out.push_str(&format!("disable {d}\n"));
    }
    for op in spec.schedule.iter().flatten() {
        out.push_str(&format!("{op}\n"));
    }
    out
}

/// Parses a schedule file into (ops, disabled fault kinds).
pub fn parse_schedule(text: &str) -> Result<(Vec<Op>, Vec<String>), String> {
    let mut ops = Vec::new();
    let mut disabled = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(kind) = line.strip_prefix("disable ") {
            disabled.push(kind.trim().to_string());
        } else {
            ops.push(
                line.parse::<Op>()
                    .map_err(|e| format!("line {}: {e}", n + 1))?,
            );
        }
    }
    Ok((ops, disabled))
}

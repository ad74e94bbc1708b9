//! What a suite run found: one line per case and mode, plus the crash exploration's counts.

use std::fmt;

use crate::disk::FaultCounters;

/// How a case was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// The case's operations in order (the store is closed and reopened at the end).
    Plain,
    /// The store is closed and reopened after every single operation, and must be unchanged.
    ReopenEach,
    /// The bounded-exhaustive crash enumeration (see [`super::crash`]).
    CrashEnumeration,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Plain => "plain",
            Mode::ReopenEach => "reopen-each",
            Mode::CrashEnumeration => "crash-enumeration",
        })
    }
}

/// The verdict of one case in one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// What went wrong, naming the operation.
    Fail(String),
    /// The case needs something the disk cannot do (crashes need the simulated disk).
    Skipped(String),
}

/// One case in one mode.
#[derive(Debug, Clone)]
pub struct CaseReport {
    pub case: &'static str,
    pub mode: Mode,
    pub outcome: Outcome,
    /// Store operations performed (reads included).
    pub ops: u64,
    /// Comparisons against the reference model.
    pub checks: u64,
    /// Closes and reopens of the store (crash recoveries included).
    pub reopens: u64,
}

impl CaseReport {
    /// `case/mode`, the name a failure is reported under.
    pub fn name(&self) -> String {
        format!("{}/{}", self.case, self.mode)
    }
}

/// What the crash enumeration explored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exploration {
    /// Operation sequences run to completion (to count their Fs calls).
    pub sequences: u64,
    /// (sequence, crash point) pairs: a crash inside one Fs call, or between calls after the end.
    pub crash_points: u64,
    /// Crashed runs (one disk seed each).
    pub crash_runs: u64,
    /// Distinct durable disk images after a crash, each reopened and checked.
    pub crash_states: u64,
    /// Crashed runs whose disk image was already checked for that crash point.
    pub duplicate_states: u64,
    /// Invariant checks made on recovered stores.
    pub checks: u64,
    /// The first failures (sequence, crash point, seed, violation), at most
    /// [`super::alphabet::FAILURES_KEPT`].
    pub failures: Vec<String>,
    /// How many failures there were in all.
    pub failures_total: u64,
    /// The faults the crashes injected, summed over every crashed run (duplicates included).
    pub faults: FaultCounters,
}

/// The result of [`super::run`].
#[derive(Debug, Clone)]
pub struct Report {
    pub store: String,
    pub disk: String,
    pub cases: Vec<CaseReport>,
    pub exploration: Option<Exploration>,
}

impl Report {
    /// True when no case failed (skipped cases do not fail).
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// The failed cases as `(case/mode, why)`.
    pub fn failures(&self) -> Vec<(String, String)> {
        self.cases
            .iter()
            .filter_map(|c| match &c.outcome {
                Outcome::Fail(why) => Some((c.name(), why.clone())),
                _ => None,
            })
            .collect()
    }

    /// The names of the failed cases (without the mode), deduplicated, in suite order.
    pub fn failed_cases(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for c in &self.cases {
            if matches!(c.outcome, Outcome::Fail(_)) && !out.contains(&c.case) {
                out.push(c.case);
            }
        }
        out
    }

    /// `(passed, failed, skipped)` case runs.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for c in &self.cases {
            match c.outcome {
                Outcome::Pass => n.0 += 1,
                Outcome::Fail(_) => n.1 += 1,
                Outcome::Skipped(_) => n.2 += 1,
            }
        }
        n
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pass, fail, skip) = self.counts();
        let (ops, checks, reopens) = self.cases.iter().fold((0, 0, 0), |a, c| {
            (a.0 + c.ops, a.1 + c.checks, a.2 + c.reopens)
        });
        writeln!(
            f,
            "conformance of {} on {}: {pass} passed, {fail} failed, {skip} skipped; \
             {ops} ops, {checks} checks, {reopens} reopens",
            self.store, self.disk
        )?;
        for c in &self.cases {
            let verdict = match &c.outcome {
                Outcome::Pass => "ok".to_string(),
                Outcome::Fail(why) => format!("FAIL: {why}"),
                Outcome::Skipped(why) => format!("skipped: {why}"),
            };
            writeln!(
                f,
                "  {:<44} ops {:>5} checks {:>6} reopens {:>4}  {verdict}",
                c.name(),
                c.ops,
                c.checks,
                c.reopens
            )?;
        }
        if let Some(x) = &self.exploration {
            writeln!(
                f,
                "  crash enumeration: {} sequences, {} crash points, {} crashed runs, \
                 {} distinct crash states checked ({} duplicates), {} checks, {} failures",
                x.sequences,
                x.crash_points,
                x.crash_runs,
                x.crash_states,
                x.duplicate_states,
                x.checks,
                x.failures_total
            )?;
            let c = &x.faults;
            writeln!(
                f,
                "    faults: {} crashes ({} inside a call), {} lost writes, {} torn writes, \
                 {} lost set_lens, {} lost dir entries, {} non-atomic renames",
                c.crashes,
                c.crashes_in_call,
                c.lost_writes,
                c.torn_writes,
                c.lost_set_lens,
                c.lost_dir_entries,
                c.non_atomic_renames
            )?;
            for line in &x.failures {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

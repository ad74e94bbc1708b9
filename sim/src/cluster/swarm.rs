//! Many cluster seeds over many cluster scenarios, in parallel, aggregated per scenario in
//! seed order (so the summary does not depend on `--jobs`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{run, ClusterScenario, ClusterStats, RunSpec, Violation};
use crate::scenario::Expect;
use crate::swarm::FailureClass;

/// One failing seed.
#[derive(Debug, Clone)]
pub struct ClusterFailure {
    /// The seed (0 for a scenario-wide failure).
    pub seed: u64,
    /// The class, which fixes the exit code.
    pub class: FailureClass,
    /// One line of explanation.
    pub detail: String,
    /// The failed check, if a check failed.
    pub violation: Option<Violation>,
}

/// One seed's outcome.
#[derive(Debug, Clone)]
pub struct SeedOutcome {
    /// What the run did.
    pub stats: ClusterStats,
    /// Why the seed fails, if it does (a violation in an expected-violation scenario does not).
    pub failure: Option<ClusterFailure>,
    /// The first failed check, wanted or not.
    pub violation: Option<Violation>,
}

/// Runs one seed with panic capture and, optionally, a second run to compare digests.
pub fn run_seed(spec: &RunSpec, check_determinism: bool) -> SeedOutcome {
    let fail = |class, detail: String, violation| {
        Some(ClusterFailure {
            seed: spec.seed,
            class,
            detail,
            violation,
        })
    };
    let first = match catch_unwind(AssertUnwindSafe(|| run(spec))) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            return SeedOutcome {
                stats: ClusterStats::default(),
                failure: fail(FailureClass::Panic, msg, None),
                violation: None,
            };
        }
    };
    if check_determinism {
        if let Ok(second) = catch_unwind(AssertUnwindSafe(|| run(spec))) {
            if second.digest != first.digest {
                let detail = format!(
                    "trace digest {:016x} then {:016x}",
                    first.digest, second.digest
                );
                return SeedOutcome {
                    stats: first.stats,
                    failure: fail(FailureClass::Determinism, detail, None),
                    violation: first.violation,
                };
            }
        }
    }
    let failure = match (&first.violation, spec.scenario.spec.expect) {
        (Some(v), Expect::Pass) => fail(FailureClass::Violation, v.to_string(), Some(v.clone())),
        _ => None,
    };
    SeedOutcome {
        stats: first.stats,
        failure,
        violation: first.violation,
    }
}

/// One scenario's results.
#[derive(Debug, Clone)]
pub struct ClusterSummary {
    /// The scenario.
    pub scenario: ClusterScenario,
    /// Seeds run.
    pub seeds_run: u64,
    /// Their stats, added up.
    pub stats: ClusterStats,
    /// Failing seeds.
    pub failures: Vec<ClusterFailure>,
    /// Every violation found, by seed (for expected-violation scenarios, the detections).
    pub violations: Vec<(u64, Violation)>,
}

impl ClusterSummary {
    /// Every failure, the missing expected violation included.
    pub fn verdict(&self) -> Vec<ClusterFailure> {
        let mut v = self.failures.clone();
        if self.scenario.spec.expect == Expect::Violation
            && self.violations.is_empty()
            && self.seeds_run > 0
        {
            v.push(ClusterFailure {
                seed: 0,
                class: FailureClass::ExpectedViolationMissing,
                detail: format!(
                    "{} seeds of an expected-violation scenario found no violation",
                    self.seeds_run
                ),
                violation: None,
            });
        }
        v
    }
}

/// Runs `seeds` on every scenario with `jobs` threads; `progress` is told after each seed.
pub fn swarm(
    scenarios: &[ClusterScenario],
    seeds: &[u64],
    jobs: usize,
    check_determinism: bool,
    progress: &(dyn Fn() + Sync),
) -> Vec<ClusterSummary> {
    let work: Vec<(usize, u64)> = (0..scenarios.len())
        .flat_map(|i| seeds.iter().map(move |&s| (i, s)))
        .collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(work.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(i, seed)) = work.get(k) else { break };
                let spec = RunSpec::new(scenarios[i].clone(), seed);
                let out = run_seed(&spec, check_determinism);
                results.lock().expect("results").push((i, seed, out));
                progress();
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(i, seed, _)| (*i, *seed));
    let mut sums: Vec<ClusterSummary> = scenarios
        .iter()
        .map(|sc| ClusterSummary {
            scenario: sc.clone(),
            seeds_run: 0,
            stats: ClusterStats::default(),
            failures: Vec::new(),
            violations: Vec::new(),
        })
        .collect();
    for (i, seed, out) in results {
        let sum = &mut sums[i];
        sum.seeds_run += 1;
        sum.stats.add(&out.stats);
        if let Some(v) = out.violation {
            sum.violations.push((seed, v));
        }
        sum.failures.extend(out.failure);
    }
    sums
}

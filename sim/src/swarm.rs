//! Swarm: many seeds over many scenarios, in parallel, aggregated per scenario in seed order
//! (so the summary is the same whatever `--jobs` is).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use logbook::{Canary, CanarySet};

use crate::run::{run, Failure, RunSpec, RunStats};
use crate::scenario::{Expect, Scenario};

/// Why a seed failed; each class has its own process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureClass {
    /// An invariant broke.
    Violation = 1,
    /// The engine (or the harness) panicked.
    Panic = 2,
    /// The same seed gave two different traces.
    Determinism = 3,
    /// An out-of-contract scenario found no violation: the checkers are blind.
    ExpectedViolationMissing = 4,
}

impl FailureClass {
    /// Every class, most severe (lowest exit code) first.
    pub const ALL: [FailureClass; 4] = [
        FailureClass::Violation,
        FailureClass::Panic,
        FailureClass::Determinism,
        FailureClass::ExpectedViolationMissing,
    ];

    pub fn exit_code(self) -> i32 {
        self as i32
    }
    pub fn name(self) -> &'static str {
        match self {
            FailureClass::Violation => "invariant violation",
            FailureClass::Panic => "engine panic",
            FailureClass::Determinism => "determinism broken",
            FailureClass::ExpectedViolationMissing => "expected violation not seen",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SeedFailure {
    pub seed: u64,
    pub class: FailureClass,
    pub detail: String,
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone)]
pub struct SwarmOptions {
    pub seeds: u64,
    pub from: u64,
    pub jobs: usize,
    /// `(i, n)`: run only the seeds whose offset is `i` modulo `n`.
    pub shard: (u64, u64),
    pub check_determinism: bool,
    pub canaries: Vec<Canary>,
    /// Stop a scenario at its first failing (or, for expected violations, detecting) seed.
    pub stop_at_first: bool,
}

impl Default for SwarmOptions {
    fn default() -> Self {
        SwarmOptions {
            seeds: 100,
            from: 0,
            jobs: 1,
            shard: (0, 1),
            check_determinism: false,
            canaries: Vec::new(),
            stop_at_first: false,
        }
    }
}

impl SwarmOptions {
    pub fn canary_set(&self) -> CanarySet {
        self.canaries
            .iter()
            .fold(CanarySet::default(), |s, c| s.with(*c))
    }

    pub fn seeds(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.seeds)
            .filter(|o| o % self.shard.1 == self.shard.0)
            .map(|o| self.from + o)
    }
}

/// What an out-of-contract scenario whose `seeds` caught no violation reports (the swarm's
/// verdict and a merge of shards say the same).
pub fn missing_violation_detail(seeds: u64) -> String {
    format!("{seeds} seeds of an out-of-contract scenario found no violation")
}

#[derive(Debug, Clone)]
pub struct ScenarioSummary {
    pub scenario: Scenario,
    pub seeds_run: u64,
    pub stats: RunStats,
    pub failures: Vec<SeedFailure>,
    /// Out-of-contract scenarios: the seeds on which a violation was found.
    pub detections: Vec<u64>,
}

impl ScenarioSummary {
    /// Every failure of this scenario, the missing expected violation included.
    pub fn verdict(&self) -> Vec<SeedFailure> {
        let mut v = self.failures.clone();
        if self.scenario.spec.expect == Expect::Violation
            && self.detections.is_empty()
            && self.seeds_run > 0
        {
            v.push(SeedFailure {
                seed: 0,
                class: FailureClass::ExpectedViolationMissing,
                detail: missing_violation_detail(self.seeds_run),
                failure: None,
            });
        }
        v
    }

    /// Whether rates were set but no fault of any kind fired.
    pub fn faults_never_fired(&self) -> bool {
        let any_rate = self.scenario.spec.faults.iter().any(|(_, r)| r > 0.0);
        let disk_silent = any_rate && self.stats.faults.faults() == 0;
        // The archive's injector is held to the same standard, kind by kind.
        let archive_silent = self.scenario.spec.archive.as_ref().is_some_and(|rates| {
            let fired: Vec<(&str, u64)> = self.stats.archive.iter().collect();
            rates
                .iter()
                .zip(fired)
                .any(|((_, r), (_, n))| r > 0.0 && n == 0)
        });
        (disk_silent || archive_silent) && self.seeds_run > 0
    }
}

/// One seed's outcome.
#[derive(Debug, Clone)]
pub struct SeedOutcome {
    pub stats: RunStats,
    pub failure: Option<SeedFailure>,
    /// A violation found (for out-of-contract scenarios, the wanted outcome).
    pub violated: bool,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Runs one seed with panic capture and the optional determinism re-run.
pub fn run_seed(spec: &RunSpec, check_determinism: bool) -> SeedOutcome {
    let fail = |class, detail: String, failure| {
        Some(SeedFailure {
            seed: spec.seed,
            class,
            detail,
            failure,
        })
    };
    let first = match catch_unwind(AssertUnwindSafe(|| run(spec))) {
        Ok(r) => r,
        Err(p) => {
            return SeedOutcome {
                stats: RunStats::default(),
                failure: fail(FailureClass::Panic, panic_message(&*p), None),
                violated: false,
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
                    violated: false,
                };
            }
        }
    }
    let violated = first.failure.is_some();
    let failure = match (&first.failure, spec.scenario.spec.expect) {
        (Some(f), Expect::Pass) => fail(
            FailureClass::Violation,
            f.violation.to_string(),
            Some(f.clone()),
        ),
        _ => None,
    };
    SeedOutcome {
        stats: first.stats,
        failure,
        violated,
    }
}

/// Runs the swarm; `progress` is told after each seed.
pub fn swarm(
    scenarios: &[Scenario],
    opts: &SwarmOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<ScenarioSummary> {
    let work: Vec<(usize, u64)> = scenarios
        .iter()
        .enumerate()
        .flat_map(|(i, _)| opts.seeds().map(move |s| (i, s)))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, u64, SeedOutcome)>> = Mutex::new(Vec::with_capacity(work.len()));
    let stopped: Vec<std::sync::atomic::AtomicBool> =
        scenarios.iter().map(|_| Default::default()).collect();
    let canaries = opts.canary_set();
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(i, seed)) = work.get(k) else { break };
                if stopped[i].load(Ordering::Relaxed) {
                    continue;
                }
                let mut spec = RunSpec::new(scenarios[i].clone(), seed);
                spec.canaries = canaries;
                let out = run_seed(&spec, opts.check_determinism);
                if opts.stop_at_first && (out.failure.is_some() || out.violated) {
                    stopped[i].store(true, Ordering::Relaxed);
                }
                results.lock().expect("results").push((i, seed, out));
                progress(1);
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(i, seed, _)| (*i, *seed));
    let mut summaries: Vec<ScenarioSummary> = scenarios
        .iter()
        .map(|sc| ScenarioSummary {
            scenario: sc.clone(),
            seeds_run: 0,
            stats: RunStats::default(),
            failures: Vec::new(),
            detections: Vec::new(),
        })
        .collect();
    for (i, seed, out) in results {
        let sum = &mut summaries[i];
        if opts.stop_at_first && (!sum.failures.is_empty() || !sum.detections.is_empty()) {
            continue; // keep "seeds to detection" exact whatever the thread interleaving
        }
        sum.seeds_run += 1;
        sum.stats.add(&out.stats);
        if out.violated {
            sum.detections.push(seed);
        }
        sum.failures.extend(out.failure);
    }
    summaries
}

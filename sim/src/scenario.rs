//! Scenario files (`scenarios/*.toml`): the strategy, policy, workload mix and fault rates of
//! a family of runs. A seed fixes everything else.
//!
//! A malformed file is refused with an error naming the file and the field.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::disk::FaultRates;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategySpec {
    DiskFirst,
    MemFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum FlushSpec {
    Immediate,
    Batch { threshold: usize, interval_ms: u64 },
    Adaptive { delay_max_us: u64 },
}

impl FlushSpec {
    /// The engine's policy.
    pub fn policy(self) -> logbook::FlushPolicy {
        use logbook::FlushPolicy;
        match self {
            FlushSpec::Immediate => FlushPolicy::Immediate,
            FlushSpec::Batch {
                threshold,
                interval_ms,
            } => FlushPolicy::Batch {
                threshold,
                interval_ms,
            },
            FlushSpec::Adaptive { delay_max_us } => FlushPolicy::Adaptive { delay_max_us },
        }
    }
}

/// A policy's name in reports: `Immediate`, `Batch(8, 5 ms)`, `Adaptive(500 us)`.
pub fn policy_name(policy: logbook::FlushPolicy) -> String {
    use logbook::FlushPolicy;
    match policy {
        FlushPolicy::Immediate => "Immediate".into(),
        FlushPolicy::Batch {
            threshold,
            interval_ms,
        } => format!("Batch({threshold}, {interval_ms} ms)"),
        FlushPolicy::Adaptive { delay_max_us } => format!("Adaptive({delay_max_us} us)"),
    }
}

/// What a scenario's runs must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// In contract: every invariant holds on every seed.
    #[default]
    Pass,
    /// Out of contract: the checkers must find a violation on some seed, or they are blind.
    Violation,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSpec {
    pub segment_size_bytes: u64,
    pub cache_entries_max: usize,
    pub prefetch_entries: usize,
    pub unflushed_bytes_max: u64,
    pub payload_size_max_bytes: u32,
    /// MemFirst: entries one flush takes; a small value makes long backlogs go out as
    /// several durable prefixes.
    pub flush_entries_max: usize,
    /// MemFirst: every reopen passes a snapshot hint (`Config::snapshot_hint`) drawn from
    /// the seed, anywhere from 0 to past the end, so reads, truncations and purges meet
    /// entries left on disk below the preloaded tail.
    pub snapshot_hint: bool,
}

impl Default for EngineSpec {
    fn default() -> Self {
        EngineSpec {
            segment_size_bytes: 4096,
            cache_entries_max: 32,
            prefetch_entries: 8,
            unflushed_bytes_max: 64 << 10,
            payload_size_max_bytes: 4096,
            flush_entries_max: 65_536,
            snapshot_hint: false,
        }
    }
}

/// Relative weights of the workload's operations, and their sizes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadSpec {
    pub append: u32,
    pub truncate: u32,
    pub purge: u32,
    pub hard_state: u32,
    pub read_one: u32,
    pub read_range: u32,
    pub flush: u32,
    pub tick: u32,
    pub crash: u32,
    pub crash_inside: u32,
    pub reopen: u32,
    /// Moves sealed segments to the archive tier (only with an `[archive]` table).
    pub archive: u32,
    pub batch_max: u16,
    pub payload_max_bytes: u16,
    pub tick_max_ms: u32,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            append: 40,
            truncate: 4,
            purge: 4,
            hard_state: 5,
            read_one: 12,
            read_range: 8,
            flush: 4,
            tick: 10,
            crash: 3,
            crash_inside: 4,
            reopen: 1,
            archive: 0,
            batch_max: 12,
            payload_max_bytes: 300,
            tick_max_ms: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrashSpec {
    /// Probability that a recovery is itself interrupted by a crash (invariant 8).
    pub during_recovery: f64,
    /// Upper bound of the Fs calls before an armed crash fires.
    pub inside_calls_max: u16,
}

impl Default for CrashSpec {
    fn default() -> Self {
        CrashSpec {
            during_recovery: 0.2,
            inside_calls_max: 30,
        }
    }
}

/// Which front of the engine a scenario drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Front {
    /// `Log`, the single-threaded core, one op at a time (`run.rs`).
    #[default]
    Log,
    /// `Store`, the threaded front, with its flusher thread, under a seeded shuttle
    /// schedule (`store_run/`).
    Store,
}

/// How shuttle picks the next thread of a `front = "store"` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SchedulerSpec {
    /// Uniformly random at every scheduling point.
    #[default]
    Random,
    /// PCT (probabilistic concurrency testing): random priorities with `pct_depth - 1`
    /// priority change points.
    Pct,
}

/// The threads of a `front = "store"` run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThreadsSpec {
    /// Worker threads; op k of the schedule runs on thread k mod `workers`.
    pub workers: u8,
    pub scheduler: SchedulerSpec,
    /// PCT's bug depth.
    pub pct_depth: usize,
    /// Simulated ms the ticker thread advances the clock per step, at most.
    pub tick_max_ms: u64,
    /// Flushes run outside the sequencer (a thread that makes the log durable on its own
    /// schedule), beside the appends, truncations and purges: they wait for the sync in
    /// flight to end while those run, so every change must notify them.
    pub unsequenced_flush: bool,
}

impl Default for ThreadsSpec {
    fn default() -> Self {
        ThreadsSpec {
            workers: 4,
            scheduler: SchedulerSpec::Random,
            pct_depth: 3,
            tick_max_ms: 2,
            unsequenced_flush: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub strategy: StrategySpec,
    pub flush: FlushSpec,
    #[serde(default)]
    pub front: Front,
    #[serde(default)]
    pub threads: ThreadsSpec,
    #[serde(default)]
    pub expect: Expect,
    #[serde(default = "default_ops")]
    pub ops: u32,
    /// Each seed switches each fault kind on or off (swarm testing).
    #[serde(default = "default_true")]
    pub swarm_faults: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub engine: EngineSpec,
    #[serde(default)]
    pub workload: WorkloadSpec,
    #[serde(default)]
    pub crash: CrashSpec,
    #[serde(default = "FaultRates::none")]
    pub faults: FaultRates,
    /// The archive tier and its faults (`archive.rs`); absent: no archive.
    #[serde(default)]
    pub archive: Option<crate::archive::ArchiveRates>,
}

fn default_ops() -> u32 {
    150
}
fn default_true() -> bool {
    true
}

/// A loaded, validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub path: PathBuf,
    pub spec: ScenarioFile,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScenarioError {
    pub path: String,
    pub message: String,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let err = |message: String| ScenarioError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Scenario::parse(&name, path, &text).map_err(err)
    }

    pub fn parse(name: &str, path: &Path, text: &str) -> Result<Scenario, String> {
        let spec: ScenarioFile =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        let field = |f: &str, m: &str| Err(format!("field `{f}`: {m}"));
        if spec.ops == 0 {
            return field("ops", "must be at least 1");
        }
        if let FlushSpec::Batch { threshold: 0, .. } = spec.flush {
            return field("flush.batch.threshold", "must be at least 1");
        }
        if spec.engine.segment_size_bytes < 4096 {
            return field("engine.segment_size_bytes", "must be at least 4096");
        }
        if spec.engine.flush_entries_max == 0 {
            return field("engine.flush_entries_max", "must be at least 1");
        }
        if spec.workload.append == 0 {
            return field(
                "workload.append",
                "must be positive: a run that never appends tests nothing",
            );
        }
        if spec.workload.batch_max == 0 {
            return field("workload.batch_max", "must be at least 1");
        }
        if spec.workload.payload_max_bytes as u32 > spec.engine.payload_size_max_bytes {
            return field(
                "workload.payload_max_bytes",
                "exceeds engine.payload_size_max_bytes",
            );
        }
        if !(1..=16).contains(&spec.threads.workers) {
            return field("threads.workers", "must be in 1..=16");
        }
        if spec.threads.pct_depth == 0 {
            return field("threads.pct_depth", "must be at least 1");
        }
        if spec.threads.tick_max_ms == 0 {
            return field("threads.tick_max_ms", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&spec.crash.during_recovery) {
            return field("crash.during_recovery", "must be a probability in 0..=1");
        }
        if let Err(e) = spec.faults.validate() {
            return Err(format!("[faults]: {e}"));
        }
        if let Some((name, _)) =
            (spec.archive.iter().flat_map(|a| a.iter())).find(|(_, r)| !(0.0..=1.0).contains(r))
        {
            return field(&format!("archive.{name}"), "must be a probability in 0..=1");
        }
        if spec.workload.archive > 0 && spec.archive.is_none() {
            return field("workload.archive", "needs an [archive] table");
        }
        Ok(Scenario {
            name: name.to_string(),
            path: path.to_path_buf(),
            spec,
        })
    }

    /// Every `*.toml` in `dir`, sorted by name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
        let entries = std::fs::read_dir(dir).map_err(|e| ScenarioError {
            path: dir.display().to_string(),
            message: format!("cannot list scenarios: {e}"),
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .filter(|p| !crate::cluster::is_cluster_scenario(p))
            .collect();
        paths.sort();
        paths.iter().map(|p| Scenario::load(p)).collect()
    }

    /// With `engine.snapshot_hint`, the seed from which each open draws its hint.
    pub fn hint_seed(&self, seed: u64) -> Option<u64> {
        self.spec
            .engine
            .snapshot_hint
            .then(|| crate::seeds::mix(seed ^ 0x5e4a_9b1c_d00d_f00d))
    }

    pub fn engine_config(&self) -> logbook::Config {
        use logbook::{Config, Strategy};
        let strategy = match self.spec.strategy {
            StrategySpec::DiskFirst => Strategy::DiskFirst,
            StrategySpec::MemFirst => Strategy::MemFirst,
        };
        let flush = self.spec.flush.policy();
        let e = &self.spec.engine;
        Config::new(strategy, flush)
            .with_segment_size_bytes(e.segment_size_bytes)
            .with_cache_entries_max(e.cache_entries_max)
            .with_prefetch_entries(e.prefetch_entries)
            .with_unflushed_bytes_max(e.unflushed_bytes_max)
            .with_payload_size_max_bytes(e.payload_size_max_bytes)
            .with_flush_entries_max(e.flush_entries_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_scenarios_are_refused_naming_the_field() {
        let cases = [
            (
                "strategy = 'disk-first'\nflush = 'immediate'\nops = 0\n",
                "`ops`",
            ),
            ("strategy = 'sideways'\nflush = 'immediate'\n", "strategy"),
            (
                "strategy = 'disk-first'\nflush = 'immediate'\nbogus = 1\n",
                "bogus",
            ),
            (
                "strategy = 'disk-first'\nflush = { batch = { threshold = 0, interval_ms = 1 } }\n",
                "flush.batch.threshold",
            ),
            (
                "strategy = 'disk-first'\nflush = 'immediate'\n[faults]\ntorn_write = 2.0\n",
                "torn_write",
            ),
            (
                "strategy = 'disk-first'\nflush = 'immediate'\n[faults]\ntorn_wrte = 0.1\n",
                "torn_wrte",
            ),
            ("strategy = 'mem-first'\n", "flush"),
            (
                "strategy = 'mem-first'\nflush = 'immediate'\nfront = 'store'\n[threads]\nworkers = 0\n",
                "threads.workers",
            ),
            (
                "strategy = 'mem-first'\nflush = 'immediate'\nfront = 'raft'\n",
                "front",
            ),
        ];
        for (text, field) in cases {
            let err = Scenario::parse("t", Path::new("t.toml"), text).unwrap_err();
            assert!(
                err.contains(field),
                "error for {text:?} should name {field}: {err}"
            );
        }
    }

    #[test]
    fn every_shipped_scenario_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let all = Scenario::load_dir(&dir).unwrap();
        assert!(
            all.len() >= 4,
            "expected the scenario files, found {}",
            all.len()
        );
    }
}

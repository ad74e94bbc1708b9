//! Cluster scenario files (`scenarios/cluster-*.toml`): cluster size, strategy and policy,
//! network and crash rates, clients, and the deliberate bugs of expected-violation
//! scenarios. A seed fixes everything else. A malformed file is refused naming file and
//! field; the plain swarm skips these files.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::disk::FaultRates;
use crate::scenario::{EngineSpec, Expect, FlushSpec, ScenarioError, StrategySpec};

/// The prefix that marks a scenario file as a cluster scenario.
pub const CLUSTER_PREFIX: &str = "cluster-";

/// True if `path` names a cluster scenario (its file name starts with `cluster-`).
pub fn is_cluster_scenario(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(CLUSTER_PREFIX))
}

/// The simulated network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSpec {
    /// Probability that a message is dropped.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// The shortest delivery delay.
    pub delay_min_ms: u64,
    /// The longest delivery delay; a random delay in between reorders messages.
    pub delay_max_ms: u64,
    /// Probability per tick interval that a partition starts (if none is in place).
    pub partition: f64,
    /// How long a partition lasts before it heals.
    pub partition_ms: u64,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            drop: 0.02,
            duplicate: 0.02,
            delay_min_ms: 1,
            delay_max_ms: 8,
            partition: 0.002,
            partition_ms: 400,
        }
    }
}

/// Node crashes (power loss: the disk's pending writes lost or torn per `[faults]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrashSpec {
    /// Probability per tick interval that one random live node crashes.
    pub node: f64,
    /// Probability per tick interval that a majority crashes at the same instant.
    pub majority: f64,
    /// Probability per tick interval that every node crashes at the same instant (a
    /// data-centre power loss; in contract: nothing acknowledged may be lost).
    pub all: f64,
    /// The shortest down time before a crashed node restarts from its disk.
    pub restart_min_ms: u64,
    /// The longest down time.
    pub restart_max_ms: u64,
}

impl Default for CrashSpec {
    fn default() -> Self {
        CrashSpec {
            node: 0.003,
            majority: 0.0005,
            all: 0.0,
            restart_min_ms: 50,
            restart_max_ms: 400,
        }
    }
}

/// The clients and their key-value workload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSpec {
    /// Clients, each with one operation in flight at a time.
    pub clients: u32,
    /// Keys the operations pick from.
    pub keys: u32,
    /// Weight of Put.
    pub put: u32,
    /// Weight of Get.
    pub get: u32,
    /// Weight of compare-and-set (expecting the last value the client saw).
    pub cas: u32,
    /// Think time between a client's requests.
    pub think_max_ms: u64,
    /// A request unanswered this long is given up: its outcome stays unknown.
    pub timeout_ms: u64,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            clients: 5,
            keys: 4,
            put: 4,
            get: 4,
            cas: 2,
            think_max_ms: 20,
            timeout_ms: 300,
        }
    }
}

/// Deliberate bugs: out-of-contract scenarios turn one on and expect a violation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BugSpec {
    /// MemFirst: send a `Ready`'s persisted messages (append responses, votes) and advance
    /// before its entries are durable, so unflushed entries count toward the quorum.
    pub ack_before_durable: bool,
    /// Save the hard state without the vote: a restarted node may vote twice in one term.
    pub forget_vote: bool,
    /// Any node answers a Get from its own state machine at once, without the log: a
    /// deposed leader or a lagging follower returns stale values.
    pub stale_reads: bool,
}

/// A cluster scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Every node's persistence strategy.
    pub strategy: StrategySpec,
    /// Every node's flush policy.
    pub flush: FlushSpec,
    /// `pass`, or `violation` for a scenario with a deliberate bug.
    #[serde(default)]
    pub expect: Expect,
    /// What the scenario is for.
    #[serde(default)]
    pub description: String,
    /// 3 or 5.
    #[serde(default = "default_nodes")]
    pub nodes: u32,
    /// Simulated time of one run.
    #[serde(default = "default_duration_ms")]
    pub duration_ms: u64,
    /// Raft tick interval; each node's is skewed by up to half of it, from the seed.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// The most a node's tick interval is skewed by (seeded per node); default half a tick.
    #[serde(default)]
    pub tick_skew_max_ms: Option<u64>,
    /// Each node snapshots its state machine and compacts its log once it applied this
    /// many entries past its first index (0: never).
    #[serde(default)]
    pub compact_entries: u64,
    /// Simulated cost of one fsync: a node's messages leave that much later per sync.
    #[serde(default = "default_fsync_ms")]
    pub fsync_ms: u64,
    /// Engine limits (as in the plain swarm's scenarios).
    #[serde(default)]
    pub engine: EngineSpec,
    /// The network's faults.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Node crashes.
    #[serde(default)]
    pub crash: CrashSpec,
    /// The clients.
    #[serde(default)]
    pub clients: ClientSpec,
    /// Each node's disk faults (read errors, a full disk and bit rot are refused).
    #[serde(default = "FaultRates::none")]
    pub faults: FaultRates,
    /// Deliberate bugs.
    #[serde(default)]
    pub bug: BugSpec,
    /// Faults the chaos decides but does not inject, by number (the `n`-th crash, majority
    /// crash or partition decided in a run is fault `n`, counted from 1). Written by
    /// `--shrink`; empty in a hand-written scenario.
    #[serde(default)]
    pub skip_faults: Vec<u32>,
}

fn default_nodes() -> u32 {
    3
}
fn default_duration_ms() -> u64 {
    10_000
}
fn default_tick_ms() -> u64 {
    10
}
fn default_fsync_ms() -> u64 {
    1
}

/// A loaded, validated cluster scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterScenario {
    /// The file's stem.
    pub name: String,
    /// Where it was loaded from (for replay commands).
    pub path: PathBuf,
    /// Its contents.
    pub spec: ClusterFile,
}

impl ClusterScenario {
    /// Reads and validates one file.
    pub fn load(path: &Path) -> Result<ClusterScenario, ScenarioError> {
        let err = |message: String| ScenarioError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let name = path
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        let spec: ClusterFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        validate(&spec).map_err(err)?;
        Ok(ClusterScenario {
            name,
            path: path.to_path_buf(),
            spec,
        })
    }

    /// Every `cluster-*.toml` in `dir`, sorted by name.
    pub fn load_dir(dir: &Path) -> Result<Vec<ClusterScenario>, ScenarioError> {
        let entries = std::fs::read_dir(dir).map_err(|e| ScenarioError {
            path: dir.display().to_string(),
            message: format!("cannot list scenarios: {e}"),
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && is_cluster_scenario(p))
            .collect();
        paths.sort();
        paths.iter().map(|p| ClusterScenario::load(p)).collect()
    }

    /// The engine configuration of every node.
    pub fn engine_config(&self) -> logbook::Config {
        use logbook::{Config, Strategy};
        let s = &self.spec;
        let strategy = match s.strategy {
            StrategySpec::DiskFirst => Strategy::DiskFirst,
            StrategySpec::MemFirst => Strategy::MemFirst,
        };
        let flush = s.flush.policy();
        let e = &s.engine;
        Config::new(strategy, flush)
            .with_segment_size_bytes(e.segment_size_bytes.max(16 << 10))
            .with_cache_entries_max(e.cache_entries_max)
            .with_prefetch_entries(e.prefetch_entries)
            .with_unflushed_bytes_max(e.unflushed_bytes_max.max(1 << 20))
            .with_payload_size_max_bytes(e.payload_size_max_bytes)
            .with_flush_entries_max(e.flush_entries_max)
    }
}

fn prob(name: &str, p: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(format!("{name} = {p} is not a probability in 0..=1"))
    }
}

fn validate(s: &ClusterFile) -> Result<(), String> {
    if s.nodes != 3 && s.nodes != 5 {
        return Err(format!("nodes = {}: a cluster has 3 or 5 nodes", s.nodes));
    }
    if s.tick_ms == 0 || s.duration_ms < s.tick_ms * 50 || s.duration_ms > 3_600_000 {
        return Err("tick_ms must be positive and duration_ms in 50 ticks ..= 1 hour".into());
    }
    let n = &s.network;
    prob("network.drop", n.drop)?;
    prob("network.duplicate", n.duplicate)?;
    prob("network.partition", n.partition)?;
    if n.delay_min_ms > n.delay_max_ms {
        return Err("network.delay_min_ms exceeds network.delay_max_ms".into());
    }
    prob("crash.node", s.crash.node)?;
    prob("crash.majority", s.crash.majority)?;
    prob("crash.all", s.crash.all)?;
    if s.crash.restart_min_ms > s.crash.restart_max_ms {
        return Err("crash.restart_min_ms exceeds crash.restart_max_ms".into());
    }
    let c = &s.clients;
    if c.clients == 0 || c.clients > 1000 || c.keys == 0 || c.keys > 1000 {
        return Err("clients.clients and clients.keys must be in 1..=1000".into());
    }
    if c.put + c.get + c.cas == 0 {
        return Err("clients: put + get + cas weights are all zero".into());
    }
    if c.timeout_ms == 0 {
        return Err("clients.timeout_ms must be positive".into());
    }
    s.faults.validate().map_err(|e| format!("faults: {e}"))?;
    if s.faults.read_error > 0.0 || s.faults.disk_full > 0.0 || s.faults.bit_rot > 0.0 {
        return Err(
            "faults: read_error, disk_full and bit_rot are not simulated in a cluster (a node \
             fail-stops on them; the single-store swarm covers them)"
                .into(),
        );
    }
    if s.bug.ack_before_durable && s.strategy != StrategySpec::MemFirst {
        return Err("bug.ack_before_durable needs strategy = \"mem-first\"".into());
    }
    Ok(())
}

//! `logbook-sim cluster`: a seeded discrete-event simulation of a 3- or 5-node raft-rs
//! cluster on logbook, with network and disk faults, and the cluster-level checks.
//!
//! Each node is a raft-rs `RawNode` over logbook's single-threaded `Log` core
//! ([`logbook::raft_rs::LogStorage`]) on its own [`SimDisk`](crate::disk::SimDisk); all share
//! one [`SimClock`](crate::clock::SimClock). Events (ticks, message deliveries, client
//! requests and answers, flushes, crashes, restarts, partitions) sit in one queue ordered by
//! (simulated time, sequence number), and every random choice comes from streams of the run's
//! seed, so a seed replays byte for byte (the trace digest says so).
//!
//! raft-rs draws its randomized election timeout from an unseeded RNG: every node gets a
//! one-tick range (`min_election_tick = 10`, `max_election_tick = 11`), so that draw has one
//! outcome, and the jitter comes from the seed instead: each node ticks at its own seeded
//! interval, and each tick is late by a seeded amount.
//!
//! The model of time: messages take a seeded delay; a node's messages leave only after the
//! fsyncs it made before them (`fsync_ms` each); everything else is instantaneous.
//!
//! Checks: C1-C5 in [`checks`], C6 (the client history is linearizable, per key) at the end.
//! After the run's duration the network heals, every node restarts, faults stop and clients
//! stop sending; the cluster settles, then C5 and C6 run.

mod checks;
mod cli;
mod clients;
mod kv;
mod net;
mod node;
pub mod picture;
pub mod report;
pub mod scenario;
pub mod shrink;
pub mod swarm;
mod world;

use logbook::raft_rs::raft::Storage;

pub use checks::{CheckKind, Violation};
pub use cli::{run_cli, ClusterArgs};
pub use kv::{Command, StateMachine};
pub use scenario::{is_cluster_scenario, ClusterScenario};

use crate::linearizability::{Checker, History, KvInput, KvOutput, Operation, PartitionedCheck};
use world::World;

/// How long the cluster settles after the run, faults off, before the final checks.
pub const SETTLE_MS: u64 = 3_000;

/// Search steps the linearizability check may spend per key before giving up (the verdict
/// is then unknown, counted, never "ok").
pub const LIN_STEPS_MAX: u64 = 2_000_000;

/// One cluster run: a scenario and a seed, and the knobs `shrink` turns off.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The scenario.
    pub scenario: ClusterScenario,
    /// The seed every random choice comes from.
    pub seed: u64,
    /// Keep every trace line (for `--trace`).
    pub record_trace: bool,
    /// The disk fault model on (crashes still lose what was not durable when off).
    pub disk_faults: bool,
}

impl RunSpec {
    /// The seed's run with every fault of the scenario on.
    pub fn new(scenario: ClusterScenario, seed: u64) -> Self {
        RunSpec {
            scenario,
            seed,
            record_trace: false,
            disk_faults: true,
        }
    }
}

/// What one run (or many, added up) did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterStats {
    /// Runs added up.
    pub runs: u64,
    /// Events handled.
    pub events: u64,
    /// Raft messages sent (before the network's faults).
    pub messages: u64,
    /// Messages (raft and client) the network dropped.
    pub dropped: u64,
    /// Messages the network delivered twice.
    pub duplicated: u64,
    /// Partitions started.
    pub partitions: u64,
    /// Node crashes (power loss or fail-stop).
    pub crashes: u64,
    /// Crashes of a majority, or of every node, at one instant.
    pub majority_crashes: u64,
    /// Restarts from disk after a crash.
    pub restarts: u64,
    /// Nodes stopped by a storage error (an injected fsync error...).
    pub fail_stops: u64,
    /// Distinct leader terms seen.
    pub elections: u64,
    /// The highest leader term seen (per run; not added up).
    pub last_leader_term: u64,
    /// Entries committed (applied somewhere), summed over runs.
    pub committed: u64,
    /// Client operations answered.
    pub ops_ok: u64,
    /// Client operations given up (outcome unknown).
    pub ops_unknown: u64,
    /// Checks made.
    pub checks: u64,
    /// Runs whose linearizability check ran out of steps.
    pub lin_unknown: u64,
    /// Disk faults injected.
    pub disk_faults: u64,
    /// Simulated time of the runs (without the settling).
    pub sim_ms: u64,
    /// Client latency of each answered operation.
    pub latency_ms: Vec<u64>,
    /// Per restart: simulated time until the node applied what was committed when it
    /// restarted.
    pub catch_up_ms: Vec<u64>,
}

impl ClusterStats {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &ClusterStats) {
        self.runs += o.runs;
        self.events += o.events;
        self.messages += o.messages;
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.partitions += o.partitions;
        self.crashes += o.crashes;
        self.majority_crashes += o.majority_crashes;
        self.restarts += o.restarts;
        self.fail_stops += o.fail_stops;
        self.elections += o.elections;
        self.committed += o.committed;
        self.ops_ok += o.ops_ok;
        self.ops_unknown += o.ops_unknown;
        self.checks += o.checks;
        self.lin_unknown += o.lin_unknown;
        self.disk_faults += o.disk_faults;
        self.sim_ms += o.sim_ms;
        self.latency_ms.extend_from_slice(&o.latency_ms);
        self.catch_up_ms.extend_from_slice(&o.catch_up_ms);
    }
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// What the run did.
    pub stats: ClusterStats,
    /// The first failed check, if any.
    pub violation: Option<Violation>,
    /// The trace digest (same seed, same digest).
    pub digest: u64,
    /// The trace lines, if recorded.
    pub trace: Vec<String>,
    /// The client history (ids are positions).
    pub history: Vec<Operation<KvInput, KvOutput>>,
    /// The per-key linearizability verdict on it, if the run got that far.
    pub lin: Option<PartitionedCheck<u64, KvInput, KvOutput>>,
    /// The numbers of the chaos faults injected (see `ClusterFile::skip_faults`).
    pub faults_fired: Vec<u32>,
}

/// Runs one seed of one scenario.
pub fn run(spec: &RunSpec) -> RunResult {
    let mut w = World::new(spec);
    w.boot();
    let duration = spec.scenario.spec.duration_ms;
    w.run_until(duration);
    if w.checks.violation.is_none() {
        settle(&mut w, duration);
    }
    let lin = match w.checks.violation {
        None => check_history(&mut w),
        Some(_) => None,
    };
    let mut stats = std::mem::take(&mut w.stats);
    stats.runs = 1;
    stats.sim_ms = duration;
    stats.checks = w.checks.checks;
    stats.disk_faults = w.nodes.iter().map(|n| n.disk.counters().faults()).sum();
    if let Some(v) = &w.checks.violation {
        w.trace.event(format_args!("VIOLATION {v}"));
    }
    RunResult {
        stats,
        violation: w.checks.violation.clone(),
        digest: w.trace.digest(),
        trace: w.trace.take_lines(),
        history: std::mem::take(&mut w.history),
        lin,
        faults_fired: std::mem::take(&mut w.faults_fired),
    }
}

/// Heals the network, stops faults and clients, restarts every node, lets the cluster run,
/// then checks C5 on every node's log.
fn settle(w: &mut World<'_>, from_ms: u64) {
    w.settling = true;
    w.partition = None;
    for n in &w.nodes {
        n.disk.set_faults_enabled(false);
    }
    for i in 0..w.nodes.len() {
        w.restart(i);
    }
    w.run_until(from_ms + SETTLE_MS);
    if w.checks.violation.is_some() {
        return;
    }
    // Every node is up: compare their logs as they stand.
    for i in 0..w.nodes.len() {
        let Some(up) = w.nodes[i].up.as_ref() else {
            continue;
        };
        let s = up.raw.store();
        let (Ok(first), Ok(last)) = (s.first_index(), s.last_index()) else {
            continue;
        };
        if let Ok(entries) = s.entries(first, last + 1, None, logbook::raft_rs::no_context()) {
            let seen: Vec<_> = entries
                .iter()
                .map(|e| {
                    (
                        e.term,
                        checks::entry_hash(e.get_entry_type() as i32, &e.data),
                    )
                })
                .collect();
            w.checks.install_snapshot(i, first - 1, w.now);
            w.checks.on_append(i, first, &seen, w.now);
        }
    }
    w.checks.check_committed_held(w.now);
}

/// C6: the client history, per key. The history stays in `w`.
fn check_history(w: &mut World<'_>) -> Option<PartitionedCheck<u64, KvInput, KvOutput>> {
    let ops = std::mem::take(&mut w.history);
    let Ok(history) = History::from_operations(ops) else {
        w.violation(CheckKind::Linearizability, "malformed history".into());
        return None;
    };
    let p = Checker::new().max_steps(LIN_STEPS_MAX).check_partitioned(
        &crate::linearizability::Kv,
        &history,
        KvInput::key,
    );
    w.history = history.into_operations();
    w.checks.checks += p.parts_checked as u64;
    if p.result.is_unknown() {
        w.stats.lin_unknown += 1;
    }
    if let Some(window) = p.result.window() {
        let mut text = window.to_string();
        text.truncate(4000);
        let detail = format!(
            "key {} is not linearizable: {}",
            p.failed_part.unwrap_or(0),
            text.replace('\n', " | ")
        );
        w.violation(CheckKind::Linearizability, detail);
    }
    Some(p)
}

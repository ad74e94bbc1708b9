//! Shrinking a failing cluster seed: the seed stays, the scenario loses what the failure
//! does not need. Greedily, each knob is turned off (or the run shortened) and kept off if
//! the same check still fails; the result is written as a scenario file to replay.

use std::fmt::Write as _;

use super::scenario::ClusterFile;
use super::{run, CheckKind, ClusterScenario, RunSpec, Violation};
use crate::scenario::{Expect, FlushSpec, StrategySpec};

/// A shrunk failure.
#[derive(Debug, Clone)]
pub struct Shrunk {
    pub spec: RunSpec,
    pub violation: Violation,
    /// Runs tried.
    pub runs: u32,
    /// The knobs turned off, by name.
    pub removed: Vec<&'static str>,
    /// The chaos faults (crashes, partitions) the shrunk run still injects.
    pub faults_kept: usize,
}

type Knob = (&'static str, fn(&mut ClusterFile));

const KNOBS: &[Knob] = &[
    ("partitions", |s| s.network.partition = 0.0),
    ("message drops", |s| s.network.drop = 0.0),
    ("duplicates", |s| s.network.duplicate = 0.0),
    ("single-node crashes", |s| s.crash.node = 0.0),
    ("majority crashes", |s| s.crash.majority = 0.0),
    ("whole-cluster crashes", |s| s.crash.all = 0.0),
    ("delays", |s| {
        s.network.delay_max_ms = s.network.delay_min_ms
    }),
];

fn fails(spec: &RunSpec, kind: CheckKind) -> Option<Violation> {
    let r = std::panic::catch_unwind(|| run(spec)).ok()?;
    r.violation.filter(|v| v.kind == kind)
}

/// Shrinks `spec`'s failure; `None` if the seed does not fail.
pub fn shrink(spec: &RunSpec) -> Option<Shrunk> {
    let first = std::panic::catch_unwind(|| run(spec)).ok()?.violation?;
    let kind = first.kind;
    let mut best = spec.clone();
    let mut violation = first;
    let mut runs = 1;
    let mut removed = Vec::new();
    let try_with = |f: &dyn Fn(&mut RunSpec), best: &mut RunSpec, runs: &mut u32| {
        let mut cand = best.clone();
        f(&mut cand);
        *runs += 1;
        let v = fails(&cand, kind)?;
        *best = cand;
        Some(v)
    };
    if let Some(v) = try_with(&|s| s.disk_faults = false, &mut best, &mut runs) {
        violation = v;
        removed.push("disk faults");
    }
    for (name, knob) in KNOBS {
        if let Some(v) = try_with(&|s| knob(&mut s.scenario.spec), &mut best, &mut runs) {
            violation = v;
            removed.push(*name);
        }
    }
    // Shorter runs: the failure's own time, plus a little, is enough if it fails early.
    let end = (violation.at_ms + 1).max(best.scenario.spec.tick_ms * 50);
    if end < best.scenario.spec.duration_ms {
        if let Some(v) = try_with(&|s| s.scenario.spec.duration_ms = end, &mut best, &mut runs) {
            violation = v;
            removed.push("time after the failure");
        }
    }
    while best.scenario.spec.clients.clients > 1 {
        let fewer = |s: &mut RunSpec| s.scenario.spec.clients.clients /= 2;
        match try_with(&fewer, &mut best, &mut runs) {
            Some(v) => violation = v,
            None => break,
        }
    }
    let faults_kept = skip_faults(&mut best, &mut violation, kind, &mut runs);
    Some(Shrunk {
        spec: best,
        violation,
        runs,
        removed,
        faults_kept,
    })
}

/// The most runs the fault schedule's delta debugging may spend.
pub const FAULT_RUNS_MAX: u32 = 200;

/// Delta debugging over the chaos faults `best` injects: a chunk of them is skipped (added to
/// `skip_faults`) and stays skipped if the same check still fails; chunks halve down to one
/// fault. Returns how many faults the shrunk run still injects.
fn skip_faults(
    best: &mut RunSpec,
    violation: &mut Violation,
    kind: CheckKind,
    runs: &mut u32,
) -> usize {
    let fired = |spec: &RunSpec, runs: &mut u32| -> Vec<u32> {
        *runs += 1;
        std::panic::catch_unwind(|| run(spec)).map_or_else(|_| Vec::new(), |r| r.faults_fired)
    };
    let mut kept = fired(best, runs);
    let mut chunk = (kept.len() / 2).max(1);
    let spent = *runs;
    while !kept.is_empty() && *runs - spent < FAULT_RUNS_MAX {
        let mut progressed = false;
        let mut start = 0;
        while start < kept.len() && *runs - spent < FAULT_RUNS_MAX {
            let end = (start + chunk).min(kept.len());
            let mut cand = best.clone();
            cand.scenario.spec.skip_faults.extend(&kept[start..end]);
            cand.scenario.spec.skip_faults.sort_unstable();
            *runs += 1;
            match fails(&cand, kind) {
                Some(v) => {
                    *violation = v;
                    *best = cand;
                    kept = fired(best, runs);
                    progressed = true;
                }
                None => start = end,
            }
        }
        if chunk == 1 && !progressed {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    kept.len()
}

/// The shrunk scenario as a cluster scenario file (every field written out).
pub fn scenario_toml(sc: &ClusterScenario, disk_faults: bool) -> String {
    let s = &sc.spec;
    let mut o = String::new();
    let _ = writeln!(o, "description = {:?}", format!("shrunk from {}", sc.name));
    let strategy = match s.strategy {
        StrategySpec::DiskFirst => "disk-first",
        StrategySpec::MemFirst => "mem-first",
    };
    let _ = writeln!(o, "strategy = \"{strategy}\"");
    match s.flush {
        FlushSpec::Immediate => o.push_str("flush = \"immediate\"\n"),
        FlushSpec::Batch {
            threshold,
            interval_ms,
        } => {
            let _ = writeln!(
                o,
                "flush = {{ batch = {{ threshold = {threshold}, interval_ms = {interval_ms} }} }}"
            );
        }
        FlushSpec::Adaptive { delay_max_us } => {
            let _ = writeln!(
                o,
                "flush = {{ adaptive = {{ delay_max_us = {delay_max_us} }} }}"
            );
        }
    }
    let expect = match s.expect {
        Expect::Pass => "pass",
        Expect::Violation => "violation",
    };
    let _ = writeln!(o, "expect = \"{expect}\"");
    let _ = writeln!(
        o,
        "nodes = {}\nduration_ms = {}\ntick_ms = {}\nfsync_ms = {}",
        s.nodes, s.duration_ms, s.tick_ms, s.fsync_ms
    );
    let _ = writeln!(o, "compact_entries = {}", s.compact_entries);
    if !s.skip_faults.is_empty() {
        let _ = writeln!(o, "skip_faults = {:?}", s.skip_faults);
    }
    if let Some(skew) = s.tick_skew_max_ms {
        let _ = writeln!(o, "tick_skew_max_ms = {skew}");
    }
    sections(&mut o, s, disk_faults);
    o
}

/// The `[engine]` ... `[bug]` sections of [`scenario_toml`].
fn sections(o: &mut String, s: &ClusterFile, disk_faults: bool) {
    let e = &s.engine;
    let _ = writeln!(
        o,
        "\n[engine]\nsegment_size_bytes = {}\ncache_entries_max = {}\nprefetch_entries = {}\n\
         unflushed_bytes_max = {}\npayload_size_max_bytes = {}\nflush_entries_max = {}",
        e.segment_size_bytes,
        e.cache_entries_max,
        e.prefetch_entries,
        e.unflushed_bytes_max,
        e.payload_size_max_bytes,
        e.flush_entries_max
    );
    let n = &s.network;
    let _ = writeln!(
        o,
        "\n[network]\ndrop = {:?}\nduplicate = {:?}\ndelay_min_ms = {}\ndelay_max_ms = {}\n\
         partition = {:?}\npartition_ms = {}",
        n.drop, n.duplicate, n.delay_min_ms, n.delay_max_ms, n.partition, n.partition_ms
    );
    let c = &s.crash;
    let _ = writeln!(
        o,
        "\n[crash]\nnode = {:?}\nmajority = {:?}\nall = {:?}\nrestart_min_ms = {}\nrestart_max_ms = {}",
        c.node, c.majority, c.all, c.restart_min_ms, c.restart_max_ms
    );
    let k = &s.clients;
    let _ = writeln!(
        o,
        "\n[clients]\nclients = {}\nkeys = {}\nput = {}\nget = {}\ncas = {}\nthink_max_ms = {}\n\
         timeout_ms = {}",
        k.clients, k.keys, k.put, k.get, k.cas, k.think_max_ms, k.timeout_ms
    );
    o.push_str("\n[faults]\n");
    if disk_faults {
        for (name, rate) in s.faults.iter() {
            if rate > 0.0 && name != "dir_sync_error" {
                let _ = writeln!(o, "{name} = {rate:?}");
            }
        }
        if let Some(r) = s.faults.dir_sync_error {
            let _ = writeln!(o, "dir_sync_error = {r:?}");
        }
    }
    let _ = writeln!(
        o,
        "\n[bug]\nack_before_durable = {}\nforget_vote = {}\nstale_reads = {}",
        s.bug.ack_before_durable, s.bug.forget_vote, s.bug.stale_reads
    );
}

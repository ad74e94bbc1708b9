//! One run: a scenario, a seed (or an explicit schedule), the engine's `Log` on a `SimDisk`
//! and a `SimClock`, the model kept in step, and the invariants checked after every reopen
//! and on every read.
//!
//! Error policy, as DESIGN.md demands of a Raft node: any write-path failure is fail-stop, so
//! the harness restarts the machine (crash, then recovery) rather than retrying; a corruption
//! report is correct only for a file the run rotted; every other error is a violation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use logbook::{CanarySet, Entry, Error, HardState, Log, LogId, Strategy};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::clock::SimClock;
use crate::disk::{FaultCounters, FaultRates, SimDisk};
use crate::model::{check_recovered, describe, Model, Recovered, Violation};
use crate::ops::{self, Op};
use crate::scenario::Scenario;
use crate::seeds::{self, Stream};
use crate::trace::{fnv1a, Trace};

const STORE_DIR: &str = "/store";
const OPEN_ATTEMPTS_MAX: u32 = 24;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub scenario: Scenario,
    pub seed: u64,
    /// An explicit schedule (from `shrink`) instead of the seed's generated one.
    pub schedule: Option<Vec<Op>>,
    /// Fault kinds forced off (by `shrink`).
    pub disabled_faults: Vec<String>,
    pub record_trace: bool,
    pub canaries: CanarySet,
}

impl RunSpec {
    pub fn new(scenario: Scenario, seed: u64) -> RunSpec {
        RunSpec {
            scenario,
            seed,
            schedule: None,
            disabled_faults: Vec::new(),
            record_trace: false,
            canaries: CanarySet::default(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub ops: u64,
    pub crashes: u64,
    pub recoveries: u64,
    pub crashes_during_recovery: u64,
    pub fail_stop_restarts: u64,
    pub checks: u64,
    pub reads_checked: u64,
    pub torn_cuts: u64,
    pub corruption_reported: u64,
    pub backpressure: u64,
    pub faults: FaultCounters,
}

impl RunStats {
    pub fn add(&mut self, o: &RunStats) {
        self.ops += o.ops;
        self.crashes += o.crashes;
        self.recoveries += o.recoveries;
        self.crashes_during_recovery += o.crashes_during_recovery;
        self.fail_stop_restarts += o.fail_stop_restarts;
        self.checks += o.checks;
        self.reads_checked += o.reads_checked;
        self.torn_cuts += o.torn_cuts;
        self.corruption_reported += o.corruption_reported;
        self.backpressure += o.backpressure;
        self.faults.add(&o.faults);
    }
}

/// A violation with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub violation: Violation,
    /// The schedule position of the op during or after which it was found.
    pub op_index: usize,
    /// The trace event count when it was found.
    pub trace_event: u64,
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub stats: RunStats,
    pub failure: Option<Failure>,
    pub digest: u64,
    pub trace: Vec<String>,
    pub schedule: Vec<Op>,
    pub rates: FaultRates,
}

impl RunResult {
    /// The schedule position of the failure (the last op if none).
    pub fn failure_op_index(&self) -> usize {
        self.failure
            .as_ref()
            .map_or(self.schedule.len().saturating_sub(1), |f| f.op_index)
    }
}

enum Stop {
    Violation(Violation),
    /// The store reported corruption of a file the run rotted: correct, and the end of it.
    CorruptionReported,
}

type Step = Result<(), Stop>;

fn violation(invariant: u8, message: impl Into<String>) -> Stop {
    Stop::Violation(Violation {
        invariant,
        message: message.into(),
    })
}

/// The fault rates of one seed: the scenario's, each kind switched off by the swarm stream
/// with probability 1/2 (when the scenario asks for it), and the forced-off kinds.
pub fn effective_rates(spec: &RunSpec) -> FaultRates {
    let mut table = toml::Table::try_from(&spec.scenario.spec.faults).expect("rates serialize");
    let mut rng = seeds::rng(spec.seed, Stream::SwarmToggles);
    for (name, value) in table.iter_mut() {
        let off = spec.disabled_faults.iter().any(|d| d == name)
            || (spec.scenario.spec.swarm_faults && rng.gen_bool(0.5));
        if off && name != "capacity_bytes" && name != "read_error_sticky" {
            *value = toml::Value::Float(0.0);
        }
    }
    table.try_into().expect("rates deserialize")
}

/// Runs one seed. Panics inside the engine are the caller's to catch. A `front = "store"`
/// scenario runs the threaded `Store` under a shuttle schedule (`store_run`).
pub fn run(spec: &RunSpec) -> RunResult {
    if spec.scenario.spec.front == crate::scenario::Front::Store {
        return crate::store_run::run(spec);
    }
    let trace = Trace::new(spec.record_trace);
    let rates = effective_rates(spec);
    // Bit rot is injected by the harness after each crash (see `Harness::crash`), not by the
    // disk, because only after the crash is it known which segment is the newest.
    let disk_rates = FaultRates {
        bit_rot: 0.0,
        ..rates.clone()
    };
    let disk = SimDisk::new(
        seeds::stream_seed(spec.seed, Stream::Faults),
        disk_rates,
        trace.clone(),
    );
    let schedule = match &spec.schedule {
        Some(s) => s.clone(),
        None => ops::generate(&spec.scenario, &mut seeds::rng(spec.seed, Stream::Workload)),
    };
    let mut cfg = spec.scenario.engine_config();
    cfg.canaries = spec.canaries;
    let mut h = Harness {
        disk: disk.clone(),
        clock: SimClock::new(0),
        trace: trace.clone(),
        cfg,
        crash_rng: seeds::rng(spec.seed, Stream::CrashPoints),
        payload_seed: seeds::stream_seed(spec.seed, Stream::Payloads),
        recovery_crash_rate: spec.scenario.spec.crash.during_recovery,
        log: None,
        model: Model::new(),
        stats: RunStats::default(),
        term: 1,
        bump_term: false,
        rotted: Vec::new(),
        rot_rate: rates.bit_rot,
    };
    trace.event(format_args!(
        "run scenario={} seed={} ops={}",
        spec.scenario.name,
        spec.seed,
        schedule.len()
    ));
    let mut stop = h.recover();
    let mut op_index = 0;
    if stop.is_ok() {
        for (i, op) in schedule.iter().enumerate() {
            op_index = i;
            h.trace.event(format_args!("op {i}: {op}"));
            h.stats.ops += 1;
            stop = h.step(op).and_then(|()| h.after_op());
            if stop.is_err() {
                break;
            }
        }
        if stop.is_ok() {
            h.trace.event("final crash");
            stop = h.crash_and_recover();
        }
    }
    let failure = match stop {
        Err(Stop::Violation(v)) => {
            trace.event(format_args!("VIOLATION {v}"));
            Some(Failure {
                violation: v,
                op_index,
                trace_event: trace.events(),
            })
        }
        Err(Stop::CorruptionReported) | Ok(()) => None,
    };
    h.stats.faults = disk.counters();
    RunResult {
        stats: h.stats,
        failure,
        digest: trace.digest(),
        trace: trace.take_lines(),
        schedule,
        rates,
    }
}

struct Harness {
    disk: SimDisk,
    clock: SimClock,
    trace: Trace,
    cfg: logbook::Config,
    crash_rng: ChaCha8Rng,
    payload_seed: u64,
    recovery_crash_rate: f64,
    log: Option<Log>,
    model: Model,
    stats: RunStats,
    /// The highest term used so far.
    term: u64,
    /// A truncation happened: the next append comes from a new leader, in a higher term.
    bump_term: bool,
    rotted: Vec<PathBuf>,
    rot_rate: f64,
}

impl Harness {
    fn log(&mut self) -> &mut Log {
        self.log.as_mut().expect("the store is open between steps")
    }

    /// A payload that names its index and term, with pseudo-random filler.
    fn payload(&self, index: u64, term: u64, len: u16) -> Bytes {
        let mut x =
            seeds::mix(self.payload_seed ^ index.wrapping_mul(31) ^ term.wrapping_mul(1_000_003));
        let mut v: Vec<u8> = format!("{index}:{term}:").into_bytes();
        let keep = v.len().max(len as usize);
        while v.len() < keep {
            x = seeds::mix(x);
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.truncate(keep);
        Bytes::from(v)
    }

    fn step(&mut self, op: &Op) -> Step {
        let cur = self.model.current().clone();
        let last = cur.last();
        let boundary = cur.boundary_index();
        match *op {
            Op::Append {
                count,
                new_term,
                payload_len,
            } => {
                if new_term || self.bump_term {
                    self.term += 1;
                    self.bump_term = false;
                }
                self.term = self.term.max(last.term);
                let entries: Vec<Entry> = (1..=count as u64)
                    .map(|k| Entry {
                        index: last.index + k,
                        term: self.term,
                        payload: self.payload(last.index + k, self.term, payload_len),
                    })
                    .collect();
                self.model.push(cur.appended(&entries));
                match self.log().append(&entries) {
                    Ok(()) => self.trace.event(format_args!(
                        "  appended {}..={} term {}",
                        last.index + 1,
                        last.index + count as u64,
                        self.term
                    )),
                    Err(Error::Backpressure { .. }) => {
                        self.model.pop();
                        self.stats.backpressure += 1;
                        self.trace.event("  backpressure");
                    }
                    Err(e) => return self.on_error(e),
                }
            }
            Op::Truncate { back } => {
                let from = last.index.saturating_sub(back as u64).max(boundary + 1);
                if from > last.index {
                    return Ok(());
                }
                self.model.push(cur.truncated(from));
                self.model.void_claims_from(from);
                self.bump_term = true;
                if let Err(e) = self.log().truncate(from) {
                    return self.on_error(e);
                }
                self.trace.event(format_args!("  truncated from {from}"));
            }
            Op::Purge { ahead } => {
                let upto = (last.index as i64 + ahead as i64).max(0) as u64;
                if upto <= boundary {
                    return Ok(());
                }
                let term = cur.get(upto).map_or(last.term, |e| e.term);
                let upto = LogId::new(term, upto);
                self.model.push(cur.purged(upto));
                if let Err(e) = self.log().purge(upto) {
                    return self.on_error(e);
                }
                if self.cfg.strategy == Strategy::DiskFirst {
                    self.model.boundary_floor = self.model.boundary_floor.max(upto.index);
                }
                self.trace
                    .event(format_args!("  purged up to {}", upto.index));
            }
            Op::HardState {
                new_term,
                vote,
                commit_back,
            } => {
                let prev = self.model.hard_state;
                let hs = HardState {
                    term: prev.term.max(self.term) + new_term as u64,
                    vote: vote.map(u64::from),
                    commit: last.index.saturating_sub(commit_back as u64),
                };
                self.model.hard_state_in_flight = Some(hs);
                if let Err(e) = self.log().save_hard_state(hs) {
                    return self.on_error(e);
                }
                self.model.hard_state = hs;
                self.model.hard_state_in_flight = None;
            }
            Op::ReadOne { back } => {
                let i = last.index.saturating_sub(back as u64);
                match self.log().entry(i) {
                    Ok(got) => {
                        self.stats.reads_checked += 1;
                        self.stats.checks += 1;
                        let want = cur.visible(i);
                        if got.as_ref() != want {
                            return Err(violation(
                                5,
                                format!(
                                    "read of {i} returned {} but the log holds {}",
                                    describe(got.as_ref()),
                                    describe(want)
                                ),
                            ));
                        }
                    }
                    Err(e) => return self.on_read_error(e),
                }
            }
            Op::ReadRange { back, count, bytes } => {
                let from = last.index.saturating_sub(back as u64).max(boundary + 1);
                let to = from + count as u64 + 3;
                match self.log().entries(from, to, count as usize, bytes as u64) {
                    Ok(got) => {
                        self.stats.reads_checked += got.len() as u64;
                        self.stats.checks += 1;
                        let want = cur.range(from, to, count as usize, bytes as u64);
                        if got != want {
                            let at = (0..got.len().max(want.len()))
                                .find(|&k| got.get(k) != want.get(k))
                                .unwrap_or(0);
                            return Err(violation(5, format!(
                                "range read from {from} (count {count}, bytes {bytes}): at position {at} got {} but the log holds {}",
                                describe(got.get(at)), describe(want.get(at)))));
                        }
                    }
                    Err(e) => return self.on_read_error(e),
                }
            }
            Op::Flush => {
                if let Err(e) = self.log().sync() {
                    return self.on_error(e);
                }
            }
            Op::Tick { ms } => {
                self.clock.advance(ms as u64);
            }
            Op::Crash => return self.crash_and_recover(),
            Op::CrashInside { calls } => {
                let at = self.disk.fs_calls() + calls as u64;
                self.trace.event(format_args!("  crash armed at call {at}"));
                self.disk.arm_crash_at(at);
            }
            Op::Reopen => {
                let log = self.log.take().expect("open");
                if let Err(e) = log.close() {
                    return self.on_error(e);
                }
                self.model.mark_durable();
                return self.recover();
            }
        }
        Ok(())
    }

    /// After every op: time passes, the flush policy runs, the durable baseline moves, and
    /// the live store must match the model.
    fn after_op(&mut self) -> Step {
        self.clock.advance(1);
        let now = self.clock.now();
        if let Err(e) = self.log().poll(now) {
            return self.on_error(e);
        }
        let durable = self.log().durable_index();
        self.model.observe_durable(durable);
        if self.log().is_fully_durable() {
            self.model.mark_durable();
        }
        let (last, purged) = (self.log().last_index(), self.log().last_purged());
        let cur = self.model.current();
        self.stats.checks += 1;
        if last != cur.last().index || purged != cur.boundary {
            return Err(violation(
                0,
                format!(
                    "store has last {last} boundary {purged:?}, model has last {} boundary {:?}",
                    cur.last().index,
                    cur.boundary
                ),
            ));
        }
        Ok(())
    }

    fn on_read_error(&mut self, e: Error) -> Step {
        match e {
            Error::Io { .. } if !self.disk.is_crashed() => {
                self.trace.event(format_args!("  read error: {e}"));
                Ok(())
            }
            e => self.on_error(e),
        }
    }

    fn on_error(&mut self, e: Error) -> Step {
        self.trace.event(format_args!("  error: {e}"));
        // What the store claimed durable before failing binds it too.
        if let Some(log) = &self.log {
            self.model.observe_durable(log.durable_index());
        }
        if self.disk.is_crashed() {
            return self.crash_and_recover();
        }
        match e {
            Error::Corruption { path, .. } => self.on_corruption(&path),
            Error::Io { .. } | Error::DiskFull { .. } | Error::Poisoned { .. } => {
                // Fail-stop: no process can tell which pages a failed fsync dropped, so the
                // node restarts from what is durable.
                self.stats.fail_stop_restarts += 1;
                self.crash_and_recover()
            }
            e => Err(violation(
                0,
                format!("unexpected error from the store: {e}"),
            )),
        }
    }

    fn on_corruption(&mut self, path: &Path) -> Step {
        if self.rotted.iter().any(|p| p == path) {
            self.stats.corruption_reported += 1;
            self.trace.event(format_args!(
                "  corruption correctly reported in {}",
                path.display()
            ));
            Err(Stop::CorruptionReported)
        } else {
            Err(violation(
                7,
                format!(
                    "corruption reported in {} but no fault damaged that file's durable data",
                    path.display()
                ),
            ))
        }
    }

    fn crash_and_recover(&mut self) -> Step {
        self.log = None;
        self.crash();
        self.recover()
    }

    fn crash(&mut self) {
        self.disk.disarm_crash();
        let report = self.disk.crash();
        self.stats.crashes += 1;
        self.trace.event(format_args!("  crash: {report}"));
        if self.rot_rate > 0.0 && self.crash_rng.gen_bool(self.rot_rate) {
            self.rot();
        }
    }

    /// Flips one bit of durable data whose damage is unambiguous: the metadata (two slots)
    /// or a sealed segment. Not the newest segment: damage in its last synced batch cannot
    /// be told from a torn write by any format without a durable commit marker, and the
    /// engine cuts it as one (ARCHITECTURE.md, "known blind spots").
    fn rot(&mut self) {
        let dir = Path::new(STORE_DIR);
        let mut names = self.disk.list_durable(dir);
        let newest = names
            .iter()
            .filter(|n| n.starts_with("seg-"))
            .max()
            .cloned();
        names.retain(|n| n == "meta" || (n.starts_with("seg-") && Some(n) != newest.as_ref()));
        if names.is_empty() {
            return;
        }
        let path = dir.join(&names[self.crash_rng.gen_range(0..names.len())]);
        let len = self.disk.durable_file(&path).map_or(0, |b| b.len() as u64);
        if len == 0 {
            return;
        }
        let offset = self.crash_rng.gen_range(0..len);
        if self.disk.rot(&path, offset).is_ok() {
            self.trace
                .event(format_args!("  bit rot in {} at {offset}", path.display()));
            self.rotted.push(path);
        }
    }

    /// Opens the store (surviving crashes during recovery), then checks invariants 1-4 with
    /// faults off and makes the recovered state the model's durable baseline.
    fn recover(&mut self) -> Step {
        let mut attempt = 0;
        let mut log = loop {
            attempt += 1;
            if attempt > OPEN_ATTEMPTS_MAX {
                return Err(violation(
                    8,
                    format!("the store did not reopen in {OPEN_ATTEMPTS_MAX} attempts"),
                ));
            }
            if attempt < 6 && self.crash_rng.gen_bool(self.recovery_crash_rate) {
                let at = self.disk.fs_calls() + self.crash_rng.gen_range(1..=40);
                self.trace
                    .event(format_args!("  crash armed during recovery at call {at}"));
                self.disk.arm_crash_at(at);
            }
            let opened = Log::open(
                Arc::new(self.disk.clone()),
                Arc::new(self.clock.clone()),
                STORE_DIR,
                self.cfg.clone(),
            );
            self.disk.disarm_crash();
            match opened {
                Ok(log) => break log,
                Err(_) if self.disk.is_crashed() => {
                    self.stats.crashes_during_recovery += 1;
                    self.crash();
                }
                Err(Error::Corruption { path, .. }) => return self.on_corruption(&path),
                Err(e @ (Error::Io { .. } | Error::DiskFull { .. })) => {
                    // Fail-stop here too: after a failed fsync the page cache may show data
                    // the disk dropped, and no process can tell. The node restarts from what
                    // is durable (a crash also clears sticky read errors).
                    self.trace.event(format_args!("  open failed: {e}"));
                    self.crash();
                }
                Err(e) => return Err(violation(7, format!("recovery failed: {e}"))),
            }
        };
        self.stats.recoveries += 1;
        self.stats.torn_cuts += log.stats().torn_cuts_at_open as u64;
        self.disk.set_faults_enabled(false);
        let read = (|| {
            let boundary = log.last_purged();
            let last_index = log.last_index();
            let from = boundary.map_or(0, |b| b.index) + 1;
            let entries = log.entries(from, last_index + 1, usize::MAX, u64::MAX)?;
            Ok::<_, Error>(Recovered {
                boundary,
                last_index,
                entries,
                hard_state: log.hard_state(),
            })
        })();
        self.disk.set_faults_enabled(true);
        let r = match read {
            Ok(r) => r,
            Err(Error::Corruption { path, .. }) => return self.on_corruption(&path),
            Err(e) => {
                return Err(violation(
                    7,
                    format!("reading the recovered store failed: {e}"),
                ))
            }
        };
        let checks = check_recovered(&self.model, &r).map_err(Stop::Violation)?;
        self.stats.checks += checks;
        self.trace.event(format_args!(
            "  recovered boundary {:?} last {} hard state {:?} digest {:016x}",
            r.boundary.map(|b| b.index),
            r.last_index,
            r.hard_state,
            fnv1a(
                &r.entries
                    .iter()
                    .flat_map(|e| e.payload.iter().copied())
                    .collect::<Vec<u8>>()
            )
        ));
        self.term = self
            .term
            .max(r.entries.last().map_or(0, |e| e.term))
            .max(r.boundary.map_or(0, |b| b.term));
        self.model.reset(r.boundary, r.entries, r.hard_state);
        self.bump_term = true;
        // The verification read warmed the store (every segment indexed, caches full); the
        // workload goes on with a cold handle, as a restarted node would.
        drop(log);
        self.disk.set_faults_enabled(false);
        let cold = Log::open(
            Arc::new(self.disk.clone()),
            Arc::new(self.clock.clone()),
            STORE_DIR,
            self.cfg.clone(),
        );
        self.disk.set_faults_enabled(true);
        match cold {
            Ok(log) => self.log = Some(log),
            Err(e) => {
                return Err(violation(
                    8,
                    format!("a second open of the recovered store failed: {e}"),
                ))
            }
        }
        Ok(())
    }
}

//! One run: a scenario, a seed (or an explicit schedule), the engine's `Log` on a `SimDisk`
//! and a `SimClock`, the model kept in step, and the invariants checked after every reopen
//! and on every read.
//!
//! Error policy, as docs/DESIGN.md §1 asks of a Raft node: any write-path failure is fail-stop, so
//! the harness restarts the machine (crash, then recovery) rather than retrying; a corruption
//! report is correct only for a file the run rotted; every other error is a violation.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use logbook::{CanarySet, Log};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

mod ops_run;
mod recover;

use crate::archive::{ArchiveCounters, SimArchive};
use crate::clock::SimClock;
use crate::disk::{FaultCounters, FaultRates, SimDisk};
use crate::model::{Invariant, Model, Violation};
use crate::ops::{self, Op};
use crate::scenario::Scenario;
use crate::seeds::{self, Stream};
use crate::trace::Trace;

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
    /// `FlushPolicy::Adaptive`: syncs the policy held back to fill a batch (`LogStats`).
    pub paced_syncs: u64,
    /// `Config::snapshot_hint`: MemFirst entries read from disk below memory (`LogStats`).
    pub cold_reads: u64,
    pub faults: FaultCounters,
    /// The archive tier's faults (tiered scenarios only).
    pub archive: ArchiveCounters,
    /// Segments moved to the archive.
    pub archived_segments: u64,
}

impl RunStats {
    /// Adds what a closing (or crashing) log counted of itself.
    pub fn add_log(&mut self, s: &logbook::LogStats) {
        self.paced_syncs += s.paced_syncs;
        self.cold_reads += s.cold_reads;
    }

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
        self.paced_syncs += o.paced_syncs;
        self.cold_reads += o.cold_reads;
        self.faults.add(&o.faults);
        self.archive.add(&o.archive);
        self.archived_segments += o.archived_segments;
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

/// The most expected-versus-recovered rows a failed recovery check traces.
const DIFF_ROWS_MAX: usize = 40;

enum Stop {
    Violation(Violation),
    /// The store reported corruption of a file the run rotted: correct, and the end of it.
    CorruptionReported,
}

type Step = Result<(), Stop>;

fn violation(invariant: Invariant, message: impl Into<String>) -> Stop {
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

/// What every run of a seed starts from: its trace, its fault rates, a disk seeded from
/// its fault stream (with no bit rot of its own: the `Log` harness rots files itself after a
/// crash, once it knows which segment is the newest, and the store runs do not rot), its
/// schedule (the seed's own or an explicit one) and the engine's configuration.
pub(crate) struct Setup {
    pub trace: Trace,
    pub rates: FaultRates,
    pub disk: SimDisk,
    pub schedule: Vec<Op>,
    pub cfg: logbook::Config,
}

impl Setup {
    pub(crate) fn of(spec: &RunSpec) -> Setup {
        let trace = Trace::new(spec.record_trace);
        let rates = effective_rates(spec);
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
        let cfg = spec.scenario.engine_config().with_canaries(spec.canaries);
        Setup {
            trace,
            rates,
            disk,
            schedule,
            cfg,
        }
    }
}

/// The run's archive tier, if its scenario has an `[archive]` table. Its directory is set
/// up before the run, as an operator would: with the disk's faults off.
fn sim_archive(spec: &RunSpec, disk: &SimDisk, clock: &SimClock) -> Option<Arc<SimArchive>> {
    let rates = spec.scenario.spec.archive.clone()?;
    let rng = seeds::rng(spec.seed, Stream::Archive);
    disk.set_faults_enabled(false);
    let a = SimArchive::new(disk.clone(), clock.clone(), rates, rng);
    disk.set_faults_enabled(true);
    Some(a.expect("a fresh disk with faults off creates a directory"))
}

/// Runs one seed. Panics inside the engine are the caller's to catch. A `front = "store"`
/// scenario runs the threaded `Store` under a shuttle schedule (`store_run`).
pub fn run(spec: &RunSpec) -> RunResult {
    if spec.scenario.spec.front == crate::scenario::Front::Store {
        return crate::store_run::run(spec);
    }
    let Setup {
        trace,
        rates,
        disk,
        schedule,
        cfg,
    } = Setup::of(spec);
    let clock = SimClock::new(0);
    let archive = sim_archive(spec, &disk, &clock);
    let cfg = match &archive {
        Some(a) => cfg.with_archive(logbook::ArchiveHandle(a.clone())),
        None => cfg,
    };
    let mut h = Harness {
        disk: disk.clone(),
        clock,
        trace: trace.clone(),
        cfg,
        crash_rng: seeds::rng(spec.seed, Stream::CrashPoints),
        payload_seed: seeds::stream_seed(spec.seed, Stream::Payloads),
        hint_seed: spec.scenario.hint_seed(spec.seed),
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
    let (stop, op_index) = h.play(&schedule);
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
    if let Some(a) = &archive {
        h.stats.archive = a.counters();
    }
    RunResult {
        stats: h.stats,
        failure,
        digest: trace.digest(),
        trace: trace.take_lines(),
        schedule,
        rates,
    }
}

impl Harness {
    /// The run itself: open, every operation of `schedule` (with the checks after each),
    /// and a final crash and recovery. Returns how it stopped and at which operation.
    fn play(&mut self, schedule: &[Op]) -> (Step, usize) {
        let mut stop = self.recover();
        let mut op_index = 0;
        if stop.is_err() {
            return (stop, op_index);
        }
        for (i, op) in schedule.iter().enumerate() {
            op_index = i;
            self.trace.event(format_args!("op {i}: {op}"));
            self.stats.ops += 1;
            stop = self.step(op).and_then(|()| self.after_op());
            if stop.is_err() {
                return (stop, op_index);
            }
        }
        self.trace.event("final crash");
        (self.crash_and_recover(), op_index)
    }
}

struct Harness {
    disk: SimDisk,
    clock: SimClock,
    trace: Trace,
    cfg: logbook::Config,
    crash_rng: ChaCha8Rng,
    payload_seed: u64,
    /// With `engine.snapshot_hint`: each open's hint is drawn from it.
    hint_seed: Option<u64>,
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
}

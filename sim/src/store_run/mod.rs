//! A `front = "store"` run: the engine's real `Store` (its group commit, parked waiters,
//! relay, callbacks and flusher thread), not a copy, under a seeded shuttle schedule on
//! `SimDisk` and `SimClock`.
//!
//! Shuttle was chosen over loom: loom explores every interleaving of a small test, which a
//! store with a flusher thread, a dozen lock sites and hundreds of ops per run puts far out
//! of reach, and it has no seeded random mode for a swarm; shuttle runs one seeded random
//! (or PCT) schedule per seed, replays it exactly from that seed, and models `Mutex`,
//! `Condvar`, `park`/`unpark` and `spawn`, which is all `Store` uses (through
//! `logbook::sched`, which picks shuttle's primitives inside a simulated execution).
//!
//! Shuttle does not model time, so a ticker thread does: at each of its steps it advances
//! `SimClock` by 1..=`tick_max_ms` and fires the store's timed waits that are due. A wait
//! that no wake-up and no deadline can end shows up as a deadlock or a step-bound panic.
//!
//! The schedule's ops are split at crashes and reopens into incarnations. In each, a fresh
//! `Store` runs op k on worker k mod `workers`; then (for `crash-inside`, at a seeded Fs call
//! inside the incarnation) the machine loses power, or (for `reopen`) the store closes
//! cleanly, and the reopened log is checked against everything the store acknowledged.

mod book;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use logbook::sched::sim::{self as sim_sched, Timers};
use logbook::{Error, Log, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{FailurePersistence, MaxSteps, Runner};

use self::book::Book;
use self::worker::{worker, World};
use crate::clock::SimClock;
use crate::disk::SimDisk;
use crate::model::{check_recovered, Invariant, Recovered, Violation};
use crate::ops::Op;
use crate::run::{Failure, RunResult, RunSpec, Setup};
use crate::scenario::SchedulerSpec;
use crate::seeds::{self, Stream};
use crate::trace::Trace;

const STORE_DIR: &str = "/store";
const OPEN_ATTEMPTS_MAX: u32 = 24;
/// Shuttle's step bound: a run that exceeds it is livelocked (or wedged with the ticker on).
const STEPS_MAX: usize = 2_000_000;
/// Simulated ms after the last op within which every callback must have been called.
const LIVENESS_MS: u64 = 2_000;
/// The invariant number of a liveness failure (an acknowledgement that never comes).
pub const LIVENESS: Invariant = Invariant::Liveness;

/// Runs one seed of a store scenario under its shuttle schedule.
pub fn run(spec: &RunSpec) -> RunResult {
    let slot: Arc<Mutex<Option<RunResult>>> = Arc::default();
    let (out, shared_spec) = (slot.clone(), Arc::new(spec.clone()));
    let body = move || {
        let timers = Arc::new(Timers::default());
        let _sim = SimGuard::enter(timers.clone());
        let r = execute(&shared_spec, timers);
        *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    };
    let mut config = shuttle::Config::new();
    config.stack_size = 1 << 20;
    config.failure_persistence = FailurePersistence::None;
    config.silence_warnings = true;
    config.max_steps = MaxSteps::FailAfter(STEPS_MAX);
    let seed = schedule_seed(spec.seed);
    let threads = &spec.scenario.spec.threads;
    match threads.scheduler {
        SchedulerSpec::Random => {
            Runner::new(RandomScheduler::new_from_seed(seed, 1), config).run(body);
        }
        // PCT's first execution only measures the run's length; the second is the schedule.
        SchedulerSpec::Pct => {
            let pct = PctScheduler::new_from_seed(seed, threads.pct_depth, 2);
            Runner::new(pct, config).run(body);
        }
    }
    let r = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    r.expect("the simulated execution ran")
}

/// The seed of the shuttle schedule, independent of the other streams.
fn schedule_seed(seed: u64) -> u64 {
    seeds::mix(seeds::stream_seed(seed, Stream::CrashPoints) ^ 0x5348_5554_544c_4521)
}

/// Marks this OS thread as inside a simulated execution for as long as it lives.
struct SimGuard;

impl SimGuard {
    fn enter(timers: Arc<Timers>) -> SimGuard {
        sim_sched::enter(timers);
        SimGuard
    }
}

impl Drop for SimGuard {
    fn drop(&mut self) {
        sim_sched::exit();
    }
}

/// The body of the simulated execution.
fn execute(spec: &RunSpec, timers: Arc<Timers>) -> RunResult {
    // No bit rot (see `Setup`): the store runs hunt the fronts' bugs; rot is the `Log`
    // scenarios' job.
    let Setup {
        trace,
        rates,
        disk,
        schedule,
        cfg,
    } = Setup::of(spec);
    let mut h = Harness {
        disk: disk.clone(),
        clock: SimClock::new(0),
        trace: trace.clone(),
        cfg,
        timers,
        book: Arc::new(Mutex::new(Book::new())),
        spec: spec.clone(),
        last_op: 0,
    };
    trace.event(format_args!(
        "store run scenario={} seed={} ops={}",
        spec.scenario.name,
        spec.seed,
        schedule.len()
    ));
    let failure = h.run_all(&schedule).err().map(|v| {
        trace.event(format_args!("VIOLATION {v}"));
        Failure {
            violation: v,
            op_index: h.last_op,
            trace_event: trace.events(),
        }
    });
    let mut stats = h.book().stats;
    stats.faults = disk.counters();
    RunResult {
        stats,
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
    timers: Arc<Timers>,
    book: Arc<Mutex<Book>>,
    spec: RunSpec,
    /// The schedule position of the last op handed out.
    last_op: usize,
}

impl Harness {
    /// The configuration of one open: with `engine.snapshot_hint`, a hint drawn anew.
    fn open_cfg(&self) -> logbook::Config {
        let last = self.book().model.current().last().index;
        let hint_seed = self.spec.scenario.hint_seed(self.spec.seed);
        crate::seeds::open_config(&self.cfg, hint_seed, self.disk.fs_calls(), last)
    }

    #[track_caller]
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        worker::lock_book(&self.book)
    }

    /// Every incarnation, then a final power loss and check.
    fn run_all(&mut self, schedule: &[Op]) -> Result<(), Violation> {
        self.recover()?;
        let mut start = 0;
        while start <= schedule.len() {
            let end = (start..schedule.len())
                .find(|&k| schedule[k].is_crash() || schedule[k] == Op::Reopen)
                .unwrap_or(schedule.len());
            let ops: Vec<(usize, Op)> = (start..end).map(|k| (k, schedule[k].clone())).collect();
            let ending = schedule.get(end).cloned().unwrap_or(Op::Crash);
            self.incarnation(ops, &ending)?;
            start = end + 1;
        }
        Ok(())
    }

    /// One store incarnation: open, run the ops on the workers with the ticker, check the
    /// live state and liveness, end as `ending` says, reopen and check.
    fn incarnation(&mut self, ops: Vec<(usize, Op)>, ending: &Op) -> Result<(), Violation> {
        if let Some((k, _)) = ops.last() {
            self.last_op = *k;
        }
        if let Op::CrashInside { calls } = ending {
            let at = self.disk.fs_calls() + *calls as u64;
            self.trace.event(format_args!("  crash armed at call {at}"));
            self.disk.arm_crash_at(at);
        }
        let Some(store) = self.open_store()? else {
            return Ok(());
        };
        let world = Arc::new(World {
            store,
            seq: shuttle::sync::Mutex::new(()),
            book: self.book.clone(),
            trace: self.trace.clone(),
            clock: self.clock.clone(),
            disk: self.disk.clone(),
            timers: self.timers.clone(),
            strategy: self.cfg.strategy(),
            payload_seed: seeds::stream_seed(self.spec.seed, Stream::Payloads),
            unsequenced_flush: self.spec.scenario.spec.threads.unsequenced_flush,
        });
        let done = Arc::new(AtomicBool::new(false));
        let ticker = self.spawn_ticker(done.clone());
        self.run_workers(&world, ops);
        self.check_live(&world);
        self.wait_callbacks(&world);
        self.check_wakeups(&world);
        done.store(true, Ordering::SeqCst);
        let _ = ticker.join();
        let world = Arc::try_unwrap(world).unwrap_or_else(|_| panic!("workers joined"));
        let violation = self.book().violation.take();
        if let Some((v, k)) = violation {
            self.last_op = k;
            return Err(v);
        }
        self.end(world.store, ending);
        self.recover()
    }

    fn run_workers(&self, world: &Arc<World>, ops: Vec<(usize, Op)>) {
        let workers = self.spec.scenario.spec.threads.workers as usize;
        let mut shares: Vec<Vec<(usize, Op)>> = vec![Vec::new(); workers];
        for (k, op) in ops {
            shares[k % workers].push((k, op));
        }
        let handles: Vec<_> = shares
            .into_iter()
            .enumerate()
            .map(|(t, share)| {
                let w = world.clone();
                shuttle::thread::spawn(move || worker(w, t, share))
            })
            .collect();
        for h in handles {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
    }

    /// Time: advances the clock and fires due timed waits until `done`.
    fn spawn_ticker(&self, done: Arc<AtomicBool>) -> shuttle::thread::JoinHandle<()> {
        let (clock, timers) = (self.clock.clone(), self.timers.clone());
        let tick_max = self.spec.scenario.spec.threads.tick_max_ms;
        let mut rng = ChaCha8Rng::seed_from_u64(seeds::mix(schedule_seed(self.spec.seed) ^ 7));
        shuttle::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let now = clock.advance(rng.gen_range(1..=tick_max));
                timers.fire_due(now);
                shuttle::thread::yield_now();
            }
        })
    }

    /// Invariant 0: with no failure, the store's shape is the model's.
    fn check_live(&self, world: &World) {
        // Store calls are scheduling points: never made while holding the book.
        let (last, purged) = (world.store.last_index(), world.store.last_purged());
        let mut b = self.book();
        if b.stopped() {
            return;
        }
        let cur = b.model.current();
        let (want_last, want_purged) = (cur.last().index, cur.boundary);
        b.stats.checks += 1;
        if last.as_ref().ok() != Some(&want_last) || purged.as_ref().ok() != Some(&want_purged) {
            let msg = format!(
                "store has last {last:?} boundary {purged:?}, model has last {want_last} boundary {want_purged:?}"
            );
            let k = self.last_op;
            b.violate(Invariant::LiveState, msg, k);
        }
    }

    /// Liveness of the wake-ups (10): once every worker has returned, each parked waiter a
    /// sync (or truncation, purge) released is woken by it, at once or through the relay,
    /// within `LIVENESS_MS` (a releasing thread may still be on its way to the `unpark`),
    /// and none found its wait over while still parked. A waiter that times out instead is
    /// acknowledged all the same, so only this count tells a lost wake-up from a slow disk.
    /// Likewise a late one: the flusher is kicked for every sync an append leaves it (not
    /// found by its timeout, `flusher_late`), and every change notifies the threads waiting
    /// for one (`changed_late`). The counts are atomics: reading them is no scheduling
    /// point, and the trace line keeps its shape (the new counts appear only in a failure).
    fn check_wakeups(&self, world: &World) {
        let limit = self.clock.now() + LIVENESS_MS;
        let w = loop {
            let w = world.store.wakeups();
            let settled = w.woken == w.released;
            if settled || self.book().stopped() || self.clock.now() > limit {
                break w;
            }
            shuttle::thread::yield_now();
        };
        self.trace.event(format_args!(
            "  wakeups parked {} released {} woken {} expired {} late {}",
            w.parked, w.released, w.woken, w.expired, w.late
        ));
        let mut b = self.book();
        b.stats.checks += 1;
        b.wakeups_released += w.released;
        let accounted = w.parked == w.released + w.expired;
        let on_time = w.late == 0 && w.flusher_late == 0 && w.changed_late == 0;
        if b.stopped() || (accounted && w.woken == w.released && on_time) {
            return;
        }
        let msg = format!(
            "of {} parks, {} were released ({} woken) and {} expired; {} found their wait over while still parked (released by a timeout); the flusher woke {} times by its timeout to a sync it was owed a kick for; {} waits for a change slept through one that notified nobody",
            w.parked, w.released, w.woken, w.expired, w.late, w.flusher_late, w.changed_late
        );
        let k = self.last_op;
        b.violate(LIVENESS, msg, k);
    }

    /// Liveness: with no failure, every callback is called within `LIVENESS_MS` of simulated
    /// time, by the flusher's own syncs (nobody flushes for it).
    fn wait_callbacks(&self, world: &World) {
        let limit = self.clock.now() + LIVENESS_MS;
        loop {
            let (pending, stopped) = {
                let b = self.book();
                (b.callbacks_pending, b.stopped() || world.disk.is_crashed())
            };
            if pending == 0 || stopped {
                return;
            }
            if self.clock.now() > limit {
                let msg = format!(
                    "{pending} callbacks still waiting {LIVENESS_MS} ms after the last op (durable index {:?}, last index {:?}, next timer at {:?}, now {})",
                    world.store.durable_index(),
                    world.store.last_index(),
                    self.timers.next_deadline_ms(),
                    self.clock.now(),
                );
                let k = self.last_op;
                self.book().violate(LIVENESS, msg, k);
                return;
            }
            shuttle::thread::yield_now();
        }
    }

    /// Ends an incarnation: a clean close for `reopen` (if nothing failed), else power loss.
    fn end(&mut self, store: Store, ending: &Op) {
        if let Ok(s) = store.stats() {
            self.book().stats.add_log(&s);
        }
        let clean = *ending == Op::Reopen && !self.book().failed;
        if clean {
            match store.close() {
                Ok(()) => {
                    self.trace.event("  closed");
                    self.book().model.mark_durable();
                    return;
                }
                Err(e) => self.trace.event(format_args!("  close failed: {e}")),
            }
        } else {
            drop(store);
        }
        self.crash();
    }

    fn crash(&mut self) {
        self.disk.disarm_crash();
        let report = self.disk.crash();
        self.book().stats.crashes += 1;
        self.trace.event(format_args!("  crash: {report}"));
    }

    /// Opens the store for an incarnation, restarting the machine (and checking the
    /// recovery) after each I/O failure of the open.
    fn open_store(&mut self) -> Result<Option<Store>, Violation> {
        for _ in 0..OPEN_ATTEMPTS_MAX {
            let opened = Store::open_with(
                Arc::new(self.disk.clone()),
                Arc::new(self.clock.clone()),
                STORE_DIR,
                self.open_cfg(),
            );
            match opened {
                Ok(s) => return Ok(Some(s)),
                Err(e @ (Error::Io { .. } | Error::DiskFull { .. })) => {
                    self.trace.event(format_args!("  store open failed: {e}"));
                    self.crash();
                    self.recover()?;
                }
                Err(e) => {
                    return Err(Violation {
                        invariant: Invariant::IdempotentRecovery,
                        message: format!("the recovered store did not reopen: {e}"),
                    })
                }
            }
        }
        Ok(None)
    }

    /// After a crash (or close): opens the log, checks invariants 1-4 against everything the
    /// store acknowledged, and makes the recovered state the model's durable baseline.
    fn recover(&mut self) -> Result<(), Violation> {
        let err = |invariant, message| Violation { invariant, message };
        let mut attempt = 0;
        let mut log = loop {
            attempt += 1;
            if attempt > OPEN_ATTEMPTS_MAX {
                let msg = format!("the store did not reopen in {OPEN_ATTEMPTS_MAX} attempts");
                return Err(err(Invariant::IdempotentRecovery, msg));
            }
            let opened = Log::open(
                Arc::new(self.disk.clone()),
                Arc::new(self.clock.clone()),
                STORE_DIR,
                self.open_cfg(),
            );
            match opened {
                Ok(log) => break log,
                Err(e @ (Error::Io { .. } | Error::DiskFull { .. })) => {
                    self.trace.event(format_args!("  open failed: {e}"));
                    self.crash();
                }
                Err(e) => {
                    return Err(err(
                        Invariant::Classification,
                        format!("recovery failed: {e}"),
                    ))
                }
            }
        };
        self.disk.set_faults_enabled(false);
        let read = read_all(&mut log);
        self.disk.set_faults_enabled(true);
        drop(log);
        let r = read.map_err(|e| {
            err(
                Invariant::Classification,
                format!("reading the recovered store failed: {e}"),
            )
        })?;
        let mut b = self.book();
        b.stats.recoveries += 1;
        let checks = check_recovered(&b.model, &r)?;
        b.stats.checks += checks;
        self.trace.event(format_args!(
            "  recovered boundary {:?} last {} acked {} hard state {:?}",
            r.boundary.map(|x| x.index),
            r.last_index,
            b.acked,
            r.hard_state
        ));
        let top = r.entries.last().map_or(0, |e| e.term);
        b.term = b.term.max(top).max(r.boundary.map_or(0, |x| x.term));
        b.model.reset(r.boundary, r.entries, r.hard_state);
        b.bump_term = true;
        b.failed = false;
        b.acked = 0;
        Ok(())
    }
}

fn read_all(log: &mut Log) -> logbook::Result<Recovered> {
    let boundary = log.last_purged();
    let last_index = log.last_index();
    let from = boundary.map_or(0, |b| b.index) + 1;
    let entries = log.entries(from, last_index + 1, usize::MAX, u64::MAX)?;
    Ok(Recovered {
        boundary,
        last_index,
        entries,
        hard_state: log.hard_state(),
    })
}

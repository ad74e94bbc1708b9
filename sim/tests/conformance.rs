//! The conformance suite (`logbook_sim::conformance`) against logbook's `Log` in every
//! strategy and flush policy, on the simulated disk and on the real one, plus the crash
//! enumeration on the simulated disk; and proof that the suite fails on broken stores.
//!
//! Run with `--nocapture` to see each report. `LOGBOOK_CONFORMANCE_CRASH=thorough` (or
//! `depth=4,seeds=16,repeats=4`) widens the crash enumeration for a longer run.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use logbook::{Canary, Entry, Fs, HardState, LogId, StdFs, Strategy};
use logbook_sim::conformance::{
    self, CrashBound, DirDisks, LogStore, LogbookFactory, Options, Report, SimDisks, StoreFactory,
    StoreResult, CRASH_CASE,
};

const CONFIGS: [(Strategy, bool); 4] = [
    (Strategy::DiskFirst, false),
    (Strategy::DiskFirst, true),
    (Strategy::MemFirst, false),
    (Strategy::MemFirst, true),
];

fn factory(strategy: Strategy, batch: bool) -> LogbookFactory {
    LogbookFactory::new(LogbookFactory::suite_config(strategy, batch))
}

fn assert_passed(report: &Report) {
    println!("{report}");
    assert!(
        report.passed(),
        "{} on {} failed: {:#?}",
        report.store,
        report.disk,
        report.failures()
    );
}

#[test]
fn logbook_conforms_on_the_simulated_disk() {
    for (strategy, batch) in CONFIGS {
        let report = conformance::run(&factory(strategy, batch), &SimDisks, &Options::default());
        assert_passed(&report);
        let (passed, _, skipped) = report.counts();
        assert_eq!(skipped, 0, "every case runs on the simulated disk");
        assert_eq!(passed, 2 * conformance::cases().len() - 1);
    }
}

#[test]
fn logbook_conforms_on_the_real_disk() {
    for (strategy, batch) in CONFIGS {
        let tmp = tempfile::tempdir().unwrap();
        let disks = DirDisks::new(Arc::new(StdFs), tmp.path());
        let report = conformance::run(&factory(strategy, batch), &disks, &Options::default());
        assert_passed(&report);
        let (_, _, skipped) = report.counts();
        assert_eq!(skipped, 1, "only the crash case needs the simulated disk");
    }
}

/// The crash enumeration, one test per configuration so that they run in parallel.
fn crash_enumeration(strategy: Strategy, batch: bool) {
    let bound = CrashBound::from_env().unwrap();
    let opts = Options {
        plain: false,
        reopen_each: false,
        crash: Some(bound.clone()),
    };
    let started = Instant::now();
    let report = conformance::run(&factory(strategy, batch), &SimDisks, &opts);
    let x = report.exploration.clone().unwrap();
    println!(
        "{strategy:?} batch={batch} {bound:?}: {} sequences, {} crash points, {} crashed runs, \
         {} distinct crash states, {} checks in {:.1?}",
        x.sequences,
        x.crash_points,
        x.crash_runs,
        x.crash_states,
        x.checks,
        started.elapsed()
    );
    assert_passed(&report);
    let alphabet = bound.alphabet.len() as u64;
    let sequences: u64 = (0..=bound.depth as u32).map(|d| alphabet.pow(d)).sum();
    assert_eq!(x.sequences, sequences);
    assert!(
        x.crash_points > x.sequences,
        "every sequence has crash points"
    );
    assert!(
        x.crash_states >= x.crash_points,
        "every crash point is checked"
    );
}

#[test]
fn crash_enumeration_disk_first_immediate() {
    crash_enumeration(Strategy::DiskFirst, false);
}

#[test]
fn crash_enumeration_disk_first_batch() {
    crash_enumeration(Strategy::DiskFirst, true);
}

#[test]
fn crash_enumeration_mem_first_immediate() {
    crash_enumeration(Strategy::MemFirst, false);
}

#[test]
fn crash_enumeration_mem_first_batch() {
    crash_enumeration(Strategy::MemFirst, true);
}

#[test]
fn crash_bounds_parse_and_refuse_typos() {
    assert_eq!(CrashBound::parse("").unwrap(), CrashBound::quick());
    assert_eq!(
        CrashBound::parse("thorough").unwrap(),
        CrashBound::thorough()
    );
    let b = CrashBound::parse("depth=2, seeds=4").unwrap();
    assert_eq!((b.depth, b.seeds_per_point), (2, 4));
    assert!(CrashBound::parse("deep=4").is_err());
    assert!(CrashBound::parse("depth=four").is_err());
}

/// A small enumeration for the broken stores: enough to catch them, quick to run.
fn small_crash() -> Options {
    Options {
        crash: Some(CrashBound::parse("depth=3,seeds=4,repeats=2").unwrap()),
        ..Options::default()
    }
}

fn failed(report: &Report) -> Vec<&'static str> {
    println!("{report}");
    assert!(!report.passed(), "the broken store passed:\n{report}");
    report.failed_cases()
}

#[test]
fn the_suite_catches_ack_before_fsync() {
    let cfg = LogbookFactory::suite_config(Strategy::DiskFirst, false)
        .with_canary(Canary::AckBeforeFsync);
    let report = conformance::run(&LogbookFactory::new(cfg), &SimDisks, &small_crash());
    let failed = failed(&report);
    assert!(failed.contains(&"durable-index-honest"), "{failed:?}");
    assert!(failed.contains(&CRASH_CASE), "{failed:?}");
}

/// Each canary (a classic durability bug switched back on in the engine) that the fault
/// model of the enumeration can expose, in a configuration where it bites, is caught by a
/// bounded enumeration: depth 2 (sequences of at most two operations), or 3 where the bug
/// needs a longer history to bite. `silent-corruption-cut` is not among them: the suite
/// injects no bit rot, so there is no corruption to cut.
#[test]
fn the_crash_enumeration_catches_every_write_path_canary() {
    use Strategy::{DiskFirst, MemFirst};
    // (canary, strategy, Batch policy?, enumeration depth)
    let table = [
        (Canary::AckBeforeFsync, DiskFirst, false, 2),
        (Canary::SkipDirSync, DiskFirst, true, 2),
        // Format 2 decodes a batch's framing (varint lengths, entry count, no trailing
        // bytes) even with the checksum skipped, so a torn sector mostly breaks the framing;
        // the tear that keeps it (inside a payload) needs the longer history of depth 3.
        (Canary::SkipChecksum, MemFirst, false, 3),
        // Since an open also makes the store directory's own name durable (two more Fs
        // calls), no depth-2 crash point's seeds reach the losing outcome; depth 3 does.
        (Canary::PurgeBeforeBoundaryDurable, DiskFirst, true, 3),
        (Canary::HardStateNoFsync, MemFirst, false, 2),
        // Under DiskFirst/Batch with preallocated segments this bound no longer reaches a
        // losing outcome (the swarm's canary test still catches it there); Immediate does.
        (Canary::TruncateNotDurable, DiskFirst, false, 2),
        // A MemFirst truncation is written with the flush that follows it and synced by the
        // same fsync: the lie only bites on a crash inside that sync, at depth 3.
        (Canary::TruncateNotDurable, MemFirst, false, 3),
        (Canary::MemFirstEarlyDurable, MemFirst, true, 2),
    ];
    let mut missed = Vec::new();
    for (canary, strategy, batch, depth) in table {
        let opts = Options {
            plain: false,
            reopen_each: false,
            crash: Some(CrashBound::parse(&format!("depth={depth},seeds=4,repeats=2")).unwrap()),
        };
        let cfg = LogbookFactory::suite_config(strategy, batch).with_canary(canary);
        let report = conformance::run(&LogbookFactory::new(cfg), &SimDisks, &opts);
        let x = report.exploration.as_ref().unwrap();
        println!(
            "{:<30} {strategy:?} batch={batch} depth={depth}: {} failures; first: {}",
            canary.name(),
            x.failures_total,
            x.failures.first().map_or("-", String::as_str)
        );
        if report.failed_cases() != [CRASH_CASE] {
            missed.push(canary.name());
        }
    }
    assert!(missed.is_empty(), "missed: {missed:?}");
}

/// logbook's `Log`, with one deliberate lie.
struct Broken {
    inner: Box<dyn LogStore>,
    lie: Lie,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lie {
    /// `durable_index` says everything is durable.
    DurableIndex,
    /// `close` drops the last entry.
    DropOnReopen,
}

impl LogStore for Broken {
    fn append(&mut self, entries: &[Entry]) -> StoreResult<()> {
        self.inner.append(entries)
    }
    fn entry(&mut self, index: u64) -> StoreResult<Option<Entry>> {
        self.inner.entry(index)
    }
    fn entries(&mut self, from: u64, to: u64, count: usize, bytes: u64) -> StoreResult<Vec<Entry>> {
        self.inner.entries(from, to, count, bytes)
    }
    fn truncate(&mut self, from: u64) -> StoreResult<()> {
        self.inner.truncate(from)
    }
    fn purge(&mut self, upto: LogId) -> StoreResult<()> {
        self.inner.purge(upto)
    }
    fn save_hard_state(&mut self, hs: HardState) -> StoreResult<()> {
        self.inner.save_hard_state(hs)
    }
    fn hard_state(&self) -> HardState {
        self.inner.hard_state()
    }
    fn flush(&mut self) -> StoreResult<()> {
        self.inner.flush()
    }
    fn tick(&mut self) -> StoreResult<()> {
        self.inner.tick()
    }
    fn durable_index(&self) -> u64 {
        match self.lie {
            Lie::DurableIndex => self.inner.last_index(),
            Lie::DropOnReopen => self.inner.durable_index(),
        }
    }
    fn is_fully_durable(&self) -> bool {
        self.inner.is_fully_durable()
    }
    fn first_index(&self) -> u64 {
        self.inner.first_index()
    }
    fn last_index(&self) -> u64 {
        self.inner.last_index()
    }
    fn last_purged(&self) -> Option<LogId> {
        self.inner.last_purged()
    }
    fn close(mut self: Box<Self>) -> StoreResult<()> {
        let last = self.inner.last_index();
        if self.lie == Lie::DropOnReopen && last >= self.inner.first_index() {
            self.inner.truncate(last)?;
        }
        self.inner.close()
    }
}

fn broken(strategy: Strategy, batch: bool, lie: Lie) -> impl StoreFactory {
    let inner = factory(strategy, batch);
    conformance::factory_fn("logbook with a lie", move |fs: Arc<dyn Fs>, dir: &Path| {
        let inner = inner.open(fs, dir)?;
        Ok(Box::new(Broken { inner, lie }) as Box<dyn LogStore>)
    })
}

#[test]
fn the_suite_catches_a_store_that_lies_about_its_durable_index() {
    let report = conformance::run(
        &broken(Strategy::MemFirst, true, Lie::DurableIndex),
        &SimDisks,
        &small_crash(),
    );
    let failed = failed(&report);
    assert!(failed.contains(&"durable-index-honest"), "{failed:?}");
    assert!(failed.contains(&CRASH_CASE), "{failed:?}");
}

#[test]
fn the_suite_catches_a_store_that_drops_an_entry_on_reopen() {
    let report = conformance::run(
        &broken(Strategy::DiskFirst, false, Lie::DropOnReopen),
        &SimDisks,
        &Options::default(),
    );
    let failed = failed(&report);
    for case in [
        "read-single",
        "truncate-inside",
        "purge-inside",
        "append-after-purge",
    ] {
        assert!(failed.contains(&case), "{case} not among {failed:?}");
    }
    let names: Vec<String> = report.failures().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.contains(&"read-single/reopen-each".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"read-single/plain".to_string()),
        "{names:?}"
    );
}

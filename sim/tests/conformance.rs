//! The conformance suite (`logbook_sim::conformance`) against logbook's `Log` in every
//! strategy and flush policy, on the simulated disk and on the real one; and proof that the
//! suite fails on a broken store.
//!
//! Run with `--nocapture` to see each report.

use std::path::Path;
use std::sync::Arc;

use logbook::{Entry, Fs, HardState, LogId, StdFs, Strategy};
use logbook_sim::conformance::{
    self, DirDisks, LogStore, LogbookFactory, Options, Report, SimDisks, StoreFactory, StoreResult,
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
        assert_eq!(passed, 2 * conformance::cases().len());
    }
}

#[test]
fn logbook_conforms_on_the_real_disk() {
    for (strategy, batch) in CONFIGS {
        let tmp = tempfile::tempdir().unwrap();
        let disks = DirDisks::new(Arc::new(StdFs), tmp.path());
        let report = conformance::run(&factory(strategy, batch), &disks, &Options::default());
        assert_passed(&report);
    }
}

fn failed(report: &Report) -> Vec<&'static str> {
    println!("{report}");
    assert!(!report.passed(), "the broken store passed:\n{report}");
    report.failed_cases()
}

/// logbook's `Log`, but `close` drops the last entry.
struct Broken {
    inner: Box<dyn LogStore>,
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
        self.inner.durable_index()
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
        if last >= self.inner.first_index() {
            self.inner.truncate(last)?;
        }
        self.inner.close()
    }
}

fn broken(strategy: Strategy, batch: bool) -> impl StoreFactory {
    let inner = factory(strategy, batch);
    conformance::factory_fn("logbook with a lie", move |fs: Arc<dyn Fs>, dir: &Path| {
        let inner = inner.open(fs, dir)?;
        Ok(Box::new(Broken { inner }) as Box<dyn LogStore>)
    })
}

#[test]
fn the_suite_catches_a_store_that_drops_an_entry_on_reopen() {
    let report = conformance::run(
        &broken(Strategy::DiskFirst, false),
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

//! openraft 0.9's storage conformance suite (`openraft::testing::Suite::test_all`) against
//! the adapter, for every strategy and flush policy, each store in a fresh tempdir.
//!
//! Run: `cargo test -p logbook --features openraft --test openraft_suite`
#![cfg(feature = "openraft")]

mod common;
mod openraft_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use logbook::openraft::LogStore;
use logbook::Config;
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use tempfile::TempDir;

use openraft_common::{StateMachine, TypeConfig};

/// Builds a fresh store in its own tempdir for every suite case, counting the builds.
struct Builder {
    cfg: Config,
    builds: Arc<AtomicUsize>,
}

impl StoreBuilder<TypeConfig, LogStore<TypeConfig>, Arc<StateMachine>, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore<TypeConfig>, Arc<StateMachine>), StorageError<u64>> {
        self.builds.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::tempdir().expect("tempdir");
        let log = LogStore::open(dir.path().join("log"), self.cfg.clone())?;
        Ok((dir, log, Arc::new(StateMachine::default())))
    }
}

/// `Suite::test_store` runs 34 cases on one fresh store each, then `transfer_snapshot`,
/// which builds two: 36 builds when every case ran.
const SUITE_BUILDS: usize = 36;

fn run(name: &str) {
    let (_, cfg) = common::all_configs()
        .into_iter()
        .find(|(n, _)| *n == name)
        .expect("config");
    let builds = Arc::new(AtomicUsize::new(0));
    let builder = Builder {
        cfg,
        builds: builds.clone(),
    };
    if let Err(e) = Suite::test_all(builder) {
        panic!("{name}: openraft suite failed: {e}");
    }
    let builds = builds.load(Ordering::SeqCst);
    assert_eq!(builds, SUITE_BUILDS, "{name}: not every suite case ran");
    println!("{name}: openraft suite passed (35 cases, {builds} stores)");
}

#[test]
fn suite_disk_first_immediate() {
    run("disk-first/immediate");
}

#[test]
fn suite_disk_first_batch() {
    run("disk-first/batch");
}

#[test]
fn suite_mem_first_immediate() {
    run("mem-first/immediate");
}

#[test]
fn suite_mem_first_batch() {
    run("mem-first/batch");
}

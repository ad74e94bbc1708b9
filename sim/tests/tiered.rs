//! The archive tier under crashes: a power cut inside every disk call of a move (the put,
//! its read-back, the manifest update, the local delete) and of a purge that removes
//! archived segments; after each, every entry not purged reads back byte for byte (through
//! the archive) and no purged entry comes back. (The tiered scenarios' swarm is in
//! `feature_paths.rs`.)

use std::sync::Arc;

use logbook::{ArchiveHandle, Config, Entry, FlushPolicy, Log, LogId, Strategy};
use logbook_sim::archive::{ArchiveRates, SimArchive};
use logbook_sim::clock::SimClock;
use logbook_sim::disk::{FaultRates, SimDisk};
use logbook_sim::seeds::{self, Stream};
use logbook_sim::trace::Trace;

const DIR: &str = "/store";
const LAST: u64 = 240;

struct Machine {
    disk: SimDisk,
    clock: SimClock,
    cfg: Config,
}

/// A machine whose crashes tear and lose what is pending, with an archive on its disk.
fn machine(seed: u64, strategy: Strategy) -> Machine {
    let rates = FaultRates {
        torn_write: 0.5,
        lost_write: 0.5,
        lost_dir_entry: 0.5,
        non_atomic_rename: 0.5,
        ..FaultRates::none()
    };
    let disk = SimDisk::new(seed, rates, Trace::new(false));
    let clock = SimClock::new(0);
    disk.set_faults_enabled(false);
    let rng = seeds::rng(seed, Stream::Archive);
    let archive = SimArchive::new(disk.clone(), clock.clone(), ArchiveRates::default(), rng);
    disk.set_faults_enabled(true);
    let cfg = Config::new(strategy, FlushPolicy::Immediate)
        .with_segment_size_bytes(4096)
        .with_archive(ArchiveHandle(archive.unwrap()));
    Machine { disk, clock, cfg }
}

fn open(m: &Machine) -> logbook::Result<Log> {
    let fs = Arc::new(m.disk.clone());
    Log::open(fs, Arc::new(m.clock.clone()), DIR, m.cfg.clone())
}

fn entries() -> Vec<Entry> {
    (1..=LAST)
        .map(|i| Entry {
            index: i,
            term: 1 + i / 100,
            payload: format!("entry {i} ").repeat(8).into(),
        })
        .collect()
}

/// `LAST` entries over a dozen segments, all durable.
fn filled(m: &Machine) -> Log {
    let mut log = open(m).unwrap();
    for chunk in entries().chunks(8) {
        log.append(chunk).unwrap();
    }
    log.sync().unwrap();
    log
}

/// After the crash: the store opens (retrying a crash armed inside recovery is not needed:
/// faults are on only at the crash itself) and reads back exactly `boundary + 1 ..= LAST`.
fn check_reopened(m: &Machine, boundary_min: u64, boundary_max: u64, at: u64) -> u64 {
    m.disk.crash();
    let mut log = open(m).unwrap_or_else(|e| panic!("crash in call {at}: reopen failed: {e}"));
    let b = log.last_purged().map_or(0, |l| l.index);
    assert!(
        (boundary_min..=boundary_max).contains(&b),
        "crash in call {at}: boundary {b} outside {boundary_min}..={boundary_max}"
    );
    assert_eq!(log.last_index(), LAST, "crash in call {at}");
    let got = log.entries(b + 1, LAST + 1, usize::MAX, u64::MAX).unwrap();
    assert_eq!(got, entries()[b as usize..], "crash in call {at}");
    assert_eq!(
        log.entry(b).unwrap(),
        None,
        "crash in call {at}: a purged entry came back"
    );
    b
}

/// Crashes inside each disk call of `op` in turn, on a fresh machine each time, until `op`
/// runs without reaching the crash point; returns how many calls it made.
fn crash_everywhere(
    strategy: Strategy,
    mut op: impl FnMut(&mut Log) -> logbook::Result<()>,
    boundary: (u64, u64),
) -> u64 {
    for k in 1.. {
        let m = machine(k, strategy);
        let mut log = filled(&m);
        let base = m.disk.fs_calls();
        m.disk.arm_crash_at(base + k);
        let r = op(&mut log);
        let crashed = m.disk.is_crashed();
        m.disk.disarm_crash();
        drop(log);
        if !crashed {
            r.unwrap();
            check_reopened(&m, boundary.0, boundary.1, k);
            return k - 1;
        }
        check_reopened(&m, boundary.0, boundary.1, k);
    }
    unreachable!()
}

#[test]
fn a_crash_inside_any_call_of_a_move_loses_nothing() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let calls = crash_everywhere(strategy, |log| log.archive_upto(LAST).map(|_| ()), (0, 0));
        // Several segments, each: read, put (5 calls), read-back (3), manifest, delete.
        assert!(calls > 40, "{strategy:?}: the move made only {calls} calls");
    }
}

#[test]
fn a_crash_inside_any_call_of_a_purge_of_archived_segments_resurrects_nothing() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let purge = |log: &mut Log| {
            let archived = log.archive_upto(LAST)?.archived_upto;
            assert!(archived > 100);
            log.purge(LogId::new(1, 90))?;
            log.sync()
        };
        let calls = crash_everywhere(strategy, purge, (0, 90));
        assert!(calls > 40, "{strategy:?}: {calls} calls");
    }
}

//! Random workloads over the simulated disk: determinism, every fault reachable, no panics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use logbook::{DirLock, Fs, FsFile};
use logbook_sim::disk::{FaultCounters, FaultRates, SimDisk};
use logbook_sim::trace::Trace;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DB: &str = "/db";
const NAMES: [&str; 5] = ["a.seg", "b.seg", "c.seg", "meta", "meta.tmp"];

fn p(name: &str) -> PathBuf {
    Path::new(DB).join(name)
}

fn all_faults() -> FaultRates {
    FaultRates {
        lost_write: 0.2,
        torn_write: 0.2,
        lost_dir_entry: 0.3,
        non_atomic_rename: 0.3,
        bit_rot: 0.3,
        fsync_error: 0.05,
        dir_sync_error: Some(0.05),
        lying_fsync: 0.05,
        read_error: 0.05,
        read_error_sticky: 0.3,
        disk_full: 0.03,
        capacity_bytes: Some(12_000),
    }
}

/// What a run leaves behind, for comparisons.
#[derive(Debug, PartialEq)]
struct Outcome {
    digest: u64,
    counters: FaultCounters,
    calls: u64,
    durable: Vec<(String, Option<Vec<u8>>)>,
}

/// A random, engine-like call sequence driven by its own generator (seeded from `seed`); the
/// disk draws its faults from `seed` too, from its own stream.
fn run(seed: u64, rates: FaultRates, steps: usize, trace: Trace) -> Outcome {
    let disk = SimDisk::new(seed, rates, trace.clone());
    disk.set_rot_suffix(".seg");
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed);
    let db = Path::new(DB);
    disk.create_dir_all(db).unwrap();
    let mut files: BTreeMap<&str, Arc<dyn FsFile>> = BTreeMap::new();
    let mut lock: Option<Box<dyn DirLock>> = None;
    for _ in 0..steps {
        if disk.is_crashed() || rng.gen_ratio(1, 50) {
            disk.crash();
            files.clear();
            lock = None;
        }
        let name = NAMES[rng.gen_range(0..NAMES.len())];
        let file = match files.get(name) {
            Some(f) => Some(f.clone()),
            None => disk.open(&p(name), rng.gen_bool(0.7)).ok(),
        };
        if let Some(f) = &file {
            files.insert(name, f.clone());
        }
        match (rng.gen_range(0..100), file) {
            (0..30, Some(f)) => {
                let len = rng.gen_range(1..1500);
                let off = if rng.gen_bool(0.7) {
                    f.len().unwrap_or(0)
                } else {
                    rng.gen_range(0..4096)
                };
                let byte = rng.gen::<u8>();
                let _ = f.write_at(&vec![byte; len], off);
            }
            (30..42, Some(f)) => {
                let _ = f.sync_data();
            }
            (42..47, Some(f)) => {
                let _ = f.set_len(rng.gen_range(0..5000));
            }
            (47..57, Some(f)) => {
                let mut buf = vec![0; rng.gen_range(0..600)];
                let _ = f.read_at(&mut buf, rng.gen_range(0..5000));
            }
            (57..62, _) => {
                let _ = disk.rename(&p("meta.tmp"), &p("meta"));
            }
            (62..66, _) => {
                let removed = disk.remove(&p(name));
                if removed.is_ok() {
                    files.remove(name);
                }
            }
            (66..76, _) => {
                let _ = disk.sync_dir(db);
            }
            (76..79, _) => {
                let _ = disk.list(db);
            }
            (79..82, _) => match lock.take() {
                Some(l) => drop(l),
                None => lock = disk.lock_dir(db).ok(),
            },
            (82..85, _) => disk.arm_crash_at(disk.fs_calls() + rng.gen_range(1..20)),
            (85..87, _) => disk.set_faults_enabled(!disk.faults_enabled()),
            _ => {}
        }
    }
    drop(lock);
    files.clear();
    disk.crash();
    Outcome {
        digest: trace.digest(),
        counters: disk.counters(),
        calls: disk.fs_calls(),
        durable: NAMES
            .iter()
            .map(|n| (n.to_string(), disk.durable_file(&p(n))))
            .collect(),
    }
}

#[test]
fn same_seed_same_trace_and_images_different_seed_differs() {
    for seed in [0, 1, 42, 0xdead_beef] {
        let a = run(seed, all_faults(), 400, Trace::new(false));
        let recorded = Trace::new(true);
        let b = run(seed, all_faults(), 400, recorded.clone());
        assert_eq!(a, b, "seed {seed}");
        let replay = Trace::new(true);
        run(seed, all_faults(), 400, replay.clone());
        assert_eq!(recorded.lines(), replay.lines());
        assert!(a.counters.faults() > 0, "seed {seed} injected nothing");
    }
    let digests: std::collections::BTreeSet<u64> = (0..20)
        .map(|seed| run(seed, all_faults(), 200, Trace::new(false)).digest)
        .collect();
    assert_eq!(digests.len(), 20);
    let images: std::collections::BTreeSet<_> = (0..20)
        .map(|seed| run(seed, all_faults(), 200, Trace::new(false)).durable)
        .collect();
    assert!(images.len() > 15);
}

#[test]
fn every_fault_counter_can_be_made_non_zero() {
    let mut total = FaultCounters::default();
    for seed in 0..12 {
        total.add(&run(seed, all_faults(), 500, Trace::new(false)).counters);
    }
    let zero: Vec<&str> = total
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(name, _)| name)
        .collect();
    assert!(zero.is_empty(), "never injected: {zero:?} in {total:?}");
}

#[test]
fn no_faults_means_no_fault_counted() {
    for seed in 0..10 {
        let out = run(seed, FaultRates::none(), 300, Trace::new(false));
        assert_eq!(out.counters.faults(), 0, "{:?}", out.counters);
        assert!(out.counters.crashes > 0);
    }
}

#[test]
fn random_call_sequences_never_panic() {
    let harsh = FaultRates {
        lost_write: 0.4,
        torn_write: 0.5,
        lost_dir_entry: 0.5,
        non_atomic_rename: 0.5,
        bit_rot: 0.5,
        fsync_error: 0.2,
        dir_sync_error: Some(0.2),
        lying_fsync: 0.2,
        read_error: 0.2,
        read_error_sticky: 0.5,
        disk_full: 0.1,
        capacity_bytes: Some(8_000),
    };
    for seed in 0..60 {
        run(seed, harsh.clone(), 300, Trace::new(false));
    }
}

#[test]
fn every_call_and_fault_is_traced() {
    let trace = Trace::new(true);
    let d = SimDisk::new(
        7,
        FaultRates {
            lost_write: 1.0,
            ..FaultRates::none()
        },
        trace.clone(),
    );
    d.create_dir_all(Path::new(DB)).unwrap();
    let f = d.open(&p("seg-1"), true).unwrap();
    f.write_at(b"hi", 4096).unwrap();
    f.sync_data().unwrap();
    f.write_at(b"yo", 0).unwrap();
    d.crash();
    let short = |data: &[u8]| {
        let h = logbook_sim::trace::fnv1a(data);
        format!("{:08x}", h as u32 ^ (h >> 32) as u32)
    };
    let expected = [
        "disk new seed=7".to_owned(),
        "disk #1 mkdir /db -> ok".to_owned(),
        "disk #2 open /db/seg-1 create=true -> ok #1 new".to_owned(),
        format!(
            "disk #3 write /db/seg-1 off=4096 len=2 h={} -> ok",
            short(b"hi")
        ),
        "disk #4 sync_data /db/seg-1 pending=1 -> ok".to_owned(),
        format!(
            "disk #5 write /db/seg-1 off=0 len=2 h={} -> ok",
            short(b"yo")
        ),
        "disk crash between calls after #5".to_owned(),
        "disk fault lost_write /db/seg-1#1 off=0 len=2".to_owned(),
    ];
    let lines = trace.lines();
    assert_eq!(lines.len(), expected.len() + 1, "{lines:#?}");
    assert_eq!(&lines[..expected.len()], &expected[..]);
    assert!(lines
        .last()
        .unwrap()
        .starts_with("disk crash resolved gen=1"));
}

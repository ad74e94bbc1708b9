//! Crashes armed inside each kind of call: every partial outcome the model allows happens,
//! and nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use logbook::Fs;
use logbook_sim::disk::{is_crash_error, FaultRates, SimDisk};
use logbook_sim::trace::Trace;

const DB: &str = "/db";

fn p(name: &str) -> PathBuf {
    Path::new(DB).join(name)
}

fn disk(seed: u64, rates: FaultRates) -> SimDisk {
    let d = SimDisk::new(seed, rates, Trace::new(false));
    d.create_dir_all(Path::new(DB)).unwrap();
    d.sync_dir(Path::new("/")).unwrap(); // the directory's own name, durable
    d
}

fn arm_next(d: &SimDisk) {
    d.arm_crash_at(d.fs_calls() + 1);
}

#[test]
fn crash_inside_rename_leaves_old_new_or_neither_name() {
    let mut seen = BTreeSet::new();
    for seed in 0..60 {
        let d = disk(seed, FaultRates::none());
        for (name, data) in [("meta", b"v1"), ("meta.tmp", b"v2")] {
            let f = d.open(&p(name), true).unwrap();
            f.write_at(data, 0).unwrap();
            f.sync_data().unwrap();
        }
        d.sync_dir(Path::new(DB)).unwrap();
        arm_next(&d);
        let e = d.rename(&p("meta.tmp"), &p("meta")).unwrap_err();
        assert!(is_crash_error(&e));
        d.crash();
        let names = d.list_durable(Path::new(DB));
        match names.as_slice() {
            [a, b] if a == "meta" && b == "meta.tmp" => {
                assert_eq!(d.durable_file(&p("meta")).unwrap(), b"v1");
            }
            [a] if a == "meta" => assert_eq!(d.durable_file(&p("meta")).unwrap(), b"v2"),
            [] => {}
            other => panic!("seed {seed}: impossible names {other:?}"),
        }
        seen.insert(names.len());
    }
    assert_eq!(seen, BTreeSet::from([0, 1, 2]));
}

#[test]
fn crash_inside_sync_data_takes_effect_or_not() {
    let mut seen = BTreeSet::new();
    for seed in 0..40 {
        let d = disk(
            seed,
            FaultRates {
                lost_write: 1.0,
                ..FaultRates::none()
            },
        );
        let f = d.open(&p("seg"), true).unwrap();
        d.sync_dir(Path::new(DB)).unwrap();
        f.write_at(b"data", 0).unwrap();
        arm_next(&d);
        assert!(is_crash_error(&f.sync_data().unwrap_err()));
        let report = d.crash();
        let img = d.durable_file(&p("seg")).unwrap();
        assert!(img.is_empty() || img == b"data");
        assert_eq!(report.writes_lost, u64::from(img.is_empty()));
        seen.insert(img.len());
    }
    assert_eq!(seen.len(), 2);
}

#[test]
fn crash_inside_create_remove_sync_dir_and_set_len() {
    let (mut created, mut removed, mut synced, mut cut) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for seed in 0..40 {
        let d = disk(seed, FaultRates::none());
        arm_next(&d);
        assert!(is_crash_error(&d.open(&p("new"), true).unwrap_err()));
        d.crash();
        created.insert(d.list_durable(Path::new(DB)).len());

        let d = disk(seed, FaultRates::none());
        let f = d.open(&p("old"), true).unwrap();
        f.write_at(b"abcdef", 0).unwrap();
        f.sync_data().unwrap();
        d.sync_dir(Path::new(DB)).unwrap();
        arm_next(&d);
        assert!(is_crash_error(&d.remove(&p("old")).unwrap_err()));
        d.crash();
        removed.insert(d.list_durable(Path::new(DB)).len());

        let d = disk(
            seed,
            FaultRates {
                lost_dir_entry: 1.0,
                ..FaultRates::none()
            },
        );
        d.open(&p("x"), true).unwrap();
        arm_next(&d);
        assert!(is_crash_error(&d.sync_dir(Path::new(DB)).unwrap_err()));
        d.crash();
        synced.insert(d.list_durable(Path::new(DB)).len());

        let d = disk(seed, FaultRates::none());
        let f = d.open(&p("old"), true).unwrap();
        f.write_at(b"abcdef", 0).unwrap();
        f.sync_data().unwrap();
        d.sync_dir(Path::new(DB)).unwrap();
        arm_next(&d);
        assert!(is_crash_error(&f.set_len(2).unwrap_err()));
        d.crash();
        cut.insert(d.durable_file(&p("old")).unwrap());
    }
    assert_eq!(created, BTreeSet::from([0, 1]));
    assert_eq!(removed, BTreeSet::from([0, 1]));
    assert_eq!(synced, BTreeSet::from([0, 1]));
    assert_eq!(cut, BTreeSet::from([b"ab".to_vec(), b"abcdef".to_vec()]));
}

#[test]
fn armed_point_in_the_past_hits_the_next_call_and_a_crash_disarms() {
    let d = disk(0, FaultRates::none());
    d.arm_crash_at(0);
    assert!(is_crash_error(&d.list(Path::new(DB)).unwrap_err()));
    let report = d.crash();
    // #1 mkdir /db and #2 sync_dir / happened in `disk`.
    assert_eq!(report.in_call.as_deref(), Some("#3 list /db"));
    d.arm_crash_at(d.fs_calls() + 5);
    d.crash();
    assert_eq!(d.armed_crash(), None);
    for _ in 0..10 {
        d.list(Path::new(DB)).unwrap();
    }
    let c = d.counters();
    assert_eq!((c.crashes, c.crashes_in_call), (2, 1));
}

#[test]
fn the_disk_seed_alone_changes_the_outcome() {
    // The same call sequence against disks with different seeds: the faults differ.
    let outcome = |seed: u64| {
        let d = disk(
            seed,
            FaultRates {
                lost_write: 0.3,
                torn_write: 0.3,
                ..FaultRates::none()
            },
        );
        let f = d.open(&p("seg"), true).unwrap();
        d.sync_dir(Path::new(DB)).unwrap();
        for k in 0..8u8 {
            f.write_at(&[k + 1; 700], u64::from(k) * 700).unwrap();
        }
        d.crash();
        d.durable_file(&p("seg")).unwrap()
    };
    let distinct: BTreeSet<Vec<u8>> = (0..10).map(outcome).collect();
    assert!(distinct.len() >= 8, "{}", distinct.len());
    assert_eq!(outcome(3), outcome(3));
}

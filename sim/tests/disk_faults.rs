//! The simulated disk's injected faults, one by one.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use logbook::{Fs, FsFile};
use logbook_sim::disk::{sim_error, FaultRates, SimDisk, SimError};
use logbook_sim::trace::Trace;

const DB: &str = "/db";

fn p(name: &str) -> PathBuf {
    Path::new(DB).join(name)
}

fn disk(seed: u64, rates: FaultRates) -> SimDisk {
    let d = SimDisk::new(seed, rates, Trace::new(false));
    d.create_dir_all(Path::new(DB)).unwrap();
    d
}

fn durable_file(d: &SimDisk, name: &str) -> Arc<dyn FsFile> {
    let f = d.open(&p(name), true).unwrap();
    d.sync_dir(Path::new(DB)).unwrap();
    f
}

fn is_eio(e: &std::io::Error) -> bool {
    matches!(sim_error(e), Some(SimError::Eio(_)))
}

#[test]
fn fsync_error_is_reported_once_and_dropped_ops_never_become_durable() {
    const K: usize = 8;
    let (mut some_dropped, mut some_kept) = (false, false);
    for seed in 0..40 {
        let d = disk(
            seed,
            FaultRates {
                fsync_error: 1.0,
                dir_sync_error: Some(0.0),
                ..FaultRates::none()
            },
        );
        let f = durable_file(&d, "seg");
        for k in 0..K {
            f.write_at(&[k as u8 + 1; 100], 100 * k as u64).unwrap();
        }
        let e = f.sync_data().unwrap_err();
        assert!(is_eio(&e), "{e}");
        assert_eq!(d.counters().fsync_errors, 1);
        // Reported once: nothing is pending any more, so the next fsync succeeds.
        f.sync_data().unwrap();
        assert_eq!(d.counters().fsync_errors, 1);
        // The page cache still shows every write.
        let live = d.live_file(&p("seg")).unwrap();
        assert_eq!(live.len(), 100 * K);
        let durable = d.durable_file(&p("seg")).unwrap();
        let kept: Vec<bool> = (0..K)
            .map(|k| durable.get(100 * k) == Some(&(k as u8 + 1)))
            .collect();
        let dropped = kept.iter().filter(|k| !**k).count() as u64;
        assert_eq!(d.counters().fsync_dropped_ops, dropped);
        some_dropped |= dropped > 0;
        some_kept |= dropped < K as u64;
        // A later successful fsync of other data does not make the failed range durable...
        d.set_rates(FaultRates::none());
        f.write_at(b"tail", 100 * K as u64).unwrap();
        f.sync_data().unwrap();
        // ...but rewriting it does, for the first dropped range.
        let rewritten = kept.iter().position(|k| !k);
        if let Some(k) = rewritten {
            f.write_at(&[k as u8 + 1; 100], 100 * k as u64).unwrap();
            f.sync_data().unwrap();
        }
        let report = d.crash();
        assert_eq!(report.fsync_dropped_lost, dropped);
        let after = d.durable_file(&p("seg")).unwrap();
        assert_eq!(&after[100 * K..], b"tail");
        for k in 0..K {
            let want = if kept[k] || Some(k) == rewritten {
                k as u8 + 1
            } else {
                0
            };
            assert!(after[100 * k..100 * (k + 1)].iter().all(|&b| b == want));
        }
    }
    assert!(some_dropped && some_kept);
}

#[test]
fn dir_sync_error_drops_entries_that_vanish_at_the_crash() {
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let d = disk(
            seed,
            FaultRates {
                dir_sync_error: Some(1.0),
                ..FaultRates::none()
            },
        );
        d.open(&p("a"), true).unwrap();
        let e = d.sync_dir(Path::new(DB)).unwrap_err();
        assert!(is_eio(&e));
        assert_eq!(d.counters().dir_sync_errors, 1);
        d.sync_dir(Path::new(DB)).unwrap(); // reported once
        assert_eq!(d.list(Path::new(DB)).unwrap(), vec!["a"]);
        let durable = d.list_durable(Path::new(DB));
        d.crash();
        assert_eq!(d.list(Path::new(DB)).unwrap(), durable);
        outcomes.insert(durable.len());
    }
    assert_eq!(outcomes.len(), 2, "kept and dropped both happen");
    // dir_sync_error defaults to the fsync_error rate.
    let d = disk(
        0,
        FaultRates {
            fsync_error: 1.0,
            ..FaultRates::none()
        },
    );
    d.open(&p("a"), true).unwrap();
    assert!(is_eio(&d.sync_dir(Path::new(DB)).unwrap_err()));
}

#[test]
fn lying_fsync_persists_nothing() {
    let d = disk(
        2,
        FaultRates {
            lying_fsync: 1.0,
            lost_write: 1.0,
            ..FaultRates::none()
        },
    );
    let f = durable_file(&d, "seg");
    f.write_at(b"acked", 0).unwrap();
    f.sync_data().unwrap();
    assert_eq!(d.counters().lying_fsyncs, 1);
    assert_eq!(d.durable_file(&p("seg")).unwrap(), b"");
    assert_eq!(d.pending_ops(&p("seg")), 1);
    d.crash();
    assert_eq!(d.durable_file(&p("seg")).unwrap(), b"");
}

#[test]
fn read_errors_are_transient_or_sticky() {
    let d = disk(
        4,
        FaultRates {
            read_error: 1.0,
            ..FaultRates::none()
        },
    );
    let f = durable_file(&d, "seg");
    f.write_at(b"abc", 0).unwrap();
    let mut buf = [0; 3];
    assert!(is_eio(&f.read_at(&mut buf, 0).unwrap_err()));
    d.set_rates(FaultRates::none());
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), 3, "transient");

    d.set_rates(FaultRates {
        read_error: 1.0,
        read_error_sticky: 1.0,
        ..FaultRates::none()
    });
    assert!(is_eio(&f.read_at(&mut buf, 0).unwrap_err()));
    d.set_rates(FaultRates::none());
    assert!(is_eio(&f.read_at(&mut buf, 0).unwrap_err()), "sticky");
    let c = d.counters();
    assert_eq!((c.read_errors, c.sticky_read_errors), (3, 1));
    // Other files still read.
    let g = durable_file(&d, "other");
    assert_eq!(g.read_at(&mut buf, 0).unwrap(), 0);
    // Disabling faults hides the sticky error; a crash clears it.
    d.set_faults_enabled(false);
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), 3);
    d.set_faults_enabled(true);
    assert!(f.read_at(&mut buf, 0).is_err());
    d.crash();
    let f = d.open(&p("seg"), false).unwrap();
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), 3);
}

#[test]
fn enospc_changes_nothing() {
    let d = disk(
        6,
        FaultRates {
            disk_full: 1.0,
            ..FaultRates::none()
        },
    );
    let f = durable_file(&d, "seg");
    let e = f.write_at(b"x", 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StorageFull);
    assert_eq!(f.set_len(10).unwrap_err().kind(), ErrorKind::StorageFull);
    assert_eq!(f.len().unwrap(), 0);
    assert_eq!(d.pending_ops(&p("seg")), 0);
    assert_eq!(d.counters().disk_full, 2);

    // A capacity bound: growth past it fails, overwrites and shrinks do not.
    d.set_rates(FaultRates {
        capacity_bytes: Some(1000),
        ..FaultRates::none()
    });
    f.write_at(&[1; 800], 0).unwrap();
    let g = durable_file(&d, "other");
    assert_eq!(
        g.write_at(&[2; 300], 0).unwrap_err().kind(),
        ErrorKind::StorageFull
    );
    assert_eq!(d.live_file(&p("other")).unwrap(), b"");
    g.write_at(&[2; 200], 0).unwrap();
    f.write_at(&[3; 800], 0).unwrap();
    f.set_len(100).unwrap();
    g.write_at(&[2; 900], 0).unwrap();
    assert_eq!(d.counters().disk_full, 3);
}

#[test]
fn bit_rot_flips_one_bit_of_a_filtered_durable_file() {
    let mut hits = 0;
    for seed in 0..30 {
        let d = disk(
            seed,
            FaultRates {
                bit_rot: 1.0,
                ..FaultRates::none()
            },
        );
        d.set_rot_suffix(".seg");
        for name in ["a.seg", "meta"] {
            let f = durable_file(&d, name);
            f.write_at(&[0x5A; 64], 0).unwrap();
            f.sync_data().unwrap();
        }
        let report = d.crash();
        let rot = report.bit_rot.expect("a candidate exists");
        assert_eq!(rot.path, p("a.seg"));
        let img = d.durable_file(&p("a.seg")).unwrap();
        let diff: Vec<usize> = (0..64).filter(|&i| img[i] != 0x5A).collect();
        assert_eq!(diff, vec![rot.offset as usize]);
        assert_eq!((img[diff[0]] ^ 0x5A).count_ones(), 1);
        assert_eq!(img[diff[0]] ^ 0x5A, 1 << rot.bit);
        assert_eq!(d.durable_file(&p("meta")).unwrap(), [0x5A; 64]);
        assert_eq!(d.live_file(&p("a.seg")).unwrap(), img, "reads see the rot");
        hits += 1;
    }
    assert_eq!(hits, 30);
    // A custom filter that accepts nothing: no rot, nothing counted.
    let d = disk(
        1,
        FaultRates {
            bit_rot: 1.0,
            ..FaultRates::none()
        },
    );
    d.set_rot_filter(|_| false);
    let f = durable_file(&d, "a.seg");
    f.write_at(b"x", 0).unwrap();
    f.sync_data().unwrap();
    assert_eq!(d.crash().bit_rot, None);
    assert_eq!(d.counters().bit_rots, 0);
}

#[test]
fn direct_rot() {
    let d = disk(0, FaultRates::none());
    let f = durable_file(&d, "seg");
    f.write_at(b"abc", 0).unwrap();
    assert_eq!(d.rot(&p("seg"), 0).unwrap_err().kind(), ErrorKind::NotFound);
    f.sync_data().unwrap();
    d.rot(&p("seg"), 1).unwrap();
    assert_eq!(d.durable_file(&p("seg")).unwrap(), b"acc");
    assert_eq!(d.live_file(&p("seg")).unwrap(), b"acc");
    assert_eq!(d.counters().bit_rots, 1);
}

#[test]
fn faults_off_draws_no_randomness() {
    let rates = FaultRates {
        read_error: 0.5,
        ..FaultRates::none()
    };
    let pattern = |d: &SimDisk, f: &Arc<dyn FsFile>| -> Vec<bool> {
        let _ = d;
        (0..64).map(|_| f.read_at(&mut [0; 1], 0).is_ok()).collect()
    };
    let a = disk(11, rates.clone());
    let fa = durable_file(&a, "seg");
    a.set_faults_enabled(false);
    assert!(pattern(&a, &fa).iter().all(|ok| *ok));
    a.set_faults_enabled(true);
    let b = disk(11, rates);
    let fb = durable_file(&b, "seg");
    let pa = pattern(&a, &fa);
    assert_eq!(pa, pattern(&b, &fb));
    assert!(pa.contains(&true) && pa.contains(&false));
    // A crash with faults off keeps every pending op.
    let c = disk(
        11,
        FaultRates {
            lost_write: 1.0,
            lost_dir_entry: 1.0,
            ..FaultRates::none()
        },
    );
    c.set_faults_enabled(false);
    c.open(&p("n"), true).unwrap().write_at(b"kept", 0).unwrap();
    c.crash();
    assert_eq!(c.durable_file(&p("n")).unwrap(), b"kept");
}

#[test]
fn rates_from_toml() {
    let r: FaultRates = toml::from_str("lost_write = 0.25\ncapacity_bytes = 4096\n").unwrap();
    assert_eq!(r.lost_write, 0.25);
    assert_eq!(r.capacity_bytes, Some(4096));
    assert_eq!(r.torn_write, 0.0);
    assert_eq!(r.dir_sync_error_rate(), 0.0);
    assert!(toml::from_str::<FaultRates>("lost_writes = 0.1").is_err());
    assert!(r.validate().is_ok());
    assert!(FaultRates {
        lost_write: 0.7,
        torn_write: 0.7,
        ..FaultRates::none()
    }
    .validate()
    .is_err());
    assert!(FaultRates {
        read_error: f64::NAN,
        ..FaultRates::none()
    }
    .validate()
    .is_err());
}

//! The simulated disk's durable/pending semantics: what survives a crash and what may not.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use logbook::{Fs, FsFile};
use logbook_sim::disk::{is_crash_error, FaultRates, SimDisk, MAX_FILE_LEN, SECTOR};
use logbook_sim::trace::Trace;

const DB: &str = "/db";

fn disk(seed: u64, rates: FaultRates) -> SimDisk {
    let d = SimDisk::new(seed, rates, Trace::new(false));
    d.create_dir_all(Path::new(DB)).unwrap();
    d.sync_dir(Path::new("/")).unwrap(); // the directory's own name, durable
    d
}

fn p(name: &str) -> std::path::PathBuf {
    Path::new(DB).join(name)
}

/// Creates `name` and makes its directory entry durable.
fn durable_file(d: &SimDisk, name: &str) -> Arc<dyn FsFile> {
    let f = d.open(&p(name), true).unwrap();
    d.sync_dir(Path::new(DB)).unwrap();
    f
}

fn in_contract_chaos() -> FaultRates {
    FaultRates {
        lost_write: 0.3,
        torn_write: 0.4,
        lost_dir_entry: 0.5,
        non_atomic_rename: 0.5,
        ..FaultRates::none()
    }
}

#[test]
fn synced_write_survives_any_crash() {
    for seed in 0..200 {
        let d = disk(seed, in_contract_chaos());
        let f = durable_file(&d, "seg");
        f.write_at(&[7; 1000], 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(&[9; 700], 1000).unwrap(); // pending, may or may not survive
        f.write_at(&[8; 10], 5000).unwrap();
        d.crash();
        let img = d.durable_file(&p("seg")).expect("synced create survives");
        assert!(img.len() >= 1000, "seed {seed}");
        assert_eq!(&img[..1000], &[7; 1000][..], "seed {seed}");
        assert_eq!(d.live_file(&p("seg")), Some(img));
    }
}

#[test]
fn unsynced_write_never_survives_with_lost_write_1_and_always_with_0() {
    for (rate, survives) in [(1.0, false), (0.0, true)] {
        for seed in 0..20 {
            let d = disk(
                seed,
                FaultRates {
                    lost_write: rate,
                    ..FaultRates::none()
                },
            );
            let f = durable_file(&d, "seg");
            f.write_at(b"hello", 0).unwrap();
            f.set_len(3).unwrap();
            assert_eq!(d.live_file(&p("seg")).unwrap(), b"hel");
            assert_eq!(d.durable_file(&p("seg")).unwrap(), b"");
            let report = d.crash();
            let img = d.durable_file(&p("seg")).unwrap();
            if survives {
                assert_eq!(img, b"hel");
                assert_eq!((report.writes_kept, report.set_lens_kept), (1, 1));
            } else {
                assert_eq!(img, b"");
                assert_eq!((report.writes_lost, report.set_lens_lost), (1, 1));
                assert_eq!(d.counters().lost_writes, 1);
                assert_eq!(d.counters().lost_set_lens, 1);
            }
        }
    }
}

#[test]
fn unsynced_writes_persist_as_any_subset() {
    // Two independent pending writes: over many seeds, each of the four subsets persists.
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let d = disk(
            seed,
            FaultRates {
                lost_write: 0.5,
                ..FaultRates::none()
            },
        );
        let f = durable_file(&d, "seg");
        f.write_at(&[0; 2 * SECTOR as usize], 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(&[1; SECTOR as usize], 0).unwrap();
        f.write_at(&[2; SECTOR as usize], SECTOR).unwrap();
        d.crash();
        let img = d.durable_file(&p("seg")).unwrap();
        seen.insert((img[0], img[SECTOR as usize]));
    }
    let all: std::collections::BTreeSet<_> = [(0, 0), (1, 0), (0, 2), (1, 2)].into();
    assert_eq!(seen, all);
}

#[test]
fn torn_writes_keep_old_new_or_zero_sectors_not_only_prefixes() {
    const N: usize = 4;
    let s = SECTOR as usize;
    let mut non_prefix = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..300 {
        let d = disk(
            seed,
            FaultRates {
                torn_write: 1.0,
                ..FaultRates::none()
            },
        );
        let f = durable_file(&d, "seg");
        let old: Vec<u8> = (0..N * s).map(|i| (i % 251) as u8 | 1).collect();
        let new: Vec<u8> = (0..N * s).map(|i| (i % 241) as u8 | 0x80).collect();
        f.write_at(&old, 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(&new, 0).unwrap();
        let report = d.crash();
        assert_eq!(report.writes_torn, 1);
        let img = d.durable_file(&p("seg")).unwrap();
        assert_eq!(img.len(), N * s);
        let mut shape = Vec::new();
        for k in 0..N {
            let r = k * s..(k + 1) * s;
            let kind = if img[r.clone()] == old[r.clone()] {
                'o'
            } else if img[r.clone()] == new[r.clone()] {
                'n'
            } else if img[r].iter().all(|&b| b == 0) {
                'z'
            } else {
                panic!("seed {seed}: sector {k} mixes old, new and zero bytes");
            };
            kinds.insert(kind);
            shape.push(kind);
        }
        // A prefix tear keeps new sectors first, then old ones.
        let first_old = shape.iter().position(|&c| c == 'o').unwrap_or(N);
        if shape[first_old..].iter().any(|&c| c != 'o') {
            non_prefix += 1;
        }
    }
    assert!(non_prefix > 10, "only {non_prefix} non-prefix tears");
    assert_eq!(kinds.len(), 3, "kinds seen: {kinds:?}");
}

#[test]
fn torn_unaligned_write_stays_inside_its_range() {
    for seed in 0..100 {
        let d = disk(
            seed,
            FaultRates {
                torn_write: 1.0,
                ..FaultRates::none()
            },
        );
        let f = durable_file(&d, "seg");
        f.write_at(&[0xAA; 3000], 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(&[0x55; 1000], 700).unwrap(); // 700..1700: pieces 700..1024..1536..1700
        d.crash();
        let img = d.durable_file(&p("seg")).unwrap();
        assert_eq!(img.len(), 3000);
        assert!(img[..700].iter().all(|&b| b == 0xAA), "seed {seed}");
        assert!(img[1700..].iter().all(|&b| b == 0xAA), "seed {seed}");
        for (a, b) in [(700, 1024), (1024, 1536), (1536, 1700)] {
            let piece = &img[a..b];
            let uniform = piece.iter().all(|&x| x == piece[0]);
            assert!(
                uniform && [0xAA, 0x55, 0].contains(&piece[0]),
                "seed {seed}"
            );
        }
    }
}

#[test]
fn unsynced_create_vanishes_with_lost_dir_entry_and_survives_after_sync_dir() {
    let rates = FaultRates {
        lost_dir_entry: 1.0,
        ..FaultRates::none()
    };
    let d = disk(1, rates.clone());
    let f = d.open(&p("new"), true).unwrap();
    f.write_at(b"data", 0).unwrap();
    f.sync_data().unwrap(); // data durable, name not
    assert_eq!(d.list(Path::new(DB)).unwrap(), vec!["new"]);
    assert!(d.list_durable(Path::new(DB)).is_empty());
    let report = d.crash();
    assert_eq!((report.dir_ops_lost, report.files_dropped), (1, 1));
    assert!(d.list(Path::new(DB)).unwrap().is_empty());
    assert_eq!(
        d.open(&p("new"), false).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let d = disk(1, rates);
    let f = d.open(&p("new"), true).unwrap();
    f.write_at(b"data", 0).unwrap();
    f.sync_data().unwrap();
    d.sync_dir(Path::new(DB)).unwrap();
    d.crash();
    assert_eq!(d.durable_file(&p("new")).unwrap(), b"data");
    assert_eq!(d.list(Path::new(DB)).unwrap(), vec!["new"]);
}

#[test]
fn a_new_directory_vanishes_with_its_files_unless_its_parent_is_synced() {
    // (lost_dir_entry, sync the parent?, does the directory survive the crash?)
    let cases = [(1.0, false, false), (1.0, true, true), (0.0, false, true)];
    for (rate, sync_parent, survives) in cases {
        let d = SimDisk::new(
            1,
            FaultRates {
                lost_dir_entry: rate,
                ..FaultRates::none()
            },
            Trace::new(false),
        );
        d.create_dir_all(Path::new("/a/b")).unwrap();
        let f = d.open(Path::new("/a/b/seg"), true).unwrap();
        f.write_at(b"acknowledged", 0).unwrap();
        f.sync_data().unwrap();
        d.sync_dir(Path::new("/a/b")).unwrap(); // the file's name is durable in /a/b
        if sync_parent {
            d.sync_dir(Path::new("/")).unwrap();
            d.sync_dir(Path::new("/a")).unwrap();
        }
        d.crash();
        let case = format!("rate {rate}, parent synced {sync_parent}");
        assert_eq!(d.list(Path::new("/a/b")).is_ok(), survives, "{case}");
        let img = d.durable_file(Path::new("/a/b/seg"));
        assert_eq!(
            img.as_deref() == Some(&b"acknowledged"[..]),
            survives,
            "{case}"
        );
    }
}

#[test]
fn remove_comes_back_unless_synced() {
    for (lost, sync, back) in [(1.0, false, true), (0.0, false, false), (1.0, true, false)] {
        let d = disk(
            3,
            FaultRates {
                lost_dir_entry: lost,
                ..FaultRates::none()
            },
        );
        let f = durable_file(&d, "old");
        f.write_at(b"keep", 0).unwrap();
        f.sync_data().unwrap();
        d.remove(&p("old")).unwrap();
        assert!(d.list(Path::new(DB)).unwrap().is_empty());
        assert_eq!(d.list_durable(Path::new(DB)), vec!["old"]);
        if sync {
            d.sync_dir(Path::new(DB)).unwrap();
        }
        d.crash();
        let expect = back.then(|| b"keep".to_vec());
        assert_eq!(d.durable_file(&p("old")), expect, "lost={lost} sync={sync}");
        assert_eq!(d.live_file(&p("old")), expect);
    }
}

#[test]
fn rename_outcomes_at_a_crash() {
    // (lost_dir_entry, non_atomic_rename, sync_dir) -> names that survive
    let cases: [(f64, f64, bool, &[&str]); 4] = [
        (1.0, 0.0, false, &["meta", "meta.tmp"]),
        (0.0, 0.0, false, &["meta"]),
        (0.0, 1.0, false, &[]),
        (1.0, 1.0, true, &["meta"]),
    ];
    for (lost, non_atomic, sync, names) in cases {
        let d = disk(
            5,
            FaultRates {
                lost_dir_entry: lost,
                non_atomic_rename: non_atomic,
                ..FaultRates::none()
            },
        );
        let old = durable_file(&d, "meta");
        old.write_at(b"v1", 0).unwrap();
        old.sync_data().unwrap();
        let tmp = durable_file(&d, "meta.tmp");
        tmp.write_at(b"v2", 0).unwrap();
        tmp.sync_data().unwrap();
        d.rename(&p("meta.tmp"), &p("meta")).unwrap();
        assert_eq!(d.list(Path::new(DB)).unwrap(), vec!["meta"]);
        assert_eq!(d.live_file(&p("meta")).unwrap(), b"v2");
        if sync {
            d.sync_dir(Path::new(DB)).unwrap();
        }
        d.crash();
        assert_eq!(
            d.list_durable(Path::new(DB)),
            names,
            "case {lost} {non_atomic}"
        );
        if names == ["meta"] {
            assert_eq!(d.durable_file(&p("meta")).unwrap(), b"v2");
        }
    }
}

#[test]
fn old_handles_and_locks_fail_after_a_crash() {
    let d = disk(9, FaultRates::none());
    let f = durable_file(&d, "seg");
    f.write_at(b"abc", 0).unwrap();
    let lock = d.lock_dir(Path::new(DB)).unwrap();
    assert_eq!(
        d.lock_dir(Path::new(DB)).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    let report = d.crash();
    assert_eq!(report.generation, 1);
    let mut buf = [0; 3];
    for e in [
        f.read_at(&mut buf, 0).unwrap_err(),
        f.write_at(b"x", 0).unwrap_err(),
        f.sync_data().unwrap_err(),
        f.set_len(0).unwrap_err(),
        f.len().unwrap_err(),
    ] {
        assert!(is_crash_error(&e), "{e}");
    }
    // The crash released the lock; the old guard must not release the new one.
    let new_lock = d.lock_dir(Path::new(DB)).unwrap();
    drop(lock);
    assert_eq!(
        d.lock_dir(Path::new(DB)).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    drop(new_lock);
    let _again = d.lock_dir(Path::new(DB)).unwrap();
    // A new handle works and sees the recovered data; the old one stays dead.
    let g = d.open(&p("seg"), false).unwrap();
    assert_eq!(g.read_at(&mut buf, 0).unwrap(), 3);
    assert_eq!(&buf, b"abc");
    assert!(is_crash_error(&f.len().unwrap_err()));
}

#[test]
fn crash_armed_inside_a_write_lands_a_subset_of_its_sectors() {
    let s = SECTOR as usize;
    let mut partial = 0;
    for seed in 0..100 {
        let d = disk(seed, FaultRates::none());
        let f = durable_file(&d, "seg");
        f.write_at(&vec![1; 4 * s], 0).unwrap();
        f.sync_data().unwrap();
        let next = d.fs_calls() + 1;
        d.arm_crash_at(next);
        let e = f.write_at(&vec![2; 4 * s], 0).unwrap_err();
        assert!(is_crash_error(&e));
        assert!(d.is_crashed());
        assert_eq!(d.fs_calls(), next);
        // Every call on every handle fails until crash() runs, and none is counted.
        assert!(is_crash_error(&d.list(Path::new(DB)).unwrap_err()));
        assert!(is_crash_error(&d.open(&p("seg"), false).unwrap_err()));
        assert!(is_crash_error(&f.len().unwrap_err()));
        assert_eq!(d.fs_calls(), next);
        let report = d.crash();
        assert!(report.in_call.as_deref().unwrap().contains("write /db/seg"));
        assert!(!d.is_crashed());
        let img = d.durable_file(&p("seg")).unwrap();
        let news = (0..4).filter(|k| img[k * s] == 2).count();
        for k in 0..4 {
            assert!(img[k * s..(k + 1) * s].iter().all(|&b| b == img[k * s]));
        }
        if news > 0 && news < 4 {
            partial += 1;
        }
        assert_eq!(d.counters().crashes_in_call, 1);
    }
    assert!(partial > 10, "{partial}");
}

#[test]
fn edge_calls_do_not_panic() {
    let d = disk(0, FaultRates::none());
    let f = durable_file(&d, "seg");
    let mut buf = [9u8; 8];
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), 0);
    assert_eq!(f.read_at(&mut buf, u64::MAX).unwrap(), 0);
    f.write_at(b"xy", 10).unwrap();
    assert_eq!(d.live_file(&p("seg")).unwrap(), b"\0\0\0\0\0\0\0\0\0\0xy");
    assert_eq!(f.read_at(&mut buf, 8).unwrap(), 4);
    assert_eq!(&buf[..4], b"\0\0xy");
    f.write_at(b"", 1000).unwrap();
    assert_eq!(f.len().unwrap(), 12);
    f.set_len(20).unwrap();
    assert_eq!(f.len().unwrap(), 20);
    let big = f.write_at(b"z", MAX_FILE_LEN).unwrap_err();
    assert_eq!(big.kind(), ErrorKind::FileTooLarge);
    assert_eq!(
        f.write_at(b"z", u64::MAX).unwrap_err().kind(),
        ErrorKind::FileTooLarge
    );
    assert_eq!(
        f.set_len(u64::MAX).unwrap_err().kind(),
        ErrorKind::FileTooLarge
    );
    assert_eq!(f.len().unwrap(), 20);
    assert_eq!(
        d.open(Path::new("/nodir/x"), true).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        d.open(Path::new(DB), true).unwrap_err().kind(),
        ErrorKind::IsADirectory
    );
    assert_eq!(
        d.list(Path::new("/nodir")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        d.remove(&p("nope")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        d.rename(&p("nope"), &p("x")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        d.sync_dir(Path::new("/nodir")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        d.open(Path::new("/db/../x"), true).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    d.rename(&p("seg"), &p("seg")).unwrap();
    // Subdirectories are listed and are durable at once.
    d.create_dir_all(Path::new("/db/sub/deeper")).unwrap();
    assert_eq!(d.list(Path::new("/db/")).unwrap(), vec!["seg", "sub"]);
    assert_eq!(
        d.create_dir_all(Path::new("/db/seg/x")).unwrap_err().kind(),
        ErrorKind::NotADirectory
    );
    d.crash();
    assert_eq!(d.list(Path::new("/db/sub")).unwrap(), vec!["deeper"]);
    // Relative paths live under their own root.
    d.create_dir_all(Path::new("rel")).unwrap();
    d.open(Path::new("rel/f"), true).unwrap();
    assert_eq!(d.list(Path::new("rel")).unwrap(), vec!["f"]);
}

#[test]
fn rename_across_directories_needs_both_syncs() {
    let d = disk(
        0,
        FaultRates {
            lost_dir_entry: 1.0,
            ..FaultRates::none()
        },
    );
    d.create_dir_all(Path::new("/other")).unwrap();
    d.sync_dir(Path::new("/")).unwrap(); // "/other" itself survives
    let f = durable_file(&d, "a");
    f.write_at(b"1", 0).unwrap();
    f.sync_data().unwrap();
    d.rename(&p("a"), Path::new("/other/b")).unwrap();
    assert_eq!(d.list(Path::new("/other")).unwrap(), vec!["b"]);
    d.sync_dir(Path::new("/other")).unwrap();
    d.crash(); // the remove in /db was not synced: both names survive
    assert_eq!(d.list_durable(Path::new(DB)), vec!["a"]);
    assert_eq!(d.durable_file(Path::new("/other/b")).unwrap(), b"1");
}

#[test]
fn open_handle_on_removed_file_keeps_working_until_the_crash() {
    let d = disk(0, FaultRates::none());
    let f = durable_file(&d, "a");
    d.remove(&p("a")).unwrap();
    d.sync_dir(Path::new(DB)).unwrap();
    f.write_at(b"ghost", 0).unwrap();
    f.sync_data().unwrap();
    let mut buf = [0; 5];
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), 5);
    let report = d.crash();
    assert_eq!(report.files_dropped, 1);
    assert!(d.list(Path::new(DB)).unwrap().is_empty());
}

#[test]
fn a_store_in_new_directories_keeps_its_acknowledged_entries_through_a_crash() {
    // Every new name is lost at a crash unless made durable: the engine must sync the parent
    // of each directory it creates, or the whole store (and every acked entry) vanishes.
    use logbook::{Config, Entry, FlushPolicy, Log, Strategy};
    use logbook_sim::clock::SimClock;
    let rates = FaultRates {
        lost_dir_entry: 1.0,
        ..FaultRates::none()
    };
    let d = SimDisk::new(7, rates, Trace::new(false));
    let open = || {
        let cfg = Config::new(Strategy::DiskFirst, FlushPolicy::Immediate);
        Log::open(
            Arc::new(d.clone()),
            Arc::new(SimClock::new(0)),
            "/var/node/log",
            cfg,
        )
    };
    let mut log = open().unwrap();
    log.append(&[Entry::new(1, 1, b"acknowledged".to_vec())])
        .unwrap();
    log.sync().unwrap();
    drop(log);
    d.crash();
    let mut log = open().unwrap();
    let got = log.entry(1).unwrap().map(|e| e.payload.to_vec());
    assert_eq!(got.as_deref(), Some(&b"acknowledged"[..]));
}

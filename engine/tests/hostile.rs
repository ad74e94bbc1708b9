//! Recovery on directories damaged by hand (issue 17), each case as it was reported: an open
//! never destroys data, never allocates from a count of names, never scans in more than
//! linear time, and a strict open that fails leaves every name and byte as it found them.
//! `hostile_fuzz.rs` explores the same ground at random.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use common::format::{self, records, rewrite_header};
use common::{alloc, entries, mem_fs::MemFs};
use logbook::{
    checksummed_bytes, Config, Error, FlushPolicy, HardState, Log, LogId, RecoveryMode, Strategy,
    SystemClock,
};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// The allocation counters are process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

const DIR: &str = "/db";
const BOTH: [Strategy; 2] = [Strategy::DiskFirst, Strategy::MemFirst];

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn seg(first: u64) -> PathBuf {
    dir().join(format!("seg-{first:020}.log"))
}

fn meta() -> PathBuf {
    dir().join("meta")
}

fn open(fs: &MemFs, cfg: &Config) -> logbook::Result<Log> {
    Log::open(
        Arc::new(fs.clone()),
        Arc::new(SystemClock::new()),
        DIR,
        cfg.clone(),
    )
}

/// 4 KiB segments: a few hundred entries span several.
fn config(strategy: Strategy) -> Config {
    Config::new(strategy, FlushPolicy::Immediate).with_segment_size_bytes(4096)
}

/// Entries `1..=n` appended ten at a time, then closed cleanly.
fn store(cfg: &Config, n: u64) -> MemFs {
    let fs = MemFs::new();
    let mut log = open(&fs, cfg).unwrap();
    for chunk in entries(1, n, 1).chunks(10) {
        log.append(chunk).unwrap();
    }
    log.close().unwrap();
    fs
}

/// The first indexes of the segment files, ascending.
fn firsts(fs: &MemFs) -> Vec<u64> {
    fs.segment_firsts(dir())
}

fn bytes_present(fs: &MemFs) -> u64 {
    fs.snapshot(dir()).values().map(|b| b.len() as u64).sum()
}

/// A strict open of `fs` must fail with corruption (in `path`, if given) and leave every
/// name and byte as it found them. Returns the reason.
#[track_caller]
fn refused(fs: &MemFs, cfg: &Config, path: Option<&Path>) -> String {
    let before = fs.snapshot(dir());
    match open(fs, cfg) {
        Err(Error::Corruption {
            path: p, reason, ..
        }) => {
            if let Some(want) = path {
                assert_eq!(p, want, "{reason}");
            }
            assert!(
                fs.snapshot(dir()) == before,
                "the failed open changed the directory ({reason})"
            );
            reason
        }
        Err(e) => panic!("expected corruption, got {e}"),
        Ok(log) => panic!(
            "expected corruption, the log opened at {}",
            log.last_index()
        ),
    }
}

fn swap(fs: &MemFs, a: u64, b: u64) {
    let (x, y) = (fs.read(&seg(a)).unwrap(), fs.read(&seg(b)).unwrap());
    fs.write(&seg(a), y);
    fs.write(&seg(b), x);
}

/// Issue 1: a MemFirst open reserved (entries of the first segment) x (files named like
/// segments) before checking anything: 100 empty names gave one 445 MiB allocation.
#[test]
fn issue_1_names_in_a_listing_reserve_no_memory() {
    let _s = serial();
    let cfg = Config::new(Strategy::MemFirst, FlushPolicy::Immediate)
        .with_segment_size_bytes(1 << 20)
        .with_preload_worker_min_bytes(u64::MAX);
    let fs = MemFs::new();
    let mut log = open(&fs, &cfg).unwrap();
    for chunk in entries(1, 24_000, 1).chunks(1000) {
        log.append(chunk).unwrap();
    }
    log.close().unwrap();
    let segs = firsts(&fs);
    assert!(segs.len() >= 2 && segs[1] > 10_000, "{segs:?}");
    // 300 empty files named like segments between the first and the second.
    for k in 1..=300 {
        fs.write(&seg(segs[0] + k), Vec::new());
    }
    let bytes = bytes_present(&fs);
    for tolerant in [false, true] {
        let fs = fs.deep_clone();
        let cfg = match tolerant {
            true => cfg.clone().with_recovery(RecoveryMode::TruncateCorrupt),
            false => cfg.clone(),
        };
        let before = fs.snapshot(dir());
        let base = alloc::reset();
        let opened = open(&fs, &cfg);
        let (peak, largest) = alloc::peak_and_largest();
        let used = (peak - base) as u64;
        assert!(
            used <= 4 * bytes + (1 << 20),
            "tolerant={tolerant}: the open of a {bytes}-byte store allocated {used} bytes at \
             its peak (largest single allocation {largest})"
        );
        match opened {
            Err(Error::Corruption { path, .. }) if !tolerant => {
                assert_eq!(path, seg(segs[0]));
                assert!(
                    fs.snapshot(dir()) == before,
                    "the failed open changed nothing"
                );
            }
            Ok(log) if tolerant => assert_eq!(log.last_index(), segs[1] - 1),
            other => panic!("tolerant={tolerant}: {:?}", other.map(|l| l.last_index())),
        }
    }
}

/// Issue 2: a last segment ending in a run of record headers with in-bounds lengths made the
/// durable-proof scan checksum from every header (1 MiB of them: 1.9 s). The work is now
/// counted, not timed: at most a few times the bytes present.
#[test]
fn issue_2_record_headers_sprayed_at_the_end_cost_linear_work() {
    let _s = serial();
    const SPRAY: usize = 48 * 5461; // 256 KiB, less 16 bytes: a multiple of 12 and of 48
    assert_eq!(SPRAY % 48, 0);
    // Each header claims a body that runs exactly to the end of the file.
    let plain = |end: usize| -> Vec<u8> {
        let mut v = Vec::with_capacity(SPRAY);
        while v.len() < SPRAY {
            let len = (SPRAY - v.len() - 12) as u32;
            v.extend_from_slice(&format::BATCH_MAGIC.to_le_bytes());
            v.extend_from_slice(&len.max(4).to_le_bytes());
            v.extend_from_slice(&(end as u32 ^ len).to_le_bytes());
        }
        v
    };
    // Frames whose every header field passes the cheap checks (an index and a hint above the
    // tear, the hint below the index, an entry count the body can hold): only the checksum
    // is wrong.
    let plausible = |_end: usize| -> Vec<u8> {
        let mut v = Vec::with_capacity(SPRAY);
        while v.len() < SPRAY {
            let len = (SPRAY - v.len() - 12) as u32;
            let start = v.len();
            v.extend_from_slice(&format::BATCH_MAGIC.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&[0xA5; 4]);
            format::put_varint(&mut v, 1 << 40); // first index
            format::put_varint(&mut v, 1 << 39); // durable hint
            format::put_varint(&mut v, 0); // generation
            format::put_varint(&mut v, 1); // count
            format::put_varint(&mut v, 1); // term
            v.resize(start + 48, 0);
        }
        v
    };
    for strategy in BOTH {
        let cfg = Config::new(strategy, FlushPolicy::Immediate).with_segment_size_bytes(1 << 20);
        let base = store(&cfg, 100);
        let last = *firsts(&base).last().unwrap();
        let mut bytes = base.read(&seg(last)).unwrap();
        let end = format::data_end(&bytes);
        bytes.truncate(end);
        for (name, spray) in [
            ("plain", &plain as &dyn Fn(usize) -> Vec<u8>),
            ("plausible", &plausible),
        ] {
            let fs = base.deep_clone();
            let mut b = bytes.clone();
            // Without checkpoint slots the open scans the whole segment, spray included
            // (with them, it never reads past the last sync: `checkpoint.rs`).
            format::rewrite_header(&mut b, last);
            b.extend(spray(end));
            fs.write(&seg(last), b);
            let size = bytes_present(&fs);
            let (work0, read0) = (checksummed_bytes(), fs.bytes_read());
            let log = open(&fs, &cfg).unwrap_or_else(|e| panic!("{strategy:?} {name}: {e}"));
            let (work, read) = (checksummed_bytes() - work0, fs.bytes_read() - read0);
            // The spray is not vacuous: the first header's checksum alone covers it all.
            assert!(
                work >= SPRAY as u64,
                "{strategy:?} {name}: checksummed only {work}"
            );
            println!("{strategy:?} {name}: {size} bytes present, {work} checksummed, {read} read");
            assert!(
                work <= 4 * size + (64 << 10),
                "{strategy:?} {name}: checksummed {work} bytes of {size}"
            );
            assert!(
                read <= 2 * size,
                "{strategy:?} {name}: read {read} bytes of {size}"
            );
            // Nothing valid proves the sprayed bytes durable: a torn tail, cut.
            assert_eq!(log.last_index(), 100, "{strategy:?} {name}");
            assert_eq!(log.stats().torn_cuts_at_open, 1, "{strategy:?} {name}");
        }
    }
}

/// Issue 3: a segment renamed to an index past the log, with or without its header rewritten
/// to match, was taken for an unfinished segment creation and deleted, and the open
/// succeeded without its entries.
#[test]
fn issue_3_a_segment_renamed_past_the_log_is_corruption_and_is_kept() {
    let _s = serial();
    for strategy in BOTH {
        let cfg = config(strategy);
        let base = store(&cfg, 300);
        let segs = firsts(&base);
        assert!(segs.len() >= 4, "{segs:?}");
        for victim in [segs[segs.len() - 1], segs[1]] {
            for to in [10_000_000_000_000_000_000, u64::MAX, 300 + 1000] {
                for rewrite in [false, true] {
                    let fs = base.deep_clone();
                    let mut bytes = fs.read(&seg(victim)).unwrap();
                    fs.delete(&seg(victim));
                    if rewrite {
                        rewrite_header(&mut bytes, to);
                    }
                    fs.write(&seg(to), bytes);
                    let reason = refused(&fs, &cfg, Some(&seg(to)));
                    println!("{strategy:?} seg {victim} -> {to} rewrite={rewrite}: {reason}");
                }
            }
        }
    }
}

/// Issue 4: after two segments' contents were swapped, a strict MemFirst open deleted the one
/// that sorts last, then returned `Corruption` for the other.
#[test]
fn issue_4_a_failing_strict_open_changes_nothing() {
    let _s = serial();
    for strategy in BOTH {
        let cfg = config(strategy);
        let base = store(&cfg, 300);
        let segs = firsts(&base);
        let n = segs.len();
        for (a, b) in [(0, n - 1), (n - 2, n - 1), (0, 1)] {
            let fs = base.deep_clone();
            swap(&fs, segs[a], segs[b]);
            if strategy == Strategy::DiskFirst && b < n - 1 {
                // DiskFirst reads old segments when a read first needs them: the open
                // succeeds, the read that reaches the damage reports it, nothing is removed.
                let mut log = open(&fs, &cfg).unwrap();
                assert!(matches!(log.entry(segs[a]), Err(Error::Corruption { .. })));
                assert_eq!(firsts(&fs), segs);
                continue;
            }
            refused(&fs, &cfg, None);
        }
    }
}

/// A strict open that fails on damage found late leaves alone everything it would have
/// repaired had the damage not been there: purge leftovers, a torn segment creation, a
/// metadata slot to rewrite. Once the damage is repaired by hand, the open repairs the rest.
#[test]
fn a_strict_open_that_fails_late_repaired_nothing_before() {
    let _s = serial();
    for strategy in BOTH {
        let cfg = config(strategy);
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg).unwrap();
        for chunk in entries(1, 300, 1).chunks(10) {
            log.append(chunk).unwrap();
        }
        log.sync().unwrap();
        let pristine = fs.snapshot(dir());
        let segs = firsts(&fs);
        let boundary = segs[3] + 2;
        log.purge(LogId::new(1, boundary)).unwrap();
        log.close().unwrap();
        // The purge's removals were lost; a segment creation was torn; one metadata slot rots.
        for &first in &segs[..3] {
            fs.write(
                &seg(first),
                pristine[&format!("seg-{first:020}.log")].clone(),
            );
        }
        let last = *segs.last().unwrap();
        if strategy == Strategy::DiskFirst {
            // The last segment is preallocated; trim it so the creation above it is sound.
            let mut b = fs.read(&seg(last)).unwrap();
            b.truncate(format::data_end(&b));
            fs.write(&seg(last), b);
        }
        fs.write(&seg(301), Vec::new());
        let mut m = fs.read(&meta()).unwrap();
        m[512 + 20] ^= 0xFF;
        fs.write(&meta(), m);
        // The damage: a byte of a sealed segment MemFirst reads at open, or of the last
        // segment (with later records proving it durable) that DiskFirst reads.
        let victim = match strategy {
            Strategy::MemFirst => segs[3],
            Strategy::DiskFirst => last,
        };
        let good = fs.read(&seg(victim)).unwrap();
        let mut bad = good.clone();
        bad[format::SEGMENT_HEADER_LEN + 20] ^= 0x40;
        fs.write(&seg(victim), bad);
        // DiskFirst sees its last segment sealed under a torn creation: damage there is
        // corruption, and the creation above it stays too.
        refused(&fs, &cfg, Some(&seg(victim)));

        fs.write(&seg(victim), good);
        let mut log = open(&fs, &cfg).unwrap();
        assert_eq!(log.first_index(), boundary + 1);
        assert_eq!(log.last_index(), 300);
        assert_eq!(
            log.entries(boundary + 1, 301, usize::MAX, u64::MAX)
                .unwrap(),
            entries(boundary + 1, 300, 1)
        );
        assert_eq!(
            firsts(&fs),
            segs[3..].to_vec(),
            "leftovers and the creation removed"
        );
        drop(log);
        let m = fs.read(&meta()).unwrap();
        assert_eq!(m[..512], m[512..1024], "the metadata slots were repaired");
    }
}

/// The purge leftovers an open removes are judged by their successor's name; a strict open
/// first reads each whole for anything above the boundary, so a live segment renamed below
/// the boundary, or made to look like a leftover, is refused, not deleted.
#[test]
fn purge_leftovers_are_removed_only_when_their_names_are_true() {
    let _s = serial();
    for strategy in BOTH {
        let cfg = config(strategy);
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg).unwrap();
        for chunk in entries(1, 600, 1).chunks(10) {
            log.append(chunk).unwrap();
        }
        log.sync().unwrap();
        let pristine = fs.snapshot(dir());
        let segs = firsts(&fs);
        assert!(segs.len() >= 6, "{segs:?}");
        let boundary = segs[3] + 2;
        log.purge(LogId::new(1, boundary)).unwrap();
        log.close().unwrap();
        for &first in &segs[..3] {
            fs.write(
                &seg(first),
                pristine[&format!("seg-{first:020}.log")].clone(),
            );
        }
        let base = fs;

        // A live segment renamed in among the leftovers, header kept or rewritten.
        for rewrite in [false, true] {
            let fs = base.deep_clone();
            let mut bytes = fs.read(&seg(segs[4])).unwrap();
            fs.delete(&seg(segs[4]));
            let to = segs[1] + 1;
            if rewrite {
                rewrite_header(&mut bytes, to);
            }
            fs.write(&seg(to), bytes);
            refused(&fs, &cfg, Some(&seg(to)));
        }
        // An empty file among them: nothing above the boundary in it, a torn creation of a
        // run a purge ended. Removed with them.
        let fs = base.deep_clone();
        fs.write(&seg(segs[0] + 1), Vec::new());
        open(&fs, &cfg).unwrap();
        assert_eq!(firsts(&fs), segs[3..].to_vec());
        // A live segment's copy, header rewritten, among them: refused.
        let fs = base.deep_clone();
        let mut bytes = fs.read(&seg(segs[5])).unwrap();
        rewrite_header(&mut bytes, segs[0] + 1);
        fs.write(&seg(segs[0] + 1), bytes);
        refused(&fs, &cfg, Some(&seg(segs[0] + 1)));
        // A live record copied into a leftover, its segment emptied (found by the fuzzer):
        // the leftover now holds its only copy, and is refused, not deleted.
        let fs = base.deep_clone();
        let live = fs.read(&seg(segs[4])).unwrap();
        let rec = common::format::record(
            records(&live)[3].0,
            records(&live)[3].1,
            records(&live)[3].2,
            &records(&live)[3].3,
        );
        let mut leftover = fs.read(&seg(segs[1])).unwrap();
        leftover[600..600 + rec.len()].copy_from_slice(&rec);
        fs.write(&seg(segs[1]), leftover);
        fs.write(&seg(segs[4]), Vec::new());
        refused(&fs, &cfg, Some(&seg(segs[1])));
        // A name placed just after a live segment, making it look like a leftover: refused.
        let fs = base.deep_clone();
        fs.write(&seg(boundary + 1), Vec::new());
        refused(&fs, &cfg, Some(&seg(segs[3])));

        // As the crash left them: removed.
        let fs = base.deep_clone();
        let mut log = open(&fs, &cfg).unwrap();
        assert_eq!(firsts(&fs), segs[3..].to_vec());
        assert_eq!(
            log.entries(boundary + 1, 601, usize::MAX, u64::MAX)
                .unwrap(),
            entries(boundary + 1, 600, 1)
        );
    }
}

/// Only the creation of the segment where the log continues can be torn: an empty file
/// named for any other index above the log is refused; the true one is removed.
#[test]
fn an_empty_file_above_the_log_is_a_torn_creation_only_under_the_next_index() {
    let _s = serial();
    for strategy in BOTH {
        let cfg = config(strategy);
        let base = store(&cfg, 100);
        for (name, ok) in [(101, true), (102, false), (100 + 1000, false)] {
            let fs = base.deep_clone();
            fs.write(&seg(name), Vec::new());
            if ok {
                let log = open(&fs, &cfg).unwrap();
                assert_eq!(log.last_index(), 100);
                assert_eq!(log.stats().torn_cuts_at_open, 1);
                assert!(fs.read(&seg(name)).is_none(), "removed");
            } else {
                refused(&fs, &cfg, Some(&seg(name)));
            }
        }
        // Two files above the log: only the newest can be a torn creation.
        let fs = base.deep_clone();
        fs.write(&seg(101), Vec::new());
        fs.write(&seg(102), Vec::new());
        refused(&fs, &cfg, Some(&seg(101)));
    }
}

/// Raft never truncates a committed entry: with `commit_check`, a log that ends below the
/// saved commit lost committed entries, and the open says so instead of forgetting them.
#[test]
fn a_log_ending_below_the_saved_commit_is_refused_with_commit_check() {
    let _s = serial();
    for strategy in BOTH {
        let cfg = config(strategy).with_commit_check(true);
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg).unwrap();
        for chunk in entries(1, 300, 1).chunks(10) {
            log.append(chunk).unwrap();
        }
        log.sync().unwrap();
        let hs = HardState {
            term: 1,
            vote: Some(1),
            commit: 295,
        };
        log.save_hard_state(hs).unwrap();
        log.close().unwrap();
        assert!(open(&fs, &cfg).is_ok(), "intact, it opens");
        let segs = firsts(&fs);
        let last = *segs.last().unwrap();
        assert!(last <= 295);
        // The newest segment deleted by hand: what is left reads as a complete log.
        fs.delete(&seg(last));
        let reason = refused(&fs, &cfg, Some(&meta()));
        assert!(reason.contains("commit"), "{reason}");
        // Without the check the hard state is opaque to the engine; a tolerant open warns.
        for other in [
            config(strategy),
            cfg.clone().with_recovery(RecoveryMode::TruncateCorrupt),
        ] {
            let log = open(&fs.deep_clone(), &other).unwrap();
            assert_eq!((log.last_index(), log.hard_state()), (last - 1, hs));
        }
        // A commit at or below the purge boundary is kept by the boundary.
        let mut log = open(&fs, &config(strategy)).unwrap();
        log.purge(LogId::new(1, 400)).unwrap();
        log.close().unwrap();
        let log = open(&fs, &cfg).unwrap();
        assert_eq!(log.last_index(), 400);
    }
}

/// `meta` deleted or cut to zero bytes beside segment files, whether the log holds entries
/// or is empty (purged past its end, a torn segment creation beside it): refused, and the
/// open creates no new `meta` (which would forget the vote).
#[test]
fn meta_deleted_or_emptied_beside_segment_files_is_refused() {
    let _s = serial();
    for strategy in BOTH {
        let cfg = config(strategy);
        for empty_log in [false, true] {
            let fs = MemFs::new();
            let mut log = open(&fs, &cfg).unwrap();
            log.append(&entries(1, 100, 1)).unwrap();
            log.save_hard_state(HardState {
                term: 4,
                vote: Some(2),
                commit: 100,
            })
            .unwrap();
            if empty_log {
                log.purge(LogId::new(1, 120)).unwrap();
            }
            log.close().unwrap();
            if empty_log {
                assert!(firsts(&fs).is_empty());
                fs.write(&seg(121), Vec::new());
            }
            for cut in ["deleted", "emptied"] {
                let fs = fs.deep_clone();
                match cut {
                    "deleted" => fs.delete(&meta()),
                    _ => fs.write(&meta(), Vec::new()),
                }
                refused(&fs, &cfg, Some(&meta()));
            }
        }
    }
}

/// A purge may move the boundary past the end of the log and past a segment whose creation a
/// crash then tears (found by the swarm: disk-first-batch seeds 45 and 160, torn-heavy 38):
/// the creation is judged by the log it continued, or by the boundary of the time.
#[test]
fn a_torn_creation_that_a_purge_passed_is_still_one() {
    let _s = serial();
    for strategy in BOTH {
        let cfg = config(strategy);
        let fs = store(&cfg, 100);
        let segs = firsts(&fs);
        let last = *segs.last().unwrap();
        // Seal the last segment (trimmed), as a rotation does before creating the next.
        let mut b = fs.read(&seg(last)).unwrap();
        b.truncate(format::data_end(&b));
        fs.write(&seg(last), b);
        let sealed = fs.snapshot(dir());
        let mut log = open(&fs, &cfg).unwrap();
        log.purge(LogId::new(1, 103)).unwrap();
        log.close().unwrap();
        let purged = fs.snapshot(dir());
        // The creation's header write was lost; the purge's removals too, or not.
        // The next segment is created after the last segment's end, or, once a purge has
        // removed every segment (the removal is then undone by the crash, or not), after the
        // boundary of the time: anywhere from the old end to the boundary + 1.
        for (leftovers, name, ok) in [
            (true, 101, true),
            (true, 102, true),
            (true, 104, true),
            (true, 105, false),
            (false, 101, true),
            (false, 104, true),
            (false, 105, false),
        ] {
            let fs = MemFs::new();
            fs.restore(dir(), if leftovers { &sealed } else { &purged });
            fs.write(&meta(), purged["meta"].clone());
            fs.write(&seg(name), vec![0u8; 4096]);
            if ok {
                let log = open(&fs, &cfg).unwrap_or_else(|e| panic!("{strategy:?} {name}: {e}"));
                assert_eq!((log.first_index(), log.last_index()), (104, 103));
                assert!(firsts(&fs).is_empty(), "{strategy:?} {name}");
            } else {
                refused(&fs, &cfg, Some(&seg(name)));
            }
        }
    }
}

/// Purge leftovers are removed on the boundary the metadata holds. If its two slots differ
/// (a save was cut short), both are rewritten before any removal relies on it: else one slot
/// damaged later could roll the boundary back below segments already gone (found by the
/// swarm: mem-first-immediate seed 5708, fsync-errors seeds 7547 and 9712).
#[test]
fn the_metadata_slots_agree_before_a_removal_relies_on_the_boundary() {
    let _s = serial();
    for strategy in BOTH {
        let cfg = config(strategy);
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg).unwrap();
        for chunk in entries(1, 300, 1).chunks(10) {
            log.append(chunk).unwrap();
        }
        log.sync().unwrap();
        let before = fs.snapshot(dir());
        let segs = firsts(&fs);
        log.purge(LogId::new(1, segs[3] + 2)).unwrap();
        log.close().unwrap();
        // The purge's second slot write and its removals were lost.
        let mut m = fs.read(&meta()).unwrap();
        m[512..].copy_from_slice(&before["meta"][512..]);
        fs.write(&meta(), m);
        for &first in &segs[..3] {
            fs.write(&seg(first), before[&format!("seg-{first:020}.log")].clone());
        }
        let earlier = fs.changes().len();
        let log = open(&fs, &cfg).unwrap();
        assert_eq!(log.first_index(), segs[3] + 3);
        let changes = fs.changes()[earlier..].to_vec();
        let first_removal = changes
            .iter()
            .position(|c| c.starts_with("remove"))
            .unwrap();
        let meta_writes: Vec<usize> = (0..changes.len())
            .filter(|&i| changes[i].ends_with(" meta"))
            .collect();
        assert_eq!(meta_writes.len(), 1, "{changes:?}");
        assert_eq!(changes[meta_writes[0]], "write@512 meta");
        assert!(meta_writes[0] < first_removal, "{changes:?}");
    }
}

/// A repair of the metadata slots rewrites only the stale slot from the good one: rewriting
/// the good one first let a crash inside the repair tear the only copy (found by the swarm:
/// recovery-crashes seed 11079).
#[test]
fn a_metadata_repair_never_writes_over_the_one_good_slot() {
    let _s = serial();
    let cfg = config(Strategy::DiskFirst);
    let fs = store(&cfg, 20);
    let hs = HardState {
        term: 9,
        vote: Some(4),
        commit: 20,
    };
    let mut log = open(&fs, &cfg).unwrap();
    log.save_hard_state(hs).unwrap();
    log.close().unwrap();
    let good = fs.read(&meta()).unwrap();
    for stale in [0usize, 512] {
        let fs = fs.deep_clone();
        let mut m = good.clone();
        m[stale..stale + 512].fill(0);
        fs.write(&meta(), m);
        let earlier = fs.changes().len();
        let log = open(&fs, &cfg).unwrap();
        assert_eq!(log.hard_state(), hs);
        let meta_writes: Vec<String> = fs.changes()[earlier..]
            .iter()
            .filter(|c| c.ends_with(" meta"))
            .cloned()
            .collect();
        assert_eq!(meta_writes, vec![format!("write@{stale} meta")]);
        assert_eq!(
            fs.read(&meta()).unwrap(),
            good,
            "both slots hold the value again"
        );
    }
}

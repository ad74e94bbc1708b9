//! Recovery on the real filesystem: torn tails are cut, corruption is reported with its file
//! and offset, and neither panics.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::entries;
use logbook::{Config, Error, FlushPolicy, Log, RecoveryMode, StdFs, Strategy, SystemClock};

fn open(dir: &Path, cfg: &Config) -> logbook::Result<Log> {
    Log::open(
        Arc::new(StdFs),
        Arc::new(SystemClock::new()),
        dir,
        cfg.clone(),
    )
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("seg-"))
        .collect();
    v.sort();
    v
}

/// Batch offsets of a single-segment log written one entry per fsynced append: header, then
/// one batch per entry, each written when the entry before it was durable.
fn record_offsets(es: &[logbook::Entry]) -> Vec<u64> {
    let mut off = common::format::SEGMENT_HEADER_LEN as u64;
    es.iter()
        .map(|e| {
            let o = off;
            off += record_len(e);
            o
        })
        .collect()
}

fn record_len(e: &logbook::Entry) -> u64 {
    common::format::record(e.index, e.term, e.index - 1, &e.payload).len() as u64
}

fn immediate(strategy: Strategy) -> Config {
    Config::new(strategy, FlushPolicy::Immediate)
}

#[test]
fn a_tail_cut_at_every_byte_keeps_every_durable_entry_and_nothing_torn() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let cfg = immediate(strategy);
        let es = entries(1, 6, 1);
        let offsets = record_offsets(&es);
        let full_len = offsets[5] + record_len(&es[5]);
        for cut in offsets[5]..=full_len {
            let dir = tempfile::tempdir().unwrap();
            let mut log = open(dir.path(), &cfg).unwrap();
            for e in &es {
                log.append(std::slice::from_ref(e)).unwrap();
                log.sync().unwrap();
            }
            log.close().unwrap();
            let seg = &segments(dir.path())[0];
            let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
            f.set_len(cut).unwrap();
            drop(f);

            let mut log =
                open(dir.path(), &cfg).unwrap_or_else(|e| panic!("{strategy:?} cut {cut}: {e}"));
            let complete = cut == full_len;
            assert_eq!(
                log.last_index(),
                if complete { 6 } else { 5 },
                "{strategy:?} cut at {cut}"
            );
            assert_eq!(
                log.stats().torn_cuts_at_open,
                u32::from(!complete && cut > offsets[5])
            );
            for e in &es[..5] {
                assert_eq!(log.entry(e.index).unwrap().as_ref(), Some(e));
            }
            if !complete {
                // The store goes on: the next append lands where the torn one was.
                log.append(&entries(6, 6, 2)).unwrap();
                log.close().unwrap();
                let mut log = open(dir.path(), &cfg).unwrap();
                assert_eq!(log.entry(6).unwrap().unwrap().term, 2);
            }
        }
    }
}

#[test]
fn zeros_after_the_last_record_are_the_end_of_the_data() {
    // Preallocated space (or a zero-extended file) reads as zeros past the last record.
    let dir = tempfile::tempdir().unwrap();
    let cfg = immediate(Strategy::DiskFirst);
    let mut log = open(dir.path(), &cfg).unwrap();
    log.append(&entries(1, 3, 1)).unwrap();
    log.close().unwrap();
    let seg = &segments(dir.path())[0];
    let len = std::fs::metadata(seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(len + 4096)
        .unwrap();
    let mut log = open(dir.path(), &cfg).unwrap();
    assert_eq!(log.last_index(), 3);
    assert_eq!(
        log.stats().torn_cuts_at_open,
        0,
        "zeros to the end of the file are no tear"
    );
    // The next record lands right after the last one, inside the zeros.
    log.append(&entries(4, 4, 1)).unwrap();
    log.close().unwrap();
    let mut log = open(dir.path(), &cfg).unwrap();
    assert_eq!(log.entries(1, 5, 10, u64::MAX).unwrap(), entries(1, 4, 1));
}

/// Writes entries 1..=10 one per fsynced append, so every later record proves the earlier
/// ones durable, then flips one byte inside record `victim`.
fn corrupt_record(dir: &Path, strategy: Strategy, victim: usize) -> (PathBuf, u64) {
    let cfg = immediate(strategy);
    let es = entries(1, 10, 1);
    let mut log = open(dir, &cfg).unwrap();
    for e in &es {
        log.append(std::slice::from_ref(e)).unwrap();
        log.sync().unwrap();
    }
    log.close().unwrap();
    let seg = segments(dir)[0].clone();
    let off = record_offsets(&es)[victim - 1];
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[off as usize + 20] ^= 0x40;
    std::fs::write(&seg, bytes).unwrap();
    (seg, off)
}

#[test]
fn a_flipped_byte_with_valid_records_after_it_is_reported_with_file_and_offset() {
    // MemFirst reads the whole log at open, so the open reports it. DiskFirst's open reads
    // only the last sync's bytes (its checkpoint): damage before them is reported by the
    // read that reaches it, as in an older segment.
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        for victim in [1, 3, 9] {
            let dir = tempfile::tempdir().unwrap();
            let (seg, off) = corrupt_record(dir.path(), strategy, victim);
            let found = match open(dir.path(), &immediate(strategy)) {
                Ok(mut log) if strategy == Strategy::DiskFirst => {
                    assert_eq!(log.last_index(), 10, "victim {victim}");
                    log.entry(victim as u64).map(|_| ())
                }
                other => other.map(|_| ()),
            };
            match found {
                Err(Error::Corruption {
                    path,
                    offset,
                    reason,
                }) => {
                    assert_eq!(path, seg, "{strategy:?}");
                    assert_eq!(offset, off, "{strategy:?} victim {victim}: {reason}");
                }
                other => panic!("{strategy:?} victim {victim}: expected corruption, got {other:?}"),
            }
        }
    }
}

#[test]
fn tolerant_recovery_cuts_at_the_corruption_when_asked_to() {
    let dir = tempfile::tempdir().unwrap();
    corrupt_record(dir.path(), Strategy::MemFirst, 4);
    let cfg = immediate(Strategy::MemFirst).with_recovery(RecoveryMode::TruncateCorrupt);
    let log = open(dir.path(), &cfg).unwrap();
    assert_eq!(log.last_index(), 3);
}

#[test]
fn corruption_in_an_older_segment_is_reported_by_the_read_that_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = immediate(Strategy::DiskFirst)
        .with_segment_size_bytes(4096)
        .with_cache_entries_max(1);
    let mut log = open(dir.path(), &cfg).unwrap();
    log.append(&entries(1, 300, 1)).unwrap();
    log.close().unwrap();
    let segs = segments(dir.path());
    assert!(segs.len() > 2);
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    bytes[common::format::SEGMENT_HEADER_LEN + 68] ^= 1;
    std::fs::write(&segs[0], bytes).unwrap();
    // DiskFirst opens without reading the old segment, then the read reports it.
    let mut log = open(dir.path(), &cfg).unwrap();
    match log.entry(2) {
        Err(Error::Corruption { path, .. }) => assert_eq!(path, segs[0]),
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(
        log.entry(299).unwrap().is_some(),
        "the rest of the log still reads"
    );
    drop(log);
    // MemFirst reads everything at open and refuses.
    assert!(matches!(
        open(
            dir.path(),
            &immediate(Strategy::MemFirst).with_segment_size_bytes(4096)
        ),
        Err(Error::Corruption { .. })
    ));
}

#[test]
fn hostile_files_give_typed_errors_not_panics() {
    let cases: &[(&str, &[u8])] = &[
        ("empty segment", b""),
        ("short header", b"LOGBOOK"),
        ("random bytes", &[0xAB; 200]),
        ("huge record length", &{
            let mut v = vec![0u8; 32];
            v[..8].copy_from_slice(b"LOGBOOK\x01");
            v.extend_from_slice(&0x5242_4c4cu32.to_le_bytes());
            v.extend_from_slice(&u32::MAX.to_le_bytes());
            v.extend_from_slice(&[0; 8]);
            v
        }),
    ];
    for (name, bytes) in cases {
        for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
            let dir = tempfile::tempdir().unwrap();
            let cfg = immediate(strategy);
            let mut log = open(dir.path(), &cfg).unwrap();
            log.append(&entries(1, 5, 1)).unwrap();
            log.close().unwrap();
            std::fs::write(dir.path().join("seg-00000000000000000006.log"), bytes).unwrap();
            std::fs::write(
                dir.path().join("notes.txt"),
                b"a foreign file is left alone",
            )
            .unwrap();
            // Garbage in the last segment with nothing proving it durable is a torn tail.
            let log = open(dir.path(), &cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(log.last_index(), 5, "{name}");
        }
    }
}

#[test]
fn a_segment_from_a_future_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = immediate(Strategy::DiskFirst);
    let mut log = open(dir.path(), &cfg).unwrap();
    log.append(&entries(1, 5, 1)).unwrap();
    log.close().unwrap();
    let seg = &segments(dir.path())[0];
    let mut bytes = std::fs::read(seg).unwrap();
    bytes[8] = 9;
    let crc = crc32fast_hash(&bytes[0..24]);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(seg, bytes).unwrap();
    assert!(matches!(
        open(dir.path(), &cfg),
        Err(Error::UnsupportedVersion { version: 9, .. })
    ));
}

fn crc32fast_hash(b: &[u8]) -> u32 {
    // crc32 (IEEE), bitwise, so the test does not depend on the engine's internals.
    let mut crc = !0u32;
    for &x in b {
        crc ^= x as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn metadata_survives_one_damaged_slot_and_refuses_two() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = immediate(Strategy::DiskFirst);
    let mut log = open(dir.path(), &cfg).unwrap();
    let hs = logbook::HardState {
        term: 7,
        vote: Some(3),
        commit: 0,
    };
    log.save_hard_state(hs).unwrap();
    log.close().unwrap();
    let meta = dir.path().join("meta");
    for (slot, expect_ok) in [(0usize, true), (512, true)] {
        let mut bytes = std::fs::read(&meta).unwrap();
        let original = bytes.clone();
        bytes[slot + 20] ^= 0xFF;
        std::fs::write(&meta, &bytes).unwrap();
        let log = open(dir.path(), &cfg);
        assert_eq!(log.is_ok(), expect_ok);
        assert_eq!(
            log.unwrap().hard_state(),
            hs,
            "slot {slot} damaged, the other one holds"
        );
        std::fs::write(&meta, original).unwrap();
    }
    let mut bytes = std::fs::read(&meta).unwrap();
    bytes[20] ^= 0xFF;
    bytes[532] ^= 0xFF;
    std::fs::write(&meta, &bytes).unwrap();
    assert!(matches!(
        open(dir.path(), &cfg),
        Err(Error::Corruption { .. })
    ));
}

/// MemFirst's preload parses on the opening thread or on a worker (past
/// `preload_worker_min_bytes`); both must reach the same verdict on every segment: a clean
/// log loads whole, a flipped byte in any older segment is reported there (strict) or cut
/// there (tolerant), and nothing after the damage is kept.
#[test]
fn preload_on_a_worker_or_inline_reaches_the_same_verdicts() {
    let base = immediate(Strategy::MemFirst).with_segment_size_bytes(4096);
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), &base).unwrap();
    log.append(&entries(1, 400, 1)).unwrap();
    log.close().unwrap();
    let segs = segments(dir.path());
    assert!(segs.len() >= 5, "the log spans several segments");
    let pristine: Vec<Vec<u8>> = segs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let first_index = |p: &Path| -> u64 {
        let name = p.file_name().unwrap().to_str().unwrap();
        name.trim_start_matches("seg-")
            .trim_end_matches(".log")
            .parse()
            .unwrap()
    };
    let restore = || {
        for (p, b) in segs.iter().zip(&pristine) {
            std::fs::write(p, b).unwrap();
        }
    };
    for (mode, min_bytes) in [("worker", 0), ("inline", u64::MAX)] {
        let cfg = base.clone().with_preload_worker_min_bytes(min_bytes);
        restore();
        let mut log = open(dir.path(), &cfg).unwrap();
        assert_eq!(
            log.entries(1, 401, 1000, u64::MAX).unwrap(),
            entries(1, 400, 1),
            "{mode}: a clean log loads whole"
        );
        drop(log);
        for victim in [0, 1, segs.len() - 2] {
            restore();
            let mut bytes = pristine[victim].clone();
            // Inside the first record, after the header and its checkpoint slots.
            bytes[common::format::SEGMENT_HEADER_LEN + 18] ^= 1;
            std::fs::write(&segs[victim], bytes).unwrap();
            match open(dir.path(), &cfg) {
                Err(Error::Corruption { path, .. }) => {
                    assert_eq!(path, segs[victim], "{mode}: victim {victim}")
                }
                other => panic!("{mode} victim {victim}: expected corruption, got {other:?}"),
            }
            let tolerant = cfg.clone().with_recovery(RecoveryMode::TruncateCorrupt);
            let mut log = open(dir.path(), &tolerant).unwrap();
            let kept = first_index(&segs[victim]) - 1;
            assert_eq!(log.last_index(), kept, "{mode}: victim {victim} cut there");
            assert_eq!(
                log.entries(1, kept + 1, 1000, u64::MAX).unwrap(),
                entries(1, kept, 1),
                "{mode}: victim {victim}"
            );
            drop(log);
        }
    }
}

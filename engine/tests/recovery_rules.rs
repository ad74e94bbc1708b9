//! Recovery's rules that only a second crash, or a batch no clean run writes, exercises:
//! - a batch below the index its segment reached is a truncation only with a generation
//!   above every earlier batch's: a stale or copied one ends the log as a torn tail and
//!   removes nothing it would have replaced;
//! - a record whose term goes backwards (what a truncation that was never made durable
//!   leaves behind, with the old leader's entries after the new leader's) ends the log: cut
//!   as a torn tail while nothing proves it durable;
//! - after a crash tore one metadata slot, the open restores the second copy before anything
//!   else writes, so a second crash, tearing the other slot during the next save, still
//!   leaves the last durable hard state.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::format::{self, record, records};
use common::{entries, mem_fs::MemFs};
use logbook::{Config, FlushPolicy, HardState, Log, LogId, Strategy, SystemClock};

const DIR: &str = "/store";

fn dir() -> &'static Path {
    Path::new(DIR)
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

/// Small segments: a MemFirst open reads its segments whole.
fn configs() -> [Config; 2] {
    [Strategy::DiskFirst, Strategy::MemFirst]
        .map(|s| Config::new(s, FlushPolicy::Immediate).with_segment_size_bytes(64 << 10))
}

/// A log of entries `1..=5` in term 2, synced and closed, in one segment.
fn five_in_term_2(cfg: &Config) -> (MemFs, PathBuf) {
    let fs = MemFs::new();
    let mut log = open(&fs, cfg).unwrap();
    log.append(&entries(1, 5, 2)).unwrap();
    log.sync().unwrap();
    log.close().unwrap();
    let seg = dir().join(format!("seg-{:020}.log", 1));
    (fs, seg)
}

/// Writes `recs` into the segment right after its last valid record, as batches a sync
/// wrote, and clears the checkpoint slots so that the full scan judges them: with a slot,
/// an open drops everything past the last sync's bytes unread (`checkpoint.rs`).
fn append_records(fs: &MemFs, seg: &Path, recs: &[Vec<u8>]) {
    let mut bytes = fs.read(seg).unwrap();
    format::rewrite_header(&mut bytes, 1);
    let end = format::data_end(&bytes);
    let tail: Vec<u8> = recs.concat();
    if bytes.len() < end + tail.len() {
        bytes.resize(end + tail.len(), 0);
    }
    bytes[end..end + tail.len()].copy_from_slice(&tail);
    fs.write(seg, bytes);
}

#[test]
fn a_record_whose_term_goes_backwards_is_cut_while_nothing_proves_it_durable() {
    for cfg in configs() {
        // Its own durable hint proves nothing: a record cannot vouch for itself.
        for hint in [5, 6] {
            let (fs, seg) = five_in_term_2(&cfg);
            // Index 6 in term 1 after term 2: an old leader's entry a lost truncation left.
            append_records(&fs, &seg, &[record(6, 1, hint, b"stale")]);
            let log = open(&fs, &cfg).unwrap();
            assert_eq!(
                log.last_log_id(),
                Some(LogId::new(2, 5)),
                "{cfg:?} hint {hint}"
            );
            assert_eq!(log.last_index(), 5);
            let kept = records(&fs.read(&seg).unwrap());
            assert_eq!(
                kept.len(),
                5,
                "{cfg:?}: the stale record was cut from the file"
            );
            assert!(kept.iter().all(|r| r.1 == 2));
        }
    }
}

#[test]
fn a_batch_below_the_index_reached_truncates_only_with_a_newer_generation() {
    // (generation of a batch of entries 3..=4 written after 1..=5, what the log then holds)
    let cases: [(u64, &[(u64, u64)]); 2] = [
        // The generation every batch so far carries: a stale copy, not a truncation.
        (0, &[(1, 2), (2, 2), (3, 2), (4, 2), (5, 2)]),
        // A newer one: a truncation at 3 and its replacements.
        (1, &[(1, 2), (2, 2), (3, 3), (4, 3)]),
    ];
    for cfg in configs() {
        for (generation, want) in cases {
            let (fs, seg) = five_in_term_2(&cfg);
            let batch = format::batch(3, 2, generation, &[(3, b"new-3"), (3, b"new-4")]);
            append_records(&fs, &seg, &[batch]);
            let mut log = open(&fs, &cfg).unwrap();
            let got: Vec<(u64, u64)> = (log.entries(1, 6, usize::MAX, u64::MAX).unwrap())
                .iter()
                .map(|e| (e.index, e.term))
                .collect();
            assert_eq!(got, want, "{cfg:?} generation {generation}");
            let cut = u32::from(generation == 0);
            assert_eq!(
                log.stats().torn_cuts_at_open,
                cut,
                "{cfg:?} generation {generation}"
            );
        }
    }
}

fn hs(term: u64) -> HardState {
    HardState {
        term,
        vote: Some(term % 3),
        commit: 0,
    }
}

/// Damages the slot at `offset` of `meta` the way a torn sector write does.
fn tear_slot(fs: &MemFs, offset: usize) {
    let mut m = fs.read(&meta()).unwrap();
    for b in &mut m[offset + 4..offset + 40] {
        *b ^= 0x5a;
    }
    fs.write(&meta(), m);
}

#[test]
fn after_a_torn_metadata_slot_the_open_restores_both_copies_before_the_next_save() {
    for cfg in configs() {
        for torn in [0, 512] {
            let fs = MemFs::new();
            let mut log = open(&fs, &cfg).unwrap();
            log.save_hard_state(hs(3)).unwrap();
            log.save_hard_state(hs(4)).unwrap();
            drop(log);
            // Crash one: a save of hard state 5 tore slot `torn` and never returned. Slot 0
            // torn: slot 1 still holds 4. Slot 1 torn: slot 0 already holds 5.
            let mut m = fs.read(&meta()).unwrap();
            let newer = meta_after_saves(&cfg, &[hs(3), hs(4), hs(5)]);
            m[..512].copy_from_slice(&newer[..512]);
            fs.write(&meta(), m);
            tear_slot(&fs, torn);
            let survivor = if torn == 0 { hs(4) } else { hs(5) };
            let log = open(&fs, &cfg).unwrap();
            assert_eq!(log.hard_state(), survivor, "{cfg:?} torn {torn}");
            drop(log);
            let m = fs.read(&meta()).unwrap();
            assert_eq!(
                m[..512],
                m[512..1024],
                "{cfg:?} torn {torn}: slots not restored"
            );
            // Crash two: the next save tears the other slot.
            tear_slot(&fs, 512 - torn);
            let log = open(&fs, &cfg).unwrap();
            assert_eq!(
                log.hard_state(),
                survivor,
                "{cfg:?} torn {torn}, then {}",
                512 - torn
            );
        }
    }
}

/// The metadata file the engine writes for `saves`, in a scratch store.
fn meta_after_saves(cfg: &Config, saves: &[HardState]) -> Vec<u8> {
    let scratch = MemFs::new();
    let mut log = open(&scratch, cfg).unwrap();
    for h in saves {
        log.save_hard_state(*h).unwrap();
    }
    drop(log);
    scratch.read(&meta()).unwrap()
}

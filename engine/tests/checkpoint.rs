//! The checkpoint slots of format 3 (docs/DESIGN.md §1, "On disk"): an open finds the end
//! of the newest segment from its newest slot and reads only the last sync's bytes, not the
//! preallocated space, whatever the segment size; what it does not read is read (and
//! checked) by the first read that needs it; and what lies past the last sync is dropped.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{entries, format, mem_fs::MemFs};
use logbook::{Config, Entry, FlushPolicy, Log, Strategy, SystemClock};

fn dir() -> &'static Path {
    Path::new("/store")
}

fn seg(first: u64) -> PathBuf {
    dir().join(format!("seg-{first:020}.log"))
}

fn open(fs: &MemFs, cfg: &Config) -> Log {
    Log::open(
        Arc::new(fs.clone()),
        Arc::new(SystemClock::new()),
        dir(),
        cfg.clone(),
    )
    .unwrap()
}

fn all(log: &mut Log) -> Vec<Entry> {
    let (first, last) = (log.first_index(), log.last_index());
    log.entries(first, last + 1, usize::MAX, u64::MAX).unwrap()
}

fn config(strategy: Strategy, segment_size_bytes: u64) -> Config {
    Config::new(strategy, FlushPolicy::Immediate)
        .with_segment_size_bytes(segment_size_bytes)
        .with_cache_entries_max(16)
}

/// 20,000 entries of ~100 bytes (about 2.3 MiB) in one segment, written 100 to a sync.
fn filled(cfg: &Config) -> (MemFs, Vec<Entry>) {
    let fs = MemFs::new();
    let mut log = open(&fs, cfg);
    let es: Vec<Entry> = (1..=20_000)
        .map(|i| Entry::new(i, 1 + i / 5_000, vec![i as u8; 100]))
        .collect();
    for chunk in es.chunks(100) {
        log.append(chunk).unwrap();
    }
    log.close().unwrap();
    assert_eq!(fs.segment_firsts(dir()), [1]);
    (fs, es)
}

/// Bytes an open reads, and the log it opened.
fn measured_open(fs: &MemFs, cfg: &Config) -> (u64, Log) {
    let before = fs.bytes_read();
    let log = open(fs, cfg);
    (fs.bytes_read() - before, log)
}

#[test]
fn a_disk_first_open_reads_the_last_sync_not_the_segment() {
    // (segment size, the bound on what an open reads: the metadata, the header and slots,
    // the last sync's ~11 KiB, and a 4 KiB look past it)
    for size in [4u64 << 20, 64 << 20] {
        let cfg = config(Strategy::DiskFirst, size);
        let (fs, es) = filled(&cfg);
        let (read, mut log) = measured_open(&fs, &cfg);
        assert!(
            read < 20 << 10,
            "segment of {size} bytes: the open read {read}"
        );
        assert_eq!(log.stats().torn_cuts_at_open, 0);
        assert_eq!(
            log.last_log_id().map(|l| (l.index, l.term)),
            Some((20_000, 5))
        );
        // The entries before the last sync are indexed by the first read that needs them,
        // which checks them as a full open would.
        assert_eq!(all(&mut log), es, "segment of {size} bytes");
        log.append(&entries(20_001, 20_010, 5)).unwrap();
        drop(log);
        let (read, mut log) = measured_open(&fs, &cfg);
        assert!(read < 20 << 10, "after a reopen: the open read {read}");
        assert_eq!(all(&mut log).len(), 20_010);

        // The same store without its slots (a header rewritten by hand): the full scan
        // reads the whole segment, preallocated space included.
        let bare = fs.deep_clone();
        let mut b = bare.read(&seg(1)).unwrap();
        format::rewrite_header(&mut b, 1);
        bare.write(&seg(1), b);
        let (read, mut log) = measured_open(&bare, &cfg);
        assert!(
            read >= size,
            "without slots the open read only {read} of {size}"
        );
        assert_eq!(all(&mut log).len(), 20_010);
    }
}

#[test]
fn a_mem_first_open_reads_the_data_not_the_preallocated_space() {
    let size = 64u64 << 20;
    let cfg = config(Strategy::MemFirst, size);
    let (fs, es) = filled(&cfg);
    let data = format::data_end(&fs.read(&seg(1)).unwrap()) as u64;
    let (read, mut log) = measured_open(&fs, &cfg);
    assert!(
        read < data + (8 << 10),
        "the open read {read} bytes for {data} of data in a {size}-byte segment"
    );
    assert_eq!(all(&mut log), es);
}

#[test]
fn what_lies_past_the_last_sync_is_dropped_unread_and_the_store_goes_on() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let cfg = config(strategy, 4 << 20);
        let (fs, es) = filled(&cfg);
        // A crash left a batch that a sync never covered, and garbage after it: a valid
        // batch of 20,001 and a torn one.
        let mut b = fs.read(&seg(1)).unwrap();
        let end = format::data_end(&b);
        let mut extra = format::batch(20_001, 20_000, 0, &[(5, b"never synced")]);
        extra.extend_from_slice(&[0xA5; 40]);
        b[end..end + extra.len()].copy_from_slice(&extra);
        fs.write(&seg(1), b);
        let mut log = open(&fs, &cfg);
        assert_eq!(log.last_index(), 20_000, "{strategy:?}");
        assert_eq!(log.stats().torn_cuts_at_open, 1, "{strategy:?}");
        assert_eq!(
            format::data_end(&fs.read(&seg(1)).unwrap()),
            end,
            "{strategy:?}: nothing past the last sync is left to be read as a batch"
        );
        // The next append lands where the dropped bytes were, and reopens whole.
        log.append(&entries(20_001, 20_003, 6)).unwrap();
        log.sync().unwrap();
        drop(log);
        let mut log = open(&fs, &cfg);
        let mut want = es.clone();
        want.extend(entries(20_001, 20_003, 6));
        assert_eq!(all(&mut log), want, "{strategy:?}");
    }
}

#[test]
fn a_truncation_back_into_a_sealed_segment_is_not_undone_by_its_old_slots() {
    // A sealed segment carries the slots of its active days; a durable truncation back
    // into it makes it active again, and its next slot must outrank them.
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let cfg = config(strategy, 64 << 10);
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg);
        let es: Vec<Entry> = (1..=2_000)
            .map(|i| Entry::new(i, 1, vec![7; 100]))
            .collect();
        for chunk in es.chunks(50) {
            log.append(chunk).unwrap();
        }
        log.sync().unwrap();
        let firsts = fs.segment_firsts(dir());
        assert!(firsts.len() >= 3, "{strategy:?}: {firsts:?}");
        let from = firsts[1] - 10;
        log.truncate(from).unwrap();
        log.sync().unwrap();
        drop(log);
        let mut log = open(&fs, &cfg);
        assert_eq!(all(&mut log), es[..from as usize - 1], "{strategy:?}");
        log.append(&entries(from, from + 4, 2)).unwrap();
        log.sync().unwrap();
        drop(log);
        let mut want = es[..from as usize - 1].to_vec();
        want.extend(entries(from, from + 4, 2));
        let mut log = open(&fs, &cfg);
        assert_eq!(all(&mut log), want, "{strategy:?}");
        // Once more, in place, without entries after the cut.
        log.truncate(from - 5).unwrap();
        log.sync().unwrap();
        drop(log);
        let mut log = open(&fs, &cfg);
        assert_eq!(all(&mut log), es[..from as usize - 6], "{strategy:?}");
    }
}

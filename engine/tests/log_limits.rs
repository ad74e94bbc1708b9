//! `Log`'s bounds and edges that the other tests cross only by chance: a range read stops at
//! its byte budget, a truncation right after the purge boundary empties the log, a DiskFirst
//! read counts its cache hits and misses, and a MemFirst backlog goes out in flushes of at
//! most `flush_entries_max` entries.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::mem_fs::MemFs;
use logbook::{Config, Entry, FlushPolicy, Log, LogId, Strategy, SystemClock};

fn open(fs: &MemFs, cfg: &Config) -> Log {
    let clock = Arc::new(SystemClock::new());
    Log::open(
        Arc::new(fs.clone()),
        clock,
        Path::new("/store"),
        cfg.clone(),
    )
    .unwrap()
}

fn configs() -> [Config; 2] {
    [Strategy::DiskFirst, Strategy::MemFirst]
        .map(|s| Config::new(s, FlushPolicy::Immediate).with_segment_size_bytes(64 << 10))
}

/// Entries `from..=to` in `term`, each with a 10-byte payload.
fn tens(from: u64, to: u64, term: u64) -> Vec<Entry> {
    (from..=to)
        .map(|i| Entry::new(i, term, vec![i as u8; 10]))
        .collect()
}

#[test]
fn a_range_read_stops_at_the_entry_that_reaches_its_byte_budget() {
    for cfg in configs() {
        let mut log = open(&MemFs::new(), &cfg);
        log.append(&tens(1, 10, 1)).unwrap();
        log.sync().unwrap();
        let got = |log: &mut Log, bytes_max| {
            let es = log.entries(2, 11, usize::MAX, bytes_max).unwrap();
            es.iter().map(|e| e.index).collect::<Vec<_>>()
        };
        // 10 + 10 < 25, the third reaches it: three entries, from the first asked for.
        assert_eq!(got(&mut log, 25), vec![2, 3, 4], "{cfg:?}");
        assert_eq!(got(&mut log, 30), vec![2, 3, 4], "{cfg:?}");
        // At least one entry, however small the budget.
        assert_eq!(got(&mut log, 1), vec![2], "{cfg:?}");
        assert_eq!(got(&mut log, u64::MAX).len(), 9, "{cfg:?}");
        let counted = log.entries(2, 11, 4, u64::MAX).unwrap();
        assert_eq!(counted.len(), 4, "{cfg:?}: count_max bounds it too");
    }
}

#[test]
fn a_truncation_right_after_the_purge_boundary_empties_the_log_and_keeps_the_boundary() {
    for cfg in configs() {
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg);
        log.append(&tens(1, 10, 2)).unwrap();
        log.sync().unwrap();
        log.purge(LogId::new(2, 4)).unwrap();
        log.truncate(5).unwrap();
        let check = |log: &Log| {
            assert_eq!(log.last_log_id(), Some(LogId::new(2, 4)), "{cfg:?}");
            assert_eq!((log.first_index(), log.last_index()), (5, 4), "{cfg:?}");
        };
        check(&log);
        log.append(&tens(5, 6, 3)).unwrap();
        log.sync().unwrap();
        assert_eq!(log.last_log_id(), Some(LogId::new(3, 6)), "{cfg:?}");
        log.close().unwrap();
        let log = open(&fs, &cfg);
        assert_eq!(log.last_log_id(), Some(LogId::new(3, 6)), "{cfg:?}");
        assert_eq!(log.last_purged(), Some(LogId::new(2, 4)), "{cfg:?}");
    }
}

#[test]
fn a_disk_first_read_counts_its_cache_hits_and_misses() {
    let cfg = configs()[0].clone().with_cache_entries_max(4);
    let fs = MemFs::new();
    let mut log = open(&fs, &cfg);
    log.append(&tens(1, 20, 1)).unwrap();
    log.sync().unwrap();
    let before = log.stats();
    // The tail cache holds the newest entries: a range read of two of them, a hit each.
    assert_eq!(log.entries(19, 21, usize::MAX, u64::MAX).unwrap().len(), 2);
    let after_hits = log.stats();
    assert_eq!(after_hits.cache_hits, before.cache_hits + 2);
    assert_eq!(after_hits.cache_misses, before.cache_misses);
    // An old entry goes to disk: a miss (its prefetched run serves the next ones).
    assert_eq!(log.entries(1, 2, usize::MAX, u64::MAX).unwrap().len(), 1);
    let after_miss = log.stats();
    assert_eq!(after_miss.cache_misses, before.cache_misses + 1);
    assert_eq!(after_miss.cache_hits, after_hits.cache_hits);
}

#[test]
fn a_mem_first_backlog_goes_out_in_flushes_of_at_most_flush_entries_max() {
    let cfg = configs()[1].clone().with_flush_entries_max(4);
    let fs = MemFs::new();
    let mut log = open(&fs, &cfg);
    log.append(&tens(1, 10, 1)).unwrap();
    let mut steps = Vec::new();
    while log.durable_index() < 10 {
        let mut prepared = log.prepare_sync().unwrap().expect("entries are owed");
        let result = prepared.run(&fs);
        log.complete_sync(prepared, result).unwrap();
        steps.push(log.durable_index());
    }
    assert_eq!(steps, vec![4, 8, 10]);
    // `sync` runs as many flushes as the backlog needs before it returns.
    log.append(&tens(11, 20, 1)).unwrap();
    let syncs = log.stats().syncs;
    log.sync().unwrap();
    assert_eq!((log.durable_index(), log.stats().syncs - syncs), (20, 3));
    assert!(log.is_fully_durable());
}

#[test]
fn a_disk_first_truncation_leaves_the_durable_index_at_the_cut() {
    let cfg = Config::new(
        Strategy::DiskFirst,
        FlushPolicy::Batch {
            threshold: 1_000,
            interval_ms: 600_000,
        },
    );
    let mut log = open(&MemFs::new(), &cfg.with_segment_size_bytes(64 << 10));
    log.append(&tens(1, 10, 1)).unwrap();
    log.sync().unwrap();
    log.truncate(6).unwrap();
    // Below the old durable index: it comes down, so replacements are not durable yet. The
    // cut itself is owed to the next sync: the log is not fully durable.
    assert_eq!(log.durable_index(), 5);
    assert!(
        !log.is_fully_durable(),
        "a truncation in place waits for a sync"
    );
    // Without the policy's sync (`append` would run it: a resolved conflict is due at once).
    log.append_nosync(&tens(6, 8, 2)).unwrap();
    assert_eq!(
        log.durable_index(),
        5,
        "replacements reported durable before a sync"
    );
    // Above it: the cut does not sync either; the next sync makes the cut and everything
    // before it durable at once.
    log.truncate(8).unwrap();
    assert_eq!(log.durable_index(), 5);
    let syncs = log.stats().syncs;
    log.sync().unwrap();
    assert_eq!((log.durable_index(), log.stats().syncs), (7, syncs + 1));
    assert!(log.is_fully_durable());
}

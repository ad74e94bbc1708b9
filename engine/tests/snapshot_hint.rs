//! Snapshot-aware recovery (`Config::snapshot_hint`): a MemFirst open given the index of
//! the node's last snapshot preloads only the segments from the one holding it; the older
//! entries stay readable, lazily from disk, through every operation that can meet them.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{entries, mem_fs::MemFs};
use logbook::{Config, Entry, FlushPolicy, Log, LogId, Strategy, SystemClock};

const DIR: &str = "/db";

/// 4 KiB segments: 1,200 entries span 18.
fn config(hint: Option<u64>) -> Config {
    Config::new(Strategy::MemFirst, FlushPolicy::Immediate)
        .with_segment_size_bytes(4096)
        .with_snapshot_hint(hint)
}

fn open(fs: &MemFs, hint: Option<u64>) -> Log {
    Log::open(
        Arc::new(fs.clone()),
        Arc::new(SystemClock::new()),
        DIR,
        config(hint),
    )
    .unwrap()
}

/// Entries `1..=n`, closed cleanly (about 65 to a segment).
fn store(n: u64) -> MemFs {
    let fs = MemFs::new();
    let mut log = open(&fs, None);
    for chunk in entries(1, n, 1).chunks(10) {
        log.append(chunk).unwrap();
    }
    log.close().unwrap();
    fs
}

fn all(log: &mut Log) -> Vec<Entry> {
    let from = log.first_index();
    log.entries(from, log.last_index() + 1, usize::MAX, u64::MAX)
        .unwrap()
}

/// Bytes an open of `fs` reads.
fn open_reads(fs: &MemFs, hint: Option<u64>) -> u64 {
    let before = fs.bytes_read();
    drop(open(fs, hint));
    fs.bytes_read() - before
}

#[test]
fn a_hinted_open_reads_the_live_tail_not_the_whole_log() {
    let fs = store(1200);
    let segments = fs.segment_firsts(Path::new(DIR)).len() as u64;
    assert!(segments >= 10, "the log spans {segments} segments");
    let whole = open_reads(&fs, None);
    let near_end = open_reads(&fs, Some(1190));
    let past_end = open_reads(&fs, Some(10_000));
    let at_start = open_reads(&fs, Some(1));
    // The tail is one or two segments of `segments`.
    assert!(near_end * 4 < whole, "hinted {near_end} vs whole {whole}");
    assert!(past_end <= near_end, "{past_end} vs {near_end}");
    assert_eq!(at_start, whole, "a hint at the start preloads everything");
}

#[test]
fn every_entry_stays_readable_whatever_the_hint() {
    let fs = store(300);
    let expected = entries(1, 300, 1);
    for hint in [0, 1, 57, 150, 299, 300, 301, 10_000] {
        let mut log = open(&fs, Some(hint));
        assert_eq!(all(&mut log), expected, "hint {hint}");
        for i in [1, 2, hint.clamp(1, 300), 300] {
            assert_eq!(
                log.entry(i).unwrap(),
                Some(expected[i as usize - 1].clone())
            );
        }
        assert_eq!(log.last_log_id(), Some(LogId::new(1, 300)), "hint {hint}");
    }
}

#[test]
fn the_entry_at_the_hint_is_in_memory() {
    let fs = store(300);
    let mut log = open(&fs, Some(200));
    let before = fs.bytes_read();
    assert_eq!(log.entry(200).unwrap().map(|e| e.term), Some(1));
    assert_eq!(fs.bytes_read(), before, "the hint's term cost a read");
    assert!(log.entry(20).unwrap().is_some());
    assert!(fs.bytes_read() > before, "an old entry is read from disk");
}

#[test]
fn old_entries_stay_readable_while_a_sync_holds_the_segment_files() {
    let fs = store(300);
    let mut log = open(&fs, Some(250));
    log.append(&entries(301, 310, 2)).unwrap();
    let mut log = {
        // Immediate MemFirst appends stay in memory until a sync: lend the files to one.
        let mut prepared = log.prepare_sync().unwrap().expect("something to sync");
        assert_eq!(log.entry(5).unwrap(), Some(entries(5, 5, 1)[0].clone()));
        let result = prepared.run(&fs);
        log.complete_sync(prepared, result).unwrap();
        log
    };
    assert_eq!(log.durable_index(), 310);
    assert_eq!(all(&mut log).len(), 310);
}

/// Each case: a hint, then cuts below, at and above the memory's floor; the log must read
/// back as the same cuts on a log opened without a hint, before and after a reopen.
#[test]
fn truncation_and_purge_across_the_floor_match_an_unhinted_log() {
    // (hint, truncate from, term of the new entries, purge up to)
    let cases: [(u64, u64, u64, u64); 6] = [
        (250, 30, 2, 0),   // truncate deep in the cold segments
        (250, 200, 2, 10), // truncate just below the floor, purge in the cold part
        (250, 290, 2, 0),  // truncate in memory
        (250, 0, 0, 120),  // purge half the cold part
        (250, 0, 0, 260),  // purge past the floor
        (10_000, 5, 3, 2), // only the last segment in memory
    ];
    for (hint, from, term, purge) in cases {
        let fs_hinted = store(300);
        let fs_plain = store(300);
        let mut hinted = open(&fs_hinted, Some(hint));
        let mut plain = open(&fs_plain, None);
        for log in [&mut hinted, &mut plain] {
            if from > 0 {
                log.truncate(from).unwrap();
                log.append(&entries(from, from + 20, term)).unwrap();
            }
            if purge > 0 {
                let t = log.entry(purge).unwrap().unwrap().term;
                log.purge(LogId::new(t, purge)).unwrap();
            }
        }
        let case = format!("hint {hint} truncate {from} purge {purge}");
        assert_eq!(all(&mut hinted), all(&mut plain), "{case}");
        assert_eq!(hinted.last_log_id(), plain.last_log_id(), "{case}");
        hinted.close().unwrap();
        plain.close().unwrap();
        let mut reopened = open(&fs_hinted, Some(hint));
        let mut plain = open(&fs_plain, None);
        assert_eq!(all(&mut reopened), all(&mut plain), "{case}, reopened");
    }
}

#[test]
fn damage_in_a_cold_segment_is_reported_by_the_read_that_meets_it() {
    let fs = store(300);
    let first = fs.segment_firsts(Path::new(DIR))[1];
    let path = Path::new(DIR).join(format!("seg-{first:020}.log"));
    let mut bytes = fs.read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    fs.write(&path, bytes);
    let mut log = open(&fs, Some(250));
    assert!(
        log.entry(290).unwrap().is_some(),
        "the hot part opens and reads"
    );
    let err = log.entry(first).unwrap_err();
    assert!(
        matches!(&err, logbook::Error::Corruption { path: p, .. } if *p == path),
        "{err}"
    );
}

//! Truncation (docs/DESIGN.md §1, "On disk"): a cut inside the last segment is a truncation
//! batch that the next sync makes durable together with the entries after it; a cut
//! further back is durable before it returns; nothing is renamed, rewritten or shortened.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::{entries, mem_fs::MemFs};
use logbook::{Config, Entry, FlushPolicy, Log, Strategy, SystemClock};

fn dir() -> &'static Path {
    Path::new("/store")
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

fn fsyncs(fs: &MemFs) -> u64 {
    fs.counters.fsyncs.load(Ordering::Relaxed)
}

fn all(log: &mut Log) -> Vec<Entry> {
    let (first, last) = (log.first_index(), log.last_index());
    log.entries(first, last + 1, usize::MAX, u64::MAX).unwrap()
}

/// A follower resolving a conflict: truncate, then append. Under every strategy and policy
/// the pair costs the fsyncs of the append alone (one `sync_data`), and the log reopens to
/// the new entries.
#[test]
fn truncate_and_append_cost_one_fsync() {
    for (name, cfg) in common::all_configs() {
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg);
        log.append(&entries(1, 20, 1)).unwrap();
        log.sync().unwrap();
        let before = fsyncs(&fs);
        log.truncate(11).unwrap();
        assert_eq!(
            fsyncs(&fs),
            before,
            "{name}: the truncation alone fsyncs nothing"
        );
        log.append(&entries(11, 12, 2)).unwrap();
        log.sync().unwrap();
        assert_eq!(fsyncs(&fs), before + 1, "{name}: one fsync for the pair");
        let mut want = entries(1, 10, 1);
        want.extend(entries(11, 12, 2));
        assert_eq!(all(&mut log), want, "{name}");
        drop(log);
        assert_eq!(all(&mut open(&fs, &cfg)), want, "{name} after a reopen");
    }
}

/// Truncations in a row, each synced, in a full 4 KiB segment: each adds a truncation
/// batch to it (the file only grows, nothing is renamed or shortened), every state reads
/// back, also after a reopen, and the segment stays within the length an open accepts.
#[test]
fn truncations_in_a_row_keep_the_log_and_only_grow_the_segment() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let cfg = Config::new(strategy, FlushPolicy::Immediate).with_segment_size_bytes(4096);
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg);
        // 1-byte payloads: 3 bytes an entry, so one 4 KiB segment holds all 1,250.
        let es: Vec<Entry> = (1..=1250)
            .map(|i| Entry::new(i, 1, vec![i as u8]))
            .collect();
        log.append(&es).unwrap();
        log.sync().unwrap();
        assert_eq!(fs.segment_firsts(dir()), [1], "one segment: {strategy:?}");
        let seg = dir().join(format!("seg-{:020}.log", 1));
        let data_end = || common::format::data_end(&fs.read(&seg).unwrap());
        let mut len = data_end();
        let changes_before = fs.changes().len();
        for from in (850..1250).rev() {
            log.truncate(from).unwrap();
            log.sync().unwrap();
            assert_eq!(log.last_index(), from - 1);
            let now = data_end();
            assert!(now > len, "{strategy:?}: a truncation batch per truncation");
            len = now;
            if from % 50 == 0 {
                assert_eq!(
                    all(&mut log),
                    es[..from as usize - 1],
                    "{strategy:?} at {from}"
                );
                log.close().unwrap();
                log = open(&fs, &cfg);
                assert_eq!(
                    all(&mut log),
                    es[..from as usize - 1],
                    "{strategy:?} reopened"
                );
                len = data_end();
            }
        }
        let changes = fs.changes()[changes_before..].to_vec();
        assert!(
            changes
                .iter()
                .all(|c| !c.starts_with("rename") && !c.starts_with("set_len")),
            "{strategy:?}: {changes:?}"
        );
        assert_eq!(fs.segment_firsts(dir()), [1]);
        drop(log);
        assert_eq!(all(&mut open(&fs, &cfg)), es[..849]);
    }
}

/// A truncation written in place rides on the next sync: under `Immediate` it alone asks
/// for none (the follower's append that comes next would wait behind it), under `Batch`
/// (and `Adaptive`, below) its interval covers it, and `sync` (flush) makes it durable at
/// once.
#[test]
fn a_truncation_alone_waits_for_the_next_sync() {
    let batch = FlushPolicy::Batch {
        threshold: 64,
        interval_ms: 5,
    };
    // (policy, a deadline once the truncation alone is owed?)
    let cases = [(FlushPolicy::Immediate, false), (batch, true)];
    let strategies = [Strategy::DiskFirst, Strategy::MemFirst];
    for (strategy, (policy, deadline)) in strategies.into_iter().flat_map(|s| cases.map(|c| (s, c)))
    {
        let cfg = Config::new(strategy, policy);
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg);
        log.append(&entries(1, 10, 1)).unwrap();
        log.sync().unwrap();
        assert!(log.is_fully_durable() && log.next_deadline_ms().is_none());
        log.truncate(6).unwrap();
        assert!(
            !log.is_fully_durable(),
            "{strategy:?} {policy:?}: the cut is owed"
        );
        assert_eq!(
            log.next_deadline_ms().is_some(),
            deadline,
            "{strategy:?} {policy:?}"
        );
        let before = fsyncs(&fs);
        log.sync().unwrap();
        assert_eq!(
            fsyncs(&fs),
            before + 1,
            "{strategy:?} {policy:?}: one fsync"
        );
        assert!(log.is_fully_durable() && log.next_deadline_ms().is_none());
    }
}

/// A clock the test moves by hand (µs).
#[derive(Debug, Default)]
struct Manual(std::sync::atomic::AtomicU64);

impl logbook::Clock for Manual {
    fn now_ms(&self) -> u64 {
        self.now_us() / 1000
    }
    fn now_us(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A log on `fs` whose clock stands at 1 s and never moves: only the policy's count rules
/// (and `poll(1_000)`) can make a sync due.
fn frozen(fs: &MemFs, cfg: Config) -> Log {
    let clock = Arc::new(Manual::default());
    clock.0.store(1_000_000, Ordering::SeqCst);
    Log::open(Arc::new(fs.clone()), clock, dir(), cfg).unwrap()
}

/// Under `Adaptive`, a truncation alone waits the policy's delay for the follower's append
/// to carry it (docs/DESIGN.md §1), as `Batch` waits its interval: a sync for it at once
/// would make that append wait behind it (two fsyncs in a row).
#[test]
fn under_adaptive_a_truncation_alone_waits_the_delay() {
    let cfg = Config::new(
        Strategy::DiskFirst,
        FlushPolicy::Adaptive {
            delay_max_us: 5_000,
        },
    );
    let fs = MemFs::new();
    let clock = Arc::new(Manual::default());
    clock.0.store(1_000_000, Ordering::SeqCst);
    let mut log = Log::open(Arc::new(fs.clone()), clock.clone(), dir(), cfg).unwrap();
    log.append(&entries(1, 10, 1)).unwrap();
    log.sync().unwrap();
    log.truncate(6).unwrap();
    assert_eq!(log.next_deadline_ms(), Some(1_005));
    let before = fsyncs(&fs);
    clock.0.store(1_004_999, Ordering::SeqCst);
    log.poll(1_004).unwrap();
    assert_eq!(
        fsyncs(&fs),
        before,
        "synced a lone cut before the delay ran out"
    );
    assert!(!log.is_fully_durable());
    clock.0.store(1_005_000, Ordering::SeqCst);
    log.poll(1_005).unwrap();
    assert_eq!(
        fsyncs(&fs),
        before + 1,
        "one fsync for the cut once the delay ran out"
    );
    assert!(log.is_fully_durable() && log.next_deadline_ms().is_none());
}

/// A follower's resolved conflict (a truncation, then an append after it) is due at once
/// under every policy, and costs one fsync: `Batch` does not hold it for its interval nor
/// `Adaptive` for its delay (docs/DESIGN.md §1). An append alone is not (the control row):
/// the rule is the conflict's, not every append's. The clock never moves.
#[test]
fn a_resolved_conflict_is_due_at_once_under_every_policy() {
    let batch = FlushPolicy::Batch {
        threshold: 64,
        interval_ms: 3_600_000,
    };
    let adaptive = FlushPolicy::Adaptive {
        delay_max_us: 3_600_000_000,
    };
    // (policy, an append alone is due at once?) One writer is a trickle to `Adaptive`,
    // which it syncs at once anyway; `Batch` holds an append alone for its interval.
    let cases = [
        (FlushPolicy::Immediate, true),
        (batch, false),
        (adaptive, true),
    ];
    let strategies = [Strategy::DiskFirst, Strategy::MemFirst];
    for (strategy, (policy, alone_due)) in
        strategies.into_iter().flat_map(|s| cases.map(|c| (s, c)))
    {
        let name = format!("{strategy:?} {policy:?}");
        let fs = MemFs::new();
        let mut log = frozen(&fs, Config::new(strategy, policy));
        log.append_nosync(&entries(1, 10, 1)).unwrap();
        log.sync().unwrap();
        log.append_nosync(&entries(11, 11, 1)).unwrap();
        let due = log.next_deadline_ms() == Some(1_000);
        assert_eq!(due, alone_due, "{name}: an append alone");
        log.sync().unwrap();

        log.truncate(6).unwrap();
        log.append_nosync(&entries(6, 6, 2)).unwrap();
        assert_eq!(log.next_deadline_ms(), Some(1_000), "{name}: due now");
        let before = fsyncs(&fs);
        log.poll(1_000).unwrap();
        assert_eq!(fsyncs(&fs), before + 1, "{name}: one fsync for the pair");
        assert!(log.is_fully_durable(), "{name}");
    }
}

/// Under `Batch` (an hour's interval, a clock that never moves), what makes an append due
/// at once: entries appended after the last truncation and not yet durable, whatever came
/// before (the cut entries durable, never synced, or the cut already synced alone). Once a
/// sync covers the first of them, the next append waits the interval again.
#[test]
fn a_conflict_is_due_at_once_whatever_came_before() {
    type Step = fn(&mut Log);
    let sync: Step = |log| log.sync().unwrap();
    let none: Step = |_| {};
    // (case, after appending 1..=10, after truncating from 6, after appending 6, due?)
    let cases: [(&str, Step, Step, Step, bool); 4] = [
        ("the cut entries were durable", sync, none, none, true),
        (
            "the cut entries never reached a sync",
            none,
            none,
            none,
            true,
        ),
        ("the cut was synced alone first", sync, sync, none, true),
        (
            "a sync covered the conflict; then 7",
            sync,
            none,
            sync,
            false,
        ),
    ];
    let batch = FlushPolicy::Batch {
        threshold: 64,
        interval_ms: 3_600_000,
    };
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        for (case, after_fill, after_cut, after_conflict, due) in cases {
            let mut log = frozen(&MemFs::new(), Config::new(strategy, batch));
            log.append_nosync(&entries(1, 10, 1)).unwrap();
            after_fill(&mut log);
            log.truncate(6).unwrap();
            after_cut(&mut log);
            log.append_nosync(&entries(6, 6, 2)).unwrap();
            after_conflict(&mut log);
            if !due {
                log.append_nosync(&entries(7, 7, 2)).unwrap();
            }
            let name = format!("{strategy:?}, {case}");
            assert_eq!(log.next_deadline_ms() == Some(1_000), due, "{name}");
            let before = log.stats().syncs;
            log.poll(1_000).unwrap();
            assert_eq!(log.stats().syncs - before, u64::from(due), "{name}: syncs");
            assert_eq!(log.is_fully_durable(), due, "{name}");
        }
    }
}

/// The same through `Store`, the front a Raft node runs: under `Batch` with an hour's
/// interval and a clock that never moves, a follower's truncate, append and wait for
/// durability return (the waiter or the flusher syncs the pair at once), in one fsync.
#[test]
fn a_store_syncs_a_resolved_conflict_at_once_under_batch() {
    let batch = FlushPolicy::Batch {
        threshold: 64,
        interval_ms: 3_600_000,
    };
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let fs = MemFs::new();
        let clock = Arc::new(Manual::default());
        let cfg = Config::new(strategy, batch);
        let store = logbook::Store::open_with(Arc::new(fs.clone()), clock, dir(), cfg).unwrap();
        // Not waited for (under `Batch` the wait would need the clock): `flush` syncs it.
        let _ = store.append_deferred(&entries(1, 10, 1)).unwrap();
        store.flush().unwrap();
        let before = fsyncs(&fs);
        // On a thread: without the rule the wait would never end (the clock never moves).
        let (tx, rx) = std::sync::mpsc::channel();
        let follower = {
            let store = Arc::new(store);
            let s = store.clone();
            std::thread::spawn(move || {
                s.truncate(6).unwrap();
                let r = s.append_deferred(&entries(6, 6, 2)).unwrap();
                // DiskFirst's `wait` is durable; MemFirst's returns at once.
                let last = s.wait(r).unwrap();
                tx.send(s.wait_durable(last).map(|()| last)).unwrap();
            });
            store
        };
        let waited = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(waited.ok().map(Result::unwrap), Some(6), "{strategy:?}");
        assert_eq!(
            fsyncs(&fs),
            before + 1,
            "{strategy:?}: one fsync for the pair"
        );
        drop(follower);
    }
}

/// Truncations at every kind of place, each followed by an append and a reopen: inside the
/// last segment, at its first entry, inside an older segment (mid-batch and at a batch
/// edge), at an older segment's first entry. The log reads back the same before and after
/// the reopen, and the appends after the cut land where the next open finds them.
#[test]
fn a_truncation_anywhere_then_appends_survive_a_reopen() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let cfg = Config::new(strategy, FlushPolicy::Immediate).with_segment_size_bytes(4096);
        // Segments of the 300 entries (batches of 7): their first indexes.
        let fs = MemFs::new();
        let mut log = open(&fs, &cfg);
        for chunk in entries(1, 300, 1).chunks(7) {
            log.append(chunk).unwrap();
        }
        log.sync().unwrap();
        let firsts = fs.segment_firsts(dir());
        assert!(firsts.len() >= 4, "{firsts:?}");
        let (last, prev) = (firsts[firsts.len() - 1], firsts[firsts.len() - 2]);
        drop(log);
        let cuts = [last + 3, last, prev + 3, prev + 7, prev, firsts[1] + 1];
        for from in cuts {
            let fs = fs.deep_clone();
            let mut log = open(&fs, &cfg);
            log.truncate(from).unwrap();
            log.append(&entries(from, from + 20, 2)).unwrap();
            log.sync().unwrap();
            let mut want = entries(1, from - 1, 1);
            want.extend(entries(from, from + 20, 2));
            assert_eq!(all(&mut log), want, "{strategy:?} cut at {from}");
            drop(log);
            let mut log = open(&fs, &cfg);
            assert_eq!(all(&mut log), want, "{strategy:?} cut at {from}, reopened");
            log.append(&entries(from + 21, from + 30, 2)).unwrap();
            log.close().unwrap();
            want.extend(entries(from + 21, from + 30, 2));
            assert_eq!(
                all(&mut open(&fs, &cfg)),
                want,
                "{strategy:?} cut at {from}, again"
            );
        }
    }
}

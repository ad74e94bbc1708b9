//! The checker must be able to fail: doctored stores and doctored ack streams, each
//! next to its honest twin that passes.

use super::*;
use crate::protocol::parse_output;
use crate::workload::{payload, store_config};
use logbook::{Config, FlushPolicy, Strategy};

fn hs(term: u64, vote: Option<u64>, commit: u64) -> HardState {
    HardState { term, vote, commit }
}

/// A snapshot holding `(index, term)` entries with their true payloads.
fn snap(purged: Option<LogId>, entries: &[(u64, u64)], hard_state: HardState) -> Snapshot {
    let entries: Vec<Entry> = entries
        .iter()
        .map(|&(i, t)| Entry::new(i, t, payload(i, t)))
        .collect();
    let boundary = purged.map_or(0, |l| l.index);
    Snapshot {
        first_index: boundary + 1,
        last_index: entries.last().map_or(boundary, |e| e.index),
        last_log_id: entries.last().map(Entry::log_id).or(purged),
        last_purged: purged,
        hard_state,
        entries,
        read_problems: Vec::new(),
    }
}

fn run(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<(u64, u64)> {
    range.map(|i| (i, term)).collect()
}

fn acks(range: std::ops::RangeInclusive<u64>, term: u64) -> String {
    range.map(|i| format!("D {i} {term}\n")).collect()
}

fn lines(text: &str) -> Vec<Line> {
    parse_output(text.as_bytes()).unwrap()
}

fn assert_violation(report: &Report, needle: &str) {
    assert!(
        report.violations.iter().any(|v| v.contains(needle)),
        "expected a violation containing {needle:?}, got {:?}",
        report.violations
    );
}

fn assert_clean(report: &Report) {
    assert!(
        report.ok(),
        "unexpected violations: {:?}",
        report.violations
    );
}

const START: &str = "S 1 0 0 - - 0 - 0\nh 1 1 0\nH 1 1 0\n";

#[test]
fn honest_round_passes_and_counts() {
    let text = format!("{START}a 1 10 1\n{}", acks(1..=10, 1));
    let r = check(
        &Verified::default(),
        &lines(&text),
        &snap(None, &run(1..=10, 1), hs(1, Some(1), 0)),
    );
    assert_clean(&r);
    assert_eq!(r.stats.entries_verified, 10);
    assert_eq!(r.stats.acked_entries_required, 10);
    assert!(r.stats.bytes_verified > 0);
}

#[test]
fn ack_for_an_entry_the_store_lacks_is_reported() {
    // Doctored ack stream: the store holds 1..=10, the crashee claims 1..=12 durable.
    let text = format!("{START}a 1 12 1\n{}", acks(1..=12, 1));
    let r = check(
        &Verified::default(),
        &lines(&text),
        &snap(None, &run(1..=10, 1), hs(1, Some(1), 0)),
    );
    assert_violation(&r, "invariant 1 (durable prefix): index 11:");
    // Without the acks for 11 and 12 the same store is fine (they may be lost).
    let text = format!("{START}a 1 12 1\n{}", acks(1..=10, 1));
    let r = check(
        &Verified::default(),
        &lines(&text),
        &snap(None, &run(1..=10, 1), hs(1, Some(1), 0)),
    );
    assert_clean(&r);
}

#[test]
fn ack_without_an_append_is_reported() {
    let text = format!("{START}a 1 3 1\n{}D 50 1\n", acks(1..=3, 1));
    let r = check(
        &Verified::default(),
        &lines(&text),
        &snap(None, &run(1..=3, 1), hs(1, Some(1), 0)),
    );
    assert_violation(&r, "never appended");
}

#[test]
fn damaged_or_foreign_payload_is_reported() {
    let text = format!("{START}a 1 5 1\n{}", acks(1..=5, 1));
    let mut s = snap(None, &run(1..=5, 1), hs(1, Some(1), 0));
    s.entries[2].payload = bytes::Bytes::from(payload(3, 2));
    let r = check(&Verified::default(), &lines(&text), &s);
    assert_violation(&r, "phantom or damaged payload at (3, 1)");
}

#[test]
fn entry_never_written_is_a_phantom() {
    // The store shows (6, 2), which no state of the history ever held.
    let text = format!("{START}a 1 6 1\n{}", acks(1..=5, 1));
    let mut entries = run(1..=5, 1);
    entries.push((6, 2));
    let r = check(
        &Verified::default(),
        &lines(&text),
        &snap(None, &entries, hs(1, Some(1), 0)),
    );
    assert_violation(&r, "invariant 2 (prefix of a real state): index 6:");
    // (6, 1) was appended, never acknowledged: keeping it is fine.
    let r = check(
        &Verified::default(),
        &lines(&text),
        &snap(None, &run(1..=6, 1), hs(1, Some(1), 0)),
    );
    assert_clean(&r);
}

#[test]
fn acknowledged_truncation_undone_is_reported() {
    let history = format!(
        "{START}a 1 10 1\n{}h 2 1 0\nH 2 1 0\nt 6\nT 6\na 6 8 2\n",
        acks(1..=10, 1)
    );
    // The truncation was acknowledged, so the old suffix must not come back.
    let r = check(
        &Verified::default(),
        &lines(&history),
        &snap(None, &run(1..=10, 1), hs(2, Some(1), 0)),
    );
    assert_violation(&r, "invariant 2 (prefix of a real state): index 6:");
    // A mix of the old suffix and its replacement is no state of the log.
    let mut mixed = run(1..=6, 1);
    mixed.extend(run(7..=8, 2));
    let r = check(
        &Verified::default(),
        &lines(&history),
        &snap(None, &mixed, hs(2, Some(1), 0)),
    );
    assert!(!r.ok(), "a mixed log passed");
    // The honest outcomes: cut, cut and partly re-appended.
    for entries in [run(1..=5, 1), [run(1..=5, 1), run(6..=7, 2)].concat()] {
        let r = check(
            &Verified::default(),
            &lines(&history),
            &snap(None, &entries, hs(2, Some(1), 0)),
        );
        assert_clean(&r);
    }
}

#[test]
fn truncation_in_flight_may_or_may_not_have_happened() {
    let history = format!("{START}a 1 10 1\n{}t 6\n", acks(1..=10, 1));
    for entries in [run(1..=10, 1), run(1..=5, 1), run(1..=8, 1)] {
        let r = check(
            &Verified::default(),
            &lines(&history),
            &snap(None, &entries, hs(1, Some(1), 0)),
        );
        assert_clean(&r);
    }
    // ...but it cannot cut below its `from`.
    let r = check(
        &Verified::default(),
        &lines(&history),
        &snap(None, &run(1..=4, 1), hs(1, Some(1), 0)),
    );
    assert_violation(&r, "invariant 1 (durable prefix): index 5:");
}

#[test]
fn purge_undone_and_hard_state_lost_are_reported() {
    let history = format!(
        "{START}a 1 10 1\n{}p 5 1\nP 5 1\nh 1 1 5\nH 1 1 5\n",
        acks(1..=10, 1)
    );
    let r = check(
        &Verified::default(),
        &lines(&history),
        &snap(None, &run(1..=10, 1), hs(1, Some(1), 0)),
    );
    assert_violation(
        &r,
        "invariant 3 (no resurrection): recovered boundary 0 is below",
    );
    // The purge kept, the hard state lost.
    let r = check(
        &Verified::default(),
        &lines(&history),
        &snap(Some(LogId::new(1, 5)), &run(6..=10, 1), hs(1, Some(1), 0)),
    );
    assert_violation(&r, "invariant 4 (hard state)");
    let r = check(
        &Verified::default(),
        &lines(&history),
        &snap(Some(LogId::new(1, 5)), &run(6..=10, 1), hs(1, Some(1), 5)),
    );
    assert_clean(&r);
    // A boundary no purge ever set is reported too.
    let r = check(
        &Verified::default(),
        &lines(&history),
        &snap(Some(LogId::new(1, 6)), &run(7..=10, 1), hs(1, Some(1), 5)),
    );
    assert_violation(&r, "invariant 3 (no resurrection): recovered boundary Some");
}

#[test]
fn purge_and_hard_state_in_flight_may_have_landed() {
    let history = format!("{START}a 1 10 1\n{}p 5 1\nh 1 1 5\n", acks(1..=10, 1));
    for (purged, entries) in [
        (None, run(1..=10, 1)),
        (Some(LogId::new(1, 5)), run(6..=10, 1)),
    ] {
        for h in [hs(1, Some(1), 0), hs(1, Some(1), 5)] {
            let r = check(
                &Verified::default(),
                &lines(&history),
                &snap(purged, &entries, h),
            );
            assert_clean(&r);
        }
    }
}

#[test]
fn holes_and_shape_errors_are_reported() {
    let text = format!("{START}a 1 10 1\n{}", acks(1..=10, 1));
    let mut s = snap(None, &run(1..=10, 1), hs(1, Some(1), 0));
    s.entries.remove(4);
    let r = check(&Verified::default(), &lines(&text), &s);
    assert_violation(&r, "hole");
    assert_violation(&r, "not contiguous");
    let mut s = snap(None, &run(1..=10, 1), hs(1, Some(1), 0));
    s.last_log_id = Some(LogId::new(1, 11));
    let r = check(&Verified::default(), &lines(&text), &s);
    assert_violation(&r, "last_log_id");
}

#[test]
fn a_restart_that_recovers_another_state_is_reported() {
    let start = Verified {
        last_purged: None,
        entries: (1..=4).map(|i| LogId::new(1, i)).collect(),
        hard_state: hs(1, Some(1), 2),
    };
    let r = check(
        &start,
        &lines("S 1 3 1 - - 1 1 2\n"),
        &snap(None, &run(1..=4, 1), hs(1, Some(1), 2)),
    );
    assert_violation(&r, "not idempotent");
    // The start state is durable: losing part of it is reported even with no acks.
    let r = check(
        &start,
        &lines("S 1 4 1 - - 1 1 2\n"),
        &snap(None, &run(1..=3, 1), hs(1, Some(1), 2)),
    );
    assert_violation(&r, "invariant 1 (durable prefix): index 4:");
}

fn real_store(entries: &[Entry]) -> (tempfile::TempDir, Config) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = store_config(Strategy::DiskFirst, FlushPolicy::Immediate, 4096);
    let store = Store::open(tmp.path(), cfg.clone()).unwrap();
    store.append(entries).unwrap();
    store.save_hard_state(hs(1, Some(1), 0)).unwrap();
    store.close().unwrap();
    (tmp, cfg)
}

#[test]
fn doctored_real_store_is_caught() {
    let text = format!("{START}a 1 30 1\n{}", acks(1..=30, 1));
    let honest: Vec<Entry> = (1..=30).map(|i| Entry::new(i, 1, payload(i, 1))).collect();
    let (tmp, cfg) = real_store(&honest);
    let store = Store::open(tmp.path(), cfg).unwrap();
    assert_clean(&check(
        &Verified::default(),
        &lines(&text),
        &Snapshot::read(&store).unwrap(),
    ));
    drop(store);

    // A store that lost its last 5 acknowledged entries.
    let (tmp, cfg) = real_store(&honest[..25]);
    let store = Store::open(tmp.path(), cfg).unwrap();
    let r = check(
        &Verified::default(),
        &lines(&text),
        &Snapshot::read(&store).unwrap(),
    );
    assert_violation(&r, "invariant 1 (durable prefix): index 26:");
    drop(store);

    // A store whose entry 17 has other bytes.
    let mut doctored = honest.clone();
    doctored[16].payload = bytes::Bytes::from_static(b"not what was appended");
    let (tmp, cfg) = real_store(&doctored);
    let store = Store::open(tmp.path(), cfg).unwrap();
    let r = check(
        &Verified::default(),
        &lines(&text),
        &Snapshot::read(&store).unwrap(),
    );
    assert_violation(&r, "phantom or damaged payload at (17, 1)");
}

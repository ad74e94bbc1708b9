//! Concurrent histories checked against the Raft log model.

use super::{history, op};
use crate::linearizability::{
    check, LogEntry, LogError, LogInput as In, LogOutput as Out, RaftLog,
};

fn append(first: u64, n: u64) -> In {
    In::Append {
        entries: range(first, first + n),
    }
}

/// Entries `from..to` with term 1 and payload `100 + index`.
fn range(from: u64, to: u64) -> Vec<LogEntry> {
    (from..to)
        .map(|index| LogEntry {
            index,
            term: 1,
            payload: 100 + index,
        })
        .collect()
}

#[test]
fn concurrent_log_histories() {
    let h = |ops| history(ops);
    let ok = |c, input, call, ret, out| op(c, input, call, Some(ret), Some(out));
    // Two concurrent appends at index 1: exactly one may win.
    let one_wins = h(vec![
        ok(0, append(1, 1), 0, 10, Out::Ok),
        ok(1, append(1, 1), 0, 10, Out::Err(LogError::NotContinuous)),
        ok(2, In::LastIndex, 11, 12, Out::LastIndex(1)),
    ]);
    assert!(check(&RaftLog, &one_wins).is_linearizable());
    let both_win = h(vec![
        ok(0, append(1, 1), 0, 10, Out::Ok),
        ok(1, append(1, 1), 0, 10, Out::Ok),
    ]);
    assert!(check(&RaftLog, &both_win).is_not_linearizable());
}

#[test]
fn an_append_in_flight_at_a_crash_lands_whole_or_not_at_all() {
    let h = |ops| history(ops);
    let ok = |c, input, call, ret, out| op(c, input, call, Some(ret), Some(out));
    // An append in flight at a crash may or may not have landed.
    let landed = h(vec![
        op(0, append(1, 2), 0, None, None),
        ok(
            1,
            In::ReadRange {
                from: 1,
                to_exclusive: 10,
            },
            5,
            6,
            Out::Entries(range(1, 3)),
        ),
    ]);
    assert!(check(&RaftLog, &landed).is_linearizable());
    let lost = h(vec![
        op(0, append(1, 2), 0, None, None),
        ok(
            1,
            In::ReadRange {
                from: 1,
                to_exclusive: 10,
            },
            5,
            6,
            Out::Entries(vec![]),
        ),
    ]);
    assert!(check(&RaftLog, &lost).is_linearizable());
    // ...but never half of it.
    let torn = h(vec![
        op(0, append(1, 2), 0, None, None),
        ok(
            1,
            In::ReadRange {
                from: 1,
                to_exclusive: 10,
            },
            5,
            6,
            Out::Entries(range(1, 2)),
        ),
    ]);
    assert!(check(&RaftLog, &torn).is_not_linearizable());
}

#[test]
fn purges_and_truncations_that_were_seen_are_never_undone() {
    let h = |ops| history(ops);
    let ok = |c, input, call, ret, out| op(c, input, call, Some(ret), Some(out));
    // A purge that returned is never undone.
    let resurrected = h(vec![
        ok(0, append(1, 3), 0, 1, Out::Ok),
        ok(0, In::Purge { upto: 2 }, 2, 3, Out::Ok),
        ok(1, In::Read { index: 2 }, 4, 5, Out::Entry(Some((1, 102)))),
    ]);
    let result = check(&RaftLog, &resurrected);
    assert_eq!(result.window().map(|w| w.last), Some(2), "{result}");

    // A read racing a purge may see the entry or not...
    let racing = |out| {
        h(vec![
            ok(0, append(1, 2), 0, 1, Out::Ok),
            ok(0, In::Purge { upto: 1 }, 2, 10, Out::Ok),
            ok(1, In::Read { index: 1 }, 3, 4, out),
        ])
    };
    assert!(check(&RaftLog, &racing(Out::Entry(Some((1, 101))))).is_linearizable());
    assert!(check(&RaftLog, &racing(Out::Entry(None))).is_linearizable());
    // ...but once the boundary is seen, the next append must follow it.
    let after_purge = h(vec![
        ok(0, In::Purge { upto: 5 }, 0, 1, Out::Ok),
        ok(1, In::LastIndex, 2, 3, Out::LastIndex(5)),
        ok(1, append(1, 1), 4, 5, Out::Ok),
    ]);
    let result = check(&RaftLog, &after_purge);
    assert_eq!(result.window().map(|w| w.last), Some(2), "{result}");
    // A truncate in flight at a crash, observed, cannot be undone.
    let undone = h(vec![
        ok(0, append(1, 3), 0, 1, Out::Ok),
        op(0, In::Truncate { from: 2 }, 2, None, None),
        ok(1, In::LastIndex, 3, 4, Out::LastIndex(1)),
        ok(1, In::LastIndex, 5, 6, Out::LastIndex(3)),
    ]);
    let result = check(&RaftLog, &undone);
    assert_eq!(result.window().map(|w| w.last), Some(3), "{result}");
}

//! The Raft log model's semantics, one transition at a time.

use crate::linearizability::{
    LogEntry, LogError, LogInput as In, LogOutput as Out, LogState, Model, RaftLog,
};

fn e(index: u64, term: u64, payload: u64) -> LogEntry {
    LogEntry {
        index,
        term,
        payload,
    }
}

/// A state from `(last_purged, first index .. last index)` with term 1 and payload
/// `100 + index`.
fn st(last_purged: u64, last: u64) -> LogState {
    let entries = (last_purged + 1..=last).map(|i| e(i, 1, 100 + i)).collect();
    match LogState::new(last_purged, entries) {
        Some(s) => s,
        None => panic!("bad test state"),
    }
}

fn append(first: u64, n: u64) -> In {
    In::Append {
        entries: (first..first + n).map(|i| e(i, 1, 100 + i)).collect(),
    }
}

fn range(from: u64, to: u64) -> Vec<LogEntry> {
    (from..to).map(|i| e(i, 1, 100 + i)).collect()
}

#[test]
fn state_invariant_is_enforced() {
    assert!(LogState::new(0, vec![e(1, 1, 0), e(2, 1, 0)]).is_some());
    assert!(LogState::new(5, vec![e(6, 1, 0)]).is_some());
    assert!(LogState::new(5, vec![]).is_some());
    assert!(
        LogState::new(0, vec![e(2, 1, 0)]).is_none(),
        "must start at 1"
    );
    assert!(
        LogState::new(0, vec![e(1, 1, 0), e(3, 1, 0)]).is_none(),
        "hole"
    );
    assert!(
        LogState::new(5, vec![e(5, 1, 0)]).is_none(),
        "at the boundary"
    );
    assert_eq!(st(0, 0).last_index(), 0);
    assert_eq!(st(0, 3).last_index(), 3);
    assert_eq!(
        st(7, 7).last_index(),
        7,
        "empty log: last index is the boundary"
    );
    assert_eq!(st(2, 4).get(3), Some(&e(3, 1, 103)));
    assert_eq!(st(2, 4).get(2), None);
    assert_eq!(st(2, 4).get(5), None);
    assert_eq!(st(2, 4).get(0), None);
}

#[test]
// check-sizes: table
fn transitions() {
    use LogError::{NotContinuous, Purged};
    let not_cont = || Out::Err(NotContinuous);
    // (name, state, input, output, successors; empty = illegal)
    type Row = (&'static str, LogState, In, Option<Out>, Vec<LogState>);
    let table: Vec<Row> = vec![
        (
            "first append at 1",
            st(0, 0),
            append(1, 2),
            Some(Out::Ok),
            vec![st(0, 2)],
        ),
        (
            "append must continue",
            st(0, 2),
            append(3, 1),
            Some(Out::Ok),
            vec![st(0, 3)],
        ),
        (
            "gap refused",
            st(0, 2),
            append(4, 1),
            Some(not_cont()),
            vec![st(0, 2)],
        ),
        (
            "gap cannot succeed",
            st(0, 2),
            append(4, 1),
            Some(Out::Ok),
            vec![],
        ),
        (
            "overlap refused",
            st(0, 2),
            append(2, 1),
            Some(not_cont()),
            vec![st(0, 2)],
        ),
        (
            "contiguous append cannot fail",
            st(0, 2),
            append(3, 1),
            Some(not_cont()),
            vec![],
        ),
        (
            "holes inside an append are refused",
            st(0, 0),
            In::Append {
                entries: vec![e(1, 1, 101), e(3, 1, 103)],
            },
            None,
            vec![st(0, 0)],
        ),
        (
            "empty append",
            st(0, 2),
            In::Append { entries: vec![] },
            Some(Out::Ok),
            vec![st(0, 2)],
        ),
        (
            "after purge past the end",
            st(9, 9),
            append(10, 1),
            Some(Out::Ok),
            vec![st(9, 10)],
        ),
        (
            "after purge, 1 is wrong",
            st(9, 9),
            append(1, 1),
            Some(not_cont()),
            vec![st(9, 9)],
        ),
        (
            "unknown append outcome",
            st(0, 1),
            append(2, 1),
            None,
            vec![st(0, 2)],
        ),
        (
            "read present",
            st(0, 3),
            In::Read { index: 2 },
            Some(Out::Entry(Some((1, 102)))),
            vec![st(0, 3)],
        ),
        (
            "read wrong payload",
            st(0, 3),
            In::Read { index: 2 },
            Some(Out::Entry(Some((1, 7)))),
            vec![],
        ),
        (
            "read past end",
            st(0, 3),
            In::Read { index: 4 },
            Some(Out::Entry(None)),
            vec![st(0, 3)],
        ),
        (
            "read past end is not there",
            st(0, 3),
            In::Read { index: 4 },
            Some(Out::Entry(Some((1, 104)))),
            vec![],
        ),
        (
            "read purged is None",
            st(2, 3),
            In::Read { index: 2 },
            Some(Out::Entry(None)),
            vec![st(2, 3)],
        ),
        (
            "read purged may be refused",
            st(2, 3),
            In::Read { index: 1 },
            Some(Out::Err(Purged)),
            vec![st(2, 3)],
        ),
        (
            "read present is not refused",
            st(2, 3),
            In::Read { index: 3 },
            Some(Out::Err(Purged)),
            vec![],
        ),
        (
            "read of a purged entry's old value",
            st(2, 3),
            In::Read { index: 2 },
            Some(Out::Entry(Some((1, 102)))),
            vec![],
        ),
        (
            "range inside",
            st(0, 5),
            In::ReadRange {
                from: 2,
                to_exclusive: 4,
            },
            Some(Out::Entries(range(2, 4))),
            vec![st(0, 5)],
        ),
        (
            "range clipped at the end",
            st(0, 5),
            In::ReadRange {
                from: 4,
                to_exclusive: 9,
            },
            Some(Out::Entries(range(4, 6))),
            vec![st(0, 5)],
        ),
        (
            "range short of the end is wrong",
            st(0, 5),
            In::ReadRange {
                from: 2,
                to_exclusive: 5,
            },
            Some(Out::Entries(range(2, 4))),
            vec![],
        ),
        (
            "range entirely past the end",
            st(0, 5),
            In::ReadRange {
                from: 7,
                to_exclusive: 9,
            },
            Some(Out::Entries(vec![])),
            vec![st(0, 5)],
        ),
        (
            "empty range",
            st(0, 5),
            In::ReadRange {
                from: 3,
                to_exclusive: 3,
            },
            Some(Out::Entries(vec![])),
            vec![st(0, 5)],
        ),
        (
            "range from the boundary starts above it",
            st(2, 5),
            In::ReadRange {
                from: 1,
                to_exclusive: 5,
            },
            Some(Out::Entries(range(3, 5))),
            vec![st(2, 5)],
        ),
        (
            "range from the boundary may be refused",
            st(2, 5),
            In::ReadRange {
                from: 2,
                to_exclusive: 5,
            },
            Some(Out::Err(Purged)),
            vec![st(2, 5)],
        ),
        (
            "range above the boundary is not refused",
            st(2, 5),
            In::ReadRange {
                from: 3,
                to_exclusive: 5,
            },
            Some(Out::Err(Purged)),
            vec![],
        ),
        (
            "last index",
            st(0, 5),
            In::LastIndex,
            Some(Out::LastIndex(5)),
            vec![st(0, 5)],
        ),
        (
            "last index of an empty purged log",
            st(8, 8),
            In::LastIndex,
            Some(Out::LastIndex(8)),
            vec![st(8, 8)],
        ),
        (
            "last index wrong",
            st(0, 5),
            In::LastIndex,
            Some(Out::LastIndex(4)),
            vec![],
        ),
        (
            "truncate",
            st(0, 5),
            In::Truncate { from: 3 },
            Some(Out::Ok),
            vec![st(0, 2)],
        ),
        (
            "truncate everything",
            st(0, 5),
            In::Truncate { from: 1 },
            Some(Out::Ok),
            vec![st(0, 0)],
        ),
        (
            "truncate past the end",
            st(0, 5),
            In::Truncate { from: 9 },
            Some(Out::Ok),
            vec![st(0, 5)],
        ),
        (
            "truncate at the boundary: ok",
            st(3, 5),
            In::Truncate { from: 3 },
            Some(Out::Ok),
            vec![st(3, 3)],
        ),
        (
            "truncate at the boundary: refused",
            st(3, 5),
            In::Truncate { from: 3 },
            Some(Out::Err(Purged)),
            vec![st(3, 5)],
        ),
        (
            "truncate at the boundary: unknown",
            st(3, 5),
            In::Truncate { from: 2 },
            None,
            vec![st(3, 3), st(3, 5)],
        ),
        (
            "truncate above the boundary is not refused",
            st(3, 5),
            In::Truncate { from: 4 },
            Some(Out::Err(Purged)),
            vec![],
        ),
        (
            "purge",
            st(0, 5),
            In::Purge { upto: 2 },
            Some(Out::Ok),
            vec![st(2, 5)],
        ),
        (
            "purge everything",
            st(0, 5),
            In::Purge { upto: 5 },
            Some(Out::Ok),
            vec![st(5, 5)],
        ),
        (
            "purge past the end",
            st(0, 5),
            In::Purge { upto: 9 },
            Some(Out::Ok),
            vec![st(9, 9)],
        ),
        (
            "purge never lowers the boundary",
            st(4, 5),
            In::Purge { upto: 2 },
            Some(Out::Ok),
            vec![st(4, 5)],
        ),
        (
            "wrong output kind",
            st(0, 5),
            In::Purge { upto: 2 },
            Some(Out::LastIndex(5)),
            vec![],
        ),
        (
            "wrong output kind for a read",
            st(0, 5),
            In::Read { index: 1 },
            Some(Out::Ok),
            vec![],
        ),
    ];
    for (name, state, input, output, want) in table {
        let got = RaftLog.step(&state, &input, output.as_ref());
        assert_eq!(got, want, "{name}");
        // Unknown outputs allow exactly the union over the listed outcomes.
        let union: Vec<LogState> = RaftLog::outcomes(&state, &input)
            .into_iter()
            .map(|(s, _)| s)
            .fold(Vec::new(), |mut acc, s| {
                if !acc.contains(&s) {
                    acc.push(s);
                }
                acc
            });
        assert_eq!(
            RaftLog.step(&state, &input, None),
            union,
            "{name}: unknown output"
        );
    }
}

//! Hand-written register histories with known verdicts, windows, budgets and a blind-model
//! check.

use super::brute::{brute_force_linearizable, sequence_explains};
use super::{history, op};
use crate::linearizability::{
    check, CasRegister, CheckResult, Checker, History, Model, OpId, RegisterInput as In,
    RegisterOutput as Out,
};

type RegOp = crate::linearizability::Operation<In, Out>;

fn read(c: u64, call: u64, ret: u64, v: Option<u64>) -> RegOp {
    op(c, In::Read, call, Some(ret), Some(Out::Read(v)))
}
fn write(c: u64, v: u64, call: u64, ret: u64) -> RegOp {
    op(c, In::Write(v), call, Some(ret), Some(Out::Write))
}
fn cas(c: u64, from: u64, to: u64, call: u64, ret: u64, ok: bool) -> RegOp {
    op(c, In::Cas { from, to }, call, Some(ret), Some(Out::Cas(ok)))
}
fn pending(c: u64, input: In, call: u64) -> RegOp {
    op(c, input, call, None, None)
}

/// (name, history, linearizable?, for failures: the op whose return closes the window).
// check-sizes: table
fn cases() -> Vec<(&'static str, Vec<RegOp>, bool, Option<OpId>)> {
    vec![
        ("empty", vec![], true, None),
        ("read of nil", vec![read(0, 0, 1, None)], true, None),
        (
            "read of a never-written value",
            vec![read(0, 0, 1, Some(3))],
            false,
            Some(0),
        ),
        (
            "write then read",
            vec![write(0, 1, 0, 1), read(1, 2, 3, Some(1))],
            true,
            None,
        ),
        (
            "stale read after the write returned",
            vec![write(0, 1, 0, 1), read(1, 2, 3, None)],
            false,
            Some(1),
        ),
        (
            "read concurrent with a write sees the new value",
            vec![write(0, 1, 0, 10), read(1, 2, 3, Some(1))],
            true,
            None,
        ),
        (
            "read concurrent with a write sees the old value",
            vec![write(0, 1, 0, 10), read(1, 2, 3, None)],
            true,
            None,
        ),
        (
            "new value then old value (6.824 quiz, violation)",
            vec![
                write(0, 200, 0, 100),
                read(1, 10, 30, Some(200)),
                read(2, 40, 90, None),
            ],
            false,
            Some(2),
        ),
        (
            "old value then new value (6.824 quiz, fine)",
            vec![
                write(0, 100, 0, 100),
                read(1, 25, 75, Some(100)),
                read(2, 30, 60, None),
            ],
            true,
            None,
        ),
        (
            "closed intervals: return and call at the same instant overlap",
            vec![write(0, 1, 0, 5), read(1, 5, 6, None)],
            true,
            None,
        ),
        (
            "one instant later they no longer overlap",
            vec![write(0, 1, 0, 5), read(1, 6, 7, None)],
            false,
            Some(1),
        ),
        (
            "cas succeeds on the current value",
            vec![
                write(0, 1, 0, 1),
                cas(1, 1, 2, 2, 3, true),
                read(0, 4, 5, Some(2)),
            ],
            true,
            None,
        ),
        (
            "cas cannot succeed on nil",
            vec![cas(0, 0, 1, 0, 1, true)],
            false,
            Some(0),
        ),
        (
            "a failed cas changes nothing",
            vec![
                write(0, 1, 0, 1),
                cas(1, 0, 2, 2, 3, false),
                read(0, 4, 5, Some(1)),
            ],
            true,
            None,
        ),
        (
            "a failed cas on the matching value is a violation",
            vec![write(0, 1, 0, 1), cas(1, 1, 2, 2, 3, false)],
            false,
            Some(1),
        ),
        (
            "pending write that must take effect",
            vec![pending(0, In::Write(1), 0), read(1, 5, 6, Some(1))],
            true,
            None,
        ),
        (
            "pending write that must not take effect",
            vec![
                pending(0, In::Write(1), 0),
                read(1, 5, 6, None),
                read(1, 7, 8, None),
            ],
            true,
            None,
        ),
        (
            "pending write takes effect once, for good",
            vec![
                pending(0, In::Write(1), 0),
                read(1, 5, 6, Some(1)),
                read(1, 7, 8, None),
            ],
            false,
            Some(2),
        ),
        (
            "pending write cannot take effect before its call",
            vec![read(1, 0, 1, Some(1)), pending(0, In::Write(1), 2)],
            false,
            Some(0),
        ),
        (
            "two pending writes in either order",
            vec![
                pending(0, In::Write(1), 0),
                pending(1, In::Write(2), 0),
                read(2, 5, 6, Some(2)),
                read(2, 7, 8, Some(1)),
            ],
            true,
            None,
        ),
        (
            "pending cas must take effect",
            vec![
                write(0, 1, 0, 1),
                pending(1, In::Cas { from: 1, to: 5 }, 2),
                read(0, 3, 4, Some(5)),
            ],
            true,
            None,
        ),
        (
            "returned read with unknown output",
            vec![write(0, 1, 0, 1), op(1, In::Read, 2, Some(3), None)],
            true,
            None,
        ),
        (
            "returned write with unknown output still took effect",
            vec![op(0, In::Write(1), 0, Some(1), None), read(1, 2, 3, None)],
            false,
            Some(1),
        ),
    ]
}

#[test]
fn hand_written_register_histories() {
    for (name, ops, want, last) in cases() {
        let h = history(ops);
        assert_eq!(
            brute_force_linearizable(&CasRegister, &h),
            want,
            "{name}: the table disagrees with brute force"
        );
        match check(&CasRegister, &h) {
            CheckResult::Linearizable { order } => {
                assert!(want, "{name}: wrongly accepted");
                assert!(
                    sequence_explains(&CasRegister, h.ops(), &order),
                    "{name}: witness {order:?} does not explain the history"
                );
            }
            CheckResult::NotLinearizable { window } => {
                assert!(!want, "{name}: wrongly rejected:\n{window}");
                assert!(window.minimal, "{name}");
                assert_eq!(Some(window.last), last, "{name}:\n{window}");
            }
            CheckResult::Unknown { .. } => panic!("{name}: unknown without a budget"),
        }
    }
}

#[test]
fn window_is_the_shortest_failing_prefix_and_prints() {
    // The stale read (op 2) fails the history; op 3 comes after and is not in the window,
    // op 1 is still in flight when op 2 returns.
    let h = history(vec![
        write(0, 1, 0, 1),
        op(1, In::Write(9), 2, Some(20), Some(Out::Write)),
        read(2, 3, 4, None),
        read(0, 30, 31, Some(9)),
    ]);
    let result = check(&CasRegister, &h);
    let Some(window) = result.window() else {
        panic!("expected a violation, got {result}");
    };
    assert_eq!(window.last, 2);
    assert_eq!(window.end, 4);
    assert_eq!(window.events, 5); // call 0, ret 0, call 1, call 2, ret 2
    let ids: Vec<OpId> = window.ops.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![0, 1, 2]);
    assert_eq!(window.ops[1].1.ret, None, "op 1 returns after the window");
    let text = result.to_string();
    assert!(
        text.starts_with("not linearizable: shortest non-linearizable prefix"),
        "{text}"
    );
    assert!(text.contains("=> #2"), "{text}");
    assert!(text.contains("(pending)"), "{text}");
}

/// A register that ignores writes: a blind spot the checker must expose.
struct DeafRegister;

impl Model for DeafRegister {
    type State = Option<u64>;
    type Input = In;
    type Output = Out;
    fn init(&self) -> Option<u64> {
        None
    }
    fn step(&self, s: &Option<u64>, input: &In, output: Option<&Out>) -> Vec<Option<u64>> {
        match input {
            In::Write(_) => vec![*s],
            _ => CasRegister.step(s, input, output),
        }
    }
}

#[test]
fn a_wrong_model_is_caught() {
    let h = history(vec![write(0, 1, 0, 1), read(1, 2, 3, Some(1))]);
    assert!(check(&CasRegister, &h).is_linearizable());
    let wrong = check(&DeafRegister, &h);
    assert!(wrong.is_not_linearizable(), "{wrong}");
}

/// A history with many concurrent writes and then impossible reads: the search must try
/// many orders before giving up.
fn hard_history() -> History<In, Out> {
    let mut ops: Vec<RegOp> = (0..12).map(|i| write(i, i, 0, 100)).collect();
    ops.push(read(99, 101, 102, Some(1000)));
    // Something after the violation, so that narrowing the window has work to do.
    ops.push(read(99, 103, 104, Some(1000)));
    history(ops)
}

#[test]
fn budget_exhaustion_is_unknown_never_ok() {
    let h = hard_history();
    let full = Checker::new()
        .minimize_window(false)
        .check(&CasRegister, &h);
    assert!(full.result.is_not_linearizable());
    assert!(full.steps > 100, "took {} steps", full.steps);
    for limit in [0, 1, 10, full.steps - 1] {
        let limited = Checker::new().max_steps(limit).check(&CasRegister, &h);
        assert_eq!(
            limited.result,
            CheckResult::Unknown { steps: limit },
            "limit {limit}"
        );
        assert_eq!(limited.steps, limit);
    }
    // Enough for the verdict but not for narrowing the window.
    let narrowing_cut = Checker::new().max_steps(full.steps).check(&CasRegister, &h);
    let Some(window) = narrowing_cut.result.window() else {
        panic!("expected a violation: {}", narrowing_cut.result);
    };
    assert!(!window.minimal);
    assert!(narrowing_cut.result.to_string().contains("shortest found"));
}

#[test]
fn checks_are_deterministic() {
    let h = hard_history();
    let a = Checker::new().check(&CasRegister, &h);
    let b = Checker::new().check(&CasRegister, &h);
    assert_eq!(a, b);
    assert_eq!(a.result.to_string(), b.result.to_string());
}

#[test]
fn recorded_histories_use_a_logical_clock() {
    let mut h = History::new();
    let w = h.invoke(1, In::Write(7)).unwrap_or(usize::MAX);
    let r = h.invoke(2, In::Read).unwrap_or(usize::MAX);
    assert_eq!(h.complete(r, Out::Read(Some(7))), Ok(()));
    assert_eq!(h.complete(w, Out::Write), Ok(()));
    assert!(h.complete(w, Out::Write).is_err(), "second return");
    assert!(h.complete(17, Out::Write).is_err(), "unknown op");
    let lost = h.invoke(3, In::Write(8)).unwrap_or(usize::MAX);
    assert_eq!(h.ops()[lost].call, 4);
    assert!(check(&CasRegister, &h).is_linearizable());
    assert!(History::from_operations(vec![read(0, 5, 4, None)]).is_err());
    assert!(
        History::from_operations(vec![op(0, In::Read, 5, None, Some(Out::Read(None)))]).is_err()
    );
}

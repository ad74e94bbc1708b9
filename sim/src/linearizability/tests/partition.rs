//! The partitioned check: per-key verdicts agree with the whole-history check, op ids map
//! back to the whole history, and the check stops at the first part found failing, even
//! when a part before it is too hard to finish.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{history, op};
use crate::linearizability::partition::TURN_STEPS;
use crate::linearizability::{
    CheckResult, Checker, History, Kv, KvInput, KvOp, KvOutput, Operation,
};

type KvOperation = Operation<KvInput, KvOutput>;

fn put(key: u64, v: &str) -> KvInput {
    KvInput {
        key,
        op: KvOp::Put(v.into()),
    }
}

fn get(key: u64) -> KvInput {
    KvInput { key, op: KvOp::Get }
}

fn value(v: &str) -> Option<KvOutput> {
    Some(KvOutput::Value(v.into()))
}

/// Keys 1 and 3 are fine; key 2 reads a value before it is written.
fn bad_on_key_2() -> History<KvInput, KvOutput> {
    history(vec![
        op(1, put(1, "a"), 0, Some(1), Some(KvOutput::Ok)),
        op(2, get(1), 2, Some(3), value("a")),
        op(3, get(2), 4, Some(5), value("x")),
        op(1, put(2, "x"), 6, Some(7), Some(KvOutput::Ok)),
        op(2, put(3, "z"), 0, Some(9), Some(KvOutput::Ok)),
        op(3, get(3), 10, Some(11), value("z")),
    ])
}

#[test]
fn stops_at_the_first_failing_part_and_names_it() {
    let h = bad_on_key_2();
    let p = Checker::new().check_partitioned(&Kv, &h, KvInput::key);
    assert_eq!(p.parts, 3);
    assert_eq!(p.failed_part, Some(2));
    assert_eq!(p.parts_checked, 2, "key 3's turn never comes");
    let window = p.result.window().expect("not linearizable");
    // Ids are the whole history's: the failing read is op 2.
    assert_eq!(window.last, 2);
    assert!(window
        .ops
        .iter()
        .all(|(id, o)| o.input.key == 2 && [2, 3].contains(id)));
    assert!(Checker::new().check(&Kv, &h).result.is_not_linearizable());
}

#[test]
fn a_linearizable_history_gets_a_witness_of_every_part() {
    let mut ops = bad_on_key_2().ops().to_vec();
    ops[2].output = value("");
    let h = history(ops);
    let p = Checker::new().check_partitioned(&Kv, &h, KvInput::key);
    assert_eq!((p.failed_part, p.parts_checked), (None, 3));
    match p.result {
        CheckResult::Linearizable { mut order } => {
            order.sort_unstable();
            assert_eq!(order, vec![0, 1, 2, 3, 4, 5]);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_budget_that_runs_out_stops_the_check_as_unknown() {
    let h = bad_on_key_2();
    let p = Checker::new()
        .max_steps(1)
        .check_partitioned(&Kv, &h, KvInput::key);
    assert!(p.result.is_unknown());
    // Every part had its turn of one step; the first to run out is named.
    assert_eq!((p.failed_part, p.parts_checked), (Some(1), 3));
}

/// Key 1: ten concurrent appends, then a read of them in reverse call order. The search
/// tries call order first, and every order of every subset is a different state, so it
/// needs millions of steps. Key 2 fails at once.
fn hard_key_1_then_bad_key_2() -> History<KvInput, KvOutput> {
    let mut ops: Vec<KvOperation> = (0..10u64)
        .map(|c| {
            let input = KvInput {
                key: 1,
                op: KvOp::Append(c.to_string()),
            };
            op(c, input, 0, Some(100), Some(KvOutput::Ok))
        })
        .collect();
    ops.push(op(10, get(1), 101, Some(102), value("9876543210")));
    ops.push(op(11, get(2), 0, Some(1), value("never written")));
    history(ops)
}

#[test]
fn a_part_that_fails_is_found_while_a_harder_part_before_it_is_unfinished() {
    let h = hard_key_1_then_bad_key_2();
    // Enough for key 2, far too little to finish key 1.
    let budget = 5 * TURN_STEPS;
    let whole_key_1 = Checker::new().max_steps(budget).check_partitioned(
        &Kv,
        &history(h.ops()[..11].to_vec()),
        KvInput::key,
    );
    assert!(whole_key_1.result.is_unknown(), "key 1 alone is too hard");
    let p = Checker::new()
        .max_steps(budget)
        .check_partitioned(&Kv, &h, KvInput::key);
    assert_eq!(p.failed_part, Some(2), "{}", p.result);
    assert!(p.result.is_not_linearizable());
    assert_eq!(p.parts_checked, 2);
    assert!(p.steps < 2 * TURN_STEPS, "key 1 had one turn: {}", p.steps);
}

/// A random operation on one of three keys, with random output and timing.
fn random_op(rng: &mut ChaCha8Rng) -> KvOperation {
    let key = rng.gen_range(0..3u64);
    let v = ["a", "b"][rng.gen_range(0..2)].to_string();
    let (input, output) = match rng.gen_range(0..4) {
        0 => (
            KvOp::Get,
            KvOutput::Value(["", "a", "b", "ab", "ba"][rng.gen_range(0..5)].into()),
        ),
        1 => (KvOp::Put(v), KvOutput::Ok),
        2 => (KvOp::Append(v), KvOutput::Ok),
        _ => (
            KvOp::Cas {
                from: v,
                to: "b".into(),
            },
            KvOutput::Cas(rng.gen_bool(0.5)),
        ),
    };
    let call = rng.gen_range(0..10u64);
    let ret = (!rng.gen_bool(0.2)).then(|| call + rng.gen_range(0..4u64));
    op(
        rng.gen_range(0..4u64),
        KvInput { key, op: input },
        call,
        ret,
        ret.map(|_| output),
    )
}

#[test]
fn partitioned_and_whole_checks_agree_on_random_histories() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let (mut ok, mut bad) = (0, 0);
    for _ in 0..400 {
        let n = rng.gen_range(1..9);
        let h = history((0..n).map(|_| random_op(&mut rng)).collect());
        let whole = Checker::new().check(&Kv, &h).result;
        let parts = Checker::new().check_partitioned(&Kv, &h, KvInput::key);
        assert_eq!(
            whole.is_linearizable(),
            parts.result.is_linearizable(),
            "{h:?}"
        );
        if whole.is_linearizable() {
            ok += 1;
        } else {
            bad += 1;
            assert!(parts.failed_part.is_some());
        }
    }
    assert!(
        ok > 20 && bad > 20,
        "both verdicts exercised: {ok} ok, {bad} bad"
    );
}

//! A brute-force reference checker for tiny histories, independent of the search: it tries
//! every order of every subset of operations that holds all returned ones.

use crate::linearizability::history::{History, OpId, Operation};
use crate::linearizability::model::Model;

/// True if some sequence of the operations explains the history. Exponential: keep
/// histories to about 7 operations.
pub fn brute_force_linearizable<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
) -> bool {
    let ops = history.ops();
    assert!(ops.len() <= 8, "brute force is for tiny histories");
    let mut seq = Vec::new();
    let mut used = vec![false; ops.len()];
    extend(model, ops, &mut seq, &mut used)
}

/// Depth-first over sequences; checks each complete candidate from scratch.
fn extend<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    seq: &mut Vec<OpId>,
    used: &mut [bool],
) -> bool {
    let all_returned_used = ops
        .iter()
        .zip(used.iter())
        .all(|(o, &u)| u || o.ret.is_none());
    if all_returned_used && sequence_explains(model, ops, seq) {
        return true;
    }
    for i in 0..ops.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        seq.push(i);
        let found = extend(model, ops, seq, used);
        seq.pop();
        used[i] = false;
        if found {
            return true;
        }
    }
    false
}

/// True if `seq` respects real time and the model accepts it in this order.
pub fn sequence_explains<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    seq: &[OpId],
) -> bool {
    // Real time: if b returned strictly before a was called, b comes first.
    for (i, &a) in seq.iter().enumerate() {
        for &b in &seq[i + 1..] {
            if ops[b].ret.is_some_and(|r| r < ops[a].call) {
                return false;
            }
        }
    }
    // Every returned operation is in the sequence, at most once.
    let mut seen = vec![false; ops.len()];
    for &a in seq {
        if std::mem::replace(&mut seen[a], true) {
            return false;
        }
    }
    if ops.iter().zip(&seen).any(|(o, &s)| o.ret.is_some() && !s) {
        return false;
    }
    let mut states = vec![model.init()];
    for &a in seq {
        let mut next = Vec::new();
        for s in &states {
            for n in model.step(s, &ops[a].input, ops[a].output.as_ref()) {
                if !next.contains(&n) {
                    next.push(n);
                }
            }
        }
        if next.is_empty() {
            return false;
        }
        states = next;
    }
    true
}

/// The history cut after its first `n` events (in the checker's event order): operations
/// called later are dropped, operations returning later become pending.
pub fn prefix<I: Clone, O: Clone>(history: &History<I, O>, n: usize) -> History<I, O> {
    let events = history.events();
    let kept = &events[..n];
    let mut cut = History::new();
    for e in kept.iter().filter(|e| !e.is_return) {
        let o = &history.ops()[e.op as usize];
        let returned = kept.iter().any(|k| k.is_return && k.op == e.op);
        let pushed = cut.push(Operation {
            client: o.client,
            input: o.input.clone(),
            call: o.call,
            ret: if returned { o.ret } else { None },
            output: if returned { o.output.clone() } else { None },
        });
        assert!(pushed.is_ok());
    }
    cut
}

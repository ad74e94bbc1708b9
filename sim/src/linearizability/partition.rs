//! Checking a history part by part, as Porcupine's `Partition` does.
//!
//! When the model is a set of independent objects (a key-value store is one register per
//! key), a history is linearizable iff each object's sub-history is: operations on different
//! keys never constrain each other. Checking the parts separately turns one search over
//! every interleaving into many small ones. The caller names each operation's part with a
//! key function; the parts are checked in key order, and the check stops at the first part
//! that is not linearizable (or whose budget ran out): the parts after it are not searched.

use std::collections::BTreeMap;

use super::checker::{CheckResult, Checker, Window};
use super::history::{History, OpId, Operation};
use super::model::Model;

/// The verdict of a partitioned check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionedCheck<K, I, O> {
    /// The verdict on the whole history. Op ids (the witness order, the window's `last`
    /// and ops) are those of the whole history; a failing window's `events` and `end`
    /// count within its part. A `Linearizable` witness lists the parts one after another
    /// (parts are independent, so any interleaving of their orders is a witness).
    pub result: CheckResult<I, O>,
    /// The part that failed (or ran out of budget), if any.
    pub failed_part: Option<K>,
    /// How many parts were searched (up to and including a failing one).
    pub parts_checked: usize,
    /// How many parts the history has.
    pub parts: usize,
    /// Search steps spent over every part searched.
    pub steps: u64,
}

impl Checker {
    /// Checks `history` against `model` one part at a time: `part` names each operation's
    /// part from its input, and every part is checked on its own against `model` (which
    /// must then model one object). Stops at the first part that fails. The step budget
    /// ([`Checker::max_steps`]) applies to each part.
    pub fn check_partitioned<M, K>(
        &self,
        model: &M,
        history: &History<M::Input, M::Output>,
        part: impl Fn(&M::Input) -> K,
    ) -> PartitionedCheck<K, M::Input, M::Output>
    where
        M: Model,
        K: Ord + Clone,
    {
        let mut parts: BTreeMap<K, Vec<OpId>> = BTreeMap::new();
        for (id, op) in history.ops().iter().enumerate() {
            parts.entry(part(&op.input)).or_default().push(id);
        }
        let total = parts.len();
        let mut out = PartitionedCheck {
            result: CheckResult::Linearizable { order: Vec::new() },
            failed_part: None,
            parts_checked: 0,
            parts: total,
            steps: 0,
        };
        let mut order = Vec::with_capacity(history.len());
        for (key, ids) in parts {
            let sub = sub_history(history.ops(), &ids);
            let checked = self.check(model, &sub);
            out.parts_checked += 1;
            out.steps += checked.steps;
            match checked.result {
                CheckResult::Linearizable { order: o } => order.extend(o.iter().map(|&i| ids[i])),
                CheckResult::NotLinearizable { window } => {
                    out.result = CheckResult::NotLinearizable {
                        window: remap(window, &ids),
                    };
                    out.failed_part = Some(key);
                    return out;
                }
                CheckResult::Unknown { steps } => {
                    out.result = CheckResult::Unknown { steps };
                    out.failed_part = Some(key);
                    return out;
                }
            }
        }
        out.result = CheckResult::Linearizable { order };
        out
    }
}

/// The operations `ids` of `ops`, as a history of their own (times kept).
fn sub_history<I: Clone, O: Clone>(ops: &[Operation<I, O>], ids: &[OpId]) -> History<I, O> {
    let picked = ids.iter().map(|&i| ops[i].clone());
    History::from_operations(picked).expect("operations of a valid history stay valid")
}

/// A part's window with the part's op ids mapped back to the whole history's.
fn remap<I, O>(mut w: Window<I, O>, ids: &[OpId]) -> Window<I, O> {
    w.last = ids[w.last];
    for (id, _) in &mut w.ops {
        *id = ids[*id];
    }
    w
}

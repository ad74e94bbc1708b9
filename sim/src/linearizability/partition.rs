//! Checking a history part by part, as Porcupine's `Partition` does.
//!
//! When the model is a set of independent objects (a key-value store is one register per
//! key), a history is linearizable iff each object's sub-history is: operations on different
//! keys never constrain each other. Checking the parts separately turns one search over
//! every interleaving into many small ones. The caller names each operation's part with a
//! key function.
//!
//! The parts are searched in turns of [`TURN_STEPS`] steps each, in key order, and the check
//! stops as soon as one part is found not linearizable. Porcupine searches the parts in
//! parallel and stops at the first that fails, for the same reason: in a failing history
//! one part may fail in a few thousand steps while another is hard (hundreds of thousands
//! of steps, or more than any budget) whatever its verdict. Taking turns gets that answer
//! without threads, so the verdict and the steps counted depend on the history alone.

use std::collections::BTreeMap;

use super::checker::{CheckResult, Checker, Window};
use super::history::{Event, History, OpId, Operation};
use super::model::Model;
use super::search::{Search, SearchOutcome};

/// Search steps a part takes in one turn before the next part's turn.
pub const TURN_STEPS: u64 = 10_000;

/// The verdict of a partitioned check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionedCheck<K, I, O> {
    /// The verdict on the whole history. Op ids (the witness order, the window's `last`
    /// and ops) are those of the whole history; a failing window's `events` and `end`
    /// count within its part. A `Linearizable` witness lists the parts one after another
    /// (parts are independent, so any interleaving of their orders is a witness).
    /// `Unknown` if no part failed but one ran out of budget.
    pub result: CheckResult<I, O>,
    /// The part that failed (or, if none did, ran out of budget), if any.
    pub failed_part: Option<K>,
    /// How many parts were searched, completely or in part (a part whose turn never came
    /// because another failed first is not counted).
    pub parts_checked: usize,
    /// How many parts the history has.
    pub parts: usize,
    /// Search steps spent over every part searched, including a failing window's
    /// narrowing.
    pub steps: u64,
}

/// One part: its operations' ids in the whole history, and its own history.
struct Part<K, I, O> {
    key: K,
    ids: Vec<OpId>,
    history: History<I, O>,
    events: Vec<Event>,
}

/// Where one part's search stands.
enum Progress {
    /// Not finished; this many steps spent.
    Searching(u64),
    /// Linearizable, with this witness (in part op ids), after this many steps.
    Done(Vec<OpId>, u64),
    /// Its budget ran out after this many steps.
    OutOfSteps(u64),
}

impl Checker {
    /// Checks `history` against `model` one part at a time: `part` names each operation's
    /// part from its input, and every part is checked on its own against `model` (which
    /// must then model one object). The parts take turns (see the module doc) and the
    /// check stops at the first part found not linearizable. The step budget
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
        let parts = split(history, part);
        let mut out = PartitionedCheck {
            result: CheckResult::Linearizable { order: Vec::new() },
            failed_part: None,
            parts_checked: 0,
            parts: parts.len(),
            steps: 0,
        };
        let mut searches: Vec<Search<'_, M>> = parts
            .iter()
            .map(|p| Search::start(model, p.history.ops(), &p.events))
            .collect();
        let mut progress: Vec<Progress> = parts.iter().map(|_| Progress::Searching(0)).collect();
        let failed = self.take_turns(&mut searches, &mut progress);
        out.parts_checked = progress.iter().filter(|p| p.steps() > 0).count();
        if let Some((i, outcome, used)) = failed {
            // Part `i` is not linearizable: narrow its window with its remaining budget.
            let p = &parts[i];
            let checked = self.conclude(
                model,
                p.history.ops(),
                &p.events,
                outcome,
                self.budget(used),
            );
            out.parts_checked += 1;
            out.steps += checked.steps;
            out.steps += progress.iter().map(Progress::steps).sum::<u64>();
            if let CheckResult::NotLinearizable { window } = checked.result {
                out.result = CheckResult::NotLinearizable {
                    window: remap(window, &p.ids),
                };
            }
            out.failed_part = Some(p.key.clone());
            return out;
        }
        out.steps = progress.iter().map(Progress::steps).sum();
        finish(out, &parts, progress, history.len())
    }

    /// Gives each unfinished search a turn, round after round, until one finds its part
    /// not linearizable (returned with its outcome and the steps it spent; its progress is
    /// left at zero) or every part is done or out of budget (`None`).
    fn take_turns<M: Model>(
        &self,
        searches: &mut [Search<'_, M>],
        progress: &mut [Progress],
    ) -> Option<(usize, SearchOutcome, u64)> {
        loop {
            let mut searching = false;
            for (i, search) in searches.iter_mut().enumerate() {
                let Progress::Searching(used) = progress[i] else {
                    continue;
                };
                let limit = self.budget(used).limit.unwrap_or(u64::MAX);
                let turn_end = used.saturating_add(TURN_STEPS).min(limit);
                let mut budget = self.budget(used);
                budget.limit = Some(turn_end);
                let outcome = search.run(&mut budget);
                progress[i] = match outcome {
                    SearchOutcome::Linearizable(order) => Progress::Done(order, budget.used),
                    SearchOutcome::OutOfSteps if budget.used >= limit => {
                        Progress::OutOfSteps(budget.used)
                    }
                    SearchOutcome::OutOfSteps => {
                        searching = true;
                        Progress::Searching(budget.used)
                    }
                    not_linearizable @ SearchOutcome::NotLinearizable { .. } => {
                        progress[i] = Progress::Searching(0);
                        return Some((i, not_linearizable, budget.used));
                    }
                };
            }
            if !searching {
                return None;
            }
        }
    }
}

impl Progress {
    /// The steps spent so far.
    fn steps(&self) -> u64 {
        match self {
            Progress::Searching(s) | Progress::OutOfSteps(s) | Progress::Done(_, s) => *s,
        }
    }
}

/// `history`'s parts by key, in key order.
fn split<K: Ord, I: Clone, O: Clone>(
    history: &History<I, O>,
    part: impl Fn(&I) -> K,
) -> Vec<Part<K, I, O>> {
    let mut by_key: BTreeMap<K, Vec<OpId>> = BTreeMap::new();
    for (id, op) in history.ops().iter().enumerate() {
        by_key.entry(part(&op.input)).or_default().push(id);
    }
    by_key
        .into_iter()
        .map(|(key, ids)| {
            let history = sub_history(history.ops(), &ids);
            let events = history.events();
            Part {
                key,
                ids,
                history,
                events,
            }
        })
        .collect()
}

/// The verdict once no part failed: linearizable with every part's witness, or unknown at
/// the first part that ran out of budget.
fn finish<K: Clone, I, O>(
    mut out: PartitionedCheck<K, I, O>,
    parts: &[Part<K, I, O>],
    progress: Vec<Progress>,
    ops: usize,
) -> PartitionedCheck<K, I, O> {
    let mut order = Vec::with_capacity(ops);
    for (p, progress) in parts.iter().zip(progress) {
        match progress {
            Progress::Done(o, _) => order.extend(o.iter().map(|&i| p.ids[i])),
            Progress::OutOfSteps(steps) => {
                out.result = CheckResult::Unknown { steps };
                out.failed_part = Some(p.key.clone());
                return out;
            }
            Progress::Searching(_) => unreachable!("turns end when every part is done"),
        }
    }
    out.result = CheckResult::Linearizable { order };
    out
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

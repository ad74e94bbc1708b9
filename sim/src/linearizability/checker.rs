//! The checker's entry points, its verdicts and the failing window it reports.

use std::fmt;

use super::history::{Event, History, OpId, Operation};
use super::model::Model;
use super::search::{search, Budget, SearchOutcome};

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult<I, O> {
    /// Some sequential execution of the model explains the history.
    Linearizable {
        /// A witness: the operations that took effect, in their linearization order. It
        /// holds every operation that returned; a pending operation is in it only if it
        /// must (or may, on the path the search took) have taken effect.
        order: Vec<OpId>,
    },
    /// No sequential execution explains the history.
    NotLinearizable {
        /// The shortest failing prefix of the history that the checker found.
        window: Window<I, O>,
    },
    /// The step budget ran out before a verdict. Never read this as "ok".
    Unknown {
        /// The steps spent.
        steps: u64,
    },
}

impl<I, O> CheckResult<I, O> {
    /// True for [`CheckResult::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, CheckResult::Linearizable { .. })
    }

    /// True for [`CheckResult::NotLinearizable`].
    pub fn is_not_linearizable(&self) -> bool {
        matches!(self, CheckResult::NotLinearizable { .. })
    }

    /// True for [`CheckResult::Unknown`].
    pub fn is_unknown(&self) -> bool {
        matches!(self, CheckResult::Unknown { .. })
    }

    /// The failing window, if the history is not linearizable.
    pub fn window(&self) -> Option<&Window<I, O>> {
        match self {
            CheckResult::NotLinearizable { window } => Some(window),
            _ => None,
        }
    }
}

/// A prefix of a history (all events up to and including one instant) that is already
/// not linearizable.
///
/// Operations called in the window but returning after it are shown as pending, with no
/// output: within the prefix nothing was known about them yet, so they count as
/// indeterminate. (Linearizability is prefix-closed: once a prefix fails, every longer one
/// fails too, so the window pins down where the history went wrong.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window<I, O> {
    /// How many of the history's events (calls and returns, in time order) the window
    /// holds.
    pub events: usize,
    /// The time of the window's last event, the return of [`Window::last`].
    pub end: u64,
    /// The operation whose return closes the window: with it, the prefix fails.
    pub last: OpId,
    /// The operations called within the window, in call order, truncated to the window.
    pub ops: Vec<(OpId, Operation<I, O>)>,
    /// True if the checker showed the prefix one event shorter to be linearizable, so no
    /// shorter prefix fails. False if the step budget ran out while narrowing the window
    /// (or narrowing was turned off).
    pub minimal: bool,
}

/// A check's verdict together with the work it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked<I, O> {
    /// The verdict.
    pub result: CheckResult<I, O>,
    /// Search steps spent in total, including the narrowing of a failing window.
    pub steps: u64,
}

/// Checker settings. The defaults: no step limit, narrow failing windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checker {
    max_steps: Option<u64>,
    minimize: bool,
}

impl Default for Checker {
    fn default() -> Self {
        Checker {
            max_steps: None,
            minimize: true,
        }
    }
}

/// Checks `history` against `model` with the default settings (no step limit).
pub fn check<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
) -> CheckResult<M::Input, M::Output> {
    Checker::new().check(model, history).result
}

impl Checker {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Limits the total number of search steps (one step considers one event). When the
    /// limit is hit, the verdict is [`CheckResult::Unknown`]; if the history was already
    /// found not linearizable, the window found so far is returned with `minimal: false`.
    pub fn max_steps(mut self, steps: u64) -> Self {
        self.max_steps = Some(steps);
        self
    }

    /// Whether to narrow a failing history down to its shortest failing prefix (default
    /// true). Without it the window is the whole history up to its last return.
    pub fn minimize_window(mut self, yes: bool) -> Self {
        self.minimize = yes;
        self
    }

    /// Checks `history` against `model`.
    pub fn check<M: Model>(
        &self,
        model: &M,
        history: &History<M::Input, M::Output>,
    ) -> Checked<M::Input, M::Output> {
        let ops = history.ops();
        let events = history.events();
        let mut budget = self.budget(0);
        let outcome = search(model, ops, &events, &mut budget);
        self.conclude(model, ops, &events, outcome, budget)
    }

    /// A budget of this checker's limit, of which `used` steps are spent.
    pub(crate) fn budget(&self, used: u64) -> Budget {
        Budget {
            used,
            limit: self.max_steps,
        }
    }

    /// The verdict on a search's `outcome`: a failing history's window, narrowed with
    /// what is left of `budget` if this checker narrows windows.
    pub(crate) fn conclude<M: Model>(
        &self,
        model: &M,
        ops: &[Operation<M::Input, M::Output>],
        events: &[Event],
        outcome: SearchOutcome,
        mut budget: Budget,
    ) -> Checked<M::Input, M::Output> {
        let result = match outcome {
            SearchOutcome::Linearizable(order) => CheckResult::Linearizable { order },
            SearchOutcome::OutOfSteps => CheckResult::Unknown { steps: budget.used },
            SearchOutcome::NotLinearizable { barrier } => {
                let (end, minimal) = if self.minimize {
                    shortest_failing_prefix(model, ops, events, barrier, &mut budget)
                } else {
                    (last_return(events, barrier), false)
                };
                CheckResult::NotLinearizable {
                    window: window(ops, events, end, minimal),
                }
            }
        };
        Checked {
            result,
            steps: budget.used,
        }
    }
}

/// The position of the last return event (at least `barrier`, itself a return).
fn last_return(events: &[Event], barrier: usize) -> usize {
    debug_assert!(events[barrier].is_return, "a barrier is a return event");
    events.iter().rposition(|e| e.is_return).unwrap_or(barrier)
}

/// Finds the shortest prefix `events[..=p]` that is not linearizable, given that the
/// whole history is not and that `events[..barrier]` is (see [`SearchOutcome`]). Returns
/// `p` and whether it is proven minimal.
///
/// Only prefixes ending with a return can be the shortest (a call only adds an optional
/// operation), and failing is monotone in the prefix length, so this gallops over the
/// return positions from `barrier` onward, then bisects. `barrier` itself fails in the
/// common case, which costs a single extra search.
fn shortest_failing_prefix<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    events: &[Event],
    barrier: usize,
    budget: &mut Budget,
) -> (usize, bool) {
    let candidates: Vec<usize> = (barrier..events.len())
        .filter(|&p| events[p].is_return)
        .collect();
    debug_assert_eq!(candidates.first(), Some(&barrier));
    // Invariant: candidates[..=lo_ok] pass (None: none known to), candidates[hi_fail] fails.
    let mut lo_ok: Option<usize> = None;
    let mut hi_fail = candidates.len() - 1;
    let probe = |i: usize, budget: &mut Budget| -> Option<bool> {
        match search(model, ops, &events[..=candidates[i]], budget) {
            SearchOutcome::Linearizable(_) => Some(true),
            SearchOutcome::NotLinearizable { .. } => Some(false),
            SearchOutcome::OutOfSteps => None,
        }
    };
    // Gallop: 0, 1, 3, 7, ... until a failing candidate.
    let mut step = 1usize;
    let mut i = 0usize;
    while i < hi_fail {
        match probe(i, budget) {
            None => return (candidates[hi_fail], false),
            Some(true) => lo_ok = Some(i),
            Some(false) => {
                hi_fail = i;
                break;
            }
        }
        i = i.saturating_add(step);
        step = step.saturating_mul(2);
    }
    // Bisect between the last passing and the first failing candidate.
    loop {
        let lo = lo_ok.map_or(0, |l| l + 1);
        if lo >= hi_fail {
            break;
        }
        let mid = lo + (hi_fail - lo) / 2;
        match probe(mid, budget) {
            None => return (candidates[hi_fail], false),
            Some(true) => lo_ok = Some(mid),
            Some(false) => hi_fail = mid,
        }
    }
    // candidates[hi_fail - 1] passed (or hi_fail == 0, where events[..barrier] passes).
    (candidates[hi_fail], true)
}

/// The window `events[..=end]`.
fn window<I: Clone, O: Clone>(
    ops: &[Operation<I, O>],
    events: &[Event],
    end: usize,
    minimal: bool,
) -> Window<I, O> {
    let prefix = &events[..=end];
    let last = prefix[end];
    debug_assert!(last.is_return, "a window ends with a return");
    let returned: std::collections::BTreeSet<u32> = prefix
        .iter()
        .filter(|e| e.is_return)
        .map(|e| e.op)
        .collect();
    let ops = prefix
        .iter()
        .filter(|e| !e.is_return)
        .map(|e| {
            let op = &ops[e.op as usize];
            let done = returned.contains(&e.op);
            let shown = Operation {
                client: op.client,
                input: op.input.clone(),
                call: op.call,
                ret: if done { op.ret } else { None },
                output: if done { op.output.clone() } else { None },
            };
            (e.op as OpId, shown)
        })
        .collect();
    Window {
        events: end + 1,
        end: last.time,
        last: last.op as OpId,
        ops,
        minimal,
    }
}

impl<I: fmt::Debug, O: fmt::Debug> fmt::Display for Window<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shortest = if self.minimal {
            "shortest"
        } else {
            "shortest found"
        };
        writeln!(
            f,
            "{shortest} non-linearizable prefix: {} events, {} operations, up to time {}; \
             it fails once op #{} returns",
            self.events,
            self.ops.len(),
            self.end,
            self.last
        )?;
        for (id, op) in &self.ops {
            let mark = if *id == self.last { "=>" } else { "  " };
            write!(
                f,
                "{mark} #{id:<4} client {:<4} [{:>6}, ",
                op.client, op.call
            )?;
            match (op.ret, &op.output) {
                (Some(ret), Some(out)) => writeln!(f, "{ret:>6}] {:?} -> {out:?}", op.input)?,
                (Some(ret), None) => writeln!(f, "{ret:>6}] {:?} -> unknown", op.input)?,
                (None, _) => writeln!(f, "   ...) {:?} (pending)", op.input)?,
            }
        }
        Ok(())
    }
}

impl<I: fmt::Debug, O: fmt::Debug> fmt::Display for CheckResult<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Linearizable { order } => {
                write!(f, "linearizable ({} operations took effect)", order.len())
            }
            CheckResult::NotLinearizable { window } => write!(f, "not linearizable: {window}"),
            CheckResult::Unknown { steps } => {
                write!(f, "unknown: the step budget ran out after {steps} steps")
            }
        }
    }
}

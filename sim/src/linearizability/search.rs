//! The core search: Wing & Gong's backtracking with Lowe's memoization, as in Porcupine.
//!
//! The events of operations that returned sit in a doubly linked list in time order (the
//! *main* list). The search walks it from its head; every call it meets before the first
//! return belongs to an operation that is *minimal* (nothing still in the list returned
//! before it was called), so it may be linearized next. Linearizing an operation applies it
//! to the model and lifts its call and return out of the list (the "dancing links" undo
//! trick makes putting them back O(1)). Meeting a return means that operation's call was
//! not linearized in time.
//!
//! Pending operations (no return among the searched events) have their calls in a second
//! list. They are candidates while their call precedes the main list's first return, and
//! they are tried only after every returned candidate: configurations that use few pending
//! operations are explored first, and the cache's dominance rule (see `cache.rs`) then
//! prunes those that use more. Only when both lists are exhausted does the search backtrack.
//!
//! Partial-order reduction: a returned operation that the model declares read-only
//! ([`Model::is_read_only`]) and that is legal where the walk meets it is linearized at
//! once, and postponing it is not tried: if it fails, so does the configuration.

use super::bitset::Bitset;
use super::cache::{Cache, Linearized};
use super::event_list::{EventList, HEAD, NONE};
use super::history::{Event, OpId, Operation};
use super::model::Model;

/// Counts search steps against an optional limit, across several searches.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    pub used: u64,
    pub limit: Option<u64>,
}

impl Budget {
    /// Takes one step; false if the limit is reached (the step is not taken).
    fn spend(&mut self) -> bool {
        if self.limit.is_some_and(|limit| self.used >= limit) {
            return false;
        }
        self.used += 1;
        true
    }
}

/// What one search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SearchOutcome {
    /// A linearization: the operations that took effect, in order. Every operation whose
    /// return is among the searched events is in it; pending ones may or may not be.
    Linearizable(Vec<OpId>),
    /// No linearization. `barrier` is a return event (an index into the searched events)
    /// such that the events `..barrier` form a linearizable prefix: the furthest return the
    /// search ever stood before with every earlier return linearized.
    NotLinearizable { barrier: usize },
    /// The budget ran out first.
    OutOfSteps,
}

/// A linearized operation on the search stack.
struct Frame<S> {
    op: u32,
    /// The state before the operation.
    prev: S,
    /// Every successor the model allowed; `succs[next - 1]` is the one in use.
    succs: Vec<S>,
    next: usize,
    /// Linearized as soon as legal (read-only): if it fails, so does the configuration
    /// before it.
    forced: bool,
    /// For a pending operation: the main list's first return when it was linearized (the
    /// bound of the pending walk to resume after undoing it).
    limit: u32,
}

/// Where the walk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Walking the main list.
    Returned,
    /// Walking the pending list, up to the main list's first return `limit`.
    Pending { limit: u32 },
}

/// A search in progress: it can be run with a budget, and run again to resume where the
/// budget stopped it.
pub(crate) struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [Operation<M::Input, M::Output>],
    events: &'a [Event],
    main: EventList,
    pend: EventList,
    /// Per operation: its call and return nodes (`NONE` if absent from the events).
    call_node: Vec<u32>,
    ret_node: Vec<u32>,
    /// Per operation: its index among the pending ones, `NONE` if it returned.
    pending_index: Vec<u32>,
    returns_left: usize,
    state: M::State,
    lin: Linearized,
    cache: Cache<M::State>,
    stack: Vec<Frame<M::State>>,
    /// The furthest return the walk stood before (see [`SearchOutcome::NotLinearizable`]).
    barrier: Option<usize>,
    /// Where the walk resumes.
    phase: Phase,
    entry: u32,
}

/// What trying to linearize an operation did.
enum Tried {
    Pushed,
    /// Not linearized; `fails` if that proves the current configuration fails.
    Skipped {
        fails: bool,
    },
}

impl<M: Model> Search<'_, M> {
    fn node_event(&self, node: u32) -> Event {
        self.events[node as usize - 1]
    }

    fn mark(&mut self, op: u32, on: bool) {
        let (set, i) = match self.pending_index[op as usize] {
            NONE => (&mut self.lin.done, op as usize),
            k => (&mut self.lin.used, k as usize),
        };
        if on {
            set.set(i);
        } else {
            set.clear(i);
        }
    }

    /// Tries to linearize `op` next (its call is a candidate).
    fn try_push(&mut self, op: u32, limit: u32) -> Tried {
        let o = &self.ops[op as usize];
        let returned = self.ret_node[op as usize] != NONE;
        let output = if returned { o.output.as_ref() } else { None };
        let succs = self.model.step(&self.state, &o.input, output);
        let forced = returned && !succs.is_empty() && self.model.is_read_only(&o.input, output);
        debug_assert!(
            !forced || succs.iter().all(|s| *s == self.state),
            "a read-only operation changed the state: {:?}",
            o.input
        );
        self.mark(op, true);
        let Some(i) = self.cache.first_new(&self.lin, &succs, 0) else {
            self.mark(op, false);
            return Tried::Skipped { fails: forced };
        };
        let prev = std::mem::replace(&mut self.state, succs[i].clone());
        self.stack.push(Frame {
            op,
            prev,
            succs,
            next: i + 1,
            forced,
            limit,
        });
        if returned {
            self.main.lift(self.call_node[op as usize]);
            self.main.lift(self.ret_node[op as usize]);
            self.returns_left -= 1;
        } else {
            self.pend.lift(self.call_node[op as usize]);
        }
        Tried::Pushed
    }

    /// Undoes choices until one has an untried alternative, and returns where to walk
    /// next; `None` if the stack ran out (no linearization).
    fn backtrack(&mut self) -> Option<(Phase, u32)> {
        loop {
            let mut frame = self.stack.pop()?;
            if let Some(i) = self.cache.first_new(&self.lin, &frame.succs, frame.next) {
                // Same operation, another outcome.
                frame.next = i + 1;
                self.state = frame.succs[i].clone();
                self.stack.push(frame);
                return Some((Phase::Returned, self.main.first()));
            }
            let op = frame.op as usize;
            self.state = frame.prev;
            self.mark(frame.op, false);
            let call = self.call_node[op];
            let resume = if self.ret_node[op] != NONE {
                self.main.unlift(self.ret_node[op]);
                self.main.unlift(call);
                self.returns_left += 1;
                (Phase::Returned, self.main.next(call))
            } else {
                self.pend.unlift(call);
                let limit = frame.limit;
                (Phase::Pending { limit }, self.pend.next(call))
            };
            if !frame.forced {
                return Some(resume);
            }
            // A forced operation failed: so did the configuration it was forced in.
        }
    }
}

/// Searches for a linearization of the operations named by `events` (a time-ordered
/// slice of a history's events, possibly a prefix). An operation whose return is not in
/// `events` is treated as pending: optional, and with an unknown output.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    events: &[Event],
    budget: &mut Budget,
) -> SearchOutcome {
    Search::start(model, ops, events).run(budget)
}

impl<'a, M: Model> Search<'a, M> {
    /// A search of `events` (as [`search`] takes them) that has taken no step yet.
    pub(crate) fn start(
        model: &'a M,
        ops: &'a [Operation<M::Input, M::Output>],
        events: &'a [Event],
    ) -> Self {
        let n = events.len();
        let mut call_node = vec![NONE; ops.len()];
        let mut ret_node = vec![NONE; ops.len()];
        let mut returns_left = 0usize;
        for (k, ev) in events.iter().enumerate() {
            // `History` bounds operations to MAX_OPS, so event nodes fit in u32.
            let node = u32::try_from(k + 1).unwrap_or(NONE);
            if ev.is_return {
                debug_assert!(call_node[ev.op as usize] != NONE, "return before its call");
                ret_node[ev.op as usize] = node;
                returns_left += 1;
            } else {
                call_node[ev.op as usize] = node;
            }
        }
        let returned = |ev: &Event| ret_node[ev.op as usize] != NONE;
        let nodes = |keep: &dyn Fn(&Event) -> bool| -> Vec<u32> {
            (1..=n as u32)
                .filter(|&node| keep(&events[node as usize - 1]))
                .collect()
        };
        let main = EventList::new(n, nodes(&|ev| returned(ev)));
        let pend = EventList::new(n, nodes(&|ev| !returned(ev)));
        let mut pending_index = vec![NONE; ops.len()];
        let mut pending_count = 0u32;
        for ev in events.iter().filter(|ev| !returned(ev)) {
            pending_index[ev.op as usize] = pending_count;
            pending_count += 1;
        }

        let first = main.first();
        let mut s = Search {
            model,
            ops,
            events,
            main,
            pend,
            call_node,
            ret_node,
            pending_index,
            returns_left,
            state: model.init(),
            lin: Linearized {
                done: Bitset::new(ops.len()),
                used: Bitset::new(pending_count as usize),
            },
            cache: Cache::new(),
            stack: Vec::new(),
            barrier: None,
            phase: Phase::Returned,
            entry: first,
        };
        // The root, so that pending operations that change nothing are never linearized.
        s.cache.remember(&s.lin, &s.state);
        s
    }

    /// Walks on until a verdict or until `budget` runs out; after `OutOfSteps`, running
    /// again with more budget resumes where it stopped.
    pub(crate) fn run(&mut self, budget: &mut Budget) -> SearchOutcome {
        loop {
            if self.returns_left == 0 {
                let order = self.stack.iter().map(|f| f.op as OpId).collect();
                return SearchOutcome::Linearizable(order);
            }
            if !budget.spend() {
                return SearchOutcome::OutOfSteps;
            }
            let fails = match self.phase {
                Phase::Returned => self.step_returned(),
                Phase::Pending { limit } => self.step_pending(limit),
            };
            if fails {
                match self.backtrack() {
                    Some(next) => (self.phase, self.entry) = next,
                    None => {
                        // The fallback, the first return, bounds a prefix of calls only.
                        let first_return = self.events.iter().position(|e| e.is_return);
                        return SearchOutcome::NotLinearizable {
                            barrier: self.barrier.unwrap_or(first_return.unwrap_or(0)),
                        };
                    }
                }
            }
        }
    }

    /// One step of the walk of the main list; true if the configuration fails.
    fn step_returned(&mut self) -> bool {
        // With returns left, the walk meets one before the end of the list.
        debug_assert!(self.entry != HEAD, "walked past every return");
        let ev = self.node_event(self.entry);
        if ev.is_return {
            // Every returned candidate was tried; now the pending ones.
            let at = self.entry as usize - 1;
            self.barrier = Some(self.barrier.map_or(at, |b| b.max(at)));
            self.phase = Phase::Pending { limit: self.entry };
            self.entry = self.pend.first();
            return false;
        }
        match self.try_push(ev.op, self.entry) {
            Tried::Pushed => {
                self.entry = self.main.first();
                false
            }
            Tried::Skipped { fails } => {
                self.entry = self.main.next(self.entry);
                fails
            }
        }
    }

    /// One step of the walk of the pending list, up to the main list's first return
    /// `limit`; true if the configuration fails.
    fn step_pending(&mut self, limit: u32) -> bool {
        if self.entry == HEAD || self.entry > limit {
            return true; // no candidate left
        }
        match self.try_push(self.node_event(self.entry).op, limit) {
            Tried::Pushed => {
                (self.phase, self.entry) = (Phase::Returned, self.main.first());
                false
            }
            Tried::Skipped { fails } => {
                debug_assert!(!fails, "pending operations are never forced");
                self.entry = self.pend.next(self.entry);
                false
            }
        }
    }
}

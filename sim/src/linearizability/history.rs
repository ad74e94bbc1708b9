//! Concurrent histories: operations with invocation and return times.

use std::fmt;

/// Identifies an operation of a [`History`]: its position in [`History::ops`].
pub type OpId = usize;

/// One operation of a concurrent history.
///
/// Times are abstract, totally ordered instants (logical clock ticks, line numbers,
/// nanoseconds: only their order matters). Intervals are **closed**: two operations are
/// ordered in real time only if one's `ret` is strictly before the other's `call`; an
/// operation that returns at the very instant another one is called overlaps it.
///
/// Invariants (checked by [`History::push`]):
/// - `ret`, when present, is `>= call`;
/// - `output` is `None` whenever `ret` is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client (process, thread) that issued the operation; only used for reports.
    pub client: u64,
    /// What the client asked for.
    pub input: I,
    /// When the client invoked the operation.
    pub call: u64,
    /// When the operation returned, or `None` if it never did (in flight at a crash, timed
    /// out without an answer, Jepsen's `:info`). Such an operation is **indeterminate**: it
    /// may have taken effect at any instant after `call`, or never.
    pub ret: Option<u64>,
    /// What the client was told, or `None` if it returned without a usable answer (for
    /// example a read that timed out): it then took effect within `[call, ret]` with any
    /// output the model allows.
    pub output: Option<O>,
}

impl<I, O> Operation<I, O> {
    /// True if the operation never returned (see [`Operation::ret`]).
    pub fn is_pending(&self) -> bool {
        self.ret.is_none()
    }
}

/// Why an operation cannot be added to a history, or completed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// `ret < call`.
    #[error("operation {op} returns at {ret}, before its call at {call}")]
    ReturnBeforeCall { op: OpId, call: u64, ret: u64 },
    /// A pending operation (no `ret`) carries an output.
    #[error("operation {op} has an output but never returned")]
    OutputWithoutReturn { op: OpId },
    /// No operation has this id.
    #[error("no operation {op} in the history")]
    UnknownOp { op: OpId },
    /// The operation already returned.
    #[error("operation {op} already returned")]
    AlreadyReturned { op: OpId },
    /// The history has as many operations as the checker can index.
    #[error("too many operations in one history")]
    TooManyOps,
}

/// The largest number of operations one history may hold (the search numbers their
/// call and return events with `u32`, keeping `u32::MAX` free).
pub const MAX_OPS: usize = (u32::MAX / 4) as usize;

/// A concurrent history: a list of operations.
///
/// Build it either from operations with explicit times ([`History::push`],
/// [`History::from_operations`]) or by recording events as they happen
/// ([`History::invoke`], [`History::complete`], [`History::complete_unknown`]), which
/// stamps them with a logical clock that is always past every time already in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<I, O> {
    ops: Vec<Operation<I, O>>,
    /// Strictly greater than every `call` and `ret` in `ops`.
    next_time: u64,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        History {
            ops: Vec::new(),
            next_time: 0,
        }
    }
}

impl<I, O> History<I, O> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// A history of these operations (ids are their positions).
    pub fn from_operations(
        ops: impl IntoIterator<Item = Operation<I, O>>,
    ) -> Result<Self, HistoryError> {
        let mut h = History::new();
        for op in ops {
            h.push(op)?;
        }
        Ok(h)
    }

    /// The operations, by id, giving up the history.
    pub fn into_operations(self) -> Vec<Operation<I, O>> {
        self.ops
    }

    /// Adds an operation with explicit times and returns its id.
    pub fn push(&mut self, op: Operation<I, O>) -> Result<OpId, HistoryError> {
        let id = self.ops.len();
        if id >= MAX_OPS {
            return Err(HistoryError::TooManyOps);
        }
        match op.ret {
            Some(ret) if ret < op.call => {
                return Err(HistoryError::ReturnBeforeCall {
                    op: id,
                    call: op.call,
                    ret,
                })
            }
            None if op.output.is_some() => {
                return Err(HistoryError::OutputWithoutReturn { op: id })
            }
            _ => {}
        }
        let last = op.ret.unwrap_or(op.call);
        self.next_time = self.next_time.max(last.saturating_add(1));
        self.ops.push(op);
        Ok(id)
    }

    /// Records an invocation now (at the next logical instant); the operation is pending
    /// until [`History::complete`] or [`History::complete_unknown`].
    pub fn invoke(&mut self, client: u64, input: I) -> Result<OpId, HistoryError> {
        let call = self.tick();
        self.push(Operation {
            client,
            input,
            call,
            ret: None,
            output: None,
        })
    }

    /// Records that pending operation `op` returned `output` now.
    pub fn complete(&mut self, op: OpId, output: O) -> Result<(), HistoryError> {
        self.finish(op, Some(output))
    }

    /// Records that pending operation `op` returned now, but without a usable result (it
    /// took effect, with an unknown output).
    pub fn complete_unknown(&mut self, op: OpId) -> Result<(), HistoryError> {
        self.finish(op, None)
    }

    fn finish(&mut self, op: OpId, output: Option<O>) -> Result<(), HistoryError> {
        let ret = self.next_time;
        let entry = self.ops.get_mut(op).ok_or(HistoryError::UnknownOp { op })?;
        if entry.ret.is_some() {
            return Err(HistoryError::AlreadyReturned { op });
        }
        debug_assert!(ret >= entry.call, "next_time is past every call");
        entry.ret = Some(ret);
        entry.output = output;
        self.next_time = ret.saturating_add(1);
        Ok(())
    }

    fn tick(&mut self) -> u64 {
        let t = self.next_time;
        self.next_time = t.saturating_add(1);
        t
    }

    /// The operations, indexed by [`OpId`].
    pub fn ops(&self) -> &[Operation<I, O>] {
        &self.ops
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if the history holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One instant of a history: an operation's call or its return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Event {
    /// The event's time.
    pub time: u64,
    /// False for the call, true for the return (so calls sort first at equal times,
    /// which makes intervals closed).
    pub is_return: bool,
    /// The operation, as an index into the history; breaks ties deterministically.
    pub op: u32,
}

impl<I, O> History<I, O> {
    /// The history's events in time order: calls before returns at equal times, then by
    /// operation id. Pending operations contribute a call only.
    pub(crate) fn events(&self) -> Vec<Event> {
        let mut events = Vec::with_capacity(self.ops.len() * 2);
        for (i, op) in self.ops.iter().enumerate() {
            // `push` keeps ids below MAX_OPS, which fits in u32.
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            events.push(Event {
                time: op.call,
                is_return: false,
                op: id,
            });
            if let Some(ret) = op.ret {
                events.push(Event {
                    time: ret,
                    is_return: true,
                    op: id,
                });
            }
        }
        events.sort_unstable();
        events
    }
}

impl<I: fmt::Debug, O: fmt::Debug> fmt::Display for History<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, op) in self.ops.iter().enumerate() {
            write!(
                f,
                "#{id} client {} {:?} [{}, ",
                op.client, op.input, op.call
            )?;
            match (op.ret, &op.output) {
                (Some(ret), Some(out)) => writeln!(f, "{ret}] -> {out:?}")?,
                (Some(ret), None) => writeln!(f, "{ret}] -> unknown")?,
                (None, _) => writeln!(f, "never returned)")?,
            }
        }
        Ok(())
    }
}

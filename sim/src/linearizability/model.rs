//! The sequential specification a history is checked against.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification: an initial state and a transition relation.
///
/// The checker asks one question of a model: "starting from `state`, may the operation
/// `input` take effect with result `output`, and if so, which states can follow?".
///
/// Contract (the checker's soundness depends on it):
/// - `step` is a pure function of its arguments: same arguments, same successors, in the
///   same order (the search is deterministic only if the model is).
/// - An empty result means "illegal here". A model never panics on a mismatched
///   input/output pair (for example a read input with a write output); it returns no
///   successors instead.
/// - `output == None` means the result was never observed (a timed-out read, or an
///   operation still in flight when the history was cut). Then every state reachable with
///   *some* legal output must be returned: `step(s, i, None)` is the union over all `o` of
///   `step(s, i, Some(o))`.
/// - Duplicates in the returned vector are allowed but wasteful.
pub trait Model {
    /// A model state. It is hashed and compared for memoization, so it must be small or
    /// cheap to hash, and equal states must behave identically.
    type State: Clone + Eq + Hash + Debug;
    /// What a client asked for.
    type Input: Clone + Debug;
    /// What a client was told.
    type Output: Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The successor states if `input` with this `output` is legal in `state` (see the
    /// trait's contract for `None` outputs).
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Vec<Self::State>;

    /// True if an operation with this input and output can never change the state: in
    /// every state, `step` returns either nothing or exactly that state (reads, failed
    /// compare-and-sets, refused appends). The default, `false`, is always correct.
    ///
    /// The checker uses it as a partial-order reduction: a returned read-only operation
    /// that is legal in the current configuration is linearized at once, and postponing it
    /// is never tried. That loses nothing: any linearization that takes it later can drop
    /// it there and take it now instead, since it changes no state and its return, once out
    /// of the way, only lets more operations go next. A wrong `true` makes the checker
    /// unsound (it may miss linearizations), so when in doubt, return `false`.
    fn is_read_only(&self, input: &Self::Input, output: Option<&Self::Output>) -> bool {
        let _ = (input, output);
        false
    }
}

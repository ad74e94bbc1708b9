//! Unit tests of the checker: hand-written tables, a brute-force cross-check on random
//! histories, budgets and determinism. Model-specific tests live next to the models.

mod brute;
mod log_histories;
mod log_model;
mod parser;
mod partition;
mod random;
mod tables;

use super::history::{History, Operation};

/// Shorthand for an operation: `(client, input, call, ret, output)`.
pub(super) fn op<I, O>(
    client: u64,
    input: I,
    call: u64,
    ret: Option<u64>,
    output: Option<O>,
) -> Operation<I, O> {
    Operation {
        client,
        input,
        call,
        ret,
        output,
    }
}

/// A history from operations that are valid by construction.
pub(super) fn history<I, O>(ops: Vec<Operation<I, O>>) -> History<I, O> {
    match History::from_operations(ops) {
        Ok(h) => h,
        Err(e) => panic!("test history is invalid: {e}"),
    }
}

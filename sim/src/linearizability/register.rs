//! A compare-and-set register: the model of the Jepsen etcd histories.

use super::model::Model;

/// An operation on the register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    /// Read the value.
    Read,
    /// Set the value.
    Write(u64),
    /// Set the value to `to` if it is `from`.
    Cas { from: u64, to: u64 },
}

/// What a register operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    /// A read's value; `None` if the register was never written (nil).
    Read(Option<u64>),
    /// A write succeeded.
    Write,
    /// A compare-and-set: `true` if the comparison matched and the value was set, `false`
    /// if it did not match (and nothing changed).
    Cas(bool),
}

/// A single register, initially nil (`None`), with read, write and compare-and-set.
///
/// Semantics, with `s` the current value:
/// - `Read` returns `s` and keeps it.
/// - `Write(v)` always succeeds and sets `v`.
/// - `Cas { from, to }` succeeds iff `s == Some(from)` (so it fails on nil) and then sets
///   `to`; a failed cas leaves `s` unchanged.
///
/// An output of the wrong kind for the input (say `Write` for a read) is illegal. An
/// unknown output allows the single outcome the state determines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CasRegister;

impl Model for CasRegister {
    type State = Option<u64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Option<u64> {
        None
    }

    fn step(
        &self,
        state: &Option<u64>,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Vec<Option<u64>> {
        let (next, expected) = apply(*state, *input);
        match output {
            Some(out) if *out != expected => Vec::new(),
            _ => vec![next],
        }
    }

    /// Reads, and compare-and-sets known to have failed.
    fn is_read_only(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> bool {
        matches!(
            (input, output),
            (RegisterInput::Read, _)
                | (RegisterInput::Cas { .. }, Some(RegisterOutput::Cas(false)))
        )
    }
}

impl CasRegister {
    /// The register's transition function: the next state and the output it produces.
    pub fn apply(state: Option<u64>, input: RegisterInput) -> (Option<u64>, RegisterOutput) {
        apply(state, input)
    }
}

fn apply(state: Option<u64>, input: RegisterInput) -> (Option<u64>, RegisterOutput) {
    match input {
        RegisterInput::Read => (state, RegisterOutput::Read(state)),
        RegisterInput::Write(v) => (Some(v), RegisterOutput::Write),
        RegisterInput::Cas { from, to } if state == Some(from) => {
            (Some(to), RegisterOutput::Cas(true))
        }
        RegisterInput::Cas { .. } => (state, RegisterOutput::Cas(false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegisterInput::*;
    use RegisterOutput as Out;

    #[test]
    fn transitions() {
        // (state, input, output, successors)
        type Row = (
            Option<u64>,
            RegisterInput,
            Option<Out>,
            &'static [Option<u64>],
        );
        let table: &[Row] = &[
            (None, Read, Some(Out::Read(None)), &[None]),
            (None, Read, Some(Out::Read(Some(0))), &[]),
            (Some(3), Read, Some(Out::Read(Some(3))), &[Some(3)]),
            (Some(3), Read, Some(Out::Read(None)), &[]),
            (Some(3), Read, None, &[Some(3)]),
            (None, Write(4), Some(Out::Write), &[Some(4)]),
            (Some(1), Write(4), None, &[Some(4)]),
            (None, Cas { from: 0, to: 1 }, Some(Out::Cas(true)), &[]),
            (None, Cas { from: 0, to: 1 }, Some(Out::Cas(false)), &[None]),
            (
                Some(0),
                Cas { from: 0, to: 1 },
                Some(Out::Cas(true)),
                &[Some(1)],
            ),
            (Some(0), Cas { from: 0, to: 1 }, Some(Out::Cas(false)), &[]),
            (
                Some(2),
                Cas { from: 0, to: 1 },
                Some(Out::Cas(false)),
                &[Some(2)],
            ),
            (Some(0), Cas { from: 0, to: 1 }, None, &[Some(1)]),
            (Some(2), Cas { from: 0, to: 1 }, None, &[Some(2)]),
            // Mismatched kinds are illegal, never a panic.
            (Some(2), Read, Some(Out::Write), &[]),
            (Some(2), Write(1), Some(Out::Cas(true)), &[]),
        ];
        for (i, (state, input, output, want)) in table.iter().enumerate() {
            let got = CasRegister.step(state, input, output.as_ref());
            assert_eq!(
                got,
                want.to_vec(),
                "row {i}: {state:?} {input:?} {output:?}"
            );
        }
    }
}

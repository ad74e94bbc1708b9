//! The checker against the brute-force reference on random tiny histories (register and
//! log models), with pending operations, unknown outputs and ties in time; with and without
//! the read-only hint.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::brute::{brute_force_linearizable, prefix, sequence_explains};
use super::{history, op};
use crate::linearizability::{
    CasRegister, CheckResult, Checker, History, LogEntry, LogInput, LogOutput, LogState, Model,
    Operation, RaftLog, RegisterInput as In, RegisterOutput as Out,
};

/// A model without the read-only hint, to cross-check the search's reduction.
struct NoHints<M>(M);

impl<M: Model> Model for NoHints<M> {
    type State = M::State;
    type Input = M::Input;
    type Output = M::Output;
    fn init(&self) -> M::State {
        self.0.init()
    }
    fn step(&self, s: &M::State, i: &M::Input, o: Option<&M::Output>) -> Vec<M::State> {
        self.0.step(s, i, o)
    }
}

/// Random operation timing: `(call, ret)`, `ret` `None` for a pending operation.
fn timing(rng: &mut ChaCha8Rng) -> (u64, Option<u64>) {
    let call = rng.gen_range(0..8u64);
    let ret = call + rng.gen_range(0..5u64);
    (call, (!rng.gen_bool(0.3)).then_some(ret))
}

/// Linearizes `ops` at random points of their intervals (a pending operation may take
/// effect up to time 20, or never) and fills in the outputs that produces, choosing among
/// the legal outcomes with `outcome`; one returned operation in ten gets an unknown output.
fn fill_outputs<I: Clone, O, S>(
    rng: &mut ChaCha8Rng,
    ops: &mut [Operation<I, O>],
    mut state: S,
    mut outcome: impl FnMut(&mut ChaCha8Rng, &S, &I) -> (S, O),
) {
    let mut points = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let point = rng.gen_range(o.call..=o.ret.unwrap_or(20));
        if o.ret.is_some() || rng.gen_bool(0.5) {
            points.push((point, i)); // ties broken by id: a valid order too
        }
    }
    points.sort();
    for (_, i) in points {
        let (next, out) = outcome(rng, &state, &ops[i].input);
        state = next;
        if ops[i].ret.is_some() && !rng.gen_bool(0.1) {
            ops[i].output = Some(out);
        }
    }
}

fn random_register_history(rng: &mut ChaCha8Rng) -> History<In, Out> {
    let n = rng.gen_range(1..=6);
    let mut ops: Vec<_> = (0..n)
        .map(|i| {
            let input = match rng.gen_range(0..3) {
                0 => In::Read,
                1 => In::Write(rng.gen_range(0..3)),
                _ => In::Cas {
                    from: rng.gen_range(0..3),
                    to: rng.gen_range(0..3),
                },
            };
            let (call, ret) = timing(rng);
            op(i as u64, input, call, ret, None)
        })
        .collect();
    fill_outputs(rng, &mut ops, None, |_, s, i| CasRegister::apply(*s, *i));
    // Corrupt one output now and then.
    let i = rng.gen_range(0..n);
    if let (true, Some(out)) = (rng.gen_bool(0.4), ops[i].output.as_mut()) {
        *out = match *out {
            Out::Read(None) => Out::Read(Some(rng.gen_range(0..3))),
            Out::Read(Some(_)) if rng.gen_bool(0.5) => Out::Read(None),
            Out::Read(Some(x)) => Out::Read(Some((x + 1) % 3)),
            Out::Cas(ok) => Out::Cas(!ok),
            Out::Write => Out::Write,
        };
    }
    history(ops)
}

fn random_log_history(rng: &mut ChaCha8Rng) -> History<LogInput, LogOutput> {
    let n = rng.gen_range(1..=6);
    let mut ops: Vec<_> = (0..n)
        .map(|i| {
            let at = rng.gen_range(1..=4u64);
            let input = match rng.gen_range(0..7) {
                0 | 1 => LogInput::Append {
                    entries: (at..at + rng.gen_range(1..=2))
                        .map(|index| LogEntry {
                            index,
                            term: 1,
                            payload: rng.gen_range(0..2),
                        })
                        .collect(),
                },
                2 => LogInput::Read { index: at },
                3 => LogInput::ReadRange {
                    from: at,
                    to_exclusive: at + rng.gen_range(0..3),
                },
                4 => LogInput::LastIndex,
                5 => LogInput::Truncate { from: at },
                _ => LogInput::Purge { upto: at - 1 },
            };
            let (call, ret) = timing(rng);
            op(i as u64, input, call, ret, None)
        })
        .collect();
    fill_outputs(rng, &mut ops, LogState::default(), |rng, s, i| {
        let mut all = RaftLog::outcomes(s, i);
        let k = rng.gen_range(0..all.len());
        all.swap_remove(k)
    });
    // Corrupt one output now and then.
    let i = rng.gen_range(0..n);
    if let (true, Some(out)) = (rng.gen_bool(0.4), ops[i].output.as_mut()) {
        *out = match out {
            LogOutput::Ok => LogOutput::Err(crate::linearizability::LogError::NotContinuous),
            LogOutput::Err(_) => LogOutput::Ok,
            LogOutput::Entry(Some(_)) => LogOutput::Entry(None),
            LogOutput::Entry(None) => LogOutput::Entry(Some((1, 0))),
            LogOutput::Entries(v) if !v.is_empty() => LogOutput::Entries(v[1..].to_vec()),
            LogOutput::Entries(_) => LogOutput::Entries(vec![LogEntry {
                index: 1,
                term: 1,
                payload: 0,
            }]),
            LogOutput::LastIndex(i) => LogOutput::LastIndex(*i + 1),
        };
    }
    history(ops)
}

/// Checks `cases` histories from `gen` against brute force; returns (accepted, rejected).
fn cross_check<M: Model>(
    model: &M,
    seed: u64,
    cases: usize,
    mut gen: impl FnMut(&mut ChaCha8Rng) -> History<M::Input, M::Output>,
) -> (usize, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ok, mut bad) = (0, 0);
    for case in 0..cases {
        let h = gen(&mut rng);
        let want = brute_force_linearizable(model, &h);
        match Checker::new().check(model, &h).result {
            CheckResult::Linearizable { order } => {
                assert!(want, "case {case}: wrongly accepted\n{h}");
                assert!(
                    sequence_explains(model, h.ops(), &order),
                    "case {case}: bad witness {order:?}\n{h}"
                );
                ok += 1;
            }
            CheckResult::NotLinearizable { window } => {
                assert!(!want, "case {case}: wrongly rejected\n{h}\n{window}");
                assert!(window.minimal);
                // The window fails, and one event less does not.
                let cut = prefix(&h, window.events);
                assert!(!brute_force_linearizable(model, &cut), "case {case}\n{h}");
                let shorter = prefix(&h, window.events - 1);
                assert!(
                    brute_force_linearizable(model, &shorter),
                    "case {case}\n{h}"
                );
                bad += 1;
            }
            CheckResult::Unknown { .. } => panic!("case {case}: unknown without a budget"),
        }
    }
    (ok, bad)
}

#[test]
fn register_agrees_with_brute_force() {
    for (seed, hints) in [(1, true), (2, false)] {
        let (ok, bad) = if hints {
            cross_check(&CasRegister, seed, 3000, random_register_history)
        } else {
            cross_check(&NoHints(CasRegister), seed, 3000, random_register_history)
        };
        assert!(ok > 1000 && bad > 300, "hints {hints}: ok {ok}, bad {bad}");
    }
}

#[test]
fn log_agrees_with_brute_force() {
    for (seed, hints) in [(3, true), (4, false)] {
        let (ok, bad) = if hints {
            cross_check(&RaftLog, seed, 3000, random_log_history)
        } else {
            cross_check(&NoHints(RaftLog), seed, 3000, random_log_history)
        };
        assert!(ok > 1000 && bad > 300, "hints {hints}: ok {ok}, bad {bad}");
    }
}

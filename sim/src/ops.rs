//! The workload: operations as plain data, generated from the seed's workload stream.
//!
//! Parameters are relative to the log's state when the op runs (`back` from the last index,
//! `ahead` of it), so that any sub-sequence of a schedule is still a valid schedule: that is
//! what lets `shrink` delete operations freely. Each op prints as one line and parses back.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::scenario::Scenario;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Append `count` entries; `new_term` starts a higher term first.
    Append {
        count: u16,
        new_term: bool,
        payload_len: u16,
    },
    /// Conflict: remove `last - back ..` (never below the boundary); the next append uses a
    /// higher term, as a new leader's entries would.
    Truncate {
        back: u16,
    },
    /// Snapshot then purge up to `last + ahead` (past the end when `ahead > 0`).
    Purge {
        ahead: i32,
    },
    HardState {
        new_term: bool,
        vote: Option<u8>,
        commit_back: u16,
    },
    ReadOne {
        back: u16,
    },
    ReadRange {
        back: u16,
        count: u16,
        bytes: u32,
    },
    Flush,
    Tick {
        ms: u32,
    },
    /// Crash between two Fs calls.
    Crash,
    /// Arm a crash inside the `calls`-th Fs call from now.
    CrashInside {
        calls: u16,
    },
    /// Clean close and reopen.
    Reopen,
    /// Move sealed segments up to `durable_index - back` to the archive tier.
    Archive {
        back: u16,
    },
}

impl Op {
    pub fn is_crash(&self) -> bool {
        matches!(self, Op::Crash | Op::CrashInside { .. })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Append {
                count,
                new_term,
                payload_len,
            } => {
                write!(
                    f,
                    "append {count} {} {payload_len}",
                    if *new_term { "new-term" } else { "same-term" }
                )
            }
            Op::Truncate { back } => write!(f, "truncate {back}"),
            Op::Purge { ahead } => write!(f, "purge {ahead}"),
            Op::HardState {
                new_term,
                vote,
                commit_back,
            } => write!(
                f,
                "hard-state {} {} {commit_back}",
                if *new_term { "new-term" } else { "same-term" },
                vote.map_or("none".to_string(), |v| v.to_string())
            ),
            Op::ReadOne { back } => write!(f, "read {back}"),
            Op::ReadRange { back, count, bytes } => write!(f, "read-range {back} {count} {bytes}"),
            Op::Flush => write!(f, "flush"),
            Op::Tick { ms } => write!(f, "tick {ms}"),
            Op::Crash => write!(f, "crash"),
            Op::CrashInside { calls } => write!(f, "crash-inside {calls}"),
            Op::Reopen => write!(f, "reopen"),
            Op::Archive { back } => write!(f, "archive {back}"),
        }
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(line: &str) -> Result<Op, String> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<i64, String> {
            w.get(i)
                .ok_or(format!("`{line}`: missing field {i}"))?
                .parse()
                .map_err(|_| format!("`{line}`: field {i} is not a number"))
        };
        let term = |i: usize| match w.get(i) {
            Some(&"new-term") => Ok(true),
            Some(&"same-term") => Ok(false),
            _ => Err(format!("`{line}`: field {i} must be new-term or same-term")),
        };
        let op = match w.first().copied() {
            Some("append") => Op::Append {
                count: num(1)? as u16,
                new_term: term(2)?,
                payload_len: num(3)? as u16,
            },
            Some("truncate") => Op::Truncate {
                back: num(1)? as u16,
            },
            Some("purge") => Op::Purge {
                ahead: num(1)? as i32,
            },
            Some("hard-state") => Op::HardState {
                new_term: term(1)?,
                vote: match w.get(2) {
                    Some(&"none") => None,
                    _ => Some(num(2)? as u8),
                },
                commit_back: num(3)? as u16,
            },
            Some("read") => Op::ReadOne {
                back: num(1)? as u16,
            },
            Some("read-range") => Op::ReadRange {
                back: num(1)? as u16,
                count: num(2)? as u16,
                bytes: num(3)? as u32,
            },
            Some("flush") => Op::Flush,
            Some("tick") => Op::Tick { ms: num(1)? as u32 },
            Some("crash") => Op::Crash,
            Some("crash-inside") => Op::CrashInside {
                calls: num(1)? as u16,
            },
            Some("reopen") => Op::Reopen,
            Some("archive") => Op::Archive {
                back: num(1)? as u16,
            },
            _ => return Err(format!("`{line}`: unknown operation")),
        };
        Ok(op)
    }
}

/// Draws `scenario.ops` operations from the workload stream.
pub fn generate(scenario: &Scenario, rng: &mut ChaCha8Rng) -> Vec<Op> {
    let w = &scenario.spec.workload;
    let weights = weights(w);
    let total: u32 = weights.iter().sum();
    (0..scenario.spec.ops)
        .map(|_| {
            let mut pick = rng.gen_range(0..total);
            let mut kind = 0;
            while pick >= weights[kind] {
                pick -= weights[kind];
                kind += 1;
            }
            draw(kind, scenario, rng)
        })
        .collect()
}

/// The operations' weights, in the order [`draw`] numbers them.
fn weights(w: &crate::scenario::WorkloadSpec) -> [u32; 12] {
    [
        w.append,
        w.truncate,
        w.purge,
        w.hard_state,
        w.read_one,
        w.read_range,
        w.flush,
        w.tick,
        w.crash,
        w.crash_inside,
        w.reopen,
        w.archive,
    ]
}

/// Operation number `kind` with its parameters drawn from `rng`.
fn draw(kind: usize, scenario: &Scenario, rng: &mut ChaCha8Rng) -> Op {
    let w = &scenario.spec.workload;
    match kind {
        0 => Op::Append {
            count: rng.gen_range(1..=w.batch_max),
            new_term: rng.gen_bool(0.05),
            payload_len: if rng.gen_bool(0.1) {
                w.payload_max_bytes
            } else {
                rng.gen_range(0..=w.payload_max_bytes)
            },
        },
        1 => Op::Truncate {
            back: rng.gen_range(0..=2 * w.batch_max),
        },
        2 => Op::Purge {
            ahead: rng.gen_range(-(4 * w.batch_max as i32)..=2),
        },
        3 => Op::HardState {
            new_term: rng.gen_bool(0.3),
            vote: rng.gen_bool(0.8).then(|| rng.gen_range(0..5)),
            commit_back: rng.gen_range(0..=2 * w.batch_max),
        },
        4 => Op::ReadOne {
            back: rng.gen_range(0..=4 * w.batch_max),
        },
        5 => Op::ReadRange {
            back: rng.gen_range(0..=4 * w.batch_max),
            count: rng.gen_range(1..=3 * w.batch_max),
            bytes: rng.gen_range(1..=4 * w.payload_max_bytes as u32 + 1),
        },
        6 => Op::Flush,
        7 => Op::Tick {
            ms: rng.gen_range(1..=w.tick_max_ms.max(1)),
        },
        8 => Op::Crash,
        9 => Op::CrashInside {
            calls: rng.gen_range(1..=scenario.spec.crash.inside_calls_max.max(1)),
        },
        10 => Op::Reopen,
        // Only scenarios with an archive give it a weight: no other seed draws here.
        _ => Op::Archive {
            back: rng.gen_range(0..=4 * w.batch_max),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_prints_and_parses_back() {
        let ops = [
            Op::Append {
                count: 3,
                new_term: true,
                payload_len: 17,
            },
            Op::Truncate { back: 2 },
            Op::Purge { ahead: -5 },
            Op::HardState {
                new_term: false,
                vote: None,
                commit_back: 1,
            },
            Op::HardState {
                new_term: true,
                vote: Some(3),
                commit_back: 0,
            },
            Op::ReadOne { back: 4 },
            Op::ReadRange {
                back: 1,
                count: 2,
                bytes: 300,
            },
            Op::Flush,
            Op::Tick { ms: 9 },
            Op::Crash,
            Op::CrashInside { calls: 12 },
            Op::Reopen,
            Op::Archive { back: 7 },
        ];
        for op in ops {
            assert_eq!(op.to_string().parse::<Op>(), Ok(op.clone()), "{op}");
        }
        assert!("append x".parse::<Op>().is_err());
        assert!("fly 3".parse::<Op>().is_err());
    }
}

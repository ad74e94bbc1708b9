//! A parser for Jepsen's register histories (the etcd logs shipped with Porcupine).
//!
//! One event a line: `INFO  jepsen.util - <process> <type> <f> <value>`, fields separated
//! by tabs or spaces. Meaning:
//! - `:invoke :read nil`, `:invoke :write <n>`, `:invoke :cas [<from> <to>]`: a call.
//! - `:ok :read <n|nil>`, `:ok :write <n>`, `:ok :cas [<from> <to>]`: a return.
//! - `:fail :cas [..]`: a return; the comparison did not match, nothing changed.
//! - `:fail :read <anything>` (`:timed-out`): a return whose result is unknown.
//! - `:fail :write <anything>`: the write did not happen; it is left out of the history.
//! - any other type (`:info`, ...): not a return. The process's outstanding operation, if
//!   any, stays pending to the end of the history (indeterminate) and the process may
//!   invoke again.
//!
//! A process has at most one operation outstanding. Times are line numbers (1-based).
//! Blank lines are skipped; anything else that does not fit is a [`JepsenParseError`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::history::{History, Operation};
use super::register::{RegisterInput, RegisterOutput};

/// A parsed Jepsen register history.
pub type RegisterHistory = History<RegisterInput, RegisterOutput>;

/// What is wrong with a line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JepsenErrorKind {
    /// The line does not have the `INFO jepsen.util - <process> <type> <f> ...` shape.
    #[error("expected `INFO jepsen.util - <process> <type> <f> <value>`")]
    Malformed,
    /// The process is not a non-negative integer.
    #[error("bad process `{0}`")]
    BadProcess(String),
    /// The function is not `:read`, `:write` or `:cas`.
    #[error("unknown function `{0}`")]
    UnknownFunction(String),
    /// The value does not fit the function and type.
    #[error("bad value `{value}` for {kind} {f}")]
    BadValue {
        kind: String,
        f: String,
        value: String,
    },
    /// An invocation while the process's previous operation is outstanding.
    #[error("process {process} invokes while its operation from line {since} is outstanding")]
    AlreadyOutstanding { process: u64, since: usize },
    /// A return for a process with no outstanding operation.
    #[error("process {process} returns with no operation outstanding")]
    NothingOutstanding { process: u64 },
    /// A line about a different function than the process's outstanding operation.
    #[error("{f} does not match the operation invoked at line {since} ({input:?})")]
    Mismatch {
        f: String,
        since: usize,
        input: RegisterInput,
    },
    /// Too many operations for one history.
    #[error("too many operations")]
    TooManyOps,
}

/// A line of a Jepsen log that cannot be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct JepsenParseError {
    /// 1-based line number.
    pub line: usize,
    pub kind: JepsenErrorKind,
}

/// A Jepsen log that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum JepsenLoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: JepsenParseError,
    },
}

/// Reads and parses the Jepsen log at `path`.
pub fn load_jepsen_log(path: &Path) -> Result<RegisterHistory, JepsenLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| JepsenLoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_jepsen_log(&text).map_err(|source| JepsenLoadError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// An operation being built; `None` once dropped (a failed write).
type Slot = Option<Operation<RegisterInput, RegisterOutput>>;

/// Parses a Jepsen register log (see the module docs for the format).
pub fn parse_jepsen_log(text: &str) -> Result<RegisterHistory, JepsenParseError> {
    let mut slots: Vec<Slot> = Vec::new();
    // Process -> (slot, line of the invocation).
    let mut outstanding: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |kind| JepsenParseError { line, kind };
        let tokens: Vec<&str> = raw.split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        let [info, util, dash, process, kind, f, value @ ..] = tokens.as_slice() else {
            return Err(err(JepsenErrorKind::Malformed));
        };
        if (*info, *util, *dash) != ("INFO", "jepsen.util", "-") {
            return Err(err(JepsenErrorKind::Malformed));
        }
        let value = value.join(" ");
        let time = line as u64;
        let bad_value = || {
            err(JepsenErrorKind::BadValue {
                kind: kind.to_string(),
                f: f.to_string(),
                value: value.clone(),
            })
        };
        let is_event = matches!(*kind, ":invoke" | ":ok" | ":fail");
        let process = match process.parse::<u64>() {
            Ok(p) => p,
            // Non-numeric processes (the nemesis) only ever appear on other lines.
            Err(_) if !is_event => continue,
            Err(_) => return Err(err(JepsenErrorKind::BadProcess(process.to_string()))),
        };
        if *kind == ":invoke" {
            if let Some(&(_, since)) = outstanding.get(&process) {
                return Err(err(JepsenErrorKind::AlreadyOutstanding { process, since }));
            }
            let input = match *f {
                ":read" if value == "nil" => RegisterInput::Read,
                ":write" => RegisterInput::Write(parse_int(&value).ok_or_else(bad_value)?),
                ":cas" => {
                    let (from, to) = parse_pair(&value).ok_or_else(bad_value)?;
                    RegisterInput::Cas { from, to }
                }
                ":read" => return Err(bad_value()),
                other => return Err(err(JepsenErrorKind::UnknownFunction(other.to_string()))),
            };
            if slots.len() >= super::history::MAX_OPS {
                return Err(err(JepsenErrorKind::TooManyOps));
            }
            outstanding.insert(process, (slots.len(), line));
            slots.push(Some(Operation {
                client: process,
                input,
                call: time,
                ret: None,
                output: None,
            }));
            continue;
        }

        let Some(&(slot, since)) = outstanding.get(&process) else {
            if is_event {
                return Err(err(JepsenErrorKind::NothingOutstanding { process }));
            }
            continue; // an `:info` (or other) line about nothing outstanding: no effect
        };
        let Some(op) = slots.get_mut(slot).and_then(Option::as_mut) else {
            debug_assert!(false, "outstanding slots are live");
            continue;
        };
        let mismatch = || {
            err(JepsenErrorKind::Mismatch {
                f: f.to_string(),
                since,
                input: op.input,
            })
        };
        let same_f = matches!(
            (*f, op.input),
            (":read", RegisterInput::Read)
                | (":write", RegisterInput::Write(_))
                | (":cas", RegisterInput::Cas { .. })
        );
        if !same_f {
            return Err(mismatch());
        }
        outstanding.remove(&process);
        if !is_event {
            continue; // not a return: the operation stays pending
        }
        // The outcome: Some(output) for a return, None for a return with unknown
        // output, and `drop` for an operation that did not happen.
        let (output, drop) = match (*kind, op.input) {
            (":ok", RegisterInput::Read) => {
                let v = if value == "nil" {
                    None
                } else {
                    Some(parse_int(&value).ok_or_else(bad_value)?)
                };
                (Some(RegisterOutput::Read(v)), false)
            }
            (":ok", RegisterInput::Write(v)) => {
                if parse_int(&value) != Some(v) {
                    return Err(bad_value());
                }
                (Some(RegisterOutput::Write), false)
            }
            (_, RegisterInput::Cas { from, to }) => {
                if parse_pair(&value) != Some((from, to)) {
                    return Err(bad_value());
                }
                (Some(RegisterOutput::Cas(*kind == ":ok")), false)
            }
            (_, RegisterInput::Read) => (None, false), // `:fail :read`: unknown result
            (_, RegisterInput::Write(_)) => (None, true), // `:fail :write`: did not happen
        };
        if drop {
            slots[slot] = None;
        } else {
            op.ret = Some(time);
            op.output = output;
        }
    }
    History::from_operations(slots.into_iter().flatten()).map_err(|_| JepsenParseError {
        line: text.lines().count(),
        kind: JepsenErrorKind::TooManyOps,
    })
}

/// A non-negative integer.
fn parse_int(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// `[<a> <b>]`.
fn parse_pair(s: &str) -> Option<(u64, u64)> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    let mut it = inner.split_whitespace();
    let pair = (parse_int(it.next()?)?, parse_int(it.next()?)?);
    it.next().is_none().then_some(pair)
}

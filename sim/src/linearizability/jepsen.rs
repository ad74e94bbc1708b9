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

/// One event line's fields: `<process> <type> <f> <value>`.
struct Fields<'a> {
    line: usize,
    process: u64,
    kind: &'a str,
    f: &'a str,
    value: String,
}

impl Fields<'_> {
    fn err(&self, kind: JepsenErrorKind) -> JepsenParseError {
        JepsenParseError {
            line: self.line,
            kind,
        }
    }

    fn bad_value(&self) -> JepsenParseError {
        self.err(JepsenErrorKind::BadValue {
            kind: self.kind.to_string(),
            f: self.f.to_string(),
            value: self.value.clone(),
        })
    }

    /// `:invoke`, `:ok` or `:fail`: a line that starts or returns an operation.
    fn is_event(&self) -> bool {
        matches!(self.kind, ":invoke" | ":ok" | ":fail")
    }
}

/// The log read so far.
#[derive(Default)]
struct Parser {
    slots: Vec<Slot>,
    /// Process -> (slot, line of the invocation).
    outstanding: BTreeMap<u64, (usize, usize)>,
}

/// Parses a Jepsen register log (see the module docs for the format).
pub fn parse_jepsen_log(text: &str) -> Result<RegisterHistory, JepsenParseError> {
    let mut p = Parser::default();
    for (i, raw) in text.lines().enumerate() {
        if let Some(fields) = fields(i + 1, raw)? {
            p.event(fields)?;
        }
    }
    History::from_operations(p.slots.into_iter().flatten()).map_err(|_| JepsenParseError {
        line: text.lines().count(),
        kind: JepsenErrorKind::TooManyOps,
    })
}

/// The fields of line number `line`; `None` for a blank line or a line about a
/// non-numeric process (the nemesis) that is not an event.
fn fields(line: usize, raw: &str) -> Result<Option<Fields<'_>>, JepsenParseError> {
    let err = |kind| JepsenParseError { line, kind };
    let tokens: Vec<&str> = raw.split_whitespace().collect();
    if tokens.is_empty() {
        return Ok(None);
    }
    let [info, util, dash, process, kind, f, value @ ..] = tokens.as_slice() else {
        return Err(err(JepsenErrorKind::Malformed));
    };
    if (*info, *util, *dash) != ("INFO", "jepsen.util", "-") {
        return Err(err(JepsenErrorKind::Malformed));
    }
    let mut fields = Fields {
        line,
        process: 0,
        kind,
        f,
        value: value.join(" "),
    };
    match process.parse::<u64>() {
        Ok(p) => fields.process = p,
        // Non-numeric processes (the nemesis) only ever appear on other lines.
        Err(_) if !fields.is_event() => return Ok(None),
        Err(_) => return Err(err(JepsenErrorKind::BadProcess(process.to_string()))),
    }
    Ok(Some(fields))
}

impl Parser {
    fn event(&mut self, l: Fields<'_>) -> Result<(), JepsenParseError> {
        match l.kind {
            ":invoke" => self.invoke(l),
            _ => self.complete(l),
        }
    }

    fn invoke(&mut self, l: Fields<'_>) -> Result<(), JepsenParseError> {
        if let Some(&(_, since)) = self.outstanding.get(&l.process) {
            let process = l.process;
            return Err(l.err(JepsenErrorKind::AlreadyOutstanding { process, since }));
        }
        let input = match l.f {
            ":read" if l.value == "nil" => RegisterInput::Read,
            ":write" => RegisterInput::Write(parse_int(&l.value).ok_or_else(|| l.bad_value())?),
            ":cas" => {
                let (from, to) = parse_pair(&l.value).ok_or_else(|| l.bad_value())?;
                RegisterInput::Cas { from, to }
            }
            ":read" => return Err(l.bad_value()),
            other => return Err(l.err(JepsenErrorKind::UnknownFunction(other.to_string()))),
        };
        if self.slots.len() >= super::history::MAX_OPS {
            return Err(l.err(JepsenErrorKind::TooManyOps));
        }
        self.outstanding
            .insert(l.process, (self.slots.len(), l.line));
        self.slots.push(Some(Operation {
            client: l.process,
            input,
            call: l.line as u64,
            ret: None,
            output: None,
        }));
        Ok(())
    }

    /// A line about the process's outstanding operation: a return (`:ok`, `:fail`) or
    /// anything else, which leaves it pending to the end.
    fn complete(&mut self, l: Fields<'_>) -> Result<(), JepsenParseError> {
        let Some(&(slot, since)) = self.outstanding.get(&l.process) else {
            if l.is_event() {
                let process = l.process;
                return Err(l.err(JepsenErrorKind::NothingOutstanding { process }));
            }
            return Ok(()); // an `:info` (or other) line about nothing outstanding: no effect
        };
        let Some(op) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            debug_assert!(false, "outstanding slots are live");
            return Ok(());
        };
        let same_f = matches!(
            (l.f, op.input),
            (":read", RegisterInput::Read)
                | (":write", RegisterInput::Write(_))
                | (":cas", RegisterInput::Cas { .. })
        );
        if !same_f {
            let (f, input) = (l.f.to_string(), op.input);
            return Err(l.err(JepsenErrorKind::Mismatch { f, since, input }));
        }
        self.outstanding.remove(&l.process);
        if !l.is_event() {
            return Ok(()); // not a return: the operation stays pending
        }
        match outcome(&l, op.input)? {
            Some(output) => {
                op.ret = Some(l.line as u64);
                op.output = output;
            }
            None => self.slots[slot] = None,
        }
        Ok(())
    }
}

/// What a return line says of an operation with `input`: `Some(Some(output))` for a
/// return, `Some(None)` for a return with unknown output, `None` for an operation that did
/// not happen.
fn outcome(
    l: &Fields<'_>,
    input: RegisterInput,
) -> Result<Option<Option<RegisterOutput>>, JepsenParseError> {
    Ok(match (l.kind, input) {
        (":ok", RegisterInput::Read) => {
            let v = match l.value.as_str() {
                "nil" => None,
                v => Some(parse_int(v).ok_or_else(|| l.bad_value())?),
            };
            Some(Some(RegisterOutput::Read(v)))
        }
        (":ok", RegisterInput::Write(v)) => {
            if parse_int(&l.value) != Some(v) {
                return Err(l.bad_value());
            }
            Some(Some(RegisterOutput::Write))
        }
        (_, RegisterInput::Cas { from, to }) => {
            if parse_pair(&l.value) != Some((from, to)) {
                return Err(l.bad_value());
            }
            Some(Some(RegisterOutput::Cas(l.kind == ":ok")))
        }
        (_, RegisterInput::Read) => Some(None), // `:fail :read`: unknown result
        (_, RegisterInput::Write(_)) => None,   // `:fail :write`: did not happen
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

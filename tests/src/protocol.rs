//! The crashee's stdout: one line per event, written and flushed with a single `write` so a
//! SIGKILL can only cut off the line being written (a line without its `\n` is ignored).
//!
//! Lower-case lines are *intents*, written (and flushed) **before** the store is called:
//! they tell the checker every state the log may have passed through, including the
//! operation in flight when the kill landed. Upper-case lines are *acknowledgements*,
//! written only **after** the store reported the operation durable:
//!
//! | line | meaning |
//! | --- | --- |
//! | `S <first> <last> <last_term> <p_index> <p_term> <h_term> <h_vote> <h_commit>` | the state the crashee recovered at open (`-` for none) |
//! | `a <first> <last> <term>` | about to append entries `first..=last`, all of `term` |
//! | `t <from>` | about to truncate `from..` |
//! | `p <index> <term>` | about to purge up to `(term, index)` |
//! | `h <term> <vote> <commit>` | about to save this hard state |
//! | `D <index> <term>` | entry `(index, term)` is durable |
//! | `T <from>` | the truncation `t <from>` is durable |
//! | `P <index> <term>` | the purge `p <index> <term>` is durable |
//! | `H <term> <vote> <commit>` | `save_hard_state` returned Ok |
//! | `E <message>` | the store returned an error; the crashee exits with status 2 |
//!
//! What "durable" means per strategy is documented in the crashee (`src/bin/logbook-crashee.rs`).

use logbook::{HardState, LogId};

/// The state a store shows right after open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartLine {
    pub first_index: u64,
    pub last_index: u64,
    pub last_term: u64,
    pub last_purged: Option<LogId>,
    pub hard_state: HardState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Start(StartLine),
    Append { first: u64, last: u64, term: u64 },
    Truncate { from: u64 },
    Purge(LogId),
    HardState(HardState),
    AckEntry { index: u64, term: u64 },
    AckTruncate { from: u64 },
    AckPurge(LogId),
    AckHardState(HardState),
    Error(String),
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

fn hs_fields(hs: &HardState) -> String {
    format!("{} {} {}", hs.term, opt(hs.vote), hs.commit)
}

impl Line {
    /// The line, with its `\n`.
    pub fn render(&self) -> String {
        let body = match self {
            Line::Start(s) => format!(
                "S {} {} {} {} {} {}",
                s.first_index,
                s.last_index,
                s.last_term,
                opt(s.last_purged.map(|l| l.index)),
                opt(s.last_purged.map(|l| l.term)),
                hs_fields(&s.hard_state)
            ),
            Line::Append { first, last, term } => format!("a {first} {last} {term}"),
            Line::Truncate { from } => format!("t {from}"),
            Line::Purge(id) => format!("p {} {}", id.index, id.term),
            Line::HardState(hs) => format!("h {}", hs_fields(hs)),
            Line::AckEntry { index, term } => format!("D {index} {term}"),
            Line::AckTruncate { from } => format!("T {from}"),
            Line::AckPurge(id) => format!("P {} {}", id.index, id.term),
            Line::AckHardState(hs) => format!("H {}", hs_fields(hs)),
            Line::Error(msg) => format!("E {}", msg.replace('\n', " ")),
        };
        body + "\n"
    }

    pub fn parse(line: &str) -> Result<Line, String> {
        let bad = || format!("unparsable line {line:?}");
        let (tag, rest) = line.split_at(line.find(' ').unwrap_or(line.len()));
        let rest = rest.trim_start();
        if tag == "E" {
            return Ok(Line::Error(rest.to_string()));
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| -> Result<u64, String> {
            fields.get(i).and_then(|f| f.parse().ok()).ok_or_else(bad)
        };
        let opt_num = |i: usize| -> Result<Option<u64>, String> {
            match fields.get(i) {
                Some(&"-") => Ok(None),
                Some(f) => f.parse().map(Some).map_err(|_| bad()),
                None => Err(bad()),
            }
        };
        let hs = |i: usize| -> Result<HardState, String> {
            Ok(HardState {
                term: num(i)?,
                vote: opt_num(i + 1)?,
                commit: num(i + 2)?,
            })
        };
        let want = match tag {
            "S" => 8,
            "a" | "h" | "H" => 3,
            "p" | "D" | "P" => 2,
            "t" | "T" => 1,
            _ => return Err(bad()),
        };
        if fields.len() != want {
            return Err(bad());
        }
        Ok(match tag {
            "S" => Line::Start(StartLine {
                first_index: num(0)?,
                last_index: num(1)?,
                last_term: num(2)?,
                last_purged: match (opt_num(3)?, opt_num(4)?) {
                    (Some(index), Some(term)) => Some(LogId::new(term, index)),
                    (None, None) => None,
                    _ => return Err(bad()),
                },
                hard_state: hs(5)?,
            }),
            "a" => Line::Append {
                first: num(0)?,
                last: num(1)?,
                term: num(2)?,
            },
            "t" => Line::Truncate { from: num(0)? },
            "p" => Line::Purge(LogId::new(num(1)?, num(0)?)),
            "h" => Line::HardState(hs(0)?),
            "D" => Line::AckEntry {
                index: num(0)?,
                term: num(1)?,
            },
            "T" => Line::AckTruncate { from: num(0)? },
            "P" => Line::AckPurge(LogId::new(num(1)?, num(0)?)),
            "H" => Line::AckHardState(hs(0)?),
            _ => unreachable!("tags checked above"),
        })
    }
}

/// Parses everything a crashee printed. A last line without its `\n` was cut off by the
/// kill: it is dropped, which only loses an intent for an operation that never started or
/// an acknowledgement (never invents one).
pub fn parse_output(out: &[u8]) -> Result<Vec<Line>, String> {
    let text = std::str::from_utf8(out).map_err(|e| format!("output is not UTF-8: {e}"))?;
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return Ok(Vec::new()),
    };
    complete
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(Line::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_a_torn_last_line_is_dropped() {
        let lines = vec![
            Line::Start(StartLine {
                first_index: 11,
                last_index: 40,
                last_term: 3,
                last_purged: Some(LogId::new(2, 10)),
                hard_state: HardState {
                    term: 4,
                    vote: None,
                    commit: 9,
                },
            }),
            Line::Append {
                first: 41,
                last: 44,
                term: 4,
            },
            Line::Truncate { from: 42 },
            Line::Purge(LogId::new(4, 30)),
            Line::HardState(HardState {
                term: 5,
                vote: Some(2),
                commit: 30,
            }),
            Line::AckEntry { index: 41, term: 4 },
            Line::AckTruncate { from: 42 },
            Line::AckPurge(LogId::new(4, 30)),
            Line::AckHardState(HardState {
                term: 5,
                vote: Some(2),
                commit: 30,
            }),
            Line::Error("append: boom".into()),
        ];
        let mut out: String = lines.iter().map(Line::render).collect();
        assert_eq!(parse_output(out.as_bytes()).unwrap(), lines);
        out.push_str("D 45");
        assert_eq!(parse_output(out.as_bytes()).unwrap(), lines);
        assert!(parse_output(b"D 1\n").is_err());
        assert!(parse_output(b"X 1 2\n").is_err());
    }
}

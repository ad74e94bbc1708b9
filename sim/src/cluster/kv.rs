//! The replicated key-value state machine and the commands clients send through the log.

use std::collections::BTreeMap;

use crate::linearizability::{Kv, KvInput, KvOp, KvOutput};

/// A client's command as it travels through the log: who sent it (for the reply and for
/// deduplication of re-sent requests) and what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client that sent it.
    pub client: u64,
    /// The client's request number; a re-sent request keeps it.
    pub seq: u64,
    /// What it asks.
    pub input: KvInput,
}

impl Command {
    /// `client|seq|key|op|a|b`: values are made by the simulator and never hold `|`.
    pub fn encode(&self) -> Vec<u8> {
        let (op, a, b) = match &self.input.op {
            KvOp::Get => ("get", "", ""),
            KvOp::Put(v) => ("put", v.as_str(), ""),
            KvOp::Append(v) => ("append", v.as_str(), ""),
            KvOp::Cas { from, to } => ("cas", from.as_str(), to.as_str()),
        };
        format!(
            "{}|{}|{}|{op}|{a}|{b}",
            self.client, self.seq, self.input.key
        )
        .into_bytes()
    }

    /// The inverse of [`Command::encode`]; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Command> {
        let text = std::str::from_utf8(bytes).ok()?;
        let f: Vec<&str> = text.split('|').collect();
        let [client, seq, key, op, a, b] = f[..] else {
            return None;
        };
        let op = match op {
            "get" => KvOp::Get,
            "put" => KvOp::Put(a.into()),
            "append" => KvOp::Append(a.into()),
            "cas" => KvOp::Cas {
                from: a.into(),
                to: b.into(),
            },
            _ => return None,
        };
        Some(Command {
            client: client.parse().ok()?,
            seq: seq.parse().ok()?,
            input: KvInput {
                key: key.parse().ok()?,
                op,
            },
        })
    }
}

/// The store a node applies committed commands to, with one session per client so that a
/// request delivered twice (a duplicated message, a retry) takes effect once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StateMachine {
    values: BTreeMap<u64, String>,
    /// Per client: the last request applied and its output.
    sessions: BTreeMap<u64, (u64, KvOutput)>,
}

impl StateMachine {
    /// The value of `key` as applied so far ("" if never written).
    pub fn get(&self, key: u64) -> &str {
        self.values.get(&key).map_or("", String::as_str)
    }

    /// The state as snapshot data: `v|key|value` and `s|client|seq|output` lines.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        for (k, v) in &self.values {
            out.push_str(&format!("v|{k}|{v}\n"));
        }
        for (c, (seq, o)) in &self.sessions {
            let o = match o {
                KvOutput::Value(v) => format!("V{v}"),
                KvOutput::Ok => "O".into(),
                KvOutput::Cas(b) => format!("C{}", u8::from(*b)),
            };
            out.push_str(&format!("s|{c}|{seq}|{o}\n"));
        }
        out.into_bytes()
    }

    /// The inverse of [`StateMachine::encode`]; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<StateMachine> {
        let mut sm = StateMachine::default();
        for line in std::str::from_utf8(bytes).ok()?.lines() {
            let f: Vec<&str> = line.split('|').collect();
            match f[..] {
                ["v", k, v] => {
                    sm.values.insert(k.parse().ok()?, v.to_string());
                }
                ["s", c, seq, o] => {
                    let out = match o.split_at_checked(1)? {
                        ("V", v) => KvOutput::Value(v.to_string()),
                        ("O", "") => KvOutput::Ok,
                        ("C", b) => KvOutput::Cas(b == "1"),
                        _ => return None,
                    };
                    sm.sessions
                        .insert(c.parse().ok()?, (seq.parse().ok()?, out));
                }
                _ => return None,
            }
        }
        Some(sm)
    }

    /// Applies `cmd` (once per client request) and returns its output.
    pub fn apply(&mut self, cmd: &Command) -> KvOutput {
        if let Some((seq, out)) = self.sessions.get(&cmd.client) {
            if *seq >= cmd.seq {
                return out.clone();
            }
        }
        let value = self.values.get(&cmd.input.key).map_or("", String::as_str);
        let (next, out) = Kv::apply(value, &cmd.input.op);
        self.values.insert(cmd.input.key, next);
        self.sessions.insert(cmd.client, (cmd.seq, out.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_a_duplicate_applies_once() {
        let put = Command {
            client: 3,
            seq: 7,
            input: KvInput {
                key: 2,
                op: KvOp::Append("v3.7".into()),
            },
        };
        assert_eq!(Command::decode(&put.encode()), Some(put.clone()));
        assert_eq!(Command::decode(b"1|2|3|nop||"), None);
        let mut sm = StateMachine::default();
        assert_eq!(sm.apply(&put), KvOutput::Ok);
        assert_eq!(sm.apply(&put), KvOutput::Ok);
        let get = Command {
            client: 4,
            seq: 1,
            input: KvInput {
                key: 2,
                op: KvOp::Get,
            },
        };
        assert_eq!(sm.apply(&get), KvOutput::Value("v3.7".into()));
        assert_eq!(StateMachine::decode(&sm.encode()), Some(sm));
        assert_eq!(StateMachine::decode(b"x|1"), None);
    }
}

//! A key-value store: Get, Put, Append and compare-and-set on string values, the model of
//! the cluster simulation's clients (and of Porcupine's key-value histories).
//!
//! Keys are independent, so a history is best checked per key with
//! [`Checker::check_partitioned`](super::Checker::check_partitioned) and [`KvInput::key`].

use std::collections::BTreeMap;

use super::model::Model;

/// An operation on one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// Read the value ("" if never written).
    Get,
    /// Set the value.
    Put(String),
    /// Append to the value.
    Append(String),
    /// Set the value to `to` if it is `from`.
    Cas { from: String, to: String },
}

/// A client's request: an operation on a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KvInput {
    /// The key.
    pub key: u64,
    /// The operation.
    pub op: KvOp,
}

impl KvInput {
    /// The key, as a partition key for [`Checker::check_partitioned`](super::Checker::check_partitioned).
    pub fn key(&self) -> u64 {
        self.key
    }
}

/// What a request returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// A get's value.
    Value(String),
    /// A put or append succeeded.
    Ok,
    /// A compare-and-set: whether it matched (and set the value).
    Cas(bool),
}

/// The store: a map from key to value, every key initially "".
///
/// An output of the wrong kind for the input is illegal; an unknown output allows the one
/// outcome the state determines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kv;

impl Kv {
    /// The transition function on one value: the next value and the output.
    pub fn apply(value: &str, op: &KvOp) -> (String, KvOutput) {
        match op {
            KvOp::Get => (value.to_string(), KvOutput::Value(value.to_string())),
            KvOp::Put(v) => (v.clone(), KvOutput::Ok),
            KvOp::Append(v) => (format!("{value}{v}"), KvOutput::Ok),
            KvOp::Cas { from, to } if from == value => (to.clone(), KvOutput::Cas(true)),
            KvOp::Cas { .. } => (value.to_string(), KvOutput::Cas(false)),
        }
    }
}

impl Model for Kv {
    /// The non-empty values, by key.
    type State = BTreeMap<u64, String>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(
        &self,
        state: &Self::State,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Vec<Self::State> {
        let value = state.get(&input.key).map_or("", String::as_str);
        let (next, expected) = Kv::apply(value, &input.op);
        if output.is_some_and(|o| *o != expected) {
            return Vec::new();
        }
        let mut s = state.clone();
        if next.is_empty() {
            s.remove(&input.key);
        } else {
            s.insert(input.key, next);
        }
        vec![s]
    }

    fn is_read_only(&self, input: &KvInput, output: Option<&KvOutput>) -> bool {
        matches!(
            (&input.op, output),
            (KvOp::Get, _) | (KvOp::Cas { .. }, Some(KvOutput::Cas(false)))
        )
    }
}

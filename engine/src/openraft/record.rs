//! The payload of every logbook entry the adapter writes: one tag byte, then a bincode 1.3
//! body (fixed-width little-endian integers, no trailing bytes).
//!
//! | tag | record | body |
//! | --- | --- | --- |
//! | `1` | [`Record::Entry`]: one openraft entry | `C::Entry` |
//! | `2` | [`Record::Genesis`]: head of a log that starts at openraft index 0, nothing purged | empty |
//! | `3` | [`Record::Purged`]: head that stands for a purge boundary past the last entry | `LogId<u64>` |

use ::openraft::{ErrorSubject, ErrorVerb, LogId, RaftLogId, RaftTypeConfig};
use bincode::Options;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{message, EngineResultExt, Result};
use crate::store::Store;

const TAG_ENTRY: u8 = 1;
const TAG_GENESIS: u8 = 2;
const TAG_PURGED: u8 = 3;

/// A decoded payload.
#[derive(Debug)]
pub(super) enum Record<E> {
    Entry(E),
    Genesis,
    Purged(LogId<u64>),
}

impl<E: RaftLogId<u64>> Record<E> {
    /// The openraft log id this record stands for, if any (a genesis head has none).
    pub(super) fn log_id(&self) -> Option<LogId<u64>> {
        match self {
            Record::Entry(e) => Some(*e.get_log_id()),
            Record::Genesis => None,
            Record::Purged(id) => Some(*id),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Record::Entry(_) => "entry",
            Record::Genesis => "genesis head",
            Record::Purged(_) => "purge head",
        }
    }
}

fn opts() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
}

fn encode<T: Serialize>(tag: u8, body: Option<&T>) -> Result<Bytes> {
    let mut buf = vec![tag];
    if let Some(body) = body {
        opts()
            .serialize_into(&mut buf, body)
            .map_err(|e| message(ErrorSubject::Logs, ErrorVerb::Write, e))?;
    }
    Ok(Bytes::from(buf))
}

pub(super) fn encode_entry<E: Serialize>(entry: &E) -> Result<Bytes> {
    encode(TAG_ENTRY, Some(entry))
}

pub(super) fn encode_genesis() -> Bytes {
    Bytes::from_static(&[TAG_GENESIS])
}

pub(super) fn encode_purged(id: &LogId<u64>) -> Result<Bytes> {
    encode(TAG_PURGED, Some(id))
}

/// Decodes the payload of the logbook entry at `lb` (named in errors).
pub(super) fn decode<E: DeserializeOwned>(lb: u64, payload: &[u8]) -> Result<Record<E>> {
    let bad = |why: String| {
        message(
            ErrorSubject::LogIndex(lb),
            ErrorVerb::Read,
            format!("logbook entry {lb}: {why}"),
        )
    };
    let Some((&tag, body)) = payload.split_first() else {
        return Err(bad("empty payload".into()));
    };
    let limited = opts().with_limit(body.len() as u64);
    match tag {
        TAG_ENTRY => limited
            .deserialize(body)
            .map(Record::Entry)
            .map_err(|e| bad(format!("undecodable entry: {e}"))),
        TAG_GENESIS if body.is_empty() => Ok(Record::Genesis),
        TAG_PURGED => limited
            .deserialize(body)
            .map(Record::Purged)
            .map_err(|e| bad(format!("undecodable purge head: {e}"))),
        _ => Err(bad(format!("unknown record tag {tag}"))),
    }
}

/// Reads and decodes the logbook entry at `lb`, returning its logbook term too.
pub(super) fn read<C>(store: &Store, lb: u64) -> Result<(u64, Record<C::Entry>)>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    let entry = store
        .entry(lb)
        .or_storage(ErrorSubject::LogIndex(lb), ErrorVerb::Read)?
        .ok_or_else(|| {
            message(
                ErrorSubject::LogIndex(lb),
                ErrorVerb::Read,
                format!("logbook entry {lb} is missing"),
            )
        })?;
    Ok((entry.term, decode(lb, &entry.payload)?))
}

/// Reads the logbook entry at `lb`, which must hold an openraft entry, and returns its id.
pub(super) fn read_entry_id<C>(store: &Store, lb: u64) -> Result<LogId<u64>>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    match read::<C>(store, lb)?.1 {
        Record::Entry(e) => Ok(*e.get_log_id()),
        other => Err(message(
            ErrorSubject::LogIndex(lb),
            ErrorVerb::Read,
            format!(
                "logbook entry {lb} is a {}, expected an entry",
                other.kind()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::openraft::CommittedLeaderId;

    #[test]
    fn purged_head_round_trips_with_its_leader() {
        let id = LogId::new(CommittedLeaderId::new(7, 3), 42);
        let bytes = encode_purged(&id).unwrap();
        match decode::<LogId<u64>>(9, &bytes).unwrap() {
            Record::Purged(got) => assert_eq!(got, id),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<LogId<u64>>(1, &[]).is_err());
        assert!(decode::<LogId<u64>>(1, &[9, 1, 2]).is_err());
        assert!(decode::<LogId<u64>>(1, &[TAG_PURGED, 1]).is_err());
        assert!(decode::<LogId<u64>>(1, &[TAG_GENESIS, 0]).is_err());
        let mut huge = vec![TAG_ENTRY];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<Vec<u8>>(1, &huge).is_err());
    }
}

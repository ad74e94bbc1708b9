//! The bytes the raft-rs front writes.
//!
//! - **Entries**: each raft-rs `eraftpb::Entry` is one logbook [`Entry`] at the same index
//!   and term, whose payload is the whole protobuf encoding of the raft-rs entry (type, data,
//!   context and all). Decoding checks that the encoded index and term match logbook's: a
//!   mismatch is corruption, never a silently different entry.
//! - **State records** (the side log, see [`super::state`]): one tag byte `1`, the length of
//!   the `ConfState` encoding as a little-endian `u32`, the protobuf `ConfState`, then the
//!   protobuf `Snapshot` (metadata and data) of the latest snapshot, empty if none.

use bytes::Bytes;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry as RaftEntry, Snapshot};

use crate::types::Entry;

const TAG_STATE: u8 = 1;

/// Why bytes read back do not decode.
#[derive(Debug, thiserror::Error)]
#[error("raft-rs record at logbook index {index}: {reason}")]
pub struct DecodeError {
    /// The logbook index of the record.
    pub index: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Encodes a raft-rs entry as the logbook entry at the same index and term.
pub fn encode_entry(e: &RaftEntry) -> Result<Entry, protobuf::ProtobufError> {
    Ok(Entry::new(e.index, e.term, e.write_to_bytes()?))
}

/// Decodes a logbook entry written by [`encode_entry`].
pub fn decode_entry(e: &Entry) -> Result<RaftEntry, DecodeError> {
    let bad = |reason: String| DecodeError {
        index: e.index,
        reason,
    };
    let raft = RaftEntry::parse_from_bytes(&e.payload)
        .map_err(|err| bad(format!("undecodable entry: {err}")))?;
    if raft.index != e.index || raft.term != e.term {
        return Err(bad(format!(
            "holds raft-rs entry ({}, term {}) where ({}, term {}) belongs",
            raft.index, raft.term, e.index, e.term
        )));
    }
    Ok(raft)
}

/// The durable state beside the log: the current configuration and the latest snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateRecord {
    /// The configuration raft-rs starts from (`RaftState::conf_state`).
    pub conf_state: ConfState,
    /// The latest snapshot (metadata and application data); default if none was taken.
    pub snapshot: Snapshot,
}

/// Encodes a state record.
pub fn encode_state(r: &StateRecord) -> Result<Bytes, protobuf::ProtobufError> {
    let cs = r.conf_state.write_to_bytes()?;
    let snap = r.snapshot.write_to_bytes()?;
    let mut buf = Vec::with_capacity(5 + cs.len() + snap.len());
    buf.push(TAG_STATE);
    buf.extend_from_slice(&(cs.len() as u32).to_le_bytes());
    buf.extend_from_slice(&cs);
    buf.extend_from_slice(&snap);
    Ok(Bytes::from(buf))
}

/// Decodes a state record written by [`encode_state`]; `index` is named in errors.
pub fn decode_state(index: u64, bytes: &[u8]) -> Result<StateRecord, DecodeError> {
    let bad = |reason: String| DecodeError { index, reason };
    let Some((&tag, rest)) = bytes.split_first() else {
        return Err(bad("empty state record".into()));
    };
    if tag != TAG_STATE {
        return Err(bad(format!("unknown state record tag {tag}")));
    }
    if rest.len() < 4 {
        return Err(bad("state record shorter than its length field".into()));
    }
    let (len, rest) = rest.split_at(4);
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > rest.len() {
        return Err(bad(format!(
            "conf state of {len} bytes but only {} present",
            rest.len()
        )));
    }
    let (cs, snap) = rest.split_at(len);
    let conf_state =
        ConfState::parse_from_bytes(cs).map_err(|e| bad(format!("undecodable conf state: {e}")))?;
    let snapshot =
        Snapshot::parse_from_bytes(snap).map_err(|e| bad(format!("undecodable snapshot: {e}")))?;
    Ok(StateRecord {
        conf_state,
        snapshot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips_and_a_misplaced_one_is_refused() {
        let e = RaftEntry {
            index: 7,
            term: 3,
            data: b"put x".to_vec().into(),
            context: b"ctx".to_vec().into(),
            ..Default::default()
        };
        let lb = encode_entry(&e).unwrap();
        assert_eq!((lb.index, lb.term), (7, 3));
        assert_eq!(decode_entry(&lb).unwrap(), e);
        let moved = Entry::new(8, 3, lb.payload.clone());
        assert!(decode_entry(&moved).is_err());
        assert!(decode_entry(&Entry::new(7, 3, vec![0xff, 0xff, 0xff])).is_err());
    }

    #[test]
    fn state_round_trips_and_garbage_is_an_error() {
        let mut r = StateRecord {
            conf_state: ConfState {
                voters: vec![1, 2, 3],
                ..Default::default()
            },
            ..Default::default()
        };
        r.snapshot.mut_metadata().index = 9;
        r.snapshot.mut_metadata().term = 2;
        r.snapshot.data = b"kv".to_vec().into();
        let bytes = encode_state(&r).unwrap();
        assert_eq!(decode_state(1, &bytes).unwrap(), r);
        assert!(decode_state(1, &[]).is_err());
        assert!(decode_state(1, &[2, 0, 0, 0, 0]).is_err());
        assert!(decode_state(1, &[1, 0, 0]).is_err());
        assert!(decode_state(1, &[1, 0xff, 0xff, 0, 0, 1]).is_err());
    }
}

//! The active segment's checkpoint slots (`record/slot.rs`): before every fsync that makes
//! new bytes of the active segment durable, the next slot names them, in the same file, so
//! the same fsync covers it. An open then verifies only the last sync's bytes
//! (`recovery/fast.rs`).
//!
//! Invariants:
//! - No fsync of the active segment covers bytes that its newest slot does not name. A slot
//!   left behind by an fsync without one (a seal, a durable truncation) would let an open
//!   cut away durable bytes after it.
//! - An fsync of the segment follows every slot write before the next one: so a slot write
//!   only ever replaces the older of the two slots, and a crash that tears it leaves the
//!   newest durable slot intact.

use super::*;
use crate::record::slot::{self, Slot};

/// The last slot written to the active segment, or where the log stood when recovery
/// found it: the next slot names the bytes from `end` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// The highest slot sequence number in the segment's header.
    pub seq: u64,
    /// Everything before this offset is durable.
    pub end: u64,
    /// The index the log had reached at `end`.
    pub next_index: u64,
    /// The generation of the last batch before `end` (a lower bound; 0 with none).
    pub generation: u64,
}

/// What the log knows of the active segment's slots.
#[derive(Debug, Default)]
pub(super) struct Slots {
    /// The last slot written, or recovery's word; `None`: unknown (the next slot names the
    /// whole segment).
    pub last: Option<Checkpoint>,
    /// The canary `CheckpointAfterFsync`'s slot, held back until the next sync.
    pub late: Option<Slot>,
}

impl Checkpoint {
    /// The checkpoint of a segment just created at `first_index`: no slot, no batch.
    pub fn created(first_index: u64) -> Checkpoint {
        Checkpoint {
            seq: 0,
            end: SEGMENT_HEADER_LEN,
            next_index: first_index,
            generation: 0,
        }
    }
}

impl SegmentLog {
    /// Recovery's word on the tail's checkpoint (`None`: unknown, so the next slot names
    /// the whole segment).
    pub fn adopt_checkpoint(&mut self, cp: Option<Checkpoint>) {
        self.slots.last = cp;
    }

    /// Writes the active segment's next slot if bytes were added since the last one (the
    /// pending bytes already written out). Call before every fsync of the active segment,
    /// and only then: a slot written with no fsync after it could be followed by another
    /// before one, over the newest durable slot, and a crash could then tear that.
    pub(super) fn write_checkpoint(&mut self) -> Result<()> {
        debug_assert!(self.pending.is_empty(), "pending bytes are written first");
        let Some((&first, seg)) = self.segments.last_key_value() else {
            return Ok(());
        };
        let (len, path) = (seg.len_bytes, seg.path.clone());
        let cp = match self.slots.last {
            Some(cp) => cp,
            None => self.unknown_checkpoint(first)?,
        };
        if len <= cp.end {
            return Ok(());
        }
        let slot = Slot {
            seq: cp.seq + 1,
            sync_from: cp.end,
            from_index: cp.next_index,
            from_generation: cp.generation,
            end: len,
            next_index: self.next_index,
            generation: self.generation,
        };
        let fs = self.fs.clone();
        let file = self.segment_mut(first).file(&*fs)?;
        // The canary writes each slot one sync late: after the fsync it describes.
        let written = match self.canaries.on(Canary::CheckpointAfterFsync) {
            true => self.slots.late.replace(slot),
            false => Some(slot),
        };
        if let Some(w) = written {
            file.write_at(&slot::encode_slot(&w), slot::slot_at(w.seq))
                .map_err(|e| Error::io("write", &path, e))?;
        }
        self.slots.last = Some(Checkpoint {
            seq: slot.seq,
            end: len,
            next_index: slot.next_index,
            generation: slot.generation,
        });
        Ok(())
    }

    /// The checkpoint of an active segment whose slots this process has not followed
    /// (reactivated by a durable truncation, or a tolerant recovery's tail): its highest
    /// slot number, read from its header, and the segment's start.
    fn unknown_checkpoint(&mut self, first: u64) -> Result<Checkpoint> {
        let fs = self.fs.clone();
        let head = read_range(&*fs, self.segment_mut(first), 0, SEGMENT_HEADER_LEN)?;
        let seq = slot::decode_slots(&head).seq_max();
        Ok(Checkpoint {
            seq,
            ..Checkpoint::created(first)
        })
    }
}

//! The checkpoint slots of a segment header: where the last sync's data lies, so that an
//! open finds the end of the data without reading the preallocated space after it.
//!
//! ```text
//! slot (64 bytes): seq u64 | sync_from u64 | from_index u64 | from_generation u64
//!                  | end u64 | next_index u64 | generation u64 | crc u32 | pad u32
//! ```
//! Two slots follow the 32-byte header; slot `seq % 2` is written. Every fsync of the
//! active segment that makes new bytes durable writes the next slot first, into the same
//! file, so the one fsync makes both durable. A slot says: *the bytes `sync_from..end` are
//! what the sync that wrote this slot covers (batches that take the log from
//! `from_index`, `from_generation` to `next_index`, `generation`); everything before
//! `sync_from` was durable before it started.*
//!
//! So an open that finds the newest slot intact, and its range decoding whole to the state
//! it names, knows that the log reaches `end`. Nothing after `end` was ever durable: a sync
//! that completed after it would have written a newer slot (one writer, one sync at a time;
//! a damaged newer slot sends the open to the full scan). The open verifies only that range
//! and drops the rest: it reads O(the last sync's bytes), not O(segment size).
//!
//! A slot of all zeros was never written. Anything else that fails its checksum is torn or
//! damaged, and the open falls back to the full scan of `recovery/`.

/// Bytes in one slot.
pub const SLOT_LEN: usize = 64;
/// Where the first slot starts: right after the 32-byte segment header proper.
pub const SLOTS_AT: usize = 32;
/// The bytes the two slots take.
pub const SLOTS_LEN: usize = 2 * SLOT_LEN;

/// One checkpoint slot (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Counts the slots written to this segment; 0 is never written.
    pub seq: u64,
    /// Where the bytes this sync covers start.
    pub sync_from: u64,
    /// The index the log had reached at `sync_from`.
    pub from_index: u64,
    /// The generation of the last batch before `sync_from` (0 with none).
    pub from_generation: u64,
    /// Offset just past the last batch this sync covers.
    pub end: u64,
    /// The index the log reaches at `end`.
    pub next_index: u64,
    /// The generation of the last batch before `end`.
    pub generation: u64,
}

/// What the two slots of a header say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slots {
    /// Neither slot was ever written.
    Empty,
    /// The newest slot is intact and the other one intact or never written.
    Newest(Slot),
    /// A slot is torn or damaged: only the full scan can judge the segment. `seq_max` is
    /// the highest sequence number of an intact slot (0 with none).
    Damaged { seq_max: u64 },
}

impl Slots {
    /// The highest sequence number of an intact slot (0 with none): the next slot written
    /// to the segment takes a higher one.
    pub fn seq_max(self) -> u64 {
        match self {
            Slots::Empty => 0,
            Slots::Newest(s) => s.seq,
            Slots::Damaged { seq_max } => seq_max,
        }
    }
}

/// Offset of the slot that sequence number `seq` is written to.
pub fn slot_at(seq: u64) -> u64 {
    (SLOTS_AT + (seq % 2) as usize * SLOT_LEN) as u64
}

/// Encodes `slot` (its `seq` above 0).
pub fn encode_slot(slot: &Slot) -> [u8; SLOT_LEN] {
    debug_assert!(slot.seq > 0 && slot.sync_from < slot.end);
    let mut b = [0u8; SLOT_LEN];
    let fields = [
        slot.seq,
        slot.sync_from,
        slot.from_index,
        slot.from_generation,
        slot.end,
        slot.next_index,
        slot.generation,
    ];
    for (i, v) in fields.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&b[..56]);
    b[56..60].copy_from_slice(&crc.to_le_bytes());
    b
}

enum One {
    Zero,
    Intact(Slot),
    Damaged,
}

/// Decodes the slot at position `pos` (0 or 1): intact only with a sequence number that
/// belongs there.
fn decode_one(b: &[u8], pos: u64) -> One {
    if b.iter().all(|&x| x == 0) {
        return One::Zero;
    }
    super::note_checksummed(56);
    let crc = u32::from_le_bytes(b[56..60].try_into().expect("4 bytes"));
    if crc != crc32fast::hash(&b[..56]) {
        return One::Damaged;
    }
    let f = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let slot = Slot {
        seq: f(0),
        sync_from: f(1),
        from_index: f(2),
        from_generation: f(3),
        end: f(4),
        next_index: f(5),
        generation: f(6),
    };
    // A truncation in the range may leave `next_index` below `from_index`.
    let sane = slot.seq > 0
        && slot.seq % 2 == pos
        && slot.sync_from < slot.end
        && slot.from_generation <= slot.generation;
    match sane {
        true => One::Intact(slot),
        false => One::Damaged,
    }
}

/// Reads the two slots of a segment header (`head` holds at least the header and slots).
pub fn decode_slots(head: &[u8]) -> Slots {
    if head.len() < SLOTS_AT + SLOTS_LEN {
        return Slots::Damaged { seq_max: 0 };
    }
    let a = decode_one(&head[SLOTS_AT..SLOTS_AT + SLOT_LEN], 0);
    let b = decode_one(&head[SLOTS_AT + SLOT_LEN..SLOTS_AT + SLOTS_LEN], 1);
    match (a, b) {
        (One::Zero, One::Zero) => Slots::Empty,
        (One::Intact(s), One::Zero) | (One::Zero, One::Intact(s)) => Slots::Newest(s),
        (One::Intact(s), One::Intact(t)) => Slots::Newest(if s.seq > t.seq { s } else { t }),
        (One::Intact(s), _) | (_, One::Intact(s)) => Slots::Damaged { seq_max: s.seq },
        _ => Slots::Damaged { seq_max: 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(seq: u64) -> Slot {
        Slot {
            seq,
            sync_from: 160 + seq * 100,
            from_index: 10 * seq,
            from_generation: 1,
            end: 260 + seq * 100,
            next_index: 10 * seq + 5,
            generation: 2,
        }
    }

    /// A header with slot `a` at position 0 and `b` at position 1, each given as bytes.
    fn head(a: [u8; SLOT_LEN], b: [u8; SLOT_LEN]) -> Vec<u8> {
        let mut h = vec![0u8; SLOTS_AT + SLOTS_LEN];
        h[SLOTS_AT..SLOTS_AT + SLOT_LEN].copy_from_slice(&a);
        h[SLOTS_AT + SLOT_LEN..].copy_from_slice(&b);
        h
    }

    #[test]
    fn the_newest_intact_slot_wins_and_damage_is_never_trusted() {
        let zero = [0u8; SLOT_LEN];
        let mut torn = encode_slot(&slot(5));
        torn[20] ^= 1;
        // (slot 0, slot 1, what the header says)
        let cases: [([u8; SLOT_LEN], [u8; SLOT_LEN], Slots); 7] = [
            (zero, zero, Slots::Empty),
            (zero, encode_slot(&slot(1)), Slots::Newest(slot(1))),
            (
                encode_slot(&slot(2)),
                encode_slot(&slot(1)),
                Slots::Newest(slot(2)),
            ),
            (
                encode_slot(&slot(4)),
                encode_slot(&slot(5)),
                Slots::Newest(slot(5)),
            ),
            // Torn or rotted: only the full scan may judge the segment.
            (encode_slot(&slot(4)), torn, Slots::Damaged { seq_max: 4 }),
            // A slot at the position its number does not say (copied): damage.
            (encode_slot(&slot(3)), zero, Slots::Damaged { seq_max: 0 }),
            (torn, torn, Slots::Damaged { seq_max: 0 }),
        ];
        for (i, (a, b, want)) in cases.into_iter().enumerate() {
            assert_eq!(decode_slots(&head(a, b)), want, "case {i}");
        }
        assert_eq!(decode_slots(&[0u8; 40]), Slots::Damaged { seq_max: 0 });
        assert_eq!(slot_at(4), SLOTS_AT as u64);
        assert_eq!(slot_at(5), (SLOTS_AT + SLOT_LEN) as u64);
    }

    #[test]
    fn a_truncation_may_end_a_range_below_where_it_began() {
        let s = Slot {
            next_index: 3,
            ..slot(2)
        };
        assert_eq!(
            decode_slots(&head(encode_slot(&s), [0; SLOT_LEN])),
            Slots::Newest(s)
        );
    }
}

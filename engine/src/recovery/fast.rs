//! The open of the newest segment from its checkpoint (`record/slot.rs`): O(the last
//! sync's bytes), not O(segment size).
//!
//! When the newest slot is intact (and the other intact or never written), and the bytes
//! `sync_from..end` it names decode whole, in order, to the index and generation it names,
//! the log reaches `end`: everything before `sync_from` was durable before that sync
//! started, and the sync wrote the rest. Nothing after `end` was ever durable (a sync that
//! completed later would have written a newer slot), so the open drops it whatever it
//! holds: a torn tail, unsynced batches, or the preallocated zeros. It neither reads it nor
//! searches it for a proof of durability; `Plan::apply` cuts the file at `end` and
//! preallocates it again, so no stale byte past `end` can ever be read as a batch.
//!
//! Anything else (no slot, a damaged one, a range that does not verify, a range that
//! holds no entry or truncates below itself) gives `None`: the full scan of `judge.rs`
//! judges the segment by the rules of docs/DESIGN.md §1.
//!
//! A DiskFirst open reads the header and the range only; the segment's offset index is
//! partial (the entries before the range are indexed on their first read). A MemFirst open
//! reads and checks the segment up to `end`, and never the space after it.

use super::all_zero;
use super::judge::{Judge, Tail};
use crate::error::{Error, Result};
use crate::record::slot::{decode_slots, Slot, Slots};
use crate::record::{ENTRY_LEN_MIN, SEGMENT_HEADER_LEN};
use crate::scan::{scan, scan_from, Collect, Scan, Start};
use crate::segments::{check_header, read_range, Checkpoint, Header, Segment};

/// Bytes read past the checkpoint's end, to report whether the open drops a torn tail.
const PEEK_LEN: u64 = 4096;

/// The tail from the newest segment's checkpoint, and whether the bytes the open drops
/// after it look torn (not zeros); `None` for the full scan.
pub(super) fn fast_tail(
    seg: &mut Segment,
    load_all: bool,
    j: &Judge,
) -> Result<Option<(Tail, bool)>> {
    let file = seg.file(&*j.fs)?;
    let len = file.len().map_err(|e| Error::io("len", &seg.path, e))?;
    if len > j.len_max || len < SEGMENT_HEADER_LEN {
        return Ok(None);
    }
    let head = read_range(&*j.fs, seg, 0, SEGMENT_HEADER_LEN)?;
    if check_header(&head, seg)? != Header::Valid {
        return Ok(None);
    }
    let Slots::Newest(slot) = decode_slots(&head) else {
        return Ok(None);
    };
    if slot.end > len || slot.sync_from < SEGMENT_HEADER_LEN || slot.from_index < seg.first_index {
        return Ok(None);
    }
    let mut entries = Vec::new();
    let scanned = match load_all {
        true => Some(scan_whole(seg, j, &slot, &mut entries)?),
        false => scan_range(seg, j, &slot)?,
    };
    let Some(s) = scanned.filter(|s| agrees(s, &slot)) else {
        return Ok(None);
    };
    let peek = read_range(&*j.fs, seg, slot.end, (slot.end + PEEK_LEN).min(len))?;
    let torn = !all_zero(&peek);
    if torn {
        tracing::warn!(path = %seg.path.display(), offset = slot.end,
            "recovery drops the bytes after the last checkpoint: a torn tail");
    }
    let tail = Tail {
        first: seg.first_index,
        checkpoint: Checkpoint {
            seq: slot.seq,
            end: slot.end,
            next_index: slot.next_index,
            generation: slot.generation,
        },
        scan: s,
        entries,
        cut: len > slot.end,
        from_checkpoint: true,
    };
    Ok(Some((tail, torn)))
}

/// Whether a scan reached exactly the state the slot names, with no anomaly and an entry.
fn agrees(s: &Scan, slot: &Slot) -> bool {
    s.anomaly.is_none()
        && s.end == slot.end
        && s.next_index == slot.next_index
        && s.generation == slot.generation
        && !s.offsets.is_empty()
}

/// MemFirst: the segment read and scanned from its header up to the checkpoint's end,
/// collecting the entries above the boundary.
fn scan_whole(
    seg: &mut Segment,
    j: &Judge,
    slot: &Slot,
    entries: &mut Vec<crate::types::Entry>,
) -> Result<Scan> {
    let buf = read_range(&*j.fs, seg, 0, slot.end)?;
    let collect = Collect {
        buf: &buf,
        into: entries,
        above: j.boundary,
    };
    Ok(scan(
        &buf,
        Some(collect),
        seg.first_index,
        0,
        j.payload_max,
        j.skip_crc,
    ))
}

/// DiskFirst: the last sync's range only, its entries' offsets after a run of zeros for
/// the entries before it (a partial index: `SegmentLog::load_offsets`).
fn scan_range(seg: &mut Segment, j: &Judge, slot: &Slot) -> Result<Option<Scan>> {
    // Each entry before the range takes bytes there: bound the index before allocating it.
    let before = slot.from_index - seg.first_index;
    if before > (slot.sync_from - SEGMENT_HEADER_LEN) / ENTRY_LEN_MIN as u64 {
        return Ok(None);
    }
    let buf = read_range(&*j.fs, seg, slot.sync_from, slot.end)?;
    let start = Start {
        base: slot.sync_from,
        at: slot.sync_from,
        first_index: slot.from_index,
        prev_term: 0,
        generation: slot.from_generation,
    };
    let mut s = scan_from(&buf, None, start, j.payload_max, j.skip_crc);
    let mut offsets = vec![0; before as usize];
    offsets.append(&mut s.offsets);
    s.offsets = offsets;
    Ok(Some(s))
}

//! How recovery judges each file it reads (phase 1, reading only): the newest files down
//! to the tail (a torn segment creation, corruption, or the tail), the tail's end (a torn
//! tail or corruption), and the purge leftovers (nothing above the boundary in them). The
//! torn-tail-versus-corruption rules of docs/DESIGN.md §1 live here and nowhere else.

use std::path::Path;
use std::sync::Arc;

use super::all_zero;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::record::slot::decode_slots;
use crate::record::{self, SEGMENT_HEADER_LEN};
use crate::scan::{scan, Collect, Scan};
use crate::segments::{check_header, read_whole, Checkpoint, Header, SegmentLog};
use crate::types::Entry;

/// How recovery judges what it reads.
pub(super) struct Judge {
    pub fs: Arc<dyn Fs>,
    pub tolerant: bool,
    pub skip_crc: bool,
    pub payload_max: u32,
    pub len_max: u64,
    pub boundary: u64,
}

/// The last segment holding a valid record.
pub(super) struct Tail {
    pub first: u64,
    pub scan: Scan,
    /// With `load_all`: its entries above the boundary.
    pub entries: Vec<Entry>,
    /// Its data goes on past its last valid record: cut there (a torn tail, or tolerated
    /// corruption).
    pub cut: bool,
    /// Its checkpoint once the plan is applied.
    pub checkpoint: Checkpoint,
    /// Found from its checkpoint (`fast.rs`): the cut also preallocates the segment again.
    pub from_checkpoint: bool,
}

impl Tail {
    /// The tail the full scan `s` of its file `buf` found.
    fn scanned(first: u64, buf: &[u8], s: Scan, entries: Vec<Entry>, cut: bool) -> Tail {
        // The next slot outranks every intact one; the data up to `s.end` is durable once
        // the plan is applied (cut and fsynced).
        let checkpoint = Checkpoint {
            seq: decode_slots(buf).seq_max(),
            end: s.end,
            next_index: s.next_index,
            generation: s.generation,
        };
        Tail {
            first,
            scan: s,
            entries,
            cut,
            checkpoint,
            from_checkpoint: false,
        }
    }
}

/// What the classification found from the newest file down to the tail.
#[derive(Default)]
pub(super) struct Top {
    pub tail: Option<Tail>,
    /// Files above the tail, newest first, to remove.
    pub drop: Vec<u64>,
    /// The newest file, when its contents make it a torn segment creation: its name is
    /// checked against where the log continues once the tail is known.
    pub creation: Option<u64>,
    pub torn_cuts: u32,
}

/// The newest file, judged a torn creation by its contents, must be named where the log
/// continues: after the tail's last record, or, with no tail, at or below the boundary + 1
/// (after the boundary of the time, at or below today's).
pub(super) fn check_creation(
    segs: &SegmentLog,
    tail: &Option<Tail>,
    creation: Option<u64>,
    continues_min: u64,
    j: &Judge,
) -> Result<()> {
    let created_right = |c: u64| match tail {
        Some(t) => c == t.scan.next_index,
        None => c <= continues_min,
    };
    let Some(created) = creation.filter(|c| !created_right(*c) && !j.tolerant) else {
        return Ok(());
    };
    let expected = match tail {
        Some(t) => format!("continues at {}", t.scan.next_index),
        None => format!("is empty up to {}", j.boundary),
    };
    Err(Error::corruption(
        &segs.segment(created).path,
        0,
        format!(
            "a file named for index {created} above the log, which {expected}: not a \
             segment creation of this store"
        ),
    ))
}

/// Reads the files from the newest down to the tail, the last segment holding a valid
/// record, and judges each. Reads only.
pub(super) fn classify_top(
    segs: &mut SegmentLog,
    firsts: &[u64],
    read: super::Read,
    j: &Judge,
) -> Result<Top> {
    let load_all = read != super::Read::Lazily;
    let mut top = Top::default();
    for (pos, &first) in firsts.iter().rev().enumerate() {
        let seg = segs.segment_mut(first);
        if pos == 0 && !j.tolerant && read != super::Read::Everything {
            if let Some((tail, torn)) = super::fast::fast_tail(seg, load_all, j)? {
                top.torn_cuts += u32::from(torn);
                top.tail = Some(tail);
                return Ok(top);
            }
        }
        let buf = read_whole(&*j.fs, seg, j.len_max)?;
        let path = seg.path.clone();
        let mut entries = Vec::new();
        // Why the file holds nothing usable, and where a torn creation could have records.
        let (offset, reason, records_from) = match check_header(&buf, seg)? {
            Header::Names(named) => (
                0,
                format!("segment header names first index {named}, not the one its name says"),
                None,
            ),
            Header::Bad(reason) => (0, reason.to_string(), Some(0)),
            Header::Valid => {
                let collect = load_all.then_some(Collect {
                    buf: &buf,
                    into: &mut entries,
                    above: j.boundary,
                });
                let s = scan(&buf, collect, first, 0, j.payload_max, j.skip_crc);
                if !s.offsets.is_empty() {
                    // A file above this one means this one was sealed: no tear in it.
                    let cut = judge_tail_end(&buf, &s, &path, !top.drop.is_empty(), j)?;
                    top.torn_cuts += u32::from(cut);
                    top.tail = Some(Tail::scanned(first, &buf, s, entries, cut));
                    return Ok(top);
                }
                let (offset, why) = s.anomaly.unwrap_or((s.end, "segment holds no record"));
                (offset, why.into(), Some(SEGMENT_HEADER_LEN as usize))
            }
        };
        let unusable = Unusable {
            newest: pos == 0,
            first,
            offset,
            reason,
            records_from,
        };
        match unusable.damage(&buf, j) {
            None => {
                tracing::warn!(path = %path.display(), "recovery removes a torn segment creation");
                top.creation = Some(first);
            }
            Some((offset, reason)) if !j.tolerant => {
                return Err(Error::corruption(&path, offset, reason));
            }
            Some((offset, reason)) => {
                tracing::warn!(path = %path.display(), offset, %reason, "recovery drops a corrupt segment");
            }
        }
        top.torn_cuts += 1;
        top.drop.push(first);
    }
    Ok(top)
}

/// A file with nothing valid of its own, and why.
struct Unusable {
    /// It is the newest file.
    newest: bool,
    /// The first index its name says.
    first: u64,
    /// Where it goes wrong, and how.
    offset: u64,
    reason: String,
    /// Where records could start in it (`None`: its header names another index).
    records_from: Option<usize>,
}

impl Unusable {
    /// `None` if it is a torn segment creation; else the damage (offset and reason) that
    /// makes it corruption. Only the newest file can be a torn creation (each segment is
    /// sealed before the next is created), and a torn creation holds at most stray records
    /// of its own first batch, none of which proves anything durable.
    fn damage(self, buf: &[u8], j: &Judge) -> Option<(u64, String)> {
        let Unusable {
            newest,
            first,
            offset,
            reason,
            records_from,
        } = self;
        match (newest, records_from) {
            (true, Some(from)) => record::find_batch(buf, from, j.payload_max, false, |h, _| {
                h.first_index < first || h.durable_hint >= first
            })
            .map(|at| {
                (
                    offset,
                    format!(
                        "{reason}; the valid batch at {at} belongs to another segment or \
                         proves entries durable: not a torn segment creation"
                    ),
                )
            }),
            (true, None) => Some((offset, reason)),
            (false, _) => Some((
                offset,
                format!(
                    "{reason} in a segment that a later file follows: only the newest \
                     segment's creation can be torn"
                ),
            )),
        }
    }
}

/// Whether the tail must be cut where its valid records end: `Ok(true)` for a torn tail (or
/// tolerated corruption), an error for corruption. `sealed`: a later file exists, so the
/// tail was sealed and cannot be torn.
fn judge_tail_end(buf: &[u8], s: &Scan, path: &Path, sealed: bool, j: &Judge) -> Result<bool> {
    // Zeros from the end of the records to the end of the file are the space rotation
    // preallocated: the clean end of the data, not a tear.
    let Some((offset, reason)) = s
        .anomaly
        .filter(|(offset, _)| !all_zero(&buf[*offset as usize..]))
    else {
        return Ok(false);
    };
    let e = s.next_index;
    let proven = sealed
        || record::find_batch(buf, offset as usize + 1, j.payload_max, false, |h, _| {
            h.first_index >= e && h.durable_hint >= e
        })
        .is_some();
    if proven && !j.tolerant {
        return Err(Error::corruption(path, offset, reason));
    }
    tracing::warn!(path = %path.display(), offset, reason, proven,
        "recovery cuts a {} tail", if proven { "corrupt" } else { "torn" });
    Ok(true)
}

/// Makes sure that removing the purge leftovers `old` (judged by their successors' names)
/// loses nothing above the boundary: each is read whole, one at a time, and a valid header
/// for another index, live entries above the boundary (scanning its batches in order, a
/// truncation dropping what it replaces), or any valid batch above the boundary past where
/// that scan stops, is corruption. So a live segment renamed below the boundary, a real one
/// made to look like a leftover by a name placed after it, or a live batch copied into a
/// leftover, is refused, not deleted. Leftovers exist only after a crash inside a purge or
/// after a truncation below a purge's boundary: the reads are rare.
pub(super) fn verify_leftovers(segs: &mut SegmentLog, old: &[u64], j: &Judge) -> Result<()> {
    for &first in old {
        let seg = segs.segment_mut(first);
        let buf = read_whole(&*j.fs, seg, j.len_max)?;
        let path = &seg.path;
        let scanned_to = match check_header(&buf, seg)? {
            Header::Names(named) => {
                return Err(Error::corruption(
                    path,
                    0,
                    format!(
                        "segment header names first index {named}, in a file whose successor's \
                         name places it below the purge boundary"
                    ),
                ));
            }
            Header::Bad(_) => 0,
            Header::Valid => {
                let s = scan(&buf, None, first, 0, j.payload_max, j.skip_crc);
                let live_above = (s.next_index > j.boundary + 1).then(|| {
                    let k = (j.boundary + 1).saturating_sub(first) as usize;
                    s.offsets.get(k).copied().unwrap_or(SEGMENT_HEADER_LEN)
                });
                if let Some(at) = live_above {
                    return Err(above_boundary(path, at, j));
                }
                s.anomaly.map_or(buf.len(), |(at, _)| at as usize)
            }
        };
        if let Some(at) = record::find_batch(&buf, scanned_to, j.payload_max, false, |h, count| {
            // Its last entry, or where a truncation alone cuts.
            h.first_index + count.max(1) - 1 > j.boundary
        }) {
            return Err(above_boundary(path, at as u64, j));
        }
    }
    Ok(())
}

fn above_boundary(path: &Path, at: u64, j: &Judge) -> Error {
    Error::corruption(
        path,
        at,
        format!(
            "a valid batch above the purge boundary {}, in a file whose successor's name \
             places it below",
            j.boundary
        ),
    )
}

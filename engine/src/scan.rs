//! The pure batch scan of one segment buffer: the batches from the header on, in order, up
//! to the first that does not continue the log. No I/O and no judgement: recovery
//! (`recovery/judge.rs`) decides what an anomaly means; the preload, the segment reader and
//! the archive reader use the same scan.
//!
//! A batch continues the log when it starts at the index the scan has reached, or when it is
//! a truncation: it starts below that index (above the segment's first), with a generation
//! above every earlier batch's. A truncation drops the entries from its first index on, and
//! its own entries (if any) replace them.

use bytes::Bytes;

use crate::record::{self, BatchError, BatchRef, SEGMENT_HEADER_LEN};
use crate::types::Entry;

/// The entries found in one segment, up to the first anomaly.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// `offsets[i]`: where the batch holding entry `first + i` starts.
    pub offsets: Vec<u64>,
    pub next_index: u64,
    pub last_term: u64,
    /// The generation of the last valid batch (0 with none).
    pub generation: u64,
    /// Offset just past the last valid batch.
    pub end: u64,
    /// Offset and reason of the first batch that does not continue the log.
    pub anomaly: Option<(u64, &'static str)>,
}

/// Scans the batches of a segment buffer (header included, already checked), expecting
/// `first_index` first and terms that never decrease from `prev_term`.
pub(crate) fn scan_records(
    buf: &[u8],
    first_index: u64,
    prev_term: u64,
    payload_max: u32,
    skip_crc: bool,
) -> Scan {
    scan(buf, None, first_index, prev_term, payload_max, skip_crc)
}

/// Where [`scan`] puts the entries it finds: `into`, those above `above`, their payloads
/// slices of `buf` (no copy).
pub(crate) struct Collect<'a> {
    pub buf: &'a Bytes,
    pub into: &'a mut Vec<Entry>,
    pub above: u64,
}

/// Scans the batches of `buf` like [`scan_records`], collecting entries into `collect`.
pub(crate) fn scan(
    buf: &[u8],
    collect: Option<Collect<'_>>,
    first_index: u64,
    prev_term: u64,
    payload_max: u32,
    skip_crc: bool,
) -> Scan {
    let start = Start {
        base: 0,
        at: SEGMENT_HEADER_LEN,
        first_index,
        prev_term,
        generation: 0,
    };
    scan_from(buf, collect, start, payload_max, skip_crc)
}

/// Where a scan starts: `buf` holds the file's bytes from `base` on, and the batches start
/// at `at` (a file offset), where the log has reached `first_index` (the first index the
/// scan's offsets count from), after a batch of `generation`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    pub base: u64,
    pub at: u64,
    pub first_index: u64,
    pub prev_term: u64,
    pub generation: u64,
}

/// Scans the batches of the range of a segment that `buf` holds, from `start` (the last
/// sync's range, from its checkpoint slot: `record/slot.rs`). Offsets and `end` are file
/// offsets; a truncation reaching `start.first_index` or below is an anomaly, since the
/// entries before the range are not scanned.
pub(crate) fn scan_from(
    buf: &[u8],
    mut collect: Option<Collect<'_>>,
    start: Start,
    payload_max: u32,
    skip_crc: bool,
) -> Scan {
    let first_index = start.first_index;
    let mut s = Scan {
        next_index: first_index,
        last_term: start.prev_term,
        end: start.at,
        generation: start.generation,
        ..Scan::default()
    };
    debug_assert!(start.at >= start.base);
    let mut pos = (start.at - start.base) as usize;
    while pos < buf.len() {
        let batch = match record::decode_batch(&buf[pos..], payload_max, skip_crc) {
            Ok(b) => s
                .continues(buf, start.base, &b, first_index)
                .map(|before| (b, before)),
            Err(BatchError::Zeroed) => Err("zeros where a batch should start"),
            Err(BatchError::Incomplete) => Err("batch runs past the end of the segment"),
            Err(BatchError::Bad(reason)) => Err(reason),
        };
        let at = start.base + pos as u64;
        let (b, term_before_it) = match batch {
            Ok(found) => found,
            Err(reason) => {
                s.anomaly = Some((at, reason));
                break;
            }
        };
        let from = b.head.first_index;
        if from < s.next_index {
            // A truncation: what it drops goes, from the index and from the collection.
            s.offsets.truncate((from - first_index) as usize);
            if let Some(c) = collect.as_mut() {
                while c.into.last().is_some_and(|e| e.index >= from) {
                    c.into.pop();
                }
            }
            s.last_term = term_before_it;
        }
        for e in b.entries() {
            s.offsets.push(at);
            if let Some(c) = collect.as_mut().filter(|c| e.index > c.above) {
                let start = pos + e.payload_at;
                c.into.push(Entry {
                    index: e.index,
                    term: e.term,
                    payload: c.buf.slice(start..start + e.payload.len()),
                });
            }
        }
        if b.count > 0 {
            s.last_term = b.last_term;
        }
        s.next_index = b.end_index();
        s.generation = b.head.generation;
        pos += b.size();
        s.end = start.base + pos as u64;
    }
    s
}

impl Scan {
    /// Whether batch `b` continues the log scanned so far (see the module docs); if so,
    /// the term of the entry before its first.
    fn continues(
        &self,
        buf: &[u8],
        base: u64,
        b: &BatchRef<'_>,
        first_index: u64,
    ) -> Result<u64, &'static str> {
        let from = b.head.first_index;
        let before = if from > self.next_index {
            return Err("batch index out of sequence");
        } else if from == self.next_index {
            if b.head.generation < self.generation {
                return Err("batch of an older generation after a truncation");
            }
            if b.count == 0 {
                return Err("a truncation that removes nothing");
            }
            self.last_term
        } else {
            if from <= first_index {
                return Err("batch index out of sequence");
            }
            if b.head.generation <= self.generation {
                return Err("an earlier index without a newer generation: not a truncation");
            }
            term_before(buf, base, self, from, first_index)
        };
        if b.count > 0 && b.first_term < before {
            return Err("batch term decreases");
        }
        Ok(before)
    }
}

/// The term of entry `from - 1` (above the scan's first index, already scanned), read back
/// from its batch (`buf` holds the file from `base` on).
fn term_before(buf: &[u8], base: u64, s: &Scan, from: u64, first_index: u64) -> u64 {
    let at = (s.offsets[(from - 1 - first_index) as usize] - base) as usize;
    // The batch decoded once already: decoding it again cannot fail.
    record::decode_batch(&buf[at..], u32::MAX, true)
        .ok()
        .and_then(|b| b.entries().find(|e| e.index == from - 1))
        .map_or(s.last_term, |e| e.term)
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;

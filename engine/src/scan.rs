//! The pure record scan of one segment buffer: the records from the header on, in order,
//! up to the first that is not the expected next one. No I/O and no judgement: recovery
//! (`recovery/judge.rs`) decides what an anomaly means; the preload and the segment reader
//! use the same scan.

use bytes::Bytes;

use crate::record::{self, RecordError, SEGMENT_HEADER_LEN};
use crate::types::Entry;

/// The records found in one segment, up to the first anomaly.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub offsets: Vec<u64>,
    pub next_index: u64,
    pub last_term: u64,
    /// Offset just past the last good record.
    pub end: u64,
    /// Offset and reason of the first record that is not the expected next one.
    pub anomaly: Option<(u64, &'static str)>,
}

/// Scans the records of a segment buffer (header included, already checked), expecting
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

/// Scans the records of `buf` like [`scan_records`], collecting entries into `collect`.
pub(crate) fn scan(
    buf: &[u8],
    mut collect: Option<Collect<'_>>,
    first_index: u64,
    prev_term: u64,
    payload_max: u32,
    skip_crc: bool,
) -> Scan {
    let mut s = Scan {
        next_index: first_index,
        last_term: prev_term,
        end: SEGMENT_HEADER_LEN,
        ..Scan::default()
    };
    let mut pos = SEGMENT_HEADER_LEN as usize;
    while pos < buf.len() {
        let rec = match record::decode_record(&buf[pos..], payload_max, skip_crc) {
            Ok(rec) if rec.index != s.next_index => Err("record index out of sequence"),
            // The next index would not exist: no store reaches it, so no record holds it.
            Ok(rec) if rec.index == u64::MAX => Err("record index at the end of the index space"),
            Ok(rec) if rec.term < s.last_term => Err("record term decreases"),
            Ok(rec) => Ok(rec),
            Err(RecordError::Zeroed) => Err("zeros where a record should start"),
            Err(RecordError::Incomplete) => Err("record runs past the end of the segment"),
            Err(RecordError::Bad(reason)) => Err(reason),
        };
        match rec {
            Ok(rec) => {
                s.offsets.push(pos as u64);
                if let Some(c) = collect.as_mut().filter(|c| rec.index > c.above) {
                    let start = pos + rec.size - rec.payload.len();
                    c.into.push(Entry {
                        index: rec.index,
                        term: rec.term,
                        payload: c.buf.slice(start..start + rec.payload.len()),
                    });
                }
                s.next_index += 1;
                s.last_term = rec.term;
                pos += rec.size;
                s.end = pos as u64;
            }
            Err(reason) => {
                s.anomaly = Some((pos as u64, reason));
                break;
            }
        }
    }
    s
}

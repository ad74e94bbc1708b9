//! Opening a store's segments after a clean close or a crash.
//!
//! Recovery classifies what it finds (docs/DESIGN.md §1):
//! - a **torn tail**: a bad record (or zeros) in the last segment with no later record
//!   proving that it had been durable. It can only hold unacknowledged entries: it is cut,
//!   fsynced and logged.
//! - **corruption**: a bad record followed by a valid record whose `durable_hint` covers it,
//!   a bad record in any segment but the last, a gap or a decreasing term. It may hold
//!   acknowledged entries, so recovery fails with [`Error::Corruption`] naming the file and
//!   offset, unless [`RecoveryMode::TruncateCorrupt`] was chosen.
//!
//! Never: dropping a record that a later record proves durable; returning a record whose
//! checksum failed; allocating for a length before bounding it.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::canary::Canary;
use crate::config::{Config, RecoveryMode};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::record::{self, RecordError, RECORD_MAGIC, SEGMENT_HEADER_LEN};
use crate::segments::{check_header, parse_segment_name, read_whole, Segment, SegmentLog};
use crate::types::{Entry, LogId};

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

/// Whether a valid record after `from` proves that index `expected` had been durable.
fn proves_durable(buf: &[u8], from: usize, expected: u64, payload_max: u32) -> bool {
    let magic = RECORD_MAGIC.to_le_bytes();
    (from..buf.len().saturating_sub(record::RECORD_HEADER_LEN - 1)).any(|q| {
        buf[q..q + 4] == magic
            && matches!(record::decode_record(&buf[q..], payload_max, false),
                Ok(rec) if rec.index >= expected && rec.durable_hint >= expected)
    })
}

/// The segments of a store as recovery left them.
pub(crate) struct Recovered {
    pub segs: SegmentLog,
    /// The last entry on disk above the boundary, if any.
    pub last: Option<LogId>,
    /// With `load_all`: every entry above the boundary.
    pub entries: Option<VecDeque<Entry>>,
    /// Torn tails and torn segment creations that were cut.
    pub torn_cuts: u32,
}

pub(crate) fn recover(
    fs: Arc<dyn Fs>,
    dir: &Path,
    cfg: &Config,
    boundary: u64,
    load_all: bool,
) -> Result<Recovered> {
    let tolerant = cfg.recovery == RecoveryMode::TruncateCorrupt
        || cfg.canaries.on(Canary::SilentCorruptionCut);
    let skip_crc = cfg.canaries.on(Canary::SkipChecksum);
    let payload_max = cfg.payload_size_max_bytes;
    let mut map = BTreeMap::new();
    for name in fs.list(dir).map_err(|e| Error::io("list", dir, e))? {
        if let Some(first) = parse_segment_name(&name) {
            map.insert(first, Segment::new(first, dir.join(&name)));
        }
    }
    let mut segs = SegmentLog::new(fs.clone(), dir.to_path_buf(), cfg, map, boundary + 1);
    let len_max = segs.segment_len_max();
    // Segments wholly at or below the boundary are leftovers of a purge whose removal was
    // not yet durable; every one but the last can be judged by its successor's name.
    let firsts: Vec<u64> = segs.segments.keys().copied().collect();
    for pair in firsts.windows(2) {
        if pair[1] - 1 <= boundary {
            let seg = segs.segments.remove(&pair[0]).expect("listed");
            fs.remove(&seg.path)
                .map_err(|e| Error::io("remove", &seg.path, e))?;
        }
    }

    let mut torn_cuts = 0;
    let mut tail_may_be_torn = true;
    let mut last = None;
    let mut tail_entries = Vec::new();
    while let Some((&first, _)) = segs.segments.last_key_value() {
        let seg = segs.segments.get_mut(&first).expect("segment");
        let buf = read_whole(&*fs, seg, len_max)?;
        let header_problem = check_header(&buf, seg)?.err();
        let (anomaly, expected, scanned) = match header_problem {
            Some(reason) => (Some((0, reason)), first, None),
            None => {
                tail_entries.clear();
                let collect = load_all.then_some(Collect {
                    buf: &buf,
                    into: &mut tail_entries,
                    above: boundary,
                });
                let s = scan(&buf, collect, first, 0, payload_max, skip_crc);
                // Zeros from the end of the records to the end of the file are the space
                // rotation preallocated: the clean end of the data, not a tear.
                let anomaly = s
                    .anomaly
                    .filter(|(offset, _)| !all_zero(&buf[*offset as usize..]));
                (anomaly, s.next_index, Some(s))
            }
        };
        if let Some((offset, reason)) = anomaly {
            let proven = !tail_may_be_torn
                || proves_durable(&buf, offset as usize + 1, expected, payload_max);
            if proven && !tolerant {
                return Err(Error::corruption(&seg.path, offset, reason));
            }
            tracing::warn!(path = %seg.path.display(), offset, reason, proven,
                "recovery cuts a {} tail", if proven { "corrupt" } else { "torn" });
            torn_cuts += 1;
        }
        let scanned = scanned.filter(|s| !s.offsets.is_empty());
        let Some(s) = scanned else {
            // Nothing valid: a segment whose creation was torn. The previous segment was
            // fsynced before this one was created, so damage in it is corruption.
            let seg = segs.segments.remove(&first).expect("segment");
            fs.remove(&seg.path)
                .map_err(|e| Error::io("remove", &seg.path, e))?;
            segs_dir_sync(&*fs, dir)?;
            tail_may_be_torn = false;
            continue;
        };
        if anomaly.is_some() {
            let file = seg.file(&*fs)?;
            file.set_len(s.end)
                .map_err(|e| Error::io("set_len", &seg.path, e))?;
            file.sync_data()
                .map_err(|e| Error::io("sync_data", &seg.path, e))?;
        }
        seg.len_bytes = s.end;
        seg.offsets = Some(s.offsets);
        segs.next_index = s.next_index;
        last = Some(LogId::new(s.last_term, s.next_index - 1));
        break;
    }
    if segs.segments.is_empty() {
        segs.next_index = boundary + 1;
    }
    if let Some((&first, seg)) = segs.segments.first_key_value() {
        if first > boundary + 1 {
            return Err(Error::corruption(
                &seg.path,
                0,
                format!(
                    "entries {}..{} between the purge boundary and the first segment are missing",
                    boundary + 1,
                    first
                ),
            ));
        }
    }
    let entries = if load_all {
        Some(crate::preload::load_older(
            &mut segs,
            boundary,
            tail_entries,
            tolerant,
            cfg.preload_worker_min_bytes,
        )?)
    } else {
        None
    };
    segs.remove_upto(boundary)?;
    if last.is_some_and(|l| l.index <= boundary) {
        last = None;
    }
    // What recovery reports as durable must be durable, even after a reopen without a
    // crash: sync the tail and the directory.
    if let Some((_, seg)) = segs.segments.last_key_value() {
        let path = seg.path.clone();
        let (&first, _) = segs.segments.last_key_value().expect("segment");
        let file = segs.segments.get_mut(&first).expect("segment").file(&*fs)?;
        file.sync_data()
            .map_err(|e| Error::io("sync_data", &path, e))?;
    }
    segs_dir_sync(&*fs, dir)?;
    Ok(Recovered {
        segs,
        last,
        entries,
        torn_cuts,
    })
}

pub(crate) fn segs_dir_sync(fs: &dyn Fs, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| Error::io("sync_dir", dir, e))
}

/// Whether `buf` holds only zeros. Written to vectorize: a DiskFirst open checks the last
/// segment's preallocated tail with it, up to `segment_size_bytes`.
pub(crate) fn all_zero(buf: &[u8]) -> bool {
    buf.chunks(4096)
        .all(|c| c.iter().fold(0u8, |acc, b| acc | b) == 0)
}

/// Tolerant recovery: keeps segment `first` up to `end` and removes every later segment.
pub(crate) fn cut_after(
    segs: &mut SegmentLog,
    first: u64,
    end: u64,
    next_index: u64,
) -> Result<()> {
    let later: Vec<u64> = segs.segments.range(first + 1..).map(|(k, _)| *k).collect();
    for k in later {
        let seg = segs.segments.remove(&k).expect("listed");
        segs.fs
            .remove(&seg.path)
            .map_err(|e| Error::io("remove", &seg.path, e))?;
    }
    let fs = segs.fs.clone();
    let seg = segs.segments.get_mut(&first).expect("segment");
    let file = seg.file(&*fs)?;
    file.set_len(end)
        .map_err(|e| Error::io("set_len", &seg.path, e))?;
    file.sync_data()
        .map_err(|e| Error::io("sync_data", &seg.path, e))?;
    seg.len_bytes = end;
    seg.offsets = None;
    segs.next_index = next_index;
    Ok(())
}

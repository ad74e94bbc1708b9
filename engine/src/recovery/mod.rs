//! Opening a store's segments after a clean close, a crash, or damage by hand.
//!
//! Recovery (docs/DESIGN.md §1) works in two phases:
//! 1. **Classify**, reading only: list the directory; set apart the purge leftovers by their
//!    successors' names; in the live run of segments above them, read the newest files down
//!    to the last segment that holds a valid record (the *tail*) and judge every file above
//!    it; verify the leftovers; and (MemFirst) read and check every other segment. The result
//!    is a verdict and a plan.
//! 2. **Apply** the plan, only if the verdict is `Ok` (or [`RecoveryMode::TruncateCorrupt`]
//!    chose to cut): make both metadata slots hold the boundary the plan relies on, remove
//!    the files above the log (each removal durable, newest first), cut the tail, remove the
//!    purge leftovers (oldest first), fsync the tail and the directory.
//!
//! So a strict open that fails leaves every name and byte as it found them: an operator can
//! repair by hand. And what an open removes is provably an interrupted operation of the
//! engine's own:
//! - a **torn tail**: a bad record (or zeros) in the last segment with no later record
//!   proving that it had been durable. It can only hold unacknowledged entries: it is cut,
//!   fsynced and logged.
//! - a **torn segment creation**: the newest file, named for the index after the tail's last
//!   record, or, with no tail, at or below the boundary + 1 (a run of segments starts there
//!   after a purge of every segment), holding no valid record of its own, no record of
//!   another index and none that proves anything durable (an empty file, a torn or zero
//!   header, stray sectors of its first batch). Removed.
//! - a **purge leftover**: a file wholly at or below the durable purge boundary, judged by
//!   its successor's name, and (strict) only if, read whole, it holds no valid record above
//!   the boundary and no header for another index. Removed.
//!
//! Anything else is **corruption**: a bad record that a later record's `durable_hint` covers,
//! damage in any segment but the last, a file with a valid header for an index its name does
//! not say (renamed, copied, swapped), a file above the log that is not the creation of the
//! next segment, a gap or a decreasing term. It may hold acknowledged entries, so recovery
//! fails with [`Error::Corruption`] naming the file and offset, unless
//! [`RecoveryMode::TruncateCorrupt`] was chosen.
//!
//! Never: deleting or cutting anything before the whole verdict is in; dropping a record that
//! a later record proves durable; returning a record whose checksum failed; allocating for a
//! length before bounding it by the bytes present; scanning in more than linear time.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::canary::Canary;
use crate::config::{Config, RecoveryMode};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::meta::{MetaBody, MetaFile, MetaOpen};
use crate::preload::Cut;
use crate::record::{self, RecordError, SEGMENT_HEADER_LEN};
use crate::segments::{check_header, parse_segment_name, read_whole, Header, Segment, SegmentLog};
use crate::types::{Entry, LogId};

mod plan;
pub(crate) use plan::Plan;

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

/// How recovery judges what it reads.
struct Judge {
    fs: Arc<dyn Fs>,
    tolerant: bool,
    skip_crc: bool,
    payload_max: u32,
    len_max: u64,
    boundary: u64,
}

/// The last segment holding a valid record.
struct Tail {
    first: u64,
    scan: Scan,
    /// With `load_all`: its entries above the boundary.
    entries: Vec<Entry>,
    /// Its data goes on past its last valid record: cut there (a torn tail, or tolerated
    /// corruption).
    cut: bool,
}

/// What the classification found from the newest file down to the tail.
struct Top {
    tail: Option<Tail>,
    /// Files above the tail, newest first, to remove.
    drop: Vec<u64>,
    /// The newest file, when its contents make it a torn segment creation: its name is
    /// checked against where the log continues once the tail is known.
    creation: Option<u64>,
    torn_cuts: u32,
}

/// Recovers the segments of `dir` (see the module docs) under the metadata `meta` (its
/// boundary, and with [`Config::commit_check`] its commit): [`classify`], then
/// [`Plan::apply`].
pub(crate) fn recover(
    fs: Arc<dyn Fs>,
    dir: &Path,
    cfg: &Config,
    meta: &mut MetaFile,
    load_all: bool,
) -> Result<Recovered> {
    classify(fs, dir, cfg, &meta.body, load_all)?.apply(meta)
}

/// Reads the metadata of the store in `dir` for an open: `None` for a directory with no
/// store yet (no `meta`, or one whose creation never finished, and no segment file); a
/// `meta` missing or empty beside segment files is corruption (creating a new one would
/// forget the vote).
pub(crate) fn open_meta(fs: &dyn Fs, dir: &Path) -> Result<Option<MetaFile>> {
    match MetaFile::open(fs, dir)? {
        MetaOpen::Found(m) => Ok(Some(m)),
        MetaOpen::Fresh => {
            let names = fs.list(dir).map_err(|e| Error::io("list", dir, e))?;
            match names.iter().find(|n| parse_segment_name(n).is_some()) {
                Some(seg) => Err(Error::corruption(
                    dir.join(crate::meta::META_FILE),
                    0,
                    format!("metadata missing but segment {seg} exists"),
                )),
                None => Ok(None),
            }
        }
    }
}

/// Phase 1 of recovery (see the module docs): classifies the directory under the metadata
/// `meta`, reading only, and returns the plan, or the corruption that a strict recovery
/// refuses. With `load_all` every segment is read and checked, and the entries collected.
pub(crate) fn classify(
    fs: Arc<dyn Fs>,
    dir: &Path,
    cfg: &Config,
    meta: &MetaBody,
    load_all: bool,
) -> Result<Plan> {
    let boundary = meta.last_purged.map_or(0, |l| l.index);
    let commit = cfg.commit_check.then_some(meta.hard_state.commit);
    let mut map = BTreeMap::new();
    for name in fs.list(dir).map_err(|e| Error::io("list", dir, e))? {
        if let Some(first) = parse_segment_name(&name) {
            map.insert(first, Segment::new(first, dir.join(&name)));
        }
    }
    let continues_min = boundary.saturating_add(1);
    let mut segs = SegmentLog::new(fs.clone(), dir.to_path_buf(), cfg, map, continues_min);
    let j = Judge {
        fs,
        tolerant: cfg.recovery == RecoveryMode::TruncateCorrupt
            || cfg.canaries.on(Canary::SilentCorruptionCut),
        skip_crc: cfg.canaries.on(Canary::SkipChecksum),
        payload_max: cfg.payload_size_max_bytes,
        len_max: segs.segment_len_max(),
        boundary,
    };
    let firsts: Vec<u64> = segs.segments.keys().copied().collect();

    // Nothing here changes the directory.
    // Purge leftovers, by name: every file but the newest whose successor starts at or below
    // the boundary + 1. After them comes the live run of segments, each sealed before the
    // next was created (a purge of every segment ends a run: the next creation seals
    // nothing, and the files of older runs are all leftovers).
    let leftovers = firsts
        .windows(2)
        .take_while(|w| w[1] - 1 <= boundary)
        .count();
    let (old, live) = firsts.split_at(leftovers);
    let top = classify_top(&mut segs, live, load_all, &j)?;
    let below = match &top.tail {
        Some(t) => &live[..live.partition_point(|f| *f < t.first)],
        None => &live[..0],
    };
    check_creation(&segs, &top.tail, top.creation, continues_min, &j)?;
    if !j.tolerant {
        verify_leftovers(&mut segs, old, &j)?;
    }
    let tail_first = top.tail.as_ref().map(|t| t.first);
    if let Some(&first) = below.first().or(tail_first.as_ref()) {
        if first > continues_min {
            return Err(Error::corruption(
                &segs.segments[&first].path,
                0,
                format!(
                    "entries {continues_min}..{first} between the purge boundary and the first \
                     segment are missing"
                ),
            ));
        }
    }
    let mut plan = Plan {
        segs,
        boundary,
        continues_min,
        drop: top.drop,
        cut: None,
        tail_state: None,
        ends_before: None,
        last: None,
        entries: None,
        torn_cuts: top.torn_cuts,
    };
    let mut tail_entries = Vec::new();
    if let Some(t) = top.tail {
        if t.cut {
            plan.cut = Some((t.first, t.scan.end));
        }
        plan.last = Some(LogId::new(t.scan.last_term, t.scan.next_index - 1));
        tail_entries = t.entries;
        plan.tail_state = Some((t.first, t.scan));
    }
    if load_all {
        let order: Vec<u64> = below.iter().copied().chain(tail_first).collect();
        load_older(&mut plan, &order, tail_entries, &j, cfg)?;
    }
    if let Some(commit) = commit {
        let end = plan.last.map_or(boundary, |l| l.index.max(boundary));
        if commit > end {
            let path = dir.join(crate::meta::META_FILE);
            let reason = format!(
                "the log ends at {end}, below the saved commit {commit}: committed entries \
                 are missing"
            );
            if !j.tolerant {
                return Err(Error::corruption(path, 0, reason));
            }
            tracing::warn!(path = %path.display(), %reason, "recovery opens a log that lost committed entries");
        }
    }
    // A tail wholly at or below the boundary goes with the purge leftovers.
    if plan.last.is_some_and(|l| l.index <= boundary) {
        plan.last = None;
    }
    Ok(plan)
}

/// With `load_all`: reads and checks the segments of `order` (the live run up to the tail,
/// whose entries are `tail_entries`), collects their entries into the plan, and folds a
/// tolerated corruption among them into it: the log then ends at the first bad record.
fn load_older(
    plan: &mut Plan,
    order: &[u64],
    tail_entries: Vec<Entry>,
    j: &Judge,
    cfg: &Config,
) -> Result<()> {
    let pre = crate::preload::load_older(
        &mut plan.segs,
        order,
        plan.boundary,
        tail_entries,
        j.tolerant,
        cfg.preload_worker_min_bytes,
    )?;
    if let Some(Cut {
        first,
        end,
        next_index,
    }) = pre.cut
    {
        // Tolerated corruption below the tail: the log ends in segment `first`, or just
        // before it if it holds nothing valid.
        let keep = next_index > first;
        let from = order.partition_point(|f| *f < first) + usize::from(keep);
        plan.drop.extend(order[from..].iter().rev());
        plan.cut = keep.then_some((first, end));
        plan.tail_state = keep.then(|| {
            let s = Scan {
                next_index,
                end,
                ..Scan::default()
            };
            (first, s)
        });
        plan.ends_before = Some(first);
    }
    plan.last = pre.entries.back().map(Entry::log_id);
    plan.entries = Some(pre.entries);
    Ok(())
}

/// The newest file, judged a torn creation by its contents, must be named where the log
/// continues: after the tail's last record, or, with no tail, at or below the boundary + 1
/// (after the boundary of the time, at or below today's).
fn check_creation(
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
        &segs.segments[&created].path,
        0,
        format!(
            "a file named for index {created} above the log, which {expected}: not a \
             segment creation of this store"
        ),
    ))
}

/// Reads the files from the newest down to the tail, the last segment holding a valid
/// record, and judges each. Reads only.
fn classify_top(segs: &mut SegmentLog, firsts: &[u64], load_all: bool, j: &Judge) -> Result<Top> {
    let mut top = Top {
        tail: None,
        drop: Vec::new(),
        creation: None,
        torn_cuts: 0,
    };
    for (pos, &first) in firsts.iter().rev().enumerate() {
        let seg = segs.segments.get_mut(&first).expect("listed");
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
                    top.tail = Some(Tail {
                        first,
                        scan: s,
                        entries,
                        cut,
                    });
                    return Ok(top);
                }
                let (offset, reason) = s.anomaly.unwrap_or((s.end, "segment holds no record"));
                (
                    offset,
                    reason.to_string(),
                    Some(SEGMENT_HEADER_LEN as usize),
                )
            }
        };
        // Nothing valid of its own. Only the newest file can be a torn creation (each
        // segment is sealed before the next is created), and a torn creation holds at most
        // stray records of its own first batch, none of which proves anything durable.
        let damage = match (pos, records_from) {
            (0, Some(from)) => record::find_record(&buf, from, j.payload_max, false, |i, h| {
                i < first || h >= first
            })
            .map(|at| {
                (
                    offset,
                    format!(
                        "{reason}; the valid record at {at} belongs to another segment or \
                         proves entries durable: not a torn segment creation"
                    ),
                )
            }),
            (0, None) => Some((offset, reason)),
            _ => Some((
                offset,
                format!(
                    "{reason} in a segment that a later file follows: only the newest \
                     segment's creation can be torn"
                ),
            )),
        };
        match damage {
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
        || record::find_record(buf, offset as usize + 1, j.payload_max, false, |i, h| {
            i >= e && h >= e
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
/// for another index, or any valid record above the boundary, anywhere in it, is corruption.
/// So a live segment renamed below the boundary, a real one made to look like a leftover by
/// a name placed after it, or a live record copied into a leftover, is refused, not deleted.
/// Leftovers exist only after a crash inside a purge: the reads are rare.
fn verify_leftovers(segs: &mut SegmentLog, old: &[u64], j: &Judge) -> Result<()> {
    for &first in old {
        let seg = segs.segments.get_mut(&first).expect("listed");
        let buf = read_whole(&*j.fs, seg, j.len_max)?;
        let path = &seg.path;
        if let Header::Names(named) = check_header(&buf, seg)? {
            return Err(Error::corruption(
                path,
                0,
                format!(
                    "segment header names first index {named}, in a file whose successor's \
                     name places it below the purge boundary"
                ),
            ));
        }
        if let Some(at) =
            record::find_record(&buf, 0, j.payload_max, false, |index, _| index > j.boundary)
        {
            return Err(Error::corruption(
                path,
                at as u64,
                format!(
                    "a valid record above the purge boundary {}, in a file whose successor's \
                     name places it below",
                    j.boundary
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `buf` holds only zeros. Written to vectorize: a DiskFirst open checks the last
/// segment's preallocated tail with it, up to `segment_size_bytes`.
pub(crate) fn all_zero(buf: &[u8]) -> bool {
    buf.chunks(4096)
        .all(|c| c.iter().fold(0u8, |acc, b| acc | b) == 0)
}

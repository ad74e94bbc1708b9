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

use crate::archive::manifest::Manifest;
use crate::canary::Canary;
use crate::config::{Config, RecoveryMode};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::meta::{MetaBody, MetaFile, MetaOpen};
use crate::preload::Cut;
use crate::segments::{parse_segment_name, Segment, SegmentLog};
use crate::types::{Entry, LogId};

mod fast;
mod judge;
mod plan;

use crate::scan::Scan;
use judge::{check_creation, classify_top, verify_leftovers, Judge};
pub(crate) use plan::Plan;

/// The segments of a store as recovery left them.
pub(crate) struct Recovered {
    pub segs: SegmentLog,
    /// The last entry on disk above the boundary, if any.
    pub last: Option<LogId>,
    /// With `load_all`: every entry above the boundary (from the segment holding
    /// [`Config::snapshot_hint`], if one is given).
    pub entries: Option<VecDeque<Entry>>,
    /// Torn tails and torn segment creations that were cut.
    pub torn_cuts: u32,
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
    let read = match load_all {
        true => Read::Preload,
        false => Read::Lazily,
    };
    classify(fs, dir, cfg, &meta.body, read)?.apply(meta)
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

/// What phase 1 reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// DiskFirst: the newest segment from its checkpoint (`fast.rs`), else what judging
    /// the top of the directory takes; the entries are read later.
    Lazily,
    /// MemFirst: every segment (from [`Config::snapshot_hint`]'s, if given), checked and
    /// collected; the newest up to its checkpoint's end when it has one.
    Preload,
    /// `inspect`: every segment, whole, each judged by the full rules (no checkpoint
    /// trusted), checked and collected.
    Everything,
}

/// Phase 1 of recovery (see the module docs): classifies the directory under the metadata
/// `meta`, reading only, and returns the plan, or the corruption that a strict recovery
/// refuses. `read` says what is read and collected.
pub(crate) fn classify(
    fs: Arc<dyn Fs>,
    dir: &Path,
    cfg: &Config,
    meta: &MetaBody,
    read: Read,
) -> Result<Plan> {
    let load_all = read != Read::Lazily;
    let purged = meta.last_purged.map_or(0, |l| l.index);
    // Archived segments (the manifest's, above the boundary) are gone from the local disk
    // as purged ones are: the local run starts after them, and a local file they cover is
    // the leftover of a move a crash interrupted before its local delete (`archive/`).
    let names = fs.list(dir).map_err(|e| Error::io("list", dir, e))?;
    let manifest = Manifest::open(&*fs, dir, &names)?;
    let archived_top = manifest.live_above(purged).map(|s| s.last).max();
    let boundary = purged.max(archived_top.unwrap_or(0));
    let commit = cfg.commit_check.then_some(meta.hard_state.commit);
    let continues_min = boundary.saturating_add(1);
    let mut segs = list_segments(&fs, dir, &names, cfg, continues_min);
    segs.adopt_manifest(manifest, purged);
    let j = Judge {
        fs,
        tolerant: cfg.recovery == RecoveryMode::TruncateCorrupt
            || cfg.canaries.on(Canary::SilentCorruptionCut),
        skip_crc: cfg.canaries.on(Canary::SkipChecksum),
        payload_max: cfg.payload_size_max_bytes,
        len_max: segs.segment_len_max(),
        boundary,
    };
    let firsts: Vec<u64> = segs.firsts();

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
    let top = classify_top(&mut segs, live, read, &j)?;
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
        check_starts_at(&segs, first, continues_min)?;
    }
    let (mut plan, tail_entries) = Plan::from_top(segs, boundary, top);
    if load_all {
        let order: Vec<u64> = below.iter().copied().chain(tail_first).collect();
        let hot = preload_from(&order, hint_in_effect(cfg));
        load_older(&mut plan, &order[hot..], tail_entries, &j, cfg)?;
    }
    if let Some(commit) = commit {
        let end = plan.last.map_or(boundary, |l| l.index.max(boundary));
        check_commit_held(dir, end, commit, &j)?;
    }
    // A tail wholly at or below the boundary goes with the purge leftovers.
    if plan.last.is_some_and(|l| l.index <= boundary) {
        plan.last = None;
    }
    Ok(plan)
}

/// The snapshot hint a MemFirst open follows: `Config::snapshot_hint`, except in a
/// salvaging open, which judges every segment (a cut it tolerates among the preloaded
/// segments could otherwise end the log above entries the hint left unread).
pub(crate) fn hint_in_effect(cfg: &Config) -> Option<u64> {
    let tolerant = cfg.recovery == RecoveryMode::TruncateCorrupt
        || cfg.canaries.on(Canary::SilentCorruptionCut);
    cfg.snapshot_hint.filter(|_| !tolerant)
}

/// Of the live run `order` (ascending firsts, the tail last), the position of the first
/// segment a MemFirst open preloads under [`Config::snapshot_hint`]: the one holding the
/// hint (the last starting at or below it), so the entry at the hint is in memory; the
/// tail always. Without a hint, all of them.
fn preload_from(order: &[u64], hint: Option<u64>) -> usize {
    match hint {
        None => 0,
        Some(h) => order.partition_point(|f| *f <= h).saturating_sub(1),
    }
}

/// The segment files among `names` (the listing of `dir`), as a `SegmentLog` that
/// continues at `continues_min` when it is empty.
fn list_segments(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    names: &[String],
    cfg: &Config,
    continues_min: u64,
) -> SegmentLog {
    let mut map = BTreeMap::new();
    for name in names {
        if let Some(first) = parse_segment_name(name) {
            map.insert(first, Segment::new(first, dir.join(name)));
        }
    }
    let dir = dir.to_path_buf();
    SegmentLog::new(fs.clone(), dir, cfg, map, continues_min)
}

/// The live run must start where the log continues after the boundary: entries
/// `continues_min..first` missing is corruption.
fn check_starts_at(segs: &SegmentLog, first: u64, continues_min: u64) -> Result<()> {
    if first <= continues_min {
        return Ok(());
    }
    Err(Error::corruption(
        &segs.segment(first).path,
        0,
        format!(
            "entries {continues_min}..{first} between the purge boundary and the first \
             segment are missing"
        ),
    ))
}

/// With `commit_check`: a log that ends at `end`, below the saved `commit`, lost committed
/// entries (corruption, or a warning when tolerant).
fn check_commit_held(dir: &Path, end: u64, commit: u64, j: &Judge) -> Result<()> {
    if commit <= end {
        return Ok(());
    }
    let path = dir.join(crate::meta::META_FILE);
    let reason = format!(
        "the log ends at {end}, below the saved commit {commit}: committed entries are missing"
    );
    if !j.tolerant {
        return Err(Error::corruption(path, 0, reason));
    }
    tracing::warn!(path = %path.display(), %reason, "recovery opens a log that lost committed entries");
    Ok(())
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
        (plan.checkpoint, plan.realloc) = (None, false);
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

/// Whether `buf` holds only zeros. Written to vectorize: a DiskFirst open checks the last
/// segment's preallocated tail with it, up to `segment_size_bytes`.
pub(crate) fn all_zero(buf: &[u8]) -> bool {
    buf.chunks(4096)
        .all(|c| c.iter().fold(0u8, |acc, b| acc | b) == 0)
}

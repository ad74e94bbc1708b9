//! Segment files: where entries live on disk.
//!
//! A segment is named `seg-<first index, 20 digits>.log` and holds contiguous records from
//! that index. Only the last segment (the *active* one) is ever written. Invariants:
//! - Before a new segment is created, the previous one is fsynced: a torn record can only be
//!   in the last segment, so damage anywhere else is corruption.
//! - A segment's entries are durable only after its file *and* the directory are synced
//!   (the directory sync makes its creation durable); [`SyncJob`] covers both.
//! - Segments are removed only by [`SegmentLog::truncate`] (durably, before it returns), by
//!   purge (after the new boundary is durable) and by recovery (an interrupted operation of
//!   these, once the whole directory is classified: `recovery/`), never otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::canary::{Canary, CanarySet};
use crate::error::{Error, Result};
use crate::fs::{Fs, FsFile};
use crate::record::{self, SEGMENT_HEADER_LEN};
use crate::types::Entry;

mod checkpoint;
mod cut;
mod index;
mod segment;
mod tier;

pub(crate) use checkpoint::Checkpoint;
pub(crate) use cut::Cut;

pub(crate) use segment::{
    check_header, decode_run, parse_segment_name, read_range, read_whole, segment_name, span,
    Header, Segment,
};
use tier::Tier;

/// The fsyncs that make everything written so far durable: run it without holding the
/// store's lock, then report the result back.
#[derive(Debug, Default)]
pub struct SyncJob {
    files: Vec<(PathBuf, Arc<dyn FsFile>)>,
    dir: Option<PathBuf>,
}

impl SyncJob {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dir.is_none()
    }

    pub fn run(&self, fs: &dyn Fs) -> Result<()> {
        for (path, file) in &self.files {
            crate::telemetry::fsyncs(1);
            file.sync_data()
                .map_err(|e| Error::io("sync_data", path, e))?;
        }
        if let Some(dir) = &self.dir {
            crate::telemetry::fsyncs(1);
            fs.sync_dir(dir)
                .map_err(|e| Error::io("sync_dir", dir, e))?;
        }
        Ok(())
    }
}

/// The segment files of one store. Recovery builds it from the directory and hands it its
/// scans ([`SegmentLog::adopt_scan`]); the log then only appends, rotates, truncates and
/// removes through its methods.
#[derive(Debug)]
pub(crate) struct SegmentLog {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    segment_size_bytes: u64,
    payload_size_max_bytes: u32,
    canaries: CanarySet,
    segments: BTreeMap<u64, Segment>,
    /// The index the next written record must carry.
    next_index: u64,
    dirty: BTreeSet<u64>,
    dir_dirty: bool,
    /// Records encoded for the last segment at `pending_at` but not yet written: appends
    /// between two syncs are written with one `write_at` when the sync is taken. Under a
    /// threaded front an appender then holds the lock for a copy, not a syscall.
    ///
    /// Invariant: empty, or `pending_at + pending.len()` is the last segment's `len_bytes`
    /// and that segment's offsets already index the pending records. Everything that reads,
    /// cuts, seals or syncs a segment writes it out first ([`SegmentLog::write_pending`]).
    pending: Vec<u8>,
    pending_at: u64,
    /// Where in `pending` a truncation alone (a batch of no entries) starts, while it is
    /// the last thing there: the next batch for the same segment replaces it and carries
    /// the truncation itself (`cut.rs`).
    pending_cut: Option<usize>,
    /// The generation of the last batch written or found: every batch after a truncation
    /// carries a higher one (`record.rs`).
    generation: u64,
    /// The archive tier: the segments moved there, and the archive (`tier.rs`).
    tier: Box<Tier>,
    /// The active segment's checkpoint slots (`checkpoint.rs`); boxed, as it is rarely
    /// touched.
    slots: Box<checkpoint::Slots>,
}

/// Pending bytes past which a write goes out at once instead of waiting for the sync.
const PENDING_BYTES_MAX: usize = 1 << 20;

/// The largest byte length a segment file can legitimately have (see
/// [`SegmentLog::segment_len_max`]).
///
/// Appends reach a segment only while it is shorter than its size, so they end at most one
/// batch past it: the largest header and one entry of the largest payload (the
/// *overshoot*). After that only truncation batches are added (`cut.rs`), each removing at
/// least one of the entries written before, which take [`record::ENTRY_LEN_MIN`] bytes or
/// more each; so they add at most `BATCH_HEADER_LEN_MAX / ENTRY_LEN_MIN` times the bytes
/// written before. No segment the engine writes is longer, and no rewrite is ever needed
/// to make room.
pub(crate) fn segment_len_max(segment_size_bytes: u64, payload_size_max_bytes: u32) -> u64 {
    let overshoot = record::BATCH_HEADER_LEN_MAX as u64
        + 2 * record::varint::VARINT_LEN_MAX as u64
        + u64::from(payload_size_max_bytes);
    let appended_max = segment_size_bytes + overshoot;
    let cuts_per_byte = (record::BATCH_HEADER_LEN_MAX / record::ENTRY_LEN_MIN) as u64;
    appended_max.saturating_mul(1 + cuts_per_byte)
}

impl SegmentLog {
    pub fn new(
        fs: Arc<dyn Fs>,
        dir: PathBuf,
        cfg: &crate::Config,
        segments: BTreeMap<u64, Segment>,
        next_index: u64,
    ) -> SegmentLog {
        let tier = Box::new(Tier::new(cfg.archive.clone(), &dir));
        SegmentLog {
            fs,
            dir,
            segment_size_bytes: cfg.segment_size_bytes,
            payload_size_max_bytes: cfg.payload_size_max_bytes,
            canaries: cfg.canaries,
            tier,
            segments,
            next_index,
            dirty: BTreeSet::new(),
            dir_dirty: false,
            pending: Vec::new(),
            pending_at: 0,
            pending_cut: None,
            generation: 0,
            slots: Box::default(),
        }
    }

    /// The filesystem the segments live on.
    pub fn fs(&self) -> Arc<dyn Fs> {
        self.fs.clone()
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `Config::segment_size_bytes`.
    pub fn segment_size_bytes(&self) -> u64 {
        self.segment_size_bytes
    }

    /// `Config::payload_size_max_bytes`.
    pub fn payload_size_max_bytes(&self) -> u32 {
        self.payload_size_max_bytes
    }

    /// The canaries of the store's config.
    pub fn canaries(&self) -> CanarySet {
        self.canaries
    }

    /// The index the next written record must carry.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The first indexes of the segments, ascending.
    pub fn firsts(&self) -> Vec<u64> {
        self.segments.keys().copied().collect()
    }

    /// Whether the log has no segment file.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The first index of the newest segment, if any.
    pub fn last_first(&self) -> Option<u64> {
        self.segments.keys().next_back().copied()
    }

    /// The segment named for `first` (it must exist).
    pub fn segment(&self, first: u64) -> &Segment {
        &self.segments[&first]
    }

    /// The segment named for `first` (it must exist), to read it.
    pub fn segment_mut(&mut self, first: u64) -> &mut Segment {
        self.segments.get_mut(&first).expect("a listed segment")
    }

    /// Recovery's scan of segment `first`: its data ends at `end_bytes`, its entries' batches
    /// start at `offsets` (`None`: not indexed yet), and its last batch carries
    /// `generation` (later batches carry it, or after a truncation a higher one).
    pub fn adopt_scan(
        &mut self,
        first: u64,
        end_bytes: u64,
        offsets: Option<Vec<u64>>,
        generation: u64,
    ) {
        let seg = self.segment_mut(first);
        seg.len_bytes = end_bytes;
        seg.offsets = offsets;
        self.generation = self.generation.max(generation);
    }

    /// Recovery's verdict on where the log continues.
    pub fn set_next_index(&mut self, next_index: u64) {
        debug_assert!(self.pending.is_empty(), "set before any write");
        self.next_index = next_index;
    }

    /// Takes segment `first` out of the log (its file is the caller's to remove).
    pub fn forget(&mut self, first: u64) -> Segment {
        self.segments.remove(&first).expect("a listed segment")
    }

    /// The largest byte length a segment file can legitimately have: the segment size, the
    /// last batch's overshoot, and the truncation batches after it (see
    /// [`segment_len_max`]).
    pub fn segment_len_max(&self) -> u64 {
        segment_len_max(self.segment_size_bytes, self.payload_size_max_bytes)
    }

    fn last_index_of(&self, first_index: u64) -> u64 {
        use std::ops::Bound::{Excluded, Unbounded};
        match self
            .segments
            .range((Excluded(first_index), Unbounded))
            .next()
        {
            Some((next_first, _)) => next_first - 1,
            None => self.next_index - 1,
        }
    }

    /// Appends batches for `entries` (which must start at `next_index`), one per segment
    /// they go to, rotating segments at `segment_size_bytes`. The batches are encoded now
    /// and written (pending until a [`SyncJob`] runs) by the next
    /// [`SegmentLog::take_sync_job`] at the latest.
    pub fn write(&mut self, entries: &[Entry], durable_hint: u64) -> Result<()> {
        debug_assert!(entries.first().is_none_or(|e| e.index == self.next_index));
        let mut i = 0;
        while i < entries.len() {
            let needs_rotation = match self.segments.last_key_value() {
                None => true,
                Some((_, seg)) => {
                    seg.len_bytes >= self.segment_size_bytes || seg.first_index > entries[i].index
                }
            };
            if needs_rotation {
                self.rotate(entries[i].index)?;
            }
            let (&first, seg) = self.segments.last_key_value().expect("rotated");
            let mut start = seg.len_bytes;
            if self.pending.is_empty() {
                self.pending_at = start;
            }
            debug_assert_eq!(self.pending_at + self.pending.len() as u64, start);
            // A truncation alone, still unwritten: this batch carries it instead.
            if let Some(at) = self.pending_cut.take() {
                self.pending.truncate(at);
                start = self.pending_at + at as u64;
            }
            let room = self.segment_size_bytes.saturating_sub(start);
            let (n, _) = record::batch_take(&entries[i..], room);
            let chunk = &entries[i..i + n];
            let head = record::BatchHead {
                first_index: chunk[0].index,
                durable_hint: durable_hint.min(chunk[0].index - 1),
                generation: self.generation,
            };
            let seg = self.segments.get_mut(&first).expect("active segment");
            let offsets = seg.offsets.get_or_insert_with(Vec::new);
            debug_assert_eq!(chunk[0].index, first + offsets.len() as u64);
            offsets.extend(std::iter::repeat_n(start, n));
            record::encode_batch(&mut self.pending, head, chunk);
            seg.len_bytes = self.pending_at + self.pending.len() as u64;
            // Per batch: a rotation's checkpoint slot names where the sealed segment ends.
            self.next_index = chunk[chunk.len() - 1].index + 1;
            self.dirty.insert(first);
            i += n;
            if self.pending.len() >= PENDING_BYTES_MAX {
                self.write_pending()?;
            }
        }
        debug_assert!(entries
            .last()
            .is_none_or(|e| self.next_index == e.index + 1));
        Ok(())
    }

    /// Whether [`SegmentLog::write`] of `entries` could rotate, and so seal (fsync) the
    /// current segment. Never `false` when `write` would rotate: the same chunking, each
    /// batch counted with the largest header (so at least as long as `write`'s).
    pub fn rotates_for(&self, entries: &[Entry]) -> bool {
        let Some((_, seg)) = self.segments.last_key_value() else {
            return !entries.is_empty();
        };
        if entries.first().is_some_and(|e| seg.first_index > e.index) {
            return true;
        }
        let mut len = seg.len_bytes;
        let mut rest = entries;
        while !rest.is_empty() {
            if len >= self.segment_size_bytes {
                return true;
            }
            let (n, batch_len_max) = record::batch_take(rest, self.segment_size_bytes - len);
            len += batch_len_max;
            rest = &rest[n..];
        }
        false
    }

    /// Writes the pending records out (not durable until a [`SyncJob`] runs).
    pub fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (_, seg) = self
            .segments
            .iter_mut()
            .next_back()
            .expect("pending has a segment");
        debug_assert_eq!(self.pending_at + self.pending.len() as u64, seg.len_bytes);
        let file = seg.file(&*self.fs)?;
        let result = file.write_at(&self.pending, self.pending_at);
        // Written or not, the bytes are gone from here: a failed write poisons the log.
        self.pending.clear();
        self.pending_cut = None;
        if result.is_err() {
            // And the index forgets them: no read may decode what may never have reached
            // the file (a poisoned log still serves reads of what it holds).
            let at = self.pending_at;
            seg.len_bytes = at;
            if let Some(offsets) = seg.offsets.as_mut() {
                offsets.truncate(offsets.partition_point(|&o| o < at));
                self.next_index = seg.first_index + offsets.len() as u64;
            }
        }
        result.map_err(|e| Error::io("write", &seg.path, e))
    }

    /// Starts a new segment at `first_index`, after sealing the current one: its data *and*
    /// its directory entry durable, so no crash can keep the new segment and lose the old.
    fn rotate(&mut self, first_index: u64) -> Result<()> {
        self.write_pending()?;
        if let Some(&first) = self.segments.keys().next_back() {
            // The seal's fsync below covers the slot.
            if self.dirty.contains(&first) {
                self.write_checkpoint()?;
            }
            let seg = self.segments.get_mut(&first).expect("segment");
            let file = seg.file(&*self.fs)?;
            // Trim the preallocated space: a sealed segment ends at its last record.
            if file.len().map_err(|e| Error::io("len", &seg.path, e))? > seg.len_bytes {
                file.set_len(seg.len_bytes)
                    .map_err(|e| Error::io("set_len", &seg.path, e))?;
                self.dirty.insert(first);
            }
            if self.dirty.remove(&first) {
                file.sync_data()
                    .map_err(|e| Error::io("sync_data", &seg.path, e))?;
            }
            if self.dir_dirty && !self.canaries.on(Canary::SkipDirSync) {
                self.dir_dirty = false;
                self.fs
                    .sync_dir(&self.dir)
                    .map_err(|e| Error::io("sync_dir", &self.dir, e))?;
            }
        }
        let path = self.dir.join(segment_name(first_index));
        let file = self
            .fs
            .open(&path, true)
            .map_err(|e| Error::io("create", &path, e))?;
        file.write_at(&record::encode_segment_header(first_index), 0)
            .map_err(|e| Error::io("write", &path, e))?;
        // Reserve the segment up front so appends need no size change at each fsync.
        file.allocate(self.segment_size_bytes)
            .map_err(|e| Error::io("allocate", &path, e))?;
        let mut seg = Segment::new(first_index, path);
        seg.set_file(file);
        seg.len_bytes = SEGMENT_HEADER_LEN;
        seg.offsets = Some(Vec::new());
        self.segments.insert(first_index, seg);
        *self.slots = checkpoint::Slots {
            last: Some(Checkpoint::created(first_index)),
            late: None,
        };
        self.dirty.insert(first_index);
        self.dir_dirty = true;
        Ok(())
    }

    /// Takes the fsyncs owed for everything written so far.
    pub fn take_sync_job(&mut self) -> Result<SyncJob> {
        self.write_pending()?;
        // The job's fsync of the active segment covers the slot.
        if (self.segments.keys().next_back()).is_some_and(|f| self.dirty.contains(f)) {
            self.write_checkpoint()?;
        }
        let mut job = SyncJob::default();
        for first in std::mem::take(&mut self.dirty) {
            if let Some(seg) = self.segments.get_mut(&first) {
                let file = seg.file(&*self.fs)?;
                job.files.push((seg.path.clone(), file));
            }
        }
        if std::mem::take(&mut self.dir_dirty) && !self.canaries.on(Canary::SkipDirSync) {
            job.dir = Some(self.dir.clone());
        }
        Ok(job)
    }

    /// Removes the segments whose every entry is at or below `boundary`, local files and
    /// archived segments (`tier.rs`: the manifest first, then the objects). Call only once
    /// the boundary is durable. Removing every segment restarts the log at `boundary + 1`.
    pub fn remove_upto(&mut self, boundary: u64) -> Result<()> {
        self.remove_local_upto(boundary)?;
        self.purge_archived(boundary)
    }

    /// [`SegmentLog::remove_upto`] of the local files only: recovery's purge leftovers,
    /// below a floor that counts archived segments as gone from the local disk.
    pub fn remove_local_upto(&mut self, boundary: u64) -> Result<()> {
        self.write_pending()?;
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        let doomed = wholly_upto(&firsts, self.next_index, boundary);
        for first in doomed {
            let seg = self.segments.remove(&first).expect("listed");
            self.dirty.remove(&first);
            self.fs
                .remove(&seg.path)
                .map_err(|e| Error::io("remove", &seg.path, e))?;
            self.dir_dirty = true;
        }
        if self.segments.is_empty() {
            self.next_index = self.next_index.max(boundary + 1);
        }
        Ok(())
    }

    /// A read-only view of the segments wholly below `floor` (a segment boundary): their
    /// entries, read lazily, each file through its own handle, archived ones through the
    /// archive. MemFirst keeps the entries
    /// below its memory there when it opened with a snapshot hint, so they stay readable
    /// while a sync holds the segment files. The view never writes; the caller drops
    /// from it what a truncation or purge removes ([`SegmentLog::forget`],
    /// [`SegmentLog::set_next_index`]) before the files change.
    pub fn cold_view(&self, floor: u64) -> SegmentLog {
        debug_assert!(floor == self.next_index || self.segments.contains_key(&floor));
        let segments = (self.segments.range(..floor))
            .map(|(&first, s)| (first, Segment::new(first, s.path.clone())))
            .collect();
        SegmentLog {
            fs: self.fs.clone(),
            dir: self.dir.clone(),
            segment_size_bytes: self.segment_size_bytes,
            payload_size_max_bytes: self.payload_size_max_bytes,
            canaries: self.canaries,
            tier: Box::new(self.tier.read_view()),
            segments,
            next_index: floor,
            dirty: BTreeSet::new(),
            dir_dirty: false,
            pending: Vec::new(),
            pending_at: 0,
            pending_cut: None,
            generation: self.generation,
            slots: Box::default(),
        }
    }

    /// Reads up to `count_max` entries from `from`, all from the one segment that holds it.
    pub fn read(&mut self, from: u64, count_max: usize) -> Result<Vec<Entry>> {
        if from >= self.next_index || count_max == 0 {
            return Ok(Vec::new());
        }
        if self.is_archived(from) {
            return self.read_archived(from, count_max);
        }
        let Some((&first, _)) = self.segments.range(..=from).next_back() else {
            return Ok(Vec::new());
        };
        self.load_offsets(first)?; // writes the pending records out first
        let skip_crc = self.canaries.on(Canary::SkipChecksum);
        let payload_max = self.payload_size_max_bytes;
        let fs = self.fs.clone();
        let seg = self.segments.get_mut(&first).expect("segment");
        let offsets = seg.offsets.as_ref().expect("loaded");
        let lo = (from - first) as usize;
        if lo >= offsets.len() {
            return Ok(Vec::new());
        }
        let (start, end, hi) = span(offsets, lo, count_max, seg.len_bytes);
        let mut buf = vec![0u8; (end - start) as usize];
        let file = seg.file(&*fs)?;
        let n = file
            .read_at(&mut buf, start)
            .map_err(|e| Error::io("read", &seg.path, e))?;
        if n < buf.len() {
            return Err(Error::corruption(
                &seg.path,
                start + n as u64,
                "segment shorter than its index",
            ));
        }
        let (buf, path) = (Bytes::from(buf), seg.path.clone());
        let offsets = seg.offsets.as_ref().expect("loaded");
        decode_run(
            buf,
            start,
            first,
            offsets,
            (lo, hi),
            payload_max,
            skip_crc,
            &path,
        )
    }
}

/// Of the segments starting at `firsts` (ascending) in a log that continues at
/// `next_index`, those whose every entry is at or below `boundary`.
pub(crate) fn wholly_upto(firsts: &[u64], next_index: u64, boundary: u64) -> Vec<u64> {
    // The last segment's end is computed only if there is one, as `last_index_of` did: with
    // no segment left, `next_index` may be 0 (a tolerant cut before a file named for 0).
    let lasts =
        (firsts.iter().skip(1).map(|f| f - 1)).chain(std::iter::once_with(|| next_index - 1));
    (firsts.iter().zip(lasts))
        .filter(|(_, last)| *last <= boundary)
        .map(|(first, _)| *first)
        .collect()
}

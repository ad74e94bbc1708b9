//! Truncating the segment files. Two ways, by where the cut falls:
//!
//! - **In place** (the common case: a Raft follower's conflict inside the active segment).
//!   A batch of no entries whose first index is the cut, with a new generation, goes to the
//!   pending bytes; if the next batch for the segment comes before they are written, it
//!   replaces that batch and carries the truncation itself. Nothing is synced: the cut is
//!   durable with the next [`super::SyncJob`], together with the entries written after it,
//!   so a follower's truncate and append cost one fsync. A crash before that sync leaves
//!   the old suffix or the cut (with none, some or all of the new entries after it), never
//!   a mix: a scan takes the later batch only whole, and only with its new generation.
//! - **Durably** (a cut at or below the active segment's first index, or a segment with no
//!   room left for another truncation): the later segments are removed, newest first, each
//!   removal made durable before the next, so a crash at any point leaves a contiguous run
//!   of segments (a prefix of the old log); then the segment holding the cut gets a
//!   truncation batch, fsynced, or, with no room left in it, is rewritten with only its kept
//!   entries into a new file that replaces it by a durable rename.

use super::*;

/// Where a truncation stands when [`SegmentLog::truncate`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Cut {
    /// On disk for good: no crash brings the cut entries back.
    Durable,
    /// In the pending bytes: durable once the next sync job completes; a crash before may
    /// bring the old suffix back (whole).
    Owed,
}

/// The suffix of a segment file rewritten with only its kept entries, before it replaces
/// the segment by a rename.
const COMPACT_SUFFIX: &str = ".compact";

impl SegmentLog {
    /// Removes entries `from..` (inside the log): in place when the cut falls inside the
    /// active segment and it has room, else durably (see the module docs). `durable_hint` is
    /// the log's durable index, written into the truncation batch.
    pub fn truncate(&mut self, from: u64, durable_hint: u64) -> Result<Cut> {
        if from >= self.next_index {
            return Ok(Cut::Durable);
        }
        let in_place = self.segments.last_key_value().is_some_and(|(&first, seg)| {
            first < from
                && seg.offsets.is_some()
                && (self.pending_cut.is_some()
                    || seg.len_bytes + record::BATCH_HEADER_LEN_MAX as u64
                        <= self.segment_len_max())
        });
        if in_place {
            self.cut_in_place(from, durable_hint);
            return Ok(Cut::Owed);
        }
        self.cut_durably(from, durable_hint)?;
        Ok(Cut::Durable)
    }

    /// The in-place truncation: a batch of no entries at the end of the pending bytes.
    fn cut_in_place(&mut self, from: u64, durable_hint: u64) {
        let (&first, seg) = self
            .segments
            .iter_mut()
            .next_back()
            .expect("active segment");
        let offsets = seg.offsets.as_mut().expect("the active segment is indexed");
        offsets.truncate((from - first) as usize);
        match self.pending_cut.take() {
            // The last truncation is still unwritten: this one replaces it, same generation.
            Some(at) => {
                self.pending.truncate(at);
                seg.len_bytes = self.pending_at + at as u64;
            }
            None => self.generation += 1,
        }
        if self.pending.is_empty() {
            self.pending_at = seg.len_bytes;
        }
        let at = self.pending.len();
        let head = record::BatchHead {
            first_index: from,
            durable_hint: durable_hint.min(from - 1),
            generation: self.generation,
        };
        record::encode_batch(&mut self.pending, head, &[]);
        self.pending_cut = Some(at);
        seg.len_bytes = self.pending_at + self.pending.len() as u64;
        self.dirty.insert(first);
        self.next_index = from;
    }

    /// The durable truncation (see the module docs).
    fn cut_durably(&mut self, from: u64, durable_hint: u64) -> Result<()> {
        self.write_pending()?;
        let durable = !self.canaries.on(Canary::TruncateNotDurable);
        // Index the segment holding `from` while its successor still bounds it.
        let containing = self.segments.range(..from).next_back().map(|(k, _)| *k);
        if let Some(first) = containing {
            self.load_offsets(first)?;
        }
        let doomed: Vec<u64> = self.segments.range(from..).map(|(k, _)| *k).rev().collect();
        for first in &doomed {
            let seg = self.segments.remove(first).expect("listed");
            self.dirty.remove(first);
            self.fs
                .remove(&seg.path)
                .map_err(|e| Error::io("remove", &seg.path, e))?;
            if durable {
                self.sync_dir_now()?;
            } else {
                self.dir_dirty = true;
            }
        }
        self.next_index = from;
        let Some(first) = containing else {
            return Ok(());
        };
        let len_max = self.segment_len_max();
        let seg = self.segments.get_mut(&first).expect("segment");
        let offsets = seg.offsets.as_mut().expect("loaded");
        let keep = (from - first) as usize;
        if keep >= offsets.len() {
            return Ok(());
        }
        offsets.truncate(keep);
        if seg.len_bytes + record::BATCH_HEADER_LEN_MAX as u64 > len_max {
            return self.compact(first, durable);
        }
        self.generation += 1;
        let mut batch = Vec::new();
        let head = record::BatchHead {
            first_index: from,
            durable_hint: durable_hint.min(from - 1),
            generation: self.generation,
        };
        record::encode_batch(&mut batch, head, &[]);
        let file = seg.file(&*self.fs)?;
        file.write_at(&batch, seg.len_bytes)
            .map_err(|e| Error::io("write", &seg.path, e))?;
        seg.len_bytes += batch.len() as u64;
        match durable {
            true => file
                .sync_data()
                .map_err(|e| Error::io("sync_data", &seg.path, e))?,
            false => _ = self.dirty.insert(first),
        }
        Ok(())
    }

    /// Rewrites segment `first` with only the entries its index keeps, in one batch, into a
    /// new file that replaces it by a rename (durable unless `durable` is false, for the
    /// `TruncateNotDurable` canary). A crash leaves the old file or the new one under the
    /// name, and at worst a stray `.compact` file, which the next rewrite of that segment
    /// overwrites.
    fn compact(&mut self, first: u64, durable: bool) -> Result<()> {
        let kept = self.segments[&first].offsets.as_ref().map_or(0, Vec::len);
        let entries = self.read(first, kept)?;
        debug_assert_eq!(entries.len(), kept);
        let mut buf = record::encode_segment_header(first).to_vec();
        let head = record::BatchHead {
            first_index: first,
            durable_hint: first - 1,
            generation: self.generation,
        };
        record::encode_batch(&mut buf, head, &entries);
        let seg = self.segments.get_mut(&first).expect("segment");
        let tmp = seg.path.with_extension(format!("log{COMPACT_SUFFIX}"));
        let file = (self.fs.open(&tmp, true)).map_err(|e| Error::io("create", &tmp, e))?;
        let io = |op: &'static str, e| Error::io(op, &tmp, e);
        file.set_len(0).map_err(|e| io("set_len", e))?;
        file.write_at(&buf, 0).map_err(|e| io("write", e))?;
        if durable {
            file.sync_data().map_err(|e| io("sync_data", e))?;
        }
        seg.file = None;
        (self.fs.rename(&tmp, &seg.path)).map_err(|e| Error::io("rename", &seg.path, e))?;
        seg.len_bytes = buf.len() as u64;
        seg.offsets = Some(vec![SEGMENT_HEADER_LEN; kept]);
        self.dirty.remove(&first);
        match durable {
            true => self.sync_dir_now(),
            false => {
                self.dir_dirty = true;
                Ok(())
            }
        }
    }

    /// Fsyncs the store directory now.
    fn sync_dir_now(&self) -> Result<()> {
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("sync_dir", &self.dir, e))
    }
}

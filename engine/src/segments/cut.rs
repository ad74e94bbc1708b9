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
//! - **Durably** (a cut at or below the active segment's first index): the later segments
//!   are removed, newest first, each removal made durable before the next, so a crash at
//!   any point leaves a contiguous run of segments (a prefix of the old log); then the
//!   segment holding the cut gets a truncation batch, fsynced.
//!
//! Either way the segment only grows, and never past [`super::segment_len_max`]: each
//! truncation batch removes at least one entry written to it before. Nothing here renames,
//! rewrites or shortens a file (a torn rename may keep neither name; a shortened file
//! would bring back what a truncation batch after the cut had removed).

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

impl SegmentLog {
    /// Removes entries `from..` (inside the log): in place when the cut falls inside the
    /// active segment, else durably (see the module docs). `durable_hint` is the log's
    /// durable index, written into the truncation batch.
    pub fn truncate(&mut self, from: u64, durable_hint: u64) -> Result<Cut> {
        if from >= self.next_index {
            return Ok(Cut::Durable);
        }
        let in_place = (self.segments.last_key_value())
            .is_some_and(|(&first, seg)| first < from && seg.offsets.is_some());
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
        record::encode_truncation(&mut self.pending, from, durable_hint, self.generation);
        self.pending_cut = Some(at);
        seg.len_bytes = self.pending_at + self.pending.len() as u64;
        debug_assert!(seg.len_bytes <= self.segment_len_max());
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
                self.fs
                    .sync_dir(&self.dir)
                    .map_err(|e| Error::io("sync_dir", &self.dir, e))?;
            } else {
                self.dir_dirty = true;
            }
        }
        self.next_index = from;
        if !doomed.is_empty() {
            // The segment holding the cut is active again: its slots are an earlier life's.
            *self.slots = Default::default();
        }
        let Some(first) = containing else {
            return Ok(());
        };
        let seg = self.segments.get_mut(&first).expect("segment");
        let offsets = seg.offsets.as_mut().expect("loaded");
        let keep = (from - first) as usize;
        if keep >= offsets.len() {
            return Ok(());
        }
        offsets.truncate(keep);
        self.generation += 1;
        let mut batch = Vec::new();
        record::encode_truncation(&mut batch, from, durable_hint, self.generation);
        let file = seg.file(&*self.fs)?;
        let path = seg.path.clone();
        file.write_at(&batch, seg.len_bytes)
            .map_err(|e| Error::io("write", &path, e))?;
        seg.len_bytes += batch.len() as u64;
        if durable {
            self.write_checkpoint()?; // the fsync below covers it
        }
        match durable {
            true => file
                .sync_data()
                .map_err(|e| Error::io("sync_data", &path, e))?,
            false => _ = self.dirty.insert(first),
        }
        Ok(())
    }
}

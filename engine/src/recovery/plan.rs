//! Phase 2 of recovery: the plan phase 1 decided, and carrying it out.

use std::collections::VecDeque;
use std::path::Path;

use super::judge::Top;
use super::Recovered;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::meta::MetaFile;
use crate::scan::Scan;
use crate::segments::{Checkpoint, SegmentLog};
use crate::types::{Entry, LogId};

/// The verdict of phase 1 (it is `Ok`, or tolerated) and what phase 2 will do. Building it
/// changed nothing on disk; [`Plan::apply`] does.
pub(crate) struct Plan {
    pub segs: SegmentLog,
    pub boundary: u64,
    pub(super) continues_min: u64,
    /// Files above the log (torn creations, tolerated corrupt files), newest first, to remove.
    pub drop: Vec<u64>,
    /// The segment the log ends in, and where it is cut (a torn tail or tolerated
    /// corruption).
    pub cut: Option<(u64, u64)>,
    /// The segment the log ends in and its records, as the plan leaves them.
    pub(super) tail_state: Option<(u64, Scan)>,
    /// The tail's checkpoint once the plan is applied (`None`: unknown).
    pub(super) checkpoint: Option<Checkpoint>,
    /// The cut preallocates the tail again (a tail found from its checkpoint).
    pub(super) realloc: bool,
    /// The index the log continues at when a tolerant cut leaves no tail of its own.
    pub(super) ends_before: Option<u64>,
    /// The last entry above the boundary the plan leaves, if any.
    pub last: Option<LogId>,
    /// With `load_all`: every entry above the boundary the plan leaves.
    pub entries: Option<VecDeque<Entry>>,
    pub torn_cuts: u32,
}

impl Plan {
    /// The plan the top of the directory makes: drop what is above the tail, cut the tail
    /// where its valid records end if it must. Returns it with the tail's entries (with
    /// `load_all`).
    pub(super) fn from_top(segs: SegmentLog, boundary: u64, top: Top) -> (Plan, Vec<Entry>) {
        let mut plan = Plan {
            segs,
            boundary,
            continues_min: boundary.saturating_add(1),
            drop: top.drop,
            cut: None,
            tail_state: None,
            checkpoint: None,
            realloc: false,
            ends_before: None,
            last: None,
            entries: None,
            torn_cuts: top.torn_cuts,
        };
        let Some(t) = top.tail else {
            return (plan, Vec::new());
        };
        if t.cut {
            plan.cut = Some((t.first, t.scan.end));
        }
        plan.checkpoint = Some(t.checkpoint);
        plan.realloc = t.from_checkpoint;
        plan.last = Some(LogId::new(t.scan.last_term, t.scan.next_index - 1));
        plan.tail_state = Some((t.first, t.scan));
        (plan, t.entries)
    }

    /// The index the log continues at once the plan is applied.
    fn next_index(&self) -> u64 {
        match &self.tail_state {
            Some((_, s)) => s.next_index,
            None => self.ends_before.unwrap_or(self.continues_min),
        }
    }

    /// The segments phase 2 removes after `drop` as purge leftovers: those wholly at or
    /// below the boundary (the same rule as [`SegmentLog::remove_upto`]).
    pub(crate) fn leftovers(&self) -> Vec<u64> {
        let kept: Vec<u64> = (self.segs.firsts().into_iter())
            .filter(|f| !self.drop.contains(f))
            .collect();
        crate::segments::wholly_upto(&kept, self.next_index(), self.boundary)
    }

    /// Phase 2: applies the plan, on a boundary both metadata slots hold (they are repaired
    /// first if they differ: a single slot damaged later must not roll back a boundary that
    /// removals already relied on). Each step is durable before the next, so a crash
    /// leaves a directory that another recovery classifies the same way or finishes.
    pub(crate) fn apply(mut self, meta: &mut MetaFile) -> Result<Recovered> {
        meta.repair()?;
        let realloc = self.realloc.then(|| self.segs.segment_size_bytes());
        apply(&mut self.segs, &self.drop, self.cut, realloc)?;
        let next_index = self.next_index();
        let mut segs = self.segs;
        if let Some((first, s)) = self.tail_state {
            let offsets = (!s.offsets.is_empty()).then_some(s.offsets);
            segs.adopt_scan(first, s.end, offsets, s.generation);
            segs.adopt_checkpoint(self.checkpoint);
        }
        segs.set_next_index(next_index);
        // Purge leftovers, and a tail wholly at or below the boundary: oldest first.
        segs.remove_local_upto(self.boundary)?;
        // What recovery reports as durable must be durable, even after a reopen without a
        // crash: sync the tail and the directory.
        let fs = segs.fs();
        if let Some(first) = segs.last_first() {
            let seg = segs.segment_mut(first);
            let path = seg.path.clone();
            let file = seg.file(&*fs)?;
            file.sync_data()
                .map_err(|e| Error::io("sync_data", &path, e))?;
        }
        segs_dir_sync(&*fs, segs.dir())?;
        Ok(Recovered {
            segs,
            last: self.last,
            entries: self.entries,
            torn_cuts: self.torn_cuts,
        })
    }
}

/// Phase 2: removes the files above the log, newest first, each removal durable (a crash
/// leaves a prefix of the log), then cuts the segment the log ends in.
/// `realloc`: the size to preallocate the cut segment to again.
fn apply(
    segs: &mut SegmentLog,
    drop: &[u64],
    cut: Option<(u64, u64)>,
    realloc: Option<u64>,
) -> Result<()> {
    let fs = segs.fs();
    for first in drop {
        let seg = segs.forget(*first);
        fs.remove(&seg.path)
            .map_err(|e| Error::io("remove", &seg.path, e))?;
        segs_dir_sync(&*fs, segs.dir())?;
    }
    if let Some((first, end)) = cut {
        let seg = segs.segment_mut(first);
        let file = seg.file(&*fs)?;
        file.set_len(end)
            .map_err(|e| Error::io("set_len", &seg.path, e))?;
        if let Some(size) = realloc {
            file.allocate(size)
                .map_err(|e| Error::io("allocate", &seg.path, e))?;
        }
        file.sync_data()
            .map_err(|e| Error::io("sync_data", &seg.path, e))?;
    }
    Ok(())
}

pub(crate) fn segs_dir_sync(fs: &dyn Fs, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| Error::io("sync_dir", dir, e))
}

//! MemFirst (docs/DESIGN.md §1): every entry above the boundary lives in memory; an append
//! returns once there (or is refused with [`Error::Backpressure`]); truncate and purge change
//! memory and are owed to the next flush; reads never touch the disk. A flush writes the
//! owed cuts under the lock, then *lends* the segment files, with the entries they lack, to
//! the [`PreparedSync`], which writes and fsyncs them outside the lock.
//!
//! "Lent" is a state of the type ([`Segs::Lent`]): whatever needs the files while they are
//! out gets [`Error::SyncInFlight`], and nothing else can reach them.

use crate::canary::Canary;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::segments::{Cut, SegmentLog, SyncJob};
use crate::telemetry;
use crate::types::{Entry, LogId};
use crate::window::Window;

use super::prepared::{LentWrite, PreparedSync};
use super::shared::Core;

/// Where MemFirst's segment files are.
#[derive(Debug)]
pub(super) enum Segs {
    /// With the log.
    Here(SegmentLog),
    /// Lent to the [`PreparedSync`] in flight, until `Log::complete_sync` hands them back.
    Lent,
}

/// The state only MemFirst has.
///
/// Invariants (checked with `debug_assert!` by [`MemFirst::check_invariants`], the fourth at
/// each append):
/// - `mem` holds exactly the entries `floor ..= last index`, where `floor` is `boundary + 1`,
///   or with a `cold` view its `next_index` (above the boundary);
/// - `cold` holds only whole segments below `floor`, unchanged on disk while it holds them;
/// - `disk_written <= last index`;
/// - `unflushed_bytes` is the payload of the entries of `mem` above `disk_written`;
/// - `in_flight_bytes > 0` only while the files are [`Segs::Lent`].
#[derive(Debug)]
pub(super) struct MemFirst {
    /// The segment files, or `Lent` while a sync holds them.
    segs: Segs,
    /// Every entry from the floor (see the invariants).
    mem: Window,
    /// The entries above the boundary and below `mem`, on disk and read lazily: set only by
    /// an open with [`crate::Config::snapshot_hint`]. A view of its own, so it stays
    /// readable while a sync holds `segs`.
    cold: Option<SegmentLog>,
    /// Last index written (or lent to be written) to the segment files.
    disk_written: u64,
    /// A truncation the segment files still owe.
    disk_truncate: Option<u64>,
    /// The boundary the metadata still owes.
    meta_dirty: bool,
    /// Payload bytes of the entries above `disk_written`.
    unflushed_bytes: u64,
    /// Payload bytes handed to the sync in flight. With `unflushed_bytes`, the backpressure
    /// gauge: memory is bounded until the disk has the entries.
    in_flight_bytes: u64,
}

impl MemFirst {
    /// MemFirst over the files recovery opened and the entries it loaded, all on disk up
    /// to `last_index`. Entries above `boundary` that recovery left on disk (an open with a
    /// snapshot hint) are read lazily through a cold view.
    pub fn new(segs: SegmentLog, mem: Window, last_index: u64, boundary: u64) -> MemFirst {
        let floor = mem.first_index().unwrap_or(last_index + 1);
        let cold = (floor > boundary + 1).then(|| segs.cold_view(floor));
        MemFirst {
            segs: Segs::Here(segs),
            mem,
            cold,
            disk_written: last_index,
            disk_truncate: None,
            meta_dirty: false,
            unflushed_bytes: 0,
            in_flight_bytes: 0,
        }
    }

    /// Whether a new boundary is owed to the disk.
    pub fn owes_boundary(&self) -> bool {
        self.meta_dirty
    }

    /// Whether a truncation is owed to the disk (not yet written).
    pub fn owes_truncation(&self) -> bool {
        self.disk_truncate.is_some()
    }

    /// [`Error::SyncInFlight`] while the segment files are lent.
    pub fn check_not_lent(&self) -> Result<()> {
        match self.segs {
            Segs::Here(_) => Ok(()),
            Segs::Lent => Err(Error::SyncInFlight),
        }
    }

    /// Keeps `entries` (already checked to continue the log, `payload_bytes` of payload) in
    /// memory, or refuses them with [`Error::Backpressure`]. The caller then moves the end.
    pub fn append(&mut self, cfg: &Config, entries: &[Entry], payload_bytes: u64) -> Result<()> {
        debug_assert_eq!(
            self.unflushed_bytes,
            self.mem.payload_bytes_after(self.disk_written)
        );
        let unflushed = self.unflushed_bytes + self.in_flight_bytes;
        if unflushed > 0 && unflushed + payload_bytes > cfg.unflushed_bytes_max {
            telemetry::backpressure_wait();
            return Err(Error::Backpressure {
                unflushed_bytes: unflushed,
                max_bytes: cfg.unflushed_bytes_max,
            });
        }
        for e in entries {
            self.mem.push(e.clone());
        }
        self.unflushed_bytes += payload_bytes;
        Ok(())
    }

    /// Under the lock: performs the rare owed work (a truncation, a new boundary) and lends
    /// the segment files, with the entries they lack, to the sync.
    pub fn prepare_sync(&mut self, core: &mut Core, started_us: u64) -> Result<PreparedSync> {
        let Segs::Here(mut segs) = std::mem::replace(&mut self.segs, Segs::Lent) else {
            return Err(Error::SyncInFlight);
        };
        let r = self.write_owed(core, &mut segs);
        let (entries, upto) = match core.poison(r) {
            Ok(owed) => owed,
            Err(e) => {
                self.segs = Segs::Here(segs);
                return Err(e);
            }
        };
        let write = LentWrite {
            segs,
            entries,
            durable_hint: core.durable_index,
        };
        if core.cfg.canaries.on(Canary::MemFirstEarlyDurable) {
            core.durable_index = upto;
        }
        Ok(PreparedSync {
            job: SyncJob::default(),
            write: Some(write),
            upto,
            epoch: core.epoch,
            started_us,
            entries: upto.saturating_sub(core.durable_index),
            bytes: self.in_flight_bytes,
        })
    }

    /// Writes the owed truncation and boundary to `segs` and the metadata, and picks the
    /// entries the next write takes (at most `flush_entries_max`). Returns them with the
    /// last index durable once they are written and synced.
    fn write_owed(&mut self, core: &mut Core, segs: &mut SegmentLog) -> Result<(Vec<Entry>, u64)> {
        let boundary = core.boundary();
        if let Some(from) = self.disk_truncate.take() {
            let cut = segs.truncate(from, core.durable_index)?;
            if cut == Cut::Owed && !core.cfg.canaries.on(Canary::TruncateNotDurable) {
                match self.meta_dirty {
                    // A new boundary is saved next: the cut must be durable first (see
                    // `DiskFirst::purge`).
                    true => segs.take_sync_job()?.run(&*core.fs)?,
                    false => core.cut_owed = Some(core.epoch),
                }
            }
        }
        if self.meta_dirty {
            core.meta
                .save(core.meta.body.hard_state, core.last_purged, false)?;
            self.meta_dirty = false;
            segs.remove_upto(boundary)?;
        }
        let last = core.last.index;
        let from = (self.disk_written + 1).max(boundary + 1);
        let mut entries = Vec::new();
        // Everything owed, unless the backlog is longer than one flush takes: then a prefix.
        let mut upto = last;
        if from <= last {
            debug_assert_eq!(segs.next_index(), from, "segment files would get a gap");
            upto = last.min(from.saturating_add(core.cfg.flush_entries_max as u64 - 1));
            entries = self.mem.slice(from, upto);
            self.disk_written = upto;
        }
        let in_flight: u64 = entries.iter().map(|e| e.payload.len() as u64).sum();
        self.unflushed_bytes = self.unflushed_bytes.saturating_sub(in_flight);
        self.in_flight_bytes = in_flight;
        Ok((entries, upto))
    }

    /// The sync prepared last has returned (whatever its verdict): takes the files back.
    pub fn sync_returned(&mut self, write: Option<LentWrite>) {
        if let Some(w) = write {
            debug_assert!(matches!(self.segs, Segs::Lent), "two syncs in flight");
            self.segs = Segs::Here(w.segs);
            self.in_flight_bytes = 0;
        }
    }

    /// The lowest index held in memory (see the invariants).
    fn floor(&self, core: &Core) -> u64 {
        self.cold
            .as_ref()
            .map_or(core.boundary() + 1, SegmentLog::next_index)
    }

    /// Before a truncation at `from` below the memory: reads the entries of the cold
    /// segment holding `from` below it back into memory, and drops that segment and the
    /// later ones from the cold view (the files will change under it). Fails, changing
    /// nothing, if the read does.
    pub fn warm_before_truncate(&mut self, core: &Core, from: u64) -> Result<()> {
        let floor = self.floor(core);
        let Some(cold) = self.cold.as_mut().filter(|_| from < floor) else {
            return Ok(());
        };
        if core.cfg.canaries.on(Canary::ColdOutlivesTruncate) {
            return Ok(());
        }
        let firsts = cold.firsts();
        let holding = firsts.partition_point(|f| *f <= from).checked_sub(1);
        let Some(&seg_first) = holding.and_then(|i| firsts.get(i)) else {
            return Err(Error::corruption(
                cold.dir(),
                0,
                format!("no segment holds entry {from}"),
            ));
        };
        let lo = seg_first.max(core.boundary() + 1);
        let mut warm = std::collections::VecDeque::new();
        while lo + (warm.len() as u64) < from {
            let i = lo + warm.len() as u64;
            let run = cold.read(i, (from - i) as usize)?;
            if run.is_empty() {
                return Err(Error::corruption(
                    cold.dir(),
                    0,
                    format!("entry {i} vanished"),
                ));
            }
            warm.extend(run.into_iter().take((from - i) as usize));
        }
        for first in firsts.into_iter().filter(|f| *f >= seg_first) {
            cold.forget(first);
        }
        cold.set_next_index(lo);
        if lo <= core.boundary() + 1 {
            self.cold = None;
        }
        self.mem = Window::from_entries(warm);
        Ok(())
    }

    /// Removes `from..` (inside the log, above the boundary) from memory; the files owe it.
    /// A truncation below the memory has warmed the entries it keeps first
    /// ([`MemFirst::warm_before_truncate`]).
    pub fn truncate(&mut self, from: u64) {
        self.mem.truncate_from(from);
        if from <= self.disk_written {
            self.disk_truncate = Some(self.disk_truncate.map_or(from, |t| t.min(from)));
            self.disk_written = from - 1;
        }
        self.unflushed_bytes = self.mem.payload_bytes_after(self.disk_written);
    }

    /// Drops `..=upto` from memory; the metadata owes the new boundary (already in `core`).
    pub fn purge(&mut self, core: &mut Core, upto: LogId) {
        self.mem.drop_upto(upto.index);
        if let Some(cold) = &mut self.cold {
            if upto.index + 1 >= cold.next_index() {
                self.cold = None;
            } else {
                let gone =
                    crate::segments::wholly_upto(&cold.firsts(), cold.next_index(), upto.index);
                for first in gone {
                    cold.forget(first);
                }
            }
        }
        self.unflushed_bytes = self.mem.payload_bytes_after(self.disk_written);
        self.meta_dirty = true;
        core.note_pending();
    }

    /// The entry at `index` (inside the log), from memory or the cold view.
    pub fn entry(&mut self, core: &mut Core, index: u64) -> Result<Option<Entry>> {
        Ok(self.batch_at(core, index, 1)?.into_iter().next())
    }

    /// The segment files (to move sealed ones to the archive), unless lent to a sync.
    pub fn segs_mut(&mut self) -> Result<&mut SegmentLog> {
        match &mut self.segs {
            Segs::Here(segs) => Ok(segs),
            Segs::Lent => Err(Error::SyncInFlight),
        }
    }

    /// After segments moved to the archive: the cold view is built again from the segment
    /// files, so it reads the moved segments through the archive, not their deleted files.
    pub fn refresh_cold(&mut self) {
        if let (Some(cold), Segs::Here(segs)) = (&self.cold, &self.segs) {
            self.cold = Some(segs.cold_view(cold.next_index()));
        }
    }

    /// What `Log::entries` takes next at `i` (inside the log): from the cold view, up to
    /// `want` entries of the segment holding `i`; from memory, its entry.
    pub fn batch_at(&mut self, core: &mut Core, i: u64, want: usize) -> Result<Vec<Entry>> {
        if let Some(cold) = self.cold.as_mut().filter(|c| i < c.next_index()) {
            let run = cold.read(i, want)?;
            if run.first().map(|e| e.index) != Some(i) {
                return Err(Error::corruption(
                    cold.dir(),
                    0,
                    format!("entry {i} vanished"),
                ));
            }
            telemetry::cold_read(run.len());
            core.stats.cold_reads += run.len() as u64;
            return Ok(run);
        }
        match self.mem.get(i) {
            Some(e) => Ok(vec![e.clone()]),
            None => Err(Error::corruption(
                &core.dir,
                0,
                format!("entry {i} missing from memory"),
            )),
        }
    }

    /// The invariants of [`MemFirst`]'s docs.
    pub fn check_invariants(&self, core: &Core) {
        let floor = self.floor(core);
        debug_assert!(floor > core.boundary());
        debug_assert_eq!(self.mem.last_index().unwrap_or(floor - 1), core.last.index);
        debug_assert!(self.mem.is_empty() || self.mem.first_index() == Some(floor));
        debug_assert!(self
            .cold
            .as_ref()
            .is_none_or(|c| c.firsts().iter().all(|f| *f < floor)));
        debug_assert!(self.disk_written <= core.last.index);
        debug_assert!(self.in_flight_bytes == 0 || matches!(self.segs, Segs::Lent));
    }
}

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
use crate::segments::{SegmentLog, SyncJob};
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
/// Invariants (checked with `debug_assert!` by [`MemFirst::check_invariants`], the third at
/// each append):
/// - `mem` holds exactly the entries `boundary + 1 ..= last index`;
/// - `disk_written <= last index`;
/// - `unflushed_bytes` is the payload of the entries of `mem` above `disk_written`;
/// - `in_flight_bytes > 0` only while the files are [`Segs::Lent`].
#[derive(Debug)]
pub(super) struct MemFirst {
    /// The segment files, or `Lent` while a sync holds them.
    segs: Segs,
    /// Every entry above the boundary.
    mem: Window,
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
    /// to `last_index`.
    pub fn new(segs: SegmentLog, mem: Window, last_index: u64) -> MemFirst {
        MemFirst {
            segs: Segs::Here(segs),
            mem,
            disk_written: last_index,
            disk_truncate: None,
            meta_dirty: false,
            unflushed_bytes: 0,
            in_flight_bytes: 0,
        }
    }

    /// Whether a truncation or a boundary is owed to the disk.
    pub fn owes_cuts(&self) -> bool {
        self.meta_dirty || self.disk_truncate.is_some()
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
            segs.truncate(from)?;
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

    /// Removes `from..` (inside the log, above the boundary) from memory; the files owe it.
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
        self.unflushed_bytes = self.mem.payload_bytes_after(self.disk_written);
        self.meta_dirty = true;
        core.note_pending();
    }

    /// The segment files (to move sealed ones to the archive), unless lent to a sync.
    pub fn segs_mut(&mut self) -> Result<&mut SegmentLog> {
        match &mut self.segs {
            Segs::Here(segs) => Ok(segs),
            Segs::Lent => Err(Error::SyncInFlight),
        }
    }

    /// The entry at `index`, from memory.
    pub fn entry(&self, index: u64) -> Option<Entry> {
        self.mem.get(index).cloned()
    }

    /// What `Log::entries` takes next at `i` (inside the log): its entry, from memory.
    pub fn batch_at(&self, core: &Core, i: u64) -> Result<Vec<Entry>> {
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
        let boundary = core.boundary();
        debug_assert_eq!(self.mem.last_index().unwrap_or(boundary), core.last.index);
        debug_assert!(self.mem.is_empty() || self.mem.get(boundary + 1).is_some());
        debug_assert!(self.disk_written <= core.last.index);
        debug_assert!(self.in_flight_bytes == 0 || matches!(self.segs, Segs::Lent));
    }
}

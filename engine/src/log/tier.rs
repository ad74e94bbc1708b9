//! The move of sealed segments to the archive tier (`archive/`, docs/DESIGN.md §6).

use super::*;
use crate::archive::ArchiveReport;

impl Log {
    /// Moves to the archive every sealed segment whose entries are all at or below both
    /// `index` and the durable index, oldest first: each is put in the archive and read
    /// back, recorded in the manifest (durable), then deleted locally (durable). Reads of
    /// those entries then fall through to the archive (MemFirst keeps them in memory, and
    /// reloads them from the archive at open; after an open with a snapshot hint it reads
    /// them lazily from the archive, like the other entries below its memory). Archive only committed entries: a truncation
    /// at or below [`Log::archived_upto`] is [`Error::Archived`].
    ///
    /// Objects the manifest does not list (left by a crash or a failed check) are deleted
    /// first. An archive failure ([`Error::Archive`]) stops the move with what was moved so
    /// far kept, and poisons nothing; a local write failure (manifest, delete) poisons the
    /// log like any write path. Without an archive configured: [`Error::Archive`].
    pub fn archive_upto(&mut self, index: u64) -> Result<ArchiveReport> {
        self.check_writable()?;
        let moved = self.move_sealed(index);
        if let Mode::MemFirst(m) = &mut self.mode {
            // Whatever moved, even before a failure: its local files are gone.
            m.refresh_cold();
        }
        let report = moved?;
        self.check_invariants();
        Ok(report)
    }

    /// The moves of [`Log::archive_upto`], oldest first, until one fails.
    fn move_sealed(&mut self, index: u64) -> Result<ArchiveReport> {
        let upto = index.min(self.core.durable_index);
        let core = &mut self.core;
        let segs = match &mut self.mode {
            Mode::DiskFirst(d) => d.segs_mut(),
            Mode::MemFirst(m) => m.segs_mut()?,
        };
        let mut report = ArchiveReport {
            orphans_deleted: segs.delete_orphans()?,
            ..ArchiveReport::default()
        };
        for first in segs.archive_candidates(upto) {
            let staged = segs.stage_move(first)?;
            let bytes = staged.len();
            core.poison(segs.commit_move(staged))?;
            report.segments += 1;
            report.bytes += bytes;
            core.archived_upto = segs.archived_last().map_or(0, |l| l.index);
        }
        report.archived_upto = core.archived_upto;
        Ok(report)
    }

    /// The last index the archive tier holds (0 if none): entries up to it are read from
    /// the archive (DiskFirst) and can no longer be truncated.
    pub fn archived_upto(&self) -> u64 {
        self.core.archived_upto
    }
}

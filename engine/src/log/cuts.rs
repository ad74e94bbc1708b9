//! Removing entries: truncation of a conflicting suffix, purge of a prefix after a snapshot,
//! and what waiting appenders learn of a truncation.

use super::shared::CUTS_KEPT;
use super::*;

impl Log {
    /// How many truncations removed entries so far (see [`Log::truncated_since`]).
    pub(crate) fn truncation_epoch(&self) -> u64 {
        self.core.epoch
    }

    /// The lowest cut at or below `index` of a truncation after `epoch`, if any: an appender
    /// that accepted entries up to `index` at `epoch` learns that they are gone and can
    /// never become durable. Conservative (reports a cut) if `epoch` is older than the
    /// truncations remembered.
    pub(crate) fn truncated_since(&self, epoch: u64, index: u64) -> Option<u64> {
        let (cuts, last_epoch) = (&self.core.cuts, self.core.epoch);
        if epoch >= last_epoch {
            return None;
        }
        let oldest_known = last_epoch - cuts.len() as u64;
        if epoch < oldest_known {
            return Some(cuts.iter().map(|c| c.1).min().unwrap_or(0).min(index));
        }
        cuts.iter()
            .filter(|(e, from)| *e > epoch && *from <= index)
            .map(|c| c.1)
            .min()
    }

    /// Removes entries `from..` (conflict resolution). DiskFirst makes the cut durable
    /// before returning; MemFirst owes it to the next flush.
    pub fn truncate(&mut self, from: u64) -> Result<()> {
        self.check_writable()?;
        if from <= self.boundary() {
            return Err(Error::Purged {
                index: from,
                last_purged: self.boundary(),
            });
        }
        if from > self.core.last.index {
            return Ok(());
        }
        if from <= self.core.archived_upto {
            return Err(Error::Archived {
                index: from,
                archived_upto: self.core.archived_upto,
            });
        }
        // First, so that the entry before the cut is then read from memory.
        if let Mode::MemFirst(m) = &mut self.mode {
            m.warm_before_truncate(&self.core, from)?;
        }
        let new_last = if from - 1 > self.boundary() {
            let prev = self.entry(from - 1)?.ok_or_else(|| {
                Error::corruption(self.dir(), 0, format!("entry {} vanished", from - 1))
            })?;
            prev.log_id()
        } else {
            self.core.last_purged.unwrap_or(LogId::new(0, 0))
        };
        let core = &mut self.core;
        core.epoch += 1;
        core.cuts.push_back((core.epoch, from));
        if core.cuts.len() > CUTS_KEPT {
            core.cuts.pop_front();
        }
        match &mut self.mode {
            Mode::DiskFirst(d) => d.truncate(core, from)?,
            Mode::MemFirst(m) => m.truncate(from),
        }
        core.last = new_last;
        core.durable_index = core.durable_index.min(from - 1);
        self.check_invariants();
        Ok(())
    }

    /// Removes entries `..=upto.index` after a snapshot; `upto` may lie past the last entry.
    /// The boundary never moves back. DiskFirst makes the boundary durable before removing
    /// segments and before returning; MemFirst owes both to the next flush.
    pub fn purge(&mut self, upto: LogId) -> Result<()> {
        self.check_writable()?;
        if upto.index <= self.boundary() {
            return Ok(());
        }
        let core = &mut self.core;
        core.last_purged = Some(upto);
        if upto.index >= core.last.index {
            core.last = upto;
        }
        match &mut self.mode {
            Mode::DiskFirst(d) => d.purge(core, upto)?,
            Mode::MemFirst(m) => m.purge(core, upto),
        }
        self.check_invariants();
        Ok(())
    }
}

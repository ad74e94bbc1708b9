//! Removing entries: truncation of a conflicting suffix, purge of a prefix after a snapshot,
//! and what waiting appenders learn of a truncation.

use super::*;

impl Log {
    /// How many truncations removed entries so far (see [`Log::truncated_since`]).
    pub fn truncation_epoch(&self) -> u64 {
        self.epoch
    }

    /// The lowest cut at or below `index` of a truncation after `epoch`, if any: an appender
    /// that accepted entries up to `index` at `epoch` learns that they are gone and can
    /// never become durable. Conservative (reports a cut) if `epoch` is older than the
    /// truncations remembered.
    pub fn truncated_since(&self, epoch: u64, index: u64) -> Option<u64> {
        if epoch >= self.epoch {
            return None;
        }
        let oldest_known = self.epoch - self.cuts.len() as u64;
        if epoch < oldest_known {
            return Some(self.cuts.iter().map(|c| c.1).min().unwrap_or(0).min(index));
        }
        self.cuts
            .iter()
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
        if from > self.last.index {
            return Ok(());
        }
        let new_last = if from - 1 > self.boundary() {
            let prev = self.entry(from - 1)?.ok_or_else(|| {
                Error::corruption(self.dir(), 0, format!("entry {} vanished", from - 1))
            })?;
            prev.log_id()
        } else {
            self.last_purged.unwrap_or(LogId::new(0, 0))
        };
        self.epoch += 1;
        self.cuts.push_back((self.epoch, from));
        if self.cuts.len() > CUTS_KEPT {
            self.cuts.pop_front();
        }
        match self.cfg.strategy {
            Strategy::DiskFirst => {
                // The cut, and everything before it (a segment whose creation is not yet
                // synced in its directory included), is durable before truncate returns.
                let canary = self.cfg.canaries.on(Canary::TruncateNotDurable);
                let fs = self.fs.clone();
                let r = self.segs().and_then(|segs| {
                    segs.truncate(from)?;
                    match canary {
                        true => Ok(()),
                        false => segs.take_sync_job()?.run(&*fs),
                    }
                });
                self.poison(r)?;
                self.cache_tail.truncate_from(from);
                self.cache_ahead.truncate_from(from);
                if !canary {
                    self.durable_index = from - 1;
                }
            }
            Strategy::MemFirst => {
                self.mem.truncate_from(from);
                if from <= self.disk_written {
                    self.disk_truncate = Some(self.disk_truncate.map_or(from, |t| t.min(from)));
                    self.disk_written = from - 1;
                }
                self.unflushed_bytes = self.mem.payload_bytes_after(self.disk_written);
            }
        }
        self.last = new_last;
        self.durable_index = self.durable_index.min(from - 1);
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
        self.last_purged = Some(upto);
        if upto.index >= self.last.index {
            self.last = upto;
        }
        match self.cfg.strategy {
            Strategy::DiskFirst => {
                let early = self.cfg.canaries.on(Canary::PurgeBeforeBoundaryDurable);
                let r = (|| {
                    if early {
                        self.segs()?.remove_upto(upto.index)?;
                    }
                    self.meta.save(self.hard_state, Some(upto), false)?;
                    self.segs()?.remove_upto(upto.index)
                })();
                self.poison(r)?;
                self.cache_tail.drop_upto(upto.index);
                self.cache_ahead.drop_upto(upto.index);
                if self.segs.as_ref().expect(LENT).firsts().is_empty() {
                    // Every file is gone and the boundary is durable: nothing is owed.
                    self.durable_index = self.last.index;
                }
            }
            Strategy::MemFirst => {
                self.mem.drop_upto(upto.index);
                self.unflushed_bytes = self.mem.payload_bytes_after(self.disk_written);
                self.meta_dirty = true;
                self.pending_since_ms
                    .get_or_insert_with(|| self.clock.now_ms());
            }
        }
        self.check_invariants();
        Ok(())
    }
}

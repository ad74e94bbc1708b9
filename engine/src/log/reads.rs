//! Reads: the MemFirst window, or DiskFirst's cache with a lazy disk read (and a prefetch
//! run) on a miss.

use super::*;

impl Log {
    /// The entry at `index`, or `None` outside `first_index()..=last_index()`.
    pub fn entry(&mut self, index: u64) -> Result<Option<Entry>> {
        if index <= self.boundary() || index > self.last.index {
            return Ok(None);
        }
        if self.cfg.strategy == Strategy::MemFirst {
            return Ok(self.mem.get(index).cloned());
        }
        if let Some(e) = self
            .cache_tail
            .get(index)
            .or_else(|| self.cache_ahead.get(index))
        {
            self.stats.cache_hits += 1;
            telemetry::cache_read(true);
            return Ok(Some(e.clone()));
        }
        self.stats.cache_misses += 1;
        telemetry::cache_read(false);
        let run = self.read_run(index, self.cfg.prefetch_entries + 1)?;
        Ok(run.into_iter().next())
    }

    /// Reads from disk a run starting at `index` and keeps it as the prefetched window.
    fn read_run(&mut self, index: u64, count_max: usize) -> Result<Vec<Entry>> {
        let count_max = count_max.min((self.last.index + 1 - index) as usize);
        // A read writes the pending records out first; if that write fails they are gone,
        // and the log must refuse to sync (and acknowledge) them: poison it here, as every
        // write path does. (Found by the store scenarios: a failed read-triggered write,
        // then a sync that reported the dropped records durable.)
        let written = self.segs()?.write_pending();
        self.poison(written)?;
        let run = self.segs()?.read(index, count_max)?;
        if run.first().map(|e| e.index) != Some(index) {
            return Err(Error::corruption(
                self.dir(),
                0,
                format!("entry {index} missing from its segment"),
            ));
        }
        self.cache_ahead.clear();
        for e in run.iter().take(self.cfg.prefetch_entries + 1) {
            self.cache_ahead.push(e.clone());
        }
        Ok(run)
    }

    /// Entries `from..to_exclusive`, at most `count_max` of them and stopping once
    /// `bytes_max` payload bytes are reached (at least one entry is returned when any
    /// exists). Stops at the end of the log. `from` at or below the boundary is an error.
    pub fn entries(
        &mut self,
        from: u64,
        to_exclusive: u64,
        count_max: usize,
        bytes_max: u64,
    ) -> Result<Vec<Entry>> {
        if from <= self.boundary() {
            return Err(Error::Purged {
                index: from,
                last_purged: self.boundary(),
            });
        }
        let end = to_exclusive.min(self.last.index + 1);
        let mut out = Vec::new();
        let mut bytes = 0u64;
        let mut i = from;
        while i < end && out.len() < count_max && (out.is_empty() || bytes < bytes_max) {
            let cached = match self.cfg.strategy {
                Strategy::MemFirst => self.mem.get(i).cloned(),
                Strategy::DiskFirst => self
                    .cache_tail
                    .get(i)
                    .or_else(|| self.cache_ahead.get(i))
                    .cloned(),
            };
            let disk_first = self.cfg.strategy == Strategy::DiskFirst;
            if disk_first {
                telemetry::cache_read(cached.is_some());
                match cached.is_some() {
                    true => self.stats.cache_hits += 1,
                    false => self.stats.cache_misses += 1,
                }
            }
            let batch = match cached {
                Some(e) => vec![e],
                None if disk_first => {
                    let want = ((end - i) as usize).min(count_max - out.len());
                    self.read_run(i, want.max(self.cfg.prefetch_entries))?
                }
                None => {
                    return Err(Error::corruption(
                        self.dir(),
                        0,
                        format!("entry {i} missing from memory"),
                    ))
                }
            };
            for e in batch {
                if i >= end || out.len() >= count_max || (!out.is_empty() && bytes >= bytes_max) {
                    break;
                }
                debug_assert_eq!(e.index, i);
                bytes += e.payload.len() as u64;
                out.push(e);
                i += 1;
            }
        }
        Ok(out)
    }
}

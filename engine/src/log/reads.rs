//! Reads: the MemFirst window, or DiskFirst's cache with a lazy disk read (and a prefetch
//! run) on a miss.

use super::*;

impl Log {
    /// The entry at `index`, or `None` outside `first_index()..=last_index()`.
    pub fn entry(&mut self, index: u64) -> Result<Option<Entry>> {
        if index <= self.boundary() || index > self.core.last.index {
            return Ok(None);
        }
        match &mut self.mode {
            Mode::DiskFirst(d) => d.entry(&mut self.core, index),
            Mode::MemFirst(m) => m.entry(&mut self.core, index),
        }
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
        let end = to_exclusive.min(self.core.last.index + 1);
        let mut out = Vec::new();
        let mut bytes = 0u64;
        let mut i = from;
        while i < end && out.len() < count_max && (out.is_empty() || bytes < bytes_max) {
            let batch = match &mut self.mode {
                Mode::DiskFirst(d) => {
                    let want = ((end - i) as usize).min(count_max - out.len());
                    d.batch_at(&mut self.core, i, want)?
                }
                Mode::MemFirst(m) => {
                    let want = ((end - i) as usize).min(count_max - out.len());
                    m.batch_at(&mut self.core, i, want)?
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

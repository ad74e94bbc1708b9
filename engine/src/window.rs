//! A contiguous run of entries in memory: the DiskFirst read cache and the MemFirst log.

use std::collections::VecDeque;

use crate::types::Entry;

/// Entries `first ..= first + len - 1`, contiguous. Invariant: `entries[i].index == first + i`.
#[derive(Debug, Default)]
pub(crate) struct Window {
    first: u64,
    entries: VecDeque<Entry>,
    payload_bytes: u64,
}

impl Window {
    /// A window over `entries`, which must be contiguous.
    pub fn from_entries(entries: VecDeque<Entry>) -> Window {
        let first = entries.front().map_or(0, |e| e.index);
        debug_assert!(entries.iter().zip(first..).all(|(e, i)| e.index == i));
        let payload_bytes = entries.iter().map(|e| e.payload.len() as u64).sum();
        Window {
            first,
            entries,
            payload_bytes,
        }
    }

    #[inline]
    pub fn get(&self, index: u64) -> Option<&Entry> {
        let i = index.checked_sub(self.first)?;
        self.entries.get(usize::try_from(i).ok()?)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Index of the first entry, if any.
    pub fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|e| e.index)
    }

    /// Index of the last entry, if any.
    pub fn last_index(&self) -> Option<u64> {
        self.entries.back().map(|e| e.index)
    }

    /// Appends `entry`; one that does not continue the window restarts it.
    pub fn push(&mut self, entry: Entry) {
        if self.entries.is_empty() || self.first + self.entries.len() as u64 != entry.index {
            self.clear();
            self.first = entry.index;
        }
        self.payload_bytes += entry.payload.len() as u64;
        self.entries.push_back(entry);
        debug_assert_eq!(
            self.entries.back().map(|e| e.index),
            Some(self.first + self.entries.len() as u64 - 1)
        );
    }

    /// Drops entries from the front until at most `len_max` remain.
    pub fn shrink_front_to(&mut self, len_max: usize) {
        while self.entries.len() > len_max {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.payload_bytes -= e.payload.len() as u64;
            self.first += 1;
        }
    }

    /// Removes entries `from..`.
    pub fn truncate_from(&mut self, from: u64) {
        while self.entries.back().is_some_and(|e| e.index >= from) {
            let e = self.entries.pop_back().expect("non-empty");
            self.payload_bytes -= e.payload.len() as u64;
        }
    }

    /// Removes entries `..=upto`.
    pub fn drop_upto(&mut self, upto: u64) {
        while self.entries.front().is_some_and(|e| e.index <= upto) {
            self.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.payload_bytes = 0;
    }

    /// Payload bytes of the entries above `index`.
    pub fn payload_bytes_after(&self, index: u64) -> u64 {
        self.entries
            .iter()
            .rev()
            .take_while(|e| e.index > index)
            .map(|e| e.payload.len() as u64)
            .sum()
    }

    /// Clones of the entries `from..=to` (those present).
    pub fn slice(&self, from: u64, to: u64) -> Vec<Entry> {
        (from..=to).map_while(|i| self.get(i).cloned()).collect()
    }
}

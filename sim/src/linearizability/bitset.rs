//! A fixed-size bitset over operation ids, used as the memoization key of the search.

/// A set of operation ids below a fixed capacity, stored as 64-bit words.
///
/// Invariant: bits at positions `>= capacity` are always zero, so two sets with the same
/// members have equal words (and hash equally).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Bitset {
    words: Vec<u64>,
    capacity: usize,
}

impl Bitset {
    /// An empty set that can hold ids `0..capacity`.
    pub fn new(capacity: usize) -> Self {
        Bitset {
            words: vec![0; capacity.div_ceil(64)],
            capacity,
        }
    }

    /// Adds `i`.
    pub fn set(&mut self, i: usize) {
        debug_assert!(i < self.capacity, "bit {i} out of range {}", self.capacity);
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Removes `i`.
    pub fn clear(&mut self, i: usize) {
        debug_assert!(i < self.capacity, "bit {i} out of range {}", self.capacity);
        self.words[i / 64] &= !(1 << (i % 64));
    }

    /// True if `i` is in the set.
    #[cfg(test)]
    pub fn get(&self, i: usize) -> bool {
        i < self.capacity && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// The number of members.
    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The raw words, for use as a hash key.
    pub fn words(&self) -> &[u64] {
        &self.words
    }
}

#[cfg(test)]
mod tests {
    use super::Bitset;

    #[test]
    fn set_clear_and_count() {
        let mut b = Bitset::new(130);
        for i in [0, 63, 64, 129] {
            assert!(!b.get(i));
            b.set(i);
            assert!(b.get(i));
        }
        assert_eq!(b.count(), 4);
        assert_eq!(b.words().len(), 3);
        b.clear(64);
        assert!(!b.get(64));
        assert_eq!(b.count(), 3);
        assert!(!b.get(500), "out-of-range ids are simply absent");
    }

    #[test]
    fn equal_members_equal_words() {
        let mut a = Bitset::new(70);
        let mut b = Bitset::new(70);
        a.set(3);
        a.set(69);
        b.set(69);
        b.set(5);
        b.clear(5);
        b.set(3);
        assert_eq!(a, b);
        assert_eq!(a.words(), b.words());
    }
}

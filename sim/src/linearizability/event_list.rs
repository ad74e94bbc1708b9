//! A doubly linked list of events with O(1) removal and undo ("dancing links").

/// The head sentinel; event `k` is node `k + 1`, so node order is time order.
pub(crate) const HEAD: u32 = 0;
/// "No node".
pub(crate) const NONE: u32 = u32::MAX;

/// A circular list over some of the nodes `1..=n`, in increasing order, after `HEAD`.
///
/// Invariant: following `next` from `HEAD` visits the linked members in increasing order
/// and comes back to `HEAD`; `prev` is its inverse. A lifted node keeps its own links, so
/// it can be put back, provided puts happen in the reverse order of the lifts.
#[derive(Debug)]
pub(crate) struct EventList {
    next: Vec<u32>,
    prev: Vec<u32>,
}

impl EventList {
    /// A list of `members` (increasing node numbers, each in `1..=n`).
    pub fn new(n: usize, members: impl IntoIterator<Item = u32>) -> Self {
        let mut list = EventList {
            next: vec![NONE; n + 1],
            prev: vec![NONE; n + 1],
        };
        let mut last = HEAD;
        for node in members {
            debug_assert!(node > last && (node as usize) <= n, "members out of order");
            list.next[last as usize] = node;
            list.prev[node as usize] = last;
            last = node;
        }
        list.next[last as usize] = HEAD;
        list.prev[HEAD as usize] = last;
        list
    }

    /// The node after `node` (`HEAD` after the last one).
    pub fn next(&self, node: u32) -> u32 {
        self.next[node as usize]
    }

    /// The first node, or `HEAD` if the list is empty.
    pub fn first(&self) -> u32 {
        self.next[HEAD as usize]
    }

    /// Unlinks `node`.
    pub fn lift(&mut self, node: u32) {
        debug_assert!(node != HEAD);
        let (p, n) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    /// Links `node` back. Valid only in the reverse order of the lifts.
    pub fn unlift(&mut self, node: u32) {
        let (p, n) = (self.prev[node as usize], self.next[node as usize]);
        debug_assert_eq!(self.next[p as usize], n, "unlift out of order");
        self.next[p as usize] = node;
        self.prev[n as usize] = node;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &EventList) -> Vec<u32> {
        let mut v = Vec::new();
        let mut x = l.first();
        while x != HEAD {
            v.push(x);
            x = l.next(x);
        }
        v
    }

    #[test]
    fn lift_and_unlift_in_reverse_order() {
        let mut l = EventList::new(6, [1, 2, 4, 6]);
        assert_eq!(items(&l), vec![1, 2, 4, 6]);
        l.lift(2);
        l.lift(6);
        l.lift(1);
        assert_eq!(items(&l), vec![4]);
        l.unlift(1);
        l.unlift(6);
        assert_eq!(items(&l), vec![1, 4, 6]);
        l.unlift(2);
        assert_eq!(items(&l), vec![1, 2, 4, 6]);
        let empty = EventList::new(3, []);
        assert_eq!(empty.first(), HEAD);
    }
}

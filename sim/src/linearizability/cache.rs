//! The memo of explored configurations, with dominance over pending operations.
//!
//! A configuration is (completed operations linearized, pending operations linearized,
//! model state). Two paths reaching the same configuration have the same future, so each
//! is explored at most once; whatever is in the cache was explored (or is being explored
//! by an ancestor on the search stack) without finding a linearization.
//!
//! Pending operations (no return among the searched events) get a stronger rule. They are
//! optional and never block anything, so a configuration that used *fewer* of them can do
//! everything one that used more can: (done, used, state) is dominated by (done, used',
//! state) when `used' ⊆ used`, and a dominated configuration is skipped. (Dominance is a
//! simulation: each move of the dominated configuration is matched by the same move of the
//! dominating one, into a configuration that again dominates; so skipping loses no
//! success.) As a special case, a pending operation that leaves the state unchanged is
//! never worth linearizing.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::bitset::Bitset;

/// The linearized operations of a configuration, split as the cache needs them.
#[derive(Debug)]
pub(crate) struct Linearized {
    /// Completed operations (a return among the searched events), by operation id.
    pub done: Bitset,
    /// Pending operations, by their index among the pending ones.
    pub used: Bitset,
}

/// The words of a bitset, owned.
type Words = Box<[u64]>;

/// For one `done` set: per state, the minimal sets of pending operations used with it (an
/// antichain under inclusion).
type Bucket<S> = Vec<(S, Vec<Words>)>;

/// Explored configurations, keyed by `done` *and the state's hash*: a bucket holds only
/// the states of one `done` set whose hashes are equal, so a lookup compares a state with
/// its (rare) hash collisions only, never with every state reached with the same `done`
/// set (long model states made those comparisons the checker's main cost). A fixed hasher
/// keeps runs reproducible; the map is only queried, never iterated, so its order cannot
/// leak into results.
#[derive(Debug)]
pub(crate) struct Cache<S> {
    map: HashMap<Words, ByHash<S>, Fixed>,
}

type Fixed = BuildHasherDefault<DefaultHasher>;

/// The buckets of one `done` set, by state hash.
type ByHash<S> = HashMap<u64, Bucket<S>, Fixed>;

/// The state's hash under a fixed hasher.
fn state_hash<S: Hash>(state: &S) -> u64 {
    let mut h = DefaultHasher::new();
    state.hash(&mut h);
    h.finish()
}

impl<S: Clone + Eq + Hash> Cache<S> {
    pub fn new() -> Self {
        Cache {
            map: HashMap::default(),
        }
    }

    /// Marks (lin, state) as explored; false if it, or a configuration dominating it,
    /// already was.
    pub fn remember(&mut self, lin: &Linearized, state: &S) -> bool {
        let used = lin.used.words();
        let hash = state_hash(state);
        let fresh = || vec![(state.clone(), vec![Words::from(used)])];
        let Some(by_hash) = self.map.get_mut(lin.done.words()) else {
            let mut by_hash = ByHash::default();
            by_hash.insert(hash, fresh());
            self.map.insert(lin.done.words().into(), by_hash);
            return true;
        };
        let Some(bucket) = by_hash.get_mut(&hash) else {
            by_hash.insert(hash, fresh());
            return true;
        };
        let Some((_, sets)) = bucket.iter_mut().find(|(s, _)| s == state) else {
            bucket.push((state.clone(), vec![used.into()]));
            return true;
        };
        if sets.iter().any(|seen| subset(seen, used)) {
            return false;
        }
        // Keep the antichain minimal: whatever `used` dominates needs no entry of its own.
        sets.retain(|seen| !subset(used, seen));
        sets.push(used.into());
        true
    }

    /// The first successor at or after `from` whose configuration is new (and records it).
    pub fn first_new(&mut self, lin: &Linearized, succs: &[S], from: usize) -> Option<usize> {
        (from..succs.len()).find(|&i| self.remember(lin, &succs[i]))
    }
}

/// True if every member of `a` is in `b` (same length).
fn subset(a: &[u64], b: &[u64]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).all(|(x, y)| x & !y == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lin(done: &[usize], used: &[usize]) -> Linearized {
        let mut l = Linearized {
            done: Bitset::new(8),
            used: Bitset::new(8),
        };
        done.iter().for_each(|&i| l.done.set(i));
        used.iter().for_each(|&i| l.used.set(i));
        l
    }

    #[test]
    fn dominance_by_fewer_pending_operations() {
        let mut c = Cache::new();
        assert!(c.remember(&lin(&[0], &[1, 2]), &7));
        assert!(!c.remember(&lin(&[0], &[1, 2]), &7), "same configuration");
        assert!(!c.remember(&lin(&[0], &[1, 2, 3]), &7), "dominated");
        assert!(c.remember(&lin(&[0], &[1, 2]), &8), "another state");
        assert!(
            c.remember(&lin(&[0, 1], &[1, 2]), &7),
            "more done is not dominated"
        );
        assert!(c.remember(&lin(&[0], &[3]), &7), "incomparable");
        assert!(c.remember(&lin(&[0], &[1]), &7), "dominates {{1, 2}}");
        assert!(!c.remember(&lin(&[0], &[1, 2]), &7));
        assert!(!c.remember(&lin(&[0], &[1, 3]), &7));
        assert!(c.remember(&lin(&[0], &[]), &7), "dominates everything");
        assert!(!c.remember(&lin(&[0], &[4]), &7));
    }
}

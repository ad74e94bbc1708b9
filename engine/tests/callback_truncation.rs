//! A regression test for a flaw found while building the openraft adapter: callbacks used
//! to be keyed by index only, so replacements acknowledged truncated entries.

use std::sync::mpsc;
use std::time::Duration;

use logbook::{Config, Entry, FlushPolicy, Store, Strategy};

/// FINDING (not exposed by openraft's suite; found by reading `store.rs`): a callback given
/// to `append_with_callback` is keyed by the last index only. When a truncation removes its
/// entries before they are durable and other entries later fill the same indexes, the old
/// callback reports `Ok(index)` as soon as the *new* entries are durable: it acknowledges
/// entries that were never made durable and no longer exist. openraft's contract is "when the
/// callback is called, the entries must be persisted". Harmless with openraft 0.9, whose
/// RaftCore awaits every append's callback before its next log command, so no truncation can
/// overtake a pending callback; it matters for callers with appends in flight (openraft 0.10's
/// pipelined log IO, or any direct user of the callback API). Expected: the callback of
/// truncated entries is completed with an error (or at least never with `Ok`) when the
/// truncation removes them.
#[test]
fn callback_of_truncated_entries_is_not_acknowledged_by_their_replacements() {
    let dir = tempfile::tempdir().unwrap();
    let slow = FlushPolicy::Batch {
        threshold: 1_000,
        interval_ms: 60_000,
    };
    let store = Store::open(dir.path(), Config::new(Strategy::MemFirst, slow)).unwrap();
    let (tx, rx) = mpsc::channel();
    let old: Vec<Entry> = (1..=3).map(|i| Entry::new(i, 1, "old")).collect();
    store
        .append_with_callback(&old, move |r| {
            tx.send(r.map_err(|e| e.to_string())).unwrap()
        })
        .unwrap();
    assert!(rx.try_recv().is_err(), "nothing is durable yet");
    store.truncate(2).unwrap(); // entries 2 and 3 ("old") are gone, never durable
    let new: Vec<Entry> = (2..=3).map(|i| Entry::new(i, 2, "new")).collect();
    store.append(&new).unwrap();
    store.flush().unwrap();
    let got = rx.recv_timeout(Duration::from_secs(5));
    assert!(
        matches!(&got, Ok(Err(e)) if e.contains("truncated")),
        "the orphaned callback must fail with Truncated, got {got:?}"
    );
    if let Ok(Ok(index)) = got {
        panic!(
            "the callback of the truncated entries 1..=3 (term 1) reported Ok({index}); \
             only entry 1 of them is durable, 2 and 3 were replaced by term-2 entries"
        );
    }
}

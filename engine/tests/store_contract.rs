//! `Store`'s contract, property by property, under every strategy × policy: what a Raft node
//! reads back after a clean close and reopen (vote, purge boundary, entries, last log id),
//! and the limits and errors a caller can hit. Each case is a row: a name and a check that
//! runs against a fresh store in its own directory.

use logbook::{Config, Entry, Error, FlushPolicy, HardState, LogId, Store, Strategy};

const CONFIGS: &[(Strategy, FlushPolicy)] = &[
    (Strategy::DiskFirst, FlushPolicy::Immediate),
    (
        Strategy::DiskFirst,
        FlushPolicy::Batch {
            threshold: 4,
            interval_ms: 2,
        },
    ),
    (Strategy::MemFirst, FlushPolicy::Immediate),
    // A long interval: the flusher stays asleep, so only `close` or `flush` can persist.
    (
        Strategy::MemFirst,
        FlushPolicy::Batch {
            threshold: 1_000_000,
            interval_ms: 60_000,
        },
    ),
];

fn entries(from: u64, to: u64, term: u64) -> Vec<Entry> {
    (from..=to)
        .map(|i| Entry::new(i, term, format!("entry {i} term {term}").into_bytes()))
        .collect()
}

/// One case: `run` gets a config and a directory, and asserts on its own.
struct Case {
    name: &'static str,
    run: fn(Config, &std::path::Path),
}

const CASES: &[Case] = &[
    Case {
        name: "a saved vote and commit read back after a reopen",
        run: |cfg, dir| {
            let store = Store::open(dir, cfg.clone()).unwrap();
            assert_eq!(store.hard_state().unwrap(), HardState::default());
            let hs = HardState {
                term: 7,
                vote: Some(3),
                commit: 0,
            };
            store.save_hard_state(hs).unwrap();
            assert_eq!(store.hard_state().unwrap(), hs);
            // A crash cannot be staged on a real disk; dropping without close is the
            // nearest: the save must not depend on close.
            drop(store);
            let store = Store::open(dir, cfg).unwrap();
            assert_eq!(store.hard_state().unwrap(), hs);
        },
    },
    Case {
        name: "last_log_id is None on an empty log and the last entry's id after appends",
        run: |cfg, dir| {
            let store = Store::open(dir, cfg.clone()).unwrap();
            assert_eq!(store.last_log_id().unwrap(), None);
            assert_eq!(
                (store.first_index().unwrap(), store.last_index().unwrap()),
                (1, 0)
            );
            store.append(&entries(1, 3, 1)).unwrap();
            store.append(&entries(4, 6, 2)).unwrap();
            assert_eq!(store.last_log_id().unwrap(), Some(LogId::new(2, 6)));
            store.close().unwrap();
            let store = Store::open(dir, cfg).unwrap();
            assert_eq!(store.last_log_id().unwrap(), Some(LogId::new(2, 6)));
            assert_eq!(store.entry(4).unwrap().map(|e| e.term), Some(2));
        },
    },
    Case {
        name: "purge removes a prefix; first_index and last_purged report it, also after a reopen",
        run: |cfg, dir| {
            let store = Store::open(dir, cfg.clone()).unwrap();
            store.append(&entries(1, 10, 1)).unwrap();
            store.purge(LogId::new(1, 4)).unwrap();
            let check = |store: &Store| {
                assert_eq!(store.first_index().unwrap(), 5);
                assert_eq!(store.last_index().unwrap(), 10);
                assert_eq!(store.last_purged().unwrap(), Some(LogId::new(1, 4)));
                assert_eq!(store.entry(4).unwrap(), None, "a purged entry is gone");
                assert_eq!(store.entry(5).unwrap().map(|e| e.index), Some(5));
            };
            check(&store);
            store.close().unwrap();
            check(&Store::open(dir, cfg).unwrap());
        },
    },
    Case {
        name: "a purge beyond the last entry empties the log and keeps the boundary",
        run: |cfg, dir| {
            let store = Store::open(dir, cfg.clone()).unwrap();
            store.append(&entries(1, 5, 1)).unwrap();
            store.purge(LogId::new(3, 20)).unwrap();
            let check = |store: &Store| {
                assert_eq!(store.last_purged().unwrap(), Some(LogId::new(3, 20)));
                assert_eq!(store.first_index().unwrap(), 21);
                assert_eq!(store.last_index().unwrap(), 20);
                assert_eq!(store.last_log_id().unwrap(), Some(LogId::new(3, 20)));
            };
            check(&store);
            store.close().unwrap();
            let store = Store::open(dir, cfg).unwrap();
            check(&store);
            store.append(&entries(21, 22, 3)).unwrap();
            assert_eq!(store.last_log_id().unwrap(), Some(LogId::new(3, 22)));
        },
    },
    Case {
        name: "close makes every accepted entry durable: all of them read back after a reopen",
        run: |cfg, dir| {
            let store = Store::open(dir, cfg.clone()).unwrap();
            for i in 1..=50 {
                store.append(&entries(i, i, 1)).unwrap();
            }
            store.truncate(41).unwrap();
            store.append(&entries(41, 45, 2)).unwrap();
            store.close().unwrap();
            let store = Store::open(dir, cfg).unwrap();
            assert_eq!(store.last_log_id().unwrap(), Some(LogId::new(2, 45)));
            assert_eq!(store.durable_index().unwrap(), 45);
            let all = store.entries(1, 46, usize::MAX, u64::MAX).unwrap();
            let want: Vec<Entry> = entries(1, 40, 1)
                .into_iter()
                .chain(entries(41, 45, 2))
                .collect();
            assert_eq!(all, want);
        },
    },
    Case {
        name: "an oversized payload is refused with a typed error and changes nothing",
        run: |cfg, dir| {
            let store = Store::open(dir, cfg.with_payload_size_max_bytes(64)).unwrap();
            store.append(&entries(1, 2, 1)).unwrap();
            let big = Entry::new(3, 1, vec![7u8; 65]);
            match store.append(&[big]) {
                Err(Error::PayloadTooLarge {
                    size_bytes: 65,
                    max_bytes: 64,
                }) => {}
                other => panic!("expected PayloadTooLarge, got {other:?}"),
            }
            assert_eq!(store.last_index().unwrap(), 2);
            store.append(&[Entry::new(3, 1, vec![7u8; 64])]).unwrap();
            assert_eq!(store.last_index().unwrap(), 3);
        },
    },
    Case {
        name: "a single batch larger than the unflushed bound is accepted, and made durable",
        run: |cfg, dir| {
            let store = Store::open(dir, cfg.clone().with_unflushed_bytes_max(1024)).unwrap();
            let batch: Vec<Entry> = (1..=16)
                .map(|i| Entry::new(i, 1, vec![i as u8; 256]))
                .collect();
            assert_eq!(store.append(&batch).unwrap(), 16);
            store.flush().unwrap();
            store.close().unwrap();
            let store = Store::open(dir, cfg).unwrap();
            assert_eq!(store.entries(1, 17, usize::MAX, u64::MAX).unwrap(), batch);
        },
    },
    Case {
        name: "a truncation above a waiting append leaves it acknowledged; one below fails it",
        run: |cfg, dir| {
            let disk_first = cfg.strategy() == Strategy::DiskFirst;
            let store = Store::open(dir, cfg).unwrap();
            let waiting = store.append_deferred(&entries(1, 5, 1)).unwrap();
            store.truncate(6).unwrap(); // removes nothing
            assert_eq!(store.wait(waiting).unwrap(), 5);
            store.flush().unwrap();
            let waiting = store.append_deferred(&entries(6, 8, 1)).unwrap();
            store.truncate(7).unwrap();
            match (disk_first, store.wait(waiting)) {
                // DiskFirst acknowledges durability: 7 and 8 will never be durable.
                (true, Err(Error::Truncated { index: 8, from: 7 })) => {}
                (true, other) => panic!("expected Truncated, got {other:?}"),
                // MemFirst's `wait` acknowledges acceptance only.
                (false, r) => assert_eq!(r.unwrap(), 8),
            }
            assert_eq!(store.last_index().unwrap(), 6);
        },
    },
];

#[test]
fn store_contract() {
    let mut failures = Vec::new();
    for (strategy, policy) in CONFIGS {
        for case in CASES {
            let dir = tempfile::tempdir().unwrap();
            // Small segments: a 64 MiB one is preallocated, and a MemFirst open reads it whole.
            let cfg = Config::new(*strategy, *policy).with_segment_size_bytes(1 << 20);
            let run = std::panic::catch_unwind(|| (case.run)(cfg, dir.path()));
            if let Err(panic) = run {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{strategy:?}/{policy:?}: {}: {msg}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! Model test: random operation sequences against the engine's `Log` on the real
//! filesystem, checked after every step against the simulator's reference model
//! (`logbook_sim::model::State`, the one the swarm and the kill -9 checker use), for every
//! strategy x policy. No crash here: the live state must equal the model's at every step,
//! and a clean close and reopen must keep all of it.

use std::sync::Arc;

use logbook::{Config, Entry, FlushPolicy, HardState, Log, LogId, StdFs, SystemClock};
use logbook_sim::model::State;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        count: u8,
        term_bump: bool,
        payload_len: u16,
    },
    Truncate {
        back: u8,
    },
    Purge {
        ahead: i8,
    },
    HardState {
        term: u8,
        vote: Option<u8>,
    },
    Sync,
    ReadOne {
        back: u8,
    },
    ReadRange {
        back: u8,
        count: u8,
        bytes: u16,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..20, any::<bool>(), 0u16..600).prop_map(|(count, term_bump, payload_len)| Op::Append { count, term_bump, payload_len }),
        1 => (0u8..15).prop_map(|back| Op::Truncate { back }),
        1 => (-10i8..5).prop_map(|ahead| Op::Purge { ahead }),
        1 => (0u8..5, proptest::option::of(0u8..3)).prop_map(|(term, vote)| Op::HardState { term, vote }),
        1 => Just(Op::Sync),
        3 => (0u8..40).prop_map(|back| Op::ReadOne { back }),
        2 => (0u8..40, 0u8..30, 0u16..3000).prop_map(|(back, count, bytes)| Op::ReadRange { back, count, bytes }),
        1 => Just(Op::Reopen),
    ]
}

/// The reference: the logical state and the hard state last saved.
#[derive(Debug, Default)]
struct Model {
    state: State,
    hard_state: HardState,
}

/// The four strategy x policy pairs, with small segments, cache and prefetch so that a
/// short run rotates, misses and prefetches.
fn configs() -> [Config; 4] {
    use logbook::Strategy::*;
    use FlushPolicy::*;
    let batch = Batch {
        threshold: 8,
        interval_ms: 5,
    };
    [
        Config::new(DiskFirst, Immediate),
        Config::new(DiskFirst, batch),
        Config::new(MemFirst, Immediate),
        Config::new(MemFirst, batch),
    ]
    .map(|c| {
        c.with_segment_size_bytes(4096)
            .with_cache_entries_max(16)
            .with_prefetch_entries(4)
    })
}

fn check(log: &mut Log, m: &Model) {
    let last = m.state.last();
    assert_eq!(log.last_index(), last.index);
    assert_eq!(log.last_log_id(), (last.index > 0).then_some(last));
    assert_eq!(log.last_purged(), m.state.boundary);
    assert_eq!(log.first_index(), m.state.boundary_index() + 1);
    assert_eq!(log.hard_state(), m.hard_state);
    assert!(log.durable_index() <= log.last_index());
}

fn run(cfg: Config, ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(StdFs);
    let clock = Arc::new(SystemClock::new());
    let open = || Log::open(fs.clone(), clock.clone(), dir.path(), cfg.clone()).unwrap();
    let mut log = open();
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Append {
                count,
                term_bump,
                payload_len,
            } => {
                let last = m.state.last();
                let term = last.term.max(1) + term_bump as u64;
                let es: Vec<Entry> = (1..=count as u64)
                    .map(|k| {
                        let i = last.index + k;
                        let payload: Vec<u8> =
                            (0..payload_len).map(|b| (i as u16 ^ b) as u8).collect();
                        Entry::new(i, term, payload)
                    })
                    .collect();
                log.append(&es).unwrap();
                m.state = m.state.appended(&es);
                // A non-continuous append is refused and changes nothing.
                let gap = Entry::new(m.state.last().index + 2, term, vec![1]);
                assert!(matches!(
                    log.append(&[gap]),
                    Err(logbook::Error::NotContinuous { .. })
                ));
            }
            Op::Truncate { back } => {
                let from = m
                    .state
                    .last()
                    .index
                    .saturating_sub(back as u64)
                    .max(m.state.boundary_index() + 1);
                log.truncate(from).unwrap();
                m.state = m.state.truncated(from);
            }
            Op::Purge { ahead } => {
                let last = m.state.last();
                let upto = (last.index as i64 + ahead as i64).max(0) as u64;
                let term = m.state.visible(upto).map_or(last.term, |e| e.term);
                log.purge(LogId::new(term, upto)).unwrap();
                if upto > m.state.boundary_index() {
                    m.state = m.state.purged(LogId::new(term, upto));
                }
            }
            Op::HardState { term, vote } => {
                let hs = HardState {
                    term: term as u64,
                    vote: vote.map(u64::from),
                    commit: m.state.boundary_index(),
                };
                log.save_hard_state(hs).unwrap();
                m.hard_state = hs;
            }
            Op::Sync => {
                log.sync().unwrap();
                assert_eq!(
                    log.durable_index(),
                    log.last_index(),
                    "sync leaves nothing owed"
                );
            }
            Op::ReadOne { back } => {
                let i = m.state.last().index.saturating_sub(back as u64);
                let want = m.state.visible(i);
                assert_eq!(log.entry(i).unwrap().as_ref(), want, "entry {i}");
            }
            Op::ReadRange { back, count, bytes } => {
                let from = m
                    .state
                    .last()
                    .index
                    .saturating_sub(back as u64)
                    .max(m.state.boundary_index() + 1);
                let (count, bytes) = (count as usize, bytes as u64);
                let got = log.entries(from, from + 20, count, bytes).unwrap();
                let want = m.state.range(from, from + 20, count, bytes);
                assert_eq!(got, want, "range from {from} count {count} bytes {bytes}");
            }
            Op::Reopen => {
                log.close().unwrap();
                log = open();
                assert_eq!(log.durable_index(), log.last_index());
            }
        }
        check(&mut log, &m);
    }
    log.close().unwrap();
    let mut log = open();
    check(&mut log, &m);
    for e in m.state.log.iter() {
        let want = m.state.visible(e.index);
        assert_eq!(log.entry(e.index).unwrap().as_ref(), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn disk_first_immediate(ops in proptest::collection::vec(op(), 1..60)) {
        run(configs()[0].clone(), ops);
    }

    #[test]
    fn disk_first_batch(ops in proptest::collection::vec(op(), 1..60)) {
        run(configs()[1].clone(), ops);
    }

    #[test]
    fn mem_first_immediate(ops in proptest::collection::vec(op(), 1..60)) {
        run(configs()[2].clone(), ops);
    }

    #[test]
    fn mem_first_batch(ops in proptest::collection::vec(op(), 1..60)) {
        run(configs()[3].clone(), ops);
    }
}

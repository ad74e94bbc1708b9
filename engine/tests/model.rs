//! Model test: random operation sequences against the engine on the real filesystem, checked
//! after every step against a plain in-memory reference model, for every strategy x policy.

mod common;

use std::sync::Arc;

use logbook::{Config, Entry, HardState, Log, LogId, StdFs, SystemClock};
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

/// The reference: what the log must hold.
#[derive(Debug, Default)]
struct Model {
    entries: Vec<Entry>,
    purged: Option<LogId>,
    hard_state: HardState,
}

impl Model {
    fn boundary(&self) -> u64 {
        self.purged.map_or(0, |p| p.index)
    }
    fn last(&self) -> LogId {
        self.entries
            .last()
            .map(Entry::log_id)
            .or(self.purged)
            .unwrap_or(LogId::new(0, 0))
    }
    fn get(&self, i: u64) -> Option<&Entry> {
        self.entries.iter().find(|e| e.index == i)
    }
}

fn check(log: &mut Log, m: &Model) {
    assert_eq!(log.last_index(), m.last().index);
    assert_eq!(log.last_log_id(), (m.last().index > 0).then_some(m.last()));
    assert_eq!(log.last_purged(), m.purged);
    assert_eq!(log.first_index(), m.boundary() + 1);
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
                let last = m.last();
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
                m.entries.extend(es);
                // A non-continuous append is refused and changes nothing.
                let gap = Entry::new(m.last().index + 2, term, vec![1]);
                assert!(matches!(
                    log.append(&[gap]),
                    Err(logbook::Error::NotContinuous { .. })
                ));
            }
            Op::Truncate { back } => {
                let from = m
                    .last()
                    .index
                    .saturating_sub(back as u64)
                    .max(m.boundary() + 1);
                log.truncate(from).unwrap();
                m.entries.retain(|e| e.index < from);
            }
            Op::Purge { ahead } => {
                let upto = (m.last().index as i64 + ahead as i64).max(0) as u64;
                let term = m.get(upto).map_or(m.last().term, |e| e.term);
                log.purge(LogId::new(term, upto)).unwrap();
                if upto > m.boundary() {
                    m.purged = Some(LogId::new(term, upto));
                    m.entries.retain(|e| e.index > upto);
                }
            }
            Op::HardState { term, vote } => {
                let hs = HardState {
                    term: term as u64,
                    vote: vote.map(u64::from),
                    commit: m.boundary(),
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
                let i = m.last().index.saturating_sub(back as u64);
                assert_eq!(log.entry(i).unwrap().as_ref(), m.get(i), "entry {i}");
            }
            Op::ReadRange { back, count, bytes } => {
                let from = m
                    .last()
                    .index
                    .saturating_sub(back as u64)
                    .max(m.boundary() + 1);
                let got = log
                    .entries(from, from + 20, count as usize, bytes as u64)
                    .unwrap();
                let mut want = Vec::new();
                let mut total = 0u64;
                for e in m
                    .entries
                    .iter()
                    .filter(|e| e.index >= from && e.index < from + 20)
                {
                    if want.len() >= count as usize || (!want.is_empty() && total >= bytes as u64) {
                        break;
                    }
                    total += e.payload.len() as u64;
                    want.push(e.clone());
                }
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
    for e in &m.entries {
        assert_eq!(log.entry(e.index).unwrap().as_ref(), Some(e));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn disk_first_immediate(ops in proptest::collection::vec(op(), 1..60)) {
        run(common::all_configs()[0].1.clone(), ops);
    }

    #[test]
    fn disk_first_batch(ops in proptest::collection::vec(op(), 1..60)) {
        run(common::all_configs()[1].1.clone(), ops);
    }

    #[test]
    fn mem_first_immediate(ops in proptest::collection::vec(op(), 1..60)) {
        run(common::all_configs()[2].1.clone(), ops);
    }

    #[test]
    fn mem_first_batch(ops in proptest::collection::vec(op(), 1..60)) {
        run(common::all_configs()[3].1.clone(), ops);
    }
}

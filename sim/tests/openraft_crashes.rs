//! The openraft adapter under power loss: on `SimDisk`, after every crash and reopen, what
//! openraft reads back (vote, last log id, purged, entries) is what it was told was durable,
//! never older. openraft counts an entry durable once `append`'s callback fired
//! (`blocking_append` returned) and a vote once `save_vote` returned.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use logbook::openraft::LogStore;
use logbook::{Config, FlushPolicy, Store, Strategy};
use logbook_sim::clock::SimClock;
use logbook_sim::disk::{FaultRates, SimDisk};
use logbook_sim::trace::Trace;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::testing::log_id;
use openraft::{EntryPayload, LogId, RaftLogReader, Vote};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

openraft::declare_raft_types!(
    /// Node ids `u64`, entries `openraft::Entry`.
    TypeConfig
);

type Entry = openraft::Entry<TypeConfig>;

const DIR: &str = "/raft";

/// What openraft was told was durable, and what a crash may or may not have kept.
#[derive(Debug, Default)]
struct Told {
    vote: Option<Vote<u64>>,
    /// A `save_vote` cut by the crash: it may have landed.
    vote_in_flight: Option<Vote<u64>>,
    /// Entries whose append was acknowledged, by index (term).
    entries: BTreeMap<u64, u64>,
    /// The highest purge attempted: entries up to it may be gone.
    purge_attempted: u64,
}

fn rates() -> FaultRates {
    FaultRates {
        lost_write: 0.3,
        torn_write: 0.3,
        lost_dir_entry: 0.3,
        non_atomic_rename: 0.2,
        ..FaultRates::none()
    }
}

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, 1, index),
        payload: EntryPayload::Normal(format!("{index}/{term}")),
    }
}

/// Reopens and checks the adapter's view against `told`; returns the store and last id.
async fn reopen_and_check(
    disk: &SimDisk,
    clock: &SimClock,
    cfg: &Config,
    told: &mut Told,
    case: &str,
) -> Option<(LogStore<TypeConfig>, Option<LogId<u64>>)> {
    let store = Store::open_with(
        Arc::new(disk.clone()),
        Arc::new(clock.clone()),
        DIR,
        cfg.clone(),
    )
    .ok()?;
    let mut s = LogStore::<TypeConfig>::new(store).ok()?;
    let vote = s.read_vote().await.expect("read vote");
    assert!(
        vote == told.vote || (told.vote_in_flight.is_some() && vote == told.vote_in_flight),
        "{case}: vote {vote:?}, told {:?} (in flight {:?})",
        told.vote,
        told.vote_in_flight
    );
    told.vote = vote;
    told.vote_in_flight = None;
    let state = s.get_log_state().await.expect("log state");
    let purged = state.last_purged_log_id.map_or(0, |l| l.index);
    assert!(
        purged <= told.purge_attempted,
        "{case}: purged to {purged}, no purge asked past {}",
        told.purge_attempted
    );
    let last = state.last_log_id.map_or(0, |l| l.index);
    let acked_last = told.entries.keys().next_back().copied().unwrap_or(0);
    assert!(
        last >= acked_last,
        "{case}: last log id {last} older than the acknowledged {acked_last}"
    );
    let from = purged + 1;
    let got = if last >= from {
        s.try_get_log_entries(from..=last).await.expect("entries")
    } else {
        Vec::new()
    };
    for (index, term) in told.entries.range(from..) {
        let e = got.get((index - from) as usize);
        assert_eq!(
            e.map(|e| (e.log_id.index, e.log_id.leader_id.term)),
            Some((*index, *term)),
            "{case}: acknowledged entry {index} (term {term}) not read back"
        );
    }
    // What is read back is the new truth (an unacknowledged suffix may have survived).
    told.entries = got
        .iter()
        .map(|e| (e.log_id.index, e.log_id.leader_id.term))
        .collect();
    Some((s, state.last_log_id))
}

/// One incarnation: random openraft calls until the armed crash makes one fail.
async fn incarnation(
    s: &mut LogStore<TypeConfig>,
    mut last: Option<LogId<u64>>,
    told: &mut Told,
    rng: &mut ChaCha8Rng,
) {
    let mut term = last
        .map_or(1, |l| l.leader_id.term)
        .max(told.vote.map_or(1, |v| v.leader_id.term));
    for _ in 0..40 {
        let next = last
            .map_or(0, |l| l.index + 1)
            .max(told.purge_attempted + 1);
        match rng.gen_range(0..10) {
            0..=5 => {
                let n = rng.gen_range(1..=4);
                let batch: Vec<Entry> = (next..next + n).map(|i| entry(term, i)).collect();
                if s.blocking_append(batch).await.is_err() {
                    return;
                }
                for i in next..next + n {
                    told.entries.insert(i, term);
                }
                last = Some(log_id(term, 1, next + n - 1));
            }
            6 => {
                term += 1;
                let v = Vote::new(term, rng.gen_range(0..3));
                told.vote_in_flight = Some(v);
                if s.save_vote(&v).await.is_err() {
                    return;
                }
                told.vote = Some(v);
                told.vote_in_flight = None;
            }
            7 | 8 => {
                let Some(l) = last.filter(|l| l.index > told.purge_attempted + 1) else {
                    continue;
                };
                let at = rng.gen_range(told.purge_attempted + 1..=l.index);
                let cut = log_id(told.entries.get(&at).copied().unwrap_or(term), 1, at);
                told.entries.split_off(&at);
                term += 1;
                if s.truncate(cut).await.is_err() {
                    return;
                }
                last = (at > 0).then(|| {
                    log_id(
                        told.entries.get(&(at - 1)).copied().unwrap_or(term),
                        1,
                        at - 1,
                    )
                });
            }
            _ => {
                let Some(l) = last.filter(|l| l.index > told.purge_attempted) else {
                    continue;
                };
                let upto = rng.gen_range(told.purge_attempted..=l.index);
                let Some(t) = told.entries.get(&upto).copied() else {
                    continue;
                };
                told.purge_attempted = upto;
                if s.purge(log_id(t, 1, upto)).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn crash_runs(strategy: Strategy, flush: FlushPolicy, seeds: u64) {
    crash_runs_with(Config::new(strategy, flush), seeds).await
}

async fn crash_runs_with(cfg: Config, seeds: u64) {
    let (strategy, flush) = (cfg.strategy(), cfg.flush());
    let cfg = cfg.with_segment_size_bytes(4096);
    for seed in 0..seeds {
        let case = format!("{strategy:?} {flush:?} seed {seed}");
        let disk = SimDisk::new(seed, rates(), Trace::new(false));
        let clock = SimClock::new(0);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut told = Told::default();
        for round in 0..4 {
            let case = format!("{case} round {round}");
            let Some((mut s, last)) = reopen_and_check(&disk, &clock, &cfg, &mut told, &case).await
            else {
                disk.crash();
                continue;
            };
            disk.arm_crash_at(disk.fs_calls() + rng.gen_range(1..120));
            incarnation(&mut s, last, &mut told, &mut rng).await;
            drop(s);
            disk.disarm_crash();
            disk.crash();
        }
        let final_case = format!("{case} final");
        assert!(
            reopen_and_check(&disk, &clock, &cfg, &mut told, &final_case)
                .await
                .is_some(),
            "{final_case}: the store did not reopen"
        );
    }
}

fn block_on(f: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn what_openraft_reads_back_after_power_loss_is_never_older_than_it_was_told() {
    block_on(async {
        crash_runs(Strategy::DiskFirst, FlushPolicy::Immediate, 40).await;
        // Immediate: the test's SimClock stands still, so a Batch interval would never pass.
        crash_runs(Strategy::MemFirst, FlushPolicy::Immediate, 40).await;
    });
}

/// The check is not blind: with acknowledgements sent before the fsync, it fails.
#[test]
fn the_check_catches_an_ack_before_fsync() {
    std::panic::set_hook(Box::new(|_| {}));
    let caught = std::panic::catch_unwind(|| {
        block_on(crash_runs_with(
            Config::new(Strategy::DiskFirst, FlushPolicy::Immediate)
                .with_canary(logbook::Canary::AckBeforeFsync),
            200,
        ))
    });
    let _ = std::panic::take_hook();
    assert!(caught.is_err(), "an ack before its fsync went unnoticed");
}

//! Invariant 6 under madsim: concurrent client tasks on one `AsyncStore` over the simulated
//! disk, with crashes and restarts, for every strategy x policy; every epoch's history (from
//! a recovery to the next crash) is checked for linearizability against the Raft log model,
//! starting from the recovered state. Operations in flight at a crash stay pending.
//!
//! Run: `scripts/madsim-test` (or `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/sim
//! cargo test -p logbook-sim --test madsim_clients`); `MADSIM_TEST_SEED` and
//! `MADSIM_TEST_NUM` choose the seeds, and a failure prints its seed.
#![cfg(madsim)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use logbook::{AsyncStore, Canary, Config, Entry, Error, FlushPolicy, LogId, Strategy, TaskClock};
use logbook_sim::disk::{FaultRates, SimDisk};
use logbook_sim::linearizability::{
    check, CheckResult, History, LogEntry, LogError, LogInput, LogOutput, LogState, Model, OpId,
    RaftLog,
};
use logbook_sim::trace::{fnv1a, Trace};
use madsim::rand::{thread_rng, Rng};

const CLIENTS: u64 = 4;
const OPS_PER_CLIENT: usize = 12;
const EPOCHS: usize = 4;

/// The Raft log model, starting from a recovered state.
struct FromState(LogState);

impl Model for FromState {
    type State = LogState;
    type Input = LogInput;
    type Output = LogOutput;
    fn init(&self) -> LogState {
        self.0.clone()
    }
    fn step(&self, s: &LogState, i: &LogInput, o: Option<&LogOutput>) -> Vec<LogState> {
        RaftLog.step(s, i, o)
    }
    fn is_read_only(&self, i: &LogInput, o: Option<&LogOutput>) -> bool {
        RaftLog.is_read_only(i, o)
    }
}

fn model_entry(e: &Entry) -> LogEntry {
    LogEntry {
        index: e.index,
        term: e.term,
        payload: fnv1a(&e.payload),
    }
}

type Hist = Arc<Mutex<History<LogInput, LogOutput>>>;

fn invoke(h: &Hist, client: u64, input: LogInput) -> OpId {
    h.lock().unwrap().invoke(client, input).unwrap()
}

fn complete(h: &Hist, id: OpId, out: LogOutput) {
    h.lock().unwrap().complete(id, out).unwrap();
}

/// Maps an engine result onto the model's outputs; `None` for a failure that leaves the
/// operation's effect unknown (a crash): it stays pending.
fn outcome<T>(r: Result<T, Error>, ok: impl FnOnce(T) -> LogOutput) -> Option<LogOutput> {
    match r {
        Ok(v) => Some(ok(v)),
        Err(Error::NotContinuous { .. }) => Some(LogOutput::Err(LogError::NotContinuous)),
        Err(Error::Purged { .. }) => Some(LogOutput::Err(LogError::Purged)),
        // The append took effect; another client's truncation removed it before it was durable.
        Err(Error::Truncated { .. }) => Some(LogOutput::Ok),
        Err(_) => None,
    }
}

async fn client(store: AsyncStore, h: Hist, id: u64, seed: u64) {
    for k in 0..OPS_PER_CLIENT {
        let mut rng = thread_rng();
        let Ok(last) = store.last_index().await else {
            return;
        };
        let (input, out) = match rng.gen_range(0..10) {
            0..=3 => {
                let n = rng.gen_range(1..=3u64);
                let es: Vec<Entry> = (1..=n)
                    .map(|j| {
                        Entry::new(last + j, 1, format!("c{id}-s{seed}-k{k}-{j}").into_bytes())
                    })
                    .collect();
                let op = invoke(
                    &h,
                    id,
                    LogInput::Append {
                        entries: es.iter().map(model_entry).collect(),
                    },
                );
                (op, outcome(store.append(&es).await, |_| LogOutput::Ok))
            }
            4..=5 => {
                let index = rng.gen_range(0..=last + 1);
                let op = invoke(&h, id, LogInput::Read { index });
                (
                    op,
                    outcome(store.entry(index).await, |e| {
                        LogOutput::Entry(e.map(|e| (e.term, fnv1a(&e.payload))))
                    }),
                )
            }
            6 => {
                let from = rng.gen_range(0..=last + 1);
                let to = from + rng.gen_range(1..5);
                let op = invoke(
                    &h,
                    id,
                    LogInput::ReadRange {
                        from,
                        to_exclusive: to,
                    },
                );
                let r = store.entries(from, to, usize::MAX, u64::MAX).await;
                (
                    op,
                    outcome(r, |v| {
                        LogOutput::Entries(v.iter().map(model_entry).collect())
                    }),
                )
            }
            7 => {
                let op = invoke(&h, id, LogInput::LastIndex);
                (op, outcome(store.last_index().await, LogOutput::LastIndex))
            }
            8 => {
                let from = last.saturating_sub(rng.gen_range(0..3)).max(1);
                let op = invoke(&h, id, LogInput::Truncate { from });
                (op, outcome(store.truncate(from).await, |_| LogOutput::Ok))
            }
            _ => {
                let upto = last.saturating_sub(rng.gen_range(1..6));
                let op = invoke(&h, id, LogInput::Purge { upto });
                (
                    op,
                    outcome(store.purge(LogId::new(1, upto)).await, |_| LogOutput::Ok),
                )
            }
        };
        match out {
            Some(o) => complete(&h, input, o),
            None => return, // crashed: the operation stays pending
        }
        madsim::time::sleep(Duration::from_millis(rng.gen_range(0..3))).await;
    }
}

struct Totals {
    histories: u64,
    ops: u64,
    crashes: u64,
}

/// Runs `EPOCHS` epochs of concurrent clients with a crash in each; returns the first
/// non-linearizable history, if any.
async fn run(cfg: Config, totals: &mut Totals) -> Result<(), String> {
    let seed: u64 = thread_rng().gen();
    let rates = FaultRates {
        torn_write: 0.3,
        lost_write: 0.3,
        lost_dir_entry: 0.3,
        ..FaultRates::none()
    };
    let disk = SimDisk::new(seed, rates, Trace::new(false));
    for epoch in 0..EPOCHS {
        let store = loop {
            match AsyncStore::open(
                Arc::new(disk.clone()),
                Arc::new(TaskClock::new()),
                "/store",
                cfg.clone(),
            )
            .await
            {
                Ok(s) => break s,
                Err(_) => {
                    disk.crash();
                }
            }
        };
        let boundary = store.last_purged().await.unwrap().map_or(0, |b| b.index);
        let last = store.last_index().await.unwrap();
        let recovered = if last > boundary {
            store
                .entries(boundary + 1, last + 1, usize::MAX, u64::MAX)
                .await
                .unwrap()
        } else {
            vec![]
        };
        let init = LogState::new(boundary, recovered.iter().map(model_entry).collect())
            .expect("recovered log is contiguous");
        let h: Hist = Arc::new(Mutex::new(History::new()));
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|c| madsim::task::spawn(client(store.clone(), h.clone(), c, seed)))
            .collect();
        // Crash the machine at a random moment, between calls or inside one.
        madsim::time::sleep(Duration::from_millis(thread_rng().gen_range(1..30))).await;
        if thread_rng().gen_bool(0.5) {
            disk.arm_crash_at(disk.fs_calls() + thread_rng().gen_range(1..10));
            madsim::time::sleep(Duration::from_millis(5)).await;
        }
        disk.crash();
        totals.crashes += 1;
        for t in tasks {
            let _ = t.await;
        }
        drop(store);
        let h = h.lock().unwrap().clone();
        totals.histories += 1;
        totals.ops += h.len() as u64;
        let result = check(&FromState(init), &h);
        if let CheckResult::NotLinearizable { window } = &result {
            let verdict = format!(
                "seed {seed} epoch {epoch} ({:?}/{:?}): not linearizable:\n{window}",
                cfg.strategy(),
                cfg.flush()
            );
            let picture = draw_lanes(&format!("madsim-{seed}-{epoch}"), &verdict, &h, &result);
            return Err(format!("{verdict}\npicture: {picture}"));
        }
    }
    Ok(())
}

/// Writes the lanes of a failing history (one self-contained HTML page) to the system's
/// temporary directory and returns its path, for the failure message.
fn draw_lanes<I: std::fmt::Debug, O: std::fmt::Debug>(
    name: &str,
    verdict: &str,
    h: &History<I, O>,
    result: &CheckResult<I, O>,
) -> String {
    let lanes = logbook_sim::html::LaneOp::from_history(h, result);
    let page = logbook_sim::html::lanes_page(name, verdict, true, &lanes);
    let path = std::env::temp_dir().join(format!("{name}.html"));
    match std::fs::write(&path, page) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not written: {e})"),
    }
}

fn configs() -> Vec<Config> {
    let batch = FlushPolicy::Batch {
        threshold: 4,
        interval_ms: 2,
    };
    [
        (Strategy::DiskFirst, FlushPolicy::Immediate),
        (Strategy::DiskFirst, batch),
        (Strategy::MemFirst, FlushPolicy::Immediate),
        (Strategy::MemFirst, batch),
    ]
    .into_iter()
    .map(|(s, f)| Config::new(s, f).with_segment_size_bytes(4096))
    .collect()
}

#[madsim::test]
async fn concurrent_clients_are_linearizable_across_crashes() {
    let mut totals = Totals {
        histories: 0,
        ops: 0,
        crashes: 0,
    };
    for cfg in configs() {
        if let Err(e) = run(cfg, &mut totals).await {
            panic!("{e}");
        }
    }
    println!(
        "checked {} histories ({} operations, {} crashes): all linearizable",
        totals.histories, totals.ops, totals.crashes
    );
}

#[madsim::test]
async fn a_stale_read_cache_is_caught() {
    let mut totals = Totals {
        histories: 0,
        ops: 0,
        crashes: 0,
    };
    for round in 0..50 {
        for cfg in configs() {
            let cfg = cfg.with_canary(Canary::StaleReadAfterTruncate);
            if let Err(e) = run(cfg, &mut totals).await {
                println!("canary stale-read-after-truncate caught in round {round} after {} histories:\n{e}", totals.histories);
                return;
            }
        }
    }
    panic!(
        "the stale-read canary survived {} histories",
        totals.histories
    );
}

//! A 3-node raft-rs 0.7 cluster in one process: each node on its own thread with its
//! storage in its own directory (the real fsync path), messages delivered in memory.
//! Node 1 campaigns at start; a client on it keeps `depth` proposals of `size` bytes in
//! flight. A proposal's commit latency runs from `propose` to the moment the leader sees
//! it among its committed entries; throughput is committed proposals per second of the
//! row's wall time (`opts.row_time`, timed once the leader has committed its first entry).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Barrier;

use ::raft::eraftpb::Message;
use ::raft::{RawNode, StateRole};

use crate::peers::raft_storage::{
    self as rs, EngineStorage, Net, NodeStorage, Outbox, CACHE_ENTRIES,
};

use super::*;

/// Nodes in the cluster.
const NODES: u64 = 3;
/// raft-rs tick interval (election after 200 ticks, heartbeats every 10).
const TICK: Duration = Duration::from_millis(10);
/// The longest the leader may take to be elected and commit its first entry.
const WARMUP_MAX: Duration = Duration::from_secs(10);

/// The client on the leader: proposals in flight and their commit latencies.
struct Client {
    depth: usize,
    template: Vec<u8>,
    time: Duration,
    bytes_left: u64,
    next_seq: u64,
    inflight: VecDeque<(u64, Instant)>,
    lat: Samples,
    committed: u64,
    created: Instant,
    start: Option<Instant>,
    end: Option<Instant>,
}

impl Client {
    fn new(size: usize, depth: usize, time: Duration, bytes_max: u64) -> Client {
        Client {
            depth,
            template: payload(size.max(8)).to_vec(),
            time,
            bytes_left: bytes_max,
            next_seq: 1,
            inflight: VecDeque::new(),
            lat: Samples::with_capacity(1 << 16),
            committed: 0,
            created: Instant::now(),
            start: None,
            end: None,
        }
    }

    /// Records what the leader saw committed (in commit order).
    fn on_committed(&mut self, seen: &[(u64, Instant)]) {
        for &(seq, at) in seen {
            while let Some(&(s, t0)) = self.inflight.front() {
                if s > seq {
                    break;
                }
                self.inflight.pop_front();
                if s == seq {
                    self.lat.push(at - t0);
                    self.committed += 1;
                }
            }
        }
    }

    /// Starts the clock once `raw` leads with its first entry committed, then keeps
    /// `depth` proposals in flight. True once the row's time (or byte budget) is spent.
    fn step<S: ::raft::Storage>(&mut self, raw: &mut RawNode<S>) -> Res<bool> {
        let now = Instant::now();
        let Some(start) = self.start else {
            let log = &raw.raft.raft_log;
            if raw.raft.state == StateRole::Leader && log.committed >= log.last_index() {
                self.start = Some(now);
            } else if now - self.created > WARMUP_MAX {
                return Err("node 1 did not become leader in time".into());
            }
            return Ok(false);
        };
        if now - start >= self.time || self.bytes_left == 0 {
            self.end = Some(now);
            return Ok(true);
        }
        while self.inflight.len() < self.depth && self.bytes_left > 0 {
            let mut data = self.template.clone();
            data[..8].copy_from_slice(&self.next_seq.to_le_bytes());
            self.bytes_left = self.bytes_left.saturating_sub(data.len() as u64);
            raw.propose(vec![], data)
                .map_err(|e| format!("proposal refused (leadership lost?): {e}"))?;
            self.inflight.push_back((self.next_seq, Instant::now()));
            self.next_seq += 1;
        }
        Ok(false)
    }
}

/// Handles every `Ready` and the deferred durability work until the node settles.
fn drive<S: NodeStorage>(
    raw: &mut RawNode<S>,
    path: &mut S::Path,
    out: &mut Outbox,
) -> Res<Option<Duration>> {
    for _ in 0..1000 {
        while raw.has_ready() {
            S::on_ready(raw, path, out)?;
        }
        let next = S::poll(raw, path, out)?;
        if !raw.has_ready() {
            return Ok(next);
        }
    }
    Err("raft-rs kept producing readies".into())
}

/// One node's event loop: receive, tick, propose (leader's client), handle readies.
/// Returns its client (node 1) once the row is over.
fn node_loop<S: NodeStorage>(
    raw: &mut RawNode<S>,
    path: &mut S::Path,
    rx: &Receiver<Message>,
    net: &Net,
    stop: &AtomicBool,
    mut client: Option<Client>,
) -> Res<Option<Client>> {
    let mut out = Outbox::new(net);
    let mut next_tick = Instant::now() + TICK;
    let mut wait = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(wait) {
            Ok(m) => {
                raw.step(m)?;
                while let Ok(m) = rx.try_recv() {
                    raw.step(m)?;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_tick {
            raw.tick();
            next_tick = Instant::now() + TICK;
        }
        let mut busy = false;
        if let Some(c) = client.as_mut() {
            c.on_committed(&out.committed);
            if c.step(raw)? {
                stop.store(true, Ordering::Relaxed);
            }
            busy = c.start.is_some();
        }
        out.committed.clear();
        let poll = drive(raw, path, &mut out)?;
        wait = next_tick.saturating_duration_since(Instant::now());
        if let Some(p) = poll {
            wait = wait.min(p);
        }
        if busy && !out.committed.is_empty() {
            wait = Duration::ZERO;
        }
    }
    Ok(client)
}

struct ClusterOutcome {
    client: Client,
    leader_fsyncs: Option<u64>,
}

/// Runs the cluster: node `id` opened by `open(id, dir)` on its own thread.
fn run_cluster<S: NodeStorage>(
    dir: &Path,
    open: impl Fn(u64, &Path) -> Res<(RawNode<S>, S::Path)> + Sync,
    client: Client,
) -> Res<ClusterOutcome> {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..NODES).map(|_| channel::<Message>()).unzip();
    let net = Net { txs };
    let stop = AtomicBool::new(false);
    let opened = Barrier::new(NODES as usize);
    let mut client = Some(client);
    let results: Vec<Res<Option<ClusterOutcome>>> = std::thread::scope(|s| {
        let handles: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(i, rx)| {
                let id = i as u64 + 1;
                let (net, stop, opened, open) = (&net, &stop, &opened, &open);
                let client = if id == 1 { client.take() } else { None };
                let node_dir = dir.join(format!("node{id}"));
                s.spawn(move || {
                    let node = open(id, &node_dir);
                    opened.wait();
                    let r = (|| -> Res<Option<ClusterOutcome>> {
                        let (mut raw, mut path) = node?;
                        if id == 1 {
                            raw.campaign()?;
                        }
                        let c = node_loop(&mut raw, &mut path, &rx, net, stop, client)?;
                        Ok(c.map(|client| ClusterOutcome {
                            client,
                            leader_fsyncs: S::fsyncs(&path),
                        }))
                    })();
                    // Whatever ended this node (the row's time, an error) ends the others.
                    stop.store(true, Ordering::Relaxed);
                    r
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("node thread panicked".into()))
            })
            .collect()
    });
    let mut out = None;
    for r in results {
        if let Some(o) = r? {
            out = Some(o);
        }
    }
    out.ok_or_else(|| "node 1 returned no client".into())
}

/// Who stores the cluster's log.
#[derive(Clone, Copy)]
enum RaftSys {
    Logbook(Variant),
    /// raft-engine; `true`: every `Ready` synced, not only `must_sync` ones.
    RaftEngine(bool),
}

impl RaftSys {
    fn name(&self) -> String {
        match self {
            RaftSys::Logbook(v) => v.name(),
            RaftSys::RaftEngine(false) => RAFT_ENGINE.to_string(),
            RaftSys::RaftEngine(true) => format!("{RAFT_ENGINE} (sync every Ready)"),
        }
    }

    fn note(&self) -> String {
        match self {
            RaftSys::Logbook(_) => String::new(),
            RaftSys::RaftEngine(sync_all) => format!(
                "; {}, {CACHE_ENTRIES}-entry tail cache",
                match sync_all {
                    false => "sync = Ready::must_sync() (TiKV's)",
                    true => "every Ready synced",
                }
            ),
        }
    }
}

/// One system's rounds of one workload, summed.
#[derive(Default)]
struct Tally {
    commits: u64,
    wall: Duration,
    lat: Samples,
    fsyncs: Option<u64>,
    /// Committed proposals per second of each round.
    rates: Vec<f64>,
    error: Option<String>,
}

/// One round: a fresh cluster of `sys` for `opts.row_time`, added to `t`.
fn raft_round(opts: &Opts, sys: RaftSys, size: usize, depth: usize, t: &mut Tally) -> Res<()> {
    let dir = fresh_dir(opts, "raft")?;
    let client = Client::new(size, depth, opts.row_time, opts.row_bytes_max);
    let (seg, batch) = (opts.segment_bytes, opts.batch);
    let run = match sys {
        RaftSys::Logbook(v) => run_cluster(
            &dir,
            |id, d| rs::open_logbook(id, NODES, d, v, batch, seg),
            client,
        ),
        RaftSys::RaftEngine(sync_all) => run_cluster::<EngineStorage>(
            &dir,
            |id, d| rs::open_raft_engine(id, NODES, d, seg, sync_all),
            client,
        ),
    };
    remove_dir(&dir);
    let out = match run {
        Ok(out) => out,
        Err(e) => {
            t.error = Some(e.to_string());
            return Ok(());
        }
    };
    let c = out.client;
    let wall = c.end.zip(c.start).map_or(Duration::ZERO, |(e, s)| e - s);
    t.commits += c.committed;
    t.wall += wall;
    t.lat.merge(c.lat);
    t.rates
        .push(c.committed as f64 / wall.as_secs_f64().max(1e-9));
    if let Some(f) = out.leader_fsyncs {
        *t.fsyncs.get_or_insert(0) += f;
    }
    Ok(())
}

fn tally_row(workload: &str, sys: RaftSys, mut t: Tally) -> Row {
    if let Some(e) = t.error {
        return Row::na(workload, &sys.name(), &e);
    }
    let mut row = Row::new(workload, &sys.name());
    row.rate = Some(t.commits as f64 / t.wall.as_secs_f64().max(1e-9));
    row.lat = t.lat.summary();
    let lo = t.rates.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = t.rates.iter().copied().fold(0.0, f64::max);
    row.note = format!(
        "{} commits; rounds {} .. {}/s",
        t.commits,
        fmt_rate(lo),
        fmt_rate(hi)
    );
    if let Some(f) = t.fsyncs {
        let per = f as f64 / t.commits.max(1) as f64;
        row.note += &format!("; leader fsyncs {per:.2} per commit");
    }
    row.note += &sys.note();
    row
}

/// The `raft` group: 100 B and 4 KiB proposals, 1 and 32 in flight, on every logbook
/// variant and on raft-engine, in `opts.raft_rounds` interleaved rounds (every system once
/// per round, so a change of load on a shared machine hits all alike); a row sums its
/// system's rounds.
pub fn raft(opts: &Opts, emit: &mut dyn FnMut(Row)) -> Res<()> {
    let mut systems: Vec<RaftSys> = VARIANTS.iter().map(|v| RaftSys::Logbook(*v)).collect();
    systems.push(RaftSys::RaftEngine(false));
    systems.push(RaftSys::RaftEngine(true));
    for size in [100usize, 4096] {
        for depth in [1usize, 32] {
            let workload = format!("raft 3 nodes: {} x{depth} in flight", size_label(size));
            let mut tallies: Vec<Tally> = systems.iter().map(|_| Tally::default()).collect();
            for round in 0..opts.raft_rounds {
                eprintln!("  {workload}: round {} of {}", round + 1, opts.raft_rounds);
                for (sys, t) in systems.iter().zip(tallies.iter_mut()) {
                    if t.error.is_none() {
                        raft_round(opts, *sys, size, depth, t)?;
                    }
                }
            }
            for (sys, t) in systems.iter().zip(tallies) {
                emit(tally_row(&workload, *sys, t));
            }
        }
    }
    Ok(())
}

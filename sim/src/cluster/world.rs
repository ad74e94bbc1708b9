//! The discrete-event world of one cluster run: the event queue, ordered by (simulated
//! time, sequence number), and what each event does to nodes, network and clients.

use std::collections::BTreeMap;

use logbook::raft_rs::raft::eraftpb::Message;
use logbook::raft_rs::raft::StateRole;
use logbook::raft_rs::{no_context, raft::Storage};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::checks::{CheckKind, Checks};
use super::clients::{Client, Reply};
use super::kv::Command;
use super::node::{LogChange, Outbox, Up, WritePath};
use super::scenario::ClusterFile;
use super::{ClusterStats, RunSpec};
use crate::clock::SimClock;
use crate::disk::{FaultRates, SimDisk};
use crate::linearizability::{KvInput, KvOutput, Operation};
use crate::seeds::{mix, rng, Stream};
use crate::trace::Trace;

/// One scheduled event.
#[derive(Debug)]
pub(super) enum Ev {
    Tick(usize),
    Chaos,
    Flush(usize),
    Deliver(usize, Message),
    Request(usize, Command),
    Reply(usize, u64, Reply),
    ClientSend(usize),
    ClientRetry(usize, u64),
    Timeout(usize, u64),
    Restart(usize),
    Heal,
}

/// An event's kind, for reports.
fn kind(ev: &Ev) -> &'static str {
    match ev {
        Ev::Tick(_) => "tick",
        Ev::Chaos => "chaos",
        Ev::Flush(_) => "flush",
        Ev::Deliver(..) => "message delivery",
        Ev::Request(..) => "client request",
        Ev::Reply(..) => "client reply",
        Ev::ClientSend(_) | Ev::ClientRetry(..) | Ev::Timeout(..) => "client",
        Ev::Restart(_) => "restart",
        Ev::Heal => "heal",
    }
}

/// A node slot: its disk, and the running node when it is up.
pub(super) struct Slot {
    pub disk: SimDisk,
    pub up: Option<Up>,
    /// This node's tick interval (the seeded skew).
    pub tick_ms: u64,
    /// When its disk is next free: messages leave after the fsyncs before them.
    pub busy_until_ms: u64,
    /// A pending flush event's time.
    pub flush_at: Option<u64>,
    /// After a restart: (restart time, entries committed then), until it caught up.
    pub catching_up: Option<(u64, u64)>,
    /// The highest index this node applied since it started.
    pub applied: u64,
}

/// The world. See the module docs.
pub(super) struct World<'a> {
    pub spec: &'a ClusterFile,
    pub cfg: logbook::Config,
    pub path: WritePath,
    pub now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Ev>,
    pub clock: SimClock,
    pub trace: Trace,
    pub net_rng: ChaCha8Rng,
    pub chaos_rng: ChaCha8Rng,
    pub client_rng: ChaCha8Rng,
    pub nodes: Vec<Slot>,
    /// The side of each node while a partition is in place.
    pub partition: Option<Vec<bool>>,
    pub clients: Vec<Client>,
    pub history: Vec<Operation<KvInput, KvOutput>>,
    pub checks: Checks,
    pub stats: ClusterStats,
    /// After the run's duration: no faults, no new client requests.
    pub settling: bool,
    /// Chaos faults decided so far (each gets the next number), and those injected.
    pub faults_decided: u32,
    pub faults_fired: Vec<u32>,
}

impl<'a> World<'a> {
    /// A world for `spec` with every node down and nothing scheduled.
    pub fn new(run: &'a RunSpec) -> World<'a> {
        let spec = &run.scenario.spec;
        let trace = Trace::new(run.record_trace);
        let mut chaos_rng = rng(run.seed, Stream::SwarmToggles);
        let rates = if run.disk_faults {
            spec.faults.clone()
        } else {
            FaultRates::none()
        };
        let nodes = (0..spec.nodes as u64)
            .map(|i| Slot {
                disk: SimDisk::new(mix(run.seed ^ mix(i + 1)), rates.clone(), trace.clone()),
                up: None,
                tick_ms: spec.tick_ms
                    + chaos_rng.gen_range(0..=spec.tick_skew_max_ms.unwrap_or(spec.tick_ms / 2)),
                busy_until_ms: 0,
                flush_at: None,
                catching_up: None,
                applied: 0,
            })
            .collect();
        let cfg = run.scenario.engine_config();
        World {
            spec,
            path: WritePath {
                strategy: cfg.strategy(),
                ack_before_durable: spec.bug.ack_before_durable,
                forget_vote: spec.bug.forget_vote,
                compact_entries: spec.compact_entries,
            },
            cfg,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            clock: SimClock::new(0),
            trace,
            net_rng: rng(run.seed, Stream::Faults),
            chaos_rng,
            client_rng: rng(run.seed, Stream::Workload),
            nodes,
            partition: None,
            clients: (0..spec.clients.clients as u64).map(Client::new).collect(),
            history: Vec::new(),
            checks: Checks::new(spec.nodes as usize),
            stats: ClusterStats::default(),
            settling: false,
            faults_decided: 0,
            faults_fired: Vec::new(),
        }
    }

    /// Schedules `ev` at `at_ms` (never before now).
    pub fn at(&mut self, at_ms: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at_ms.max(self.now), self.seq), ev);
    }

    /// Runs events up to `until_ms` or until a check fails.
    pub fn run_until(&mut self, until_ms: u64) {
        while self.checks.violation.is_none() {
            let Some(entry) = self.queue.first_entry() else {
                return;
            };
            if entry.key().0 > until_ms {
                return;
            }
            let ((t, _), ev) = entry.remove_entry();
            self.now = t;
            self.clock.set(t);
            self.stats.events += 1;
            let what = kind(&ev);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dispatch(ev)));
            if let Err(p) = r {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                let detail = format!("a node panicked handling a {what} event: {msg}");
                self.violation(CheckKind::RaftAssertion, detail);
            }
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Tick(i) => {
                if let Some(up) = self.nodes[i].up.as_mut() {
                    up.raw.tick();
                    self.drive(i);
                }
                let jitter = self.chaos_rng.gen_range(0..=self.spec.tick_ms / 5);
                self.at(self.now + self.nodes[i].tick_ms + jitter, Ev::Tick(i));
            }
            Ev::Chaos => self.chaos(),
            Ev::Flush(i) => {
                if self.nodes[i].flush_at == Some(self.now) {
                    self.nodes[i].flush_at = None;
                }
                self.drive(i);
            }
            Ev::Deliver(to, msg) => self.deliver(to, msg),
            Ev::Request(node, cmd) => self.request(node, cmd),
            Ev::Reply(c, seq, reply) => self.reply(c, seq, reply),
            Ev::ClientSend(c) => self.client_send(c),
            Ev::ClientRetry(c, seq) => self.client_retry(c, seq),
            Ev::Timeout(c, seq) => self.timeout(c, seq),
            Ev::Restart(i) => self.restart(i),
            Ev::Heal => {
                self.partition = None;
                self.trace.event(format_args!("{} net heal", self.now));
            }
        }
    }

    /// Boots every node and schedules ticks, chaos and clients.
    pub fn boot(&mut self) {
        for i in 0..self.nodes.len() {
            self.restart(i);
            let phase = self.chaos_rng.gen_range(0..self.nodes[i].tick_ms);
            self.at(phase, Ev::Tick(i));
        }
        self.at(self.spec.tick_ms, Ev::Chaos);
        for c in 0..self.clients.len() {
            let start = self
                .client_rng
                .gen_range(0..=self.spec.clients.think_max_ms);
            self.at(start, Ev::ClientSend(c));
        }
    }

    /// Starts node `i` from its disk and mirrors its log into the checks.
    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].up.is_some() {
            return;
        }
        let n = self.nodes.len() as u64;
        match Up::start(
            i as u64 + 1,
            n,
            &self.nodes[i].disk,
            &self.clock,
            self.cfg.clone(),
        ) {
            Ok(up) => {
                let log = (|| {
                    let s = up.raw.store();
                    let (first, last) = (s.first_index().ok()?, s.last_index().ok()?);
                    s.entries(first, last + 1, None, no_context()).ok()
                })();
                let Some(log) = log else {
                    let detail = format!("node {} cannot read its log after a restart", i + 1);
                    return self.violation(CheckKind::Recovery, detail);
                };
                let seen: Vec<_> = log
                    .iter()
                    .map(|e| {
                        (
                            e.term,
                            super::checks::entry_hash(e.get_entry_type() as i32, &e.data),
                        )
                    })
                    .collect();
                self.trace.event(format_args!(
                    "{} node {} up: log ends at {}, hard state {:?}",
                    self.now,
                    i + 1,
                    seen.len(),
                    up.raw.raft.hard_state()
                ));
                let first = up.raw.store().first_index().unwrap_or(1);
                self.checks.install_snapshot(i, first - 1, self.now);
                self.checks.on_append(i, first, &seen, self.now);
                let slot = &mut self.nodes[i];
                slot.up = Some(up);
                slot.applied = 0;
                slot.catching_up = Some((self.now, self.checks.committed_len()));
                self.stats.restarts += u64::from(self.now > 0);
            }
            Err(e) if e.contains("orruption") || e.contains("refused the recovered") => {
                self.violation(CheckKind::Recovery, format!("node {}: {e}", i + 1));
            }
            Err(e) => {
                // An injected I/O fault during the open: fail-stop, try again later.
                self.trace
                    .event(format_args!("{} node {} open failed: {e}", self.now, i + 1));
                self.stats.fail_stops += 1;
                self.nodes[i].disk.crash();
                let again = self.now + self.spec.crash.restart_min_ms.max(1);
                self.at(again, Ev::Restart(i));
            }
        }
    }

    /// Power loss on node `i`: the node stops, its disk loses or tears what was not
    /// durable, and it restarts after a seeded delay.
    pub fn crash(&mut self, i: usize, why: &str) {
        if self.nodes[i].up.take().is_none() {
            return;
        }
        let report = self.nodes[i].disk.crash();
        self.trace.event(format_args!(
            "{} node {} crash ({why}): {report:?}",
            self.now,
            i + 1
        ));
        self.checks.node_down(i);
        let slot = &mut self.nodes[i];
        slot.flush_at = None;
        slot.catching_up = None;
        self.stats.crashes += 1;
        let c = &self.spec.crash;
        let down = self
            .chaos_rng
            .gen_range(c.restart_min_ms..=c.restart_max_ms);
        self.at(self.now + down, Ev::Restart(i));
    }

    /// Records a failed check (the run stops at the first).
    pub fn violation(&mut self, kind: CheckKind, detail: String) {
        if self.checks.violation.is_none() {
            self.checks.violation = Some(super::checks::Violation {
                kind,
                at_ms: self.now,
                detail,
            });
        }
    }

    /// Lets node `i` handle its readies, then sends, checks and schedules what came out.
    pub fn drive(&mut self, i: usize) {
        let Some(up) = self.nodes[i].up.as_mut() else {
            return;
        };
        let mut out = Outbox::default();
        let result = up.drive(self.now, self.path, &mut out);
        if !out.messages.is_empty() || !out.appended.is_empty() || !out.applied.is_empty() {
            self.trace.event(format_args!(
                "{} node {} ready: {} messages, {} appended, {} applied, {} syncs, durable {}",
                self.now,
                i + 1,
                out.messages.len(),
                out.appended
                    .iter()
                    .map(|a| match a {
                        LogChange::Append(_, seen) => seen.len(),
                        LogChange::Snapshot(_) => 0,
                    })
                    .sum::<usize>(),
                out.applied.len(),
                out.syncs,
                up.raw.store().durable_index()
            ));
        }
        self.absorb(i, out);
        if let Err(e) = result {
            self.stats.fail_stops += 1;
            return self.crash(i, &format!("fail-stop: {e}"));
        }
        self.observe(i);
        self.schedule_flush(i);
    }

    fn absorb(&mut self, i: usize, out: Outbox) {
        let slot = &mut self.nodes[i];
        slot.busy_until_ms = slot.busy_until_ms.max(self.now) + out.syncs * self.spec.fsync_ms;
        let depart = slot.busy_until_ms;
        for change in &out.appended {
            match change {
                LogChange::Append(first, seen) => self.checks.on_append(i, *first, seen, self.now),
                LogChange::Snapshot(index) => self.checks.install_snapshot(i, *index, self.now),
            }
        }
        for &(index, term, hash) in &out.applied {
            self.checks.on_apply(i, index, term, hash, self.now);
            self.nodes[i].applied = index;
        }
        self.stats.committed = self.stats.committed.max(self.checks.committed_len());
        if let Some((since, target)) = self.nodes[i].catching_up {
            if self.nodes[i].applied >= target {
                self.stats.catch_up_ms.push(self.now - since);
                self.nodes[i].catching_up = None;
            }
        }
        for (client, seq, output) in out.replies {
            self.send_reply(depart, client as usize, seq, Reply::Done(output));
        }
        for m in out.messages {
            self.send(depart, m);
        }
    }

    /// C1 and C3 on a leader.
    fn observe(&mut self, i: usize) {
        let Some(up) = self.nodes[i].up.as_ref() else {
            return;
        };
        let (role, term) = up.role();
        if role == StateRole::Leader {
            let commit = up.raw.raft.raft_log.committed;
            if self.stats.last_leader_term < term {
                self.stats.last_leader_term = term;
                self.stats.elections += 1;
                self.trace.event(format_args!(
                    "{} node {} leads term {term}",
                    self.now,
                    i + 1
                ));
            }
            self.checks.on_leader(i, term, commit, self.now);
        }
    }

    fn schedule_flush(&mut self, i: usize) {
        let Some(up) = self.nodes[i].up.as_ref() else {
            return;
        };
        let Some(deadline) = up.raw.store().with_log(|l| l.next_deadline_ms()) else {
            return;
        };
        let at = deadline.max(self.now + 1);
        if self.nodes[i].flush_at.is_none_or(|f| at < f) {
            self.nodes[i].flush_at = Some(at);
            self.at(at, Ev::Flush(i));
        }
    }
}

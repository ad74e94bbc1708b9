//! The simulated network (drop, duplicate, delay and so reorder, partitions that heal) and
//! the chaos that crashes nodes, one node or a majority at once.

use logbook::raft_rs::raft::eraftpb::Message;
use rand::seq::SliceRandom;
use rand::Rng;

use super::clients::Reply;
use super::world::{Ev, World};

impl World<'_> {
    /// True if a partition separates nodes `a` and `b` now.
    pub fn cut(&self, a: usize, b: usize) -> bool {
        self.partition
            .as_ref()
            .is_some_and(|side| side[a] != side[b])
    }

    /// The delivery times of one message leaving at `depart_ms`: none if dropped, two if
    /// duplicated. No loss while settling.
    fn deliveries(&mut self, depart_ms: u64) -> Vec<u64> {
        let n = &self.spec.network;
        if !self.settling && self.net_rng.gen_bool(n.drop) {
            self.stats.dropped += 1;
            return Vec::new();
        }
        let copies = if !self.settling && self.net_rng.gen_bool(n.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| depart_ms + self.net_rng.gen_range(n.delay_min_ms..=n.delay_max_ms))
            .collect()
    }

    /// Sends a raft message leaving at `depart_ms`.
    pub fn send(&mut self, depart_ms: u64, m: Message) {
        let to = m.to as usize;
        if to == 0 || to > self.nodes.len() {
            return;
        }
        self.stats.messages += 1;
        for t in self.deliveries(depart_ms) {
            self.at(t, Ev::Deliver(to - 1, m.clone()));
        }
    }

    /// Delivers a raft message unless its target is down or cut off from the sender.
    pub fn deliver(&mut self, to: usize, m: Message) {
        let from = (m.from as usize).saturating_sub(1);
        if self.nodes[to].up.is_none() || self.cut(from, to) {
            return;
        }
        self.trace.event(format_args!(
            "{} deliver {:?} {}->{} term {} index {} commit {}",
            self.now,
            m.get_msg_type(),
            m.from,
            m.to,
            m.term,
            m.index,
            m.commit
        ));
        if let Some(up) = self.nodes[to].up.as_mut() {
            // raft-rs refuses messages from unknown peers; nothing else to do about them.
            let _ = up.raw.step(m);
        }
        self.drive(to);
    }

    /// Sends a client's request to node `node` (clients sit beside every node: the request
    /// can be lost or delayed, but no partition cuts it).
    pub fn send_request(&mut self, node: usize, cmd: super::kv::Command) {
        for t in self.deliveries(self.now) {
            self.at(t, Ev::Request(node, cmd.clone()));
        }
    }

    /// Sends an answer to a client.
    pub fn send_reply(&mut self, depart_ms: u64, client: usize, seq: u64, reply: Reply) {
        for t in self.deliveries(depart_ms) {
            self.at(t, Ev::Reply(client, seq, reply.clone()));
        }
    }

    /// Once per tick interval: maybe crash a node, a majority, or start a partition.
    pub fn chaos(&mut self) {
        if self.settling {
            return;
        }
        let c = self.spec.crash.clone();
        let n = self.spec.network.clone();
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up.is_some())
            .collect();
        if !live.is_empty() && self.chaos_rng.gen_bool(c.node) {
            let i = live[self.chaos_rng.gen_range(0..live.len())];
            if self.fault_injected("power loss") {
                self.crash(i, "power loss");
            }
        }
        let everyone = self.chaos_rng.gen_bool(c.all);
        if everyone || self.chaos_rng.gen_bool(c.majority) {
            let mut all: Vec<usize> = (0..self.nodes.len()).collect();
            all.shuffle(&mut self.chaos_rng);
            let count = if everyone {
                all.len()
            } else {
                all.len() / 2 + 1
            };
            if self.fault_injected("power loss of a majority") {
                self.stats.majority_crashes += 1;
                for &i in &all[..count] {
                    self.crash(i, "power loss of a majority");
                }
            }
        }
        if self.partition.is_none() && self.chaos_rng.gen_bool(n.partition) {
            let mut side: Vec<bool> = (0..self.nodes.len())
                .map(|_| self.chaos_rng.gen_bool(0.5))
                .collect();
            if side.iter().all(|&s| s == side[0]) {
                side[0] = !side[0];
            }
            if !self.fault_injected("partition") {
                return self.at(self.now + self.spec.tick_ms, Ev::Chaos);
            }
            self.trace
                .event(format_args!("{} net partition {side:?}", self.now));
            self.partition = Some(side);
            self.stats.partitions += 1;
            self.at(self.now + n.partition_ms, Ev::Heal);
        }
        self.at(self.now + self.spec.tick_ms, Ev::Chaos);
    }

    /// Numbers the fault the chaos just decided; false if the scenario skips it
    /// (`skip_faults`, written by a shrink), which the trace says.
    fn fault_injected(&mut self, what: &str) -> bool {
        self.faults_decided += 1;
        let n = self.faults_decided;
        if self.spec.skip_faults.contains(&n) {
            self.trace
                .event(format_args!("{} fault {n} ({what}) skipped", self.now));
            return false;
        }
        self.faults_fired.push(n);
        true
    }
}

//! The clients: each sends one Put, Get or compare-and-set at a time to the node it believes
//! leads, follows "not leader" hints, and gives up after a timeout (the outcome is then
//! unknown). Every operation goes into the history with its call and return times.

use logbook::raft_rs::raft::StateRole;
use rand::Rng;

use super::kv::Command;
use super::world::{Ev, World};
use crate::linearizability::{KvInput, KvOp, KvOutput, Operation};

/// A node's answer to a client.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The command was applied with this output.
    Done(KvOutput),
    /// Not proposed here (so it never took effect through this node); the node's leader
    /// hint, 0 if it knows none.
    NotLeader(u64),
}

/// One client's state.
#[derive(Debug)]
pub struct Client {
    id: u64,
    seq: u64,
    /// The node to try first.
    hint: Option<usize>,
    /// The operation in flight: its command, call time and the node it went to.
    current: Option<(Command, u64)>,
    /// The last value this client read or wrote (what its compare-and-sets expect).
    last_value: String,
}

impl Client {
    /// Client `id`, idle.
    pub fn new(id: u64) -> Self {
        Client {
            id,
            seq: 0,
            hint: None,
            current: None,
            last_value: String::new(),
        }
    }
}

impl World<'_> {
    fn next_input(&mut self, c: usize) -> KvInput {
        let cs = &self.spec.clients;
        let key = self.client_rng.gen_range(0..cs.keys as u64);
        let client = &self.clients[c];
        let value = format!("v{}.{}", client.id, client.seq);
        let roll = self.client_rng.gen_range(0..cs.put + cs.get + cs.cas);
        let op = if roll < cs.put {
            KvOp::Put(value)
        } else if roll < cs.put + cs.get {
            KvOp::Get
        } else {
            KvOp::Cas {
                from: client.last_value.clone(),
                to: value,
            }
        };
        KvInput { key, op }
    }

    fn target(&mut self, c: usize) -> usize {
        match self.clients[c].hint {
            Some(n) => n,
            None => self.client_rng.gen_range(0..self.nodes.len()),
        }
    }

    /// A client starts its next operation.
    pub fn client_send(&mut self, c: usize) {
        if self.settling || self.clients[c].current.is_some() {
            return;
        }
        let input = self.next_input(c);
        let client = &mut self.clients[c];
        client.seq += 1;
        let cmd = Command {
            client: client.id,
            seq: client.seq,
            input,
        };
        client.current = Some((cmd.clone(), self.now));
        let to = self.target(c);
        self.send_request(to, cmd.clone());
        let timeout = self.now + self.spec.clients.timeout_ms;
        self.at(timeout, Ev::Timeout(c, cmd.seq));
    }

    /// A client re-sends its operation after a "not leader" answer.
    pub fn client_retry(&mut self, c: usize, seq: u64) {
        let Some((cmd, _)) = self.clients[c].current.clone() else {
            return;
        };
        if cmd.seq == seq {
            let to = self.target(c);
            self.send_request(to, cmd);
        }
    }

    /// A node receives a request: a leader proposes it, others answer with a hint.
    pub fn request(&mut self, node: usize, cmd: Command) {
        let Some(up) = self.nodes[node].up.as_mut() else {
            return;
        };
        let stale = self.spec.bug.stale_reads && cmd.input.op == KvOp::Get;
        let reply = if stale {
            Some(Reply::Done(KvOutput::Value(
                up.sm.get(cmd.input.key).into(),
            )))
        } else if up.raw.raft.state == StateRole::Leader {
            match up.raw.propose(vec![], cmd.encode()) {
                Ok(()) => {
                    up.waiting.insert((cmd.client, cmd.seq));
                    None
                }
                Err(_) => Some(Reply::NotLeader(0)),
            }
        } else {
            Some(Reply::NotLeader(up.raw.raft.leader_id))
        };
        match reply {
            None => self.drive(node),
            Some(r) => self.send_reply(self.now, cmd.client as usize, cmd.seq, r),
        }
    }

    /// A client receives an answer.
    pub fn reply(&mut self, c: usize, seq: u64, reply: Reply) {
        let Some((cmd, call)) = self.clients[c].current.clone() else {
            return;
        };
        if cmd.seq != seq {
            return;
        }
        match reply {
            Reply::Done(output) => {
                match (&cmd.input.op, &output) {
                    (_, KvOutput::Value(v)) => self.clients[c].last_value = v.clone(),
                    (KvOp::Put(v), _) | (KvOp::Cas { to: v, .. }, KvOutput::Cas(true)) => {
                        self.clients[c].last_value = v.clone()
                    }
                    _ => {}
                }
                self.finish(c, cmd, call, Some(output));
            }
            Reply::NotLeader(hint) => {
                let n = self.nodes.len() as u64;
                self.clients[c].hint = (1..=n).contains(&hint).then(|| hint as usize - 1);
                let retry = self.now + self.spec.tick_ms;
                self.at(retry, Ev::ClientRetry(c, seq));
            }
        }
    }

    /// A client gives up on its operation: the outcome stays unknown.
    pub fn timeout(&mut self, c: usize, seq: u64) {
        let Some((cmd, call)) = self.clients[c].current.clone() else {
            return;
        };
        if cmd.seq == seq {
            self.clients[c].hint = None;
            self.finish(c, cmd, call, None);
        }
    }

    fn finish(&mut self, c: usize, cmd: Command, call: u64, output: Option<KvOutput>) {
        let done = output.is_some();
        if done {
            self.stats.ops_ok += 1;
            self.stats.latency_ms.push(self.now - call);
        } else {
            self.stats.ops_unknown += 1;
        }
        self.history.push(Operation {
            client: cmd.client,
            input: cmd.input,
            call,
            ret: done.then_some(self.now),
            output,
        });
        self.clients[c].current = None;
        let think = self
            .client_rng
            .gen_range(1..=self.spec.clients.think_max_ms.max(1));
        self.at(self.now + think, Ev::ClientSend(c));
    }
}

//! The storages a raft-rs 0.7 `RawNode` runs on in the `raft` group, each with the write
//! path of a `Ready` its authors prescribe:
//!
//! - logbook: `logbook::raft_rs::LogStorage` through `persist_ready`. DiskFirst syncs the
//!   entries and the hard state before `advance`; MemFirst calls `advance_append_async`,
//!   lets `LogStorage::poll` run the flush policy, and releases each `Ready`'s persisted
//!   messages through `AsyncReadies` once the log's durable index covers them.
//! - raft-engine 0.4: [`EngineStorage`], one `Engine` per node directory (one region), as
//!   TiKV pairs them: a `Ready`'s entries (`LogBatch::add_entries`) and its hard state
//!   (`put_message`) in one batch, written before `advance` with `sync = rd.must_sync()`
//!   (raft-rs allows an unsynced write when only the commit index changed, and TiKV takes
//!   it), or, for the comparison row, `sync = true` for every `Ready`. Recent
//!   entries are answered from a tail cache, as TiKV's `EntryCache` answers them in front
//!   of raft-engine (logbook has its own cache; MemFirst holds its log in memory).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logbook::raft_rs::{persist_ready, AsyncReadies, LogStorage};
use logbook::{Strategy, SystemClock};
use raft::eraftpb::{ConfState, Entry, EntryType, HardState, Message, Snapshot};
use raft::{GetEntriesContext, RaftState, RawNode, Ready, Storage, StorageError};
use raft_engine::{Engine, LogBatch};

use super::logbook::{BatchParams, Variant};
use super::raft_engine::{config as re_config, EntryExt};
use super::Res;
use crate::diag::{counting, Counters};

/// The in-memory network: one channel per node, indexed by node id - 1.
pub struct Net {
    pub txs: Vec<Sender<Message>>,
}

/// Where a node's `Ready` handling puts what it produces: messages leave at once (a
/// leader's appends reach the followers before its own fsync), committed proposals are
/// stamped with the time they were seen committed.
pub struct Outbox<'a> {
    net: &'a Net,
    /// (proposal sequence number, when seen committed), in commit order.
    pub committed: Vec<(u64, Instant)>,
}

impl<'a> Outbox<'a> {
    pub fn new(net: &'a Net) -> Self {
        Outbox {
            net,
            committed: Vec::new(),
        }
    }

    pub fn send(&self, msgs: Vec<Message>) {
        for m in msgs {
            // A node that already stopped drops what it is sent, as a crashed peer would.
            let _ = self.net.txs[(m.to - 1) as usize].send(m);
        }
    }

    /// Records the client proposals among `entries` (normal entries whose data starts with
    /// an 8-byte sequence number; the leader's empty entry is skipped).
    pub fn commit(&mut self, entries: &[Entry]) {
        let now = Instant::now();
        for e in entries {
            if e.get_entry_type() == EntryType::EntryNormal && e.data.len() >= 8 {
                let seq = u64::from_le_bytes(e.data[..8].try_into().expect("8 bytes"));
                self.committed.push((seq, now));
            }
        }
    }
}

/// A storage with its write path.
pub trait NodeStorage: Storage + Sized {
    /// Per-node state of the write path (MemFirst's pending `Ready`s).
    type Path;

    /// Handles one `Ready` (the caller checked `has_ready`).
    fn on_ready(raw: &mut RawNode<Self>, path: &mut Self::Path, out: &mut Outbox) -> Res<()>;

    /// Runs deferred durability work; returns how soon it wants to run again.
    fn poll(
        _raw: &mut RawNode<Self>,
        _path: &mut Self::Path,
        _out: &mut Outbox,
    ) -> Res<Option<Duration>> {
        Ok(None)
    }

    /// fsyncs the storage ran so far, where they are counted.
    fn fsyncs(_path: &Self::Path) -> Option<u64> {
        None
    }
}

/// The synchronous write path: everything durable, then `advance`.
fn sync_ready<S: Storage>(
    raw: &mut RawNode<S>,
    out: &mut Outbox,
    persist: impl FnOnce(&mut S, &mut Ready) -> Res<()>,
) -> Res<()> {
    let mut rd = raw.ready();
    out.send(rd.take_messages());
    out.commit(&rd.take_committed_entries());
    persist(raw.mut_store(), &mut rd)?;
    out.send(rd.take_persisted_messages());
    let mut light = raw.advance(rd);
    out.send(light.take_messages());
    out.commit(&light.take_committed_entries());
    raw.advance_apply();
    Ok(())
}

/// The raft-rs configuration of every node (ticks are 10 ms in the workload).
pub fn raft_config(id: u64) -> raft::Config {
    raft::Config {
        id,
        election_tick: 200,
        heartbeat_tick: 10,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        ..Default::default()
    }
}

fn voters(n: u64) -> ConfState {
    ConfState {
        voters: (1..=n).collect(),
        ..Default::default()
    }
}

/// logbook's write-path state: the clock its log reads, MemFirst's pending `Ready`s, and
/// the node's fsyncs (segments, metadata, directories), counted through a wrapping `Fs`.
pub struct LbPath {
    clock: Arc<SystemClock>,
    counters: Arc<Counters>,
    mem_first: bool,
    readies: AsyncReadies,
}

/// Opens node `id` of `n` on logbook in `dir`.
pub fn open_logbook(
    id: u64,
    n: u64,
    dir: &Path,
    v: Variant,
    batch: BatchParams,
    segment: u64,
) -> Res<(RawNode<LogStorage>, LbPath)> {
    let clock = Arc::new(SystemClock::new());
    let cfg = v.config(batch).with_segment_size_bytes(segment);
    let (fs, counters) = counting();
    let mut st = LogStorage::open(fs, clock.clone(), dir, cfg)?;
    st.initialize_with_conf_state(voters(n))?;
    let raw = RawNode::new(&raft_config(id), st, &logbook::raft_rs::discard_logger())?;
    let path = LbPath {
        clock,
        counters,
        mem_first: v.strategy == Strategy::MemFirst,
        readies: AsyncReadies::default(),
    };
    Ok((raw, path))
}

impl NodeStorage for LogStorage {
    type Path = LbPath;

    fn on_ready(raw: &mut RawNode<Self>, path: &mut LbPath, out: &mut Outbox) -> Res<()> {
        if !path.mem_first {
            return sync_ready(raw, out, |st, rd| {
                persist_ready(st, rd)?;
                Ok(())
            });
        }
        let mut rd = raw.ready();
        out.send(rd.take_messages());
        out.commit(&rd.take_committed_entries());
        let need = persist_ready(raw.mut_store(), &mut rd)?;
        path.readies
            .push(rd.number(), need, rd.take_persisted_messages());
        raw.advance_append_async(rd);
        out.send(path.readies.release(raw));
        raw.advance_apply();
        Ok(())
    }

    fn poll(raw: &mut RawNode<Self>, path: &mut LbPath, out: &mut Outbox) -> Res<Option<Duration>> {
        if !path.mem_first {
            return Ok(None);
        }
        use logbook::Clock as _;
        let next = raw.mut_store().poll(path.clock.now_ms())?;
        out.send(path.readies.release(raw));
        Ok(next.map(|at| Duration::from_millis(at.saturating_sub(path.clock.now_ms()))))
    }

    fn fsyncs(path: &LbPath) -> Option<u64> {
        let c = &path.counters;
        Some(c.file_syncs.load(Ordering::Relaxed) + c.dir_syncs.load(Ordering::Relaxed))
    }
}

/// The region every node's raft-engine holds (one `Engine` per node directory).
const REGION: u64 = 1;
const HARD_STATE_KEY: &[u8] = b"hard_state";
const CONF_STATE_KEY: &[u8] = b"conf_state";
/// Entries kept in [`EngineStorage`]'s tail cache.
pub const CACHE_ENTRIES: usize = 4096;

/// `raft::Storage` on a raft-engine `Engine`, with a tail cache of recent entries.
pub struct EngineStorage {
    engine: Engine,
    /// Sync every `Ready`'s write, not only those `Ready::must_sync` asks for.
    sync_all: bool,
    hs: HardState,
    cs: ConfState,
    cache: VecDeque<Entry>,
}

/// Opens node `id` of `n` on raft-engine in `dir`; `sync_all`: see [`EngineStorage`].
pub fn open_raft_engine(
    id: u64,
    n: u64,
    dir: &Path,
    segment: u64,
    sync_all: bool,
) -> Res<(RawNode<EngineStorage>, ())> {
    let engine = Engine::open(re_config(dir, segment))?;
    let hs = engine
        .get_message::<HardState>(REGION, HARD_STATE_KEY)?
        .unwrap_or_default();
    let cs = match engine.get_message::<ConfState>(REGION, CONF_STATE_KEY)? {
        Some(cs) => cs,
        None => {
            let cs = voters(n);
            let mut batch = LogBatch::with_capacity(1);
            batch.put_message(REGION, CONF_STATE_KEY.to_vec(), &cs)?;
            engine.write(&mut batch, true)?;
            cs
        }
    };
    let st = EngineStorage {
        engine,
        sync_all,
        hs,
        cs,
        cache: VecDeque::new(),
    };
    let raw = RawNode::new(&raft_config(id), st, &logbook::raft_rs::discard_logger())?;
    Ok((raw, ()))
}

impl EngineStorage {
    /// A `Ready`'s entries and hard state in one synced write.
    fn persist(&mut self, rd: &Ready) -> Res<()> {
        if !rd.snapshot().is_empty() {
            return Err("snapshots are not part of this benchmark".into());
        }
        let mut batch = LogBatch::with_capacity(1);
        if !rd.entries().is_empty() {
            batch.add_entries::<EntryExt>(REGION, rd.entries())?;
        }
        if let Some(hs) = rd.hs() {
            batch.put_message(REGION, HARD_STATE_KEY.to_vec(), hs)?;
        }
        if !batch.is_empty() {
            self.engine
                .write(&mut batch, self.sync_all || rd.must_sync())?;
        }
        if let Some(hs) = rd.hs() {
            self.hs = hs.clone();
        }
        self.cache_entries(rd.entries());
        Ok(())
    }

    fn cache_entries(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        while self.cache.back().is_some_and(|e| e.index >= first.index) {
            self.cache.pop_back();
        }
        if self
            .cache
            .back()
            .is_some_and(|e| e.index + 1 != first.index)
        {
            self.cache.clear();
        }
        self.cache.extend(entries.iter().cloned());
        while self.cache.len() > CACHE_ENTRIES {
            self.cache.pop_front();
        }
    }

    fn cached(&self, idx: u64) -> Option<&Entry> {
        let first = self.cache.front()?.index;
        self.cache.get(idx.checked_sub(first)? as usize)
    }

    fn first(&self) -> u64 {
        self.engine.first_index(REGION).unwrap_or(1)
    }

    fn last(&self) -> u64 {
        self.engine.last_index(REGION).unwrap_or(0)
    }
}

fn other(e: impl std::error::Error + Send + Sync + 'static) -> raft::Error {
    raft::Error::Store(StorageError::Other(Box::new(e)))
}

impl Storage for EngineStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(self.hs.clone(), self.cs.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let max_size = max_size.into();
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let mut out = Vec::with_capacity((high - low) as usize);
        if self.cached(low).is_some() && self.cached(high - 1).is_some() {
            let first = self.cache.front().expect("cached").index;
            out.extend(
                self.cache
                    .range((low - first) as usize..(high - first) as usize)
                    .cloned(),
            );
        } else if low < high {
            let max = max_size.map(|m| m as usize);
            self.engine
                .fetch_entries_to::<EntryExt>(REGION, low, high, max, &mut out)
                .map_err(other)?;
        }
        raft::util::limit_size(&mut out, max_size);
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == 0 {
            return Ok(0);
        }
        if let Some(e) = self.cached(idx) {
            return Ok(e.term);
        }
        match self
            .engine
            .get_entry::<EntryExt>(REGION, idx)
            .map_err(other)?
        {
            Some(e) => Ok(e.term),
            None if idx < self.first() => Err(raft::Error::Store(StorageError::Compacted)),
            None => Err(raft::Error::Store(StorageError::Unavailable)),
        }
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, _request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable,
        ))
    }
}

impl NodeStorage for EngineStorage {
    type Path = ();

    fn on_ready(raw: &mut RawNode<Self>, _path: &mut (), out: &mut Outbox) -> Res<()> {
        sync_ready(raw, out, |st, rd| st.persist(rd))
    }
}

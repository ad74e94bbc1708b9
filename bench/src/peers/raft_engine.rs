//! raft-engine 0.4 (tikv/raft-engine), built with `default-features = false`.
//!
//! Entries are `raft::eraftpb::Entry` protobuf messages, as a raft-rs user hands them over;
//! `LogBatch::add_entries` encodes them, and it runs inside the timed section.
//! `batch_compression_threshold` is 0, which turns LZ4 batch compression off, so payloads
//! are written at full size as logbook writes them.
//!
//! raft-engine is a multi-Raft engine: concurrent writers each own a Raft group (region) and
//! `Engine::write` group-commits them (its write barrier). Several writers on *one* region
//! are not supported: memtables are applied after the group write in no fixed order and a
//! hole panics, and `Engine::sync()` is a no-op in 0.4.2 (it writes an empty batch, which
//! `write` returns from before syncing), so a "write unsynced under a sequencer, sync
//! outside it" scheme cannot be built on it. Writer `w` therefore appends to region `w + 1`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use raft::eraftpb::Entry;
use raft_engine::{Config, Engine, LogBatch, MessageExt, ReadableSize};

use super::{Res, WriteTarget};

#[derive(Clone)]
pub struct EntryExt;

impl MessageExt for EntryExt {
    type Entry = Entry;

    fn index(e: &Entry) -> u64 {
        e.index
    }
}

pub fn config(dir: &Path, target_file_size: u64) -> Config {
    Config {
        dir: dir.to_string_lossy().into_owned(),
        // 0 turns batch compression off: payloads are not shrunk.
        batch_compression_threshold: ReadableSize(0),
        target_file_size: ReadableSize(target_file_size),
        ..Config::default()
    }
}

pub fn entry(index: u64, payload: &Bytes) -> Entry {
    Entry {
        index,
        term: 1,
        data: payload.clone(),
        ..Default::default()
    }
}

pub struct RaftEngineTarget {
    engine: Engine,
    /// Per writer (region): the next index. Only writer `w` touches slot `w`.
    next: Vec<Mutex<u64>>,
    dir: PathBuf,
}

impl RaftEngineTarget {
    pub fn open(dir: &Path, writers: usize, target_file_size: u64) -> Res<RaftEngineTarget> {
        let engine = Engine::open(config(dir, target_file_size))?;
        let next = (0..writers)
            .map(|w| Mutex::new(engine.last_index(w as u64 + 1).unwrap_or(0) + 1))
            .collect();
        Ok(RaftEngineTarget {
            engine,
            next,
            dir: dir.to_path_buf(),
        })
    }
}

impl WriteTarget for RaftEngineTarget {
    fn append(&self, w: usize, n: usize, payload: &Bytes, sync: bool) -> Res<()> {
        let mut next = self.next[w].lock().unwrap();
        let entries: Vec<Entry> = (0..n as u64).map(|i| entry(*next + i, payload)).collect();
        let mut batch = LogBatch::with_capacity(1);
        batch.add_entries::<EntryExt>(w as u64 + 1, &entries)?;
        self.engine.write(&mut batch, sync)?;
        *next += n as u64;
        Ok(())
    }

    fn rotation_marker(&self) -> Res<u64> {
        newest_append_file(&self.dir)
    }

    fn finish(self: Box<Self>) -> Res<()> {
        let mut batch = LogBatch::with_capacity(1);
        // A tiny synced write makes everything before it durable (`Engine::sync` does not).
        batch.put(u64::MAX, b"bench-finish".to_vec(), vec![1])?;
        self.engine.write(&mut batch, true)?;
        Ok(())
    }
}

/// The sequence number of the newest append-queue file (`<seq>.raftlog`).
pub fn newest_append_file(dir: &Path) -> Res<u64> {
    let mut best = 0;
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(seq) = name.strip_suffix(".raftlog") {
            if let Ok(n) = seq.parse::<u64>() {
                best = best.max(n);
            }
        }
    }
    Ok(best)
}

/// Writes `count` entries to region 1 in batches of `chunk`, syncing once at the end.
pub fn populate(
    dir: &Path,
    count: u64,
    payload: &Bytes,
    target_file_size: u64,
    chunk: usize,
) -> Res<u64> {
    let engine = Engine::open(config(dir, target_file_size))?;
    let mut next = engine.last_index(1).unwrap_or(0) + 1;
    let end = next + count;
    while next < end {
        let n = ((end - next) as usize).min(chunk);
        let entries: Vec<Entry> = (0..n as u64).map(|i| entry(next + i, payload)).collect();
        let mut batch = LogBatch::with_capacity(1);
        batch.add_entries::<EntryExt>(1, &entries)?;
        let last_chunk = next + n as u64 >= end;
        engine.write(&mut batch, last_chunk)?;
        next += n as u64;
    }
    Ok(next - 1)
}

pub fn open_engine(dir: &Path, target_file_size: u64) -> Res<Engine> {
    Ok(Engine::open(config(dir, target_file_size))?)
}

pub fn open_engine_with(cfg: Config) -> Res<Engine> {
    Ok(Engine::open(cfg)?)
}

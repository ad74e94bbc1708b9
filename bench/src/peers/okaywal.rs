//! okaywal 0.3 (khonsulabs/okaywal): a write-ahead log with multi-threaded group commit.
//!
//! One operation of `n` entries is one okaywal entry (an atomic unit) holding one chunk per
//! Raft entry: `begin_entry`, `write_chunk` x n, `commit`. okaywal assigns the entry ids
//! itself (a contiguous sequence), so writers need no sequencer. `commit` always fsyncs:
//! okaywal has no unsynced mode. It has no index-addressed read, no truncation and no purge
//! of a prefix (it recycles files after its own checkpoints), so only the write and
//! recovery workloads include it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use okaywal::{Configuration, Entry, EntryId, LogManager, SegmentReader, WriteAheadLog};

use super::{newest_file_number, Res, WriteTarget};

/// Recovers by reading every chunk (as a store that rebuilds its state would), counting them.
#[derive(Debug, Default, Clone)]
pub struct Counting {
    pub chunks: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
}

impl LogManager for Counting {
    fn recover(&mut self, entry: &mut Entry<'_>) -> io::Result<()> {
        if let Some(chunks) = entry.read_all_chunks()? {
            self.chunks
                .fetch_add(chunks.len() as u64, Ordering::Relaxed);
            let b: usize = chunks.iter().map(Vec::len).sum();
            self.bytes.fetch_add(b as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        _last_checkpointed_id: EntryId,
        _checkpointed_entries: &mut SegmentReader,
        _wal: &WriteAheadLog,
    ) -> io::Result<()> {
        // Nothing behind the log to persist to: let okaywal recycle the file.
        Ok(())
    }
}

/// `segment_bytes`: `None` keeps okaywal's defaults (1 MiB files, checkpoint after 768 KiB);
/// `Some(s)` preallocates `s` and checkpoints after 3/4 of it; `Some(0)` never checkpoints.
pub fn configuration(dir: &Path, segment_bytes: Option<u64>) -> Configuration {
    let c = Configuration::default_for(dir);
    match segment_bytes {
        None => c,
        Some(0) => c.checkpoint_after_bytes(u64::MAX),
        Some(s) => c
            .preallocate_bytes(s.min(u32::MAX as u64) as u32)
            .checkpoint_after_bytes(s / 4 * 3),
    }
}

pub struct OkayWalTarget {
    wal: WriteAheadLog,
    dir: PathBuf,
}

impl OkayWalTarget {
    pub fn open(dir: &Path, segment_bytes: Option<u64>) -> Res<OkayWalTarget> {
        let wal = configuration(dir, segment_bytes).open(Counting::default())?;
        Ok(OkayWalTarget {
            wal,
            dir: dir.to_path_buf(),
        })
    }
}

impl WriteTarget for OkayWalTarget {
    fn append(&self, _w: usize, n: usize, payload: &Bytes, sync: bool) -> Res<()> {
        if !sync {
            return Err("okaywal has no unsynced commit".into());
        }
        let mut writer = self.wal.begin_entry()?;
        for _ in 0..n {
            writer.write_chunk(payload)?;
        }
        writer.commit()?;
        Ok(())
    }

    fn rotation_marker(&self) -> Res<u64> {
        // The active file is renamed `wal-<first entry id>` when activated.
        newest_file_number(&self.dir, "wal-")
    }

    fn finish(self: Box<Self>) -> Res<()> {
        self.wal.shutdown()?;
        Ok(())
    }
}

/// Writes `count` chunks of `payload`, `chunk` per okaywal entry, with checkpoints off so
/// everything stays to be recovered.
pub fn populate(dir: &Path, count: u64, payload: &Bytes, chunk: usize) -> Res<u64> {
    let wal = configuration(dir, Some(0)).open(Counting::default())?;
    let mut done = 0;
    while done < count {
        let n = ((count - done) as usize).min(chunk);
        let mut writer = wal.begin_entry()?;
        for _ in 0..n {
            writer.write_chunk(payload)?;
        }
        writer.commit()?;
        done += n as u64;
    }
    wal.shutdown()?;
    Ok(done)
}

/// Opens (recovers) the log, reading every chunk. Returns the chunks recovered.
pub fn recover(dir: &Path) -> Res<(u64, WriteAheadLog)> {
    let m = Counting::default();
    let chunks = m.chunks.clone();
    let wal = configuration(dir, Some(0)).open(m)?;
    Ok((chunks.load(Ordering::Relaxed), wal))
}

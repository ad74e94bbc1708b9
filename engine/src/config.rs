//! Store configuration.

use crate::canary::{Canary, CanarySet};
use crate::error::{Error, Result};

/// When appended entries become durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// An append is written and fsynced before it is acknowledged; reads hit a bounded cache
    /// and fall back to disk. Open loads only the log's bounds.
    DiskFirst,
    /// An append is acknowledged from memory; the flusher persists it. Open preloads every
    /// entry; reads never touch the disk. A crash may lose an unflushed suffix, never a hole.
    MemFirst,
}

/// How writes are grouped into fsyncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// One fsync per append call (DiskFirst) or a flush right after every append (MemFirst).
    Immediate,
    /// Group commit: sync once `threshold` entries are waiting or the oldest waiting entry
    /// has waited `interval_ms`, whichever comes first.
    Batch {
        /// Entries waiting that trigger a sync (at least 1).
        threshold: usize,
        /// The longest an entry waits for its sync.
        interval_ms: u64,
    },
}

/// What recovery does with corruption (a bad record that is not a torn tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Fail-stop: open returns [`Error::Corruption`] naming the file and offset.
    Strict,
    /// Cut the log at the first bad record and everything after it, logging what was
    /// dropped. Acknowledged entries may be lost; choose it only to salvage a damaged store.
    TruncateCorrupt,
}

/// Everything that configures a store. Build with [`Config::new`] and the `with_*` methods;
/// read with the methods of the same names. [`Config::validate`] (called by every open)
/// rejects what cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) strategy: Strategy,
    pub(crate) flush: FlushPolicy,
    pub(crate) segment_size_bytes: u64,
    pub(crate) cache_entries_max: usize,
    pub(crate) prefetch_entries: usize,
    pub(crate) unflushed_bytes_max: u64,
    pub(crate) flush_entries_max: usize,
    pub(crate) payload_size_max_bytes: u32,
    pub(crate) recovery: RecoveryMode,
    pub(crate) preload_worker_min_bytes: u64,
    pub(crate) commit_check: bool,
    /// Deliberate bugs for the harness's own tests: zero-sized and always empty without the
    /// `canary` feature.
    pub(crate) canaries: CanarySet,
    /// The archive tier, if any (see [`Config::with_archive`]).
    pub(crate) archive: Option<crate::archive::ArchiveHandle>,
}

impl Config {
    /// A configuration with `strategy`, `flush` and every limit at its default.
    pub fn new(strategy: Strategy, flush: FlushPolicy) -> Self {
        Config {
            strategy,
            flush,
            segment_size_bytes: 64 << 20,
            cache_entries_max: 64 * 1024,
            prefetch_entries: 256,
            unflushed_bytes_max: 64 << 20,
            flush_entries_max: 65_536,
            payload_size_max_bytes: 16 << 20,
            recovery: RecoveryMode::Strict,
            preload_worker_min_bytes: 8 << 20,
            commit_check: false,
            canaries: CanarySet::default(),
            archive: None,
        }
    }

    /// When appended entries become durable (see [`Strategy`]).
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// How writes are grouped into fsyncs (see [`FlushPolicy`]).
    pub fn flush(&self) -> FlushPolicy {
        self.flush
    }

    /// A segment is rotated once its size reaches this. Default 64 MiB; at least 4096.
    pub fn segment_size_bytes(&self) -> u64 {
        self.segment_size_bytes
    }

    /// Sets [`Config::segment_size_bytes`].
    pub fn with_segment_size_bytes(mut self, v: u64) -> Self {
        self.segment_size_bytes = v;
        self
    }

    /// DiskFirst: entries held in the read cache. Default 65,536.
    pub fn cache_entries_max(&self) -> usize {
        self.cache_entries_max
    }

    /// Sets [`Config::cache_entries_max`].
    pub fn with_cache_entries_max(mut self, v: usize) -> Self {
        self.cache_entries_max = v;
        self
    }

    /// DiskFirst: entries read ahead after a cache miss. Default 256.
    pub fn prefetch_entries(&self) -> usize {
        self.prefetch_entries
    }

    /// Sets [`Config::prefetch_entries`].
    pub fn with_prefetch_entries(mut self, v: usize) -> Self {
        self.prefetch_entries = v;
        self
    }

    /// MemFirst: unflushed payload bytes past which appends meet backpressure. Default 64 MiB;
    /// positive.
    pub fn unflushed_bytes_max(&self) -> u64 {
        self.unflushed_bytes_max
    }

    /// Sets [`Config::unflushed_bytes_max`].
    pub fn with_unflushed_bytes_max(mut self, v: u64) -> Self {
        self.unflushed_bytes_max = v;
        self
    }

    /// MemFirst: entries one flush takes. A flush copies the handles of the entries it
    /// writes while it holds the store's lock, so this bounds how long an append can wait
    /// behind one; a larger backlog goes out in several flushes, each a durable prefix.
    /// Default 65,536; at least 1.
    pub fn flush_entries_max(&self) -> usize {
        self.flush_entries_max
    }

    /// Sets [`Config::flush_entries_max`].
    pub fn with_flush_entries_max(mut self, v: usize) -> Self {
        self.flush_entries_max = v;
        self
    }

    /// The largest payload accepted by append, and so the largest record recovery will
    /// allocate for. Default 16 MiB; in `1..=2^30`.
    pub fn payload_size_max_bytes(&self) -> u32 {
        self.payload_size_max_bytes
    }

    /// Sets [`Config::payload_size_max_bytes`].
    pub fn with_payload_size_max_bytes(mut self, v: u32) -> Self {
        self.payload_size_max_bytes = v;
        self
    }

    /// What recovery does with corruption (see [`RecoveryMode`]). Default `Strict`.
    pub fn recovery(&self) -> RecoveryMode {
        self.recovery
    }

    /// Sets [`Config::recovery`].
    pub fn with_recovery(mut self, v: RecoveryMode) -> Self {
        self.recovery = v;
        self
    }

    /// MemFirst open: parse segments on a second thread, overlapping the reads, once the
    /// segments before the last span at least this many bytes (`segment_size_bytes` times
    /// their count). Below it, the thread would cost more than it saves. Default 8 MiB.
    pub fn preload_worker_min_bytes(&self) -> u64 {
        self.preload_worker_min_bytes
    }

    /// Sets [`Config::preload_worker_min_bytes`].
    pub fn with_preload_worker_min_bytes(mut self, v: u64) -> Self {
        self.preload_worker_min_bytes = v;
        self
    }

    /// Give [`crate::HardState::commit`] Raft's meaning: every entry up to it is durable,
    /// and none is ever truncated. The caller then saves a commit only once the log holds it
    /// durably (`durable_index() >= commit`, or at or below the purge boundary) and never
    /// truncates at or below it. Recovery then refuses (fail-stop, [`Error::Corruption`]
    /// naming `meta`) a log that ends below the saved commit: committed entries were lost,
    /// which no torn write explains. Off by default: the hard state is otherwise opaque to
    /// the engine (the openraft adapter keeps a flag in `commit`).
    pub fn commit_check(&self) -> bool {
        self.commit_check
    }

    /// Sets [`Config::commit_check`].
    pub fn with_commit_check(mut self, v: bool) -> Self {
        self.commit_check = v;
        self
    }

    /// Gives the store an archive tier: [`crate::Log::archive_upto`] moves sealed segments
    /// there, reads of archived entries fall through to it, purge removes from it. A store
    /// whose manifest lists archived segments must be opened with its archive
    /// ([`crate::Error::Archive`] otherwise). An archive (a directory, a prefix) serves one
    /// store: a move deletes the segment objects its manifest does not list.
    pub fn with_archive(mut self, archive: crate::archive::ArchiveHandle) -> Self {
        self.archive = Some(archive);
        self
    }

    /// The archive tier, if the store has one.
    pub fn archive(&self) -> Option<&crate::archive::ArchiveHandle> {
        self.archive.as_ref()
    }

    /// Turns on a deliberate bug (only with the `canary` feature; otherwise a no-op).
    pub fn with_canary(mut self, c: Canary) -> Self {
        self.canaries = self.canaries.with(c);
        self
    }

    /// Replaces the set of canaries (only with the `canary` feature; otherwise a no-op).
    pub fn with_canaries(mut self, set: CanarySet) -> Self {
        self.canaries = set;
        self
    }

    /// The canaries turned on (always none without the `canary` feature).
    pub fn canaries(&self) -> CanarySet {
        self.canaries
    }

    /// Rejects configurations that cannot work (zero sizes, a batch threshold of zero).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidConfig(what.to_string()));
        if self.segment_size_bytes < 4096 {
            return bad("segment_size_bytes must be at least 4096");
        }
        if self.payload_size_max_bytes == 0 || self.payload_size_max_bytes > (1 << 30) {
            return bad("payload_size_max_bytes must be in 1..=2^30");
        }
        if let FlushPolicy::Batch { threshold: 0, .. } = self.flush {
            return bad("batch threshold must be at least 1");
        }
        if self.strategy == Strategy::MemFirst && self.unflushed_bytes_max == 0 {
            return bad("unflushed_bytes_max must be positive");
        }
        if self.flush_entries_max == 0 {
            return bad("flush_entries_max must be at least 1");
        }
        Ok(())
    }
}

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
///
/// Under every policy, entries appended after the last truncation (a follower's resolved
/// conflict) are synced at once, in one fsync with the cut, until a sync covers the first
/// of them: the new leader commits nothing until they are durable (docs/DESIGN.md §1).
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
    /// Group commit that needs no tuning. Syncs at once when idle; while a sync is in
    /// flight the next batch gathers, and the fronts start it as soon as that sync returns
    /// (pipelined group commit); it holds a sync back only when moving averages of the gap
    /// between append calls and of a sync's duration (read on the log's
    /// [`Clock`](crate::Clock)) say that more appends will arrive within about one sync's
    /// time, and then at most `delay_max_us` after the first owed append, or until the
    /// expected batch is owed. One writer is never held back.
    Adaptive {
        /// The longest the policy holds back an owed append to fill a batch. The threaded
        /// fronts' timers count in whole milliseconds, so a deadline wait (when the batch
        /// does not fill) lasts up to 1 ms more; a filled batch syncs at once.
        delay_max_us: u64,
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
    pub(crate) snapshot_hint: Option<u64>,
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
            snapshot_hint: None,
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

    /// MemFirst open: the index of the state machine's last snapshot (or last applied
    /// entry), which a Raft node knows when it restarts. Open then preloads only the
    /// segments from the one holding this index onward, so startup reads the live tail,
    /// not the whole log; the entry at the hint is in memory, so the term Raft's
    /// consistency check asks for costs no read. Older entries stay on disk and are read
    /// lazily on demand, as DiskFirst reads (checksummed then; damage there is reported by
    /// the read that meets it, not by the open). A hint past the end preloads the last
    /// segment. `None` (the default) preloads everything. DiskFirst ignores it: its open
    /// reads only the log's bounds anyway. So does a salvaging open
    /// ([`RecoveryMode::TruncateCorrupt`]): it judges every segment.
    pub fn snapshot_hint(&self) -> Option<u64> {
        self.snapshot_hint
    }

    /// Sets [`Config::snapshot_hint`].
    pub fn with_snapshot_hint(mut self, v: Option<u64>) -> Self {
        self.snapshot_hint = v;
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

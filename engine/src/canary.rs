//! Canaries: switches that each reintroduce one classic durability bug, so the simulator can
//! prove that it catches them. They are honoured only with the `canary` cargo feature; in a
//! normal build [`CanarySet::on`] is a constant `false` and the bug paths compile away.

/// One deliberately broken behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Canary {
    /// DiskFirst reports entries durable before their fsync.
    AckBeforeFsync,
    /// Creating a segment (or the metadata file) skips the directory fsync.
    SkipDirSync,
    /// Recovery and reads skip record checksums.
    SkipChecksum,
    /// Purge deletes segments before the new boundary is durable.
    PurgeBeforeBoundaryDurable,
    /// Hard state is written in place into one slot without fsync.
    HardStateNoFsync,
    /// A truncation is not made durable before entries are re-appended.
    TruncateNotDurable,
    /// MemFirst advances the durable index before its flush's fsync completes.
    MemFirstEarlyDurable,
    /// Recovery silently cuts the log at mid-log corruption instead of failing.
    SilentCorruptionCut,
    /// The async front serves reads from a cache that a truncation does not invalidate.
    StaleReadAfterTruncate,
    /// `Store`: a durability waiter returns once the sync covering it is prepared, before
    /// its fsyncs returned.
    WaiterEarlyRelease,
    /// `Store`: a finished sync fires the callback of the entry just past the durable index.
    CallbackBeyondDurable,
    /// `Store`: a finished sync hands a wake-up to a waiter it did not cover, and the waiter
    /// trusts the wake-up instead of the durable index.
    RelayUncovered,
    /// `Store`: the flusher runs only count-due syncs and skips a `Batch` sync whose
    /// interval is due.
    FlusherSkipsBatch,
    /// The fronts and `Log` accept writes (and syncs) after a write-path failure poisoned
    /// the store.
    WriteAfterPoison,
    /// MemFirst opened with a snapshot hint: a truncation below the preloaded memory leaves
    /// the cold segments readable as they were, so truncated entries come back.
    ColdOutlivesTruncate,
    /// A move to the archive deletes the local segment before the manifest records it.
    ArchiveDeleteBeforeManifest,
    /// `Store`: the relay of wake-ups is dropped: of the waiters a finished sync released,
    /// only the first few are woken, and the rest return when their park times out.
    LostWakeup,
    /// `Store`: an append never kicks the flusher, so a callback's or a MemFirst append's
    /// sync waits for the flusher's next timeout (up to 100 ms) instead of starting at once.
    MissedFlusherKick,
    /// A segment's checkpoint slot is written after the fsync it describes (with the next
    /// one), not before: an open may trust an older slot and cut acknowledged entries.
    CheckpointAfterFsync,
}

impl Canary {
    /// Every canary, in declaration order.
    pub const ALL: [Canary; 19] = [
        Canary::AckBeforeFsync,
        Canary::SkipDirSync,
        Canary::SkipChecksum,
        Canary::PurgeBeforeBoundaryDurable,
        Canary::HardStateNoFsync,
        Canary::TruncateNotDurable,
        Canary::MemFirstEarlyDurable,
        Canary::SilentCorruptionCut,
        Canary::StaleReadAfterTruncate,
        Canary::WaiterEarlyRelease,
        Canary::CallbackBeyondDurable,
        Canary::RelayUncovered,
        Canary::FlusherSkipsBatch,
        Canary::WriteAfterPoison,
        Canary::ColdOutlivesTruncate,
        Canary::ArchiveDeleteBeforeManifest,
        Canary::LostWakeup,
        Canary::MissedFlusherKick,
        Canary::CheckpointAfterFsync,
    ];

    /// The canary's name on the command line (`--canary NAME`) and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Canary::AckBeforeFsync => "ack-before-fsync",
            Canary::SkipDirSync => "skip-dir-sync",
            Canary::SkipChecksum => "skip-checksum",
            Canary::PurgeBeforeBoundaryDurable => "purge-before-boundary-durable",
            Canary::HardStateNoFsync => "hard-state-no-fsync",
            Canary::TruncateNotDurable => "truncate-not-durable",
            Canary::MemFirstEarlyDurable => "memfirst-early-durable",
            Canary::SilentCorruptionCut => "silent-corruption-cut",
            Canary::StaleReadAfterTruncate => "stale-read-after-truncate",
            Canary::WaiterEarlyRelease => "waiter-early-release",
            Canary::CallbackBeyondDurable => "callback-beyond-durable",
            Canary::RelayUncovered => "relay-uncovered",
            Canary::FlusherSkipsBatch => "flusher-skips-batch",
            Canary::WriteAfterPoison => "write-after-poison",
            Canary::ColdOutlivesTruncate => "cold-outlives-truncate",
            Canary::ArchiveDeleteBeforeManifest => "archive-delete-before-manifest",
            Canary::LostWakeup => "lost-wakeup",
            Canary::MissedFlusherKick => "missed-flusher-kick",
            Canary::CheckpointAfterFsync => "checkpoint-after-fsync",
        }
    }

    /// The canary named `name` (see [`Canary::name`]).
    pub fn from_name(name: &str) -> Option<Canary> {
        Canary::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The set of canaries a store runs with; empty by default, and zero-sized (always empty)
/// without the `canary` feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CanarySet(#[cfg(feature = "canary")] u32);

impl CanarySet {
    /// This set with `canary` on (a no-op without the `canary` feature).
    pub fn with(self, canary: Canary) -> Self {
        #[cfg(feature = "canary")]
        return CanarySet(self.0 | 1 << canary as u32);
        #[cfg(not(feature = "canary"))]
        {
            let _ = canary;
            self
        }
    }

    /// Whether `canary` is on. Always false without the `canary` feature.
    #[inline(always)]
    pub fn on(self, canary: Canary) -> bool {
        #[cfg(feature = "canary")]
        return self.0 & (1 << canary as u32) != 0;
        #[cfg(not(feature = "canary"))]
        {
            let _ = canary;
            false
        }
    }
}

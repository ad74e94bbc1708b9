//! The one error type of the engine.

use std::io;
use std::path::PathBuf;

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way a store operation can fail. No operation panics on bad input.
///
/// Non-exhaustive: a later version may add a way to fail, so a `match` needs a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed. `op` names the call, `path` the file or directory.
    #[error("I/O error during {op} on {path}: {source}")]
    Io {
        /// The call: `write`, `sync_data`, `open`, ...
        op: &'static str,
        /// The file or directory it was called on.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The disk is full (ENOSPC). Nothing acknowledged was lost; the handle is poisoned.
    #[error("disk full during {op} on {path}")]
    DiskFull {
        /// The call that found the disk full.
        op: &'static str,
        /// The file or directory it was called on.
        path: PathBuf,
    },
    /// Data on disk that may hold acknowledged entries is damaged (fail-stop).
    #[error("corruption in {path} at offset {offset}: {reason}")]
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// Where in it the damage starts.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A file has a format version this build does not read.
    #[error("{path}: unsupported format version {version}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version it says it has.
        version: u32,
    },
    /// An earlier write or fsync failed; the handle refuses writes until reopened.
    #[error("store is poisoned by an earlier I/O failure ({cause}); reopen it")]
    Poisoned {
        /// The failure that poisoned the handle.
        cause: Poison,
    },
    /// Another handle holds the store directory.
    #[error("store directory {dir} is locked by another handle")]
    Locked {
        /// The store directory.
        dir: PathBuf,
    },
    /// [`crate::inspect`] was pointed at a directory that holds no store: missing, not a
    /// directory, or with neither `meta` nor a segment file. Nothing was written to it.
    #[error("{dir} is not a logbook store: {reason}")]
    NotAStore {
        /// The directory.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The archive tier failed: `op` (`put`, `verify`, `read`, `list`, `delete`, or `open`
    /// for a store whose manifest needs an archive it was not given) on object `name`.
    /// Nothing local changed because of it: it poisons nothing, and the segment stays local.
    #[error("archive error during {op} of {name}: {source}")]
    Archive {
        /// The archive call.
        op: &'static str,
        /// The object (a segment name), or the manifest.
        name: String,
        /// What the archive said.
        #[source]
        source: io::Error,
    },
    /// A truncation reached into the archived segments: archive only committed entries,
    /// which Raft never truncates.
    #[error("index {index} is archived (the archive holds up to {archived_upto})")]
    Archived {
        /// The index asked for.
        index: u64,
        /// The last archived index.
        archived_upto: u64,
    },
    /// An append did not continue the log.
    #[error("append of index {got} does not continue the log (expected {expected})")]
    NotContinuous {
        /// The index that would continue the log.
        expected: u64,
        /// The index the append started with (or had next).
        got: u64,
    },
    /// A term went backwards within an append.
    #[error("entry {index} has term {term} below the previous term {prev_term}")]
    TermRegression {
        /// The entry whose term went backwards.
        index: u64,
        /// Its term.
        term: u64,
        /// The term of the entry before it.
        prev_term: u64,
    },
    /// A payload is larger than `payload_size_max_bytes`.
    #[error("payload of {size_bytes} bytes exceeds the maximum of {max_bytes}")]
    PayloadTooLarge {
        /// The payload's size.
        size_bytes: usize,
        /// `payload_size_max_bytes`.
        max_bytes: u32,
    },
    /// MemFirst: too many unflushed bytes; flush (or wait for the flusher) and retry.
    #[error("backpressure: {unflushed_bytes} unflushed bytes, maximum {max_bytes}")]
    Backpressure {
        /// Payload bytes not yet durable (including a flush in flight).
        unflushed_bytes: u64,
        /// `unflushed_bytes_max`.
        max_bytes: u64,
    },
    /// An operation named an index at or below the purge boundary.
    #[error("index {index} is purged (boundary {last_purged})")]
    Purged {
        /// The index asked for.
        index: u64,
        /// The purge boundary.
        last_purged: u64,
    },
    /// A truncation removed the entries (from `from` on) before they became durable; a
    /// callback waiting for them gets this instead of an acknowledgement.
    #[error("entries up to {index} were truncated from {from} before they became durable")]
    Truncated {
        /// The last index the waiter was waiting for.
        index: u64,
        /// Where the truncation cut.
        from: u64,
    },
    /// The configuration cannot work.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// The store was closed.
    #[error("store is closed")]
    Closed,
    /// A [`crate::Log::prepare_sync`] is outstanding: complete it first. The threaded fronts
    /// never return this; it guards direct users of [`crate::Log`].
    #[error("a sync is in flight; complete it before this operation")]
    SyncInFlight,
}

/// Why a handle is poisoned: the first failure on its write path. Every write after it
/// gets [`Error::Poisoned`] with this cause, until the store is reopened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    kind: PoisonKind,
    message: String,
}

/// What kind of failure poisoned a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoisonKind {
    /// A write or fsync failed with this I/O error kind: the kernel may have dropped pages,
    /// so retrying proves nothing.
    Io(io::ErrorKind),
    /// The disk was full.
    DiskFull,
    /// A sync was lost: it panicked (in an `Fs` implementation) or the task running it died.
    SyncLost,
    /// Another failure on the write path (a corrupt read while writing out, for example).
    Other,
}

impl Poison {
    /// The poison an error on the write path leaves.
    pub(crate) fn of(e: &Error) -> Poison {
        let kind = match e {
            Error::Io { source, .. } => PoisonKind::Io(source.kind()),
            Error::DiskFull { .. } => PoisonKind::DiskFull,
            _ => PoisonKind::Other,
        };
        Poison {
            kind,
            message: e.to_string(),
        }
    }

    /// The poison a lost sync leaves (`why`: its panic message, or that its task died).
    pub(crate) fn sync_lost(why: impl std::fmt::Display) -> Poison {
        Poison {
            kind: PoisonKind::SyncLost,
            message: format!("a sync was lost: {why}"),
        }
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> PoisonKind {
        self.kind
    }

    /// The failure as it was reported then.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Poison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    /// Wraps an I/O error, mapping a full disk ([`io::ErrorKind::StorageFull`], which std
    /// gives ENOSPC) to [`Error::DiskFull`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        let path = path.into();
        if source.kind() == io::ErrorKind::StorageFull {
            Error::DiskFull { op, path }
        } else {
            Error::Io { op, path, source }
        }
    }

    pub(crate) fn corruption(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Error {
        Error::Corruption {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}

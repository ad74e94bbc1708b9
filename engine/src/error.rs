//! The one error type of the engine.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way a store operation can fail. No operation panics on bad input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed. `op` names the call, `path` the file or directory.
    #[error("I/O error during {op} on {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The disk is full (ENOSPC). Nothing acknowledged was lost; the handle is poisoned.
    #[error("disk full during {op} on {path}")]
    DiskFull { op: &'static str, path: PathBuf },
    /// Data on disk that may hold acknowledged entries is damaged (fail-stop).
    #[error("corruption in {path} at offset {offset}: {reason}")]
    Corruption {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A file has a format version this build does not read.
    #[error("{path}: unsupported format version {version}")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// An earlier write or fsync failed; the handle refuses writes until reopened.
    #[error("store is poisoned by an earlier I/O failure ({cause}); reopen it")]
    Poisoned { cause: String },
    /// Another handle holds the store directory.
    #[error("store directory {dir} is locked by another handle")]
    Locked { dir: PathBuf },
    /// [`crate::inspect`] was pointed at a directory that holds no store: missing, not a
    /// directory, or with neither `meta` nor a segment file. Nothing was written to it.
    #[error("{dir} is not a logbook store: {reason}")]
    NotAStore { dir: PathBuf, reason: String },
    /// An append did not continue the log.
    #[error("append of index {got} does not continue the log (expected {expected})")]
    NotContinuous { expected: u64, got: u64 },
    /// A term went backwards within an append.
    #[error("entry {index} has term {term} below the previous term {prev_term}")]
    TermRegression {
        index: u64,
        term: u64,
        prev_term: u64,
    },
    /// A payload is larger than `payload_size_max_bytes`.
    #[error("payload of {size_bytes} bytes exceeds the maximum of {max_bytes}")]
    PayloadTooLarge { size_bytes: usize, max_bytes: u32 },
    /// MemFirst: too many unflushed bytes; flush (or wait for the flusher) and retry.
    #[error("backpressure: {unflushed_bytes} unflushed bytes, maximum {max_bytes}")]
    Backpressure {
        unflushed_bytes: u64,
        max_bytes: u64,
    },
    /// An operation named an index at or below the purge boundary.
    #[error("index {index} is purged (boundary {last_purged})")]
    Purged { index: u64, last_purged: u64 },
    /// A truncation removed the entries (from `from` on) before they became durable; a
    /// callback waiting for them gets this instead of an acknowledgement.
    #[error("entries up to {index} were truncated from {from} before they became durable")]
    Truncated { index: u64, from: u64 },
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

impl Error {
    /// Wraps an I/O error, mapping ENOSPC to [`Error::DiskFull`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        let path = path.into();
        if source.kind() == io::ErrorKind::StorageFull || source.raw_os_error() == Some(28) {
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

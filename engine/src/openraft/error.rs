//! Turning engine and codec failures into openraft's [`StorageError`], with the subject and
//! verb openraft expects.

use std::fmt::Display;

use ::openraft::{
    AnyError, DefensiveError, ErrorSubject, ErrorVerb, LogId, StorageError, StorageIOError,
    Violation,
};

/// The result type of the adapter: openraft's storage error over `u64` node ids.
pub type Result<T, E = StorageError<u64>> = std::result::Result<T, E>;

/// An I/O failure of the engine while doing `verb` on `subject`.
pub(super) fn engine(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    e: &crate::Error,
) -> StorageError<u64> {
    StorageIOError::new(subject, verb, AnyError::new(e)).into()
}

/// A failure described by a message (bad payload, an operation the layout cannot represent).
pub(super) fn message(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    msg: impl Display,
) -> StorageError<u64> {
    StorageIOError::new(subject, verb, AnyError::error(msg)).into()
}

/// Input that breaks openraft's own rules for a log (a hole, a leader going backwards).
pub(super) fn defensive(subject: ErrorSubject<u64>, v: Violation<u64>) -> StorageError<u64> {
    DefensiveError::new(subject, v).into()
}

pub(super) fn non_consecutive(prev: Option<LogId<u64>>, next: LogId<u64>) -> StorageError<u64> {
    defensive(
        ErrorSubject::Logs,
        Violation::LogsNonConsecutive { prev, next },
    )
}

/// Shorthands for the engine calls of each operation.
pub(super) trait EngineResultExt<T> {
    fn or_storage(self, subject: ErrorSubject<u64>, verb: ErrorVerb) -> Result<T>;
}

impl<T> EngineResultExt<T> for crate::Result<T> {
    fn or_storage(self, subject: ErrorSubject<u64>, verb: ErrorVerb) -> Result<T> {
        self.map_err(|e| engine(subject, verb, &e))
    }
}

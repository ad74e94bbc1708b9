//! The archive tier: where sealed segments go once the local disk no longer needs them
//! (docs/DESIGN.md §6).
//!
//! A store with an archive ([`crate::Config::with_archive`]) moves a sealed, durable segment
//! with [`crate::Log::archive_upto`] in three steps, each durable before the next:
//! 1. **put** the whole segment file into the archive under its own name, and read it back
//!    to check that the archive holds exactly those bytes (an archive that reports `Ok` and
//!    keeps nothing is caught here, before anything relies on it);
//! 2. **manifest**: record the segment (first and last index, last term, length, crc32) in
//!    the store directory's manifest (`archive/manifest.rs`), written atomically;
//! 3. **local delete**: remove the segment file and fsync the directory.
//!
//! A crash between any two steps leaves the local file, or the manifest entry with the
//! archive's copy, or both: recovery treats a local file that the manifest lists as a
//! leftover of step 3 and removes it. Reads of archived entries fall through to the archive
//! (`segments/tier.rs`); purge drops archived segments wholly at or below the new boundary
//! from the manifest (after the boundary is durable in `meta`), then from the archive.

use std::fmt;
use std::io;
use std::sync::Arc;

mod fs_archive;
pub(crate) mod manifest;
#[cfg(feature = "object-store")]
mod object_store;

pub use fs_archive::FsArchive;
#[cfg(feature = "object-store")]
pub use object_store::ObjectStoreArchive;

/// An archive of sealed segments: a flat namespace of immutable objects.
///
/// The engine calls it with segment names (`seg-<first index, 20 digits>.log`) only, from
/// the thread that holds the log, never concurrently for one store. The contract, method by
/// method, is what the engine relies on; an implementation that breaks it (a `put` that
/// returns `Ok` and later loses the object) is out of contract, and reads of what it lost
/// fail with [`crate::Error::Archive`], never with wrong data (the engine checks every
/// object's crc32 and every record's checksum).
pub trait Archive: Send + Sync + fmt::Debug {
    /// Stores `bytes` under `name`, replacing any object of that name (a retry after a crash
    /// puts the same segment again). **Durable when it returns `Ok`**: a crash of the
    /// machine or of the archive afterwards keeps the whole object. On error, the object may
    /// be absent, whole, or partial; the engine puts again or never uses it.
    fn put(&self, name: &str, bytes: &[u8]) -> io::Result<()>;

    /// Reads `len` bytes of object `name` from `offset`. Fewer bytes than asked (the object
    /// is shorter) is `ErrorKind::UnexpectedEof`; a missing object is `ErrorKind::NotFound`.
    fn read(&self, name: &str, offset: u64, len: u64) -> io::Result<Vec<u8>>;

    /// The names of the objects held, sorted; objects whose put is under way or failed may
    /// be listed or not.
    fn list(&self) -> io::Result<Vec<String>>;

    /// Removes object `name`; removing a missing object is `Ok`. Need not be durable: an
    /// object that comes back after a crash is an orphan, which the engine deletes again.
    fn delete(&self, name: &str) -> io::Result<()>;
}

/// An [`Archive`] shared by a [`crate::Config`]: two handles are equal when they share the
/// same archive object (by pointer), so a `Config` stays comparable.
#[derive(Clone)]
pub struct ArchiveHandle(pub Arc<dyn Archive>);

impl ArchiveHandle {
    /// A handle on `archive`.
    pub fn new(archive: impl Archive + 'static) -> ArchiveHandle {
        ArchiveHandle(Arc::new(archive))
    }

    /// The archive.
    pub fn archive(&self) -> &dyn Archive {
        &*self.0
    }
}

impl fmt::Debug for ArchiveHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for ArchiveHandle {
    fn eq(&self, other: &ArchiveHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ArchiveHandle {}

// A `Config` stays unwind-safe with an archive in it: the engine treats an archive left
// half-way by a panic as it treats any failed call (the object is unused, or put again).
impl std::panic::UnwindSafe for ArchiveHandle {}
impl std::panic::RefUnwindSafe for ArchiveHandle {}

/// What one [`crate::Log::archive_upto`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Segments moved to the archive (put, recorded, deleted locally).
    pub segments: u32,
    /// Their bytes: what the local disk no longer holds.
    pub bytes: u64,
    /// Orphan objects (not in the manifest) deleted from the archive first.
    pub orphans_deleted: u32,
    /// The last index the archive holds after the call, 0 if none.
    pub archived_upto: u64,
}

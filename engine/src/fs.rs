//! The filesystem boundary. The engine performs every byte of I/O through these two traits
//! and nothing else; [`crate::std_fs::StdFs`] implements them on the OS, and
//! `logbook-sim` implements them in memory with injected faults.
//!
//! Durability vocabulary used by every contract below:
//! - *pending*: visible to later reads through this `Fs`, but may vanish, persist in part or
//!   persist out of order if the machine crashes now.
//! - *durable*: survives any crash.
//!
//! A conforming backend never reports an operation durable that a crash could undo, and never
//! returns bytes from a read that were not written (or zeros for a hole created by
//! `set_len`). Every method may fail with `io::Error`; an error says nothing about whether a
//! part of a write reached the disk.

use std::io;
use std::path::Path;
use std::sync::Arc;

/// An open file. Handles are shared (`Arc`) so a group-commit leader can `sync_data` a file
/// while other writers keep appending to it under the store's lock.
#[allow(clippy::len_without_is_empty)] // a file length, not a collection
pub trait FsFile: Send + Sync + std::fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at or past the
    /// end). Reads see pending writes.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Writes all of `buf` at `offset`, extending the file if needed. The write is pending
    /// until [`FsFile::sync_data`] returns `Ok`. On error, any prefix or subset of `buf` may
    /// have reached the file.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;

    /// Sets the length, cutting or zero-extending. Pending until `sync_data` returns `Ok`.
    fn set_len(&self, len_bytes: u64) -> io::Result<()>;

    /// Reserves space so that the file is at least `len_bytes` long, reading as zeros past
    /// the data written so far; like `set_len`, pending until `sync_data`. The default
    /// zero-extends with `set_len`; the OS backend allocates blocks (`fallocate`) so later
    /// writes into the range need no size change at fsync.
    fn allocate(&self, len_bytes: u64) -> io::Result<()> {
        if self.len()? < len_bytes {
            self.set_len(len_bytes)?;
        }
        Ok(())
    }

    /// Makes every pending write and length change of this file durable. It does not make
    /// the file's directory entry durable (see [`Fs::sync_dir`]). After an error the state of
    /// the pending writes is unknown and retrying proves nothing: callers must fail-stop.
    fn sync_data(&self) -> io::Result<()>;

    /// The current length, including pending writes.
    fn len(&self) -> io::Result<u64>;
}

/// Held while a store directory is locked; dropping it releases the lock.
pub trait DirLock: Send + Sync + std::fmt::Debug {}

/// A filesystem: files plus the directory operations the engine needs.
pub trait Fs: Send + Sync + std::fmt::Debug {
    /// Creates `dir` and its parents if missing. The new entries are pending until
    /// [`Fs::sync_dir`] of each parent.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Opens `path` for reading and writing; with `create`, creates it empty if absent (the
    /// directory entry is pending until `sync_dir` of its parent). Without `create`, a
    /// missing file is `ErrorKind::NotFound`.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>>;

    /// The names (not paths) of the entries of `dir`, sorted, pending ones included.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// Atomically replaces `to` with `from` in the namespace. Pending until `sync_dir`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes a file. Pending until `sync_dir`: a crash may bring it back.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Makes every pending create, rename and remove in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Takes an exclusive lock on the store directory `dir`, or fails at once with
    /// `ErrorKind::WouldBlock` if another handle holds it. The lock dies with the process.
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>>;
}

/// Takes the lock of the store directory `dir` ([`Fs::lock_dir`]), as every handle on a store
/// does: another holder is [`crate::Error::Locked`].
pub(crate) fn lock_store(fs: &dyn Fs, dir: &Path) -> crate::Result<Box<dyn DirLock>> {
    fs.lock_dir(dir).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => crate::Error::Locked {
            dir: dir.to_path_buf(),
        },
        _ => crate::Error::io("lock", dir, e),
    })
}

/// Creates `dir` and its missing parents so that a crash cannot lose them: after
/// [`Fs::create_dir_all`], a [`Fs::sync_dir`] of the parent of every directory it created,
/// shallowest first. Without it a power loss may drop the new directory's name, and with it
/// everything the store acknowledged inside. Directories that existed already are left
/// alone (their parents may not even be readable).
pub(crate) fn create_dir_durable(fs: &dyn Fs, dir: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .take_while(|a| matches!(fs.list(a), Err(e) if e.kind() == io::ErrorKind::NotFound))
        .collect();
    fs.create_dir_all(dir)?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent)?;
        }
    }
    Ok(())
}

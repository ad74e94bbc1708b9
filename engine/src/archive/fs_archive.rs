//! [`FsArchive`]: the archive as a directory of a second [`Fs`] (another directory, another
//! disk, a network mount).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::Archive;
use crate::fs::Fs;

/// Suffix of an object whose put is under way; never listed.
const TMP_SUFFIX: &str = ".put";

/// An [`Archive`] in directory `dir` of `fs`. A put writes `<name>.put`, fsyncs it, renames
/// it to `<name>` and fsyncs the directory, so the object is whole and durable once `put`
/// returns and a crash before leaves at most a `.put` file (overwritten by the next put of
/// that name, never listed). A rename that a crash tears (both names lost) is a crash before
/// `put` returned: the engine never relied on it.
///
/// Fail-stop, like the engine on its own disk: after an fsync (`sync_data`, `sync_dir`)
/// fails, the kernel may have dropped what it claimed pending, and a later successful fsync
/// proves nothing, so every later `put` and `delete` fails until the archive is opened
/// again after a restart (reads go on).
#[derive(Debug)]
pub struct FsArchive {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    poisoned: AtomicBool,
}

impl FsArchive {
    /// The archive in `dir` of `fs`, creating the directory (durably) if missing.
    pub fn open(fs: Arc<dyn Fs>, dir: impl AsRef<Path>) -> io::Result<FsArchive> {
        let dir = dir.as_ref().to_path_buf();
        crate::fs::create_dir_durable(&*fs, &dir)?;
        Ok(FsArchive::existing(fs, dir))
    }

    /// The archive in `dir` of `fs`, a directory that exists durably; makes no call.
    pub fn existing(fs: Arc<dyn Fs>, dir: impl AsRef<Path>) -> FsArchive {
        FsArchive {
            fs,
            dir: dir.as_ref().to_path_buf(),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Refuses a write once an fsync failed (see the type's docs).
    fn check_writable(&self) -> io::Result<()> {
        match self.poisoned.load(Ordering::SeqCst) {
            false => Ok(()),
            true => Err(io::Error::other(
                "the archive directory is poisoned by an earlier fsync failure; reopen it",
            )),
        }
    }

    /// `r`, an fsync's result; an error poisons the archive.
    fn synced(&self, r: io::Result<()>) -> io::Result<()> {
        if r.is_err() {
            self.poisoned.store(true, Ordering::SeqCst);
        }
        r
    }

    /// The archive's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        let plain = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains(['/', '\\'])
            && !name.ends_with(TMP_SUFFIX);
        if !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not an archive object name"),
            ));
        }
        Ok(self.dir.join(name))
    }
}

impl Archive for FsArchive {
    fn put(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(name)?;
        self.check_writable()?;
        let tmp = self.dir.join(format!("{name}{TMP_SUFFIX}"));
        let file = self.fs.open(&tmp, true)?;
        file.set_len(0)?;
        file.write_at(bytes, 0)?;
        self.synced(file.sync_data())?;
        drop(file);
        self.fs.rename(&tmp, &path)?;
        self.synced(self.fs.sync_dir(&self.dir))
    }

    fn read(&self, name: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let file = self.fs.open(&self.path(name)?, false)?;
        let size = file.len()?;
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name}: {len} bytes at {offset} past its end {size}"),
            ));
        }
        let mut buf = vec![0u8; len as usize];
        let mut at = 0usize;
        while at < buf.len() {
            let n = file.read_at(&mut buf[at..], offset + at as u64)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            at += n;
        }
        Ok(buf)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = self.fs.list(&self.dir)?;
        names.retain(|n| !n.ends_with(TMP_SUFFIX));
        Ok(names)
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        let path = self.path(name)?;
        self.check_writable()?;
        match self.fs.remove(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => self.synced(self.fs.sync_dir(&self.dir)),
        }
    }
}

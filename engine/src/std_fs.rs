//! The OS backend of [`Fs`]: the only module of the engine that names `std::fs`.
//!
//! Linux only: segment preallocation calls `fallocate(2)`, and durability rests on Linux's
//! `fdatasync` and directory-fsync semantics. A build for another OS stops here with a clear
//! message rather than deep inside `libc` (the README states the platform).

#[cfg(not(target_os = "linux"))]
compile_error!(
    "logbook supports Linux only: StdFs needs fallocate(2) and Linux's fsync semantics \
     (see the README's Platform line)"
);

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use crate::fs::{DirLock, Fs, FsFile};

/// [`Fs`] on the real filesystem: `pread`/`pwrite`, `fdatasync`, and directory fsync by
/// opening the directory.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile(File);

impl FsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.0.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }

    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        self.0.set_len(len_bytes)
    }

    fn allocate(&self, len_bytes: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let len = libc::off_t::try_from(len_bytes)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // Mode 0: allocate and extend the size; the range reads as zeros.
        match unsafe { libc::fallocate(self.0.as_raw_fd(), 0, 0, len) } {
            0 => Ok(()),
            _ => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    // No fallocate on this filesystem: zero-extend instead.
                    Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => {
                        if self.len()? < len_bytes {
                            self.set_len(len_bytes)?;
                        }
                        Ok(())
                    }
                    _ => Err(e),
                }
            }
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

#[derive(Debug)]
struct StdLock(#[allow(dead_code)] File);

impl DirLock for StdLock {}

impl Fs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(StdFile(file)))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("LOCK"))?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(StdLock(file))),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "store directory is locked by another handle",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

//! `MemFs`: an in-memory [`Fs`] for hostile-directory tests. No faults and no durability
//! model (every call is durable at once); it counts what an open costs (calls, bytes read)
//! and records every removal and length change, so a test can tell what an open destroyed,
//! and snapshot a directory (names and contents) to compare before and after.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use logbook::{DirLock, Fs, FsFile};

/// No file grows past this: a hostile length cannot make the test allocate without bound.
pub const MEM_FILE_LEN_MAX: u64 = 1 << 30;

type Inode = Arc<Mutex<Vec<u8>>>;

#[derive(Debug, Default)]
pub struct MemCounters {
    /// Every `Fs` and `FsFile` call.
    pub calls: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    /// `sync_data` and `sync_dir` calls.
    pub fsyncs: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Inode>,
    dirs: BTreeSet<PathBuf>,
    locked: BTreeSet<PathBuf>,
    /// Each removal: the path and the contents it had.
    removed: Vec<(PathBuf, Vec<u8>)>,
    /// Each `set_len` that shrank a file: the new length.
    cuts: Vec<u64>,
    /// Every call that changes a file or a name, in order: `write@512 meta`,
    /// `set_len seg-…`, `remove seg-…`, `rename seg-…`, `create seg-…`.
    changes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
    pub counters: Arc<MemCounters>,
}

impl MemFs {
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// A copy with its own files (same contents), counters reset.
    pub fn deep_clone(&self) -> MemFs {
        let st = self.state.lock().unwrap();
        let files = st
            .files
            .iter()
            .map(|(p, f)| (p.clone(), Arc::new(Mutex::new(f.lock().unwrap().clone()))))
            .collect();
        MemFs {
            state: Arc::new(Mutex::new(State {
                files,
                dirs: st.dirs.clone(),
                ..State::default()
            })),
            counters: Arc::default(),
        }
    }

    fn count(&self) {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
    }

    pub fn calls(&self) -> u64 {
        self.counters.calls.load(Ordering::Relaxed)
    }

    pub fn bytes_read(&self) -> u64 {
        self.counters.bytes_read.load(Ordering::Relaxed)
    }

    /// The first indexes of the segment files in `dir`, ascending.
    pub fn segment_firsts(&self, dir: &Path) -> Vec<u64> {
        self.snapshot(dir)
            .keys()
            .filter_map(|n| n.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok())
            .collect()
    }

    /// Names and contents of the files in `dir`.
    pub fn snapshot(&self, dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let st = self.state.lock().unwrap();
        st.files
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, f)| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    f.lock().unwrap().clone(),
                )
            })
            .collect()
    }

    /// Replaces the files of `dir` with `files`.
    pub fn restore(&self, dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
        let mut st = self.state.lock().unwrap();
        st.files.retain(|p, _| p.parent() != Some(dir));
        for (name, bytes) in files {
            st.files
                .insert(dir.join(name), Arc::new(Mutex::new(bytes.clone())));
        }
        st.dirs.insert(dir.to_path_buf());
    }

    /// Every removal so far: path and the contents the file had.
    pub fn removed(&self) -> Vec<(PathBuf, Vec<u8>)> {
        self.state.lock().unwrap().removed.clone()
    }

    pub fn cuts(&self) -> usize {
        self.state.lock().unwrap().cuts.len()
    }

    /// Every change made through the `Fs`, in order (see `State::changes`).
    pub fn changes(&self) -> Vec<String> {
        self.state.lock().unwrap().changes.clone()
    }

    fn note(&self, what: &str, path: &Path) {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        self.state
            .lock()
            .unwrap()
            .changes
            .push(format!("{what} {name}"));
    }

    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.state.lock().unwrap();
        st.files.get(path).map(|f| f.lock().unwrap().clone())
    }

    pub fn write(&self, path: &Path, bytes: Vec<u8>) {
        let mut st = self.state.lock().unwrap();
        st.files
            .insert(path.to_path_buf(), Arc::new(Mutex::new(bytes)));
    }

    pub fn delete(&self, path: &Path) {
        self.state.lock().unwrap().files.remove(path);
    }

    pub fn rename_file(&self, from: &Path, to: &Path) {
        let mut st = self.state.lock().unwrap();
        if let Some(f) = st.files.remove(from) {
            st.files.insert(to.to_path_buf(), f);
        }
    }
}

#[derive(Debug)]
struct MemFile {
    inode: Inode,
    fs: MemFs,
    path: PathBuf,
}

impl FsFile for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.fs.count();
        let data = self.inode.lock().unwrap();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        self.fs
            .counters
            .bytes_read
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.fs.count();
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= MEM_FILE_LEN_MAX)
            .ok_or_else(|| io::Error::from(io::ErrorKind::FileTooLarge))?;
        self.fs.note(&format!("write@{offset}"), &self.path);
        let mut data = self.inode.lock().unwrap();
        if data.len() < end as usize {
            data.resize(end as usize, 0);
        }
        data[offset as usize..end as usize].copy_from_slice(buf);
        self.fs
            .counters
            .bytes_written
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        self.fs.count();
        if len_bytes > MEM_FILE_LEN_MAX {
            return Err(io::Error::from(io::ErrorKind::FileTooLarge));
        }
        self.fs.note("set_len", &self.path);
        let mut data = self.inode.lock().unwrap();
        if (len_bytes as usize) < data.len() {
            self.fs.state.lock().unwrap().cuts.push(len_bytes);
        }
        data.resize(len_bytes as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.fs.count();
        self.fs.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        self.fs.count();
        Ok(self.inode.lock().unwrap().len() as u64)
    }
}

#[derive(Debug)]
struct MemLock {
    fs: MemFs,
    dir: PathBuf,
}

impl DirLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.fs.state.lock().unwrap().locked.remove(&self.dir);
    }
}

impl Fs for MemFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.count();
        let mut st = self.state.lock().unwrap();
        let mut d = Some(dir);
        while let Some(p) = d {
            st.dirs.insert(p.to_path_buf());
            d = p.parent();
        }
        Ok(())
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>> {
        self.count();
        let mut st = self.state.lock().unwrap();
        let inode = match st.files.get(path) {
            Some(f) => f.clone(),
            None if create => {
                if !path.parent().is_some_and(|d| st.dirs.contains(d)) {
                    return Err(io::Error::from(io::ErrorKind::NotFound));
                }
                let f = Inode::default();
                st.files.insert(path.to_path_buf(), f.clone());
                drop(st);
                self.note("create", path);
                f
            }
            None => return Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        Ok(Arc::new(MemFile {
            inode,
            fs: self.clone(),
            path: path.to_path_buf(),
        }))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.count();
        let st = self.state.lock().unwrap();
        if !st.dirs.contains(dir) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(st
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.count();
        self.note("rename", from);
        let mut st = self.state.lock().unwrap();
        let f = st
            .files
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        st.files.insert(to.to_path_buf(), f);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.count();
        self.note("remove", path);
        let mut st = self.state.lock().unwrap();
        let f = st
            .files
            .remove(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let bytes = f.lock().unwrap().clone();
        st.removed.push((path.to_path_buf(), bytes));
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        self.count();
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>> {
        self.count();
        let mut st = self.state.lock().unwrap();
        if !st.locked.insert(dir.to_path_buf()) {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        Ok(Box::new(MemLock {
            fs: self.clone(),
            dir: dir.to_path_buf(),
        }))
    }
}

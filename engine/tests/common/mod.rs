//! Test doubles for the engine's `Fs`: a wrapper over `StdFs` that counts bytes read and can
//! inject ENOSPC or EIO on chosen calls.
#![allow(dead_code)]

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use logbook::{DirLock, Fs, FsFile, StdFs};

pub mod alloc;
pub mod format;
pub mod mem_fs;

/// Which calls fail, and how.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inject {
    /// Fail `write_at` with ENOSPC.
    pub enospc_on_write: bool,
    /// Fail `sync_data` with EIO.
    pub eio_on_sync: bool,
    /// Fail `read_at` with EIO.
    pub eio_on_read: bool,
    /// Panic in `sync_data` (a bug in a backend, or an abort the runtime turns into one).
    pub panic_on_sync: bool,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub bytes_read: AtomicU64,
    pub reads: AtomicU64,
    pub syncs: AtomicU64,
    pub dir_syncs: AtomicU64,
    /// `sync_data` calls blocked right now by `hold_syncs`.
    pub syncs_held_now: AtomicU64,
    /// The name of the thread of each `sync_data` call, in order.
    pub sync_threads: Mutex<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct TestFs {
    inner: StdFs,
    pub counters: Arc<Counters>,
    pub inject: Arc<Mutex<Inject>>,
    /// While true, every `sync_data` blocks until it is released.
    pub hold_syncs: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl TestFs {
    pub fn hold_syncs(&self, hold: bool) {
        let (lock, cv) = &*self.hold_syncs;
        *lock.lock().unwrap() = hold;
        cv.notify_all();
    }
    pub fn set(&self, inject: Inject) {
        *self.inject.lock().unwrap() = inject;
    }
    pub fn bytes_read(&self) -> u64 {
        self.counters.bytes_read.load(Ordering::SeqCst)
    }
    pub fn reads(&self) -> u64 {
        self.counters.reads.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct TestFile {
    inner: Arc<dyn FsFile>,
    counters: Arc<Counters>,
    inject: Arc<Mutex<Inject>>,
    hold_syncs: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl FsFile for TestFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if self.inject.lock().unwrap().eio_on_read {
            return Err(io::Error::from_raw_os_error(5));
        }
        let n = self.inner.read_at(buf, offset)?;
        self.counters
            .bytes_read
            .fetch_add(n as u64, Ordering::SeqCst);
        self.counters.reads.fetch_add(1, Ordering::SeqCst);
        Ok(n)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.inject.lock().unwrap().enospc_on_write {
            return Err(io::Error::from_raw_os_error(28));
        }
        self.inner.write_at(buf, offset)
    }
    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        self.inner.set_len(len_bytes)
    }
    fn sync_data(&self) -> io::Result<()> {
        let (lock, cv) = &*self.hold_syncs;
        let mut held = lock.lock().unwrap();
        if *held {
            self.counters.syncs_held_now.fetch_add(1, Ordering::SeqCst);
            while *held {
                held = cv.wait(held).unwrap();
            }
            self.counters.syncs_held_now.fetch_sub(1, Ordering::SeqCst);
        }
        drop(held);
        self.counters.syncs.fetch_add(1, Ordering::SeqCst);
        let name = std::thread::current().name().unwrap_or("?").to_string();
        self.counters.sync_threads.lock().unwrap().push(name);
        if self.inject.lock().unwrap().panic_on_sync {
            panic!("injected panic in sync_data");
        }
        if self.inject.lock().unwrap().eio_on_sync {
            return Err(io::Error::from_raw_os_error(5));
        }
        self.inner.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl Fs for TestFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(TestFile {
            inner: self.inner.open(path, create)?,
            counters: self.counters.clone(),
            inject: self.inject.clone(),
            hold_syncs: self.hold_syncs.clone(),
        }))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.counters.dir_syncs.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_dir(dir)
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>> {
        self.inner.lock_dir(dir)
    }
}

/// Entries `from..=to` in `term`, with payloads that name their index.
/// Entries `from..=to` of `term`, each payload naming its index and term, padded to 48 bytes
/// (so a 4 KiB segment holds about 80 of them).
pub fn entries(from: u64, to: u64, term: u64) -> Vec<logbook::Entry> {
    (from..=to)
        .map(|i| {
            let mut payload = format!("entry-{i}-term-{term}").into_bytes();
            payload.resize(payload.len().max(48), b'.');
            logbook::Entry::new(i, term, payload)
        })
        .collect()
}

pub fn all_configs() -> Vec<(&'static str, logbook::Config)> {
    use logbook::{Config, FlushPolicy::*, Strategy::*};
    let batch = Batch {
        threshold: 8,
        interval_ms: 5,
    };
    vec![
        ("disk-first/immediate", Config::new(DiskFirst, Immediate)),
        ("disk-first/batch", Config::new(DiskFirst, batch)),
        ("mem-first/immediate", Config::new(MemFirst, Immediate)),
        ("mem-first/batch", Config::new(MemFirst, batch)),
    ]
    .into_iter()
    .map(|(n, c)| {
        (
            n,
            c.with_segment_size_bytes(4096)
                .with_cache_entries_max(16)
                .with_prefetch_entries(4),
        )
    })
    .collect()
}

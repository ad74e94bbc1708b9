//! The physical floor: a plain file, `pwrite` of the raw payload bytes and `fdatasync`.
//!
//! - `Append`: the file grows with every write, as logbook's segments do, so each
//!   `fdatasync` must also make the new file size durable (an ext4 journal commit).
//! - `Overwrite`: the file is filled with zeros and synced before the timed section, so the
//!   writes land on allocated, written blocks and `fdatasync` flushes data only. This is
//!   the floor for a log that preallocates its segments.
//! - `Fallocate`: `fallocate` ahead in 2 MiB steps, then write and `fdatasync`, the
//!   pattern of raft-engine 0.4 (used by the target re-measurements).
//!
//! Concurrent writers get a minimal leader/follower group commit: each queues its bytes;
//! a writer that finds no sync in flight becomes the leader, writes everything queued in
//! one `pwrite`, runs `fdatasync` and releases the whole group. Writes never run during
//! the sync, so no write waits for a page under writeback. With `segment_bytes` the floor also rotates files (create, write, fsync the
//! directory), as a segmented log does.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;

use super::{Res, WriteTarget};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Append,
    Overwrite,
    /// `fallocate` (mode 0, so the size moves ahead of the data) in 2 MiB steps before
    /// writing past the allocated end, as raft-engine 0.4 does.
    Fallocate,
}

/// raft-engine's `FILE_ALLOCATE_SIZE`.
const FALLOCATE_STEP: u64 = 2 << 20;

struct Active {
    file: Arc<File>,
    /// Offset of the next write in `file`.
    off: u64,
    /// `Fallocate`: bytes allocated so far.
    allocated: u64,
    seq: u64,
}

/// The group being filled and the last one made durable.
struct Group {
    buf: Vec<u8>,
    /// Ticket of the group new writers join.
    filling: u64,
    /// Highest ticket written and synced.
    done: u64,
    leading: bool,
    failed: Option<String>,
}

pub struct FloorTarget {
    dir: PathBuf,
    active: Mutex<Active>,
    group: Mutex<Group>,
    released: Condvar,
    segment_bytes: Option<u64>,
    mode: Mode,
    prefill: u64,
}

fn create(dir: &Path, seq: u64, mode: Mode, prefill: u64) -> Res<File> {
    let path = dir.join(format!("floor-{seq:08}.dat"));
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    if mode == Mode::Overwrite {
        let zeros = vec![0u8; 1 << 20];
        let mut off = 0;
        while off < prefill {
            let n = (prefill - off).min(zeros.len() as u64) as usize;
            f.write_all_at(&zeros[..n], off)?;
            off += n as u64;
        }
        f.sync_all()?;
    }
    Ok(f)
}

fn sync_dir(dir: &Path) -> Res<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

impl FloorTarget {
    /// `prefill`: bytes of zeros written ahead in `Overwrite` mode (per file).
    pub fn open(
        dir: &Path,
        mode: Mode,
        prefill: u64,
        segment_bytes: Option<u64>,
    ) -> Res<FloorTarget> {
        std::fs::create_dir_all(dir)?;
        let prefill = segment_bytes.map_or(prefill, |s| s.min(prefill));
        let file = create(dir, 0, mode, prefill)?;
        sync_dir(dir)?;
        Ok(FloorTarget {
            dir: dir.to_path_buf(),
            active: Mutex::new(Active {
                file: Arc::new(file),
                off: 0,
                allocated: 0,
                seq: 0,
            }),
            group: Mutex::new(Group {
                buf: Vec::new(),
                filling: 1,
                done: 0,
                leading: false,
                failed: None,
            }),
            released: Condvar::new(),
            segment_bytes,
            mode,
            prefill,
        })
    }

    pub fn name(mode: Mode) -> &'static str {
        match mode {
            Mode::Append => "floor: append+fdatasync",
            Mode::Overwrite => "floor: overwrite+fdatasync",
            Mode::Fallocate => "floor: fallocate+write+fdatasync",
        }
    }
}

impl FloorTarget {
    /// Writes `buf` at the end of the active file, rotating first when it is full.
    fn write(&self, buf: &[u8]) -> Res<Arc<File>> {
        let mut a = self.active.lock().unwrap();
        if self.segment_bytes.is_some_and(|s| a.off >= s) {
            // Rotate: the old file is made durable, then the new one and its name.
            a.file.sync_data()?;
            a.seq += 1;
            let f = create(&self.dir, a.seq, self.mode, self.prefill)?;
            sync_dir(&self.dir)?;
            a.file = Arc::new(f);
            a.off = 0;
            a.allocated = 0;
        }
        let end = a.off + buf.len() as u64;
        if self.mode == Mode::Fallocate && end > a.allocated {
            let len = (end - a.allocated).max(FALLOCATE_STEP);
            use std::os::unix::io::AsRawFd;
            // SAFETY: a valid open descriptor and in-range offsets.
            let r =
                unsafe { libc::fallocate(a.file.as_raw_fd(), 0, a.allocated as i64, len as i64) };
            if r != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            a.allocated += len;
        }
        a.file.write_all_at(buf, a.off)?;
        a.off += buf.len() as u64;
        Ok(a.file.clone())
    }
}

impl WriteTarget for FloorTarget {
    fn append(&self, _w: usize, n: usize, payload: &Bytes, sync: bool) -> Res<()> {
        if !sync {
            let mut buf = Vec::with_capacity(n * payload.len());
            for _ in 0..n {
                buf.extend_from_slice(payload);
            }
            self.write(&buf)?;
            return Ok(());
        }
        // Leader/follower group commit: queue the bytes; whoever finds no leader writes
        // everything queued in one pwrite and syncs it, then releases the group.
        let mut g = self.group.lock().unwrap();
        for _ in 0..n {
            g.buf.extend_from_slice(payload);
        }
        let mine = g.filling;
        loop {
            if let Some(e) = &g.failed {
                return Err(e.clone().into());
            }
            if g.done >= mine {
                return Ok(());
            }
            if g.leading {
                g = self.released.wait(g).unwrap();
                continue;
            }
            g.leading = true;
            let buf = std::mem::take(&mut g.buf);
            let ticket = g.filling;
            g.filling += 1;
            drop(g);
            let r = self.write(&buf).and_then(|f| Ok(f.sync_data()?));
            g = self.group.lock().unwrap();
            g.leading = false;
            match r {
                Ok(()) => g.done = ticket,
                Err(e) => g.failed = Some(e.to_string()),
            }
            self.released.notify_all();
        }
    }

    fn rotation_marker(&self) -> Res<u64> {
        Ok(self.active.lock().unwrap().seq)
    }

    fn finish(self: Box<Self>) -> Res<()> {
        self.active.lock().unwrap().file.sync_data()?;
        Ok(())
    }
}

/// Reads every file of `dir` sequentially (the physical floor of a recovery scan).
/// Returns the bytes read.
pub fn read_all(dir: &Path) -> Res<u64> {
    use std::io::Read;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    for p in names {
        let mut f = File::open(p)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    Ok(total)
}

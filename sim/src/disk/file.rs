//! File handles and directory locks, plus the prologue every call goes through.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use logbook::{DirLock, FsFile};

use super::crash::sector_pieces;
use super::faults::SimError;
use super::state::{to_usize, DiskState, FileOp, Ino, MAX_FILE_LEN};
use super::Shared;
use crate::trace::{fnv1a, Trace};

/// Admits one call: a stale handle or a crashed machine refuses it (not counted, not traced);
/// otherwise the call gets the next number, and `true` if the armed crash hits inside it.
pub(crate) fn admit(st: &mut DiskState, generation: Option<u64>) -> io::Result<(u64, bool)> {
    if generation.is_some_and(|g| g != st.generation) {
        return Err(SimError::StaleHandle.into_io());
    }
    if st.crashed {
        return Err(SimError::Crash.into_io());
    }
    st.calls += 1;
    let n = st.calls;
    let hit = st.armed.is_some_and(|at| n >= at);
    if hit {
        st.armed = None;
    }
    Ok((n, hit))
}

/// Stops the machine inside call `n`, after its partial effects were applied.
pub(crate) fn crash_inside(
    st: &mut DiskState,
    trace: &Trace,
    n: u64,
    what: fmt::Arguments<'_>,
) -> io::Error {
    let what = what.to_string();
    trace.event(format_args!("disk #{n} {what} -> crash"));
    st.crashed = true;
    st.crash_in = Some(format!("#{n} {what}"));
    st.counters.crashes_in_call += 1;
    SimError::Crash.into_io()
}

/// `ok` or `err <kind>` for the trace.
pub(crate) fn outcome<T>(r: &io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(e) => err_outcome(e),
    }
}

/// `err <kind>` for the trace.
pub(crate) fn err_outcome(e: &io::Error) -> String {
    match super::sim_error(e) {
        Some(SimError::Eio(_)) => "err eio".to_owned(),
        Some(SimError::NoSpace) => "err enospc".to_owned(),
        _ => format!("err {:?}", e.kind()),
    }
}

pub(crate) fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("simulated disk: files are limited to {MAX_FILE_LEN} bytes"),
    )
}

fn missing_inode(ino: Ino) -> io::Error {
    debug_assert!(false, "live handle on missing inode {ino}");
    io::Error::new(io::ErrorKind::NotFound, "simulated disk: inode vanished")
}

/// An open file of a [`super::SimDisk`]. Dead once the disk crashes.
pub struct SimFile {
    pub(crate) shared: Arc<Shared>,
    pub(crate) ino: Ino,
    pub(crate) generation: u64,
    /// The path it was opened by (for the trace).
    pub(crate) path: PathBuf,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("ino", &self.ino)
            .field("generation", &self.generation)
            .finish()
    }
}

impl SimFile {
    fn trace(&self) -> &Trace {
        &self.shared.trace
    }
}

/// Whether the live image may grow from `cur` to `new_len` bytes (the `disk_full` roll and the
/// capacity); counts and traces a refusal.
fn space_for(st: &mut DiskState, trace: &Trace, what: &str, cur: u64, new_len: u64) -> bool {
    let random = st.rng.chance(st.rates.disk_full);
    let over = !random
        && st.rng.enabled
        && new_len > cur
        && st
            .rates
            .capacity_bytes
            .is_some_and(|cap| st.live_bytes() - cur + new_len > cap);
    if random || over {
        st.counters.disk_full += 1;
        let why = if random { "random" } else { "capacity" };
        trace.event(format_args!("disk fault disk_full {what} ({why})"));
        return false;
    }
    true
}

impl FsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut g = self.shared.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, Some(self.generation))?;
        let p = self.path.display();
        let len = buf.len();
        if hit {
            return Err(crash_inside(
                st,
                self.trace(),
                n,
                format_args!("read {p} off={offset} len={len}"),
            ));
        }
        let inode = st
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| missing_inode(self.ino))?;
        let mut fault = None;
        if st.rng.enabled && inode.sticky_read_error {
            fault = Some("sticky");
        } else if st.rng.chance(st.rates.read_error) {
            fault = Some("transient");
            if st.rng.chance(st.rates.read_error_sticky) {
                inode.sticky_read_error = true;
                st.counters.sticky_read_errors += 1;
                fault = Some("now sticky");
            }
        }
        let r = match fault {
            Some(kind) => {
                st.counters.read_errors += 1;
                self.trace().event(format_args!(
                    "disk fault read_error {p}#{} ({kind})",
                    self.ino
                ));
                Err(SimError::Eio("read_at").into_io())
            }
            None => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let avail = inode.live.len().saturating_sub(start);
                let k = avail.min(len);
                if k > 0 {
                    buf[..k].copy_from_slice(&inode.live[start..start + k]);
                }
                Ok(k)
            }
        };
        let got = r.as_ref().map_or(0, |k| *k);
        self.trace().event(format_args!(
            "disk #{n} read {p} off={offset} len={len} -> {} n={got}",
            outcome(&r)
        ));
        r
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut g = self.shared.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, Some(self.generation))?;
        let p = self.path.display();
        let len = buf.len() as u64;
        let h = fnv1a(buf);
        let desc = format!(
            "write {p} off={offset} len={len} h={:08x}",
            h as u32 ^ (h >> 32) as u32
        );
        let end = offset.checked_add(len).filter(|e| *e <= MAX_FILE_LEN);
        let inode = st
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| missing_inode(self.ino))?;
        if hit {
            // A random subset of the write's sectors reached the page cache.
            let mut landed = String::new();
            if end.is_some() {
                for (start, stop) in sector_pieces(offset, len) {
                    if st.rng.coin() {
                        landed.push('n');
                        let part = &buf[(start - offset) as usize..(stop - offset) as usize];
                        inode.push(FileOp::Write {
                            off: start,
                            data: part.to_vec(),
                        });
                    } else {
                        landed.push('-');
                    }
                }
            }
            let trace = &self.shared.trace;
            return Err(crash_inside(
                st,
                trace,
                n,
                format_args!("{desc} landed={landed}"),
            ));
        }
        let r = match end {
            None => Err(too_large()),
            Some(_) if len == 0 => Ok(()),
            Some(end) => {
                let cur = inode.live.len() as u64;
                if space_for(st, &self.shared.trace, &desc, cur, end.max(cur)) {
                    let inode = st
                        .inodes
                        .get_mut(&self.ino)
                        .ok_or_else(|| missing_inode(self.ino))?;
                    inode.push(FileOp::Write {
                        off: offset,
                        data: buf.to_vec(),
                    });
                    Ok(())
                } else {
                    Err(SimError::NoSpace.into_io())
                }
            }
        };
        self.trace()
            .event(format_args!("disk #{n} {desc} -> {}", outcome(&r)));
        r
    }

    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        let mut g = self.shared.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, Some(self.generation))?;
        let desc = format!("set_len {} len={len_bytes}", self.path.display());
        let inode = st
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| missing_inode(self.ino))?;
        let valid = len_bytes <= MAX_FILE_LEN;
        if hit {
            if valid && st.rng.coin() {
                inode.push(FileOp::SetLen { len: len_bytes });
            }
            let trace = &self.shared.trace;
            return Err(crash_inside(st, trace, n, format_args!("{desc}")));
        }
        let cur = inode.live.len() as u64;
        let r = if !valid {
            Err(too_large())
        } else if len_bytes > cur && !space_for(st, &self.shared.trace, &desc, cur, len_bytes) {
            Err(SimError::NoSpace.into_io())
        } else {
            let inode = st
                .inodes
                .get_mut(&self.ino)
                .ok_or_else(|| missing_inode(self.ino))?;
            inode.push(FileOp::SetLen { len: len_bytes });
            debug_assert_eq!(inode.live.len(), to_usize(len_bytes));
            Ok(())
        };
        self.trace()
            .event(format_args!("disk #{n} {desc} -> {}", outcome(&r)));
        r
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut g = self.shared.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, Some(self.generation))?;
        let p = self.path.display();
        let ino = self.ino;
        let inode = st.inodes.get_mut(&ino).ok_or_else(|| missing_inode(ino))?;
        let pending = inode.pending.len();
        if hit {
            let done = st.rng.coin();
            if done {
                inode.persist_all();
            }
            let trace = &self.shared.trace;
            return Err(crash_inside(
                st,
                trace,
                n,
                format_args!("sync_data {p} pending={pending} done={done}"),
            ));
        }
        let trace = &self.shared.trace;
        let r = if pending == 0 {
            Ok(())
        } else if st.rng.chance(st.rates.fsync_error) {
            let mut dropped = 0;
            for op in std::mem::take(&mut inode.pending) {
                if st.rng.coin() {
                    op.apply(&mut inode.durable);
                } else {
                    dropped += 1;
                }
            }
            if dropped > 0 {
                inode.diverged = true;
                inode.doomed += dropped;
            }
            st.counters.fsync_errors += 1;
            st.counters.fsync_dropped_ops += dropped;
            trace.event(format_args!(
                "disk fault fsync_error {p}#{ino} pending={pending} dropped={dropped}"
            ));
            Err(SimError::Eio("sync_data").into_io())
        } else if st.rng.chance(st.rates.lying_fsync) {
            st.counters.lying_fsyncs += 1;
            trace.event(format_args!(
                "disk fault lying_fsync {p}#{ino} pending={pending}"
            ));
            Ok(())
        } else {
            inode.persist_all();
            Ok(())
        };
        if cfg!(debug_assertions) {
            if let Some(inode) = st.inodes.get(&ino) {
                inode.check(ino);
            }
        }
        trace.event(format_args!(
            "disk #{n} sync_data {p} pending={pending} -> {}",
            outcome(&r)
        ));
        r
    }

    fn len(&self) -> io::Result<u64> {
        let mut g = self.shared.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, Some(self.generation))?;
        let p = self.path.display();
        if hit {
            let trace = &self.shared.trace;
            return Err(crash_inside(st, trace, n, format_args!("len {p}")));
        }
        let len = st
            .inodes
            .get(&self.ino)
            .ok_or_else(|| missing_inode(self.ino))?
            .live
            .len() as u64;
        self.trace()
            .event(format_args!("disk #{n} len {p} -> ok len={len}"));
        Ok(len)
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.generation != self.generation {
            return;
        }
        let Some(inode) = st.inodes.get_mut(&self.ino) else {
            return;
        };
        debug_assert!(inode.handles > 0);
        inode.handles = inode.handles.saturating_sub(1);
        if inode.handles == 0 {
            st.gc();
        }
    }
}

/// The guard of [`logbook::Fs::lock_dir`]; dropping it releases the lock (unless a crash
/// already did).
pub struct SimDirLock {
    pub(crate) shared: Arc<Shared>,
    pub(crate) dir: PathBuf,
    pub(crate) id: u64,
    pub(crate) generation: u64,
}

impl fmt::Debug for SimDirLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDirLock")
            .field("dir", &self.dir)
            .field("id", &self.id)
            .field("generation", &self.generation)
            .finish()
    }
}

impl DirLock for SimDirLock {}

impl Drop for SimDirLock {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.generation == self.generation && st.locks.get(&self.dir) == Some(&self.id) {
            st.locks.remove(&self.dir);
            self.shared
                .trace
                .event(format_args!("disk unlock {}", self.dir.display()));
        }
    }
}

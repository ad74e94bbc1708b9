//! [`logbook::Fs`] for [`SimDisk`]: directories, names, and opening files.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use logbook::{DirLock, Fs, FsFile};

use super::faults::SimError;
use super::file::{admit, crash_inside, err_outcome, outcome, SimDirLock, SimFile};
use super::state::{normalize, split, Dir, DirOp, DiskState, Inode};
use super::SimDisk;

fn not_found(what: &str, path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("simulated disk: no such {what}: {}", path.display()),
    )
}

fn is_a_dir(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::IsADirectory,
        format!("simulated disk: is a directory: {}", path.display()),
    )
}

/// Creates `dir` and its missing ancestors (durable at once).
fn make_dirs(st: &mut DiskState, dir: &Path) -> io::Result<()> {
    let mut chain: Vec<&Path> = dir.ancestors().collect();
    chain.reverse();
    for d in chain {
        if st.dirs.contains_key(d) {
            continue;
        }
        let (parent, name) = split(d)?;
        if st
            .dirs
            .get(&parent)
            .is_some_and(|p| p.live.contains_key(&name))
        {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("simulated disk: a file is in the way: {}", d.display()),
            ));
        }
        st.dirs.insert(d.to_path_buf(), Dir::default());
    }
    Ok(())
}

/// Makes the names of `parent`'s new subdirectories durable (part of its `sync_dir`).
fn persist_child_dirs(st: &mut DiskState, parent: &Path) {
    for (path, d) in st.dirs.iter_mut() {
        if path.parent() == Some(parent) {
            d.entry_durable = true;
        }
    }
}

/// How many subdirectories of `parent` wait for its `sync_dir` to make their names durable.
/// The fault `dir_sync_error` on `dir`: each pending file op is kept or dropped at random
/// (a dropped one dooms the directory's durable state to diverge); the names of new
/// subdirectories stay pending, for the next sync_dir to persist. Returns the ops dropped.
fn fail_dir_sync(st: &mut DiskState, dir: &Path) -> u64 {
    let d = st
        .dirs
        .get_mut(dir)
        .expect("the caller checked the directory");
    let mut dropped = 0;
    for op in std::mem::take(&mut d.pending) {
        if st.rng.coin() {
            op.apply(&mut d.durable);
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        d.diverged = true;
        d.doomed += dropped;
    }
    st.counters.dir_sync_errors += 1;
    dropped
}

fn pending_child_dirs(st: &DiskState, parent: &Path) -> usize {
    st.dirs
        .iter()
        .filter(|(path, d)| path.parent() == Some(parent) && !d.entry_durable)
        .count()
}

/// Makes every pending op of `dir` durable.
fn persist_dir(d: &mut Dir) {
    for op in std::mem::take(&mut d.pending) {
        let applied = op.apply(&mut d.durable);
        debug_assert!(applied || d.diverged, "synced dir op does not apply: {op}");
    }
    debug_assert!(d.diverged || d.durable == d.live);
}

impl SimDisk {
    fn handle(&self, st: &mut DiskState, ino: u64, path: PathBuf) -> Arc<dyn FsFile> {
        if let Some(inode) = st.inodes.get_mut(&ino) {
            inode.handles += 1;
        }
        Arc::new(SimFile {
            shared: self.shared.clone(),
            ino,
            generation: st.generation,
            path,
        })
    }
}

impl Fs for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut g = self.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, None)?;
        let trace = &self.shared.trace;
        let d = dir.display();
        if hit {
            if st.rng.coin() {
                let _ = normalize(dir).and_then(|dir| make_dirs(st, &dir));
            }
            return Err(crash_inside(st, trace, n, format_args!("mkdir {d}")));
        }
        let r = normalize(dir).and_then(|dir| make_dirs(st, &dir));
        trace.event(format_args!("disk #{n} mkdir {d} -> {}", outcome(&r)));
        r
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FsFile>> {
        let mut g = self.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, None)?;
        let trace = &self.shared.trace;
        let p = path.display();
        let target = normalize(path).and_then(|path| {
            let (dir, name) = split(&path)?;
            if st.dirs.contains_key(&path) {
                return Err(is_a_dir(&path));
            }
            let d = st
                .dirs
                .get(&dir)
                .ok_or_else(|| not_found("directory", &dir))?;
            match d.live.get(&name) {
                Some(ino) => Ok((path, dir, name, Some(*ino))),
                None if create => Ok((path, dir, name, None)),
                None => Err(not_found("file", &path)),
            }
        });
        let create_new = |st: &mut DiskState, path: &Path, dir: &Path, name: String| {
            let ino = st.next_ino;
            st.next_ino += 1;
            st.inodes.insert(ino, Inode::new(path.to_path_buf()));
            if let Some(d) = st.dirs.get_mut(dir) {
                d.push(DirOp::Create { name, ino });
            }
            ino
        };
        if hit {
            if let Ok((path, dir, name, None)) = target {
                if st.rng.coin() {
                    create_new(st, &path, &dir, name);
                }
            }
            return Err(crash_inside(
                st,
                trace,
                n,
                format_args!("open {p} create={create}"),
            ));
        }
        let r = target.map(|(path, dir, name, existing)| match existing {
            Some(ino) => (path, ino, false),
            None => {
                let ino = create_new(st, &path, &dir, name);
                (path, ino, true)
            }
        });
        match r {
            Ok((path, ino, new)) => {
                let new = if new { " new" } else { "" };
                trace.event(format_args!(
                    "disk #{n} open {p} create={create} -> ok #{ino}{new}"
                ));
                Ok(self.handle(st, ino, path))
            }
            Err(e) => {
                trace.event(format_args!(
                    "disk #{n} open {p} create={create} -> {}",
                    err_outcome(&e)
                ));
                Err(e)
            }
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut g = self.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, None)?;
        let trace = &self.shared.trace;
        let d = dir.display();
        if hit {
            return Err(crash_inside(st, trace, n, format_args!("list {d}")));
        }
        let r = normalize(dir).and_then(|dir| {
            st.names(&dir, false)
                .ok_or_else(|| not_found("directory", &dir))
        });
        let count = r.as_ref().map_or(0, Vec::len);
        trace.event(format_args!(
            "disk #{n} list {d} -> {} names={count}",
            outcome(&r)
        ));
        r
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut g = self.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, None)?;
        let trace = &self.shared.trace;
        let desc = format!("rename {} -> {}", from.display(), to.display());
        let plan = (|| {
            let (from, to) = (normalize(from)?, normalize(to)?);
            let ((fdir, fname), (tdir, tname)) = (split(&from)?, split(&to)?);
            for p in [&from, &to] {
                if st.dirs.contains_key(p) {
                    return Err(is_a_dir(p));
                }
            }
            let ino = st
                .dirs
                .get(&fdir)
                .and_then(|d| d.live.get(&fname))
                .copied()
                .ok_or_else(|| not_found("file", &from))?;
            if !st.dirs.contains_key(&tdir) {
                return Err(not_found("directory", &tdir));
            }
            Ok((to, fdir, fname, tdir, tname, ino))
        })();
        // 0: not done, 1: done, 2: half done (leaves neither name at the crash).
        let mode = if hit { st.rng.below(3) } else { 1 };
        let r = plan.map(|(to, fdir, fname, tdir, tname, ino)| {
            if mode == 0 || (fdir == tdir && fname == tname) {
                return;
            }
            if let Some(inode) = st.inodes.get_mut(&ino) {
                inode.hint = to;
            }
            if fdir == tdir {
                if let Some(d) = st.dirs.get_mut(&fdir) {
                    d.push(DirOp::Rename {
                        from: fname,
                        to: tname,
                        ino,
                        half_done: mode == 2,
                    });
                }
            } else {
                if let Some(d) = st.dirs.get_mut(&fdir) {
                    d.push(DirOp::Remove { name: fname, ino });
                }
                if mode == 1 {
                    if let Some(d) = st.dirs.get_mut(&tdir) {
                        d.push(DirOp::LinkIn { name: tname, ino });
                    }
                }
            }
        });
        if hit {
            return Err(crash_inside(
                st,
                trace,
                n,
                format_args!("{desc} mode={mode}"),
            ));
        }
        trace.event(format_args!("disk #{n} {desc} -> {}", outcome(&r)));
        r
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut g = self.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, None)?;
        let trace = &self.shared.trace;
        let p = path.display();
        let plan = normalize(path).and_then(|path| {
            if st.dirs.contains_key(&path) {
                return Err(is_a_dir(&path));
            }
            let (dir, name) = split(&path)?;
            let ino = st
                .dirs
                .get(&dir)
                .and_then(|d| d.live.get(&name))
                .copied()
                .ok_or_else(|| not_found("file", &path))?;
            Ok((dir, name, ino))
        });
        let apply = !hit || st.rng.coin();
        let r = plan.map(|(dir, name, ino)| {
            if apply {
                if let Some(d) = st.dirs.get_mut(&dir) {
                    d.push(DirOp::Remove { name, ino });
                }
            }
        });
        if hit {
            return Err(crash_inside(st, trace, n, format_args!("remove {p}")));
        }
        trace.event(format_args!("disk #{n} remove {p} -> {}", outcome(&r)));
        r
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut g = self.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, None)?;
        let trace = &self.shared.trace;
        let shown = dir.display();
        let dir = normalize(dir).and_then(|d| {
            if st.dirs.contains_key(&d) {
                Ok(d)
            } else {
                Err(not_found("directory", &d))
            }
        });
        let pending = dir.as_ref().ok().map_or(0, |path| {
            st.dirs.get(path).map_or(0, |d| d.pending.len()) + pending_child_dirs(st, path)
        });
        if hit {
            let done = st.rng.coin();
            if done {
                if let Ok(path) = dir.as_ref() {
                    if let Some(d) = st.dirs.get_mut(path) {
                        persist_dir(d);
                    }
                    persist_child_dirs(st, path);
                }
                st.gc();
            }
            return Err(crash_inside(
                st,
                trace,
                n,
                format_args!("sync_dir {shown} pending={pending} done={done}"),
            ));
        }
        let rate = st.rates.dir_sync_error_rate();
        let r = dir.and_then(|dir| {
            if pending == 0 {
                return Ok(());
            }
            if !st.rng.chance(rate) {
                persist_child_dirs(st, &dir);
                let d = st.dirs.get_mut(&dir).expect("checked above");
                persist_dir(d);
                return Ok(());
            }
            let dropped = fail_dir_sync(st, &dir);
            trace.event(format_args!(
                "disk fault dir_sync_error {shown} pending={pending} dropped={dropped}"
            ));
            Err(SimError::Eio("sync_dir").into_io())
        });
        st.gc();
        trace.event(format_args!(
            "disk #{n} sync_dir {shown} pending={pending} -> {}",
            outcome(&r)
        ));
        r
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLock>> {
        let mut g = self.lock();
        let st = &mut *g;
        let (n, hit) = admit(st, None)?;
        let trace = &self.shared.trace;
        let shown = dir.display();
        if hit {
            return Err(crash_inside(st, trace, n, format_args!("lock {shown}")));
        }
        let r = normalize(dir).and_then(|dir| {
            if !st.dirs.contains_key(&dir) {
                return Err(not_found("directory", &dir));
            }
            if st.locks.contains_key(&dir) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("simulated disk: {} is locked", dir.display()),
                ));
            }
            let id = st.next_lock;
            st.next_lock += 1;
            st.locks.insert(dir.clone(), id);
            Ok((dir, id))
        });
        trace.event(format_args!("disk #{n} lock {shown} -> {}", outcome(&r)));
        let (dir, id) = r?;
        Ok(Box::new(SimDirLock {
            shared: self.shared.clone(),
            dir,
            id,
            generation: st.generation,
        }))
    }
}

//! The disk's state: inodes with durable and live images and pending ops, directories with
//! durable and live name maps and pending ops, and the machine-wide bookkeeping.
//!
//! Invariants (checked by [`DiskState::check`] in debug builds):
//! - For an inode that no failed fsync touched since the last crash (`!diverged`),
//!   `live == durable + pending applied in order`. After a failed fsync the live image also
//!   holds the dropped ops (the page cache still has them), which will never become durable.
//! - The same for a directory's name maps and its pending dir ops.
//! - Every inode named by a durable or live map or by a pending dir op exists.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::faults::{FaultCounters, FaultRates, FaultRng};

pub(crate) type Ino = u64;

/// The largest file the simulated disk holds; larger writes fail with `FileTooLarge` (EFBIG)
/// instead of exhausting the simulator's memory.
pub const MAX_FILE_LEN: u64 = 1 << 30;

/// Images up to this size are replayed in full by the debug invariant check.
const CHECK_LIMIT: usize = 1 << 20;

/// A pending change to a file's data.
#[derive(Clone, Debug)]
pub(crate) enum FileOp {
    Write { off: u64, data: Vec<u8> },
    SetLen { len: u64 },
}

impl FileOp {
    pub(crate) fn apply(&self, img: &mut Vec<u8>) {
        match self {
            FileOp::Write { off, data } => write_into(img, *off, data),
            FileOp::SetLen { len } => img.resize(to_usize(*len), 0),
        }
    }
}

/// Writes `data` at `off`, zero-filling any gap. `off + data.len()` is at most
/// [`MAX_FILE_LEN`] (checked by the callers).
pub(crate) fn write_into(img: &mut Vec<u8>, off: u64, data: &[u8]) {
    let off = to_usize(off);
    let end = off + data.len();
    if img.len() < end {
        img.resize(end, 0);
    }
    img[off..end].copy_from_slice(data);
}

pub(crate) fn to_usize(n: u64) -> usize {
    debug_assert!(n <= MAX_FILE_LEN);
    usize::try_from(n.min(MAX_FILE_LEN)).unwrap_or(usize::MAX)
}

/// One file's data.
#[derive(Debug)]
pub(crate) struct Inode {
    /// What survives a crash for sure.
    pub durable: Vec<u8>,
    /// What reads see (the page cache).
    pub live: Vec<u8>,
    /// Ops since the last successful `sync_data`, in program order.
    pub pending: Vec<FileOp>,
    /// A failed fsync dropped ops that `live` still shows.
    pub diverged: bool,
    /// How many ops failed fsyncs dropped since the last crash.
    pub doomed: u64,
    pub sticky_read_error: bool,
    /// Open handles of the current generation.
    pub handles: u64,
    /// The last path this inode had, for the trace.
    pub hint: PathBuf,
}

impl Inode {
    pub(crate) fn new(hint: PathBuf) -> Self {
        Inode {
            durable: Vec::new(),
            live: Vec::new(),
            pending: Vec::new(),
            diverged: false,
            doomed: 0,
            sticky_read_error: false,
            handles: 0,
            hint,
        }
    }

    /// Applies `op` to the live image and records it as pending.
    pub(crate) fn push(&mut self, op: FileOp) {
        op.apply(&mut self.live);
        self.pending.push(op);
    }

    /// Makes every pending op durable (a successful fsync).
    pub(crate) fn persist_all(&mut self) {
        for op in self.pending.drain(..) {
            op.apply(&mut self.durable);
        }
        debug_assert!(self.diverged || self.durable == self.live);
    }

    pub(crate) fn check(&self, ino: Ino) {
        if self.diverged || self.live.len() > CHECK_LIMIT || self.durable.len() > CHECK_LIMIT {
            return;
        }
        let mut img = self.durable.clone();
        for op in &self.pending {
            op.apply(&mut img);
        }
        assert!(
            img == self.live,
            "inode {ino} ({}): live image != durable + pending",
            self.hint.display()
        );
    }
}

/// A pending change to a directory's names.
#[derive(Clone, Debug)]
pub(crate) enum DirOp {
    /// `open(create)` made a new empty file.
    Create { name: String, ino: Ino },
    /// A rename within this directory. `half_done`: a crash hit inside it.
    Rename {
        from: String,
        to: String,
        ino: Ino,
        half_done: bool,
    },
    /// A remove, or the source half of a rename to another directory.
    Remove { name: String, ino: Ino },
    /// The target half of a rename from another directory (replaces `name`).
    LinkIn { name: String, ino: Ino },
}

impl DirOp {
    /// Applies the op to `names` if it still applies (its source still names its inode);
    /// returns whether it did.
    pub(crate) fn apply(&self, names: &mut BTreeMap<String, Ino>) -> bool {
        match self {
            DirOp::Create { name, ino } => {
                if names.contains_key(name) {
                    return false;
                }
                names.insert(name.clone(), *ino);
            }
            DirOp::Rename { from, to, ino, .. } => {
                if names.get(from) != Some(ino) {
                    return false;
                }
                names.remove(from);
                names.insert(to.clone(), *ino);
            }
            DirOp::Remove { name, ino } => {
                if names.get(name) != Some(ino) {
                    return false;
                }
                names.remove(name);
            }
            DirOp::LinkIn { name, ino } => {
                names.insert(name.clone(), *ino);
            }
        }
        true
    }

    pub(crate) fn ino(&self) -> Ino {
        match self {
            DirOp::Create { ino, .. }
            | DirOp::Rename { ino, .. }
            | DirOp::Remove { ino, .. }
            | DirOp::LinkIn { ino, .. } => *ino,
        }
    }
}

impl fmt::Display for DirOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirOp::Create { name, ino } => write!(f, "create {name}#{ino}"),
            DirOp::Rename { from, to, ino, .. } => write!(f, "rename {from}->{to}#{ino}"),
            DirOp::Remove { name, ino } => write!(f, "remove {name}#{ino}"),
            DirOp::LinkIn { name, ino } => write!(f, "link {name}#{ino}"),
        }
    }
}

/// One directory's file names (subdirectories are kept in [`DiskState::dirs`]; each knows
/// whether its own name in its parent is durable yet).
#[derive(Debug, Default)]
pub(crate) struct Dir {
    /// This directory's own name in its parent is durable (a `sync_dir` of the parent, or a
    /// root). A new directory's entry is pending like a file's: a crash may lose it, and
    /// everything below it with it.
    pub entry_durable: bool,
    pub durable: BTreeMap<String, Ino>,
    pub live: BTreeMap<String, Ino>,
    pub pending: Vec<DirOp>,
    /// A failed `sync_dir` dropped ops that `live` still shows.
    pub diverged: bool,
    pub doomed: u64,
}

impl Dir {
    pub(crate) fn push(&mut self, op: DirOp) {
        let applied = op.apply(&mut self.live);
        debug_assert!(applied, "live dir op does not apply: {op}");
        self.pending.push(op);
    }

    fn check(&self, path: &Path) {
        if self.diverged {
            return;
        }
        let mut names = self.durable.clone();
        for op in &self.pending {
            op.apply(&mut names);
        }
        assert!(
            names == self.live,
            "dir {}: live names != durable + pending",
            path.display()
        );
    }
}

/// Which files bit rot may hit.
#[derive(Clone, Default)]
pub(crate) enum RotFilter {
    #[default]
    All,
    Suffix(String),
    Custom(Arc<dyn Fn(&Path) -> bool + Send + Sync>),
}

impl RotFilter {
    pub(crate) fn accepts(&self, path: &Path) -> bool {
        match self {
            RotFilter::All => true,
            RotFilter::Suffix(s) => path.to_string_lossy().ends_with(s.as_str()),
            RotFilter::Custom(f) => f(path),
        }
    }
}

impl fmt::Debug for RotFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotFilter::All => f.write_str("All"),
            RotFilter::Suffix(s) => write!(f, "Suffix({s:?})"),
            RotFilter::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Everything behind the disk's one lock.
pub(crate) struct DiskState {
    pub rates: FaultRates,
    pub rng: FaultRng,
    pub counters: FaultCounters,
    /// Fs calls that reached the disk (live handle, not crashed).
    pub calls: u64,
    pub armed: Option<u64>,
    pub crashed: bool,
    /// The call a crash hit inside, for the report.
    pub crash_in: Option<String>,
    /// Bumped by every crash; handles of an older generation are dead.
    pub generation: u64,
    pub inodes: BTreeMap<Ino, Inode>,
    pub next_ino: Ino,
    /// Every directory, roots (`""` and `"/"`) included.
    pub dirs: BTreeMap<PathBuf, Dir>,
    /// Held directory locks: directory -> lock id.
    pub locks: BTreeMap<PathBuf, u64>,
    pub next_lock: u64,
    pub rot_filter: RotFilter,
}

impl DiskState {
    pub(crate) fn new(seed: u64, rates: FaultRates) -> Self {
        let mut dirs = BTreeMap::new();
        for root in [PathBuf::new(), PathBuf::from("/")] {
            let dir = Dir {
                entry_durable: true,
                ..Dir::default()
            };
            dirs.insert(root, dir);
        }
        DiskState {
            rates,
            rng: FaultRng::new(seed),
            counters: FaultCounters::default(),
            calls: 0,
            armed: None,
            crashed: false,
            crash_in: None,
            generation: 0,
            inodes: BTreeMap::new(),
            next_ino: 1,
            dirs,
            locks: BTreeMap::new(),
            next_lock: 1,
            rot_filter: RotFilter::All,
        }
    }

    /// The inode `path` names in the live namespace.
    pub(crate) fn live_ino(&self, path: &Path) -> Option<Ino> {
        let (dir, name) = split(path).ok()?;
        self.dirs.get(&dir)?.live.get(&name).copied()
    }

    /// The inode `path` names in the durable namespace.
    pub(crate) fn durable_ino(&self, path: &Path) -> Option<Ino> {
        let (dir, name) = split(path).ok()?;
        self.dirs.get(&dir)?.durable.get(&name).copied()
    }

    /// The sorted names in `dir` (files of the given map, plus subdirectories).
    pub(crate) fn names(&self, dir: &Path, durable: bool) -> Option<Vec<String>> {
        let d = self.dirs.get(dir)?;
        let files = if durable { &d.durable } else { &d.live };
        let mut names: BTreeSet<String> = files.keys().cloned().collect();
        for sub in self.dirs.keys() {
            if sub.parent() == Some(dir) {
                if let Some(n) = sub.file_name() {
                    names.insert(n.to_string_lossy().into_owned());
                }
            }
        }
        Some(names.into_iter().collect())
    }

    /// The total size of every live image.
    pub(crate) fn live_bytes(&self) -> u64 {
        self.inodes.values().map(|i| i.live.len() as u64).sum()
    }

    /// Drops inodes that nothing can reach any more: no durable or live name, no pending dir
    /// op, no open handle. Returns how many.
    pub(crate) fn gc(&mut self) -> u64 {
        let mut reachable = BTreeSet::new();
        for d in self.dirs.values() {
            reachable.extend(d.durable.values().copied());
            reachable.extend(d.live.values().copied());
            reachable.extend(d.pending.iter().map(DirOp::ino));
        }
        let before = self.inodes.len();
        self.inodes
            .retain(|ino, inode| inode.handles > 0 || reachable.contains(ino));
        (before - self.inodes.len()) as u64
    }

    /// Checks the invariants of the module doc (debug builds only).
    pub(crate) fn check(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        for (ino, inode) in &self.inodes {
            inode.check(*ino);
        }
        for (path, d) in &self.dirs {
            d.check(path);
            let named = d.durable.values().chain(d.live.values()).copied();
            for ino in named.chain(d.pending.iter().map(DirOp::ino)) {
                assert!(
                    self.inodes.contains_key(&ino),
                    "dir {} names missing inode {ino}",
                    path.display()
                );
            }
        }
    }
}

/// A path in canonical form: `.` removed, no `..` (rejected), no trailing separator.
pub(crate) fn normalize(path: &Path) -> io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::Normal(s) => out.push(s),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("simulated disk: unsupported path {}", path.display()),
                ))
            }
        }
    }
    Ok(out)
}

/// Splits a normalized file path into its directory and its (UTF-8) name.
pub(crate) fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("simulated disk: not a file path: {}", path.display()),
        )
    };
    let name = path.file_name().ok_or_else(invalid)?;
    let name = name.to_str().ok_or_else(invalid)?.to_owned();
    let dir = path.parent().ok_or_else(invalid)?.to_path_buf();
    Ok((dir, name))
}

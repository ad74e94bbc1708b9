//! Inspecting a store directory, and repairing one explicitly: what the `logbook` command
//! (crate `logbook-cli`) runs.
//!
//! Every function takes the directory lock the way [`crate::Log::open`] does, so a store that
//! a handle holds open is refused with [`Error::Locked`], and judges the directory with
//! recovery's own first phase (`recovery/`, docs/DESIGN.md §1 "Recovery"): the decision
//! between a torn tail and corruption has one implementation, and a [`Verdict`] says what an
//! open would do.
//!
//! [`stat`], [`verify`] and [`entries`] never write: no byte, length or name in the
//! directory changes. The one exception is the lock itself: `LOCK` is created empty if it is
//! missing, as an open creates it, and only in a directory that holds `meta` or a segment
//! file (anything else is [`Error::NotAStore`], and is not touched). [`repair`] writes, and
//! only what an open would, after copying every byte it cuts, removes or overwrites to a
//! backup file.
//!
//! The verdict is a MemFirst open's, which reads every segment: a DiskFirst open reads only
//! the last one and finds damage in an older segment when a read first reaches it, so it
//! may open a directory that [`verify`] calls corrupt (and its read then fails).
//!
//! The store's [`crate::Config`] is not on disk: [`Limits`] says which bounds to judge
//! lengths by. The defaults are the largest a valid config allows, so a file is never
//! called corrupt for a limit of the store's own; pass the store's limits for the exact
//! verdict its open would give.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config::{Config, FlushPolicy, RecoveryMode, Strategy};
use crate::error::{Error, Result};
use crate::fs::{DirLock, Fs};
use crate::meta::{MetaFile, META_FILE, SLOT_LEN};
use crate::recovery::{all_zero, classify, open_meta, Plan, Read};
use crate::scan::scan_records;
use crate::segments::{check_header, parse_segment_name, read_whole, Header, Segment};
use crate::types::{Entry, HardState, LogId};

/// The bounds lengths on disk are judged by (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The store's `Config::segment_size_bytes`: a segment file longer than any the engine
    /// writes with it (see `segments::segment_len_max`) is corruption.
    pub segment_size_bytes: u64,
    /// The store's `Config::payload_size_max_bytes`: a batch claiming a longer payload is
    /// a bad batch.
    pub payload_size_max_bytes: u32,
    /// The store's `Config::commit_check`: a log ending below the saved commit is corruption.
    pub commit_check: bool,
}

impl Default for Limits {
    /// The loosest bounds a valid config allows (segments of 4 GiB, payloads of 1 GiB), and
    /// no commit check.
    fn default() -> Limits {
        Limits {
            segment_size_bytes: 1 << 32,
            payload_size_max_bytes: 1 << 30,
            commit_check: false,
        }
    }
}

impl Limits {
    fn config(&self, tolerant: bool) -> Config {
        let recovery = match tolerant {
            true => RecoveryMode::TruncateCorrupt,
            false => RecoveryMode::Strict,
        };
        // MemFirst: recovery reads and checks every segment, as verify must.
        Config::new(Strategy::MemFirst, FlushPolicy::Immediate)
            .with_segment_size_bytes(self.segment_size_bytes)
            .with_payload_size_max_bytes(self.payload_size_max_bytes)
            .with_commit_check(self.commit_check)
            .with_recovery(recovery)
    }
}

/// What an open of the directory would find, from every batch read and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing to repair: an open changes nothing.
    Clean,
    /// A torn tail, or another interrupted operation of the engine's own (a torn segment
    /// creation, purge leftovers, metadata slots that disagree): holds no acknowledged
    /// entry. An open (or [`repair`]) applies `fixes`, in order, by itself.
    Torn {
        /// What an open changes, in order.
        fixes: Vec<Fix>,
    },
    /// Damage that may hold acknowledged entries: a strict open fails with
    /// [`Error::Corruption`] naming the same file, offset and reason, and changes nothing.
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
}

/// One change a repair makes: `bytes` bytes of `file` from `offset` are cut, removed or
/// overwritten (and copied to a backup first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// What is done to the file.
    pub action: Action,
    /// Why.
    pub cause: Cause,
    /// The file.
    pub file: PathBuf,
    /// Where in it the change starts.
    pub offset: u64,
    /// How many bytes it changes (copied to the backup first).
    pub bytes: u64,
}

/// What a [`Fix`] does to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Cut the file to `offset`.
    Cut,
    /// Remove the whole file.
    Remove,
    /// Overwrite the stale metadata slot at `offset` with the valid one.
    RewriteSlot,
}

/// Why a [`Fix`] is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A bad batch at the end of the last segment that nothing later proves durable.
    TornTail,
    /// The newest file, the creation of the next segment, holding nothing valid.
    TornCreation,
    /// A segment wholly at or below the purge boundary, left by an interrupted purge.
    PurgeLeftover,
    /// A metadata save that stopped between its two slots, or one damaged slot.
    StaleMetaSlot,
    /// Corruption, cut only with [`RepairOptions::cut_corruption`]: the log ends at the first
    /// bad batch, and what follows it goes.
    Corruption,
}

/// One segment file as it reads, on its own (the [`Verdict`] judges them together).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentStat {
    /// Its file name.
    pub file: String,
    /// The first index its name says.
    pub first_index: u64,
    /// The file's length.
    pub file_bytes: u64,
    /// Header and valid batches: where its data ends.
    pub data_bytes: u64,
    /// Live entries of its valid batches from the header on, in sequence (a truncation
    /// batch drops what it replaces).
    pub entries: u64,
    /// The index of its last live entry.
    pub last_index: Option<u64>,
    /// `None` for a valid header of the format version this build reads, else what is wrong.
    pub header_problem: Option<String>,
    /// The offset and reason of the first bad batch, unless only zeros (preallocated space)
    /// follow the batches.
    pub anomaly: Option<(u64, String)>,
}

/// A summary of a store directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stat {
    /// The store directory.
    pub dir: PathBuf,
    /// The format version of `meta` (every segment header holds one too: a segment of
    /// another version shows in its `header_problem`).
    pub format_version: u32,
    /// The hard state `meta` holds.
    pub hard_state: HardState,
    /// The purge boundary.
    pub last_purged: Option<LogId>,
    /// The first index a read can return (the boundary + 1).
    pub first_index: u64,
    /// The last entry an open would return (after the fixes of a [`Verdict::Torn`]); `None`
    /// with no entry above the boundary, or when the verdict is [`Verdict::Corrupt`].
    pub last_entry: Option<LogId>,
    /// The length of `meta`.
    pub meta_bytes: u64,
    /// The segment files' lengths, summed.
    pub segment_bytes: u64,
    /// Each segment file, in index order.
    pub segments: Vec<SegmentStat>,
    /// What an open would find.
    pub verdict: Verdict,
}

/// What [`repair`] may do beyond what an open does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairOptions {
    /// Also cut corruption: the log then ends just before the first bad batch (what
    /// [`RecoveryMode::TruncateCorrupt`] keeps), and every file above it is removed. Without
    /// it, a [`Verdict::Corrupt`] directory is refused and left as it is.
    pub cut_corruption: bool,
    /// Where the bytes of every fix are copied first (created durably if missing).
    pub backup_dir: PathBuf,
}

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repaired {
    /// The strict verdict before the repair.
    pub before: Verdict,
    /// The fixes applied, in order; empty if there was nothing to do.
    pub fixes: Vec<Fix>,
    /// The backup file of each fix, in the same order.
    pub backups: Vec<PathBuf>,
    /// The last entry of the repaired log, if any above the boundary.
    pub last_entry: Option<LogId>,
}

/// Checks that `dir` holds a store and takes its lock. Nothing is created in a directory
/// that holds neither `meta` nor a segment file.
fn lock(fs: &dyn Fs, dir: &Path) -> Result<Box<dyn DirLock>> {
    let not_a_store = |reason: String| Error::NotAStore {
        dir: dir.to_path_buf(),
        reason,
    };
    let names = fs
        .list(dir)
        .map_err(|e| not_a_store(format!("cannot list it ({e})")))?;
    if !names
        .iter()
        .any(|n| n == META_FILE || parse_segment_name(n).is_some())
    {
        return Err(not_a_store("it holds no `meta` and no segment file".into()));
    }
    crate::fs::lock_store(fs, dir)
}

/// The metadata, as an open reads it.
fn read_meta(fs: &dyn Fs, dir: &Path) -> Result<MetaFile> {
    open_meta(fs, dir)?.ok_or_else(|| Error::NotAStore {
        dir: dir.to_path_buf(),
        reason: "its `meta` was never written and it holds no segment file".into(),
    })
}

/// A corruption error as a verdict; any other error stays one.
fn corrupt(e: Error) -> Result<Verdict> {
    match e {
        Error::Corruption {
            path,
            offset,
            reason,
        } => Ok(Verdict::Corrupt {
            file: path,
            offset,
            reason,
        }),
        e => Err(e),
    }
}

/// Recovery's strict plan and the verdict it implies, or (inner error) the corruption a
/// strict open reports. Reads only.
fn judge(fs: &Arc<dyn Fs>, dir: &Path, limits: &Limits) -> Result<Result<(Verdict, Plan)>> {
    let meta = match read_meta(&**fs, dir) {
        Ok(meta) => meta,
        Err(e @ Error::Corruption { .. }) => return Ok(Err(e)),
        Err(e) => return Err(e),
    };
    match classify(
        fs.clone(),
        dir,
        &limits.config(false),
        &meta.body,
        Read::Everything,
    ) {
        Ok(plan) => {
            let fixes = fixes(&**fs, &plan, &meta, false)?;
            let verdict = match fixes.is_empty() {
                true => Verdict::Clean,
                false => Verdict::Torn { fixes },
            };
            Ok(Ok((verdict, plan)))
        }
        Err(e @ Error::Corruption { .. }) => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

/// Reads every batch of the store in `dir` and judges it as an open would (see
/// [`Verdict`]). Never writes (see the module docs). Errors: [`Error::NotAStore`],
/// [`Error::Locked`], [`Error::UnsupportedVersion`], [`Error::Io`].
pub fn verify(fs: Arc<dyn Fs>, dir: &Path, limits: &Limits) -> Result<Verdict> {
    let _lock = lock(&*fs, dir)?;
    match judge(&fs, dir, limits)? {
        Ok((verdict, _)) => Ok(verdict),
        Err(e) => corrupt(e),
    }
}

/// Summarizes the store in `dir`: metadata, each segment file, sizes, and the [`Verdict`].
/// Never writes. Fails as [`verify`] does, and with [`Error::Corruption`] if `meta` cannot be
/// read (both slots damaged, or missing beside segment files).
pub fn stat(fs: Arc<dyn Fs>, dir: &Path, limits: &Limits) -> Result<Stat> {
    let _lock = lock(&*fs, dir)?;
    let meta = read_meta(&*fs, dir)?;
    let (verdict, last_entry) = match judge(&fs, dir, limits)? {
        Ok((verdict, plan)) => (verdict, plan.last),
        Err(e) => (corrupt(e)?, None),
    };
    let len_max =
        crate::segments::segment_len_max(limits.segment_size_bytes, limits.payload_size_max_bytes);
    let mut segments = Vec::new();
    for name in fs.list(dir).map_err(|e| Error::io("list", dir, e))? {
        if let Some(first) = parse_segment_name(&name) {
            let seg = Segment::new(first, dir.join(&name));
            segments.push(segment_stat(&*fs, seg, name, len_max, limits)?);
        }
    }
    let meta_bytes = file_len(&*fs, meta.path())?;
    let boundary = meta.body.last_purged.map_or(0, |l| l.index);
    Ok(Stat {
        dir: dir.to_path_buf(),
        format_version: meta.body.version,
        hard_state: meta.body.hard_state,
        last_purged: meta.body.last_purged,
        first_index: boundary.saturating_add(1),
        last_entry,
        meta_bytes,
        segment_bytes: segments.iter().map(|s| s.file_bytes).sum(),
        segments,
        verdict,
    })
}

fn segment_stat(
    fs: &dyn Fs,
    mut seg: Segment,
    file: String,
    len_max: u64,
    limits: &Limits,
) -> Result<SegmentStat> {
    let first = seg.first_index;
    let mut st = SegmentStat {
        file,
        first_index: first,
        file_bytes: file_len(fs, &seg.path)?,
        data_bytes: 0,
        entries: 0,
        last_index: None,
        header_problem: None,
        anomaly: None,
    };
    if st.file_bytes > len_max {
        st.anomaly = Some((len_max, "longer than any segment of these limits".into()));
        return Ok(st);
    }
    let buf = read_whole(fs, &mut seg, len_max)?;
    let header = match check_header(&buf, &seg) {
        Ok(Header::Valid) => None,
        Ok(Header::Names(named)) => Some(format!("header names first index {named}")),
        Ok(Header::Bad(reason)) => Some(reason.to_string()),
        Err(Error::UnsupportedVersion { version, .. }) => {
            Some(format!("unsupported format version {version}"))
        }
        Err(e) => return Err(e),
    };
    if header.is_some() {
        st.header_problem = header;
        return Ok(st);
    }
    let s = scan_records(&buf, first, 0, limits.payload_size_max_bytes, false);
    st.data_bytes = s.end;
    st.entries = s.offsets.len() as u64;
    st.last_index = (!s.offsets.is_empty()).then(|| s.next_index - 1);
    st.anomaly = (s.anomaly)
        .filter(|(at, _)| !all_zero(&buf[*at as usize..]))
        .map(|(at, reason)| (at, reason.to_string()));
    Ok(st)
}

/// The entries an open of the store in `dir` would return with an index in `from..=to`, in
/// order (after the fixes of a [`Verdict::Torn`]). Never writes. A [`Verdict::Corrupt`]
/// directory is [`Error::Corruption`]; otherwise fails as [`verify`] does. Every entry above
/// the boundary is read and checked, so memory grows with the log.
pub fn entries(
    fs: Arc<dyn Fs>,
    dir: &Path,
    limits: &Limits,
    from: u64,
    to: u64,
) -> Result<Vec<Entry>> {
    let _lock = lock(&*fs, dir)?;
    let meta = read_meta(&*fs, dir)?;
    let plan = classify(
        fs.clone(),
        dir,
        &limits.config(false),
        &meta.body,
        Read::Everything,
    )?;
    let all = plan.entries.unwrap_or_default();
    Ok(all
        .into_iter()
        .filter(|e| (from..=to).contains(&e.index))
        .collect())
}

/// Repairs the store in `dir` as an open would, and, only with
/// [`RepairOptions::cut_corruption`], cuts corruption too (see [`Cause::Corruption`]).
///
/// Before changing anything it copies the bytes of every [`Fix`] to a file in
/// `backup_dir` (named `<file>.<offset>.bak`, or with a `.N` suffix if that name holds other
/// bytes; each written and fsynced as `….partial`, then renamed), then fsyncs the backup
/// directory. Then it applies recovery's plan, each step
/// durable before the next: a crash during the repair leaves a directory that an open or a
/// second repair handles (a backup written twice holds the same bytes).
///
/// A [`Verdict::Corrupt`] directory without `cut_corruption` is [`Error::Corruption`], and
/// nothing is written. Damage to `meta` itself (both slots) is never repaired: it holds the
/// vote. Otherwise fails as [`verify`] does, or with the error of a write.
pub fn repair(
    fs: Arc<dyn Fs>,
    dir: &Path,
    limits: &Limits,
    opts: &RepairOptions,
) -> Result<Repaired> {
    let _lock = lock(&*fs, dir)?;
    let mut meta = read_meta(&*fs, dir)?;
    let (before, plan, tolerant) = match judge(&fs, dir, limits)? {
        Ok((verdict, plan)) => (verdict, plan, false),
        Err(e) if !opts.cut_corruption => return Err(e),
        Err(e) => {
            let cfg = limits.config(true);
            let plan = classify(fs.clone(), dir, &cfg, &meta.body, Read::Everything)?;
            (corrupt(e)?, plan, true)
        }
    };
    let fixes = fixes(&*fs, &plan, &meta, tolerant)?;
    if fixes.is_empty() {
        return Ok(Repaired {
            before,
            fixes,
            backups: Vec::new(),
            last_entry: plan.last,
        });
    }
    let backups = back_up(&*fs, &opts.backup_dir, &fixes)?;
    let recovered = plan.apply(&mut meta)?;
    Ok(Repaired {
        before,
        fixes,
        backups,
        last_entry: recovered.last,
    })
}

/// What applying `plan` changes, in the order [`Plan::apply`] changes it.
fn fixes(fs: &dyn Fs, plan: &Plan, meta: &MetaFile, tolerant: bool) -> Result<Vec<Fix>> {
    let mut out = Vec::new();
    if let Some(offset) = meta.stale_slot() {
        out.push(Fix {
            action: Action::RewriteSlot,
            cause: Cause::StaleMetaSlot,
            file: meta.path().to_path_buf(),
            offset,
            bytes: SLOT_LEN as u64,
        });
    }
    let (dropped, cut) = match tolerant {
        true => (Cause::Corruption, Cause::Corruption),
        false => (Cause::TornCreation, Cause::TornTail),
    };
    let path = |first: &u64| plan.segs.segment(*first).path.clone();
    for first in &plan.drop {
        let file = path(first);
        let bytes = file_len(fs, &file)?;
        let (action, cause, offset) = (Action::Remove, dropped, 0);
        out.push(Fix {
            action,
            cause,
            file,
            offset,
            bytes,
        });
    }
    if let Some((first, offset)) = plan.cut {
        let file = path(&first);
        let bytes = file_len(fs, &file)?.saturating_sub(offset);
        if bytes > 0 {
            let (action, cause) = (Action::Cut, cut);
            out.push(Fix {
                action,
                cause,
                file,
                offset,
                bytes,
            });
        }
    }
    for first in plan.leftovers() {
        let file = path(&first);
        let bytes = file_len(fs, &file)?;
        let (action, cause, offset) = (Action::Remove, Cause::PurgeLeftover, 0);
        out.push(Fix {
            action,
            cause,
            file,
            offset,
            bytes,
        });
    }
    Ok(out)
}

/// Copies the bytes of each fix into `backup_dir`, durably; returns the backup files.
fn back_up(fs: &dyn Fs, backup_dir: &Path, fixes: &[Fix]) -> Result<Vec<PathBuf>> {
    crate::fs::create_dir_durable(fs, backup_dir)
        .map_err(|e| Error::io("create_dir", backup_dir, e))?;
    let mut out = Vec::new();
    for fix in fixes {
        let bytes = read_range(fs, &fix.file, fix.offset, fix.bytes)?;
        let name = fix.file.file_name().unwrap_or_default().to_string_lossy();
        let base = format!("{name}.{}.bak", fix.offset);
        let mut n = 0;
        let target = loop {
            let candidate = match n {
                0 => backup_dir.join(&base),
                n => backup_dir.join(format!("{base}.{n}")),
            };
            match read_all(fs, &candidate)? {
                None => break candidate,
                Some(old) if old == bytes => break candidate,
                Some(_) => n += 1,
            }
        };
        // Written whole and fsynced under another name first: a crash never leaves a
        // short file under a backup's name (a second repair would keep it, and back up
        // under the next name).
        let mut partial = target.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = fs
            .open(&partial, true)
            .map_err(|e| Error::io("create", &partial, e))?;
        file.set_len(0)
            .and_then(|()| file.write_at(&bytes, 0))
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io("write", &partial, e))?;
        fs.rename(&partial, &target)
            .map_err(|e| Error::io("rename", &partial, e))?;
        out.push(target);
    }
    fs.sync_dir(backup_dir)
        .map_err(|e| Error::io("sync_dir", backup_dir, e))?;
    Ok(out)
}

fn file_len(fs: &dyn Fs, path: &Path) -> Result<u64> {
    let file = fs
        .open(path, false)
        .map_err(|e| Error::io("open", path, e))?;
    file.len().map_err(|e| Error::io("len", path, e))
}

fn read_range(fs: &dyn Fs, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    let file = fs
        .open(path, false)
        .map_err(|e| Error::io("open", path, e))?;
    let mut buf = vec![0u8; len as usize];
    let n = file
        .read_at(&mut buf, offset)
        .map_err(|e| Error::io("read", path, e))?;
    if n < buf.len() {
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        return Err(Error::io("read", path, eof));
    }
    Ok(buf)
}

/// The contents of `path`, or `None` if it does not exist.
fn read_all(fs: &dyn Fs, path: &Path) -> Result<Option<Vec<u8>>> {
    match fs.open(path, false) {
        Ok(file) => {
            let len = file.len().map_err(|e| Error::io("len", path, e))?;
            read_range(fs, path, 0, len).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", path, e)),
    }
}

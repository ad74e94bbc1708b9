//! Crash resolution: what of the pending state reaches the durable images when the machine
//! stops, plus bit rot (checked once per crash).

use std::fmt;
use std::mem;
use std::path::PathBuf;

use serde::Serialize;

use super::faults::{FaultCounters, FaultRng};
use super::state::{write_into, DirOp, DiskState, FileOp, Ino, Inode};
use crate::trace::Trace;

/// The sector size of the simulated disk: torn writes tear at these boundaries.
pub const SECTOR: u64 = 512;

/// One bit flipped in a durable image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BitRot {
    pub path: PathBuf,
    pub offset: u64,
    /// The bit (0..8) of the byte that flipped.
    pub bit: u8,
}

/// What one crash did, counted by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CrashReport {
    /// The generation the disk is in after the crash (old handles belong to earlier ones).
    pub generation: u64,
    /// The call the crash hit inside (`"#<call> <what>"`), or `None` for a crash between calls.
    pub in_call: Option<String>,
    pub writes_kept: u64,
    pub writes_lost: u64,
    pub writes_torn: u64,
    pub set_lens_kept: u64,
    pub set_lens_lost: u64,
    /// File ops dropped by an earlier failed fsync, lost for good now.
    pub fsync_dropped_lost: u64,
    pub dir_ops_kept: u64,
    pub dir_ops_lost: u64,
    /// Surviving dir ops that no longer applied (their source was gone) and did nothing.
    pub dir_ops_skipped: u64,
    pub renames_non_atomic: u64,
    /// Dir ops dropped by an earlier failed `sync_dir`, lost for good now.
    pub dir_sync_dropped_lost: u64,
    /// Inodes no durable name reaches any more (a lost create, a non-atomic rename's victim,
    /// an unlinked file that was still open); their data is gone.
    pub files_dropped: u64,
    pub bit_rot: Option<BitRot>,
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gen={} writes kept={} lost={} torn={} set_len kept={} lost={} fsync_dropped={} \
             dir_ops kept={} lost={} skipped={} non_atomic={} dir_sync_dropped={} files_dropped={}",
            self.generation,
            self.writes_kept,
            self.writes_lost,
            self.writes_torn,
            self.set_lens_kept,
            self.set_lens_lost,
            self.fsync_dropped_lost,
            self.dir_ops_kept,
            self.dir_ops_lost,
            self.dir_ops_skipped,
            self.renames_non_atomic,
            self.dir_sync_dropped_lost,
            self.files_dropped,
        )?;
        if let Some(r) = &self.bit_rot {
            write!(f, " bit_rot={}@{}.{}", r.path.display(), r.offset, r.bit)?;
        }
        Ok(())
    }
}

/// The pieces of `off..off+len` cut at sector boundaries: `(start, end)` pairs.
pub(crate) fn sector_pieces(off: u64, len: u64) -> Vec<(u64, u64)> {
    let end = off + len;
    let mut pieces = Vec::new();
    let mut start = off;
    while start < end {
        let next = (start / SECTOR + 1) * SECTOR;
        let stop = next.min(end);
        pieces.push((start, stop));
        start = stop;
    }
    pieces
}

/// How a torn write leaves one of its sectors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sector {
    Old,
    New,
    Zero,
}

impl Sector {
    fn letter(self) -> char {
        match self {
            Sector::Old => 'o',
            Sector::New => 'n',
            Sector::Zero => 'z',
        }
    }
}

/// Resolves the pending state of every file and directory, then applies bit rot, and starts
/// a new generation. Randomness is drawn in a fixed order: inodes by number, their ops in
/// program order, then directories by path, their ops in order, then bit rot.
pub(crate) fn resolve(st: &mut DiskState, trace: &Trace) -> CrashReport {
    let mut report = CrashReport {
        in_call: st.crash_in.take(),
        ..CrashReport::default()
    };
    resolve_files(st, trace, &mut report);
    resolve_new_dirs(st, trace, &mut report);
    resolve_dirs(st, trace, &mut report);
    report.files_dropped = st.gc();
    if st.rng.chance(st.rates.bit_rot) {
        report.bit_rot = rot_random(st, trace);
    }
    start_generation(st, trace, &mut report);
    report
}

/// The draws and counters a crash resolution shares across files and directories.
struct Fate<'a> {
    rng: &'a mut FaultRng,
    counters: &'a mut FaultCounters,
    trace: &'a Trace,
}

/// Every inode's pending ops, in inode order: each write kept, lost or torn, each length
/// change kept or lost; then the inode forgets its handles and its failed-fsync marks.
fn resolve_files(st: &mut DiskState, trace: &Trace, report: &mut CrashReport) {
    let (lost_rate, torn_rate) = (st.rates.lost_write, st.rates.torn_write);
    let mut fate = Fate {
        rng: &mut st.rng,
        counters: &mut st.counters,
        trace,
    };
    for (ino, inode) in st.inodes.iter_mut() {
        report.fsync_dropped_lost += inode.doomed;
        for op in mem::take(&mut inode.pending) {
            match op {
                FileOp::Write { off, data } => match fate.rng.pick3(lost_rate, torn_rate) {
                    1 => {
                        report.writes_lost += 1;
                        fate.counters.lost_writes += 1;
                        trace.event(format_args!(
                            "disk fault lost_write {}#{ino} off={off} len={}",
                            inode.hint.display(),
                            data.len()
                        ));
                    }
                    2 => {
                        report.writes_torn += 1;
                        tear(&mut fate, inode, *ino, off, &data);
                    }
                    _ => {
                        report.writes_kept += 1;
                        write_into(&mut inode.durable, off, &data);
                    }
                },
                FileOp::SetLen { len } => {
                    if fate.rng.chance(lost_rate) {
                        report.set_lens_lost += 1;
                        fate.counters.lost_set_lens += 1;
                        trace.event(format_args!(
                            "disk fault lost_set_len {}#{ino} len={len}",
                            inode.hint.display()
                        ));
                    } else {
                        report.set_lens_kept += 1;
                        FileOp::SetLen { len }.apply(&mut inode.durable);
                    }
                }
            }
        }
        inode.doomed = 0;
        inode.diverged = false;
        inode.sticky_read_error = false;
        inode.handles = 0;
    }
}

/// A torn write: each of its sectors reaches the durable image as the old bytes (at least
/// half the time), the new bytes or zeros.
fn tear(fate: &mut Fate<'_>, inode: &mut Inode, ino: Ino, off: u64, data: &[u8]) {
    fate.counters.torn_writes += 1;
    let mut shape = String::new();
    for (start, stop) in sector_pieces(off, data.len() as u64) {
        let sector = if !fate.rng.coin() {
            Sector::Old
        } else {
            [Sector::Old, Sector::New, Sector::Zero][fate.rng.below(3) as usize]
        };
        shape.push(sector.letter());
        let part = &data[(start - off) as usize..(stop - off) as usize];
        match sector {
            Sector::Old => {}
            Sector::New => write_into(&mut inode.durable, start, part),
            Sector::Zero => write_into(&mut inode.durable, start, &vec![0; part.len()]),
        }
    }
    fate.trace.event(format_args!(
        "disk fault torn_write {}#{ino} off={off} len={} sectors={shape}",
        inode.hint.display(),
        data.len()
    ));
}

/// New directories whose names are not durable yet, in path order: each kept (its name
/// becomes durable) or, at the `lost_dir_entry` rate, lost with everything below it (its
/// files' inodes are then unreachable and collected).
fn resolve_new_dirs(st: &mut DiskState, trace: &Trace, report: &mut CrashReport) {
    let lost_rate = st.rates.lost_dir_entry;
    let mut lost: Vec<PathBuf> = Vec::new();
    for (path, dir) in st.dirs.iter_mut() {
        if dir.entry_durable || lost.iter().any(|l| path.starts_with(l)) {
            continue;
        }
        if st.rng.chance(lost_rate) {
            report.dir_ops_lost += 1;
            st.counters.lost_dir_entries += 1;
            trace.event(format_args!(
                "disk fault lost_dir_entry mkdir {}",
                path.display()
            ));
            lost.push(path.clone());
        } else {
            report.dir_ops_kept += 1;
            dir.entry_durable = true;
        }
    }
    st.dirs
        .retain(|path, _| !lost.iter().any(|l| path.starts_with(l)));
}

/// Every directory's pending ops, in path order: each lost, kept, or (a rename) torn into a
/// non-atomic one that leaves neither name.
fn resolve_dirs(st: &mut DiskState, trace: &Trace, report: &mut CrashReport) {
    let (lost_dir, non_atomic) = (st.rates.lost_dir_entry, st.rates.non_atomic_rename);
    let fate = Fate {
        rng: &mut st.rng,
        counters: &mut st.counters,
        trace,
    };
    for (path, dir) in st.dirs.iter_mut() {
        report.dir_sync_dropped_lost += dir.doomed;
        let mut names = dir.durable.clone();
        for op in mem::take(&mut dir.pending) {
            if fate.rng.chance(lost_dir) {
                report.dir_ops_lost += 1;
                fate.counters.lost_dir_entries += 1;
                trace.event(format_args!(
                    "disk fault lost_dir_entry {} {op}",
                    path.display()
                ));
                continue;
            }
            if let DirOp::Rename {
                from,
                to,
                ino,
                half_done,
            } = &op
            {
                if names.get(from) == Some(ino) && (*half_done || fate.rng.chance(non_atomic)) {
                    names.remove(from);
                    names.remove(to);
                    report.renames_non_atomic += 1;
                    fate.counters.non_atomic_renames += 1;
                    trace.event(format_args!(
                        "disk fault non_atomic_rename {} {op}",
                        path.display()
                    ));
                    continue;
                }
            }
            if op.apply(&mut names) {
                report.dir_ops_kept += 1;
            } else {
                report.dir_ops_skipped += 1;
            }
        }
        dir.durable = names;
        dir.live = dir.durable.clone();
        dir.doomed = 0;
        dir.diverged = false;
    }
}

/// The machine is back: the page cache shows the durable images, locks and an armed crash
/// are gone, and handles of the old generation are dead.
fn start_generation(st: &mut DiskState, trace: &Trace, report: &mut CrashReport) {
    for inode in st.inodes.values_mut() {
        inode.live.clone_from(&inode.durable);
    }
    st.locks.clear();
    st.armed = None;
    st.crashed = false;
    st.generation += 1;
    st.counters.crashes += 1;
    report.generation = st.generation;
    trace.event(format_args!("disk crash resolved {report}"));
    st.check();
}

/// Flips one random bit of one random non-empty durable file that passes the rot filter.
fn rot_random(st: &mut DiskState, trace: &Trace) -> Option<BitRot> {
    let mut candidates = Vec::new();
    for (dir, d) in &st.dirs {
        for (name, ino) in &d.durable {
            let path = dir.join(name);
            let len = st.inodes.get(ino).map_or(0, |i| i.durable.len());
            if len > 0 && st.rot_filter.accepts(&path) {
                candidates.push((path, *ino, len as u64));
            }
        }
    }
    if candidates.is_empty() {
        trace.event("disk fault bit_rot skipped: no candidate file");
        return None;
    }
    let (path, ino, len) = candidates.swap_remove(st.rng.below(candidates.len() as u64) as usize);
    let offset = st.rng.below(len);
    let bit = st.rng.below(8) as u8;
    let inode = st.inodes.get_mut(&ino)?;
    inode.durable[offset as usize] ^= 1 << bit;
    st.counters.bit_rots += 1;
    trace.event(format_args!(
        "disk fault bit_rot {}#{ino} off={offset} bit={bit}",
        path.display()
    ));
    Some(BitRot { path, offset, bit })
}

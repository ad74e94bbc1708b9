//! The archive manifest: which sealed segments the archive holds durably.
//!
//! Two files in the store directory, `archive.manifest.0` and `archive.manifest.1`, each a
//! whole manifest with a sequence number and a crc32. A save writes the *other* slot than
//! the one holding the newest valid manifest (write, cut to length, fsync; the first time, a
//! directory fsync for its name), so a crash at any point leaves the previous manifest
//! intact: the save is atomic, and the engine never renames (a rename a crash tears may
//! keep neither name). Open takes the valid slot with the highest sequence number; a slot
//! that does not decode is an interrupted save, unless neither decodes while both exist
//! (corruption: a manifest once durable is damaged).
//!
//! Slot: `magic u32 | version u32 | seq u64 | count u32 | count x (first u64, last u64,
//! last_term u64, len u64, crc u32) | crc32 u32` (little endian; the crc covers all before).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::Fs;

/// The manifest's file names, slot 0 and slot 1.
pub(crate) const MANIFEST_FILES: [&str; 2] = ["archive.manifest.0", "archive.manifest.1"];
const MAGIC: u32 = 0x4d41_424c; // "LBAM"
const VERSION: u32 = 1;
const HEAD_LEN: usize = 4 + 4 + 8 + 4;
const ENTRY_LEN: usize = 8 + 8 + 8 + 8 + 4;
/// No manifest slot is read past this length (about 466,000 segments).
const FILE_LEN_MAX: u64 = 16 << 20;

/// One archived segment, as the manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArchivedSeg {
    /// Its first index (its name).
    pub first: u64,
    /// Its last index.
    pub last: u64,
    /// The term of its last entry.
    pub last_term: u64,
    /// The object's length in bytes.
    pub len: u64,
    /// The crc32 of the whole object.
    pub crc: u32,
}

/// The manifest of one store directory, as last read or saved.
#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    dir: PathBuf,
    /// The sequence number of the newest valid slot (0: none yet).
    seq: u64,
    /// Whether each slot's name is durable in the directory.
    exists: [bool; 2],
    /// The archived segments by first index.
    pub segs: BTreeMap<u64, ArchivedSeg>,
}

impl Manifest {
    /// The manifest of `dir` before any is read: empty, no slot known.
    pub fn empty(dir: &Path) -> Manifest {
        Manifest {
            dir: dir.to_path_buf(),
            seq: 0,
            exists: [false; 2],
            segs: BTreeMap::new(),
        }
    }

    /// Reads the manifest of `dir`, whose listing is `names` (reading only, and only the
    /// slots listed: a store that never archived costs no call). No slot: an empty manifest.
    pub fn open(fs: &dyn Fs, dir: &Path, names: &[String]) -> Result<Manifest> {
        let mut best: Option<(u64, BTreeMap<u64, ArchivedSeg>)> = None;
        let mut exists = [false; 2];
        for (i, name) in MANIFEST_FILES.iter().enumerate() {
            if !names.iter().any(|n| n == name) {
                continue;
            }
            let path = dir.join(name);
            let Some(bytes) = read_slot(fs, &path)? else {
                continue;
            };
            exists[i] = true;
            if let Some((seq, segs)) = decode(&bytes) {
                if best.as_ref().is_none_or(|(s, _)| seq > *s) {
                    best = Some((seq, segs));
                }
            }
        }
        if best.is_none() && exists == [true, true] {
            return Err(Error::corruption(
                dir.join(MANIFEST_FILES[0]),
                0,
                "both archive manifest slots are damaged",
            ));
        }
        let (seq, segs) = best.unwrap_or_default();
        Ok(Manifest {
            dir: dir.to_path_buf(),
            seq,
            exists,
            segs,
        })
    }

    /// The archived segments holding an entry above `boundary`: the ones a read may need.
    pub fn live_above(&self, boundary: u64) -> impl Iterator<Item = &ArchivedSeg> {
        self.segs.values().filter(move |s| s.last > boundary)
    }

    /// Replaces the manifest with `segs`, durably, in the slot not holding the newest one.
    pub fn save(&mut self, fs: &dyn Fs, segs: BTreeMap<u64, ArchivedSeg>) -> Result<()> {
        let seq = self.seq + 1;
        let slot = (seq % 2) as usize;
        let path = self.dir.join(MANIFEST_FILES[slot]);
        let bytes = encode(seq, &segs);
        let io = |op, e| Error::io(op, &path, e);
        let file = fs.open(&path, true).map_err(|e| io("open", e))?;
        file.write_at(&bytes, 0).map_err(|e| io("write", e))?;
        file.set_len(bytes.len() as u64)
            .map_err(|e| io("set_len", e))?;
        file.sync_data().map_err(|e| io("sync_data", e))?;
        if !self.exists[slot] {
            fs.sync_dir(&self.dir)
                .map_err(|e| Error::io("sync_dir", &self.dir, e))?;
            self.exists[slot] = true;
        }
        self.seq = seq;
        self.segs = segs;
        Ok(())
    }
}

/// The bytes of one slot file, `None` if it does not exist.
fn read_slot(fs: &dyn Fs, path: &Path) -> Result<Option<Vec<u8>>> {
    let file = match fs.open(path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let len = file.len().map_err(|e| Error::io("len", path, e))?;
    if len > FILE_LEN_MAX {
        return Err(Error::corruption(
            path,
            FILE_LEN_MAX,
            "archive manifest too long",
        ));
    }
    let mut buf = vec![0u8; len as usize];
    let mut at = 0;
    while at < buf.len() {
        match file.read_at(&mut buf[at..], at as u64) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    buf.truncate(at);
    Ok(Some(buf))
}

fn encode(seq: u64, segs: &BTreeMap<u64, ArchivedSeg>) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEAD_LEN + segs.len() * ENTRY_LEN + 4);
    b.extend_from_slice(&MAGIC.to_le_bytes());
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend_from_slice(&(segs.len() as u32).to_le_bytes());
    for s in segs.values() {
        for v in [s.first, s.last, s.last_term, s.len] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&s.crc.to_le_bytes());
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// The sequence number and segments of a slot, `None` unless it is whole and consistent
/// (ascending, non-overlapping segments).
fn decode(b: &[u8]) -> Option<(u64, BTreeMap<u64, ArchivedSeg>)> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?));
    if u32_at(0)? != MAGIC || u32_at(4)? != VERSION {
        return None;
    }
    let count = u32_at(16)? as usize;
    let end = HEAD_LEN.checked_add(count.checked_mul(ENTRY_LEN)?)?;
    if b.len() != end + 4 || crc32fast::hash(&b[..end]) != u32_at(end)? {
        return None;
    }
    let mut segs = BTreeMap::new();
    let mut prev_last: Option<u64> = None;
    for k in 0..count {
        let at = HEAD_LEN + k * ENTRY_LEN;
        let s = ArchivedSeg {
            first: u64_at(at)?,
            last: u64_at(at + 8)?,
            last_term: u64_at(at + 16)?,
            len: u64_at(at + 24)?,
            crc: u32_at(at + 32)?,
        };
        if s.first > s.last || prev_last.is_some_and(|p| s.first <= p) {
            return None;
        }
        prev_last = Some(s.last);
        segs.insert(s.first, s);
    }
    Some((u64_at(8)?, segs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(first: u64, last: u64) -> ArchivedSeg {
        ArchivedSeg {
            first,
            last,
            last_term: 3,
            len: 100,
            crc: 7,
        }
    }

    #[test]
    fn a_slot_decodes_to_what_was_encoded_and_damage_is_refused() {
        let segs: BTreeMap<u64, ArchivedSeg> = [(1, seg(1, 10)), (11, seg(11, 20))].into();
        let b = encode(5, &segs);
        assert_eq!(decode(&b), Some((5, segs.clone())));
        for at in 0..b.len() {
            let mut bad = b.clone();
            bad[at] ^= 0x10;
            assert_eq!(decode(&bad), None, "flip at {at}");
        }
        assert_eq!(decode(&b[..b.len() - 1]), None);
        let overlapping: BTreeMap<u64, ArchivedSeg> = [(1, seg(1, 10)), (5, seg(5, 20))].into();
        assert_eq!(decode(&encode(1, &overlapping)), None);
    }
}

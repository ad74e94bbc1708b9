//! The metadata file: hard state and purge boundary, replaced atomically by a double-slot
//! scheme.
//!
//! `meta` holds two 512-byte slots (one sector each) with the same content. A save writes
//! slot 0, fsyncs, writes slot 1, fsyncs. So at any crash at least one slot holds either the
//! new or the previous value intact, and a single damaged slot (torn save or bit rot) is
//! always covered by the other:
//! - crash while writing slot 0: slot 1 holds the previous value (the save never returned);
//! - crash while writing slot 1: slot 0 holds the new value, with a higher sequence number.
//!
//! Recovery takes the valid slot with the highest `seq`. Both slots bad is corruption. A
//! repair (the slots differ) rewrites only the slot that differs, from the other: it never
//! overwrites the one good copy, so a crash during the repair loses nothing.
//!
//! Slot: `magic u32 | len u32 | crc u32 | bincode(MetaBody)`, zero padded to 512 bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bincode::Options;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::{Fs, FsFile};
use crate::types::{HardState, LogId};

pub const META_FILE: &str = "meta";
pub(crate) const SLOT_LEN: usize = 512;
const META_MAGIC: u32 = 0x544d_424c; // "LBMT"

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaBody {
    pub version: u32,
    pub seq: u64,
    pub hard_state: HardState,
    pub last_purged: Option<LogId>,
}

fn opts() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(SLOT_LEN as u64)
}

fn encode_slot(body: &MetaBody) -> [u8; SLOT_LEN] {
    let bytes = opts().serialize(body).expect("meta body fits in a slot");
    let mut slot = [0u8; SLOT_LEN];
    slot[0..4].copy_from_slice(&META_MAGIC.to_le_bytes());
    slot[4..8].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
    slot[12..12 + bytes.len()].copy_from_slice(&bytes);
    let mut h = crc32fast::Hasher::new();
    h.update(&slot[4..8]);
    h.update(&bytes);
    slot[8..12].copy_from_slice(&h.finalize().to_le_bytes());
    slot
}

fn decode_slot(slot: &[u8]) -> Option<MetaBody> {
    if slot.len() < 12 || u32::from_le_bytes(slot[0..4].try_into().ok()?) != META_MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(slot[4..8].try_into().ok()?) as usize;
    if len > SLOT_LEN - 12 || slot.len() < 12 + len {
        return None;
    }
    crate::record::note_checksummed(4 + len);
    let mut h = crc32fast::Hasher::new();
    h.update(&slot[4..8]);
    h.update(&slot[12..12 + len]);
    if h.finalize() != u32::from_le_bytes(slot[8..12].try_into().ok()?) {
        return None;
    }
    opts().deserialize(&slot[12..12 + len]).ok()
}

/// The open metadata file and the last value known durable in it.
#[derive(Debug)]
pub struct MetaFile {
    path: PathBuf,
    file: Arc<dyn FsFile>,
    pub body: MetaBody,
    /// The slots differ or one is damaged: the redundancy must be restored before a single
    /// further fault could roll the metadata back.
    pub needs_repair: bool,
    /// The offset of the slot that does not hold `body`, when they differ.
    stale_slot: u64,
}

/// What [`MetaFile::open`] found.
pub enum MetaOpen {
    Found(MetaFile),
    /// No meta file, or one whose creation never completed (both slots unwritten).
    Fresh,
}

impl MetaFile {
    /// Reads the metadata of `dir`. A file with two bad slots is corruption unless it is
    /// shorter than both slots (an initialisation that never finished, handled by the caller).
    pub fn open(fs: &dyn Fs, dir: &Path) -> Result<MetaOpen> {
        let path = dir.join(META_FILE);
        let file = match fs.open(&path, false) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MetaOpen::Fresh),
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        let mut buf = vec![0u8; 2 * SLOT_LEN];
        let n = file
            .read_at(&mut buf, 0)
            .map_err(|e| Error::io("read", &path, e))?;
        let slots = [
            decode_slot(&buf[..SLOT_LEN.min(n)]),
            decode_slot(&buf[SLOT_LEN..n.max(SLOT_LEN)]),
        ];
        match slots {
            [None, None] if buf[..n].iter().all(|b| *b == 0) => Ok(MetaOpen::Fresh),
            [None, None] => Err(Error::corruption(
                &path,
                0,
                "both metadata slots are damaged",
            )),
            _ => {
                let body = slots
                    .iter()
                    .flatten()
                    .max_by_key(|b| b.seq)
                    .copied()
                    .expect("one slot is valid");
                if body.version != crate::record::FORMAT_VERSION {
                    return Err(Error::UnsupportedVersion {
                        path,
                        version: body.version,
                    });
                }
                let needs_repair = slots[0] != slots[1];
                let stale_slot = match slots[0] == Some(body) {
                    true => SLOT_LEN as u64,
                    false => 0,
                };
                Ok(MetaOpen::Found(MetaFile {
                    path,
                    file,
                    body,
                    needs_repair,
                    stale_slot,
                }))
            }
        }
    }

    /// Creates `meta` with an empty state, durably (file and directory synced).
    pub fn create(fs: &dyn Fs, dir: &Path) -> Result<MetaFile> {
        let path = dir.join(META_FILE);
        let file = fs
            .open(&path, true)
            .map_err(|e| Error::io("create", &path, e))?;
        let mut meta = MetaFile {
            path,
            file,
            body: MetaBody {
                version: crate::record::FORMAT_VERSION,
                seq: 0,
                hard_state: HardState::default(),
                last_purged: None,
            },
            needs_repair: false,
            stale_slot: 0,
        };
        meta.save(meta.body.hard_state, None, false)?;
        fs.sync_dir(dir)
            .map_err(|e| Error::io("sync_dir", dir, e))?;
        Ok(meta)
    }

    /// Durably replaces the metadata. `in_place_no_fsync` is the `HardStateNoFsync` canary:
    /// one slot, no fsync.
    pub fn save(
        &mut self,
        hard_state: HardState,
        last_purged: Option<LogId>,
        in_place_no_fsync: bool,
    ) -> Result<()> {
        let body = MetaBody {
            version: crate::record::FORMAT_VERSION,
            seq: self.body.seq + 1,
            hard_state,
            last_purged,
        };
        let slot = encode_slot(&body);
        let slots: &[u64] = if in_place_no_fsync {
            &[0]
        } else {
            &[0, SLOT_LEN as u64]
        };
        for &offset in slots {
            self.file
                .write_at(&slot, offset)
                .map_err(|e| Error::io("write", &self.path, e))?;
            if !in_place_no_fsync {
                self.file
                    .sync_data()
                    .map_err(|e| Error::io("sync_data", &self.path, e))?;
            }
        }
        self.body = body;
        self.needs_repair = in_place_no_fsync;
        self.stale_slot = SLOT_LEN as u64;
        Ok(())
    }

    /// The path of the metadata file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The offset of the slot [`MetaFile::repair`] would rewrite, if the slots disagree.
    pub fn stale_slot(&self) -> Option<u64> {
        self.needs_repair.then_some(self.stale_slot)
    }

    /// Restores the redundancy if the slots disagree: writes the current value into the
    /// slot that does not hold it, and fsyncs. The good slot is never written, so a crash
    /// in between leaves it as it was.
    pub fn repair(&mut self) -> Result<()> {
        if self.needs_repair {
            tracing::warn!(path = %self.path.display(), "metadata slots disagree; rewriting the stale one");
            self.file
                .write_at(&encode_slot(&self.body), self.stale_slot)
                .map_err(|e| Error::io("write", &self.path, e))?;
            self.file
                .sync_data()
                .map_err(|e| Error::io("sync_data", &self.path, e))?;
            self.needs_repair = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_round_trips_and_damage_is_rejected() {
        let body = MetaBody {
            version: 1,
            seq: 9,
            hard_state: HardState {
                term: 3,
                vote: Some(2),
                commit: 17,
            },
            last_purged: Some(LogId::new(2, 10)),
        };
        let slot = encode_slot(&body);
        assert_eq!(decode_slot(&slot), Some(body));
        for i in 0..40 {
            let mut bad = slot;
            bad[i] ^= 0x10;
            assert_eq!(decode_slot(&bad), None, "flip at byte {i} went unnoticed");
        }
    }
}

//! The archive tier of a [`SegmentLog`]: the segments the archive holds (as the manifest
//! says), reads that fall through to it, the move of a sealed segment, and purge's removal
//! from the archive. See `archive/mod.rs` for the move's steps and what a crash between
//! them leaves.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::Path;

use bytes::Bytes;

use super::{check_header, decode_run, parse_segment_name, segment_name, span, SegmentLog};
use crate::archive::manifest::{ArchivedSeg, Manifest};
use crate::archive::{Archive, ArchiveHandle};
use crate::canary::Canary;
use crate::error::{Error, Result};
use crate::scan::{self, Collect};
use crate::types::{Entry, LogId};

/// Archived segments whose record offsets are kept (8 bytes per entry each).
const OFFSETS_KEPT: usize = 256;

/// What a [`SegmentLog`] knows of the archive.
#[derive(Debug)]
pub(crate) struct Tier {
    /// The archive, if the store has one.
    pub archive: Option<ArchiveHandle>,
    /// The manifest; its segments above the boundary only (those at or below it are
    /// purged and must never be read again, whatever an older manifest says).
    pub manifest: Manifest,
    /// Record offsets of archived segments read (or moved) lately, at most
    /// [`OFFSETS_KEPT`] of them.
    offsets: BTreeMap<u64, Vec<u64>>,
}

impl Tier {
    /// A tier with an empty manifest of `dir`, until recovery adopts the one on disk.
    pub fn new(archive: Option<ArchiveHandle>, dir: &Path) -> Tier {
        Tier {
            archive,
            manifest: Manifest::empty(dir),
            offsets: BTreeMap::new(),
        }
    }
}

impl Tier {
    /// A copy that reads what this one reads (the archive, the manifest as it is now) for a
    /// read-only view of the segments (`SegmentLog::cold_view`); it never writes the
    /// manifest.
    pub fn read_view(&self) -> Tier {
        Tier {
            archive: self.archive.clone(),
            manifest: self.manifest.clone(),
            offsets: BTreeMap::new(),
        }
    }

    /// Keeps the record offsets of archived segment `first`, forgetting the oldest segment's
    /// past [`OFFSETS_KEPT`] (a later read of it fetches it whole again): bounded memory.
    fn keep_offsets(&mut self, first: u64, offsets: Vec<u64>) {
        if self.offsets.len() >= OFFSETS_KEPT && !self.offsets.contains_key(&first) {
            self.offsets.pop_first();
        }
        self.offsets.insert(first, offsets);
    }
}

/// A sealed segment read, put and verified in the archive, not yet recorded.
#[derive(Debug)]
pub(crate) struct Staged {
    seg: ArchivedSeg,
    offsets: Vec<u64>,
}

impl Staged {
    /// The segment's bytes.
    pub fn len(&self) -> u64 {
        self.seg.len
    }
}

fn archive_err(op: &'static str, name: &str, source: io::Error) -> Error {
    Error::Archive {
        op,
        name: name.to_string(),
        source,
    }
}

impl SegmentLog {
    /// Recovery's manifest, read with the directory; `boundary` is the durable purge
    /// boundary: archived segments wholly at or below it are forgotten (purged).
    pub fn adopt_manifest(&mut self, mut manifest: Manifest, boundary: u64) {
        manifest.segs.retain(|_, s| s.last > boundary);
        self.tier.manifest = manifest;
    }

    /// The last archived entry (above the boundary), if any.
    pub fn archived_last(&self) -> Option<LogId> {
        let s = self.tier.manifest.segs.values().next_back()?;
        Some(LogId::new(s.last_term, s.last))
    }

    /// The archive, or the typed error of a store whose manifest needs one it lacks.
    fn archive(&self) -> Result<&dyn Archive> {
        match &self.tier.archive {
            Some(a) => Ok(a.archive()),
            None => Err(archive_err(
                "open",
                crate::archive::manifest::MANIFEST_FILES[0],
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "the store has no archive configured",
                ),
            )),
        }
    }

    /// At open: an error if the manifest lists live archived segments but the store was
    /// opened without an archive (they could never be read).
    pub fn check_archive_reachable(&self) -> Result<()> {
        match self.tier.manifest.segs.is_empty() {
            true => Ok(()),
            false => self.archive().map(|_| ()),
        }
    }

    /// Whether entry `index` lives in an archived segment.
    pub fn is_archived(&self, index: u64) -> bool {
        self.archived_seg(index).is_some()
    }

    fn archived_seg(&self, index: u64) -> Option<ArchivedSeg> {
        let (_, s) = self.tier.manifest.segs.range(..=index).next_back()?;
        (s.last >= index).then_some(*s)
    }

    /// Reads up to `count_max` entries from `from` out of the archived segment holding it.
    /// The first read of a segment fetches it whole (checked against the manifest's crc32)
    /// and indexes it; later reads fetch only the records asked for.
    pub fn read_archived(&mut self, from: u64, count_max: usize) -> Result<Vec<Entry>> {
        let Some(s) = self.archived_seg(from) else {
            return Ok(Vec::new());
        };
        let name = segment_name(s.first);
        let lo = (from - s.first) as usize;
        let (payload_max, skip_crc) = (
            self.payload_size_max_bytes,
            self.canaries.on(Canary::SkipChecksum),
        );
        // Entries `lo..hi` of the segment span bytes `start..end`.
        let span = |offsets: &[u64]| span(offsets, lo, count_max, s.len);
        let (run, start, hi) = match self.tier.offsets.get(&s.first) {
            Some(offsets) => {
                let (start, end, hi) = span(offsets);
                let buf = (self.archive()?.read(&name, start, end - start))
                    .map_err(|e| archive_err("read", &name, e))?;
                (Bytes::from(buf), start, hi)
            }
            None => {
                let (buf, offsets) = self.fetch_whole(&s)?;
                let (start, end, hi) = span(&offsets);
                self.tier.keep_offsets(s.first, offsets);
                (buf.slice(start as usize..end as usize), start, hi)
            }
        };
        let path = Path::new(&name);
        let offsets = &self.tier.offsets[&s.first];
        decode_run(
            run,
            start,
            s.first,
            offsets,
            (lo, hi),
            payload_max,
            skip_crc,
            path,
        )
    }

    /// Archived segment `s` whole, checked (crc32, header, every record) and indexed.
    fn fetch_whole(&self, s: &ArchivedSeg) -> Result<(Bytes, Vec<u64>)> {
        let name = segment_name(s.first);
        let buf =
            (self.archive()?.read(&name, 0, s.len)).map_err(|e| archive_err("read", &name, e))?;
        if crc32fast::hash(&buf) != s.crc {
            let e = io::Error::new(
                io::ErrorKind::InvalidData,
                "object differs from its manifest crc32",
            );
            return Err(archive_err("read", &name, e));
        }
        let buf = Bytes::from(buf);
        let seg = super::Segment::new(s.first, name.clone().into());
        if let Err(reason) = check_header(&buf, &seg)?.problem() {
            return Err(Error::corruption(&name, 0, reason));
        }
        let (payload_max, skip_crc) = (
            self.payload_size_max_bytes,
            self.canaries.on(Canary::SkipChecksum),
        );
        let scan = scan::scan_records(&buf, s.first, 0, payload_max, skip_crc);
        if scan.anomaly.is_some() || scan.next_index != s.last + 1 {
            return Err(Error::corruption(
                &name,
                scan.end,
                "archived segment does not hold its manifest's entries",
            ));
        }
        Ok((buf, scan.offsets))
    }

    /// MemFirst's open: every archived entry above `boundary`, in order, before `entries`.
    pub fn prepend_archived(
        &mut self,
        boundary: u64,
        entries: VecDeque<Entry>,
    ) -> Result<VecDeque<Entry>> {
        let segs: Vec<ArchivedSeg> = self.tier.manifest.segs.values().copied().collect();
        if segs.is_empty() {
            return Ok(entries);
        }
        let (payload_max, skip_crc) = (
            self.payload_size_max_bytes,
            self.canaries.on(Canary::SkipChecksum),
        );
        let mut out = Vec::new();
        for s in &segs {
            let (buf, _) = self.fetch_whole(s)?;
            let collect = Collect {
                buf: &buf,
                into: &mut out,
                above: boundary,
            };
            scan::scan(&buf, Some(collect), s.first, 0, payload_max, skip_crc);
        }
        out.extend(entries);
        Ok(out.into())
    }

    /// The local segments a move up to `upto` takes, oldest first: sealed (not the last)
    /// and holding no entry above `upto`.
    pub fn archive_candidates(&self, upto: u64) -> Vec<u64> {
        let firsts = self.firsts();
        let sealed = &firsts[..firsts.len().saturating_sub(1)];
        (sealed.iter().copied())
            .take_while(|f| self.last_index_of(*f) <= upto)
            .collect()
    }

    /// Deletes the archive's objects the manifest does not list (puts a crash or a failed
    /// check left behind, segments purged since). Returns how many.
    pub fn delete_orphans(&self) -> Result<u32> {
        let archive = self.archive()?;
        let names = archive.list().map_err(|e| archive_err("list", "", e))?;
        let mut deleted = 0;
        for name in names {
            let orphan = parse_segment_name(&name)
                .is_some_and(|f| !self.tier.manifest.segs.contains_key(&f));
            if orphan {
                archive
                    .delete(&name)
                    .map_err(|e| archive_err("delete", &name, e))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Steps 1 of a move: reads sealed segment `first` whole and checked, puts it in the
    /// archive, and reads it back to check the archive holds it. Changes nothing local:
    /// an error here poisons nothing.
    pub fn stage_move(&mut self, first: u64) -> Result<Staged> {
        let last = self.last_index_of(first);
        let (buf, scan) = self.read_checked(first, last, None)?;
        let name = segment_name(first);
        let archive = self.archive()?;
        archive
            .put(&name, &buf)
            .map_err(|e| archive_err("put", &name, e))?;
        let back = (archive.read(&name, 0, buf.len() as u64))
            .map_err(|e| archive_err("verify", &name, e))?;
        if back[..] != buf[..] {
            let e = io::Error::new(
                io::ErrorKind::InvalidData,
                "the archive does not hold what was put",
            );
            return Err(archive_err("verify", &name, e));
        }
        let seg = ArchivedSeg {
            first,
            last,
            last_term: scan.last_term,
            len: buf.len() as u64,
            crc: crc32fast::hash(&buf),
        };
        Ok(Staged {
            seg,
            offsets: scan.offsets,
        })
    }

    /// Steps 2 and 3 of a move: records the staged segment in the manifest (durable), then
    /// removes the local file (durable). An error poisons the log.
    pub fn commit_move(&mut self, staged: Staged) -> Result<()> {
        let first = staged.seg.first;
        let early = self.canaries.on(Canary::ArchiveDeleteBeforeManifest);
        if early {
            self.remove_local(first)?;
        }
        let mut segs = self.tier.manifest.segs.clone();
        segs.insert(first, staged.seg);
        self.tier.manifest.save(&*self.fs, segs)?;
        if !early {
            self.remove_local(first)?;
        }
        self.tier.keep_offsets(first, staged.offsets);
        Ok(())
    }

    /// Removes local segment `first`, durably.
    fn remove_local(&mut self, first: u64) -> Result<()> {
        let seg = self.forget(first);
        self.dirty.remove(&first);
        self.fs
            .remove(&seg.path)
            .map_err(|e| Error::io("remove", &seg.path, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("sync_dir", &self.dir, e))
    }

    /// Purge's part in the archive, once `boundary` is durable in `meta`: drops the archived
    /// segments wholly at or below it from the manifest (durable), then deletes their
    /// objects. A failed delete leaves an orphan, deleted by the next move: purge does not
    /// fail for it.
    pub fn purge_archived(&mut self, boundary: u64) -> Result<()> {
        let (doomed, kept): (BTreeMap<u64, ArchivedSeg>, _) =
            std::mem::take(&mut self.tier.manifest.segs)
                .into_iter()
                .partition(|(_, s)| s.last <= boundary);
        self.tier.manifest.segs = kept.clone();
        if doomed.is_empty() {
            return Ok(());
        }
        self.tier.manifest.save(&*self.fs, kept)?;
        for first in doomed.keys() {
            self.tier.offsets.remove(first);
            let name = segment_name(*first);
            if let Some(a) = &self.tier.archive {
                if let Err(e) = a.archive().delete(&name) {
                    tracing::warn!(object = %name, error = %e, "purge left an orphan in the archive");
                }
            }
        }
        Ok(())
    }
}

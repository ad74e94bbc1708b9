//! One segment file: its name, its header, and reading it whole.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::fs::{Fs, FsFile};
use crate::read_buf::ReadBuf;
use crate::record::{self, HeaderCheck};

const SEGMENT_PREFIX: &str = "seg-";
const SEGMENT_SUFFIX: &str = ".log";

pub(crate) fn segment_name(first_index: u64) -> String {
    format!("{SEGMENT_PREFIX}{first_index:020}{SEGMENT_SUFFIX}")
}

/// Parses a segment file name; any other name is a foreign file and is left alone.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub first_index: u64,
    pub path: PathBuf,
    pub(super) file: Option<Arc<dyn FsFile>>,
    /// Valid for the active segment and for scanned ones.
    pub(super) len_bytes: u64,
    /// `offsets[i]` is the offset of entry `first_index + i`; `None` until scanned.
    pub(super) offsets: Option<Vec<u64>>,
}

impl Segment {
    pub fn new(first_index: u64, path: PathBuf) -> Segment {
        Segment {
            first_index,
            path,
            file: None,
            len_bytes: 0,
            offsets: None,
        }
    }

    pub fn file(&mut self, fs: &dyn Fs) -> Result<Arc<dyn FsFile>> {
        if let Some(f) = &self.file {
            return Ok(f.clone());
        }
        let f = fs
            .open(&self.path, false)
            .map_err(|e| Error::io("open", &self.path, e))?;
        self.file = Some(f.clone());
        Ok(f)
    }

    pub fn set_file(&mut self, file: Arc<dyn FsFile>) {
        self.file = Some(file);
    }
}

/// Reads a whole segment file, refusing one longer than any segment this store can write.
pub(crate) fn read_whole(fs: &dyn Fs, seg: &mut Segment, len_max: u64) -> Result<Bytes> {
    let file = seg.file(fs)?;
    let len = file.len().map_err(|e| Error::io("len", &seg.path, e))?;
    if len > len_max {
        return Err(Error::corruption(
            &seg.path,
            len_max,
            "segment longer than any segment this store writes",
        ));
    }
    let mut buf = ReadBuf::zeroed(len as usize);
    let n = file
        .read_at(buf.as_mut_slice(), 0)
        .map_err(|e| Error::io("read", &seg.path, e))?;
    Ok(buf.freeze(n))
}

/// Reads bytes `from..to` of a segment file (fewer if the file is shorter).
pub(crate) fn read_range(fs: &dyn Fs, seg: &mut Segment, from: u64, to: u64) -> Result<Bytes> {
    let file = seg.file(fs)?;
    let mut buf = ReadBuf::zeroed(to.saturating_sub(from) as usize);
    let n = file
        .read_at(buf.as_mut_slice(), from)
        .map_err(|e| Error::io("read", &seg.path, e))?;
    Ok(buf.freeze(n))
}

/// Reads the first `len` bytes of a segment file (the data of an active segment, without
/// its preallocated space); a shorter file is corruption.
pub(crate) fn read_prefix(fs: &dyn Fs, seg: &mut Segment, len: u64) -> Result<Bytes> {
    let buf = read_range(fs, seg, 0, len)?;
    if (buf.len() as u64) < len {
        return Err(Error::corruption(
            &seg.path,
            buf.len() as u64,
            "segment shorter than its index",
        ));
    }
    Ok(buf)
}

/// What a segment's header says about the file, for recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// Valid, for the first index the file name says.
    Valid,
    /// Valid, for another first index: a segment of this format under a name the engine
    /// never gave it (renamed, copied, swapped). Never a torn creation.
    Names(u64),
    /// Short, zeroed or damaged: a torn creation if the file is the last, else corruption.
    Bad(&'static str),
}

impl Header {
    pub fn problem(self) -> std::result::Result<(), &'static str> {
        match self {
            Header::Valid => Ok(()),
            Header::Names(_) => Err("segment header names another first index"),
            Header::Bad(reason) => Err(reason),
        }
    }
}

/// Checks a segment's header against its file name. A header of another format version is
/// an error: this build cannot judge the file.
pub(crate) fn check_header(buf: &[u8], seg: &Segment) -> Result<Header> {
    match record::decode_segment_header(buf) {
        HeaderCheck::Valid { first_index } if first_index == seg.first_index => Ok(Header::Valid),
        HeaderCheck::Valid { first_index } => Ok(Header::Names(first_index)),
        HeaderCheck::WrongVersion(version) => Err(Error::UnsupportedVersion {
            path: seg.path.clone(),
            version,
        }),
        HeaderCheck::Bad(reason) => Ok(Header::Bad(reason)),
    }
}

/// The bytes to read for entries `first + lo ..` (at most `count_max` of them) of a segment
/// whose entries' batches start at `offsets` and whose data ends at `len_bytes`: from the
/// batch of the first to the end of the batch of the last (bounded by the next batch that
/// holds a later entry). Returns `(start, end, hi)`: entries `lo..hi`.
pub(crate) fn span(
    offsets: &[u64],
    lo: usize,
    count_max: usize,
    len_bytes: u64,
) -> (u64, u64, usize) {
    let hi = offsets.len().min(lo + count_max);
    let last_at = offsets[hi - 1];
    let end = (offsets[hi..].iter())
        .find(|&&at| at > last_at)
        .copied()
        .unwrap_or(len_bytes);
    (offsets[lo], end, hi)
}

/// Decodes entries `first + lo .. first + hi` from `buf`, the bytes of one segment read from
/// offset `start` of the file (or archived object) `path`, where `offsets[i]` is the start
/// of the batch holding entry `first + i`. A batch that does not decode, or does not hold
/// the entry the index says, is corruption at its offset.
#[allow(clippy::too_many_arguments)] // one segment's read, spelled out
pub(crate) fn decode_run(
    buf: Bytes,
    start: u64,
    first: u64,
    offsets: &[u64],
    (lo, hi): (usize, usize),
    payload_max: u32,
    skip_crc: bool,
    path: &std::path::Path,
) -> Result<Vec<crate::types::Entry>> {
    let mut out = Vec::with_capacity(hi.saturating_sub(lo));
    let mut i = lo;
    while i < hi {
        let at = offsets[i];
        let pos = (at - start) as usize;
        let corrupt = |why: String| Error::corruption(path, at, why);
        let b = record::decode_batch(&buf[pos..], payload_max, skip_crc)
            .map_err(|e| corrupt(format!("{e:?}")))?;
        let had = i;
        let wanted = first + i as u64;
        for e in b.entries().skip_while(|e| e.index < wanted) {
            if i == hi || e.index != first + i as u64 || offsets[i] != at {
                break;
            }
            let payload_start = pos + e.payload_at;
            out.push(crate::types::Entry {
                index: e.index,
                term: e.term,
                payload: buf.slice(payload_start..payload_start + e.payload.len()),
            });
            i += 1;
        }
        if i == had {
            return Err(corrupt(format!(
                "batch does not hold entry {}",
                first + i as u64
            )));
        }
    }
    Ok(out)
}

//! The on-disk framing of segments and batches. Pure functions over byte slices: no I/O.
//!
//! Segment file (format version 3):
//! ```text
//! header (32 bytes): magic "LOGBOOK\x01" | version u32 | reserved u32 | first_index u64 | crc u32 | pad u32
//! slots (2 × 64):    the checkpoint slots ([`slot`]), zeros until the first sync
//! batch*:            magic u32 | len u32 | crc u32 | body (len bytes)
//! body:              first_index | durable_hint | generation | count      (varints)
//!                    count × ( term_delta | payload_len | payload )       (varints, bytes)
//! ```
//! One batch holds the entries of one write to one segment, `first_index` onwards. `crc` is
//! crc32 over the `len` field's bytes then the body, so a damaged length is caught too.
//! Integers are LEB128 varints ([`varint`]); an entry's term is the previous entry's plus
//! `term_delta` (the first entry's is its term), so terms never decrease inside a batch. For
//! a 100-byte payload an entry costs 2 bytes beside its payload, and a batch ~20 bytes.
//!
//! - `durable_hint` is the store's durable index when the batch was written. Recovery uses
//!   it to tell a torn tail from corruption: a bad batch at index `i` followed by a valid
//!   batch whose hint is `>= i` proves that `i` had been durable, so the damage is corruption.
//!   A hint is always below the batch's first index.
//! - `generation` counts the truncations written to the segment files. A batch whose
//!   `first_index` is *below* the index the segment has reached replaces the entries from
//!   there on (a truncation and the entries after it, in one write and one fsync), and is
//!   valid only with a generation above every earlier batch's: so a stale or copied batch is
//!   never taken for a truncation. A batch with `count == 0` is a truncation alone.
//!
//! Invariant: no length read from disk is used to allocate; each is checked against
//! `payload_size_max_bytes` and against the bytes that are actually there.
//!
//! Every byte run through a checksum here is counted per thread ([`checksummed_bytes`]), so
//! a test can hold an open to work linear in the bytes present without timing it.

use std::cell::Cell;

use crate::types::Entry;

mod find;
pub mod slot;
pub mod varint;

pub use find::find_batch;

pub const SEGMENT_MAGIC: [u8; 8] = *b"LOGBOOK\x01";
/// 1: a record per entry with fixed-width fields; 2: batches with varints; 3: checkpoint
/// slots in the segment header.
pub const FORMAT_VERSION: u32 = 3;
/// The header proper (32 bytes) and the two checkpoint slots: batches start here.
pub const SEGMENT_HEADER_LEN: u64 = (slot::SLOTS_AT + slot::SLOTS_LEN) as u64;
/// The bytes of the header proper that its checksum covers, and the checksum.
const HEADER_PROPER_LEN: usize = slot::SLOTS_AT;
pub const BATCH_MAGIC: u32 = 0x3242_4c4c; // "LLB2" little-endian
/// Magic, length and checksum.
pub const BATCH_FRAME_LEN: usize = 12;
/// The largest batch header: the frame and four ten-byte varints.
pub const BATCH_HEADER_LEN_MAX: usize = BATCH_FRAME_LEN + 4 * varint::VARINT_LEN_MAX;
/// The smallest batch: the frame and four one-byte varints.
pub const BATCH_LEN_MIN: usize = BATCH_FRAME_LEN + 4;
/// The smallest entry: two one-byte varints and no payload.
pub const ENTRY_LEN_MIN: usize = 2;

thread_local! {
    static CHECKSUMMED: Cell<u64> = const { Cell::new(0) };
}

/// Counts `n` bytes run through a checksum on this thread.
#[inline]
pub(crate) fn note_checksummed(n: usize) {
    CHECKSUMMED.with(|c| c.set(c.get().wrapping_add(n as u64)));
}

/// Bytes this thread has run through a checksum in the engine (batches, segment headers,
/// metadata slots) since it started. A diagnostic counter: work done for the calling thread
/// by a helper (MemFirst's preload worker) is added to it when the helper is done, so the
/// difference across [`crate::Log::open`] is that open's checksum work.
pub fn checksummed_bytes() -> u64 {
    CHECKSUMMED.with(Cell::get)
}

/// Encodes a segment header for a segment whose first entry is `first_index`.
pub fn encode_segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32fast::hash(&h[0..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What a segment header says.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderCheck {
    Valid {
        first_index: u64,
    },
    /// A header from another format version.
    WrongVersion(u32),
    /// Short, zeroed or damaged.
    Bad(&'static str),
}

/// Checks a segment header (the header proper, then that the slots are there too).
pub fn decode_segment_header(buf: &[u8]) -> HeaderCheck {
    if buf.len() < HEADER_PROPER_LEN {
        return HeaderCheck::Bad("segment shorter than its header");
    }
    if buf[0..8] != SEGMENT_MAGIC {
        return HeaderCheck::Bad("bad segment magic");
    }
    let crc = u32::from_le_bytes(buf[24..28].try_into().expect("4 bytes"));
    note_checksummed(24);
    if crc != crc32fast::hash(&buf[0..24]) {
        return HeaderCheck::Bad("segment header checksum mismatch");
    }
    let version = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return HeaderCheck::WrongVersion(version);
    }
    if buf.len() < SEGMENT_HEADER_LEN as usize {
        return HeaderCheck::Bad("segment shorter than its header");
    }
    HeaderCheck::Valid {
        first_index: u64::from_le_bytes(buf[16..24].try_into().expect("8 bytes")),
    }
}

/// The fields of a batch besides its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHead {
    /// The index of its first entry; of a truncation alone, where the log continues.
    pub first_index: u64,
    /// The durable index when it was written (below `first_index`).
    pub durable_hint: u64,
    /// The truncations written before it, this one included if it is one.
    pub generation: u64,
}

/// Bytes an entry of term delta `term_delta` and `payload_len` payload bytes takes.
#[inline]
pub fn entry_len(term_delta: u64, payload_len: usize) -> usize {
    varint::len(term_delta) + varint::len(payload_len as u64) + payload_len
}

/// How many of `entries` (at least one, if any) one batch takes when `room` bytes are left
/// in the segment, and that batch's length counted with the largest header (at least its
/// real length): entries are added while that length is under `room`. So a batch ends past
/// the segment size by at most one entry.
pub fn batch_take(entries: &[Entry], room: u64) -> (usize, u64) {
    let mut len = BATCH_HEADER_LEN_MAX as u64;
    let mut prev_term = 0;
    let mut n = 0;
    for e in entries {
        if n > 0 && len >= room {
            break;
        }
        len += entry_len(e.term.saturating_sub(prev_term), e.payload.len()) as u64;
        prev_term = e.term;
        n += 1;
    }
    (n, len)
}

/// Appends one batch holding `entries` (their indexes consecutive from `head.first_index`,
/// their terms not decreasing) to `out`. An empty `entries` is a truncation alone.
pub fn encode_batch(out: &mut Vec<u8>, head: BatchHead, entries: &[Entry]) {
    debug_assert!(head.durable_hint < head.first_index);
    debug_assert!(entries.first().is_none_or(|e| e.index == head.first_index));
    let start = out.len();
    let body_len: usize = entries.iter().map(|e| e.payload.len() + 2).sum();
    out.reserve(BATCH_HEADER_LEN_MAX + body_len + entries.len() * 8);
    out.extend_from_slice(&BATCH_MAGIC.to_le_bytes());
    out.extend_from_slice(&[0u8; 8]);
    varint::put(out, head.first_index);
    varint::put(out, head.durable_hint);
    varint::put(out, head.generation);
    varint::put(out, entries.len() as u64);
    let mut prev_term = 0;
    for (k, e) in entries.iter().enumerate() {
        debug_assert_eq!(e.index, head.first_index + k as u64);
        debug_assert!(e.term >= prev_term, "terms never decrease in a batch");
        varint::put(out, e.term - prev_term);
        varint::put(out, e.payload.len() as u64);
        out.extend_from_slice(&e.payload);
        prev_term = e.term;
    }
    let len = (out.len() - start - BATCH_FRAME_LEN) as u32;
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&out[start + 4..start + 8]);
    hasher.update(&out[start + BATCH_FRAME_LEN..]);
    let crc = hasher.finalize();
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// Appends a truncation alone (a batch of no entries) to `out`: the log continues at
/// `from`, written when the log's durable index was `durable_hint` (capped below `from`).
pub fn encode_truncation(out: &mut Vec<u8>, from: u64, durable_hint: u64, generation: u64) {
    let head = BatchHead {
        first_index: from,
        durable_hint: durable_hint.min(from - 1),
        generation,
    };
    encode_batch(out, head, &[]);
}

/// A batch decoded in place (checked whole: every entry's framing is valid).
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    pub head: BatchHead,
    pub count: u64,
    /// The term of its first and last entries (0 for a truncation alone).
    pub first_term: u64,
    pub last_term: u64,
    /// The whole batch, frame included.
    bytes: &'a [u8],
    /// Where its entries start in `bytes`.
    entries_at: usize,
}

/// One entry of a [`BatchRef`].
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub index: u64,
    pub term: u64,
    pub payload: &'a [u8],
    /// Where the payload starts in the batch's bytes.
    pub payload_at: usize,
}

impl<'a> BatchRef<'a> {
    /// Bytes the batch occupies, frame included.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The index after its last entry.
    pub fn end_index(&self) -> u64 {
        self.head.first_index + self.count
    }

    /// Its entries, in order.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'a>> + 'a {
        let (bytes, mut pos) = (self.bytes, self.entries_at);
        let (mut index, mut term) = (self.head.first_index, 0u64);
        (0..self.count).map_while(move |_| {
            term += varint::get(bytes, &mut pos)?;
            let len = varint::get(bytes, &mut pos)? as usize;
            let e = EntryRef {
                index,
                term,
                payload: bytes.get(pos..pos + len)?,
                payload_at: pos,
            };
            pos += len;
            index += 1;
            Some(e)
        })
    }
}

/// Why bytes at an offset are not a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchError {
    /// The buffer ends inside the batch.
    Incomplete,
    /// Zeros where a batch would start: the usual end of written data.
    Zeroed,
    /// Anything else: wrong magic, impossible length, checksum mismatch, bad body.
    Bad(&'static str),
}

/// Decodes the batch at the start of `buf`. `skip_checksum` exists only for the
/// `SkipChecksum` canary.
pub fn decode_batch(
    buf: &[u8],
    payload_size_max_bytes: u32,
    skip_checksum: bool,
) -> Result<BatchRef<'_>, BatchError> {
    if buf.len() < BATCH_FRAME_LEN {
        return Err(match buf.iter().all(|b| *b == 0) {
            true => BatchError::Zeroed,
            false => BatchError::Incomplete,
        });
    }
    let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
    let (magic, len, crc) = (u32_at(0), u32_at(4) as usize, u32_at(8));
    if magic != BATCH_MAGIC {
        if magic == 0 && len == 0 && crc == 0 {
            return Err(BatchError::Zeroed);
        }
        return Err(BatchError::Bad("bad batch magic"));
    }
    if len < BATCH_LEN_MIN - BATCH_FRAME_LEN {
        return Err(BatchError::Bad("batch length out of bounds"));
    }
    if buf.len() - BATCH_FRAME_LEN < len {
        return Err(BatchError::Incomplete);
    }
    let bytes = &buf[..BATCH_FRAME_LEN + len];
    if !skip_checksum {
        note_checksummed(4 + len);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&bytes[4..8]);
        hasher.update(&bytes[BATCH_FRAME_LEN..]);
        if hasher.finalize() != crc {
            return Err(BatchError::Bad("batch checksum mismatch"));
        }
    }
    decode_body(bytes, payload_size_max_bytes)
}

/// Decodes and checks the body of `bytes`, a whole batch whose frame is checked.
pub(crate) fn decode_body(bytes: &[u8], payload_max: u32) -> Result<BatchRef<'_>, BatchError> {
    const UNDECODABLE: BatchError = BatchError::Bad("undecodable batch body");
    let (head, count, entries_at) = decode_head(bytes).ok_or(UNDECODABLE)?;
    if head.durable_hint >= head.first_index {
        return Err(BatchError::Bad("batch hint not below its first index"));
    }
    // The next index must exist: no store reaches u64::MAX, so no batch holds it.
    if count > (u64::MAX - 1 - head.first_index) {
        return Err(BatchError::Bad("batch runs to the end of the index space"));
    }
    let (mut pos, mut term, mut first_term) = (entries_at, 0u64, 0u64);
    for k in 0..count {
        let delta = varint::get(bytes, &mut pos).ok_or(UNDECODABLE)?;
        term = term.checked_add(delta).ok_or(UNDECODABLE)?;
        if k == 0 {
            first_term = term;
        }
        let len = varint::get(bytes, &mut pos).ok_or(UNDECODABLE)?;
        if len > u64::from(payload_max) {
            return Err(BatchError::Bad(
                "payload longer than payload_size_max_bytes",
            ));
        }
        if len > (bytes.len() - pos) as u64 {
            return Err(UNDECODABLE);
        }
        pos += len as usize;
    }
    if pos != bytes.len() {
        return Err(BatchError::Bad("batch body has trailing bytes"));
    }
    Ok(BatchRef {
        head,
        count,
        first_term,
        last_term: term,
        bytes,
        entries_at,
    })
}

/// The header fields of a framed batch (`bytes` starts at its magic), the entry count, and
/// where the entries start; `None` if they do not decode inside `bytes`.
pub(crate) fn decode_head(bytes: &[u8]) -> Option<(BatchHead, u64, usize)> {
    let mut pos = BATCH_FRAME_LEN;
    let first_index = varint::get(bytes, &mut pos)?;
    let durable_hint = varint::get(bytes, &mut pos)?;
    let generation = varint::get(bytes, &mut pos)?;
    let count = varint::get(bytes, &mut pos)?;
    if count > ((bytes.len() - pos) / ENTRY_LEN_MIN) as u64 {
        return None;
    }
    let head = BatchHead {
        first_index,
        durable_hint,
        generation,
    };
    Some((head, count, pos))
}

#[cfg(test)]
mod tests;

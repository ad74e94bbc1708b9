//! The on-disk framing of segments and records. Pure functions over byte slices: no I/O.
//!
//! Segment file:
//! ```text
//! header (32 bytes): magic "LOGBOOK\x01" | version u32 | reserved u32 | first_index u64 | crc u32 | pad u32
//! record*:           magic u32 | len u32 | crc u32 | body (len bytes)
//! ```
//! `crc` of a record is crc32 over the `len` field's bytes then the body, so a damaged length
//! is caught too. The body is `bincode` (fixed-width little-endian integers) of
//! [`RecordBody`]: `index`, `term`, `durable_hint` and the payload.
//!
//! `durable_hint` is the store's durable index when the record was written. Recovery uses it
//! to tell a torn tail from corruption: a bad record at index `i` followed by a valid record
//! whose hint is `>= i` proves that `i` had been durable, so the damage is corruption.
//!
//! Invariant: no length read from disk is used to allocate before it is checked against
//! `payload_size_max_bytes` and against the bytes that are actually there.
//!
//! Every byte run through a checksum here is counted per thread ([`checksummed_bytes`]), so
//! a test can hold an open to work linear in the bytes present without timing it.

use std::cell::Cell;

#[cfg(test)]
use bincode::Options;
#[cfg(test)]
use serde::{Deserialize, Serialize};

pub const SEGMENT_MAGIC: [u8; 8] = *b"LOGBOOK\x01";
pub const FORMAT_VERSION: u32 = 1;
pub const SEGMENT_HEADER_LEN: u64 = 32;
pub const RECORD_MAGIC: u32 = 0x5242_4c4c; // "LLBR" little-endian
pub const RECORD_HEADER_LEN: usize = 12;
/// Bytes bincode adds around the payload: three u64 fields and the payload's u64 length.
pub const RECORD_BODY_OVERHEAD: usize = 32;

/// The body's definition: its bincode (fixint, little-endian) encoding is the on-disk
/// layout. The codec below writes and reads that layout by hand, field by field; the tests
/// hold it to bincode byte for byte.
#[cfg(test)]
#[derive(Debug, Serialize, Deserialize)]
pub struct RecordBody<'a> {
    pub index: u64,
    pub term: u64,
    pub durable_hint: u64,
    #[serde(with = "serde_bytes")]
    #[serde(borrow)]
    pub payload: &'a [u8],
}

#[cfg(test)]
fn bincode_opts(limit: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(limit)
        .reject_trailing_bytes()
}

thread_local! {
    static CHECKSUMMED: Cell<u64> = const { Cell::new(0) };
}

/// Counts `n` bytes run through a checksum on this thread.
#[inline]
pub(crate) fn note_checksummed(n: usize) {
    CHECKSUMMED.with(|c| c.set(c.get().wrapping_add(n as u64)));
}

/// Bytes this thread has run through a checksum in the engine (records, segment headers,
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

pub fn decode_segment_header(buf: &[u8]) -> HeaderCheck {
    if buf.len() < SEGMENT_HEADER_LEN as usize {
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
    HeaderCheck::Valid {
        first_index: u64::from_le_bytes(buf[16..24].try_into().expect("8 bytes")),
    }
}

/// The size on disk of a record carrying `payload_len` bytes.
pub fn record_size(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + RECORD_BODY_OVERHEAD + payload_len
}

/// Appends one framed record to `out`. The body is written field by field in bincode's
/// fixint little-endian layout (a test checks it byte for byte against bincode): this is
/// the append path, and bincode's serializer costs more than the copy it does.
pub fn encode_record(out: &mut Vec<u8>, index: u64, term: u64, durable_hint: u64, payload: &[u8]) {
    let start = out.len();
    let body_len = RECORD_BODY_OVERHEAD + payload.len();
    out.reserve(RECORD_HEADER_LEN + body_len);
    out.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&term.to_le_bytes());
    out.extend_from_slice(&durable_hint.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    debug_assert_eq!(out.len() - start, RECORD_HEADER_LEN + body_len);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&out[start + 4..start + 8]);
    hasher.update(&out[start + RECORD_HEADER_LEN..]);
    let crc = hasher.finalize();
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// A record decoded in place.
#[derive(Debug)]
pub struct RecordRef<'a> {
    pub index: u64,
    pub term: u64,
    /// Read in place by [`find_record`] (which never decodes a whole candidate).
    #[allow(dead_code)]
    pub durable_hint: u64,
    pub payload: &'a [u8],
    /// Bytes the record occupies, header included.
    pub size: usize,
}

/// Why bytes at an offset are not a record.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The buffer ends inside the record.
    Incomplete,
    /// Zeros where a record would start: the usual end of written data.
    Zeroed,
    /// Anything else: wrong magic, impossible length, checksum mismatch, bad body.
    Bad(&'static str),
}

/// Decodes the record at the start of `buf`. `skip_checksum` exists only for the
/// `SkipChecksum` canary.
pub fn decode_record(
    buf: &[u8],
    payload_size_max_bytes: u32,
    skip_checksum: bool,
) -> Result<RecordRef<'_>, RecordError> {
    if buf.len() < RECORD_HEADER_LEN {
        if buf.iter().all(|b| *b == 0) {
            return Err(RecordError::Zeroed);
        }
        return Err(RecordError::Incomplete);
    }
    let magic = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes"));
    let len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    if magic != RECORD_MAGIC {
        if magic == 0 && len == 0 && crc == 0 {
            return Err(RecordError::Zeroed);
        }
        return Err(RecordError::Bad("bad record magic"));
    }
    // Bound the length before touching (or allocating for) the body.
    if len < RECORD_BODY_OVERHEAD || len > RECORD_BODY_OVERHEAD + payload_size_max_bytes as usize {
        return Err(RecordError::Bad("record length out of bounds"));
    }
    if buf.len() - RECORD_HEADER_LEN < len {
        return Err(RecordError::Incomplete);
    }
    let body = &buf[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
    if !skip_checksum {
        note_checksummed(4 + len);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&buf[4..8]);
        hasher.update(body);
        if hasher.finalize() != crc {
            return Err(RecordError::Bad("record checksum mismatch"));
        }
    }
    // bincode's fixint layout, read in place: three u64 fields, the payload's u64 length
    // (which must account for exactly the rest of the body), the payload.
    let field = |i: usize| u64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    if field(3) != (len - RECORD_BODY_OVERHEAD) as u64 {
        return Err(RecordError::Bad("undecodable record body"));
    }
    Ok(RecordRef {
        index: field(0),
        term: field(1),
        durable_hint: field(2),
        payload: &body[RECORD_BODY_OVERHEAD..],
        size: RECORD_HEADER_LEN + len,
    })
}

/// The smallest record: header and a body with an empty payload.
pub const RECORD_SIZE_MIN: usize = RECORD_HEADER_LEN + RECORD_BODY_OVERHEAD;

/// Prefix checksums are kept every this many bytes by [`find_record`].
const PREFIX_STEP: usize = 32;

/// The offset of the first checksum-valid record at or after `from` whose index and
/// `durable_hint` satisfy `want`, if any. Only records the engine could have written count:
/// a payload length that accounts for the body, a hint below the index (a record's hint is
/// the durable index when it was written, so always below its own index).
///
/// Linear in `buf.len() - from`, whatever the bytes: a run of record headers whose lengths
/// are in bounds would make a decode at every candidate offset checksum `O(n)` bytes each,
/// `O(n^2)` in all. Instead one pass computes the crc32 of every prefix at each
/// [`PREFIX_STEP`]-byte mark, and a candidate's checksum comes from two prefix checksums
/// (each finished with fewer than `PREFIX_STEP` bytes) by crc32's linearity:
/// `crc(b) = shift(crc(a), |b|) ^ crc(a ‖ b)`. Memory: four bytes per `PREFIX_STEP` bytes,
/// and only once a candidate passes the cheap field checks.
pub fn find_record(
    buf: &[u8],
    from: usize,
    payload_size_max_bytes: u32,
    skip_checksum: bool,
    want: impl Fn(u64, u64) -> bool,
) -> Option<usize> {
    let magic = RECORD_MAGIC.to_le_bytes();
    let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"));
    let body_max = RECORD_BODY_OVERHEAD + payload_size_max_bytes as usize;
    let mut prefix: Option<Prefix<'_>> = None;
    let mut q = from;
    while q + RECORD_SIZE_MIN <= buf.len() {
        if buf[q..q + 4] != magic {
            q += 1;
            continue;
        }
        let len = u32_at(q + 4) as usize;
        let body = q + RECORD_HEADER_LEN;
        let (index, hint, payload_len) = (u64_at(body), u64_at(body + 16), u64_at(body + 24));
        let plausible = (RECORD_BODY_OVERHEAD..=body_max).contains(&len)
            && len <= buf.len() - body
            && payload_len == (len - RECORD_BODY_OVERHEAD) as u64
            && hint < index
            && want(index, hint);
        if plausible {
            if skip_checksum {
                return Some(q);
            }
            let p = prefix.get_or_insert_with(|| Prefix::new(buf, from));
            let stored = u32_at(q + 8);
            // crc(len ‖ body) = shift(crc(len), |body|) ^ crc(body), and
            // crc(body) = shift(P(body), |body|) ^ P(body + len): one shift for both.
            note_checksummed(4);
            let crc_len = crc32fast::hash(&buf[q + 4..q + 8]);
            let (at_start, at_end) = (p.at(body), p.at(body + len));
            let mut h = crc32fast::Hasher::new_with_initial(crc_len ^ at_start);
            h.combine(&crc32fast::Hasher::new_with_initial_len(at_end, len as u64));
            if h.finalize() == stored {
                return Some(q);
            }
        }
        q += 1;
    }
    None
}

/// crc32 of `buf[from..i]` for any `i`, from checksums kept every [`PREFIX_STEP`] bytes.
struct Prefix<'a> {
    buf: &'a [u8],
    from: usize,
    marks: Vec<u32>,
}

impl<'a> Prefix<'a> {
    fn new(buf: &'a [u8], from: usize) -> Prefix<'a> {
        let mut marks = Vec::with_capacity((buf.len() - from) / PREFIX_STEP + 1);
        let mut h = crc32fast::Hasher::new();
        marks.push(0);
        for chunk in buf[from..].chunks_exact(PREFIX_STEP) {
            h.update(chunk);
            marks.push(h.clone().finalize());
        }
        note_checksummed(buf.len() - from);
        Prefix { buf, from, marks }
    }

    fn at(&self, i: usize) -> u32 {
        let k = (i - self.from) / PREFIX_STEP;
        let mark = self.from + k * PREFIX_STEP;
        note_checksummed(i - mark);
        let mut h = crc32fast::Hasher::new_with_initial(self.marks[k]);
        h.update(&self.buf[mark..i]);
        h.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_size_is_predicted() {
        for payload in [&b""[..], b"x", &[7u8; 1000][..]] {
            let mut buf = Vec::new();
            encode_record(&mut buf, 42, 7, 40, payload);
            assert_eq!(buf.len(), record_size(payload.len()));
            let rec = decode_record(&buf, 1 << 20, false).expect("valid");
            assert_eq!((rec.index, rec.term, rec.durable_hint), (42, 7, 40));
            assert_eq!(rec.payload, payload);
            assert_eq!(rec.size, buf.len());
        }
    }

    #[test]
    fn the_body_is_bincode_fixint_little_endian() {
        for payload in [&b""[..], b"x", &[7u8; 300][..]] {
            let mut buf = Vec::new();
            encode_record(&mut buf, u64::MAX - 3, 9, 1 << 40, payload);
            let body = RecordBody {
                index: u64::MAX - 3,
                term: 9,
                durable_hint: 1 << 40,
                payload,
            };
            let expected = bincode_opts(u64::MAX).serialize(&body).unwrap();
            assert_eq!(&buf[RECORD_HEADER_LEN..], &expected[..]);
            let back: RecordBody<'_> = bincode_opts(u64::MAX)
                .deserialize(&buf[RECORD_HEADER_LEN..])
                .unwrap();
            let rec = decode_record(&buf, 1 << 20, false).unwrap();
            assert_eq!(
                (rec.index, rec.term, rec.durable_hint, rec.payload),
                (back.index, back.term, back.durable_hint, back.payload)
            );
        }
    }

    #[test]
    fn a_body_whose_payload_length_disagrees_is_bad() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, 1, 0, b"abcd");
        buf[RECORD_HEADER_LEN + 24] = 3; // payload length 3 in a body that holds 4
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&buf[4..8]);
        hasher.update(&buf[RECORD_HEADER_LEN..]);
        let crc = hasher.finalize().to_le_bytes();
        buf[8..12].copy_from_slice(&crc);
        assert_eq!(
            decode_record(&buf, 1 << 20, false).unwrap_err(),
            RecordError::Bad("undecodable record body")
        );
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 3, 2, 1, b"hello raft");
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut damaged = buf.clone();
                damaged[i] ^= 1 << bit;
                assert!(
                    decode_record(&damaged, 1 << 20, false).is_err(),
                    "flip of bit {bit} in byte {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn every_truncation_is_incomplete_or_zeroed_never_valid() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 3, 2, 1, b"hello raft");
        for cut in 0..buf.len() {
            assert!(
                decode_record(&buf[..cut], 1 << 20, false).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn hostile_lengths_are_rejected_before_allocation() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        buf.extend_from_slice(&[0u8; 4]);
        assert_eq!(
            decode_record(&buf, 1024, false).unwrap_err(),
            RecordError::Bad("record length out of bounds")
        );
    }

    #[test]
    fn zeros_read_as_end_of_data() {
        assert_eq!(
            decode_record(&[0u8; 64], 1024, false).unwrap_err(),
            RecordError::Zeroed
        );
        assert_eq!(
            decode_record(&[0u8; 5], 1024, false).unwrap_err(),
            RecordError::Zeroed
        );
    }

    /// The quadratic definition [`find_record`] must agree with: decode at every offset.
    fn find_record_naive(
        buf: &[u8],
        from: usize,
        max: u32,
        want: impl Fn(u64, u64) -> bool,
    ) -> Option<usize> {
        (from..buf.len()).find(|&q| {
            matches!(decode_record(&buf[q..], max, false),
                Ok(r) if r.durable_hint < r.index && want(r.index, r.durable_hint))
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, failure_persistence: None, ..Default::default() })]
        /// Buffers built from records (some with bytes flipped), sprays of record headers,
        /// fake headers whose fields pass the cheap checks, and noise.
        #[test]
        fn find_record_agrees_with_decoding_at_every_offset(
            pieces in proptest::collection::vec((0u8..6, 0u64..40, 0u64..40, 0usize..90, proptest::prelude::any::<u32>()), 0..24),
            from in 0usize..64,
            e in 0u64..40,
        ) {
            let mut buf = Vec::new();
            for (kind, index, hint, plen, noise) in pieces {
                match kind {
                    0 | 1 => encode_record(&mut buf, index, index / 2 + 1, hint, &vec![noise as u8; plen]),
                    2 => {
                        encode_record(&mut buf, index, 1, hint, &vec![7; plen]);
                        let at = buf.len() - 1 - (noise as usize % (plen + 32));
                        buf[at] ^= 1 << (noise % 8);
                    }
                    3 => for _ in 0..(plen / 12 + 1) {
                        buf.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
                        buf.extend_from_slice(&(32 + noise % 200).to_le_bytes());
                        buf.extend_from_slice(&noise.to_le_bytes());
                    },
                    4 => {
                        // A header whose fields pass the cheap checks, checksum wrong.
                        let len = 32 + plen as u32;
                        buf.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
                        buf.extend_from_slice(&len.to_le_bytes());
                        buf.extend_from_slice(&noise.to_le_bytes());
                        buf.extend_from_slice(&(index + 50).to_le_bytes());
                        buf.extend_from_slice(&1u64.to_le_bytes());
                        buf.extend_from_slice(&hint.to_le_bytes());
                        buf.extend_from_slice(&(plen as u64).to_le_bytes());
                    }
                    _ => buf.extend((0..plen).map(|i| (noise >> (i % 4 * 8)) as u8)),
                }
            }
            let from = from.min(buf.len());
            let want = |i: u64, h: u64| i >= e && h >= e / 2;
            proptest::prop_assert_eq!(
                find_record(&buf, from, 100, false, want),
                find_record_naive(&buf, from, 100, want)
            );
        }
    }

    #[test]
    fn find_record_checksums_a_spray_of_headers_in_linear_work() {
        // 1 MiB of headers whose fields all pass the cheap checks, every one 8 bytes after
        // the last, each claiming a body that runs to the end: decoding at every offset
        // would checksum ~64 GiB.
        let n = 1 << 20;
        let mut buf = vec![0u8; n];
        let mut q = 0;
        while q + 64 <= n {
            let len = (n - q - 12) as u32;
            buf[q..q + 4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
            buf[q + 4..q + 8].copy_from_slice(&len.to_le_bytes());
            buf[q + 12..q + 20].copy_from_slice(&u64::MAX.to_le_bytes());
            buf[q + 28..q + 36].copy_from_slice(&5u64.to_le_bytes());
            buf[q + 36..q + 44].copy_from_slice(&(u64::from(len) - 32).to_le_bytes());
            q += 64;
        }
        let before = checksummed_bytes();
        assert_eq!(find_record(&buf, 0, 1 << 24, false, |_, h| h >= 5), None);
        let work = checksummed_bytes() - before;
        assert!(
            work <= 4 * n as u64,
            "checksummed {work} bytes of a {n}-byte buffer"
        );
    }

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let h = encode_segment_header(1234);
        assert_eq!(
            decode_segment_header(&h),
            HeaderCheck::Valid { first_index: 1234 }
        );
        let mut bad = h;
        bad[17] ^= 1;
        assert!(matches!(decode_segment_header(&bad), HeaderCheck::Bad(_)));
        assert!(matches!(
            decode_segment_header(&h[..10]),
            HeaderCheck::Bad(_)
        ));
    }
}

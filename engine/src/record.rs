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

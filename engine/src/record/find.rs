//! Finding a valid batch anywhere in a buffer, in linear time: recovery's search for a batch
//! that proves damage durable, or that a file is not what its name says.

use super::{
    decode_body, decode_head, note_checksummed, BatchHead, BATCH_FRAME_LEN, BATCH_LEN_MIN,
    BATCH_MAGIC,
};

/// Prefix checksums are kept every this many bytes by [`find_batch`].
const PREFIX_STEP: usize = 32;

/// The offset of the first valid batch at or after `from` whose head and entry count
/// satisfy `want`, if any. Valid as [`super::decode_batch`] says: framing, checksum (unless
/// `skip_checksum`) and a body that decodes whole, its hint below its first index.
///
/// Linear in `buf.len() - from`, whatever the bytes: a run of batch frames whose lengths are
/// in bounds would make a decode at every candidate offset checksum `O(n)` bytes each,
/// `O(n^2)` in all. Instead one pass computes the crc32 of every prefix at each
/// [`PREFIX_STEP`]-byte mark, and a candidate's checksum comes from two prefix checksums
/// (each finished with fewer than `PREFIX_STEP` bytes) by crc32's linearity:
/// `crc(b) = shift(crc(a), |b|) ^ crc(a ‖ b)`. Memory: four bytes per `PREFIX_STEP` bytes,
/// and only once a candidate passes the cheap field checks. A candidate whose checksum
/// matches is then decoded whole; checksum matches off a real batch are rare (2^-32 per
/// candidate past the magic and the field checks).
pub fn find_batch(
    buf: &[u8],
    from: usize,
    payload_size_max_bytes: u32,
    skip_checksum: bool,
    want: impl Fn(&BatchHead, u64) -> bool,
) -> Option<usize> {
    let magic = BATCH_MAGIC.to_le_bytes();
    let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
    let mut prefix: Option<Prefix<'_>> = None;
    let mut q = from;
    while q + BATCH_LEN_MIN <= buf.len() {
        if buf[q..q + 4] != magic {
            q += 1;
            continue;
        }
        let len = u32_at(q + 4) as usize;
        let plausible = len >= BATCH_LEN_MIN - BATCH_FRAME_LEN
            && len <= buf.len() - q - BATCH_FRAME_LEN
            && decode_head(&buf[q..q + BATCH_FRAME_LEN + len])
                .is_some_and(|(h, count, _)| h.durable_hint < h.first_index && want(&h, count));
        if plausible && checksum_matches(buf, from, q, len, skip_checksum, &mut prefix) {
            let bytes = &buf[q..q + BATCH_FRAME_LEN + len];
            if decode_body(bytes, payload_size_max_bytes).is_ok() {
                return Some(q);
            }
        }
        q += 1;
    }
    None
}

/// Whether the batch framed at `q` with body length `len` has the checksum it stores,
/// computed from the prefix checksums of `buf[from..]` (built on first use).
fn checksum_matches<'a>(
    buf: &'a [u8],
    from: usize,
    q: usize,
    len: usize,
    skip_checksum: bool,
    prefix: &mut Option<Prefix<'a>>,
) -> bool {
    if skip_checksum {
        return true;
    }
    let p = prefix.get_or_insert_with(|| Prefix::new(buf, from));
    let stored = u32::from_le_bytes(buf[q + 8..q + 12].try_into().expect("4 bytes"));
    let body = q + BATCH_FRAME_LEN;
    // crc(len ‖ body) = shift(crc(len), |body|) ^ crc(body), and
    // crc(body) = shift(P(body), |body|) ^ P(body + len): one shift for both.
    note_checksummed(4);
    let crc_len = crc32fast::hash(&buf[q + 4..q + 8]);
    let (at_start, at_end) = (p.at(body), p.at(body + len));
    let mut h = crc32fast::Hasher::new_with_initial(crc_len ^ at_start);
    h.combine(&crc32fast::Hasher::new_with_initial_len(at_end, len as u64));
    h.finalize() == stored
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

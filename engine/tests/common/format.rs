//! The on-disk format (version 3), written independently of the engine (`record/`), so tests
//! can forge headers and batches the way an operator or an attacker would.
//!
//! A segment: a 32-byte header, two 64-byte checkpoint slots (zeros until the first sync),
//! then batches.
//!
//! A batch: magic u32 | len u32 | crc u32 (over len ‖ body) | body; the body: varints
//! first_index, durable_hint, generation, count, then per entry varints term_delta and
//! payload_len, and the payload.

/// The header proper and the two checkpoint slots: batches start here.
pub const SEGMENT_HEADER_LEN: usize = 32 + 2 * 64;
pub const BATCH_MAGIC: u32 = 0x3242_4c4c;
pub const BATCH_FRAME_LEN: usize = 12;

/// crc32 (IEEE), table-driven.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            crc = table[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

/// A valid segment header for `first_index`, its checkpoint slots never written.
pub fn segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(b"LOGBOOK\x01");
    h[8..12].copy_from_slice(&3u32.to_le_bytes());
    h[16..24].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32(&[&h[0..24]]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Replaces the header of a segment file with a valid one for `first_index`.
pub fn rewrite_header(bytes: &mut Vec<u8>, first_index: u64) {
    if bytes.len() < SEGMENT_HEADER_LEN {
        bytes.resize(SEGMENT_HEADER_LEN, 0);
    }
    bytes[..SEGMENT_HEADER_LEN].copy_from_slice(&segment_header(first_index));
}

/// Appends the LEB128 varint of `v`.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for k in 0..10 {
        let b = *buf.get(*pos + k)?;
        if k == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * k);
        if b & 0x80 == 0 {
            if k > 0 && b == 0 {
                return None;
            }
            *pos += k + 1;
            return Some(v);
        }
    }
    None
}

/// A valid batch of entries `(term, payload)` from `first_index` (none: a truncation alone).
pub fn batch(
    first_index: u64,
    durable_hint: u64,
    generation: u64,
    entries: &[(u64, &[u8])],
) -> Vec<u8> {
    let mut body = Vec::new();
    for v in [first_index, durable_hint, generation, entries.len() as u64] {
        put_varint(&mut body, v);
    }
    let mut prev = 0;
    for (term, payload) in entries {
        put_varint(&mut body, term - prev);
        put_varint(&mut body, payload.len() as u64);
        body.extend_from_slice(payload);
        prev = *term;
    }
    let len = (body.len() as u32).to_le_bytes();
    let mut out = BATCH_MAGIC.to_le_bytes().to_vec();
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc32(&[&len, &body]).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// One valid batch of one entry, generation 0.
pub fn record(index: u64, term: u64, durable_hint: u64, payload: &[u8]) -> Vec<u8> {
    batch(index, durable_hint, 0, &[(term, payload)])
}

/// A decoded valid batch.
#[derive(Debug, Clone)]
pub struct Batch {
    pub first_index: u64,
    pub durable_hint: u64,
    pub generation: u64,
    /// (index, term, payload)
    pub entries: Vec<(u64, u64, Vec<u8>)>,
    pub size: usize,
}

/// The batch at the start of `buf` if it is checksum-valid and decodes whole.
pub fn decode(buf: &[u8]) -> Option<Batch> {
    if buf.len() < BATCH_FRAME_LEN
        || u32::from_le_bytes(buf[0..4].try_into().unwrap()) != BATCH_MAGIC
    {
        return None;
    }
    let len = u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize;
    if buf.len() - BATCH_FRAME_LEN < len {
        return None;
    }
    let body = &buf[BATCH_FRAME_LEN..BATCH_FRAME_LEN + len];
    if crc32(&[&buf[4..8], body]) != u32::from_le_bytes(buf[8..12].try_into().unwrap()) {
        return None;
    }
    let mut pos = 0;
    let mut f = [0u64; 4];
    for v in &mut f {
        *v = get_varint(body, &mut pos)?;
    }
    let [first_index, durable_hint, generation, count] = f;
    if durable_hint >= first_index || count > body.len() as u64 {
        return None;
    }
    let (mut term, mut entries) = (0u64, Vec::new());
    for k in 0..count {
        term = term.checked_add(get_varint(body, &mut pos)?)?;
        let plen = get_varint(body, &mut pos)? as usize;
        let payload = body.get(pos..pos.checked_add(plen)?)?.to_vec();
        pos += plen;
        entries.push((first_index.checked_add(k)?, term, payload));
    }
    (pos == body.len()).then_some(Batch {
        first_index,
        durable_hint,
        generation,
        entries,
        size: BATCH_FRAME_LEN + len,
    })
}

/// A decoded entry: (index, term, durable_hint of its batch, payload, size), where `size`
/// is its batch's size for the batch's last entry and 0 for the others (so sizes sum to the
/// bytes of the batches holding entries).
pub type Rec = (u64, u64, u64, Vec<u8>, usize);

fn flatten(b: &Batch) -> impl Iterator<Item = Rec> + '_ {
    let n = b.entries.len();
    (b.entries.iter().enumerate()).map(move |(k, (i, t, p))| {
        (
            *i,
            *t,
            b.durable_hint,
            p.clone(),
            if k + 1 == n { b.size } else { 0 },
        )
    })
}

/// The valid batches of a segment file in order from the header (no resync), up to the
/// first that does not decode.
pub fn batches(file: &[u8]) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    while pos < file.len() {
        match decode(&file[pos..]) {
            Some(b) => {
                pos += b.size;
                out.push(b);
            }
            None => break,
        }
    }
    out
}

/// Where the valid batches of a segment file end (walking them in order from the header).
pub fn data_end(file: &[u8]) -> usize {
    SEGMENT_HEADER_LEN + batches(file).iter().map(|b| b.size).sum::<usize>()
}

/// The live entries of a segment file: its batches in order from the header, a batch that
/// starts below the index reached replacing the entries from there on (a truncation).
pub fn records(file: &[u8]) -> Vec<Rec> {
    let mut out: Vec<Rec> = Vec::new();
    for b in batches(file) {
        while out.last().is_some_and(|r| r.0 >= b.first_index) {
            out.pop();
        }
        out.extend(flatten(&b));
    }
    out
}

/// The entries of every valid batch anywhere in a file: at each offset where one decodes,
/// then past it (a valid batch inside another's payload is not looked for).
pub fn records_anywhere(file: &[u8]) -> Vec<Rec> {
    let magic = BATCH_MAGIC.to_le_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 4 <= file.len() {
        if file[pos..pos + 4] == magic {
            if let Some(b) = decode(&file[pos..]) {
                pos += b.size;
                out.extend(flatten(&b));
                continue;
            }
        }
        pos += 1;
    }
    out
}

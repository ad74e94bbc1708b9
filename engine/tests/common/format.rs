//! The on-disk format, written independently of the engine (`record.rs`), so tests can
//! forge headers and records the way an operator or an attacker would.

pub const SEGMENT_HEADER_LEN: usize = 32;
pub const RECORD_MAGIC: u32 = 0x5242_4c4c;
pub const RECORD_HEADER_LEN: usize = 12;
pub const RECORD_BODY_OVERHEAD: usize = 32;

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

/// A valid segment header for `first_index`.
pub fn segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(b"LOGBOOK\x01");
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
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

/// One valid record.
pub fn record(index: u64, term: u64, durable_hint: u64, payload: &[u8]) -> Vec<u8> {
    let len = (RECORD_BODY_OVERHEAD + payload.len()) as u32;
    let mut body = Vec::with_capacity(len as usize);
    body.extend_from_slice(&index.to_le_bytes());
    body.extend_from_slice(&term.to_le_bytes());
    body.extend_from_slice(&durable_hint.to_le_bytes());
    body.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    body.extend_from_slice(payload);
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + body.len());
    out.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32(&[&len.to_le_bytes(), &body]).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A decoded valid record: (index, term, durable_hint, payload, size).
pub type Rec = (u64, u64, u64, Vec<u8>, usize);

/// The record at the start of `buf` if it is checksum-valid.
pub fn decode(buf: &[u8]) -> Option<Rec> {
    if buf.len() < RECORD_HEADER_LEN + RECORD_BODY_OVERHEAD
        || u32::from_le_bytes(buf[0..4].try_into().unwrap()) != RECORD_MAGIC
    {
        return None;
    }
    let len = u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize;
    if len < RECORD_BODY_OVERHEAD || buf.len() - RECORD_HEADER_LEN < len {
        return None;
    }
    let body = &buf[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
    let f = |i: usize| u64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().unwrap());
    if f(3) != (len - RECORD_BODY_OVERHEAD) as u64 {
        return None;
    }
    if crc32(&[&buf[4..8], body]) != u32::from_le_bytes(buf[8..12].try_into().unwrap()) {
        return None;
    }
    Some((
        f(0),
        f(1),
        f(2),
        body[RECORD_BODY_OVERHEAD..].to_vec(),
        RECORD_HEADER_LEN + len,
    ))
}

/// Every checksum-valid record in a segment file, walking the records in order from the
/// header (the way the engine wrote them; no resync).
pub fn records(file: &[u8]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    while pos < file.len() {
        match decode(&file[pos..]) {
            Some(r) => {
                pos += r.4;
                out.push(r);
            }
            None => break,
        }
    }
    out
}

/// Every checksum-valid record anywhere in a file: at each offset where one decodes, then
/// past it (a valid record inside another's payload is not looked for).
pub fn records_anywhere(file: &[u8]) -> Vec<Rec> {
    let magic = RECORD_MAGIC.to_le_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 4 <= file.len() {
        if file[pos..pos + 4] == magic {
            if let Some(r) = decode(&file[pos..]) {
                pos += r.4;
                out.push(r);
                continue;
            }
        }
        pos += 1;
    }
    out
}

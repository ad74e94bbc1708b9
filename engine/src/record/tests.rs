use bytes::Bytes;

use super::*;

fn entries(first: u64, terms: &[u64], payload_len: usize) -> Vec<Entry> {
    (terms.iter().enumerate())
        .map(|(k, &term)| Entry {
            index: first + k as u64,
            term,
            payload: Bytes::from(vec![k as u8 ^ 0x5a; payload_len + k]),
        })
        .collect()
}

fn head(first_index: u64, durable_hint: u64, generation: u64) -> BatchHead {
    BatchHead {
        first_index,
        durable_hint,
        generation,
    }
}

fn encode(h: BatchHead, es: &[Entry]) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_batch(&mut buf, h, es);
    buf
}

#[test]
fn batches_round_trip() {
    let cases: [(BatchHead, Vec<Entry>); 4] = [
        (head(42, 40, 0), entries(42, &[7], 0)),
        (head(42, 41, 3), entries(42, &[7, 7, 9, 1 << 40], 100)),
        (
            head(u64::MAX - 10, 5, u64::MAX),
            entries(u64::MAX - 10, &[u64::MAX; 3], 1),
        ),
        (head(9, 8, 2), Vec::new()),
    ];
    for (h, es) in cases {
        let buf = encode(h, &es);
        let b = decode_batch(&buf, 1 << 20, false).expect("valid");
        assert_eq!((b.head, b.count, b.size()), (h, es.len() as u64, buf.len()));
        let got: Vec<(u64, u64, Vec<u8>)> = b
            .entries()
            .map(|e| (e.index, e.term, e.payload.to_vec()))
            .collect();
        let want: Vec<(u64, u64, Vec<u8>)> = es
            .iter()
            .map(|e| (e.index, e.term, e.payload.to_vec()))
            .collect();
        assert_eq!(got, want);
        for e in b.entries() {
            assert_eq!(
                &buf[e.payload_at..e.payload_at + e.payload.len()],
                e.payload
            );
        }
    }
}

#[test]
fn a_hundred_byte_entry_costs_two_bytes_beside_its_payload() {
    let es: Vec<Entry> = (0..256)
        .map(|k| Entry {
            index: 1_000_000 + k,
            term: 5,
            payload: Bytes::from(vec![7; 100]),
        })
        .collect();
    let one = encode(head(1_000_000, 999_999, 0), &es[..1]);
    let many = encode(head(1_000_000, 999_999, 0), &es);
    // 102 bytes per further entry, and one more for the count's second varint byte.
    assert_eq!(many.len() - one.len(), 255 * 102 + 1);
    assert!(
        one.len() - 100 <= 24,
        "a single-entry batch costs {}",
        one.len() - 100
    );
}

#[test]
fn batch_take_never_splits_below_one_entry_and_stops_at_the_room() {
    let es = entries(1, &[1; 64], 100);
    assert_eq!(batch_take(&es, 0).0, 1);
    assert_eq!(batch_take(&es, u64::MAX).0, 64);
    let (n, len_max) = batch_take(&es, 1000);
    let len = encode(head(1, 0, 0), &es[..n]).len() as u64;
    let shorter = encode(head(1, 0, 0), &es[..n - 1]).len() as u64;
    assert!(shorter < 1000 && n < 64, "{n} entries, {len} bytes");
    assert!(
        len <= len_max,
        "the counted length {len_max} covers the real {len}"
    );
}

#[test]
fn every_single_bit_flip_is_detected() {
    let buf = encode(head(3, 1, 1), &entries(3, &[2, 2, 3], 5));
    for i in 0..buf.len() {
        for bit in 0..8 {
            let mut damaged = buf.clone();
            damaged[i] ^= 1 << bit;
            assert!(
                decode_batch(&damaged, 1 << 20, false).is_err(),
                "flip of bit {bit} in byte {i} went unnoticed"
            );
        }
    }
}

#[test]
fn every_truncation_is_incomplete_or_zeroed_never_valid() {
    let buf = encode(head(3, 1, 0), &entries(3, &[2, 2], 10));
    for cut in 0..buf.len() {
        assert!(
            decode_batch(&buf[..cut], 1 << 20, false).is_err(),
            "cut at {cut}"
        );
    }
}

/// A checksum-valid frame around a hand-made body.
fn framed(body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_le_bytes();
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(body);
    let mut out = BATCH_MAGIC.to_le_bytes().to_vec();
    out.extend_from_slice(&len);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn checksum_valid_bodies_the_engine_never_writes_are_refused() {
    let cases: [(&[u8], &str); 6] = [
        (
            &[5, 4, 0, 1, 0, 3, b'a', b'b', b'c', 9],
            "batch body has trailing bytes",
        ),
        (&[5, 5, 0, 0], "batch hint not below its first index"),
        (&[5, 4, 0, 1, 0, 0x80, 0x01], "undecodable batch body"),
        (&[5, 4, 0, 2, 0, 0], "undecodable batch body"),
        (
            &[5, 4, 0, 1, 0, 0x81, 0x01],
            "payload longer than payload_size_max_bytes",
        ),
        (
            &[
                0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 1, 0, 0,
            ],
            "batch runs to the end of the index space",
        ),
    ];
    for (body, why) in cases {
        let buf = framed(body);
        assert_eq!(
            decode_batch(&buf, 128, false).unwrap_err(),
            BatchError::Bad(why),
            "{body:?}"
        );
    }
}

#[test]
fn hostile_lengths_are_rejected_or_incomplete_never_allocated() {
    let mut buf = BATCH_MAGIC.to_le_bytes().to_vec();
    buf.extend_from_slice(&u32::MAX.to_le_bytes());
    buf.extend_from_slice(&[0u8; 4]);
    assert_eq!(
        decode_batch(&buf, 1024, false).unwrap_err(),
        BatchError::Incomplete
    );
    buf[4..8].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(
        decode_batch(&buf, 1024, false).unwrap_err(),
        BatchError::Bad("batch length out of bounds")
    );
}

#[test]
fn zeros_read_as_end_of_data() {
    assert_eq!(
        decode_batch(&[0u8; 64], 1024, false).unwrap_err(),
        BatchError::Zeroed
    );
    assert_eq!(
        decode_batch(&[0u8; 5], 1024, false).unwrap_err(),
        BatchError::Zeroed
    );
}

/// The quadratic definition [`find_batch`] must agree with: decode at every offset.
fn find_batch_naive(
    buf: &[u8],
    from: usize,
    max: u32,
    want: impl Fn(&BatchHead, u64) -> bool,
) -> Option<usize> {
    (from..buf.len())
        .find(|&q| matches!(decode_batch(&buf[q..], max, false), Ok(b) if want(&b.head, b.count)))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, failure_persistence: None, ..Default::default() })]
    /// Buffers built from batches (some with bits flipped), sprays of batch frames, fake
    /// frames whose fields pass the cheap checks, and noise.
    #[test]
    fn find_batch_agrees_with_decoding_at_every_offset(
        pieces in proptest::collection::vec((0u8..6, 1u64..40, 0u64..40, 0usize..90, proptest::prelude::any::<u32>()), 0..24),
        from in 0usize..64,
        e in 0u64..40,
    ) {
        let mut buf = Vec::new();
        for (kind, index, hint, plen, noise) in pieces {
            let h = head(index, hint.min(index - 1), u64::from(noise % 3));
            match kind {
                0 | 1 => encode_batch(&mut buf, h, &entries(index, &[index / 2 + 1; 2], plen)),
                2 => {
                    encode_batch(&mut buf, h, &entries(index, &[1], plen));
                    let at = buf.len() - 1 - (noise as usize % (plen + 4));
                    buf[at] ^= 1 << (noise % 8);
                }
                3 => for _ in 0..(plen / 12 + 1) {
                    buf.extend_from_slice(&BATCH_MAGIC.to_le_bytes());
                    buf.extend_from_slice(&(4 + noise % 200).to_le_bytes());
                    buf.extend_from_slice(&noise.to_le_bytes());
                },
                4 => {
                    // A frame whose fields pass the cheap checks, checksum wrong.
                    let mut body = vec![(index + 50) as u8, hint as u8, 0, 1, 0, plen as u8];
                    body.extend(std::iter::repeat_n(7u8, plen));
                    buf.extend_from_slice(&BATCH_MAGIC.to_le_bytes());
                    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    buf.extend_from_slice(&noise.to_le_bytes());
                    buf.extend_from_slice(&body);
                }
                _ => buf.extend((0..plen).map(|i| (noise >> (i % 4 * 8)) as u8)),
            }
        }
        let from = from.min(buf.len());
        let want = |h: &BatchHead, _: u64| h.first_index >= e && h.durable_hint >= e / 2;
        proptest::prop_assert_eq!(
            find_batch(&buf, from, 100, false, want),
            find_batch_naive(&buf, from, 100, want)
        );
    }
}

#[test]
fn find_batch_checksums_a_spray_of_frames_in_linear_work() {
    // 1 MiB of frames whose fields all pass the cheap checks, every one 64 bytes after the
    // last, each claiming a body that runs to the end: decoding at every offset would
    // checksum ~8 GiB.
    let n = 1 << 20;
    let mut buf = vec![0u8; n];
    let mut q = 0;
    while q + 64 <= n {
        let len = (n - q - 12) as u32;
        buf[q..q + 4].copy_from_slice(&BATCH_MAGIC.to_le_bytes());
        buf[q + 4..q + 8].copy_from_slice(&len.to_le_bytes());
        buf[q + 12..q + 16].copy_from_slice(&[100, 5, 0, 1]);
        q += 64;
    }
    let before = checksummed_bytes();
    assert_eq!(
        find_batch(&buf, 0, 1 << 24, false, |h, _| h.durable_hint >= 5),
        None
    );
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
    let mut v1 = h;
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    let crc = crc32fast::hash(&v1[0..24]);
    v1[24..28].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(decode_segment_header(&v1), HeaderCheck::WrongVersion(1));
}

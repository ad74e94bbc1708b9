//! The scan's rules, one row per case: a segment built from batches, and what the scan makes
//! of it (the live entries, where it stops and why).

use bytes::Bytes;

use super::*;
use crate::record::{encode_batch, encode_segment_header, BatchHead};

/// A batch: first index, generation, terms of its entries (none: a truncation alone).
type B = (u64, u64, &'static [u64]);

fn segment(first: u64, batches: &[B]) -> Vec<u8> {
    let mut buf = encode_segment_header(first).to_vec();
    for &(from, generation, terms) in batches {
        let entries: Vec<Entry> = (terms.iter().enumerate())
            .map(|(k, &term)| Entry {
                index: from + k as u64,
                term,
                payload: Bytes::from(format!("{}/{generation}", from + k as u64)),
            })
            .collect();
        let head = BatchHead {
            first_index: from,
            durable_hint: from - 1,
            generation,
        };
        encode_batch(&mut buf, head, &entries);
    }
    buf
}

/// (case, batches of a segment from index 10, live (index, term)s, the anomaly's reason).
type Row = (
    &'static str,
    &'static [B],
    &'static [(u64, u64)],
    Option<&'static str>,
);

const ROWS: &[Row] = &[
    (
        "appends",
        &[(10, 0, &[1, 1]), (12, 0, &[2])],
        &[(10, 1), (11, 1), (12, 2)],
        None,
    ),
    (
        "a truncation alone drops the suffix",
        &[(10, 0, &[1, 1, 1]), (11, 1, &[])],
        &[(10, 1)],
        None,
    ),
    (
        "a truncation with entries replaces the suffix",
        &[(10, 0, &[1, 1, 1]), (11, 1, &[2, 2]), (13, 1, &[3])],
        &[(10, 1), (11, 2), (12, 2), (13, 3)],
        None,
    ),
    (
        "a truncation followed by entries",
        &[(10, 0, &[1, 1, 1]), (12, 1, &[]), (12, 1, &[4])],
        &[(10, 1), (11, 1), (12, 4)],
        None,
    ),
    (
        "an earlier index needs a newer generation",
        &[(10, 3, &[1, 1, 1]), (11, 3, &[1])],
        &[(10, 1), (11, 1), (12, 1)],
        Some("an earlier index without a newer generation: not a truncation"),
    ),
    (
        "an older generation after a truncation is stale",
        &[(10, 0, &[1, 1]), (11, 1, &[2]), (12, 0, &[2])],
        &[(10, 1), (11, 2)],
        Some("batch of an older generation after a truncation"),
    ),
    (
        "no truncation reaches the segment's first entry",
        &[(10, 0, &[1, 1]), (10, 1, &[2])],
        &[(10, 1), (11, 1)],
        Some("batch index out of sequence"),
    ),
    (
        "a gap",
        &[(10, 0, &[1]), (12, 0, &[1])],
        &[(10, 1)],
        Some("batch index out of sequence"),
    ),
    (
        "a truncation that removes nothing",
        &[(10, 0, &[1]), (11, 1, &[])],
        &[(10, 1)],
        Some("a truncation that removes nothing"),
    ),
    (
        "a replacement's term is checked against the entry before the cut",
        &[(10, 0, &[1, 5, 5]), (12, 1, &[4])],
        &[(10, 1), (11, 5), (12, 5)],
        Some("batch term decreases"),
    ),
    (
        "and may be below the term of what it replaces",
        &[(10, 0, &[1, 5, 5]), (11, 1, &[2])],
        &[(10, 1), (11, 2)],
        None,
    ),
];

#[test]
fn the_scan_follows_appends_and_truncations() {
    for &(case, batches, live, anomaly) in ROWS {
        let buf = Bytes::from(segment(10, batches));
        let mut collected = Vec::new();
        let collect = Collect {
            buf: &buf,
            into: &mut collected,
            above: 0,
        };
        let s = scan(&buf, Some(collect), 10, 0, 1 << 20, false);
        let got: Vec<(u64, u64)> = collected.iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(got, live, "{case}");
        assert_eq!(s.anomaly.map(|a| a.1), anomaly, "{case}");
        assert_eq!(s.offsets.len(), live.len(), "{case}");
        assert_eq!(s.next_index, 10 + live.len() as u64, "{case}");
        for (e, &at) in collected.iter().zip(&s.offsets) {
            // Each entry's offset is its batch's, and its payload names the batch's generation.
            let b = crate::record::decode_batch(&buf[at as usize..], 1 << 20, false).unwrap();
            let from = b
                .entries()
                .find(|x| x.index == e.index)
                .expect("its batch holds it");
            assert_eq!(from.payload, &e.payload[..], "{case}");
        }
    }
}

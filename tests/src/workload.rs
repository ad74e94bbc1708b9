//! What the crashee and the kill test agree on: the payload of every `(index, term)`, the
//! store configuration, and how strategy and policy are spelled on the command line.

use logbook::{Config, FlushPolicy, Strategy};

/// One step of splitmix64: a cheap, good-enough mixer for deterministic test bytes.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The payload of the entry `(index, term)`: a header naming the index and term (so a dump
/// of a segment is readable, and a payload moved to another index or term cannot match),
/// then bytes from a generator seeded by both. Lengths vary from a few dozen bytes to a few
/// KiB, so records straddle the 16 KiB segment boundary at changing offsets.
pub fn payload(index: u64, term: u64) -> Vec<u8> {
    let mut state = index.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ term.rotate_left(29) ^ 0x6C62;
    let pick = splitmix64(&mut state);
    let len = match pick % 100 {
        0..=2 => 1024 + (pick >> 8) % 3072,
        3..=9 => 300 + (pick >> 8) % 700,
        _ => 24 + (pick >> 8) % 200,
    } as usize;
    let mut out = format!("i{index}t{term};").into_bytes();
    let len = len.max(out.len());
    while out.len() < len {
        out.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Whether `bytes` is exactly the payload of `(index, term)`.
pub fn payload_matches(index: u64, term: u64, bytes: &[u8]) -> bool {
    payload(index, term) == bytes
}

/// Segment size used by the kill test: small, so that rotation happens every ~100 entries.
pub const SEGMENT_SIZE_BYTES: u64 = 16 * 1024;

/// The configuration both the crashee and the checker open the store with.
pub fn store_config(strategy: Strategy, flush: FlushPolicy, segment_size_bytes: u64) -> Config {
    Config::new(strategy, flush)
        .with_segment_size_bytes(segment_size_bytes)
        // Small caches, so DiskFirst reads (the truncation's look-up of `from - 1`, the
        // checker's reads) really go to the segment files.
        .with_cache_entries_max(256)
        .with_prefetch_entries(32)
        // A low MemFirst bound, so that appends sometimes meet backpressure.
        .with_unflushed_bytes_max(256 * 1024)
}

pub fn strategy_arg(s: Strategy) -> &'static str {
    match s {
        Strategy::DiskFirst => "disk-first",
        Strategy::MemFirst => "mem-first",
    }
}

pub fn parse_strategy(s: &str) -> Option<Strategy> {
    match s {
        "disk-first" => Some(Strategy::DiskFirst),
        "mem-first" => Some(Strategy::MemFirst),
        _ => None,
    }
}

/// `immediate`, `batch:<threshold>:<interval_ms>` or `adaptive:<delay_max_us>`.
pub fn policy_arg(p: FlushPolicy) -> String {
    match p {
        FlushPolicy::Immediate => "immediate".to_string(),
        FlushPolicy::Batch {
            threshold,
            interval_ms,
        } => format!("batch:{threshold}:{interval_ms}"),
        FlushPolicy::Adaptive { delay_max_us } => format!("adaptive:{delay_max_us}"),
    }
}

pub fn parse_policy(s: &str) -> Option<FlushPolicy> {
    if s == "immediate" {
        return Some(FlushPolicy::Immediate);
    }
    if let Some(us) = s.strip_prefix("adaptive:") {
        return us
            .parse()
            .ok()
            .map(|delay_max_us| FlushPolicy::Adaptive { delay_max_us });
    }
    let mut parts = s.strip_prefix("batch:")?.split(':');
    let threshold = parts.next()?.parse().ok()?;
    let interval_ms = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(FlushPolicy::Batch {
        threshold,
        interval_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_deterministic_and_names_its_entry() {
        assert_eq!(payload(7, 3), payload(7, 3));
        assert_ne!(payload(7, 3), payload(7, 4));
        assert_ne!(payload(7, 3), payload(8, 3));
        assert!(payload(123, 45).starts_with(b"i123t45;"));
        assert!(payload_matches(9, 2, &payload(9, 2)));
        let lens: Vec<usize> = (1..2000).map(|i| payload(i, 1).len()).collect();
        assert!(lens.iter().any(|&l| l > 1024), "no large payloads");
        assert!(lens.iter().all(|&l| l >= 8));
    }

    #[test]
    fn args_round_trip() {
        for p in [
            FlushPolicy::Immediate,
            FlushPolicy::Batch {
                threshold: 16,
                interval_ms: 2,
            },
        ] {
            assert_eq!(parse_policy(&policy_arg(p)), Some(p));
        }
        for s in [Strategy::DiskFirst, Strategy::MemFirst] {
            assert_eq!(parse_strategy(strategy_arg(s)), Some(s));
        }
        assert_eq!(parse_policy("batch:1"), None);
    }
}

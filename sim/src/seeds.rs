//! One `u64` seed, split into independent streams, so that changing a fault rate does not
//! reshuffle the workload and adding an operation does not reshuffle the faults.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The independent random streams of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Workload = 1,
    Faults = 2,
    SwarmToggles = 3,
    CrashPoints = 4,
    Payloads = 5,
    Archive = 6,
}

/// SplitMix64: a bijective mix so that nearby seeds give unrelated streams.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn stream_seed(seed: u64, stream: Stream) -> u64 {
    mix(mix(seed) ^ (stream as u64).wrapping_mul(0xA076_1D64_78BD_642F))
}

pub fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(stream_seed(seed, stream))
}

/// The configuration of one open under a scenario with `engine.snapshot_hint`
/// (`hint_seed`): a hint drawn from the seed and `salt` (the disk's call count, so every
/// open and every attempt draws anew) in `0..=last_index + 2`, past the end included.
pub fn open_config(
    cfg: &logbook::Config,
    hint_seed: Option<u64>,
    salt: u64,
    last_index: u64,
) -> logbook::Config {
    match hint_seed {
        None => cfg.clone(),
        Some(s) => {
            let hint = mix(s ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % (last_index + 3);
            cfg.clone().with_snapshot_hint(Some(hint))
        }
    }
}

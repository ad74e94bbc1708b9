//! Seeds that once failed, kept as tests: each runs its scenario's seed and requires every
//! invariant to hold. One row per bug, with what it was.

use std::path::Path;

use logbook_sim::run::{run, RunSpec};
use logbook_sim::scenario::Scenario;

/// (scenario, seed, the bug it found)
const SEEDS: &[(&str, u64, &str)] = &[
    (
        "recovery-crashes",
        1394,
        "format 2: a DiskFirst purge saved its boundary while a truncation written in place \
     was still owed to the next sync; a crash lost the cut and the removal of the segment \
     the boundary made a purge leftover, so it came back holding entries above the \
     boundary (invariant 7: reported as corruption)",
    ),
    (
        "recovery-crashes-mem-first",
        861,
        "the same in a MemFirst flush that wrote the owed truncation and saved the new \
     boundary",
    ),
    (
        "store-disk-first-batch",
        1586,
        "a write of the pending batches failed (disk full) and poisoned the log, but the \
         segment's index still pointed at them: a later read's prefetch decoded zeros there \
         and reported corruption; the index now forgets a failed write, and a read of an \
         entry it dropped gets Error::Poisoned",
    ),
    ("store-disk-first-batch", 2293, "the same"),
    ("store-wakeups-changed", 1716, "the same"),
    (
        "torn-heavy",
        1225,
        "format 3: a checkpoint slot was written before a sync job with no fsync of its \
         segment (a durable truncation had made it active again); the next slot write, \
         before any fsync, replaced the newest durable slot, a crash tore both, and the \
         open trusted an older slot and cut durable entries",
    ),
    (
        "torn-heavy",
        382,
        "format 3: an intact slot whose range ends in a truncation (its index below where \
         the range began) was read as damaged, so the next slot reused its number and \
         overwrote the newest durable slot",
    ),
    ("recovery-crashes", 20, "both at once"),
];

#[test]
fn seeds_that_once_failed_pass() {
    for &(scenario, seed, bug) in SEEDS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(format!("{scenario}.toml"));
        let r = run(&RunSpec::new(Scenario::load(&path).unwrap(), seed));
        assert!(
            r.failure.is_none(),
            "{scenario} seed {seed} ({bug}): {:?}",
            r.failure
        );
    }
}

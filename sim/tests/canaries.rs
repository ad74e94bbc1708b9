//! The harness proves itself: each canary (a classic durability bug switched back on in the
//! engine, or in its threaded front) must be caught by the in-contract scenarios within 1,000
//! seeds.

use std::path::Path;

use logbook::Canary;
use logbook_sim::run::RunSpec;
use logbook_sim::scenario::{Expect, Scenario};
use logbook_sim::swarm::run_seed;

const SEEDS_MAX: u64 = 1000;

/// The in-contract scenarios that exercise what each canary breaks.
fn scenarios_for(canary: Canary) -> &'static [&'static str] {
    match canary {
        Canary::AckBeforeFsync | Canary::PurgeBeforeBoundaryDurable => {
            &["disk-first-immediate", "torn-heavy"]
        }
        Canary::SkipDirSync => &["torn-heavy", "disk-first-batch"],
        Canary::SkipChecksum | Canary::SilentCorruptionCut => &["bit-rot", "bit-rot-disk-first"],
        Canary::HardStateNoFsync => &["disk-first-immediate", "mem-first-immediate"],
        Canary::TruncateNotDurable => &["torn-heavy", "recovery-crashes"],
        Canary::MemFirstEarlyDurable => &["mem-first-immediate", "mem-first-batch"],
        // A bug of the async front: hunted by the madsim linearizability test instead.
        Canary::StaleReadAfterTruncate => &[],
        // Bugs of the threaded front: hunted by the store scenarios (`front = "store"`),
        // which run the real `Store` under a seeded shuttle schedule.
        Canary::WaiterEarlyRelease | Canary::RelayUncovered => {
            &["store-disk-first-immediate", "store-disk-first-batch"]
        }
        Canary::CallbackBeyondDurable => &["store-mem-first-batch", "store-disk-first-immediate"],
        Canary::FlusherSkipsBatch => &["store-disk-first-batch", "store-mem-first-batch"],
        Canary::WriteAfterPoison => &["store-disk-first-immediate", "store-mem-first-batch"],
        Canary::ColdOutlivesTruncate => {
            &["mem-first-snapshot-hint", "store-mem-first-snapshot-hint"]
        }
        // A move of a segment to the archive tier that deletes it locally first.
        Canary::ArchiveDeleteBeforeManifest => &["tiered-disk-first", "tiered-mem-first"],
        // A lost wake-up is acknowledged all the same (the waiter's park times out): only
        // the wake-up count of a store run (`Store::wakeups`) catches it.
        Canary::LostWakeup => &["store-wakeups-disk-first", "store-disk-first-batch"],
        // A missed kick of the flusher is only latency (it looks again within 100 ms): only
        // the late flusher wake-ups a store run counts (`Wakeups::flusher_late`) catch it.
        Canary::MissedFlusherKick => &["store-mem-first-batch", "store-disk-first-immediate"],
        // A checkpoint slot one sync late: an open trusts the older slot and cuts the last
        // sync's acknowledged entries.
        Canary::CheckpointAfterFsync => &["disk-first-immediate", "torn-heavy"],
    }
}

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    let s = Scenario::load(&path).unwrap();
    assert_eq!(
        s.spec.expect,
        Expect::Pass,
        "canaries are hunted with in-contract scenarios"
    );
    s
}

/// The first seed (and scenario) that catches `canary`, if any within `SEEDS_MAX`.
fn seeds_to_detection(canary: Canary) -> Option<(u64, String, String)> {
    let scenarios: Vec<Scenario> = scenarios_for(canary).iter().map(|n| load(n)).collect();
    for seed in 0..SEEDS_MAX {
        for sc in &scenarios {
            let mut spec = RunSpec::new(sc.clone(), seed);
            spec.canaries = spec.canaries.with(canary);
            if let Some(f) = run_seed(&spec, false).failure {
                return Some((seed, sc.name.clone(), f.detail));
            }
        }
    }
    None
}

#[test]
fn every_canary_is_caught_within_a_thousand_seeds() {
    std::panic::set_hook(Box::new(|_| {}));
    let mut missed = Vec::new();
    for canary in Canary::ALL
        .into_iter()
        .filter(|c| !scenarios_for(*c).is_empty())
    {
        match seeds_to_detection(canary) {
            Some((seed, scenario, detail)) => {
                println!(
                    "canary {:<30} caught at seed {seed:>4} by {scenario}: {detail}",
                    canary.name()
                )
            }
            None => missed.push(canary.name()),
        }
    }
    let _ = std::panic::take_hook();
    assert!(
        missed.is_empty(),
        "canaries never caught in {SEEDS_MAX} seeds: {missed:?}"
    );
}

#[test]
fn the_clean_engine_passes_the_same_seeds() {
    for canary in Canary::ALL {
        for name in scenarios_for(canary) {
            let sc = load(name);
            for seed in 0..3 {
                let out = run_seed(&RunSpec::new(sc.clone(), seed), false);
                assert!(
                    out.failure.is_none(),
                    "{name} seed {seed}: {:?}",
                    out.failure
                );
            }
        }
    }
}

#[test]
fn shrink_reduces_a_canary_failure_to_a_replayable_schedule() {
    use logbook_sim::run::run;
    use logbook_sim::shrink::{parse_schedule, schedule_text, shrink};
    std::panic::set_hook(Box::new(|_| {}));
    let mut spec = RunSpec::new(load("disk-first-immediate"), 0);
    spec.canaries = spec.canaries.with(Canary::AckBeforeFsync);
    let original = run(&spec);
    let invariant = original
        .failure
        .as_ref()
        .expect("the canary fails seed 0")
        .violation
        .invariant;
    let shrunk = shrink(&spec).expect("a failing seed shrinks");
    let ops = shrunk.spec.schedule.clone().unwrap();
    println!(
        "shrunk {} ops to {} ({} fault kinds off) in {} runs",
        shrunk.ops_before,
        ops.len(),
        shrunk.spec.disabled_faults.len(),
        shrunk.runs
    );
    assert!(
        ops.len() * 4 < shrunk.ops_before,
        "{} of {} ops left",
        ops.len(),
        shrunk.ops_before
    );
    assert_eq!(
        shrunk.failure.violation.invariant, invariant,
        "the same invariant still breaks"
    );
    // The schedule file round-trips and replays the same failure.
    let (parsed, disabled) = parse_schedule(&schedule_text(&shrunk.spec)).unwrap();
    assert_eq!(parsed, ops);
    let mut replay = spec.clone();
    replay.schedule = Some(parsed);
    replay.disabled_faults = disabled;
    assert_eq!(
        run(&replay).failure.map(|f| f.violation.invariant),
        Some(invariant)
    );
    // Without the canary the same schedule passes: the failure is the bug, not the harness.
    replay.canaries = Default::default();
    assert!(run(&replay).failure.is_none());
    let _ = std::panic::take_hook();
}

//! The store scenarios (`front = "store"`): the real `Store` under a seeded shuttle schedule
//! replays byte for byte, and a failure shrinks to a schedule that replays it.

use std::path::Path;

use logbook::Canary;
use logbook_sim::run::{run, RunSpec};
use logbook_sim::scenario::{Front, Scenario};
use logbook_sim::shrink::{parse_schedule, schedule_text, shrink};

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    let s = Scenario::load(&path).unwrap();
    assert_eq!(s.spec.front, Front::Store);
    s
}

#[test]
fn the_same_seed_gives_the_same_schedule_and_trace() {
    for name in [
        "store-disk-first-immediate",
        "store-disk-first-batch",
        "store-mem-first-immediate",
        "store-mem-first-batch",
    ] {
        let sc = load(name);
        let mut digests = Vec::new();
        for seed in 0..4 {
            let mut spec = RunSpec::new(sc.clone(), seed);
            spec.record_trace = true;
            let a = run(&spec);
            let b = run(&spec);
            assert_eq!(a.digest, b.digest, "{name} seed {seed}");
            assert_eq!(a.trace, b.trace, "{name} seed {seed}");
            assert!(a.failure.is_none(), "{name} seed {seed}: {:?}", a.failure);
            assert!(a.stats.ops > 0 && a.stats.recoveries > 0);
            digests.push(a.digest);
        }
        digests.dedup();
        assert!(digests.len() > 1, "{name}: every seed gave the same run");
    }
}

#[test]
fn a_store_failure_shrinks_to_a_schedule_that_replays_it() {
    std::panic::set_hook(Box::new(|_| {}));
    let sc = load("store-mem-first-batch");
    let mut spec = RunSpec::new(sc, 2);
    spec.canaries = spec.canaries.with(Canary::CallbackBeyondDurable);
    let invariant = run(&spec)
        .failure
        .expect("the canary fails seed 2")
        .violation
        .invariant;
    let shrunk = shrink(&spec).expect("a failing seed shrinks");
    let ops = shrunk.spec.schedule.clone().unwrap();
    assert!(
        ops.len() < shrunk.ops_before,
        "{} of {}",
        ops.len(),
        shrunk.ops_before
    );
    let (parsed, disabled) = parse_schedule(&schedule_text(&shrunk.spec)).unwrap();
    let mut replay = spec.clone();
    replay.schedule = Some(parsed);
    replay.disabled_faults = disabled;
    assert_eq!(
        run(&replay).failure.map(|f| f.violation.invariant),
        Some(invariant)
    );
    let _ = std::panic::take_hook();
}

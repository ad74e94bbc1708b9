//! The adaptive flush policy under the simulator: its scenarios pass, and its waiting path
//! (a sync held back to fill a batch) really runs in the threaded fronts, where the
//! ticker's time passes during each sync and the estimator sees writers pile up.

use std::path::Path;

use logbook_sim::scenario::Scenario;
use logbook_sim::swarm::{swarm, SwarmOptions};

fn load(name: &str) -> Scenario {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    Scenario::load(&dir.join(format!("{name}.toml"))).unwrap()
}

#[test]
fn the_adaptive_policy_holds_syncs_back_and_keeps_every_invariant() {
    let scenarios = [
        load("store-disk-first-adaptive"),
        load("store-mem-first-adaptive"),
    ];
    let opts = SwarmOptions {
        seeds: 200,
        jobs: 2,
        ..SwarmOptions::default()
    };
    let sums = swarm(&scenarios, &opts, &|_| {});
    let paced: u64 = sums.iter().map(|s| s.stats.paced_syncs).sum();
    for s in &sums {
        assert!(
            s.verdict().is_empty(),
            "{}: {:?}",
            s.scenario.name,
            s.verdict()
        );
    }
    assert!(
        paced > 0,
        "no sync was ever held back: the waiting path never ran"
    );
}

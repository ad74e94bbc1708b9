//! The newer features' own paths really run under the simulator, with power loss, and keep
//! every invariant: a scenario that passed without ever reaching its feature would prove
//! nothing. Each test sums a counter of that path over its scenarios: syncs the adaptive
//! policy held back, entries read below a hinted open's memory, segments moved to the
//! archive and the archive faults fired.

use std::path::Path;

use logbook_sim::scenario::Scenario;
use logbook_sim::swarm::{swarm, ScenarioSummary, SwarmOptions};

fn run(names: &[&str], seeds: u64, check_determinism: bool) -> Vec<ScenarioSummary> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let scenarios: Vec<Scenario> = names
        .iter()
        .map(|n| Scenario::load(&dir.join(format!("{n}.toml"))).unwrap())
        .collect();
    let opts = SwarmOptions {
        seeds,
        jobs: 2,
        check_determinism,
        ..SwarmOptions::default()
    };
    let sums = swarm(&scenarios, &opts, &|_| {});
    for s in &sums {
        assert!(
            s.verdict().is_empty(),
            "{}: {:?}",
            s.scenario.name,
            s.verdict()
        );
    }
    sums
}

/// The adaptive flush policy holds syncs back in the threaded fronts, where the ticker's
/// time passes during each sync and the estimator sees writers pile up.
#[test]
fn the_adaptive_policy_holds_syncs_back() {
    let sums = run(
        &["store-disk-first-adaptive", "store-mem-first-adaptive"],
        200,
        false,
    );
    let paced: u64 = sums.iter().map(|s| s.stats.paced_syncs).sum();
    assert!(
        paced > 0,
        "no sync was ever held back: the waiting path never ran"
    );
}

/// A snapshot-hinted open leaves entries on disk, and reads, truncations and purges meet
/// them, in the core and through `Store`.
#[test]
fn hinted_opens_read_entries_left_on_disk() {
    let sums = run(
        &["mem-first-snapshot-hint", "store-mem-first-snapshot-hint"],
        100,
        false,
    );
    for s in &sums {
        assert!(
            s.stats.cold_reads > 0,
            "{}: no entry was read below a hinted open's memory",
            s.scenario.name
        );
    }
}

/// The archive tier's scenarios move segments, replay byte for byte, and fire every archive
/// fault they have a rate for.
#[test]
fn the_tiered_scenarios_move_segments_replay_and_fire_every_archive_fault() {
    for s in run(&["tiered-disk-first", "tiered-mem-first"], 60, true) {
        assert!(
            s.stats.archived_segments > 0,
            "{}: nothing moved",
            s.scenario.name
        );
        let rates = s.scenario.spec.archive.as_ref().expect("a tiered scenario");
        for ((_, rate), (kind, n)) in rates.iter().zip(s.stats.archive.iter()) {
            assert!(
                rate == 0.0 || n > 0,
                "{}: archive fault {kind} never fired",
                s.scenario.name
            );
        }
        assert!(!s.faults_never_fired());
    }
}

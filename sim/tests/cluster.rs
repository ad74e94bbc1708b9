//! The cluster simulation: in-contract scenarios pass, each expected-violation scenario's
//! bug is caught by the check meant for it, seeds replay byte for byte, shrink keeps the
//! failure, and malformed scenario files get an error naming the field.

use std::path::{Path, PathBuf};

use logbook_sim::cluster::shrink::{scenario_toml, shrink};
use logbook_sim::cluster::{picture, run, CheckKind, ClusterScenario, RunSpec};

fn scenario(name: &str) -> ClusterScenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    ClusterScenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The first seed below `seeds_max` whose run fails, with the check that failed.
fn first_failure(name: &str, seeds_max: u64) -> Option<(u64, CheckKind)> {
    let sc = scenario(name);
    (0..seeds_max).find_map(|seed| {
        let r = run(&RunSpec::new(sc.clone(), seed));
        r.violation.map(|v| (seed, v.kind))
    })
}

#[test]
fn in_contract_scenarios_pass_and_inject_faults() {
    for name in [
        "cluster-disk-first-immediate",
        "cluster-mem-first-immediate",
        "cluster-mem-first-batch",
    ] {
        let sc = scenario(name);
        for seed in 0..2 {
            let r = run(&RunSpec::new(sc.clone(), seed));
            assert_eq!(r.violation, None, "{name} seed {seed}");
            let s = &r.stats;
            assert!(
                s.crashes > 0 && s.dropped > 0,
                "{name} seed {seed}: no faults: {s:?}"
            );
            assert!(
                s.committed > 50 && s.ops_ok > 50,
                "{name} seed {seed}: no progress: {s:?}"
            );
        }
    }
}

#[test]
fn mem_first_acking_before_durable_loses_a_committed_write() {
    let (seed, kind) = first_failure("cluster-mem-first-ack-early", 5).expect("caught");
    assert!(
        kind.loses_committed() || kind == CheckKind::Linearizability,
        "seed {seed}: {kind:?}"
    );
}

#[test]
fn a_node_that_forgets_its_vote_is_caught() {
    let (seed, kind) = first_failure("cluster-forget-vote", 20).expect("caught");
    assert_eq!(kind, CheckKind::LeaderPerTerm, "seed {seed}");
}

#[test]
fn reads_off_the_log_are_caught_by_the_history_check() {
    let (seed, kind) = first_failure("cluster-stale-reads", 5).expect("caught");
    assert_eq!(kind, CheckKind::Linearizability, "seed {seed}");
}

/// The picture of a stale read: the failing key's operations up to the window's end, the
/// window's operations (and only they) in the failure colour, drawn the same twice.
#[test]
fn the_picture_of_a_lost_linearizability_draws_the_failing_keys_window() {
    let (seed, _) = first_failure("cluster-stale-reads", 5).expect("caught");
    let mut spec = RunSpec::new(scenario("cluster-stale-reads"), seed);
    spec.record_trace = true;
    let r = run(&spec);
    let lin = r.lin.as_ref().expect("the history was checked");
    let window = lin.result.window().expect("not linearizable");
    let key = lin.failed_part.expect("a failing key");
    let html = picture::page(&spec, &r);
    assert!(html.contains("FAIL: C6 (Linearizability)"), "{html}");
    assert!(html.contains(&format!("Key {key}, the first found not linearizable")));
    let drawn = r
        .history
        .iter()
        .filter(|o| o.input.key == key && o.call <= window.end)
        .count();
    assert!(
        html.contains(&format!("its {drawn} operations called up to")),
        "{html}"
    );
    assert_eq!(html.matches("<rect ").count(), drawn);
    let (red, green, blue) = logbook_sim::html::FAILURE_RGB;
    let in_window = html
        .matches(&format!("fill=\"rgb({red},{green},{blue})\""))
        .count();
    assert_eq!(in_window, window.ops.len());
    assert!(html.contains(&format!("--seed {seed} ")) && html.contains("--html"));
    assert_eq!(
        html,
        picture::page(&spec, &run(&spec)),
        "a pure function of the seed"
    );
}

#[test]
fn a_seed_replays_byte_for_byte() {
    let sc = scenario("cluster-mem-first-batch");
    let a = run(&RunSpec::new(sc.clone(), 7));
    let b = run(&RunSpec::new(sc.clone(), 7));
    let c = run(&RunSpec::new(sc, 8));
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.stats, b.stats);
    assert_ne!(a.digest, c.digest);
}

#[test]
fn shrink_keeps_the_failure_with_fewer_faults() {
    let sc = scenario("cluster-mem-first-ack-early");
    let (seed, kind) = first_failure("cluster-mem-first-ack-early", 5).expect("caught");
    let s = shrink(&RunSpec::new(sc, seed)).expect("fails");
    assert_eq!(s.violation.kind, kind);
    assert!(!s.removed.is_empty(), "something was not needed");
    let again = run(&s.spec).violation.expect("the shrunk spec fails");
    assert_eq!(again.kind, kind);
    // The written scenario loads and, with the same seed, fails the same way.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster-shrunk.toml");
    let text = scenario_toml(&s.spec.scenario, s.spec.disk_faults);
    std::fs::write(&path, text).unwrap();
    let reloaded = ClusterScenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut spec = RunSpec::new(reloaded, seed);
    spec.disk_faults = s.spec.disk_faults;
    assert_eq!(run(&spec).violation.map(|v| v.kind), Some(kind));
}

/// A forgotten vote needs only some of the seed's crashes: the shrink skips the others by
/// number, the shrunk file says which, and replaying it fails the same way.
#[test]
fn shrink_skips_the_crashes_a_failure_does_not_need() {
    let sc = scenario("cluster-forget-vote");
    let (seed, kind) = first_failure("cluster-forget-vote", 20).expect("caught");
    let before = run(&RunSpec::new(sc.clone(), seed)).faults_fired.len();
    let s = shrink(&RunSpec::new(sc, seed)).expect("fails");
    assert_eq!(s.violation.kind, kind);
    let skipped = &s.spec.scenario.spec.skip_faults;
    assert!(!skipped.is_empty(), "no fault was skipped of {before}");
    let shrunk = run(&s.spec);
    assert_eq!(shrunk.violation.map(|v| v.kind), Some(kind));
    assert_eq!(shrunk.faults_fired.len(), s.faults_kept);
    assert!(shrunk.faults_fired.iter().all(|n| !skipped.contains(n)));
    let text = scenario_toml(&s.spec.scenario, s.spec.disk_faults);
    assert!(
        text.contains(&format!("skip_faults = {skipped:?}")),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster-shrunk.toml");
    std::fs::write(&path, text).unwrap();
    let reloaded = ClusterScenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut spec = RunSpec::new(reloaded, seed);
    spec.disk_faults = s.spec.disk_faults;
    assert_eq!(run(&spec).violation.map(|v| v.kind), Some(kind));
}

fn load_text(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster-bad.toml");
    std::fs::write(&path, text).unwrap();
    match ClusterScenario::load(Path::new(&path)) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_scenarios_name_the_field() {
    let base = "strategy = \"disk-first\"\nflush = \"immediate\"\n";
    assert!(load_text(&format!("{base}nodes = 4\n")).contains("nodes = 4"));
    assert!(load_text(&format!("{base}[network]\ndrops = 0.1\n")).contains("drops"));
    assert!(load_text(&format!("{base}[network]\ndrop = 1.5\n")).contains("network.drop"));
    assert!(load_text(&format!("{base}[faults]\nread_error = 0.1\n")).contains("read_error"));
    assert!(load_text(&format!("{base}[bug]\nack_before_durable = true\n")).contains("mem-first"));
    assert_eq!(load_text(base), "");
}

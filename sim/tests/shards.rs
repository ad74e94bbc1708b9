//! A swarm split across machines (`swarm --shard i/n --junit F` on each, then
//! `merge-junit`) reports exactly what the unsplit swarm reports; an out-of-contract
//! scenario fails the merged swarm only if no shard caught it.

use std::path::{Path, PathBuf};
use std::process::Command;

use logbook_sim::junit::{self, Case};
use logbook_sim::report;
use logbook_sim::scenario::Scenario;
use logbook_sim::swarm::{swarm, FailureClass, SwarmOptions};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn report_of(all: &[Scenario], shard: (u64, u64)) -> Vec<Case> {
    let opts = SwarmOptions {
        seeds: 9,
        jobs: 2,
        shard,
        ..SwarmOptions::default()
    };
    let text = report::junit(&swarm(all, &opts, &|_| {}), &[]);
    junit::parse(&text).expect("the swarm's own report parses")
}

#[test]
fn three_shards_merge_into_the_report_of_the_whole_swarm() {
    let all = Scenario::load_dir(&scenarios_dir()).unwrap();
    let whole = report_of(&all, (0, 1));
    let shards: Vec<Vec<Case>> = (0..3).map(|i| report_of(&all, (i, 3))).collect();
    assert!(shards.iter().all(|s| s.iter().all(|c| c.seeds == 3)));
    assert_eq!(junit::merge(&shards), whole);
    assert!(whole
        .iter()
        .all(|c| c.seeds == 9 && c.ops > 0 && c.faults > 0));
}

fn case(name: &str, seeds: u64, detections: u64, failures: &[&str]) -> Case {
    Case {
        name: name.into(),
        seeds,
        ops: 10 * seeds,
        crashes: seeds,
        checks: 5 * seeds,
        faults: 2 * seeds,
        expect_violation: name.starts_with("lying"),
        detections,
        failures: failures.iter().map(|s| s.to_string()).collect(),
    }
}

const FAIL: &str = "FAIL [invariant violation] scenario torn seed 4: invariant 1 (durable \
                    prefix): index 3 <&> \"x\" (at op 2, trace event 9)\n  replay: cargo run \
                    --release -p logbook-sim -- run --scenario scenarios/torn.toml --seed 4";

#[test]
fn a_report_reads_back_as_written() {
    let cases = vec![
        case("torn", 4, 0, &[FAIL, FAIL]),
        case("lying-fsync", 4, 3, &[]),
    ];
    assert_eq!(junit::parse(&junit::render(&cases)).unwrap(), cases);
    assert!(junit::parse("<testsuites></testsuites>").is_err());
}

/// (what each shard's lying-fsync row says: seeds, detections; the merged verdict).
const EXPECTED_VIOLATION_CASES: &[(&[(u64, u64)], bool)] = &[
    // One shard caught it, the other did not: the swarm caught it.
    (&[(4, 2), (4, 0)], false),
    (&[(4, 0), (4, 0), (4, 1)], false),
    // No shard caught it: the checkers are blind, once, not once per shard.
    (&[(4, 0), (4, 0)], true),
];

#[test]
fn an_out_of_contract_scenario_fails_the_merge_only_if_no_shard_caught_it() {
    for (rows, blind) in EXPECTED_VIOLATION_CASES {
        let shards: Vec<Vec<Case>> = rows
            .iter()
            .map(|&(seeds, found)| {
                let missing = junit::missing_violation_line("lying-fsync", seeds);
                let failures: &[&str] = if found == 0 { &[&missing] } else { &[] };
                vec![case("lying-fsync", seeds, found, failures)]
            })
            .collect();
        let merged = junit::merge(&shards);
        let seeds: u64 = rows.iter().map(|r| r.0).sum();
        assert_eq!(merged[0].seeds, seeds);
        assert_eq!(merged[0].failures.len(), usize::from(*blind), "{rows:?}");
        let worst = junit::worst(&merged);
        assert_eq!(
            worst,
            blind.then_some(FailureClass::ExpectedViolationMissing)
        );
    }
}

#[test]
fn the_cli_merges_shards_and_exits_with_the_worst_class() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, cases: &[Case]| {
        let p = dir.path().join(name);
        std::fs::write(&p, junit::render(cases)).unwrap();
        p
    };
    let a = write("a.xml", &[case("torn", 3, 0, &[FAIL])]);
    let b = write("b.xml", &[case("torn", 3, 0, &[])]);
    let out = dir.path().join("all.xml");
    let run = Command::new(env!("CARGO_BIN_EXE_logbook-sim"))
        .arg("merge-junit")
        .arg("--out")
        .arg(&out)
        .args([&a, &b])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert_eq!(stdout.matches("  replay: ").count(), 1, "{stdout}");
    let merged = junit::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!((merged[0].seeds, merged[0].failures.len()), (6, 1));
}

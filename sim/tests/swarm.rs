//! A small swarm inside `cargo test`: every in-contract scenario passes, every
//! out-of-contract one is caught, every scenario injects faults, and the CLI's contract
//! (exit codes, one replay command) holds.

use std::path::{Path, PathBuf};
use std::process::Command;

use logbook_sim::run::{run, RunSpec};
use logbook_sim::scenario::{Expect, Scenario};
use logbook_sim::swarm::{swarm, SwarmOptions};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

#[test]
fn every_scenario_meets_its_expectation_and_injects_faults() {
    let all = Scenario::load_dir(&scenarios_dir()).unwrap();
    let opts = SwarmOptions {
        seeds: 12,
        jobs: 2,
        check_determinism: true,
        ..SwarmOptions::default()
    };
    for s in swarm(&all, &opts, &|_| {}) {
        assert!(
            s.verdict().is_empty(),
            "{}: {:?}",
            s.scenario.name,
            s.verdict()
        );
        assert!(
            s.stats.crashes > 0 && s.stats.checks > 0,
            "{}: nothing was crashed or checked",
            s.scenario.name
        );
        assert!(
            !s.faults_never_fired(),
            "{}: its faults never fired",
            s.scenario.name
        );
        if s.scenario.spec.expect == Expect::Violation {
            assert!(
                !s.detections.is_empty(),
                "{}: out-of-contract faults went unnoticed",
                s.scenario.name
            );
        }
    }
}

#[test]
fn a_seed_replays_byte_for_byte() {
    let sc = Scenario::load(&scenarios_dir().join("torn-heavy.toml")).unwrap();
    for seed in [0, 7, 99] {
        let mut spec = RunSpec::new(sc.clone(), seed);
        spec.record_trace = true;
        let (a, b) = (run(&spec), run(&spec));
        assert_eq!(a.trace, b.trace, "seed {seed}");
        assert_eq!(a.digest, b.digest);
        let other = run(&RunSpec {
            seed: seed + 1000,
            ..spec.clone()
        });
        assert_ne!(
            a.digest, other.digest,
            "different seeds give different runs"
        );
    }
}

fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_logbook-sim"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_cli_keeps_its_contract() {
    // A clean swarm exits 0 and prints the summary.
    let (code, out) = cli(&[
        "swarm",
        "--seeds",
        "3",
        "--scenario",
        "scenarios/disk-first-immediate.toml",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("seeds/s"), "{out}");
    // An out-of-contract scenario run on one seed that violates exits 0 (expected).
    let (code, out) = cli(&[
        "run",
        "--scenario",
        "scenarios/lying-fsync.toml",
        "--seed",
        "0",
    ]);
    assert_eq!(code, 0, "{out}");
    // Wrong arguments and a malformed scenario: exit 64, naming the problem.
    let (code, out) = cli(&["swarm", "--shard", "3/2"]);
    assert_eq!(code, 64, "{out}");
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad-scenario.toml");
    std::fs::write(
        &bad,
        "strategy = 'disk-first'\nflush = 'immediate'\nopz = 3\n",
    )
    .unwrap();
    let (code, out) = cli(&["run", "--scenario", bad.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.contains("opz") && out.contains(bad.to_str().unwrap()),
        "{out}"
    );
}

/// A failing seed exits 1 and prints exactly one replay command, which replays it. Needs a
/// binary built with the `canary` feature (the README's `cargo test --workspace
/// --all-features`); without it, the CLI must refuse `--canary` clearly instead.
#[test]
fn a_failing_seed_exits_1_with_exactly_one_replay_command() {
    let args = [
        "swarm",
        "--seeds",
        "2",
        "--scenario",
        "scenarios/disk-first-immediate.toml",
        "--canary",
        "ack-before-fsync",
    ];
    let (code, out) = cli(&args);
    if !cfg!(feature = "canary") {
        assert_eq!(code, 64, "{out}");
        assert!(out.contains("--features canary"), "{out}");
        return;
    }
    assert_eq!(code, 1, "{out}");
    let fails = out
        .lines()
        .filter(|l| l.starts_with("FAIL [invariant violation]"))
        .count();
    let replays: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("replay: "))
        .collect();
    assert!(fails >= 1, "{out}");
    assert_eq!(
        replays.len(),
        fails,
        "one replay command per failing seed:\n{out}"
    );
    // The printed command replays the failure: it builds the canary in, and its arguments
    // run through the same binary give the same violation.
    let cmd = replays[0];
    assert!(
        cmd.starts_with("cargo run --release -p logbook-sim --features canary -- run "),
        "{cmd}"
    );
    let run_args: Vec<&str> = cmd
        .split(" -- ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    let trace = std::env::temp_dir().join(format!("replay-{}.txt", std::process::id()));
    let mut run_args: Vec<String> = run_args.iter().map(|s| s.to_string()).collect();
    let t = run_args.iter().position(|a| a == "--trace").unwrap();
    run_args[t + 1] = trace.display().to_string();
    let html = std::env::temp_dir().join(format!("replay-{}.html", std::process::id()));
    let h = run_args.iter().position(|a| a == "--html").unwrap();
    run_args[h + 1] = html.display().to_string();
    let refs: Vec<&str> = run_args.iter().map(String::as_str).collect();
    let (code, out) = cli(&refs);
    assert_eq!(code, 1, "{out}");
    assert!(
        std::fs::read_to_string(&trace)
            .unwrap()
            .contains("VIOLATION"),
        "the trace ends in the violation"
    );
    // The same command draws the failure's picture.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("FAIL: invariant 1 (durable prefix)"),
        "{page}"
    );
}

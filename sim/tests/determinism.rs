//! Snapshots of the trace digest and head of a few fixed seeds: any change to what a seed
//! does shows up in review as a snapshot diff.
//!
//! These are golden traces: they change with any new `Fs` call the engine makes, any new
//! random draw of the simulated disk, any new trace line. That is their point (a change of
//! behaviour must be seen), not a failure of determinism (`swarm --check-determinism`
//! checks that). After an intended change, review the new traces and accept them:
//!
//! ```text
//! cargo insta review            # with cargo-insta installed; or, to accept all at once:
//! INSTA_UPDATE=always cargo test -p logbook-sim --test determinism
//! ```
//!
//! and say in the commit why the trace changed.

use std::path::Path;

use logbook_sim::run::{run, RunSpec};
use logbook_sim::scenario::Scenario;

fn digest_and_head(scenario: &str, seed: u64) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{scenario}.toml"));
    let mut spec = RunSpec::new(Scenario::load(&path).unwrap(), seed);
    spec.record_trace = true;
    let r = run(&spec);
    let head: Vec<&str> = r.trace.iter().take(24).map(String::as_str).collect();
    format!(
        "digest {:016x}\nevents {}\nfailure {:?}\n{}",
        r.digest,
        r.trace.len(),
        r.failure.map(|f| f.violation.invariant),
        head.join("\n")
    )
}

#[test]
fn disk_first_batch_seed_1() {
    insta::assert_snapshot!(digest_and_head("disk-first-batch", 1));
}

#[test]
fn mem_first_immediate_seed_2() {
    insta::assert_snapshot!(digest_and_head("mem-first-immediate", 2));
}

#[test]
fn torn_heavy_seed_3() {
    insta::assert_snapshot!(digest_and_head("torn-heavy", 3));
}

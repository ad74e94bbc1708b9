//! The canary of `scripts/check-self-contained`, the CI check that no tracked file reads or
//! names a path outside the repository: in a scratch git repository holding the script, a
//! file that names the development-only sibling folder must fail the check (naming the file
//! and line), and the same tree without it must pass.

use std::path::Path;
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn check(dir: &Path) -> Output {
    Command::new("bash")
        .arg("scripts/check-self-contained")
        .current_dir(dir)
        .output()
        .expect("bash runs")
}

/// Each case: a tracked file's text, and whether the check must reject it. The rejected
/// texts are spelled in pieces so that this file does not trip the check itself.
const CASES: &[(&str, bool)] = &[
    ("see the contract in docs/DESIGN.md\n", false),
    ("let dir = root.join(\"tests/data/jepsen-etcd\");\n", false),
    (concat!("the contract is ../sha", "red/DESIGN.md\n"), true),
    (concat!("manifest.join(\"..", "/../data\");\n"), true),
    (
        concat!("- command: /", "work/bench-target/release/logbook-bench\n"),
        true,
    ),
];

#[test]
fn the_check_rejects_exactly_the_files_that_name_a_path_outside_the_repository() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check-self-contained");
    for (i, (text, rejected)) in CASES.iter().enumerate() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir(repo.path().join("scripts")).unwrap();
        std::fs::copy(&script, repo.path().join("scripts/check-self-contained")).unwrap();
        std::fs::write(repo.path().join("notes.md"), text).unwrap();
        git(repo.path(), &["init", "-q"]);
        git(repo.path(), &["add", "-A"]);
        let out = check(repo.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            !out.status.success(),
            *rejected,
            "case {i} {text:?}: {out:?}"
        );
        if *rejected {
            assert!(
                stderr.contains("notes.md:1:"),
                "case {i}: names the file: {stderr}"
            );
        }
    }
}

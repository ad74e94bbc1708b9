//! The linearizability checker against real Jepsen etcd histories with known verdicts
//! (`sim/tests/data/jepsen-etcd`, from the Porcupine checker's test data, MIT licence; its
//! README says where they come from).
//!
//! Prints a table of the time each history took (reported only, never asserted on).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use logbook_sim::linearizability::{load_jepsen_log, CasRegister, CheckResult, Checker};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jepsen-etcd")
}

/// How many histories `VERDICTS.tsv` lists, and how many of them are linearizable: an
/// emptied or half-copied corpus must fail, not pass by checking nothing.
const HISTORIES: usize = 52;
const LINEARIZABLE: usize = 11;

/// `(file name, linearizable?)` from `VERDICTS.tsv`.
fn verdicts(dir: &Path) -> Vec<(String, bool)> {
    let path = dir.join("VERDICTS.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the Jepsen corpus is missing: cannot read {}: {e}",
            path.display()
        )
    });
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(name), Some(verdict), None) = (fields.next(), fields.next(), fields.next())
        else {
            panic!(
                "{}:{}: expected `<file>\\t<verdict>`",
                path.display(),
                i + 1
            );
        };
        let linearizable = match verdict.trim() {
            "linearizable" => true,
            "not-linearizable" => false,
            other => panic!("{}:{}: unknown verdict `{other}`", path.display(), i + 1),
        };
        out.push((name.trim().to_string(), linearizable));
    }
    assert!(!out.is_empty(), "{} lists no history", path.display());
    out
}

#[test]
fn jepsen_etcd_histories_get_their_known_verdicts() {
    let dir = data_dir();
    assert!(
        dir.is_dir(),
        "the Jepsen corpus is missing: {} is not a directory",
        dir.display()
    );
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<14} {:>5} {:>7} {:<17} {:>9} {:>10}",
        "history", "ops", "pending", "verdict", "steps", "time"
    );
    let mut failures = Vec::new();
    let mut checked_count = (0, 0);
    let (mut total, mut slowest) = (Duration::ZERO, (Duration::ZERO, String::new()));
    for (name, want) in verdicts(&dir) {
        let history = match load_jepsen_log(&dir.join(&name)) {
            Ok(h) => h,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let pending = history.ops().iter().filter(|o| o.is_pending()).count();
        let start = Instant::now();
        let checked = Checker::new().check(&CasRegister, &history);
        let took = start.elapsed();
        total += took;
        if took > slowest.0 {
            slowest = (took, name.clone());
        }
        let got = match &checked.result {
            CheckResult::Linearizable { .. } => "linearizable".to_string(),
            CheckResult::NotLinearizable { window } => {
                format!("not-lin @{}/{}", window.ops.len(), history.len())
            }
            CheckResult::Unknown { .. } => "unknown".to_string(),
        };
        let _ = writeln!(
            table,
            "{name:<14} {:>5} {pending:>7} {got:<17} {:>9} {:>8.2}ms",
            history.len(),
            checked.steps,
            took.as_secs_f64() * 1e3
        );
        checked_count.0 += 1;
        checked_count.1 += usize::from(want);
        match (&checked.result, want) {
            (CheckResult::Linearizable { .. }, true) => {}
            (CheckResult::NotLinearizable { window }, false) => {
                if !window.minimal {
                    failures.push(format!("{name}: the window was not narrowed"));
                }
            }
            (result, _) => failures.push(format!(
                "{name}: expected {}, got {result}",
                if want {
                    "linearizable"
                } else {
                    "not linearizable"
                }
            )),
        }
    }
    let _ = writeln!(
        table,
        "total {:.2}ms, slowest {} at {:.2}ms",
        total.as_secs_f64() * 1e3,
        slowest.1,
        slowest.0.as_secs_f64() * 1e3
    );
    println!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        checked_count,
        (HISTORIES, LINEARIZABLE),
        "(histories checked, of which linearizable)"
    );
}

/// The first violation in etcd_000.log, as the checker reports it (a smoke test of the
/// report's shape on real data).
#[test]
fn a_real_violation_is_reported_with_its_window() {
    let dir = data_dir();
    let history = match load_jepsen_log(&dir.join("etcd_000.log")) {
        Ok(h) => h,
        Err(e) => panic!("the Jepsen corpus is missing or unreadable: {e}"),
    };
    let result = Checker::new().check(&CasRegister, &history).result;
    let Some(window) = result.window() else {
        panic!("etcd_000.log must not be linearizable, got {result}");
    };
    assert!(window.minimal);
    assert!(window.ops.iter().any(|(id, _)| *id == window.last));
    assert!(window.ops.len() <= history.len());
    let text = result.to_string();
    assert!(text.contains(&format!("=> #{}", window.last)), "{text}");
    println!("{text}");
}

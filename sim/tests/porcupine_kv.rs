//! The linearizability checker on Porcupine's own key-value histories
//! (`sim/tests/data/porcupine-kv`, MIT licence; its README gives the format), partitioned
//! by key as Porcupine checks them.
//!
//! The test asserts each file's verdict; it prints the time each took, which is reported,
//! never asserted on. For the timing that compares with Porcupine (under a second for
//! `c50-ok` on this class of machine), run it optimised:
//! `cargo test --release -p logbook-sim --test porcupine_kv -- --nocapture`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use logbook_sim::linearizability::{
    CheckResult, Checker, History, Kv, KvInput, KvOp, KvOutput, OpId,
};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/porcupine-kv")
}

/// One parsed line: `{:process P, :type T, :f F, :key "K", :value V}`.
struct Line {
    process: u64,
    kind: String,
    f: String,
    key: u64,
    /// `None` for `nil`.
    value: Option<String>,
}

/// Parses one line, or says what is wrong with it.
fn parse_line(line: &str) -> Result<Line, String> {
    let body = line
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .ok_or("not a {...} map")?;
    // Values hold no ", :" and keys come in a fixed order, so splitting is enough.
    let fields: Vec<&str> = body.splitn(5, ", :").collect();
    let [process, kind, f, key, value] = fields[..] else {
        return Err("expected 5 fields".into());
    };
    let field = |text: &str, name: &str| {
        text.trim_start_matches(':')
            .strip_prefix(name)
            .map(str::to_string)
            .ok_or(format!("expected field {name}"))
    };
    let quoted = |text: String| {
        text.strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .map(str::to_string)
            .ok_or(format!("expected a string, got {text}"))
    };
    let value = field(value, "value ")?;
    Ok(Line {
        process: field(process, "process ")?
            .parse()
            .map_err(|e| format!("bad process: {e}"))?,
        kind: field(kind, "type :")?,
        f: field(f, "f :")?,
        key: quoted(field(key, "key ")?)?
            .parse()
            .map_err(|e| format!("bad key: {e}"))?,
        value: if value == "nil" {
            None
        } else {
            Some(quoted(value)?)
        },
    })
}

/// A Porcupine kv file as a history; an operation with no `:ok` stays pending.
fn load(path: &Path) -> History<KvInput, KvOutput> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the Porcupine corpus is missing: {}: {e}", path.display()));
    let mut history = History::new();
    let mut outstanding: BTreeMap<u64, OpId> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        let line = parse_line(raw.trim()).unwrap_or_else(|e| panic!("{}: {e}", at()));
        match line.kind.as_str() {
            "invoke" => {
                let op = match (line.f.as_str(), line.value) {
                    ("get", None) => KvOp::Get,
                    ("put", Some(v)) => KvOp::Put(v),
                    ("append", Some(v)) => KvOp::Append(v),
                    (f, v) => panic!("{}: bad invocation {f} {v:?}", at()),
                };
                let id = history
                    .invoke(line.process, KvInput { key: line.key, op })
                    .unwrap_or_else(|e| panic!("{}: {e}", at()));
                let before = outstanding.insert(line.process, id);
                assert!(
                    before.is_none(),
                    "{}: the process has an operation outstanding",
                    at()
                );
            }
            "ok" => {
                let id = outstanding
                    .remove(&line.process)
                    .unwrap_or_else(|| panic!("{}: nothing outstanding", at()));
                let output = match (line.f.as_str(), line.value) {
                    ("get", Some(v)) => KvOutput::Value(v),
                    ("put" | "append", _) => KvOutput::Ok,
                    (f, v) => panic!("{}: bad return {f} {v:?}", at()),
                };
                history
                    .complete(id, output)
                    .unwrap_or_else(|e| panic!("{}: {e}", at()));
            }
            other => panic!("{}: unknown type {other}", at()),
        }
    }
    history
}

/// `(file, operations, linearizable?)`: Porcupine's verdicts, and the sizes that show the
/// whole file was read.
const CORPUS: [(&str, usize, bool); 6] = [
    ("c01-ok", 58, true),
    ("c01-bad", 38, false),
    ("c10-ok", 337, true),
    ("c10-bad", 405, false),
    ("c50-ok", 1712, true),
    ("c50-bad", 2024, false),
];

/// Search steps per key before the verdict is "unknown" (c50-ok needs about 1.1 million
/// over all its keys).
const STEPS_MAX: u64 = 5_000_000;

#[test]
fn porcupine_kv_histories_get_their_known_verdicts_per_key() {
    let mut failures = Vec::new();
    for (name, ops, want) in CORPUS {
        let history = load(&data_dir().join(format!("{name}.txt")));
        let started = Instant::now();
        // A budget turns a regression into a failure instead of a hang.
        let checked =
            Checker::new()
                .max_steps(STEPS_MAX)
                .check_partitioned(&Kv, &history, KvInput::key);
        let took = started.elapsed();
        println!(
            "{name:<8} {:>5} ops, {:>2} keys ({:>2} searched), {:>9} steps, {:<22} {:>9.2} ms",
            history.len(),
            checked.parts,
            checked.parts_checked,
            checked.steps,
            match &checked.result {
                CheckResult::Linearizable { .. } => "linearizable".to_string(),
                CheckResult::NotLinearizable { .. } => format!(
                    "not linearizable, key {:?}",
                    checked.failed_part.unwrap_or(0)
                ),
                CheckResult::Unknown { .. } => "unknown".to_string(),
            },
            took.as_secs_f64() * 1e3
        );
        if history.len() != ops {
            failures.push(format!(
                "{name}: {} operations, expected {ops}",
                history.len()
            ));
        }
        match (&checked.result, want) {
            (CheckResult::Linearizable { .. }, true)
            | (CheckResult::NotLinearizable { .. }, false) => {}
            (result, _) => failures.push(format!(
                "{name}: expected linearizable = {want}, got {result}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

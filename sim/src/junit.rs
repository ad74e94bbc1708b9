//! The swarm's JUnit report: writing it, reading it back, and merging the reports of the
//! shards of one swarm (`swarm --shard i/n` on n CI machines) into the report of the whole.
//!
//! A merge is not a concatenation. An out-of-contract scenario passes when *any* seed finds
//! its violation, so a shard whose seeds found none has not failed the swarm: the merge
//! drops the per-shard "expected violation not seen" verdicts and adds one back only if no
//! shard found a violation. Counts are summed; every other failure line (with its replay
//! command, which names the scenario and seed, never the shard) is kept as it was.

use std::fmt::Write as _;

use crate::swarm::FailureClass;

/// One scenario's row of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub seeds: u64,
    pub ops: u64,
    pub crashes: u64,
    pub checks: u64,
    pub faults: u64,
    /// An out-of-contract scenario: it must find a violation.
    pub expect_violation: bool,
    /// Seeds on which it found one.
    pub detections: u64,
    /// One entry per failure: its `FAIL [...]` line and the replay line under it.
    pub failures: Vec<String>,
}

/// Why a report could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a logbook-sim JUnit report: {0}")]
pub struct ParseError(String);

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The report of `cases`.
pub fn render(cases: &[Case]) -> String {
    let failing = cases.iter().filter(|c| !c.failures.is_empty()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites><testsuite name=\"logbook-sim swarm\" tests=\"{}\" failures=\"{failing}\">",
        cases.len()
    );
    for c in cases {
        let _ = write!(
            out,
            "  <testcase classname=\"swarm\" name=\"{}\">",
            escape(&c.name)
        );
        if !c.failures.is_empty() {
            let _ = write!(
                out,
                "<failure message=\"{} failing seeds\">{}</failure>",
                c.failures.len(),
                escape(&c.failures.join("\n"))
            );
        }
        let _ = writeln!(
            out,
            "<system-out>seeds={} ops={} crashes={} checks={} faults={} expect={} \
             detections={}</system-out></testcase>",
            c.seeds,
            c.ops,
            c.crashes,
            c.checks,
            c.faults,
            if c.expect_violation {
                "violation"
            } else {
                "pass"
            },
            c.detections
        );
    }
    out.push_str("</testsuite></testsuites>\n");
    out
}

/// Reads back a report written by [`render`].
pub fn parse(text: &str) -> Result<Vec<Case>, ParseError> {
    let err = |what: &str| ParseError(what.to_string());
    let mut cases = Vec::new();
    for chunk in text.split("<testcase ").skip(1) {
        let name = between(chunk, " name=\"", "\"").ok_or_else(|| err("a testcase has no name"))?;
        let out = between(chunk, "<system-out>", "</system-out>")
            .ok_or_else(|| err("a testcase has no system-out"))?;
        let mut c = Case {
            name: unescape(name),
            ..Case::default()
        };
        for pair in out.split_whitespace() {
            let (k, v) = pair.split_once('=').ok_or_else(|| err(pair))?;
            let n = || v.parse::<u64>().map_err(|_| err(pair));
            match k {
                "seeds" => c.seeds = n()?,
                "ops" => c.ops = n()?,
                "crashes" => c.crashes = n()?,
                "checks" => c.checks = n()?,
                "faults" => c.faults = n()?,
                "detections" => c.detections = n()?,
                "expect" => c.expect_violation = v == "violation",
                _ => return Err(err(pair)),
            }
        }
        if let Some(start) = chunk.find("<failure ") {
            let body = between(&chunk[start..], ">", "</failure>")
                .ok_or_else(|| err("an unterminated failure"))?;
            // A failure is its `FAIL [...]` line and the indented lines under it.
            for line in unescape(body).lines() {
                match c.failures.last_mut() {
                    Some(f) if !line.starts_with("FAIL [") => {
                        f.push('\n');
                        f.push_str(line);
                    }
                    _ => c.failures.push(line.to_string()),
                }
            }
        }
        cases.push(c);
    }
    if cases.is_empty() {
        return Err(err("no testcase"));
    }
    Ok(cases)
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let len = s[start..].find(close)?;
    Some(&s[start..start + len])
}

/// The failure line of an out-of-contract scenario that no seed caught.
pub fn missing_violation_line(name: &str, seeds: u64) -> String {
    format!(
        "FAIL [{}] scenario {name} seed 0: {}",
        FailureClass::ExpectedViolationMissing.name(),
        crate::swarm::missing_violation_detail(seeds)
    )
}

/// The report of the whole swarm from the reports of its shards (see the module doc).
pub fn merge(shards: &[Vec<Case>]) -> Vec<Case> {
    let mut merged: Vec<Case> = Vec::new();
    for c in shards.iter().flatten() {
        let i = match merged.iter().position(|m| m.name == c.name) {
            Some(i) => i,
            None => {
                merged.push(Case {
                    name: c.name.clone(),
                    expect_violation: c.expect_violation,
                    ..Case::default()
                });
                merged.len() - 1
            }
        };
        let m = &mut merged[i];
        m.seeds += c.seeds;
        m.ops += c.ops;
        m.crashes += c.crashes;
        m.checks += c.checks;
        m.faults += c.faults;
        m.detections += c.detections;
        let missing = format!("[{}]", FailureClass::ExpectedViolationMissing.name());
        m.failures
            .extend(c.failures.iter().filter(|f| !f.contains(&missing)).cloned());
    }
    for m in &mut merged {
        if m.expect_violation && m.detections == 0 && m.seeds > 0 {
            m.failures.push(missing_violation_line(&m.name, m.seeds));
        }
    }
    merged
}

/// The worst failure class among `cases` (the lowest exit code, as the swarm reports it).
pub fn worst(cases: &[Case]) -> Option<FailureClass> {
    cases
        .iter()
        .flat_map(|c| &c.failures)
        .filter_map(|f| {
            FailureClass::ALL
                .into_iter()
                .find(|k| f.starts_with(&format!("FAIL [{}]", k.name())))
        })
        .min()
}

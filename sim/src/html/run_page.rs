//! The page of one simulated run, drawn from its trace lines (see `run.rs` for what they say).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{escape, page};

/// What the page shows besides the trace.
#[derive(Debug, Clone)]
pub struct RunPage<'a> {
    /// The scenario's name.
    pub scenario: &'a str,
    pub seed: u64,
    /// The one command that replays this seed.
    pub replay: &'a str,
    /// The run's counts, one line (ops, crashes, recoveries, checks, faults).
    pub counts: &'a str,
    /// The broken invariant, if the run failed: `(number, name, message)`.
    pub failure: Option<(u8, &'a str, &'a str)>,
    /// Every trace line of the run, in order.
    pub trace: &'a [String],
}

/// What one trace line means for the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Op,
    Fault,
    Crash,
    Recovery,
    Error,
    Diff,
    Violation,
    Other,
}

fn kind(line: &str) -> Kind {
    let t = line.trim_start();
    if line.starts_with("op ") || line == "final crash" {
        Kind::Op
    } else if line.starts_with("VIOLATION") {
        Kind::Violation
    } else if t.starts_with("diff ") {
        Kind::Diff
    } else if line.starts_with("disk fault ") {
        Kind::Fault
    } else if line.starts_with("disk crash")
        || t.starts_with("crash:")
        || line.ends_with("-> crash")
    {
        Kind::Crash
    } else if t.starts_with("recovered ") {
        Kind::Recovery
    } else if t.starts_with("open failed") || t.starts_with("error:") || t.starts_with("read error")
    {
        Kind::Error
    } else {
        Kind::Other
    }
}

/// One row of the timeline: an operation (or the opening before the first) and what its
/// lines said.
#[derive(Default)]
struct Row<'a> {
    label: &'a str,
    lines: Vec<&'a str>,
    faults: BTreeMap<&'a str, u32>,
    crashes: u32,
    recoveries: u32,
    errors: u32,
    violation: Option<&'a str>,
    /// What the harness said of the operation (its indented lines, the diff aside).
    notes: Vec<&'a str>,
}

fn rows(trace: &[String]) -> (Vec<Row<'_>>, Vec<&str>) {
    let mut rows = vec![Row {
        label: "open",
        ..Row::default()
    }];
    let mut diffs = Vec::new();
    for line in trace {
        let k = kind(line);
        if k == Kind::Op {
            rows.push(Row {
                label: line,
                ..Row::default()
            });
            continue;
        }
        let row = rows.last_mut().expect("the open row is always there");
        row.lines.push(line);
        if line.starts_with("  ") && k != Kind::Diff {
            row.notes.push(line.trim_start());
        }
        match k {
            Kind::Fault => {
                let what = line["disk fault".len()..].split_whitespace().next();
                *row.faults.entry(what.unwrap_or("?")).or_default() += 1;
            }
            Kind::Crash => row.crashes += 1,
            Kind::Recovery => row.recoveries += 1,
            Kind::Error => row.errors += 1,
            Kind::Diff => diffs.push(line.trim_start()),
            Kind::Violation => row.violation = Some(line),
            Kind::Op | Kind::Other => {}
        }
    }
    (rows, diffs)
}

fn badges(row: &Row<'_>) -> String {
    let mut out = String::new();
    for (what, n) in &row.faults {
        let _ = write!(
            out,
            "<span class=\"badge b-fault\">fault {} ×{n}</span>",
            escape(what)
        );
    }
    for (n, class, name) in [
        (row.crashes, "b-crash", "crash"),
        (row.recoveries, "b-recovery", "recovered + checked"),
        (row.errors, "b-error", "error"),
    ] {
        if n > 0 {
            let _ = write!(out, "<span class=\"badge {class}\">{name} ×{n}</span>");
        }
    }
    out
}

/// The most harness lines a row shows beside its badges (the rest are in its trace).
const NOTES_MAX: usize = 3;

fn timeline(rows: &[Row<'_>]) -> String {
    let mut out = String::from(
        "<h2>Timeline</h2>\n<p class=\"legend\"><span class=\"badge b-fault\">fault</span>\
         <span class=\"badge b-crash\">crash</span><span class=\"badge b-recovery\">recovery \
         and invariant checks</span><span class=\"badge b-error\">typed error</span>: each \
         operation's disk calls are folded under it.</p>\n<table>\n\
         <tr><th>#</th><th>operation</th><th>what happened</th><th>trace</th></tr>\n",
    );
    for (i, row) in rows.iter().enumerate() {
        let class = if row.violation.is_some() {
            " class=\"failure\""
        } else if row.crashes > 0 {
            " class=\"crash\""
        } else if row.recoveries > 0 {
            " class=\"recovery\""
        } else {
            ""
        };
        let mut what = badges(row);
        for note in row.notes.iter().take(NOTES_MAX) {
            let _ = write!(what, "<div class=\"t\">{}</div>", escape(note));
        }
        if let Some(v) = row.violation {
            let _ = write!(what, "<b>{}</b>", escape(v));
        }
        let _ = writeln!(
            out,
            "<tr{class}><td>{i}</td><td class=\"t\">{}</td><td>{what}</td>\
             <td><details><summary>{} lines</summary><pre>{}</pre></details></td></tr>",
            escape(row.label),
            row.lines.len(),
            escape(&row.lines.join("\n")),
        );
    }
    out.push_str("</table>\n");
    out
}

/// The expected-versus-recovered table from the `diff` lines the harness traced at the
/// failure: `diff <index> | <durable state> | <latest state> | <recovered>`.
fn diff_table(diffs: &[&str]) -> String {
    if diffs.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<h3>Expected versus recovered</h3>\n<table>\n<tr><th>index</th>\
         <th>last durable state</th><th>latest state</th><th>recovered</th></tr>\n",
    );
    for d in diffs {
        let cells: Vec<&str> = d.trim_start_matches("diff ").split(" | ").collect();
        let differs = cells.len() == 4 && cells[1] != cells[3];
        let class = if differs { " class=\"differs\"" } else { "" };
        out.push_str(&format!("<tr{class}>"));
        for c in cells {
            let _ = write!(out, "<td class=\"t\">{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The whole page of one run.
pub fn run_page(p: &RunPage<'_>) -> String {
    let (rows, diffs) = rows(p.trace);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>logbook-sim: scenario {} seed {}</h1>",
        escape(p.scenario),
        p.seed
    );
    match p.failure {
        Some((n, name, message)) => {
            let _ = writeln!(
                body,
                "<div class=\"banner fail\" id=\"verdict\">FAIL: invariant {n} ({}): {}</div>",
                escape(name),
                escape(message)
            );
        }
        None => body.push_str("<div class=\"banner pass\" id=\"verdict\">PASS</div>\n"),
    }
    let _ = writeln!(
        body,
        "<p>{}</p>\n<p>replay: <code>{}</code></p>",
        escape(p.counts),
        escape(p.replay)
    );
    body.push_str(&diff_table(&diffs));
    body.push_str(&timeline(&rows));
    page(
        &format!("logbook-sim {} seed {}", p.scenario, p.seed),
        &body,
    )
}

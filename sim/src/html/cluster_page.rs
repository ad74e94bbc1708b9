//! The page of one cluster run (`logbook-sim cluster --seed N --html FILE`): the failed
//! check in a banner, a timeline of what the cluster did (crashes, restarts, partitions,
//! leaders, failed opens), and Porcupine-style lanes of the client history, narrowed to the
//! failing key with its shortest failing window when the failure is linearizability.
//!
//! The timeline is drawn from the cluster's trace lines (`<ms> node <n> crash (...)`,
//! `<ms> node <n> up: ...`, `<ms> node <n> leads term <t>`, `<ms> net partition ...`,
//! `<ms> net heal`, `VIOLATION ...`); the messages, readies and disk calls between two
//! shown lines are counted in the row rather than listed.

use std::fmt::Write as _;

use super::lanes::{lanes_svg, LaneOp};
use super::{escape, page};

/// What the page shows.
#[derive(Debug, Clone)]
pub struct ClusterPage<'a> {
    /// The scenario's name.
    pub scenario: &'a str,
    pub seed: u64,
    /// The one command that replays this seed.
    pub replay: &'a str,
    /// The run's counts, one line.
    pub counts: &'a str,
    /// The failed check, if any: `(check, detail)`.
    pub failure: Option<(&'a str, &'a str)>,
    /// Every trace line of the run, in order.
    pub trace: &'a [String],
    /// The client operations to draw (already narrowed to what matters).
    pub lanes: &'a [LaneOp],
    /// What the lanes show, one sentence.
    pub lanes_caption: &'a str,
}

/// What a trace line is, for the timeline; `None` for a line that is only counted.
fn row_class(line: &str) -> Option<&'static str> {
    if line.starts_with("VIOLATION") {
        return Some("failure");
    }
    let rest = line.split_once(' ').map_or("", |(_, r)| r);
    let node_says = |what: &str| {
        rest.strip_prefix("node ")
            .and_then(|r| r.split_once(' '))
            .is_some_and(|(_, r)| r.starts_with(what))
    };
    if node_says("crash") {
        Some("crash")
    } else if node_says("up:") {
        Some("recovery")
    } else if node_says("leads") || node_says("open failed") || rest.starts_with("net ") {
        Some("")
    } else {
        None
    }
}

/// The timeline: one row per shown line, with the counted lines before it.
fn timeline(trace: &[String]) -> String {
    let mut out = String::from(
        "<h2>Timeline</h2>\n<p class=\"legend\">Crashes (power loss) in orange, restarts from \
         disk in blue, the failed check in the failure colour; messages, readies and disk \
         calls are counted, not listed (the trace has them).</p>\n<table>\n\
         <tr><th>ms</th><th>event</th><th>since the row above</th></tr>\n",
    );
    let (mut messages, mut other) = (0u64, 0u64);
    for line in trace {
        let Some(class) = row_class(line) else {
            if line.contains(" deliver ") {
                messages += 1;
            } else {
                other += 1;
            }
            continue;
        };
        let (ms, event) = match line.split_once(' ') {
            Some((t, e)) if t.parse::<u64>().is_ok() => (t, e),
            _ => ("", line.as_str()),
        };
        // A failure's window, op by op, is under the banner already.
        let event = event.split_once(" | ").map_or(event, |(head, _)| head);
        let class = if class.is_empty() {
            String::new()
        } else {
            format!(" class=\"{class}\"")
        };
        let _ = writeln!(
            out,
            "<tr{class}><td class=\"t\">{ms}</td><td class=\"t\">{}</td>\
             <td>{messages} messages, {other} other lines</td></tr>",
            escape(event)
        );
        (messages, other) = (0, 0);
    }
    out.push_str("</table>\n");
    out
}

/// The whole page of one cluster run.
pub fn cluster_page(p: &ClusterPage<'_>) -> String {
    let mut body = format!(
        "<h1>logbook-sim cluster: scenario {} seed {}</h1>\n",
        escape(p.scenario),
        p.seed
    );
    match p.failure {
        Some((check, detail)) => {
            // The detail's first clause in the banner; a window, op by op, below it.
            let (headline, window) = detail.split_once(" | ").unwrap_or((detail, ""));
            let _ = writeln!(
                body,
                "<div class=\"banner fail\" id=\"verdict\">FAIL: {}: {}</div>",
                escape(check),
                escape(headline)
            );
            if !window.is_empty() {
                let _ = writeln!(
                    body,
                    "<details><summary>the window, operation by operation</summary>\
                     <pre>{}</pre></details>",
                    escape(&window.replace(" | ", "\n"))
                );
            }
        }
        None => body.push_str("<div class=\"banner pass\" id=\"verdict\">PASS</div>\n"),
    }
    let _ = writeln!(
        body,
        "<p>{}</p>\n<p>replay: <code>{}</code></p>",
        escape(p.counts),
        escape(p.replay)
    );
    let _ = writeln!(
        body,
        "<h2>Client history</h2>\n<p>{}</p>",
        escape(p.lanes_caption)
    );
    if !p.lanes.is_empty() {
        body.push_str(&lanes_svg(p.lanes));
    }
    body.push_str(&timeline(p.trace));
    page(
        &format!("logbook-sim cluster {} seed {}", p.scenario, p.seed),
        &body,
    )
}

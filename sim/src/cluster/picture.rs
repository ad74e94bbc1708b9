//! The picture of one cluster run (`--html`): which client operations to draw, and the
//! page itself (drawn by [`crate::html::cluster_page`]).

use super::{report, RunResult, RunSpec};
use crate::html::{cluster_page, ClusterPage, LaneOp};
use crate::linearizability::{CheckResult, History};

/// The most operations drawn when the failure is not linearizability (the ones called
/// last before it).
pub const LANES_OPS_MAX: usize = 150;

/// The client operations to draw, and a caption saying which they are.
fn lanes(r: &RunResult) -> (Vec<LaneOp>, String) {
    let Ok(history) = History::from_operations(r.history.iter().cloned()) else {
        return (Vec::new(), "the client history is malformed".into());
    };
    if let Some(p) = r.lin.as_ref().filter(|p| p.result.is_not_linearizable()) {
        let key = p.failed_part.unwrap_or(0);
        let end = p.result.window().map_or(u64::MAX, |w| w.end);
        let all = LaneOp::from_history(&history, &p.result);
        let ops: Vec<LaneOp> = all
            .into_iter()
            .zip(history.ops())
            .filter(|(lane, op)| op.input.key == key && lane.call <= end)
            .map(|(lane, _)| lane)
            .collect();
        let caption = format!(
            "Key {key}, the first found not linearizable: its {} operations called up to \
             the end of the shortest failing window (at {end} ms). The window is in the \
             failure colour; the outlined operation's return closes it. Dashed: no answer \
             (the client timed out and moved on).",
            ops.len()
        );
        return (ops, caption);
    }
    let until = r.violation.as_ref().map_or(u64::MAX, |v| v.at_ms);
    let none = CheckResult::Linearizable { order: Vec::new() };
    let mut ops: Vec<LaneOp> = LaneOp::from_history(&history, &none)
        .into_iter()
        .filter(|o| o.call <= until)
        .collect();
    let skipped = ops.len().saturating_sub(LANES_OPS_MAX);
    ops.drain(..skipped);
    let caption = format!(
        "The {} client operations called last{} ({skipped} earlier ones not drawn). \
         Dashed: no answer.",
        ops.len(),
        if r.violation.is_some() {
            " before the failure"
        } else {
            ""
        }
    );
    (ops, caption)
}

/// The page of `spec`'s run `r` (whose trace was recorded).
pub fn page(spec: &RunSpec, r: &RunResult) -> String {
    let s = &r.stats;
    let counts = format!(
        "{} events, {} crashes, {} restarts, {} leaders, {} commits, {} client operations \
         ({} unknown), {} checks, {} disk faults; trace digest {:016x}",
        s.events,
        s.crashes,
        s.restarts,
        s.elections,
        s.committed,
        s.ops_ok,
        s.ops_unknown,
        s.checks,
        s.disk_faults,
        r.digest
    );
    let replay = report::replay_command(&spec.scenario.path.display().to_string(), spec.seed);
    let failure = r.violation.as_ref().map(|v| {
        (
            format!("{} ({:?}) at {} ms", v.kind.code(), v.kind, v.at_ms),
            v,
        )
    });
    let (ops, caption) = lanes(r);
    cluster_page(&ClusterPage {
        scenario: &spec.scenario.name,
        seed: spec.seed,
        replay: &replay,
        counts: &counts,
        failure: failure
            .as_ref()
            .map(|(c, v)| (c.as_str(), v.detail.as_str())),
        trace: &r.trace,
        lanes: &ops,
        lanes_caption: &caption,
    })
}

//! Porcupine-style lanes of a concurrent history: one lane per client, each operation a bar
//! from its call to its return (to the right edge, dashed, if it never returned), the
//! operations of the shortest failing window in the failure colour and the one whose return
//! closes it outlined.

use std::collections::BTreeMap;
use std::fmt::{Debug, Write as _};

use super::{escape, page, FAILURE_RGB};
use crate::linearizability::{CheckResult, History};

/// One operation as the lanes draw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneOp {
    pub client: u64,
    pub call: u64,
    /// `None`: it never returned (indeterminate).
    pub ret: Option<u64>,
    /// What the bar says: the input and, if it returned, the output.
    pub label: String,
    /// In the shortest failing window.
    pub in_window: bool,
    /// Its return closes the window.
    pub closes_window: bool,
}

impl LaneOp {
    /// The lanes of `history` under `result`'s verdict.
    pub fn from_history<I: Debug, O: Debug>(
        history: &History<I, O>,
        result: &CheckResult<I, O>,
    ) -> Vec<LaneOp> {
        let window = result.window();
        history
            .ops()
            .iter()
            .enumerate()
            .map(|(id, op)| LaneOp {
                client: op.client,
                call: op.call,
                ret: op.ret,
                label: match &op.output {
                    Some(o) => format!("{:?} → {:?}", op.input, o),
                    None if op.ret.is_some() => format!("{:?} → ?", op.input),
                    None => format!("{:?} (no answer)", op.input),
                },
                in_window: window.is_some_and(|w| w.ops.iter().any(|(i, _)| *i == id)),
                closes_window: window.is_some_and(|w| w.last == id),
            })
            .collect()
    }
}

const LANE_PX: u64 = 26;
const WIDTH_PX: u64 = 1200;
const LABEL_PX: u64 = 80;
/// The width of one label character at the lanes' 10 px monospace font.
const CHAR_PX: f64 = 6.1;

/// The whole page: a verdict banner, then the lanes as one inline SVG.
pub fn lanes_page(title: &str, verdict: &str, failed: bool, ops: &[LaneOp]) -> String {
    let mut body = format!("<h1>{}</h1>\n", escape(title));
    let class = if failed { "fail" } else { "pass" };
    // The verdict's first line in the banner, the rest (the window, op by op) below it.
    let (headline, details) = verdict.split_once('\n').unwrap_or((verdict, ""));
    let _ = writeln!(
        body,
        "<div class=\"banner {class}\" id=\"verdict\">{}</div>",
        escape(headline)
    );
    if !details.trim().is_empty() {
        let _ = writeln!(
            body,
            "<details><summary>the window, operation by operation</summary><pre>{}</pre>\
             </details>",
            escape(details)
        );
    }
    let in_window = ops.iter().filter(|o| o.in_window).count();
    let _ = writeln!(
        body,
        "<p>{} operations, {} clients; the shortest failing window holds {in_window} \
         (in the failure colour; the outlined one's return closes it). Dashed: no answer.</p>",
        ops.len(),
        ops.iter()
            .map(|o| o.client)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    body.push_str(&lanes_svg(ops));
    page(title, &body)
}

/// The lanes of `ops` as one inline SVG (one lane per client, in client order).
pub(crate) fn lanes_svg(ops: &[LaneOp]) -> String {
    let lanes: BTreeMap<u64, usize> = ops
        .iter()
        .map(|o| o.client)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    let t_min = ops.iter().map(|o| o.call).min().unwrap_or(0);
    let t_max = ops
        .iter()
        .map(|o| o.ret.unwrap_or(o.call))
        .max()
        .unwrap_or(0)
        .max(t_min + 1);
    let span = (WIDTH_PX - LABEL_PX - 10) as f64 / (t_max - t_min) as f64;
    let x = |t: u64| LABEL_PX as f64 + (t - t_min) as f64 * span;
    let height = lanes.len() as u64 * LANE_PX + 10;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH_PX}\" height=\"{height}\" \
         font-size=\"10\" font-family=\"monospace\">\n"
    );
    for (client, lane) in &lanes {
        let y = *lane as u64 * LANE_PX;
        let _ = writeln!(
            out,
            "<text x=\"4\" y=\"{}\">client {client}</text>\
             <line x1=\"{LABEL_PX}\" x2=\"{WIDTH_PX}\" y1=\"{}\" y2=\"{}\" stroke=\"#eee\"/>",
            y + 16,
            y + LANE_PX,
            y + LANE_PX
        );
    }
    for o in ops {
        let y = lanes[&o.client] as u64 * LANE_PX + 4;
        let x0 = x(o.call);
        let x1 = o.ret.map_or(WIDTH_PX as f64 - 4.0, x).max(x0 + 3.0);
        bar(&mut out, o, x0, x1, y);
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

/// One operation's bar (and its label where it fits) from `x0` to `x1` at height `y`.
fn bar(out: &mut String, o: &LaneOp, x0: f64, x1: f64, y: u64) {
    let (r, g, b) = FAILURE_RGB;
    let fill = if o.in_window {
        format!("rgb({r},{g},{b})")
    } else {
        "#90caf9".to_string()
    };
    let dash = if o.ret.is_none() {
        " stroke-dasharray=\"4 2\""
    } else {
        ""
    };
    let stroke = if o.closes_window { "#000" } else { "#555" };
    let width = if o.closes_window { 3 } else { 1 };
    let label = escape(&o.label);
    let _ = write!(
        out,
        "<g><title>{label}</title><rect x=\"{x0:.1}\" y=\"{y}\" width=\"{:.1}\" \
         height=\"18\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash}/>",
        x1 - x0,
    );
    // A label is drawn only where it fits its bar; the tooltip always has it.
    if o.label.chars().count() as f64 * CHAR_PX < x1 - x0 - 4.0 {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\">{label}</text>",
            x0 + 2.0,
            y + 13
        );
    }
}

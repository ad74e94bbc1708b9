//! A picture of a failure: one self-contained HTML page (inline CSS, no script, no external
//! resource), so a failing seed can be looked at in any browser, attached to a CI run, or
//! mailed.
//!
//! - [`run_page`]: one simulated run, from its trace: a timeline of the seed's operations
//!   with the faults, crashes, recoveries and checks under each, the failing invariant in a
//!   banner, and the expected-versus-recovered difference the harness traced at the failure.
//! - [`cluster_page`]: one cluster run: the failed check, a timeline of crashes, restarts,
//!   partitions and leaders, and the lanes of the client history (the failing key's, with
//!   its window, for a linearizability failure).
//! - [`lanes_page`]: a linearizability verdict, Porcupine-style: one lane per client, each
//!   operation a bar from its call to its return, the shortest failing window highlighted.
//!
//! Contract: the page is a pure function of its inputs (no clock, no environment), so the
//! same seed draws the same page. Every text that came from a run is escaped.

mod cluster_page;
mod lanes;
mod run_page;

pub use cluster_page::{cluster_page, ClusterPage};
pub use lanes::{lanes_page, LaneOp};
pub use run_page::{run_page, RunPage};

/// The colour of everything that marks the failure (the banner, the failing row, the
/// failing window). The screenshot check looks for it.
pub const FAILURE_RGB: (u8, u8, u8) = (0xd3, 0x2f, 0x2f);

/// Escapes `s` for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page shell: a title, the shared style sheet, and `body`.
fn page(title: &str, body: &str) -> String {
    let (r, g, b) = FAILURE_RGB;
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title>\n<style>\n\
         body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }}\n\
         code, pre, td.t, div.t {{ font-family: ui-monospace, monospace; font-size: 12px; }}\n\
         .banner {{ padding: .8em 1em; border-radius: 4px; color: #fff; font-weight: 600; }}\n\
         .fail {{ background: rgb({r},{g},{b}); }}\n\
         .pass {{ background: #2e7d32; }}\n\
         table {{ border-collapse: collapse; margin: .5em 0; }}\n\
         td, th {{ border: 1px solid #ddd; padding: 2px 6px; vertical-align: top; text-align: left; }}\n\
         tr.failure td {{ background: rgb({r},{g},{b}); color: #fff; }}\n\
         tr.crash td {{ background: #ffe0b2; }}\n\
         tr.recovery td {{ background: #e3f2fd; }}\n\
         tr.differs td {{ background: #ffcdd2; }}\n\
         .badge {{ display: inline-block; padding: 0 5px; margin-right: 3px; border-radius: 3px; font-size: 11px; color: #222; }}\n\
         .b-fault {{ background: #fff59d; }} .b-crash {{ background: #ffb74d; }}\n\
         .b-recovery {{ background: #90caf9; }} .b-check {{ background: #a5d6a7; }}\n\
         .b-error {{ background: #ef9a9a; }}\n\
         details pre {{ margin: 0; white-space: pre-wrap; }}\n\
         .legend span {{ margin-right: 1em; }}\n\
         </style></head>\n<body>\n{body}</body></html>\n",
        title = escape(title),
    )
}

#[cfg(test)]
mod tests;

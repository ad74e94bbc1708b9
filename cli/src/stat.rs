//! `logbook stat DIR`: what the directory holds, and its verdict. Never writes. Exit 0
//! whatever the verdict (verify's codes say it).

use std::path::PathBuf;
use std::sync::Arc;

use logbook::inspect::{self, Limits, SegmentStat, Stat};
use logbook::Fs;

use crate::exit::Code;
use crate::fmt::verdict;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store directory.
    dir: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(fs: Arc<dyn Fs>, limits: &Limits, args: &Args) -> logbook::Result<Code> {
    let st = inspect::stat(fs, &args.dir, limits)?;
    if args.json {
        crate::fmt::print_json(&st);
    } else {
        print!("{}", text(&st));
    }
    Ok(Code::Ok)
}

fn text(st: &Stat) -> String {
    let hs = st.hard_state;
    let vote = hs.vote.map_or("none".to_string(), |v| v.to_string());
    let purged = match st.last_purged {
        Some(p) => format!("up to index {} (term {})", p.index, p.term),
        None => "nothing".into(),
    };
    let entries = match (&st.verdict, st.last_entry) {
        (inspect::Verdict::Corrupt { .. }, _) => "unknown: the store is corrupt".into(),
        (_, Some(last)) => format!(
            "{}..={} (last term {})",
            st.first_index, last.index, last.term
        ),
        (_, None) => format!("none (the next is {})", st.first_index),
    };
    let mut out = format!(
        "format version  {}\nhard state      term {}, vote {vote}, commit {}\n\
         purged          {purged}\nentries         {entries}\nmeta            {} bytes\n\
         segments        {} files, {} bytes\n",
        st.format_version,
        hs.term,
        hs.commit,
        st.meta_bytes,
        st.segments.len(),
        st.segment_bytes,
    );
    for s in &st.segments {
        out.push_str(&segment(s));
    }
    out.push_str(&format!(
        "verdict         {}\n",
        verdict(&st.dir, &st.verdict)
    ));
    out
}

fn segment(s: &SegmentStat) -> String {
    let entries = match s.last_index {
        Some(last) => format!("{} entries {}..={}", s.entries, s.first_index, last),
        None => "no entry".into(),
    };
    let mut line = format!(
        "  {}  {entries}, {} of {} bytes used",
        s.file, s.data_bytes, s.file_bytes
    );
    if let Some(problem) = &s.header_problem {
        line.push_str(&format!("; header: {problem}"));
    }
    if let Some((offset, reason)) = &s.anomaly {
        line.push_str(&format!("; at offset {offset}: {reason}"));
    }
    line + "\n"
}

//! `logbook dump DIR [--from I] [--to J] [--json]`: the entries an open would return, one
//! per line. Never writes. A corrupt store is refused (exit 4): `verify` says where.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use logbook::inspect::{self, Limits};
use logbook::Fs;

use crate::exit::Code;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store directory.
    dir: PathBuf,
    /// The first index to print.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// The last index to print.
    #[arg(long, default_value_t = u64::MAX)]
    to: u64,
    /// One JSON object per line: index, term, payload_len, payload_hex.
    #[arg(long)]
    json: bool,
}

pub fn run(fs: Arc<dyn Fs>, limits: &Limits, args: &Args) -> logbook::Result<Code> {
    let entries = inspect::entries(fs, &args.dir, limits, args.from, args.to)?;
    let mut out = std::io::stdout().lock();
    for e in &entries {
        let line = match args.json {
            true => serde_json::json!({
                "index": e.index,
                "term": e.term,
                "payload_len": e.payload.len(),
                "payload_hex": crate::fmt::hex(&e.payload),
            })
            .to_string(),
            false => format!(
                "{}\t{}\t{}",
                e.index,
                e.term,
                crate::fmt::payload(&e.payload)
            ),
        };
        // A closed pipe (`| head`) ends the dump quietly.
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(Code::Ok)
}

//! `logbook verify DIR`: reads every record and judges the directory as an open would.
//! Never writes. Exit 0 clean, 3 torn, 4 corrupt.

use std::path::PathBuf;
use std::sync::Arc;

use logbook::inspect::{self, Limits, Verdict};
use logbook::Fs;

use crate::exit::Code;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store directory.
    dir: PathBuf,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(fs: Arc<dyn Fs>, limits: &Limits, args: &Args) -> logbook::Result<Code> {
    let verdict = inspect::verify(fs, &args.dir, limits)?;
    if args.json {
        crate::fmt::print_json(&verdict);
    } else {
        println!("{}", crate::fmt::verdict(&args.dir, &verdict));
        if let Verdict::Corrupt { .. } = verdict {
            println!(
                "  a strict open refuses this store and changes nothing; `logbook repair \
                 --cut-corruption` would cut the log at the damage, after backing it up"
            );
        }
    }
    Ok(match verdict {
        Verdict::Clean => Code::Ok,
        Verdict::Torn { .. } => Code::Torn,
        Verdict::Corrupt { .. } => Code::Corrupt,
    })
}

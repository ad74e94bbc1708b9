//! `logbook repair DIR [--cut-corruption] [--backup-dir PATH]`: makes the fixes an open
//! would make (and, only with --cut-corruption, cuts corruption), after copying every byte
//! it cuts, removes or overwrites to the backup directory; prints what it did.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use logbook::inspect::{self, Limits, RepairOptions};
use logbook::{Error, Fs};

use crate::exit::Code;
use crate::fmt;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store directory.
    dir: PathBuf,
    /// Also cut mid-log corruption: the log ends before the first bad record, and every
    /// later file is removed. Acknowledged entries may be lost.
    #[arg(long)]
    cut_corruption: bool,
    /// Where the cut bytes are copied first [default: DIR.backup, beside DIR].
    #[arg(long)]
    backup_dir: Option<PathBuf>,
}

pub fn run(fs: Arc<dyn Fs>, limits: &Limits, args: &Args) -> logbook::Result<Code> {
    let opts = RepairOptions {
        cut_corruption: args.cut_corruption,
        backup_dir: args
            .backup_dir
            .clone()
            .unwrap_or_else(|| backup_dir(&args.dir)),
    };
    let done = match inspect::repair(fs, &args.dir, limits, &opts) {
        Err(e @ Error::Corruption { .. }) if !args.cut_corruption => {
            println!("refused: {e}");
            println!(
                "  nothing was written; rerun with --cut-corruption to cut the log at the \
                 damage (what is cut is copied to the backup directory first)"
            );
            return Ok(Code::Corrupt);
        }
        other => other?,
    };
    let dir = &args.dir;
    let found = fmt::verdict(dir, &done.before);
    println!("found: {}", found.lines().next().unwrap_or_default());
    if done.fixes.is_empty() {
        println!("nothing to repair");
        return Ok(Code::Ok);
    }
    for (fix, backup) in done.fixes.iter().zip(&done.backups) {
        println!("{}; backup {}", fmt::fix(dir, fix), backup.display());
    }
    match done.last_entry {
        Some(last) => println!(
            "repaired: the log ends at index {} (term {})",
            last.index, last.term
        ),
        None => println!("repaired: the log holds no entry above its purge boundary"),
    }
    Ok(Code::Ok)
}

/// `DIR.backup`, beside `DIR`.
fn backup_dir(dir: &Path) -> PathBuf {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let name = abs
        .file_name()
        .map_or_else(|| "store".to_string(), |n| n.to_string_lossy().into_owned());
    abs.with_file_name(format!("{name}.backup"))
}

//! `logbook`: look at a store directory, judge it as an open would, and repair it
//! explicitly. Each subcommand is a module; the engine side is `logbook::inspect`. The exit
//! codes are in `exit.rs` and in the README ("Inspecting a store").

mod dump;
mod exit;
mod fmt;
mod repair;
mod stat;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use logbook::inspect::Limits;
use logbook::{Fs, StdFs};

/// Inspect and repair a logbook store directory. stat, dump and verify never write to it;
/// every subcommand takes the directory lock, so a store that is open is refused.
#[derive(Debug, Parser)]
#[command(name = "logbook", version, after_help = exit::HELP)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// The store's segment_size_bytes (default: the largest allowed). A segment longer than
    /// this plus one largest record is corruption.
    #[arg(long, global = true, value_parser = clap::value_parser!(u64).range(4096..))]
    segment_size_bytes: Option<u64>,
    /// The store's payload_size_max_bytes (default: the largest allowed).
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=1 << 30))]
    payload_max_bytes: Option<u32>,
    /// Judge as a store opened with commit_check: a log ending below the saved commit is
    /// corruption.
    #[arg(long, global = true)]
    commit_check: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Segments, index range, hard state, purge boundary, sizes, format version, verdict.
    Stat(stat::Args),
    /// The entries an open would return, one per line.
    Dump(dump::Args),
    /// Read every record; exit 0 clean, 3 torn, 4 corrupt.
    Verify(verify::Args),
    /// Cut a torn tail (or, with --cut-corruption, corruption) after backing it up.
    Repair(repair::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let defaults = Limits::default();
    let limits = Limits {
        segment_size_bytes: cli
            .segment_size_bytes
            .unwrap_or(defaults.segment_size_bytes),
        payload_size_max_bytes: cli
            .payload_max_bytes
            .unwrap_or(defaults.payload_size_max_bytes),
        commit_check: cli.commit_check,
    };
    let fs: Arc<dyn Fs> = Arc::new(StdFs);
    let result = match cli.cmd {
        Cmd::Stat(args) => stat::run(fs, &limits, &args),
        Cmd::Dump(args) => dump::run(fs, &limits, &args),
        Cmd::Verify(args) => verify::run(fs, &limits, &args),
        Cmd::Repair(args) => repair::run(fs, &limits, &args),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("logbook: {e}");
            exit::Code::of_error(&e).into()
        }
    }
}

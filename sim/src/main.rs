//! The `logbook-sim` command line: `swarm`, `run`, `shrink`, `lin` and `merge-junit` (each in
//! `cli/`), and `cluster` (in the library's `cluster/`).
//!
//! Exit codes: 0 all passed; 1 invariant violation; 2 engine panic; 3 determinism broken;
//! 4 expected violation not seen; 64 bad arguments or scenario.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "logbook-sim",
    about = "Deterministic crash simulation of the logbook Raft log engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Swarm(cli::swarm::SwarmArgs),
    Run(cli::run::RunArgs),
    /// Check a Jepsen register history (etcd's format) for linearizability; with `--html`,
    /// draw its lanes with the shortest failing window highlighted.
    Lin {
        /// The history file (`INFO jepsen.util - <process> <type> <f> <value>` lines).
        history: PathBuf,
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Merge the JUnit reports of a swarm's shards (`swarm --shard i/n --junit F`) into the
    /// report of the whole swarm; exits with the worst failure class, like the swarm.
    MergeJunit {
        /// Where to write the merged report.
        #[arg(long)]
        out: PathBuf,
        /// The shards' reports.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
    },
    Shrink(cli::other::ShrinkArgs),
    /// A raft-rs cluster on logbook under network and disk faults (`cluster-*.toml`).
    Cluster(logbook_sim::cluster::ClusterArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { cli::EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Panics are captured per seed and reported as a failure class; keep stderr readable.
    std::panic::set_hook(Box::new(|_| {}));
    match cli.command {
        Command::Swarm(args) => args.exec(),
        Command::Run(args) => args.exec(),
        Command::Lin { history, html } => cli::other::lin(&history, html.as_deref()),
        Command::MergeJunit { out, shards } => cli::other::merge_junit(&out, &shards),
        Command::Shrink(args) => args.exec(),
        Command::Cluster(args) => logbook_sim::cluster::run_cli(args),
    }
}

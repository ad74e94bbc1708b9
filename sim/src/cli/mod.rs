//! The subcommands of `logbook-sim`, one module each; `main.rs` parses and dispatches.

use std::process::ExitCode;

use logbook::Canary;

pub mod other;
pub mod run;
pub mod swarm;

/// Exit code of a usage error (bad arguments, an unreadable or malformed file).
pub const EXIT_USAGE: u8 = 64;

/// Prints `msg` as a usage error and returns its exit code.
pub fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// `i/n`, 0-based: shard `i` of `n`.
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected i/n, e.g. 0/4")?;
    let (i, n): (u64, u64) = (
        i.parse().map_err(|_| "i is not a number")?,
        n.parse().map_err(|_| "n is not a number")?,
    );
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= i < n"));
    }
    Ok((i, n))
}

/// A canary by name; refused clearly in a build without the `canary` feature.
pub fn parse_canary(s: &str) -> Result<Canary, String> {
    if !cfg!(feature = "canary") {
        return Err("canaries need a build with `--features canary` (cargo run -p logbook-sim --features canary -- ...)".into());
    }
    Canary::from_name(s).ok_or_else(|| {
        format!(
            "unknown canary `{s}`; one of: {}",
            Canary::ALL
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

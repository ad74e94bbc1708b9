//! Human-readable text shared by the subcommands. Files inside the store directory are
//! named by their file name alone.

use std::fmt::Write;
use std::path::Path;

use logbook::inspect::{Action, Cause, Fix, Verdict};

/// Prints `value` as pretty JSON (every report type derives `Serialize`).
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("report types serialize")
    );
}

/// `path` relative to `dir` when it is inside it.
pub fn name(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

pub fn fix(dir: &Path, f: &Fix) -> String {
    let file = name(dir, &f.file);
    let what = match f.action {
        Action::Cut => format!("cut {file} at offset {} ({} bytes)", f.offset, f.bytes),
        Action::Remove => format!("remove {file} ({} bytes)", f.bytes),
        Action::RewriteSlot => format!("rewrite {file} slot at offset {}", f.offset),
    };
    let why = match f.cause {
        Cause::TornTail => "torn tail",
        Cause::TornCreation => "torn segment creation",
        Cause::PurgeLeftover => "purge leftover",
        Cause::StaleMetaSlot => "stale metadata slot",
        Cause::Corruption => "corruption",
    };
    format!("{what}: {why}")
}

/// The verdict, on one line for clean and corrupt, and one more line per fix when torn.
pub fn verdict(dir: &Path, v: &Verdict) -> String {
    match v {
        Verdict::Clean => "clean".into(),
        Verdict::Torn { fixes } => {
            let mut s = "torn: an open repairs this by itself, making these fixes".to_string();
            for f in fixes {
                let _ = write!(s, "\n  {}", fix(dir, f));
            }
            s
        }
        Verdict::Corrupt {
            file,
            offset,
            reason,
        } => format!("corrupt: {} at offset {offset}: {reason}", name(dir, file)),
    }
}

/// A payload as text if it is printable UTF-8, else as hex.
pub fn payload(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}"),
        _ => format!("0x{}", hex(bytes)),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

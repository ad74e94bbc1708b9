//! The exit codes: one per verdict class and per way of being refused. Documented in the
//! README's "Inspecting a store" table; tests in `cli/tests/` pin each.

use logbook::Error;

/// Why `logbook` exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Success; for verify, a clean store.
    Ok = 0,
    /// An I/O error or anything else no other code names.
    Failed = 1,
    // 2 is clap's, for a usage error.
    /// verify: a torn tail (or another interrupted operation) that an open repairs by itself.
    Torn = 3,
    /// Corruption that a strict open refuses (repair: refused without --cut-corruption).
    Corrupt = 4,
    /// Not a store directory, or a format version this build does not read.
    Unusable = 5,
    /// Another handle holds the store's lock: it is open.
    Locked = 6,
}

/// The codes, for `--help`.
pub const HELP: &str = "Exit codes: 0 ok (verify: clean), 1 I/O or other error, 2 usage error, \
3 torn tail (an open repairs it), 4 corruption, 5 not a store or unsupported format version, \
6 store locked (open elsewhere).";

impl Code {
    pub fn of_error(e: &Error) -> Code {
        match e {
            Error::Corruption { .. } => Code::Corrupt,
            Error::NotAStore { .. } | Error::UnsupportedVersion { .. } => Code::Unusable,
            Error::Locked { .. } => Code::Locked,
            _ => Code::Failed,
        }
    }
}

impl From<Code> for std::process::ExitCode {
    fn from(code: Code) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

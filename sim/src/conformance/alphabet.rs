//! The crash enumeration's alphabet ([`Sym`]), its bound ([`CrashBound`], read from
//! [`ENV_VAR`] for longer runs) and the fault rates its crashes resolve with.

use crate::disk::FaultRates;

/// At most this many failure lines are kept in an [`super::Exploration`].
pub const FAILURES_KEPT: usize = 10;

/// The environment variable that widens the enumeration (see [`CrashBound::from_env`]).
pub const ENV_VAR: &str = "LOGBOOK_CONFORMANCE_CRASH";

/// One operation of the enumeration's alphabet, each defined relative to the model's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sym {
    /// One small entry.
    Append1,
    /// Three 2,000-byte entries: with 4 KiB segments the third starts a new segment.
    AppendRotate,
    /// Truncate from `last - 1` (never at or below the boundary; a no-op on an empty log).
    /// The next append comes from a new leader, in a higher term.
    Truncate,
    /// Purge up to `last - 1` when that is above the boundary, else to `last + 2` (past the end).
    Purge,
    /// Save a hard state with a higher term, a vote and `commit = last`.
    HardState,
    Flush,
}

impl Sym {
    pub const ALL: [Sym; 6] = [
        Sym::Append1,
        Sym::AppendRotate,
        Sym::Truncate,
        Sym::Purge,
        Sym::HardState,
        Sym::Flush,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sym::Append1 => "append1",
            Sym::AppendRotate => "append3-rotate",
            Sym::Truncate => "truncate",
            Sym::Purge => "purge",
            Sym::HardState => "hard-state",
            Sym::Flush => "flush",
        }
    }
}

/// How far the enumeration goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashBound {
    /// The longest sequence.
    pub depth: usize,
    pub alphabet: Vec<Sym>,
    /// Disk seeds tried per crash point, at most.
    pub seeds_per_point: u64,
    /// A crash point stops after this many seeds in a row bring no new durable image.
    pub stop_after_repeats: u64,
}

impl CrashBound {
    /// The bound `cargo test` uses: every sequence up to length 3 over the whole alphabet
    /// (259 sequences with the empty one, about 1,200 crash points per configuration), up to
    /// 16 seeds per crash point, stopping after 4 repeats. About 3,000 distinct crash states
    /// and 6-11 s per configuration in a debug build on a loaded 2-core machine.
    pub fn quick() -> CrashBound {
        CrashBound {
            depth: 3,
            alphabet: Sym::ALL.to_vec(),
            seeds_per_point: 16,
            stop_after_repeats: 4,
        }
    }

    /// The longer run (`LOGBOOK_CONFORMANCE_CRASH=thorough`): sequences up to length 4
    /// (1,555), up to 32 seeds per point, 8 repeats: about 6,000-7,500 crash points and
    /// 17,000-33,000 distinct crash states per configuration, 1-2 minutes each in a debug
    /// build.
    pub fn thorough() -> CrashBound {
        CrashBound {
            depth: 4,
            alphabet: Sym::ALL.to_vec(),
            seeds_per_point: 32,
            stop_after_repeats: 8,
        }
    }

    /// [`CrashBound::quick`] unless [`ENV_VAR`] says otherwise: `thorough`, or a
    /// comma-separated list of `depth=N`, `seeds=N`, `repeats=N` overriding the quick bound.
    /// An unreadable value is an error, so a typo never silently runs the small bound.
    pub fn from_env() -> Result<CrashBound, String> {
        match std::env::var(ENV_VAR) {
            Err(_) => Ok(CrashBound::quick()),
            Ok(v) => CrashBound::parse(&v),
        }
    }

    pub fn parse(spec: &str) -> Result<CrashBound, String> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "quick" {
            return Ok(CrashBound::quick());
        }
        if spec == "thorough" {
            return Ok(CrashBound::thorough());
        }
        let mut b = CrashBound::quick();
        for part in spec.split(',') {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{ENV_VAR}: `{part}` is not key=value"))?;
            let n: u64 = value
                .trim()
                .parse()
                .map_err(|_| format!("{ENV_VAR}: `{value}` is not a number"))?;
            match key.trim() {
                "depth" => b.depth = n as usize,
                "seeds" => b.seeds_per_point = n.max(1),
                "repeats" => b.stop_after_repeats = n.max(1),
                k => {
                    return Err(format!(
                        "{ENV_VAR}: unknown key `{k}` (depth, seeds, repeats)"
                    ))
                }
            }
        }
        Ok(b)
    }
}

/// The crash-time fault rates of the enumeration: every in-contract way pending state can
/// resolve, often enough that the seeds of one crash point reach different outcomes.
pub fn crash_rates() -> FaultRates {
    FaultRates {
        lost_write: 0.3,
        torn_write: 0.4,
        lost_dir_entry: 0.5,
        non_atomic_rename: 0.2,
        ..FaultRates::none()
    }
}

/// A crash that keeps nothing pending: the worst case for `durable_index`.
pub(crate) fn lose_everything() -> FaultRates {
    FaultRates {
        lost_write: 1.0,
        lost_dir_entry: 1.0,
        ..FaultRates::none()
    }
}

pub(crate) fn names(seq: &[Sym]) -> String {
    match seq.is_empty() {
        true => "open".into(),
        false => seq.iter().map(|s| s.name()).collect::<Vec<_>>().join(","),
    }
}

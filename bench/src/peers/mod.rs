//! The systems under test, behind one interface for the write workloads. Reads, truncation,
//! purge and recovery differ too much between the systems to share a trait; each module
//! exposes its own functions for those and `crate::workloads` calls them by name.

pub mod floor;
pub mod logbook;
pub mod okaywal;
pub mod raft_engine;
pub mod raft_storage;

use std::path::Path;

use bytes::Bytes;

pub type BoxErr = Box<dyn std::error::Error + Send + Sync>;
pub type Res<T> = Result<T, BoxErr>;

/// A log that writer threads append to.
pub trait WriteTarget: Send + Sync {
    /// One timed operation of writer `w`: append `n` entries carrying `payload`. With `sync`
    /// it returns once they are durable; without, once the system has accepted them.
    /// Each system assigns contiguous indexes its own way (see its module).
    fn append(&self, w: usize, n: usize, payload: &Bytes, sync: bool) -> Res<()>;

    /// A number that changes whenever the system starts a new log file (untimed probe).
    fn rotation_marker(&self) -> Res<u64>;

    /// Makes everything durable and closes (untimed).
    fn finish(self: Box<Self>) -> Res<()>;
}

/// The largest number in the names of `dir`'s files that start with `prefix`, parsed from
/// the digits that follow it.
pub fn newest_file_number(dir: &Path, prefix: &str) -> Res<u64> {
    let mut best = 0;
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(prefix) {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(n) = digits.parse::<u64>() {
                best = best.max(n);
            }
        }
    }
    Ok(best)
}

/// Bytes in the regular files of `dir` (not recursive).
pub fn dir_bytes(dir: &Path) -> Res<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let m = e?.metadata()?;
        if m.is_file() {
            total += m.len();
        }
    }
    Ok(total)
}

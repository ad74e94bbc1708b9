//! logbook: one Raft log on disk, with two persistence strategies and two flush policies.
//!
//! The engine touches the world only through [`Fs`] and [`Clock`]. See `ARCHITECTURE.md`
//! for the codemap and `../shared/DESIGN.md` for the contract.

pub mod clock;
pub mod config;
pub mod error;
pub mod fs;
pub mod std_fs;
pub mod system_clock;
pub mod types;

pub use clock::Clock;
pub use config::{Config, FlushPolicy, RecoveryMode, Strategy};
pub use error::{Error, Result};
pub use fs::{DirLock, Fs, FsFile};
pub use std_fs::StdFs;
pub use system_clock::SystemClock;
pub use types::{Entry, HardState, LogId};

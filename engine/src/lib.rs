//! logbook: one Raft log on disk, with two persistence strategies and two flush policies.
//!
//! The engine touches the world only through [`Fs`] and [`Clock`]. See `ARCHITECTURE.md`
//! for the codemap and `docs/DESIGN.md` for the contract.

#![warn(missing_docs)]

pub mod archive;
#[cfg(feature = "async")]
mod async_store;
mod canary;
mod clock;
mod config;
mod error;
mod fs;
mod group_commit;
pub mod inspect;
mod log;
mod meta;
#[cfg(feature = "openraft")]
pub mod openraft;
mod preload;
#[cfg(feature = "raft-rs")]
pub mod raft_rs;
mod read_buf;
mod record;
mod recovery;
mod scan;
pub mod sched;
mod segments;
mod std_fs;
mod store;
mod system_clock;
pub mod telemetry;
mod types;
mod window;

pub use archive::{Archive, ArchiveHandle, ArchiveReport, FsArchive};
#[cfg(feature = "async")]
pub use async_store::AsyncStore;
pub use canary::{Canary, CanarySet};
pub use clock::Clock;
pub use config::{Config, FlushPolicy, RecoveryMode, Strategy};
pub use error::{Error, Poison, PoisonKind, Result};
pub use fs::{DirLock, Fs, FsFile};
pub use log::{Log, LogStats, PreparedSync};
pub use record::checksummed_bytes;
pub use std_fs::StdFs;
pub use store::{Appended, Store, Wakeups};
pub use system_clock::SystemClock;
#[cfg(feature = "async")]
pub use system_clock::TaskClock;
pub use types::{Entry, HardState, LogId};

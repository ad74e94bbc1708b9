//! logbook: one Raft log on disk, with two persistence strategies and two flush policies.
//!
//! The engine touches the world only through [`Fs`] and [`Clock`]. See `ARCHITECTURE.md`
//! for the codemap and `docs/DESIGN.md` for the contract.

#[cfg(feature = "async")]
pub mod async_store;
pub mod canary;
pub mod clock;
pub mod config;
pub mod error;
pub mod fs;
mod group_commit;
pub mod inspect;
pub mod log;
mod meta;
#[cfg(feature = "openraft")]
pub mod openraft;
mod preload;
#[cfg(feature = "raft-rs")]
pub mod raft_rs;
mod read_buf;
mod record;
mod recovery;
pub mod sched;
mod segments;
pub mod std_fs;
pub mod store;
pub mod system_clock;
pub mod types;
mod window;

#[cfg(feature = "async")]
pub use async_store::AsyncStore;
pub use canary::{Canary, CanarySet};
pub use clock::Clock;
pub use config::{Config, FlushPolicy, RecoveryMode, Strategy};
pub use error::{Error, Result};
pub use fs::{DirLock, Fs, FsFile};
pub use log::{Log, LogStats, PreparedSync};
pub use record::checksummed_bytes;
pub use std_fs::StdFs;
pub use store::{Appended, Store};
pub use system_clock::SystemClock;
#[cfg(feature = "async")]
pub use system_clock::TaskClock;
pub use types::{Entry, HardState, LogId};

//! A reusable conformance suite for Raft log stores (DESIGN.md §1 and §3).
//!
//! To test another store, implement [`LogStore`] and [`StoreFactory`] (or use
//! [`factory_fn`]); to test another `Fs` backend, run [`LogbookFactory`] on a [`DirDisks`]
//! over it. The factory must be deterministic: the same operations make the same Fs calls.

pub mod disks;
pub mod report;
pub mod store;

pub use disks::{CaseDisk, DirDisks, Disks, SimDisks};
pub use report::{CaseReport, Exploration, Mode, Outcome, Report};
pub use store::{
    factory_fn, FnFactory, LogStore, LogbookFactory, LogbookStore, StoreError, StoreFactory,
    StoreResult,
};

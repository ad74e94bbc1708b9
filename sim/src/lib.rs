//! logbook-sim: a deterministic simulated world for the logbook engine (disk and clock),
//! fault injection, invariant checkers, a linearizability checker and a conformance suite.

pub mod archive;
pub mod clock;
pub mod cluster;
pub mod conformance;
pub mod disk;
pub mod html;
pub mod junit;
pub mod linearizability;
pub mod model;
pub mod ops;
pub mod report;
pub mod run;
pub mod scenario;
pub mod seeds;
pub mod shrink;
pub mod store_run;
pub mod swarm;
pub mod trace;

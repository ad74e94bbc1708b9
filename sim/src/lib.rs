//! logbook-sim: a deterministic simulated world for the logbook engine (disk and clock),
//! fault injection, invariant checkers, a linearizability checker and a conformance suite.

pub mod clock;
pub mod disk;
pub mod linearizability;
pub mod trace;

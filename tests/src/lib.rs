//! logbook-tests: tests of the engine against the real filesystem and real crashes.
//!
//! - [`workload`]: the payload of every `(index, term)` and the store configuration the
//!   crashee and the checker share;
//! - [`protocol`]: the crashee's stdout, intents and acknowledgements;
//! - [`checker`]: decides whether a store reopened after a SIGKILL kept every promise the
//!   crashee printed.
//!
//! The crashee is `src/bin/logbook-crashee.rs`; the kill loop is `tests/kill9.rs`.

pub mod checker;
pub mod protocol;
pub mod workload;

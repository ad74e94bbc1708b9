//! Deterministic trace (to be written).

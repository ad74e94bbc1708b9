//! Simulated clock (to be written).

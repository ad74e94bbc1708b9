//! Simulated disk (to be written).

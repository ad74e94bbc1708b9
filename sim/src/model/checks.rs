//! The checks of invariants 1-4 on a recovered store against the model, one function per
//! invariant, in the order they run.

use super::*;

/// Checks invariants 1-4 on a recovered store. Returns the number of checks made.
pub fn check_recovered(m: &Model, r: &Recovered) -> Result<u64, Violation> {
    let b = r.boundary.map_or(0, |l| l.index);
    let last = check_shape(r, b)?;
    no_resurrection(m, r, b)?;
    durable_prefix(m, r, b)?;
    claimed_durable(m, r, b)?;
    real_state_prefix(m, r, last)?;
    hard_state(m, r)?;
    Ok(5)
}

/// The store's own shape: contiguous entries above the boundary `b`, ending at its
/// `last_index`. Returns that last index.
fn check_shape(r: &Recovered, b: u64) -> Result<u64, Violation> {
    for (k, e) in r.entries.iter().enumerate() {
        if e.index != b + 1 + k as u64 {
            return Err(violation(
                Invariant::RealStatePrefix,
                format!(
                    "recovered entries are not contiguous from {}: found index {} at position {k}",
                    b + 1,
                    e.index
                ),
            ));
        }
    }
    let last = r.entries.last().map_or(b, |e| e.index);
    if last != r.last_index {
        return Err(violation(
            Invariant::RealStatePrefix,
            format!("last_index {} but the entries end at {last}", r.last_index),
        ));
    }
    Ok(last)
}

/// 3. No resurrection: the boundary is at least the durable one and some state's.
fn no_resurrection(m: &Model, r: &Recovered, b: u64) -> Result<(), Violation> {
    let s_k = &m.history[0];
    if b < s_k.boundary_index() || b < m.boundary_floor {
        return Err(violation(
            Invariant::NoResurrection,
            format!(
                "recovered boundary {b} is below the durable boundary {} (acknowledged floor {})",
                s_k.boundary_index(),
                m.boundary_floor
            ),
        ));
    }
    if !m.history.iter().any(|s| s.boundary == r.boundary) {
        return Err(violation(
            Invariant::NoResurrection,
            format!(
                "recovered boundary {:?} is no state's boundary since the last durable one",
                r.boundary
            ),
        ));
    }
    Ok(())
}

/// 1. Durable prefix: what every state since S_k shares must be there.
fn durable_prefix(m: &Model, r: &Recovered, b: u64) -> Result<(), Violation> {
    let s_k = &m.history[0];
    let mut i = s_k.boundary_index() + 1;
    while let Some(e) = s_k.get(i) {
        if !m.history[1..].iter().all(|s| s.get(i) == Some(e)) {
            break;
        }
        if i > b {
            let got = r.entries.get((i - b - 1) as usize);
            if got != Some(e) {
                return Err(violation(
                    Invariant::DurablePrefix,
                    format!(
                        "index {i}: durable {} but recovered {}",
                        describe(Some(e)),
                        describe(got)
                    ),
                ));
            }
        }
        i += 1;
    }
    Ok(())
}

/// 1, as the store reported it: every entry up to the durable index it claimed.
fn claimed_durable(m: &Model, r: &Recovered, b: u64) -> Result<(), Violation> {
    for i in (b + 1)..=m.claimed_durable {
        let want = m.current().get(i);
        let got = r.entries.get((i - b - 1) as usize);
        if want.is_some() && got != want {
            return Err(violation(
                Invariant::DurablePrefix,
                format!(
                    "the store reported index {} durable, but index {i} recovered {} instead of {}",
                    m.claimed_durable,
                    describe(got),
                    describe(want)
                ),
            ));
        }
    }
    Ok(())
}

/// 2. Prefix of a real state: the entries, up to `last`, agree with some state since S_k.
fn real_state_prefix(m: &Model, r: &Recovered, last: u64) -> Result<(), Violation> {
    let agrees = |s: &State| {
        r.entries.iter().all(|e| s.get(e.index) == Some(e))
            && last <= s.last().index.max(s.log.last().map_or(0, |e| e.index))
    };
    if m.history.iter().any(agrees) {
        return Ok(());
    }
    let s = m.current();
    let bad = r.entries.iter().find(|e| s.get(e.index) != Some(*e));
    Err(violation(Invariant::RealStatePrefix, match bad {
        Some(e) => format!("index {}: recovered {} matches no state since the last durable one (current has {})",
            e.index, describe(Some(e)), describe(s.get(e.index))),
        None => format!("recovered log ends at {last}, past every state since the last durable one"),
    }))
}

/// 4. Hard state: the last one saved, or the one whose save was in flight.
fn hard_state(m: &Model, r: &Recovered) -> Result<(), Violation> {
    if r.hard_state != m.hard_state && Some(r.hard_state) != m.hard_state_in_flight {
        return Err(violation(
            Invariant::HardState,
            format!(
                "recovered {:?}, last saved {:?}",
                r.hard_state, m.hard_state
            ),
        ));
    }
    Ok(())
}

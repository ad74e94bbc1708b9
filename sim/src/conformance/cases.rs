//! The cases: each one a short operation sequence about one part of the contract
//! (docs/DESIGN.md §1), with the expectations it states explicitly. The runner also checks the
//! whole observable state against the model after every operation, and reopens at the end.
//!
//! Payload sizes are chosen for 4 KiB segments: 2,000-byte entries put two records in a
//! segment, so runs of them cross rotations, and truncations and purges fall both inside
//! segments and on their edges.

use logbook::{Entry, HardState, LogId};

use super::crash;
use super::runner::{make_entries, make_entry, Runner, Step};
use super::store::{StoreError, StoreFactory};

/// Two such entries fill a 4 KiB segment.
pub const BIG: usize = 2000;
const SMALL: usize = 24;
const MAX: usize = usize::MAX;
const MAXB: u64 = u64::MAX;

/// What a crash case did: `(ops, checks, reopens)`, or why it failed.
pub type CrashCaseResult = Result<(u64, u64, u64), String>;

/// How a case runs.
#[derive(Clone, Copy)]
pub enum CaseKind {
    /// Operations through a [`Runner`], in every mode.
    Ops(fn(&mut Runner<'_>) -> Step),
    /// Crashes on fresh simulated disks; runs once, and only when the suite's disks are
    /// simulated.
    Crash(fn(&dyn StoreFactory) -> CrashCaseResult),
}

/// One named case.
#[derive(Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub about: &'static str,
    pub kind: CaseKind,
}

/// Every case, in the order the suite runs them.
// check-sizes: table
pub fn cases() -> Vec<Case> {
    use CaseKind::{Crash, Ops};
    let c = |name, about, kind| Case { name, about, kind };
    vec![
        c(
            "empty-store",
            "a new store is empty, reads nothing, flushes and reopens",
            Ops(empty_store),
        ),
        c(
            "append-continuity",
            "gaps, overlaps and term regressions are refused and change nothing",
            Ops(append_continuity),
        ),
        c(
            "read-single",
            "single reads of entries of many sizes, across rotations, warm and cold",
            Ops(read_single),
        ),
        c(
            "read-range-limits",
            "range reads with count and byte limits, clipped at both ends",
            Ops(read_range_limits),
        ),
        c(
            "truncate-inside",
            "truncation inside a segment and on a segment edge, then re-append",
            Ops(truncate_inside),
        ),
        c(
            "truncate-at-end",
            "truncating at last+1 removes nothing; at last removes one",
            Ops(truncate_at_end),
        ),
        c(
            "truncate-past-end",
            "truncating past the end removes nothing",
            Ops(truncate_past_end),
        ),
        c(
            "truncate-to-empty",
            "truncating everything above the boundary, with and without one",
            Ops(truncate_to_empty),
        ),
        c(
            "purge-inside",
            "purge inside the log; a purge below the boundary is a no-op",
            Ops(purge_inside),
        ),
        c(
            "purge-to-last",
            "purge up to the last entry leaves an empty log with its boundary",
            Ops(purge_to_last),
        ),
        c(
            "purge-past-end",
            "purge past the end moves last_index to the boundary",
            Ops(purge_past_end),
        ),
        c(
            "purge-empty-log",
            "last_purged is kept on an empty log and across reopens",
            Ops(purge_empty_log),
        ),
        c(
            "hard-state-round-trip",
            "hard state reads back after saves, log changes and reopens",
            Ops(hard_state_round_trip),
        ),
        c(
            "append-after-purge",
            "appends continue at boundary + 1 after a purge at or past the end",
            Ops(append_after_purge),
        ),
        c(
            "durable-index-honest",
            "after each op, a crash losing every pending write keeps all up to durable_index",
            Crash(durable_index_honest),
        ),
    ]
}

fn e(index: u64, term: u64) -> Entry {
    make_entry(index, term, SMALL)
}

fn id(term: u64, index: u64) -> LogId {
    LogId::new(term, index)
}

fn empty_store(r: &mut Runner<'_>) -> Step {
    r.expect_bounds(1, 0, None)?;
    r.expect_hard_state(HardState::default())?;
    r.expect_entry(0, None)?;
    r.expect_entry(1, None)?;
    r.read_grid(&[0, 1, 2], &[0, 1, 2, 10], &[0, 1, MAX], &[0, MAXB])?;
    r.flush()?;
    r.reopen()?;
    r.expect_bounds(1, 0, None)?;
    r.truncate(1)?;
    r.append(&[])?;
    r.expect_bounds(1, 0, None)
}

fn append_continuity(r: &mut Runner<'_>) -> Step {
    let nc = |expected, got| StoreError::NotContinuous { expected, got };
    let tr = |index, term| StoreError::TermRegression { index, term };
    r.reject(&[e(2, 1)], nc(1, 2))?;
    r.reject(&[e(0, 1)], nc(1, 0))?;
    r.append(&make_entries(1, 3, 1, SMALL))?;
    r.reject(&[e(5, 1)], nc(4, 5))?;
    r.reject(&[e(3, 1)], nc(4, 3))?;
    r.reject(&[e(1, 1), e(2, 1)], nc(4, 1))?;
    r.reject(&[e(4, 1), e(6, 1)], nc(5, 6))?;
    r.reject(&[e(4, 1), e(5, 1), e(5, 1)], nc(6, 5))?;
    r.reject(&[e(4, 2), e(5, 1)], tr(5, 1))?;
    r.append(&[e(4, 2)])?;
    r.reject(&[e(5, 1)], tr(5, 1))?;
    r.append(&[])?;
    r.append(&[e(5, 2), e(6, 2)])?;
    r.append(&[e(7, 5)])?;
    r.expect_bounds(1, 7, None)?;
    r.reopen()?;
    r.reject(&[e(7, 5)], nc(8, 7))?;
    r.reject(&[e(8, 4)], tr(8, 4))?;
    r.append(&[e(8, 5)])?;
    r.expect_bounds(1, 8, None)
}

fn read_single(r: &mut Runner<'_>) -> Step {
    let lens = [0, 1, 100, BIG, BIG, BIG, 5000, 3, BIG, 0];
    let entries: Vec<Entry> = lens
        .iter()
        .enumerate()
        .map(|(k, &len)| make_entry(k as u64 + 1, 1 + k as u64 / 4, len))
        .collect();
    r.append(&entries[..1])?;
    r.append(&entries[1..4])?;
    for e in &entries[4..] {
        r.append(std::slice::from_ref(e))?;
    }
    for round in 0..2 {
        if round == 1 {
            r.reopen()?;
        }
        r.expect_entry(0, None)?;
        for e in entries.iter().rev() {
            r.expect_entry(e.index, Some(e))?;
        }
        r.expect_entry(11, None)?;
        r.expect_entry(u64::MAX, None)?;
    }
    Ok(())
}

fn read_range_limits(r: &mut Runner<'_>) -> Step {
    let lens = [100, BIG, 50, BIG, 10, 0, BIG, 300, 1, BIG];
    let entries: Vec<Entry> = lens
        .iter()
        .enumerate()
        .map(|(k, &len)| make_entry(k as u64 + 1, 1, len))
        .collect();
    r.append(&entries)?;
    let froms = [1, 2, 5, 10, 11, 12];
    let tos = [0, 1, 3, 6, 11, 100, u64::MAX];
    let counts = [0, 1, 3, MAX];
    let bytes = [0, 1, 100, 2050, 4100, MAXB];
    r.read_grid(&froms, &tos, &counts, &bytes)?;
    r.reopen()?;
    r.read_grid(&froms, &tos, &counts, &bytes)?;
    r.purge(id(1, 3))?;
    r.read_grid(&[0, 1, 3, 4, 5, 10, 11], &tos, &[1, MAX], &[0, 2050, MAXB])
}

fn truncate_inside(r: &mut Runner<'_>) -> Step {
    r.append(&make_entries(1, 6, 1, BIG))?;
    r.truncate(4)?;
    r.expect_bounds(1, 3, None)?;
    r.expect_entry(4, None)?;
    let new = make_entries(4, 5, 2, BIG);
    r.append(&new)?;
    r.expect_entry(4, Some(&new[0]))?;
    r.truncate(3)?;
    r.expect_bounds(1, 2, None)?;
    r.truncate(2)?;
    r.expect_bounds(1, 1, None)?;
    r.append(&make_entries(2, 3, 3, SMALL))?;
    r.expect_bounds(1, 3, None)
}

fn truncate_at_end(r: &mut Runner<'_>) -> Step {
    r.append(&make_entries(1, 3, 1, SMALL))?;
    r.truncate(4)?;
    r.expect_bounds(1, 3, None)?;
    r.truncate(3)?;
    r.expect_bounds(1, 2, None)?;
    r.append(&[e(3, 2)])?;
    r.expect_entry(3, Some(&e(3, 2)))
}

fn truncate_past_end(r: &mut Runner<'_>) -> Step {
    r.append(&make_entries(1, 3, 1, BIG))?;
    r.truncate(10)?;
    r.truncate(u64::MAX)?;
    r.expect_bounds(1, 3, None)?;
    r.append(&[e(4, 1)])?;
    r.expect_bounds(1, 4, None)
}

fn truncate_to_empty(r: &mut Runner<'_>) -> Step {
    r.append(&make_entries(1, 5, 1, BIG))?;
    r.truncate(1)?;
    r.expect_bounds(1, 0, None)?;
    r.expect_entry(1, None)?;
    r.append(&make_entries(1, 5, 2, SMALL))?;
    r.purge(id(2, 2))?;
    r.truncate(3)?;
    r.expect_bounds(3, 2, Some(id(2, 2)))?;
    r.append(&[e(3, 3)])?;
    r.expect_bounds(3, 3, Some(id(2, 2)))
}

fn purge_inside(r: &mut Runner<'_>) -> Step {
    r.append(&make_entries(1, 6, 1, BIG))?;
    r.purge(id(1, 3))?;
    r.expect_bounds(4, 6, Some(id(1, 3)))?;
    r.expect_entry(3, None)?;
    r.purge(id(1, 2))?;
    r.purge(id(1, 3))?;
    r.expect_bounds(4, 6, Some(id(1, 3)))?;
    r.purge(id(1, 4))?;
    r.expect_bounds(5, 6, Some(id(1, 4)))?;
    r.append(&[e(7, 1)])?;
    r.expect_bounds(5, 7, Some(id(1, 4)))
}

fn purge_to_last(r: &mut Runner<'_>) -> Step {
    r.append(&make_entries(1, 4, 1, BIG))?;
    r.purge(id(1, 4))?;
    r.expect_bounds(5, 4, Some(id(1, 4)))?;
    r.expect_entry(4, None)?;
    r.reopen()?;
    r.expect_bounds(5, 4, Some(id(1, 4)))?;
    r.append(&[e(5, 1)])?;
    r.expect_bounds(5, 5, Some(id(1, 4)))
}

fn purge_past_end(r: &mut Runner<'_>) -> Step {
    r.append(&make_entries(1, 3, 1, BIG))?;
    r.purge(id(2, 8))?;
    r.expect_bounds(9, 8, Some(id(2, 8)))?;
    r.expect_entry(3, None)?;
    r.expect_entry(9, None)?;
    r.reopen()?;
    r.expect_bounds(9, 8, Some(id(2, 8)))
}

fn purge_empty_log(r: &mut Runner<'_>) -> Step {
    r.purge(id(3, 5))?;
    r.expect_bounds(6, 5, Some(id(3, 5)))?;
    r.reopen()?;
    r.purge(id(3, 4))?;
    r.expect_bounds(6, 5, Some(id(3, 5)))?;
    r.flush()?;
    r.reopen()?;
    r.expect_bounds(6, 5, Some(id(3, 5)))?;
    r.append(&[e(6, 3)])?;
    r.truncate(6)?;
    r.expect_bounds(6, 5, Some(id(3, 5)))?;
    r.reopen()?;
    r.expect_bounds(6, 5, Some(id(3, 5)))
}

fn hard_state_round_trip(r: &mut Runner<'_>) -> Step {
    let hs = |term, vote, commit| HardState { term, vote, commit };
    r.expect_hard_state(HardState::default())?;
    r.save_hard_state(hs(1, Some(2), 0))?;
    r.expect_hard_state(hs(1, Some(2), 0))?;
    r.append(&make_entries(1, 3, 1, BIG))?;
    r.save_hard_state(hs(1, Some(2), 3))?;
    r.save_hard_state(hs(1, Some(2), 3))?;
    r.reopen()?;
    r.expect_hard_state(hs(1, Some(2), 3))?;
    r.save_hard_state(hs(2, None, 3))?;
    r.purge(id(1, 2))?;
    r.expect_hard_state(hs(2, None, 3))?;
    r.truncate(3)?;
    r.append(&[e(3, 2)])?;
    r.reopen()?;
    r.expect_hard_state(hs(2, None, 3))?;
    r.save_hard_state(hs(u64::MAX, Some(u64::MAX), u64::MAX))?;
    r.flush()?;
    r.reopen()?;
    r.expect_hard_state(hs(u64::MAX, Some(u64::MAX), u64::MAX))
}

fn append_after_purge(r: &mut Runner<'_>) -> Step {
    r.append(&make_entries(1, 3, 1, SMALL))?;
    r.purge(id(2, 5))?;
    r.reject(
        &[e(4, 2)],
        StoreError::NotContinuous {
            expected: 6,
            got: 4,
        },
    )?;
    r.reject(&[e(6, 1)], StoreError::TermRegression { index: 6, term: 1 })?;
    r.append(&[e(6, 2)])?;
    r.expect_bounds(6, 6, Some(id(2, 5)))?;
    r.append(&make_entries(7, 9, 2, BIG))?;
    r.purge(id(2, 7))?;
    r.append(&[e(10, 3)])?;
    r.expect_bounds(8, 10, Some(id(2, 7)))?;
    r.purge(id(3, 10))?;
    r.append(&[e(11, 3)])?;
    r.reopen()?;
    r.expect_bounds(11, 11, Some(id(3, 10)))?;
    r.expect_entry(11, Some(&e(11, 3)))
}

fn durable_index_honest(f: &dyn StoreFactory) -> CrashCaseResult {
    use crash::Sym::*;
    crash::worst_case_crashes(
        f,
        &[
            Append1,
            Append1,
            Flush,
            AppendRotate,
            Truncate,
            Append1,
            HardState,
            Purge,
            AppendRotate,
            Flush,
            Purge,
            Append1,
            Truncate,
            Flush,
        ],
    )
}

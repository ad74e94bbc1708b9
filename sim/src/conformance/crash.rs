//! Crashes: the bounded-exhaustive enumeration and the worst-case crash after each operation.
//!
//! # The enumeration
//!
//! Every operation sequence of length `1..=depth` over an alphabet of [`Sym`]s (plus the
//! empty sequence, which covers the store's first open) runs on a fault-free [`SimDisk`] to
//! count its Fs calls. Then, for every crash point of the sequence's **last** operation
//! (each Fs call it or the tick after it makes, and one crash between calls after the end;
//! crash points inside earlier operations are those of the sequence's prefix, which is
//! enumerated too), it reruns the sequence on disks with up to `seeds_per_point` seeds,
//! crashing inside that call. A disk resolves the in-flight call and the pending writes and
//! directory entries from its seed ([`crash_rates`]: lost, torn and reordered writes, lost
//! directory entries, non-atomic renames), so the seeds enumerate the crash outcomes; a
//! point stops early after `stop_after_repeats` seeds in a row produce a durable image it
//! has already checked. Each distinct image is reopened with faults off and checked:
//! invariants 1-4 by [`crate::model::check_recovered`] (the model keeps every state since the last one
//! the store held fully durable, and every `durable_index` it reported), 5 (single reads
//! agree with the range read, nothing at or below the boundary), 7 (recovery reports no
//! corruption and does not panic), and that the recovered store takes a new entry that
//! survives a clean reopen.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::alphabet::{crash_rates, lose_everything, names, CrashBound, FAILURES_KEPT};
use super::cases::CrashCaseResult;
use super::exec::{drive, Exec, Halt};
use super::report::Exploration;
use super::store::StoreFactory;
use crate::disk::{FaultCounters, SimDisk};
use crate::seeds::mix;
use crate::trace::Trace;

pub use super::alphabet::Sym;

/// The docs/DESIGN.md §3 invariants after a crash between calls that loses every pending write
/// and directory entry, once after each prefix of `syms`. Returns `(ops, checks, reopens)`.
pub fn worst_case_crashes(factory: &dyn StoreFactory, syms: &[Sym]) -> CrashCaseResult {
    let (mut ops, mut checks, mut reopens) = (0, 0, 0);
    for p in 1..=syms.len() {
        let disk = SimDisk::new(p as u64, lose_everything(), Trace::new(false));
        let mut exec = Exec::new(factory, disk);
        let at = || format!("crash after [{}]", names(&syms[..p]));
        let crashed = drive(&mut exec, &syms[..p]).map_err(|m| format!("{}: {m}", at()))?;
        if crashed {
            return Err(format!("{}: the disk crashed unasked", at()));
        }
        ops += exec.ops;
        exec.crash();
        checks += exec
            .check_recovery()
            .map_err(|m| format!("{}: {m}", at()))?;
        reopens += 2;
    }
    Ok((ops, checks, reopens))
}

/// Every sequence of `1..=depth` symbols, after the empty one, in lexicographic order.
fn sequences(bound: &CrashBound) -> Vec<Vec<Sym>> {
    let mut all = vec![Vec::new()];
    let mut layer = vec![Vec::new()];
    for _ in 0..bound.depth {
        let mut next = Vec::new();
        for seq in &layer {
            for &s in &bound.alphabet {
                let mut v: Vec<Sym> = seq.clone();
                v.push(s);
                next.push(v);
            }
        }
        all.extend(next.iter().cloned());
        layer = next;
    }
    all
}

fn fail(x: &mut Exploration, line: String) {
    x.failures_total += 1;
    if x.failures.len() < FAILURES_KEPT {
        x.failures.push(line);
    }
}

/// The bounded-exhaustive crash enumeration (see the module docs).
pub fn explore(factory: &dyn StoreFactory, bound: &CrashBound) -> Exploration {
    let mut x = Exploration::default();
    for (seq_no, seq) in sequences(bound).iter().enumerate() {
        x.sequences += 1;
        let (n_prev, n) = match count_calls(factory, seq) {
            Ok(c) => c,
            Err(m) => {
                fail(&mut x, format!("[{}] without a crash: {m}", names(seq)));
                continue;
            }
        };
        let points = ((n_prev + 1)..=n).map(Some).chain([None]);
        for point in points {
            let at = Point {
                seq_no,
                seq,
                crash_at: point,
                n_prev,
                n,
            };
            crash_point(&mut x, factory, bound, &at);
        }
    }
    x
}

/// The `Fs` calls of `seq` run with no crash: before its last operation, and in all.
fn count_calls(factory: &dyn StoreFactory, seq: &[Sym]) -> Result<(u64, u64), String> {
    let counted = catch_unwind(AssertUnwindSafe(|| {
        let disk = SimDisk::new(0, crash_rates(), Trace::new(false));
        let mut exec = Exec::new(factory, disk.clone());
        let prefix = &seq[..seq.len().saturating_sub(1)];
        drive(&mut exec, prefix)?;
        let n_prev = if seq.is_empty() { 0 } else { disk.fs_calls() };
        if let Some(&sym) = seq.last() {
            exec.run(sym).map_err(|h| match h {
                Halt::Crashed => "the disk crashed unasked".to_string(),
                Halt::Failed(m) => m,
            })?;
        }
        Ok::<_, String>((n_prev, disk.fs_calls()))
    }));
    match counted {
        Ok(r) => r,
        Err(p) => Err(format!("panic: {}", super::panic_text(p))),
    }
}

/// One crash point of one sequence: inside `Fs` call `crash_at` (`None`: after the end).
struct Point<'a> {
    seq_no: usize,
    seq: &'a [Sym],
    crash_at: Option<u64>,
    /// The calls before the sequence's last operation, and in all.
    n_prev: u64,
    n: u64,
}

impl Point<'_> {
    /// Where the crash happened, for a failure's line.
    fn describe(&self, seed: u64) -> String {
        let op = self.seq.last().map_or("the first open".into(), |s| {
            format!("{} and its tick", s.name())
        });
        let p = self.crash_at.map_or("after the end".into(), |c| {
            let (k, of) = (c - self.n_prev, self.n - self.n_prev);
            format!("inside Fs call #{c} (call {k} of {of} of {op})")
        });
        format!("[{}] crash {p}, disk seed {seed:#x}", names(self.seq))
    }
}

/// Crashes at `at` under up to `seeds_per_point` disk seeds (stopping after
/// `stop_after_repeats` recovered states in a row that were seen before), and checks each
/// new recovered state.
fn crash_point(x: &mut Exploration, factory: &dyn StoreFactory, bound: &CrashBound, at: &Point) {
    x.crash_points += 1;
    let mut seen = BTreeSet::new();
    let mut faults = FaultCounters::default();
    let mut repeats = 0;
    for s in 0..bound.seeds_per_point {
        x.crash_runs += 1;
        let seed = mix(mix(at.seq_no as u64)
            ^ at.crash_at.unwrap_or(0).wrapping_mul(0x1_0001)
            ^ (s << 40));
        let one = catch_unwind(AssertUnwindSafe(|| {
            let disk = SimDisk::new(seed, crash_rates(), Trace::new(false));
            if let Some(c) = at.crash_at {
                disk.arm_crash_at(c);
            }
            let mut exec = Exec::new(factory, disk.clone());
            drive(&mut exec, at.seq)?;
            exec.crash();
            faults.add(&disk.counters());
            if !seen.insert(exec.fingerprint()) {
                return Ok(None);
            }
            exec.check_recovery().map(Some)
        }));
        match one {
            Ok(Ok(None)) => {
                x.duplicate_states += 1;
                repeats += 1;
                if repeats >= bound.stop_after_repeats {
                    break;
                }
            }
            Ok(Ok(Some(checks))) => {
                x.crash_states += 1;
                x.checks += checks;
                repeats = 0;
            }
            Ok(Err(m)) => {
                x.crash_states += 1;
                fail(x, format!("{}: {m}", at.describe(seed)));
                break;
            }
            Err(p) => {
                let panic = super::panic_text(p);
                fail(x, format!("{}: panic: {panic}", at.describe(seed)));
                break;
            }
        }
    }
    x.faults.add(&faults);
}

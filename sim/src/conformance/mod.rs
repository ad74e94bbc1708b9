//! A reusable conformance suite for Raft log stores (docs/DESIGN.md §1 and §3).
//!
//! [`run`] takes a [`StoreFactory`] (how to open a store on an [`logbook::Fs`] and a
//! directory, and reopen it there), a [`Disks`] (where each case gets a fresh directory:
//! [`SimDisks`], or [`DirDisks`] over [`logbook::StdFs`] in a tempdir or over any other `Fs`
//! backend), and [`Options`], and returns a [`Report`] naming every case with its verdict and
//! counts. Three parts:
//!
//! 1. **Cases** ([`cases::cases`]): short operation sequences, each about one part of the
//!    contract, with explicit expectations, the whole observable state compared with a
//!    reference model after every operation, and a close-and-reopen at the end.
//! 2. **Reopen after every operation** ([`Mode::ReopenEach`]): the same cases, closing and
//!    reopening the store after each single operation; the reopened store must show the
//!    same state.
//! 3. **Crash enumeration** ([`crash::explore`], on simulated disks only): every operation
//!    sequence up to a bound, crashed inside every Fs call, each crash resolved many ways,
//!    each recovered store checked against invariants 1-5 and 7. [`CrashBound::quick`] runs
//!    in `cargo test`; [`CrashBound::from_env`] reads [`ENV_VAR`] for longer runs.
//!
//! To test another store, implement [`LogStore`] and [`StoreFactory`] (or use
//! [`factory_fn`]); to test another `Fs` backend, run [`LogbookFactory`] on a [`DirDisks`]
//! over it. The factory must be deterministic: the same operations make the same Fs calls.

pub mod alphabet;
pub mod cases;
pub mod crash;
pub mod disks;
mod exec;
pub mod report;
pub mod runner;
pub mod store;

use std::panic::{catch_unwind, AssertUnwindSafe};

pub use alphabet::{CrashBound, Sym, ENV_VAR};
pub use cases::{cases, Case, CaseKind};
pub use disks::{CaseDisk, DirDisks, Disks, SimDisks};
pub use report::{CaseReport, Exploration, Mode, Outcome, Report};
pub use runner::Runner;
pub use store::{
    factory_fn, FnFactory, LogStore, LogbookFactory, LogbookStore, StoreError, StoreFactory,
    StoreResult,
};

/// What [`run`] runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Each case once, in order.
    pub plain: bool,
    /// Each case again, reopening after every operation.
    pub reopen_each: bool,
    /// The crash enumeration, if wanted (on simulated disks, whatever `disks` is).
    pub crash: Option<CrashBound>,
}

impl Default for Options {
    /// Both case modes, no crash enumeration.
    fn default() -> Self {
        Options {
            plain: true,
            reopen_each: true,
            crash: None,
        }
    }
}

/// One case in one mode; `None` when the case does not run in that mode.
fn run_case(
    factory: &dyn StoreFactory,
    disks: &dyn Disks,
    case: &Case,
    mode: Mode,
) -> Option<CaseReport> {
    let label = format!("{}-{mode}", case.name);
    let mut r = CaseReport {
        case: case.name,
        mode,
        outcome: Outcome::Pass,
        ops: 0,
        checks: 0,
        reopens: 0,
    };
    let disk = match disks.fresh(&label) {
        Ok(d) => d,
        Err(e) => {
            r.outcome = Outcome::Fail(format!("no fresh directory: {e}"));
            return Some(r);
        }
    };
    let verdict = match case.kind {
        CaseKind::Ops(f) => catch_unwind(AssertUnwindSafe(|| {
            let mut runner = Runner::new(factory, disk, mode)?;
            let result = f(&mut runner);
            (r.ops, r.checks, r.reopens) = (runner.ops, runner.checks, runner.reopens);
            result?;
            let finished = runner.finish();
            r.reopens += 1;
            finished
        })),
        CaseKind::Crash(_) if mode != Mode::Plain => return None,
        CaseKind::Crash(_) if disk.sim.is_none() => {
            r.outcome = Outcome::Skipped("crashes need the simulated disk".into());
            return Some(r);
        }
        CaseKind::Crash(f) => catch_unwind(AssertUnwindSafe(|| {
            (r.ops, r.checks, r.reopens) = f(factory)?;
            Ok(())
        })),
    };
    r.outcome = match verdict {
        Ok(Ok(())) => Outcome::Pass,
        Ok(Err(why)) => Outcome::Fail(why),
        Err(p) => Outcome::Fail(format!("panicked: {}", panic_text(p))),
    };
    Some(r)
}

/// The case name the crash enumeration is reported under.
pub const CRASH_CASE: &str = "crash-enumeration";

/// Runs every case (and, if asked, the crash enumeration) against the stores `factory`
/// opens on `disks`. Never panics on a store's panic: that case fails with its message.
pub fn run(factory: &dyn StoreFactory, disks: &dyn Disks, opts: &Options) -> Report {
    let mut reports = Vec::new();
    let modes = [
        (opts.plain, Mode::Plain),
        (opts.reopen_each, Mode::ReopenEach),
    ];
    for case in cases() {
        for (_, mode) in modes.iter().filter(|(on, _)| *on) {
            reports.extend(run_case(factory, disks, &case, *mode));
        }
    }
    let exploration = opts.crash.as_ref().map(|bound| {
        let x = crash::explore(factory, bound);
        reports.push(CaseReport {
            case: CRASH_CASE,
            mode: Mode::CrashEnumeration,
            outcome: match x.failures.first() {
                None => Outcome::Pass,
                Some(first) => {
                    Outcome::Fail(format!("{} failures; first: {first}", x.failures_total))
                }
            },
            ops: x.crash_runs,
            checks: x.checks,
            reopens: x.crash_states * 2,
        });
        x
    });
    Report {
        store: factory.name(),
        disk: disks.name(),
        cases: reports,
        exploration,
    }
}

pub(crate) fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

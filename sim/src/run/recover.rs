//! Errors, crashes, bit rot and recovery: the harness restarts the machine on any write-path
//! failure, and checks invariants 1-4 (and 7, 8) on every reopen.

use std::path::Path;
use std::sync::Arc;

use logbook::{Error, Log};
use rand::Rng;

use super::{violation, Harness, Step, Stop, DIFF_ROWS_MAX, OPEN_ATTEMPTS_MAX, STORE_DIR};
use crate::model::{check_recovered, diff_rows, Invariant, Recovered};
use crate::seeds;
use crate::trace::fnv1a;

impl Harness {
    pub(super) fn on_read_error(&mut self, e: Error) -> Step {
        match e {
            Error::Io { .. } | Error::Archive { .. } if !self.disk.is_crashed() => {
                self.trace.event(format_args!("  read error: {e}"));
                Ok(())
            }
            e => self.on_error(e),
        }
    }

    pub(super) fn on_error(&mut self, e: Error) -> Step {
        self.trace.event(format_args!("  error: {e}"));
        // What the store claimed durable before failing binds it too.
        if let Some(log) = &self.log {
            self.model.observe_durable(log.durable_index());
        }
        if self.disk.is_crashed() {
            return self.crash_and_recover();
        }
        match e {
            e @ Error::Corruption { .. } => Err(self.on_corruption(&e)),
            Error::Io { .. } | Error::DiskFull { .. } | Error::Poisoned { .. } => {
                // Fail-stop: no process can tell which pages a failed fsync dropped, so the
                // node restarts from what is durable.
                self.stats.fail_stop_restarts += 1;
                self.crash_and_recover()
            }
            e => Err(violation(
                Invariant::LiveState,
                format!("unexpected error from the store: {e}"),
            )),
        }
    }

    /// The end of a run that saw `e`, an `Error::Corruption`: correct if the run rotted the
    /// file it names, a violation (7) otherwise.
    pub(super) fn on_corruption(&mut self, e: &Error) -> Stop {
        let Error::Corruption { path, .. } = e else {
            unreachable!("called with a corruption");
        };
        if self.rotted.iter().any(|p| p == path) {
            self.stats.corruption_reported += 1;
            self.trace.event(format_args!(
                "  corruption correctly reported in {}",
                path.display()
            ));
            Stop::CorruptionReported
        } else {
            violation(
                Invariant::Classification,
                format!(
                    "corruption reported in {} but no fault damaged that file's durable data: {e}",
                    path.display()
                ),
            )
        }
    }

    pub(super) fn crash_and_recover(&mut self) -> Step {
        if let Some(log) = self.log.take() {
            self.stats.add_log(&log.stats());
        }
        self.crash();
        self.recover()
    }

    pub(super) fn crash(&mut self) {
        self.disk.disarm_crash();
        let report = self.disk.crash();
        self.stats.crashes += 1;
        self.trace.event(format_args!("  crash: {report}"));
        if self.rot_rate > 0.0 && self.crash_rng.gen_bool(self.rot_rate) {
            self.rot();
        }
    }

    /// Flips one bit of durable data whose damage is unambiguous: the metadata (two slots)
    /// or a sealed segment. Not the newest segment: damage in its last synced batch cannot
    /// be told from a torn write by any format without a durable commit marker, and the
    /// engine cuts it as one (ARCHITECTURE.md, "known blind spots").
    pub(super) fn rot(&mut self) {
        let dir = Path::new(STORE_DIR);
        let mut names = self.disk.list_durable(dir);
        let newest = names
            .iter()
            .filter(|n| n.starts_with("seg-"))
            .max()
            .cloned();
        names.retain(|n| n == "meta" || (n.starts_with("seg-") && Some(n) != newest.as_ref()));
        if names.is_empty() {
            return;
        }
        let path = dir.join(&names[self.crash_rng.gen_range(0..names.len())]);
        let len = self.disk.durable_file(&path).map_or(0, |b| b.len() as u64);
        if len == 0 {
            return;
        }
        let offset = self.crash_rng.gen_range(0..len);
        if self.disk.rot(&path, offset).is_ok() {
            self.trace
                .event(format_args!("  bit rot in {} at {offset}", path.display()));
            self.rotted.push(path);
        }
    }

    /// Opens the store (surviving crashes during recovery), then checks invariants 1-4 with
    /// faults off and makes the recovered state the model's durable baseline.
    pub(super) fn recover(&mut self) -> Step {
        let mut log = self.open_surviving_crashes()?;
        self.stats.recoveries += 1;
        self.stats.torn_cuts += log.stats().torn_cuts_at_open as u64;
        let r = self.read_recovered(&mut log)?;
        let checks = match check_recovered(&self.model, &r) {
            Ok(checks) => checks,
            Err(v) => {
                // The picture of the failure (`--html`) draws these as its diff table.
                for row in diff_rows(&self.model, &r, DIFF_ROWS_MAX) {
                    self.trace.event(format_args!("  diff {row}"));
                }
                return Err(Stop::Violation(v));
            }
        };
        self.stats.checks += checks;
        self.trace.event(format_args!(
            "  recovered boundary {:?} last {} hard state {:?} digest {:016x}",
            r.boundary.map(|b| b.index),
            r.last_index,
            r.hard_state,
            fnv1a(
                &r.entries
                    .iter()
                    .flat_map(|e| e.payload.iter().copied())
                    .collect::<Vec<u8>>()
            )
        ));
        self.term = self
            .term
            .max(r.entries.last().map_or(0, |e| e.term))
            .max(r.boundary.map_or(0, |b| b.term));
        self.model.reset(r.boundary, r.entries, r.hard_state);
        self.bump_term = true;
        drop(log);
        self.reopen_cold()
    }

    /// Opens the store, arming crashes inside the open at the scenario's rate: a crash
    /// during recovery restarts the machine and tries again (invariant 8), as does an I/O
    /// failure (fail-stop).
    fn open_surviving_crashes(&mut self) -> Result<Log, Stop> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > OPEN_ATTEMPTS_MAX {
                return Err(violation(
                    Invariant::IdempotentRecovery,
                    format!("the store did not reopen in {OPEN_ATTEMPTS_MAX} attempts"),
                ));
            }
            if attempt < 6 && self.crash_rng.gen_bool(self.recovery_crash_rate) {
                let at = self.disk.fs_calls() + self.crash_rng.gen_range(1..=40);
                self.trace
                    .event(format_args!("  crash armed during recovery at call {at}"));
                self.disk.arm_crash_at(at);
            }
            let opened = self.open();
            self.disk.disarm_crash();
            match opened {
                Ok(log) => return Ok(log),
                Err(_) if self.disk.is_crashed() => {
                    self.stats.crashes_during_recovery += 1;
                    self.crash();
                }
                Err(e @ Error::Corruption { .. }) => return Err(self.on_corruption(&e)),
                Err(e @ (Error::Io { .. } | Error::DiskFull { .. } | Error::Archive { .. })) => {
                    // Fail-stop here too: after a failed fsync the page cache may show data
                    // the disk dropped, and no process can tell. The node restarts from what
                    // is durable (a crash also clears sticky read errors).
                    self.trace.event(format_args!("  open failed: {e}"));
                    self.crash();
                }
                Err(e) => {
                    return Err(violation(
                        Invariant::Classification,
                        format!("recovery failed: {e}"),
                    ))
                }
            }
        }
    }

    fn open(&self) -> logbook::Result<Log> {
        let last = self.model.current().last().index;
        let cfg = seeds::open_config(&self.cfg, self.hint_seed, self.disk.fs_calls(), last);
        if let Some(hint) = cfg.snapshot_hint() {
            self.trace
                .event(format_args!("  open with snapshot hint {hint}"));
        }
        Log::open(
            Arc::new(self.disk.clone()),
            Arc::new(self.clock.clone()),
            STORE_DIR,
            cfg,
        )
    }

    /// Everything the reopened store holds, read with faults off.
    fn read_recovered(&mut self, log: &mut Log) -> Result<Recovered, Stop> {
        self.disk.set_faults_enabled(false);
        let read = (|| {
            let boundary = log.last_purged();
            let last_index = log.last_index();
            let from = boundary.map_or(0, |b| b.index) + 1;
            let entries = log.entries(from, last_index + 1, usize::MAX, u64::MAX)?;
            Ok::<_, Error>(Recovered {
                boundary,
                last_index,
                entries,
                hard_state: log.hard_state(),
            })
        })();
        self.disk.set_faults_enabled(true);
        match read {
            Ok(r) => Ok(r),
            Err(e @ Error::Corruption { .. }) => Err(self.on_corruption(&e)),
            Err(e) => Err(violation(
                Invariant::Classification,
                format!("reading the recovered store failed: {e}"),
            )),
        }
    }

    /// The verification read warmed the store (every segment indexed, caches full); the
    /// workload goes on with a cold handle, as a restarted node would.
    fn reopen_cold(&mut self) -> Step {
        self.disk.set_faults_enabled(false);
        let cold = self.open();
        self.disk.set_faults_enabled(true);
        match cold {
            Ok(log) => {
                self.log = Some(log);
                Ok(())
            }
            Err(e) => Err(violation(
                Invariant::IdempotentRecovery,
                format!("a second open of the recovered store failed: {e}"),
            )),
        }
    }
}

//! logbook-crashee: opens a logbook store on the real filesystem and runs a seeded,
//! Raft-like workload on it until it is killed. `tests/kill9.rs` SIGKILLs it at random
//! moments and checks the reopened store against what it printed.
//!
//! Usage: `logbook-crashee <dir> <disk-first|mem-first> <immediate|batch:N:MS> <seed>
//! <segment_size_bytes> [lie]`
//!
//! With `lie`, MemFirst appends are acknowledged (`D`) as soon as `append` returns, before
//! they are durable: a deliberately broken client that the kill test must catch.
//!
//! The workload, like a Raft follower that sometimes becomes leader: append batches of the
//! current term (plainly, or several in flight with `append_with_callback`); save the hard
//! state when the term, vote or commit index changes; on a "new leader", bump the term and
//! truncate an uncommitted suffix, then re-append it with the higher term; "snapshot" by
//! purging up to the commit index, and now and then "install a snapshot" that lies past
//! the end of the log; flush or `wait_durable` now and then. Payloads are
//! [`logbook_tests::workload::payload`]`(index, term)`, so the checker recomputes them.
//!
//! Every line of stdout is described in [`logbook_tests::protocol`]. Intent lines are
//! flushed before the store is called; acknowledgement lines only after the store reported
//! the operation durable. What counts as that report:
//!
//! - `D index term`: DiskFirst: `append` returned (it returns only once its entries are
//!   durable), or its `append_with_callback` callback ran with `Ok`. MemFirst: the callback
//!   ran with `Ok`, or `durable_index()` (read after every append, after `wait_durable`
//!   and after `flush`) reached the index. The term printed is the one the log holds at
//!   that index *now*; the workload is single-threaded, so nothing changed in between.
//! - `T from`: DiskFirst: `truncate` returned (the engine makes the cut durable before it
//!   returns). MemFirst: `truncate` only changes memory; the cut is owed to the next sync.
//!   It is acknowledged once `durable_index()` reaches `from` again, which can only happen
//!   through entries appended after the truncation, and `durable_index` covers "every
//!   truncate and purge before them" (docs/DESIGN.md §1); or once a `flush()` called after the
//!   truncation returned.
//! - `P index term`: DiskFirst: `purge` returned (boundary durable before it returns).
//!   MemFirst: like `T`: once `durable_index()` passes the log's end as it was right after
//!   the purge, or a later `flush()` returned.
//! - `H term vote commit`: `save_hard_state` returned (durable under every strategy).
//!
//! Any error from the store is printed as `E ...` and ends the process with status 2; the
//! test treats any exit other than its own SIGKILL as a failure.

use std::collections::VecDeque;
use std::io::Write;
use std::process::exit;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use logbook::{Entry, HardState, LogId, Store, Strategy};
use logbook_tests::protocol::{Line, StartLine};
use logbook_tests::workload::{parse_policy, parse_strategy, payload, store_config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A crashee that outlives its test (which should kill it within a second) stops itself.
const LIFETIME_MAX: Duration = Duration::from_secs(120);
/// Past this many entries the workload snapshots (purges) before appending more.
const LOG_ENTRIES_MAX: usize = 1500;

/// Writes `lines` with one `write` call and flushes, so a kill cuts at most the last line.
fn emit(lines: &[Line]) {
    if lines.is_empty() {
        return;
    }
    let text: String = lines.iter().map(Line::render).collect();
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        // The test is gone (broken pipe): nobody will kill us.
        exit(3);
    }
}

struct Crashee {
    store: Store,
    strategy: Strategy,
    rng: ChaCha8Rng,
    /// The boundary and the terms of the entries `boundary + 1 ..`, as the store holds them.
    boundary: Option<LogId>,
    terms: VecDeque<u64>,
    hs: HardState,
    /// The term new entries get.
    term: u64,
    /// Every entry up to here has been acknowledged with a `D` line.
    acked_upto: u64,
    /// MemFirst truncations and purges waiting for `durable_index() >= .1`.
    pending: Vec<(Line, u64)>,
    started: Instant,
    /// Acknowledge MemFirst appends before they are durable (the test's own canary).
    lie: bool,
}

impl Crashee {
    fn first_index(&self) -> u64 {
        self.boundary.map_or(0, |b| b.index) + 1
    }

    fn last(&self) -> LogId {
        match self.terms.back() {
            Some(&t) => LogId::new(t, self.first_index() + self.terms.len() as u64 - 1),
            None => self.boundary.unwrap_or(LogId::new(0, 0)),
        }
    }

    fn term_of(&self, index: u64) -> Option<u64> {
        let i = index.checked_sub(self.first_index())?;
        self.terms.get(usize::try_from(i).ok()?).copied()
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> ! {
        emit(&[Line::Error(format!("{what}: {e}"))]);
        exit(2);
    }

    /// Acknowledges everything up to `durable`: the entries not yet acknowledged, and the
    /// MemFirst truncations and purges it covers.
    fn ack_durable(&mut self, durable: u64) {
        let mut lines = Vec::new();
        let from = (self.acked_upto + 1).max(self.first_index());
        let to = durable.min(self.last().index);
        for index in from..=to {
            if let Some(term) = self.term_of(index) {
                lines.push(Line::AckEntry { index, term });
            }
        }
        self.acked_upto = self.acked_upto.max(durable);
        self.pending.retain(|(line, n)| {
            let done = *n <= durable;
            if done {
                lines.push(line.clone());
            }
            !done
        });
        emit(&lines);
    }

    fn poll_durable(&mut self) {
        match self.store.durable_index() {
            Ok(d) => self.ack_durable(d),
            Err(e) => self.fail("durable_index", e),
        }
    }

    /// A truncation or purge just returned: a DiskFirst purge is acknowledged now; a
    /// MemFirst one, and every truncation (a DiskFirst truncation in the last segment is
    /// durable with the next sync, docs/DESIGN.md §1), once an entry appended after it is
    /// durable.
    fn ack_mutation(&mut self, ack: Line) {
        let now = self.strategy == Strategy::DiskFirst && !matches!(ack, Line::AckTruncate { .. });
        match now {
            true => emit(&[ack]),
            false => {
                let n = self.last().index + 1;
                self.pending.push((ack, n));
                self.poll_durable();
            }
        }
    }

    fn save_hs(&mut self, hs: HardState) {
        emit(&[Line::HardState(hs)]);
        if let Err(e) = self.store.save_hard_state(hs) {
            self.fail("save_hard_state", e);
        }
        self.hs = hs;
        emit(&[Line::AckHardState(hs)]);
    }

    fn elect(&mut self) {
        self.term = self.term.max(self.hs.term) + 1;
        let vote = Some(self.rng.gen_range(1..=5));
        let commit = self.hs.commit;
        self.save_hs(HardState {
            term: self.term,
            vote,
            commit,
        });
    }

    fn batch(&mut self, len: u64) -> Vec<Entry> {
        let first = self.last().index + 1;
        let term = self.term;
        (first..first + len)
            .map(|i| Entry::new(i, term, payload(i, term)))
            .collect()
    }

    fn intend(&mut self, entries: &[Entry]) {
        let (first, last) = (entries[0].index, entries[entries.len() - 1].index);
        emit(&[Line::Append {
            first,
            last,
            term: self.term,
        }]);
        self.terms.extend(entries.iter().map(|e| e.term));
    }

    fn batch_len(&mut self) -> u64 {
        if self.rng.gen_ratio(1, 10) {
            self.rng.gen_range(17..=64)
        } else {
            self.rng.gen_range(1..=16)
        }
    }

    /// One plain `append`.
    fn append(&mut self, len: u64) {
        let entries = self.batch(len);
        self.intend(&entries);
        let last = match self.store.append(&entries) {
            Ok(last) => last,
            Err(e) => self.fail("append", e),
        };
        if last != entries[entries.len() - 1].index {
            self.fail("append", format!("returned last index {last}"));
        }
        match self.strategy {
            Strategy::DiskFirst => {
                let d = self
                    .store
                    .durable_index()
                    .unwrap_or_else(|e| self.fail("durable_index", e));
                if d < last {
                    self.fail(
                        "append",
                        format!("DiskFirst append of ..={last} returned with durable_index {d}"),
                    );
                }
                self.ack_durable(last);
            }
            Strategy::MemFirst if self.lie => self.ack_durable(last),
            Strategy::MemFirst => {
                if self.rng.gen_ratio(1, 8) {
                    if let Err(e) = self.store.wait_durable(last) {
                        self.fail("wait_durable", e);
                    }
                }
                self.poll_durable();
            }
        }
    }

    /// Several appends in flight with `append_with_callback`, then their callbacks.
    fn append_pipelined(&mut self) {
        let count = self.rng.gen_range(1..=4);
        let (tx, rx) = mpsc::channel();
        for _ in 0..count {
            let len = self.batch_len();
            let entries = self.batch(len);
            self.intend(&entries);
            let tx = tx.clone();
            let r = self.store.append_with_callback(&entries, move |r| {
                let _ = tx.send(r);
            });
            if let Err(e) = r {
                self.fail("append_with_callback", e);
            }
        }
        for _ in 0..count {
            match rx.recv() {
                Ok(Ok(last)) => self.ack_durable(last),
                Ok(Err(e)) => self.fail("append_with_callback callback", e),
                Err(e) => self.fail("append_with_callback callback dropped", e),
            }
        }
    }

    /// A new leader overwrites an uncommitted suffix with entries of a higher term.
    fn conflict(&mut self) {
        let last = self.last().index;
        let lo = self.hs.commit.max(self.first_index() - 1) + 1;
        if self.terms.is_empty() || lo > last {
            return;
        }
        let from = self.rng.gen_range(lo..=last);
        self.elect();
        emit(&[Line::Truncate { from }]);
        if let Err(e) = self.store.truncate(from) {
            self.fail("truncate", e);
        }
        self.terms.truncate((from - self.first_index()) as usize);
        self.acked_upto = self.acked_upto.min(from - 1);
        self.ack_mutation(Line::AckTruncate { from });
        let len = self.batch_len();
        self.append(len);
    }

    /// Advances the commit index to what is acknowledged durable, and saves it.
    fn commit(&mut self) {
        let commit = self.acked_upto.min(self.last().index).max(self.hs.commit);
        if commit != self.hs.commit || self.rng.gen_ratio(1, 4) {
            let hs = HardState { commit, ..self.hs };
            self.save_hs(hs);
        }
    }

    fn purge(&mut self, upto: LogId) {
        emit(&[Line::Purge(upto)]);
        if let Err(e) = self.store.purge(upto) {
            self.fail("purge", e);
        }
        let first = self.first_index();
        let gone = (upto.index + 1 - first).min(self.terms.len() as u64);
        self.terms.drain(..gone as usize);
        self.boundary = Some(upto);
        self.ack_mutation(Line::AckPurge(upto));
    }

    /// A snapshot of committed entries: purge up to somewhere at or below the commit index.
    fn snapshot(&mut self) {
        let first = self.first_index();
        let commit = self.hs.commit.min(self.last().index);
        if commit < first {
            return;
        }
        let index = if self.rng.gen_bool(0.5) {
            commit
        } else {
            self.rng.gen_range(first..=commit)
        };
        let term = self
            .term_of(index)
            .expect("committed entries are in the log");
        self.purge(LogId::new(term, index));
    }

    /// A snapshot from the leader that lies past the end of the log.
    fn install_snapshot(&mut self) {
        let index = self.last().index + self.rng.gen_range(1..=40);
        let upto = LogId::new(self.term, index);
        self.purge(upto);
        let hs = HardState {
            commit: index,
            ..self.hs
        };
        self.save_hs(hs);
    }

    fn flush(&mut self) {
        if let Err(e) = self.store.flush() {
            self.fail("flush", e);
        }
        // Everything done before the flush is durable now.
        let lines: Vec<Line> = self.pending.drain(..).map(|(l, _)| l).collect();
        let d = self
            .store
            .durable_index()
            .unwrap_or_else(|e| self.fail("durable_index", e));
        let last = self.last().index;
        if d < last {
            self.fail("flush", format!("returned with durable_index {d} < {last}"));
        }
        emit(&lines);
        self.ack_durable(last);
    }

    fn step(&mut self) {
        if self.terms.len() > LOG_ENTRIES_MAX {
            self.flush();
            self.commit();
            self.snapshot();
            return;
        }
        match self.rng.gen_range(0..100) {
            0..=44 => {
                let len = self.batch_len();
                self.append(len);
            }
            45..=54 => self.append_pipelined(),
            55..=62 => self.commit(),
            63..=71 => self.conflict(),
            72..=80 => self.snapshot(),
            81..=82 => self.install_snapshot(),
            83..=85 => self.flush(),
            86..=87 => self.elect(),
            88..=89 => {
                let last = self.last().index;
                if let Err(e) = self.store.wait_durable(last) {
                    self.fail("wait_durable", e);
                }
                self.poll_durable();
            }
            _ => {
                let len = self.batch_len();
                self.append(len);
            }
        }
    }
}

/// The command line.
struct Args {
    dir: String,
    strategy: Strategy,
    policy: logbook::FlushPolicy,
    seed: u64,
    segment_size: u64,
    /// MemFirst: acknowledge appends before they are durable (the kill test must catch it).
    lie: bool,
}

/// Parses the command line, or exits 64 with the usage.
fn parse_args() -> Args {
    let args: Vec<String> = std::env::args().collect();
    let lie = args.len() == 7 && args[6] == "lie";
    if args.len() != 6 && !lie {
        eprintln!(
            "usage: {} <dir> <disk-first|mem-first> <immediate|batch:N:MS> <seed> \
             <segment_size_bytes> [lie]",
            args[0]
        );
        exit(64);
    }
    let dir = args[1].clone();
    let (Some(strategy), Some(policy), Ok(seed), Ok(segment_size)) = (
        parse_strategy(&args[2]),
        parse_policy(&args[3]),
        args[4].parse::<u64>(),
        args[5].parse::<u64>(),
    ) else {
        eprintln!("bad arguments: {args:?}");
        exit(64);
    };
    Args {
        dir,
        strategy,
        policy,
        seed,
        segment_size,
        lie,
    }
}

/// What open recovered: the boundary, the terms of the entries above it, the hard state
/// and the last log id.
type Recovered = (Option<LogId>, VecDeque<u64>, HardState, Option<LogId>);

fn read_recovered(store: &Store) -> logbook::Result<Recovered> {
    let first = store.first_index()?;
    let last = store.last_index()?;
    let mut terms = VecDeque::new();
    let mut from = first;
    while from <= last {
        let batch = store.entries(from, last + 1, 1024, u64::MAX)?;
        let Some(e) = batch.last() else { break };
        from = e.index + 1;
        terms.extend(batch.iter().map(|e| e.term));
    }
    Ok((
        store.last_purged()?,
        terms,
        store.hard_state()?,
        store.last_log_id()?,
    ))
}

fn main() {
    let Args {
        dir,
        strategy,
        policy,
        seed,
        segment_size,
        lie,
    } = parse_args();
    let started = Instant::now();
    let store = match Store::open(&dir, store_config(strategy, policy, segment_size)) {
        Ok(s) => s,
        Err(e) => {
            emit(&[Line::Error(format!("open: {e}"))]);
            exit(2);
        }
    };
    let (boundary, terms, hs, last_log_id) = match read_recovered(&store) {
        Ok(v) => v,
        Err(e) => {
            emit(&[Line::Error(format!("reading the recovered log: {e}"))]);
            exit(2);
        }
    };
    let last = last_log_id.unwrap_or(LogId::new(0, 0));
    emit(&[Line::Start(StartLine {
        first_index: boundary.map_or(0, |b| b.index) + 1,
        last_index: last.index,
        last_term: last.term,
        last_purged: boundary,
        hard_state: hs,
    })]);
    let mut c = Crashee {
        store,
        strategy,
        rng: ChaCha8Rng::seed_from_u64(seed),
        boundary,
        terms,
        hs,
        term: hs.term.max(last.term),
        // Open recovered these from disk: they are durable.
        acked_upto: last.index,
        pending: Vec::new(),
        started,
        lie,
    };
    if c.last() != last {
        c.fail(
            "open",
            format!(
                "last_log_id {last:?} but reads end at {:?} (read {} entries)",
                c.last(),
                c.terms.len()
            ),
        );
    }
    // A restarted node starts a new term.
    c.elect();
    loop {
        c.step();
        if c.started.elapsed() > LIFETIME_MAX {
            c.fail("lifetime", "ran too long without being killed");
        }
    }
}

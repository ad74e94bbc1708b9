//! What the engine reports through the [`metrics`] facade: one function per event, so the
//! names, units and meanings live here and nowhere else. With no recorder installed (the
//! default), each report is a call into the facade's no-op recorder.
//!
//! Every duration is read on the log's [`Clock`](crate::Clock) (the simulated clock under
//! the simulator), never on the wall clock. Names carry their unit last; the README lists
//! them for users.

use metrics::{counter, gauge, histogram, Unit};

/// Counter: fsync calls made by syncs (files and directories), successful or not.
pub const FSYNCS_TOTAL: &str = "logbook_fsyncs_total";
/// Histogram: one sync job (MemFirst: its writes and fsyncs; DiskFirst: its fsyncs), from
/// its preparation to its completion, in seconds.
pub const SYNC_DURATION_SECONDS: &str = "logbook_sync_duration_seconds";
/// Histogram: entries a successful sync made durable.
pub const SYNC_ENTRIES: &str = "logbook_sync_entries";
/// Histogram: payload bytes a successful sync made durable.
pub const SYNC_BYTES: &str = "logbook_sync_bytes";
/// Gauge: the last index minus the durable index, after each append and sync.
pub const DURABLE_LAG_ENTRIES: &str = "logbook_durable_lag_entries";
/// Counter: appends refused for memory (MemFirst past `unflushed_bytes_max`); each one is
/// a wait in `Store` and `AsyncStore`.
pub const BACKPRESSURE_WAITS_TOTAL: &str = "logbook_backpressure_waits_total";
/// Counter: DiskFirst entries read from its cache (MemFirst reads only memory and is not
/// counted).
pub const CACHE_HITS_TOTAL: &str = "logbook_cache_hits_total";
/// Counter: DiskFirst reads that went to disk (each one reads a prefetch run).
pub const CACHE_MISSES_TOTAL: &str = "logbook_cache_misses_total";
/// Counter: MemFirst entries read from disk, below the memory an open with a snapshot
/// hint kept (`Config::snapshot_hint`).
pub const COLD_READS_TOTAL: &str = "logbook_cold_reads_total";
/// Histogram: one open's recovery (classify and apply), in seconds.
pub const RECOVERY_DURATION_SECONDS: &str = "logbook_recovery_duration_seconds";
/// Counter, labelled `verdict`: opens by what recovery found: `clean`, `torn_tail_cut`
/// (a torn tail was cut), or `refused` (the open failed with a typed error).
pub const RECOVERIES_TOTAL: &str = "logbook_recoveries_total";

/// What kind of metric a name is.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric with its kind, unit and description, for [`describe`].
const DESCRIPTIONS: [(&str, Kind, Unit, &str); 11] = [
    (
        FSYNCS_TOTAL,
        Kind::Counter,
        Unit::Count,
        "fsync calls made by syncs",
    ),
    (
        SYNC_DURATION_SECONDS,
        Kind::Histogram,
        Unit::Seconds,
        "sync job latency",
    ),
    (
        SYNC_ENTRIES,
        Kind::Histogram,
        Unit::Count,
        "entries made durable per sync",
    ),
    (
        SYNC_BYTES,
        Kind::Histogram,
        Unit::Bytes,
        "payload bytes made durable per sync",
    ),
    (
        DURABLE_LAG_ENTRIES,
        Kind::Gauge,
        Unit::Count,
        "last index minus durable index",
    ),
    (
        BACKPRESSURE_WAITS_TOTAL,
        Kind::Counter,
        Unit::Count,
        "appends refused for memory",
    ),
    (
        CACHE_HITS_TOTAL,
        Kind::Counter,
        Unit::Count,
        "DiskFirst entries read from its cache",
    ),
    (
        CACHE_MISSES_TOTAL,
        Kind::Counter,
        Unit::Count,
        "DiskFirst reads that went to disk",
    ),
    (
        COLD_READS_TOTAL,
        Kind::Counter,
        Unit::Count,
        "MemFirst entries read from disk below a hinted open's memory",
    ),
    (
        RECOVERY_DURATION_SECONDS,
        Kind::Histogram,
        Unit::Seconds,
        "recovery time at open",
    ),
    (
        RECOVERIES_TOTAL,
        Kind::Counter,
        Unit::Count,
        "opens by recovery verdict",
    ),
];

/// Registers every metric's description and unit with the installed recorder. Optional:
/// call it once after installing a recorder (exporters show the descriptions).
pub fn describe() {
    for (name, kind, unit, text) in DESCRIPTIONS {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, unit, text),
            Kind::Gauge => metrics::describe_gauge!(name, unit, text),
            Kind::Histogram => metrics::describe_histogram!(name, unit, text),
        }
    }
}

pub(crate) fn fsyncs(n: u64) {
    counter!(FSYNCS_TOTAL).increment(n);
}

/// A sync completed: `entries` and `bytes` made durable (zero if it failed), in `elapsed_us`.
pub(crate) fn sync_done(elapsed_us: u64, entries: u64, bytes: u64) {
    histogram!(SYNC_DURATION_SECONDS).record(elapsed_us as f64 / 1e6);
    histogram!(SYNC_ENTRIES).record(entries as f64);
    histogram!(SYNC_BYTES).record(bytes as f64);
}

pub(crate) fn durable_lag(entries: u64) {
    gauge!(DURABLE_LAG_ENTRIES).set(entries as f64);
}

pub(crate) fn backpressure_wait() {
    counter!(BACKPRESSURE_WAITS_TOTAL).increment(1);
}

pub(crate) fn cache_read(hit: bool) {
    match hit {
        true => counter!(CACHE_HITS_TOTAL).increment(1),
        false => counter!(CACHE_MISSES_TOTAL).increment(1),
    }
}

pub(crate) fn cold_read(entries: usize) {
    counter!(COLD_READS_TOTAL).increment(entries as u64);
}

/// What an open's recovery concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Clean,
    TornTailCut,
    Refused,
}

pub(crate) fn recovery(elapsed_us: u64, verdict: Verdict) {
    histogram!(RECOVERY_DURATION_SECONDS).record(elapsed_us as f64 / 1e6);
    let verdict = match verdict {
        Verdict::Clean => "clean",
        Verdict::TornTailCut => "torn_tail_cut",
        Verdict::Refused => "refused",
    };
    counter!(RECOVERIES_TOTAL, "verdict" => verdict).increment(1);
}

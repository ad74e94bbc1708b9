//! Latency samples, percentiles and the formatting of the result table.

use std::fmt::Write as _;
use std::time::Duration;

/// Latency samples in nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    ns: Vec<u64>,
}

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Samples {
            ns: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, d: Duration) {
        self.ns.push(d.as_nanos() as u64);
    }

    pub fn push_ns(&mut self, ns: u64) {
        self.ns.push(ns);
    }

    pub fn merge(&mut self, other: Samples) {
        self.ns.extend(other.ns);
    }

    pub fn len(&self) -> usize {
        self.ns.len()
    }

    /// p50, p99 and max, by the nearest-rank method.
    pub fn summary(&mut self) -> Option<Lat> {
        if self.ns.is_empty() {
            return None;
        }
        self.ns.sort_unstable();
        let rank = |p: f64| {
            let r = ((p * self.ns.len() as f64).ceil() as usize).clamp(1, self.ns.len());
            self.ns[r - 1]
        };
        Some(Lat {
            p50_ns: rank(0.50),
            p99_ns: rank(0.99),
            max_ns: *self.ns.last().expect("non-empty"),
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Lat {
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

/// One row of the result table.
#[derive(Debug, Clone)]
pub struct Row {
    pub workload: String,
    pub system: String,
    /// Entries (or reads) per second, where the workload has a rate.
    pub rate: Option<f64>,
    pub lat: Option<Lat>,
    pub note: String,
    /// The row is logbook's and gets ratio columns.
    pub is_logbook: bool,
    /// Filled in by [`fill_ratios`].
    pub vs_peer: String,
    pub vs_floor: String,
}

impl Row {
    pub fn new(workload: &str, system: &str) -> Row {
        Row {
            workload: workload.to_string(),
            system: system.to_string(),
            rate: None,
            lat: None,
            note: String::new(),
            is_logbook: system.starts_with("logbook"),
            vs_peer: String::new(),
            vs_floor: String::new(),
        }
    }

    pub fn na(workload: &str, system: &str, why: &str) -> Row {
        let mut r = Row::new(workload, system);
        r.note = format!("n/a: {why}");
        r
    }
}

pub fn fmt_ns(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// Ratio columns of logbook rows: against the row named `peer` and the floor row of the same
/// workload. Throughput rows compare entries/s (`thr`, above 1 = logbook faster); rows
/// without a rate compare p50 time (`p50`, below 1 = logbook faster).
pub fn fill_ratios(rows: &mut [Row], peer: &str, floor: &str) {
    let snapshot = rows.to_vec();
    let find = |workload: &str, prefix: &str| {
        snapshot
            .iter()
            .find(|r| r.workload == workload && r.system.starts_with(prefix))
            .cloned()
    };
    for row in rows.iter_mut().filter(|r| r.is_logbook) {
        let ratio = |other: Option<Row>| -> String {
            let Some(o) = other else { return String::new() };
            match (row.rate, o.rate, row.lat, o.lat) {
                (Some(a), Some(b), _, _) if b > 0.0 => format!("{:.2}x thr", a / b),
                (_, _, Some(a), Some(b)) if b.p50_ns > 0 => {
                    format!("{:.2}x p50", a.p50_ns as f64 / b.p50_ns as f64)
                }
                _ => String::new(),
            }
        };
        row.vs_peer = ratio(find(&row.workload, peer));
        row.vs_floor = ratio(find(&row.workload, floor));
    }
}

/// The one result table, as Markdown.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "workload",
        "system",
        "entries/s",
        "p50",
        "p99",
        "max",
        "logbook/raft-engine",
        "logbook/floor",
        "note",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            let (p50, p99, max) = match r.lat {
                Some(l) => (fmt_ns(l.p50_ns), fmt_ns(l.p99_ns), fmt_ns(l.max_ns)),
                None => ("-".into(), "-".into(), "-".into()),
            };
            [
                r.workload.clone(),
                r.system.clone(),
                r.rate.map_or("-".into(), fmt_rate),
                p50,
                p99,
                max,
                r.vs_peer.clone(),
                r.vs_floor.clone(),
                r.note.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for c in &cells {
        for (w, s) in widths.iter_mut().zip(c.iter()) {
            *w = (*w).max(s.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, items: &[String]| {
        out.push('|');
        for (s, w) in items.iter().zip(widths.iter()) {
            let pad = w - s.chars().count();
            let _ = write!(out, " {s}{} |", " ".repeat(pad));
        }
        out.push('\n');
    };
    line(&mut out, &header.map(String::from));
    out.push('|');
    for w in widths {
        let _ = write!(out, "{}|", "-".repeat(w + 2));
    }
    out.push('\n');
    for c in &cells {
        line(&mut out, c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut s = Samples::default();
        for i in 1..=100 {
            s.push_ns(i);
        }
        let l = s.summary().unwrap();
        assert_eq!((l.p50_ns, l.p99_ns, l.max_ns), (50, 99, 100));
    }
}

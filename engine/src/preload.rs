//! MemFirst's preload: every segment before the last, read and checked in order, their
//! entries kept in memory as slices of the segment buffers (no per-entry copy).
//!
//! Reading and parsing overlap: for a large log (`Config::preload_worker_min_bytes`) the
//! opening thread reads segment `i + 1` while a scoped worker parses segment `i` (checksums,
//! framing, index and term order). Every `Fs` call is made by the opening thread, in segment
//! order, and segment `i + 1` is always read before the verdict on segment `i` is taken,
//! threaded or not, so the sequence of calls does not depend on thread timing: the
//! simulator's traces stay deterministic.
//!
//! Never: keep an entry of a segment after the first anomaly; let an I/O error on a later
//! segment hide the corruption found in an earlier one; change anything on disk (a cut that a
//! tolerant recovery decides is returned, and applied by the caller once everything is
//! classified); reserve memory for entries from a count of file names rather than from the
//! bytes the files hold.

use std::collections::VecDeque;
use std::sync::mpsc;

use bytes::Bytes;

use crate::canary::Canary;
use crate::error::{Error, Result};
use crate::record::{self, ENTRY_LEN_MIN, SEGMENT_HEADER_LEN};
use crate::scan::{scan, Collect, Scan};
use crate::segments::{check_header, read_whole, SegmentLog};
use crate::types::Entry;

/// A segment read and header-checked, ready to parse.
enum Read {
    Buf(Bytes),
    /// Header damaged: the anomaly, at offset 0.
    BadHeader(&'static str),
}

/// The parse of successive segments: the entries kept so far and the term order across
/// segments. The same on either thread.
struct Parse {
    entries: Vec<Entry>,
    prev_term: u64,
    boundary: u64,
    payload_max: u32,
    skip_crc: bool,
    /// Bytes of the segments before the last that the first one does not hold, from their
    /// lengths: what the one up-front reservation is bounded by.
    rest_bytes: u64,
}

impl Parse {
    fn segment(&mut self, first: u64, buf: &Bytes) -> Scan {
        let had = self.entries.len();
        let collect = Collect {
            buf,
            into: &mut self.entries,
            above: self.boundary,
        };
        let s = scan(
            buf,
            Some(collect),
            first,
            self.prev_term,
            self.payload_max,
            self.skip_crc,
        );
        if had == 0 && !self.entries.is_empty() {
            // Segments are alike: reserve for the rest once, not by doubling, at this
            // segment's density of entries per byte times the bytes the rest hold. Never more
            // entries than those bytes can frame: the reservation is bounded by the bytes
            // present, not by how many files are named like segments.
            let frames = self.rest_bytes / ENTRY_LEN_MIN as u64;
            let guess = (self.entries.len() as u128 * u128::from(self.rest_bytes)
                / buf.len().max(1) as u128) as u64;
            self.entries
                .reserve(usize::try_from(guess.min(frames)).unwrap_or(usize::MAX));
        }
        self.prev_term = s.last_term;
        s
    }
}

/// Where segments are parsed: on the opening thread, or on a scoped worker fed one segment
/// ahead.
enum Parser<'scope> {
    Inline(Parse, Option<Scan>),
    Worker {
        jobs: mpsc::SyncSender<(u64, Bytes)>,
        verdicts: mpsc::Receiver<Scan>,
        /// The entries, and the bytes the worker checksummed (added to the opener's count).
        worker: std::thread::ScopedJoinHandle<'scope, (Vec<Entry>, u64)>,
    },
}

impl<'scope> Parser<'scope> {
    fn new<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        mut parse: Parse,
        threaded: bool,
    ) -> Parser<'scope> {
        if !threaded {
            return Parser::Inline(parse, None);
        }
        let (jobs, queue) = mpsc::sync_channel::<(u64, Bytes)>(1);
        let (to_opener, verdicts) = mpsc::channel::<Scan>();
        let worker = scope.spawn(move || {
            let checksummed = record::checksummed_bytes();
            for (first, buf) in queue {
                if to_opener.send(parse.segment(first, &buf)).is_err() {
                    break;
                }
            }
            (parse.entries, record::checksummed_bytes() - checksummed)
        });
        Parser::Worker {
            jobs,
            verdicts,
            worker,
        }
    }

    /// Starts parsing a segment; [`Parser::verdict`] returns its scan.
    fn submit(&mut self, first: u64, buf: Bytes) {
        match self {
            Parser::Inline(parse, slot) => *slot = Some(parse.segment(first, &buf)),
            Parser::Worker { jobs, .. } => jobs
                .send((first, buf))
                .expect("the worker runs until its queue closes"),
        }
    }

    fn verdict(&mut self) -> Scan {
        match self {
            Parser::Inline(_, slot) => slot.take().expect("submitted"),
            Parser::Worker { verdicts, .. } => verdicts.recv().expect("one verdict per segment"),
        }
    }

    /// The entries kept, in order.
    fn finish(self) -> Vec<Entry> {
        match self {
            Parser::Inline(parse, _) => parse.entries,
            Parser::Worker { jobs, worker, .. } => {
                drop(jobs);
                let (entries, checksummed) =
                    worker.join().expect("the parse worker does not panic");
                record::note_checksummed(checksummed as usize);
                entries
            }
        }
    }
}

/// What the preload found: the entries, and where a tolerant recovery must cut the log.
pub(crate) struct Preloaded {
    pub entries: VecDeque<Entry>,
    pub cut: Option<Cut>,
}

/// A tolerant cut decided by the preload: keep segment `first` up to `end` (entries up to
/// `next_index - 1`) and drop every later segment; `next_index == first` (nothing valid in
/// it) drops `first` too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cut {
    pub first: u64,
    pub end: u64,
    pub next_index: u64,
}

/// Reads the segments `order` names (ascending) but the last strictly, in order, and returns
/// every entry above `boundary`, the last segment's `tail` (already read and checked)
/// included. With `tolerant`, the first anomaly ends the log there (a [`Cut`] for the caller
/// to apply) instead of failing. Parses on a worker thread once the older segments span
/// `worker_min_bytes`. Reads only: nothing on disk changes.
pub(crate) fn load_older(
    segs: &mut SegmentLog,
    order: &[u64],
    boundary: u64,
    tail: Vec<Entry>,
    tolerant: bool,
    worker_min_bytes: u64,
) -> Result<Preloaded> {
    let firsts = order;
    let older = firsts.len().saturating_sub(1);
    if older == 0 {
        return Ok(with_tail(Vec::new(), tail));
    }
    let parse = Parse {
        entries: Vec::new(),
        prev_term: 0,
        boundary,
        payload_max: segs.payload_size_max_bytes(),
        skip_crc: segs.canaries().on(Canary::SkipChecksum),
        rest_bytes: sizes(segs, &firsts[1..older]),
    };
    let threaded = (older as u64).saturating_mul(segs.segment_size_bytes()) >= worker_min_bytes;
    std::thread::scope(|scope| -> Result<Preloaded> {
        let mut parser = Parser::new(scope, parse, threaded);
        let mut next = Some(read(segs, firsts[0]));
        let mut prev_term = 0;
        for i in 0..older {
            let first = firsts[i];
            let s = match next.take().expect("read ahead")? {
                Read::Buf(buf) => {
                    parser.submit(first, buf);
                    // Read ahead while the segment parses; an error waits for the verdict.
                    next = (i + 1 < older).then(|| read(segs, firsts[i + 1]));
                    parser.verdict()
                }
                Read::BadHeader(reason) => Scan {
                    anomaly: Some((0, reason)),
                    next_index: first,
                    ..Scan::default()
                },
            };
            let anomaly = s.anomaly.or_else(|| {
                (s.next_index != firsts[i + 1])
                    .then_some((s.end, "segment ends before the next one starts"))
            });
            if let Some(anomaly) = anomaly {
                let cut = Some(cut_at(segs, first, &s, anomaly, tolerant)?);
                let entries = VecDeque::from(parser.finish());
                return Ok(Preloaded { entries, cut });
            }
            segs.adopt_scan(first, s.end, Some(s.offsets), s.generation);
            prev_term = s.last_term;
        }
        let entries = parser.finish();
        if tail.first().is_some_and(|e| e.term < prev_term) && !tolerant {
            let path = &segs.segment(firsts[older]).path;
            return Err(Error::corruption(
                path,
                SEGMENT_HEADER_LEN,
                "term decreases across segments",
            ));
        }
        Ok(with_tail(entries, tail))
    })
}

/// The bytes the segments `firsts` hold (each at most a segment's length), for the
/// reservation. A file that cannot be sized counts as empty: its read reports the error in
/// order, after the segments before it.
fn sizes(segs: &mut SegmentLog, firsts: &[u64]) -> u64 {
    let len_max = segs.segment_len_max();
    let mut bytes = 0u64;
    for &first in firsts {
        let fs = segs.fs();
        let seg = segs.segment_mut(first);
        let len = seg.file(&*fs).ok().and_then(|f| f.len().ok()).unwrap_or(0);
        bytes = bytes.saturating_add(len.min(len_max));
    }
    bytes
}

/// Reads segment `first` whole and checks its header.
fn read(segs: &mut SegmentLog, first: u64) -> Result<Read> {
    let fs = segs.fs();
    let len_max = segs.segment_len_max();
    let seg = segs.segment_mut(first);
    let buf = read_whole(&*fs, seg, len_max)?;
    Ok(match check_header(&buf, seg)?.problem() {
        Ok(()) => Read::Buf(buf),
        Err(reason) => Read::BadHeader(reason),
    })
}

/// The cut at the anomaly `(offset, reason)` in segment `first` (scanned as `s`): corruption
/// unless `tolerant`.
fn cut_at(
    segs: &SegmentLog,
    first: u64,
    s: &Scan,
    (offset, reason): (u64, &'static str),
    tolerant: bool,
) -> Result<Cut> {
    let path = &segs.segment(first).path;
    if !tolerant {
        return Err(Error::corruption(path, offset, reason));
    }
    tracing::warn!(path = %path.display(), offset, reason, "recovery cuts corruption");
    Ok(Cut {
        first,
        end: s.end,
        next_index: s.next_index,
    })
}

/// The older segments' `entries` followed by the tail's, with no cut.
fn with_tail(mut entries: Vec<Entry>, tail: Vec<Entry>) -> Preloaded {
    entries.extend(tail);
    if entries.capacity() > entries.len() + entries.len() / 2 {
        entries.shrink_to_fit(); // the reservation guessed high (smaller later segments)
    }
    Preloaded {
        entries: VecDeque::from(entries),
        cut: None,
    }
}

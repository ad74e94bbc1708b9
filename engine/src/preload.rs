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
//! segment hide the corruption found in an earlier one.

use std::collections::VecDeque;
use std::sync::mpsc;

use bytes::Bytes;

use crate::canary::Canary;
use crate::error::{Error, Result};
use crate::record::SEGMENT_HEADER_LEN;
use crate::recovery::{cut_after, scan, Collect, Scan};
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
    /// Segments before the last, for one up-front reservation.
    older: usize,
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
            // Segments are alike in size: reserve for the rest once, not by doubling.
            let per_segment = self.entries.len();
            self.entries.reserve(per_segment * self.older);
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
        worker: std::thread::ScopedJoinHandle<'scope, Vec<Entry>>,
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
            for (first, buf) in queue {
                if to_opener.send(parse.segment(first, &buf)).is_err() {
                    break;
                }
            }
            parse.entries
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
                worker.join().expect("the parse worker does not panic")
            }
        }
    }
}

/// Reads every segment before the last strictly, in order, and returns every entry above
/// `boundary`, the last segment's `tail` (already read and checked) included. With
/// `tolerant`, the first anomaly cuts the log there instead of failing. Parses on a worker
/// thread once the older segments span `worker_min_bytes`.
pub(crate) fn load_older(
    segs: &mut SegmentLog,
    boundary: u64,
    tail: Vec<Entry>,
    tolerant: bool,
    worker_min_bytes: u64,
) -> Result<VecDeque<Entry>> {
    let firsts: Vec<u64> = segs.segments.keys().copied().collect();
    let older = firsts.len().saturating_sub(1);
    if older == 0 {
        return Ok(VecDeque::from(tail));
    }
    let parse = Parse {
        entries: Vec::new(),
        prev_term: 0,
        boundary,
        payload_max: segs.payload_size_max_bytes,
        skip_crc: segs.canaries.on(Canary::SkipChecksum),
        older,
    };
    let threaded = (older as u64).saturating_mul(segs.segment_size_bytes) >= worker_min_bytes;
    let read = |segs: &mut SegmentLog, first: u64| -> Result<Read> {
        let fs = segs.fs.clone();
        let len_max = segs.segment_len_max();
        let seg = segs.segments.get_mut(&first).expect("segment");
        let buf = read_whole(&*fs, seg, len_max)?;
        Ok(match check_header(&buf, seg)? {
            Ok(()) => Read::Buf(buf),
            Err(reason) => Read::BadHeader(reason),
        })
    };

    std::thread::scope(|scope| -> Result<VecDeque<Entry>> {
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
            if let Some((offset, reason)) = anomaly {
                let path = segs.segments[&first].path.clone();
                if !tolerant {
                    return Err(Error::corruption(&path, offset, reason));
                }
                tracing::warn!(path = %path.display(), offset, reason, "recovery cuts corruption");
                let entries = parser.finish();
                cut_after(segs, first, s.end, s.next_index)?;
                return Ok(VecDeque::from(entries));
            }
            let seg = segs.segments.get_mut(&first).expect("segment");
            seg.len_bytes = s.end;
            seg.offsets = Some(s.offsets);
            prev_term = s.last_term;
        }
        let mut entries = parser.finish();
        if let Some(e) = tail.first() {
            if e.term < prev_term && !tolerant {
                let path = &segs.segments[&firsts[older]].path;
                return Err(Error::corruption(
                    path,
                    SEGMENT_HEADER_LEN,
                    "term decreases across segments",
                ));
            }
        }
        entries.extend(tail);
        if entries.capacity() > entries.len() + entries.len() / 2 {
            entries.shrink_to_fit(); // the reservation guessed high (smaller later segments)
        }
        Ok(VecDeque::from(entries))
    })
}

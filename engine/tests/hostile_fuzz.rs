//! A structured-edit fuzzer of open + read-all on damaged store directories (issue 17).
//!
//! Seed corpus: real store directories the engine wrote itself on an in-memory `Fs` (both
//! strategies, several segments, truncations, purges, an interrupted purge, a torn tail, a
//! torn segment creation, an empty log). Each case copies one, applies 1 to 5 random edits of
//! the kinds an unlucky operator or an attacker makes (segments renamed, copied, swapped,
//! emptied, deleted; extra `seg-*.log` files; headers rewritten; record headers sprayed;
//! records spliced from elsewhere; bytes flipped, zeroed, cut; `meta` deleted, cut, stale),
//! opens it with a random strategy and mode, reads every entry, reopens, and asserts:
//!
//! 1. no panic (the engine's `debug_assert!` invariants included) and no hang (a watchdog);
//! 2. no allocation over `ALLOC_PER_BYTE` x the bytes present, plus `ALLOC_PER_FILE` x the
//!    files, plus a constant (a counting global allocator, peak during the open and during
//!    the reads): nothing is sized by entries x names;
//! 3. no open slower than linear: bytes checksummed and bytes read at most a constant times
//!    the bytes present, `Fs` calls at most a constant times the files present;
//! 4. every entry returned is one that was appended at that index (or the call fails typed);
//!    an unedited directory opens to exactly what was written, and a reopen after a
//!    successful open finds nothing more to repair;
//! 5. a strict open removes no file holding a durable record (one that a `durable_hint`
//!    in the directory proves durable) that no remaining file holds, and a strict open that
//!    fails leaves every name and byte as it found them.
//!
//! Why proptest and not cargo-fuzz or AFL++: both need a nightly toolchain or an external
//! tool this project's CI does not have; the interesting inputs are directories (names,
//! several files, their relations), which byte-level mutation reaches rarely; and proptest
//! runs inside `cargo test`, deterministically (a fixed seed), and shrinks a failure to the
//! shortest edit sequence. It is not coverage-guided: the edit vocabulary is aimed at every
//! branch of recovery's classification instead, and the run prints the verdicts it reached
//! (and fails if it reached too few kinds), so a loss of coverage shows.
//!
//! `LOGBOOK_FUZZ_CASES` (default 45,000: about a minute in a debug build) and
//! `LOGBOOK_FUZZ_SEED` (a `u64`, default fixed) size and vary the run; the README gives the
//! long command.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::format::{self, record, records, records_anywhere, rewrite_header, segment_header};
use common::{alloc, mem_fs::MemFs};
use logbook::{
    checksummed_bytes, Config, Entry, Error, FlushPolicy, HardState, Log, LogId, RecoveryMode,
    Strategy, SystemClock,
};
use proptest::prelude::{any, prop, prop_oneof, Just};
use proptest::sample::Index;
use proptest::strategy::Strategy as _;
use proptest::test_runner::{Config as PtConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// The allocation counters are process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const DIR: &str = "/db";
/// Peak heap of an open (or of reading everything back): per byte present, per file named
/// in the directory (its path and handle; never per entry per name), plus a constant.
const ALLOC_PER_BYTE: u64 = 8;
const ALLOC_PER_FILE: u64 = 2 << 10;
const ALLOC_SLACK: u64 = 512 << 10;
/// Bytes checksummed and read per byte present, plus a constant.
const WORK_PER_BYTE: u64 = 8;
const WORK_SLACK: u64 = 64 << 10;
/// `Fs` calls per file present, plus a constant.
const CALLS_PER_FILE: u64 = 8;
const CALLS_SLACK: u64 = 64;
/// A case running longer than this is a hang.
const HANG_SECS: u64 = 60;

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn seg_name(first: u64) -> String {
    format!("seg-{first:020}.log")
}

fn parse_seg(name: &str) -> Option<u64> {
    let d = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    (d.len() == 20).then(|| d.parse().ok()).flatten()
}

fn open(fs: &MemFs, cfg: &Config) -> logbook::Result<Log> {
    Log::open(
        Arc::new(fs.clone()),
        Arc::new(SystemClock::new()),
        DIR,
        cfg.clone(),
    )
}

// ---------------------------------------------------------------------------------------
// The seed corpus

/// A store directory the engine wrote, and what was written to it.
struct Seed {
    name: &'static str,
    files: BTreeMap<String, Vec<u8>>,
    /// Every entry ever appended at each index (a truncation makes several).
    appended: BTreeMap<u64, Vec<Entry>>,
    /// The purge boundary, and the log as it stands: what an unedited open returns.
    boundary: u64,
    live: Vec<Entry>,
    hard_state: HardState,
    /// Earlier contents of `meta`, for stale-metadata edits.
    old_metas: Vec<Vec<u8>>,
    segment_size_bytes: u64,
    /// Whether an unedited open must cut something (a torn tail or creation).
    torn: bool,
}

/// Builds a seed by driving a `Log`, recording every append.
struct Builder {
    fs: MemFs,
    log: Option<Log>,
    cfg: Config,
    appended: BTreeMap<u64, Vec<Entry>>,
    old_metas: Vec<Vec<u8>>,
    hs: HardState,
    rng: u64,
}

impl Builder {
    fn new(strategy: Strategy, flush: FlushPolicy, segment_size_bytes: u64) -> Builder {
        let fs = MemFs::new();
        let cfg = Config::new(strategy, flush).with_segment_size_bytes(segment_size_bytes);
        let log = open(&fs, &cfg).unwrap();
        Builder {
            fs,
            log: Some(log),
            cfg,
            appended: BTreeMap::new(),
            old_metas: Vec::new(),
            hs: HardState::default(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ segment_size_bytes,
        }
    }

    fn log(&mut self) -> &mut Log {
        self.log.as_mut().unwrap()
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Appends up to `upto` in batches of 1..=12, payloads up to `payload_max` bytes.
    fn append(&mut self, upto: u64, term: u64, payload_max: usize) {
        while self.log().last_index() < upto {
            let first = self.log().last_index() + 1;
            let n = (1 + self.next() % 12).min(upto - first + 1);
            let batch: Vec<Entry> = (first..first + n)
                .map(|i| {
                    let len = (self.next() as usize) % (payload_max + 1);
                    let payload: Vec<u8> = format!("{i}:{term}:")
                        .bytes()
                        .chain((0..len).map(|k| (i as u8) ^ (k as u8)))
                        .collect();
                    Entry::new(i, term, payload)
                })
                .collect();
            for e in &batch {
                self.appended.entry(e.index).or_default().push(e.clone());
            }
            self.log().append(&batch).unwrap();
            if self.next().is_multiple_of(3) {
                self.log().sync().unwrap();
            }
        }
    }

    fn save_hs(&mut self, commit: u64) {
        self.keep_meta();
        self.hs = HardState {
            term: self.hs.term + 1,
            vote: Some(self.hs.term % 3),
            commit,
        };
        let hs = self.hs;
        self.log().save_hard_state(hs).unwrap();
    }

    fn keep_meta(&mut self) {
        if let Some(m) = self.fs.read(&dir().join("meta")) {
            self.old_metas.push(m);
        }
    }

    fn finish(mut self, name: &'static str) -> Seed {
        self.keep_meta();
        let log = self.log.take().unwrap();
        let boundary = log.first_index() - 1;
        let mut log = log;
        let live = log
            .entries(boundary + 1, log.last_index() + 1, usize::MAX, u64::MAX)
            .unwrap();
        log.close().unwrap();
        Seed {
            name,
            files: self.fs.snapshot(dir()),
            appended: self.appended,
            boundary,
            live,
            hard_state: self.hs,
            old_metas: self.old_metas,
            segment_size_bytes: self.cfg.segment_size_bytes(),
            torn: false,
        }
    }
}

fn corpus() -> &'static [Seed] {
    static CORPUS: OnceLock<Vec<Seed>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let batch = FlushPolicy::Batch {
            threshold: 8,
            interval_ms: 5,
        };
        let mut seeds = Vec::new();

        // DiskFirst, a few segments, one sync per append.
        let mut b = Builder::new(Strategy::DiskFirst, FlushPolicy::Immediate, 4096);
        b.append(220, 1, 40);
        b.save_hs(200);
        seeds.push(b.finish("disk-first"));

        // MemFirst in batches: a truncation, a new term, a purge.
        let mut b = Builder::new(Strategy::MemFirst, batch, 4096);
        b.append(260, 1, 60);
        b.log().sync().unwrap();
        b.save_hs(180);
        b.log().truncate(190).unwrap();
        b.append(300, 2, 60);
        b.log().sync().unwrap();
        b.log().purge(LogId::new(1, 95)).unwrap();
        b.log().sync().unwrap();
        b.save_hs(290);
        seeds.push(b.finish("mem-first-truncated-purged"));

        // A purge whose removals a crash undid: leftovers below the boundary.
        let mut b = Builder::new(Strategy::DiskFirst, batch, 4096);
        b.append(320, 3, 50);
        b.log().sync().unwrap();
        let before = b.fs.snapshot(dir());
        b.save_hs(300);
        b.log().purge(LogId::new(3, 170)).unwrap();
        let mut seed = b.finish("interrupted-purge");
        for (name, bytes) in before {
            if parse_seg(&name).is_some() && !seed.files.contains_key(&name) {
                seed.files.insert(name, bytes);
            }
        }
        seeds.push(seed);

        // Large payloads, records spanning most of a segment; a torn tail.
        let mut b = Builder::new(Strategy::MemFirst, FlushPolicy::Immediate, 8192);
        b.append(60, 1, 3000);
        b.save_hs(40);
        let mut seed = b.finish("big-records-torn-tail");
        let (_, bytes) = seed
            .files
            .iter_mut()
            .rfind(|(n, _)| parse_seg(n).is_some())
            .unwrap();
        let end = format::data_end(bytes);
        let last = format::batches(bytes).pop().unwrap();
        bytes.truncate(end - last.size / 2);
        let kept = seed.live.len() - last.entries.len();
        seed.live.truncate(kept);
        seed.torn = true;
        seeds.push(seed);

        // A log purged past its end, beside a torn creation of the next segment.
        let mut b = Builder::new(Strategy::DiskFirst, FlushPolicy::Immediate, 4096);
        b.append(70, 1, 30);
        b.save_hs(70);
        b.log().purge(LogId::new(1, 90)).unwrap();
        let mut seed = b.finish("empty-after-purge");
        seed.files.insert(seg_name(91), Vec::new());
        seed.torn = true;
        seeds.push(seed);

        // A sealed segment under a torn creation of the next one (header only, zeros).
        let mut b = Builder::new(Strategy::DiskFirst, FlushPolicy::Immediate, 4096);
        b.append(150, 1, 20);
        b.save_hs(150);
        let mut seed = b.finish("torn-creation");
        let (_, last) = seed
            .files
            .iter_mut()
            .rfind(|(n, _)| parse_seg(n).is_some())
            .unwrap();
        let end = format::data_end(last);
        last.truncate(end);
        let mut created = segment_header(151).to_vec();
        created.resize(4096, 0);
        seed.files.insert(seg_name(151), created);
        seed.torn = true;
        seeds.push(seed);

        // A fresh store: `meta` alone.
        let b = Builder::new(Strategy::MemFirst, FlushPolicy::Immediate, 4096);
        seeds.push(b.finish("fresh"));
        seeds
    })
}

// ---------------------------------------------------------------------------------------
// Edits

/// A segment name, resolved against the directory being edited.
#[derive(Debug, Clone)]
enum Name {
    /// Where the log continues.
    Next,
    /// Past it.
    Past(u16),
    Huge,
    Max,
    Zero,
    /// Strictly between two existing segments.
    Between(Index),
    /// At or below the purge boundary.
    Below(Index),
    /// An existing segment's name.
    Existing(Index),
}

#[derive(Debug, Clone)]
enum Content {
    Empty,
    Zeros(u16),
    /// A valid header for the file's own name, then zeros.
    Header(u16),
    /// A valid header for another index.
    HeaderFor(Name),
    Garbage(u16, u8),
    CopyOf(Index),
}

#[derive(Debug, Clone)]
enum File {
    Seg(Index),
    Meta,
}

#[derive(Debug, Clone)]
enum Edit {
    Rename(Index, Name, bool),
    Copy(Index, Name, bool),
    Swap(Index, Index),
    Empty(Index),
    Delete(Index),
    Extra(Name, Content),
    RewriteHeader(Index, Name),
    /// Record headers written over a segment from a fraction of its length: plain ones
    /// (12 bytes, in-bounds length) or ones whose every field is plausible.
    Spray(Index, bool, u16, Index),
    /// A valid record copied from one segment over another at some offset.
    Splice(Index, Index, Index, Index),
    Flip(File, Index, u8),
    Cut(File, Index),
    Zero(File, Index, u16),
    /// Many empty files named like segments, in a run from a name.
    Flood(Name, u16),
    MetaDelete,
    MetaCut(u16),
    MetaStale(Index),
}

fn name_strategy() -> impl proptest::strategy::Strategy<Value = Name> {
    prop_oneof![
        3 => Just(Name::Next),
        2 => any::<u16>().prop_map(Name::Past),
        1 => Just(Name::Huge),
        1 => Just(Name::Max),
        1 => Just(Name::Zero),
        3 => any::<Index>().prop_map(Name::Between),
        2 => any::<Index>().prop_map(Name::Below),
        2 => any::<Index>().prop_map(Name::Existing),
    ]
}

fn file_strategy() -> impl proptest::strategy::Strategy<Value = File> {
    prop_oneof![5 => any::<Index>().prop_map(File::Seg), 1 => Just(File::Meta)]
}

fn edit_strategy() -> impl proptest::strategy::Strategy<Value = Edit> {
    let content = prop_oneof![
        Just(Content::Empty),
        (0u16..5000).prop_map(Content::Zeros),
        (0u16..5000).prop_map(Content::Header),
        name_strategy().prop_map(Content::HeaderFor),
        (1u16..3000, any::<u8>()).prop_map(|(n, b)| Content::Garbage(n, b)),
        any::<Index>().prop_map(Content::CopyOf),
    ];
    prop_oneof![
        3 => (any::<Index>(), name_strategy(), any::<bool>()).prop_map(|(i, n, r)| Edit::Rename(i, n, r)),
        2 => (any::<Index>(), name_strategy(), any::<bool>()).prop_map(|(i, n, r)| Edit::Copy(i, n, r)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        1 => any::<Index>().prop_map(Edit::Empty),
        1 => any::<Index>().prop_map(Edit::Delete),
        4 => (name_strategy(), content).prop_map(|(n, c)| Edit::Extra(n, c)),
        2 => (any::<Index>(), name_strategy()).prop_map(|(i, n)| Edit::RewriteHeader(i, n)),
        2 => (any::<Index>(), any::<bool>(), 12u16..16_000, any::<Index>())
            .prop_map(|(i, p, n, at)| Edit::Spray(i, p, n, at)),
        2 => (any::<Index>(), any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(a, r, b, at)| Edit::Splice(a, r, b, at)),
        4 => (file_strategy(), any::<Index>(), 0u8..8).prop_map(|(f, at, bit)| Edit::Flip(f, at, bit)),
        2 => (file_strategy(), any::<Index>()).prop_map(|(f, at)| Edit::Cut(f, at)),
        2 => (file_strategy(), any::<Index>(), 1u16..2000).prop_map(|(f, at, n)| Edit::Zero(f, at, n)),
        1 => (name_strategy(), 1u16..2000).prop_map(|(n, k)| Edit::Flood(n, k)),
        1 => Just(Edit::MetaDelete),
        1 => (0u16..1100).prop_map(Edit::MetaCut),
        1 => any::<Index>().prop_map(Edit::MetaStale),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    seed: Index,
    strategy: Strategy,
    tolerant: bool,
    /// MemFirst: parse on the worker thread.
    threaded: bool,
    /// MemFirst: open with this snapshot hint (older segments read lazily).
    hint: Option<u64>,
    edits: Vec<Edit>,
}

fn case_strategy() -> impl proptest::strategy::Strategy<Value = Case> {
    (
        any::<Index>(),
        prop_oneof![Just(Strategy::DiskFirst), Just(Strategy::MemFirst)],
        prop::bool::weighted(0.15),
        any::<bool>(),
        prop::option::weighted(0.3, 0..600u64),
        prop_oneof![
            1 => Just(Vec::new()),
            12 => prop::collection::vec(edit_strategy(), 1..=5),
        ],
    )
        .prop_map(|(seed, strategy, tolerant, threaded, hint, edits)| Case {
            seed,
            strategy,
            tolerant,
            threaded,
            hint: hint.filter(|_| strategy == Strategy::MemFirst),
            edits,
        })
}

/// The directory being edited.
struct Dir<'a> {
    files: BTreeMap<String, Vec<u8>>,
    seed: &'a Seed,
}

impl Dir<'_> {
    fn segs(&self) -> Vec<u64> {
        self.files.keys().filter_map(|n| parse_seg(n)).collect()
    }

    fn seg(&self, i: &Index) -> Option<u64> {
        let segs = self.segs();
        (!segs.is_empty()).then(|| segs[i.index(segs.len())])
    }

    fn resolve(&self, name: &Name) -> u64 {
        let next = self
            .seed
            .live
            .last()
            .map_or(self.seed.boundary, |e| e.index)
            + 1;
        let segs = self.segs();
        match name {
            Name::Next => next,
            Name::Past(k) => next + 1 + u64::from(*k % 5000),
            Name::Huge => 10_000_000_000_000_000_000,
            Name::Max => u64::MAX,
            Name::Zero => 0,
            Name::Between(i) => {
                let gaps: Vec<(u64, u64)> = segs
                    .windows(2)
                    .map(|w| (w[0], w[1]))
                    .filter(|(a, b)| b - a > 1)
                    .collect();
                match gaps.is_empty() {
                    true => next,
                    false => {
                        let (a, b) = gaps[i.index(gaps.len())];
                        a + 1 + (i.index(1 << 20) as u64) % (b - a - 1)
                    }
                }
            }
            Name::Below(i) => match self.seed.boundary {
                0 => 0,
                b => 1 + i.index(b as usize) as u64,
            },
            Name::Existing(i) => self.seg(i).unwrap_or(next),
        }
    }

    fn file_name(&self, f: &File) -> Option<String> {
        match f {
            File::Meta => self.files.contains_key("meta").then(|| "meta".to_string()),
            File::Seg(i) => self.seg(i).map(seg_name),
        }
    }

    fn apply(&mut self, edit: &Edit) {
        match edit {
            Edit::Rename(i, to, rewrite) | Edit::Copy(i, to, rewrite) => {
                let Some(from) = self.seg(i) else { return };
                let to = self.resolve(to);
                let mut bytes = match edit {
                    Edit::Rename(..) => self.files.remove(&seg_name(from)).unwrap(),
                    _ => self.files[&seg_name(from)].clone(),
                };
                if *rewrite {
                    rewrite_header(&mut bytes, to);
                }
                self.files.insert(seg_name(to), bytes);
            }
            Edit::Swap(a, b) => {
                let (Some(a), Some(b)) = (self.seg(a), self.seg(b)) else {
                    return;
                };
                if a == b {
                    return;
                }
                let x = self.files.remove(&seg_name(a)).unwrap();
                let y = self.files.insert(seg_name(b), x).unwrap();
                self.files.insert(seg_name(a), y);
            }
            Edit::Empty(i) => {
                if let Some(s) = self.seg(i) {
                    self.files.insert(seg_name(s), Vec::new());
                }
            }
            Edit::Delete(i) => {
                if let Some(s) = self.seg(i) {
                    self.files.remove(&seg_name(s));
                }
            }
            Edit::Extra(name, content) => {
                let at = self.resolve(name);
                let bytes = match content {
                    Content::Empty => Vec::new(),
                    Content::Zeros(n) => vec![0; *n as usize],
                    Content::Header(n) => {
                        let mut v = segment_header(at).to_vec();
                        v.resize(v.len() + *n as usize, 0);
                        v
                    }
                    Content::HeaderFor(other) => segment_header(self.resolve(other)).to_vec(),
                    Content::Garbage(n, b) => (0..*n).map(|k| (k as u8).wrapping_mul(*b)).collect(),
                    Content::CopyOf(i) => match self.seg(i) {
                        Some(s) => self.files[&seg_name(s)].clone(),
                        None => Vec::new(),
                    },
                };
                self.files.insert(seg_name(at), bytes);
            }
            Edit::RewriteHeader(i, to) => {
                let to = self.resolve(to);
                if let Some(s) = self.seg(i) {
                    rewrite_header(self.files.get_mut(&seg_name(s)).unwrap(), to);
                }
            }
            Edit::Spray(i, plausible, n, at) => {
                let Some(s) = self.seg(i) else { return };
                let f = self.files.get_mut(&seg_name(s)).unwrap();
                let start = at.index(f.len() + 1);
                let total = start + *n as usize;
                f.resize(total.max(f.len()), 0);
                let mut q = start;
                let step = if *plausible { 48 } else { 12 };
                while q + step <= total {
                    let len = (total - q - 12) as u32;
                    f[q..q + 4].copy_from_slice(&format::BATCH_MAGIC.to_le_bytes());
                    f[q + 4..q + 8].copy_from_slice(&len.max(32).to_le_bytes());
                    f[q + 8..q + 12].copy_from_slice(&(q as u32).to_le_bytes());
                    if *plausible {
                        f[q + 12..q + 20].copy_from_slice(&(1u64 << 40).to_le_bytes());
                        f[q + 20..q + 28].copy_from_slice(&1u64.to_le_bytes());
                        f[q + 28..q + 36].copy_from_slice(&(1u64 << 39).to_le_bytes());
                        let plen = u64::from(len.max(32)) - 32;
                        f[q + 36..q + 44].copy_from_slice(&plen.to_le_bytes());
                        f[q + 44..q + 48].fill(0);
                    }
                    q += step;
                }
            }
            Edit::Splice(a, r, b, at) => {
                let (Some(a), Some(b)) = (self.seg(a), self.seg(b)) else {
                    return;
                };
                let recs = records(&self.files[&seg_name(a)]);
                if recs.is_empty() {
                    return;
                }
                let (index, term, hint, payload, _) = &recs[r.index(recs.len())];
                let rec = record(*index, *term, *hint, payload);
                let f = self.files.get_mut(&seg_name(b)).unwrap();
                let start = at.index(f.len() + 1);
                if f.len() < start + rec.len() {
                    f.resize(start + rec.len(), 0);
                }
                f[start..start + rec.len()].copy_from_slice(&rec);
            }
            Edit::Flip(file, at, bit) => {
                let Some(name) = self.file_name(file) else {
                    return;
                };
                let f = self.files.get_mut(&name).unwrap();
                if !f.is_empty() {
                    let k = at.index(f.len());
                    f[k] ^= 1 << bit;
                }
            }
            Edit::Cut(file, at) => {
                let Some(name) = self.file_name(file) else {
                    return;
                };
                let f = self.files.get_mut(&name).unwrap();
                let k = at.index(f.len() + 1);
                f.truncate(k);
            }
            Edit::Zero(file, at, n) => {
                let Some(name) = self.file_name(file) else {
                    return;
                };
                let f = self.files.get_mut(&name).unwrap();
                let k = at.index(f.len() + 1);
                let end = (k + *n as usize).min(f.len());
                f[k..end].fill(0);
            }
            Edit::Flood(name, count) => {
                let from = self.resolve(name);
                for k in 0..u64::from(*count) {
                    let Some(at) = from.checked_add(k) else { break };
                    self.files.entry(seg_name(at)).or_default();
                }
            }
            Edit::MetaDelete => {
                self.files.remove("meta");
            }
            Edit::MetaCut(n) => {
                if let Some(m) = self.files.get_mut("meta") {
                    m.truncate(*n as usize);
                }
            }
            Edit::MetaStale(i) => {
                let old = &self.seed.old_metas;
                if !old.is_empty() {
                    self.files
                        .insert("meta".to_string(), old[i.index(old.len())].clone());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The properties

/// The records of `files` that were appended, above the boundary the store reached, and
/// that the directory `proof` proves durable: at or below the highest `durable_hint` of its
/// appended records. (A record nothing proves durable may be the stray first batch of a torn
/// segment creation: the newest segment's last synced batch is recovery's known blind spot.)
fn durable_records(
    seed: &Seed,
    files: &BTreeMap<String, Vec<u8>>,
    proof: &BTreeMap<String, Vec<u8>>,
) -> BTreeSet<(u64, u64, Vec<u8>)> {
    let appended = |index: u64, term: u64, payload: &[u8]| {
        seed.appended.get(&index).is_some_and(|v| {
            v.iter()
                .any(|e| e.term == term && e.payload.as_ref() == payload)
        })
    };
    let records = |files: &BTreeMap<String, Vec<u8>>| -> Vec<format::Rec> {
        files
            .iter()
            .filter(|(n, _)| parse_seg(n).is_some())
            .flat_map(|(_, b)| records_anywhere(b))
            .filter(|(index, term, _, payload, _)| appended(*index, *term, payload))
            .collect()
    };
    let proven = records(proof).iter().map(|r| r.2).max().unwrap_or(0);
    records(files)
        .into_iter()
        .filter(|(index, ..)| *index > seed.boundary && *index <= proven)
        .map(|(i, t, _, p, _)| (i, t, p))
        .collect()
}

/// Tallies of what the run reached.
#[derive(Default)]
struct Tally {
    opens: u64,
    outcomes: BTreeMap<String, u64>,
    /// Over opens of at least 16 KiB present: the highest peak heap (less the allowance per
    /// file) and checksum work per byte present.
    max_alloc_ratio: f64,
    max_work_ratio: f64,
    /// The highest peak heap of any open, and the bytes present then.
    max_alloc: (u64, u64),
}

fn outcome_key(r: &logbook::Result<Log>) -> String {
    match r {
        Ok(log) if log.stats().torn_cuts_at_open > 0 => "ok, after cutting".into(),
        Ok(_) => "ok".into(),
        Err(Error::Corruption { reason, .. }) => {
            // The reason's first clause, numbers dropped: one key per kind of verdict.
            let head: String = reason
                .split([';', ','])
                .next()
                .unwrap_or("")
                .replace(
                    " in a segment that a later file follows: only the newest segment's \
                     creation can be torn",
                    " (below a later file)",
                )
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect();
            format!("corruption: {}", head.replace("  ", " ").trim())
        }
        Err(e) => format!("error: {}", e.to_string().split(':').next().unwrap_or("")),
    }
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

/// Runs one case; `Err` names the property broken.
fn run_case(case: &Case, tally: &Mutex<Tally>) -> Result<(), TestCaseError> {
    let corpus = corpus();
    let seed = &corpus[case.seed.index(corpus.len())];
    let mut d = Dir {
        files: seed.files.clone(),
        seed,
    };
    for e in &case.edits {
        d.apply(e);
    }
    let unedited = case.edits.is_empty();
    let fs = MemFs::new();
    fs.restore(dir(), &d.files);
    let before = d.files;
    let present: u64 = before.values().map(|b| b.len() as u64).sum();
    let files = before.len() as u64;
    let mut cfg = Config::new(case.strategy, FlushPolicy::Immediate)
        .with_segment_size_bytes(seed.segment_size_bytes)
        .with_preload_worker_min_bytes(if case.threaded { 0 } else { u64::MAX })
        .with_snapshot_hint(case.hint);
    if case.tolerant {
        cfg = cfg.with_recovery(RecoveryMode::TruncateCorrupt);
    }

    // Property 1: no panic (caught by the runner, which shrinks it); 2 and 3: bounds.
    let base = alloc::reset();
    let (work0, read0, calls0) = (checksummed_bytes(), fs.bytes_read(), fs.calls());
    let opened = open(&fs, &cfg);
    let (peak, _) = alloc::peak_and_largest();
    let alloc_used = (peak - base) as u64;
    let work = checksummed_bytes() - work0;
    let read = fs.bytes_read() - read0;
    let calls = fs.calls() - calls0;
    {
        let mut t = tally.lock().unwrap();
        t.opens += 1;
        *t.outcomes.entry(outcome_key(&opened)).or_default() += 1;
        if present >= 16 << 10 {
            let names = (ALLOC_PER_FILE * files) as f64;
            t.max_alloc_ratio = t
                .max_alloc_ratio
                .max((alloc_used as f64 - names).max(0.0) / present as f64);
            t.max_work_ratio = t.max_work_ratio.max(work as f64 / present as f64);
        }
        t.max_alloc = t.max_alloc.max((alloc_used, present));
    }
    if alloc_used > ALLOC_PER_BYTE * present + ALLOC_PER_FILE * files + ALLOC_SLACK {
        return Err(fail(format!(
            "open allocated {alloc_used} bytes for {present} present in {files} files"
        )));
    }
    if work > WORK_PER_BYTE * present + WORK_SLACK {
        return Err(fail(format!(
            "open checksummed {work} bytes for {present} present"
        )));
    }
    if read > WORK_PER_BYTE * present + WORK_SLACK {
        return Err(fail(format!(
            "open read {read} bytes for {present} present"
        )));
    }
    if calls > CALLS_PER_FILE * files + CALLS_SLACK {
        return Err(fail(format!(
            "open made {calls} Fs calls for {files} files"
        )));
    }

    // Property 5: what a strict open removed, and a failed strict open changed nothing.
    let removed: Vec<String> = fs
        .removed()
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    if !case.tolerant && !removed.is_empty() {
        let kept: BTreeMap<String, Vec<u8>> = before
            .iter()
            .filter(|(n, _)| !removed.contains(n))
            .map(|(n, b)| (n.clone(), b.clone()))
            .collect();
        let had = durable_records(seed, &before, &before);
        let has = durable_records(seed, &kept, &before);
        if let Some(lost) = had.difference(&has).next() {
            return Err(fail(format!(
                "removing {removed:?} lost durable entry {} (term {})",
                lost.0, lost.1
            )));
        }
    }
    let mut log = match opened {
        Err(e) => {
            if !matches!(
                e,
                Error::Corruption { .. } | Error::UnsupportedVersion { .. }
            ) {
                return Err(fail(format!("open failed untyped: {e}")));
            }
            if unedited {
                return Err(fail(format!("an unedited store failed to open: {e}")));
            }
            let after = fs.snapshot(dir());
            if !case.tolerant && after != before {
                let changed: Vec<&String> = before
                    .keys()
                    .chain(after.keys())
                    .filter(|n| before.get(*n) != after.get(*n))
                    .collect();
                return Err(fail(format!("the failed open ({e}) changed {changed:?}")));
            }
            return Ok(());
        }
        Ok(log) => log,
    };

    // Property 4: what reads return was appended at that index.
    let check_reads = |log: &mut Log, what: &str| -> Result<Vec<Entry>, TestCaseError> {
        let base = alloc::reset();
        let work0 = checksummed_bytes();
        let first = log.first_index();
        let got = match log.entries(first, log.last_index() + 1, usize::MAX, u64::MAX) {
            Ok(got) => got,
            // DiskFirst (and a hinted MemFirst open) indexes an older segment when a read
            // first needs it.
            Err(Error::Corruption { .. })
                if (case.strategy == Strategy::DiskFirst || case.hint.is_some()) && !unedited =>
            {
                return Ok(Vec::new())
            }
            Err(e) => return Err(fail(format!("{what}: read-all failed: {e}"))),
        };
        let (peak, _) = alloc::peak_and_largest();
        let used = (peak - base) as u64;
        let work = checksummed_bytes() - work0;
        if used > ALLOC_PER_BYTE * present + ALLOC_PER_FILE * files + ALLOC_SLACK {
            return Err(fail(format!(
                "{what}: read-all allocated {used} bytes for {present}"
            )));
        }
        if work > WORK_PER_BYTE * present + WORK_SLACK {
            return Err(fail(format!(
                "{what}: read-all checksummed {work} bytes for {present}"
            )));
        }
        if got.len() as u64 != log.last_index() + 1 - first {
            return Err(fail(format!(
                "{what}: read-all returned {} entries for {first}..={}",
                got.len(),
                log.last_index()
            )));
        }
        for (i, e) in got.iter().enumerate() {
            let ok = e.index == first + i as u64
                && seed.appended.get(&e.index).is_some_and(|v| v.contains(e));
            if !ok {
                return Err(fail(format!(
                    "{what}: entry {} was never appended as read",
                    e.index
                )));
            }
        }
        Ok(got)
    };
    let got = check_reads(&mut log, "first open")?;
    if unedited {
        if got != seed.live || log.first_index() != seed.boundary + 1 {
            return Err(fail("an unedited store opened to another log".into()));
        }
        if log.hard_state() != seed.hard_state {
            return Err(fail("an unedited store lost its hard state".into()));
        }
        if (log.stats().torn_cuts_at_open > 0) != seed.torn {
            return Err(fail(format!(
                "an unedited store: {} torn cuts",
                log.stats().torn_cuts_at_open
            )));
        }
    }
    let (first, last) = (log.first_index(), log.last_index());
    drop(log);

    // A reopen finds what the first open left, with nothing more to repair.
    let mut log = open(&fs, &cfg).map_err(|e| fail(format!("the reopen failed: {e}")))?;
    tally.lock().unwrap().opens += 1;
    if (log.first_index(), log.last_index()) != (first, last) {
        return Err(fail(format!(
            "the reopen found {}..={} after {first}..={last}",
            log.first_index(),
            log.last_index()
        )));
    }
    if !case.tolerant && log.stats().torn_cuts_at_open > 0 {
        return Err(fail("the reopen cut again".into()));
    }
    let again = check_reads(&mut log, "reopen")?;
    if !again.is_empty() && !got.is_empty() && again != got {
        return Err(fail("the reopen reads differently".into()));
    }
    Ok(())
}

/// Aborts the process if one case runs longer than [`HANG_SECS`]: a hang is a failure, and
/// the runner cannot catch it.
fn watchdog(current: Arc<Mutex<Option<(Instant, String)>>>) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        if let Some((since, case)) = &*current.lock().unwrap() {
            if since.elapsed() > Duration::from_secs(HANG_SECS) {
                eprintln!("HANG: a case ran for more than {HANG_SECS} s:\n{case}");
                std::process::abort();
            }
        }
    });
}

#[test]
fn hostile_directories_never_lose_data_blow_up_or_hang() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let cases: u32 = std::env::var("LOGBOOK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(45_000);
    let seed: u64 = std::env::var("LOGBOOK_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(17);
    let t0 = Instant::now();
    let corpus = corpus();
    println!(
        "corpus: {}",
        corpus
            .iter()
            .map(|s| format!("{} ({} files)", s.name, s.files.len()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let tally = Mutex::new(Tally::default());
    let current = Arc::new(Mutex::new(None));
    watchdog(current.clone());
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        PtConfig {
            cases,
            failure_persistence: None,
            max_shrink_iters: 2048,
            ..PtConfig::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let run = Instant::now();
    let result = runner.run(&case_strategy(), |case| {
        *current.lock().unwrap() = Some((Instant::now(), format!("{case:#?}")));
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| run_case(&case, &tally)));
        *current.lock().unwrap() = None;
        match r {
            Ok(r) => r,
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err(fail(format!("panic: {msg}")))
            }
        }
    });
    let secs = run.elapsed().as_secs_f64();
    let t = tally.lock().unwrap();
    println!(
        "{cases} cases, {} opens in {secs:.1} s: {:.0} opens/s (corpus built in {:.1} s)\n\
         per byte present (stores of 16 KiB or more): peak heap up to {:.2} (beyond {} bytes \
         per file), checksum work up to {:.2}; largest peak heap {} bytes ({} present)",
        t.opens,
        t.opens as f64 / secs,
        (run - t0).as_secs_f64(),
        t.max_alloc_ratio,
        ALLOC_PER_FILE,
        t.max_work_ratio,
        t.max_alloc.0,
        t.max_alloc.1,
    );
    for (k, n) in &t.outcomes {
        println!("  {n:>7}  {k}");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
    // The edits must keep reaching recovery's verdicts: a run that only ever opens, or
    // only ever fails one way, tests little.
    let kinds = t.outcomes.len();
    assert!(
        kinds >= 8,
        "only {kinds} kinds of verdict reached: {:?}",
        t.outcomes.keys()
    );
}

/// Every seed of the corpus opens, unedited, to exactly what was written, under both
/// strategies: the corpus is real.
#[test]
fn the_seed_corpus_opens_as_written() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    for seed in corpus() {
        for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
            let fs = MemFs::new();
            fs.restore(dir(), &seed.files);
            let cfg = Config::new(strategy, FlushPolicy::Immediate)
                .with_segment_size_bytes(seed.segment_size_bytes);
            let mut log = open(&fs, &cfg).unwrap_or_else(|e| panic!("{}: {e}", seed.name));
            let got = log
                .entries(
                    log.first_index(),
                    log.last_index() + 1,
                    usize::MAX,
                    u64::MAX,
                )
                .unwrap();
            assert_eq!(got, seed.live, "{} {strategy:?}", seed.name);
            assert_eq!(log.hard_state(), seed.hard_state, "{}", seed.name);
        }
    }
}

//! `logbook::inspect` on damaged directories made the way `hostile.rs` makes them: the
//! verdict is the one a strict open reaches (same file, offset and reason), stat, verify and
//! entries change nothing, and a repair backs up every byte before it cuts it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::format::{self, rewrite_header};
use common::{entries, mem_fs::MemFs};
use logbook::inspect::{self, Action, Cause, Fix, Limits, RepairOptions, Verdict};
use logbook::{Config, Error, FlushPolicy, Fs, Log, LogId, Strategy, SystemClock};

const DIR: &str = "/db";

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn seg(first: u64) -> PathBuf {
    dir().join(format!("seg-{first:020}.log"))
}

fn meta() -> PathBuf {
    dir().join("meta")
}

fn arc(fs: &MemFs) -> Arc<dyn Fs> {
    Arc::new(fs.clone())
}

fn open(fs: &MemFs, cfg: Config) -> logbook::Result<Log> {
    Log::open(arc(fs), Arc::new(SystemClock::new()), DIR, cfg)
}

fn config(strategy: Strategy) -> Config {
    Config::new(strategy, FlushPolicy::Immediate).with_segment_size_bytes(4096)
}

/// MemFirst reads every segment at open, as verify does: its verdict is the one to match.
fn cfg() -> Config {
    config(Strategy::MemFirst)
}

/// The store's own limits, so that verdicts match its open exactly.
fn limits() -> Limits {
    Limits {
        segment_size_bytes: 4096,
        payload_size_max_bytes: cfg().payload_size_max_bytes(),
        commit_check: false,
    }
}

/// Entries `1..=n`, ten per append, closed cleanly (DiskFirst: the last segment keeps its
/// preallocated zeros).
fn store(n: u64) -> MemFs {
    let fs = MemFs::new();
    let mut log = open(&fs, config(Strategy::DiskFirst)).unwrap();
    for chunk in entries(1, n, 1).chunks(10) {
        log.append(chunk).unwrap();
    }
    log.close().unwrap();
    fs
}

fn firsts(fs: &MemFs) -> Vec<u64> {
    fs.segment_firsts(dir())
}

/// Where the valid records of a segment file end.
fn data_end(bytes: &[u8]) -> usize {
    format::data_end(bytes)
}

/// Verifies, checking that nothing changed, and that a strict open agrees: it fails with the
/// same corruption, or it succeeds and cuts what the verdict's fixes say.
#[track_caller]
fn verdict(fs: &MemFs) -> Verdict {
    let before = fs.snapshot(dir());
    let n = fs.changes().len();
    let v = inspect::verify(arc(fs), dir(), &limits()).expect("verify");
    assert!(fs.snapshot(dir()) == before, "verify changed the directory");
    assert!(
        fs.changes().len() == n,
        "verify wrote: {:?}",
        &fs.changes()[n..]
    );
    let copy = fs.deep_clone();
    match (&v, open(&copy, cfg())) {
        (Verdict::Clean, Ok(_)) => assert!(copy.snapshot(dir()) == before),
        (Verdict::Torn { fixes }, Ok(_)) => {
            assert!(
                copy.snapshot(dir()) != before,
                "the open fixed nothing: {fixes:?}"
            );
        }
        (
            Verdict::Corrupt {
                file,
                offset,
                reason,
            },
            Err(Error::Corruption {
                path,
                offset: o,
                reason: r,
            }),
        ) => assert_eq!((file, offset, reason), (&path, &o, &r)),
        (v, open) => panic!(
            "verify says {v:?}, open says {:?}",
            open.map(|l| l.last_index())
        ),
    }
    v
}

#[test]
fn a_clean_store_is_clean_and_stat_counts_it() {
    let fs = store(300);
    assert_eq!(verdict(&fs), Verdict::Clean);
    let before = fs.snapshot(dir());
    let st = inspect::stat(arc(&fs), dir(), &limits()).unwrap();
    assert!(fs.snapshot(dir()) == before, "stat changed the directory");
    assert_eq!(st.verdict, Verdict::Clean);
    assert_eq!(
        (st.first_index, st.last_entry),
        (1, Some(LogId::new(1, 300)))
    );
    assert_eq!(st.format_version, 3);
    let segs = firsts(&fs);
    assert!(segs.len() >= 3, "{segs:?}");
    assert_eq!(
        st.segments
            .iter()
            .map(|s| s.first_index)
            .collect::<Vec<_>>(),
        segs
    );
    assert_eq!(st.segments.iter().map(|s| s.entries).sum::<u64>(), 300);
    assert!(st.segments.iter().all(|s| s.anomaly.is_none()));
    let sizes: u64 = before
        .iter()
        .filter(|(n, _)| n.starts_with("seg-"))
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert_eq!(st.segment_bytes, sizes);
    let got = inspect::entries(arc(&fs), dir(), &limits(), 17, 42).unwrap();
    assert_eq!(got, entries(17, 42, 1));
}

#[test]
fn a_torn_tail_is_torn_at_its_file_and_offset_and_repair_backs_it_up() {
    let fs = store(300);
    let last = *firsts(&fs).last().unwrap();
    let mut bytes = fs.read(&seg(last)).unwrap();
    let end = data_end(&bytes);
    // Half a record past the end: a write the crash tore.
    let torn = common::format::record(301, 1, 300, b"never acknowledged");
    bytes[end..end + 20].copy_from_slice(&torn[..20]);
    fs.write(&seg(last), bytes.clone());
    let want = Fix {
        action: Action::Cut,
        cause: Cause::TornTail,
        file: seg(last),
        offset: end as u64,
        bytes: (bytes.len() - end) as u64,
    };
    assert_eq!(
        verdict(&fs),
        Verdict::Torn {
            fixes: vec![want.clone()]
        }
    );
    let backup_dir = PathBuf::from("/backup");
    let opts = RepairOptions {
        cut_corruption: false,
        backup_dir: backup_dir.clone(),
    };
    let n = fs.changes().len();
    let done = inspect::repair(arc(&fs), dir(), &limits(), &opts).unwrap();
    assert_eq!(done.fixes, vec![want]);
    assert_eq!(done.last_entry, Some(LogId::new(1, 300)));
    let backup = fs.read(&done.backups[0]).unwrap();
    assert_eq!(backup, bytes[end..], "the backup holds the bytes cut");
    // The backup was durable before the cut.
    let changes = fs.changes()[n..].to_vec();
    let cut_at = changes.iter().position(|c| c.starts_with("set_len seg-"));
    let backed_at = changes.iter().position(|c| c.contains(".bak"));
    assert!(backed_at < cut_at && cut_at.is_some(), "{changes:?}");
    assert_eq!(fs.read(&seg(last)).unwrap().len(), end);
    assert_eq!(verdict(&fs), Verdict::Clean);
    let mut log = open(&fs, cfg()).unwrap();
    assert_eq!(
        log.entries(1, 301, usize::MAX, u64::MAX).unwrap(),
        entries(1, 300, 1)
    );
    drop(log);
    // A second repair finds nothing to do and writes nothing.
    let again = inspect::repair(arc(&fs), dir(), &limits(), &opts).unwrap();
    assert!(again.fixes.is_empty() && again.before == Verdict::Clean);
}

#[test]
fn mid_log_corruption_is_refused_by_repair_unless_asked_and_then_backed_up() {
    let fs = store(300);
    let segs = firsts(&fs);
    let victim = segs[1];
    let mut bytes = fs.read(&seg(victim)).unwrap();
    // Damage the second batch: the first stays whole.
    let batches = format::batches(&bytes);
    let offset = format::SEGMENT_HEADER_LEN + batches[0].size;
    bytes[offset + 20] ^= 0x40;
    fs.write(&seg(victim), bytes.clone());
    let v = verdict(&fs);
    assert!(
        matches!(&v, Verdict::Corrupt { file, offset: o, .. } if *file == seg(victim) && *o == offset as u64),
        "{v:?}"
    );
    let before = fs.snapshot(dir());
    let mut opts = RepairOptions {
        cut_corruption: false,
        backup_dir: PathBuf::from("/backup"),
    };
    let n = fs.changes().len();
    let refused = inspect::repair(arc(&fs), dir(), &limits(), &opts);
    assert!(
        matches!(refused, Err(Error::Corruption { .. })),
        "{refused:?}"
    );
    assert!(fs.snapshot(dir()) == before && fs.changes().len() == n);
    assert!(fs.snapshot(Path::new("/backup")).is_empty());

    opts.cut_corruption = true;
    let done = inspect::repair(arc(&fs), dir(), &limits(), &opts).unwrap();
    assert_eq!(done.before, v);
    let first_bad = batches[1].first_index;
    assert_eq!(done.last_entry, Some(LogId::new(1, first_bad - 1)));
    assert!(done.fixes.iter().all(|f| f.cause == Cause::Corruption));
    // Every later segment removed, newest first, and the victim cut at the bad record.
    let removed: Vec<PathBuf> = segs[2..].iter().rev().map(|f| seg(*f)).collect();
    let fixed: Vec<PathBuf> = done.fixes.iter().map(|f| f.file.clone()).collect();
    assert_eq!(fixed[..removed.len()], removed[..]);
    assert_eq!(done.fixes.last().unwrap().offset, offset as u64);
    for (fix, backup) in done.fixes.iter().zip(&done.backups) {
        let original = &before[&fix.file.file_name().unwrap().to_string_lossy().into_owned()];
        let (from, to) = (fix.offset as usize, (fix.offset + fix.bytes) as usize);
        assert_eq!(fs.read(backup).unwrap(), original[from..to], "{fix:?}");
    }
    let log = open(&fs, cfg()).unwrap();
    assert_eq!(log.last_index(), first_bad - 1);
}

#[test]
fn a_missing_segment_is_corruption() {
    let fs = store(300);
    let segs = firsts(&fs);
    fs.delete(&seg(segs[1]));
    assert!(matches!(verdict(&fs), Verdict::Corrupt { .. }));
    // The first segment too: a gap after the boundary.
    let fs = store(300);
    fs.delete(&seg(1));
    let v = verdict(&fs);
    assert!(
        matches!(&v, Verdict::Corrupt { file, .. } if *file == seg(segs[1])),
        "{v:?}"
    );
}

#[test]
fn damaged_metadata_is_a_stale_slot_or_corruption() {
    // One slot: the open rewrites it from the other.
    let fs = store(50);
    let mut m = fs.read(&meta()).unwrap();
    m[512 + 20] ^= 0xFF;
    fs.write(&meta(), m);
    let v = verdict(&fs);
    let Verdict::Torn { fixes } = &v else {
        panic!("{v:?}")
    };
    assert_eq!(
        (fixes[0].action, fixes[0].offset),
        (Action::RewriteSlot, 512)
    );
    // Both slots, or `meta` gone beside segments: corruption naming `meta`.
    for damage in ["both", "deleted", "emptied"] {
        let fs = store(50);
        match damage {
            "both" => {
                let mut m = fs.read(&meta()).unwrap();
                m[20] ^= 0xFF;
                m[512 + 20] ^= 0xFF;
                fs.write(&meta(), m);
            }
            "deleted" => fs.delete(&meta()),
            _ => fs.write(&meta(), Vec::new()),
        }
        let v = verdict(&fs);
        assert!(
            matches!(&v, Verdict::Corrupt { file, .. } if *file == meta()),
            "{damage}: {v:?}"
        );
        let st = inspect::stat(arc(&fs), dir(), &limits());
        assert!(matches!(st, Err(Error::Corruption { .. })), "{damage}");
    }
}

#[test]
fn an_empty_or_foreign_directory_is_not_a_store_and_is_not_touched() {
    let fs = MemFs::new();
    fs.create_dir_all(dir()).unwrap();
    for name in ["empty", "foreign", "missing"] {
        let d = match name {
            "foreign" => {
                fs.write(&dir().join("notes.txt"), b"hi".to_vec());
                dir()
            }
            "missing" => Path::new("/nowhere"),
            _ => dir(),
        };
        let before = fs.changes().len();
        let v = inspect::verify(arc(&fs), d, &limits());
        assert!(matches!(v, Err(Error::NotAStore { .. })), "{name}: {v:?}");
        let st = inspect::stat(arc(&fs), d, &limits());
        assert!(matches!(st, Err(Error::NotAStore { .. })), "{name}");
        assert_eq!(fs.changes().len(), before, "{name}: {:?}", fs.changes());
    }
    // `meta` whose creation never finished, nothing else: not a store either.
    fs.write(&meta(), vec![0; 1024]);
    let v = inspect::verify(arc(&fs), dir(), &limits());
    assert!(matches!(v, Err(Error::NotAStore { .. })), "{v:?}");
}

#[test]
fn an_open_store_is_refused() {
    let fs = store(10);
    let log = open(&fs, cfg()).unwrap();
    let v = inspect::verify(arc(&fs), dir(), &limits());
    assert!(matches!(v, Err(Error::Locked { .. })), "{v:?}");
    let opts = RepairOptions {
        cut_corruption: true,
        backup_dir: PathBuf::from("/backup"),
    };
    let r = inspect::repair(arc(&fs), dir(), &limits(), &opts);
    assert!(matches!(r, Err(Error::Locked { .. })), "{r:?}");
    drop(log);
    assert_eq!(verdict(&fs), Verdict::Clean);
}

/// The hostile directories of `hostile.rs`: verify reaches the open's verdict on each.
#[test]
fn hostile_directories_get_the_opens_verdict() {
    let base = store(300);
    let segs = firsts(&base);
    let n = segs.len();
    let last = segs[n - 1];
    // A segment renamed past the log, header rewritten to match (issue 3).
    let fs = base.deep_clone();
    let mut bytes = fs.read(&seg(segs[1])).unwrap();
    fs.delete(&seg(segs[1]));
    rewrite_header(&mut bytes, 1300);
    fs.write(&seg(1300), bytes);
    assert!(matches!(verdict(&fs), Verdict::Corrupt { .. }));
    // Two segments swapped (issue 4).
    let fs = base.deep_clone();
    let (a, b) = (
        fs.read(&seg(segs[0])).unwrap(),
        fs.read(&seg(last)).unwrap(),
    );
    fs.write(&seg(segs[0]), b);
    fs.write(&seg(last), a);
    assert!(matches!(verdict(&fs), Verdict::Corrupt { .. }));
    // A torn creation where the log continues, and an empty file anywhere else.
    let trimmed = |fs: &MemFs| {
        let mut b = fs.read(&seg(last)).unwrap();
        b.truncate(data_end(&b));
        fs.write(&seg(last), b);
    };
    let fs = base.deep_clone();
    trimmed(&fs);
    fs.write(&seg(301), Vec::new());
    let v = verdict(&fs);
    let want = (Action::Remove, Cause::TornCreation, seg(301));
    assert!(
        matches!(&v, Verdict::Torn { fixes } if (fixes[0].action, fixes[0].cause, fixes[0].file.clone()) == want),
        "{v:?}"
    );
    let fs = base.deep_clone();
    trimmed(&fs);
    fs.write(&seg(305), Vec::new());
    let v = verdict(&fs);
    assert!(
        matches!(&v, Verdict::Corrupt { file, .. } if *file == seg(305)),
        "{v:?}"
    );
    // Purge leftovers: a purge whose removals were lost.
    let fs = base.deep_clone();
    let pristine = fs.snapshot(dir());
    let mut log = open(&fs, config(Strategy::DiskFirst)).unwrap();
    log.purge(LogId::new(1, segs[2] + 1)).unwrap();
    log.close().unwrap();
    for first in &segs[..2] {
        fs.write(
            &seg(*first),
            pristine[&format!("seg-{first:020}.log")].clone(),
        );
    }
    let v = verdict(&fs);
    let Verdict::Torn { fixes } = &v else {
        panic!("{v:?}")
    };
    let left: Vec<_> = fixes.iter().map(|f| (f.cause, f.file.clone())).collect();
    let want: Vec<_> = segs[..2]
        .iter()
        .map(|f| (Cause::PurgeLeftover, seg(*f)))
        .collect();
    assert_eq!(left, want);
}

/// `MemFs` whose process dies at its `n`th change (a write, length change, creation, removal
/// or sync): that call and every later change fail, having done nothing. Every change before
/// it is durable (`MemFs` has no pending state), so this is the crash that keeps each
/// completed step.
#[derive(Debug, Clone)]
struct DiesAt {
    inner: MemFs,
    left: Arc<std::sync::atomic::AtomicI64>,
}

impl DiesAt {
    fn step(&self) -> std::io::Result<()> {
        match self.left.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) {
            n if n <= 1 => Err(std::io::Error::other("the process died here")),
            _ => Ok(()),
        }
    }
}

#[derive(Debug)]
struct DiesAtFile(Arc<dyn logbook::FsFile>, DiesAt);

impl logbook::FsFile for DiesAtFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.1.step()?;
        self.0.write_at(buf, offset)
    }
    fn set_len(&self, len_bytes: u64) -> std::io::Result<()> {
        self.1.step()?;
        self.0.set_len(len_bytes)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.1.step()?;
        self.0.sync_data()
    }
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
}

impl Fs for DiesAt {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.step()?;
        self.inner.create_dir_all(dir)
    }
    fn open(&self, path: &Path, create: bool) -> std::io::Result<Arc<dyn logbook::FsFile>> {
        if create {
            self.step()?;
        }
        let file = self.inner.open(path, create)?;
        Ok(Arc::new(DiesAtFile(file, self.clone())))
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.step()?;
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.step()?;
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.step()?;
        self.inner.sync_dir(dir)
    }
    fn lock_dir(&self, dir: &Path) -> std::io::Result<Box<dyn logbook::DirLock>> {
        self.inner.lock_dir(dir)
    }
}

/// A repair that dies at any step, then a second repair (same options), ends where an
/// uninterrupted repair ends, with every fix of the uninterrupted one backed up; the store
/// then opens. Torn damage of several kinds at once, and corruption cut on request.
#[test]
fn a_repair_that_dies_at_any_step_is_finished_by_a_second() {
    // Purge leftovers, a stale metadata slot and a torn tail, all at once.
    let torn = store(300);
    let segs = firsts(&torn);
    let pristine = torn.snapshot(dir());
    let mut log = open(&torn, config(Strategy::DiskFirst)).unwrap();
    log.purge(LogId::new(1, segs[1] + 1)).unwrap();
    log.close().unwrap();
    torn.write(
        &seg(segs[0]),
        pristine[&format!("seg-{:020}.log", segs[0])].clone(),
    );
    let mut m = torn.read(&meta()).unwrap();
    m[512 + 20] ^= 0xFF;
    torn.write(&meta(), m);
    let last = *segs.last().unwrap();
    let mut b = torn.read(&seg(last)).unwrap();
    let end = data_end(&b);
    b[end..end + 8].copy_from_slice(&[0x4c, 0x4c, 0x42, 0x52, 60, 0, 0, 0]);
    torn.write(&seg(last), b);
    // Mid-log corruption.
    let bad = store(300);
    let mut b = bad.read(&seg(segs[1])).unwrap();
    b[format::SEGMENT_HEADER_LEN + 20] ^= 0x40;
    bad.write(&seg(segs[1]), b);

    for (name, base, cut_corruption) in [("torn", torn, false), ("corrupt", bad, true)] {
        let opts = RepairOptions {
            cut_corruption,
            backup_dir: PathBuf::from("/backup"),
        };
        let whole = base.deep_clone();
        let done = inspect::repair(arc(&whole), dir(), &limits(), &opts).unwrap();
        assert!(done.fixes.len() >= 2, "{name}: {:?}", done.fixes);
        let want = whole.snapshot(dir());
        let want_backups = whole.snapshot(Path::new("/backup"));
        let mut steps = 0;
        for k in 1.. {
            let fs = base.deep_clone();
            let dying = DiesAt {
                inner: fs.clone(),
                left: Arc::new(k.into()),
            };
            if inspect::repair(Arc::new(dying), dir(), &limits(), &opts).is_ok() {
                break;
            }
            steps += 1;
            let again = inspect::repair(arc(&fs), dir(), &limits(), &opts);
            let again = again.unwrap_or_else(|e| panic!("{name}, died at step {k}: {e}"));
            assert_eq!(again.last_entry, done.last_entry, "{name}, step {k}");
            assert!(fs.snapshot(dir()) == want, "{name}, died at step {k}");
            let backups = fs.snapshot(Path::new("/backup"));
            for (file, bytes) in &want_backups {
                assert_eq!(backups.get(file), Some(bytes), "{name}, step {k}: {file}");
            }
            let log = open(&fs, cfg()).unwrap();
            assert_eq!(log.last_index(), done.last_entry.unwrap().index);
        }
        assert!(steps > 2 * done.fixes.len(), "{name}: only {steps} steps");
    }
}

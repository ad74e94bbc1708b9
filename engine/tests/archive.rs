//! The archive tier on the real filesystem: sealed segments move to a second directory,
//! reads fall through to it, purge removes from both tiers, a crash between the steps of a
//! move is reconciled at open, and an archive that loses a put is caught before anything
//! relies on it.

mod common;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::entries;
use logbook::{
    Archive, ArchiveHandle, Config, Error, FlushPolicy, FsArchive, Log, LogId, StdFs, Strategy,
    SystemClock,
};

fn cfg(strategy: Strategy, archive: &ArchiveHandle) -> Config {
    Config::new(strategy, FlushPolicy::Immediate)
        .with_segment_size_bytes(4096)
        .with_archive(archive.clone())
}

fn open(dir: &Path, cfg: &Config) -> logbook::Result<Log> {
    Log::open(
        Arc::new(StdFs),
        Arc::new(SystemClock::new()),
        dir,
        cfg.clone(),
    )
}

fn names(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

fn fs_archive(dir: &Path) -> ArchiveHandle {
    ArchiveHandle::new(FsArchive::open(Arc::new(StdFs), dir).unwrap())
}

/// Entries `from..=to` of `term` with 64-byte payloads: about 60 to a 4 KiB segment.
fn padded(from: u64, to: u64, term: u64) -> Vec<logbook::Entry> {
    (entries(from, to, term).into_iter())
        .map(|e| {
            let mut payload = e.payload.to_vec();
            payload.resize(64, b'.');
            logbook::Entry::new(e.index, e.term, payload)
        })
        .collect()
}

/// A log of 400 entries of 64 bytes over segments of 4 KiB, and its entries.
fn filled(log: &mut Log) -> Vec<logbook::Entry> {
    let es = padded(1, 400, 1);
    for chunk in es.chunks(10) {
        log.append(chunk).unwrap();
    }
    log.sync().unwrap();
    es
}

struct Dirs {
    _tmp: tempfile::TempDir,
    store: PathBuf,
    archive: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let (store, archive) = (tmp.path().join("store"), tmp.path().join("archive"));
    Dirs {
        _tmp: tmp,
        store,
        archive,
    }
}

#[test]
fn archived_entries_read_through_the_archive_before_and_after_a_reopen() {
    for strategy in [Strategy::DiskFirst, Strategy::MemFirst] {
        let d = dirs();
        let a = fs_archive(&d.archive);
        let cfg = cfg(strategy, &a);
        let mut log = open(&d.store, &cfg).unwrap();
        let es = filled(&mut log);
        let local_before = names(&d.store, "seg-").len();
        let report = log.archive_upto(300).unwrap();
        assert!(report.segments >= 2, "{strategy:?}: {report:?}");
        assert!(report.archived_upto <= 300 && report.archived_upto > 0);
        assert_eq!(log.archived_upto(), report.archived_upto);
        let local_after = names(&d.store, "seg-");
        assert_eq!(local_after.len(), local_before - report.segments as usize);
        assert_eq!(names(&d.archive, "seg-").len(), report.segments as usize);
        let archived_bytes: u64 = (names(&d.archive, "seg-").iter())
            .map(|n| std::fs::metadata(d.archive.join(n)).unwrap().len())
            .sum();
        assert_eq!(
            report.bytes, archived_bytes,
            "{strategy:?}: the report's bytes"
        );
        assert_eq!(
            report.orphans_deleted, 0,
            "{strategy:?}: nothing was left over"
        );
        assert_eq!(log.entries(1, 401, usize::MAX, u64::MAX).unwrap(), es);
        drop(log);
        let mut log = open(&d.store, &cfg).unwrap();
        assert_eq!(log.last_index(), 400);
        assert_eq!(log.entry(1).unwrap().as_ref(), Some(&es[0]));
        assert_eq!(log.entries(1, 401, usize::MAX, u64::MAX).unwrap(), es);
        // Archived entries are committed: truncation cannot reach them.
        let e = log.truncate(report.archived_upto).unwrap_err();
        assert!(matches!(e, Error::Archived { .. }), "{e}");
        log.truncate(report.archived_upto + 1).unwrap();
        log.sync().unwrap();
        assert_eq!(log.last_index(), report.archived_upto);
        drop(log);
        let mut log = open(&d.store, &cfg).unwrap();
        assert_eq!(log.last_index(), report.archived_upto);
        let want = &es[..report.archived_upto as usize];
        let got = log.entries(1, 401, usize::MAX, u64::MAX).unwrap();
        assert_eq!(got, want, "{strategy:?}");
    }
}

#[test]
fn purge_removes_from_both_tiers_and_nothing_purged_comes_back() {
    let d = dirs();
    let a = fs_archive(&d.archive);
    let cfg = cfg(Strategy::DiskFirst, &a);
    let mut log = open(&d.store, &cfg).unwrap();
    let es = filled(&mut log);
    let report = log.archive_upto(400).unwrap();
    let archived = names(&d.archive, "seg-");
    assert!(archived.len() >= 3);
    let boundary = report.archived_upto - 1;
    log.purge(LogId::new(1, boundary)).unwrap();
    // Every archived segment but the one holding the boundary's successor is gone.
    assert_eq!(names(&d.archive, "seg-"), archived[archived.len() - 1..]);
    drop(log);
    let mut log = open(&d.store, &cfg).unwrap();
    assert_eq!(log.first_index(), boundary + 1);
    assert_eq!(log.entry(boundary).unwrap(), None);
    let got = log
        .entries(boundary + 1, 401, usize::MAX, u64::MAX)
        .unwrap();
    assert_eq!(got, es[boundary as usize..]);
    assert!(matches!(
        log.entries(boundary, 401, 1, u64::MAX),
        Err(Error::Purged { .. })
    ));
}

#[test]
fn a_local_copy_left_by_a_crash_before_the_local_delete_is_removed_at_open() {
    let d = dirs();
    let a = fs_archive(&d.archive);
    let cfg = cfg(Strategy::DiskFirst, &a);
    let mut log = open(&d.store, &cfg).unwrap();
    let es = filled(&mut log);
    let before: Vec<(String, Vec<u8>)> = (names(&d.store, "seg-").into_iter())
        .map(|n| (n.clone(), std::fs::read(d.store.join(&n)).unwrap()))
        .collect();
    let report = log.archive_upto(400).unwrap();
    drop(log);
    // Put the moved segments back, as if the crash came after the manifest update.
    for (name, bytes) in &before {
        std::fs::write(d.store.join(name), bytes).unwrap();
    }
    let mut log = open(&d.store, &cfg).unwrap();
    let local = names(&d.store, "seg-");
    assert_eq!(local.len(), before.len() - report.segments as usize);
    assert_eq!(log.entries(1, 401, usize::MAX, u64::MAX).unwrap(), es);
}

#[test]
fn a_store_with_archived_segments_refuses_to_open_without_its_archive() {
    let d = dirs();
    let a = fs_archive(&d.archive);
    let mut log = open(&d.store, &cfg(Strategy::DiskFirst, &a)).unwrap();
    filled(&mut log);
    log.archive_upto(400).unwrap();
    drop(log);
    let plain =
        Config::new(Strategy::DiskFirst, FlushPolicy::Immediate).with_segment_size_bytes(4096);
    let e = open(&d.store, &plain).unwrap_err();
    assert!(matches!(e, Error::Archive { op: "open", .. }), "{e}");
    // The archived segments are not "missing": verify judges the directory clean.
    let limits = logbook::inspect::Limits {
        segment_size_bytes: 4096,
        ..Default::default()
    };
    let verdict = logbook::inspect::verify(Arc::new(StdFs), &d.store, &limits).unwrap();
    assert!(
        matches!(verdict, logbook::inspect::Verdict::Clean),
        "{verdict:?}"
    );
}

/// An archive that reports a put `Ok` and keeps nothing while `lose` is set.
#[derive(Debug)]
struct Lying {
    inner: FsArchive,
    lose: AtomicBool,
}

impl Archive for Lying {
    fn put(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        match self.lose.load(Ordering::SeqCst) {
            true => Ok(()),
            false => self.inner.put(name, bytes),
        }
    }
    fn read(&self, name: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        self.inner.read(name, offset, len)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn delete(&self, name: &str) -> io::Result<()> {
        self.inner.delete(name)
    }
}

#[test]
fn a_lost_put_is_caught_by_the_read_back_and_the_segment_stays_local() {
    let d = dirs();
    let lying = Arc::new(Lying {
        inner: FsArchive::open(Arc::new(StdFs), &d.archive).unwrap(),
        lose: AtomicBool::new(true),
    });
    let a = ArchiveHandle(lying.clone());
    let cfg = cfg(Strategy::DiskFirst, &a);
    let mut log = open(&d.store, &cfg).unwrap();
    let es = filled(&mut log);
    let local = names(&d.store, "seg-");
    let e = log.archive_upto(400).unwrap_err();
    assert!(matches!(e, Error::Archive { op: "verify", .. }), "{e}");
    assert_eq!(names(&d.store, "seg-"), local);
    assert!(
        log.poisoned().is_none(),
        "an archive failure poisons nothing"
    );
    log.append(&padded(401, 401, 1)).unwrap();
    lying.lose.store(false, Ordering::SeqCst);
    assert!(log.archive_upto(400).unwrap().segments > 0);
    assert_eq!(log.entries(1, 401, usize::MAX, u64::MAX).unwrap(), es);
}

#[test]
fn the_threaded_store_moves_segments_too() {
    let d = dirs();
    let a = fs_archive(&d.archive);
    let store = logbook::Store::open(&d.store, cfg(Strategy::DiskFirst, &a)).unwrap();
    let es = padded(1, 400, 1);
    for chunk in es.chunks(10) {
        store.append(chunk).unwrap();
    }
    let report = store.archive_upto(400).unwrap();
    assert!(report.segments > 0);
    assert_eq!(store.entries(1, 401, usize::MAX, u64::MAX).unwrap(), es);
    store.close().unwrap();
}

#[cfg(feature = "object-store")]
#[test]
fn the_object_store_adapter_archives_to_a_local_directory() {
    use logbook::archive::ObjectStoreArchive;
    use object_store::local::LocalFileSystem;
    let d = dirs();
    std::fs::create_dir_all(&d.archive).unwrap();
    let backend = LocalFileSystem::new_with_prefix(&d.archive).unwrap();
    let a = ArchiveHandle::new(ObjectStoreArchive::new(Arc::new(backend), "node-1"));
    let cfg = cfg(Strategy::DiskFirst, &a);
    let mut log = open(&d.store, &cfg).unwrap();
    let es = filled(&mut log);
    let report = log.archive_upto(400).unwrap();
    assert!(report.segments >= 3, "{report:?}");
    assert_eq!(
        names(&d.archive.join("node-1"), "seg-").len(),
        report.segments as usize
    );
    drop(log);
    let mut log = open(&d.store, &cfg).unwrap();
    assert_eq!(log.entries(1, 401, usize::MAX, u64::MAX).unwrap(), es);
    log.purge(LogId::new(1, report.archived_upto)).unwrap();
    assert!(names(&d.archive.join("node-1"), "seg-").is_empty());
}

#[test]
fn an_fs_archive_fails_stop_after_an_fsync_error_until_opened_again() {
    let d = dirs();
    let fs = common::TestFs::default();
    let a = FsArchive::open(Arc::new(fs.clone()), &d.archive).unwrap();
    a.put("seg-1.log", b"one").unwrap();
    fs.set(common::Inject {
        eio_on_sync: true,
        ..Default::default()
    });
    assert!(a.put("seg-2.log", b"two").is_err());
    fs.set(common::Inject::default());
    // The fsync works again, but what it dropped is unknown: no more writes.
    assert!(a.put("seg-3.log", b"three").is_err());
    assert!(a.delete("seg-1.log").is_err());
    assert_eq!(a.read("seg-1.log", 0, 3).unwrap(), b"one", "reads go on");
    let again = FsArchive::open(Arc::new(fs), &d.archive).unwrap();
    again.put("seg-3.log", b"three").unwrap();
    // The failed put never got its name (its staging file is not listed).
    assert_eq!(again.list().unwrap(), vec!["seg-1.log", "seg-3.log"]);
}

/// MemFirst opened with a snapshot hint over an archived log: the archived entries are not
/// loaded, they are read through the archive on demand, also after a later move turns more
/// of the unread local segments into archived ones; a truncation below memory and a purge
/// still leave the log an unhinted open agrees with.
#[test]
fn a_hinted_mem_first_open_reads_archived_entries_lazily() {
    let d = dirs();
    let archive = fs_archive(&d.archive);
    let cfg = cfg(Strategy::MemFirst, &archive);
    let mut log = open(&d.store, &cfg).unwrap();
    let es = filled(&mut log);
    log.archive_upto(150).unwrap();
    let archived = log.archived_upto();
    assert!(archived > 0 && archived <= 150, "archived up to {archived}");
    log.close().unwrap();

    let hinted = cfg.clone().with_snapshot_hint(Some(390));
    let mut log = open(&d.store, &hinted).unwrap();
    assert_eq!(
        log.stats().cold_reads,
        0,
        "the open read nothing below the hint"
    );
    let all = log.entries(1, 401, usize::MAX, u64::MAX).unwrap();
    assert_eq!(all, es);
    assert!(log.stats().cold_reads > 0);
    // More of the unread local segments move; they stay readable through the archive.
    log.archive_upto(300).unwrap();
    assert!(log.archived_upto() > archived);
    assert_eq!(log.entries(1, 401, usize::MAX, u64::MAX).unwrap(), es);
    log.truncate(350).unwrap();
    log.append(&entries(350, 360, 2)).unwrap();
    let first_local = log.archived_upto() + 1;
    let t = log.entry(first_local).unwrap().unwrap().term;
    log.purge(LogId::new(t, first_local)).unwrap();
    let expected = log
        .entries(first_local + 1, 361, usize::MAX, u64::MAX)
        .unwrap();
    log.close().unwrap();

    let mut plain = open(&d.store, &cfg).unwrap();
    let got = plain
        .entries(first_local + 1, 361, usize::MAX, u64::MAX)
        .unwrap();
    assert_eq!(got, expected);
    assert_eq!(got.last().map(|e| (e.index, e.term)), Some((360, 2)));
}

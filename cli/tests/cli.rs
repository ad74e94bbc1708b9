//! The `logbook` binary as a real process, on store directories written by `logbook::Log` on
//! the real filesystem and then damaged: its output (insta snapshots where the text is the
//! point), its exit code per class, that stat/dump/verify change no byte, and what repair
//! cuts and keeps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, MutexGuard};

use logbook::inspect::{self, Limits};
use logbook::{Config, Entry, FlushPolicy, HardState, Log, LogId, StdFs, Strategy, SystemClock};

/// One test at a time: a child spawned by one test inherits (until its exec) the descriptor
/// of a `LOCK` another test holds in this process, and holds the lock a moment after that
/// test released it.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn open(dir: &Path) -> logbook::Result<Log> {
    let cfg =
        Config::new(Strategy::DiskFirst, FlushPolicy::Immediate).with_segment_size_bytes(4096);
    Log::open(Arc::new(StdFs), Arc::new(SystemClock::new()), dir, cfg)
}

/// Entries `from..=to`, terms rising every 100, payloads `entry-<i>` padded to 40 bytes.
fn entries(from: u64, to: u64) -> Vec<Entry> {
    (from..=to)
        .map(|i| {
            let mut payload = format!("entry-{i}").into_bytes();
            payload.resize(40, b'.');
            Entry::new(i, 1 + i / 100, payload)
        })
        .collect()
}

/// A store of entries 1..=300 in 4 KiB segments (terms 1 to 4), hard state saved, closed.
/// With `purge`, the boundary is 50.
fn store(purge: bool) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = open(tmp.path()).unwrap();
    for chunk in entries(1, 300).chunks(10) {
        log.append(chunk).unwrap();
    }
    log.save_hard_state(HardState {
        term: 4,
        vote: Some(2),
        commit: 250,
    })
    .unwrap();
    if purge {
        log.purge(LogId::new(1, 50)).unwrap();
    }
    log.close().unwrap();
    tmp
}

/// Runs `logbook ARGS`; `DIR` in an argument is the store directory.
fn logbook(dir: &Path, args: &[&str]) -> Output {
    let d = dir.to_str().unwrap();
    let args: Vec<String> = args.iter().map(|a| a.replace("DIR", d)).collect();
    Command::new(env!("CARGO_BIN_EXE_logbook"))
        .args(&args)
        .output()
        .unwrap()
}

/// Stdout, the store directory's path replaced by `[DIR]`.
fn stdout(dir: &Path, out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).replace(dir.to_str().unwrap(), "[DIR]")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

/// Every file of `dir`: its name, length and an FNV-1a hash of its bytes.
fn hash_dir(dir: &Path) -> BTreeMap<String, (usize, u64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = std::fs::read(e.path()).unwrap();
            let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
            });
            (
                e.file_name().to_string_lossy().into_owned(),
                (bytes.len(), h),
            )
        })
        .collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("seg-"))
        .collect();
    v.sort();
    v
}

/// Half a record written where the last segment's records end: a tear. Returns the last
/// segment and where its records end.
fn tear(dir: &Path) -> (PathBuf, u64) {
    let st = inspect::stat(Arc::new(StdFs), dir, &Limits::default()).unwrap();
    let end = st.segments.last().unwrap().data_bytes;
    let last = segments(dir).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes[end as usize..end as usize + 8].copy_from_slice(&[0x4c, 0x4c, 0x42, 0x32, 60, 0, 0, 0]);
    std::fs::write(&last, bytes).unwrap();
    (last, end)
}

/// A byte of the second batch of the second segment flipped: mid-log corruption. Returns
/// the segment and the batch's offset and first index.
fn corrupt(dir: &Path) -> (PathBuf, u64, u64) {
    let st = inspect::stat(Arc::new(StdFs), dir, &Limits::default()).unwrap();
    let seg = &st.segments[1];
    let path = dir.join(&seg.file);
    let mut bytes = std::fs::read(&path).unwrap();
    // After the 32-byte header and the two 64-byte checkpoint slots, a batch: magic, body
    // length, crc32, then the body, whose first field is the varint of its first index.
    const HEADER: usize = 32 + 2 * 64;
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let offset = HEADER + 12 + u32_at(&bytes, HEADER + 4) as usize;
    assert_eq!(
        u32_at(&bytes, offset),
        0x3242_4c4c,
        "a batch starts at {offset}"
    );
    let (mut first, mut shift, mut at) = (0u64, 0, offset + 12);
    loop {
        first |= u64::from(bytes[at] & 0x7f) << shift;
        shift += 7;
        at += 1;
        if bytes[at - 1] & 0x80 == 0 {
            break;
        }
    }
    bytes[offset + 20] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    (path, offset as u64, first)
}

#[test]
fn stat_shows_a_real_store() {
    let _s = serial();
    let tmp = store(true);
    let dir = tmp.path();
    let before = hash_dir(dir);
    let out = logbook(dir, &["stat", "DIR"]);
    assert_eq!(code(&out), 0, "{out:?}");
    insta::assert_snapshot!("stat", stdout(dir, &out));
    let out = logbook(dir, &["stat", "DIR", "--json"]);
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["last_entry"]["index"], 300);
    assert_eq!(v["first_index"], 51);
    assert_eq!(v["hard_state"]["vote"], 2);
    assert_eq!(v["verdict"]["class"], "clean");
    let files = v["segments"].as_array().unwrap().len();
    assert_eq!(files, segments(dir).len());
    assert_eq!(hash_dir(dir), before, "stat changed the directory");
}

#[test]
fn dump_prints_the_entries_asked_for() {
    let _s = serial();
    let tmp = store(true);
    let dir = tmp.path();
    let before = hash_dir(dir);
    let out = logbook(dir, &["dump", "DIR", "--from", "98", "--to", "101"]);
    assert_eq!(code(&out), 0, "{out:?}");
    insta::assert_snapshot!("dump", stdout(dir, &out));
    let out = logbook(dir, &["dump", "DIR", "--json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Everything above the purge boundary, in order.
    let indexes: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, (51..=300).collect::<Vec<_>>());
    let hex: String = (entries(51, 51)[0].payload.iter())
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(lines[0]["payload_hex"], hex);
    assert_eq!(lines[0]["term"], 1);
    assert_eq!(hash_dir(dir), before, "dump changed the directory");
}

#[test]
fn verify_exits_with_one_code_per_class_and_never_writes() {
    let _s = serial();
    let clean = store(false);
    let torn = store(false);
    tear(torn.path());
    let bad = store(false);
    corrupt(bad.path());
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("nowhere");
    for (name, dir, want) in [
        ("clean", clean.path(), 0),
        ("torn", torn.path(), 3),
        ("corrupt", bad.path(), 4),
        ("empty", empty.path(), 5),
    ] {
        let before = hash_dir(dir);
        let out = logbook(dir, &["verify", "DIR"]);
        assert_eq!(code(&out), want, "{name}: {out:?}");
        assert_eq!(
            hash_dir(dir),
            before,
            "{name}: verify changed the directory"
        );
        if want != 5 {
            insta::assert_snapshot!(format!("verify_{name}"), stdout(dir, &out));
            let json = logbook(dir, &["verify", "DIR", "--json"]);
            assert_eq!(code(&json), want);
            let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
            assert_eq!(v["class"], name, "{name}");
        }
    }
    assert!(hash_dir(empty.path()).is_empty(), "no LOCK in a non-store");
    assert_eq!(code(&logbook(&missing, &["verify", "DIR"])), 5);
    // Usage errors are clap's.
    assert_eq!(code(&logbook(clean.path(), &["verify"])), 2);
    assert_eq!(
        code(&logbook(clean.path(), &["verify", "DIR", "--bogus"])),
        2
    );
}

#[test]
fn repair_cuts_a_torn_tail_after_backing_it_up_and_the_store_opens() {
    let _s = serial();
    let tmp = store(false);
    let dir = tmp.path();
    let (last, end) = tear(dir);
    let original = std::fs::read(&last).unwrap();
    let backups = tempfile::tempdir().unwrap();
    let b = backups.path().join("b");
    let out = logbook(dir, &["repair", "DIR", "--backup-dir", b.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{out:?}");
    let text = stdout(dir, &out).replace(b.to_str().unwrap(), "[BACKUP]");
    insta::assert_snapshot!("repair_torn", text);
    let name = last.file_name().unwrap().to_string_lossy().into_owned();
    let backup = std::fs::read(b.join(format!("{name}.{end}.bak"))).unwrap();
    assert_eq!(
        backup,
        original[end as usize..],
        "the backup holds the bytes cut"
    );
    assert_eq!(std::fs::metadata(&last).unwrap().len(), end);
    let mut log = open(dir).unwrap();
    assert_eq!(
        log.stats().torn_cuts_at_open,
        0,
        "the repair left nothing to cut"
    );
    let read = log.entries(1, 301, usize::MAX, u64::MAX).unwrap();
    assert_eq!(read, entries(1, 300));
    drop(log);
    assert_eq!(code(&logbook(dir, &["verify", "DIR"])), 0);
}

#[test]
fn repair_refuses_corruption_unless_asked_and_backs_up_what_it_cuts() {
    let _s = serial();
    let tmp = store(false);
    let dir = tmp.path();
    let (victim, offset, bad_index) = corrupt(dir);
    let before = hash_dir(dir);
    let originals: BTreeMap<PathBuf, Vec<u8>> = segments(dir)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    let backups = tempfile::tempdir().unwrap();
    let b = backups.path().join("b");
    let bs = b.to_str().unwrap();
    let out = logbook(dir, &["repair", "DIR", "--backup-dir", bs]);
    assert_eq!(code(&out), 4, "{out:?}");
    assert!(stdout(dir, &out).contains("--cut-corruption"));
    assert_eq!(hash_dir(dir), before, "a refused repair wrote");
    assert!(!b.exists(), "a refused repair made a backup directory");

    let out = logbook(
        dir,
        &["repair", "DIR", "--cut-corruption", "--backup-dir", bs],
    );
    assert_eq!(code(&out), 0, "{out:?}");
    let text = stdout(dir, &out).replace(bs, "[BACKUP]");
    insta::assert_snapshot!("repair_corrupt", text);
    // Every later segment removed whole, the victim cut at the bad record: each backed up.
    for (path, bytes) in &originals {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if *path == victim {
            let backup = std::fs::read(b.join(format!("{name}.{offset}.bak"))).unwrap();
            assert_eq!(backup, bytes[offset as usize..]);
            assert_eq!(std::fs::metadata(path).unwrap().len(), offset);
        } else if *path > victim {
            assert!(!path.exists(), "{name} kept");
            assert_eq!(
                &std::fs::read(b.join(format!("{name}.0.bak"))).unwrap(),
                bytes
            );
        } else {
            assert_eq!(&std::fs::read(path).unwrap(), bytes, "{name} changed");
        }
    }
    let mut log = open(dir).unwrap();
    assert_eq!(log.last_index(), bad_index - 1);
    let read = log.entries(1, bad_index, usize::MAX, u64::MAX).unwrap();
    assert_eq!(read, entries(1, bad_index - 1));
}

#[test]
fn a_store_held_open_is_refused() {
    let _s = serial();
    let tmp = store(false);
    let dir = tmp.path();
    let log = open(dir).unwrap();
    let before = hash_dir(dir);
    for args in [
        &["stat", "DIR"][..],
        &["dump", "DIR"],
        &["verify", "DIR"],
        &["repair", "DIR", "--cut-corruption"],
    ] {
        let out = logbook(dir, args);
        assert_eq!(code(&out), 6, "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("locked"), "{args:?}: {err}");
    }
    assert_eq!(hash_dir(dir), before);
    drop(log);
    assert_eq!(code(&logbook(dir, &["verify", "DIR"])), 0);
}

#[test]
fn limits_a_config_cannot_have_are_usage_errors() {
    let _s = serial();
    let tmp = store(false);
    let dir = tmp.path();
    let exact = ["verify", "DIR", "--segment-size-bytes", "4096"];
    assert_eq!(code(&logbook(dir, &exact)), 0);
    for bad in [
        ["verify", "DIR", "--segment-size-bytes", "0"],
        ["verify", "DIR", "--payload-max-bytes", "0"],
        ["verify", "DIR", "--payload-max-bytes", "2147483648"],
    ] {
        assert_eq!(code(&logbook(dir, &bad)), 2, "{bad:?}");
    }
    // Limits are applied: 40-byte payloads are out of bounds under a maximum of 4, so the
    // first batch is bad, and what follows proves it durable.
    let st = inspect::stat(Arc::new(StdFs), dir, &Limits::default()).unwrap();
    assert!(
        st.segments.iter().any(|s| s.file_bytes > 4096),
        "sealed past 4096"
    );
    let tight = [
        "verify",
        "DIR",
        "--segment-size-bytes",
        "4096",
        "--payload-max-bytes",
        "4",
    ];
    let out = logbook(dir, &tight);
    assert_eq!(code(&out), 4, "{out:?}");
}

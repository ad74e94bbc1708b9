//! What machine the numbers come from, and the page-cache control of the cold runs.

use std::path::Path;

fn first_line_with(path: &str, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))
        .map(|l| l.split_once(':').map_or(l, |(_, v)| v).trim().to_string())
}

/// The mount (device, type, options) that holds `dir`.
pub fn filesystem_of(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return "unknown".into();
    };
    let mut best: Option<(usize, String)> = None;
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        if dir.starts_with(f[1]) && best.as_ref().is_none_or(|(n, _)| f[1].len() > *n) {
            best = Some((
                f[1].len(),
                format!("{} on {} ({}, {})", f[0], f[1], f[2], f[3]),
            ));
        }
    }
    best.map_or("unknown".into(), |(_, s)| s)
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn describe(dir: &Path) -> Vec<String> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = first_line_with("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
    let mem = first_line_with("/proc/meminfo", "MemTotal").unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    vec![
        format!("cores (nproc): {cores}, cpu: {cpu}"),
        format!("memory: {mem}"),
        format!("kernel: Linux {kernel}"),
        format!("data dir: {} on {}", dir.display(), filesystem_of(dir)),
    ]
}

/// Writes back dirty pages and drops the page cache (needs root). The error says why not.
pub fn drop_caches() -> Result<(), String> {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3")
        .map_err(|e| format!("echo 3 > /proc/sys/vm/drop_caches failed: {e}"))
}

/// Writes back dirty pages (between rows, so one row's writeback does not land in the next).
pub fn sync_all() {
    // SAFETY: as above.
    unsafe { libc::sync() };
}

/// p50 and p99 of 200 appends of 100 B + `fdatasync` in `dir`: the disk's regime at the
/// moment (on the shared VM it swings between ~0.1 ms and ~4 ms).
pub fn fsync_probe(dir: &Path) -> String {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let run = || -> std::io::Result<String> {
        let mut f = std::fs::File::create(&path)?;
        let mut ns: Vec<u128> = Vec::with_capacity(200);
        for _ in 0..200 {
            let t0 = std::time::Instant::now();
            f.write_all(&[7u8; 100])?;
            f.sync_data()?;
            ns.push(t0.elapsed().as_nanos());
        }
        ns.sort_unstable();
        Ok(format!(
            "p50 {} p99 {}",
            crate::stats::fmt_ns(ns[99] as u64),
            crate::stats::fmt_ns(ns[197] as u64)
        ))
    };
    let r = run().unwrap_or_else(|e| format!("failed: {e}"));
    let _ = std::fs::remove_file(&path);
    r
}

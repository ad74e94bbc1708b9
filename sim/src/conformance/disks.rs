//! Where each case runs: a fresh directory on some [`Fs`] per case and mode.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use logbook::Fs;

use crate::disk::{FaultRates, SimDisk};
use crate::trace::Trace;

/// The directory the simulated disks keep their store in.
pub const SIM_STORE_DIR: &str = "/store";

/// A fresh, empty store directory for one case.
#[derive(Debug, Clone)]
pub struct CaseDisk {
    pub fs: Arc<dyn Fs>,
    pub dir: PathBuf,
    /// The same disk when it is simulated: the cases about crashes need it (they are
    /// skipped on other disks).
    pub sim: Option<SimDisk>,
}

/// Hands out a fresh store directory per case.
pub trait Disks {
    /// A short name for reports.
    fn name(&self) -> String;
    /// A fresh, empty directory for the run labelled `label` (unique per call).
    fn fresh(&self, label: &str) -> io::Result<CaseDisk>;
}

/// A new fault-free [`SimDisk`] per case, the store in [`SIM_STORE_DIR`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SimDisks;

impl Disks for SimDisks {
    fn name(&self) -> String {
        "simulated disk".into()
    }

    fn fresh(&self, _label: &str) -> io::Result<CaseDisk> {
        let disk = SimDisk::new(0, FaultRates::none(), Trace::new(false));
        disk.set_faults_enabled(false);
        Ok(CaseDisk {
            fs: Arc::new(disk.clone()),
            dir: PathBuf::from(SIM_STORE_DIR),
            sim: Some(disk),
        })
    }
}

/// Subdirectories of `root` on any [`Fs`] (such as [`logbook::StdFs`] in a tempdir): one per
/// case, named after its label and a counter.
#[derive(Debug)]
pub struct DirDisks {
    pub fs: Arc<dyn Fs>,
    pub root: PathBuf,
    next: AtomicU64,
}

impl DirDisks {
    pub fn new(fs: Arc<dyn Fs>, root: impl AsRef<Path>) -> DirDisks {
        DirDisks {
            fs,
            root: root.as_ref().to_path_buf(),
            next: AtomicU64::new(0),
        }
    }
}

impl Disks for DirDisks {
    fn name(&self) -> String {
        format!("{:?} in {}", self.fs, self.root.display())
    }

    fn fresh(&self, label: &str) -> io::Result<CaseDisk> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let safe: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = self.root.join(format!("{n:03}-{safe}"));
        if !self.fs.list(&dir).unwrap_or_default().is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is not empty", dir.display()),
            ));
        }
        Ok(CaseDisk {
            fs: self.fs.clone(),
            dir,
            sim: None,
        })
    }
}

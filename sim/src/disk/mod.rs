//! The simulated disk: an in-memory [`logbook::Fs`] that loses, tears, reorders and rots data
//! the way real disks and kernels do, from one `u64` seed.
//!
//! # Model
//!
//! Each file is an *inode* with two images: the **durable** image (what survives any crash)
//! and the **live** image (what reads see; think page cache). Every `write_at` and `set_len`
//! is applied to the live image at once and appended, in program order, to the inode's list of
//! **pending ops**; a successful `sync_data` applies the pending ops to the durable image in
//! order and clears the list. So `live == durable + pending` (checked in debug builds) until a
//! failed fsync drops ops that the live image still shows.
//!
//! Each directory has a durable and a live map from names to inodes and a list of pending
//! directory ops (create, rename, remove) since its last `sync_dir`. Directories themselves
//! are simpler: `create_dir_all` is durable at once, and directories are never removed.
//! Paths are plain [`Path`]s, normalized (`.` dropped, `..` refused); `""` and `"/"` always
//! exist; `open` in a missing directory is `NotFound`. A rename to another directory is two
//! ops: a remove in the source directory and a link in the target, each durable with its own
//! `sync_dir`.
//!
//! Every call through [`logbook::Fs`] or a file handle that reaches the disk (not crashed,
//! handle not stale) is numbered from 1 ([`SimDisk::fs_calls`]) and written to the
//! [`Trace`] as one line (`disk #17 write /db/seg-1 off=4096 len=118 h=5f3a9c21 -> ok`),
//! as is every fault (`disk fault torn_write ...`). All randomness comes from a private
//! `ChaCha8Rng` seeded at construction, drawn only when a fault with a rate strictly between 0
//! and 1 has an opportunity, in an order fixed by the call sequence. Maps are `BTreeMap`s.
//! Same seed, same rates and same call sequence: same trace, same images.
//!
//! # Faults
//!
//! Each fault has its own rate in [`FaultRates`] and a counter in [`FaultCounters`].
//! [`SimDisk::set_faults_enabled`]`(false)` turns every random fault off without drawing
//! randomness (a crash then keeps every pending op); crashes still happen when asked.
//!
//! - **Crash** (harness-driven, in contract). [`SimDisk::crash`] stops the machine between two
//!   calls. [`SimDisk::arm_crash_at`]`(n)` stops it *inside* call number `n`: a `write_at`
//!   first lands a random subset of its sectors in the live image, a `sync_data` or `sync_dir`
//!   completes or not, a rename is not done, done, or half done (it will leave neither name),
//!   a create, remove, `set_len` or `create_dir_all` happens or not. That call and every later
//!   call on any handle fail with [`SimError::Crash`] until `crash()` resolves the pending
//!   state as below. After it, every handle and [`logbook::DirLock`] from before the crash stays
//!   dead ([`SimError::StaleHandle`]): the disk keeps a generation number.
//! - **Lost write** (`lost_write`, per pending write or `set_len` at a crash, in contract): the
//!   op is dropped.
//! - **Torn write** (`torn_write`, per pending write at a crash, in contract): the write keeps a
//!   random subset (not only a prefix) of its 512-byte-aligned sectors, each kept sector being
//!   the old bytes, the new bytes, or zeros. The ops that survive are applied in program order,
//!   so any subset of pending writes persists: that is **reordering**.
//! - **Lost directory entry** (`lost_dir_entry`, per pending dir op at a crash, in contract):
//!   the create, rename or remove vanishes. The survivors are applied in order, each only if
//!   it still applies (its source name still names its inode). A file that no durable name
//!   reaches afterwards loses its data, even if its data was synced. A new directory's own
//!   name is such an entry too, pending until its parent is synced: when it is lost, the
//!   directory goes with everything below it.
//! - **Non-atomic rename** (`non_atomic_rename`, per surviving pending rename at a crash, in
//!   contract): like ALICE on a filesystem without atomic rename, neither name survives.
//! - **Bit rot** (`bit_rot`, once per crash, detect-only): one random bit of one random
//!   non-empty durable file that passes [`SimDisk::set_rot_filter`] flips. Recorded in the
//!   [`CrashReport`]. [`SimDisk::rot`] flips a chosen byte's low bit directly.
//! - **Fsync error** (`fsync_error`, per `sync_data` with pending ops, in contract: the engine
//!   must fail-stop): returns EIO once; each pending op is independently made durable or
//!   dropped. A dropped op stays visible in the live image (Linux keeps the page, clean) but
//!   never becomes durable, not even by a later successful fsync, unless it is written again;
//!   the next crash loses it for good. `sync_dir` fails the same way (`dir_sync_error`, by
//!   default the `fsync_error` rate).
//! - **Lying fsync** (`lying_fsync`, per `sync_data` with pending ops, OUT of contract):
//!   returns `Ok` and persists nothing; the ops stay pending.
//! - **Read error** (`read_error`, per `read_at`, in contract): returns EIO; with probability
//!   `read_error_sticky` the file's reads keep failing until the next crash.
//! - **Disk full** (`disk_full`, per non-empty `write_at` or growing `set_len`, in contract; and
//!   `capacity_bytes`, a bound on the total live bytes of every file): ENOSPC
//!   (`ErrorKind::StorageFull`), and nothing changes. The capacity also applies only while
//!   faults are enabled.
//!
//! Outside the fault model, a file never grows past [`MAX_FILE_LEN`] (`FileTooLarge`), so no
//! call sequence can make the simulator allocate without bound. Reading at or past the end
//! returns 0 bytes; writing past the end zero-fills the gap. `lock_dir` is exclusive per
//! directory (a second one is `WouldBlock`), released when the guard drops or at a crash; it
//! creates no file.

mod crash;
mod faults;
mod file;
mod namespace;
mod state;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use crash::{BitRot, CrashReport, SECTOR};
pub use faults::{is_crash_error, sim_error, FaultCounters, FaultRates, InvalidRates, SimError};
pub use file::{SimDirLock, SimFile};
pub use state::MAX_FILE_LEN;

use state::{normalize, DiskState, RotFilter};

use crate::trace::Trace;

/// A handle on one simulated disk; clones share it. Implements [`logbook::Fs`].
#[derive(Clone)]
pub struct SimDisk {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    state: Mutex<DiskState>,
    trace: Trace,
    seed: u64,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SimDisk {
    /// An empty disk whose faults are drawn from `seed` at `rates` (validated in debug builds;
    /// out-of-range rates act as clamped to `0..=1`). Every call and fault goes to `trace`.
    pub fn new(seed: u64, rates: FaultRates, trace: Trace) -> Self {
        debug_assert_eq!(rates.validate(), Ok(()));
        trace.event(format_args!("disk new seed={seed}"));
        SimDisk {
            shared: Arc::new(Shared {
                state: Mutex::new(DiskState::new(seed, rates)),
                trace,
                seed,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.shared.lock()
    }

    /// The seed of the fault stream.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// The trace this disk writes to.
    pub fn trace(&self) -> Trace {
        self.shared.trace.clone()
    }

    /// The current fault rates.
    pub fn rates(&self) -> FaultRates {
        self.lock().rates.clone()
    }

    /// Replaces the fault rates from now on.
    pub fn set_rates(&self, rates: FaultRates) {
        debug_assert_eq!(rates.validate(), Ok(()));
        self.lock().rates = rates;
    }

    /// Turns every random fault on or off (off draws no randomness). Crashes still happen.
    pub fn set_faults_enabled(&self, enabled: bool) {
        let mut st = self.lock();
        st.rng.enabled = enabled;
        self.shared
            .trace
            .event(format_args!("disk faults enabled={enabled}"));
    }

    /// Whether random faults are on.
    pub fn faults_enabled(&self) -> bool {
        self.lock().rng.enabled
    }

    /// How many calls reached the disk so far; the next one is number `fs_calls() + 1`.
    pub fn fs_calls(&self) -> u64 {
        self.lock().calls
    }

    /// Crashes the machine inside the first call numbered `call` or later (so
    /// `arm_crash_at(fs_calls() + 1)` hits the very next call). Replaces any earlier arming;
    /// a crash clears it.
    pub fn arm_crash_at(&self, call: u64) {
        self.lock().armed = Some(call);
        self.shared
            .trace
            .event(format_args!("disk arm crash at #{call}"));
    }

    /// Cancels an armed crash.
    pub fn disarm_crash(&self) {
        self.lock().armed = None;
    }

    /// The armed crash point, if any.
    pub fn armed_crash(&self) -> Option<u64> {
        self.lock().armed
    }

    /// Whether the machine is stopped (a crash hit inside a call and `crash()` has not run).
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// The number of crashes resolved so far; handles remember the generation they were
    /// opened in.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Crashes now (or resolves a crash that hit inside a call): pending file ops and dir ops
    /// are resolved per the fault model, bit rot is rolled once, the live images become the
    /// new durable images, locks are released, every existing handle dies, and the disk
    /// accepts calls again.
    pub fn crash(&self) -> CrashReport {
        let mut st = self.lock();
        if !st.crashed {
            self.shared
                .trace
                .event(format_args!("disk crash between calls after #{}", st.calls));
        }
        crash::resolve(&mut st, &self.shared.trace)
    }

    /// How many faults of each kind were injected so far.
    pub fn counters(&self) -> FaultCounters {
        self.lock().counters
    }

    /// Bit rot only hits files whose path passes `filter`. The filter runs under the disk's
    /// lock: it must not call the disk.
    pub fn set_rot_filter(&self, filter: impl Fn(&Path) -> bool + Send + Sync + 'static) {
        self.lock().rot_filter = RotFilter::Custom(Arc::new(filter));
    }

    /// Bit rot only hits files whose path ends with `suffix` (such as `".seg"`).
    pub fn set_rot_suffix(&self, suffix: &str) {
        self.lock().rot_filter = RotFilter::Suffix(suffix.to_owned());
    }

    /// Flips the low bit of byte `offset` of the durable image of `path` (durable namespace).
    /// The live image changes too when the file has no pending ops (nothing cached hides the
    /// media); otherwise the rot shows after the next crash. Counted as a bit rot.
    pub fn rot(&self, path: &Path, offset: u64) -> io::Result<()> {
        let mut st = self.lock();
        let st = &mut *st;
        let path = normalize(path)?;
        let not_found = || io::Error::new(io::ErrorKind::NotFound, "no such durable byte");
        let ino = st.durable_ino(&path).ok_or_else(not_found)?;
        let inode = st.inodes.get_mut(&ino).ok_or_else(not_found)?;
        let at = usize::try_from(offset).map_err(|_| not_found())?;
        if at >= inode.durable.len() {
            return Err(not_found());
        }
        inode.durable[at] ^= 1;
        if inode.pending.is_empty() && !inode.diverged && at < inode.live.len() {
            inode.live[at] ^= 1;
        }
        st.counters.bit_rots += 1;
        self.shared.trace.event(format_args!(
            "disk rot {}#{ino} off={offset} bit=0",
            path.display()
        ));
        Ok(())
    }

    /// The durable image of the file the durable namespace names `path`: what a crash now
    /// would leave if no pending op survived.
    pub fn durable_file(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.lock();
        let ino = st.durable_ino(&normalize(path).ok()?)?;
        st.inodes.get(&ino).map(|i| i.durable.clone())
    }

    /// The live image of the file `path` names now (what reads see).
    pub fn live_file(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.lock();
        let ino = st.live_ino(&normalize(path).ok()?)?;
        st.inodes.get(&ino).map(|i| i.live.clone())
    }

    /// The sorted durable names in `dir` (subdirectories included); empty if `dir` is missing.
    pub fn list_durable(&self, dir: &Path) -> Vec<String> {
        let st = self.lock();
        normalize(dir)
            .ok()
            .and_then(|d| st.names(&d, true))
            .unwrap_or_default()
    }

    /// The sorted live names in `dir` (what `list` returns); empty if `dir` is missing.
    pub fn list_live(&self, dir: &Path) -> Vec<String> {
        let st = self.lock();
        normalize(dir)
            .ok()
            .and_then(|d| st.names(&d, false))
            .unwrap_or_default()
    }

    /// How many file ops of `path` (live namespace) are pending.
    pub fn pending_ops(&self, path: &Path) -> usize {
        let st = self.lock();
        normalize(path)
            .ok()
            .and_then(|p| st.live_ino(&p))
            .and_then(|ino| st.inodes.get(&ino))
            .map_or(0, |i| i.pending.len())
    }
}

impl fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("SimDisk")
            .field("seed", &self.shared.seed)
            .field("calls", &st.calls)
            .field("generation", &st.generation)
            .field("crashed", &st.crashed)
            .field("files", &st.inodes.len())
            .finish()
    }
}

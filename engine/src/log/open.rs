//! Opening a log: the lock, the metadata, recovery (see `recovery/`), and the report of
//! how the recovery went (`telemetry`).

use std::path::PathBuf;

use super::*;
use crate::config::Strategy;
use crate::meta::MetaFile;
use crate::recovery::recover;
use crate::telemetry;
use crate::window::Window;

impl Log {
    /// Opens (or creates) the store in `dir`. DiskFirst reads only the metadata, the segment
    /// names and the last segment; MemFirst reads every entry (from the segment holding
    /// [`Config::snapshot_hint`] onward, if one is given).
    pub fn open(
        fs: Arc<dyn Fs>,
        clock: Arc<dyn Clock>,
        dir: impl AsRef<Path>,
        cfg: Config,
    ) -> Result<Log> {
        let started_us = clock.now_us();
        let timer = clock.clone();
        let opened = Self::open_recovered(fs, clock, dir.as_ref(), cfg);
        let verdict = match &opened {
            Ok(log) if log.core.stats.torn_cuts_at_open > 0 => telemetry::Verdict::TornTailCut,
            Ok(_) => telemetry::Verdict::Clean,
            Err(_) => telemetry::Verdict::Refused,
        };
        telemetry::recovery(timer.now_us().saturating_sub(started_us), verdict);
        opened
    }

    /// The strategy's state over what recovery left (`entries`: MemFirst's preload), and the
    /// log's last id: the last entry, else the archive's, else the boundary.
    fn mode(
        entries: Option<std::collections::VecDeque<Entry>>,
        mut rec: crate::recovery::Recovered,
        cfg: &Config,
        last_purged: Option<LogId>,
        archived: Option<LogId>,
    ) -> Result<(Mode, LogId)> {
        let boundary = last_purged.map_or(0, |l| l.index);
        let mut mem = Window::default();
        let mut last_entry = rec.last;
        if let Some(entries) = entries {
            // With a snapshot hint, archived entries (all below the local ones) stay in the
            // archive and are read lazily, like the local segments the hint left unread.
            let entries = match crate::recovery::hint_in_effect(cfg) {
                Some(_) => entries,
                None => rec.segs.prepend_archived(boundary, entries)?,
            };
            last_entry = entries.back().map(Entry::log_id);
            mem = Window::from_entries(entries);
        }
        let last = (last_entry.into_iter().chain(archived).chain(last_purged))
            .max_by_key(|l| l.index)
            .unwrap_or(LogId::new(0, 0));
        let mode = match cfg.strategy {
            Strategy::DiskFirst => Mode::DiskFirst(DiskFirst::new(rec.segs)),
            Strategy::MemFirst => {
                Mode::MemFirst(MemFirst::new(rec.segs, mem, last.index, boundary))
            }
        };
        Ok((mode, last))
    }

    /// [`Log::open`] without its report.
    fn open_recovered(
        fs: Arc<dyn Fs>,
        clock: Arc<dyn Clock>,
        dir: &Path,
        cfg: Config,
    ) -> Result<Log> {
        cfg.validate()?;
        let dir: PathBuf = dir.to_path_buf();
        crate::fs::create_dir_durable(&*fs, &dir).map_err(|e| Error::io("create_dir", &dir, e))?;
        let lock = crate::fs::lock_store(&*fs, &dir)?;
        // Nothing is written before recovery has classified the whole directory (it repairs
        // the metadata slots then, before acting on the boundary): a strict open that fails
        // leaves it as it found it. A fresh store has nothing to classify.
        let mut meta = match crate::recovery::open_meta(&*fs, &dir)? {
            Some(m) => m,
            None => MetaFile::create(&*fs, &dir)?,
        };
        let hard_state = meta.body.hard_state;
        let last_purged = meta.body.last_purged;
        let mem_first = cfg.strategy == Strategy::MemFirst;
        let mut rec = recover(fs.clone(), &dir, &cfg, &mut meta, mem_first)?;
        // Archived segments (`archive/`) hold the log's oldest live entries.
        rec.segs.check_archive_reachable()?;
        let archived = rec.segs.archived_last();
        let torn_cuts_at_open = rec.torn_cuts;
        let (mode, last) = Self::mode(rec.entries.take(), rec, &cfg, last_purged, archived)?;
        let core = Core {
            fs,
            clock,
            _lock: lock,
            meta,
            dir,
            hard_state,
            last_purged,
            last,
            durable_index: last.index,
            archived_upto: archived.map_or(0, |l| l.index),
            epoch: 0,
            cut_owed: None,
            cuts: std::collections::VecDeque::new(),
            pending_since_ms: None,
            pace: Default::default(),
            poisoned: None,
            stats: LogStats {
                torn_cuts_at_open,
                ..LogStats::default()
            },
            cfg,
        };
        let log = Log { core, mode };
        log.check_invariants();
        Ok(log)
    }
}

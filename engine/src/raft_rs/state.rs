//! [`StateLog`]: the configuration and the latest snapshot, kept durably in a second logbook
//! log beside the entries.
//!
//! Every change appends one state record ([`super::codec::StateRecord`]) to a DiskFirst,
//! `Immediate` log in `<dir>/state` and then purges the records before it, so the last
//! record is the state. An append is durable before it returns, and the purge that follows
//! only ever drops older records: a crash anywhere leaves either the old or the new record
//! last, never neither. Recovery of this log is logbook's own (torn tails, lost writes).

use std::path::Path;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Config, FlushPolicy, Strategy};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::log::Log;
use crate::types::{Entry, LogId};

use super::codec::{decode_state, encode_state, StateRecord};

/// Segments of the side log: it holds one small record at a time.
const STATE_SEGMENT_SIZE_BYTES: u64 = 64 << 10;

/// The side log. See the module docs.
#[derive(Debug)]
pub struct StateLog {
    log: Log,
    current: StateRecord,
}

impl StateLog {
    /// Opens (or creates) the side log in `dir` and reads its last record.
    pub fn open(fs: Arc<dyn Fs>, clock: Arc<dyn Clock>, dir: &Path) -> Result<StateLog> {
        let mut cfg = Config::new(Strategy::DiskFirst, FlushPolicy::Immediate);
        cfg.segment_size_bytes = STATE_SEGMENT_SIZE_BYTES;
        let mut log = Log::open(fs, clock, dir, cfg)?;
        let last = log.last_index();
        let current = match log.entry(last)? {
            Some(e) => decode_state(e.index, &e.payload)
                .map_err(|e| Error::corruption(dir.to_path_buf(), 0, e.to_string()))?,
            None => StateRecord::default(),
        };
        Ok(StateLog { log, current })
    }

    /// The state as last saved.
    pub fn current(&self) -> &StateRecord {
        &self.current
    }

    /// Saves `record` durably, then drops the records before it.
    pub fn save(&mut self, record: StateRecord) -> Result<()> {
        let bytes = encode_state(&record).map_err(|e| {
            Error::corruption(self.log.dir().to_path_buf(), 0, format!("encode: {e}"))
        })?;
        let index = self.log.last_index() + 1;
        self.log.append(&[Entry::new(index, 1, bytes)])?;
        self.log.sync()?;
        self.current = record;
        if index > 1 {
            self.log.purge(LogId::new(1, index - 1))?;
        }
        Ok(())
    }

    /// Flushes and closes the side log.
    pub fn close(self) -> Result<()> {
        self.log.close()
    }
}

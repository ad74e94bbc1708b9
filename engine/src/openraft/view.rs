//! [`View`]: where openraft's log lies inside the logbook, loaded at open and kept up to date
//! by every write.
//!
//! The first logbook entry above logbook's own boundary is the **head**: a genesis record
//! (nothing purged; openraft index 0 follows), or the record of openraft's purge boundary
//! (an entry kept as a sentinel, or a purge record). openraft's entries follow the head at
//! consecutive logbook indexes, so `lb(i) = head_lb + 1 + (i - first_visible)`.

use ::openraft::{ErrorSubject, ErrorVerb, LogId, RaftTypeConfig};

use super::error::{message, EngineResultExt, Result};
use super::record::{read, read_entry_id, Record};
use crate::store::Store;
use crate::types::LogId as LbLogId;

/// What the head record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Head {
    /// Nothing purged; the log starts at openraft index 0.
    Genesis,
    /// openraft's purge boundary: entries up to and including it are gone.
    Purged(LogId<u64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct View {
    /// The head and its logbook index; `None` while the logbook holds no entry.
    pub head: Option<(u64, Head)>,
    /// The last openraft entry above the head.
    pub last: Option<LogId<u64>>,
}

impl View {
    pub fn last_purged(&self) -> Option<LogId<u64>> {
        match self.head {
            Some((_, Head::Purged(id))) => Some(id),
            _ => None,
        }
    }

    /// openraft's last log id: the last entry, else the purge boundary.
    pub fn last_log_id(&self) -> Option<LogId<u64>> {
        self.last.or(self.last_purged())
    }

    /// The openraft index of the first entry that may follow the head.
    pub fn first_visible(&self) -> u64 {
        self.last_purged().map_or(0, |id| id.index + 1)
    }

    /// The openraft index the next append must start at.
    pub fn next_index(&self) -> u64 {
        self.last.map_or(self.first_visible(), |id| id.index + 1)
    }

    /// The logbook index of openraft index `i`, for `first_visible() <= i`.
    pub fn lb(&self, i: u64) -> Option<u64> {
        let (head_lb, _) = self.head?;
        let first = self.first_visible();
        (i >= first).then(|| head_lb + 1 + (i - first))
    }

    /// The logbook index of openraft index `i` if an entry is there.
    pub fn lb_of_entry(&self, i: u64) -> Option<u64> {
        let last = self.last?;
        (i <= last.index).then(|| self.lb(i)).flatten()
    }
}

fn corrupt(lb: u64, why: impl std::fmt::Display) -> ::openraft::StorageError<u64> {
    message(
        ErrorSubject::LogIndex(lb),
        ErrorVerb::Read,
        format!("openraft layout broken at logbook entry {lb}: {why}"),
    )
}

/// Reads the head and the last entry, finishing a purge that a crash interrupted.
pub(super) fn load<C>(store: &Store) -> Result<View>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    let read_err = |e: crate::Error| super::error::engine(ErrorSubject::Store, ErrorVerb::Read, &e);
    let first = store.first_index().map_err(read_err)?;
    let last = store.last_index().map_err(read_err)?;
    if last < first {
        return Ok(View::default());
    }
    let (_, mut head_rec) = read::<C>(store, first)?;
    let mut head_lb = first;
    if last > first {
        let (last_term, last_rec) = read::<C>(store, last)?;
        if let Record::Purged(id) = last_rec {
            // A purge past the last entry writes its record, makes it durable, then moves
            // logbook's boundary up to it. A crash in between leaves the record last but not
            // first: finish the purge.
            tracing::warn!(%id, lb = last, "finishing a purge interrupted by a crash");
            store
                .purge(LbLogId::new(last_term, last - 1))
                .or_storage(ErrorSubject::Log(id), ErrorVerb::Delete)?;
            head_rec = last_rec;
            head_lb = last;
        }
    }
    let head = match head_rec {
        Record::Genesis => Head::Genesis,
        other => Head::Purged(other.log_id().expect("entries and purge records have ids")),
    };
    let mut view = View {
        head: Some((head_lb, head)),
        last: None,
    };
    if last > head_lb {
        let id = read_entry_id::<C>(store, last)?;
        let want = view.first_visible() + (last - head_lb - 1);
        if id.index != want {
            return Err(corrupt(
                last,
                format!("it holds openraft index {} where {want} belongs", id.index),
            ));
        }
        view.last = Some(id);
    }
    Ok(view)
}

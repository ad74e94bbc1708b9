//! The write path: append, truncate and purge on the logbook layout described in
//! [`super::view`].

use std::io;

use ::openraft::storage::LogFlushed;
use ::openraft::{ErrorSubject, ErrorVerb, LogId, RaftLogId, RaftTypeConfig, Violation};

use super::error::{defensive, message, non_consecutive, EngineResultExt, Result};
use super::log_store::Shared;
use super::record::{encode_entry, encode_genesis, encode_purged, read_entry_id};
use super::view::{Head, View};
use crate::types::{Entry as LbEntry, LogId as LbLogId};

/// Reports the engine's durability result to openraft.
fn complete<C: RaftTypeConfig>(callback: LogFlushed<C>, r: crate::Result<u64>) {
    callback.log_io_completed(r.map(|_| ()).map_err(|e| io::Error::other(e.to_string())));
}

fn term(id: &LogId<u64>) -> u64 {
    id.leader_id.term
}

impl<C> Shared<C>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    /// Runs a write under the view lock; after a failure the view is reloaded from the store
    /// so it never describes a state the store is not in.
    fn write<T>(&self, f: impl FnOnce(&Self, &mut View) -> Result<T>) -> Result<T> {
        let mut view = self.lock_view();
        let r = f(self, &mut view);
        if r.is_err() {
            match super::view::load::<C>(&self.store) {
                Ok(v) => *view = v,
                Err(e) => tracing::error!(error = %e, "cannot reload the openraft view"),
            }
        }
        r
    }

    pub(super) fn append(&self, entries: Vec<C::Entry>, callback: LogFlushed<C>) -> Result<()> {
        self.write(|s, view| s.append_locked(view, entries, callback))
    }

    pub(super) fn truncate(&self, at: LogId<u64>) -> Result<()> {
        self.write(|s, view| s.truncate_locked(view, at))
    }

    pub(super) fn purge(&self, upto: LogId<u64>) -> Result<()> {
        self.write(|s, view| s.purge_locked(view, upto))
    }

    fn append_locked(
        &self,
        view: &mut View,
        entries: Vec<C::Entry>,
        callback: LogFlushed<C>,
    ) -> Result<()> {
        for pair in entries.windows(2) {
            let (a, b) = (pair[0].get_log_id(), pair[1].get_log_id());
            if b.index != a.index + 1 {
                return Err(non_consecutive(Some(*a), *b));
            }
        }
        // Entries at or below the purge boundary are already covered by a snapshot.
        let boundary = view.last_purged().map(|id| id.index);
        let skip = entries
            .iter()
            .take_while(|e| boundary.is_some_and(|b| e.get_log_id().index <= b))
            .count();
        let entries = &entries[skip..];
        let Some(first) = entries.first().map(|e| *e.get_log_id()) else {
            // Nothing to write: acknowledge once everything appended before is durable.
            return self
                .store
                .append_with_callback(&[], move |r| complete(callback, r))
                .or_storage(ErrorSubject::Logs, ErrorVerb::Write);
        };
        if first.index != view.next_index() {
            if view.last.is_some() {
                return Err(non_consecutive(view.last_log_id(), first));
            }
            // No entry above the boundary and the append starts past it: treat the skipped
            // indexes as compacted, moving the boundary to `first - 1` (see the module docs).
            let leader = view
                .last_purged()
                .map(|id| id.leader_id)
                .unwrap_or_default();
            tracing::warn!(%first, "append leaves a hole; moving the purge boundary over it");
            self.purge_locked(view, LogId::new(leader, first.index - 1))?;
        }
        let last = terms_never_decrease(view.last_log_id(), entries)?;
        let (records, new_head) = self.records(view, first, entries)?;
        self.store
            .append_with_callback(&records, move |r| complete(callback, r))
            .or_storage(ErrorSubject::Logs, ErrorVerb::Write)?;
        if new_head.is_some() {
            view.head = new_head;
        }
        view.last = last;
        Ok(())
    }

    /// The logbook records for `entries` (which start at `first`, the next index): the
    /// entries themselves, after a genesis head if the logbook holds none yet (returned as
    /// the new head).
    fn records(
        &self,
        view: &View,
        first: LogId<u64>,
        entries: &[C::Entry],
    ) -> Result<(Vec<LbEntry>, NewHead)> {
        let mut lb = self
            .store
            .last_index()
            .or_storage(ErrorSubject::Logs, ErrorVerb::Read)?
            + 1;
        let mut records = Vec::with_capacity(entries.len() + 1);
        let mut new_head = None;
        if view.head.is_none() {
            records.push(LbEntry::new(lb, term(&first), encode_genesis()));
            new_head = Some((lb, Head::Genesis));
            lb += 1;
        } else if view.lb(first.index) != Some(lb) {
            return Err(message(
                ErrorSubject::Log(first),
                ErrorVerb::Write,
                format!(
                    "adapter view out of step: index {} is not at logbook {lb}",
                    first.index
                ),
            ));
        }
        for e in entries {
            let id = e.get_log_id();
            records.push(LbEntry::new(lb, term(id), encode_entry(e)?));
            lb += 1;
        }
        Ok((records, new_head))
    }

    fn truncate_locked(&self, view: &mut View, at: LogId<u64>) -> Result<()> {
        if let Some(purged) = view.last_purged().filter(|p| at.index <= p.index) {
            return Err(message(
                ErrorSubject::Log(at),
                ErrorVerb::Delete,
                format!("cannot truncate at {at}: at or below the purge boundary {purged}"),
            ));
        }
        let Some(lb) = view.lb_of_entry(at.index) else {
            return Ok(()); // nothing at or after `at`
        };
        self.store
            .truncate(lb)
            .or_storage(ErrorSubject::Log(at), ErrorVerb::Delete)?;
        view.last = if at.index > view.first_visible() {
            Some(read_entry_id::<C>(&self.store, lb - 1)?)
        } else {
            None
        };
        Ok(())
    }

    /// Purges `..=upto`. Keeps the entry at `upto` as the head when it is in the log, else
    /// writes a purge record (made durable first) and moves logbook's boundary up to it.
    pub(super) fn purge_locked(&self, view: &mut View, upto: LogId<u64>) -> Result<()> {
        let subject = || ErrorSubject::Log(upto);
        if view.last_purged().is_some_and(|p| upto.index <= p.index) {
            return Ok(());
        }
        if let Some(lb) = view.lb_of_entry(upto.index) {
            if read_entry_id::<C>(&self.store, lb)? == upto {
                // The head must survive any crash once the boundary below it has moved.
                self.store
                    .wait_durable(lb)
                    .or_storage(subject(), ErrorVerb::Write)?;
                self.store
                    .purge(LbLogId::new(term(&upto), lb - 1))
                    .or_storage(subject(), ErrorVerb::Delete)?;
                view.head = Some((lb, Head::Purged(upto)));
                if view.last == Some(upto) {
                    view.last = None;
                }
                return Ok(());
            }
        }
        if Some(upto) < view.last_log_id() {
            return Err(message(
                subject(),
                ErrorVerb::Delete,
                format!(
                    "cannot purge up to {upto}: no such entry, and the log's last id {} is \
                     later, so entries after it would have to stay with no record of it",
                    view.last_log_id().map_or("-".into(), |id| id.to_string())
                ),
            ));
        }
        let last = self
            .store
            .last_log_id()
            .or_storage(ErrorSubject::Logs, ErrorVerb::Read)?;
        let lb = last.map_or(0, |l| l.index) + 1;
        let lb_term = term(&upto).max(last.map_or(0, |l| l.term));
        let record = LbEntry::new(lb, lb_term, encode_purged(&upto)?);
        self.store
            .append(&[record])
            .and_then(|_| self.store.wait_durable(lb))
            .or_storage(subject(), ErrorVerb::Write)?;
        if lb > 1 {
            self.store
                .purge(LbLogId::new(lb_term, lb - 1))
                .or_storage(subject(), ErrorVerb::Delete)?;
        }
        view.head = Some((lb, Head::Purged(upto)));
        view.last = None;
        Ok(())
    }
}

/// A genesis head written with a batch: its logbook index and the head.
type NewHead = Option<(u64, Head)>;

/// Refuses `entries` if a term goes backwards after `prev` (the log's last id) or within
/// them; returns the last id.
fn terms_never_decrease<E: RaftLogId<u64>>(
    mut prev: Option<LogId<u64>>,
    entries: &[E],
) -> Result<Option<LogId<u64>>> {
    for e in entries {
        let id = *e.get_log_id();
        if let Some(p) = prev.filter(|p| term(&id) < term(p)) {
            return Err(defensive(
                ErrorSubject::Log(id),
                Violation::DirtyLog {
                    higher_index_log_id: id,
                    lower_index_log_id: p,
                },
            ));
        }
        prev = Some(id);
    }
    Ok(prev)
}

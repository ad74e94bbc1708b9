//! Crash windows of the layout, staged by writing what a crash would leave.

use ::openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use ::openraft::testing::{blank_ent, log_id};

use super::record::encode_purged;
use super::LogStore;
use crate::config::{Config, FlushPolicy, Strategy};
use crate::types::Entry as LbEntry;

use std::io::Cursor;

::openraft::declare_raft_types!(pub TypeConfig);

fn configs() -> [Config; 2] {
    [
        Config::new(Strategy::DiskFirst, FlushPolicy::Immediate),
        Config::new(Strategy::MemFirst, FlushPolicy::Immediate),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_finishes_a_purge_interrupted_after_its_record() {
    for cfg in configs() {
        let dir = tempfile::tempdir().unwrap();
        let upto = log_id(3, 2, 10);
        {
            let mut s = LogStore::<TypeConfig>::open(dir.path(), cfg.clone()).unwrap();
            let entries = (0..=4).map(|i| blank_ent::<TypeConfig>(1, 1, i));
            s.blocking_append(entries).await.unwrap();
            // Genesis head at logbook 1, entries 0..=4 at 2..=6: the purge record goes to 7
            // and is durable, but the crash comes before logbook's boundary moves.
            let rec = LbEntry::new(7, 3, encode_purged(&upto).unwrap());
            s.store().append(&[rec]).unwrap();
            s.store().flush().unwrap();
        }
        let mut s = LogStore::<TypeConfig>::open(dir.path(), cfg).unwrap();
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(upto));
        assert_eq!(st.last_log_id, Some(upto));
        assert_eq!(s.store().first_index().unwrap(), 7);
        s.blocking_append([blank_ent::<TypeConfig>(3, 2, 11)])
            .await
            .unwrap();
        assert_eq!(
            s.get_log_state().await.unwrap().last_log_id,
            Some(log_id(3, 2, 11))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_a_boundary_but_no_head_reads_as_empty() {
    for cfg in configs() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = LogStore::<TypeConfig>::open(dir.path(), cfg.clone()).unwrap();
            s.blocking_append([blank_ent::<TypeConfig>(1, 1, 0)])
                .await
                .unwrap();
            s.truncate(log_id(1, 1, 0)).await.unwrap();
            // The adapter never leaves this state (a head is durable before logbook's
            // boundary passes the old one), but a store purged by hand can be in it.
            s.store().purge(crate::LogId::new(0, 1)).unwrap();
            s.store().flush().unwrap();
        }
        let mut s = LogStore::<TypeConfig>::open(dir.path(), cfg).unwrap();
        let st = s.get_log_state().await.unwrap();
        assert_eq!((st.last_purged_log_id, st.last_log_id), (None, None));
        s.blocking_append([blank_ent::<TypeConfig>(2, 1, 0)])
            .await
            .unwrap();
        assert_eq!(
            s.get_log_state().await.unwrap().last_log_id,
            Some(log_id(2, 1, 0))
        );
    }
}

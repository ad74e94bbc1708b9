//! The group-commit core, table-driven: events in, decisions out.

use super::*;
use crate::error::Poison;

type Core = GroupCommit<&'static str, &'static str>;

fn view(durable: u64, last: u64) -> LogView<'static> {
    LogView {
        durable,
        fully_durable: durable == last,
        poison: None,
        sync_due: durable < last,
        due_by_count: durable < last,
        next_deadline_ms: (durable < last).then_some(0),
        now_ms: 100,
    }
}

/// Parks a waiter for `last` named `name`; returns its key.
fn parked(core: &mut Core, last: u64, name: &'static str) -> WaiterKey {
    let key = core.new_waiter(last);
    core.park(key, name);
    key
}

#[test]
fn a_finished_sync_releases_exactly_the_waiters_it_covered_and_the_next_leader() {
    // (waiters, durable after the sync, last index, woken now, relayed later, leader goes on)
    type Case = (
        &'static [(u64, &'static str)],
        u64,
        u64,
        Vec<&'static str>,
        usize,
        bool,
    );
    let cases: Vec<Case> = vec![
        (&[(3, "a"), (5, "b")], 5, 5, vec!["a", "b"], 0, false),
        // b not covered and a sync is due: the leader goes on, wakes only a.
        (&[(3, "a"), (7, "b")], 5, 7, vec!["a"], 0, true),
        // Four covered, none beyond: 1 + fan-out now, the rest to the relay.
        (
            &[(1, "a"), (2, "b"), (3, "c"), (4, "d")],
            4,
            4,
            vec!["a", "b", "c"],
            1,
            false,
        ),
        (&[(9, "x")], 5, 9, vec![], 0, true),
    ];
    for (waiters, durable, last, woken, relayed, lead_next) in cases {
        let mut core = Core::new(CanarySet::default());
        for (l, n) in waiters {
            parked(&mut core, *l, n);
        }
        assert!(core.try_lead(&view(0, last)));
        let r = core.sync_done(&view(durable, last));
        assert_eq!(r.wake_now, woken, "{waiters:?} durable {durable}");
        assert_eq!(core.relay.len(), relayed, "{waiters:?} durable {durable}");
        assert_eq!(r.lead_next, lead_next, "{waiters:?} durable {durable}");
        assert_eq!(core.syncing(), lead_next);
    }
}

#[test]
fn without_a_due_sync_the_next_in_line_is_woken_to_lead_it_later() {
    let mut core = Core::new(CanarySet::default());
    parked(&mut core, 3, "a");
    parked(&mut core, 8, "later");
    core.try_lead(&view(0, 8));
    let mut v = view(5, 8);
    v.sync_due = false;
    let r = core.sync_done(&v);
    assert!(!r.lead_next);
    assert_eq!(r.wake_now, vec!["later", "a"], "the next leader first");
    assert!(!core.syncing());
}

#[test]
fn the_leader_hands_on_after_lead_rounds_max() {
    let mut core = Core::new(CanarySet::default());
    parked(&mut core, 100, "w");
    core.try_lead(&view(0, 100));
    for round in 1..=LEAD_ROUNDS_MAX {
        let r = core.sync_done(&view(round as u64, 100));
        assert_eq!(r.lead_next, round < LEAD_ROUNDS_MAX, "round {round}");
    }
    assert!(!core.syncing());
}

#[test]
fn only_one_leader_at_a_time_and_none_on_a_poisoned_log() {
    let mut core = Core::new(CanarySet::default());
    assert!(core.try_lead(&view(0, 1)));
    assert!(!core.try_lead(&view(0, 1)), "a second leader");
    let _ = core.nothing_to_sync(&view(1, 1));
    let mut v = view(0, 1);
    let cause = Poison::sync_lost("fsync failed");
    v.poison = Some(&cause);
    assert!(!core.try_lead(&v));
}

#[test]
fn callbacks_run_once_covered_and_all_run_with_the_poison() {
    let mut core = Core::new(CanarySet::default());
    assert!(core.add_callback(2, "now", &view(3, 5)).is_some());
    assert!(core.add_callback(4, "c4", &view(3, 5)).is_none());
    assert!(core.add_callback(5, "c5", &view(3, 5)).is_none());
    core.try_lead(&view(3, 5));
    let r = core.sync_done(&view(4, 5));
    let got: Vec<(&str, u64)> = r
        .callbacks
        .into_iter()
        .map(|(c, res)| (c, res.unwrap()))
        .collect();
    assert_eq!(got, vec![("c4", 4)]);
    core.try_lead(&view(4, 5));
    let mut failed = view(4, 5);
    let cause = Poison::sync_lost("eio");
    failed.poison = Some(&cause);
    let r = core.sync_done(&failed);
    assert_eq!(r.callbacks.len(), 1);
    assert!(matches!(r.callbacks[0].1, Err(Error::Poisoned { .. })));
}

#[test]
fn a_lost_sync_poisons_for_good_and_releases_everyone() {
    let mut core = Core::new(CanarySet::default());
    let a = parked(&mut core, 3, "a");
    parked(&mut core, 9, "b");
    core.add_callback(4, "cb", &view(0, 9));
    core.try_lead(&view(0, 9));
    let r = core.sync_lost("boom", &view(0, 9));
    assert!(!core.syncing(), "no wedge: leadership is free again");
    assert_eq!(r.wake_now.len() + core.relay.len(), 2);
    assert!(matches!(r.callbacks[0].1, Err(Error::Poisoned { .. })));
    assert!(!core.try_lead(&view(0, 9)), "no sync after a lost one");
    let (step, _) = core.wait_step(a, None, &view(0, 9));
    assert!(matches!(
        step,
        WaitStep::Return(Err(Error::Poisoned { .. }))
    ));
    assert!(core.check_writable(&view(0, 9)).is_err());
}

#[test]
fn a_waiter_returns_on_the_index_leads_when_due_and_parks_otherwise() {
    let mut core = Core::new(CanarySet::default());
    let k = core.new_waiter(5);
    // (view, truncated, expected)
    let (s, _) = core.wait_step(k, None, &view(5, 5));
    assert!(matches!(s, WaitStep::Return(Ok(()))));
    let (s, _) = core.wait_step(k, Some(4), &view(3, 5));
    assert!(matches!(
        s,
        WaitStep::Return(Err(Error::Truncated { index: 5, from: 4 }))
    ));
    let (s, _) = core.wait_step(k, None, &view(3, 5));
    assert!(matches!(s, WaitStep::Lead));
    core.try_lead(&view(3, 5));
    let mut v = view(3, 5);
    v.next_deadline_ms = Some(130);
    let (s, _) = core.wait_step(k, None, &v);
    assert!(matches!(s, WaitStep::Park { deadline_ms: 130 }), "{s:?}");
    v.next_deadline_ms = None;
    let (s, _) = core.wait_step(k, None, &v);
    assert!(matches!(
        s,
        WaitStep::Park {
            deadline_ms: 150 // now + WAITER_PARK_MAX_MS
        }
    ));
}

#[test]
fn a_truncation_wakes_everyone_and_orphans_the_callbacks_it_cut() {
    let mut core = Core::new(CanarySet::default());
    parked(&mut core, 3, "a");
    core.add_callback(2, "keep", &view(0, 6));
    core.add_callback(6, "cut", &view(0, 6));
    let r = core.truncated(4, &view(1, 3));
    assert_eq!(r.wake_now, vec!["a"]);
    assert_eq!(r.callbacks.len(), 1);
    assert_eq!(r.callbacks[0].0, "cut");
    assert!(matches!(
        r.callbacks[0].1,
        Err(Error::Truncated { index: 6, from: 4 })
    ));
    // "keep" (index 2) waits on: the cut did not make it durable.
    assert_eq!(core.callbacks.len(), 1);
    let r = core.closed();
    assert!(matches!(r.callbacks[0].1, Err(Error::Closed)));
}

#[test]
fn the_flusher_leads_when_due_and_otherwise_sleeps_to_the_deadline() {
    let core = Core::new(CanarySet::default());
    // (durable, last, due, deadline, expected)
    let cases = [
        (0, 5, true, Some(100), FlusherStep::Lead),
        (5, 5, false, None, FlusherStep::Sleep { deadline_ms: 200 }),
        (
            0,
            5,
            false,
            Some(120),
            FlusherStep::Sleep { deadline_ms: 120 },
        ),
        (
            0,
            5,
            false,
            Some(90),
            FlusherStep::Sleep { deadline_ms: 101 },
        ),
    ];
    for (durable, last, due, deadline, want) in cases {
        let mut v = view(durable, last);
        v.sync_due = due;
        v.due_by_count = due;
        v.next_deadline_ms = deadline;
        assert_eq!(core.flusher_step(&v), want, "{durable} {last} {due}");
    }
    let mut poisoned = view(0, 5);
    let cause = Poison::sync_lost("eio");
    poisoned.poison = Some(&cause);
    assert_eq!(
        core.flusher_step(&poisoned),
        FlusherStep::Sleep { deadline_ms: 200 }
    );
}

#[test]
fn the_relay_hands_out_fanout_at_a_time() {
    let mut core = Core::new(CanarySet::default());
    for (i, n) in ["a", "b", "c", "d", "e", "f"].into_iter().enumerate() {
        parked(&mut core, i as u64 + 1, n);
    }
    core.try_lead(&view(0, 6));
    let r = core.sync_done(&view(6, 6));
    assert_eq!(r.wake_now.len(), 1 + RELAY_FANOUT);
    assert_eq!(core.take_relay().len(), RELAY_FANOUT);
    assert_eq!(core.take_relay().len(), 1);
    assert!(core.take_relay().is_empty());
}

/// Found by the store scenarios: a DiskFirst purge syncs and moves the durable index with no
/// sync to follow, and a callback it covered waited forever for the next sync.
#[test]
fn a_purge_that_made_entries_durable_runs_their_callbacks() {
    let mut core = Core::new(CanarySet::default());
    assert!(core.add_callback(6, "cb", &view(2, 6)).is_none());
    let r = core.wake_all(&view(6, 6));
    assert_eq!(r.callbacks.len(), 1);
    assert!(matches!(r.callbacks[0].1, Ok(6)));
}

#[test]
fn waiters_for_the_same_index_are_told_apart_and_each_released_once() {
    let mut core = Core::new(CanarySet::default());
    let keys: Vec<WaiterKey> = ["a", "b", "c"]
        .into_iter()
        .map(|name| parked(&mut core, 5, name))
        .collect();
    assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
    core.try_lead(&view(0, 5));
    let mut woken = core.sync_done(&view(5, 5)).wake_now;
    woken.extend(core.take_relay());
    woken.sort();
    assert_eq!(woken, ["a", "b", "c"]);
    let c = core.counts();
    assert_eq!(c.parked.load(Ordering::SeqCst), 3);
    assert_eq!(c.released.load(Ordering::SeqCst), 3);
}

#[test]
fn the_leader_goes_on_only_while_a_waiter_needs_more_than_this_sync() {
    for (newest_waiter, lead_next) in [(5, false), (6, true)] {
        let mut core = Core::new(CanarySet::default());
        parked(&mut core, newest_waiter, "w");
        core.try_lead(&view(0, 8));
        // The sync made 1..=5 durable; 6..=8 are owed and a sync is due.
        let release = core.sync_done(&view(5, 8));
        assert_eq!(
            release.lead_next, lead_next,
            "newest waiter {newest_waiter}"
        );
    }
}

#[test]
fn the_poison_cause_is_the_lost_sync_s_before_the_log_s() {
    let mut core = Core::new(CanarySet::default());
    let log_poison = Poison::sync_lost("the log's own");
    assert_eq!(core.poison_cause(None), None);
    assert_eq!(
        core.poison_cause(Some(&log_poison)),
        Some(log_poison.clone())
    );
    core.try_lead(&view(0, 5));
    let _ = core.sync_lost("panicked", &view(0, 5));
    let cause = core.poison_cause(Some(&log_poison)).expect("poisoned");
    assert_ne!(cause, log_poison, "the lost sync's cause comes first");
    assert_eq!(core.poison_cause(None), Some(cause));
}

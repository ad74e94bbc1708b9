//! The pages say what failed, where, and escape what the run wrote.

use super::*;
use crate::linearizability::{
    check, CasRegister, History, Operation, RegisterInput as In, RegisterOutput as Out,
};

fn trace(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

const FAILING: &[&str] = &[
    "disk new seed=1",
    "run scenario=x seed=3 ops=3",
    "disk #1 mkdir /store -> ok",
    "op 0: append 2 same-term 10",
    "disk #2 write /store/seg-1.log off=32 len=80 -> ok",
    "disk fault torn_write /store/seg-1.log sectors=1/2",
    "  appended 1..=2 term 1",
    "op 1: crash",
    "disk crash between calls after #2",
    "  crash: gen=1 writes kept=0 lost=1 torn=1",
    "  recovered boundary None last 0 hard state <hs> digest 0",
    "op 2: tick 5",
    "  diff 1 | (index 1, term 1) | (index 1, term 1) | nothing",
    "  diff 2 | nothing | (index 2, term 1) | nothing",
    "VIOLATION invariant 1 (durable prefix): index 1: durable but recovered <nothing>",
];

fn failing_page() -> String {
    run_page(&RunPage {
        scenario: "disk-first-immediate",
        seed: 3,
        replay: "cargo run --release -p logbook-sim -- run --scenario s.toml --seed 3",
        counts: "3 ops, 1 crash, 1 recovery, 4 checks, 1 fault",
        failure: Some((
            1,
            "durable prefix",
            "index 1: durable but recovered nothing",
        )),
        trace: &trace(FAILING),
    })
}

#[test]
fn a_failing_run_shows_the_invariant_the_diff_and_the_failing_row() {
    let html = failing_page();
    let banner = "<div class=\"banner fail\" id=\"verdict\">FAIL: invariant 1 (durable prefix)";
    assert!(html.contains(banner), "{html}");
    // One row per op plus the open; the failing one in the failure class, the crash marked.
    assert_eq!(html.matches("<tr class=\"failure\">").count(), 1);
    assert_eq!(html.matches("<tr class=\"crash\">").count(), 1);
    assert!(html.contains("fault torn_write ×1"));
    // The expected-versus-recovered table marks the rows where durable and recovered differ.
    assert!(html.contains("Expected versus recovered"));
    assert_eq!(html.matches("<tr class=\"differs\">").count(), 1);
    // Text from the run is escaped: the trace's `<hs>` and `<nothing>` never become tags.
    assert!(!html.contains("<hs>") && !html.contains("<nothing>"));
    assert!(html.contains("&lt;nothing&gt;"));
}

#[test]
fn a_passing_run_has_no_failure_marks() {
    let html = run_page(&RunPage {
        scenario: "s",
        seed: 0,
        replay: "r",
        counts: "c",
        failure: None,
        trace: &trace(&FAILING[..FAILING.len() - 3]),
    });
    assert!(html.contains("id=\"verdict\">PASS"));
    assert!(!html.contains("<tr class=\"failure\">"));
    assert!(!html.contains("<tr class=\"differs\">"));
}

#[test]
fn the_run_page_is_stable() {
    insta::assert_snapshot!(failing_page());
}

fn reg(c: u64, input: In, call: u64, ret: Option<u64>, out: Option<Out>) -> Operation<In, Out> {
    Operation {
        client: c,
        input,
        call,
        ret,
        output: out,
    }
}

#[test]
fn the_lanes_highlight_exactly_the_failing_window() {
    // Client 1 reads 2 after client 0's write of 1 returned, with nothing writing 2: the
    // read's return closes the window. Client 2's write of 3 is pending and unrelated.
    let ops = vec![
        reg(0, In::Write(1), 0, Some(1), Some(Out::Write)),
        reg(2, In::Write(3), 0, None, None),
        reg(1, In::Read, 2, Some(3), Some(Out::Read(Some(2)))),
        reg(0, In::Read, 10, Some(11), Some(Out::Read(Some(1)))),
    ];
    let history = History::from_operations(ops).unwrap();
    let result = check(&CasRegister, &history);
    let lanes = LaneOp::from_history(&history, &result);
    let window: Vec<usize> = (0..lanes.len()).filter(|&i| lanes[i].in_window).collect();
    assert_eq!(window, vec![0, 1, 2], "the ops called within the window");
    assert!(lanes[2].closes_window && !lanes[0].closes_window);
    let html = lanes_page("register", "not linearizable", true, &lanes);
    let (r, g, b) = FAILURE_RGB;
    assert_eq!(
        html.matches(&format!("fill=\"rgb({r},{g},{b})\"")).count(),
        3
    );
    assert_eq!(
        html.matches("stroke-dasharray").count(),
        1,
        "the pending write"
    );
    assert_eq!(
        html.matches("<text x=\"4\"").count(),
        3,
        "one lane per client"
    );
}

const CLUSTER: &[&str] = &[
    "disk new seed=1",
    "0 node 1 up: log ends at 0, hard state <hs>",
    "5 deliver MsgRequestVote 1->2 term 1",
    "6 deliver MsgRequestVoteResponse 2->1 term 1",
    "7 node 1 leads term 1",
    "9 node 1 ready: 1 messages",
    "40 net partition [true, false, false]",
    "70 node 2 crash (power loss): CrashReport { writes_lost: 1 }",
    "90 node 2 up: log ends at 3, hard state term: 1",
    "95 net heal",
    "VIOLATION C6 (Linearizability) at 99 ms: key 1 is not linearizable: prefix | #0 client 0",
];

fn cluster_lane(client: u64, call: u64, ret: Option<u64>, in_window: bool) -> LaneOp {
    LaneOp {
        client,
        call,
        ret,
        label: format!("Get <{client}>"),
        in_window,
        closes_window: in_window && ret == Some(30),
    }
}

fn cluster(failure: Option<(&str, &str)>) -> String {
    let lanes = [
        cluster_lane(0, 10, Some(20), true),
        cluster_lane(1, 12, Some(30), true),
        cluster_lane(2, 14, None, false),
    ];
    cluster_page(&ClusterPage {
        scenario: "cluster-stale-reads",
        seed: 1,
        replay: "cargo run --release -p logbook-sim -- cluster --seed 1",
        counts: "10 events",
        failure,
        trace: &trace(CLUSTER),
        lanes: &lanes,
        lanes_caption: "key 1",
    })
}

#[test]
fn a_cluster_page_shows_the_check_the_events_and_the_window() {
    let html = cluster(Some((
        "C6 (Linearizability) at 99 ms",
        "key 1 is not linearizable: prefix | #0 client 0 | => #1 client 1",
    )));
    let banner = "<div class=\"banner fail\" id=\"verdict\">FAIL: C6 (Linearizability) at 99 ms: \
                  key 1 is not linearizable: prefix</div>";
    assert!(html.contains(banner), "{html}");
    // The window, one operation a line, under the banner.
    assert!(
        html.contains("<pre>#0 client 0\n=&gt; #1 client 1</pre>"),
        "{html}"
    );
    // Rows: two restarts, one crash, the failure; a leader and two network events plain.
    assert_eq!(html.matches("<tr class=\"recovery\">").count(), 2);
    assert_eq!(html.matches("<tr class=\"crash\">").count(), 1);
    assert_eq!(html.matches("<tr class=\"failure\">").count(), 1);
    assert!(html.contains("<td class=\"t\">node 1 leads term 1</td><td>2 messages, 0 other"));
    assert!(html.contains("net heal"));
    // Messages and readies are counted, not listed.
    assert!(!html.contains("MsgRequestVote") && !html.contains("ready:"));
    // Two operations in the failure colour, the closing one outlined, the open one dashed.
    let (r, g, b) = FAILURE_RGB;
    assert_eq!(
        html.matches(&format!("fill=\"rgb({r},{g},{b})\"")).count(),
        2
    );
    assert_eq!(html.matches("stroke-width=\"3\"").count(), 1);
    assert_eq!(html.matches("stroke-dasharray").count(), 1);
    // Escaped.
    assert!(!html.contains("<hs>") && html.contains("&lt;hs&gt;"));
    assert!(!html.contains("Get <1>") && html.contains("Get &lt;1&gt;"));
}

#[test]
fn a_passing_cluster_page_has_no_failure_marks() {
    let mut lines = CLUSTER.to_vec();
    lines.pop();
    let html = cluster_page(&ClusterPage {
        scenario: "s",
        seed: 0,
        replay: "r",
        counts: "c",
        failure: None,
        trace: &trace(&lines),
        lanes: &[cluster_lane(0, 1, Some(2), false)],
        lanes_caption: "the last operations",
    });
    assert!(html.contains("<div class=\"banner pass\" id=\"verdict\">PASS</div>"));
    let (r, g, b) = FAILURE_RGB;
    assert!(!html.contains(&format!("fill=\"rgb({r},{g},{b})\"")));
    assert!(!html.contains("<tr class=\"failure\">"));
}

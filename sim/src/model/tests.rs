//! The model's checks accept exactly the legal recoveries; invariants are numbered and
//! named as docs/DESIGN.md §3.

use super::*;

fn e(index: u64, term: u64) -> Entry {
    Entry::new(index, term, format!("{index}/{term}").into_bytes())
}

fn model(states: Vec<State>) -> Model {
    Model {
        history: states,
        ..Model::default()
    }
}

fn st(entries: Vec<Entry>, boundary: Option<LogId>) -> State {
    State {
        boundary,
        log: Arc::new(entries),
    }
}

fn rec(entries: Vec<Entry>, boundary: Option<LogId>) -> Recovered {
    let last = entries
        .last()
        .map_or(boundary.map_or(0, |b| b.index), |e| e.index);
    Recovered {
        boundary,
        last_index: last,
        entries,
        hard_state: HardState::default(),
    }
}

/// (what happened, the history, what recovery found, the invariant that must fail or 0)
// check-sizes: table
#[test]
fn the_checks_accept_exactly_the_legal_recoveries() {
    let durable = st(vec![e(1, 1), e(2, 1)], None);
    let appended = st(vec![e(1, 1), e(2, 1), e(3, 1), e(4, 1)], None);
    let truncated = st(vec![e(1, 1), e(2, 1), e(3, 2)], None);
    let purged = st(vec![e(1, 1), e(2, 1)], Some(LogId::new(1, 2)));
    let cases: Vec<(&str, Vec<State>, Recovered, u8)> = vec![
        (
            "exact durable state",
            vec![durable.clone()],
            rec(vec![e(1, 1), e(2, 1)], None),
            0,
        ),
        (
            "lost a durable entry",
            vec![durable.clone()],
            rec(vec![e(1, 1)], None),
            1,
        ),
        (
            "unflushed suffix lost",
            vec![durable.clone(), appended.clone()],
            rec(vec![e(1, 1), e(2, 1), e(3, 1)], None),
            0,
        ),
        (
            "a hole",
            vec![durable.clone(), appended.clone()],
            rec(vec![e(1, 1), e(2, 1), e(4, 1)], None),
            2,
        ),
        (
            "mixes a truncated entry with its replacement",
            vec![durable.clone(), appended.clone(), truncated.clone()],
            rec(vec![e(1, 1), e(2, 1), e(3, 2), e(4, 1)], None),
            2,
        ),
        (
            "replacement kept",
            vec![durable.clone(), appended.clone(), truncated.clone()],
            rec(vec![e(1, 1), e(2, 1), e(3, 2)], None),
            0,
        ),
        (
            "never written",
            vec![durable.clone()],
            rec(vec![e(1, 1), e(2, 1), e(3, 9)], None),
            2,
        ),
        (
            "durable purge resurrected",
            vec![purged.clone()],
            rec(vec![e(1, 1), e(2, 1)], None),
            3,
        ),
        (
            "purge in flight may be lost",
            vec![durable.clone(), purged.clone()],
            rec(vec![e(1, 1), e(2, 1)], None),
            0,
        ),
        (
            "purge in flight may land",
            vec![durable.clone(), purged.clone()],
            rec(vec![], Some(LogId::new(1, 2))),
            0,
        ),
        (
            "a boundary nobody set",
            vec![durable.clone()],
            rec(vec![e(2, 1)], Some(LogId::new(1, 1))),
            3,
        ),
    ];
    for (name, history, r, want) in cases {
        let got = check_recovered(&model(history), &r)
            .err()
            .map_or(0, |v| v.invariant.number());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn hard_state_must_be_the_last_saved_or_the_one_in_flight() {
    let mut m = model(vec![State::default()]);
    m.hard_state = HardState {
        term: 2,
        vote: Some(1),
        commit: 0,
    };
    let mut r = rec(vec![], None);
    r.hard_state = HardState {
        term: 1,
        vote: Some(1),
        commit: 0,
    };
    assert_eq!(
        check_recovered(&m, &r).unwrap_err().invariant,
        Invariant::HardState
    );
    m.hard_state_in_flight = Some(r.hard_state);
    assert!(check_recovered(&m, &r).is_ok());
}

/// Each invariant's number and name are those of docs/DESIGN.md §3 (`N. **Name...`),
/// so a report's "invariant N (name)" can be looked up there.
#[test]
fn invariants_are_numbered_and_named_as_the_design_document_does() {
    let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/DESIGN.md"));
    let start = doc.find("## 3. The invariants").expect("DESIGN.md has §3");
    let end = doc[start..]
        .find("\n## 4.")
        .map_or(doc.len(), |e| start + e);
    let design = &doc[start..end];
    for i in Invariant::ALL.into_iter().skip(1) {
        let heading = format!("\n{}. **", i.number());
        let at = design
            .find(&heading)
            .unwrap_or_else(|| panic!("DESIGN.md has no item {}", i.number()));
        let line = design[at + heading.len()..].lines().next().unwrap_or("");
        let word = i.name().split_whitespace().next().unwrap_or("");
        assert!(
            line.to_lowercase().starts_with(word),
            "{i}: DESIGN.md says `{line}`"
        );
    }
    for (n, i) in Invariant::ALL.into_iter().enumerate() {
        assert_eq!(Invariant::from_number(n as u8), Some(i));
    }
    assert_eq!(Invariant::from_number(11), None);
}

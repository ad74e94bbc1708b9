//! The Jepsen log parser: accepted shapes and typed errors with line numbers.

use crate::linearizability::{
    check, parse_jepsen_log, CasRegister, JepsenErrorKind as K, RegisterInput as In,
    RegisterOutput as Out,
};

const P: &str = "INFO  jepsen.util - ";

fn log(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{P}{l}\n")).collect()
}

#[test]
fn parses_every_event_kind() {
    let text = log(&[
        "0\t:invoke\t:read\tnil",
        "1\t:invoke\t:write\t4",
        "2   :invoke :cas    [4 0]", // spaces instead of tabs
        "0\t:ok\t:read\tnil",
        "1\t:ok\t:write\t4",
        "2\t:fail\t:cas\t[4 0]",
        "3\t:invoke\t:cas\t[1 2]",
        "3\t:info\t:cas\t:timed-out",
        "3\t:invoke\t:read\tnil",
        "3\t:fail\t:read\t:timed-out",
        "4\t:invoke\t:write\t9",
        "4\t:fail\t:write\t9",
        ":nemesis\t:info\t:start\tnil",
    ]) + "\n   \n";
    let h = match parse_jepsen_log(&text) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    };
    let ops = h.ops();
    assert_eq!(ops.len(), 5, "the failed write is dropped:\n{h}");
    assert_eq!(
        (ops[0].input, ops[0].output),
        (In::Read, Some(Out::Read(None)))
    );
    assert_eq!((ops[0].call, ops[0].ret), (1, Some(4)));
    assert_eq!(
        (ops[1].input, ops[1].output),
        (In::Write(4), Some(Out::Write))
    );
    assert_eq!(ops[2].input, In::Cas { from: 4, to: 0 });
    assert_eq!(ops[2].output, Some(Out::Cas(false)));
    assert_eq!(
        (ops[3].ret, ops[3].output),
        (None, None),
        ":info leaves it pending"
    );
    assert_eq!(ops[3].client, 3);
    assert_eq!(
        (ops[4].ret, ops[4].output),
        (Some(10), None),
        "timed-out read"
    );
    assert!(check(&CasRegister, &h).is_linearizable());
}

#[test]
// check-sizes: table
fn errors_are_typed_with_line_numbers() {
    let cases: Vec<(String, usize, K)> = vec![
        ("garbage\n".into(), 1, K::Malformed),
        (format!("\n{P}0\t:invoke\n"), 2, K::Malformed),
        (
            "WARN jepsen.util - 0 :invoke :read nil\n".into(),
            1,
            K::Malformed,
        ),
        (
            log(&["x\t:invoke\t:read\tnil"]),
            1,
            K::BadProcess("x".into()),
        ),
        (
            log(&["-1\t:invoke\t:read\tnil"]),
            1,
            K::BadProcess("-1".into()),
        ),
        (
            log(&["0\t:invoke\t:append\t1"]),
            1,
            K::UnknownFunction(":append".into()),
        ),
        (
            log(&["0\t:invoke\t:write\tfour"]),
            1,
            K::BadValue {
                kind: ":invoke".into(),
                f: ":write".into(),
                value: "four".into(),
            },
        ),
        (
            log(&["0\t:invoke\t:cas\t[1 2 3]"]),
            1,
            K::BadValue {
                kind: ":invoke".into(),
                f: ":cas".into(),
                value: "[1 2 3]".into(),
            },
        ),
        (
            log(&["0\t:invoke\t:read\tnil", "0\t:invoke\t:read\tnil"]),
            2,
            K::AlreadyOutstanding {
                process: 0,
                since: 1,
            },
        ),
        (
            log(&["0\t:ok\t:read\tnil"]),
            1,
            K::NothingOutstanding { process: 0 },
        ),
        (
            log(&["0\t:invoke\t:read\tnil", "0\t:ok\t:write\t1"]),
            2,
            K::Mismatch {
                f: ":write".into(),
                since: 1,
                input: In::Read,
            },
        ),
        (
            log(&["0\t:invoke\t:write\t1", "0\t:ok\t:write\t2"]),
            2,
            K::BadValue {
                kind: ":ok".into(),
                f: ":write".into(),
                value: "2".into(),
            },
        ),
        (
            log(&["0\t:invoke\t:cas\t[1 2]", "0\t:fail\t:cas\t[2 1]"]),
            2,
            K::BadValue {
                kind: ":fail".into(),
                f: ":cas".into(),
                value: "[2 1]".into(),
            },
        ),
        (
            log(&["0\t:invoke\t:read\tnil", "0\t:ok\t:read\t:timed-out"]),
            2,
            K::BadValue {
                kind: ":ok".into(),
                f: ":read".into(),
                value: ":timed-out".into(),
            },
        ),
    ];
    for (text, line, kind) in cases {
        match parse_jepsen_log(&text) {
            Ok(h) => panic!("accepted {text:?}:\n{h}"),
            Err(e) => {
                assert_eq!((e.line, &e.kind), (line, &kind), "{text:?}");
                assert!(e.to_string().starts_with(&format!("line {line}: ")));
            }
        }
    }
}

//! How long the linearizability checker takes on synthetic Porcupine-sized key-value
//! histories: 50 clients, about 2,000 Get/Put/Append operations over 10 keys, values
//! growing long with appends. They are harsher than Porcupine's own (`porcupine_kv.rs`):
//! every operation lasts up to 200 ticks, so about five overlap per key, and one seed in
//! five has a key that needs more than the budget. A measurement, not a test of speed: it
//! asserts only that no verdict is wrong, and prints the time (`cargo test --release -p logbook-sim --test kv_checker_timing -- --ignored
//! --nocapture`).

use std::time::Instant;

use logbook_sim::linearizability::{Checker, History, Kv, KvInput, KvOp, KvOutput, Operation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A linearizable history: each operation takes effect at a random instant inside its
/// interval; outputs follow from that order.
fn history(seed: u64, clients: u64, ops_per_client: u64, keys: u64) -> History<KvInput, KvOutput> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // (effect time, op) with outputs filled in afterwards.
    let mut ops: Vec<(u64, Operation<KvInput, KvOutput>)> = Vec::new();
    for c in 0..clients {
        let mut t = rng.gen_range(0..50u64);
        for n in 0..ops_per_client {
            let key = rng.gen_range(0..keys);
            let op = match rng.gen_range(0..3) {
                0 => KvOp::Get,
                1 => KvOp::Put(format!("x {c} {n} y")),
                _ => KvOp::Append(format!("x {c} {n} y")),
            };
            let ret = t + rng.gen_range(1..200u64);
            let effect = rng.gen_range(t..=ret);
            ops.push((
                effect,
                Operation {
                    client: c,
                    input: KvInput { key, op },
                    call: t,
                    ret: Some(ret),
                    output: None,
                },
            ));
            t = ret + rng.gen_range(1..20u64);
        }
    }
    ops.sort_by_key(|(effect, o)| (*effect, o.client));
    let mut values = vec![String::new(); keys as usize];
    for (_, o) in &mut ops {
        let v = &mut values[o.input.key as usize];
        let (next, out) = Kv::apply(v, &o.input.op);
        *v = next;
        o.output = Some(out);
    }
    History::from_operations(ops.into_iter().map(|(_, o)| o)).expect("valid history")
}

/// Search steps per key before the verdict is "unknown".
const STEPS_MAX: u64 = 5_000_000;

#[test]
#[ignore = "a measurement; run with --ignored --nocapture"]
fn kv_history_of_2000_operations_checked_per_key() {
    for seed in 0..5 {
        let h = history(seed, 50, 40, 10);
        let started = Instant::now();
        // A budget bounds the memory of a pathological history (the memo grows with it).
        let p = Checker::new()
            .max_steps(STEPS_MAX)
            .check_partitioned(&Kv, &h, KvInput::key);
        let elapsed = started.elapsed();
        assert!(!p.result.is_not_linearizable(), "{}", p.result);
        println!(
            "seed {seed}: {} operations, {} keys ({} checked), {} steps, {} in {:.3} s",
            h.len(),
            p.parts,
            p.parts_checked,
            p.steps,
            if p.result.is_linearizable() {
                "linearizable"
            } else {
                "budget ran out"
            },
            elapsed.as_secs_f64()
        );
    }
}

//! CPU per validated signature, one by one versus one batch per burst, and the time from the
//! last needed signature to a ready aggregate, for 10, 50 and 200 operators.
//!
//! Signatures are real BN254 BLS signatures from a seeded committee; the libp2p transport is
//! not in the loop (its cost is per message and independent of the verification strategy).

use avs_p2p::{
    InboundMessage, Outcome, TaskTable, Validator, ValidatorConfig, Verified,
    fixtures::{Committee, response},
};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use libp2p::PeerId;
use std::{
    hint::black_box,
    time::{Duration, Instant},
};

const SIZES: [usize; 3] = [10, 50, 200];

fn inbound(c: &Committee, task: u32) -> Vec<InboundMessage> {
    let peer = PeerId::random();
    (0..c.operators.len())
        .map(|i| c.inbound(i, response(task, 0), peer))
        .collect()
}

/// A validator and its task table with `task` added, as the service holds them.
fn validator(c: &Committee, task: u32) -> (Validator, TaskTable) {
    let config = ValidatorConfig::default();
    let mut tasks = TaskTable::new(Duration::ZERO, config.closed_history);
    let mut validator = Validator::new(config);
    validator.add_task(&mut tasks, c.task(task, 67));
    (validator, tasks)
}

fn validation(crit: &mut Criterion) {
    let mut group = crit.benchmark_group("validate");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for n in SIZES {
        let c = Committee::new(n, 1, |_| 1);
        let msgs = inbound(&c, 1);
        // Warm the keys' Miller-loop preparation, as a running node has done long before.
        let (mut warm, mut warm_tasks) = validator(&c, 1);
        for m in msgs.clone() {
            assert!(matches!(
                warm.validate(&mut warm_tasks, m, Instant::now()),
                Outcome::Accept(_)
            ));
        }
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("one_by_one", n), &n, |b, _| {
            b.iter_batched(
                || (validator(&c, 1), msgs.clone()),
                |((mut v, mut tasks), msgs)| {
                    let now = Instant::now();
                    for m in msgs {
                        black_box(v.validate(&mut tasks, m, now));
                    }
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("batch", n), &n, |b, _| {
            b.iter_batched(
                || (validator(&c, 1), msgs.clone()),
                |((mut v, mut tasks), msgs)| {
                    let out = v.validate_burst(&mut tasks, msgs, Instant::now());
                    assert!(out.iter().all(|(_, o)| matches!(o, Outcome::Accept(_))));
                    black_box(out)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn verified((v, tasks): &mut (Validator, TaskTable), msgs: Vec<InboundMessage>) -> Vec<Verified> {
    v.validate_burst(tasks, msgs, Instant::now())
        .into_iter()
        .filter_map(|(_, o)| match o {
            Outcome::Accept(v) => Some(*v),
            _ => None,
        })
        .collect()
}

/// From adding the signature that completes a 67 % quorum to holding the checked aggregate
/// (σ, signers' G2 APK, sorted non-signers, quorum APK).
fn last_signature_to_aggregate(crit: &mut Criterion) {
    let mut group = crit.benchmark_group("last_signature_to_aggregate");
    group.sample_size(20);
    for n in SIZES {
        let c = Committee::new(n, 2, |_| 1);
        let sigs = verified(&mut validator(&c, 1), inbound(&c, 1));
        let needed = (n * 67).div_ceil(100);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || {
                    let mut tasks = TaskTable::new(Duration::ZERO, 1);
                    tasks.add_task(c.task(1, 67));
                    let now = Instant::now();
                    for s in &sigs[..needed - 1] {
                        assert!(matches!(
                            tasks.decide(Box::new(s.clone()), now),
                            Outcome::Accept(_)
                        ));
                    }
                    assert!(tasks.next_due().is_none(), "not at quorum yet");
                    tasks
                },
                |mut tasks| {
                    let now = Instant::now();
                    tasks.decide(Box::new(sigs[needed - 1].clone()), now);
                    let ready = tasks.take_due(now);
                    black_box(ready.into_iter().next().unwrap().unwrap())
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, validation, last_signature_to_aggregate);
criterion_main!(benches);

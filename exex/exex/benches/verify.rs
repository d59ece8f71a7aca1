//! Verification cost per block (header hash + transactions root + receipts root + blooms) for
//! blocks of 10, 100 and 500 transactions, against the floor of hashing the header alone.
//!
//! `cargo bench -p avs-exex --bench verify`

use avs_exex::verify::verify_block;
use avs_exex_types::test_utils::{ChainBuilder, TxSpec};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn bench_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify_block");
    for txs in [10usize, 100, 500] {
        // Half the transactions emit a log, so blooms and receipt encodings are not trivial.
        let specs: Vec<_> = (0..txs)
            .map(|i| {
                if i % 2 == 0 {
                    TxSpec::with_log()
                } else {
                    TxSpec::transfer()
                }
            })
            .collect();
        let block = ChainBuilder::new(1_000).block(&specs);
        verify_block(&block).expect("synthetic block is consistent");
        group.throughput(Throughput::Elements(txs as u64));
        group.bench_with_input(BenchmarkId::new("full", txs), &block, |b, block| {
            b.iter(|| verify_block(std::hint::black_box(block)))
        });
        group.bench_with_input(
            BenchmarkId::new("header_hash_only", txs),
            &block,
            |b, block| b.iter(|| std::hint::black_box(block).header().hash_slow()),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);

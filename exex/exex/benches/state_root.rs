//! Stateless re-execution cost on blocks of about 1, 10 and 30 million gas that the Ethereum
//! execution specification executed (`tests/spec/blocks.py --bench`): verification time per
//! block and per Mgas over the block's witness (the proofs of what it touches), the witness's
//! size, and the host's time to deliver the block from a JSON-RPC node with state-root
//! verification off and on, in the same run.
//!
//! `cargo bench -p avs-exex --bench state_root` (needs `bash tools/install-spec.sh`; env
//! `STATE_ROOT_RUNS` overrides the 5 timed runs per figure).

// A harness reports on stdout.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/witness_node.rs"]
#[allow(unreachable_pub, dead_code)]
mod witness_node;

use std::time::{Duration, Instant};

use avs_exex::{
    ExExContext,
    host::{Host, HostConfig, StateRootMode},
};
use avs_exex_stateless::{
    Verdict,
    test_utils::{Fixture, FullState, spec_bench_fixtures, spec_fixtures},
};
use futures::TryStreamExt;
use witness_node::{Behaviour, WitnessNode};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Re-executes the block over its witness (verification alone).
fn verify(fixture: &Fixture, proofs: &FullState) -> Duration {
    let witness = proofs.witness();
    let started = Instant::now();
    let verdict = fixture.verify(&fixture.header(), proofs.root, &witness);
    let elapsed = started.elapsed();
    assert_eq!(verdict, Verdict::Verified, "{}", fixture.name);
    elapsed
}

/// A host following `node` from the block: time until its ExEx has the block.
async fn deliver(node: &WitnessNode, fixture: &Fixture, mode: StateRootMode) -> Duration {
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = HostConfig::new(node.url(), data.path());
    config.start_block = fixture.header().number;
    config.poll_interval = Duration::from_millis(20);
    config.state_root.mode = Some(mode);
    config.state_root.rules = Some(fixture.rules());
    let mut host = Host::new(config, &prometheus::Registry::new()).expect("host");
    let (delivered, delivered_rx) = tokio::sync::oneshot::channel();
    host.install_exex("bench", move |mut ctx: ExExContext| async move {
        let first = ctx.notifications.try_next().await?;
        let _ = delivered.send(first.is_some());
        while ctx.notifications.try_next().await?.is_some() {}
        Ok(())
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let run = tokio::spawn(host.run(async move {
        let _ = stopped.await;
    }));
    assert!(
        tokio::time::timeout(Duration::from_secs(120), delivered_rx)
            .await
            .expect("delivered within 2 minutes")
            .expect("the ExEx reports"),
        "the host delivered the block"
    );
    let elapsed = started.elapsed();
    let _ = stop.send(());
    run.await.expect("host task").expect("host stops cleanly");
    elapsed
}

#[tokio::main]
async fn main() {
    // Under `cargo test` one run over the small spec blocks: the code stays tested, the
    // 30 Mgas block's 15 s of Python and the timed runs are for `cargo bench`.
    let (runs, fixtures) = if avs_test_support::bench_run() {
        let runs = std::env::var("STATE_ROOT_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5usize);
        println!("executing the bench blocks with the specification ...");
        (runs, spec_bench_fixtures())
    } else {
        (1, spec_fixtures().into_iter().take(2).collect())
    };
    println!(
        "| block | gas used | txs | witness nodes | witness KiB | verify (median of {runs}) | per Mgas | host delivery, off | host delivery, required | difference |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for fixture in &fixtures {
        let proofs = FullState::for_block(fixture);
        let witness = proofs.witness();
        let verify_time = median((0..runs).map(|_| verify(fixture, &proofs)).collect());
        let mgas = fixture.header().gas_used as f64 / 1e6;

        let node = WitnessNode::start(fixture, Behaviour::Honest).await;
        let mut off = Vec::new();
        let mut on = Vec::new();
        for _ in 0..runs {
            off.push(deliver(&node, fixture, StateRootMode::Off).await);
            on.push(deliver(&node, fixture, StateRootMode::Required).await);
        }
        let (off, on) = (median(off), median(on));
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | +{:.1} ms |",
            fixture.name,
            fixture.header().gas_used,
            fixture.txs.len(),
            witness.nodes.len(),
            witness.byte_len() as f64 / 1024.0,
            verify_time.as_secs_f64() * 1e3,
            verify_time.as_secs_f64() * 1e3 / mgas,
            off.as_secs_f64() * 1e3,
            on.as_secs_f64() * 1e3,
            (on.as_secs_f64() - off.as_secs_f64()) * 1e3,
        );
    }
}

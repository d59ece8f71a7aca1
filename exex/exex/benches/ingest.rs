//! End-to-end ingest rate of the host from a local anvil holding 2,000 blocks with transactions,
//! against the RPC floor (the same blocks and receipts fetched with the same concurrency, no
//! verification, no WAL, no delivery), the share of ingest time spent in verification (the bench
//! ExEx re-verifies every delivered block and times it, so ingest includes that work twice and
//! is pessimistic), and the peak RSS after ingest (the ExEx keeps no blocks).
//!
//! `cargo bench -p avs-exex --bench ingest` (env `INGEST_BLOCKS`, `INGEST_TXS_PER_BLOCK` override
//! the defaults 2000 and 5).

// A harness reports on stdout.
#![allow(clippy::print_stdout)]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    network::TransactionBuilder,
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::TransactionRequest,
};
use avs_exex::{
    ExExContext, ExExEvent,
    host::{Host, HostConfig},
    verify::verify_block,
};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::oneshot;

const CONCURRENCY: usize = 8;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    // Under `cargo test` a smoke run of 50 blocks; the 2,000 are for `cargo bench`.
    let blocks = env_or(
        "INGEST_BLOCKS",
        if avs_test_support::bench_run() {
            2_000
        } else {
            50
        },
    );
    let txs_per_block = env_or("INGEST_TXS_PER_BLOCK", 5);
    let anvil = avs_test_support::anvil().arg("--no-mining").spawn();
    let provider = ProviderBuilder::new().connect_http(anvil.endpoint_url());

    let started = Instant::now();
    let accounts = provider.get_accounts().await?;
    for _ in 0..blocks {
        let sends = (0..txs_per_block).map(|i| {
            let from = accounts[i as usize % accounts.len()];
            let tx = TransactionRequest::default()
                .with_from(from)
                .with_to(Address::repeat_byte(0x42))
                .with_value(U256::from(1));
            let provider = &provider;
            async move { provider.send_transaction(tx).await.map(|_| ()) }
        });
        futures::future::try_join_all(sends).await?;
        provider.evm_mine(None).await?;
    }
    let head = provider.get_block_number().await?;
    println!(
        "populated {head} blocks x {txs_per_block} txs in {:.1?}",
        started.elapsed()
    );

    // The host: fetch, verify, WAL, deliver to an ExEx that finishes every notification. It
    // runs first so that the peak RSS read right after it is the host's, not the floor's.
    let data = tempfile::tempdir()?;
    let mut config = HostConfig::new(anvil.endpoint(), data.path());
    config.fetch_concurrency = CONCURRENCY;
    config.batch_size = 100;
    config.poll_interval = Duration::from_millis(20);
    let mut host = Host::new(config, &prometheus::Registry::new())?;
    let stats = Arc::new(Mutex::new(Stats::default()));
    let (done_tx, done_rx) = oneshot::channel();
    let sink = Arc::clone(&stats);
    host.install_exex("bench", move |ctx| collect(ctx, sink, head, done_tx));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let started = Instant::now();
    let running = tokio::spawn(host.run(async move {
        let _ = stop_rx.await;
    }));
    done_rx.await?;
    let ingest = started.elapsed();
    let peak_rss_kib = peak_rss_kib();
    let _ = stop_tx.send(());
    running.await??;

    // RPC floor: the same requests the host makes, decoded, nothing else.
    let started = Instant::now();
    let fetched: usize = futures::stream::iter(0..=head)
        .map(|number| {
            let provider = &provider;
            async move {
                let block = provider
                    .get_block_by_number(BlockNumberOrTag::Number(number))
                    .full()
                    .await?
                    .ok_or_else(|| eyre::eyre!("missing block {number}"))?;
                let receipts = provider
                    .get_block_receipts(BlockId::hash(block.header.hash))
                    .await?
                    .unwrap_or_default();
                Ok::<_, eyre::Report>(receipts.len())
            }
        })
        .buffered(CONCURRENCY)
        .try_fold(0, |sum, n| async move { Ok(sum + n) })
        .await?;
    let rpc_floor = started.elapsed();

    let Stats {
        blocks: n,
        txs,
        verification,
    } = *stats.lock().expect("not poisoned");
    assert_eq!(n, head + 1, "the host delivered every block");
    assert_eq!(
        txs, fetched,
        "the host delivered every transaction the node has"
    );

    let per_s = |count: f64, d: Duration| count / d.as_secs_f64();
    let n = n as f64;
    println!("| path | time | blocks/s | tx/s |");
    println!("|---|---|---|---|");
    println!(
        "| RPC floor (fetch + decode only) | {rpc_floor:.2?} | {:.0} | {:.0} |",
        per_s(n, rpc_floor),
        per_s(txs as f64, rpc_floor)
    );
    println!(
        "| host ingest (fetch, verify, WAL, deliver) | {ingest:.2?} | {:.0} | {:.0} |",
        per_s(n, ingest),
        per_s(txs as f64, ingest)
    );
    println!(
        "| verification alone | {verification:.2?} | {:.0} | {:.0} |",
        per_s(n, verification),
        per_s(txs as f64, verification)
    );
    println!(
        "verification share of ingest: {:.2}%; ingest / RPC floor: {:.2}x; peak RSS after ingest: {} KiB",
        100.0 * verification.as_secs_f64() / ingest.as_secs_f64(),
        ingest.as_secs_f64() / rpc_floor.as_secs_f64(),
        peak_rss_kib.map_or_else(|| "n/a".to_owned(), |k| k.to_string()),
    );
    Ok(())
}

/// What the bench ExEx counts; it keeps no blocks, so the process's memory is the host's.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    blocks: u64,
    txs: usize,
    /// Time spent re-verifying each delivered block (the same work the host did once).
    verification: Duration,
}

/// Peak resident set size of this process (Linux `VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn collect(
    mut ctx: ExExContext,
    stats: Arc<Mutex<Stats>>,
    head: u64,
    done: oneshot::Sender<()>,
) -> eyre::Result<()> {
    let mut done = Some(done);
    while let Some(notification) = ctx.notifications.try_next().await? {
        let Some(chain) = notification.committed_chain() else {
            continue;
        };
        let started = Instant::now();
        for block in chain.blocks_iter() {
            verify_block(block)?;
        }
        let elapsed = started.elapsed();
        {
            let mut stats = stats.lock().expect("not poisoned");
            stats.blocks += chain.len() as u64;
            stats.txs += chain
                .blocks_iter()
                .map(|b| b.transactions().len())
                .sum::<usize>();
            stats.verification += elapsed;
        }
        ctx.events
            .send(ExExEvent::FinishedHeight(chain.tip().num_hash()))
            .await?;
        if chain.tip().number() >= head
            && let Some(done) = done.take()
        {
            let _ = done.send(());
        }
    }
    Ok(())
}

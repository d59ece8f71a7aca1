//! End-to-end ingest rate of the host from a local anvil holding 2,000 blocks with transactions,
//! against the RPC floor (the same blocks and receipts fetched with the same concurrency, no
//! verification, no WAL, no delivery), and the share of ingest time spent in verification.
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
    BlockWithReceipts, ExExContext, ExExEvent,
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
    let blocks = env_or("INGEST_BLOCKS", 2_000);
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

    // The host: fetch, verify, WAL, deliver to an ExEx that finishes every notification.
    let data = tempfile::tempdir()?;
    let mut config = HostConfig::new(anvil.endpoint(), data.path());
    config.fetch_concurrency = CONCURRENCY;
    config.batch_size = 100;
    config.poll_interval = Duration::from_millis(20);
    let mut host = Host::new(config, &prometheus::Registry::new())?;
    let received = Arc::new(Mutex::new(Vec::<BlockWithReceipts>::new()));
    let (done_tx, done_rx) = oneshot::channel();
    let sink = Arc::clone(&received);
    host.install_exex("bench", move |ctx| collect(ctx, sink, head, done_tx));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let started = Instant::now();
    let running = tokio::spawn(host.run(async move {
        let _ = stop_rx.await;
    }));
    done_rx.await?;
    let ingest = started.elapsed();
    let _ = stop_tx.send(());
    running.await??;

    let blocks_received = received.lock().expect("not poisoned");
    let txs: usize = blocks_received.iter().map(|b| b.transactions().len()).sum();
    assert_eq!(
        txs, fetched,
        "the host delivered every transaction the node has"
    );
    let started = Instant::now();
    for block in blocks_received.iter() {
        verify_block(block)?;
    }
    let verification = started.elapsed();

    let per_s = |n: f64, d: Duration| n / d.as_secs_f64();
    let n = blocks_received.len() as f64;
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
        "verification share of ingest: {:.2}%; ingest / RPC floor: {:.2}x",
        100.0 * verification.as_secs_f64() / ingest.as_secs_f64(),
        ingest.as_secs_f64() / rpc_floor.as_secs_f64()
    );
    Ok(())
}

async fn collect(
    mut ctx: ExExContext,
    sink: Arc<Mutex<Vec<BlockWithReceipts>>>,
    head: u64,
    done: oneshot::Sender<()>,
) -> eyre::Result<()> {
    let mut done = Some(done);
    while let Some(notification) = ctx.notifications.try_next().await? {
        let Some(chain) = notification.committed_chain() else {
            continue;
        };
        sink.lock()
            .expect("not poisoned")
            .extend(chain.blocks_iter().cloned());
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

//! Time from the signature that completes quorum to a *submitted and mined* aggregate, through
//! one node's real pipeline, for 10, 50 and 200 operators; and the node's CPU per validated
//! signature.
//!
//! ```sh
//! just tools && cargo run --release -p avs-p2p --example submit_latency
//! ```
//!
//! Set-up: one anvil (automine, one account per operator plus spares) with EigenLayer's real
//! contracts and the AVS deployed; operators are onboarded through the real registries with
//! real BN254 keys and equal stake, growing from 10 to 50 to 200 (a task's operator set is the
//! one registered at its creation block). Per task the quorum is the smallest number of equal
//! stakes that meets the devnet's 66 % threshold: 7 of 10, 33 of 50, 132 of 200.
//!
//! The node under test is operator 0: a real [`Network`] and [`SignatureService`] (aggregation
//! window 0, submit slot 0, so whatever its rank it submits as soon as the aggregate is ready)
//! and a real [`Submitter`] paying from its own account, all on one current-thread tokio
//! runtime on its own OS thread — so that thread's CPU time (`/proc/thread-self/schedstat`) is
//! the node's CPU. The other operators are simulated: a second real swarm on loopback gossips
//! their real signatures to the node, which decodes, rate-limits, batch-validates, aggregates
//! and reports verdicts as it would for any peer. That one peer forwards every signature, so
//! the node's per-peer rate limit is raised; nothing else is changed.
//!
//! Per task: the node publishes its own signature and the simulated signers all but the last
//! needed one; once the node has accepted those (so quorum is exactly one signature away), the
//! last needed signature is published and the clock starts. Measured from there: (1) the
//! service's `SubmitDue` event (aggregate built and pairing-checked), (2) the `respondToTask`
//! transaction accepted by the node's RPC (`eth_sendRawTransaction` returned), (3) the
//! `Submitter` holding its successful receipt (receipts polled every 5 ms). CPU per validated
//! signature is the node thread's CPU while it took in the quorum minus one signatures,
//! divided by their number.

// Printing the table is what this example is for.
#![allow(clippy::print_stdout)]

use alloy::{
    network::{Ethereum, EthereumWallet},
    providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder, RootProvider},
    signers::local::PrivateKeySigner,
    transports::TransportResult,
};
use avs_contracts::{
    avs::IAvsTaskManager::Task,
    deployment::Deployment,
    sender::{ConfirmPolicy, SenderConfig, WalletSender},
    testing::TestDevnet,
};
use avs_p2p::{
    Channel, Network, NetworkConfig, NetworkHandle, OperatorId, RegistryReader, ServiceConfig,
    ServiceEvent, ServiceHandle, SignatureMessage, SignatureService, SubmitError, SubmitMetrics,
    SubmitOutcome, Submitter, TaskResponse, Verdict,
};
use libp2p::{Multiaddr, identity::Keypair, multiaddr::Protocol};
use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot};

/// Operator counts measured, in order (operators are only ever added).
const SIZES: [usize; 3] = [10, 50, 200];
/// Tasks measured per operator count.
const TASKS_PER_SIZE: usize = 5;
/// Stake of every operator, in whole devnet tokens.
const STAKE: u128 = 10;
/// Bound on every wait for the node (acceptance, submission, connectivity).
const WAIT: Duration = Duration::from_secs(60);
/// How often the submitter polls for its receipt: the resolution of figure (3).
const RECEIPT_POLL: Duration = Duration::from_millis(5);

/// Tasks as created, shared with the node's driver (an aggregate carries only the index).
type Tasks = Arc<Mutex<HashMap<u32, Task>>>;

/// What the node's driver reports to the harness.
#[derive(Debug)]
enum Report {
    Accepted {
        task_index: u32,
    },
    Submitted {
        task_index: u32,
        due_at: Instant,
        sent_at: Option<Instant>,
        done_at: Instant,
        non_signers: usize,
        outcome: Result<SubmitOutcome, SubmitError>,
    },
    Failed(String),
}

/// One measured task.
struct Sample {
    due: Duration,
    sent: Duration,
    mined: Duration,
    cpu_per_signature: Option<Duration>,
    gas_used: u64,
    non_signers: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> eyre::Result<()> {
    let max = SIZES[SIZES.len() - 1];
    // Account 0 owns the deployment, 1..=max are operators, the last one pays the node's
    // submissions (an account no operator registration touches).
    let anvil = avs_test_support::anvil()
        .args(["--accounts", &(max + 10).to_string()])
        .spawn();
    let payer: PrivateKeySigner = anvil.keys()[max + 9].clone().into();
    eprintln!(
        "deploying EigenLayer + AVS, onboarding {} operators",
        SIZES[0]
    );
    let started = Instant::now();
    let mut devnet = TestDevnet::on(anvil, &vec![STAKE; SIZES[0]], |config| {
        config.eigenlayer.quorum.max_operator_count = u32::try_from(max)
            .expect("small")
            .max(config.eigenlayer.quorum.max_operator_count);
    })
    .await?;
    let me = OperatorId(devnet.operators[0].operator_id);
    let tasks: Tasks = Arc::default();
    let mut node = Node::start(&devnet, payer, me, Arc::clone(&tasks)).await?;
    let peer = Peer::start(&devnet, node.tcp_addr()).await?;
    wait_connected(node.service.network(), &peer.handle).await?;
    let mut reader = RegistryReader::new(devnet.provider.clone(), &devnet.deployment);

    let mut rows = Vec::new();
    for n in SIZES {
        while devnet.operators.len() < n {
            devnet.add_operator(STAKE).await?;
            let have = devnet.operators.len();
            if have % 25 == 0 || have == n {
                eprintln!(
                    "  {have}/{n} operators onboarded ({:.0?} so far)",
                    started.elapsed()
                );
            }
        }
        let mut samples = Vec::new();
        for round in 0..TASKS_PER_SIZE {
            let sample = measure_task(&devnet, &mut reader, &mut node, &peer, &tasks).await?;
            eprintln!(
                "  n={n} task {}/{TASKS_PER_SIZE}: ready {:.1?}, sent {:.1?}, mined {:.1?}",
                round + 1,
                sample.due,
                sample.sent,
                sample.mined
            );
            samples.push(sample);
        }
        rows.push((n, samples));
    }

    println!(
        "| operators | quorum | non-signers | (1) aggregate ready (SubmitDue) median / max | (2) respondToTask sent median / max | (3) receipt mined median / max | node CPU per validated signature (median) | gas used (median) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (n, samples) in &rows {
        let ms = |f: fn(&Sample) -> Duration| {
            let (median, max) = median_max(samples.iter().map(f).collect());
            format!("{} / {}", fmt_ms(median), fmt_ms(max))
        };
        let cpu: Vec<Duration> = samples.iter().filter_map(|s| s.cpu_per_signature).collect();
        let cpu = if cpu.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{:.0} µs", median_max(cpu).0.as_secs_f64() * 1e6)
        };
        let mut gas: Vec<u64> = samples.iter().map(|s| s.gas_used).collect();
        gas.sort_unstable();
        let non_signers = samples[0].non_signers;
        println!(
            "| {n} | {} | {non_signers} | {} | {} | {} | {cpu} | {} |",
            n - non_signers,
            ms(|s| s.due),
            ms(|s| s.sent),
            ms(|s| s.mined),
            gas[gas.len() / 2],
        );
    }
    eprintln!("done in {:.0?}", started.elapsed());
    peer.handle.shutdown().await;
    node.service.network().shutdown().await;
    Ok(())
}

/// Runs one task through the node and returns its timings.
async fn measure_task(
    devnet: &TestDevnet,
    reader: &mut RegistryReader<DynProvider>,
    node: &mut Node,
    peer: &Peer,
    tasks: &Tasks,
) -> eyre::Result<Sample> {
    let (task_index, task, response) = devnet.next_task().await?;
    let info = reader.task_info(task_index, &task).await?;
    let n = info.operators.operators.len();
    eyre::ensure!(
        n == devnet.operators.len(),
        "task {task_index} has {n} operators, {} were onboarded",
        devnet.operators.len()
    );
    // Equal stakes: the smallest count whose stake meets the threshold, as the aggregator
    // computes it (signed × 100 ≥ total × threshold).
    let threshold = usize::from(info.quorum_threshold_percentage);
    let quorum = (n * threshold).div_ceil(100);
    eyre::ensure!(quorum >= 2, "quorum of {quorum}: nothing to measure");
    tasks
        .lock()
        .expect("tasks lock")
        .insert(task_index, task.clone());
    // Signing is the signers' work, not the node's: done before any clock starts.
    let response = TaskResponse::from(&response);
    let digest = info.digest(&response);
    let task_hash = info.attestation.task.hash();
    node.service.add_task(info).await?;

    let messages: Vec<SignatureMessage> = devnet.operators[..quorum]
        .iter()
        .map(|op| SignatureMessage {
            task_index,
            response,
            signature: op.bls.sign(digest).to_bytes(),
            operator_id: OperatorId(op.operator_id),
            task_hash,
        })
        .collect();
    let (last, before) = messages.split_last().expect("quorum >= 2");
    let (own, others) = before.split_first().expect("quorum >= 2");

    // Quorum minus one: the node's own signature and the simulated signers' through gossip.
    let cpu_before = node.cpu().await;
    node.service.publish_own(*own).await?;
    for message in others {
        peer.handle
            .publish(Channel::Deployment, (*message).into())
            .await?;
    }
    let mut accepted = 0;
    while accepted < before.len() {
        match node.next_report(task_index).await? {
            Report::Accepted { .. } => accepted += 1,
            Report::Submitted { .. } => {
                eyre::bail!("task {task_index} submitted before its last needed signature")
            }
            Report::Failed(e) => eyre::bail!("node failed: {e}"),
        }
    }
    let cpu_after = node.cpu().await;
    let cpu_per_signature = cpu_before.zip(cpu_after).map(|(b, a)| {
        a.saturating_sub(b) / u32::try_from(before.len()).expect("fewer than 2^32 signatures")
    });

    // The last needed signature: the clock starts when it is handed to the network.
    let start = Instant::now();
    peer.handle
        .publish(Channel::Deployment, (*last).into())
        .await?;
    let sample = loop {
        match node.next_report(task_index).await? {
            Report::Accepted { .. } => {}
            Report::Submitted {
                due_at,
                sent_at,
                done_at,
                non_signers,
                outcome,
                ..
            } => {
                let gas_used = match outcome {
                    Ok(SubmitOutcome::Responded { gas_used, .. }) => gas_used,
                    other => eyre::bail!("task {task_index} not answered by the node: {other:?}"),
                };
                let sent_at = sent_at.ok_or_else(|| eyre::eyre!("no transaction was sent"))?;
                break Sample {
                    due: due_at - start,
                    sent: sent_at - start,
                    mined: done_at - start,
                    cpu_per_signature,
                    gas_used,
                    non_signers,
                };
            }
            Report::Failed(e) => eyre::bail!("node failed: {e}"),
        }
    };
    eyre::ensure!(
        sample.non_signers == n - quorum,
        "aggregate of task {task_index} has {} non-signers, expected {}",
        sample.non_signers,
        n - quorum
    );
    // What the node's ExEx does once the response can no longer be reorged out (the
    // tasks here are independent: none is kept for the next one's turns).
    node.service.task_closed(task_index).await?;
    Ok(sample)
}

/// The node under test, running on its own thread; see the module docs.
struct Node {
    service: ServiceHandle,
    reports: mpsc::Receiver<Report>,
    cpu: mpsc::Sender<oneshot::Sender<Option<Duration>>>,
}

impl Node {
    async fn start(
        devnet: &TestDevnet,
        payer: PrivateKeySigner,
        me: OperatorId,
        tasks: Tasks,
    ) -> eyre::Result<Self> {
        let mut config = network_config(&devnet.deployment, Vec::new());
        // One simulated peer forwards every other operator's signature; the default limit is
        // sized for a peer forwarding its share of a real network's traffic.
        config.peer_rate_per_sec = 10_000;
        config.peer_burst = 10_000;
        let rpc = devnet.anvil.endpoint_url();
        let deployment = devnet.deployment.clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("node-under-test".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("node runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let network = match Network::start(Keypair::generate_ed25519(), config).await {
                        Ok(n) => n,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("node network: {e}")));
                            return;
                        }
                    };
                    let SignatureService {
                        handle, mut events, ..
                    } = SignatureService::spawn(
                        network,
                        ServiceConfig {
                            aggregation_window: Duration::ZERO,
                            submit_slot: Duration::ZERO,
                            local_operator: Some(me),
                            ..ServiceConfig::default()
                        },
                    );
                    let (cpu_tx, mut cpu_rx) = mpsc::channel::<oneshot::Sender<_>>(4);
                    let (report_tx, report_rx) = mpsc::channel(4096);
                    let _ = ready_tx.send(Ok((handle, report_rx, cpu_tx)));
                    // Answered on this thread, so it reads this thread's CPU clock.
                    tokio::spawn(async move {
                        while let Some(reply) = cpu_rx.recv().await {
                            let _ = reply.send(thread_cpu_time());
                        }
                    });
                    let clock =
                        SendClock::new(ProviderBuilder::new().connect_http(rpc.clone()).erased());
                    let chain_id = deployment.chain_id;
                    let sender = WalletSender::new(
                        clock.clone().erased(),
                        EthereumWallet::from(payer),
                        chain_id,
                        SenderConfig {
                            poll_interval: RECEIPT_POLL,
                            ..SenderConfig::default()
                        },
                    );
                    let submitter = Submitter::new(
                        Arc::new(sender),
                        deployment,
                        ConfirmPolicy {
                            receipt_timeout: WAIT,
                            ..ConfirmPolicy::default()
                        },
                        SubmitMetrics::register(&prometheus::Registry::new())
                            .expect("fresh registry"),
                    );
                    drive(&mut events, &submitter, &clock, &tasks, &report_tx).await;
                });
            })?;
        let (service, reports, cpu) = ready_rx
            .await
            .map_err(|_| eyre::eyre!("node thread ended before starting"))?
            .map_err(|e| eyre::eyre!(e))?;
        Ok(Self {
            service,
            reports,
            cpu,
        })
    }

    /// The node's TCP address, for the simulated peer to dial.
    fn tcp_addr(&self) -> Multiaddr {
        self.service
            .network()
            .listen_addrs()
            .iter()
            .find(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
            .cloned()
            .expect("the node listens on TCP")
    }

    /// CPU time the node's thread has used so far, if the platform reports it.
    async fn cpu(&self) -> Option<Duration> {
        let (tx, rx) = oneshot::channel();
        self.cpu.send(tx).await.ok()?;
        rx.await.ok().flatten()
    }

    /// The node's next report about `task_index` (reports about other tasks are stale).
    async fn next_report(&mut self, task_index: u32) -> eyre::Result<Report> {
        tokio::time::timeout(WAIT, async {
            loop {
                let report = self
                    .reports
                    .recv()
                    .await
                    .ok_or_else(|| eyre::eyre!("the node stopped"))?;
                match &report {
                    Report::Accepted { task_index: t }
                    | Report::Submitted { task_index: t, .. }
                        if *t != task_index => {}
                    _ => return Ok(report),
                }
            }
        })
        .await
        .map_err(|_| eyre::eyre!("no report about task {task_index} within {WAIT:?}"))?
    }
}

/// What `bin/avs-node`'s bridge does with the service's events: submit when due.
async fn drive(
    events: &mut mpsc::Receiver<ServiceEvent>,
    submitter: &Submitter,
    clock: &SendClock,
    tasks: &Tasks,
    reports: &mpsc::Sender<Report>,
) {
    while let Some(event) = events.recv().await {
        let report = match event {
            ServiceEvent::Accepted { task_index, .. } => Report::Accepted { task_index },
            ServiceEvent::SubmitDue(aggregate) => {
                let due_at = Instant::now();
                let task = tasks
                    .lock()
                    .expect("tasks lock")
                    .get(&aggregate.task_index)
                    .cloned();
                let Some(task) = task else {
                    Report::Failed(format!("task {} unknown", aggregate.task_index))
                        .send(reports)
                        .await;
                    continue;
                };
                clock.reset();
                let outcome = submitter.submit(&aggregate, &task).await;
                Report::Submitted {
                    task_index: aggregate.task_index,
                    due_at,
                    sent_at: clock.last_sent(),
                    done_at: Instant::now(),
                    non_signers: aggregate.signed.non_signers.len(),
                    outcome,
                }
            }
            ServiceEvent::AggregationFailed(e) => Report::Failed(e),
            ServiceEvent::QuorumReached { .. } | ServiceEvent::Equivocation(_) => continue,
        };
        if !report.send(reports).await {
            return;
        }
    }
}

impl Report {
    async fn send(self, to: &mpsc::Sender<Self>) -> bool {
        to.send(self).await.is_ok()
    }
}

/// The simulated signers' swarm: a real libp2p node that publishes their signatures.
struct Peer {
    handle: NetworkHandle,
}

impl Peer {
    async fn start(devnet: &TestDevnet, node: Multiaddr) -> eyre::Result<Self> {
        let config = network_config(&devnet.deployment, vec![node]);
        let Network {
            handle,
            mut inbound,
            ..
        } = Network::start(Keypair::generate_ed25519(), config).await?;
        // It receives the node's own signature; answering keeps gossipsub's cache clean.
        let reporter = handle.clone();
        tokio::spawn(async move {
            while let Some(message) = inbound.recv().await {
                if reporter.report(message.id, Verdict::Ignore).await.is_err() {
                    return;
                }
            }
        });
        Ok(Self { handle })
    }
}

/// Loopback TCP on an ephemeral port, the deployment's topic, a fast heartbeat.
fn network_config(deployment: &Deployment, bootnodes: Vec<Multiaddr>) -> NetworkConfig {
    let mut config = NetworkConfig::new(deployment.chain_id, deployment.avs.task_manager);
    config.listen_addrs = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("static multiaddr")];
    config.bootnodes = bootnodes;
    config.heartbeat_interval = Duration::from_millis(100);
    config
}

/// Waits until the node and the peer see each other subscribed to the signature topic.
async fn wait_connected(node: &NetworkHandle, peer: &NetworkHandle) -> eyre::Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (a, b) = (node.status().await?, peer.status().await?);
        if a.subscribed.contains(&peer.peer_id()) && b.subscribed.contains(&node.peer_id()) {
            return Ok(());
        }
        eyre::ensure!(
            Instant::now() < deadline,
            "node and simulated peer not subscribed to each other within {WAIT:?}"
        );
        // Status polling: the swarm has no event for "peer subscribed".
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A provider that notes when `eth_sendRawTransaction` returned, for figure (2); everything
/// else goes to the wrapped provider unchanged.
#[derive(Clone)]
struct SendClock {
    inner: DynProvider,
    last_sent: Arc<Mutex<Option<Instant>>>,
}

/// The boxed future `Provider::send_raw_transaction` returns (the trait is `async_trait`).
type SendFuture<'a> =
    Pin<Box<dyn Future<Output = TransportResult<PendingTransactionBuilder<Ethereum>>> + Send + 'a>>;

impl SendClock {
    fn new(inner: DynProvider) -> Self {
        Self {
            inner,
            last_sent: Arc::default(),
        }
    }

    fn reset(&self) {
        *self.last_sent.lock().expect("clock lock") = None;
    }

    fn last_sent(&self) -> Option<Instant> {
        *self.last_sent.lock().expect("clock lock")
    }
}

impl Provider for SendClock {
    fn root(&self) -> &RootProvider {
        self.inner.root()
    }

    fn send_raw_transaction<'s, 'tx, 'fut>(&'s self, encoded_tx: &'tx [u8]) -> SendFuture<'fut>
    where
        's: 'fut,
        'tx: 'fut,
        Self: 'fut,
    {
        Box::pin(async move {
            let sent = self.inner.send_raw_transaction(encoded_tx).await;
            if sent.is_ok() {
                *self.last_sent.lock().expect("clock lock") = Some(Instant::now());
            }
            sent
        })
    }
}

/// CPU time of the calling thread, from `/proc/thread-self/schedstat` (nanoseconds on CPU);
/// `None` where that file does not exist.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn median_max(mut values: Vec<Duration>) -> (Duration, Duration) {
    values.sort_unstable();
    (values[values.len() / 2], values[values.len() - 1])
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

//! One operator node: the ExEx host following the settlement chain, the AVS ExEx, the p2p
//! signature service and the submitter, wired along the data flow of the design:
//!
//! ```text
//! node ─▶ host ─▶ AVS ExEx ─AvsEvent─▶ bridge ─▶ SignatureService (gossip, validate, aggregate)
//!                                          ◀─ ServiceEvent::SubmitDue ─┘
//!                                          └─▶ Submitter ─▶ respondToTask ─▶ TaskResponded
//!                                                                      (back through the host)
//! ```
//!
//! In two-chain mode a second host follows the attested chain's node; its one ExEx
//! (`attested_chain_exex`) feeds the AVS ExEx's view of the attested blocks. Both hosts stop on
//! the same signal, and either failing stops the node.
//!
//! The bridge is the only place where the ExEx's events meet the network: it registers each new
//! task with the service (with the operator set at the task's reference block, read from the
//! registries), publishes this node's own signatures, closes tasks once answered, and hands
//! aggregates to the submitter when this node's submission slot comes.

use crate::{
    challenge::{self, Challenge},
    evidence::{self, EvidenceRecord},
    health::{ComponentHealth, HealthRegistry, ServiceStatus},
    metrics::{EigenMetrics, NodeMetrics},
    operator_peers::{OperatorPeers, PeerChanges},
    retry_schedule::{GaveUp, RetrySchedule},
    rpc_metrics::RpcMetricsLayer,
    shutdown::Shutdown,
    status::{SAMPLE_INTERVAL, StatusSampler},
};
use alloy::{
    network::EthereumWallet,
    primitives::{B256, Bytes},
    providers::{DynProvider, Provider},
    rpc::client::RpcClient,
    signers::local::PrivateKeySigner,
};
use avs_bls::SecretKey;
use avs_checkpoint::{
    AttestDepth, AttestedChain, AvsConfig, AvsDeps, AvsEvent, AvsMetrics, ContractTaskCreator,
    DisputedResponse, FaultMode, GeneratorConfig, RegistryReader, SignedResponse,
    SlashingProtectionStore, SubmitRefusal, TaskBook, attested_chain_exex, avs_exex,
};
use avs_contracts::{
    avs::IAvsTaskManager::Task,
    deployment::Deployment,
    sender::{ConfirmPolicy, SendError, SenderConfig, WalletSender},
    transactor::{Transactor, wallet_provider_on},
};
use avs_exex::host::{FollowMode, Host, HostConfig, StateRootMode};
use avs_p2p::{
    Aggregate, Equivocation, Network, NetworkConfig, NetworkError, OperatorId, Reachability,
    RegistryReader as OperatorSetReader, ServiceConfig, ServiceError, ServiceEvent, ServiceHandle,
    SignatureJournal, SignatureMessage, SignatureMetrics, SignatureService, SubmitError,
    SubmitMetrics, SubmitOutcome, Submitter, TaskInfo, journal, load_or_create_identity,
    reachability,
};
use backon::{BackoffBuilder, ConstantBuilder, ExponentialBuilder, Retryable};
use eyre::WrapErr;
use futures::FutureExt;
use std::{collections::HashSet, future::Future, path::PathBuf, sync::Arc, time::Duration};
use tokio::sync::mpsc;

/// Capacity of the ExEx → bridge channel (a slow network slows the ExEx, not memory).
const AVS_EVENT_CAPACITY: usize = 256;
/// Own-signature retries while the gossip mesh forms: one a second for a minute.
const REPUBLISH_INTERVAL: Duration = Duration::from_secs(1);
const REPUBLISH_ATTEMPTS: usize = 60;

/// Everything one node needs, already validated and with its keys decrypted.
#[derive(Debug)]
pub struct NodeParams {
    /// HTTP JSON-RPC of the settlement chain's node.
    pub settlement_http: String,
    /// Optional WebSocket endpoint of the same node (new-head subscription).
    pub settlement_ws: Option<String>,
    /// The attested chain's node in two-chain mode; `None` attests the settlement chain.
    pub attested: Option<AttestedNode>,
    /// The deployment (already checked against the chain).
    pub deployment: Deployment,
    /// WAL, finished heights, slashing-protection record, p2p identity and signature journal.
    pub data_dir: PathBuf,
    /// The operator's BLS key.
    pub bls_key: SecretKey,
    /// The node's wallet (submits responses, creates tasks as a generator).
    pub wallet: PrivateKeySigner,
    /// Libp2p configuration (topic from the deployment).
    pub network: NetworkConfig,
    /// Create checkpoint tasks too.
    pub task_generator: bool,
    /// Blocks behind the head the host follows.
    pub confirmations: u64,
    /// How deep an attested block must be to be signed or tasked (in two-chain mode, the
    /// attested node's [`AttestedNode::attest_depth`]).
    pub attest_depth: AttestDepth,
    /// Recent blocks kept for reorgs (a deeper reorg stops the node).
    pub reorg_window: u64,
    /// Delay between consecutive submitter ranks.
    pub submit_slot: Duration,
    /// Extra collection time after quorum.
    pub aggregation_window: Duration,
    /// Highest `maxFeePerGas` any transaction of the wallet pays, in wei.
    pub max_fee_per_gas: u128,
    /// Settlement blocks between refreshes of changed stakes (task generator only; 0: never).
    pub stake_refresh_blocks: u64,
    /// Challenge responses that differ from this node's view (watchtower).
    pub challenger: bool,
    /// State-root verification of the attested chain (`None`: chosen at start).
    pub state_root_verification: Option<StateRootMode>,
    /// Test-only misbehaviour (devnet chain ids only).
    pub fault_mode: FaultMode,
}

/// The node of the attested chain when it is not the settlement chain (two-chain mode): a
/// second host follows it and feeds the AVS ExEx's view of the attested blocks.
#[derive(Debug, Clone)]
pub struct AttestedNode {
    /// Its chain id (not the settlement chain's).
    pub chain_id: u64,
    /// HTTP JSON-RPC.
    pub http: String,
    /// Optional WebSocket endpoint (new-head subscription).
    pub ws: Option<String>,
    /// Its head when the node started: a fresh data directory starts following the attested
    /// chain one retention window below it (older checkpoints are not tasked any more).
    pub head: u64,
    /// Attested blocks kept (view and WAL); `None`: as many as of the settlement chain.
    pub retention_blocks: Option<u64>,
    /// How deep its blocks must be to be signed or tasked.
    pub attest_depth: AttestDepth,
}

/// Where the node reports: the metrics registry every component registers into, EigenLayer's
/// standard metrics and the Node API's health registry.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// The process's Prometheus registry.
    pub registry: prometheus::Registry,
    /// EigenLayer's standard metrics (already registered).
    pub eigen: EigenMetrics,
    /// The Node API's services.
    pub health: HealthRegistry,
}

/// Runs the node until `shutdown` completes or a component fails.
pub async fn run_node(
    params: NodeParams,
    telemetry: Telemetry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> eyre::Result<()> {
    let metrics = &telemetry.registry;
    let attested_retention = params.attested_retention();
    let NodeParams {
        deployment,
        data_dir,
        bls_key,
        wallet,
        ..
    } = params;
    let deployment = Arc::new(deployment);
    let operator_id = bls_key.public_key().operator_id();
    let wallet_provider =
        instrumented_provider(&params.settlement_http, wallet.clone(), &telemetry.eigen)
            .await
            .wrap_err_with(|| {
                format!(
                    "connecting to the settlement RPC {}",
                    params.settlement_http
                )
            })?;
    // The wallet's one sender: the generator, the submitter and the challenger all pay from
    // this wallet, and sending through one owner keeps them from reading the same pending
    // nonce and replacing or blocking each other's transactions; it applies the one fee cap.
    let wallet_sender = Arc::new(WalletSender::new(
        wallet_provider.clone(),
        EthereumWallet::from(wallet.clone()),
        deployment.chain_id,
        SenderConfig {
            max_fee_per_gas: params.max_fee_per_gas,
            ..SenderConfig::default()
        },
    ));

    // p2p: identity, swarm, signature service.
    let identity = load_or_create_identity(&data_dir.join("p2p/node.key"))?;
    let mut network_config = params.network;
    network_config.peer_store = Some(data_dir.join("p2p/peers.json"));
    let network = Network::start(identity, network_config).await?;
    // Partial signature sets survive a restart: the journal's signatures are counted again
    // when the ExEx re-derives their (still open) tasks.
    let journal = SignatureJournal::open(
        &data_dir.join("p2p/signatures.journal"),
        journal::DEFAULT_MAX_RECORDS,
    )
    .await?;
    let service = SignatureService::spawn_with_journal(
        network,
        ServiceConfig {
            aggregation_window: params.aggregation_window,
            submit_slot: params.submit_slot,
            local_operator: Some(operator_id),
            metrics: Some(SignatureMetrics::register(metrics)?),
            ..ServiceConfig::default()
        },
        journal,
    );
    let node_metrics = NodeMetrics::register(metrics)?;
    let sampler = tokio::spawn(
        StatusSampler {
            network: service.handle.network().clone(),
            provider: wallet_provider.clone(),
            wallet: wallet.address(),
            node: node_metrics.clone(),
            eigen: telemetry.eigen.clone(),
            health: telemetry.health.clone(),
            p2p: telemetry.health.register(
                "p2p",
                "signature gossip",
                "libp2p peers of the signature topic",
            ),
        }
        .run(SAMPLE_INTERVAL),
    );

    // The host and the AVS ExEx. `confirmations` keeps the node behind the attested chain's
    // head; in two-chain mode the settlement chain's task logs are followed at the head (their
    // reorgs are handled like any other).
    let mut settlement_config = host_config(
        &params.settlement_http,
        params.settlement_ws.clone(),
        data_dir.join("host"),
        deployment.deployment_block,
        if params.attested.is_some() {
            0
        } else {
            params.confirmations
        },
        params.reorg_window,
    );
    // The settlement host re-executes blocks only when it follows the attested chain too.
    settlement_config.state_root.mode = if params.attested.is_some() {
        Some(StateRootMode::Off)
    } else {
        params.state_root_verification
    };
    let mut host = Host::new(settlement_config, metrics)?;
    let mut config = AvsConfig::same_chain(
        deployment.chain_id,
        deployment.avs.task_manager,
        deployment.eigenlayer.registry_coordinator,
        deployment.eigenlayer.operator_state_retriever,
    );
    let retention = retention_blocks(params.reorg_window, &deployment);
    config.retention_blocks = retention;
    if let Some(node) = &params.attested {
        config.attested_chain_id = node.chain_id;
    }
    config.fault_mode = params.fault_mode;
    let deps_metrics = AvsMetrics::register(metrics)?;
    let generator = params.task_generator.then(|| {
        let avs = &deployment.params.avs;
        config.generator = Some(GeneratorConfig {
            interval: avs.checkpoint_interval,
            confirmations: 1,
            quorum_threshold_percentage: avs.quorum_threshold_percentage.into(),
            quorum_numbers: Bytes::from(avs.quorum_numbers.clone()),
            // A creation not mined within 16 blocks (3 minutes on Ethereum) is sent again.
            confirm_within_blocks: 16,
        });
        ContractTaskCreator::new(
            Arc::clone(&wallet_sender),
            &deployment,
            Duration::from_secs(30),
        )
        .with_stake_refresh(params.stake_refresh_blocks, &deps_metrics)
    });
    config.validate()?;
    let store =
        SlashingProtectionStore::open(crate::datadir::slashing_protection_path(&data_dir)).await?;
    let (events_tx, events_rx) = mpsc::channel(AVS_EVENT_CAPACITY);
    let attested = AttestedChain::new(
        config.attested_chain_id,
        usize::try_from(attested_retention).unwrap_or(usize::MAX),
    )
    .with_depth(params.attest_depth);
    tracing::info!(
        chain = config.attested_chain_id,
        depth = %params.attest_depth,
        "attesting blocks at this depth"
    );
    let attested_host = params
        .attested
        .as_ref()
        .map(|node| {
            // Its WAL is kept per chain id, so pointing `attested_rpc_url` at another chain
            // never replays the previous chain's blocks into the view.
            let mut attested_config = host_config(
                &node.http,
                node.ws.clone(),
                data_dir.join(format!("attested-host-{}", node.chain_id)),
                node.head.saturating_sub(attested_retention),
                params.confirmations,
                params.reorg_window,
            );
            attested_config.metrics_namespace = "avs_exex_attested_host".to_owned();
            attested_config.state_root.mode = params.state_root_verification;
            attested_host(attested_config, attested_retention, &attested, metrics)
        })
        .transpose()?;
    // The ExEx owns every task's lifecycle; the bridge and the submitter read it here.
    let tasks = TaskBook::new();
    let exex_tasks = tasks.clone();
    host.install_exex("avs", move |ctx| async move {
        let deps = AvsDeps {
            registry: RegistryReader::new(
                ctx.provider.clone(),
                config.operator_state_retriever,
                config.registry_coordinator,
            ),
            config,
            bls_key,
            store,
            generator,
            attested,
            events: events_tx,
            metrics: deps_metrics,
            tasks: exex_tasks,
        };
        avs_exex(ctx, deps).await.map_err(Into::into)
    });

    let head = wallet_provider
        .get_block_number()
        .await
        .wrap_err("reading the settlement chain's head")?;
    let bridge = Bridge {
        service: service.handle.clone(),
        operator_id,
        metrics: node_metrics,
        eigen: telemetry.eigen.clone(),
        operators: OperatorSetReader::new(wallet_provider.clone(), &deployment),
        submitter: Arc::new(Submitter::new(
            Arc::clone(&wallet_sender),
            Deployment::clone(&deployment),
            ConfirmPolicy::default(),
            SubmitMetrics::register(metrics)?,
        )),
        tasks,
        reachability: OperatorReachability {
            tracker: Reachability::new(
                reachability::DEFAULT_WINDOW,
                Some(operator_id),
                reachability::DEFAULT_WARM_UP,
            ),
            health: telemetry.health.register(
                "reachability",
                "operator reachability",
                "stake of the operators this node hears signatures from, against the task threshold",
            ),
            below: false,
        },
        operator_peers: OperatorPeers::new(
            operator_id,
            service.handle.network().peer_id(),
            crate::config::DEVNET_CHAIN_IDS.contains(&deployment.chain_id),
        ),
        evidence: data_dir.join(evidence::FILE_NAME),
        settlement_chain_id: deployment.chain_id,
        challenger: params.challenger.then(|| {
            Arc::new(Challenger {
                sender: wallet_sender,
                deployment: Arc::clone(&deployment),
                challenged: std::sync::Mutex::new(HashSet::new()),
            })
        }),
    };
    let bridge = tokio::spawn(bridge.run(head, events_rx, service.events));
    let _sampler = AbortOnDrop(sampler);
    // One stop for every part: the node's shutdown, or any part ending (a node that cannot
    // follow one of its chains, or whose bridge failed, must not sit idle looking healthy).
    let stop = Shutdown::new();
    let signal = {
        let stop = stop.clone();
        async move {
            tokio::select! {
                () = shutdown => {}
                () = stop.wait() => {}
            }
        }
    }
    .shared();
    let settlement = async {
        let result = host.run(signal.clone()).await.map_err(eyre::Report::from);
        stop.trigger();
        result
    };
    let attested = async {
        let Some(host) = attested_host else {
            return Ok(());
        };
        let result = host
            .run(signal.clone())
            .await
            .wrap_err("following the attested chain");
        stop.trigger();
        result
    };
    // The bridge ends once the AVS ExEx dropped its event sender, or early on an error (e.g. the
    // registries cannot be read).
    let bridge = async {
        let result = bridge
            .await
            .wrap_err("the bridge task panicked")
            .and_then(|r| r);
        stop.trigger();
        result
    };
    // Each part stops gracefully (the hosts store their finished heights); the failure that
    // triggered the stop is the one returned (the other parts end cleanly after it).
    let (settlement, attested, bridge) = tokio::join!(settlement, attested, bridge);
    bridge.and(settlement).and(attested)
}

/// The configuration of a host following `http` (and `ws` for new heads) with its WAL in `dir`.
fn host_config(
    http: &str,
    ws: Option<String>,
    dir: PathBuf,
    start_block: u64,
    confirmations: u64,
    reorg_window: u64,
) -> HostConfig {
    let mut config = HostConfig::new(http, dir);
    config.ws_url = ws;
    config.start_block = start_block;
    config.follow = FollowMode::Latest { confirmations };
    config.reorg_window = usize::try_from(reorg_window).unwrap_or(usize::MAX);
    config
}

/// Two-chain mode: the host following the attested chain, its one ExEx feeding `view` and
/// keeping `retention` blocks.
fn attested_host(
    config: HostConfig,
    retention: u64,
    view: &AttestedChain,
    metrics: &prometheus::Registry,
) -> eyre::Result<Host> {
    let mut host = Host::new(config, metrics)?;
    let view = view.clone();
    host.install_exex("attested", move |ctx| {
        attested_chain_exex(ctx, view, retention)
    });
    Ok(host)
}

/// The node's wallet provider, every call timed into `eigen_rpc_request_*` (labelled with
/// the node's `web3_clientVersion`, asked once) and transient failures retried
/// ([`crate::rpc_retry`]).
async fn instrumented_provider(
    url: &str,
    wallet: PrivateKeySigner,
    eigen: &EigenMetrics,
) -> eyre::Result<DynProvider> {
    let version = RpcClient::builder()
        .connect(url)
        .await?
        .request_noparams::<String>("web3_clientVersion")
        .await
        .unwrap_or_default();
    // Retries outside the metrics: every attempt is timed and counted.
    let client = RpcClient::builder()
        .layer(crate::rpc_retry::RetryLayer)
        .layer(RpcMetricsLayer::new(eigen.clone(), "settlement", &version))
        .connect(url)
        .await?;
    Ok(wallet_provider_on(client, wallet))
}

/// The fewest blocks the ExEx keeps. A task's target block must still be in the attested view
/// when the task's creation is seen; a generator catching up (a devnet registering many
/// operators, a restart) tasks checkpoints that are that old.
const MIN_RETENTION_BLOCKS: u64 = 256;

/// Blocks the ExEx keeps: the reorg window, but at least one response window, because the
/// retained blocks are what a restarted node re-derives its still-open tasks from, and at least
/// [`MIN_RETENTION_BLOCKS`].
impl NodeParams {
    /// Attested blocks the node keeps (its view of the attested chain and, in two-chain mode,
    /// the attested host's WAL).
    fn attested_retention(&self) -> u64 {
        self.attested
            .as_ref()
            .and_then(|node| node.retention_blocks)
            .unwrap_or_else(|| retention_blocks(self.reorg_window, &self.deployment))
    }

    /// Settings that only fail together: an attestation depth of a number of blocks must be
    /// below the attested blocks the node keeps, or no block would ever be deep enough to sign
    /// or task. Checked before anything starts.
    pub fn check(&self) -> eyre::Result<()> {
        let kept = self.attested_retention();
        if let AttestDepth::Blocks(depth) = self.attest_depth
            && depth >= kept
        {
            return Err(eyre::eyre!(
                "attest_depth of {depth} blocks is not below the {kept} attested blocks the node \
                 keeps: lower attest_depth, or raise attested_retention_blocks (two chains) or \
                 reorg_window"
            ));
        }
        Ok(())
    }
}

fn retention_blocks(reorg_window: u64, deployment: &Deployment) -> u64 {
    reorg_window
        .max(u64::from(deployment.params.avs.response_window_blocks) + 1)
        .max(MIN_RETENTION_BLOCKS)
}

/// Aborts a background task when the node stops, however it stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Moves events between the AVS ExEx, the signature service and the submitter.
struct Bridge {
    service: ServiceHandle,
    /// This node's operator (its registered stakes are published from each task's set).
    operator_id: OperatorId,
    metrics: NodeMetrics,
    eigen: EigenMetrics,
    operators: OperatorSetReader<DynProvider>,
    /// Shared with the submission tasks: a submission may wait for receipts and replace its
    /// transaction, which must not stall the bridge.
    submitter: Arc<Submitter>,
    /// The AVS ExEx's task lifecycle (read only): the task an aggregate answers, whether this
    /// node stands behind its response, when it was seen.
    tasks: TaskBook,
    /// Which operators this node hears from: the partition signal.
    reachability: OperatorReachability,
    /// The operators' on-chain sockets already handed to the network.
    operator_peers: OperatorPeers,
    /// Where equivocation evidence is appended.
    evidence: PathBuf,
    /// The watchtower role, if this node plays it.
    challenger: Option<Arc<Challenger>>,
    /// The settlement chain: only its checkpoints can be challenged.
    settlement_chain_id: u64,
}

/// The bridge's view of reachable stake, with its health component and metric.
struct OperatorReachability {
    tracker: Reachability,
    /// `Up` while the reachable stake meets the latest task's threshold, `Down` below it once
    /// judged (the node reports itself partially healthy), `Initializing` below it while the
    /// tracker warms up.
    health: ComponentHealth,
    /// Whether the last update found the stake below the threshold (its warning is logged
    /// once per task while it lasts).
    below: bool,
}

impl OperatorReachability {
    /// A task was added: measure against it, and warn, naming the missing operators, while
    /// the reachable stake is below its threshold.
    fn task_added(&mut self, info: &TaskInfo, metrics: &NodeMetrics) {
        self.tracker.task_added(info);
        self.update(metrics);
        if self.below {
            let missing = self.tracker.missing();
            let shown: Vec<String> = missing
                .iter()
                .take(MISSING_OPERATORS_SHOWN)
                .map(|(id, _)| id.to_string())
                .collect();
            tracing::warn!(
                task = info.task_index,
                reachable = format!("{:.0}%", 100.0 * self.tracker.ratio().unwrap_or_default()),
                threshold = format!("{}%", info.quorum_threshold_percentage),
                missing = missing.len(),
                operators = %shown.join(", "),
                "the operators this node hears from hold less stake than the task threshold: it may be partitioned (check peers and firewall), or that stake is offline"
            );
        }
    }

    /// A signature of `operator` for `task_index` was accepted.
    fn signed(&mut self, task_index: u32, operator: OperatorId, metrics: &NodeMetrics) {
        self.tracker.signed(task_index, operator);
        self.update(metrics);
    }

    fn update(&mut self, metrics: &NodeMetrics) {
        let Some(ratio) = self.tracker.ratio() else {
            return;
        };
        metrics.reachable_stake_ratio.set(ratio);
        let short = self.tracker.below_threshold();
        let judged = self.tracker.judged(std::time::Instant::now());
        let below = short && judged;
        if self.below && !below {
            tracing::info!(
                reachable = format!("{:.0}%", 100.0 * ratio),
                "reachable stake back above the task threshold"
            );
        }
        self.below = below;
        self.health.set(match (short, judged) {
            (false, _) => ServiceStatus::Up,
            (true, true) => ServiceStatus::Down,
            // Warming up: not enough heard yet, but no verdict either.
            (true, false) => ServiceStatus::Initializing,
        });
    }
}

/// The watchtower: challenges each disputed response once, through the wallet's shared sender
/// (its fee cap and nonce sequence).
struct Challenger {
    sender: Arc<WalletSender>,
    deployment: Arc<Deployment>,
    /// Tasks challenged (or being challenged), by index and task hash: never twice.
    challenged: std::sync::Mutex<HashSet<(u32, B256)>>,
}

impl Challenger {
    /// Challenges `disputed` in the background unless it was challenged already.
    fn challenge(self: &Arc<Self>, disputed: DisputedResponse, metrics: NodeMetrics) {
        let key = (disputed.task_index, disputed.task.hash());
        if !self
            .challenged
            .lock()
            .expect("never held across a panic")
            .insert(key)
        {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let index = disputed.task_index;
            let target = Challenge {
                task_index: index,
                task: &disputed.task,
                response: &disputed.response,
                metadata: &disputed.metadata,
                transaction_hash: disputed.transaction_hash,
            };
            let policy = ConfirmPolicy {
                receipt_timeout: CHALLENGE_RECEIPT_TIMEOUT,
                ..ConfirmPolicy::default()
            };
            // Shared by the tries: a retry resumes after the steps already mined. Other nodes
            // may hold the role too: a challenge one of them raised first is carried on.
            let progress = tokio::sync::Mutex::new(challenge::ChallengeProgress::stand_in());
            let (challenger, target, policy, progress) = (&this, &target, &policy, &progress);
            let attempt = move || async move {
                tracing::warn!(task = index, "challenging the response on-chain");
                let mut transactor =
                    Transactor::through(Arc::clone(&challenger.sender), policy.clone());
                let mut progress = progress.lock().await;
                challenge::challenge(
                    &mut transactor,
                    &challenger.deployment,
                    target,
                    &mut progress,
                )
                .await
            };
            let result = attempt
                .retry(
                    ConstantBuilder::new()
                        .with_delay(CHALLENGE_RETRY)
                        .with_max_times(CHALLENGE_ATTEMPTS - 1),
                )
                // The contract's answer does not change: no retry.
                .when(|err: &eyre::Report| {
                    err.downcast_ref::<challenge::ChallengeRefused>().is_none()
                })
                .notify(|err, wait| {
                    tracing::warn!(task = index, error = %format!("{err:#}"), retry_in = ?wait, "challenge failed; retrying");
                })
                .await;
            match result {
                Ok(outcome) => {
                    metrics.challenges.with_label_values(&["succeeded"]).inc();
                    tracing::warn!(
                        task = index,
                        tx_hash = %outcome.challenge,
                        freeze_batches = outcome.freeze_batches,
                        "challenge succeeded (raised here, or by another challenger and carried on): the response's signers are frozen"
                    );
                }
                Err(err) => {
                    metrics.challenges.with_label_values(&["failed"]).inc();
                    if err.downcast_ref::<challenge::ChallengeRefused>().is_some() {
                        tracing::error!(task = index, error = %err, "challenge refused");
                    } else {
                        tracing::error!(
                            task = index,
                            error = %format!("{err:#}"),
                            "challenge failed: prove it by hand with `avs-node task challenge`"
                        );
                    }
                }
            }
        });
    }
}

/// Tries of one challenge (fee above the cap, RPC failures, a transaction still unmined after
/// its replacements) before it is given up, 12 s apart: failures found at once (a fee above the
/// cap, an unreachable endpoint) use up the tries in about a minute.
const CHALLENGE_ATTEMPTS: usize = 5;
/// Pause between two tries.
const CHALLENGE_RETRY: Duration = Duration::from_secs(12);
/// Wait for a challenge transaction's receipt before its fees are raised (two slots): the
/// challenge window can be as short as 10 blocks, so a stuck challenge must be repriced fast.
const CHALLENGE_RECEIPT_TIMEOUT: Duration = Duration::from_secs(24);
/// First pause after a failed read of a new task's operator set; doubles up to the max.
const TASK_INFO_MIN_DELAY: Duration = Duration::from_millis(250);
/// Longest pause between reads of a new task's operator set.
const TASK_INFO_MAX_DELAY: Duration = Duration::from_secs(2);
/// Retries of a new task's operator-set read before the task is skipped: about 12 s of
/// pauses, well within the 30 s the validator buffers the task's early signatures.
const TASK_INFO_RETRIES: usize = 8;
/// Operators a partition warning names (most stake first).
const MISSING_OPERATORS_SHOWN: usize = 5;

impl Bridge {
    /// Scans the operators' key registrations up to `head` (while the hosts catch up), then
    /// moves events until the AVS ExEx stops.
    async fn run(
        mut self,
        head: u64,
        mut avs_events: mpsc::Receiver<AvsEvent>,
        mut service_events: mpsc::Receiver<ServiceEvent>,
    ) -> eyre::Result<()> {
        self.prefetch_keys(head).await?;
        loop {
            tokio::select! {
                event = avs_events.recv() => match event {
                    Some(event) => self.on_avs_event(event).await?,
                    None => return Ok(()),
                },
                Some(event) = service_events.recv() => self.on_service_event(event),
            }
        }
    }

    /// Learns every registered operator's BLS keys up to `head`, so the first task does not
    /// wait for a scan from the deployment block. Logs progress about every tenth of the way.
    async fn prefetch_keys(&mut self, head: u64) -> eyre::Result<()> {
        let from = self.operators.next_scan_block();
        if from > head {
            return Ok(());
        }
        tracing::info!(from, to = head, "scanning operator key registrations");
        let step = ((head - from) / 10).max(1);
        let mut next_report = from + step;
        self.operators
            .prefetch_keys(head, |scanned| {
                if scanned >= next_report && scanned < head {
                    tracing::info!(scanned, to = head, "scanning operator key registrations");
                    next_report = scanned + step;
                }
            })
            .await?;
        tracing::info!(
            operators = self.operators.known_keys(),
            to = head,
            "operator keys scanned"
        );
        Ok(())
    }

    /// The operator set of a new task, read at its creation block. A transient failure is
    /// retried (see [`RetrySchedule`]) while the task is still the one in the book, for less
    /// than the validator buffers early signatures; `None` when a reorg took the task out, or,
    /// with an error logged and `avs_exex_tasks_skipped_total` counted, when the reads keep
    /// failing: this node then neither validates nor aggregates the task's signatures (its own
    /// signing is the ExEx's and does not depend on it). A permanent error (keys missing from
    /// the logs even after a full rescan, a wrong number of quorum lists) stops the node, as it
    /// would repeat for every task.
    async fn task_info(&mut self, task_index: u32, task: &Task) -> eyre::Result<Option<TaskInfo>> {
        let mut schedule = RetrySchedule::new(
            ExponentialBuilder::default()
                .with_min_delay(TASK_INFO_MIN_DELAY)
                .with_max_delay(TASK_INFO_MAX_DELAY)
                .with_max_times(TASK_INFO_RETRIES)
                .build(),
        );
        loop {
            let err = match self.operators.task_info(task_index, task).await {
                Ok(info) => return Ok(Some(info)),
                Err(err) if !err.is_transient() => {
                    return Err(eyre::Report::new(err)
                        .wrap_err(format!("reading the operator set of task {task_index}")));
                }
                Err(err) => err,
            };
            let current = self
                .tasks
                .get(task_index)
                .is_some_and(|record| record.task == *task);
            let retry = schedule.after_failure(err, current, |err, delay| {
                tracing::warn!(task = task_index, %err, retry_in = ?delay, "reading the task's operator set failed; retrying");
            });
            match retry.await {
                Ok(()) => {}
                Err(GaveUp::NotWanted(err)) => {
                    tracing::info!(task = task_index, %err, "task reverted while its operator set was read; skipping it");
                    return Ok(None);
                }
                Err(GaveUp::Exhausted(err)) => {
                    self.metrics.tasks_skipped.inc();
                    tracing::error!(task = task_index, %err, "cannot read the task's operator set; not validating or aggregating its signatures");
                    return Ok(None);
                }
            }
        }
    }

    /// Hands the task's operators' new or changed on-chain sockets to the network. Sockets
    /// are hints: a failed scan is logged and retried with the next task.
    async fn dial_operators(&mut self, info: &TaskInfo) {
        if let Err(err) = self
            .operators
            .catch_up(u64::from(info.task_created_block))
            .await
        {
            tracing::debug!(task = info.task_index, %err, "operator sockets not scanned");
        }
        let operators = &self.operators;
        let changes = self.operator_peers.changed(info, |id| operators.socket(id));
        if changes != PeerChanges::default() {
            tracing::debug!(
                added = changes.added.len(),
                retired = changes.retired.len(),
                "dialling operators from their on-chain sockets"
            );
            let network = self.service.network();
            if let Err(err) = network
                .update_operator_peers(changes.added, changes.retired)
                .await
            {
                tracing::debug!(%err, "operator sockets not handed to the network");
            }
        }
        if let Some(mates) = self.operator_peers.group_mates(info) {
            tracing::debug!(
                mates = mates.len(),
                "keeping our signing group's peers connected"
            );
            if let Err(err) = self.service.network().set_group_peers(mates).await {
                tracing::debug!(%err, "group mates not handed to the network");
            }
        }
    }

    async fn on_avs_event(&mut self, event: AvsEvent) -> eyre::Result<()> {
        match event {
            AvsEvent::TaskCreated { task_index, task } => {
                if let Some(info) = self.task_info(task_index, &task).await? {
                    self.publish_stakes(&info);
                    self.reachability.task_added(&info, &self.metrics);
                    // The task first; the sockets (hints, one log scan) after it.
                    let members = info.clone();
                    self.service.add_task(info).await?;
                    self.dial_operators(&members).await;
                }
            }
            AvsEvent::Signed(signed) => {
                let message = wire_message(&signed);
                match self.service.publish_own(message).await {
                    Ok(()) => {}
                    // Counted locally already. Typically the gossip mesh is still forming
                    // (no peer subscribed yet): keep offering it to the network for a while,
                    // since nothing else re-sends a node's own signature.
                    // A task the service never got (its operator set could not be read) is
                    // still offered on the deployment topic, where the other nodes judge it.
                    Err(err @ (ServiceError::Network(_) | ServiceError::TaskNotOpen { .. })) => {
                        tracing::debug!(task = signed.task_index, %err, "signature not gossiped yet, retrying");
                        tokio::spawn(republish(self.service.clone(), message));
                    }
                    // Our own validator refused it: gossiping it would only get this node
                    // penalised.
                    Err(err) => {
                        tracing::warn!(task = signed.task_index, %err, "our signature was not gossiped");
                    }
                }
            }
            AvsEvent::TaskResponded {
                task_index,
                block_number,
                first,
            } => {
                let Some(record) = self.tasks.get(task_index) else {
                    // Not a task this node works on (e.g. answered before it started).
                    self.service.task_closed(task_index).await?;
                    return Ok(());
                };
                if first {
                    self.metrics.tasks_finalized.inc();
                    let blocks = block_number.saturating_sub(record.task.taskCreatedBlock.into());
                    self.metrics.quorum_latency_blocks.observe(blocks as f64);
                    self.metrics
                        .quorum_latency_seconds
                        .observe(record.seen_at.elapsed().as_secs_f64());
                }
                // Kept (answered) until the ExEx closes it for good: a reorg may take the
                // response out again.
                self.service.task_responded(task_index).await?;
            }
            AvsEvent::ResponseReverted { task_index } => {
                self.service.response_reverted(task_index).await?;
            }
            AvsEvent::TaskReverted { task_index } => {
                // Not closed: a reorg may create another task at this index.
                self.service.task_reverted(task_index).await?;
            }
            AvsEvent::TaskClosed {
                task_index,
                answered,
            } => {
                if !answered {
                    tracing::warn!(
                        task = task_index,
                        "task expired unanswered (its response window has passed)"
                    );
                    self.metrics.tasks_expired.inc();
                }
                self.service.task_closed(task_index).await?;
            }
            AvsEvent::ResponseDisputed(disputed)
                if disputed.task.chainId != self.settlement_chain_id =>
            {
                tracing::warn!(
                    task = disputed.task_index,
                    chain = disputed.task.chainId,
                    "a response about another chain differs from this node's view; only \
                     settlement-chain checkpoints can be challenged on-chain"
                );
            }
            AvsEvent::ResponseDisputed(disputed) => match &self.challenger {
                Some(challenger) => challenger.challenge(*disputed, self.metrics.clone()),
                None => tracing::warn!(
                    task = disputed.task_index,
                    "a wrong response is on-chain; `avs-node task challenge {}` (or a node with \
                     challenger = true) proves it and slashes and freezes its signers",
                    disputed.task_index
                ),
            },
            AvsEvent::ResponseWithdrawn { task_index } => {
                tracing::info!(
                    task = task_index,
                    "our response was withdrawn after a reorg; this node will not submit it"
                );
            }
        }
        Ok(())
    }

    /// `eigen_registered_stakes` of this operator, from the task's operator set.
    fn publish_stakes(&self, info: &TaskInfo) {
        let Some(me) = info.operators.operators.get(&self.operator_id) else {
            return;
        };
        for (quorum, stake) in &me.stakes {
            let quorum = quorum.to_string();
            self.eigen
                .registered_stakes
                .with_label_values(&[quorum.as_str(), &format!("quorum {quorum}")])
                .set(*stake as f64);
        }
    }

    fn on_service_event(&mut self, event: ServiceEvent) {
        match event {
            ServiceEvent::SubmitDue(aggregate) => self.submit(aggregate),
            ServiceEvent::QuorumReached { aggregate, rank } => {
                tracing::info!(task = aggregate.task_index, ?rank, "quorum reached");
            }
            ServiceEvent::AggregationFailed(reason) => {
                tracing::error!(%reason, "aggregation failed")
            }
            ServiceEvent::Equivocation(evidence) => self.record_equivocation(&evidence),
            ServiceEvent::Accepted {
                task_index,
                operator_id,
            } => self
                .reachability
                .signed(task_index, operator_id, &self.metrics),
        }
    }

    /// Submits an aggregate that is this node's turn, if it is the response the node signed.
    fn submit(&self, aggregate: Box<Aggregate>) {
        let task_index = aggregate.task_index;
        // The ExEx's current state, which may be ahead of the events this bridge has handled:
        // a response withdrawn a moment ago is not paid for.
        let task = match self
            .tasks
            .submission(task_index, aggregate.task_hash, aggregate.digest)
        {
            Ok(task) => task,
            // Reverted, replaced by a reorg, closed or answered meanwhile: nothing to pay for.
            Err(refusal @ (SubmitRefusal::UnknownTask | SubmitRefusal::Answered)) => {
                tracing::debug!(task = task_index, %refusal, "not submitting");
                return;
            }
            Err(refusal) => {
                self.refuse_submission(&aggregate, refusal);
                return;
            }
        };
        let submitter = Arc::clone(&self.submitter);
        let book = self.tasks.clone();
        tokio::spawn(async move {
            // The book is asked again before any replacement or resend: a response withdrawn
            // meanwhile is not paid for again.
            let still_wanted = || {
                book.submission(task_index, aggregate.task_hash, aggregate.digest)
                    .is_ok()
            };
            match submitter
                .submit_while(&aggregate, &task, still_wanted)
                .await
            {
                Ok(SubmitOutcome::Responded {
                    tx_hash, gas_used, ..
                }) => {
                    tracing::info!(task = task_index, %tx_hash, gas_used, "response submitted");
                }
                Ok(outcome) => {
                    tracing::debug!(task = task_index, ?outcome, "not submitted")
                }
                // Logged by the submitter: this node withdrew the response meanwhile.
                Err(SubmitError::Send(SendError::Abandoned { .. })) => {}
                Err(err) => {
                    tracing::error!(task = task_index, %err, "submitting the response failed");
                }
            }
        });
    }

    /// Counts and logs an aggregate this node will not pay to submit.
    fn refuse_submission(&self, aggregate: &Aggregate, refusal: SubmitRefusal) {
        self.metrics.submissions_refused.inc();
        let task_index = aggregate.task_index;
        if let SubmitRefusal::Differs { .. } = refusal {
            tracing::error!(
                task = task_index,
                %refusal,
                signers = aggregate.signers.len(),
                "ALERT: refusing to submit a quorum response that is not this node's own; if it \
                 lands on-chain it can be challenged"
            );
        } else {
            // A lagging view or a withdrawn response: benign, the next rank submits.
            tracing::warn!(
                task = task_index,
                %refusal,
                "not submitting: this node does not stand behind a response to the task"
            );
        }
    }

    /// Keeps the evidence of an equivocation (the service already counted and logged it).
    fn record_equivocation(&self, evidence: &Equivocation) {
        let record = EvidenceRecord::from(evidence);
        let path = self.evidence.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = evidence::append(&path, &record) {
                tracing::error!(error = %e, task = record.task_index, "equivocation evidence not saved");
            }
        });
    }
}

/// Re-offers our own signature to the network until a peer takes it or the retry budget ends.
async fn republish(service: ServiceHandle, message: SignatureMessage) {
    // The caller's publish just failed: the first retry waits an interval too.
    tokio::time::sleep(REPUBLISH_INTERVAL).await;
    let service = &service;
    let result = (move || async move { service.republish_own(message).await })
        .retry(
            ConstantBuilder::new()
                .with_delay(REPUBLISH_INTERVAL)
                .with_max_times(REPUBLISH_ATTEMPTS - 1),
        )
        // Only a refusal of the network (no peer on the topic yet) is worth another try: a
        // stopped service is final.
        .when(|err| matches!(err, ServiceError::Network(e) if !matches!(e, NetworkError::Stopped)))
        .await;
    match result {
        Ok(()) | Err(ServiceError::Stopped | ServiceError::Network(NetworkError::Stopped)) => {}
        Err(err) => tracing::warn!(
            task = message.task_index,
            %err,
            "our signature could not be gossiped: no peer on its topic"
        ),
    }
}

fn wire_message(signed: &SignedResponse) -> SignatureMessage {
    SignatureMessage {
        task_index: signed.task_index,
        response: (&signed.response).into(),
        signature: signed.signature.to_bytes(),
        operator_id: signed.operator_id,
        task_hash: signed.task_hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_config_applies_the_node_settings() {
        let config = host_config(
            "http://127.0.0.1:8545",
            Some("ws://127.0.0.1:8546".to_owned()),
            PathBuf::from("data/host"),
            7,
            3,
            500,
        );
        assert_eq!(config.http_url, "http://127.0.0.1:8545");
        assert_eq!(config.ws_url.as_deref(), Some("ws://127.0.0.1:8546"));
        assert_eq!(config.data_dir, PathBuf::from("data/host"));
        assert_eq!(config.start_block, 7);
        assert!(matches!(
            config.follow,
            FollowMode::Latest { confirmations: 3 }
        ));
        // `reorg_window` is the deepest reorg the host absorbs (it used to keep the default 64).
        assert_eq!(config.reorg_window, 500);
    }
}

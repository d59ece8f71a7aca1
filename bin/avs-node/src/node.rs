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
//! The bridge is the only place where the ExEx's events meet the network: it registers each new
//! task with the service (with the operator set at the task's reference block, read from the
//! registries), publishes this node's own signatures, closes tasks once answered, and hands
//! aggregates to the submitter when this node's submission slot comes.

use alloy::{
    network::EthereumWallet, primitives::Bytes, providers::DynProvider,
    signers::local::PrivateKeySigner,
};
use avs_bls::SecretKey;
use avs_contracts::{
    avs::IAvsTaskManager::Task, deployment::Deployment, transactor::wallet_provider,
};
use avs_exex::{
    avs::{
        AttestedChain, AvsConfig, AvsDeps, AvsEvent, AvsMetrics, ContractTaskCreator, FaultMode,
        GeneratorConfig, RegistryReader, SignedResponse, SlashingProtectionStore, avs_exex,
    },
    host::{FollowMode, Host, HostConfig},
};
use avs_p2p::{
    Network, NetworkConfig, NetworkError, NetworkHandle, RegistryReader as OperatorSetReader,
    ServiceConfig, ServiceEvent, ServiceHandle, SignatureJournal, SignatureMessage,
    SignatureService, SubmitMetrics, SubmitOutcome, Submitter, SubmitterConfig, journal,
    load_or_create_identity,
};
use eyre::WrapErr;
use std::{collections::HashMap, future::Future, path::PathBuf, sync::Arc, time::Duration};
use tokio::sync::mpsc;

/// Blocks of the settlement chain kept for reorgs and re-delivered after a restart; larger
/// than the devnet's response window so unanswered tasks are re-derived after a restart.
const RETENTION_BLOCKS: u64 = 256;
/// Capacity of the ExEx → bridge channel (a slow network slows the ExEx, not memory).
const AVS_EVENT_CAPACITY: usize = 256;
/// Own-signature retries while the gossip mesh forms: one a second for a minute.
const REPUBLISH_INTERVAL: Duration = Duration::from_secs(1);
const REPUBLISH_ATTEMPTS: u32 = 60;

/// Everything one node needs, already validated and with its keys decrypted.
#[derive(Debug)]
pub struct NodeParams {
    /// HTTP JSON-RPC of the settlement chain's node.
    pub settlement_http: String,
    /// Optional WebSocket endpoint of the same node (new-head subscription).
    pub settlement_ws: Option<String>,
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
    /// Delay between consecutive submitter ranks.
    pub submit_slot: Duration,
    /// Extra collection time after quorum.
    pub aggregation_window: Duration,
    /// Highest `maxFeePerGas` the submitter pays, in wei.
    pub max_fee_per_gas: u128,
    /// Test-only misbehaviour (devnet chain ids only).
    pub fault_mode: FaultMode,
}

/// Runs the node until `shutdown` completes or a component fails.
pub async fn run_node(
    params: NodeParams,
    metrics: &prometheus::Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> eyre::Result<()> {
    let NodeParams {
        deployment,
        data_dir,
        bls_key,
        wallet,
        ..
    } = params;
    let deployment = Arc::new(deployment);
    let operator_id = bls_key.public_key().operator_id();
    let wallet_provider = wallet_provider(&params.settlement_http, wallet.clone())
        .await
        .wrap_err_with(|| {
            format!(
                "connecting to the settlement RPC {}",
                params.settlement_http
            )
        })?;

    // p2p: identity, swarm, signature service.
    let identity = load_or_create_identity(&data_dir.join("p2p/node.key"))?;
    let network = Network::start(identity, params.network).await?;
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
            ..ServiceConfig::default()
        },
        journal,
    );

    // The host and the AVS ExEx.
    let mut host_config = HostConfig::new(&params.settlement_http, data_dir.join("host"));
    host_config.ws_url = params.settlement_ws.clone();
    host_config.start_block = deployment.deployment_block;
    host_config.follow = FollowMode::Latest {
        confirmations: params.confirmations,
    };
    let mut host = Host::new(host_config, metrics)?;
    let mut config = AvsConfig::same_chain(
        deployment.chain_id,
        deployment.avs.task_manager,
        deployment.eigenlayer.registry_coordinator,
        deployment.eigenlayer.operator_state_retriever,
    );
    config.retention_blocks = RETENTION_BLOCKS;
    config.fault_mode = params.fault_mode;
    let generator = params.task_generator.then(|| {
        let avs = &deployment.params.avs;
        config.generator = Some(GeneratorConfig {
            interval: avs.checkpoint_interval,
            confirmations: 1,
            quorum_threshold_percentage: avs.quorum_threshold_percentage.into(),
            quorum_numbers: Bytes::from(avs.quorum_numbers.clone()),
            tx_timeout: Duration::from_secs(30),
        });
        ContractTaskCreator::new(
            wallet_provider.clone(),
            wallet.address(),
            deployment.avs.task_manager,
            Duration::from_secs(30),
        )
    });
    config.validate()?;
    let store = SlashingProtectionStore::open(data_dir.join("slashing-protection.jsonl")).await?;
    let (events_tx, events_rx) = mpsc::channel(AVS_EVENT_CAPACITY);
    let deps_metrics = AvsMetrics::register(metrics)?;
    let attested = AttestedChain::new(deployment.chain_id, RETENTION_BLOCKS as usize);
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
        };
        avs_exex(ctx, deps).await.map_err(Into::into)
    });

    let bridge = Bridge {
        service: service.handle.clone(),
        operators: OperatorSetReader::new(wallet_provider.clone(), &deployment),
        submitter: Arc::new(Submitter::new(
            wallet_provider,
            EthereumWallet::from(wallet),
            Deployment::clone(&deployment),
            SubmitterConfig {
                max_fee_per_gas: params.max_fee_per_gas,
                ..SubmitterConfig::default()
            },
            SubmitMetrics::register(metrics)?,
        )),
        tasks: HashMap::new(),
    };
    let mut bridge = tokio::spawn(bridge.run(events_rx, service.events));
    let host = host.run(shutdown);
    tokio::pin!(host);
    tokio::select! {
        result = &mut host => {
            // The host dropped the ExEx (and its event sender): the bridge drains and ends.
            bridge.await.wrap_err("the bridge task panicked")??;
            result.map_err(Into::into)
        }
        // The bridge only ends early on an error (e.g. the registries cannot be read): stop
        // instead of letting the ExEx block on a full channel.
        joined = &mut bridge => {
            joined.wrap_err("the bridge task panicked")??;
            Err(eyre::eyre!("the p2p bridge stopped while the host was running"))
        }
    }
}

/// Moves events between the AVS ExEx, the signature service and the submitter.
struct Bridge {
    service: ServiceHandle,
    operators: OperatorSetReader<DynProvider>,
    /// Shared with the submission tasks: a submission may wait for receipts and replace its
    /// transaction, which must not stall the bridge.
    submitter: Arc<Submitter<DynProvider>>,
    /// Open tasks, for the submitter (the aggregate carries only the index).
    tasks: HashMap<u32, Task>,
}

impl Bridge {
    async fn run(
        mut self,
        mut avs_events: mpsc::Receiver<AvsEvent>,
        mut service_events: mpsc::Receiver<ServiceEvent>,
    ) -> eyre::Result<()> {
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

    async fn on_avs_event(&mut self, event: AvsEvent) -> eyre::Result<()> {
        match event {
            AvsEvent::TaskCreated { task_index, task } => {
                let info = self.operators.task_info(task_index, &task).await?;
                self.tasks.insert(task_index, task);
                self.service.add_task(info).await?;
            }
            AvsEvent::Signed(signed) => {
                let message = wire_message(&signed);
                if let Err(err) = self.service.publish_own(message).await {
                    // Counted locally already. Typically the gossip mesh is still forming
                    // (no peer subscribed yet): keep offering it to the network for a while,
                    // since nothing else re-sends a node's own signature.
                    tracing::debug!(task = signed.task_index, %err, "signature not gossiped yet, retrying");
                    tokio::spawn(republish(self.service.network().clone(), message));
                }
            }
            AvsEvent::TaskResponded { task_index } | AvsEvent::TaskReverted { task_index } => {
                self.tasks.remove(&task_index);
                self.service.task_closed(task_index).await?;
            }
            AvsEvent::ResponseWithdrawn { task_index } => {
                tracing::info!(
                    task = task_index,
                    "our response was withdrawn after a reorg"
                );
            }
        }
        Ok(())
    }

    fn on_service_event(&self, event: ServiceEvent) {
        match event {
            ServiceEvent::SubmitDue(aggregate) => {
                let Some(task) = self.tasks.get(&aggregate.task_index).cloned() else {
                    return;
                };
                let submitter = Arc::clone(&self.submitter);
                tokio::spawn(async move {
                    let task_index = aggregate.task_index;
                    match submitter.submit(&aggregate, &task).await {
                        Ok(SubmitOutcome::Responded {
                            tx_hash, gas_used, ..
                        }) => {
                            tracing::info!(task = task_index, %tx_hash, gas_used, "response submitted");
                        }
                        Ok(outcome) => {
                            tracing::debug!(task = task_index, ?outcome, "not submitted")
                        }
                        Err(err) => {
                            tracing::error!(task = task_index, %err, "submitting the response failed");
                        }
                    }
                });
            }
            ServiceEvent::QuorumReached { aggregate, rank } => {
                tracing::info!(task = aggregate.task_index, ?rank, "quorum reached");
            }
            ServiceEvent::AggregationFailed(reason) => {
                tracing::error!(%reason, "aggregation failed")
            }
            ServiceEvent::Accepted { .. } => {}
        }
    }
}

/// Re-offers our own signature to the network until a peer takes it or the retry budget ends.
async fn republish(network: NetworkHandle, message: SignatureMessage) {
    for _ in 0..REPUBLISH_ATTEMPTS {
        tokio::time::sleep(REPUBLISH_INTERVAL).await;
        match network.publish(message).await {
            Ok(()) => return,
            Err(NetworkError::Stopped) => return,
            Err(_) => {}
        }
    }
    tracing::warn!(
        task = message.task_index,
        "our signature could not be gossiped: no peer subscribed"
    );
}

fn wire_message(signed: &SignedResponse) -> SignatureMessage {
    SignatureMessage {
        task_index: signed.task_index,
        response: (&signed.response).into(),
        signature: signed.signature.to_bytes(),
        operator_id: signed.operator_id,
    }
}

//! `avs-node task list|show|challenge|slashes`: the task manager's tasks, read from its
//! `NewTaskCreated` / `TaskResponded` logs since the deployment block, the on-chain challenge of
//! a wrong response about the settlement chain's own blocks ([`crate::challenge`]), and the
//! vetoable slasher's queue of slashes ([`avs_contracts::slashing`]).

use crate::{
    chain,
    challenge::{self, Challenge, ChallengeOutcome, ChallengeProgress},
    cli::NodeArgs,
    config::NodeConfig,
    evidence::{self, EvidenceRecord},
    keys, output,
};
use alloy::{
    network::EthereumWallet,
    primitives::{B256, Bytes, U256},
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use avs_contracts::{
    avs::{AvsTaskManager, IAvsTaskManager},
    sender::{ConfirmPolicy, SenderConfig, WalletSender},
    slashing,
    transactor::Transactor,
};
use clap::Subcommand;
use eyre::eyre;
use serde::Serialize;
use std::{collections::BTreeMap, sync::Arc};

/// Blocks per `eth_getLogs` request: public endpoints cap the range.
const LOG_CHUNK: u64 = 10_000;

/// `avs-node task …`.
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// List the tasks and whether they were answered.
    List {
        /// The node's settings.
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one task, its response and its checkpoint's status.
    Show {
        /// The task index.
        index: u32,
        /// The node's settings.
        #[command(flatten)]
        node: NodeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prove a task's response wrong on-chain (settlement-chain checkpoints only); its signers get slashed and frozen. The gas wallet pays.
    Challenge {
        /// The task index.
        index: u32,
        /// The node's settings (the gas wallet, `wallet_keystore`, pays for the transactions).
        #[command(flatten)]
        node: NodeArgs,
    },
    /// List the slashes a vetoable slasher queued (challenges only queue them); with `--fulfil`,
    /// execute those whose veto window has passed (anyone may; the gas wallet pays).
    Slashes {
        /// The node's settings.
        #[command(flatten)]
        node: NodeArgs,
        /// Execute every queued slash that is due.
        #[arg(long)]
        fulfil: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A task as the logs describe it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    /// Task index.
    pub index: u32,
    /// Attested chain.
    pub chain_id: u64,
    /// Checkpoint block.
    pub block_number: u64,
    /// Settlement block the task was created in.
    pub task_created_block: u32,
    /// Quorum threshold in percent.
    pub quorum_threshold_percentage: u32,
    /// Quorums.
    pub quorum_numbers: Bytes,
    /// The response, once answered.
    pub response: Option<ResponseRecord>,
    /// Whether the checkpoint is finalized now (`show` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalized: Option<bool>,
    /// Operators this node caught signing two responses to the task (`show` only; from the
    /// node's `evidence.jsonl`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub equivocations: Vec<EvidenceRecord>,
    #[serde(skip)]
    task: IAvsTaskManager::Task,
}

/// A task's response as `TaskResponded` logged it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseRecord {
    /// Attested block hash.
    pub block_hash: B256,
    /// Attested state root.
    pub state_root: B256,
    /// Attested receipts root.
    pub receipts_root: B256,
    /// Settlement block of the response.
    pub task_responded_block: u32,
    /// `keccak256(taskCreatedBlock ‖ nonSignerIds)`.
    pub hash_of_non_signers: B256,
    /// The transaction that submitted it.
    pub transaction: Option<B256>,
    #[serde(skip)]
    response: IAvsTaskManager::TaskResponse,
    #[serde(skip)]
    metadata: IAvsTaskManager::TaskResponseMetadata,
}

impl TaskCommand {
    /// Runs the command.
    pub async fn run(self) -> eyre::Result<()> {
        match self {
            Self::List { node, json } => {
                let config = node.load()?;
                let provider = chain::connect(&config, None).await?;
                let tasks: Vec<TaskRecord> = read_tasks(&provider, &config, None)
                    .await?
                    .into_values()
                    .collect();
                output::emit(json, &tasks, |tasks| {
                    if tasks.is_empty() {
                        return "no tasks".to_owned();
                    }
                    let mut lines = vec![format!(
                        "{:>6}  {:>10}  {:>10}  {:>8}  status",
                        "task", "chain", "block", "created"
                    )];
                    lines.extend(tasks.iter().map(|t| {
                        format!(
                            "{:>6}  {:>10}  {:>10}  {:>8}  {}",
                            t.index,
                            t.chain_id,
                            t.block_number,
                            t.task_created_block,
                            t.response
                                .as_ref()
                                .map_or("pending".to_owned(), |r| format!(
                                    "responded at {}",
                                    r.task_responded_block
                                ))
                        )
                    }));
                    lines.join("\n")
                });
            }
            Self::Show { index, node, json } => {
                let config = node.load()?;
                let provider = chain::connect(&config, None).await?;
                let mut task = find_task(&provider, &config, index).await?;
                let finalized = AvsTaskManager::new(config.deployment.avs.task_manager, &provider)
                    .finalizedCheckpoint(task.chain_id, task.block_number)
                    .call()
                    .await
                    .is_ok_and(|checkpoint| checkpoint.taskIndex == index);
                task.finalized = Some(finalized);
                task.equivocations =
                    evidence::read(&config.datadir.join(evidence::FILE_NAME), Some(index))?;
                output::emit(json, &task, human_task);
            }
            Self::Challenge { index, node } => {
                let config = node.load()?;
                let provider = chain::connect(&config, None).await?;
                let sender = gas_wallet_sender(&config, provider).await?;
                let outcome = challenge_task(sender, &config, index).await?;
                output::line(format!(
                    "task {index}: challenge succeeded in transaction {}; its signers are punished (slashed, or queued for slashing by a vetoable slasher, and frozen; {} further freezeSigners transactions)",
                    outcome.challenge, outcome.freeze_batches
                ));
            }
            Self::Slashes { node, fulfil, json } => {
                let config = node.load()?;
                let provider = chain::connect(&config, None).await?;
                if fulfil {
                    let sender = gas_wallet_sender(&config, provider.clone()).await?;
                    let mut tx = Transactor::through(sender, ConfirmPolicy::default());
                    let done = slashing::fulfil_due(&mut tx, &config.deployment).await?;
                    tracing::info!(
                        executed = ?done,
                        "queued slashes executed (slashed, or expired where no longer slashable)"
                    );
                }
                let queue = slashing::queued_slashes(&provider, &config.deployment).await?;
                output::emit(json, &queue, |queue| {
                    if queue.is_empty() {
                        return "no slash queued (an instant slasher queues none)".to_owned();
                    }
                    queue
                        .iter()
                        .map(|s| {
                            format!(
                                "request {} operator {} set {} {:?}, due at block {}: {}",
                                s.request_id,
                                s.operator,
                                s.operator_set,
                                s.state,
                                s.due_block,
                                s.description
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
        }
        Ok(())
    }
}

/// The gas wallet's sender with the node's fee cap and nonce handling. Its own nonce sequence,
/// though: next to a running node on the same wallet, one of two sends can take a taken nonce
/// and fail (nothing is lost: run the command again, or let the node do it).
async fn gas_wallet_sender(
    config: &NodeConfig,
    provider: DynProvider,
) -> eyre::Result<Arc<WalletSender>> {
    let signer = keys::load_ecdsa_signer(config.wallet_key_source()?).await?;
    Ok(Arc::new(WalletSender::new(
        provider,
        EthereumWallet::from(signer),
        config.deployment.chain_id,
        SenderConfig {
            max_fee_per_gas: config.max_fee_per_gas,
            ..SenderConfig::default()
        },
    )))
}

fn human_task(task: &TaskRecord) -> String {
    let mut lines = vec![
        format!("task            {}", task.index),
        format!(
            "checkpoint      chain {} block {}",
            task.chain_id, task.block_number
        ),
        format!("created at      {}", task.task_created_block),
        format!(
            "threshold       {}% of quorums {}",
            task.quorum_threshold_percentage, task.quorum_numbers
        ),
    ];
    match &task.response {
        Some(r) => lines.extend([
            format!("responded at    {}", r.task_responded_block),
            format!("block hash      {}", r.block_hash),
            format!("state root      {}", r.state_root),
            format!("receipts root   {}", r.receipts_root),
        ]),
        None => lines.push("response        none yet".to_owned()),
    }
    if let Some(finalized) = task.finalized {
        lines.push(format!(
            "finalized       {}",
            if finalized { "yes" } else { "no" }
        ));
    }
    for e in &task.equivocations {
        lines.extend([
            format!("EQUIVOCATION    operator {}", e.operator_id),
            format!(
                "  first         block {} digest {} signature {}",
                e.first.block_hash, e.first.digest, e.first.signature
            ),
            format!(
                "  second        block {} digest {} signature {}",
                e.second.block_hash, e.second.digest, e.second.signature
            ),
        ]);
    }
    lines.join("\n")
}

/// Every task since the deployment block, by index, with its response if any.
async fn read_tasks(
    provider: &DynProvider,
    config: &NodeConfig,
    only: Option<u32>,
) -> eyre::Result<BTreeMap<u32, TaskRecord>> {
    let head = provider.get_block_number().await?;
    let mut tasks = BTreeMap::new();
    let mut from = config.deployment.deployment_block;
    while from <= head {
        let to = (from + LOG_CHUNK - 1).min(head);
        let mut filter = Filter::new()
            .address(config.deployment.avs.task_manager)
            .event_signature(vec![
                AvsTaskManager::NewTaskCreated::SIGNATURE_HASH,
                AvsTaskManager::TaskResponded::SIGNATURE_HASH,
            ])
            .from_block(from)
            .to_block(to);
        // Both events index the task: one task's logs are filtered by the node.
        if let Some(index) = only {
            filter = filter.topic1(B256::from(U256::from(index)));
        }
        // Logs come in chain order, so a task's creation precedes its response.
        for log in provider.get_logs(&filter).await? {
            if let Ok(created) = log.log_decode::<AvsTaskManager::NewTaskCreated>() {
                let event = created.inner.data;
                let task = event.task;
                tasks.insert(
                    event.taskIndex,
                    TaskRecord {
                        index: event.taskIndex,
                        chain_id: task.chainId,
                        block_number: task.blockNumber,
                        task_created_block: task.taskCreatedBlock,
                        quorum_threshold_percentage: task.quorumThresholdPercentage,
                        quorum_numbers: task.quorumNumbers.clone(),
                        response: None,
                        finalized: None,
                        equivocations: Vec::new(),
                        task,
                    },
                );
            } else if let Ok(responded) = log.log_decode::<AvsTaskManager::TaskResponded>() {
                let tx = responded.transaction_hash;
                let event = responded.inner.data;
                if let Some(task) = tasks.get_mut(&event.taskIndex) {
                    let (r, m) = (event.taskResponse, event.taskResponseMetadata);
                    task.response = Some(ResponseRecord {
                        block_hash: r.blockHash,
                        state_root: r.stateRoot,
                        receipts_root: r.receiptsRoot,
                        task_responded_block: m.taskRespondedBlock,
                        hash_of_non_signers: m.hashOfNonSigners,
                        transaction: tx,
                        response: r,
                        metadata: m,
                    });
                }
            }
        }
        from = to + 1;
    }
    Ok(tasks)
}

async fn find_task(
    provider: &DynProvider,
    config: &NodeConfig,
    index: u32,
) -> eyre::Result<TaskRecord> {
    read_tasks(provider, config, Some(index))
        .await?
        .remove(&index)
        .ok_or_else(|| eyre!("task {index} does not exist: see `avs-node task list`"))
}

/// Challenges task `index` from its logs (the CLI's `task challenge`).
async fn challenge_task(
    sender: Arc<WalletSender>,
    config: &NodeConfig,
    index: u32,
) -> eyre::Result<ChallengeOutcome> {
    let task = find_task(sender.provider(), config, index).await?;
    let response = task
        .response
        .ok_or_else(|| eyre!("task {index} has no response yet: there is nothing to challenge"))?;
    let transaction_hash = response.transaction.ok_or_else(|| {
        eyre!("the endpoint returned the response log without its transaction hash")
    })?;
    challenge::challenge(
        &mut Transactor::through(sender, ConfirmPolicy::default()),
        &config.deployment,
        &Challenge {
            task_index: index,
            task: &task.task,
            response: &response.response,
            metadata: &response.metadata,
            transaction_hash,
        },
        // As a stand-in: when the challenge is mined already (by a node, or by an earlier run
        // whose punishment EigenLayer's pause refused), this carries on with `freezeSigners`.
        &mut ChallengeProgress::stand_in(),
    )
    .await
}

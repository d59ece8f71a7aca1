//! The on-chain challenge of a wrong response about a settlement-chain checkpoint, shared by
//! `avs-node task challenge` and the node's automatic challenger (`challenger = true`).
//!
//! A challenge needs what the contract hashed: the task, the response and its metadata (from
//! the `TaskResponded` log), the non-signers' G1 keys (from the `respondToTask` call that
//! submitted the response) and the RLP header of the checkpoint block (from the settlement
//! endpoint), whose keccak the contract compares with the true block hash before comparing
//! roots. `raiseAndResolveChallenge` punishes (slashes through EigenLayer's AllocationManager,
//! then freezes) at most `FREEZE_BATCH` signers itself; `freezeSigners` calls punish the rest.
//!
//! Nothing here decides that a response is wrong: the contract does, against `blockhash`. A
//! challenge of a correct response is refused by gas estimation, so no transaction is sent and
//! no honest signer can be slashed or frozen by it.

use alloy::{
    primitives::{B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    sol_types::{SolCall, SolEvent},
};
use avs_contracts::{
    avs::{
        AvsTaskManager,
        IAvsTaskManager::{Task, TaskResponse, TaskResponseMetadata},
        header_rlp,
    },
    deployment::Deployment,
    eigenlayer::interfaces::IOperatorStateRetrieverCalls,
    transactor::{Transactor, TxError},
};
use eyre::{bail, eyre};

/// A response to challenge, as its `TaskResponded` log and transaction name it.
#[derive(Debug, Clone, Copy)]
pub struct Challenge<'a> {
    /// The task.
    pub task_index: u32,
    /// The task as created.
    pub task: &'a Task,
    /// The response on-chain.
    pub response: &'a TaskResponse,
    /// Its metadata.
    pub metadata: &'a TaskResponseMetadata,
    /// The `respondToTask` transaction.
    pub transaction_hash: B256,
}

/// The task manager refused the challenge (found at gas estimation; nothing was sent): trying
/// again gives the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the task manager refused the challenge of task {task_index}: {reason}")]
pub struct ChallengeRefused {
    /// The task.
    pub task_index: u32,
    /// The contract's error, decoded.
    pub reason: String,
}

/// How far a challenge got: a retry after a failure resumes from here, since raising it
/// again would be refused (the checkpoint is invalidated already) and the remaining signers
/// would stay unfrozen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChallengeProgress {
    /// A `raiseAndResolveChallenge` may be mined already, so a refusal of ours may mean it
    /// went through: an earlier try sent one and failed before its receipt, or another
    /// challenger may have raised it ([`ChallengeProgress::stand_in`]). A refusal then looks
    /// for the mined challenge and carries on with the freezing.
    pub raise_may_be_mined: bool,
    /// The `raiseAndResolveChallenge` transaction, once mined.
    pub challenge: Option<B256>,
    /// `freezeSigners` batches mined so far.
    pub batches_done: usize,
}

impl ChallengeProgress {
    /// The progress of a challenger that is one of several (the automatic challenger: any
    /// number of nodes may hold the role, so that one down is not the end of a challenge).
    /// When another raised the challenge first, ours is refused, and this one carries on with
    /// the `freezeSigners` batches (a frozen operator is skipped, never slashed twice: only gas). While the
    /// other's raise is still pending, the refusal is an error to retry, not a final answer.
    pub fn stand_in() -> Self {
        Self {
            raise_may_be_mined: true,
            ..Self::default()
        }
    }
}

/// What a successful challenge took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeOutcome {
    /// The `raiseAndResolveChallenge` transaction.
    pub challenge: B256,
    /// `freezeSigners` transactions sent for the signers beyond the challenge's own batch.
    pub freeze_batches: usize,
}

/// The `[start, end)` operator positions of the `freezeSigners` calls that follow a challenge:
/// the challenge itself freezes positions `[0, batch)`.
fn freeze_batches(positions: u64, batch: u64) -> Vec<(u64, u64)> {
    (1..positions.div_ceil(batch))
        .map(|k| (k * batch, (k + 1) * batch))
        .collect()
}

/// A refused challenge's reason, with what it usually means.
fn refusal_reason(refusal: &AvsTaskManager::AvsTaskManagerErrors) -> String {
    use AvsTaskManager::AvsTaskManagerErrors as E;
    let hint = match refusal {
        E::CheckpointNotFinalized(_) => {
            " (the checkpoint is not finalized: already challenged, or never answered)"
        }
        _ => "",
    };
    format!("{refusal:?}{hint}")
}

/// The challenge error of a failed `raiseAndResolveChallenge`: the contract's refusal in one
/// line ([`ChallengeRefused`]) instead of the node's raw revert data, or the failure as it is.
fn raise_error(task_index: u32, err: TxError) -> eyre::Report {
    match err.revert::<AvsTaskManager::AvsTaskManagerErrors>() {
        Some(refusal) => eyre::Report::new(ChallengeRefused {
            task_index,
            reason: refusal_reason(&refusal),
        }),
        None => eyre::Report::new(err),
    }
}

/// The transaction whose `raiseAndResolveChallenge` invalidated the task's response, if one
/// did (this node's or anyone's), from the `TaskChallengedSuccessfully` logs since the
/// response.
async fn mined_challenge(
    provider: &DynProvider,
    task_manager: alloy::primitives::Address,
    target: &Challenge<'_>,
) -> eyre::Result<Option<B256>> {
    let filter = Filter::new()
        .address(task_manager)
        .event_signature(AvsTaskManager::TaskChallengedSuccessfully::SIGNATURE_HASH)
        .topic1(B256::from(U256::from(target.task_index)))
        .from_block(u64::from(target.metadata.taskRespondedBlock));
    let logs = provider.get_logs(&filter).await?;
    Ok(logs.first().and_then(|log| log.transaction_hash))
}

/// Sends `raiseAndResolveChallenge` for the response, then `freezeSigners` until every signer
/// is frozen, skipping what `progress` says is done and recording each step as it is mined.
pub async fn challenge(
    transactor: &mut Transactor<DynProvider>,
    deployment: &Deployment,
    target: &Challenge<'_>,
    progress: &mut ChallengeProgress,
) -> eyre::Result<ChallengeOutcome> {
    let index = target.task_index;
    if target.task.chainId != deployment.chain_id {
        bail!(
            "task {index} attests chain {}, not the settlement chain {}: only settlement-chain checkpoints can be challenged",
            target.task.chainId,
            deployment.chain_id
        );
    }
    let provider = transactor.provider().clone();
    let tx_hash = target.transaction_hash;
    let tx = provider
        .get_transaction_by_hash(tx_hash)
        .await?
        .ok_or_else(|| {
            eyre!("the response transaction {tx_hash} is not available from the endpoint (pruned?)")
        })?;
    let input = alloy::consensus::Transaction::input(&tx);
    let submitted = AvsTaskManager::respondToTaskCall::abi_decode(input).map_err(|_| {
        eyre!("transaction {tx_hash} did not call respondToTask directly: the non-signer keys cannot be recovered")
    })?;
    let block_number = target.task.blockNumber;
    let header_rlp = header_rlp(&provider, block_number).await?.ok_or_else(|| {
        eyre!("block {block_number} is not available from the settlement endpoint")
    })?;
    let non_signers = submitted.nonSignerStakesAndSignature.nonSignerPubkeys;
    let call = AvsTaskManager::raiseAndResolveChallengeCall {
        task: target.task.clone(),
        response: target.response.clone(),
        metadata: target.metadata.clone(),
        nonSignerPubkeys: non_signers.clone(),
        headerRlp: header_rlp,
    };
    let task_manager = deployment.avs.task_manager;
    let challenge = match progress.challenge {
        Some(tx_hash) => tx_hash,
        None => {
            let earlier_raise = std::mem::replace(&mut progress.raise_may_be_mined, true);
            let raised = match transactor
                .call("raiseAndResolveChallenge", task_manager, call.abi_encode())
                .await
            {
                Ok(receipt) => receipt.transaction_hash,
                // An earlier try's raise may have been mined after that try gave up on it, or
                // another challenger's: the checkpoint is invalidated then, and what is left is
                // freezing the signers.
                Err(err) if earlier_raise => {
                    match mined_challenge(&provider, task_manager, target).await? {
                        Some(tx_hash) => tx_hash,
                        // Refused as challenged already, yet no challenge is mined: one is
                        // pending (gas is estimated against the pending block). Not a final
                        // answer: it is mined soon, or dropped and then ours goes through.
                        None if matches!(
                            err.revert::<AvsTaskManager::AvsTaskManagerErrors>(),
                            Some(AvsTaskManager::AvsTaskManagerErrors::CheckpointNotFinalized(_))
                        ) =>
                        {
                            bail!(
                                "task {index}: the checkpoint is challenged already, but no challenge of it is mined yet (one is pending)"
                            )
                        }
                        None => return Err(raise_error(index, err)),
                    }
                }
                Err(err) => return Err(raise_error(index, err)),
            };
            progress.challenge = Some(raised);
            raised
        }
    };

    // The contract walks the quorums' operator lists at taskCreatedBlock in batches.
    let batch = AvsTaskManager::new(task_manager, &provider)
        .FREEZE_BATCH()
        .call()
        .await?;
    let operators = IOperatorStateRetrieverCalls::new(
        deployment.eigenlayer.operator_state_retriever,
        &provider,
    )
    .getOperatorState(
        deployment.eigenlayer.registry_coordinator,
        target.task.quorumNumbers.clone(),
        target.task.taskCreatedBlock,
    )
    .call()
    .await?;
    let positions: u64 = operators.iter().map(|quorum| quorum.len() as u64).sum();
    let mut batches = freeze_batches(positions, batch.saturating_to());
    // The challenge invalidates even when it cannot punish its own batch (EigenLayer paused
    // slashing, say): then that batch is punished by `freezeSigners` first.
    let receipt = provider
        .get_transaction_receipt(challenge)
        .await?
        .ok_or_else(|| eyre!("the challenge transaction {challenge} has no receipt"))?;
    let unpunished = receipt.inner.logs().iter().any(|log| {
        log.topic0() == Some(&AvsTaskManager::SignersNotPunished::SIGNATURE_HASH)
            && log.address() == task_manager
    });
    if unpunished {
        tracing::warn!(
            task = index,
            "the challenge invalidated the checkpoint but could not punish its signers; retrying with freezeSigners"
        );
        batches.insert(0, (0, batch.saturating_to()));
    }
    for (start, end) in batches.iter().skip(progress.batches_done) {
        let call = AvsTaskManager::freezeSignersCall {
            taskIndex: index,
            task: target.task.clone(),
            nonSignerPubkeys: non_signers.clone(),
            start: U256::from(*start),
            end: U256::from(*end),
        };
        transactor
            .call(
                format!("freezeSigners({start}..{end})"),
                task_manager,
                call.abi_encode(),
            )
            .await?;
        progress.batches_done += 1;
    }
    Ok(ChallengeOutcome {
        challenge,
        freeze_batches: batches.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::freeze_batches;

    #[test]
    fn freeze_batches_cover_every_position_after_the_challenges_own_batch() {
        assert!(freeze_batches(0, 64).is_empty());
        assert!(
            freeze_batches(64, 64).is_empty(),
            "the challenge froze them all"
        );
        assert_eq!(freeze_batches(65, 64), vec![(64, 128)]);
        assert_eq!(
            freeze_batches(200, 64),
            vec![(64, 128), (128, 192), (192, 256)]
        );
    }
}

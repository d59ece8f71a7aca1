//! The AVS ExEx's main loop: settlement notifications in, [`AvsEvent`]s and `FinishedHeight` out.

use std::collections::BTreeMap;

use alloy::{
    eips::BlockNumHash,
    primitives::{B256, BlockNumber, Log},
    sol_types::SolEvent,
};
use avs_bls::OperatorId;
use avs_contracts::avs::AvsTaskManager::{self, NewTaskCreated, TaskResponded};
use futures::TryStreamExt;

use super::{
    AvsDeps, AvsError,
    attested::AttestedChain,
    config::{AvsConfig, ConfigError},
    generator::{TaskCreator, TaskGenerator},
    metrics::AvsMetrics,
    operator::Operator,
    registry::OperatorRegistry,
};
use avs_exex::{Chain, ExExContext, ExExEvent, ExExNotification};

/// The running AVS ExEx's state.
struct AvsExEx<R, C> {
    config: AvsConfig,
    attested: AttestedChain,
    operator: Operator<R>,
    generator: Option<TaskGenerator<C>>,
    metrics: AvsMetrics,
    /// Recent canonical settlement blocks (number → hash), `retention_blocks` deep.
    settlement: BTreeMap<BlockNumber, B256>,
    finished: Option<BlockNumHash>,
}

/// Runs the AVS ExEx on the settlement chain's host until the host stops.
///
/// In same-chain mode (`config.attested_chain_id == config.settlement_chain_id`) the ExEx feeds
/// `deps.attested` from its own notifications; otherwise [`super::attested_chain_exex`] on a
/// second host must feed it.
pub async fn avs_exex<R, C>(mut ctx: ExExContext, deps: AvsDeps<R, C>) -> Result<(), AvsError>
where
    R: OperatorRegistry,
    C: TaskCreator,
{
    let AvsDeps {
        config,
        bls_key,
        store,
        registry,
        generator,
        attested,
        events,
        metrics,
        tasks,
    } = deps;
    config.validate()?;
    if ctx.config.chain_id != config.settlement_chain_id {
        return Err(AvsError::WrongChain {
            what: "settlement",
            expected: config.settlement_chain_id,
            got: ctx.config.chain_id,
        });
    }
    if attested.chain_id() != config.attested_chain_id {
        return Err(AvsError::WrongChain {
            what: "attested",
            expected: config.attested_chain_id,
            got: attested.chain_id(),
        });
    }
    let capacity = u64::try_from(attested.capacity()).unwrap_or(u64::MAX);
    if config.is_same_chain() && capacity < config.retention_blocks {
        // After a restart the view is rebuilt from the re-delivered blocks only.
        return Err(ConfigError::Invalid {
            field: "retention_blocks",
            reason: format!(
                "{} exceeds the attested view's capacity of {capacity} blocks; raise the capacity",
                config.retention_blocks
            ),
        }
        .into());
    }
    if config.generator.is_some() != generator.is_some() {
        return Err(AvsError::GeneratorMismatch);
    }
    let generator = generator
        .zip(config.generator.clone())
        .map(|(creator, generator_config)| TaskGenerator::new(generator_config, creator));
    let operator = Operator::new(
        &config,
        bls_key,
        registry,
        store,
        events,
        metrics.clone(),
        tasks,
    );
    let mut exex = AvsExEx {
        config,
        attested,
        operator,
        generator,
        metrics,
        settlement: BTreeMap::new(),
        finished: ctx.head.map(|head| head.block),
    };
    if exex.config.is_same_chain() && ctx.config.state_root_required {
        exex.attested.require_verified_state_roots();
    }
    let mut changes = exex.attested.subscribe();
    let same_chain = exex.config.is_same_chain();
    loop {
        let deadline = exex.operator.next_deadline();
        tokio::select! {
            notification = ctx.notifications.try_next() => {
                let Some(notification) = notification.map_err(AvsError::Notifications)? else {
                    return Ok(());
                };
                exex.on_settlement(&ctx, &notification).await?;
            }
            Some(()) = changes.changed(), if !same_chain => exex.on_attested_change().await?,
            () = sleep_until(deadline), if deadline.is_some() => exex.operator.process(&exex.attested).await?,
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

impl<R: OperatorRegistry, C: TaskCreator> AvsExEx<R, C> {
    async fn on_settlement(
        &mut self,
        ctx: &ExExContext,
        notification: &ExExNotification,
    ) -> Result<(), AvsError> {
        if self.config.is_same_chain() {
            self.attested.apply(notification);
            if let Err(err) = self.attested.refresh_horizon(&ctx.provider).await {
                tracing::warn!(%err, depth = %self.attested.depth(), "cannot read the node's tagged block; the attestable horizon stays");
            }
        }
        if let Some(reverted) = notification.reverted_chain() {
            self.on_reverted(&reverted).await?;
        }
        if let Some(committed) = notification.committed_chain() {
            self.on_committed(&committed).await?;
        }
        self.on_attested_change().await?;
        self.report_finished(ctx).await
    }

    async fn on_attested_change(&mut self) -> Result<(), AvsError> {
        self.operator.process(&self.attested).await?;
        if let Some(generator) = &mut self.generator {
            generator.tick(&self.attested, &self.metrics).await;
        }
        Ok(())
    }

    async fn on_reverted(&mut self, reverted: &Chain) -> Result<(), AvsError> {
        // Undo in reverse order, newest log first.
        let logs: Vec<_> = reverted.logs_iter().collect();
        for (at, _, log) in logs.into_iter().rev() {
            match self.decode(log) {
                Some(TaskLog::Created(event)) => {
                    if let Some(generator) = &mut self.generator {
                        generator.on_task_reverted(event.task.blockNumber, event.taskIndex);
                    }
                    self.operator
                        .on_creation_reverted(event.taskIndex, at)
                        .await?;
                }
                Some(TaskLog::Responded(event)) => {
                    self.operator.on_response_reverted(event.taskIndex);
                }
                None => {}
            }
        }
        self.settlement.split_off(&reverted.first().number());
        Ok(())
    }

    async fn on_committed(&mut self, committed: &Chain) -> Result<(), AvsError> {
        self.settlement.split_off(&committed.first().number());
        for block in committed.blocks_iter() {
            self.settlement.insert(block.number(), block.hash);
        }
        for (at, tx_hash, log) in committed.logs_iter() {
            match self.decode(log) {
                Some(TaskLog::Created(event)) => {
                    if let Some(generator) = &mut self.generator {
                        generator.on_task_created(event.task.blockNumber, event.taskIndex);
                    }
                    let parent_hash = committed
                        .block_by_hash(at.hash)
                        .map(|block| block.parent_hash())
                        .unwrap_or_default();
                    self.operator
                        .on_created(event.taskIndex, event.task, at, parent_hash)
                        .await?;
                }
                Some(TaskLog::Responded(event)) => {
                    let non_signers = committed
                        .block_by_hash(at.hash)
                        .and_then(|block| non_signers(block, tx_hash));
                    self.operator
                        .on_responded(event, at.number, tx_hash, non_signers.as_deref())
                        .await?;
                }
                None => {}
            }
        }
        let tip = committed.tip().number();
        if let Some(generator) = &mut self.generator {
            generator.on_settlement_tip(tip);
        }
        // Blocks `retention_blocks` below the tip are beyond any reorg the host absorbs (its
        // reorg window is at most that deep): what they hold is settled.
        if let Some(settled) = tip.checked_sub(self.config.retention_blocks) {
            self.operator.advance_watermark(settled).await?;
            self.operator.report_closed(settled).await?;
        }
        let floor = tip.saturating_sub(self.config.retention_blocks);
        self.settlement = self.settlement.split_off(&floor);
        self.operator.prune(floor).await?;
        Ok(())
    }

    /// Reports the settlement block `retention_blocks` below the tip as finished — lower if a
    /// task created at or below it is still being answered — so that everything up to it is
    /// durably done and a restart re-delivers what the views and open tasks need.
    async fn report_finished(&mut self, ctx: &ExExContext) -> Result<(), AvsError> {
        let Some((&tip, _)) = self.settlement.last_key_value() else {
            return Ok(());
        };
        let mut limit = tip.saturating_sub(self.config.retention_blocks);
        if let Some(open) = self.operator.unfinished_floor() {
            limit = limit.min(open.saturating_sub(1));
        }
        let Some((&number, &hash)) = self.settlement.range(..=limit).next_back() else {
            return Ok(());
        };
        if self
            .finished
            .is_some_and(|finished| finished.number >= number)
        {
            return Ok(());
        }
        let height = BlockNumHash { number, hash };
        ctx.send_event(ExExEvent::FinishedHeight(height)).await?;
        self.finished = Some(height);
        Ok(())
    }

    fn decode(&self, log: &Log) -> Option<TaskLog> {
        if log.address != self.config.task_manager {
            return None;
        }
        let topic = *log.topics().first()?;
        let decoded = if topic == NewTaskCreated::SIGNATURE_HASH {
            NewTaskCreated::decode_log(log).map(|log| TaskLog::Created(log.data))
        } else if topic == TaskResponded::SIGNATURE_HASH {
            TaskResponded::decode_log(log).map(|log| TaskLog::Responded(log.data))
        } else {
            return None;
        };
        decoded
            .inspect_err(|err| tracing::warn!(%err, "undecodable task-manager log ignored"))
            .ok()
    }
}

/// The operator ids of the non-signers named by the `respondToTask` call of transaction
/// `tx_hash` in `block`; `None` when the response was not submitted by a direct call.
fn non_signers(block: &avs_exex::BlockWithReceipts, tx_hash: B256) -> Option<Vec<OperatorId>> {
    use alloy::{consensus::Transaction, sol_types::SolCall};
    let tx = block
        .transactions()
        .iter()
        .find(|tx| *tx.tx_hash() == tx_hash)?;
    let call = AvsTaskManager::respondToTaskCall::abi_decode(tx.input()).ok()?;
    Some(
        call.nonSignerStakesAndSignature
            .nonSignerPubkeys
            .iter()
            .map(|key| {
                let point = avs_bls::G1Point { x: key.X, y: key.Y };
                OperatorId(alloy::primitives::keccak256(point.to_packed()))
            })
            .collect(),
    )
}

/// The task-manager logs the ExEx acts on.
enum TaskLog {
    Created(NewTaskCreated),
    Responded(TaskResponded),
}

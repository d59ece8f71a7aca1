//! The vetoable slasher's queue ([`crate::avs::AvsSlasher`]): the slash requests a won
//! challenge queued, their state, and the execution of those whose veto window has passed.
//!
//! With a veto window, a challenge only queues its signers' slashes; nothing slashes them until
//! someone calls `fulfilSlashes` after the window (anyone may). [`fulfil_due`] does that for
//! every request due; `avs-node task slashes --fulfil` runs it.

use crate::{
    avs::AvsSlasher,
    deployment::Deployment,
    transactor::{Transactor, TxError},
};
use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    sol_types::SolCall,
};
use serde::Serialize;

/// Where a queued slash stands (the slasher's `RequestStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SlashState {
    /// Waiting for its veto window to pass, or for someone to execute it.
    Queued,
    /// Cancelled by the veto committee.
    Vetoed,
    /// Executed: the operator was slashed.
    Fulfilled,
    /// Executed too late: the operator was no longer slashable.
    Expired,
}

/// One slash request of the slasher's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedSlash {
    /// The request id.
    pub request_id: U256,
    /// The operator to slash.
    pub operator: Address,
    /// The operator set (quorum) it is slashed in.
    pub operator_set: u32,
    /// The block the challenge queued it in.
    pub request_block: u64,
    /// The first block it can be executed in.
    pub due_block: u64,
    /// Its state.
    pub state: SlashState,
    /// Why (names the task).
    pub description: String,
}

/// Why the queue could not be read or executed.
#[derive(Debug, thiserror::Error)]
pub enum SlashQueueError {
    /// A view of the slasher failed.
    #[error("reading the slasher: {0}")]
    Call(#[from] alloy::contract::Error),
    /// The node did not answer.
    #[error("RPC error: {0}")]
    Rpc(#[from] alloy::transports::RpcError<alloy::transports::TransportErrorKind>),
    /// The slasher answered a state it does not define.
    #[error("slash request {0} has an unknown state {1}")]
    UnknownState(U256, u8),
    /// `fulfilSlashes` failed.
    #[error(transparent)]
    Tx(#[from] TxError),
}

/// Every request the deployment's slasher ever queued, in id order (none when it is instant).
pub async fn queued_slashes<P: Provider>(
    provider: &P,
    deployment: &Deployment,
) -> Result<Vec<QueuedSlash>, SlashQueueError> {
    let slasher = AvsSlasher::new(deployment.avs.slasher, provider);
    let window = u64::from(slasher.vetoWindowBlocks().call().await?);
    let count: u64 = slasher.nextRequestId().call().await?.saturating_to();
    let mut queue = Vec::new();
    for id in 0..count {
        let request_id = U256::from(id);
        let request = slasher.getRequest(request_id).call().await?;
        let state = match request.status {
            1 => SlashState::Queued,
            2 => SlashState::Vetoed,
            3 => SlashState::Fulfilled,
            4 => SlashState::Expired,
            other => return Err(SlashQueueError::UnknownState(request_id, other)),
        };
        let request_block = u64::from(request.requestBlock);
        queue.push(QueuedSlash {
            request_id,
            operator: request.operator,
            operator_set: request.operatorSetId,
            request_block,
            due_block: request_block + window,
            state,
            description: request.description,
        });
    }
    Ok(queue)
}

/// Requests per `fulfilSlashes`: ~132k gas each keeps a call near 13M gas, under EIP-7825's
/// 16.7M cap on a transaction.
const FULFIL_BATCH: usize = 100;

/// Executes every queued slash whose veto window has passed, [`FULFIL_BATCH`] per
/// `fulfilSlashes`; returns their ids (nothing sent when nothing is due).
pub async fn fulfil_due<P: Provider>(
    tx: &mut Transactor<P>,
    deployment: &Deployment,
) -> Result<Vec<U256>, SlashQueueError> {
    let head = tx.provider().get_block_number().await?;
    let due: Vec<U256> = queued_slashes(tx.provider(), deployment)
        .await?
        .into_iter()
        .filter(|slash| slash.state == SlashState::Queued && head >= slash.due_block)
        .map(|slash| slash.request_id)
        .collect();
    for batch in due.chunks(FULFIL_BATCH) {
        let call = AvsSlasher::fulfilSlashesCall {
            requestIds: batch.to_vec(),
        };
        tx.call(
            "AvsSlasher.fulfilSlashes",
            deployment.avs.slasher,
            call.abi_encode(),
        )
        .await?;
    }
    Ok(due)
}

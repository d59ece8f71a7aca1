//! Fetching one block with its receipts from the node, and verifying it before it goes anywhere.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use alloy::{
    consensus::Block as ConsensusBlock,
    eips::{BlockId, BlockNumHash, BlockNumberOrTag},
    network::AnyRpcTransaction,
    primitives::{B256, BlockNumber},
    providers::{DynProvider, Provider},
    rpc::types::Block,
    transports::TransportError,
};
use avs_exex_types::{
    BlockReceipt, StateRootCheck,
    rpc::{self, DecodeError},
};

use super::state_root::StateRoots;
use crate::{
    chain::BlockWithReceipts,
    verify::{VerifyError, verify_block},
};

/// JSON-RPC "method not found".
const METHOD_NOT_FOUND: i64 = -32601;

/// True if the node answered that it has no such method.
pub(super) fn is_method_not_found(err: &TransportError) -> bool {
    err.as_error_resp()
        .is_some_and(|e| e.code == METHOD_NOT_FOUND)
}

/// `call`, failing with [`FetchError::Timeout`] after `timeout`: a hung connection must not
/// stall the host forever.
pub(super) async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, FetchError> {
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| FetchError::Timeout(timeout))?
        .map_err(Into::into)
}

/// Why a block could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Transport or JSON-RPC failure (node down, timeout, bad response shape).
    #[error("RPC error: {0}")]
    Rpc(#[from] TransportError),
    /// The node did not answer in time.
    #[error("the node did not answer within {0:?}")]
    Timeout(Duration),
    /// The node does not (yet, or any longer) have the block.
    #[error("the node has no block {0}")]
    Missing(BlockNumberOrTag),
    /// The block did not pass verification.
    #[error("invalid block from the node: {0}")]
    Invalid(#[from] VerifyError),
    /// The receipts do not belong to the block's transactions.
    #[error("block {number}: receipt {index} does not belong to this block's transaction {index}")]
    ForeignReceipt {
        /// Block number.
        number: BlockNumber,
        /// Receipt index.
        index: usize,
    },
    /// Re-executing the block produced another commitment than its header's.
    #[error("block {number}: re-execution gives {field} {computed}, but the header says {header}")]
    StateRoot {
        /// Block number.
        number: BlockNumber,
        /// Which header field.
        field: &'static str,
        /// The header's value.
        header: String,
        /// What execution produced.
        computed: String,
    },
    /// A transaction or receipt of the block could not be decoded: a type this build does not
    /// know (fatal: asking again returns the same block), or malformed data from the node
    /// (counted as invalid data, like a block that fails verification).
    #[error("block {number}: {source}")]
    Undecodable {
        /// Block number.
        number: BlockNumber,
        /// What could not be decoded.
        source: DecodeError,
    },
}

impl FetchError {
    /// True if the node sent data that contradicts itself (counts towards "the node is lying").
    pub const fn is_invalid_data(&self) -> bool {
        match self {
            Self::Invalid(_) | Self::ForeignReceipt { .. } | Self::StateRoot { .. } => true,
            Self::Undecodable { source, .. } => !source.is_unsupported(),
            _ => false,
        }
    }

    /// True if the block holds a type this build cannot decode: retrying cannot help.
    pub const fn is_unsupported(&self) -> bool {
        match self {
            Self::Undecodable { source, .. } => source.is_unsupported(),
            _ => false,
        }
    }
}

/// Fetches verified blocks over one provider.
#[derive(Debug)]
pub(crate) struct Fetcher {
    provider: DynProvider,
    /// Bound on every request: a hung connection must not stall the host forever.
    timeout: Duration,
    /// Cleared after the node reports `eth_getBlockReceipts` missing; then receipts are
    /// fetched one transaction at a time.
    block_receipts: AtomicBool,
    /// Re-executes each verified block, if state-root verification is on.
    state_roots: Option<StateRoots>,
}

impl Fetcher {
    pub(crate) const fn new(
        provider: DynProvider,
        timeout: Duration,
        state_roots: Option<StateRoots>,
    ) -> Self {
        Self {
            provider,
            timeout,
            block_receipts: AtomicBool::new(true),
            state_roots,
        }
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, FetchError> {
        bounded(self.timeout, call).await
    }

    /// Number and hash of the block at `tag` (a number, `latest`, `finalized`, ...).
    pub(crate) async fn num_hash(&self, tag: BlockNumberOrTag) -> Result<BlockNumHash, FetchError> {
        let block = self
            .bounded(self.provider.get_block_by_number(tag).into_future())
            .await?
            .ok_or(FetchError::Missing(tag))?;
        Ok(BlockNumHash {
            number: block.header.inner.number,
            hash: block.header.hash,
        })
    }

    /// Block `number` with its receipts, verified. Transactions and receipts are decoded from
    /// the node's JSON with [`avs_exex_types::rpc`] (Ethereum's types and OP-stack deposits).
    pub(crate) async fn block(&self, number: BlockNumber) -> Result<BlockWithReceipts, FetchError> {
        let tag = BlockNumberOrTag::Number(number);
        let undecodable = |source| FetchError::Undecodable { number, source };
        let block: Block<AnyRpcTransaction> = self
            .bounded(
                self.provider
                    .raw_request::<_, Option<Block<AnyRpcTransaction>>>(
                        "eth_getBlockByNumber".into(),
                        (tag, true),
                    ),
            )
            .await?
            .ok_or(FetchError::Missing(tag))?;
        let hash = block.header.hash;
        let tx_hashes: Vec<B256> = block.transactions.hashes().collect();
        let block: ConsensusBlock<AnyRpcTransaction> = block.into_consensus();
        let (header, body) = (block.header, block.body);
        // Transactions first: a block of an unknown type stops here, naming the transaction.
        let transactions = body
            .transactions
            .into_iter()
            .enumerate()
            .map(|(index, tx)| rpc::block_transaction(index, tx))
            .collect::<Result<Vec<_>, _>>()
            .map_err(undecodable)?;
        // Receipts by *hash*: if the node reorgs between the two calls we get none rather than
        // another block's receipts.
        let receipts = self.receipts(hash, number, &tx_hashes).await?;
        let mut candidate = BlockWithReceipts {
            hash,
            block: ConsensusBlock {
                header,
                body: alloy::consensus::BlockBody {
                    transactions,
                    ommers: body.ommers,
                    withdrawals: body.withdrawals,
                },
            },
            receipts,
            state_root: StateRootCheck::NotChecked,
        };
        verify_block(&candidate)?;
        if let Some(state_roots) = &self.state_roots {
            candidate.state_root = state_roots
                .check(&self.provider, self.timeout, &candidate)
                .await?;
        }
        Ok(candidate)
    }

    async fn receipts(
        &self,
        hash: B256,
        number: BlockNumber,
        tx_hashes: &[B256],
    ) -> Result<Vec<BlockReceipt>, FetchError> {
        let missing = || FetchError::Missing(BlockNumberOrTag::Number(number));
        let json: Vec<serde_json::Value> = if self.block_receipts.load(Ordering::Relaxed) {
            let call = self
                .provider
                .raw_request::<_, Option<Vec<serde_json::Value>>>(
                    "eth_getBlockReceipts".into(),
                    (BlockId::hash(hash),),
                );
            match self.bounded(call).await {
                Ok(receipts) => receipts.ok_or_else(missing)?,
                Err(FetchError::Rpc(err)) if is_method_not_found(&err) => {
                    tracing::warn!(
                        "node lacks eth_getBlockReceipts; fetching receipts per transaction"
                    );
                    self.block_receipts.store(false, Ordering::Relaxed);
                    self.receipts_per_tx(tx_hashes, missing).await?
                }
                Err(err) => return Err(err),
            }
        } else {
            self.receipts_per_tx(tx_hashes, missing).await?
        };
        let undecodable = |source| FetchError::Undecodable { number, source };
        json.iter()
            .enumerate()
            .map(|(index, value)| {
                let head = rpc::receipt_head(index, value).map_err(undecodable)?;
                if head.block_hash != Some(hash)
                    || tx_hashes.get(index) != Some(&head.transaction_hash)
                {
                    return Err(FetchError::ForeignReceipt { number, index });
                }
                rpc::block_receipt(index, &head, value).map_err(undecodable)
            })
            .collect()
    }

    async fn receipts_per_tx(
        &self,
        tx_hashes: &[B256],
        missing: impl Fn() -> FetchError,
    ) -> Result<Vec<serde_json::Value>, FetchError> {
        let mut receipts = Vec::with_capacity(tx_hashes.len());
        for tx in tx_hashes {
            let call = self.provider.raw_request::<_, Option<serde_json::Value>>(
                "eth_getTransactionReceipt".into(),
                (*tx,),
            );
            receipts.push(self.bounded(call).await?.ok_or_else(&missing)?);
        }
        Ok(receipts)
    }
}

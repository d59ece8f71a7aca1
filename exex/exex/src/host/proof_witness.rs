//! A block's witness assembled from standard RPC, for nodes and providers that do not serve
//! `debug_executionWitness`: the accounts and slots the block's transactions touch
//! (`debug_traceBlockByNumber` with the `prestateTracer`, which does not trace system calls),
//! plus the coinbase, the withdrawal recipients and the system contracts' slots, each proven by
//! `eth_getProof` at the parent; the same proofs at the block itself are hints for the siblings
//! a deletion collapses onto ([`collapse_candidates`]).
//!
//! Nothing here is trusted: every node is only reached by hash from the parent's state root. A
//! witness assembled this way can lack what execution needs (a sibling that was a branch, a
//! `BLOCKHASH` below the parent, a non-empty EIP-7002/7251 queue): the block is then
//! unverifiable, never guessed.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use alloy::{
    consensus::Header,
    eips::{
        BlockId, BlockNumberOrTag, eip2935::HISTORY_STORAGE_ADDRESS, eip4788::BEACON_ROOTS_ADDRESS,
        eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
        eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    },
    primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256},
    providers::{DynProvider, Provider},
    rpc::types::EIP1186AccountProofResponse,
};
use avs_exex_stateless::trie::collapse_candidates;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use super::fetch::{FetchError, bounded};
use crate::chain::BlockWithReceipts;

/// Ring size of the EIP-4788 and EIP-2935 contracts' storage.
const HISTORY_RING: u64 = 8191;

/// Proof requests in flight per block.
const CONCURRENT_PROOFS: usize = 8;

/// A witness assembled from proofs, with the parent header it is rooted at.
pub(super) struct ProofWitness {
    pub(super) parent: Header,
    pub(super) nodes: Vec<Bytes>,
    pub(super) codes: Vec<Bytes>,
}

/// One transaction's entry of `prestateTracer`'s answer.
#[derive(Debug, Deserialize)]
struct TracedTransaction {
    result: BTreeMap<Address, TracedAccount>,
}

/// An account as `prestateTracer` reports it before the transaction.
#[derive(Debug, Deserialize)]
struct TracedAccount {
    #[serde(default)]
    code: Option<Bytes>,
    #[serde(default)]
    storage: BTreeMap<B256, serde_json::Value>,
}

/// Why a proof witness could not be assembled: a transport failure (retried by the host) or an
/// answer that makes the block unverifiable.
pub(super) enum Failure {
    Fetch(FetchError),
    Unverifiable(String),
}

impl From<FetchError> for Failure {
    fn from(err: FetchError) -> Self {
        Self::Fetch(err)
    }
}

/// One JSON-RPC call bounded by `timeout`.
async fn call<P: alloy::rpc::json_rpc::RpcSend>(
    provider: &DynProvider,
    timeout: Duration,
    method: &'static str,
    params: P,
) -> Result<serde_json::Value, FetchError> {
    bounded(timeout, provider.raw_request(method.into(), params)).await
}

/// Assembles `block`'s witness (see the module docs); every request is bounded by `timeout`.
pub(super) async fn assemble(
    provider: &DynProvider,
    timeout: Duration,
    block: &BlockWithReceipts,
) -> Result<ProofWitness, Failure> {
    let header = block.header();
    let number = header.number;
    let answered =
        |err: &FetchError| matches!(err, FetchError::Rpc(e) if e.as_error_resp().is_some());

    let parent: Option<alloy::rpc::types::Header> = decode(
        call(
            provider,
            timeout,
            "eth_getBlockByHash",
            (header.parent_hash, false),
        )
        .await?,
        "eth_getBlockByHash",
    )?;
    let Some(parent) = parent.map(|p| p.inner) else {
        return Err(Failure::Fetch(FetchError::Missing(
            BlockNumberOrTag::Number(number.saturating_sub(1)),
        )));
    };
    if parent.hash_slow() != header.parent_hash {
        return Err(Failure::Unverifiable(format!(
            "the node's parent header of block {number} does not hash to its parent hash"
        )));
    }

    let traced = call(
        provider,
        timeout,
        "debug_traceBlockByNumber",
        (
            BlockNumberOrTag::Number(number),
            serde_json::json!({"tracer": "prestateTracer"}),
        ),
    )
    .await;
    let traced: Vec<TracedTransaction> = match traced {
        Ok(value) => decode(value, "debug_traceBlockByNumber")?,
        Err(err) if answered(&err) => {
            return Err(Failure::Unverifiable(format!(
                "the node did not trace block {number}: {err}"
            )));
        }
        Err(err) => return Err(err.into()),
    };

    let mut touched: BTreeMap<Address, BTreeSet<B256>> = BTreeMap::new();
    let mut codes = Vec::new();
    for account in traced.into_iter().flat_map(|tx| tx.result) {
        let (address, account) = account;
        codes.extend(account.code.filter(|code| !code.is_empty()));
        touched
            .entry(address)
            .or_default()
            .extend(account.storage.into_keys());
    }
    // What the tracer does not see: the block's own state changes and the system calls.
    touched.entry(header.beneficiary).or_default();
    for withdrawal in block.block.body.withdrawals.iter().flatten() {
        touched.entry(withdrawal.address).or_default();
    }
    let ring = |n: u64| B256::from(U256::from(n % HISTORY_RING));
    touched.entry(BEACON_ROOTS_ADDRESS).or_default().extend([
        ring(header.timestamp),
        B256::from(U256::from(header.timestamp % HISTORY_RING + HISTORY_RING)),
    ]);
    touched
        .entry(HISTORY_STORAGE_ADDRESS)
        .or_default()
        .insert(ring(number.saturating_sub(1)));
    for queue in [
        WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
        CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    ] {
        // Excess, count, queue head and tail; entries of a non-empty queue are not added (the
        // block is then unverifiable).
        touched
            .entry(queue)
            .or_default()
            .extend((0..4u64).map(|slot| B256::from(U256::from(slot))));
    }

    let proofs: Vec<(EIP1186AccountProofResponse, EIP1186AccountProofResponse)> =
        futures::stream::iter(touched)
            .map(|(address, slots)| {
                let slots: Vec<B256> = slots.into_iter().collect();
                let proof = move |at: u64| {
                    let slots = slots.clone();
                    async move {
                        let params = (address, slots, BlockId::number(at));
                        let value = call(provider, timeout, "eth_getProof", params).await?;
                        decode::<EIP1186AccountProofResponse>(value, "eth_getProof")
                    }
                };
                async move { Ok::<_, Failure>((proof(number - 1).await?, proof(number).await?)) }
            })
            .buffer_unordered(CONCURRENT_PROOFS)
            .try_collect()
            .await?;

    // Codes the tracer did not report (the system contracts'): `eth_getCode` at the parent.
    let known: BTreeSet<B256> = codes.iter().map(keccak256).collect();
    let missing: Vec<Address> = proofs
        .iter()
        .map(|(before, _)| before)
        .filter(|p| p.code_hash != KECCAK256_EMPTY && !known.contains(&p.code_hash))
        .map(|p| p.address)
        .collect();
    let fetched: Vec<Bytes> = futures::stream::iter(missing)
        .map(|address| async move {
            let params = (address, BlockId::number(number - 1));
            let value = call(provider, timeout, "eth_getCode", params).await?;
            decode::<Bytes>(value, "eth_getCode")
        })
        .buffer_unordered(CONCURRENT_PROOFS)
        .try_collect()
        .await?;
    codes.extend(fetched);

    let mut nodes = Vec::new();
    for (before, after) in proofs {
        nodes.extend(before.account_proof);
        nodes.extend(before.storage_proof.into_iter().flat_map(|p| p.proof));
        let after_nodes = after
            .account_proof
            .iter()
            .chain(after.storage_proof.iter().flat_map(|p| &p.proof));
        nodes.extend(after_nodes.flat_map(|node| collapse_candidates(node)));
    }
    Ok(ProofWitness {
        parent,
        nodes,
        codes,
    })
}

fn decode<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    method: &str,
) -> Result<T, Failure> {
    serde_json::from_value(value).map_err(|e| {
        Failure::Unverifiable(format!("{method} answered in an unexpected shape: {e}"))
    })
}

//! The host's state-root stage: after a block passes [`crate::verify`], it is re-executed
//! statelessly ([`avs_exex_stateless`]) over the node's `debug_executionWitness` (or, from a
//! node without it, a witness assembled from proofs: [`super::proof_witness`]), and the
//! header's state root is [`StateRootCheck::Verified`] only if execution reproduces it (and,
//! see [`super::verified_run`], its parent's was).
//!
//! Outcomes:
//! - reproduced: `Verified`;
//! - a different state root (or gas used, receipts root, logs bloom, requests hash): under
//!   `required` the node contradicts itself, so the block is refused as invalid data
//!   ([`FetchError::StateRoot`]), like a block whose transactions root is wrong; under
//!   `best_effort` it is delivered as unverifiable with both values (a fork this build does not
//!   know must not stop a node that signs unverified roots anyway);
//! - not re-executable (no witness endpoint, a node whose state roots are not Ethereum's, an
//!   OP-stack deposit, a witness that lacks a node): delivered as
//!   [`StateRootCheck::Unverifiable`] with the reason; what that stops is the ExEx's policy
//!   (the AVS signs nothing above such a block when verification is `required`).
//!
//! The witness's headers are only used through the hash chain from the block's parent hash,
//! so the parent's state root and every `BLOCKHASH` answer are bound to the verified header.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use alloy::{
    consensus::{Header, TxEnvelope},
    eips::BlockNumberOrTag,
    primitives::{B256, BlockNumber, Bytes},
    providers::{DynProvider, Provider},
    rlp::Decodable,
};
use avs_exex_stateless::{ChainRules, Verdict, Witness, verify_state_root};
use avs_exex_types::{BlockTransaction, StateRootCheck};
use serde::Deserialize;
use tracing::{info, warn};

use super::{
    HostError, HostMetrics,
    fetch::{FetchError, bounded, is_method_not_found},
    proof_witness,
};
use crate::chain::BlockWithReceipts;

/// What the host does about state roots (`state_root_verification`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRootMode {
    /// No re-execution; blocks are delivered as [`StateRootCheck::NotChecked`].
    Off,
    /// Re-execute where the node allows it; otherwise deliver blocks as unverifiable.
    BestEffort,
    /// As `BestEffort`, but the host refuses to start unless the node serves witnesses (or
    /// traces and proofs to assemble them); the AVS signs no checkpoint at or above a block
    /// that is not `Verified`, and an ended run of verified roots stays ended across restarts.
    Required,
}

impl std::str::FromStr for StateRootMode {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "off" => Ok(Self::Off),
            "best_effort" => Ok(Self::BestEffort),
            "required" => Ok(Self::Required),
            other => Err(format!(
                "`{other}` is not a state-root verification mode (off, best_effort, required)"
            )),
        }
    }
}

impl std::fmt::Display for StateRootMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::BestEffort => "best_effort",
            Self::Required => "required",
        })
    }
}

/// How the host verifies state roots (part of [`super::HostConfig`]).
#[derive(Debug, Clone, Default)]
pub struct StateRootConfig {
    /// The mode; `None` chooses at start: `required` if the node serves witnesses, otherwise
    /// `best_effort`.
    pub mode: Option<StateRootMode>,
    /// Fork rules of the followed chain; `None` uses the public network of its chain id (a
    /// chain of another id is then unverifiable).
    pub rules: Option<ChainRules>,
}

/// Where the state roots come from, decided once at start.
#[derive(Debug, Clone)]
enum Source {
    /// Re-execute over `debug_executionWitness` under these rules; `probed` if the node
    /// answered the start-up probe with a witness (only then is `required` the default).
    Witness { rules: ChainRules, probed: bool },
    /// Re-execute over a witness assembled from `debug_traceBlockByNumber` and `eth_getProof`
    /// ([`super::proof_witness`]) under these rules.
    Proofs(ChainRules),
    /// Every block is unverifiable, for this reason.
    Unavailable(String),
}

/// The state-root stage of a fetcher.
#[derive(Debug, Clone)]
pub(crate) struct StateRoots {
    source: Source,
    mode: StateRootMode,
    metrics: HostMetrics,
}

/// How long a block's witness is asked for again while the node fails to give it, before the
/// block is unverifiable.
const WITNESS_PATIENCE: Duration = Duration::from_secs(120);

/// The answer of `debug_executionWitness` (reth, geth, erigon, nethermind).
#[derive(Debug, Deserialize)]
struct ExecutionWitness {
    state: Vec<Bytes>,
    #[serde(default)]
    codes: Vec<Bytes>,
    /// RLP headers (reth) or header objects (geth).
    #[serde(default)]
    headers: Vec<serde_json::Value>,
}

impl StateRoots {
    /// Decides the mode and the source (asking the node which client it is and whether it serves
    /// witnesses) and says which path the host will use. `None` when verification is off.
    pub(crate) async fn probe(
        config: &StateRootConfig,
        provider: &DynProvider,
        chain_id: u64,
        probe_timeout: Duration,
        metrics: &HostMetrics,
    ) -> Result<Option<(StateRootMode, Self)>, HostError> {
        if config.mode == Some(StateRootMode::Off) {
            info!("state-root verification: off (state roots are signed as the node reports them)");
            return Ok(None);
        }
        let source = Self::source(config, provider, chain_id, probe_timeout).await;
        let mode = match (&source, config.mode) {
            (Source::Unavailable(reason), Some(StateRootMode::Required)) => {
                return Err(HostError::Config(format!(
                    "state_root_verification = required, but {reason}"
                )));
            }
            (_, Some(mode)) => mode,
            (Source::Witness { probed: true, .. }, None) => StateRootMode::Required,
            // A probe that failed, and proofs (which cannot rebuild every witness, see
            // `proof_witness`): not required by default.
            (
                Source::Witness { probed: false, .. } | Source::Proofs(_) | Source::Unavailable(_),
                None,
            ) => StateRootMode::BestEffort,
        };
        match &source {
            Source::Witness { .. } => info!(
                %mode,
                "state-root verification: every block is re-executed over the node's \
                 debug_executionWitness"
            ),
            Source::Proofs(_) => info!(
                %mode,
                "state-root verification: the node serves no debug_executionWitness; every block \
                 is re-executed over eth_getProof proofs of what debug_traceBlockByNumber \
                 (prestateTracer) says it touches (blocks whose witness this cannot complete are \
                 unverifiable)"
            ),
            Source::Unavailable(reason) => warn!(
                %mode,
                "state-root verification: blocks are unverifiable ({reason}); state roots are \
                 signed as the node reports them"
            ),
        }
        Ok(Some((
            mode,
            Self {
                source,
                mode,
                metrics: metrics.clone(),
            },
        )))
    }

    async fn source(
        config: &StateRootConfig,
        provider: &DynProvider,
        chain_id: u64,
        timeout: Duration,
    ) -> Source {
        let client = bounded(timeout, provider.get_client_version().into_future())
            .await
            .unwrap_or_default();
        if client.to_ascii_lowercase().starts_with("anvil") {
            // anvil keeps slots written as zero and touched empty accounts in its trie: its
            // roots are not Ethereum's, and its verifier must not learn its quirks.
            return Source::Unavailable(format!(
                "the node ({client}) computes a non-standard state root"
            ));
        }
        let Some(rules) = config
            .rules
            .clone()
            .or_else(|| ChainRules::for_chain_id(chain_id))
        else {
            return Source::Unavailable(format!(
                "the fork schedule of chain {chain_id} is unknown to this build"
            ));
        };
        let probe = bounded(
            timeout,
            provider.raw_request::<_, serde_json::Value>(
                "debug_executionWitness".into(),
                (BlockNumberOrTag::Latest,),
            ),
        )
        .await;
        if !missing_method(&probe) {
            if let Err(err) = &probe {
                warn!(%err, "the node did not answer the debug_executionWitness probe");
            }
            return Source::Witness {
                rules,
                probed: probe.is_ok(),
            };
        }
        let traces = bounded(
            timeout,
            provider.raw_request::<_, serde_json::Value>(
                "debug_traceBlockByNumber".into(),
                (
                    BlockNumberOrTag::Latest,
                    serde_json::json!({"tracer": "prestateTracer"}),
                ),
            ),
        )
        .await;
        if missing_method(&traces) {
            Source::Unavailable(format!(
                "the node ({client}) serves neither debug_executionWitness nor \
                 debug_traceBlockByNumber"
            ))
        } else {
            Source::Proofs(rules)
        }
    }

    /// The state-root verdict of a block that passed [`crate::verify`].
    pub(crate) async fn check(
        &self,
        provider: &DynProvider,
        timeout: Duration,
        block: &BlockWithReceipts,
    ) -> Result<StateRootCheck, FetchError> {
        match &self.source {
            Source::Unavailable(reason) => Ok(StateRootCheck::Unverifiable(reason.clone())),
            // Genesis has no transactions to run: its state is the chain's allocation.
            _ if block.number() == 0 => Ok(StateRootCheck::Unverifiable(
                "the genesis block is not executed".to_owned(),
            )),
            Source::Witness { rules, .. } | Source::Proofs(rules) => {
                let verdict = self.reexecute(rules, provider, timeout, block).await?;
                if verdict != Verdict::Verified && self.moved_on(provider, timeout, block).await? {
                    // The node reorged between the block and its witness: fetch again.
                    return Err(FetchError::Missing(BlockNumberOrTag::Number(
                        block.number(),
                    )));
                }
                self.judge(block.number(), verdict)
            }
        }
    }

    /// What a verdict means for the block under the mode.
    fn judge(&self, number: BlockNumber, verdict: Verdict) -> Result<StateRootCheck, FetchError> {
        match verdict {
            Verdict::Verified => Ok(StateRootCheck::Verified),
            Verdict::Unverifiable { reason } => Ok(StateRootCheck::Unverifiable(reason)),
            Verdict::Mismatch {
                field,
                header,
                computed,
            } => {
                self.metrics.state_root_mismatched_total.inc();
                if self.mode == StateRootMode::Required {
                    Err(FetchError::StateRoot {
                        number,
                        field,
                        header,
                        computed,
                    })
                } else {
                    // Under best_effort a mismatch (a lying node, or a fork this build does not
                    // know) does not stop the host: the block is delivered unverified.
                    Ok(StateRootCheck::Unverifiable(format!(
                        "re-execution gives {field} {computed}, but the header says {header}"
                    )))
                }
            }
        }
    }

    /// The block's witness, asked again with back-off for up to [`WITNESS_PATIENCE`] while the
    /// node fails to give it (a timeout, a dropped connection, an error answer such as a rate
    /// limit): one unverifiable block ends the verified run, so a passing failure must not make
    /// one, and a lasting one must not stall the host forever either.
    async fn witness(
        &self,
        provider: &DynProvider,
        timeout: Duration,
        block: &BlockWithReceipts,
    ) -> Result<Result<Gathered, String>, FetchError> {
        let number = block.number();
        let deadline = Instant::now() + WITNESS_PATIENCE;
        let mut delay = Duration::from_millis(500);
        loop {
            let gathered = match &self.source {
                Source::Proofs(_) => gather_proofs(provider, timeout, block).await,
                _ => gather_witness(provider, timeout, block).await,
            };
            match gathered {
                Ok(outcome) => return Ok(outcome),
                // The node moved to another branch: the host fetches the block again.
                Err(_) if self.moved_on(provider, timeout, block).await? => {
                    return Err(FetchError::Missing(BlockNumberOrTag::Number(number)));
                }
                Err(err) if Instant::now() + delay < deadline => {
                    warn!(block = number, %err, retry_in = ?delay, "no witness yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Err(err) => {
                    return Ok(Err(format!(
                        "no witness for block {number} within {WITNESS_PATIENCE:?}: {err}"
                    )));
                }
            }
        }
    }

    async fn reexecute(
        &self,
        rules: &ChainRules,
        provider: &DynProvider,
        timeout: Duration,
        block: &BlockWithReceipts,
    ) -> Result<Verdict, FetchError> {
        let Some(transactions) = ethereum_transactions(block) else {
            return Ok(Verdict::unverifiable(
                "OP-stack deposit transactions are not executed by this build",
            ));
        };
        let started = Instant::now();
        let Gathered {
            parent_state_root,
            nodes,
            codes,
            hashes,
        } = match self.witness(provider, timeout, block).await? {
            Ok(gathered) => gathered,
            Err(reason) => return Ok(Verdict::Unverifiable { reason }),
        };
        self.metrics
            .witness_fetch_seconds
            .observe(started.elapsed().as_secs_f64());
        let bytes: usize = nodes.iter().chain(&codes).map(|b| b.len()).sum();
        self.metrics.witness_bytes.observe(bytes as f64);

        let rules = rules.clone();
        let header = block.header().clone();
        let withdrawals = block.block.body.withdrawals.clone();
        // Hashing the witness and executing are CPU work: off the async threads.
        let task = tokio::task::spawn_blocking(move || {
            let witness = Witness::new(nodes, codes);
            let started = Instant::now();
            let verdict = verify_state_root(
                &rules,
                &header,
                &transactions,
                withdrawals.as_ref().map(|w| w.as_slice()),
                parent_state_root,
                &witness,
                &hashes,
            );
            (verdict, started.elapsed())
        });
        Ok(match task.await {
            Ok((verdict, elapsed)) => {
                let gas = block.header().gas_used;
                if verdict == Verdict::Verified && gas > 0 {
                    self.metrics
                        .execution_seconds_per_mgas
                        .set(elapsed.as_secs_f64() / (gas as f64 / 1e6));
                }
                verdict
            }
            // A panic is deterministic: retrying would panic again.
            Err(err) => Verdict::unverifiable(format!("re-execution failed: {err}")),
        })
    }

    /// True if the node's canonical block at `block`'s height is no longer `block`.
    async fn moved_on(
        &self,
        provider: &DynProvider,
        timeout: Duration,
        block: &BlockWithReceipts,
    ) -> Result<bool, FetchError> {
        let call = provider.get_block_by_number(BlockNumberOrTag::Number(block.number()));
        let canonical = bounded(timeout, call.into_future()).await?;
        Ok(canonical.is_none_or(|c| c.header.hash != block.hash))
    }
}

/// What a block's re-execution starts from.
struct Gathered {
    parent_state_root: B256,
    /// Trie nodes and codes, as the node sent them (hashed off the async threads).
    nodes: Vec<Bytes>,
    codes: Vec<Bytes>,
    /// Canonical hashes `BLOCKHASH` may read.
    hashes: BTreeMap<BlockNumber, B256>,
}

/// True if the node answered that it has no such method.
fn missing_method<T>(answer: &Result<T, FetchError>) -> bool {
    matches!(answer, Err(FetchError::Rpc(err)) if is_method_not_found(err))
}

/// The block's `debug_executionWitness`: `Ok(Err(reason))` if it makes the block unverifiable,
/// `Err` for a failure that may pass (asked again by [`StateRoots::witness`]).
async fn gather_witness(
    provider: &DynProvider,
    timeout: Duration,
    block: &BlockWithReceipts,
) -> Result<Result<Gathered, String>, FetchError> {
    let number = block.number();
    let request = provider.raw_request::<_, serde_json::Value>(
        "debug_executionWitness".into(),
        (BlockNumberOrTag::Number(number),),
    );
    let answer = match bounded(timeout, request).await {
        Ok(answer) => answer,
        Err(FetchError::Rpc(err)) if is_method_not_found(&err) => {
            return Ok(Err(format!(
                "the node gave no witness for block {number}: {err}"
            )));
        }
        // Other error answers (a rate limit, a backend still importing) may pass.
        Err(err) => return Err(err),
    };
    let witness: ExecutionWitness = match serde_json::from_value(answer) {
        Ok(witness) => witness,
        Err(err) => {
            return Ok(Err(format!(
                "the node's witness for block {number} does not decode: {err}"
            )));
        }
    };
    let ancestors = match ancestors(block.header(), &witness.headers) {
        Ok(ancestors) => ancestors,
        Err(reason) => return Ok(Err(reason)),
    };
    let Some(parent) = ancestors.parent else {
        if ancestors.other_parent {
            // A witness for a block on another branch (the node reorged between the calls).
            return Err(FetchError::Missing(BlockNumberOrTag::Number(number)));
        }
        return Ok(Err(format!(
            "the node's witness for block {number} holds no parent header"
        )));
    };
    Ok(Ok(Gathered {
        parent_state_root: parent.state_root,
        nodes: witness.state,
        codes: witness.codes,
        hashes: ancestors.hashes,
    }))
}

/// A witness assembled from proofs ([`proof_witness`]); only the parent's hash is known to
/// `BLOCKHASH`.
async fn gather_proofs(
    provider: &DynProvider,
    timeout: Duration,
    block: &BlockWithReceipts,
) -> Result<Result<Gathered, String>, FetchError> {
    match proof_witness::assemble(provider, timeout, block).await {
        Ok(assembled) => {
            let header = block.header();
            let hashes = header
                .number
                .checked_sub(1)
                .map(|parent| (parent, header.parent_hash))
                .into_iter()
                .collect();
            Ok(Ok(Gathered {
                parent_state_root: assembled.parent.state_root,
                nodes: assembled.nodes,
                codes: assembled.codes,
                hashes,
            }))
        }
        Err(proof_witness::Failure::Unverifiable(reason)) => Ok(Err(reason)),
        Err(proof_witness::Failure::Fetch(err)) => Err(err),
    }
}

/// The block's transactions as Ethereum's types; `None` if it holds an OP-stack deposit.
fn ethereum_transactions(block: &BlockWithReceipts) -> Option<Vec<TxEnvelope>> {
    block
        .transactions()
        .iter()
        .map(|tx| match tx {
            BlockTransaction::Ethereum(tx) => Some(tx.clone()),
            BlockTransaction::Deposit(_) => None,
        })
        .collect()
}

/// The ancestors a witness proves: the parent header (if the witness holds it) and the hashes
/// of the unbroken run of ancestors from it downwards.
#[derive(Debug)]
struct Ancestors {
    parent: Option<Header>,
    /// The witness holds a header at the parent's height with another hash.
    other_parent: bool,
    hashes: BTreeMap<BlockNumber, B256>,
}

/// Walks the witness's headers from `header`'s parent hash down; headers off that chain are
/// ignored. A header that does not decode makes the witness unusable.
fn ancestors(header: &Header, encoded: &[serde_json::Value]) -> Result<Ancestors, String> {
    let mut by_hash = std::collections::HashMap::new();
    for value in encoded {
        let header = decode_header(value)?;
        by_hash.insert(header.hash_slow(), header);
    }
    let mut hashes = BTreeMap::new();
    let parent = by_hash.get(&header.parent_hash).cloned();
    let mut expected = (header.number.checked_sub(1), header.parent_hash);
    while let (Some(number), hash) = expected {
        hashes.insert(number, hash);
        match by_hash.get(&hash) {
            Some(ancestor) if ancestor.number == number => {
                expected = (number.checked_sub(1), ancestor.parent_hash);
            }
            _ => break,
        }
    }
    let other_parent = parent.is_none()
        && by_hash
            .values()
            .any(|h| Some(h.number) == header.number.checked_sub(1));
    Ok(Ancestors {
        parent,
        other_parent,
        hashes,
    })
}

/// A witness header: RLP as a hex string (reth), or a JSON object (geth).
fn decode_header(value: &serde_json::Value) -> Result<Header, String> {
    let bad = |e: &dyn std::fmt::Display| format!("a witness header does not decode: {e}");
    match value {
        serde_json::Value::String(_) => {
            let rlp: Bytes = serde_json::from_value(value.clone()).map_err(|e| bad(&e))?;
            Header::decode(&mut rlp.as_ref()).map_err(|e| bad(&e))
        }
        _ => serde_json::from_value(value.clone()).map_err(|e| bad(&e)),
    }
}

#[cfg(test)]
mod tests {
    use alloy::rlp::Encodable;

    use super::*;

    fn chain(len: u64) -> Vec<Header> {
        let mut headers: Vec<Header> = Vec::new();
        for number in 0..len {
            let parent_hash = headers.last().map_or(B256::ZERO, Header::hash_slow);
            headers.push(Header {
                number,
                parent_hash,
                state_root: B256::with_last_byte(number as u8),
                ..Header::default()
            });
        }
        headers
    }

    fn rlp(header: &Header) -> serde_json::Value {
        let mut out = Vec::new();
        header.encode(&mut out);
        serde_json::to_value(Bytes::from(out)).unwrap()
    }

    #[test]
    fn ancestors_follow_the_hash_chain_from_the_parent() {
        let headers = chain(5);
        let block = &headers[4];
        // RLP and JSON headers, in any order, plus one off the chain.
        let stranger = Header {
            number: 2,
            ..Header::default()
        };
        let encoded = vec![
            serde_json::to_value(&headers[2]).unwrap(),
            rlp(&headers[3]),
            rlp(&stranger),
            rlp(&headers[1]),
        ];
        let found = ancestors(block, &encoded).unwrap();
        assert_eq!(found.parent.unwrap().state_root, headers[3].state_root);
        let expected: BTreeMap<_, _> = (0..4)
            .map(|n| (n, headers[n as usize].hash_slow()))
            .collect();
        // Block 0's hash is known from block 1's parent hash; nothing below it.
        assert_eq!(found.hashes, expected);
    }

    #[test]
    fn a_witness_without_the_parent_proves_only_the_parent_hash() {
        let headers = chain(4);
        let found = ancestors(&headers[3], &[rlp(&headers[1])]).unwrap();
        assert!(found.parent.is_none());
        assert_eq!(found.hashes, BTreeMap::from([(2, headers[2].hash_slow())]));
    }

    #[test]
    fn an_undecodable_header_is_an_error() {
        let headers = chain(2);
        let err = ancestors(&headers[1], &[serde_json::json!("0x1234")]).unwrap_err();
        assert!(err.contains("does not decode"), "{err}");
    }

    #[test]
    fn modes_parse_and_print() {
        for mode in [
            StateRootMode::Off,
            StateRootMode::BestEffort,
            StateRootMode::Required,
        ] {
            assert_eq!(mode.to_string().parse::<StateRootMode>(), Ok(mode));
        }
        assert!(
            "on".parse::<StateRootMode>()
                .unwrap_err()
                .contains("off, best_effort, required")
        );
    }
}

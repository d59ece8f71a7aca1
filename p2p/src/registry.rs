//! Builds the [`OperatorSet`] of a reference block from EigenLayer's real registries.
//!
//! - Ids and stakes: `OperatorStateRetriever.getOperatorState(registryCoordinator,
//!   quorumNumbers, block)`, the registries' history at exactly that block.
//! - BLS keys: the BLSApkRegistry stores only G1 keys; the G2 key exists on-chain only in the
//!   `NewPubkeyRegistration` event of the operator's registration. The reader scans those
//!   events with `eth_getLogs` from the deployment block (ahead of the first task with
//!   [`RegistryReader::prefetch_keys`]), in block ranges that shrink when the provider refuses
//!   one, and keeps
//!   every key it has seen: an operator id is the hash of its G1 key and the registry binds
//!   the G2 key to it with a pairing check, so a key never changes (even a registration that
//!   is later reorged out names the same keys for the same id).
//! - Sockets: the same scan reads the RegistryCoordinator's `OperatorSocketUpdate` events
//!   (registration and `updateSocket`): where each operator's node says it can be reached,
//!   the last one seen per operator ([`RegistryReader::socket`]). [`RegistryReader::catch_up`]
//!   extends the scan to a block, e.g. each new task's. A socket is only a hint of where to
//!   dial: what a peer signs is checked against the operator's BLS key, whoever relays it.
//! - A bounded cache of operator sets per (reference block, quorums), shared as `Arc` between
//!   the tasks created in the same block.
//!
//! [`RegistryReader::task_info`] turns a created task into the [`TaskInfo`] the
//! [`SignatureService`](crate::SignatureService) needs.

use crate::operators::{OperatorInfo, OperatorSet, QuorumNumber, Stake, TaskInfo};
use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::{Eip712Domain, SolEvent},
    transports::{RpcError, TransportErrorKind},
};
use avs_bls::{G1Point, G2Point, OperatorId, PublicKey, PublicKeyG2};
use avs_contracts::{
    avs::{IAvsTaskManager, TaskAttestation},
    deployment::Deployment,
    eigenlayer::interfaces::{
        IBLSApkRegistryCalls::NewPubkeyRegistration, IOperatorStateRetrieverCalls,
        IRegistryCoordinatorCalls::OperatorSocketUpdate,
    },
};
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

/// Largest block range of one `eth_getLogs` request (public nodes commonly cap ranges).
pub const DEFAULT_LOG_RANGE: u64 = 10_000;

/// Operator sets kept by default (a few per block of recent tasks).
pub const DEFAULT_SET_CACHE: usize = 64;

/// Longest socket kept; a longer one (any operator can publish any string) is ignored.
pub const MAX_SOCKET_LEN: usize = 512;

/// Why an operator set could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// `getOperatorState` failed (node unreachable, block not available, bad quorum number).
    #[error("OperatorStateRetriever.getOperatorState at block {block}: {source}")]
    OperatorState {
        /// The reference block.
        block: u32,
        /// The call's error.
        #[source]
        source: alloy::contract::Error,
    },
    /// Fetching `NewPubkeyRegistration` logs failed.
    #[error("eth_getLogs for NewPubkeyRegistration in blocks {from}..={to}: {source}")]
    Logs {
        /// First block of the range.
        from: u64,
        /// Last block of the range.
        to: u64,
        /// The node's answer.
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// A registered operator has no `NewPubkeyRegistration` event up to the reference block:
    /// the deployment block is wrong or the node prunes logs.
    #[error(
        "no NewPubkeyRegistration event for operator {operator_id} up to block {block}: check the deployment block of the deployment file and that the node keeps logs"
    )]
    MissingKeys {
        /// The operator.
        operator_id: B256,
        /// The reference block.
        block: u32,
    },
    /// `getOperatorState` answered a different number of quorum lists than requested.
    #[error("getOperatorState returned {returned} quorum lists for {requested} quorums")]
    QuorumCount {
        /// Quorums requested.
        requested: usize,
        /// Lists returned.
        returned: usize,
    },
}

impl RegistryError {
    /// Whether asking again may succeed: the endpoint failed or answered for another head
    /// (e.g. below the block during a reorg). The other errors come from the deployment or
    /// the endpoint's configuration (missing keys, a malformed answer) and repeat.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::OperatorState { .. } | Self::Logs { .. })
    }
}

/// A registered operator's BLS keys, as its registration event named them.
#[derive(Clone, Debug)]
struct Keys {
    g1: PublicKey,
    g2: PublicKeyG2,
}

/// Reads operator sets from the registries; keeps keys and recent sets in memory.
pub struct RegistryReader<P> {
    provider: P,
    /// The deployment's EIP-712 signing domain (for [`TaskInfo::digest`]).
    domain: Eip712Domain,
    registry_coordinator: Address,
    operator_state_retriever: Address,
    bls_apk_registry: Address,
    /// The deployment block: where scans start.
    first_log_block: u64,
    /// First block not yet scanned for key registrations.
    next_log_block: u64,
    /// Largest `eth_getLogs` range; halved for good when the provider refuses one.
    log_range: u64,
    keys: HashMap<OperatorId, Keys>,
    /// The last socket each operator published (bounded by the registered operators, each
    /// at most [`MAX_SOCKET_LEN`] long).
    sockets: HashMap<OperatorId, String>,
    sets: HashMap<(u32, Vec<QuorumNumber>), Arc<OperatorSet>>,
    /// Insertion order of `sets`, for eviction.
    set_order: VecDeque<(u32, Vec<QuorumNumber>)>,
    set_capacity: usize,
}

impl<P: Provider> RegistryReader<P> {
    /// A reader of `deployment`'s registries that scans key registrations from its
    /// `deployment_block` and keeps up to [`DEFAULT_SET_CACHE`] operator sets.
    pub fn new(provider: P, deployment: &Deployment) -> Self {
        let el = &deployment.eigenlayer;
        Self {
            provider,
            domain: deployment.signing_domain(),
            registry_coordinator: el.registry_coordinator,
            operator_state_retriever: el.operator_state_retriever,
            bls_apk_registry: el.bls_apk_registry,
            first_log_block: deployment.deployment_block,
            next_log_block: deployment.deployment_block,
            log_range: DEFAULT_LOG_RANGE,
            keys: HashMap::new(),
            sockets: HashMap::new(),
            sets: HashMap::new(),
            set_order: VecDeque::new(),
            set_capacity: DEFAULT_SET_CACHE,
        }
    }

    /// Sets the largest `eth_getLogs` block range (at least 1).
    pub fn with_log_range(mut self, blocks: u64) -> Self {
        self.log_range = blocks.max(1);
        self
    }

    /// Sets how many operator sets are kept (at least 1).
    pub fn with_set_cache(mut self, sets: usize) -> Self {
        self.set_capacity = sets.max(1);
        self
    }

    /// The [`TaskInfo`] of task `task_index`, with the operator set at its `taskCreatedBlock`.
    pub async fn task_info(
        &mut self,
        task_index: u32,
        task: &IAvsTaskManager::Task,
    ) -> Result<TaskInfo, RegistryError> {
        let quorum_numbers = task.quorumNumbers.to_vec();
        let operators = self
            .operator_set(task.taskCreatedBlock, &quorum_numbers)
            .await?;
        Ok(TaskInfo {
            task_index,
            attestation: Arc::new(TaskAttestation {
                domain: self.domain.clone(),
                task: task.clone(),
            }),
            task_created_block: task.taskCreatedBlock,
            quorum_numbers,
            // The contract bounds the threshold to ≤ 100 at task creation; saturate anyway so a
            // nonsensical value makes quorum unreachable rather than trivially reached.
            quorum_threshold_percentage: u8::try_from(task.quorumThresholdPercentage)
                .unwrap_or(u8::MAX),
            operators,
        })
    }

    /// The operators registered in `quorum_numbers` at `block`, with stakes and keys.
    pub async fn operator_set(
        &mut self,
        block: u32,
        quorum_numbers: &[QuorumNumber],
    ) -> Result<Arc<OperatorSet>, RegistryError> {
        let cache_key = (block, quorum_numbers.to_vec());
        if let Some(set) = self.sets.get(&cache_key) {
            return Ok(Arc::clone(set));
        }
        let state =
            IOperatorStateRetrieverCalls::new(self.operator_state_retriever, &self.provider)
                .getOperatorState(
                    self.registry_coordinator,
                    quorum_numbers.to_vec().into(),
                    block,
                )
                .call()
                .await
                .map_err(|source| RegistryError::OperatorState { block, source })?;

        let mut stakes: BTreeMap<OperatorId, BTreeMap<QuorumNumber, Stake>> = BTreeMap::new();
        // The retriever answers one list per requested quorum, in request order.
        if state.len() != quorum_numbers.len() {
            return Err(RegistryError::QuorumCount {
                requested: quorum_numbers.len(),
                returned: state.len(),
            });
        }
        for (&quorum, operators) in quorum_numbers.iter().zip(&state) {
            for op in operators {
                stakes
                    .entry(OperatorId(op.operatorId))
                    .or_default()
                    .insert(quorum, op.stake.to::<Stake>());
            }
        }
        if stakes.keys().any(|id| !self.keys.contains_key(id)) {
            self.catch_up(u64::from(block)).await?;
        }
        if stakes.keys().any(|id| !self.keys.contains_key(id)) {
            // A reorg may have moved a registration into blocks scanned before it: scan
            // everything once more before calling the key missing.
            tracing::warn!(
                block,
                "an operator's key is not in the scanned logs; rescanning from the deployment block"
            );
            self.next_log_block = self.first_log_block;
            self.catch_up(u64::from(block)).await?;
        }
        let mut operators = BTreeMap::new();
        for (id, stakes) in stakes {
            let keys = self.keys.get(&id).ok_or(RegistryError::MissingKeys {
                operator_id: id.0,
                block,
            })?;
            operators.insert(
                id,
                OperatorInfo {
                    pubkey_g1: keys.g1,
                    pubkey_g2: keys.g2.clone(),
                    stakes,
                },
            );
        }
        let set = Arc::new(OperatorSet {
            reference_block: u64::from(block),
            operators,
        });
        if self.sets.len() >= self.set_capacity
            && let Some(oldest) = self.set_order.pop_front()
        {
            self.sets.remove(&oldest);
        }
        self.set_order.push_back(cache_key.clone());
        self.sets.insert(cache_key, Arc::clone(&set));
        Ok(set)
    }

    /// Number of operators whose keys are known.
    pub fn known_keys(&self) -> usize {
        self.keys.len()
    }

    /// First block whose key registrations have not been scanned yet.
    pub fn next_scan_block(&self) -> u64 {
        self.next_log_block
    }

    /// Scans key registrations up to block `to` ahead of the first task, so the first task
    /// does not wait for a scan from the deployment block: called at start-up. `progress` is
    /// called after each range with the last block scanned.
    pub async fn prefetch_keys(
        &mut self,
        to: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<(), RegistryError> {
        while self.next_log_block <= to {
            self.scan_range(to).await?;
            progress(self.next_log_block - 1);
        }
        Ok(())
    }

    /// The socket `operator` published last (up to the scanned block), if any.
    pub fn socket(&self, operator: &OperatorId) -> Option<&str> {
        self.sockets.get(operator).map(String::as_str)
    }

    /// Scans key registrations and socket updates from the first unscanned block up to `to`.
    pub async fn catch_up(&mut self, to: u64) -> Result<(), RegistryError> {
        while self.next_log_block <= to {
            self.scan_range(to).await?;
        }
        Ok(())
    }

    /// Scans one range from the first unscanned block towards `to`. The range adapts to the
    /// provider: a JSON-RPC error (the usual answer to a range or result-size limit) halves it,
    /// for this and every later scan (a provider's limit does not grow), and the range is tried
    /// again. Only an error at a one-block range is returned. Transport failures are returned
    /// at once (the transport's retry layer has already retried them).
    async fn scan_range(&mut self, to: u64) -> Result<(), RegistryError> {
        let from = self.next_log_block;
        loop {
            let end = to.min(from.saturating_add(self.log_range - 1));
            // One request for both events: the ranges and the provider's limits are shared.
            let filter = Filter::new()
                .address(vec![self.bls_apk_registry, self.registry_coordinator])
                .event_signature(vec![
                    NewPubkeyRegistration::SIGNATURE_HASH,
                    OperatorSocketUpdate::SIGNATURE_HASH,
                ])
                .from_block(from)
                .to_block(end);
            match self.provider.get_logs(&filter).await {
                Ok(logs) => {
                    for log in &logs {
                        self.read_log(&log.inner);
                    }
                    self.next_log_block = end + 1;
                    return Ok(());
                }
                Err(RpcError::ErrorResp(payload)) if self.log_range > 1 => {
                    self.log_range /= 2;
                    tracing::debug!(
                        from,
                        to = end,
                        error = %payload,
                        next_range = self.log_range,
                        "eth_getLogs refused the range; halving it"
                    );
                }
                Err(source) => {
                    return Err(RegistryError::Logs {
                        from,
                        to: end,
                        source,
                    });
                }
            }
        }
    }

    /// Learns from one scanned log: a key registration from the BLSApkRegistry, or a socket
    /// from the RegistryCoordinator. Anything else (another contract's event with the same
    /// signature, an undecodable one) is skipped with a warning.
    fn read_log(&mut self, log: &alloy::primitives::Log) {
        let topic = log.topics().first().copied();
        if log.address == self.bls_apk_registry
            && topic == Some(NewPubkeyRegistration::SIGNATURE_HASH)
        {
            match NewPubkeyRegistration::decode_log(log) {
                Ok(event) => self.learn(&event.data),
                Err(err) => tracing::warn!(%err, "undecodable NewPubkeyRegistration log"),
            }
        } else if log.address == self.registry_coordinator
            && topic == Some(OperatorSocketUpdate::SIGNATURE_HASH)
        {
            match OperatorSocketUpdate::decode_log(log) {
                Ok(event) if event.socket.len() <= MAX_SOCKET_LEN => {
                    self.sockets
                        .insert(OperatorId(event.operatorId), event.data.socket);
                }
                Ok(event) => tracing::warn!(
                    operator = %event.operatorId,
                    len = event.socket.len(),
                    "socket longer than {MAX_SOCKET_LEN} bytes ignored"
                ),
                Err(err) => tracing::warn!(%err, "undecodable OperatorSocketUpdate log"),
            }
        }
    }

    fn learn(&mut self, event: &NewPubkeyRegistration) {
        let g1 = G1Point {
            x: event.pubkeyG1.X,
            y: event.pubkeyG1.Y,
        };
        let g2 = G2Point {
            x: event.pubkeyG2.X,
            y: event.pubkeyG2.Y,
        };
        // The registry verified both keys before emitting; a failure here means a different
        // contract at the configured address, and the operator simply stays unknown.
        match (PublicKey::try_from(g1), PublicKeyG2::try_from(g2)) {
            (Ok(g1), Ok(g2)) => {
                self.keys.insert(g1.operator_id(), Keys { g1, g2 });
            }
            (g1, g2) => tracing::warn!(
                operator = %event.operator,
                g1_ok = g1.is_ok(),
                g2_ok = g2.is_ok(),
                "NewPubkeyRegistration with an invalid key ignored"
            ),
        }
    }
}

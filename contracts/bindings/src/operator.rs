//! Operator onboarding against EigenLayer's slashing-era core: deposit, register as an
//! EigenLayer operator, allocate slashable magnitude to the AVS's operator sets, register for
//! them, deregister, query status, refresh stakes.
//!
//! EigenLayer's model, as an operator meets it:
//! - `DelegationManager.registerAsOperator` also sets the operator's **allocation delay** (blocks
//!   between allocating and the allocation counting). That setting itself only takes effect
//!   after the core's `ALLOCATION_CONFIGURATION_DELAY`; until then the operator cannot allocate.
//! - `AllocationManager.modifyAllocations` commits a fraction of the operator's magnitude in a
//!   strategy (1e18 = all of it) to operator set `q` = quorum `q`; it becomes **slashable** once
//!   the allocation delay has passed. The quorum weighs only that slashable stake.
//! - `AllocationManager.registerForOperatorSets` joins the sets; the AllocationManager calls the
//!   AVS's registry coordinator, which registers the BLS key (with its proof of possession: the
//!   key signs the G1 point `pubkeyRegistrationMessageHash(operator)`, so nobody can register a
//!   key they do not hold) and the socket, and refuses stake below the quorum minimum.
//! - Leaving (`deregisterFromOperatorSets`) or deallocating does not end slashability at once:
//!   the stake stays slashable for `DEALLOCATION_DELAY` blocks.
//!
//! [`OperatorClient::preflight_register`] runs every check the contracts would revert on (not an
//! operator, no or pending allocation, slashable stake below the minimum, existing registration,
//! a rejoin before the deallocation delay, key reuse, allowlist, freezing, quorum cap, chain) and reports the specific problem before a
//! transaction is sent.

use crate::{
    avs::AvsServiceManager,
    deployment::{Deployment, DeploymentError},
    devnet::DevnetToken,
    eigenlayer::interfaces::{
        BN254, IAllocationManager, IAllocationManagerCalls, IBLSApkRegistry, IBLSApkRegistryCalls,
        IDelegationManagerCalls, IIndexRegistryCalls, IRegistryCoordinatorCalls,
        IStakeRegistryCalls, IStrategyManagerCalls,
    },
    transactor::{Transactor, TxError},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256, aliases::U96},
    providers::Provider,
    sol_types::{SolCall, SolType, sol_data},
    transports::{RpcError, TransportErrorKind},
};
use avs_bls::{BlsError, G1Point, G2Point, PubkeyRegistrationParams, SecretKey};
use serde::Serialize;
use std::time::Duration;

/// The registry coordinator's `OperatorStatus.REGISTERED`.
pub const STATUS_REGISTERED: u8 = 1;
/// EigenLayer's magnitudes are fractions of 1e18 (`WAD`).
pub const WAD: u64 = 1_000_000_000_000_000_000;
/// The registration data's `RegistrationType.NORMAL` (no churn).
const REGISTRATION_NORMAL: u8 = 0;
/// The registry coordinator's registration data: `abi.encode(registrationType, socket, key)`.
type RegistrationData = (
    sol_data::Uint<8>,
    sol_data::String,
    IBLSApkRegistry::PubkeyRegistrationParams,
);
/// How often [`OperatorClient::wait_until_allocation_delay_set`] looks at the chain.
const DELAY_POLL: Duration = Duration::from_secs(1);

/// Why an onboarding step was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    /// The wallet's chain is not the deployment's ([`DeploymentError::WrongChain`]).
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// The operator is not registered with EigenLayer's DelegationManager.
    #[error(
        "{operator} is not an EigenLayer operator: run `avs-node operator register` (it registers with EigenLayer first)"
    )]
    NotEigenLayerOperator {
        /// The operator.
        operator: Address,
    },
    /// The operator's allocation delay is not in effect yet, so it cannot allocate.
    #[error(
        "{operator}'s allocation delay takes effect at block {effective_block} (EigenLayer's ALLOCATION_CONFIGURATION_DELAY after registering); allocate after it"
    )]
    AllocationDelayNotSet {
        /// The operator.
        operator: Address,
        /// The first block it can allocate in.
        effective_block: u64,
    },
    /// The operator allocated nothing to the quorum's operator set.
    #[error(
        "{operator} has allocated no magnitude to operator set {quorum}: allocate first (`avs-node operator register --allocate <fraction>`)"
    )]
    NoAllocation {
        /// The operator.
        operator: Address,
        /// The quorum (= operator set id).
        quorum: u8,
    },
    /// The operator's allocation is not slashable yet (its allocation delay has not passed).
    #[error(
        "{operator}'s allocation to operator set {quorum} counts from block {effective_block} (its allocation delay); register after it"
    )]
    AllocationPending {
        /// The operator.
        operator: Address,
        /// The quorum.
        quorum: u8,
        /// The block the allocation takes effect.
        effective_block: u64,
    },
    /// The requested allocation is not a fraction of the operator's magnitude.
    #[error("allocation fraction {fraction} must be above 0 and at most 1")]
    InvalidFraction {
        /// What was asked.
        fraction: f64,
    },
    /// The operator has all of its magnitude (or the pending part) committed elsewhere.
    #[error(
        "{operator} can allocate {allocatable} more magnitude in the strategy, {wanted} is needed: deallocate from other operator sets first"
    )]
    NotEnoughMagnitude {
        /// The operator.
        operator: Address,
        /// What is free.
        allocatable: u64,
        /// What the allocation needs.
        wanted: u64,
    },
    /// The operator's weighted slashable stake is below the quorum minimum.
    #[error(
        "{operator} has slashable stake {stake} in quorum {quorum}, below the minimum {minimum}: allocate a larger fraction or deposit more"
    )]
    NotEnoughStake {
        /// The operator.
        operator: Address,
        /// The quorum.
        quorum: u8,
        /// The operator's weight.
        stake: U96,
        /// The quorum's minimum.
        minimum: U96,
    },
    /// The operator is already registered with the AVS.
    #[error("{operator} is already registered with the AVS (operator id {operator_id})")]
    AlreadyRegistered {
        /// The operator.
        operator: Address,
        /// Its operator id.
        operator_id: B256,
    },
    /// The BLS key belongs to another operator.
    #[error(
        "BLS key {operator_id} is already registered by {owner}: every operator needs its own BLS key (`avs-node keys bls new`)"
    )]
    BlsKeyInUse {
        /// The key's operator id (hash of its G1 public key).
        operator_id: B256,
        /// The operator that registered it.
        owner: Address,
    },
    /// The operator registered another BLS key before; EigenLayer's BLSApkRegistry keeps it.
    #[error(
        "{operator} registered BLS key {registered} before, and EigenLayer keeps an operator's first key: register with that key, not {given}"
    )]
    BlsKeyChanged {
        /// The operator.
        operator: Address,
        /// The operator id of the key on chain.
        registered: B256,
        /// The operator id of the key given.
        given: B256,
    },
    /// A change of the allocation is still pending; EigenLayer allows one at a time.
    #[error(
        "{operator}'s allocation to operator set {quorum} is still changing (until block {effect_block}): change it again after that"
    )]
    AllocationChangePending {
        /// The operator.
        operator: Address,
        /// The quorum.
        quorum: u8,
        /// The block the pending change takes effect.
        effect_block: u32,
    },
    /// The AVS's allowlist is on and the operator is not on it.
    #[error("{operator} is not on the AVS allowlist: ask the AVS owner to add it")]
    NotAllowlisted {
        /// The operator.
        operator: Address,
    },
    /// The operator was slashed and frozen after a successful challenge and can never register
    /// again.
    #[error(
        "{operator} is frozen by the AVS (it signed a response proven wrong, and was slashed) and cannot register"
    )]
    Frozen {
        /// The operator.
        operator: Address,
    },
    /// The quorum has reached its operator cap.
    #[error("quorum {quorum} is full ({max} operators): the registry coordinator has no churn")]
    QuorumFull {
        /// The quorum.
        quorum: u8,
        /// Its cap.
        max: u32,
    },
    /// The operator left the operator set less than EigenLayer's deallocation delay ago.
    #[error(
        "{operator} left operator set {quorum} less than {delay} blocks ago (EigenLayer's DEALLOCATION_DELAY): it stays slashable there until then and can rejoin only after"
    )]
    RejoinTooEarly {
        /// The operator.
        operator: Address,
        /// The quorum (= operator set id).
        quorum: u8,
        /// `DEALLOCATION_DELAY`.
        delay: u32,
    },
    /// Deregistration of an operator that is not registered.
    #[error("{operator} is not registered with the AVS")]
    NotRegistered {
        /// The operator.
        operator: Address,
    },
    /// Waiting for a block did not end in time.
    #[error("block {block} was not reached within {waited:?}: is the chain producing blocks?")]
    Timeout {
        /// The block waited for.
        block: u64,
        /// How long.
        waited: Duration,
    },
    /// The BLS proof of possession could not be made.
    #[error("BLS proof of possession: {0}")]
    Bls(#[from] BlsError),
    /// A transaction failed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// A contract view failed.
    #[error("reading contract state: {0}")]
    Call(#[from] alloy::contract::Error),
    /// The node did not answer.
    #[error("RPC error: {0}")]
    Rpc(#[from] RpcError<TransportErrorKind>),
}

/// An operator's allocation to one of the AVS's operator sets, in the deployment's strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuorumAllocation {
    /// The quorum (= operator set id).
    pub quorum: u8,
    /// Magnitude allocated now (slashable), out of `max_magnitude`.
    pub magnitude: u64,
    /// The operator's total magnitude in the strategy (1e18 until it is first slashed).
    pub max_magnitude: u64,
    /// A pending change (negative: a deallocation, still slashable until it takes effect).
    pub pending_diff: i128,
    /// The block the pending change takes effect (0 when none).
    pub effect_block: u32,
    /// Slashable shares now: shares × magnitude / max magnitude.
    pub slashable_shares: U256,
    /// The registry's weighted stake of the operator (what signatures count).
    pub stake: U96,
}

/// What the chain says about an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorStatus {
    /// The operator's address.
    pub operator: Address,
    /// Registered with EigenLayer's DelegationManager.
    pub eigenlayer_operator: bool,
    /// Its allocation delay, once in effect.
    pub allocation_delay: Option<u32>,
    /// Its delegated shares in the deployment's strategy.
    pub shares: U256,
    /// Registered with the AVS (registry coordinator status REGISTERED).
    pub registered: bool,
    /// Its operator id, once it registered a BLS key.
    pub operator_id: Option<B256>,
    /// Its allocation and stake per quorum of the deployment.
    pub allocations: Vec<QuorumAllocation>,
    /// Frozen by the AVS.
    pub frozen: bool,
    /// Whether the AVS's allowlist is enabled.
    pub allowlist_enabled: bool,
    /// On the AVS's allowlist.
    pub allowlisted: bool,
}

/// Onboarding actions of one operator, signing with the provider's wallet (the operator's
/// ECDSA key).
#[derive(Debug)]
pub struct OperatorClient<'d, P> {
    tx: Transactor<P>,
    deployment: &'d Deployment,
    operator: Address,
}

impl<'d, P: Provider + Clone> OperatorClient<'d, P> {
    /// `provider` must send from `operator`'s wallet.
    pub fn new(provider: P, deployment: &'d Deployment, operator: Address) -> Self {
        Self {
            tx: Transactor::new(provider),
            deployment,
            operator,
        }
    }

    /// The transactions sent so far, with their gas.
    pub fn transactor(&self) -> &Transactor<P> {
        &self.tx
    }

    /// Mints `amount` of the devnet token to the operator (the devnet token has no owner).
    pub async fn mint_devnet_tokens(&mut self, amount: U256) -> Result<(), OnboardingError> {
        let mint = DevnetToken::mintCall {
            to: self.operator,
            amount,
        };
        self.tx
            .call(
                "DevnetToken.mint",
                self.deployment.eigenlayer.token,
                mint.abi_encode(),
            )
            .await?;
        Ok(())
    }

    /// Approves and deposits `amount` of the restaked token into the strategy.
    pub async fn deposit(&mut self, amount: U256) -> Result<U256, OnboardingError> {
        let el = &self.deployment.eigenlayer;
        let approve = DevnetToken::approveCall {
            spender: el.strategy_manager,
            amount,
        };
        self.tx
            .call("token.approve", el.token, approve.abi_encode())
            .await?;
        let deposit = IStrategyManagerCalls::depositIntoStrategyCall {
            strategy: el.strategy,
            token: el.token,
            amount,
        };
        self.tx
            .call(
                "StrategyManager.depositIntoStrategy",
                el.strategy_manager,
                deposit.abi_encode(),
            )
            .await?;
        Ok(amount)
    }

    /// Registers with EigenLayer's DelegationManager unless already registered, with
    /// `allocation_delay` blocks between allocating and the allocation counting. Returns whether
    /// a transaction was sent.
    pub async fn register_as_eigenlayer_operator(
        &mut self,
        metadata_uri: &str,
        allocation_delay: u32,
    ) -> Result<bool, OnboardingError> {
        let el = &self.deployment.eigenlayer;
        let delegation = IDelegationManagerCalls::new(el.delegation_manager, self.tx.provider());
        if delegation.isOperator(self.operator).call().await? {
            return Ok(false);
        }
        let register = IDelegationManagerCalls::registerAsOperatorCall {
            initDelegationApprover: Address::ZERO,
            allocationDelay: allocation_delay,
            metadataURI: metadata_uri.to_owned(),
        };
        self.tx
            .call(
                "DelegationManager.registerAsOperator",
                el.delegation_manager,
                register.abi_encode(),
            )
            .await?;
        Ok(true)
    }

    /// Waits (up to `timeout`) until the operator's allocation delay is in effect, which
    /// EigenLayer requires before any allocation. Returns at once when it already is.
    pub async fn wait_until_allocation_delay_set(
        &self,
        timeout: Duration,
    ) -> Result<(), OnboardingError> {
        let started = std::time::Instant::now();
        // The estimate of the first poll is the latest block it can take (it only moves later
        // on polls that find the delay still unset).
        let Some(block) = self.allocation_delay_effective_block().await? else {
            return Ok(());
        };
        tracing::info!(
            operator = %self.operator,
            effective_block = block,
            "waiting for the allocation delay to take effect (EigenLayer's ALLOCATION_CONFIGURATION_DELAY)"
        );
        loop {
            if self.allocation_delay_effective_block().await?.is_none() {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(OnboardingError::Timeout {
                    block,
                    waited: timeout,
                });
            }
            tokio::time::sleep(DELAY_POLL).await;
        }
    }

    /// `None` once the allocation delay is in effect, else the block it will be (an estimate
    /// from EigenLayer's `ALLOCATION_CONFIGURATION_DELAY` when the operator never set one).
    async fn allocation_delay_effective_block(&self) -> Result<Option<u64>, OnboardingError> {
        let provider = self.tx.provider();
        let el = &self.deployment.eigenlayer;
        let am = IAllocationManagerCalls::new(el.allocation_manager, provider);
        if am.getAllocationDelay(self.operator).call().await?.isSet {
            return Ok(None);
        }
        let configuration = am.ALLOCATION_CONFIGURATION_DELAY().call().await?;
        let now = provider.get_block_number().await?;
        Ok(Some(now + u64::from(configuration)))
    }

    /// Commits `fraction` (0 < fraction ≤ 1) of the operator's magnitude in the deployment's
    /// strategy to each of the deployment's operator sets; a lower fraction than today's is a
    /// deallocation (slashable until `DEALLOCATION_DELAY` passes). Returns whether a
    /// transaction was sent (nothing to do when the allocation already is that fraction).
    pub async fn allocate(&mut self, fraction: f64) -> Result<bool, OnboardingError> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(OnboardingError::InvalidFraction { fraction });
        }
        let operator = self.operator;
        if let Some(effective_block) = self.allocation_delay_effective_block().await? {
            return Err(OnboardingError::AllocationDelayNotSet {
                operator,
                effective_block,
            });
        }
        let deployment = self.deployment;
        let el = &deployment.eigenlayer;
        let am = IAllocationManagerCalls::new(el.allocation_manager, self.tx.provider());
        let max = am.getMaxMagnitude(operator, el.strategy).call().await?;
        // All of it is exactly `max` (which a slash leaves at any value); a part is computed in
        // integers from the fraction in WAD, so no float rounding can exceed `max`.
        let wanted = if fraction == 1.0 {
            max
        } else {
            let wad = (fraction * WAD as f64) as u128;
            u64::try_from(u128::from(max) * wad / u128::from(WAD)).unwrap_or(max)
        };
        let mut params = Vec::new();
        let mut increase = 0u64;
        for &quorum in &deployment.params.avs.quorum_numbers {
            let set = operator_set(deployment, quorum);
            let current = am
                .getAllocation(operator, set.clone(), el.strategy)
                .call()
                .await?;
            let target = i128::from(current.currentMagnitude) + current.pendingDiff;
            if target == i128::from(wanted) {
                continue;
            }
            if current.pendingDiff != 0 {
                return Err(OnboardingError::AllocationChangePending {
                    operator,
                    quorum,
                    effect_block: current.effectBlock,
                });
            }
            increase += wanted.saturating_sub(current.currentMagnitude);
            params.push(IAllocationManager::AllocateParams {
                operatorSet: set,
                strategies: vec![el.strategy],
                newMagnitudes: vec![wanted],
            });
        }
        if params.is_empty() {
            return Ok(false);
        }
        let allocatable = am
            .getAllocatableMagnitude(operator, el.strategy)
            .call()
            .await?;
        if allocatable < increase {
            return Err(OnboardingError::NotEnoughMagnitude {
                operator,
                allocatable,
                wanted: increase,
            });
        }
        let call = IAllocationManagerCalls::modifyAllocationsCall { operator, params };
        self.tx
            .call(
                "AllocationManager.modifyAllocations",
                el.allocation_manager,
                call.abi_encode(),
            )
            .await?;
        Ok(true)
    }

    /// Every check the AllocationManager, the registry coordinator and our service manager
    /// would revert on: [`Self::preflight_identity`], then the allocation and stake.
    pub async fn preflight_register(&self, bls_key: &SecretKey) -> Result<(), OnboardingError> {
        self.preflight_identity(bls_key).await?;
        let provider = self.tx.provider();
        let deployment = self.deployment;
        let el = &deployment.eigenlayer;
        let operator = self.operator;
        let am = IAllocationManagerCalls::new(el.allocation_manager, provider);
        let stake_registry = IStakeRegistryCalls::new(el.stake_registry, provider);
        let now = provider.get_block_number().await?;
        for &quorum in &deployment.params.avs.quorum_numbers {
            let allocation = am
                .getAllocation(operator, operator_set(deployment, quorum), el.strategy)
                .call()
                .await?;
            if allocation.currentMagnitude == 0 {
                if allocation.pendingDiff > 0 && u64::from(allocation.effectBlock) > now {
                    return Err(OnboardingError::AllocationPending {
                        operator,
                        quorum,
                        effective_block: allocation.effectBlock.into(),
                    });
                }
                return Err(OnboardingError::NoAllocation { operator, quorum });
            }
            let stake = self.weight_once_registered(quorum).await?;
            let minimum = stake_registry.minimumStakeForQuorum(quorum).call().await?;
            if stake < minimum {
                return Err(OnboardingError::NotEnoughStake {
                    operator,
                    quorum,
                    stake,
                    minimum,
                });
            }
        }
        Ok(())
    }

    /// The checks that do not depend on the allocation: chain, frozen, allowlist, already
    /// registered, the BLS key (another operator's, or not the key this operator registered
    /// before: EigenLayer keeps an operator's first key), an EigenLayer operator, a rejoin before
    /// the deallocation delay, quorum cap. `operator register` runs them before it allocates.
    pub async fn preflight_identity(&self, bls_key: &SecretKey) -> Result<(), OnboardingError> {
        let provider = self.tx.provider();
        let deployment = self.deployment;
        let el = &deployment.eigenlayer;
        let operator = self.operator;

        let actual = provider.get_chain_id().await?;
        if actual != deployment.chain_id {
            return Err(DeploymentError::WrongChain {
                expected: deployment.chain_id,
                actual,
            }
            .into());
        }
        let service_manager = AvsServiceManager::new(deployment.avs.service_manager, provider);
        if service_manager.frozen(operator).call().await? {
            return Err(OnboardingError::Frozen { operator });
        }
        if service_manager.allowlistEnabled().call().await?
            && !service_manager.allowlisted(operator).call().await?
        {
            return Err(OnboardingError::NotAllowlisted { operator });
        }
        let coordinator = IRegistryCoordinatorCalls::new(el.registry_coordinator, provider);
        if coordinator.getOperatorStatus(operator).call().await? == STATUS_REGISTERED {
            let operator_id = coordinator.getOperatorId(operator).call().await?;
            return Err(OnboardingError::AlreadyRegistered {
                operator,
                operator_id,
            });
        }
        let operator_id = bls_key.public_key().operator_id().0;
        let owner = IBLSApkRegistryCalls::new(el.bls_apk_registry, provider)
            .pubkeyHashToOperator(operator_id)
            .call()
            .await?;
        if owner != Address::ZERO && owner != operator {
            return Err(OnboardingError::BlsKeyInUse { operator_id, owner });
        }
        let registered_key = coordinator.getOperatorId(operator).call().await?;
        if registered_key != B256::ZERO && registered_key != operator_id {
            return Err(OnboardingError::BlsKeyChanged {
                operator,
                registered: registered_key,
                given: operator_id,
            });
        }
        if !IDelegationManagerCalls::new(el.delegation_manager, provider)
            .isOperator(operator)
            .call()
            .await?
        {
            return Err(OnboardingError::NotEigenLayerOperator { operator });
        }
        let am = IAllocationManagerCalls::new(el.allocation_manager, provider);
        let index_registry = IIndexRegistryCalls::new(el.index_registry, provider);
        for &quorum in &deployment.params.avs.quorum_numbers {
            let set = operator_set(deployment, quorum);
            if !am
                .isMemberOfOperatorSet(operator, set.clone())
                .call()
                .await?
                && am.isOperatorSlashable(operator, set).call().await?
            {
                return Err(OnboardingError::RejoinTooEarly {
                    operator,
                    quorum,
                    delay: am.DEALLOCATION_DELAY().call().await?,
                });
            }
            let max = coordinator.maxOperatorCount(quorum).call().await?;
            if index_registry
                .totalOperatorsForQuorum(quorum)
                .call()
                .await?
                >= max
            {
                return Err(OnboardingError::QuorumFull { quorum, max });
            }
        }
        Ok(())
    }

    /// The weight the StakeRegistry will give the operator in `quorum` when it registers: its
    /// slashable shares (shares × allocated magnitude / max magnitude, a pending deallocation
    /// already deducted) times each strategy's multiplier / 1e18. The registry's own view
    /// answers 0 before registration, because only members of an operator set are slashable.
    async fn weight_once_registered(&self, quorum: u8) -> Result<U96, OnboardingError> {
        let provider = self.tx.provider();
        let el = &self.deployment.eigenlayer;
        let stake_registry = IStakeRegistryCalls::new(el.stake_registry, provider);
        let am = IAllocationManagerCalls::new(el.allocation_manager, provider);
        let delegation = IDelegationManagerCalls::new(el.delegation_manager, provider);
        let set = operator_set(self.deployment, quorum);
        let count = stake_registry.strategyParamsLength(quorum).call().await?;
        let mut weight = U256::ZERO;
        for index in 0..count.saturating_to::<u64>() {
            let params = stake_registry
                .strategyParamsByIndex(quorum, U256::from(index))
                .call()
                .await?;
            let shares = delegation
                .getOperatorShares(self.operator, vec![params.strategy])
                .call()
                .await?
                .first()
                .copied()
                .unwrap_or_default();
            let allocation = am
                .getAllocation(self.operator, set.clone(), params.strategy)
                .call()
                .await?;
            let max = am
                .getMaxMagnitude(self.operator, params.strategy)
                .call()
                .await?;
            let magnitude = i128::from(allocation.currentMagnitude) + allocation.pendingDiff.min(0);
            if max == 0 || magnitude <= 0 {
                continue;
            }
            let slashable = shares * U256::from(magnitude.unsigned_abs()) / U256::from(max);
            weight += slashable * U256::from(params.multiplier) / U256::from(WAD);
        }
        Ok(weight.saturating_to())
    }

    /// Registers for the deployment's operator sets (= quorums) after the pre-flight checks,
    /// with the BLS key's proof of possession; `socket` is how peers reach the operator's node
    /// (its p2p multiaddress). Returns the operator id.
    pub async fn register_with_avs(
        &mut self,
        bls_key: &SecretKey,
        socket: &str,
    ) -> Result<B256, OnboardingError> {
        self.preflight_register(bls_key).await?;
        let deployment = self.deployment;
        let el = &deployment.eigenlayer;
        let message = IRegistryCoordinatorCalls::new(el.registry_coordinator, self.tx.provider())
            .pubkeyRegistrationMessageHash(self.operator)
            .call()
            .await?;
        let pop = PubkeyRegistrationParams::new(
            bls_key,
            &G1Point {
                x: message.X,
                y: message.Y,
            },
        )?;
        let register = IAllocationManagerCalls::registerForOperatorSetsCall {
            operator: self.operator,
            params: IAllocationManager::RegisterParams {
                avs: deployment.avs.service_manager,
                operatorSetIds: operator_set_ids(deployment),
                data: registration_data(socket, &pop),
            },
        };
        self.tx
            .call(
                "AllocationManager.registerForOperatorSets",
                el.allocation_manager,
                register.abi_encode(),
            )
            .await?;
        // What the chain recorded, not what was sent.
        Ok(
            IRegistryCoordinatorCalls::new(el.registry_coordinator, self.tx.provider())
                .getOperatorId(self.operator)
                .call()
                .await?,
        )
    }

    /// The whole devnet onboarding of a fresh account: register with EigenLayer (allocation
    /// delay 0), mint and deposit `stake` devnet tokens, allocate all of it to the AVS, and
    /// register. Returns the operator id.
    pub async fn onboard_devnet(
        &mut self,
        stake: U256,
        bls_key: &SecretKey,
        socket: &str,
    ) -> Result<B256, OnboardingError> {
        // Registering first lets the deposit's blocks pass the configuration delay.
        self.register_as_eigenlayer_operator("https://avs-exex.invalid/devnet-operator.json", 0)
            .await?;
        self.mint_devnet_tokens(stake).await?;
        self.deposit(stake).await?;
        self.wait_until_allocation_delay_set(Duration::from_secs(60))
            .await?;
        self.allocate(1.0).await?;
        self.register_with_avs(bls_key, socket).await
    }

    /// Fails unless the registry coordinator says this operator is registered.
    async fn ensure_registered(&self) -> Result<(), OnboardingError> {
        let coordinator = IRegistryCoordinatorCalls::new(
            self.deployment.eigenlayer.registry_coordinator,
            self.tx.provider(),
        );
        if coordinator.getOperatorStatus(self.operator).call().await? != STATUS_REGISTERED {
            return Err(OnboardingError::NotRegistered {
                operator: self.operator,
            });
        }
        Ok(())
    }

    /// Replaces the registered operator's socket (where its node's p2p address is published,
    /// `updateSocket` of the registry coordinator).
    pub async fn update_socket(&mut self, socket: &str) -> Result<(), OnboardingError> {
        self.ensure_registered().await?;
        let call = IRegistryCoordinatorCalls::updateSocketCall {
            socket: socket.to_owned(),
        };
        self.tx
            .call(
                "AvsRegistryCoordinator.updateSocket",
                self.deployment.eigenlayer.registry_coordinator,
                call.abi_encode(),
            )
            .await?;
        Ok(())
    }

    /// Leaves the deployment's operator sets (`AllocationManager.deregisterFromOperatorSets`).
    /// The allocation stays slashable for `DEALLOCATION_DELAY` blocks.
    pub async fn deregister(&mut self) -> Result<(), OnboardingError> {
        self.ensure_registered().await?;
        let deployment = self.deployment;
        let call = IAllocationManagerCalls::deregisterFromOperatorSetsCall {
            params: IAllocationManager::DeregisterParams {
                operator: self.operator,
                avs: deployment.avs.service_manager,
                operatorSetIds: operator_set_ids(deployment),
            },
        };
        self.tx
            .call(
                "AllocationManager.deregisterFromOperatorSets",
                deployment.eigenlayer.allocation_manager,
                call.abi_encode(),
            )
            .await?;
        Ok(())
    }
}

/// The registration data the registry coordinator decodes from `registerForOperatorSets`:
/// EigenLayer's `abi.encode(RegistrationType.NORMAL, socket, PubkeyRegistrationParams)`.
pub fn registration_data(socket: &str, pop: &PubkeyRegistrationParams) -> Bytes {
    let key = IBLSApkRegistry::PubkeyRegistrationParams {
        pubkeyRegistrationSignature: g1(&pop.pubkey_registration_signature),
        pubkeyG1: g1(&pop.pubkey_g1),
        pubkeyG2: g2(&pop.pubkey_g2),
    };
    Bytes::from(RegistrationData::abi_encode_params(&(
        REGISTRATION_NORMAL,
        socket.to_owned(),
        key,
    )))
}

/// Operator set `quorum` of the deployment's AVS.
pub fn operator_set(deployment: &Deployment, quorum: u8) -> IAllocationManager::OperatorSet {
    IAllocationManager::OperatorSet {
        avs: deployment.avs.service_manager,
        id: quorum.into(),
    }
}

fn operator_set_ids(deployment: &Deployment) -> Vec<u32> {
    deployment
        .params
        .avs
        .quorum_numbers
        .iter()
        .map(|&quorum| quorum.into())
        .collect()
}

/// Reads an operator's status from EigenLayer and the AVS.
pub async fn status<P: Provider>(
    provider: &P,
    deployment: &Deployment,
    operator: Address,
) -> Result<OperatorStatus, OnboardingError> {
    let el = &deployment.eigenlayer;
    let coordinator = IRegistryCoordinatorCalls::new(el.registry_coordinator, provider);
    let registered = coordinator.getOperatorStatus(operator).call().await? == STATUS_REGISTERED;
    let operator_id = coordinator.getOperatorId(operator).call().await?;
    let delegation = IDelegationManagerCalls::new(el.delegation_manager, provider);
    let shares = delegation
        .getOperatorShares(operator, vec![el.strategy])
        .call()
        .await?
        .first()
        .copied()
        .unwrap_or_default();
    let am = IAllocationManagerCalls::new(el.allocation_manager, provider);
    let delay = am.getAllocationDelay(operator).call().await?;
    let max_magnitude = am.getMaxMagnitude(operator, el.strategy).call().await?;
    let stake_registry = IStakeRegistryCalls::new(el.stake_registry, provider);
    let mut allocations = Vec::new();
    for &quorum in &deployment.params.avs.quorum_numbers {
        let allocation = am
            .getAllocation(operator, operator_set(deployment, quorum), el.strategy)
            .call()
            .await?;
        let slashable_shares = if max_magnitude == 0 {
            U256::ZERO
        } else {
            shares * U256::from(allocation.currentMagnitude) / U256::from(max_magnitude)
        };
        allocations.push(QuorumAllocation {
            quorum,
            magnitude: allocation.currentMagnitude,
            max_magnitude,
            pending_diff: allocation.pendingDiff,
            effect_block: allocation.effectBlock,
            slashable_shares,
            stake: stake_registry
                .weightOfOperatorForQuorum(quorum, operator)
                .call()
                .await?,
        });
    }
    let service_manager = AvsServiceManager::new(deployment.avs.service_manager, provider);
    Ok(OperatorStatus {
        operator,
        eigenlayer_operator: delegation.isOperator(operator).call().await?,
        allocation_delay: delay.isSet.then_some(delay.delay),
        shares,
        registered,
        operator_id: (operator_id != B256::ZERO).then_some(operator_id),
        allocations,
        frozen: service_manager.frozen(operator).call().await?,
        allowlist_enabled: service_manager.allowlistEnabled().call().await?,
        allowlisted: service_manager.allowlisted(operator).call().await?,
    })
}

/// Refreshes the StakeRegistry's record of `operators`' slashable stakes (the registry
/// coordinator's `updateOperators`; operators below the minimum are removed).
///
/// Stakes in the registries only change when someone calls this; the seed AVSs had operators do
/// it by hand. Anyone may call it; the node runs it periodically.
pub async fn update_stakes<P: Provider>(
    tx: &mut Transactor<P>,
    deployment: &Deployment,
    operators: Vec<Address>,
) -> Result<(), OnboardingError> {
    let call = IRegistryCoordinatorCalls::updateOperatorsCall { operators };
    tx.call(
        "AvsRegistryCoordinator.updateOperators",
        deployment.eigenlayer.registry_coordinator,
        call.abi_encode(),
    )
    .await?;
    Ok(())
}

fn g1(point: &G1Point) -> BN254::G1Point {
    BN254::G1Point {
        X: point.x,
        Y: point.y,
    }
}

fn g2(point: &G2Point) -> BN254::G2Point {
    BN254::G2Point {
        X: point.x,
        Y: point.y,
    }
}

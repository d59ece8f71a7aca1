//! What a deployment of EigenLayer's slashing-era contracts is made with and where it lives:
//! read from and written to deployment files by every node, so not behind the `deploy` feature.

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

/// The eigenlayer-contracts release whose bytecode the deployer uses (`eigen-utils`' `slashing`
/// module); every core contract reports it from `version()`.
pub const CORE_VERSION: &str = "v1.3.0";

/// Parameters of the EigenLayer deployment and of the AVS's quorum 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EigenLayerParams {
    /// Owner of every contract, the strategy whitelister and the unpauser.
    pub owner: Address,
    /// `DelegationManager.minWithdrawalDelayBlocks`; the signature checker's stale-stake rule
    /// (on by default) uses it too.
    pub min_withdrawal_delay_blocks: u64,
    /// `AllocationManager.DEALLOCATION_DELAY`: blocks a deallocation, or an operator that left
    /// an operator set, stays slashable. A task's response and challenge windows plus the
    /// slasher's veto window must stay below it.
    pub deallocation_delay_blocks: u32,
    /// `AllocationManager.ALLOCATION_CONFIGURATION_DELAY`: blocks before a new operator's
    /// allocation delay takes effect (and it can allocate).
    pub allocation_configuration_delay_blocks: u32,
    /// Quorum 0 (operator set 0) of the registry coordinator.
    pub quorum: QuorumParams,
}

/// One quorum (operator set) of the registry coordinator: who may join and how stake is weighed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumParams {
    /// Operator cap of the quorum (registration beyond it is refused: no churn).
    pub max_operator_count: u32,
    /// Minimum weighted *slashable* stake to register, in shares × multiplier / 1e18.
    pub minimum_stake: u128,
    /// Weight multiplier of the devnet strategy (1e18 = one unit of weight per share).
    pub strategy_multiplier: u128,
    /// Slashable stake is the minimum of now and this many blocks ahead (a pending
    /// deallocation already lowers it); below `deallocation_delay_blocks`.
    pub look_ahead_blocks: u32,
}

impl Default for QuorumParams {
    fn default() -> Self {
        // 1 token minimum keeps the devnet easy.
        Self {
            max_operator_count: 64,
            minimum_stake: 1_000_000_000_000_000_000,
            strategy_multiplier: 1_000_000_000_000_000_000,
            look_ahead_blocks: 0,
        }
    }
}

impl EigenLayerParams {
    /// Devnet defaults with `owner` as the administrator of everything.
    pub fn devnet(owner: Address) -> Self {
        Self {
            owner,
            // The task manager forbids stale stakes: a quorum's stakes must have been updated
            // (`updateOperatorsForQuorum`, or its creation) within this many blocks before a
            // task's reference block; the generator node refreshes them. Slashing needs it,
            // plus the windows, below the deallocation delay: 20 minutes of devnet blocks.
            // (Mainnet's: 50,400 blocks, against a deallocation delay of 100,800.)
            min_withdrawal_delay_blocks: 1_200,
            // Mainnet's 14 days of 12 s blocks would keep devnet exits slashable for weeks of
            // 1 s blocks; one hour of devnet blocks still leaves the windows room.
            deallocation_delay_blocks: 3_600,
            // A new devnet operator can allocate two blocks after registering.
            allocation_configuration_delay_blocks: 1,
            quorum: QuorumParams::default(),
        }
    }
}

/// Addresses of a deployed EigenLayer (proxies where a contract is upgradeable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EigenLayerContracts {
    /// Admin of every proxy.
    pub proxy_admin: Address,
    /// Initial implementation of not-yet-upgraded proxies.
    pub empty_contract: Address,
    /// `IPauserRegistry` of every pausable contract.
    pub pauser_registry: Address,
    /// Core: DelegationManager proxy.
    pub delegation_manager: Address,
    /// Core: StrategyManager proxy.
    pub strategy_manager: Address,
    /// Core: AVSDirectory proxy (M2 registrations; read by the StakeRegistry).
    pub avs_directory: Address,
    /// Core: AllocationManager proxy (operator sets, allocations, slashing).
    pub allocation_manager: Address,
    /// Core: PermissionController proxy (appointees acting for the AVS).
    pub permission_controller: Address,
    /// Core: EigenPodManager proxy.
    pub eigen_pod_manager: Address,
    /// The AVS's registry coordinator proxy (`AvsRegistryCoordinator`, the AVS registrar).
    pub registry_coordinator: Address,
    /// Middleware: BLSApkRegistry proxy.
    pub bls_apk_registry: Address,
    /// Middleware: StakeRegistry proxy.
    pub stake_registry: Address,
    /// Middleware: IndexRegistry proxy.
    pub index_registry: Address,
    /// Middleware: OperatorStateRetriever (stateless, no proxy).
    pub operator_state_retriever: Address,
    /// Socket registry the registry coordinator writes operator sockets to.
    pub socket_registry: Address,
    /// Devnet ERC-20 operators restake.
    pub token: Address,
    /// Strategy holding the devnet token, whitelisted in the StrategyManager.
    pub strategy: Address,
}

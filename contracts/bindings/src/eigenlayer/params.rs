//! What a deployment of EigenLayer's M2 contracts is made with and where it lives: read from
//! and written to deployment files by every node, so not behind the `deploy` feature.

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

/// Parameters of the EigenLayer deployment and of the AVS's quorum 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EigenLayerParams {
    /// Owner of every contract, the strategy whitelister, unpauser and churn approver.
    pub owner: Address,
    /// `DelegationManager.minWithdrawalDelayBlocks`; the signature checker's stale-stake rule
    /// (on by default) uses it too.
    pub min_withdrawal_delay_blocks: u64,
    /// Quorum 0 of the RegistryCoordinator.
    pub quorum: QuorumParams,
}

/// One quorum of the RegistryCoordinator: who may join and how stake is weighed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumParams {
    /// Operator cap of the quorum (further registrations need churn).
    pub max_operator_count: u32,
    /// Minimum weighted stake to register, in strategy shares × multiplier / 1e18.
    pub minimum_stake: u128,
    /// Weight multiplier of the devnet strategy (1e18 = one unit of weight per share).
    pub strategy_multiplier: u128,
    /// Churn: a newcomer must have this much of the smallest operator's stake (basis points).
    pub kick_bips_of_operator_stake: u16,
    /// Churn: the kicked operator must hold less than this share of total stake (basis points).
    pub kick_bips_of_total_stake: u16,
}

impl Default for QuorumParams {
    fn default() -> Self {
        // Churn parameters are EigenLayer's usual ones; 1 token minimum keeps the devnet easy.
        Self {
            max_operator_count: 64,
            minimum_stake: 1_000_000_000_000_000_000,
            strategy_multiplier: 1_000_000_000_000_000_000,
            kick_bips_of_operator_stake: 11_000,
            kick_bips_of_total_stake: 50,
        }
    }
}

impl EigenLayerParams {
    /// Devnet defaults with `owner` as the administrator of everything.
    pub fn devnet(owner: Address) -> Self {
        Self {
            owner,
            // Mainnet's delay (7 days of 12 s blocks). The task manager forbids stale stakes
            // (as EigenLayer's checker does): a quorum's stakes must have been updated
            // (`updateOperatorsForQuorum`) within this many blocks before a task's reference
            // block, which a young chain meets from genesis.
            min_withdrawal_delay_blocks: 50_400,
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
    /// Core: AVSDirectory proxy.
    pub avs_directory: Address,
    /// Core: RewardsCoordinator proxy.
    pub rewards_coordinator: Address,
    /// Core: EigenPodManager proxy.
    pub eigen_pod_manager: Address,
    /// Core: Slasher proxy.
    pub slasher: Address,
    /// Middleware: RegistryCoordinator proxy.
    pub registry_coordinator: Address,
    /// Middleware: BLSApkRegistry proxy.
    pub bls_apk_registry: Address,
    /// Middleware: StakeRegistry proxy.
    pub stake_registry: Address,
    /// Middleware: IndexRegistry proxy.
    pub index_registry: Address,
    /// Middleware: OperatorStateRetriever (stateless, no proxy).
    pub operator_state_retriever: Address,
    /// Socket registry the RegistryCoordinator writes operator sockets to.
    pub socket_registry: Address,
    /// Devnet ERC-20 operators restake.
    pub token: Address,
    /// Strategy holding the devnet token, whitelisted in the StrategyManager.
    pub strategy: Address,
}

//! The two deployment phases of EigenLayer's M2 contracts; see the module docs.

use super::interfaces::{
    IDelegationManagerCalls, IPausableInitializer, IRegistryCoordinator, IRegistryCoordinatorCalls,
    IRewardsCoordinatorCalls, IStakeRegistry, IStrategyManagerCalls,
};
use super::{EigenLayerContracts, EigenLayerParams};
use crate::{
    devnet::{
        DevnetPauserRegistry, DevnetSocketRegistry, DevnetStrategy, DevnetToken, EmptyContract,
        ProxyAdmin, TransparentUpgradeableProxy,
    },
    transactor::{Transactor, TxError},
};
use alloy::{
    primitives::{Address, Bytes, U256, aliases::U96},
    providers::Provider,
    sol_types::{SolCall, SolValue},
};
use eigen_utils::rewardsv2::{core as el_core, middleware as el_middleware};

// RewardsCoordinator timing, as in EigenLayer's deploy configuration: weekly calculation
// intervals; the genesis timestamp must be a multiple of the interval (the constructor checks).
const CALCULATION_INTERVAL_SECONDS: u32 = 7 * 86_400;
const MAX_REWARDS_DURATION: u32 = 10 * CALCULATION_INTERVAL_SECONDS;
const MAX_RETROACTIVE_LENGTH: u32 = 90 * 86_400;
const MAX_FUTURE_LENGTH: u32 = 30 * 86_400;
const GENESIS_REWARDS_TIMESTAMP: u32 = 2_829 * CALCULATION_INTERVAL_SECONDS;
const REWARDS_ACTIVATION_DELAY: u32 = 120;
const DEFAULT_OPERATOR_SPLIT_BIPS: u16 = 1_000;

/// Phase 1: proxy admin, pauser registry and one empty proxy per EigenLayer contract.
///
/// The returned addresses are final; token, strategy and the stateless contracts are filled
/// in by [`initialize`].
pub async fn deploy_proxies<P: Provider>(
    tx: &mut Transactor<P>,
    owner: Address,
) -> Result<EigenLayerContracts, TxError> {
    let empty_contract = tx
        .deploy("EmptyContract", EmptyContract::BYTECODE.to_vec())
        .await?;
    let proxy_admin = tx
        .deploy("ProxyAdmin", ProxyAdmin::BYTECODE.to_vec())
        .await?;
    let pauser_registry = tx
        .deploy(
            "PauserRegistry",
            with_args(
                &DevnetPauserRegistry::BYTECODE,
                (vec![owner], owner).abi_encode_params(),
            ),
        )
        .await?;
    let mut proxy = async |name: &str| empty_proxy(tx, name, empty_contract, proxy_admin).await;
    Ok(EigenLayerContracts {
        delegation_manager: proxy("DelegationManager").await?,
        strategy_manager: proxy("StrategyManager").await?,
        avs_directory: proxy("AVSDirectory").await?,
        rewards_coordinator: proxy("RewardsCoordinator").await?,
        eigen_pod_manager: proxy("EigenPodManager").await?,
        slasher: proxy("Slasher").await?,
        registry_coordinator: proxy("RegistryCoordinator").await?,
        bls_apk_registry: proxy("BLSApkRegistry").await?,
        stake_registry: proxy("StakeRegistry").await?,
        index_registry: proxy("IndexRegistry").await?,
        proxy_admin,
        empty_contract,
        pauser_registry,
        operator_state_retriever: Address::ZERO,
        socket_registry: Address::ZERO,
        token: Address::ZERO,
        strategy: Address::ZERO,
    })
}

/// A transparent proxy administered by `proxy_admin`, pointing at the empty contract until an
/// implementation exists. Used for the AVS's own proxies too.
pub async fn empty_proxy<P: Provider>(
    tx: &mut Transactor<P>,
    name: &str,
    empty_contract: Address,
    proxy_admin: Address,
) -> Result<Address, TxError> {
    let args = (empty_contract, proxy_admin, Bytes::new()).abi_encode_params();
    tx.deploy(
        format!("{name} proxy"),
        with_args(&TransparentUpgradeableProxy::BYTECODE, args),
    )
    .await
}

/// Points `proxy` at `implementation` and, when `init` is not empty, calls it through the proxy
/// in the same transaction (so nobody can front-run the initializer).
pub async fn upgrade_and_call<P: Provider>(
    tx: &mut Transactor<P>,
    name: &str,
    proxy_admin: Address,
    proxy: Address,
    implementation: Address,
    init: Vec<u8>,
) -> Result<(), TxError> {
    let calldata = if init.is_empty() {
        ProxyAdmin::upgradeCall {
            proxy,
            implementation,
        }
        .abi_encode()
    } else {
        ProxyAdmin::upgradeAndCallCall {
            proxy,
            implementation,
            data: init.into(),
        }
        .abi_encode()
    };
    tx.call(format!("{name} upgrade"), proxy_admin, calldata)
        .await?;
    Ok(())
}

/// Phase 2: implementations, upgrades and initialisation of every EigenLayer contract, quorum 0,
/// the devnet token and its whitelisted strategy.
///
/// `service_manager` is the AVS service manager's proxy (a RegistryCoordinator constructor
/// argument) and `ejector` the address allowed to eject operators (the AVS freezes operators
/// through it).
pub async fn initialize<P: Provider>(
    tx: &mut Transactor<P>,
    el: &mut EigenLayerContracts,
    params: &EigenLayerParams,
    service_manager: Address,
    ejector: Address,
) -> Result<(), TxError> {
    let owner = params.owner;
    let pauser = el.pauser_registry;
    let unpaused = U256::ZERO;

    // Core. Constructors take peers' proxies; the pod beacon and the beacon-chain deposit
    // contract are never used on the devnet (no native restaking), so the empty contract stands in.
    let dm_impl = tx
        .deploy(
            "DelegationManager implementation",
            with_args(
                &el_core::delegation_manager::DelegationManager::BYTECODE,
                (el.strategy_manager, el.slasher, el.eigen_pod_manager).abi_encode_params(),
            ),
        )
        .await?;
    let dm_init = IDelegationManagerCalls::initializeCall {
        initialOwner: owner,
        pauserRegistry: pauser,
        initialPausedStatus: unpaused,
        minWithdrawalDelayBlocks: U256::from(params.min_withdrawal_delay_blocks),
        strategies: vec![],
        withdrawalDelayBlocks: vec![],
    };
    upgrade_and_call(
        tx,
        "DelegationManager",
        el.proxy_admin,
        el.delegation_manager,
        dm_impl,
        dm_init.abi_encode(),
    )
    .await?;

    let sm_impl = tx
        .deploy(
            "StrategyManager implementation",
            with_args(
                &el_core::strategy_manager::StrategyManager::BYTECODE,
                (el.delegation_manager, el.eigen_pod_manager, el.slasher).abi_encode_params(),
            ),
        )
        .await?;
    let sm_init = IStrategyManagerCalls::initializeCall {
        initialOwner: owner,
        initialStrategyWhitelister: owner,
        pauserRegistry: pauser,
        initialPausedStatus: unpaused,
    };
    upgrade_and_call(
        tx,
        "StrategyManager",
        el.proxy_admin,
        el.strategy_manager,
        sm_impl,
        sm_init.abi_encode(),
    )
    .await?;

    let pausable_init = IPausableInitializer::initializeCall {
        initialOwner: owner,
        pauserRegistry: pauser,
        initialPausedStatus: unpaused,
    }
    .abi_encode();
    let avs_dir_impl = tx
        .deploy(
            "AVSDirectory implementation",
            with_args(
                &el_core::avs_directory::AVSDirectory::BYTECODE,
                el.delegation_manager.abi_encode(),
            ),
        )
        .await?;
    upgrade_and_call(
        tx,
        "AVSDirectory",
        el.proxy_admin,
        el.avs_directory,
        avs_dir_impl,
        pausable_init.clone(),
    )
    .await?;

    let epm_impl = tx
        .deploy(
            "EigenPodManager implementation",
            with_args(
                &el_core::eigen_pod_manager::EigenPodManager::BYTECODE,
                (
                    el.empty_contract,
                    el.empty_contract,
                    el.strategy_manager,
                    el.slasher,
                    el.delegation_manager,
                )
                    .abi_encode_params(),
            ),
        )
        .await?;
    upgrade_and_call(
        tx,
        "EigenPodManager",
        el.proxy_admin,
        el.eigen_pod_manager,
        epm_impl,
        pausable_init.clone(),
    )
    .await?;

    let slasher_impl = tx
        .deploy(
            "Slasher implementation",
            with_args(
                &el_core::slasher::Slasher::BYTECODE,
                (el.strategy_manager, el.delegation_manager).abi_encode_params(),
            ),
        )
        .await?;
    upgrade_and_call(
        tx,
        "Slasher",
        el.proxy_admin,
        el.slasher,
        slasher_impl,
        pausable_init,
    )
    .await?;

    let rc_impl = tx
        .deploy(
            "RewardsCoordinator implementation",
            with_args(
                &el_core::rewards_coordinator::RewardsCoordinator::BYTECODE,
                (
                    el.delegation_manager,
                    el.strategy_manager,
                    CALCULATION_INTERVAL_SECONDS,
                    MAX_REWARDS_DURATION,
                    MAX_RETROACTIVE_LENGTH,
                    MAX_FUTURE_LENGTH,
                    GENESIS_REWARDS_TIMESTAMP,
                )
                    .abi_encode_params(),
            ),
        )
        .await?;
    let rc_init = IRewardsCoordinatorCalls::initializeCall {
        initialOwner: owner,
        pauserRegistry: pauser,
        initialPausedStatus: unpaused,
        rewardsUpdater: owner,
        activationDelay: REWARDS_ACTIVATION_DELAY,
        defaultSplitBips: DEFAULT_OPERATOR_SPLIT_BIPS,
    };
    upgrade_and_call(
        tx,
        "RewardsCoordinator",
        el.proxy_admin,
        el.rewards_coordinator,
        rc_impl,
        rc_init.abi_encode(),
    )
    .await?;

    // The restaked asset: a devnet ERC-20 and its strategy, whitelisted for deposits.
    el.token = tx
        .deploy(
            "DevnetToken",
            with_args(
                &DevnetToken::BYTECODE,
                ("Devnet Restaking Token".to_owned(), "dRST".to_owned()).abi_encode_params(),
            ),
        )
        .await?;
    el.strategy = tx
        .deploy(
            "DevnetStrategy",
            with_args(
                &DevnetStrategy::BYTECODE,
                (el.strategy_manager, el.token).abi_encode_params(),
            ),
        )
        .await?;
    let whitelist = IStrategyManagerCalls::addStrategiesToDepositWhitelistCall {
        strategiesToWhitelist: vec![el.strategy],
        thirdPartyTransfersForbiddenValues: vec![false],
    };
    tx.call(
        "StrategyManager.addStrategiesToDepositWhitelist",
        el.strategy_manager,
        whitelist.abi_encode(),
    )
    .await?;

    // Middleware.
    el.socket_registry = tx
        .deploy(
            "SocketRegistry",
            with_args(
                &DevnetSocketRegistry::BYTECODE,
                el.registry_coordinator.abi_encode(),
            ),
        )
        .await?;
    el.operator_state_retriever = tx
        .deploy(
            "OperatorStateRetriever",
            el_middleware::operator_state_retriever::OperatorStateRetriever::BYTECODE.to_vec(),
        )
        .await?;
    let stake_impl = tx
        .deploy(
            "StakeRegistry implementation",
            with_args(
                &el_middleware::stake_registry::StakeRegistry::BYTECODE,
                (el.registry_coordinator, el.delegation_manager).abi_encode_params(),
            ),
        )
        .await?;
    upgrade_and_call(
        tx,
        "StakeRegistry",
        el.proxy_admin,
        el.stake_registry,
        stake_impl,
        vec![],
    )
    .await?;
    let apk_impl = tx
        .deploy(
            "BLSApkRegistry implementation",
            with_args(
                &el_middleware::bls_apk_registry::BLSApkRegistry::BYTECODE,
                el.registry_coordinator.abi_encode(),
            ),
        )
        .await?;
    upgrade_and_call(
        tx,
        "BLSApkRegistry",
        el.proxy_admin,
        el.bls_apk_registry,
        apk_impl,
        vec![],
    )
    .await?;
    let index_impl = tx
        .deploy(
            "IndexRegistry implementation",
            with_args(
                &el_middleware::index_registry::IndexRegistry::BYTECODE,
                el.registry_coordinator.abi_encode(),
            ),
        )
        .await?;
    upgrade_and_call(
        tx,
        "IndexRegistry",
        el.proxy_admin,
        el.index_registry,
        index_impl,
        vec![],
    )
    .await?;

    let coordinator_impl = tx
        .deploy(
            "RegistryCoordinator implementation",
            with_args(
                &el_middleware::registry_coordinator::RegistryCoordinator::BYTECODE,
                (
                    service_manager,
                    el.stake_registry,
                    el.bls_apk_registry,
                    el.index_registry,
                    el.socket_registry,
                )
                    .abi_encode_params(),
            ),
        )
        .await?;
    let quorum = params.quorum;
    let coordinator_init = IRegistryCoordinatorCalls::initializeCall {
        initialOwner: owner,
        churnApprover: owner,
        ejector,
        pauserRegistry: pauser,
        initialPausedStatus: unpaused,
        operatorSetParams: vec![IRegistryCoordinator::OperatorSetParam {
            maxOperatorCount: quorum.max_operator_count,
            kickBIPsOfOperatorStake: quorum.kick_bips_of_operator_stake,
            kickBIPsOfTotalStake: quorum.kick_bips_of_total_stake,
        }],
        minimumStakes: vec![U96::from(quorum.minimum_stake)],
        strategyParams: vec![vec![IStakeRegistry::StrategyParams {
            strategy: el.strategy,
            multiplier: U96::from(quorum.strategy_multiplier),
        }]],
    };
    upgrade_and_call(
        tx,
        "RegistryCoordinator",
        el.proxy_admin,
        el.registry_coordinator,
        coordinator_impl,
        coordinator_init.abi_encode(),
    )
    .await
}

/// Creation code followed by ABI-encoded constructor arguments.
fn with_args(bytecode: &[u8], mut args: Vec<u8>) -> Vec<u8> {
    args.splice(0..0, bytecode.iter().copied());
    args
}

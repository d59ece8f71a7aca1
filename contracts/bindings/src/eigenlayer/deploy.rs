//! The two deployment phases of EigenLayer's slashing-era contracts; see the module docs.

use super::{
    CORE_VERSION, EigenLayerContracts, EigenLayerParams, bytecode,
    interfaces::{IDelegationManagerCalls, IPausableInitializer, IStrategyManagerCalls},
};
use crate::{
    devnet::{
        DevnetPauserRegistry, DevnetStrategy, DevnetToken, EmptyContract, ProxyAdmin,
        TransparentUpgradeableProxy,
    },
    transactor::{Transactor, TxError},
};
use alloy::{
    primitives::{Address, Bytes, U256},
    providers::Provider,
    sol_types::{SolCall, SolValue},
};

/// Phase 1: proxy admin, pauser registry and one empty proxy per upgradeable EigenLayer
/// contract (core and registries; the registry coordinator's proxy is the AVS's, made here so
/// the registries' constructors can name it).
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
        allocation_manager: proxy("AllocationManager").await?,
        permission_controller: proxy("PermissionController").await?,
        eigen_pod_manager: proxy("EigenPodManager").await?,
        registry_coordinator: proxy("AvsRegistryCoordinator").await?,
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

/// Deploys `name`'s implementation (`code` with the ABI-encoded constructor `args`) and points
/// `proxy` at it, calling `init` through the proxy in the same transaction (see
/// [`upgrade_and_call`]).
pub async fn install<P: Provider>(
    tx: &mut Transactor<P>,
    proxy_admin: Address,
    name: &str,
    proxy: Address,
    code: &[u8],
    args: Vec<u8>,
    init: Vec<u8>,
) -> Result<(), TxError> {
    let implementation = tx
        .deploy(format!("{name} implementation"), with_args(code, args))
        .await?;
    upgrade_and_call(tx, name, proxy_admin, proxy, implementation, init).await
}

/// Phase 2: implementations, upgrades and initialisation of EigenLayer's core and of the
/// middleware registries, the devnet token and its whitelisted strategy. The registry
/// coordinator (the AVS's own contract) is installed afterwards by the AVS deployer.
pub async fn initialize<P: Provider>(
    tx: &mut Transactor<P>,
    el: &mut EigenLayerContracts,
    params: &EigenLayerParams,
) -> Result<(), TxError> {
    let owner = params.owner;
    let pauser = el.pauser_registry;
    let unpaused = U256::ZERO;
    let version = CORE_VERSION.to_owned();
    let pausable_init = IPausableInitializer::initializeCall {
        initialOwner: owner,
        initialPausedStatus: unpaused,
    }
    .abi_encode();

    // Core. Constructors take peers' proxies; the pod beacon and the beacon-chain deposit
    // contract are never used on the devnet (no native restaking), so the empty contract stands in.
    let admin = el.proxy_admin;
    let mut install = async |name: &str, proxy, code: &[u8], args, init| {
        install(tx, admin, name, proxy, code, args, init).await
    };
    // The PermissionController has no initializer.
    install(
        "PermissionController",
        el.permission_controller,
        bytecode::PERMISSION_CONTROLLER,
        (version.clone(),).abi_encode_params(),
        vec![],
    )
    .await?;
    install(
        "AllocationManager",
        el.allocation_manager,
        bytecode::ALLOCATION_MANAGER,
        (
            el.delegation_manager,
            pauser,
            el.permission_controller,
            params.deallocation_delay_blocks,
            params.allocation_configuration_delay_blocks,
            version.clone(),
        )
            .abi_encode_params(),
        pausable_init.clone(),
    )
    .await?;
    install(
        "DelegationManager",
        el.delegation_manager,
        bytecode::DELEGATION_MANAGER,
        (
            el.strategy_manager,
            el.eigen_pod_manager,
            el.allocation_manager,
            pauser,
            el.permission_controller,
            u32::try_from(params.min_withdrawal_delay_blocks).unwrap_or(u32::MAX),
            version.clone(),
        )
            .abi_encode_params(),
        IDelegationManagerCalls::initializeCall {
            initialOwner: owner,
            initialPausedStatus: unpaused,
        }
        .abi_encode(),
    )
    .await?;
    install(
        "StrategyManager",
        el.strategy_manager,
        bytecode::STRATEGY_MANAGER,
        (el.delegation_manager, pauser, version.clone()).abi_encode_params(),
        IStrategyManagerCalls::initializeCall {
            initialOwner: owner,
            initialStrategyWhitelister: owner,
            initialPausedStatus: unpaused,
        }
        .abi_encode(),
    )
    .await?;
    install(
        "AVSDirectory",
        el.avs_directory,
        bytecode::AVS_DIRECTORY,
        (el.delegation_manager, pauser, version.clone()).abi_encode_params(),
        pausable_init.clone(),
    )
    .await?;
    install(
        "EigenPodManager",
        el.eigen_pod_manager,
        bytecode::EIGEN_POD_MANAGER,
        (
            el.empty_contract,
            el.empty_contract,
            el.delegation_manager,
            pauser,
            version.clone(),
        )
            .abi_encode_params(),
        pausable_init,
    )
    .await?;

    // Middleware registries: written only by the coordinator; no initializers.
    let coordinator = el.registry_coordinator.abi_encode();
    install(
        "StakeRegistry",
        el.stake_registry,
        bytecode::STAKE_REGISTRY,
        (
            el.registry_coordinator,
            el.delegation_manager,
            el.avs_directory,
            el.allocation_manager,
        )
            .abi_encode_params(),
        vec![],
    )
    .await?;
    install(
        "BLSApkRegistry",
        el.bls_apk_registry,
        bytecode::BLS_APK_REGISTRY,
        coordinator.clone(),
        vec![],
    )
    .await?;
    install(
        "IndexRegistry",
        el.index_registry,
        bytecode::INDEX_REGISTRY,
        coordinator.clone(),
        vec![],
    )
    .await?;
    el.socket_registry = tx
        .deploy(
            "SocketRegistry",
            with_args(bytecode::SOCKET_REGISTRY, coordinator),
        )
        .await?;
    el.operator_state_retriever = tx
        .deploy(
            "OperatorStateRetriever",
            bytecode::OPERATOR_STATE_RETRIEVER.to_vec(),
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
    };
    tx.call(
        "StrategyManager.addStrategiesToDepositWhitelist",
        el.strategy_manager,
        whitelist.abi_encode(),
    )
    .await?;
    Ok(())
}

/// Creation code followed by ABI-encoded constructor arguments.
pub(crate) fn with_args(bytecode: &[u8], mut args: Vec<u8>) -> Vec<u8> {
    args.splice(0..0, bytecode.iter().copied());
    args
}

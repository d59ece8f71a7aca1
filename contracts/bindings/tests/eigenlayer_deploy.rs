//! Deploys EigenLayer's real M2 contracts (eigen-utils bytecode) on anvil and exercises them.
//!
//! The AVS here is EigenLayer's own `MockAvsServiceManager` from the same bytecode set, so this
//! test checks the EigenLayer half of the deployer on its own.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256, aliases::U96},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use avs_contracts::{
    devnet::DevnetToken,
    eigenlayer::{
        self, EigenLayerParams,
        interfaces::{
            IDelegationManager, IDelegationManagerCalls, IRegistryCoordinatorCalls,
            IStakeRegistryCalls, IStrategyManagerCalls,
        },
    },
    transactor::Transactor,
};

alloy::sol! {
    /// `MockAvsServiceManager.initialize(address)`: only this test uses EigenLayer's mock AVS.
    interface IMockAvsServiceManager {
        function initialize(address initialOwner) external;
    }
}

#[tokio::test]
async fn deploys_eigenlayer_and_weighs_an_operators_deposit() -> eyre::Result<()> {
    let anvil = avs_test_support::anvil().spawn();
    let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
    let owner_address = owner.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(owner))
        .connect_http(anvil.endpoint_url());
    let mut tx = Transactor::new(provider.clone());

    let params = EigenLayerParams::devnet(owner_address);
    let mut el = eigenlayer::deploy_proxies(&mut tx, owner_address).await?;
    let service_manager = eigenlayer::empty_proxy(
        &mut tx,
        "MockAvsServiceManager",
        el.empty_contract,
        el.proxy_admin,
    )
    .await?;
    eigenlayer::initialize(&mut tx, &mut el, &params, service_manager, owner_address).await?;

    let mock_impl = tx
        .deploy(
            "MockAvsServiceManager implementation",
            [
                eigen_utils::rewardsv2::sdk::mock_avs_service_manager::MockAvsServiceManager::BYTECODE.to_vec(),
                (el.avs_directory, el.registry_coordinator, el.stake_registry, el.rewards_coordinator).abi_encode_params(),
            ]
            .concat(),
        )
        .await?;
    let init = IMockAvsServiceManager::initializeCall {
        initialOwner: owner_address,
    }
    .abi_encode();
    eigenlayer::upgrade_and_call(
        &mut tx,
        "MockAvsServiceManager",
        el.proxy_admin,
        service_manager,
        mock_impl,
        init,
    )
    .await?;

    // Every proxy now has code behind it and quorum 0 exists with our strategy.
    for (name, address) in [
        ("DelegationManager", el.delegation_manager),
        ("RegistryCoordinator", el.registry_coordinator),
        ("OperatorStateRetriever", el.operator_state_retriever),
        ("strategy", el.strategy),
    ] {
        assert!(
            !provider.get_code_at(address).await?.is_empty(),
            "{name} has no code at {address}"
        );
    }
    let coordinator = IRegistryCoordinatorCalls::new(el.registry_coordinator, &provider);
    assert_eq!(coordinator.quorumCount().call().await?, 1);
    assert_eq!(
        coordinator
            .getOperatorSetParams(0)
            .call()
            .await?
            .maxOperatorCount,
        params.quorum.max_operator_count
    );
    assert_eq!(coordinator.ejector().call().await?, owner_address);
    let strategy_manager = IStrategyManagerCalls::new(el.strategy_manager, &provider);
    assert!(
        strategy_manager
            .strategyIsWhitelistedForDeposit(el.strategy)
            .call()
            .await?
    );
    assert_eq!(
        IDelegationManagerCalls::new(el.delegation_manager, &provider)
            .minWithdrawalDelayBlocks()
            .call()
            .await?,
        U256::from(params.min_withdrawal_delay_blocks)
    );

    // An operator deposits 5 tokens and registers with EigenLayer: its weight in quorum 0 is
    // shares × multiplier / 1e18 = 5e18, read from the real StakeRegistry.
    let operator: PrivateKeySigner = anvil.keys()[1].clone().into();
    let operator_address = operator.address();
    let op_provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(operator))
        .connect_http(anvil.endpoint_url());
    let mut op_tx = Transactor::new(op_provider.clone());
    let amount = U256::from(5u128 * 10u128.pow(18));
    op_tx
        .call(
            "mint",
            el.token,
            DevnetToken::mintCall {
                to: operator_address,
                amount,
            }
            .abi_encode(),
        )
        .await?;
    op_tx
        .call(
            "approve",
            el.token,
            DevnetToken::approveCall {
                spender: el.strategy_manager,
                amount,
            }
            .abi_encode(),
        )
        .await?;
    op_tx
        .call(
            "deposit",
            el.strategy_manager,
            IStrategyManagerCalls::depositIntoStrategyCall {
                strategy: el.strategy,
                token: el.token,
                amount,
            }
            .abi_encode(),
        )
        .await?;
    let details = IDelegationManager::OperatorDetails {
        __deprecated_earningsReceiver: operator_address,
        delegationApprover: Address::ZERO,
        stakerOptOutWindowBlocks: 0,
    };
    op_tx
        .call(
            "registerAsOperator",
            el.delegation_manager,
            IDelegationManagerCalls::registerAsOperatorCall {
                registeringOperatorDetails: details,
                metadataURI: "https://example.invalid/operator.json".into(),
            }
            .abi_encode(),
        )
        .await?;
    let delegation = IDelegationManagerCalls::new(el.delegation_manager, &provider);
    assert!(delegation.isOperator(operator_address).call().await?);
    assert_eq!(
        delegation
            .getOperatorShares(operator_address, vec![el.strategy])
            .call()
            .await?,
        vec![amount]
    );
    let weight = IStakeRegistryCalls::new(el.stake_registry, &provider)
        .weightOfOperatorForQuorum(0, operator_address)
        .call()
        .await?;
    assert_eq!(weight, U96::from(5u128 * 10u128.pow(18)));

    let names: Vec<_> = tx.steps().iter().map(|step| step.name.as_str()).collect();
    assert!(
        names.contains(&"RegistryCoordinator upgrade"),
        "steps: {names:?}"
    );
    assert!(
        tx.total_gas() > 10_000_000,
        "a full EigenLayer deployment costs tens of millions of gas"
    );
    Ok(())
}

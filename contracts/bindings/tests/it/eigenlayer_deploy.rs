//! Deploys EigenLayer's slashing-era core and registries (eigen-utils bytecode) on anvil and
//! checks the core half of the deployer on its own: versions, delays, deposits and operators.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use avs_contracts::{
    devnet::DevnetToken,
    eigenlayer::{
        self, CORE_VERSION, EigenLayerParams,
        interfaces::{IAllocationManagerCalls, IDelegationManagerCalls, IStrategyManagerCalls},
    },
    transactor::Transactor,
};

alloy::sol! {
    #[sol(rpc)]
    interface ISemVer {
        function version() external view returns (string);
    }
}

#[tokio::test]
async fn deploys_the_slashing_era_core_and_counts_an_operators_deposit() -> eyre::Result<()> {
    let anvil = avs_test_support::anvil().spawn();
    let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
    let owner_address = owner.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(owner))
        .connect_http(anvil.endpoint_url());
    let mut tx = Transactor::new(provider.clone());

    let params = EigenLayerParams::devnet(owner_address);
    let mut el = eigenlayer::deploy_proxies(&mut tx, owner_address).await?;
    eigenlayer::initialize(&mut tx, &mut el, &params).await?;

    // Every core contract reports the release we deploy.
    for (name, address) in [
        ("DelegationManager", el.delegation_manager),
        ("StrategyManager", el.strategy_manager),
        ("AVSDirectory", el.avs_directory),
        ("AllocationManager", el.allocation_manager),
        ("PermissionController", el.permission_controller),
        ("EigenPodManager", el.eigen_pod_manager),
    ] {
        let version = ISemVer::new(address, &provider).version().call().await?;
        assert_eq!(version, CORE_VERSION, "{name}");
    }
    let allocation = IAllocationManagerCalls::new(el.allocation_manager, &provider);
    assert_eq!(
        allocation.DEALLOCATION_DELAY().call().await?,
        params.deallocation_delay_blocks
    );
    assert_eq!(
        allocation.ALLOCATION_CONFIGURATION_DELAY().call().await?,
        params.allocation_configuration_delay_blocks
    );
    let delegation = IDelegationManagerCalls::new(el.delegation_manager, &provider);
    assert_eq!(
        u64::from(delegation.minWithdrawalDelayBlocks().call().await?),
        params.min_withdrawal_delay_blocks
    );

    // A deposit into the devnet strategy becomes deposit shares, 1:1, and an operator's
    // delegated shares once it registers.
    let strategy_manager = IStrategyManagerCalls::new(el.strategy_manager, &provider);
    assert!(
        strategy_manager
            .strategyIsWhitelistedForDeposit(el.strategy)
            .call()
            .await?
    );
    let amount = U256::from(5u64) * U256::from(10u64).pow(U256::from(18u64));
    for (name, to, call) in [
        (
            "mint",
            el.token,
            DevnetToken::mintCall {
                to: owner_address,
                amount,
            }
            .abi_encode(),
        ),
        (
            "approve",
            el.token,
            DevnetToken::approveCall {
                spender: el.strategy_manager,
                amount,
            }
            .abi_encode(),
        ),
        (
            "deposit",
            el.strategy_manager,
            IStrategyManagerCalls::depositIntoStrategyCall {
                strategy: el.strategy,
                token: el.token,
                amount,
            }
            .abi_encode(),
        ),
        (
            "registerAsOperator",
            el.delegation_manager,
            IDelegationManagerCalls::registerAsOperatorCall {
                initDelegationApprover: Address::ZERO,
                allocationDelay: 0,
                metadataURI: "https://example.invalid/op.json".to_owned(),
            }
            .abi_encode(),
        ),
    ] {
        tx.call(name, to, call).await?;
    }
    assert_eq!(
        strategy_manager
            .stakerDepositShares(owner_address, el.strategy)
            .call()
            .await?,
        amount
    );
    assert!(delegation.isOperator(owner_address).call().await?);
    assert_eq!(
        delegation
            .getOperatorShares(owner_address, vec![el.strategy])
            .call()
            .await?,
        vec![amount]
    );
    Ok(())
}

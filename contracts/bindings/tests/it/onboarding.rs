//! Operator onboarding and the deployment file against the real contracts: every pre-flight
//! refusal names its problem before a transaction is sent, stake refresh and deregistration
//! work, and a deployment file that does not match the chain is refused.

use alloy::{
    primitives::{Address, U256, aliases::U96},
    providers::ext::AnvilApi,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use avs_bls::SecretKey;
use avs_contracts::testing::{TOKEN, TestDevnet, wallet_provider};
use avs_contracts::{
    avs::AvsRegistryCoordinator,
    avs::AvsServiceManager,
    deployment::{Deployment, DeploymentError},
    eigenlayer::interfaces::{
        IAllocationManager, IAllocationManagerCalls, IRegistryCoordinatorCalls, IStakeRegistryCalls,
    },
    operator::{self, OnboardingError, OperatorClient},
    transactor::Transactor,
};

/// A funded anvil account (index `i`) that has not onboarded yet.
async fn fresh_client(
    devnet: &TestDevnet,
    i: usize,
) -> (
    PrivateKeySigner,
    OperatorClient<'_, alloy::providers::DynProvider>,
) {
    let signer: PrivateKeySigner = devnet.anvil.keys()[i].clone().into();
    let provider = wallet_provider(&devnet.anvil, &signer).await;
    let client = OperatorClient::new(provider, &devnet.deployment, signer.address());
    (signer, client)
}

/// [`fresh_client`] for anvil key `i`, registered with EigenLayer (allocation delay 0) with 5
/// tokens deposited and all of them allocated: ready to register for the AVS.
async fn allocated_client(
    devnet: &TestDevnet,
    i: usize,
) -> eyre::Result<(
    PrivateKeySigner,
    OperatorClient<'_, alloy::providers::DynProvider>,
)> {
    let (signer, mut client) = fresh_client(devnet, i).await;
    client
        .register_as_eigenlayer_operator("https://example.invalid/op.json", 0)
        .await?;
    client.mint_devnet_tokens(U256::from(5 * TOKEN)).await?;
    client.deposit(U256::from(5 * TOKEN)).await?;
    client.allocate(1.0).await?;
    Ok((signer, client))
}

#[tokio::test]
async fn preflight_names_each_problem_before_any_transaction() -> eyre::Result<()> {
    // Quorum cap 2: the third registration finds the quorum full.
    let devnet = TestDevnet::start(&[10], |config| {
        config.eigenlayer.quorum.max_operator_count = 2
    })
    .await?;

    // Not an EigenLayer operator yet (it has stake but never called registerAsOperator).
    let (signer, mut client) = fresh_client(&devnet, 5).await;
    client.mint_devnet_tokens(U256::from(5 * TOKEN)).await?;
    client.deposit(U256::from(5 * TOKEN)).await?;
    let bls = SecretKey::generate();
    let err = client
        .preflight_register(&bls)
        .await
        .expect_err("not an EigenLayer operator");
    assert!(
        matches!(err, OnboardingError::NotEigenLayerOperator { operator } if operator == signer.address()),
        "{err}"
    );

    // Registered with EigenLayer, but its allocation delay is not in effect yet: it cannot
    // allocate, and has allocated nothing.
    client
        .register_as_eigenlayer_operator("https://example.invalid/op.json", 0)
        .await?;
    let err = client.allocate(1.0).await.expect_err("delay not in effect");
    assert!(
        matches!(err, OnboardingError::AllocationDelayNotSet { .. }),
        "{err}"
    );
    let err = client
        .preflight_register(&bls)
        .await
        .expect_err("no allocation");
    assert!(
        matches!(err, OnboardingError::NoAllocation { quorum: 0, .. }),
        "{err}"
    );
    assert!(
        matches!(
            client.allocate(0.0).await,
            Err(OnboardingError::InvalidFraction { .. })
        ),
        "a zero allocation is refused"
    );
    // ALLOCATION_CONFIGURATION_DELAY is one devnet block.
    devnet.provider.anvil_mine(Some(2), None).await?;
    client
        .wait_until_allocation_delay_set(std::time::Duration::from_secs(10))
        .await?;
    // 5 % of 5 tokens is slashable: below the 1-token minimum.
    assert!(client.allocate(0.05).await?, "allocated");
    let err = client
        .preflight_register(&bls)
        .await
        .expect_err("not enough slashable stake");
    assert!(
        matches!(err, OnboardingError::NotEnoughStake { quorum: 0, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("allocate a larger fraction"),
        "the error says how to fix it: {err}"
    );
    assert!(client.allocate(1.0).await?, "allocated all");
    assert!(!client.allocate(1.0).await?, "nothing left to do");

    // A BLS key another operator registered.
    let err = client
        .preflight_register(&devnet.operators[0].bls)
        .await
        .expect_err("key reuse");
    match err {
        OnboardingError::BlsKeyInUse { operator_id, owner } => {
            assert_eq!(operator_id, devnet.operators[0].operator_id);
            assert_eq!(owner, devnet.operator_address(0));
        }
        other => panic!("expected BlsKeyInUse, got {other}"),
    }

    // The allowlist: refused while enabled and absent, accepted once added.
    let mut owner_tx = Transactor::new(devnet.provider.clone());
    let service_manager = devnet.deployment.avs.service_manager;
    owner_tx
        .call(
            "enableAllowlist",
            service_manager,
            AvsServiceManager::enableAllowlistCall {}.abi_encode(),
        )
        .await?;
    let err = client
        .preflight_register(&bls)
        .await
        .expect_err("not allowlisted");
    assert!(
        matches!(err, OnboardingError::NotAllowlisted { .. }),
        "{err}"
    );
    let add = AvsServiceManager::addToAllowlistCall {
        operators: vec![signer.address()],
    };
    owner_tx
        .call("addToAllowlist", service_manager, add.abi_encode())
        .await?;
    client
        .register_with_avs(&bls, "/ip4/127.0.0.1/tcp/9001")
        .await?;
    owner_tx
        .call(
            "disableAllowlist",
            service_manager,
            AvsServiceManager::disableAllowlistCall {}.abi_encode(),
        )
        .await?;

    // Registered twice: refused; a third operator finds the quorum (cap 2) full.
    let err = client
        .preflight_register(&bls)
        .await
        .expect_err("already registered");
    assert!(
        matches!(err, OnboardingError::AlreadyRegistered { .. }),
        "{err}"
    );
    let (_, third) = allocated_client(&devnet, 7).await?;
    let err = third
        .preflight_register(&SecretKey::generate())
        .await
        .expect_err("quorum full");
    assert!(
        matches!(err, OnboardingError::QuorumFull { quorum: 0, max: 2 }),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn stake_refresh_and_deregistration() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&[10, 20], |_| {}).await?;
    let operator = devnet.operator_address(0);
    let stake_registry = IStakeRegistryCalls::new(
        devnet.deployment.eigenlayer.stake_registry,
        &devnet.provider,
    );
    let id = devnet.operators[0].operator_id;
    assert_eq!(
        stake_registry.getCurrentStake(id, 0).call().await?,
        U96::from(10 * TOKEN)
    );

    // More stake counts only once the registries are refreshed.
    let provider = wallet_provider(&devnet.anvil, &devnet.operators[0].signer).await;
    let mut client = OperatorClient::new(provider, &devnet.deployment, operator);
    client.mint_devnet_tokens(U256::from(5 * TOKEN)).await?;
    client.deposit(U256::from(5 * TOKEN)).await?;
    assert_eq!(
        stake_registry.getCurrentStake(id, 0).call().await?,
        U96::from(10 * TOKEN)
    );
    let mut anyone = Transactor::new(devnet.provider.clone());
    operator::update_stakes(&mut anyone, &devnet.deployment, vec![operator]).await?;
    assert_eq!(
        stake_registry.getCurrentStake(id, 0).call().await?,
        U96::from(15 * TOKEN)
    );

    client.deregister().await?;
    let status = operator::status(&devnet.provider, &devnet.deployment, operator).await?;
    assert!(
        !status.registered && status.eigenlayer_operator,
        "{status:?}"
    );
    // Gone from the operator set, yet still slashable for EigenLayer's deallocation delay.
    let allocation_manager = IAllocationManagerCalls::new(
        devnet.deployment.eigenlayer.allocation_manager,
        &devnet.provider,
    );
    let set = operator::operator_set(&devnet.deployment, 0);
    assert!(
        !allocation_manager
            .isMemberOfOperatorSet(operator, set.clone())
            .call()
            .await?
    );
    assert!(
        allocation_manager
            .isOperatorSlashable(operator, set)
            .call()
            .await?
    );
    let err = client
        .deregister()
        .await
        .expect_err("not registered any more");
    assert!(
        matches!(err, OnboardingError::NotRegistered { operator: o } if o == operator),
        "{err}"
    );

    // An honest operator that left comes back with its own key once EigenLayer's deallocation
    // delay has passed (until then it is still slashable there): same operator id, counted again.
    let bls = &devnet.operators[0].bls;
    let err = client.preflight_register(bls).await.expect_err("too early");
    assert!(
        matches!(err, OnboardingError::RejoinTooEarly { quorum: 0, .. }),
        "{err}"
    );
    let delay = allocation_manager.DEALLOCATION_DELAY().call().await?;
    devnet
        .provider
        .anvil_mine(Some(u64::from(delay) + 1), None)
        .await?;
    // EigenLayer keeps an operator's first BLS key: coming back with another is named, not
    // silently registered under the old one.
    let err = client
        .preflight_register(&SecretKey::generate())
        .await
        .expect_err("another key");
    assert!(
        matches!(err, OnboardingError::BlsKeyChanged { registered, .. } if registered == id),
        "{err}"
    );
    let again = client
        .register_with_avs(bls, "/ip4/127.0.0.1/tcp/9001")
        .await?;
    assert_eq!(again, id);
    let status = operator::status(&devnet.provider, &devnet.deployment, operator).await?;
    assert!(status.registered, "{status:?}");
    assert_eq!(
        stake_registry.getCurrentStake(id, 0).call().await?,
        U96::from(15 * TOKEN)
    );
    Ok(())
}

/// The coordinator enforces the quorum cap itself: a registration sent straight to the
/// AllocationManager, past the client's pre-flight check, is refused.
#[tokio::test]
async fn the_coordinator_refuses_a_registration_beyond_the_quorum_cap() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&[10], |config| {
        config.eigenlayer.quorum.max_operator_count = 1
    })
    .await?;
    let (signer, client) = allocated_client(&devnet, 5).await?;
    let err = client
        .preflight_register(&SecretKey::generate())
        .await
        .expect_err("full");
    assert!(
        matches!(err, OnboardingError::QuorumFull { quorum: 0, max: 1 }),
        "{err}"
    );

    let bls = SecretKey::generate();
    let message = IRegistryCoordinatorCalls::new(
        devnet.deployment.eigenlayer.registry_coordinator,
        &devnet.provider,
    )
    .pubkeyRegistrationMessageHash(signer.address())
    .call()
    .await?;
    let pop = avs_bls::PubkeyRegistrationParams::new(
        &bls,
        &avs_bls::G1Point {
            x: message.X,
            y: message.Y,
        },
    )?;
    let data = operator::registration_data("/ip4/127.0.0.1/tcp/9005", &pop);
    let call = IAllocationManagerCalls::registerForOperatorSetsCall {
        operator: signer.address(),
        params: IAllocationManager::RegisterParams {
            avs: devnet.deployment.avs.service_manager,
            operatorSetIds: vec![0],
            data,
        },
    };
    let mut tx = Transactor::new(wallet_provider(&devnet.anvil, &signer).await);
    let err = tx
        .call(
            "registerForOperatorSets",
            devnet.deployment.eigenlayer.allocation_manager,
            call.abi_encode(),
        )
        .await
        .expect_err("the quorum is full");
    assert!(
        matches!(
            err.revert::<AvsRegistryCoordinator::AvsRegistryCoordinatorErrors>(),
            Some(AvsRegistryCoordinator::AvsRegistryCoordinatorErrors::MaxOperatorCountReached(_))
        ),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn deployment_file_round_trips_and_refuses_what_does_not_match() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&[], |_| {}).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("deployment.json");
    devnet.deployment.save(&path)?;
    let loaded = Deployment::load(&path)?;
    assert_eq!(loaded, devnet.deployment);
    loaded.validate(&devnet.provider).await?;

    let err = Deployment::load(dir.path().join("missing.json")).expect_err("missing file");
    assert!(matches!(err, DeploymentError::Io { .. }), "{err}");
    std::fs::write(&path, "{ not json")?;
    assert!(matches!(
        Deployment::load(&path),
        Err(DeploymentError::Parse { .. })
    ));
    let mut json: serde_json::Value = serde_json::to_value(&devnet.deployment)?;
    json["formatVersion"] = 3.into();
    std::fs::write(&path, json.to_string())?;
    let err = Deployment::load(&path).expect_err("future version");
    assert!(
        matches!(err, DeploymentError::Version { found: 3, .. }),
        "{err}"
    );

    let mut other_chain = devnet.deployment.clone();
    other_chain.chain_id = 1;
    let err = other_chain
        .validate(&devnet.provider)
        .await
        .expect_err("wrong chain");
    assert!(
        matches!(
            err,
            DeploymentError::WrongChain {
                expected: 1,
                actual: 31_337
            }
        ),
        "{err}"
    );
    let mut stale = devnet.deployment.clone();
    stale.avs.task_manager = Address::repeat_byte(0x42);
    let err = stale.validate(&devnet.provider).await.expect_err("no code");
    assert!(
        matches!(
            err,
            DeploymentError::NoCode {
                name: "AvsTaskManager",
                ..
            }
        ),
        "{err}"
    );
    Ok(())
}

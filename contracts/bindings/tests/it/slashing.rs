//! Slashing on EigenLayer's slashing-era core (real AllocationManager, DelegationManager and
//! registries from eigen-utils on anvil): who may slash, the vetoable slasher's committee and
//! window, and an operator's slashability after it leaves.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::{SolCall, SolEvent},
};
use avs_contracts::{
    avs::{
        AvsSlasher::{self, AvsSlasherErrors},
        AvsTaskManager,
    },
    deployment::SlashingParams,
    eigenlayer::interfaces::IAllocationManagerCalls,
    operator::{self, OperatorClient, WAD},
    slashing::{self, SlashState},
    testing::{TestDevnet, decode_event, revert_error, wallet_provider},
    transactor::Transactor,
};

const STAKES: [u128; 4] = [10, 20, 30, 40];
const VETO_WINDOW: u32 = 20;

/// Operator `i`'s magnitude allocated to operator set 0 and its total magnitude.
async fn magnitudes(devnet: &TestDevnet, i: usize) -> eyre::Result<(u64, u64)> {
    let status = operator::status(
        &devnet.provider,
        &devnet.deployment,
        devnet.operator_address(i),
    )
    .await?;
    let allocation = &status.allocations[0];
    Ok((allocation.magnitude, allocation.max_magnitude))
}

/// Every `E` event of `receipt`.
fn events<E: SolEvent>(receipt: &TransactionReceipt) -> Vec<E> {
    receipt
        .inner
        .logs()
        .iter()
        .filter_map(|log| E::decode_log(&log.inner).ok().map(|decoded| decoded.data))
        .collect()
}

/// Sends `call` to `to` from `from`, which anvil impersonates (no key needed).
async fn send_as(
    devnet: &TestDevnet,
    from: Address,
    to: Address,
    call: Vec<u8>,
) -> eyre::Result<TransactionReceipt> {
    let provider = ProviderBuilder::new().connect_http(devnet.anvil.endpoint_url());
    provider.anvil_impersonate_account(from).await?;
    provider
        .anvil_set_balance(from, U256::from(WAD) * U256::from(10u8))
        .await?;
    let request = TransactionRequest::default()
        .with_from(from)
        .with_to(to)
        .with_input(call);
    let receipt = provider
        .send_transaction(request)
        .await?
        .get_receipt()
        .await?;
    provider.anvil_stop_impersonating_account(from).await?;
    Ok(receipt)
}

#[tokio::test]
async fn a_vetoed_slash_leaves_stake_intact_and_the_others_are_slashed_after_the_window()
-> eyre::Result<()> {
    let committee: Address = Address::repeat_byte(0xc0);
    let devnet = TestDevnet::start(&STAKES, |config| {
        config.avs.slashing = SlashingParams {
            wad_to_slash: u128::from(WAD) / 2,
            veto_window_blocks: VETO_WINDOW,
            veto_committee: Some(committee),
        };
    })
    .await?;
    let slasher = devnet.deployment.avs.slasher;
    // Operators 1, 2, 3 sign a wrong state root: the challenge queues a slash per signer and
    // slashes nobody yet.
    let (_, _, receipt) = devnet.challenge_wrong_response(&[1, 2, 3]).await?;
    let queued = events::<AvsSlasher::SlashQueued>(&receipt);
    let mut queued_for: Vec<(Address, U256)> =
        queued.iter().map(|q| (q.operator, q.requestId)).collect();
    queued_for.sort();
    let mut signers: Vec<Address> = [1, 2, 3]
        .iter()
        .map(|&i| devnet.operator_address(i))
        .collect();
    signers.sort();
    assert_eq!(
        queued_for.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        signers,
        "one request per signer"
    );
    for i in 0..4 {
        assert_eq!(magnitudes(&devnet, i).await?, (WAD, WAD), "operator {i}");
    }
    let request_of = |i: usize| {
        queued
            .iter()
            .find(|q| q.operator == devnet.operator_address(i))
            .map(|q| q.requestId)
            .expect("queued")
    };

    // Only the committee vetoes; it vetoes operator 1's slash.
    let veto = AvsSlasher::vetoSlashCall {
        requestId: request_of(1),
    }
    .abi_encode();
    let err = Transactor::new(devnet.provider.clone())
        .call("vetoSlash", slasher, veto.clone())
        .await
        .expect_err("a stranger cannot veto");
    assert!(
        matches!(
            err.revert::<AvsSlasherErrors>(),
            Some(AvsSlasherErrors::OnlyVetoCommittee(_))
        ),
        "{err}"
    );
    send_as(&devnet, committee, slasher, veto).await?;

    // Nothing is due inside the window, and nothing can be fulfilled.
    let mut anyone = Transactor::new(devnet.provider.clone());
    assert!(
        slashing::fulfil_due(&mut anyone, &devnet.deployment)
            .await?
            .is_empty()
    );
    let fulfil = |ids: Vec<U256>| AvsSlasher::fulfilSlashesCall { requestIds: ids }.abi_encode();
    let err = anyone
        .call("fulfilSlashes", slasher, fulfil(vec![request_of(2)]))
        .await
        .expect_err("window open");
    assert!(
        matches!(
            err.revert::<AvsSlasherErrors>(),
            Some(AvsSlasherErrors::VetoWindowOpen(_))
        ),
        "{err}"
    );
    devnet
        .provider
        .anvil_mine(Some(u64::from(VETO_WINDOW)), None)
        .await?;
    // The committee is too late now; an unknown request is refused.
    let late_veto = AvsSlasher::vetoSlashCall {
        requestId: request_of(2),
    }
    .abi_encode();
    let receipt = send_as(&devnet, committee, slasher, late_veto).await;
    assert!(
        receipt.is_err() || !receipt?.status(),
        "a late veto reverts"
    );
    let err = anyone
        .call("fulfilSlashes", slasher, fulfil(vec![U256::from(99u8)]))
        .await
        .expect_err("no such request");
    assert!(
        matches!(
            err.revert::<AvsSlasherErrors>(),
            Some(AvsSlasherErrors::NotQueued(_))
        ),
        "{err}"
    );
    // Anyone executes what is due: the vetoed request is not (and a batch naming it skips it,
    // as it skips an executed one, so nobody can block a batch by executing one of its
    // requests first); half of the others' magnitude goes, once.
    let done = slashing::fulfil_due(&mut anyone, &devnet.deployment).await?;
    let mut expected = vec![request_of(2), request_of(3)];
    expected.sort();
    assert_eq!(done, expected, "exactly the due, unvetoed requests");
    anyone
        .call(
            "fulfilSlashes",
            slasher,
            fulfil(vec![request_of(1), request_of(2), request_of(3)]),
        )
        .await?;
    assert!(
        slashing::fulfil_due(&mut anyone, &devnet.deployment)
            .await?
            .is_empty(),
        "nothing left to do"
    );
    assert_eq!(magnitudes(&devnet, 0).await?, (WAD, WAD), "the non-signer");
    assert_eq!(
        magnitudes(&devnet, 1).await?,
        (WAD, WAD),
        "the vetoed signer"
    );
    for i in [2, 3] {
        assert_eq!(
            magnitudes(&devnet, i).await?,
            (WAD / 2, WAD / 2),
            "operator {i}"
        );
    }
    let queue = slashing::queued_slashes(&devnet.provider, &devnet.deployment).await?;
    let state_of = |i: usize| {
        queue
            .iter()
            .find(|slash| slash.operator == devnet.operator_address(i))
            .map(|slash| slash.state)
    };
    assert_eq!(state_of(1), Some(SlashState::Vetoed));
    assert_eq!(state_of(2), Some(SlashState::Fulfilled));
    assert_eq!(state_of(3), Some(SlashState::Fulfilled));
    assert_eq!(state_of(0), None, "the non-signer was never queued");
    Ok(())
}

#[tokio::test]
async fn only_the_avs_slashes_and_a_leaver_stays_slashable_for_the_deallocation_delay()
-> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let el = &devnet.deployment.eigenlayer;
    let avs = devnet.deployment.avs;
    let slash = |operator: Address| {
        AvsSlasher::slashOperatorsCall {
            operators: vec![operator],
            operatorSetId: 0,
            description: "test".to_owned(),
        }
        .abi_encode()
    };

    // A stranger cannot slash, neither through our slasher nor EigenLayer's AllocationManager.
    let mut stranger = Transactor::new(devnet.provider.clone());
    let err = stranger
        .call(
            "slashOperators",
            avs.slasher,
            slash(devnet.operator_address(0)),
        )
        .await
        .expect_err("only the AVS");
    assert!(
        matches!(
            err.revert::<AvsSlasherErrors>(),
            Some(AvsSlasherErrors::OnlyAvs(_))
        ),
        "{err}"
    );
    alloy::sol! {
        #[derive(Debug)]
        struct SlashingParams { address operator; uint32 operatorSetId; address[] strategies; uint256[] wadsToSlash; string description; }
        #[derive(Debug)]
        function slashOperator(address avs, SlashingParams params) external;
    }
    let direct = slashOperatorCall {
        avs: avs.service_manager,
        params: SlashingParams {
            operator: devnet.operator_address(0),
            operatorSetId: 0,
            strategies: vec![el.strategy],
            wadsToSlash: vec![U256::from(WAD)],
            description: "theft".to_owned(),
        },
    };
    let err = stranger
        .call("slashOperator", el.allocation_manager, direct.abi_encode())
        .await
        .expect_err("not an appointee of the AVS");
    assert!(
        matches!(
            err.revert::<AllocationManagerErrors::AllocationManagerErrorsErrors>(),
            Some(AllocationManagerErrors::AllocationManagerErrorsErrors::InvalidPermissions(_))
        ),
        "{err}"
    );
    assert_eq!(magnitudes(&devnet, 0).await?, (WAD, WAD));
    // The same call from the slasher, the AVS's appointee, goes through (a quarter of operator
    // 3's magnitude): the refusal above is the permission, not the call.
    let mut appointed = direct.clone();
    appointed.params.operator = devnet.operator_address(3);
    appointed.params.wadsToSlash = vec![U256::from(WAD / 4)];
    let receipt = send_as(
        &devnet,
        avs.slasher,
        el.allocation_manager,
        appointed.abi_encode(),
    )
    .await?;
    assert!(receipt.status());
    assert_eq!(
        magnitudes(&devnet, 3).await?,
        (WAD - WAD / 4, WAD - WAD / 4)
    );

    // Operator 0 leaves; inside the deallocation delay the AVS still slashes it (10 %).
    let leave = |i: usize| {
        let devnet = &devnet;
        async move {
            let provider = wallet_provider(&devnet.anvil, &devnet.operators[i].signer).await;
            OperatorClient::new(provider, &devnet.deployment, devnet.operator_address(i))
                .deregister()
                .await
        }
    };
    leave(0).await?;
    let receipt = send_as(
        &devnet,
        avs.service_manager,
        avs.slasher,
        slash(devnet.operator_address(0)),
    )
    .await?;
    assert!(receipt.status());
    assert_eq!(
        magnitudes(&devnet, 0).await?,
        (WAD - WAD / 10, WAD - WAD / 10),
        "slashed after leaving"
    );

    // Operator 1 leaves and the delay passes: it is out of reach, and the slasher says so.
    leave(1).await?;
    let delay = IAllocationManagerCalls::new(el.allocation_manager, &devnet.provider)
        .DEALLOCATION_DELAY()
        .call()
        .await?;
    devnet
        .provider
        .anvil_mine(Some(u64::from(delay) + 1), None)
        .await?;
    let receipt = send_as(
        &devnet,
        avs.service_manager,
        avs.slasher,
        slash(devnet.operator_address(1)),
    )
    .await?;
    assert!(receipt.status());
    let expired = events::<AvsSlasher::SlashExpired>(&receipt);
    assert_eq!(
        expired.iter().map(|e| e.operator).collect::<Vec<_>>(),
        vec![devnet.operator_address(1)]
    );
    assert_eq!(
        magnitudes(&devnet, 1).await?,
        (WAD, WAD),
        "not slashable any more"
    );
    Ok(())
}

alloy::sol! {
    /// EigenLayer's AllocationManager errors and pause switches these tests use.
    interface AllocationManagerErrors {
        error InvalidPermissions();
        function pauseAll() external;
        function unpause(uint256 newPausedStatus) external;
    }
}

/// Attack first: EigenLayer's pauser pauses the AllocationManager (slashing, deregistration)
/// while a wrong checkpoint is finalized. Before the challenge caught a failing punishment, the
/// whole challenge reverted and the wrong checkpoint stayed finalized past its window. Now the
/// checkpoint is invalidated at once, and the signers are punished by `freezeSigners` after
/// the pause.
#[tokio::test]
async fn a_challenge_while_eigenlayer_pauses_slashing_invalidates_and_punishes_later()
-> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let el = &devnet.deployment.eigenlayer;
    let mut owner = Transactor::new(devnet.provider.clone());
    owner
        .call(
            "AllocationManager.pauseAll",
            el.allocation_manager,
            AllocationManagerErrors::pauseAllCall {}.abi_encode(),
        )
        .await?;
    let (task, non_signers, receipt) = devnet.challenge_wrong_response(&[1, 2, 3]).await?;
    let not_punished = events::<AvsTaskManager::SignersNotPunished>(&receipt);
    assert_eq!(not_punished.len(), 1, "the punishment failed and said so");
    let block = task.blockNumber;
    devnet
        .task_manager()
        .finalizedCheckpoint(task.chainId, block)
        .call()
        .await
        .expect_err("the checkpoint is invalidated all the same");
    for i in 0..4 {
        assert_eq!(magnitudes(&devnet, i).await?, (WAD, WAD), "operator {i}");
    }

    owner
        .call(
            "AllocationManager.unpause",
            el.allocation_manager,
            AllocationManagerErrors::unpauseCall {
                newPausedStatus: U256::ZERO,
            }
            .abi_encode(),
        )
        .await?;
    let freeze = AvsTaskManager::freezeSignersCall {
        taskIndex: not_punished[0].taskIndex,
        task,
        nonSignerPubkeys: non_signers,
        start: U256::ZERO,
        end: U256::from(32u8),
    };
    // Replayed (the continuation is permissionless), it punishes nobody twice.
    for _ in 0..2 {
        Transactor::new(devnet.provider.clone())
            .call(
                "freezeSigners",
                devnet.deployment.avs.task_manager,
                freeze.abi_encode(),
            )
            .await?;
    }
    let slashed = WAD - WAD / 10;
    assert_eq!(magnitudes(&devnet, 0).await?, (WAD, WAD), "the non-signer");
    for i in [1, 2, 3] {
        assert_eq!(
            magnitudes(&devnet, i).await?,
            (slashed, slashed),
            "operator {i}"
        );
        let status = operator::status(
            &devnet.provider,
            &devnet.deployment,
            devnet.operator_address(i),
        )
        .await?;
        assert!(status.frozen && !status.registered, "{status:?}");
    }
    Ok(())
}

/// A wrong response challenged after its window: the challenge reverts, nobody is slashed.
#[tokio::test]
async fn a_challenge_after_its_window_slashes_nobody() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let (_, task, mut wrong) = devnet.next_task().await?;
    wrong.stateRoot = alloy::primitives::B256::repeat_byte(0xbd);
    let proof = devnet.aggregate(&task, &wrong, &[1, 2, 3]).await?;
    let non_signers = proof.nonSignerPubkeys.clone();
    let receipt = devnet.respond(&task, &wrong, proof).await?;
    let metadata = decode_event::<AvsTaskManager::TaskResponded>(&receipt)?.taskResponseMetadata;
    devnet
        .provider
        .anvil_mine(Some(u64::from(task.challengeWindowBlocks) + 1), None)
        .await?;
    let err = devnet
        .challenge(&task, &wrong, metadata, non_signers)
        .await
        .expect_err("the window is closed");
    assert!(
        matches!(
            revert_error(&err),
            AvsTaskManager::AvsTaskManagerErrors::ChallengeWindowClosed(_)
        ),
        "{err}"
    );
    devnet.assert_nobody_punished().await
}

//! Issue-level checks of the AVS on the real EigenLayer contracts: tasks answered with real
//! aggregates (non-signer data from `OperatorStateRetriever.getCheckSignaturesIndices`), the
//! revert classics, and challenges that freeze and eject the signers of a wrong response.

use alloy::{
    primitives::{B256, U256},
    providers::ext::AnvilApi,
};
use avs_bls::Signature;
use avs_contracts::testing::{TestDevnet, decode_event, revert_error};
use avs_contracts::{
    aggregation::{self, AggregationError},
    avs::{
        self,
        AvsTaskManager::{self, AvsTaskManagerErrors},
        BN254,
    },
    eigenlayer::interfaces::IStrategyManagerCalls,
    operator,
};

/// Stakes 10/20/30/40: {0,2,3} sign 80%, {0,1,2} sign 60% of quorum 0.
const STAKES: [u128; 4] = [10, 20, 30, 40];

#[tokio::test]
async fn three_of_four_answer_at_66_percent_and_the_classics_revert() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    for (i, op) in devnet.operators.iter().enumerate() {
        let status = operator::status(
            &devnet.provider,
            &devnet.deployment,
            devnet.operator_address(i),
        )
        .await?;
        assert!(
            status.registered && status.eigenlayer_operator,
            "operator {i}: {status:?}"
        );
        assert_eq!(status.operator_id, Some(op.operator_id));
        // All of the deposit is allocated to operator set 0, so all of it is slashable stake.
        let allocation = &status.allocations[..];
        assert_eq!(allocation.len(), 1, "{status:?}");
        assert_eq!(
            (allocation[0].quorum, allocation[0].magnitude),
            (0, operator::WAD)
        );
        assert_eq!(allocation[0].slashable_shares, U256::from(op.stake));
        assert_eq!(
            allocation[0].stake,
            alloy::primitives::aliases::U96::from(op.stake)
        );
    }

    let block = devnet.next_checkpoint().await?;
    let (task_index, task) = devnet.create_task(block).await?;
    assert_eq!(
        (task.blockNumber, task.quorumThresholdPercentage),
        (block, 66)
    );
    let response = devnet.true_response(task_index, block).await?;

    // 60% signed: the contract names the quorum and the stakes.
    let below = devnet.aggregate(&task, &response, &[0, 1, 2]).await?;
    let err = devnet
        .respond(&task, &response, below)
        .await
        .expect_err("60% < 66% must revert");
    match revert_error(&err) {
        AvsTaskManagerErrors::QuorumThresholdNotMet(e) => {
            assert_eq!(
                (
                    e.quorumNumber,
                    e.signedStake.to::<u128>(),
                    e.totalStake.to::<u128>()
                ),
                (
                    0,
                    60 * avs_contracts::testing::TOKEN,
                    100 * avs_contracts::testing::TOKEN
                )
            );
        }
        other => panic!("expected QuorumThresholdNotMet, got {other:?}"),
    }

    // A signature over another message: the off-chain pre-verification refuses to build it, and
    // the contract rejects it when forced through.
    let digest = avs::attestation_digest(&devnet.deployment.signing_domain(), &task, &response);
    let mut signatures = devnet.sign(&[0, 2, 3], digest);
    signatures[1].1 = devnet.operators[2].bls.sign(B256::repeat_byte(0xee));
    let built = aggregation::build_non_signer_stakes_and_signature(
        &devnet.provider,
        &devnet.deployment,
        &task,
        digest,
        &devnet.keys(),
        &signatures,
    )
    .await;
    assert!(
        matches!(built, Err(AggregationError::PreVerification)),
        "got {built:?}"
    );
    let mut forged = devnet.aggregate(&task, &response, &[0, 2, 3]).await?;
    let bad_sigma: Signature = devnet.operators[2].bls.sign(B256::repeat_byte(0xee));
    forged.sigma = BN254::G1Point::from((bad_sigma.to_point().x, bad_sigma.to_point().y));
    let err = devnet
        .respond(&task, &response, forged)
        .await
        .expect_err("forged sigma must revert");
    assert!(
        matches!(
            revert_error(&err),
            AvsTaskManagerErrors::InvalidSignature(_)
        ),
        "{err}"
    );

    // 80% signed: finalized with anvil's real block hash and roots.
    let good = devnet.aggregate(&task, &response, &[0, 2, 3]).await?;
    assert_eq!(
        good.nonSignerPubkeys.len(),
        1,
        "operator 1 is the one non-signer"
    );
    let receipt = devnet.respond(&task, &response, good.clone()).await?;
    let responded = decode_event::<AvsTaskManager::TaskResponded>(&receipt)?;
    assert_eq!(responded.taskIndex, task_index);
    assert_eq!(responded.taskResponse, response);
    let finalized = devnet
        .task_manager()
        .finalizedCheckpoint(task.chainId, block)
        .call()
        .await?;
    assert_eq!(
        (
            finalized.blockHash,
            finalized.stateRoot,
            finalized.receiptsRoot
        ),
        (
            response.blockHash,
            response.stateRoot,
            response.receiptsRoot
        )
    );
    assert_eq!(finalized.taskIndex, task_index);
    eprintln!(
        "respondToTask with 4 operators, 1 non-signer: {} gas",
        receipt.gas_used
    );

    // Twice: refused.
    let err = devnet
        .respond(&task, &response, good)
        .await
        .expect_err("second response must revert");
    assert!(
        matches!(
            revert_error(&err),
            AvsTaskManagerErrors::TaskAlreadyResponded(_)
        ),
        "{err}"
    );

    // Late: past responseWindowBlocks.
    let (_, late_task, late_response) = devnet.next_task().await?;
    let proof = devnet
        .aggregate(&late_task, &late_response, &[0, 1, 2, 3])
        .await?;
    let window = devnet.deployment.params.avs.response_window_blocks;
    devnet
        .provider
        .anvil_mine(Some(u64::from(window) + 1), None)
        .await?;
    let err = devnet
        .respond(&late_task, &late_response, proof)
        .await
        .expect_err("late response must revert");
    assert!(
        matches!(
            revert_error(&err),
            AvsTaskManagerErrors::ResponseWindowClosed(_)
        ),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_response_is_challenged_and_its_signers_slashed_frozen_and_ejected()
-> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    // Operators 1, 2, 3 (90%) sign the wrong state root; operator 0 does not.
    let (task, _, receipt) = devnet.challenge_wrong_response(&[1, 2, 3]).await?;
    let block = task.blockNumber;
    let challenged = decode_event::<AvsTaskManager::TaskChallengedSuccessfully>(&receipt)?;
    let mut frozen = challenged.frozenOperators.clone();
    frozen.sort();
    let mut expected: Vec<_> = [1, 2, 3]
        .iter()
        .map(|&i| devnet.operator_address(i))
        .collect();
    expected.sort();
    assert_eq!(frozen, expected, "exactly the signers are frozen");
    // The devnet slashes 10 % of each signer's allocated magnitude, read back from EigenLayer's
    // AllocationManager and DelegationManager; the non-signer keeps everything.
    let wad = operator::WAD;
    let slashed = wad / 10;
    let mut burned = U256::ZERO;
    for (i, op) in devnet.operators.iter().enumerate() {
        let status = operator::status(
            &devnet.provider,
            &devnet.deployment,
            devnet.operator_address(i),
        )
        .await?;
        let signer = i != 0;
        assert_eq!(status.frozen, signer, "operator {i}: {status:?}");
        assert_eq!(
            status.registered, !signer,
            "frozen operators are ejected: {status:?}"
        );
        let allocation = &status.allocations[0];
        let (magnitude, shares) = if signer {
            (wad - slashed, U256::from(op.stake - op.stake / 10))
        } else {
            (wad, U256::from(op.stake))
        };
        assert_eq!(
            (
                allocation.magnitude,
                allocation.max_magnitude,
                status.shares
            ),
            (magnitude, magnitude, shares),
            "operator {i} (signer: {signer}): {status:?}"
        );
        if signer {
            burned += U256::from(op.stake / 10);
        }
    }
    // The slashed shares are queued for burning in the StrategyManager.
    let burnable = IStrategyManagerCalls::new(
        devnet.deployment.eigenlayer.strategy_manager,
        &devnet.provider,
    )
    .getBurnableShares(devnet.deployment.eigenlayer.strategy)
    .call()
    .await?;
    assert_eq!(burnable, burned, "slashed shares await burning");
    let err = devnet
        .task_manager()
        .finalizedCheckpoint(task.chainId, block)
        .call()
        .await
        .expect_err("invalidated");
    assert!(err.to_string().contains("revert"), "{err}");

    // The next checkpoint: the honest operator alone holds 100% of the remaining stake.
    let (_, next_task, response) = devnet.next_task().await?;
    let proof = devnet.aggregate(&next_task, &response, &[0]).await?;
    assert!(
        proof.nonSignerPubkeys.is_empty(),
        "frozen operators no longer count"
    );
    devnet.respond(&next_task, &response, proof).await?;

    // A frozen operator can never register again.
    let provider =
        avs_contracts::testing::wallet_provider(&devnet.anvil, &devnet.operators[1].signer).await;
    let client =
        operator::OperatorClient::new(provider, &devnet.deployment, devnet.operator_address(1));
    let err = client
        .preflight_register(&avs_bls::SecretKey::generate())
        .await
        .expect_err("frozen");
    assert!(
        matches!(err, operator::OnboardingError::Frozen { .. }),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_challenge_of_a_correct_response_fails() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let (_, task, response) = devnet.next_task().await?;
    let proof = devnet.aggregate(&task, &response, &[0, 1, 2, 3]).await?;
    let receipt = devnet.respond(&task, &response, proof).await?;
    devnet
        .assert_unchallengeable(&task, &response, &receipt)
        .await?;
    devnet.assert_nobody_punished().await
}

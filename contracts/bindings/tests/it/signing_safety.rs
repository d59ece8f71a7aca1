//! Attacks on what a signature commits to, tried on anvil against EigenLayer's real registries:
//! an aggregate replayed after a settlement reorg re-created its task index, the same
//! signatures replayed on a second deployment sharing the operators' keys, and a signing
//! group's partial aggregate claiming a signer its sum lacks. Each must revert,
//! and no honest operator may end up frozen. (Both succeeded when operators signed
//! `keccak256(abi.encode(response))`: the replay finalized a wrong block hash, and a challenge
//! then froze every honest signer.)

use alloy::{
    network::TransactionBuilder,
    primitives::U256,
    providers::{Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use avs_contracts::{
    avs::AvsTaskManager::{self, AvsTaskManagerErrors},
    deploy, eigenlayer,
    testing::{TestDevnet, decode_event, revert_error, wallet_provider},
    transactor::Transactor,
};

const STAKES: [u128; 3] = [10, 20, 30];
const ALL: [usize; 3] = [0, 1, 2];

/// Mines empty blocks until the head is `number`.
async fn mine_to(devnet: &TestDevnet, number: u64) -> eyre::Result<()> {
    let head = devnet.provider.get_block_number().await?;
    eyre::ensure!(head <= number, "head {head} is past {number}");
    if head < number {
        devnet
            .provider
            .anvil_mine(Some(number - head), None)
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn an_aggregate_from_a_reorged_branch_answers_no_recreated_task() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let interval = devnet.deployment.params.avs.checkpoint_interval;
    // anvil consumes a snapshot when it reverts to it: each reorg takes a new one.
    let mut before = devnet.provider.anvil_snapshot().await?;

    // The old branch: checkpoint n, task i created two blocks later, signed by everybody.
    let n = devnet.next_checkpoint().await?;
    let (index, old_task) = devnet.create_task(n).await?;
    let created = old_task.taskCreatedBlock;
    let old_response = devnet.true_response(index, n).await?;
    let old_aggregate = devnet.aggregate(&old_task, &old_response, &ALL).await?;

    // The settlement chain reorgs below the checkpoint: the new branch has another block n.
    for variant in ["same checkpoint, its block changed", "another checkpoint"] {
        assert!(devnet.provider.anvil_revert(before).await?, "reorg");
        before = devnet.provider.anvil_snapshot().await?;
        let account = devnet.submitter_key();
        let other = wallet_provider(&devnet.anvil, &account).await;
        other
            .send_transaction(
                TransactionRequest::default()
                    .with_to(account.address())
                    .with_value(U256::from(1)),
            )
            .await?
            .get_receipt()
            .await?;
        let checkpoint = if variant == "another checkpoint" {
            n + interval
        } else {
            n
        };
        // Index i is created again at the very same height.
        let created_at = u64::from(created) + checkpoint - n;
        mine_to(&devnet, created_at - 1).await?;
        let (new_index, new_task) = devnet.create_task(checkpoint).await?;
        assert_eq!(new_index, index, "{variant}: index re-created");
        assert_eq!(u64::from(new_task.taskCreatedBlock), created_at);
        assert_ne!(new_task.hash(), old_task.hash(), "{variant}: another task");
        let new_response = devnet.true_response(index, checkpoint).await?;
        assert_ne!(new_response.blockHash, old_response.blockHash);

        // The replays revert: the old task no longer exists, and the old signatures are not
        // over the new one.
        let err = devnet
            .respond(&old_task, &old_response, old_aggregate.clone())
            .await
            .expect_err("the old task is gone");
        assert!(
            matches!(revert_error(&err), AvsTaskManagerErrors::TaskMismatch(e) if e.taskIndex == index),
            "{variant}: {err}"
        );
        let err = devnet
            .respond(&new_task, &old_response, old_aggregate.clone())
            .await
            .expect_err("old signatures do not answer the new task");
        assert!(
            matches!(
                revert_error(&err),
                AvsTaskManagerErrors::InvalidSignature(_)
            ),
            "{variant}: {err}"
        );

        // The honest operators answer the new task; a challenge of that answer fails and
        // nobody is frozen.
        let aggregate = devnet.aggregate(&new_task, &new_response, &ALL).await?;
        let receipt = devnet.respond(&new_task, &new_response, aggregate).await?;
        if variant == "same checkpoint, its block changed" {
            devnet
                .assert_unchallengeable(&new_task, &new_response, &receipt)
                .await?;
        }
        devnet.assert_nobody_punished().await?;
    }
    Ok(())
}

#[tokio::test]
async fn signatures_for_one_deployment_do_not_verify_on_another() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    // A second task manager on the same registries and keys, open to any task creator.
    let el = &devnet.deployment.eigenlayer;
    let mut tx = Transactor::new(devnet.provider.clone());
    let second = eigenlayer::empty_proxy(
        &mut tx,
        "second AvsTaskManager",
        el.empty_contract,
        el.proxy_admin,
    )
    .await?;
    let mut params = devnet.deployment.params.avs.clone();
    params.open_task_creation = true;
    deploy::install_task_manager(
        &mut tx,
        el,
        devnet.deployment.avs.service_manager,
        second,
        devnet.deployment.params.eigenlayer.owner,
        &params,
    )
    .await?;

    // The same task on both, created in one block by two senders: identical fields.
    let n = devnet.next_checkpoint().await?;
    let create = AvsTaskManager::createNewTaskCall {
        chainId: devnet.deployment.chain_id,
        blockNumber: n,
        quorumThresholdPercentage: params.quorum_threshold_percentage.into(),
        quorumNumbers: params.quorum_numbers.clone().into(),
    }
    .abi_encode();
    let other = wallet_provider(&devnet.anvil, &devnet.submitter_key()).await;
    devnet.provider.anvil_set_auto_mine(false).await?;
    let first_tx = devnet
        .provider
        .send_transaction(
            TransactionRequest::default()
                .with_to(devnet.deployment.avs.task_manager)
                .with_input(create.clone())
                .with_gas_limit(1_000_000),
        )
        .await?;
    let second_tx = other
        .send_transaction(
            TransactionRequest::default()
                .with_to(second)
                .with_input(create)
                .with_gas_limit(1_000_000),
        )
        .await?;
    devnet.provider.anvil_mine(Some(1), None).await?;
    devnet.provider.anvil_set_auto_mine(true).await?;
    let (first_receipt, second_receipt) =
        tokio::try_join!(first_tx.get_receipt(), second_tx.get_receipt())?;
    assert_eq!(first_receipt.block_number, second_receipt.block_number);
    let task = decode_event::<AvsTaskManager::NewTaskCreated>(&first_receipt)?.task;
    let twin = decode_event::<AvsTaskManager::NewTaskCreated>(&second_receipt)?;
    assert_eq!(twin.task, task, "identical tasks");
    devnet.provider.anvil_mine(Some(1), None).await?;

    let response = devnet.true_response(twin.taskIndex, n).await?;
    let aggregate = devnet.aggregate(&task, &response, &ALL).await?;
    let call = AvsTaskManager::respondToTaskCall {
        task: task.clone(),
        response: response.clone(),
        nonSignerStakesAndSignature: aggregate.clone(),
    };
    let err = Transactor::new(devnet.provider.clone())
        .call(
            "respondToTask on the second deployment",
            second,
            call.abi_encode(),
        )
        .await
        .expect_err("another deployment's signatures");
    assert!(
        matches!(
            revert_error(&err),
            AvsTaskManagerErrors::InvalidSignature(_)
        ),
        "{err}"
    );
    devnet.respond(&task, &response, aggregate).await?;
    devnet.assert_nobody_punished().await?;
    Ok(())
}

#[tokio::test]
async fn a_deployment_whose_task_manager_signs_otherwise_is_refused_and_bounds_agree()
-> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES[..1], |_| {}).await?;
    devnet.deployment.validate(&devnet.provider).await?;
    // The bounds the deployer checks before sending are the contract's.
    let tm = AvsTaskManager::new(devnet.deployment.avs.task_manager, &devnet.provider);
    assert_eq!(
        (
            tm.MIN_RESPONSE_WINDOW_BLOCKS().call().await?,
            tm.MAX_RESPONSE_WINDOW_BLOCKS().call().await?,
            tm.MIN_CHALLENGE_WINDOW_BLOCKS().call().await?,
        ),
        (
            avs_contracts::avs::MIN_RESPONSE_WINDOW_BLOCKS,
            avs_contracts::avs::MAX_RESPONSE_WINDOW_BLOCKS,
            avs_contracts::avs::MIN_CHALLENGE_WINDOW_BLOCKS,
        )
    );
    // A contract without this build's EIP-712 domain where the task manager should be (as a
    // task manager of an older protocol version has none).
    let mut other = devnet.deployment.clone();
    other.avs.task_manager = other.avs.service_manager;
    let err = other
        .validate(&devnet.provider)
        .await
        .expect_err("no signing domain");
    assert!(
        matches!(err, avs_contracts::deployment::DeploymentError::SigningDomain { task_manager, .. } if task_manager == other.avs.task_manager),
        "{err}"
    );
    assert!(err.to_string().contains("redeploy"), "{err}");
    Ok(())
}

/// A signing group's partial aggregate (p2p signing groups) that claims more signers than its
/// sum holds, to pass a bigger stake off as signed: the node's pre-verification
/// (`SignedAggregate::from_sigma`) refuses it, and forced on-chain EigenLayer's checker
/// reverts it. The honest aggregate, summed in two parts as a node sums a group's piece and the
/// loose signatures, finalizes.
#[tokio::test]
async fn a_partial_aggregate_claiming_a_signer_it_lacks_is_refused_off_and_on_chain()
-> eyre::Result<()> {
    use avs_contracts::aggregation::{
        SignedAggregate, attach_registry_indices, weighted_signature_sum,
    };
    use std::collections::BTreeSet;

    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let n = devnet.next_checkpoint().await?;
    let (index, task) = devnet.create_task(n).await?;
    let response = devnet.true_response(index, n).await?;
    let digest = avs_contracts::avs::attestation_digest(
        &devnet.deployment.signing_domain(),
        &task,
        &response,
    );
    let members = vec![
        devnet
            .operators
            .iter()
            .map(|op| op.operator_id)
            .collect::<Vec<_>>(),
    ];
    let keys = devnet.keys();
    let sum = |signers: &[usize]| -> eyre::Result<avs_bls::Signature> {
        let signed = devnet.sign(signers, digest);
        Ok(weighted_signature_sum(
            &members,
            signed.iter().map(|(id, s)| (*id, s)),
        )?)
    };
    let all: BTreeSet<_> = ALL
        .iter()
        .map(|&i| devnet.operators[i].operator_id)
        .collect();

    // Operators 0 and 1 (30 of 60 stake) signed; the piece claims operator 2 (30 more) too.
    let short = sum(&[0, 1])?;
    let refused = SignedAggregate::from_sigma(&members, &keys, &all, short, digest);
    assert!(
        matches!(
            refused,
            Err(avs_contracts::aggregation::AggregationError::PreVerification)
        ),
        "{refused:?}"
    );

    // Forced on-chain: the honest checker input of all three with the two-signer sum.
    let mut forged = devnet.aggregate(&task, &response, &ALL).await?;
    let point = short.to_point();
    forged.sigma = avs_contracts::avs::BN254::G1Point::from((point.x, point.y));
    let err = devnet
        .respond(&task, &response, forged)
        .await
        .expect_err("a sum of two under a claim of three");
    assert!(
        matches!(
            revert_error(&err),
            AvsTaskManagerErrors::InvalidSignature(_)
        ),
        "{err}"
    );

    // Honest: a piece of {0, 1} plus operator 2's loose signature, summed as a node sums them.
    let sigma = avs_bls::aggregate_signatures([&short, &sum(&[2])?])?;
    let signed = SignedAggregate::from_sigma(&members, &keys, &all, sigma, digest)?;
    let proof =
        attach_registry_indices(&devnet.provider, &devnet.deployment, &task, signed).await?;
    devnet.respond(&task, &response, proof).await?;
    devnet.assert_nobody_punished().await?;
    Ok(())
}

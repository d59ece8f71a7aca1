//! `avs_node::challenge::challenge` against EigenLayer's real registries and our task manager on
//! anvil: a wrong response is challenged and its signers frozen, and a retry after the challenge
//! was mined resumes from the steps already done instead of raising it again (which the
//! contract refuses, leaving the signers of later freeze batches unfrozen), and so does a
//! stand-in challenger whose raise comes second.

use alloy::providers::Provider;
use avs_contracts::{
    avs::{AvsServiceManager, AvsTaskManager::TaskResponded, IAvsTaskManager::TaskResponse},
    sender::{ConfirmPolicy, SenderConfig},
    testing::{TestDevnet, decode_event},
    transactor::Transactor,
};
use avs_node::challenge::{Challenge, ChallengeProgress, ChallengeRefused, challenge};

/// Stakes 10/20/30/40 (66% threshold).
const STAKES: [u128; 4] = [10, 20, 30, 40];

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_challenge_resumes_after_the_steps_already_mined() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let (task_index, task, truth) = devnet.next_task().await?;
    // Every operator signs a wrong state root, and the response is finalized.
    let wrong = TaskResponse {
        stateRoot: !truth.stateRoot,
        ..truth
    };
    let proof = devnet.aggregate(&task, &wrong, &[0, 1, 2, 3]).await?;
    let receipt = devnet.respond(&task, &wrong, proof).await?;
    let responded: TaskResponded = decode_event(&receipt)?;
    let target = Challenge {
        task_index,
        task: &task,
        response: &responded.taskResponse,
        metadata: &responded.taskResponseMetadata,
        transaction_hash: receipt.transaction_hash,
    };
    let challenger = devnet.owner_key();
    let sender = devnet.wallet_sender(challenger.clone(), SenderConfig::default());
    let mut transactor = Transactor::through(sender, ConfirmPolicy::default());

    let mut progress = ChallengeProgress::default();
    let outcome = challenge(&mut transactor, &devnet.deployment, &target, &mut progress).await?;
    assert_eq!(
        progress,
        ChallengeProgress {
            raise_may_be_mined: true,
            challenge: Some(outcome.challenge),
            batches_done: outcome.freeze_batches,
        }
    );
    let service_manager =
        AvsServiceManager::new(devnet.deployment.avs.service_manager, &devnet.provider);
    for i in 0..STAKES.len() {
        assert!(
            service_manager
                .frozen(devnet.operator_address(i))
                .call()
                .await?,
            "signer {i} frozen"
        );
    }

    // A retry (say the last freeze batch failed to confirm) resumes: nothing is sent again.
    let nonce = || async {
        devnet
            .provider
            .get_transaction_count(challenger.address())
            .await
    };
    let before = nonce().await?;
    let again = challenge(&mut transactor, &devnet.deployment, &target, &mut progress).await?;
    assert_eq!(again, outcome);
    assert_eq!(nonce().await?, before, "nothing sent again");

    // A try whose raise was mined after it gave up on the receipt: the next try's raise is
    // refused, and it finds the mined one in the logs and carries on with the freezing.
    let mut unconfirmed = ChallengeProgress {
        raise_may_be_mined: true,
        ..ChallengeProgress::default()
    };
    let resumed = challenge(
        &mut transactor,
        &devnet.deployment,
        &target,
        &mut unconfirmed,
    )
    .await?;
    assert_eq!(resumed, outcome, "the mined challenge is found");
    assert_eq!(unconfirmed.challenge, Some(outcome.challenge));
    assert_eq!(nonce().await?, before, "nothing sent again");

    // A stand-in challenger (another node holding the role, another wallet) whose raise is
    // refused finds the first one's challenge: the signers are frozen (with 4 operators there
    // is no further freeze batch to send).
    let other = devnet.submitter_key();
    let other_nonce = devnet
        .provider
        .get_transaction_count(other.address())
        .await?;
    let mut stand_in = Transactor::through(
        devnet.wallet_sender(other.clone(), SenderConfig::default()),
        ConfirmPolicy::default(),
    );
    let carried_on = challenge(
        &mut stand_in,
        &devnet.deployment,
        &target,
        &mut ChallengeProgress::stand_in(),
    )
    .await?;
    assert_eq!(
        carried_on, outcome,
        "the first challenger's challenge is found"
    );
    assert_eq!(
        devnet
            .provider
            .get_transaction_count(other.address())
            .await?,
        other_nonce,
        "the stand-in sent nothing"
    );

    // A first try that is refused stays refused: the checkpoint is invalidated already.
    let fresh = challenge(
        &mut transactor,
        &devnet.deployment,
        &target,
        &mut ChallengeProgress::default(),
    )
    .await
    .expect_err("raised twice");
    let refused = fresh
        .downcast_ref::<ChallengeRefused>()
        .unwrap_or_else(|| panic!("not a refusal: {fresh:#}"));
    assert!(
        refused.reason.contains("CheckpointNotFinalized"),
        "{refused}"
    );
    Ok(())
}

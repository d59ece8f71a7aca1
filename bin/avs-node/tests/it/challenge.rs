//! `avs_node::challenge::challenge` against EigenLayer's real registries and our task manager on
//! anvil: a wrong response is challenged and its signers frozen, and a retry after the challenge
//! was mined resumes from the steps already done instead of raising it again (which the
//! contract refuses, leaving the signers of later freeze batches unfrozen), and so does a
//! stand-in challenger whose raise comes second.

use alloy::primitives::B256;
use alloy::providers::Provider;
use avs_contracts::{
    avs::{
        AvsServiceManager,
        AvsTaskManager::TaskResponded,
        IAvsTaskManager::{Task, TaskResponse},
    },
    sender::{ConfirmPolicy, SenderConfig},
    testing::{TestDevnet, decode_event},
    transactor::Transactor,
};
use avs_node::challenge::{Challenge, ChallengeProgress, ChallengeRefused, challenge};

/// Stakes 10/20/30/40 (66% threshold).
const STAKES: [u128; 4] = [10, 20, 30, 40];

/// A finalized wrong response (every operator signed a wrong state root) to challenge.
struct Wrong {
    task_index: u32,
    task: Task,
    responded: TaskResponded,
    transaction_hash: B256,
}

impl Wrong {
    async fn finalized(devnet: &TestDevnet) -> eyre::Result<Self> {
        let (task_index, task, truth) = devnet.next_task().await?;
        let wrong = TaskResponse {
            stateRoot: !truth.stateRoot,
            ..truth
        };
        let proof = devnet.aggregate(&task, &wrong, &[0, 1, 2, 3]).await?;
        let receipt = devnet.respond(&task, &wrong, proof).await?;
        Ok(Self {
            task_index,
            task,
            responded: decode_event(&receipt)?,
            transaction_hash: receipt.transaction_hash,
        })
    }

    fn target(&self) -> Challenge<'_> {
        Challenge {
            task_index: self.task_index,
            task: &self.task,
            response: &self.responded.taskResponse,
            metadata: &self.responded.taskResponseMetadata,
            transaction_hash: self.transaction_hash,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_challenge_resumes_after_the_steps_already_mined() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let wrong = Wrong::finalized(&devnet).await?;
    let target = wrong.target();
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

/// Two challengers see the wrong response at once; the first one's raise is still pending when
/// the stand-in's is estimated (against the pending block) and refused as challenged already.
/// With no challenge mined yet, that is not a final answer: the stand-in's error is one to
/// retry, and once the first raise is mined the retry finds it. A final refusal here left the
/// challenge to one node: if its raise was then dropped, or it went down before its freeze
/// batches, nobody finished the challenge.
#[tokio::test(flavor = "multi_thread")]
async fn a_stand_in_retries_while_another_challenge_is_pending() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let wrong = std::sync::Arc::new(Wrong::finalized(&devnet).await?);
    let set_automine = |on: bool| {
        let provider = devnet.provider.clone();
        async move {
            provider
                .raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (on,))
                .await
                .map(|_| ())
        }
    };
    set_automine(false).await?;

    let first_key = devnet.owner_key();
    let first_nonce = devnet
        .provider
        .get_transaction_count(first_key.address())
        .await?;
    let first = {
        let sender = devnet.wallet_sender(first_key.clone(), SenderConfig::default());
        let deployment = devnet.deployment.clone();
        let wrong = wrong.clone();
        tokio::spawn(async move {
            let mut transactor = Transactor::through(sender, ConfirmPolicy::default());
            challenge(
                &mut transactor,
                &deployment,
                &wrong.target(),
                &mut ChallengeProgress::default(),
            )
            .await
        })
    };
    // The first raise waits in the pool.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while devnet
        .provider
        .get_transaction_count(first_key.address())
        .pending()
        .await?
        == first_nonce
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first challenger's raise never reached the pool"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let mut stand_in = Transactor::through(
        devnet.wallet_sender(devnet.submitter_key(), SenderConfig::default()),
        ConfirmPolicy::default(),
    );
    let mut progress = ChallengeProgress::stand_in();
    let pending = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        challenge(
            &mut stand_in,
            &devnet.deployment,
            &wrong.target(),
            &mut progress,
        ),
    )
    .await
    .expect("the stand-in answers without a block being mined")
    .expect_err("nothing is mined yet");
    assert!(
        pending.downcast_ref::<ChallengeRefused>().is_none(),
        "a pending challenge is not a final refusal: {pending:#}"
    );
    assert!(format!("{pending:#}").contains("pending"), "{pending:#}");

    set_automine(true).await?;
    devnet
        .provider
        .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        .await?;
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), first)
        .await
        .expect("the first challenge is mined")??;
    let retried = challenge(
        &mut stand_in,
        &devnet.deployment,
        &wrong.target(),
        &mut progress,
    )
    .await?;
    assert_eq!(retried, outcome, "the retry finds the first challenge");
    Ok(())
}

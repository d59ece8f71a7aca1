//! The node's components on one gas wallet, as `run_node` wires them on a devnet's node 0: the
//! task generator ([`ContractTaskCreator`]) and the submitter ([`Submitter`]) share one
//! [`WalletSender`] against EigenLayer's real contracts and the AVS on anvil. Sent at the same
//! moment, a response and a task creation both land, with consecutive nonces: neither replaces
//! or blocks the other (each used to read the same pending nonce for itself).

use alloy::{
    primitives::Bytes,
    providers::{PendingTransactionBuilder, Provider},
};
use avs_checkpoint::{ContractTaskCreator, CreateOutcome, TaskCreator};
use avs_contracts::{
    avs::AvsTaskManager::NewTaskCreated,
    sender::{ConfirmPolicy, SenderConfig},
    testing::{TestDevnet, decode_event},
};
use avs_p2p::{
    OperatorId, RegistryReader, SubmitMetrics, SubmitOutcome, Submitter, fixtures::aggregate_of,
};
use std::{sync::Arc, time::Duration};

/// Stakes 10/20/30/40 (66 % threshold): every operator signs.
const STAKES: [u128; 4] = [10, 20, 30, 40];
/// Rounds of a response and a creation sent together.
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_and_submitter_on_one_wallet_all_land() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    // The owner is the deployment's task generator; it pays for the responses too.
    let owner = devnet.owner_key().address();
    let sender = devnet.wallet_sender(
        devnet.owner_key(),
        SenderConfig {
            poll_interval: Duration::from_millis(50),
            ..SenderConfig::default()
        },
    );
    let creator = ContractTaskCreator::new(
        Arc::clone(&sender),
        &devnet.deployment,
        Duration::from_secs(30),
    );
    let submitter = Submitter::new(
        Arc::clone(&sender),
        devnet.deployment.clone(),
        ConfirmPolicy {
            receipt_timeout: Duration::from_secs(20),
            ..ConfirmPolicy::default()
        },
        SubmitMetrics::register(&prometheus::Registry::new())?,
    );
    let chain = devnet.deployment.chain_id;
    let quorums = Bytes::from(vec![0]);
    let signers: Vec<_> = devnet
        .operators
        .iter()
        .map(|op| (OperatorId(op.operator_id), &op.bls))
        .collect();

    // The first task, alone.
    let mut checkpoint = devnet.next_checkpoint().await?;
    let outcome = creator
        .create_task(chain, checkpoint, 66, quorums.clone())
        .await?;
    let CreateOutcome::Sent { tx_hash, .. } = outcome else {
        panic!("expected Sent, got {outcome:?}")
    };
    let mut creation = tx_hash;
    for round in 0..ROUNDS {
        let receipt = mined(&devnet, creation).await?;
        assert!(receipt.status(), "round {round}: creation reverted");
        let created: NewTaskCreated = decode_event(&receipt)?;
        let (task_index, task) = (created.taskIndex, created.task);
        assert_eq!(task.blockNumber, checkpoint, "round {round}");
        let response =
            avs_p2p::TaskResponse::from(&devnet.true_response(task_index, checkpoint).await?);
        let info = RegistryReader::new(devnet.provider.clone(), &devnet.deployment)
            .task_info(task_index, &task)
            .await?;
        let aggregate = aggregate_of(info, response, &signers).expect("every operator signed");
        let nonce_before = devnet.provider.get_transaction_count(owner).await?;

        // The response to this task and the creation of the next, at the same moment.
        let next = devnet.next_checkpoint().await?;
        let (submitted, created) = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(
                submitter.submit(&aggregate, &task),
                creator.create_task(chain, next, 66, quorums.clone()),
            )
        })
        .await?;
        let SubmitOutcome::Responded { tx_hash, .. } = submitted? else {
            panic!("round {round}: expected Responded")
        };
        let CreateOutcome::Sent { tx_hash: sent, .. } = created? else {
            panic!("round {round}: expected Sent")
        };
        creation = sent;
        let response_receipt = devnet
            .provider
            .get_transaction_receipt(tx_hash)
            .await?
            .expect("response mined");
        assert!(
            response_receipt.status(),
            "round {round}: response reverted"
        );
        assert!(
            mined(&devnet, creation).await?.status(),
            "round {round}: the creation reverted"
        );
        assert_eq!(
            devnet.provider.get_transaction_count(owner).await?,
            nonce_before + 2,
            "round {round}: exactly the two transactions, one nonce each"
        );
        let finalized = devnet
            .task_manager()
            .finalizedCheckpoint(chain, checkpoint)
            .call()
            .await?;
        assert_eq!(
            (finalized.taskIndex, finalized.blockHash),
            (task_index, response.block_hash),
            "round {round}"
        );
        checkpoint = next;
    }
    assert_eq!(submitter.metrics().count("responded"), ROUNDS as u64);
    Ok(())
}

/// The receipt of `tx`, which the node took: automine mines it at once, but its receipt may
/// still take a moment (a loaded machine), so it is awaited, bounded.
async fn mined(
    devnet: &TestDevnet,
    tx: alloy::primitives::B256,
) -> eyre::Result<alloy::rpc::types::TransactionReceipt> {
    PendingTransactionBuilder::new(devnet.provider.root().clone(), tx)
        .with_timeout(Some(Duration::from_secs(30)))
        .get_receipt()
        .await
        .map_err(|err| eyre::eyre!("transaction {tx} not mined within 30 s: {err}"))
}

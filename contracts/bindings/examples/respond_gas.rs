//! Measures `respondToTask` gas against EigenLayer's real registries on anvil: 51 operators in
//! quorum 0, one task per row answered with 0, 1, 10, 33 and 50 non-signers, each response in
//! its own transaction (cold storage, base and calldata costs included, as the anchor).
//!
//! ```sh
//! just tools && cargo run --release -p avs-contracts --example respond_gas
//! ```

// Printing the table is what this example is for.
#![allow(clippy::print_stdout)]

use alloy::{
    primitives::{B256, Bytes, U256},
    providers::{Provider, ext::AnvilApi},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use avs_bls::SecretKey;
use avs_contracts::{
    aggregation::{OperatorKeys, build_non_signer_stakes_and_signature},
    avs::AvsTaskManager,
    deploy,
    deployment::DeployConfig,
    operator::OperatorClient,
    transactor::{Transactor, wallet_provider},
};
use std::collections::HashMap;

const OPERATORS: usize = 51;
const NON_SIGNERS: [usize; 5] = [0, 1, 10, 33, 50];
/// EigenLayer's own `checkSignatures`, cold, own transaction, 1 quorum (DESIGN.md §6).
const ANCHOR_BASE: u64 = 199_800;
const ANCHOR_PER_NON_SIGNER: u64 = 16_600;

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let anvil = avs_test_support::anvil().spawn();
    let endpoint = anvil.endpoint();
    let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = wallet_provider(&endpoint, owner.clone()).await?;
    let mut config = DeployConfig::devnet(owner.address());
    // Every row needs its quorum: 1 of 51 signers is about 2% of the stake.
    config.avs.minimum_threshold_percentage = 1;
    config.avs.quorum_threshold_percentage = 1;
    let deployment = deploy::deploy(provider.clone(), config).await?;

    let mut operators = Vec::with_capacity(OPERATORS);
    for i in 0..OPERATORS {
        let signer = PrivateKeySigner::random();
        provider
            .anvil_set_balance(signer.address(), U256::from(10u128.pow(20)))
            .await?;
        let bls = SecretKey::generate();
        let client_provider = wallet_provider(&endpoint, signer.clone()).await?;
        let mut client = OperatorClient::new(client_provider, &deployment, signer.address());
        let stake = U256::from(10u128.pow(18) * (1 + i as u128));
        let id = client
            .onboard_devnet(stake, &bls, &signer, "/ip4/127.0.0.1/tcp/9000")
            .await?;
        operators.push((id, bls));
    }
    let keys: HashMap<B256, OperatorKeys> = operators
        .iter()
        .map(|(id, bls)| {
            let keys = OperatorKeys {
                operator_id: *id,
                pubkey_g1: bls.public_key(),
                pubkey_g2: bls.public_key_g2(),
            };
            (*id, keys)
        })
        .collect();

    println!(
        "| non-signers | our `checkSignatures` alone | EigenLayer `checkSignatures` anchor | our whole `respondToTask` |"
    );
    println!("|---:|---:|---:|---:|");
    let interval = deployment.params.avs.checkpoint_interval;
    let mut tx = Transactor::new(provider.clone());
    for non_signers in NON_SIGNERS {
        let head = provider.get_block_number().await?;
        let block = (head / interval + 1) * interval;
        provider.anvil_mine(Some(block - head + 1), None).await?;
        let create = AvsTaskManager::createNewTaskCall {
            chainId: deployment.chain_id,
            blockNumber: block,
            quorumThresholdPercentage: 1,
            quorumNumbers: Bytes::from(vec![0]),
        };
        let receipt = tx
            .call(
                "createNewTask",
                deployment.avs.task_manager,
                create.abi_encode(),
            )
            .await?;
        let created = receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| AvsTaskManager::NewTaskCreated::decode_log(&log.inner).ok())
            .ok_or_else(|| eyre::eyre!("no NewTaskCreated"))?;
        let header = provider
            .get_block_by_number(block.into())
            .await?
            .ok_or_else(|| eyre::eyre!("no block"))?
            .header;
        let response = avs_contracts::avs::IAvsTaskManager::TaskResponse {
            referenceTaskIndex: created.taskIndex,
            blockHash: header.hash,
            stateRoot: header.state_root,
            receiptsRoot: header.receipts_root,
        };
        let digest = response.digest();
        let signatures: Vec<_> = operators
            .iter()
            .skip(non_signers)
            .map(|(id, bls)| (*id, bls.sign(digest)))
            .collect();
        let proof = build_non_signer_stakes_and_signature(
            &provider,
            &deployment,
            &created.task,
            digest,
            &keys,
            &signatures,
        )
        .await?;
        // The checker alone, cold, in its own transaction: the anchor's conditions.
        let check = AvsTaskManager::checkSignaturesCall {
            msgHash: digest,
            quorumNumbers: created.task.quorumNumbers.clone(),
            referenceBlockNumber: created.task.taskCreatedBlock,
            params: proof.clone(),
        };
        let checked = tx
            .call(
                "checkSignatures",
                deployment.avs.task_manager,
                check.abi_encode(),
            )
            .await?;
        let respond = AvsTaskManager::respondToTaskCall {
            task: created.task.clone(),
            response,
            nonSignerStakesAndSignature: proof,
        };
        let receipt = tx
            .call(
                "respondToTask",
                deployment.avs.task_manager,
                respond.abi_encode(),
            )
            .await?;
        let anchor = ANCHOR_BASE + ANCHOR_PER_NON_SIGNER * non_signers as u64;
        println!(
            "| {non_signers} | {} | {anchor} | {} |",
            checked.gas_used, receipt.gas_used
        );
    }
    Ok(())
}

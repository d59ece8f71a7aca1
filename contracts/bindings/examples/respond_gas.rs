//! Measures `respondToTask` gas against EigenLayer's real registries on anvil: 51 operators in
//! quorum 0, one task per row answered with 0, 1, 10, 33 and 50 non-signers, each response in
//! its own transaction (cold storage, base and calldata costs included, as the anchor).
//!
//! ```sh
//! just tools && cargo run --release -p avs-contracts --example respond_gas
//! ```

// Printing the table is what this example is for.
#![allow(clippy::print_stdout)]

use alloy::sol_types::SolCall;
use avs_contracts::{avs::AvsTaskManager, testing::TestDevnet, transactor::Transactor};

const OPERATORS: usize = 51;
const NON_SIGNERS: [usize; 5] = [0, 1, 10, 33, 50];
/// EigenLayer's own `checkSignatures`, cold, own transaction, 1 quorum (DESIGN.md §6).
const ANCHOR_BASE: u64 = 199_800;
const ANCHOR_PER_NON_SIGNER: u64 = 16_600;

#[tokio::main]
async fn main() -> eyre::Result<()> {
    // One account per operator plus the owner.
    let anvil = avs_test_support::anvil()
        .args(["--accounts", &(OPERATORS + 1).to_string()])
        .spawn();
    let stakes: Vec<u128> = (1..=OPERATORS as u128).collect();
    let devnet = TestDevnet::on(anvil, &stakes, |config| {
        // Every row needs its quorum: 1 of 51 signers is about 2% of the stake.
        config.avs.minimum_threshold_percentage = 1;
        config.avs.quorum_threshold_percentage = 1;
    })
    .await?;

    println!(
        "| non-signers | our `checkSignatures` alone | EigenLayer `checkSignatures` anchor | our whole `respondToTask` |"
    );
    println!("|---:|---:|---:|---:|");
    let mut tx = Transactor::new(devnet.provider.clone());
    for non_signers in NON_SIGNERS {
        let (_, task, response) = devnet.next_task().await?;
        let signers: Vec<usize> = (non_signers..OPERATORS).collect();
        let proof = devnet.aggregate(&task, &response, &signers).await?;
        // The checker alone, cold, in its own transaction: the anchor's conditions.
        let check = AvsTaskManager::checkSignaturesCall {
            msgHash: response.digest(),
            quorumNumbers: task.quorumNumbers.clone(),
            referenceBlockNumber: task.taskCreatedBlock,
            params: proof.clone(),
        };
        let checked = tx
            .call(
                "checkSignatures",
                devnet.deployment.avs.task_manager,
                check.abi_encode(),
            )
            .await?;
        let receipt = devnet.respond(&task, &response, proof).await?;
        let anchor = ANCHOR_BASE + ANCHOR_PER_NON_SIGNER * non_signers as u64;
        println!(
            "| {non_signers} | {} | {anchor} | {} |",
            checked.gas_used, receipt.gas_used
        );
    }
    Ok(())
}

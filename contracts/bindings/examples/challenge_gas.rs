//! Measures a won challenge on EigenLayer's slashing-era core with 1, 10 and 64 signers of the
//! wrong response (64 operators, thresholds at 1 %, one fresh deployment per row and slasher
//! mode): `raiseAndResolveChallenge` punishes the signers in the first `FREEZE_BATCH` positions
//! of the quorum's operator list (slashed through the AllocationManager, 10 %, then frozen and
//! ejected), `freezeSigners` the rest; with the vetoable slasher both queue the slashes and
//! `fulfilSlashes` executes them after the window. Every figure is a real transaction's gas on
//! anvil; the last signer's magnitude is checked after each run.
//!
//! ```sh
//! just tools && cargo run --release -p avs-contracts --example challenge_gas
//! ```

// Printing the table is what this example is for.
#![allow(clippy::print_stdout)]

use alloy::{
    primitives::{Address, U256},
    providers::ext::AnvilApi,
    rpc::types::TransactionReceipt,
    sol_types::{SolCall, SolEvent},
};
use avs_contracts::{
    avs::{AvsSlasher, AvsTaskManager},
    deployment::SlashingParams,
    operator::{self, WAD},
    testing::TestDevnet,
    transactor::Transactor,
};

const OPERATORS: usize = 64;
const SIGNERS: [usize; 3] = [1, 10, 64];
const VETO_WINDOW: u32 = 10;

/// What one run cost.
struct Gas {
    challenge: u64,
    continuation: u64,
    fulfil: Option<u64>,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    println!(
        "| signers slashed | instant: challenge | instant: `freezeSigners` | vetoable: challenge (queues) | vetoable: `freezeSigners` (queues) | vetoable: `fulfilSlashes` |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for signers in SIGNERS {
        let instant = run(signers, None).await?;
        let vetoable = run(signers, Some(Address::repeat_byte(0xc0))).await?;
        println!(
            "| {signers} | {} | {} | {} | {} | {} |",
            instant.challenge,
            instant.continuation,
            vetoable.challenge,
            vetoable.continuation,
            vetoable.fulfil.unwrap_or_default()
        );
    }
    Ok(())
}

/// The challenge of a wrong response signed by operators `0..signers`, the `freezeSigners`
/// batches after it and, with a veto committee, the fulfilment of every queued slash.
async fn run(signers: usize, committee: Option<Address>) -> eyre::Result<Gas> {
    let anvil = avs_test_support::eigenlayer_anvil()
        .args(["--accounts", &(OPERATORS + 1).to_string()])
        .spawn();
    let devnet = TestDevnet::on(anvil, &vec![10u128; OPERATORS], |config| {
        config.avs.minimum_threshold_percentage = 1;
        config.avs.quorum_threshold_percentage = 1;
        config.avs.slashing = SlashingParams {
            wad_to_slash: u128::from(WAD) / 10,
            veto_window_blocks: if committee.is_some() { VETO_WINDOW } else { 0 },
            veto_committee: committee,
        };
    })
    .await?;
    let signing: Vec<usize> = (0..signers).collect();
    let (task, non_signers, receipt) = devnet.challenge_wrong_response(&signing).await?;
    let challenge = receipt.gas_used;
    let mut queued = queued_ids(&receipt);

    let task_manager = devnet.task_manager();
    let batch: u64 = task_manager.FREEZE_BATCH().call().await?.saturating_to();
    let task_index = devnet
        .task_manager()
        .latestTaskNum()
        .call()
        .await?
        .saturating_sub(1);
    let mut tx = Transactor::new(devnet.provider.clone());
    let mut continuation = 0;
    let mut start = batch;
    while start < OPERATORS as u64 {
        let call = AvsTaskManager::freezeSignersCall {
            taskIndex: task_index,
            task: task.clone(),
            nonSignerPubkeys: non_signers.clone(),
            start: U256::from(start),
            end: U256::from(start + batch),
        };
        let receipt = tx
            .call(
                "freezeSigners",
                devnet.deployment.avs.task_manager,
                call.abi_encode(),
            )
            .await?;
        continuation += receipt.gas_used;
        queued.extend(queued_ids(&receipt));
        start += batch;
    }
    let fulfil = if committee.is_some() {
        eyre::ensure!(
            queued.len() == signers,
            "{} requests for {signers} signers",
            queued.len()
        );
        devnet
            .provider
            .anvil_mine(Some(u64::from(VETO_WINDOW)), None)
            .await?;
        let call = AvsSlasher::fulfilSlashesCall { requestIds: queued }.abi_encode();
        let receipt = tx
            .call("fulfilSlashes", devnet.deployment.avs.slasher, call)
            .await?;
        Some(receipt.gas_used)
    } else {
        None
    };
    // Really slashed: the last signer's magnitude is down by the fraction.
    let last = devnet.operator_address(signers - 1);
    let status = operator::status(&devnet.provider, &devnet.deployment, last).await?;
    eyre::ensure!(
        status.allocations[0].magnitude == WAD - WAD / 10,
        "operator {last} not slashed: {status:?}"
    );
    Ok(Gas {
        challenge,
        continuation,
        fulfil,
    })
}

/// The slash requests a receipt queued.
fn queued_ids(receipt: &TransactionReceipt) -> Vec<U256> {
    receipt
        .inner
        .logs()
        .iter()
        .filter_map(|log| AvsSlasher::SlashQueued::decode_log(&log.inner).ok())
        .map(|event| event.data.requestId)
        .collect()
}

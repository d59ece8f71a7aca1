//! Measures a won challenge on EigenLayer's slashing-era core: `raiseAndResolveChallenge` when
//! 1, 10 and 64 operators signed the wrong response, each slashed through the AllocationManager
//! (instant slasher, 10 %), frozen and ejected in the challenge's own transaction; and the
//! vetoable slasher's queueing and fulfilment for the same signers. Every figure is a real
//! transaction's gas on anvil (one fresh deployment per row, 64 operators, thresholds at 1 %).
//!
//! ```sh
//! just tools && cargo run --release -p avs-contracts --example challenge_gas
//! ```

// Printing the table is what this example is for.
#![allow(clippy::print_stdout)]

use alloy::{
    primitives::{Address, U256},
    providers::ext::AnvilApi,
    sol_types::{SolCall, SolEvent},
};
use avs_contracts::{
    avs::AvsSlasher, deployment::SlashingParams, operator::WAD, testing::TestDevnet,
    transactor::Transactor,
};

const OPERATORS: usize = 64;
const SIGNERS: [usize; 3] = [1, 10, 64];
const VETO_WINDOW: u32 = 10;

#[tokio::main]
async fn main() -> eyre::Result<()> {
    println!(
        "| signers slashed | challenge, instant slasher | challenge, vetoable slasher (queues) | fulfilSlashes (vetoable) |"
    );
    println!("|---:|---:|---:|---:|");
    for signers in SIGNERS {
        let instant = challenge_gas(signers, None).await?;
        let (queued, Some(fulfilled)) =
            challenge_gas(signers, Some(Address::repeat_byte(0xc0))).await?
        else {
            eyre::bail!("the vetoable run queued nothing");
        };
        println!("| {signers} | {} | {queued} | {fulfilled} |", instant.0);
    }
    Ok(())
}

/// Gas of the challenge of a wrong response signed by operators `0..signers`, and with a veto
/// committee, of fulfilling the queued slashes after the window.
async fn challenge_gas(
    signers: usize,
    committee: Option<Address>,
) -> eyre::Result<(u64, Option<u64>)> {
    let anvil = avs_test_support::eigenlayer_anvil()
        .args(["--accounts", &(OPERATORS + 1).to_string()])
        .spawn();
    let stakes = vec![10u128; OPERATORS];
    let devnet = TestDevnet::on(anvil, &stakes, |config| {
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
    let (_, _, receipt) = devnet.challenge_wrong_response(&signing).await?;
    let challenge = receipt.gas_used;
    if committee.is_none() {
        return Ok((challenge, None));
    }
    let ids: Vec<U256> = receipt
        .inner
        .logs()
        .iter()
        .filter_map(|log| AvsSlasher::SlashQueued::decode_log(&log.inner).ok())
        .map(|event| event.data.requestId)
        .collect();
    eyre::ensure!(
        ids.len() == signers,
        "{} requests for {signers} signers",
        ids.len()
    );
    devnet
        .provider
        .anvil_mine(Some(u64::from(VETO_WINDOW)), None)
        .await?;
    let call = AvsSlasher::fulfilSlashesCall { requestIds: ids }.abi_encode();
    let fulfil = Transactor::new(devnet.provider.clone())
        .call("fulfilSlashes", devnet.deployment.avs.slasher, call)
        .await?;
    // The fulfilment really slashed: the last signer's magnitude is down by the fraction.
    let last = devnet.operator_address(signers - 1);
    let status =
        avs_contracts::operator::status(&devnet.provider, &devnet.deployment, last).await?;
    eyre::ensure!(
        status.allocations[0].magnitude == WAD - WAD / 10,
        "operator {last} not slashed: {status:?}"
    );
    Ok((challenge, Some(fulfil.gas_used)))
}

//! Deploys EigenLayer + the AVS on a fresh anvil and prints the wall time and the gas of every
//! step as a markdown table (the figures in BENCHMARKS.md).
//!
//! ```sh
//! just tools && cargo run --release -p avs-contracts --example deploy_cost
//! ```

// Printing the table is what this example is for.
#![allow(clippy::print_stdout)]

use alloy::signers::local::PrivateKeySigner;
use avs_contracts::{deploy, deployment::DeployConfig, transactor::wallet_provider};
use std::time::Instant;

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let anvil = avs_test_support::anvil().spawn();
    let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = wallet_provider(&anvil.endpoint(), owner.clone()).await?;
    let started = Instant::now();
    let deployment = deploy::deploy(provider, DeployConfig::devnet(owner.address())).await?;
    let elapsed = started.elapsed();

    println!("| step | gas |");
    println!("|---|---:|");
    for step in &deployment.steps {
        println!("| {} | {} |", step.name, step.gas_used);
    }
    let total: u64 = deployment.steps.iter().map(|step| step.gas_used).sum();
    println!(
        "| **total ({} transactions)** | **{total}** |",
        deployment.steps.len()
    );
    println!();
    println!(
        "deployment wall time on anvil (automine): {:.2} s",
        elapsed.as_secs_f64()
    );
    Ok(())
}

//! Two-chain mode end to end, in separate processes: `avs-node devnet --attested-chain
//! --attested-network optimism` runs a second anvil (chain 1337, an OP-stack chain with deposit
//! transactions) next to the settlement anvil (chain 31337). Each `avs-node run`
//! follows both (`--attested-rpc-url`): a second host feeds the attested blocks to the AVS ExEx,
//! the task generator tasks the second chain's checkpoints on the first, and the operators'
//! aggregate finalizes them there. The devnet checks every finalized checkpoint against the
//! second anvil's block, and the node's metrics show both hosts.
//!
//! The consumer side on the same run: an ERC-20 on the attested anvil moves tokens in a
//! checkpoint block; once that checkpoint is finalized, `avs-node proof storage|receipt` prove
//! the holder's balance and the `Transfer` log against it, and the example consumer
//! (`RemoteTokenOracle`) on the settlement chain serves both, while a tampered proof, another
//! block's checkpoint, a checkpoint not finalized and (for a cautious consumer) one still
//! inside its challenge window each revert with their own error. A challenged checkpoint
//! cannot occur here: only settlement-chain checkpoints can be challenged (the forge test
//! `RemoteTokenOracleTest.testChallengedCheckpointReverts` covers it with a real challenge).

use crate::support::{
    avs_node,
    devnet::{Devnet, field, free_port, http_get, metric},
};
use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, U256, keccak256},
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolError, SolValue},
};
use avs_contracts::{devnet::DevnetToken, proofs::RemoteTokenOracle};
use std::time::Duration;

/// Generous: debug build, 2 cores, other tests running in parallel.
const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn three_nodes_finalize_the_attested_chains_checkpoints_on_the_settlement_chain() {
    let attested_port = free_port();
    let mut devnet = Devnet::start(
        3,
        &[
            "--attested-chain",
            "--attested-network",
            "optimism",
            "--attested-port",
            &attested_port.to_string(),
        ],
    );
    devnet.wait_line("the attested anvil started", TIMEOUT, |line| {
        line.starts_with("attesting anvil chain 1337")
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let remote = runtime.block_on(transfer_in_a_checkpoint(attested_port));
    // The transfer's checkpoint, the one before it (the consumer's "another block"), and 30.
    for wanted in [remote.checkpoint - INTERVAL, remote.checkpoint, 30] {
        while !devnet
            .stdout
            .iter()
            .any(|line| line.starts_with("checkpoint finalized") && field("block", line) == wanted)
        {
            devnet.wait_line(
                &format!("checkpoint {wanted} of the attested chain finalized"),
                TIMEOUT,
                |line| line.starts_with("checkpoint finalized"),
            );
        }
    }
    runtime.block_on(consume(&devnet, attested_port, &remote));

    // Node 1 follows both chains, each with its own host and metrics.
    let (_, metrics) = http_get(devnet.base + 101, "/metrics");
    let attested_head = metric(&metrics, "avs_exex_attested_host_head_block")
        .unwrap_or_else(|| panic!("no attested host metrics:\n{metrics}"));
    assert!(
        attested_head >= 30.0,
        "attested head {attested_head}: its checkpoint 30 was finalized"
    );
    let settlement_head =
        metric(&metrics, "avs_exex_host_head_block").expect("avs_exex_host_head_block exported");
    assert!(settlement_head > 0.0, "settlement head {settlement_head}");

    devnet.interrupt_and_check_clean_exit(TIMEOUT, &[attested_port]);
    let finalized: Vec<&String> = devnet
        .stdout
        .iter()
        .filter(|line| line.starts_with("checkpoint finalized"))
        .collect();
    for line in &finalized {
        // The devnet compares with the attested anvil's block and refuses a task of any
        // other chain.
        assert!(
            line.ends_with("matches the chain"),
            "a finalized checkpoint differs from the attested anvil's block: {line}"
        );
    }
    let blocks: Vec<u64> = finalized.iter().map(|line| field("block", line)).collect();
    for checkpoint in [10, 20, 30] {
        assert!(
            blocks.contains(&checkpoint),
            "checkpoint {checkpoint} finalized: {finalized:#?}"
        );
    }
}

/// DEVNET TEST KEYS: anvil's well-known, public development accounts 0 (sends on the attested
/// chain) and 1 (deploys the consumer on the settlement chain).
const ATTESTED_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const CONSUMER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// The attested chain (`avs-node devnet --attested-chain`) and its checkpoint interval.
const ATTESTED_CHAIN: u64 = 1337;
/// anvil's unlocked development account 1: sends the deposit (eth_sendTransaction, type 0x7e).
const DEPOSITOR: Address =
    alloy::primitives::address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
const INTERVAL: u64 = 10;
const AMOUNT: u64 = 250;

/// An ERC-20 transfer mined in a checkpoint block of the attested chain.
struct RemoteTransfer {
    token: Address,
    sender: Address,
    holder: Address,
    checkpoint: u64,
}

/// Deploys an ERC-20 on the attested anvil and mines a transfer of AMOUNT to a fresh holder as
/// the first transaction of the next checkpoint block, and an OP-stack deposit as its second:
/// interval mining pauses, blocks are mined up to the one before the checkpoint, both go into
/// the checkpoint block, and interval mining resumes (the nodes see an ordinary chain, whose
/// hosts must decode and verify the deposit to attest the block).
async fn transfer_in_a_checkpoint(port: u16) -> RemoteTransfer {
    let signer: PrivateKeySigner = ATTESTED_KEY.parse().expect("key");
    let sender = signer.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(format!("http://127.0.0.1:{port}").parse().expect("url"));
    provider
        .anvil_set_interval_mining(0)
        .await
        .expect("pause interval mining");
    provider.anvil_set_auto_mine(true).await.expect("automine");
    let token = DevnetToken::deploy(&provider, "Remote".into(), "RMT".into())
        .await
        .expect("deploy the ERC-20");
    token
        .mint(sender, U256::from(1_000_000u64))
        .send()
        .await
        .expect("mint")
        .get_receipt()
        .await
        .expect("mint receipt");
    let head = provider.get_block_number().await.expect("head");
    // At least the second checkpoint: the one before serves as "another block" (anvil's
    // genesis header carries the empty trie's root, against which every account is absent).
    let checkpoint = ((head + 2).div_ceil(INTERVAL) * INTERVAL).max(2 * INTERVAL);
    provider
        .anvil_mine(Some(checkpoint - 1 - head), None)
        .await
        .expect("mine to the block before the checkpoint");
    provider
        .anvil_set_auto_mine(false)
        .await
        .expect("automine off");
    let holder = Address::from_word(keccak256("consumer test holder"));
    let fees = provider.estimate_eip1559_fees().await.expect("fees");
    let transfer = TransactionRequest::default()
        .with_to(*token.address())
        .with_input(
            DevnetToken::transferCall {
                to: holder,
                amount: U256::from(AMOUNT),
            }
            .abi_encode(),
        )
        .with_nonce(provider.get_transaction_count(sender).await.expect("nonce"))
        .with_chain_id(ATTESTED_CHAIN)
        .with_gas_limit(100_000)
        .with_max_fee_per_gas(fees.max_fee_per_gas)
        .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
    let pending = provider
        .send_transaction(transfer)
        .await
        .expect("send the transfer");
    let deposit = serde_json::json!({
        "from": DEPOSITOR, "to": holder, "value": "0x1", "gas": "0x186a0", "type": "0x7e",
        "sourceHash": keccak256("consumer test deposit"), "mint": "0x1", "isSystemTx": false,
    });
    let _: alloy::primitives::B256 = provider
        .raw_request("eth_sendTransaction".into(), (deposit,))
        .await
        .expect("send a deposit transaction");
    provider
        .evm_mine(None)
        .await
        .expect("mine the checkpoint block");
    provider
        .anvil_set_interval_mining(1)
        .await
        .expect("resume interval mining");
    let receipt = pending.get_receipt().await.expect("transfer receipt");
    assert_eq!(
        receipt.block_number,
        Some(checkpoint),
        "the transfer is in the checkpoint block"
    );
    assert_eq!(
        receipt.transaction_index,
        Some(0),
        "and its first transaction"
    );
    RemoteTransfer {
        token: *token.address(),
        sender,
        holder,
        checkpoint,
    }
}

/// `avs-node proof <args> --json` against the devnet, parsed.
fn proof(devnet: &Devnet, attested_port: u16, args: &[&str]) -> serde_json::Value {
    let run = run_proof(devnet, attested_port, args);
    assert!(
        run.success,
        "avs-node proof {args:?} failed:\n{}",
        run.stderr
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("proof JSON ({e}): {}", run.stdout))
}

/// `avs-node proof <args>` as a consumer runs it: two endpoints and the deployment, no keys.
fn run_proof(devnet: &Devnet, attested_port: u16, args: &[&str]) -> crate::support::Run {
    let attested = format!("http://127.0.0.1:{attested_port}");
    let settlement = format!("http://127.0.0.1:{}", devnet.rpc_port);
    let deployment = devnet.dir().join("deployment.json").display().to_string();
    let mut all = vec!["proof"];
    all.extend_from_slice(args);
    all.extend([
        "--attested-rpc-url",
        &attested,
        "--settlement-rpc-url",
        &settlement,
        "--deployment",
        &deployment,
        "--json",
    ]);
    avs_node(&all, &[])
}

fn bytes_list(value: &serde_json::Value) -> Vec<Bytes> {
    serde_json::from_value(value.clone()).expect("a list of hex bytes")
}

/// The revert data of a failed eth_call.
fn revert_data(err: &alloy::contract::Error) -> Bytes {
    err.as_revert_data()
        .unwrap_or_else(|| panic!("not a revert: {err}"))
}

/// The CLI's proofs, checked by the example consumer on the settlement chain.
async fn consume(devnet: &Devnet, attested_port: u16, remote: &RemoteTransfer) {
    let block = remote.checkpoint.to_string();
    let slot = keccak256((remote.holder, U256::ZERO).abi_encode());
    let storage = proof(
        devnet,
        attested_port,
        &[
            "storage",
            "--chain",
            "1337",
            "--block",
            &block,
            "--address",
            &remote.token.to_string(),
            "--slot",
            &slot.to_string(),
        ],
    );
    assert_eq!(storage["checkpoint"]["blockNumber"], remote.checkpoint);
    assert_eq!(
        serde_json::from_value::<U256>(storage["storage"][0]["value"].clone()).expect("a quantity"),
        U256::from(AMOUNT),
        "the CLI's proven balance"
    );
    let account_proof = bytes_list(&storage["accountProof"]);
    let storage_proof = bytes_list(&storage["storage"][0]["proof"]);
    let receipt = proof(
        devnet,
        attested_port,
        &["receipt", "--block", &block, "--tx", "0"],
    );
    let receipt_proof = bytes_list(&receipt["proof"]);
    // The deposit's receipt (0x7e, with its deposit nonce) proves against the same root.
    let deposit = proof(
        devnet,
        attested_port,
        &["receipt", "--block", &block, "--tx", "1"],
    );
    assert!(
        deposit["receipt"]
            .as_str()
            .is_some_and(|r| r.starts_with("0x7e")),
        "an OP-stack deposit receipt: {deposit}"
    );

    // The CLI refuses what a consumer would: a checkpoint that is not finalized.
    let far = (remote.checkpoint + 100 * INTERVAL).to_string();
    let refused = run_proof(
        devnet,
        attested_port,
        &[
            "account",
            "--block",
            &far,
            "--address",
            &remote.token.to_string(),
        ],
    );
    assert!(!refused.success, "a proof at a checkpoint not finalized");
    assert!(
        refused.stderr.contains("is not finalized"),
        "{}",
        refused.stderr
    );

    let deployment: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(devnet.dir().join("deployment.json")).expect("deployment.json"),
    )
    .expect("deployment JSON");
    let task_manager: Address =
        serde_json::from_value(deployment["avs"]["taskManager"].clone()).expect("taskManager");
    let signer: PrivateKeySigner = CONSUMER_KEY.parse().expect("key");
    let settlement = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(
            format!("http://127.0.0.1:{}", devnet.rpc_port)
                .parse()
                .expect("url"),
        );
    let oracle = RemoteTokenOracle::deploy(
        &settlement,
        task_manager,
        ATTESTED_CHAIN,
        remote.token,
        U256::ZERO,
        true,
    )
    .await
    .expect("deploy the example consumer");
    let cautious = RemoteTokenOracle::deploy(
        &settlement,
        task_manager,
        ATTESTED_CHAIN,
        remote.token,
        U256::ZERO,
        false,
    )
    .await
    .expect("deploy a cautious consumer");

    let balance = oracle
        .balanceOf(
            remote.holder,
            remote.checkpoint,
            account_proof.clone(),
            storage_proof.clone(),
        )
        .call()
        .await
        .expect("the consumer proves the balance");
    assert_eq!(balance, U256::from(AMOUNT));
    let transfer = oracle
        .transferAt(
            remote.checkpoint,
            U256::ZERO,
            U256::ZERO,
            receipt_proof.clone(),
        )
        .call()
        .await
        .expect("the consumer proves the Transfer");
    assert_eq!(
        (transfer.from, transfer.to, transfer.amount),
        (remote.sender, remote.holder, U256::from(AMOUNT))
    );

    // Polytope's verifier reverts with Error("Incomplete Proof!") when a node is not found.
    let incomplete = Bytes::from(alloy::sol_types::Revert::from("Incomplete Proof!").abi_encode());
    let mut tampered = storage_proof.clone();
    let last = tampered.last_mut().expect("a storage proof has nodes");
    let mut node = last.to_vec();
    node[7] ^= 0x01;
    *last = node.into();
    let err = oracle
        .balanceOf(
            remote.holder,
            remote.checkpoint,
            account_proof.clone(),
            tampered,
        )
        .call()
        .await
        .expect_err("a tampered proof");
    assert_eq!(revert_data(&err), incomplete.clone(), "tampered: {err}");

    let previous = remote.checkpoint - INTERVAL;
    let err = oracle
        .balanceOf(
            remote.holder,
            previous,
            account_proof.clone(),
            storage_proof.clone(),
        )
        .call()
        .await
        .expect_err("another block's checkpoint");
    assert_eq!(revert_data(&err), incomplete, "wrong block: {err}");

    let far = remote.checkpoint + 100 * INTERVAL;
    let err = oracle
        .balanceOf(
            remote.holder,
            far,
            account_proof.clone(),
            storage_proof.clone(),
        )
        .call()
        .await
        .expect_err("a checkpoint not finalized");
    let expected = RemoteTokenOracle::CheckpointNotFinalized {
        chainId: ATTESTED_CHAIN,
        blockNumber: far,
        status: 0,
    };
    assert_eq!(
        err.as_decoded_error::<RemoteTokenOracle::CheckpointNotFinalized>(),
        Some(expected),
        "{err}"
    );

    let err = cautious
        .balanceOf(
            remote.holder,
            remote.checkpoint,
            account_proof,
            storage_proof,
        )
        .call()
        .await
        .expect_err("inside the challenge window");
    let challengeable = err
        .as_decoded_error::<RemoteTokenOracle::CheckpointChallengeable>()
        .unwrap_or_else(|| panic!("CheckpointChallengeable expected: {err}"));
    assert_eq!(challengeable.blockNumber, remote.checkpoint);
    assert_eq!(
        Some(challengeable.challengeDeadline),
        storage["checkpoint"]["challengeDeadline"].as_u64(),
        "the CLI and the consumer agree on the deadline"
    );
}

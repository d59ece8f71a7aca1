//! Writes the proof vectors the Solidity consumer libraries' tests read:
//!
//! ```text
//! just tools && cargo run -p avs-contracts --example consumer_vectors > contracts/test/vectors/proofs.json
//! ```
//!
//! Starts anvil, deploys an ERC-20 (OpenZeppelin's, balances at slot 0), and mines one block of
//! 131 transactions: 130 transfers and one that reverts (at index 2), so the receipts trie has
//! keys of one and two bytes (proofs of indices 0, 1, 2, 127, 128 and 130) and a failed receipt. Then it takes
//! `eth_getProof` of the token (a holder's balance slot and an unset slot), of an account that
//! does not exist and of the sender (no code), and receipt proofs built from the block's
//! receipts, and checks every one against the block's roots with alloy's trie verifier before
//! printing. anvil's state is deterministic for a fixed genesis, so reruns print the same file
//! unless anvil changes; the forge tests and this crate's tests check the committed file.

// Printing the vectors is what this example is for.
#![allow(clippy::print_stdout)]

use alloy::{
    network::{AnyNetwork, EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, U256, address, keccak256},
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use avs_contracts::{
    devnet::DevnetToken,
    proofs::{self, AccountProof, ReceiptProof},
};
use serde_json::{Value, json};

/// Transfers in the proven block (plus one reverting transaction).
const TRANSFERS: u64 = 130;
/// Index of the reverting transaction in the block.
const REVERTED_INDEX: u64 = 2;
/// An address that never appears on the chain.
const ABSENT: Address = address!("0x00000000000000000000000000000000deadbeef");

fn recipient(i: u64) -> Address {
    Address::from_word(keccak256(format!("recipient {i}")))
}

fn account_json(proof: &AccountProof) -> Value {
    json!({
        "address": proof.address,
        "exists": proof.account.exists,
        "nonce": proof.account.nonce,
        "balance": proof.account.balance.to_string(),
        "storageRoot": proof.account.storage_root,
        "codeHash": proof.account.code_hash,
        "accountProof": proof.account_proof,
        "storage": proof.storage.iter().map(|s| json!({
            "slot": s.slot, "value": s.value.to_string(), "proof": s.proof,
        })).collect::<Vec<_>>(),
    })
}

fn receipt_json(proof: &ReceiptProof, transfer: Option<(Address, Address, u64)>) -> Value {
    json!({
        "txIndex": proof.tx_index,
        "receipt": proof.receipt,
        "proof": proof.proof,
        "success": transfer.is_some(),
        "from": transfer.map(|t| t.0),
        "to": transfer.map(|t| t.1),
        "amount": transfer.map(|t| t.2),
    })
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let anvil = avs_test_support::anvil().try_spawn()?;
    let signer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let sender = signer.address();
    let chain_id = anvil.chain_id();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(anvil.endpoint_url());

    let token = DevnetToken::deploy(&provider, "Remote".into(), "RMT".into()).await?;
    let supply = U256::from(1_000_000u64);
    token
        .mint(sender, supply)
        .send()
        .await?
        .get_receipt()
        .await?;

    // One block: transfers of i + 1 to recipient(i), and a transfer from an empty holder
    // (reverts) at REVERTED_INDEX.
    provider.anvil_set_auto_mine(false).await?;
    let mut nonce = provider.get_transaction_count(sender).await?;
    let fees = provider.estimate_eip1559_fees().await?;
    let mut expected = Vec::new();
    let mut pending = Vec::new();
    for i in 0..=TRANSFERS {
        let (data, transfer) = if i == REVERTED_INDEX {
            let call = DevnetToken::transferFromCall {
                from: ABSENT,
                to: sender,
                amount: U256::from(1),
            };
            (call.abi_encode(), None)
        } else {
            let (to, amount) = (recipient(i), i + 1);
            (
                DevnetToken::transferCall {
                    to,
                    amount: U256::from(amount),
                }
                .abi_encode(),
                Some((sender, to, amount)),
            )
        };
        let tx = TransactionRequest::default()
            .with_to(*token.address())
            .with_input(data)
            .with_nonce(nonce)
            .with_chain_id(chain_id)
            .with_gas_limit(100_000)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        pending.push(provider.send_transaction(tx).await?);
        expected.push(transfer);
        nonce += 1;
    }
    provider.evm_mine(None).await?;
    provider.anvil_set_auto_mine(true).await?;
    let mut block_number = None;
    for tx in pending {
        let receipt = tx.get_receipt().await?;
        eyre::ensure!(
            *block_number.get_or_insert(receipt.block_number) == receipt.block_number,
            "the transactions did not land in one block"
        );
    }
    let block_number = block_number
        .flatten()
        .ok_or_else(|| eyre::eyre!("no receipt has a block"))?;

    let attested = ProviderBuilder::new()
        .network::<AnyNetwork>()
        .connect_http(anvil.endpoint_url());
    let block = attested
        .get_block_by_number(block_number.into())
        .await?
        .ok_or_else(|| eyre::eyre!("block {block_number} is missing"))?;
    let header = &block.header;
    let (state_root, receipts_root) = (header.state_root, header.receipts_root);

    let holder = recipient(TRANSFERS - 1);
    let holder_slot = keccak256((holder, U256::ZERO).abi_encode());
    let unset_slot = B256::with_last_byte(7);
    let mut accounts = Vec::new();
    for (address, slots) in [
        (*token.address(), vec![holder_slot, unset_slot]),
        (ABSENT, vec![unset_slot]),
        (sender, vec![]),
    ] {
        let mut proof = proofs::fetch_account(&attested, address, &slots, block_number).await?;
        proof.verify(state_root)?;
        accounts.push(account_json(&proof));
    }

    let encoded = proofs::fetch_receipts(&attested, block_number).await?;
    eyre::ensure!(
        encoded.len() as u64 == TRANSFERS + 1,
        "the block has {} receipts",
        encoded.len()
    );
    let mut receipts = Vec::new();
    for index in [0, 1, REVERTED_INDEX, 127, 128, TRANSFERS] {
        let (root, proof) =
            proofs::prove_receipt(&encoded, index as usize).expect("index in range");
        eyre::ensure!(
            root == receipts_root,
            "rebuilt receipts root {root} != header's {receipts_root}"
        );
        proof.verify(receipts_root)?;
        receipts.push(receipt_json(&proof, expected[index as usize]));
    }

    let vectors = json!({
        "chainId": chain_id,
        "blockNumber": block_number,
        "blockHash": header.hash,
        "stateRoot": state_root,
        "receiptsRoot": receipts_root,
        "token": token.address(),
        "holder": holder,
        "holderBalance": TRANSFERS,
        "holderSlot": holder_slot,
        "unsetSlot": unset_slot,
        "accounts": accounts,
        "receipts": receipts,
    });
    println!("{}", serde_json::to_string_pretty(&vectors)?);
    Ok(())
}

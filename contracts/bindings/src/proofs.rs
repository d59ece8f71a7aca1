//! Consumer proofs: an account, storage slot or receipt of an attested chain, proven against a
//! checkpoint the AVS finalized, checked here before a consumer contract sees it.
//!
//! The on-chain side is `contracts/src/consumer/` (`StateProofs`, `ReceiptProofs`,
//! `AttestedCheckpoints`); this module produces exactly what those libraries take and checks it
//! first with an independent verifier (alloy's trie crate), so a proof that does not connect
//! the value to the checkpoint's root is an error here, with the reason:
//!
//! 1. [`finalized_checkpoint`] reads the checkpoint from the task manager (`checkpoint` view)
//!    and refuses one that is not finalized or was invalidated.
//! 2. [`fetch_account`] asks the attested chain's node for `eth_getProof` at the checkpoint's
//!    block; [`fetch_receipts`] for the block's receipts (no RPC serves receipt proofs: the
//!    receipts trie is rebuilt from them, [`prove_receipt`]).
//! 3. [`AccountProof::verify`] / [`ReceiptProof::verify`] check the proof against the
//!    checkpoint's root: a node on another fork, or one that answers for another block, fails
//!    here rather than in a consumer's transaction.
//!
//! A proven absence is an answer: an account that does not exist verifies with
//! [`AccountState::exists`] false; an unset slot is zero.

use crate::avs::AvsTaskManager;
use alloy::trie::{
    EMPTY_ROOT_HASH, HashBuilder, KECCAK_EMPTY, Nibbles, TrieAccount,
    proof::{ProofRetainer, verify_proof},
    root::adjust_index_for_rlp,
};
use alloy::{
    eips::{BlockNumberOrTag, Encodable2718},
    network::{AnyNetwork, AnyRpcBlock},
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::Provider,
    sol_types::SolValue,
};
use avs_exex_types::rpc;
use serde::Serialize;

/// The example consumer (`contracts/src/consumer/examples/RemoteTokenOracle.sol`): an ERC-20 of
/// an attested chain read through proofs, with the consumer libraries' errors.
#[allow(missing_docs)]
pub mod oracle {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        RemoteTokenOracle,
        "artifacts/RemoteTokenOracle.json"
    );
}
pub use oracle::RemoteTokenOracle;

/// Why a proof cannot be produced or does not hold.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The checkpoint has no finalized response (never tasked, or unanswered).
    #[error(
        "checkpoint (chain {chain_id}, block {block_number}) is not finalized (status {status})"
    )]
    NotFinalized {
        /// Attested chain.
        chain_id: u64,
        /// Checkpoint block.
        block_number: u64,
        /// `None`, `Pending`.
        status: &'static str,
    },
    /// A challenge invalidated the checkpoint's response.
    #[error(
        "checkpoint (chain {chain_id}, block {block_number}) was invalidated by a challenge of task {task_index}: its roots are wrong"
    )]
    Invalidated {
        /// Attested chain.
        chain_id: u64,
        /// Checkpoint block.
        block_number: u64,
        /// The invalidated task.
        task_index: u32,
    },
    /// The attested chain's node serves another chain than asked for.
    #[error("the attested chain's node serves chain {actual}, not chain {expected}")]
    WrongChain {
        /// The chain asked for.
        expected: u64,
        /// The node's chain.
        actual: u64,
    },
    /// The node's block at the checkpoint height is not the attested block.
    #[error(
        "the node's block {block_number} is {actual}, the checkpoint attests {attested}: the node follows another fork or is not synced"
    )]
    OtherBlock {
        /// Checkpoint block.
        block_number: u64,
        /// The attested hash.
        attested: B256,
        /// The node's hash.
        actual: B256,
    },
    /// The proof does not prove the value against the checkpoint's root.
    #[error(
        "the {what} proof does not verify against the checkpoint's {root_name} {root}: {reason}"
    )]
    DoesNotVerify {
        /// account, storage slot 0x…, receipt n.
        what: String,
        /// stateRoot, storage root, receiptsRoot.
        root_name: &'static str,
        /// The root.
        root: B256,
        /// What alloy's verifier said.
        reason: String,
    },
    /// The block has fewer transactions.
    #[error("block {block_number} has {count} transactions: there is no transaction {index}")]
    NoSuchTransaction {
        /// The block.
        block_number: u64,
        /// Transactions in it.
        count: usize,
        /// The index asked for.
        index: usize,
    },
    /// A receipt of the block could not be decoded (a type this build does not know).
    #[error("block {block_number}: {source}")]
    Undecodable {
        /// The block.
        block_number: u64,
        /// What could not be decoded.
        source: rpc::DecodeError,
    },
    /// A JSON-RPC call failed.
    #[error("{call}: {source}")]
    Rpc {
        /// What was asked.
        call: String,
        /// The transport or contract error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn rpc(call: impl Into<String>) -> impl FnOnce(alloy::transports::TransportError) -> ProofError {
    let call = call.into();
    move |e| ProofError::Rpc {
        call,
        source: Box::new(e),
    }
}

/// A finalized checkpoint's roots, as the task manager's `checkpoint` view reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalizedCheckpoint {
    /// Attested chain.
    pub chain_id: u64,
    /// Checkpoint block.
    pub block_number: u64,
    /// Attested block hash.
    pub block_hash: B256,
    /// Attested state root.
    pub state_root: B256,
    /// Attested receipts root.
    pub receipts_root: B256,
    /// The task that finalized it.
    pub task_index: u32,
    /// Settlement block of the response.
    pub finalized_at: u32,
    /// Last settlement block in which the response can be challenged.
    pub challenge_deadline: u64,
}

/// Reads checkpoint (chain_id, block_number) from the task manager at `task_manager`; an error
/// unless it is finalized.
pub async fn finalized_checkpoint<P: Provider>(
    settlement: &P,
    task_manager: Address,
    chain_id: u64,
    block_number: u64,
) -> Result<FinalizedCheckpoint, ProofError> {
    let c = AvsTaskManager::new(task_manager, settlement)
        .checkpoint(chain_id, block_number)
        .call()
        .await
        .map_err(|e| ProofError::Rpc {
            call: format!(
                "checkpoint({chain_id}, {block_number}) on the task manager {task_manager}"
            ),
            source: Box::new(e),
        })?;
    let not_finalized = |status| ProofError::NotFinalized {
        chain_id,
        block_number,
        status,
    };
    // IAvsTaskManager.CheckpointStatus: None, Pending, Finalized, Invalidated.
    match c.status {
        2 => Ok(FinalizedCheckpoint {
            chain_id,
            block_number,
            block_hash: c.blockHash,
            state_root: c.stateRoot,
            receipts_root: c.receiptsRoot,
            task_index: c.taskIndex,
            finalized_at: c.finalizedAt,
            challenge_deadline: c.challengeDeadline,
        }),
        3 => Err(ProofError::Invalidated {
            chain_id,
            block_number,
            task_index: c.taskIndex,
        }),
        1 => Err(not_finalized("Pending")),
        _ => Err(not_finalized("None")),
    }
}

/// Checks that `attested` serves the checkpoint's chain and has the attested block at its
/// height, so its proofs can only be of that block.
pub async fn check_attested_node<P: Provider<AnyNetwork>>(
    attested: &P,
    checkpoint: &FinalizedCheckpoint,
) -> Result<AnyRpcBlock, ProofError> {
    let chain_id = attested.get_chain_id().await.map_err(rpc("eth_chainId"))?;
    if chain_id != checkpoint.chain_id {
        return Err(ProofError::WrongChain {
            expected: checkpoint.chain_id,
            actual: chain_id,
        });
    }
    let number = checkpoint.block_number;
    let block = attested
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .map_err(rpc(format!("eth_getBlockByNumber({number})")))?
        .ok_or_else(|| ProofError::Rpc {
            call: format!("eth_getBlockByNumber({number})"),
            source: "the node does not have the block (not synced, or pruned)".into(),
        })?;
    if block.header.hash != checkpoint.block_hash {
        return Err(ProofError::OtherBlock {
            block_number: number,
            attested: checkpoint.block_hash,
            actual: block.header.hash,
        });
    }
    Ok(block)
}

/// An account as the state trie holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountState {
    /// False for a proven absence (the other fields are then zero, the storage root empty).
    pub exists: bool,
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Root of its storage trie.
    pub storage_root: B256,
    /// keccak256 of its code (keccak256("") for none; zero when absent).
    pub code_hash: B256,
}

/// One storage slot with its proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotProof {
    /// The slot.
    pub slot: B256,
    /// Its value (zero if unset).
    pub value: U256,
    /// Storage-trie nodes from the root to the slot.
    pub proof: Vec<Bytes>,
}

/// An account, and slots of it, with their proofs (EIP-1186).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProof {
    /// The account.
    pub address: Address,
    /// Its state.
    pub account: AccountState,
    /// State-trie nodes from the root to the account.
    pub account_proof: Vec<Bytes>,
    /// The slots asked for.
    pub storage: Vec<SlotProof>,
}

/// `eth_getProof` of `address` and `slots` at block `block_number` of `attested`. Not yet
/// checked: see [`AccountProof::verify`].
pub async fn fetch_account<P: Provider<AnyNetwork>>(
    attested: &P,
    address: Address,
    slots: &[B256],
    block_number: u64,
) -> Result<AccountProof, ProofError> {
    let response = attested
        .get_proof(address, slots.to_vec())
        .number(block_number)
        .await
        .map_err(rpc(format!(
            "eth_getProof({address}, block {block_number})"
        )))?;
    // EIP-1186 leaves an absent account's hashes to the node (zero or the empty values):
    // normalise to what the trie would hold, and let verification decide existence.
    let empty = response.nonce == 0
        && response.balance.is_zero()
        && (response.code_hash.is_zero() || response.code_hash == KECCAK_EMPTY)
        && (response.storage_hash.is_zero() || response.storage_hash == EMPTY_ROOT_HASH);
    let returned: Vec<B256> = response
        .storage_proof
        .iter()
        .map(|s| s.key.as_b256())
        .collect();
    if returned != slots {
        return Err(ProofError::Rpc {
            call: format!("eth_getProof({address}, block {block_number})"),
            source: format!(
                "the node answered for slots {returned:?}, not the {slots:?} asked for"
            )
            .into(),
        });
    }
    Ok(AccountProof {
        address,
        account: AccountState {
            exists: !empty,
            nonce: response.nonce,
            balance: response.balance,
            storage_root: if response.storage_hash.is_zero() {
                EMPTY_ROOT_HASH
            } else {
                response.storage_hash
            },
            code_hash: if response.code_hash.is_zero() {
                KECCAK_EMPTY
            } else {
                response.code_hash
            },
        },
        account_proof: response.account_proof,
        storage: response
            .storage_proof
            .into_iter()
            .map(|s| SlotProof {
                slot: s.key.as_b256(),
                value: s.value,
                proof: s.proof,
            })
            .collect(),
    })
}

impl AccountProof {
    /// Checks the account and every slot against `state_root`. An empty account may exist in
    /// the trie (chains that keep touched empty accounts) or be absent: whichever the proof
    /// shows is recorded in [`AccountState::exists`].
    pub fn verify(&mut self, state_root: B256) -> Result<(), ProofError> {
        let key = Nibbles::unpack(keccak256(self.address));
        let leaf = alloy::rlp::encode(TrieAccount {
            nonce: self.account.nonce,
            balance: self.account.balance,
            storage_root: self.account.storage_root,
            code_hash: self.account.code_hash,
        });
        let present = verify_proof(state_root, key, Some(leaf), &self.account_proof);
        match present {
            Ok(()) => self.account.exists = true,
            Err(e) if self.account.exists => {
                return Err(self.fails("account", "stateRoot", state_root, &e));
            }
            Err(_) => {
                verify_proof(state_root, key, None, &self.account_proof)
                    .map_err(|e| self.fails("account (absent)", "stateRoot", state_root, &e))?;
                self.account = AccountState {
                    exists: false,
                    nonce: 0,
                    balance: U256::ZERO,
                    storage_root: EMPTY_ROOT_HASH,
                    code_hash: B256::ZERO,
                };
            }
        }
        let storage_root = self.account.storage_root;
        for slot in &self.storage {
            let expected = (!slot.value.is_zero()).then(|| alloy::rlp::encode(slot.value));
            verify_proof(
                storage_root,
                Nibbles::unpack(keccak256(slot.slot)),
                expected,
                &slot.proof,
            )
            .map_err(|e| {
                self.fails(
                    &format!("storage slot {}", slot.slot),
                    "storage root",
                    storage_root,
                    &e,
                )
            })?;
        }
        Ok(())
    }

    fn fails(
        &self,
        what: &str,
        root_name: &'static str,
        root: B256,
        e: &dyn std::fmt::Display,
    ) -> ProofError {
        ProofError::DoesNotVerify {
            what: format!("{what} {}", self.address),
            root_name,
            root,
            reason: e.to_string(),
        }
    }

    /// The arguments `StateProofs.verifyAccount(stateRoot, account, accountProof)` takes after
    /// the root: `abi.encode(address, bytes[])`.
    pub fn account_calldata(&self) -> Bytes {
        (self.address, self.account_proof.clone())
            .abi_encode_params()
            .into()
    }

    /// The arguments `StateProofs.verifyAccountStorage` takes after the root, for slot `i`:
    /// `abi.encode(address, bytes[] accountProof, bytes32 slot, bytes[] storageProof)`.
    pub fn storage_calldata(&self, i: usize) -> Option<Bytes> {
        let slot = self.storage.get(i)?;
        Some(
            (
                self.address,
                self.account_proof.clone(),
                slot.slot,
                slot.proof.clone(),
            )
                .abi_encode_params()
                .into(),
        )
    }
}

/// A receipt with its proof in the block's receipts trie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptProof {
    /// The transaction's index in the block.
    pub tx_index: u64,
    /// The receipt's EIP-2718 encoding (the trie's value).
    pub receipt: Bytes,
    /// Receipts-trie nodes from the root to the receipt.
    pub proof: Vec<Bytes>,
}

/// Builds the receipts trie of a block from its receipts' EIP-2718 encodings and returns its
/// root and the proof of receipt `tx_index`.
pub fn prove_receipt(encoded_receipts: &[Bytes], tx_index: usize) -> Option<(B256, ReceiptProof)> {
    let receipt = encoded_receipts.get(tx_index)?.clone();
    let target = Nibbles::unpack(alloy::rlp::encode_fixed_size(&tx_index));
    let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(vec![target]));
    let len = encoded_receipts.len();
    for i in 0..len {
        let index = adjust_index_for_rlp(i, len);
        let key = alloy::rlp::encode_fixed_size(&index);
        builder.add_leaf(Nibbles::unpack(&key), &encoded_receipts[index]);
    }
    let root = builder.root();
    let proof = builder
        .take_proof_nodes()
        .into_nodes_sorted()
        .into_iter()
        .filter(|(path, _)| target.starts_with(path))
        .map(|(_, node)| node)
        .collect();
    Some((
        root,
        ReceiptProof {
            tx_index: tx_index as u64,
            receipt,
            proof,
        },
    ))
}

impl ReceiptProof {
    /// Checks the receipt against `receipts_root`.
    pub fn verify(&self, receipts_root: B256) -> Result<(), ProofError> {
        let key = Nibbles::unpack(alloy::rlp::encode_fixed_size(&(self.tx_index as usize)));
        verify_proof(receipts_root, key, Some(self.receipt.to_vec()), &self.proof).map_err(|e| {
            ProofError::DoesNotVerify {
                what: format!("receipt {}", self.tx_index),
                root_name: "receiptsRoot",
                root: receipts_root,
                reason: e.to_string(),
            }
        })
    }

    /// The arguments `ReceiptProofs.verifyReceipt(receiptsRoot, txIndex, proof)` takes after the
    /// root: `abi.encode(uint256, bytes[])`.
    pub fn calldata(&self) -> Bytes {
        (U256::from(self.tx_index), self.proof.clone())
            .abi_encode_params()
            .into()
    }
}

/// The EIP-2718 encodings of block `block_number`'s receipts, as `eth_getBlockReceipts`
/// returns them, in transaction order: Ethereum's receipt types and OP-stack deposit receipts
/// (decoded by [`avs_exex_types::rpc`], as the host decodes them); another type is an error.
pub async fn fetch_receipts<P: Provider<AnyNetwork>>(
    attested: &P,
    block_number: u64,
) -> Result<Vec<Bytes>, ProofError> {
    let call = format!("eth_getBlockReceipts({block_number})");
    let receipts: Option<Vec<serde_json::Value>> = attested
        .raw_request(
            "eth_getBlockReceipts".into(),
            (BlockNumberOrTag::Number(block_number),),
        )
        .await
        .map_err(rpc(call.clone()))?;
    let receipts = receipts.ok_or_else(|| ProofError::Rpc {
        call,
        source: "the node does not have the block's receipts".into(),
    })?;
    receipts
        .into_iter()
        .enumerate()
        .map(|(index, json)| {
            rpc::receipt_head(index, &json)
                .and_then(|head| rpc::block_receipt(index, &head, &json))
                .map(|receipt| receipt.encoded_2718().into())
                .map_err(|source| ProofError::Undecodable {
                    block_number,
                    source,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::trie::root::ordered_trie_root_encoded;
    use serde_json::Value;

    /// The committed vectors the forge tests verify with Polytope's verifier
    /// (`examples/consumer_vectors.rs`), checked here with alloy's.
    fn vectors() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../test/vectors/proofs.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("proofs.json")).expect("JSON")
    }

    fn b256(v: &Value) -> B256 {
        v.as_str().expect("hex").parse().expect("B256")
    }

    fn bytes_list(v: &Value) -> Vec<Bytes> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|b| b.as_str().expect("hex").parse().expect("bytes"))
            .collect()
    }

    fn account(v: &Value) -> AccountProof {
        AccountProof {
            address: v["address"]
                .as_str()
                .expect("address")
                .parse()
                .expect("address"),
            account: AccountState {
                exists: v["exists"].as_bool().expect("exists"),
                nonce: v["nonce"].as_u64().expect("nonce"),
                balance: v["balance"]
                    .as_str()
                    .expect("balance")
                    .parse()
                    .expect("U256"),
                storage_root: b256(&v["storageRoot"]),
                code_hash: b256(&v["codeHash"]),
            },
            account_proof: bytes_list(&v["accountProof"]),
            storage: v["storage"]
                .as_array()
                .expect("storage")
                .iter()
                .map(|s| SlotProof {
                    slot: b256(&s["slot"]),
                    value: s["value"].as_str().expect("value").parse().expect("U256"),
                    proof: bytes_list(&s["proof"]),
                })
                .collect(),
        }
    }

    #[test]
    fn committed_account_vectors_verify_and_absence_is_detected() {
        let v = vectors();
        let root = b256(&v["stateRoot"]);
        let accounts = v["accounts"].as_array().expect("accounts");
        let mut token = account(&accounts[0]);
        token.verify(root).expect("the token and its slots verify");
        assert!(token.account.exists);
        assert_eq!(token.storage[0].value, U256::from(130), "holder balance");

        // The absent account as a node reports it (zero hashes): verify() finds the absence.
        let mut absent = account(&accounts[1]);
        absent.account.exists = false;
        absent.verify(root).expect("absence verifies");
        assert!(!absent.account.exists);
        assert_eq!(absent.account.storage_root, EMPTY_ROOT_HASH);

        // A wrong value, or another root, fails with the reason.
        let mut wrong = account(&accounts[0]);
        wrong.storage[0].value = U256::from(131);
        let err = wrong
            .verify(root)
            .expect_err("a wrong balance does not verify")
            .to_string();
        assert!(err.contains("storage slot"), "{err}");
        let mut claimed = account(&accounts[2]);
        claimed.account.balance += U256::from(1);
        let err = claimed
            .verify(root)
            .expect_err("a wrong account balance does not verify")
            .to_string();
        assert!(
            err.contains("does not verify against the checkpoint's stateRoot"),
            "{err}"
        );
        let err = account(&accounts[0])
            .verify(b256(&v["receiptsRoot"]))
            .expect_err("another root");
        assert!(
            matches!(
                err,
                ProofError::DoesNotVerify {
                    root_name: "stateRoot",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn committed_receipt_vectors_verify() {
        let v = vectors();
        let root = b256(&v["receiptsRoot"]);
        for r in v["receipts"].as_array().expect("receipts") {
            let proof = ReceiptProof {
                tx_index: r["txIndex"].as_u64().expect("index"),
                receipt: r["receipt"].as_str().expect("hex").parse().expect("bytes"),
                proof: bytes_list(&r["proof"]),
            };
            proof.verify(root).expect("receipt verifies");
            let moved = ReceiptProof {
                tx_index: proof.tx_index + 1,
                ..proof.clone()
            };
            assert!(
                moved.verify(root).is_err(),
                "receipt {} does not verify at another index",
                proof.tx_index
            );
        }
    }

    /// Receipts trie built here vs alloy's ordered root, at sizes whose keys take one and two
    /// bytes, with every index proven and a tampered receipt refused. The receipts are as long
    /// as real ones (a receipt carries a 256-byte bloom), so no trie node is inlined.
    #[test]
    fn receipt_proofs_match_the_ordered_trie_root() {
        for len in [1usize, 2, 17, 130] {
            let receipts: Vec<Bytes> = (0..len)
                .map(|i| Bytes::from(alloy::rlp::encode(format!("receipt {i:>300}").into_bytes())))
                .collect();
            let expected = ordered_trie_root_encoded(&receipts);
            for index in [0, len / 2, len - 1] {
                let (root, proof) = prove_receipt(&receipts, index).expect("in range");
                assert_eq!(root, expected, "{len} receipts");
                proof.verify(root).expect("verifies");
                let mut tampered = proof.clone();
                tampered.receipt = Bytes::from(alloy::rlp::encode(b"forged".to_vec()));
                assert!(
                    tampered.verify(root).is_err(),
                    "a forged receipt is refused"
                );
            }
            assert!(prove_receipt(&receipts, len).is_none(), "no receipt {len}");
        }
    }

    #[test]
    fn calldata_is_the_library_arguments() {
        let v = vectors();
        let token = account(&v["accounts"][0]);
        let decoded = <(Address, Vec<Bytes>, B256, Vec<Bytes>)>::abi_decode_params(
            &token.storage_calldata(0).expect("slot 0"),
        )
        .expect("abi");
        assert_eq!(
            decoded,
            (
                token.address,
                token.account_proof.clone(),
                token.storage[0].slot,
                token.storage[0].proof.clone()
            )
        );
        assert!(token.storage_calldata(2).is_none());
    }
}

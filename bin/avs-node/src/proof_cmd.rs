//! `avs-node proof account|storage|receipt`: a value of the attested chain proven against a
//! finalized checkpoint, in the form a consumer contract takes it ([`avs_contracts::proofs`]).
//!
//! The checkpoint is read from the settlement chain's task manager; the proof from the attested
//! chain's node (`attested_rpc_url`, or the settlement node when it attests itself), whose block
//! at that height must be the attested one. Every proof is checked locally against the
//! checkpoint's root before it is printed: what this prints verifies on-chain.
//!
//! A consumer is not an operator: the command needs two endpoints and the deployment file,
//! no keys. An operator can point it at the node's config file instead (`--config`).

use crate::{
    chain,
    config::{NodeOptions, RpcUrl},
    output,
};
use alloy::{
    network::AnyNetwork,
    primitives::{Address, B256, Bytes},
    providers::{DynProvider, Provider, ProviderBuilder},
};
use avs_contracts::{
    deployment::Deployment,
    proofs::{self, AccountProof, FinalizedCheckpoint, ReceiptProof},
};
use clap::{Args, Subcommand};
use eyre::eyre;
use serde::Serialize;
use std::path::PathBuf;

/// `avs-node proof …`.
#[derive(Debug, Subcommand)]
pub enum ProofCommand {
    /// Prove an account (nonce, balance, storage root, code hash), or its absence.
    Account {
        /// The account.
        #[arg(long)]
        address: Address,
        /// Which checkpoint, and the node's settings.
        #[command(flatten)]
        at: CheckpointArgs,
    },
    /// Prove storage slots of an account (an unset slot proves 0). A mapping entry's slot is
    /// `cast index <key type> <key> <mapping slot>`.
    Storage {
        /// The account.
        #[arg(long)]
        address: Address,
        /// A slot (32-byte hex); repeat for several.
        #[arg(long = "slot", required = true)]
        slots: Vec<B256>,
        /// Which checkpoint, and the node's settings.
        #[command(flatten)]
        at: CheckpointArgs,
    },
    /// Prove a transaction's receipt (status and logs) in the block's receipts trie.
    Receipt {
        /// The transaction's index in the block.
        #[arg(long = "tx", value_name = "INDEX")]
        tx_index: usize,
        /// Which checkpoint, and the node's settings.
        #[command(flatten)]
        at: CheckpointArgs,
    },
}

/// The checkpoint a proof is for.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The attested chain [default: the chain the attested node serves].
    #[arg(long = "chain", value_name = "CHAIN_ID")]
    chain_id: Option<u64>,
    /// The checkpoint's block number.
    #[arg(long = "block", value_name = "NUMBER")]
    block_number: u64,
    /// Print JSON (the checkpoint, the proof and the calldata).
    #[arg(long)]
    json: bool,
    /// Settlement chain JSON-RPC endpoint (the task manager's chain).
    #[arg(long, env = "AVS_SETTLEMENT_RPC_URL", value_name = "URL")]
    settlement_rpc_url: Option<String>,
    /// The attested chain's JSON-RPC endpoint [default: the settlement endpoint].
    #[arg(long, env = "AVS_ATTESTED_RPC_URL", value_name = "URL")]
    attested_rpc_url: Option<String>,
    /// Deployment file (chain id, contract addresses).
    #[arg(long, env = "AVS_DEPLOYMENT", value_name = "FILE")]
    deployment: Option<PathBuf>,
    /// A node's TOML config file to take those three settings from (flags win).
    #[arg(long, env = "AVS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// What `proof` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProofOutput<T> {
    checkpoint: FinalizedCheckpoint,
    #[serde(flatten)]
    proof: T,
    /// ABI-encoded arguments of each Solidity library call, after the root (one per storage
    /// slot; see the README, "For consumers").
    calldata: Vec<Bytes>,
}

impl ProofCommand {
    /// Runs the command.
    pub async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Account { address, at } => {
                let (checkpoint, attested, json) = at.open().await?;
                let mut proof =
                    proofs::fetch_account(&attested, address, &[], checkpoint.block_number).await?;
                proof.verify(checkpoint.state_root)?;
                let calldata = vec![proof.account_calldata()];
                print(json, checkpoint, proof, calldata, |proof, calldata| {
                    vec![describe_account(proof), calldata_line(&calldata[0])]
                });
            }
            Self::Storage { address, slots, at } => {
                let (checkpoint, attested, json) = at.open().await?;
                let mut proof =
                    proofs::fetch_account(&attested, address, &slots, checkpoint.block_number)
                        .await?;
                proof.verify(checkpoint.state_root)?;
                let calldata = (0..slots.len())
                    .filter_map(|i| proof.storage_calldata(i))
                    .collect();
                print(json, checkpoint, proof, calldata, |proof, calldata| {
                    let mut lines = vec![describe_account(proof)];
                    for (slot, calldata) in proof.storage.iter().zip(calldata) {
                        lines.push(format!(
                            "slot {} = {} ({} proof nodes)",
                            slot.slot,
                            slot.value,
                            slot.proof.len()
                        ));
                        lines.push(calldata_line(calldata));
                    }
                    lines
                });
            }
            Self::Receipt { tx_index, at } => {
                let (checkpoint, attested, json) = at.open().await?;
                let block_number = checkpoint.block_number;
                let receipts = proofs::fetch_receipts(&attested, block_number).await?;
                let (root, proof) = proofs::prove_receipt(&receipts, tx_index).ok_or(
                    proofs::ProofError::NoSuchTransaction {
                        block_number,
                        count: receipts.len(),
                        index: tx_index,
                    },
                )?;
                if root != checkpoint.receipts_root {
                    return Err(eyre!(
                        "the node's receipts of block {block_number} make the root {root}, the checkpoint attests {}: the node's receipts are not the attested ones",
                        checkpoint.receipts_root
                    ));
                }
                proof.verify(checkpoint.receipts_root)?;
                let calldata = vec![proof.calldata()];
                print(json, checkpoint, proof, calldata, |proof, calldata| {
                    vec![describe_receipt(proof), calldata_line(&calldata[0])]
                });
            }
        }
        Ok(())
    }
}

/// Prints a verified proof: JSON, or the checkpoint line and `describe`'s lines.
fn print<T: Serialize>(
    json: bool,
    checkpoint: FinalizedCheckpoint,
    proof: T,
    calldata: Vec<Bytes>,
    describe: impl FnOnce(&T, &[Bytes]) -> Vec<String>,
) {
    let out = ProofOutput {
        checkpoint,
        proof,
        calldata,
    };
    output::emit(json, &out, |out| {
        let mut lines = vec![describe_checkpoint(&out.checkpoint)];
        lines.extend(describe(&out.proof, &out.calldata));
        lines.join("\n")
    });
}

impl CheckpointArgs {
    /// The finalized checkpoint and a provider on the attested chain's node, checked to have
    /// the attested block.
    async fn open(self) -> eyre::Result<(FinalizedCheckpoint, DynProvider<AnyNetwork>, bool)> {
        let file = match &self.config {
            Some(path) => NodeOptions::from_file(path)?,
            None => NodeOptions::default(),
        };
        let settlement_url = self.settlement_rpc_url.or(file.settlement_rpc_url).ok_or_else(|| {
            eyre!("settlement_rpc_url (--settlement-rpc-url, $AVS_SETTLEMENT_RPC_URL): missing: the chain of the task manager")
        })?;
        let settlement_rpc = RpcUrl::parse("settlement_rpc_url", &settlement_url)?;
        let attested_rpc = match self.attested_rpc_url.or(file.attested_rpc_url) {
            Some(url) => RpcUrl::parse("attested_rpc_url", &url)?,
            None => settlement_rpc.clone(),
        };
        let deployment_path = self.deployment.or(file.deployment).ok_or_else(|| {
            eyre!("deployment (--deployment, $AVS_DEPLOYMENT): missing: the deployer's deployment file")
        })?;
        let deployment = Deployment::load(&deployment_path)?;

        let settlement = ProviderBuilder::new()
            .connect(chain::http_and_ws(&settlement_rpc, None).0.as_str())
            .await
            .map_err(|e| {
                eyre!(
                    "cannot connect to the settlement RPC {} ({e})",
                    settlement_rpc.redacted()
                )
            })?
            .erased();
        deployment.validate(&settlement).await?;
        let attested = connect_any(&attested_rpc).await?;
        let chain_id = match self.chain_id {
            Some(id) => id,
            None => attested.get_chain_id().await.map_err(|e| {
                eyre!(
                    "cannot reach the attested chain's RPC {} ({e})",
                    attested_rpc.redacted()
                )
            })?,
        };
        let checkpoint = proofs::finalized_checkpoint(
            &settlement,
            deployment.avs.task_manager,
            chain_id,
            self.block_number,
        )
        .await?;
        proofs::check_attested_node(&attested, &checkpoint).await?;
        Ok((checkpoint, attested, self.json))
    }
}

/// The attested chain's node over HTTP, for any network's transactions and receipts.
async fn connect_any(rpc: &RpcUrl) -> eyre::Result<DynProvider<AnyNetwork>> {
    let (http, _) = chain::http_and_ws(rpc, None);
    let provider = ProviderBuilder::new()
        .network::<AnyNetwork>()
        .connect(&http)
        .await
        .map_err(|e| {
            eyre!(
                "cannot connect to the attested chain's RPC {} ({e})",
                rpc.redacted()
            )
        })?;
    Ok(provider.erased())
}

fn describe_checkpoint(c: &FinalizedCheckpoint) -> String {
    format!(
        "checkpoint: chain {} block {} ({}), finalized by task {} at settlement block {}, challengeable until block {}",
        c.chain_id,
        c.block_number,
        c.block_hash,
        c.task_index,
        c.finalized_at,
        c.challenge_deadline
    )
}

fn describe_account(p: &AccountProof) -> String {
    let a = &p.account;
    if !a.exists {
        return format!(
            "account {}: absent (proven with {} nodes)",
            p.address,
            p.account_proof.len()
        );
    }
    format!(
        "account {}: nonce {}, balance {} wei, storage root {}, code hash {} ({} proof nodes)",
        p.address,
        a.nonce,
        a.balance,
        a.storage_root,
        a.code_hash,
        p.account_proof.len()
    )
}

fn describe_receipt(p: &ReceiptProof) -> String {
    format!(
        "receipt of transaction {}: {} bytes ({} proof nodes)",
        p.tx_index,
        p.receipt.len(),
        p.proof.len()
    )
}

fn calldata_line(calldata: &Bytes) -> String {
    format!("calldata: {calldata}")
}

//! A JSON-RPC node serving one block the Ethereum execution specification executed, with its
//! ancestors and its `debug_executionWitness`: the host's whole state-root path (fetch,
//! verification, witness, re-execution) runs against it. It can lie in the ways a provider
//! could.

use std::{net::SocketAddr, sync::Arc};

use alloy::{
    consensus::{Header, ReceiptEnvelope, TxEnvelope, transaction::SignerRecoverable},
    primitives::{B256, Bytes, U256},
    rlp::Encodable,
    rpc::types::{Block, BlockTransactions, Log, Transaction, TransactionReceipt},
};
use avs_exex_stateless::test_utils::{Fixture, FullState};
use axum::{Json, Router, extract::State, routing::post};
use serde_json::{Value, json};

/// How the node answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Everything as the specification computed it.
    Honest,
    /// The witness proves a pre-state in which one account holds 1 wei more.
    WitnessBalance,
    /// The block's header claims another state root (its hash recomputed to match).
    HeaderStateRoot,
    /// `debug_executionWitness` is not a method of this node.
    NoWitness,
    /// No `debug_executionWitness`, but `debug_traceBlockByNumber` (`prestateTracer`) and
    /// `eth_getProof` at the parent and at the block.
    ProofsOnly,
}

struct Served {
    chain_id: u64,
    /// The parent and its ancestors (oldest first), then the block.
    headers: Vec<Header>,
    transactions: Vec<TxEnvelope>,
    withdrawals: Vec<alloy::eips::eip4895::Withdrawal>,
    receipts: Vec<ReceiptEnvelope>,
    witness: Value,
    behaviour: Behaviour,
    /// The prestate trace of the block (one entry for the whole block).
    prestate: Value,
    pre: avs_exex_stateless::test_utils::Alloc,
    post: avs_exex_stateless::test_utils::Alloc,
}

/// The running node; stops with the test.
pub(crate) struct WitnessNode {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WitnessNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WitnessNode {
    pub(crate) async fn start(fixture: &Fixture, behaviour: Behaviour) -> Self {
        let mut headers: Vec<Header> = fixture.ancestors().into_iter().map(|(h, _)| h).collect();
        let mut block = fixture.header();
        if behaviour == Behaviour::HeaderStateRoot {
            block.state_root = B256::repeat_byte(0x5e);
        }
        let transactions = fixture.transactions();
        let withdrawals = fixture.withdrawals();
        let pre = FullState::of(&fixture.pre);
        // Receipts as execution produces them; the host checks them against the
        // specification's receipts root.
        let receipts = fixture
            .execute(pre.root, &pre.witness())
            .expect("the fixture executes")
            .receipts;
        let witnessed = match behaviour {
            Behaviour::WitnessBalance => {
                let mut lying = fixture.pre.clone();
                let sender = transactions[0].recover_signer().expect("signed");
                lying.get_mut(&sender).expect("sender in pre").balance += U256::from(1);
                FullState::of(&lying)
            }
            // What a node serves: the proofs of what the block touches.
            _ => FullState::for_block(fixture),
        };
        let witness = json!({
            "state": witnessed.nodes,
            "codes": witnessed.codes,
            "keys": [],
            "headers": headers.iter().map(|h| {
                let mut rlp = Vec::new();
                h.encode(&mut rlp);
                Bytes::from(rlp)
            }).collect::<Vec<_>>(),
        });
        let prestate: serde_json::Map<String, Value> = fixture
            .touched()
            .into_iter()
            .map(|(address, slots)| {
                let account = fixture.pre.get(&address);
                let storage: serde_json::Map<String, Value> = slots
                    .iter()
                    .map(|slot| {
                        let value = account
                            .and_then(|a| a.storage.get(slot).copied())
                            .unwrap_or_default();
                        (slot.to_string(), json!(B256::from(value)))
                    })
                    .collect();
                let entry = json!({
                    "balance": account.map(|a| a.balance).unwrap_or_default(),
                    "nonce": account.map(|a| a.nonce).unwrap_or_default(),
                    "code": account.map(|a| a.code.clone()).unwrap_or_default(),
                    "storage": storage,
                });
                (address.to_string(), entry)
            })
            .collect();
        headers.push(block);
        let served = Arc::new(Served {
            prestate: json!([{ "txHash": B256::ZERO, "result": prestate }]),
            pre: fixture.pre.clone(),
            post: fixture.post.clone(),
            chain_id: fixture.chain_id,
            headers,
            transactions,
            withdrawals,
            receipts,
            witness,
            behaviour,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().route("/", post(rpc)).with_state(served);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { addr, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn rpc(State(node): State<Arc<Served>>, Json(request): Json<Value>) -> Json<Value> {
    let id = request["id"].clone();
    let params = &request["params"];
    let answer = match request["method"].as_str().unwrap_or_default() {
        "eth_chainId" => Ok(json!(format!("{:#x}", node.chain_id))),
        "web3_clientVersion" => Ok(json!("witness-node/test")),
        "eth_blockNumber" => Ok(json!(format!("{:#x}", node.tip().number))),
        "eth_getBlockByNumber" => Ok(node.by_tag(&params[0]).map_or(Value::Null, |h| {
            node.block_json(h, params[1].as_bool() == Some(true))
        })),
        "eth_getBlockReceipts" => Ok(node.receipts_json()),
        "debug_executionWitness"
            if matches!(node.behaviour, Behaviour::NoWitness | Behaviour::ProofsOnly) =>
        {
            Err(json!({
                "code": -32601, "message": "the method debug_executionWitness does not exist"
            }))
        }
        "debug_traceBlockByNumber" if node.behaviour == Behaviour::ProofsOnly => {
            Ok(node.prestate.clone())
        }
        "eth_getProof" if node.behaviour == Behaviour::ProofsOnly => Ok(node.proof(params)),
        "eth_getCode" => Ok(node.code(params)),
        "eth_getBlockByHash" => Ok(node
            .headers
            .iter()
            .find(|h| params[0].as_str() == Some(h.hash_slow().to_string().as_str()))
            .map_or(Value::Null, |h| node.block_json(h, false))),
        "debug_executionWitness" => Ok(node.witness.clone()),
        other => Err(json!({"code": -32601, "message": format!("no method {other}")})),
    };
    Json(match answer {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    })
}

impl Served {
    fn tip(&self) -> &Header {
        self.headers.last().expect("a block")
    }

    fn by_tag(&self, tag: &Value) -> Option<&Header> {
        match tag.as_str()? {
            "latest" | "safe" | "finalized" => Some(self.tip()),
            number => {
                let number = u64::from_str_radix(number.trim_start_matches("0x"), 16).ok()?;
                self.headers.iter().find(|h| h.number == number)
            }
        }
    }

    /// `eth_getProof(address, slots, block)` at the parent (pre-state) or the block.
    fn proof(&self, params: &Value) -> Value {
        let address = serde_json::from_value(params[0].clone()).expect("address");
        let slots: Vec<B256> = serde_json::from_value(params[1].clone()).expect("slots");
        let alloc = self.state_at(&params[2]);
        serde_json::to_value(avs_exex_stateless::test_utils::account_proof(
            alloc, address, &slots,
        ))
        .expect("proof JSON")
    }

    /// `eth_getCode(address, block)`.
    fn code(&self, params: &Value) -> Value {
        let address: alloy::primitives::Address =
            serde_json::from_value(params[0].clone()).expect("address");
        json!(
            self.state_at(&params[1])
                .get(&address)
                .map(|a| a.code.clone())
                .unwrap_or_default()
        )
    }

    /// The state after the block (its number) or before it (the parent's).
    fn state_at(&self, block: &Value) -> &avs_exex_stateless::test_utils::Alloc {
        let at = block.as_str().expect("a block number");
        let number = u64::from_str_radix(at.trim_start_matches("0x"), 16).expect("hex");
        if number == self.tip().number {
            &self.post
        } else {
            &self.pre
        }
    }

    fn block_json(&self, header: &Header, full: bool) -> Value {
        let hash = header.hash_slow();
        let is_tip = header.number == self.tip().number;
        let transactions = if !is_tip {
            BlockTransactions::Full(vec![])
        } else if full {
            BlockTransactions::Full(
                self.transactions
                    .iter()
                    .enumerate()
                    .map(|(index, tx)| Transaction {
                        inner: alloy::consensus::transaction::Recovered::new_unchecked(
                            tx.clone(),
                            tx.recover_signer().expect("signed"),
                        ),
                        block_hash: Some(hash),
                        block_number: Some(header.number),
                        transaction_index: Some(index as u64),
                        effective_gas_price: None,
                        block_timestamp: Some(header.timestamp),
                    })
                    .collect(),
            )
        } else {
            BlockTransactions::Hashes(self.transactions.iter().map(|tx| *tx.hash()).collect())
        };
        let withdrawals = if is_tip {
            self.withdrawals.clone()
        } else {
            vec![]
        };
        let block: Block<Transaction> = Block {
            header: alloy::rpc::types::Header {
                hash,
                inner: header.clone(),
                total_difficulty: None,
                size: None,
            },
            uncles: vec![],
            transactions,
            withdrawals: Some(withdrawals.into()),
        };
        serde_json::to_value(block).expect("block JSON")
    }

    fn receipts_json(&self) -> Value {
        let block = self.tip();
        let hash = block.hash_slow();
        let mut log_index = 0;
        let receipts: Vec<_> = self
            .receipts
            .iter()
            .zip(&self.transactions)
            .enumerate()
            .map(|(index, (receipt, tx))| {
                let with_rpc_logs = receipt.clone().map_logs(|inner| {
                    log_index += 1;
                    Log {
                        inner,
                        block_hash: Some(hash),
                        block_number: Some(block.number),
                        block_timestamp: None,
                        transaction_hash: Some(*tx.hash()),
                        transaction_index: Some(index as u64),
                        log_index: Some(log_index - 1),
                        removed: false,
                    }
                });
                TransactionReceipt {
                    inner: with_rpc_logs,
                    transaction_hash: *tx.hash(),
                    transaction_index: Some(index as u64),
                    block_hash: Some(hash),
                    block_number: Some(block.number),
                    gas_used: 0,
                    effective_gas_price: 0,
                    blob_gas_used: None,
                    blob_gas_price: None,
                    from: tx.recover_signer().expect("signed"),
                    to: None,
                    contract_address: None,
                }
            })
            .collect();
        serde_json::to_value(receipts).expect("receipts JSON")
    }
}

//! Synthetic blocks for tests and benches, like reth's `reth-testing-utils` generators: every
//! block is internally consistent (real signatures, real header hashes, real roots), so it passes
//! the host's block verification and builds valid [`Chain`]s.
//!
//! Available with the `test-utils` cargo feature (and inside this crate's unit tests); the
//! `avs-exex-test-utils` crate re-exports it next to a test ExEx context.

use alloy::{
    consensus::{
        Block, BlockBody, Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom,
        Sealable, SignableTransaction, TxEip1559, TxEnvelope,
        proofs::{calculate_receipt_root, calculate_transaction_root, calculate_withdrawals_root},
    },
    eips::{BlockNumHash, eip4895::Withdrawals},
    primitives::{Address, B256, BlockNumber, Bloom, Bytes, Log, TxKind, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::SolValue,
};

use op_alloy_consensus::{OpDepositReceipt, OpReceiptEnvelope, TxDeposit};

use crate::{
    chain::{BlockWithReceipts, Chain},
    envelope::{BlockReceipt, BlockTransaction},
};

/// Chain id of synthetic transactions (and of the test ExEx context).
pub const TEST_CHAIN_ID: u64 = 31337;

/// One synthetic transaction: a signed EIP-1559 transfer, optionally with one log in its receipt
/// and with calldata, or an OP-stack deposit (type 0x7e) with one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxSpec {
    emits_log: bool,
    input: Bytes,
    deposit: bool,
}

impl TxSpec {
    /// A plain transfer (receipt without logs).
    pub const fn transfer() -> Self {
        Self {
            emits_log: false,
            input: Bytes::new(),
            deposit: false,
        }
    }

    /// A call whose receipt carries one log.
    pub const fn with_log() -> Self {
        Self {
            emits_log: true,
            input: Bytes::new(),
            deposit: false,
        }
    }

    /// A call with `input` as calldata (for an ExEx that decodes the transactions it sees).
    pub const fn call(input: Bytes) -> Self {
        Self {
            emits_log: false,
            input,
            deposit: false,
        }
    }

    /// An OP-stack deposit whose receipt (with deposit nonce and receipt version) carries one log.
    pub const fn deposit() -> Self {
        Self {
            emits_log: true,
            input: Bytes::new(),
            deposit: true,
        }
    }
}

/// Builds consistent synthetic blocks on top of a parent, and forks.
///
/// Every built block differs from any other built by the same builder (a salt goes into
/// `extraData`), so forks from the same parent have different hashes.
#[derive(Debug)]
pub struct ChainBuilder {
    parent: BlockNumHash,
    signer: PrivateKeySigner,
    nonce: u64,
    salt: u64,
}

impl ChainBuilder {
    /// A builder whose first block is `parent_number + 1`, on a made-up parent hash.
    pub fn new(parent_number: BlockNumber) -> Self {
        let parent = BlockNumHash {
            number: parent_number,
            hash: keccak256(parent_number.to_be_bytes()),
        };
        let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x11))
            .expect("0x11.. is a valid secp256k1 key");
        Self {
            parent,
            signer,
            nonce: 0,
            salt: 0,
        }
    }

    /// The block the next [`Self::block`] builds on.
    pub const fn parent(&self) -> BlockNumHash {
        self.parent
    }

    /// Continues from `block` (e.g. to build a competing branch).
    pub fn fork_from(&mut self, block: &BlockWithReceipts) -> &mut Self {
        self.parent = block.num_hash();
        self
    }

    /// Builds the next block with the given transactions and makes it the parent.
    pub fn block(&mut self, txs: &[TxSpec]) -> BlockWithReceipts {
        self.salt += 1;
        let mut cumulative_gas_used = 0;
        let (transactions, receipts): (Vec<_>, Vec<_>) = txs
            .iter()
            .map(|spec| {
                let (tx, gas, logs) = self.transaction(spec);
                cumulative_gas_used += gas;
                let receipt = Receipt {
                    status: Eip658Value::Eip658(true),
                    cumulative_gas_used,
                    logs,
                };
                let bloom: Bloom = receipt.logs.iter().collect();
                let receipt = match &tx {
                    BlockTransaction::Deposit(_) => {
                        BlockReceipt::Deposit(OpReceiptEnvelope::Deposit(ReceiptWithBloom::new(
                            OpDepositReceipt {
                                inner: receipt,
                                deposit_nonce: Some(self.nonce),
                                deposit_receipt_version: Some(1),
                            },
                            bloom,
                        )))
                    }
                    BlockTransaction::Ethereum(_) => BlockReceipt::from(ReceiptEnvelope::Eip1559(
                        ReceiptWithBloom::new(receipt, bloom),
                    )),
                };
                (tx, receipt)
            })
            .unzip();
        let logs_bloom = receipts.iter().fold(Bloom::ZERO, |acc, r| acc | r.bloom());
        let number = self.parent.number + 1;
        let header = Header {
            parent_hash: self.parent.hash,
            number,
            timestamp: 1_700_000_000 + number * 12,
            gas_limit: 30_000_000,
            gas_used: cumulative_gas_used,
            base_fee_per_gas: Some(1_000_000_000),
            extra_data: Bytes::copy_from_slice(&self.salt.to_be_bytes()),
            transactions_root: calculate_transaction_root(&transactions),
            receipts_root: calculate_receipt_root(&receipts),
            withdrawals_root: Some(calculate_withdrawals_root(&[])),
            logs_bloom,
            ..Header::default()
        };
        let hash = header.hash_slow();
        let body = BlockBody {
            transactions,
            ommers: vec![],
            withdrawals: Some(Withdrawals::default()),
        };
        self.parent = BlockNumHash { number, hash };
        BlockWithReceipts {
            hash,
            block: Block { header, body },
            receipts,
            state_root: Default::default(),
        }
    }

    /// Builds `len` consecutive blocks, each with `txs`.
    ///
    /// # Panics
    /// If `len` is zero.
    pub fn chain(&mut self, len: usize, txs: &[TxSpec]) -> Chain {
        let blocks = (0..len).map(|_| self.block(txs)).collect();
        Chain::new(blocks).expect("the builder links blocks and pairs receipts; len must be > 0")
    }

    fn transaction(&mut self, spec: &TxSpec) -> (BlockTransaction, u64, Vec<Log>) {
        let to = Address::repeat_byte(0x42);
        let logs = if spec.emits_log {
            vec![Log::new_unchecked(
                to,
                vec![
                    keccak256("Synthetic(uint256)"),
                    B256::from(U256::from(self.nonce + 1)),
                ],
                Bytes::copy_from_slice(&self.salt.to_be_bytes()),
            )]
        } else {
            vec![]
        };
        let gas = if spec.emits_log { 23_000 } else { 21_000 };
        if spec.deposit {
            self.nonce += 1;
            let deposit = TxDeposit {
                source_hash: keccak256((self.salt, self.nonce).abi_encode()),
                from: self.signer.address(),
                to: TxKind::Call(to),
                mint: u128::from(self.nonce),
                value: U256::from(self.salt),
                gas_limit: 50_000,
                is_system_transaction: false,
                input: spec.input.clone(),
            };
            return (BlockTransaction::Deposit(deposit.seal_slow()), gas, logs);
        }
        let tx = TxEip1559 {
            chain_id: TEST_CHAIN_ID,
            nonce: self.nonce,
            gas_limit: 50_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000,
            to: TxKind::Call(to),
            value: U256::from(self.salt),
            input: spec.input.clone(),
            access_list: Default::default(),
        };
        self.nonce += 1;
        let signature = self
            .signer
            .sign_hash_sync(&tx.signature_hash())
            .expect("signing a 32-byte hash with a local key cannot fail");
        (
            TxEnvelope::Eip1559(tx.into_signed(signature)).into(),
            gas,
            logs,
        )
    }
}

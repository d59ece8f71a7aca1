//! Test kit, like reth's `reth-exex-test-utils`: a context without a node, and synthetic blocks
//! that are internally consistent (real signatures, real header hashes, real roots) so they pass
//! [`crate::verify::verify_block`] and build valid [`Chain`]s.
//!
//! Available with the `test-utils` cargo feature (and inside this crate's unit tests).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> eyre::Result<()> {
//! use avs_exex::{ExExEvent, test_utils::{test_exex_context, ChainBuilder, TxSpec}};
//! use futures::StreamExt;
//!
//! let (mut ctx, mut handle) = test_exex_context();
//! let chain = ChainBuilder::new(0).chain(2, &[TxSpec::with_log()]);
//! let tip = chain.tip().num_hash();
//! handle.send_notification_chain_committed(chain).await?;
//!
//! // The ExEx under test would do this:
//! let notification = ctx.notifications.next().await.expect("open")?;
//! let committed = notification.committed_chain().expect("a commit");
//! ctx.events.send(ExExEvent::FinishedHeight(committed.tip().num_hash())).await?;
//!
//! handle.assert_event_finished_height(tip)?;
//! handle.assert_events_empty();
//! # Ok(())
//! # }
//! ```

use std::{sync::Arc, time::Duration};

use alloy::{
    consensus::{
        Block, BlockBody, Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom,
        SignableTransaction, TxEip1559, TxEnvelope,
        proofs::{calculate_receipt_root, calculate_transaction_root, calculate_withdrawals_root},
    },
    eips::{BlockNumHash, eip4895::Withdrawals},
    primitives::{Address, B256, BlockNumber, Bloom, Bytes, Log, TxKind, U256, keccak256},
    providers::{Provider, ProviderBuilder},
    signers::{SignerSync, local::PrivateKeySigner},
    transports::mock::Asserter,
};
use tokio::sync::mpsc::{self, error::TryRecvError};

use crate::{
    chain::{BlockWithReceipts, Chain},
    context::{ExExConfig, ExExContext, ExExNotifications},
    notification::{ExExEvent, ExExNotification},
};

/// Chain id of synthetic transactions and of the test context.
pub const TEST_CHAIN_ID: u64 = 31337;

/// Channel capacity of the test context (small, so back-pressure shows in tests).
const TEST_CHANNEL_CAPACITY: usize = 16;

/// A context wired to a [`TestExExHandle`] instead of a host.
///
/// The context's provider is a mock: push JSON-RPC responses with
/// [`TestExExHandle::asserter`].
pub fn test_exex_context() -> (ExExContext, TestExExHandle) {
    let (notifications_tx, notifications_rx) = mpsc::channel(TEST_CHANNEL_CAPACITY);
    let (events_tx, events_rx) = mpsc::channel(TEST_CHANNEL_CAPACITY);
    let asserter = Asserter::new();
    let provider = ProviderBuilder::new()
        .connect_mocked_client(asserter.clone())
        .erased();
    let ctx = ExExContext {
        head: None,
        config: ExExConfig {
            id: "test".to_owned(),
            chain_id: TEST_CHAIN_ID,
        },
        events: events_tx,
        notifications: ExExNotifications::new(notifications_rx),
        provider,
    };
    (
        ctx,
        TestExExHandle {
            notifications_tx,
            events_rx,
            asserter,
        },
    )
}

/// The host side of [`test_exex_context`].
#[derive(Debug)]
pub struct TestExExHandle {
    notifications_tx: mpsc::Sender<ExExNotification>,
    events_rx: mpsc::Receiver<ExExEvent>,
    asserter: Asserter,
}

impl TestExExHandle {
    /// Responses for the context's mock provider, consumed in order.
    pub const fn asserter(&self) -> &Asserter {
        &self.asserter
    }

    /// Sends any notification (waits while the ExEx's channel is full).
    pub async fn send_notification(&self, notification: ExExNotification) -> eyre::Result<()> {
        self.notifications_tx
            .send(notification)
            .await
            .map_err(|_| eyre::eyre!("the ExEx dropped its notifications stream"))
    }

    /// Sends `ChainCommitted { new: chain }`.
    pub async fn send_notification_chain_committed(&self, chain: Chain) -> eyre::Result<()> {
        self.send_notification(ExExNotification::ChainCommitted {
            new: Arc::new(chain),
        })
        .await
    }

    /// Sends `ChainReorged { old, new }`.
    pub async fn send_notification_chain_reorged(
        &self,
        old: Chain,
        new: Chain,
    ) -> eyre::Result<()> {
        self.send_notification(ExExNotification::ChainReorged {
            old: Arc::new(old),
            new: Arc::new(new),
        })
        .await
    }

    /// Sends `ChainReverted { old: chain }`.
    pub async fn send_notification_chain_reverted(&self, chain: Chain) -> eyre::Result<()> {
        self.send_notification(ExExNotification::ChainReverted {
            old: Arc::new(chain),
        })
        .await
    }

    /// Asserts the ExEx has sent no event (that has not been consumed yet).
    ///
    /// # Panics
    /// If an event is waiting.
    pub fn assert_events_empty(&mut self) {
        match self.events_rx.try_recv() {
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
            Ok(event) => panic!("expected no ExEx event, got {event:?}"),
        }
    }

    /// Asserts the next waiting event is `FinishedHeight(height)`.
    pub fn assert_event_finished_height(&mut self, height: BlockNumHash) -> eyre::Result<()> {
        match self.events_rx.try_recv() {
            Ok(ExExEvent::FinishedHeight(got)) if got == height => Ok(()),
            Ok(ExExEvent::FinishedHeight(got)) => {
                eyre::bail!("expected FinishedHeight({height:?}), got FinishedHeight({got:?})")
            }
            Err(err) => eyre::bail!("expected FinishedHeight({height:?}), but no event: {err}"),
        }
    }

    /// Waits up to `timeout` for the next event (for ExExes running on their own task).
    pub async fn next_event(&mut self, timeout: Duration) -> eyre::Result<ExExEvent> {
        tokio::time::timeout(timeout, self.events_rx.recv())
            .await
            .map_err(|_| eyre::eyre!("no ExEx event within {timeout:?}"))?
            .ok_or_else(|| eyre::eyre!("the ExEx dropped its events sender"))
    }
}

/// One synthetic transaction: a signed EIP-1559 transfer, optionally with one log in its receipt
/// and with calldata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxSpec {
    emits_log: bool,
    input: Bytes,
}

impl TxSpec {
    /// A plain transfer (receipt without logs).
    pub const fn transfer() -> Self {
        Self {
            emits_log: false,
            input: Bytes::new(),
        }
    }

    /// A call whose receipt carries one log.
    pub const fn with_log() -> Self {
        Self {
            emits_log: true,
            input: Bytes::new(),
        }
    }

    /// A call with `input` as calldata (for an ExEx that decodes the transactions it sees).
    pub const fn call(input: Bytes) -> Self {
        Self {
            emits_log: false,
            input,
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
                (
                    tx,
                    ReceiptEnvelope::Eip1559(ReceiptWithBloom::new(receipt, bloom)),
                )
            })
            .unzip();
        let logs_bloom = receipts
            .iter()
            .fold(Bloom::ZERO, |acc, r| acc | *r.logs_bloom());
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

    fn transaction(&mut self, spec: &TxSpec) -> (TxEnvelope, u64, Vec<Log>) {
        let to = Address::repeat_byte(0x42);
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
        let logs = if spec.emits_log {
            vec![Log::new_unchecked(
                to,
                vec![
                    keccak256("Synthetic(uint256)"),
                    B256::from(U256::from(self.nonce)),
                ],
                Bytes::copy_from_slice(&self.salt.to_be_bytes()),
            )]
        } else {
            vec![]
        };
        let gas = if spec.emits_log { 23_000 } else { 21_000 };
        (TxEnvelope::Eip1559(tx.into_signed(signature)), gas, logs)
    }
}

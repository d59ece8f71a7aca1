//! The one owner of a gas wallet's transactions: every component that pays from the node's
//! wallet (the submitter's `respondToTask`, the task generator's `createNewTask` and stake
//! updates, the challenger) sends through one shared [`WalletSender`].
//!
//! Invariants:
//! - **One nonce sequence.** Sends are serialised by a lock held for a [`Sequence`]: the nonce
//!   is read from the node (`pending`) when the sequence starts and each broadcast takes the
//!   next one, so a component that sends several transactions in a row (a stake update, then a
//!   creation) gets consecutive nonces and no other component can take one of them or read the
//!   same pending nonce meanwhile. Receipt waits happen outside the lock: a submission waiting
//!   for its block does not hold up a task creation.
//! - **One fee cap.** Every transaction, replacements included, pays at most
//!   [`SenderConfig::max_fee_per_gas`]; above it nothing is sent ([`SendError::FeeAboveCap`])
//!   rather than sent underpriced, where it would hold the wallet's nonce until the base fee
//!   falls.
//! - **Bounded waits, dropped transactions noticed.** [`WalletSender::send_and_confirm`] polls
//!   the receipt of every version it sent for at most [`ConfirmPolicy::receipt_timeout`], then
//!   replaces the transaction with both fees raised 12.5 % (the minimum bump nodes accept). While
//!   waiting it also asks the node whether it still knows any version
//!   (`eth_getTransactionByHash`): a transaction a reorg took out of the pool or the pool
//!   evicted is sent again at once (gas re-estimated, a fresh nonce sequence) instead of after
//!   the whole timeout.
//!
//! Transactions are signed locally and sent raw, so the provider needs no wallet of its own.
//!
//! ```no_run
//! # async fn run(provider: alloy::providers::DynProvider, signer: alloy::signers::local::PrivateKeySigner, to: alloy::primitives::Address) -> Result<(), avs_contracts::sender::SendError> {
//! use alloy::{network::TransactionBuilder, rpc::types::TransactionRequest};
//! use avs_contracts::sender::{ConfirmPolicy, SenderConfig, WalletSender};
//! let sender = std::sync::Arc::new(WalletSender::new(provider, signer.into(), 31337, SenderConfig::default()));
//! // Two transactions with consecutive nonces, nothing interleaved:
//! let mut sequence = sender.sequence().await?;
//! sequence.send("first", TransactionRequest::default().with_to(to)).await?;
//! sequence.send("second", TransactionRequest::default().with_to(to)).await?;
//! drop(sequence);
//! // One transaction, awaited:
//! let confirmed = sender
//!     .send_and_confirm("third", TransactionRequest::default().with_to(to), &ConfirmPolicy::default())
//!     .await?;
//! # let _ = confirmed; Ok(()) }
//! ```

use alloy::{
    eips::Encodable2718,
    network::{
        Ethereum, EthereumWallet, NetworkTransactionBuilder, NetworkWallet, TransactionBuilder,
        TransactionBuilderError,
    },
    primitives::{Address, B256},
    providers::{DynProvider, Provider},
    rpc::types::{TransactionReceipt, TransactionRequest},
    transports::{RpcError, TransportErrorKind},
};
use std::time::Duration;
use tokio::{
    sync::{Mutex, MutexGuard},
    time::Instant,
};

/// How the wallet pays and polls; one per wallet.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// Highest `maxFeePerGas` (wei) any transaction pays, replacements included.
    pub max_fee_per_gas: u128,
    /// How often the node is asked for receipts while waiting.
    pub poll_interval: Duration,
    /// Extra gas on top of the estimate, in percent (state may change before inclusion).
    pub gas_margin_percent: u64,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            max_fee_per_gas: 200_000_000_000, // 200 gwei
            poll_interval: Duration::from_secs(1),
            gas_margin_percent: 20,
        }
    }
}

/// How long one awaited transaction may take, per call of
/// [`WalletSender::send_and_confirm`].
#[derive(Clone, Debug)]
pub struct ConfirmPolicy {
    /// How long to wait for a receipt before replacing the transaction.
    pub receipt_timeout: Duration,
    /// How many times a pending transaction may be replaced (0: never).
    pub max_replacements: u32,
    /// How many times a transaction the node dropped is sent again (0: never).
    pub max_resends: u32,
}

impl Default for ConfirmPolicy {
    fn default() -> Self {
        Self {
            // Three Ethereum slots.
            receipt_timeout: Duration::from_secs(36),
            max_replacements: 3,
            max_resends: 3,
        }
    }
}

/// A transaction that could not be sent or confirmed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A node request failed; for gas estimation this includes the call reverting, which costs
    /// nothing ([`SendError::revert`] decodes the contract's error).
    #[error("{step}: the node refused the request: {source}")]
    Rpc {
        /// What was being sent, and which request failed.
        step: String,
        /// The node's answer.
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// The fee the network asks for (or a replacement's bump) is above the cap: nothing sent.
    #[error(
        "{step}: the fee ({required} wei per gas) is above the cap ({cap} wei per gas); nothing \
         sent (raise max_fee_gwei to pay more)"
    )]
    FeeAboveCap {
        /// The transaction not sent.
        step: String,
        /// What the estimate (or the replacement bump) requires.
        required: u128,
        /// The cap.
        cap: u128,
    },
    /// Signing failed.
    #[error("{step}: signing: {source}")]
    Sign {
        /// The transaction not sent.
        step: String,
        /// Why.
        #[source]
        source: TransactionBuilderError<Ethereum>,
    },
    /// No version of the transaction was mined in time.
    #[error(
        "{step}: no receipt (nonce {nonce}) after {attempts} send(s); last transaction {last_tx}"
    )]
    NoReceipt {
        /// The transaction.
        step: String,
        /// The nonce all versions used.
        nonce: u64,
        /// How many versions were sent.
        attempts: u32,
        /// The last version sent.
        last_tx: B256,
    },
    /// The node dropped the transaction more often than the policy resends it.
    #[error(
        "{step}: transaction {tx_hash} (nonce {nonce}) dropped by the node again after {resends} resend(s)"
    )]
    Dropped {
        /// The transaction.
        step: String,
        /// Its last nonce.
        nonce: u64,
        /// Its last version.
        tx_hash: B256,
        /// How many times it was sent again.
        resends: u32,
    },
    /// The caller stopped wanting the transaction (e.g. the response it submits is no longer
    /// this node's) before a replacement or a resend would have paid for it again: nothing
    /// more was sent. A version already sent may still be mined.
    #[error(
        "{step}: no longer wanted; not sent again (its last version {tx_hash} may still be mined)"
    )]
    Abandoned {
        /// The transaction.
        step: String,
        /// Its last version.
        tx_hash: B256,
    },
}

impl SendError {
    /// The contract's custom error, when the node refused the transaction because it reverts
    /// with one of `E`'s errors (found at gas estimation, before anything was sent).
    pub fn revert<E: alloy::sol_types::SolInterface>(&self) -> Option<E> {
        let Self::Rpc { source, .. } = self else {
            return None;
        };
        source.as_error_resp()?.as_decoded_interface_error::<E>()
    }
}

/// One broadcast transaction, enough to replace it or wait for it.
#[derive(Clone, Debug)]
pub struct SentTx {
    /// Its hash.
    pub tx_hash: B256,
    /// Its nonce.
    pub nonce: u64,
    /// Its `maxFeePerGas`.
    pub max_fee_per_gas: u128,
    /// Its `maxPriorityFeePerGas`.
    pub max_priority_fee_per_gas: u128,
    /// Its gas limit.
    pub gas_limit: u64,
    /// The request it was built from (sender, target, input).
    request: TransactionRequest,
}

/// What a bounded wait for the versions of one transaction found.
#[derive(Debug)]
pub enum Waited {
    /// One version was mined (successfully or not: check the receipt's status).
    Mined(Box<TransactionReceipt>),
    /// The node knows none of the versions any more: a reorg took it out of the pool, or the
    /// pool evicted it. It will not be mined unless sent again.
    Dropped,
    /// Still pending when the timeout passed.
    Pending,
}

/// What [`WalletSender::replace`] did.
#[derive(Debug)]
pub enum Replaced {
    /// The new version, sent.
    Sent(Box<SentTx>),
    /// Nothing sent: the node knows none of the versions any more (dropped).
    Gone,
}

/// A transaction [`WalletSender::send_and_confirm`] saw mined.
#[derive(Debug)]
pub struct Confirmed {
    /// Its receipt (check the status: a mined revert is returned here too).
    pub receipt: TransactionReceipt,
    /// How many times it was sent again because the node dropped it.
    pub resends: u32,
    /// How many fee-bumped replacements were sent (over all resends).
    pub replacements: u32,
}

/// Polls in a row in which the node knew none of the versions before the transaction counts
/// as dropped. One is enough on a single node; a load-balanced endpoint may answer the first
/// poll from a backend the broadcast has not reached yet.
const MISSING_POLLS: u32 = 2;

/// The single sender of one wallet's transactions (see the [module docs](self)). Share it
/// (`Arc`) between every component that pays from the wallet.
#[derive(Debug)]
pub struct WalletSender {
    provider: DynProvider,
    wallet: EthereumWallet,
    address: Address,
    chain_id: u64,
    config: SenderConfig,
    /// Held for a whole [`Sequence`]: one nonce sequence of this wallet at a time.
    sequence: Mutex<()>,
}

impl WalletSender {
    /// Sends through `provider` (it needs no wallet: transactions are signed here and sent raw)
    /// from `wallet`'s default signer, on chain `chain_id`.
    pub fn new(
        provider: DynProvider,
        wallet: EthereumWallet,
        chain_id: u64,
        config: SenderConfig,
    ) -> Self {
        let address = NetworkWallet::<Ethereum>::default_signer_address(&wallet);
        Self {
            provider,
            wallet,
            address,
            chain_id,
            config,
            sequence: Mutex::new(()),
        }
    }

    /// The address transactions are sent from.
    pub const fn address(&self) -> Address {
        self.address
    }

    /// The provider transactions go through (for reads, too).
    pub const fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Starts a nonce sequence: waits until no other sequence of this wallet is open, then reads
    /// the wallet's nonce from the node. Until the returned [`Sequence`] is dropped, only it
    /// sends from this wallet.
    pub async fn sequence(&self) -> Result<Sequence<'_>, SendError> {
        let guard = self.sequence.lock().await;
        // The nonce is read from the node for every sequence instead of a local cache: a
        // transaction refused at gas estimation (an expected revert, e.g. "already responded")
        // never takes its nonce, and a reorg that drops this wallet's transactions leaves a
        // cached nonce ahead of the new branch, where every later transaction would wait
        // behind the gap forever. `pending` counts this wallet's transactions still in the pool.
        let next_nonce = self
            .provider
            .get_transaction_count(self.address)
            .pending()
            .await
            .map_err(|source| SendError::Rpc {
                step: "reading the wallet's nonce".to_owned(),
                source,
            })?;
        Ok(Sequence {
            sender: self,
            next_nonce,
            _guard: guard,
        })
    }

    /// Sends one transaction in a sequence of its own, without waiting for it.
    pub async fn send(&self, step: &str, request: TransactionRequest) -> Result<SentTx, SendError> {
        self.sequence().await?.send(step, request).await
    }

    /// Sends the last of `versions` (one transaction's versions, same nonce) again with both
    /// fees raised by 12.5 %, refused above the cap. [`Replaced::Gone`] (nothing sent) when the
    /// node knows none of the versions any more: the pool dropped the transaction, and its
    /// nonce may be another component's transaction by now, which a replacement would evict.
    /// Checked under the wallet's lock, so no other sequence takes the nonce in between.
    pub async fn replace(&self, step: &str, versions: &[SentTx]) -> Result<Replaced, SendError> {
        let Some(sent) = versions.last() else {
            return Ok(Replaced::Gone);
        };
        let max_fee = bump(sent.max_fee_per_gas);
        let priority_fee = bump(sent.max_priority_fee_per_gas).min(max_fee);
        self.check_cap(step, max_fee)?;
        let _guard = self.sequence.lock().await;
        if !self.any_known(versions).await? {
            return Ok(Replaced::Gone);
        }
        tracing::info!(
            step,
            nonce = sent.nonce,
            max_fee,
            replaced = %sent.tx_hash,
            "replacing a pending transaction with higher fees"
        );
        self.broadcast(
            step,
            sent.request.clone(),
            sent.nonce,
            sent.gas_limit,
            max_fee,
            priority_fee,
        )
        .await
        .map(|sent| Replaced::Sent(Box::new(sent)))
    }

    /// Whether the node knows any of `versions` (pending or mined).
    async fn any_known(&self, versions: &[SentTx]) -> Result<bool, SendError> {
        for version in versions {
            let tx = self
                .provider
                .get_transaction_by_hash(version.tx_hash)
                .await
                .map_err(|source| SendError::Rpc {
                    step: "eth_getTransactionByHash".to_owned(),
                    source,
                })?;
            if tx.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Polls the receipts of `versions` (one transaction's versions, same nonce) until one
    /// exists, the node knows none of them any more, or `timeout` passes.
    pub async fn wait(&self, versions: &[SentTx], timeout: Duration) -> Result<Waited, SendError> {
        let deadline = Instant::now() + timeout;
        let mut missing = 0;
        loop {
            for version in versions {
                let receipt = self
                    .provider
                    .get_transaction_receipt(version.tx_hash)
                    .await
                    .map_err(|source| SendError::Rpc {
                        step: "eth_getTransactionReceipt".to_owned(),
                        source,
                    })?;
                if let Some(receipt) = receipt {
                    return Ok(Waited::Mined(Box::new(receipt)));
                }
            }
            // Asked after the receipts: a version mined in between is still known (mined), so
            // a mined transaction is never taken for a dropped one.
            missing = if self.any_known(versions).await? {
                0
            } else {
                missing + 1
            };
            if missing >= MISSING_POLLS {
                return Ok(Waited::Dropped);
            }
            if Instant::now() >= deadline {
                return Ok(Waited::Pending);
            }
            tokio::time::sleep_until(deadline.min(Instant::now() + self.config.poll_interval))
                .await;
        }
    }

    /// Sends `request` and waits for it under `policy`: replaced with higher fees when it stays
    /// pending for the receipt timeout, sent again at once (re-estimated, in a fresh nonce
    /// sequence) when the node drops it. Errors of gas estimation are returned as they are, on
    /// a resend too (e.g. the call reverts now because someone else did the work).
    pub async fn send_and_confirm(
        &self,
        step: &str,
        request: TransactionRequest,
        policy: &ConfirmPolicy,
    ) -> Result<Confirmed, SendError> {
        self.send_and_confirm_while(step, request, policy, || true)
            .await
    }

    /// [`Self::send_and_confirm`], asking `still_wanted` before every replacement and every
    /// resend: once it says no, nothing more is paid for ([`SendError::Abandoned`]).
    pub async fn send_and_confirm_while(
        &self,
        step: &str,
        request: TransactionRequest,
        policy: &ConfirmPolicy,
        still_wanted: impl Fn() -> bool,
    ) -> Result<Confirmed, SendError> {
        let mut resends = 0;
        let mut replacements = 0;
        loop {
            let mut versions = vec![self.send(step, request.clone()).await?];
            let mut replaced = 0;
            let dropped = loop {
                let last = versions
                    .last()
                    .cloned()
                    .expect("at least the first version");
                match self.wait(&versions, policy.receipt_timeout).await? {
                    Waited::Mined(receipt) => {
                        return Ok(Confirmed {
                            receipt: *receipt,
                            resends,
                            replacements,
                        });
                    }
                    Waited::Dropped => break last,
                    Waited::Pending if replaced >= policy.max_replacements => {
                        return Err(SendError::NoReceipt {
                            step: step.to_owned(),
                            nonce: last.nonce,
                            attempts: u32::try_from(versions.len()).unwrap_or(u32::MAX),
                            last_tx: last.tx_hash,
                        });
                    }
                    Waited::Pending if !still_wanted() => {
                        return self.abandon(step, &versions, resends, replacements).await;
                    }
                    Waited::Pending => {
                        match self.replace(step, &versions).await {
                            Ok(Replaced::Sent(version)) => {
                                versions.push(*version);
                                replaced += 1;
                                replacements += 1;
                            }
                            // Not found once: waiting again decides, with the polls that tell
                            // a dropped transaction from an endpoint that has not seen it yet
                            // (bounded like a replacement).
                            Ok(Replaced::Gone) => replaced += 1,
                            // An earlier version may have been mined meanwhile ("nonce too
                            // low"): keep waiting for the versions already sent.
                            Err(SendError::Rpc { source, .. }) => {
                                tracing::warn!(step, nonce = last.nonce, %source, "replacement not accepted");
                            }
                            Err(err) => return Err(err),
                        }
                    }
                }
            };
            if !still_wanted() {
                return self.abandon(step, &versions, resends, replacements).await;
            }
            if resends >= policy.max_resends {
                return Err(SendError::Dropped {
                    step: step.to_owned(),
                    nonce: dropped.nonce,
                    tx_hash: dropped.tx_hash,
                    resends,
                });
            }
            resends += 1;
            tracing::warn!(
                step,
                tx_hash = %dropped.tx_hash,
                nonce = dropped.nonce,
                resend = resends,
                "the node no longer knows the transaction (dropped by a reorg or evicted); sending it again"
            );
        }
    }

    /// Gives up on a transaction its caller no longer wants, after a last look at its
    /// receipts: a version mined meanwhile is the outcome.
    async fn abandon(
        &self,
        step: &str,
        versions: &[SentTx],
        resends: u32,
        replacements: u32,
    ) -> Result<Confirmed, SendError> {
        if let Waited::Mined(receipt) = self.wait(versions, Duration::ZERO).await? {
            return Ok(Confirmed {
                receipt: *receipt,
                resends,
                replacements,
            });
        }
        let last = versions.last().map(|version| version.tx_hash);
        tracing::info!(step, last = ?last, "no longer wanted: not sending it again");
        Err(SendError::Abandoned {
            step: step.to_owned(),
            tx_hash: last.unwrap_or_default(),
        })
    }

    fn check_cap(&self, step: &str, required: u128) -> Result<(), SendError> {
        if required > self.config.max_fee_per_gas {
            tracing::warn!(
                step,
                required,
                cap = self.config.max_fee_per_gas,
                "fee above the cap: not sending"
            );
            return Err(SendError::FeeAboveCap {
                step: step.to_owned(),
                required,
                cap: self.config.max_fee_per_gas,
            });
        }
        Ok(())
    }

    /// Signs `request` with the given nonce, gas and fees and sends it raw.
    async fn broadcast(
        &self,
        step: &str,
        request: TransactionRequest,
        nonce: u64,
        gas_limit: u64,
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: u128,
    ) -> Result<SentTx, SendError> {
        let tx = request
            .clone()
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(max_fee_per_gas)
            .with_max_priority_fee_per_gas(max_priority_fee_per_gas)
            .build(&self.wallet)
            .await
            .map_err(|source| SendError::Sign {
                step: step.to_owned(),
                source,
            })?;
        let pending = self
            .provider
            .send_raw_transaction(&tx.encoded_2718())
            .await
            .map_err(|source| SendError::Rpc {
                step: format!("{step}: eth_sendRawTransaction"),
                source,
            })?;
        let tx_hash = *pending.tx_hash();
        tracing::debug!(step, %tx_hash, nonce, max_fee_per_gas, gas_limit, "transaction sent");
        Ok(SentTx {
            tx_hash,
            nonce,
            max_fee_per_gas,
            max_priority_fee_per_gas,
            gas_limit,
            request,
        })
    }
}

/// An open nonce sequence of a [`WalletSender`]: while it lives, no other component sends from
/// the wallet, and its transactions take consecutive nonces.
#[derive(Debug)]
pub struct Sequence<'a> {
    sender: &'a WalletSender,
    next_nonce: u64,
    _guard: MutexGuard<'a, ()>,
}

impl Sequence<'_> {
    /// Estimates gas (a revert is an [`SendError::Rpc`] and costs nothing: the nonce stays
    /// free), estimates EIP-1559 fees and refuses them above the cap, then signs and sends with
    /// the sequence's next nonce, without waiting for the receipt.
    pub async fn send(
        &mut self,
        step: &str,
        request: TransactionRequest,
    ) -> Result<SentTx, SendError> {
        let sender = self.sender;
        let request = request.with_from(sender.address);
        let rpc = |what: &str| {
            let step = format!("{step}: {what}");
            move |source| SendError::Rpc { step, source }
        };
        let gas = sender
            .provider
            .estimate_gas(request.clone())
            .await
            .map_err(rpc("eth_estimateGas"))?;
        let gas = gas.saturating_add(gas * sender.config.gas_margin_percent / 100);
        let fees = sender
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(rpc("fee estimation"))?;
        sender.check_cap(step, fees.max_fee_per_gas)?;
        let nonce = self.next_nonce;
        // Taken before the broadcast: if this future is cancelled (a caller's timeout) while the
        // node may already have the transaction, the sequence's next transaction must not reuse
        // the nonce and replace it. A broadcast refused outright gives it back.
        self.next_nonce += 1;
        let sent = sender
            .broadcast(
                step,
                request,
                nonce,
                gas,
                fees.max_fee_per_gas,
                fees.max_priority_fee_per_gas.min(fees.max_fee_per_gas),
            )
            .await;
        if sent.is_err() {
            self.next_nonce = nonce;
        }
        sent
    }
}

/// `value × 1.125`, rounded up, and at least one wei more.
fn bump(value: u128) -> u128 {
    value
        .saturating_add(value.div_ceil(8))
        .max(value.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::bump;

    #[test]
    fn bump_is_at_least_an_eighth_and_one_wei() {
        assert_eq!(bump(8), 9);
        assert_eq!(bump(9), 11);
        assert_eq!(bump(0), 1);
        assert_eq!(bump(1_000_000_000), 1_125_000_000);
        assert_eq!(bump(u128::MAX), u128::MAX);
    }
}

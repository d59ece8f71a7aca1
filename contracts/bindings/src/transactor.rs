//! Sends deployment and set-up transactions one at a time and records what each cost.
//!
//! Every step has a name; a failure names the step, so "RegistryCoordinator.initialize
//! reverted: …" reaches the user instead of a bare RPC error. The recorded steps (name,
//! address, gas) feed the deployment file and `BENCHMARKS.md`.

use alloy::{
    network::{EthereumWallet, ReceiptResponse, TransactionBuilder},
    primitives::{Address, B256, Bytes},
    providers::{DynProvider, PendingTransactionError, Provider, ProviderBuilder},
    rpc::{
        client::RpcClient,
        types::{TransactionReceipt, TransactionRequest},
    },
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportErrorKind},
};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};

use crate::sender::{ConfirmPolicy, SendError, WalletSender};

/// A provider that signs with `signer` and asks the node for the nonce of every transaction.
///
/// alloy's default nonce filler caches nonces locally. A transaction refused at gas estimation
/// (an expected revert, e.g. "already responded") still consumes a cached nonce, and a reorg
/// that drops a transaction leaves the cache ahead of the chain: either way the next
/// transaction carries a nonce gap and is never mined. Every one-off sender (deployer, CLI
/// commands, tests) builds its provider here; a running node's components all send through the
/// wallet's one [`WalletSender`], which reads the nonce from the node the same way.
pub async fn wallet_provider(
    url: &str,
    signer: PrivateKeySigner,
) -> Result<DynProvider, RpcError<TransportErrorKind>> {
    let client = RpcClient::builder().connect(url).await?;
    Ok(wallet_provider_on(client, signer))
}

/// How often [`automine_wallet_provider`] polls for a receipt.
pub const AUTOMINE_RECEIPT_POLL: Duration = Duration::from_millis(10);

/// [`wallet_provider`] for a chain that mines each transaction as it arrives (anvil's default:
/// the devnet's set-up, the tests): receipts are polled every [`AUTOMINE_RECEIPT_POLL`], not
/// alloy's 250 ms for a node on this machine, which was most of the time of a deployment or an
/// operator's registration there (`BENCHMARKS.md`). Not for a chain with block times: a
/// receipt wait there would poll a hundred times a second.
pub async fn automine_wallet_provider(
    url: &str,
    signer: PrivateKeySigner,
) -> Result<DynProvider, RpcError<TransportErrorKind>> {
    let client = RpcClient::builder()
        .connect(url)
        .await?
        .with_poll_interval(AUTOMINE_RECEIPT_POLL);
    Ok(wallet_provider_on(client, signer))
}

/// [`wallet_provider`] over an already built client, e.g. one with tower layers (metrics).
pub fn wallet_provider_on(client: RpcClient, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_client(client)
        .erased()
}

/// One transaction the deployer sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the transaction did, e.g. `DelegationManager implementation`.
    pub name: String,
    /// The contract it created, if it was a deployment.
    pub address: Option<Address>,
    /// Gas the transaction used.
    pub gas_used: u64,
}

/// A deployment or set-up transaction that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The node refused the transaction (including reverts found by gas estimation).
    #[error("{step}: the node refused the transaction: {source}")]
    Rpc {
        /// The step that failed.
        step: String,
        /// The node's answer.
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// The transaction was sent but its receipt never arrived.
    #[error("{step}: no receipt for the transaction: {source}")]
    Receipt {
        /// The step that failed.
        step: String,
        /// Why the receipt could not be fetched.
        #[source]
        source: PendingTransactionError,
    },
    /// The transaction was mined but reverted.
    #[error("{step}: transaction {tx_hash} reverted on-chain")]
    Reverted {
        /// The step that failed.
        step: String,
        /// The reverted transaction.
        tx_hash: B256,
    },
    /// Sending through the wallet's [`WalletSender`] failed (fee above the cap, no receipt,
    /// dropped, refused at estimation).
    #[error(transparent)]
    Send(#[from] SendError),
    /// A deployment receipt carried no contract address.
    #[error("{step}: the deployment receipt has no contract address")]
    NoContractAddress {
        /// The step that failed.
        step: String,
    },
}

impl TxError {
    /// The contract's custom error, when the node refused the transaction because it reverts
    /// with one of `E`'s errors (found at gas estimation).
    pub fn revert<E: alloy::sol_types::SolInterface>(&self) -> Option<E> {
        match self {
            Self::Rpc { source, .. } => source.as_error_resp()?.as_decoded_interface_error::<E>(),
            Self::Send(err) => err.revert(),
            _ => None,
        }
    }
}

/// Sends transactions from the provider's default signer, or through a wallet's
/// [`WalletSender`], and keeps the list of steps.
#[derive(Debug)]
pub struct Transactor<P> {
    provider: P,
    steps: Vec<Step>,
    /// The wallet's sender and how long each step may take, when a running node pays (its fee
    /// cap, nonce sequence and receipt waits); `None`: the provider's wallet fills and sends.
    sender: Option<(Arc<WalletSender>, ConfirmPolicy)>,
}

impl Transactor<DynProvider> {
    /// Sends every step through the wallet's shared `sender` (its fee cap and nonce sequence),
    /// each awaited under `policy`: what a running node uses, so its steps never race the
    /// node's other transactions for a nonce.
    pub fn through(sender: Arc<WalletSender>, policy: ConfirmPolicy) -> Self {
        Self {
            provider: sender.provider().clone(),
            steps: Vec::new(),
            sender: Some((sender, policy)),
        }
    }
}

impl<P: Provider> Transactor<P> {
    /// Wraps a provider that has a wallet (e.g. `ProviderBuilder::new().wallet(..)`).
    pub const fn new(provider: P) -> Self {
        Self {
            provider,
            steps: Vec::new(),
            sender: None,
        }
    }

    /// The provider transactions go through (reads too).
    pub const fn provider(&self) -> &P {
        &self.provider
    }

    /// Every step sent so far, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Total gas of all steps.
    pub fn total_gas(&self) -> u64 {
        self.steps.iter().map(|step| step.gas_used).sum()
    }

    /// Deploys `init_code` (creation bytecode with ABI-encoded constructor arguments appended).
    pub async fn deploy(
        &mut self,
        name: impl Into<String>,
        init_code: Vec<u8>,
    ) -> Result<Address, TxError> {
        let name = name.into();
        let request = TransactionRequest::default().with_deploy_code(Bytes::from(init_code));
        let receipt = self.send_request(&name, request).await?;
        let address = receipt
            .contract_address()
            .ok_or_else(|| TxError::NoContractAddress { step: name.clone() })?;
        self.record(name, Some(address), &receipt);
        Ok(address)
    }

    /// Calls `to` with ABI-encoded `calldata`.
    pub async fn call(
        &mut self,
        name: impl Into<String>,
        to: Address,
        calldata: Vec<u8>,
    ) -> Result<TransactionReceipt, TxError> {
        let name = name.into();
        let request = TransactionRequest::default()
            .with_to(to)
            .with_input(Bytes::from(calldata));
        let receipt = self.send_request(&name, request).await?;
        self.record(name, None, &receipt);
        Ok(receipt)
    }

    async fn send_request(
        &self,
        name: &str,
        request: TransactionRequest,
    ) -> Result<TransactionReceipt, TxError> {
        let receipt = if let Some((sender, policy)) = &self.sender {
            sender
                .send_and_confirm(name, request, policy)
                .await?
                .receipt
        } else {
            let pending = self
                .provider
                .send_transaction(request)
                .await
                .map_err(|source| TxError::Rpc {
                    step: name.to_owned(),
                    source,
                })?;
            pending
                .get_receipt()
                .await
                .map_err(|source| TxError::Receipt {
                    step: name.to_owned(),
                    source,
                })?
        };
        if !receipt.status() {
            return Err(TxError::Reverted {
                step: name.to_owned(),
                tx_hash: receipt.transaction_hash,
            });
        }
        Ok(receipt)
    }

    fn record(&mut self, name: String, address: Option<Address>, receipt: &TransactionReceipt) {
        tracing::debug!(step = %name, ?address, gas = receipt.gas_used, "deployment step done");
        self.steps.push(Step {
            name,
            address,
            gas_used: receipt.gas_used,
        });
    }
}

//! The checkpoint AVS as an ExEx (`avs-checkpoint`): makes a node an operator of the AVS. It is
//! built on the generic ExEx API of `avs-exex` only; the host crates know nothing of it.
//!
//! It runs on the host of the **settlement chain** (where the AVS contracts live) and reads the
//! task manager's `NewTaskCreated` / `TaskResponded` logs from the receipts in its notifications
//! — no separate log subscription. Checkpoints come from the **attested chain**, seen through an
//! [`AttestedChain`] view: fed by this ExEx itself when both chains are the same (the devnet
//! default), or by [`attested_chain_exex`] on a second host following another node.
//!
//! # Roles
//! - **Task generator** (optional, any number of nodes): creates a task for every `interval`-th
//!   attested block once it is `confirmations` deep and at the view's [`AttestDepth`]
//!   ([`TaskGenerator`], [`TaskCreator`]).
//! - **Operator**: for each canonical task that names the settlement block which created it
//!   (number and parent hash), takes the target block from the attested view once it is at the
//!   [`AttestDepth`], checks the operator's standing in the registries at the task's reference
//!   block ([`OperatorRegistry`]), signs the EIP-712 digest of (task, response)
//!   ([`avs_contracts::avs::attestation_digest`]) with BLS through the
//!   [`SlashingProtectionStore`], and sends [`AvsEvent::Signed`] to the p2p layer.
//!
//! # Invariants
//! - Never two different responses for one task: every signature goes through
//!   [`SlashingProtectionStore::sign_once`], which fsyncs its record before returning it.
//! - Reorgs: a task whose creation is reverted is dropped ([`AvsEvent::TaskReverted`]); a signed
//!   response whose target block leaves the canonical chain is withdrawn
//!   ([`AvsEvent::ResponseWithdrawn`]); both are re-derived from the new canonical chain.
//! - The store's low watermark only passes tasks closed for good: created, and answered or past
//!   their response window, at least `retention_blocks` deep (beyond any reorg the host
//!   delivers). Nothing below it is signed again, and its records are pruned.
//! - `FinishedHeight` trails the settlement tip by `retention_blocks` and stays below every task
//!   still being answered or not yet passed by the watermark, so a restart re-delivers whatever
//!   is not durably done; re-processing is idempotent (the store re-sends identical signatures,
//!   the contract refuses duplicate tasks).
//!
//! # Wiring (same-chain)
//! ```no_run
//! # async fn wire(ctx: avs_exex::ExExContext, key: avs_bls::SecretKey, registry: prometheus::Registry)
//! # -> eyre::Result<()> {
//! use alloy::primitives::address;
//! use avs_checkpoint::{
//!     AttestedChain, AvsConfig, AvsDeps, AvsMetrics, ContractTaskCreator, RegistryReader,
//!     SlashingProtectionStore, TaskBook, avs_exex,
//! };
//!
//! let config = AvsConfig::same_chain(
//!     31337,
//!     address!("0x1000000000000000000000000000000000000001"),
//!     address!("0x1000000000000000000000000000000000000002"),
//!     address!("0x1000000000000000000000000000000000000003"),
//! );
//! let (events, _to_p2p) = tokio::sync::mpsc::channel(256);
//! let deps = AvsDeps {
//!     registry: RegistryReader::new(
//!         ctx.provider.clone(),
//!         config.operator_state_retriever,
//!         config.registry_coordinator,
//!     ),
//!     attested: AttestedChain::new(config.attested_chain_id, 512),
//!     store: SlashingProtectionStore::open("slashing-protection.jsonl").await?,
//!     generator: None::<ContractTaskCreator>,
//!     bls_key: key,
//!     events,
//!     metrics: AvsMetrics::register(&registry)?,
//!     tasks: TaskBook::new(),
//!     config,
//! };
//! avs_exex(ctx, deps).await?;
//! # Ok(())
//! # }
//! ```

mod attested;
mod book;
mod config;
mod events;
mod generator;
mod interchange;
mod metrics;
mod operator;
mod registry;
mod run;
mod store;
#[cfg(test)]
mod tests;

pub use attested::{
    AttestDepth, AttestedBlock, AttestedChain, AttestedChanges, attested_chain_exex,
};
pub use book::{SubmitRefusal, TaskBook, TaskPhase, TaskRecord};
pub use config::{AvsConfig, ConfigError, DEVNET_CHAIN_IDS, FaultMode, GeneratorConfig};
pub use events::{AvsEvent, DisputedResponse, SignedResponse};
pub use generator::{ContractTaskCreator, CreateError, CreateOutcome, TaskCreator, TaskGenerator};
pub use interchange::{
    INTERCHANGE_FORMAT_VERSION, Interchange, InterchangeError, InterchangeMetadata, SignedTask,
};
pub use metrics::AvsMetrics;
pub use registry::{OperatorRegistry, OperatorStanding, RegistryError, RegistryReader};
pub use run::avs_exex;
pub use store::{
    ImportSummary, Signing, SlashingProtectionStore, StoreError, TaskKey, TaskManagerId,
};

use tokio::sync::mpsc;

use avs_exex::HostGone;

/// Everything the AVS ExEx needs besides its [`avs_exex::ExExContext`].
#[derive(Debug)]
pub struct AvsDeps<R, C> {
    /// Contracts, roles, limits.
    pub config: AvsConfig,
    /// The operator's BLS key (registered in the BLSApkRegistry).
    pub bls_key: avs_bls::SecretKey,
    /// The slashing-protection record (one per operator key; never delete it).
    pub store: SlashingProtectionStore,
    /// Operator standing at a task's reference block.
    pub registry: R,
    /// The task creator, present exactly when `config.generator` is.
    pub generator: Option<C>,
    /// The attested chain's view (fed by this ExEx in same-chain mode).
    pub attested: AttestedChain,
    /// Where events for the p2p layer go (bounded: a slow consumer slows the ExEx).
    pub events: mpsc::Sender<AvsEvent>,
    /// Metrics, registered by the caller.
    pub metrics: AvsMetrics,
    /// Where the ExEx publishes every task's lifecycle; keep a clone to read it.
    pub tasks: TaskBook,
}

/// Why the AVS ExEx stopped.
#[derive(Debug, thiserror::Error)]
pub enum AvsError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A chain id does not match the configuration.
    #[error("the {what} chain has id {got}, but the AVS config expects {expected}")]
    WrongChain {
        /// Which chain.
        what: &'static str,
        /// Configured id.
        expected: u64,
        /// Actual id.
        got: u64,
    },
    /// `config.generator` and the task creator must be given together.
    #[error("the task-generator role needs both `config.generator` and a task creator")]
    GeneratorMismatch,
    /// The slashing-protection store failed: signing stops rather than risk a double signature.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The notification stream failed.
    #[error("notification stream failed: {0}")]
    Notifications(eyre::Report),
    /// The host stopped accepting events.
    #[error(transparent)]
    HostGone(#[from] HostGone),
    /// The p2p layer dropped its receiver of AVS events.
    #[error("the receiver of AVS events (p2p layer) was dropped")]
    EventsClosed,
}

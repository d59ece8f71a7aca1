//! Peer-to-peer gossip of task-response signatures, with validation before forwarding,
//! stake-weighted aggregation and leaderless submitter choice.
//!
//! Replaces the seed systems' central aggregator: every operator node joins one gossipsub
//! topic per deployment ([`signature_topic`]), publishes its own BLS signature over each task
//! response ([`SignatureMessage`]) and validates every signature it receives before
//! forwarding it; for large operator sets, signatures travel within signing groups and the
//! deployment topic carries the groups' partial aggregates ([`GroupAggregate`]). Every node aggregates; the first node in a per-task, keccak-based ranking
//! submits, the next one only if the first stays silent for a slot ([`ranking`]).
//!
//! # Layers
//!
//! - [`wire`]: the fixed-layout, versioned, size-capped messages (a signature, a group's
//!   partial aggregate). Decoding is total.
//! - [`groups`]: how a large operator set (above [`groups::ONE_BY_ONE_MAX`] members) is split
//!   into signing groups whose members gossip their signatures on the group's topic, and
//!   [`group_duty`]: when a member publishes the group's aggregate on the deployment topic. A
//!   node then receives its group's signatures and a few aggregates per group instead of
//!   every signature.
//! - [`network`]: the libp2p swarm (TCP + QUIC, noise, yamux, identify, ping, Kademlia,
//!   optional mDNS on the local network — [`NetworkConfig::mdns`], off by default —, gossipsub
//!   with content-hash ids and manual validation, connection limits, bans) and its peer
//!   maintenance (a target peer count, a peer store, redials with back-off) behind a cloneable
//!   [`NetworkHandle`]. Inbound messages reach the application through a bounded
//!   queue and are forwarded only after the application reports [`Verdict::Accept`].
//! - [`tasks`]: the [`TaskTable`], one entry per open task holding everything validation and
//!   aggregation keep about it, driven by the AVS ExEx's task transitions (added, answered,
//!   reopened, closed for good, reverted).
//! - [`validation`]: the [`Validator`] (pure): known task (with a bounded buffer for
//!   signatures that arrive before their task), operator in the task's quorums, valid point,
//!   no duplicate, BLS verification of whole bursts in one batch (bisecting on failure); a
//!   second response of an operator to a task is kept as [`Equivocation`] evidence.
//! - [`operators`]: the plain-data [`OperatorSet`] / [`TaskInfo`] snapshots the registry
//!   reader provides.
//! - [`registry`]: the [`RegistryReader`]: operator sets at a reference block from EigenLayer's
//!   registries (stakes from `OperatorStateRetriever`, keys from `NewPubkeyRegistration`
//!   logs, sockets from `OperatorSocketUpdate` logs), cached; [`RegistryReader::task_info`]
//!   for a created task.
//! - [`socket`]: an operator's published socket, a multiaddress ending in its peer id
//!   ([`parse_socket`]): how nodes find each other from the chain, without bootnodes.
//! - [`aggregation`]: aggregation over the [`TaskTable`]: stake-weighted per quorum and per response digest,
//!   with an optional `aggregation_window`; yields an [`Aggregate`] (σ, signers' G2 APK,
//!   sorted non-signers, quorum APKs) for the submitter.
//! - [`ranking`]: who submits when, as pure functions plus a small scheduler.
//! - [`reachability`]: the [`Reachability`] of the operator set: the share of the latest
//!   task's stake this node heard a signature from recently, the partition signal.
//! - [`service`]: the [`SignatureService`] loop tying them together: the ExEx adds tasks,
//!   publishes its own signatures and reports on-chain outcomes; it receives
//!   [`ServiceEvent::QuorumReached`] and, when it is this node's turn,
//!   [`ServiceEvent::SubmitDue`] with the aggregate to submit.
//! - [`journal`]: the [`SignatureJournal`], a bounded append-only file of accepted signatures
//!   the service restores after a restart (re-validated when their task is added again).
//! - [`submit`]: the [`Submitter`] that sends `respondToTask` for an aggregate with the node's
//!   wallet, through the wallet's shared `WalletSender` (fresh nonce per send, fee cap,
//!   replacement of stuck transactions, immediate resend of a dropped one); a task someone
//!   already answered is [`SubmitOutcome::AlreadyResponded`].
//!
//! # Invariants
//!
//! - Nothing from the network can panic the node: decoding, validation and scoring handle
//!   every input as data.
//! - A message is forwarded only after the application accepted it; malformed messages and
//!   application rejects lower the forwarder's score, and repeated rejects ban it for
//!   `ban_duration`.
//! - Every queue is bounded; when the application lags, new messages are ignored (not
//!   forwarded) instead of stalling the swarm.
//!
//! # Example
//!
//! ```no_run
//! use avs_p2p::{
//!     Network, NetworkConfig, ServiceConfig, ServiceEvent, SignatureService, TaskInfo,
//!     load_or_create_identity,
//! };
//! # async fn run(task: TaskInfo, me: avs_p2p::OperatorId, own: avs_p2p::SignatureMessage)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! let key = load_or_create_identity(std::path::Path::new("data/p2p/node.key"))?;
//! let config = NetworkConfig::new(17000, alloy::primitives::Address::ZERO);
//! let network = Network::start(key, config).await?;
//! let service_config = ServiceConfig { local_operator: Some(me), ..ServiceConfig::default() };
//! let SignatureService { handle, mut events, .. } = SignatureService::spawn(network, service_config);
//!
//! handle.add_task(task).await?; // from the ExEx: TaskCreated + operator set at taskCreatedBlock
//! handle.publish_own(own).await?; // our signed response
//! // The events must be drained: those not taken yet wait in the service, in memory.
//! while let Some(event) = events.recv().await {
//!     match event {
//!         ServiceEvent::SubmitDue(aggregate) => {
//!             // Our turn: `Submitter::submit(&aggregate, &task)` sends respondToTask;
//!             // on TaskResponded (from anyone): handle.task_responded(index), and
//!             // handle.task_closed(index) once the response can no longer be reorged out
//!             // (until then the task's signers also decide later tasks' turns).
//!             let _ = aggregate;
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod aggregation;
pub mod config;
#[cfg(feature = "test-fixtures")]
pub mod fixtures;
pub mod group_duty;
pub mod groups;
pub mod identity;
pub mod journal;
pub mod metrics;
pub mod network;
pub mod operators;
pub mod penalty;
pub mod ranking;
pub mod ratelimit;
pub mod reachability;
pub mod registry;
pub mod service;
pub mod socket;
pub mod submit;
pub mod tasks;
pub mod topic;
pub mod validation;
pub mod wire;

pub use aggregation::{Aggregate, AggregationError, QuorumStake};
pub use config::{ConfigError, NetworkConfig};
pub use identity::{IdentityError, load_or_create_identity};
pub use journal::{JournalError, SignatureJournal};
pub use metrics::SignatureMetrics;
pub use network::{
    Channel, InboundId, InboundMessage, InboundMessages, Network, NetworkError, NetworkHandle,
    NetworkStatus, Traffic, Verdict,
};
pub use operators::{OperatorInfo, OperatorSet, QuorumNumber, Stake, TaskInfo};
pub use ranking::{SubmitScheduler, submit_priority, submitter_rank, turn_rank};
pub use reachability::Reachability;
pub use registry::{RegistryError, RegistryReader};
pub use service::{ServiceConfig, ServiceError, ServiceEvent, ServiceHandle, SignatureService};
pub use socket::{SocketError, parse_socket};
pub use submit::{SubmitError, SubmitMetrics, SubmitOutcome, Submitter};
pub use tasks::TaskTable;
pub use topic::signature_topic;
pub use validation::{
    Equivocation, IgnoreReason, Outcome, RejectReason, ResponseSignature, Validator,
    ValidatorConfig, Verified,
};
pub use wire::{
    GossipMessage, GroupAggregate, OperatorId, SignatureMessage, TaskResponse, WireError,
};

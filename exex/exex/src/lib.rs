//! A reth-shaped execution-extension (ExEx) API and a host that follows any Ethereum node over
//! JSON-RPC.
//!
//! reth's ExExes are futures that the node drives with canonical-state notifications. reth is not
//! available as a library here, so this crate provides the same programming model — the same
//! names and semantics — and a [`host`] that produces the notifications from any execution client
//! (WebSocket subscription with HTTP polling fallback).
//!
//! # Concepts
//! - [`ExExNotification`]: `ChainCommitted { new }`, `ChainReorged { old, new }`,
//!   `ChainReverted { old }`, each carrying a [`Chain`] of consecutive blocks with receipts.
//! - [`ExExEvent::FinishedHeight`]: the ExEx tells the host it durably processed everything up to
//!   a block. The host persists it; after a restart the ExEx receives only blocks above it.
//! - [`ExExContext`]: what an ExEx gets: its `head`, `config`, the `notifications` stream, the
//!   `events` sender and a `provider` for the followed node.
//!
//! # Invariants the host keeps
//! - Every delivered block passed [`verify::verify_block`] (header hash, transactions root,
//!   receipts root, logs bloom) and links to its parent; a failing block is never delivered.
//! - Notifications are written to the [`wal`] before delivery; per ExEx, the delivered sequence
//!   has no gap and no duplicate across restarts.
//! - Channels are bounded: a slow ExEx slows the host, memory stays bounded.
//!
//! # Crates
//! Split like reth's `exex` crates; none of them knows an application:
//! - `avs-exex-types`: [`chain`] and [`notification`], re-exported here.
//! - this crate: the API's [`context`], and the host: [`host`] (follow, fetch, reorgs, backfill,
//!   delivery, metrics), [`verify`] (roots and hashes), [`wal`] (notification log),
//!   [`finished`] (per-ExEx finished heights).
//! - `avs-exex-test-utils`: a context without a node, and synthetic blocks.
//!
//! ExExes built on the API are crates of their own (the checkpoint AVS is `avs-checkpoint`).
//!
//! # Example
//! An ExEx is an `async fn(ExExContext) -> eyre::Result<()>`:
//! ```
//! use avs_exex::{ExExContext, ExExEvent, ExExNotification};
//! use futures::TryStreamExt;
//!
//! async fn count_logs(mut ctx: ExExContext) -> eyre::Result<()> {
//!     let mut logs = 0usize;
//!     while let Some(notification) = ctx.notifications.try_next().await? {
//!         if let Some(reverted) = notification.reverted_chain() {
//!             logs -= reverted.logs_iter().count();
//!         }
//!         if let Some(committed) = notification.committed_chain() {
//!             logs += committed.logs_iter().count();
//!             ctx.events.send(ExExEvent::FinishedHeight(committed.tip().num_hash())).await?;
//!         }
//!     }
//!     Ok(())
//! }
//! ```

pub mod context;
pub mod finished;
pub mod host;
pub mod verify;
pub mod wal;

pub use avs_exex_types::{
    BlockReceipt, BlockTransaction, BlockWithReceipts, Chain, ChainError, ExExEvent, ExExHead,
    ExExNotification, StateRootCheck, chain, envelope, notification,
};
pub use context::{ExExConfig, ExExContext, ExExNotifications, HostGone};

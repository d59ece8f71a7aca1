//! The data an ExEx receives and sends, without the host: like reth's `reth-exex-types`.
//!
//! - [`Chain`] / [`BlockWithReceipts`]: consecutive canonical blocks with their receipts.
//! - [`ExExNotification`]: `ChainCommitted { new }`, `ChainReorged { old, new }`,
//!   `ChainReverted { old }`.
//! - [`ExExEvent::FinishedHeight`] and [`ExExHead`]: what an ExEx reports back, and where it
//!   resumes after a restart.
//!
//! - [`BlockTransaction`] / [`BlockReceipt`]: Ethereum's transaction and receipt types plus the
//!   OP stack's deposits (0x7e), so a host follows either kind of chain; [`rpc`] decodes a
//!   node's JSON answers into them and names any type it cannot decode.
//!
//! With the `test-utils` feature, [`test_utils`] builds synthetic, internally consistent blocks.
//!
//! Depends on alloy, op-alloy's consensus types and serde (with serde_json for node answers)
//! only: no host, no transport, no application.

pub mod chain;
pub mod envelope;
pub mod notification;
pub mod rpc;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

pub use chain::{BlockWithReceipts, Chain, ChainError, StateRootCheck};
pub use envelope::{BlockReceipt, BlockTransaction};
pub use notification::{ExExEvent, ExExHead, ExExNotification};

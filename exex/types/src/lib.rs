//! The data an ExEx receives and sends, without the host: like reth's `reth-exex-types`.
//!
//! - [`Chain`] / [`BlockWithReceipts`]: consecutive canonical blocks with their receipts.
//! - [`ExExNotification`]: `ChainCommitted { new }`, `ChainReorged { old, new }`,
//!   `ChainReverted { old }`.
//! - [`ExExEvent::FinishedHeight`] and [`ExExHead`]: what an ExEx reports back, and where it
//!   resumes after a restart.
//!
//! With the `test-utils` feature, [`test_utils`] builds synthetic, internally consistent blocks.
//!
//! Depends on alloy and serde only: no host, no RPC, no application.

pub mod chain;
pub mod notification;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

pub use chain::{BlockWithReceipts, Chain, ChainError};
pub use notification::{ExExEvent, ExExHead, ExExNotification};

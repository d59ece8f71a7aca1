//! Test kit, like reth's `reth-exex-test-utils`: an [`ExExContext`] without a node, wired to a
//! [`TestExExHandle`] that sends notifications and asserts on the ExEx's events, plus the
//! synthetic block generator of `avs-exex-types` ([`ChainBuilder`], [`TxSpec`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> eyre::Result<()> {
//! use avs_exex::ExExEvent;
//! use avs_exex_test_utils::{ChainBuilder, TxSpec, test_exex_context};
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
    eips::BlockNumHash,
    providers::{Provider, ProviderBuilder},
    transports::mock::Asserter,
};
use avs_exex::{Chain, ExExConfig, ExExContext, ExExEvent, ExExNotification, ExExNotifications};
pub use avs_exex_types::test_utils::{ChainBuilder, TEST_CHAIN_ID, TxSpec};
use tokio::sync::mpsc::{self, error::TryRecvError};

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
            state_root_required: false,
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

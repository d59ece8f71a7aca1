//! [`ExExContext`]: everything an ExEx gets from the host, as in reth.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use alloy::providers::DynProvider;
use futures::Stream;
use tokio::sync::mpsc;

use crate::notification::{ExExEvent, ExExHead, ExExNotification};

/// Static facts about the ExEx's installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExExConfig {
    /// The ExEx's id: names its finished-height record and its log lines.
    pub id: String,
    /// Chain id of the followed chain, as the node reported it at startup.
    pub chain_id: u64,
    /// True if the host runs state-root verification as `required`: an ExEx that signs state
    /// roots must then sign none above a block that is not
    /// [`StateRootCheck::Verified`](avs_exex_types::StateRootCheck::Verified).
    pub state_root_required: bool,
}

/// The context handed to an ExEx when it starts.
///
/// An ExEx is an `async fn(ExExContext) -> eyre::Result<()>`: it reads
/// [`ExExContext::notifications`] in order and reports progress with
/// [`ExExEvent::FinishedHeight`] on [`ExExContext::events`].
#[derive(Debug)]
pub struct ExExContext {
    /// The last block this ExEx finished in a previous run (`None` on first start); every
    /// notification it receives is above this block.
    pub head: Option<ExExHead>,
    /// Installation facts.
    pub config: ExExConfig,
    /// Where the ExEx reports progress. Bounded: a host that cannot keep up makes the ExEx wait.
    pub events: mpsc::Sender<ExExEvent>,
    /// Canonical-state notifications, in order.
    pub notifications: ExExNotifications,
    /// JSON-RPC access to the followed node (state reads, calls), for data notifications do not
    /// carry.
    pub provider: DynProvider,
}

impl ExExContext {
    /// Sends an event to the host, failing if the host has stopped.
    pub async fn send_event(&self, event: ExExEvent) -> Result<(), HostGone> {
        self.events.send(event).await.map_err(|_| HostGone)
    }
}

/// The host stopped and no longer receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ExEx host has stopped; no further events are accepted")]
pub struct HostGone;

/// The stream of notifications for one ExEx (reth's `ExExNotifications`).
///
/// Yields `eyre::Result` like reth's stream; the host only sends verified notifications, so
/// items are `Ok` today. The stream ends when the host stops.
#[derive(Debug)]
pub struct ExExNotifications {
    receiver: mpsc::Receiver<ExExNotification>,
}

impl ExExNotifications {
    /// Wraps the receiving half of the host's bounded channel.
    pub const fn new(receiver: mpsc::Receiver<ExExNotification>) -> Self {
        Self { receiver }
    }
}

impl Stream for ExExNotifications {
    type Item = eyre::Result<ExExNotification>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx).map(|item| item.map(Ok))
    }
}

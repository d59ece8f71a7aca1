//! Graceful shutdown: one [`Shutdown`] signal, triggered by SIGINT/SIGTERM (or by a component
//! that failed), that every long-running task awaits.
//!
//! ```no_run
//! # async fn demo() {
//! let shutdown = avs_node::shutdown::Shutdown::new();
//! shutdown.trigger_on_os_signals();
//! let for_server = shutdown.clone();
//! tokio::spawn(async move { for_server.wait().await; /* stop accepting, flush, return */ });
//! # }
//! ```

use std::sync::Arc;
use tokio::sync::watch;

/// A cloneable shutdown signal; once triggered it stays triggered.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Fires the signal: every current and future [`Self::wait`] returns.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once the signal has fired.
    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail while we hold it.
        let _ = receiver.wait_for(|fired| *fired).await;
    }

    /// Spawns a task that fires the signal on the first SIGINT (Ctrl-C) or SIGTERM (what
    /// systemd and container runtimes send). Must be called inside a tokio runtime.
    pub fn trigger_on_os_signals(&self) -> tokio::task::JoinHandle<()> {
        let shutdown = self.clone();
        tokio::spawn(async move {
            let name = os_signal().await;
            tracing::info!(signal = name, "shutting down");
            shutdown.trigger();
        })
    }
}

/// Waits for SIGINT or SIGTERM and names the one that came.
async fn os_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            // Without a SIGTERM handler Ctrl-C still works.
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiters_before_and_after_the_trigger_return() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.is_triggered());
        let early = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.wait().await }
        });
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), early)
            .await
            .expect("an early waiter returns")
            .expect("no panic");
        assert!(shutdown.is_triggered());
        tokio::time::timeout(Duration::from_secs(5), shutdown.clone().wait())
            .await
            .expect("a late waiter returns at once");
    }
}

//! Runs an axum router on a TCP address until the [`Shutdown`] signal fires; used for the
//! metrics and the Node API servers.

use crate::shutdown::Shutdown;
use axum::Router;
use std::net::SocketAddr;
use tokio::task::JoinHandle;

/// A running HTTP server.
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) and serves `router` until `shutdown` fires.
    /// `option` names the setting that chose the address, for the error message.
    pub async fn start(
        addr: SocketAddr,
        router: Router,
        shutdown: Shutdown,
        option: &str,
    ) -> eyre::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            eyre::eyre!("cannot listen on {addr} ({e}): choose another address with {option}")
        })?;
        let local_addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.wait().await })
                .await
        });
        Ok(Self { local_addr, task })
    }

    /// The bound address (the actual port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits for the server to stop (after the shutdown signal, once open requests finished).
    pub async fn stopped(self) -> eyre::Result<()> {
        self.task
            .await
            .map_err(|e| eyre::eyre!("HTTP server task: {e}"))?
            .map_err(|e| eyre::eyre!("HTTP server on {}: {e}", self.local_addr))
    }
}

//! EigenLayer's RPC metrics (`eigen_rpc_request_duration_seconds`, `eigen_rpc_request_total`)
//! as a tower layer on alloy's RPC client, so every JSON-RPC call the node's provider makes
//! (registry reads, task creation, submissions, balance) is timed by method without touching
//! the call sites.
//!
//! A batch is recorded once under the method `batch`. Failed calls are recorded too: a slow
//! or failing endpoint is what these metrics are for.

use crate::metrics::EigenMetrics;
use alloy::{
    rpc::json_rpc::{RequestPacket, ResponsePacket},
    transports::{TransportError, TransportFut},
};
use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

/// Labels every request of one client carries besides its method.
#[derive(Debug, Clone)]
struct ClientLabels {
    /// EigenLayer's `client_type`: which endpoint this is (`settlement`).
    client_type: String,
    /// EigenLayer's `version`: the node's `web3_clientVersion`, if known.
    version: String,
}

/// Records each request's duration and count in [`EigenMetrics`].
#[derive(Debug, Clone)]
pub struct RpcMetricsLayer {
    metrics: EigenMetrics,
    labels: Arc<ClientLabels>,
}

impl RpcMetricsLayer {
    /// A layer for the endpoint called `client_type`, whose node reports `version`.
    pub fn new(metrics: EigenMetrics, client_type: &str, version: &str) -> Self {
        Self {
            metrics,
            labels: Arc::new(ClientLabels {
                client_type: client_type.to_owned(),
                version: version.to_owned(),
            }),
        }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RpcMetricsLayer`] wraps a transport in.
#[derive(Debug, Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    layer: RpcMetricsLayer,
}

impl<S> tower::Service<RequestPacket> for RpcMetricsService<S>
where
    S: tower::Service<
            RequestPacket,
            Response = ResponsePacket,
            Error = TransportError,
            Future = TransportFut<'static>,
        >,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let method = match &request {
            RequestPacket::Single(call) => call.method().to_owned(),
            RequestPacket::Batch(_) => "batch".to_owned(),
        };
        let layer = self.layer.clone();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let labels = [
                method.as_str(),
                layer.labels.client_type.as_str(),
                layer.labels.version.as_str(),
            ];
            layer
                .metrics
                .rpc_request_duration_seconds
                .with_label_values(&labels)
                .observe(started.elapsed().as_secs_f64());
            layer
                .metrics
                .rpc_request_total
                .with_label_values(&labels)
                .inc();
            result
        })
    }
}

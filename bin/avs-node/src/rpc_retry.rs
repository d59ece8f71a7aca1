//! Transient RPC failures are retried in the transport, for every call of the node's provider
//! (registry reads, task creation, submissions), with alloy's [`RetryBackoffLayer`]: a node
//! whose endpoint restarts or briefly sheds load keeps running instead of stopping on the first
//! refused connection.
//!
//! Transient: the endpoint cannot be reached or its connection broke (alloy reports those as
//! custom transport errors, or `BackendGone`), HTTP 429/502/503/504, and what alloy's own rate
//! limit policy recognises (JSON-RPC rate-limit codes and `Retry-After`). Everything else, e.g.
//! a revert, an unknown method or an answer that does not decode, is returned at once: retrying
//! it would give the same answer, and the caller must see it to stop with a clear message.
//! After [`MAX_RETRIES`] retries (about [`MAX_RETRIES`] × [`BACKOFF`]) the last error is
//! returned as permanent.
//!
//! Not retried here: sending a transaction (`eth_sendRawTransaction`, `eth_sendTransaction`),
//! whose first try may have reached the node before the connection broke (a retry would then
//! answer "already known" or "nonce too low" and hide the sent transaction; the senders track
//! their transactions themselves), and a `-32005` answer about a block range or result count,
//! which is the provider's limit, not a transient refusal (the log scan shrinks its range).

use alloy::{
    rpc::json_rpc::{RequestPacket, ResponsePacket},
    transports::{
        TransportError, TransportErrorKind, TransportFut,
        layers::{RateLimitRetryPolicy, RetryBackoffLayer, RetryBackoffService, RetryPolicy},
    },
};
use std::{
    task::{Context, Poll},
    time::Duration,
};

/// Retries of one request before its error is returned.
pub const MAX_RETRIES: u32 = 30;
/// Pause between retries (alloy's layer waits a fixed time, or what the endpoint asks for).
pub const BACKOFF: Duration = Duration::from_secs(1);
/// No client-side compute-unit budget: the endpoint's answers (429) throttle us.
const COMPUTE_UNITS_PER_SECOND: u64 = u64::MAX;

/// Alloy's rate-limit policy, plus unreachable endpoints and gateway errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransientPolicy;

impl RetryPolicy for TransientPolicy {
    fn should_retry(&self, error: &TransportError) -> bool {
        !is_range_limit(error)
            && (is_transient(error) || RateLimitRetryPolicy::default().should_retry(error))
    }

    fn backoff_hint(&self, error: &TransportError) -> Option<Duration> {
        RateLimitRetryPolicy::default().backoff_hint(error)
    }
}

/// A `-32005` that names a range or result limit: the request is too large, not too early.
fn is_range_limit(error: &TransportError) -> bool {
    match error {
        TransportError::ErrorResp(payload) if payload.code == -32005 => {
            let message = payload.message.to_lowercase();
            ["range", "result", "block"]
                .iter()
                .any(|word| message.contains(word))
        }
        _ => false,
    }
}

fn is_transient(error: &TransportError) -> bool {
    match error {
        TransportError::Transport(kind) => match kind {
            TransportErrorKind::HttpError(http) => matches!(http.status, 429 | 502 | 503 | 504),
            TransportErrorKind::Custom(_) | TransportErrorKind::BackendGone => true,
            _ => false,
        },
        _ => false,
    }
}

/// The layer for the node's RPC clients: [`TransientPolicy`] retries, except for sends.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryLayer;

impl<S: Clone> tower::Layer<S> for RetryLayer {
    type Service = RetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            retrying: retry_backoff(MAX_RETRIES, BACKOFF).layer(inner.clone()),
            once: inner,
        }
    }
}

/// Requests through alloy's retry service, sends straight to the transport.
#[derive(Debug, Clone)]
pub struct RetryService<S> {
    retrying: RetryBackoffService<S, TransientPolicy>,
    once: S,
}

impl<S> tower::Service<RequestPacket> for RetryService<S>
where
    S: tower::Service<
            RequestPacket,
            Response = ResponsePacket,
            Error = TransportError,
            Future = TransportFut<'static>,
        > + Clone
        + Send
        + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.once.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        if is_send(&request) {
            self.once.call(request)
        } else {
            self.retrying.call(request)
        }
    }
}

/// Whether the request sends a transaction (alone or in a batch).
fn is_send(request: &RequestPacket) -> bool {
    request
        .method_names()
        .any(|method| matches!(method, "eth_sendRawTransaction" | "eth_sendTransaction"))
}

fn retry_backoff(retries: u32, backoff: Duration) -> RetryBackoffLayer<TransientPolicy> {
    RetryBackoffLayer::new_with_policy(
        retries,
        u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        COMPUTE_UNITS_PER_SECOND,
        TransientPolicy,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{
        providers::{Provider, ProviderBuilder},
        rpc::client::RpcClient,
    };
    use axum::{Json, Router, http::StatusCode, routing::post};
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    /// A JSON-RPC endpoint that fails its first `failures` requests with `status`, then answers
    /// `eth_chainId` (and an unknown-method error for anything else).
    async fn flaky(failures: u32, status: StatusCode) -> (String, Arc<AtomicU32>) {
        let seen = Arc::new(AtomicU32::new(0));
        let counter = seen.clone();
        let app = Router::new().route(
            "/",
            post(move |Json(request): Json<serde_json::Value>| {
                let counter = counter.clone();
                async move {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    if n < failures {
                        return (status, Json(serde_json::json!({})));
                    }
                    let id = request["id"].clone();
                    let body = if request["method"] == "eth_chainId" {
                        serde_json::json!({"jsonrpc": "2.0", "id": id, "result": "0x7a69"})
                    } else if request["method"] == "eth_getLogs" {
                        serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32005,
                            "message": "query exceeds max block range 10000"}})
                    } else {
                        serde_json::json!({"jsonrpc": "2.0", "id": id,
                            "error": {"code": -32601, "message": "method not found"}})
                    };
                    (StatusCode::OK, Json(body))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, seen)
    }

    fn provider(url: &str) -> impl Provider {
        let client = RpcClient::builder()
            .layer(retry_backoff(3, Duration::from_millis(10)))
            .http(url.parse().unwrap());
        ProviderBuilder::new().connect_client(client)
    }

    #[tokio::test]
    async fn gateway_errors_are_retried_until_the_endpoint_answers() {
        let (url, seen) = flaky(2, StatusCode::BAD_GATEWAY).await;
        assert_eq!(provider(&url).get_chain_id().await.unwrap(), 31337);
        assert_eq!(seen.load(Ordering::SeqCst), 3, "two failures, one answer");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_retried_then_reported() {
        // A port nobody listens on: every attempt is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = provider(&format!("http://127.0.0.1:{port}"))
            .get_chain_id()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("Max retries exceeded"), "{err}");
    }

    /// The node's own stack: a send is never repeated (its first try may have reached the
    /// node), and a provider's range limit is returned at once for the log scan to shrink.
    #[tokio::test]
    async fn sends_and_range_limits_are_not_retried() {
        let (url, seen) = flaky(5, StatusCode::BAD_GATEWAY).await;
        let client = RpcClient::builder()
            .layer(RetryLayer)
            .http(url.parse().unwrap());
        let provider = ProviderBuilder::new().connect_client(client);
        let sent = provider
            .raw_request::<_, serde_json::Value>("eth_sendRawTransaction".into(), ["0x00"])
            .await;
        assert!(sent.is_err());
        assert_eq!(seen.load(Ordering::SeqCst), 1, "a send is tried once");

        let (url, seen) = flaky(0, StatusCode::OK).await;
        let client = RpcClient::builder()
            .layer(RetryLayer)
            .http(url.parse().unwrap());
        let provider = ProviderBuilder::new().connect_client(client);
        let err = provider
            .get_logs(&alloy::rpc::types::Filter::new())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("max block range"), "{err}");
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1,
            "a range limit is not retried"
        );
    }

    #[tokio::test]
    async fn permanent_errors_are_returned_at_once() {
        let (url, seen) = flaky(0, StatusCode::OK).await;
        let err = provider(&url).get_block_number().await.unwrap_err();
        assert!(err.to_string().contains("method not found"), "{err}");
        assert_eq!(seen.load(Ordering::SeqCst), 1, "not retried");
        let (url, seen) = flaky(10, StatusCode::BAD_REQUEST).await;
        assert!(provider(&url).get_chain_id().await.is_err());
        assert_eq!(seen.load(Ordering::SeqCst), 1, "a 400 is not retried");
    }
}

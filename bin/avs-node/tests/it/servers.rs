//! The metrics and Node API servers answered over real HTTP on 127.0.0.1:0, with health
//! transitions 200 → 206 → 503 and a graceful stop on the shutdown signal.

use avs_node::{
    api::{self, NodeInfo},
    health::{HealthRegistry, ServiceStatus},
    metrics::{self, EigenMetrics},
    server::HttpServer,
    shutdown::Shutdown,
};
use std::{net::SocketAddr, time::Duration};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 GET: (status code, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("answer within 10 s");
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn node_api_reports_live_health() {
    let shutdown = Shutdown::new();
    let health = HealthRegistry::default();
    let host = health.register("host", "chain follower", "follows the attested chain");
    let p2p = health.register("p2p", "gossip", "libp2p signature gossip");
    let server = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        api::router(NodeInfo::new("test-node"), health.clone()),
        shutdown.clone(),
        "--node-api-addr",
    )
    .await
    .unwrap();
    let addr = server.local_addr();

    let (status, body) = get(addr, "/eigen/node").await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["node_name"], "test-node");
    assert_eq!(info["spec_version"], "v0.0.1");
    assert_eq!(
        info["node_version"],
        concat!("v", env!("CARGO_PKG_VERSION"))
    );

    assert_eq!(
        get(addr, "/eigen/node/health").await.0,
        503,
        "all initializing"
    );
    assert_eq!(get(addr, "/eigen/node/services/host/health").await.0, 206);
    host.set(ServiceStatus::Up);
    assert_eq!(
        get(addr, "/eigen/node/health").await.0,
        206,
        "partially healthy"
    );
    assert_eq!(get(addr, "/eigen/node/services/host/health").await.0, 200);
    p2p.set(ServiceStatus::Up);
    assert_eq!(get(addr, "/eigen/node/health").await.0, 200);
    host.set(ServiceStatus::Down);
    p2p.set(ServiceStatus::Down);
    assert_eq!(get(addr, "/eigen/node/health").await.0, 503);
    assert_eq!(get(addr, "/eigen/node/services/p2p/health").await.0, 503);
    assert_eq!(get(addr, "/eigen/node/services/nope/health").await.0, 404);

    let (status, body) = get(addr, "/eigen/node/services").await;
    assert_eq!(status, 200);
    let services: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        services,
        serde_json::json!({"services": [
            {"id": "host", "name": "chain follower", "description": "follows the attested chain", "status": "Down"},
            {"id": "p2p", "name": "gossip", "description": "libp2p signature gossip", "status": "Down"},
        ]})
    );

    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), server.stopped())
        .await
        .expect("stops within 10 s of the signal")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let shutdown = Shutdown::new();
    let registry = prometheus::Registry::new();
    let eigen = EigenMetrics::register(&registry).unwrap();
    eigen.performance_score.set(87.0);
    let server = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        metrics::router(registry),
        shutdown.clone(),
        "--metrics-addr",
    )
    .await
    .unwrap();
    let (status, body) = get(server.local_addr(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE eigen_performance_score gauge"),
        "{body}"
    );
    assert!(
        body.contains("eigen_performance_score{avs_name=\"avs-exex\"} 87"),
        "{body}"
    );

    let taken = HttpServer::start(
        server.local_addr(),
        axum::Router::new(),
        shutdown.clone(),
        "--metrics-addr",
    )
    .await;
    let message = taken.unwrap_err().to_string();
    assert!(
        message.contains("choose another address with --metrics-addr"),
        "{message}"
    );
    shutdown.trigger();
    server.stopped().await.unwrap();
}

//! The EigenLayer AVS Node API, spec v0.0.1: what node this is and whether it is healthy.
//!
//! | route | answer |
//! |---|---|
//! | `GET /eigen/node` | `{"node_name", "spec_version", "node_version"}` |
//! | `GET /eigen/node/health` | 200 healthy, 206 partially healthy, 503 unhealthy |
//! | `GET /eigen/node/services` | `{"services": [{"id", "name", "description", "status"}]}` |
//! | `GET /eigen/node/services/{id}/health` | 200 up, 206 initializing, 503 down, 404 unknown id |
//!
//! Health is read live from the [`HealthRegistry`] the components update.

use crate::health::{HealthRegistry, NodeHealth, ServiceInfo, ServiceStatus};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use serde::Serialize;

/// The Node API spec version this server implements.
pub const SPEC_VERSION: &str = "v0.0.1";

/// `GET /eigen/node`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// The node's name (operators may run several; set with `--node-name`).
    pub node_name: String,
    /// [`SPEC_VERSION`].
    pub spec_version: String,
    /// This build's version.
    pub node_version: String,
}

impl NodeInfo {
    /// This build's info under `node_name`.
    pub fn new(node_name: impl Into<String>) -> Self {
        Self {
            node_name: node_name.into(),
            spec_version: SPEC_VERSION.to_owned(),
            node_version: concat!("v", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

#[derive(Clone)]
struct ApiState {
    info: NodeInfo,
    health: HealthRegistry,
}

#[derive(Serialize)]
struct Services {
    services: Vec<ServiceInfo>,
}

/// The Node API routes.
pub fn router(info: NodeInfo, health: HealthRegistry) -> Router {
    Router::new()
        .route(
            "/eigen/node",
            get(|State(s): State<ApiState>| async move { Json(s.info) }),
        )
        .route(
            "/eigen/node/health",
            get(|State(s): State<ApiState>| async move {
                match s.health.node_health() {
                    NodeHealth::Healthy => StatusCode::OK,
                    NodeHealth::PartiallyHealthy => StatusCode::PARTIAL_CONTENT,
                    NodeHealth::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
                }
            }),
        )
        .route(
            "/eigen/node/services",
            get(|State(s): State<ApiState>| async move {
                Json(Services {
                    services: s.health.services(),
                })
            }),
        )
        .route(
            "/eigen/node/services/{id}/health",
            get(
                |State(s): State<ApiState>, Path(id): Path<String>| async move {
                    match s.health.service(&id).map(|service| service.status) {
                        Some(ServiceStatus::Up) => StatusCode::OK,
                        Some(ServiceStatus::Initializing) => StatusCode::PARTIAL_CONTENT,
                        Some(ServiceStatus::Down) => StatusCode::SERVICE_UNAVAILABLE,
                        None => StatusCode::NOT_FOUND,
                    }
                },
            ),
        )
        .with_state(ApiState { info, health })
}

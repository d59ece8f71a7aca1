//! Live component health for the EigenLayer AVS Node API.
//!
//! Each component (chain follower, AVS ExEx, p2p network, submitter, ...) registers once with the
//! [`HealthRegistry`] and keeps the [`ComponentHealth`] handle it gets back, flipping it between
//! `Initializing`, `Up` and `Down` as its state changes. The Node API reads the registry on every
//! request, so the answer is always current.
//!
//! Node health (`/eigen/node/health`) is derived from the services ([`NodeHealth::of`]): all
//! `Up` → healthy (200), none `Up` → unhealthy (503), otherwise partially healthy (206).
//!
//! ```
//! use avs_node::health::{HealthRegistry, NodeHealth, ServiceStatus};
//! let registry = HealthRegistry::default();
//! let p2p = registry.register("p2p", "gossip", "libp2p signature gossip");
//! assert_eq!(registry.node_health(), NodeHealth::Unhealthy);
//! p2p.set(ServiceStatus::Up);
//! assert_eq!(registry.node_health(), NodeHealth::Healthy);
//! ```

use serde::Serialize;
use std::sync::{Arc, RwLock};

/// A service's state, spelled as the Node API spec spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ServiceStatus {
    /// Working.
    Up,
    /// Failed or stopped.
    Down,
    /// Starting, syncing or reconnecting.
    Initializing,
}

/// One service as `/eigen/node/services` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// Stable identifier, used in `/eigen/node/services/{id}/health`.
    pub id: String,
    /// Short name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Current state.
    pub status: ServiceStatus,
}

/// The node's overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeHealth {
    /// Every service is up (200).
    Healthy,
    /// Some services are up, others are down or initializing (206).
    PartiallyHealthy,
    /// No service is up (503).
    Unhealthy,
}

impl NodeHealth {
    /// Healthy when every service is up (or none is registered yet, i.e. nothing can be wrong),
    /// unhealthy when none is up, partially healthy otherwise.
    pub fn of(services: &[ServiceInfo]) -> Self {
        let up = services
            .iter()
            .filter(|s| s.status == ServiceStatus::Up)
            .count();
        if up == services.len() {
            Self::Healthy
        } else if up == 0 {
            Self::Unhealthy
        } else {
            Self::PartiallyHealthy
        }
    }
}

/// The set of services of this node; cheap to clone, shared by all components.
#[derive(Debug, Clone, Default)]
pub struct HealthRegistry {
    services: Arc<RwLock<Vec<ServiceInfo>>>,
}

impl HealthRegistry {
    /// Adds a service in state `Initializing` and returns the handle that updates it.
    ///
    /// # Panics
    /// If `id` is already registered: ids are fixed by the code, so that is a wiring bug.
    pub fn register(&self, id: &str, name: &str, description: &str) -> ComponentHealth {
        let mut services = self.write();
        assert!(
            services.iter().all(|s| s.id != id),
            "health service id `{id}` registered twice"
        );
        services.push(ServiceInfo {
            id: id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            status: ServiceStatus::Initializing,
        });
        ComponentHealth {
            registry: self.clone(),
            index: services.len() - 1,
        }
    }

    /// A snapshot of every service, in registration order.
    pub fn services(&self) -> Vec<ServiceInfo> {
        self.read().clone()
    }

    /// One service's current state.
    pub fn service(&self, id: &str) -> Option<ServiceInfo> {
        self.read().iter().find(|s| s.id == id).cloned()
    }

    /// The node's overall health now.
    pub fn node_health(&self) -> NodeHealth {
        NodeHealth::of(&self.read())
    }

    // A panic while holding the lock cannot leave a half-written `ServiceInfo` (every write is
    // one field assignment), so a poisoned lock is still consistent.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<ServiceInfo>> {
        self.services.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<ServiceInfo>> {
        self.services.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A component's handle on its own entry in the [`HealthRegistry`].
#[derive(Debug, Clone)]
pub struct ComponentHealth {
    registry: HealthRegistry,
    index: usize,
}

impl ComponentHealth {
    /// Sets this component's state.
    pub fn set(&self, status: ServiceStatus) {
        self.registry.write()[self.index].status = status;
    }

    /// This component's current state.
    pub fn status(&self) -> ServiceStatus {
        self.registry.read()[self.index].status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_health_follows_the_services() {
        let registry = HealthRegistry::default();
        assert_eq!(
            registry.node_health(),
            NodeHealth::Healthy,
            "nothing registered"
        );
        let host = registry.register("host", "chain follower", "follows the node");
        let p2p = registry.register("p2p", "gossip", "signature gossip");
        assert_eq!(registry.node_health(), NodeHealth::Unhealthy);
        host.set(ServiceStatus::Up);
        assert_eq!(registry.node_health(), NodeHealth::PartiallyHealthy);
        p2p.set(ServiceStatus::Up);
        assert_eq!(registry.node_health(), NodeHealth::Healthy);
        host.set(ServiceStatus::Down);
        assert_eq!(registry.node_health(), NodeHealth::PartiallyHealthy);
        p2p.set(ServiceStatus::Down);
        assert_eq!(registry.node_health(), NodeHealth::Unhealthy);
        assert_eq!(
            registry.service("p2p").map(|s| s.status),
            Some(ServiceStatus::Down)
        );
        assert_eq!(registry.service("nope"), None);
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_ids_are_a_wiring_bug() {
        let registry = HealthRegistry::default();
        let _a = registry.register("host", "a", "a");
        let _b = registry.register("host", "b", "b");
    }
}

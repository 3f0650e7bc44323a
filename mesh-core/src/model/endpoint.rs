//! Endpoints: the addresses that serve a cluster right now.

use std::net::SocketAddr;

/// A ClusterLoadAssignment resource: the endpoints of one cluster.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClusterLoadAssignment {
    /// The resource name (the cluster's `eds_service_name`).
    pub cluster_name: String,
    /// The endpoints, in no particular order.
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its load-balancing weight (at least 1).
    pub weight: u32,
    /// What the control service says of its health.
    pub health: HealthStatus,
}

/// What the control service says of an endpoint's health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Not known; treated as healthy (the xDS default).
    #[default]
    Unknown,
    /// Healthy.
    Healthy,
    /// Unhealthy: takes no new requests.
    Unhealthy,
    /// Draining: takes no new requests, in-flight ones finish.
    Draining,
}

impl HealthStatus {
    /// Whether new requests may go to an endpoint in this state (gRPC: UNKNOWN and HEALTHY).
    pub fn is_usable(self) -> bool {
        matches!(self, HealthStatus::Unknown | HealthStatus::Healthy)
    }
}

//! The type URLs of the xDS v3 resources the mesh speaks.

/// `envoy.config.listener.v3.Listener` (LDS).
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// `envoy.config.route.v3.RouteConfiguration` (RDS).
pub const ROUTE_CONFIGURATION: &str =
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
/// `envoy.config.cluster.v3.Cluster` (CDS).
pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// `envoy.config.endpoint.v3.ClusterLoadAssignment` (EDS).
pub const CLUSTER_LOAD_ASSIGNMENT: &str =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/// `envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`.
pub const HTTP_CONNECTION_MANAGER: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
/// `envoy.extensions.filters.http.router.v3.Router`.
pub const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
/// `xds.type.v3.TypedStruct`, which carries our own extension configs.
pub const TYPED_STRUCT: &str = "type.googleapis.com/xds.type.v3.TypedStruct";
/// `envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin`.
pub const ROUND_ROBIN: &str =
    "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin";
/// Our P2C peak-EWMA balancer, carried inside a [`TYPED_STRUCT`].
pub const P2C_PEAK_EWMA: &str = "type.googleapis.com/mesh.lb.v1.P2cPeakEwma";
/// The prefix of the inbound Listener name a server asks for (gRFC A36), followed by `IP:PORT`.
pub const SERVER_LISTENER_PREFIX: &str = "grpc/server?xds.resource.listening_address=";

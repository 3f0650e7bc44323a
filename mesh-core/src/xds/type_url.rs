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
/// `envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash` (gRFC A42).
pub const RING_HASH: &str =
    "type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash";
/// `envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest` (gRFC A48).
pub const LEAST_REQUEST: &str =
    "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest";
/// `envoy.extensions.filters.http.fault.v3.HTTPFault`, the fault injection filter (gRFC A33).
pub const HTTP_FAULT: &str = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
/// `envoy.extensions.filters.http.rbac.v3.RBAC`, the authorization filter (gRFC A41).
pub const HTTP_RBAC: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
/// `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`, a server's token bucket.
pub const LOCAL_RATE_LIMIT: &str =
    "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
/// `envoy.config.route.v3.FilterConfig`, which may wrap a `typed_per_filter_config` entry.
pub const FILTER_CONFIG: &str = "type.googleapis.com/envoy.config.route.v3.FilterConfig";
/// `envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`: a retry avoids the
/// endpoints already tried.
pub const PREVIOUS_HOSTS: &str =
    "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";
/// Our P2C peak-EWMA balancer, carried inside a [`TYPED_STRUCT`].
pub const P2C_PEAK_EWMA: &str = "type.googleapis.com/mesh.lb.v1.P2cPeakEwma";
/// The prefix of the inbound Listener name a server asks for (gRFC A36), followed by `IP:PORT`.
pub const SERVER_LISTENER_PREFIX: &str = "grpc/server?xds.resource.listening_address=";

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::route::v3::FilterConfig;
    use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
    use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit;
    use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac;
    use envoy_types::pb::envoy::extensions::load_balancing_policies::{
        least_request::v3::LeastRequest, ring_hash::v3::RingHash, round_robin::v3::RoundRobin,
    };
    use envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
    use prost::Name;

    use super::*;

    #[test]
    fn extension_urls_name_the_generated_messages() {
        assert_eq!(RING_HASH, RingHash::type_url());
        assert_eq!(LEAST_REQUEST, LeastRequest::type_url());
        assert_eq!(ROUND_ROBIN, RoundRobin::type_url());
        assert_eq!(HTTP_FAULT, HttpFault::type_url());
        assert_eq!(HTTP_RBAC, Rbac::type_url());
        assert_eq!(LOCAL_RATE_LIMIT, LocalRateLimit::type_url());
        assert_eq!(FILTER_CONFIG, FilterConfig::type_url());
        assert_eq!(PREVIOUS_HOSTS, PreviousHostsPredicate::type_url());
    }
}

//! Model to wire: the xDS v3 resources mesh-control serves.
//!
//! Each function turns one validated [`crate::model`] type into the protobuf message that
//! unmodified gRPC proxyless clients (grpc-go, grpc-java, C-core) accept, and that our own
//! client decodes back into the same model. The choices that matter to those clients:
//!
//! - a client [`Listener`](crate::model::Listener) is an `ApiListener` holding an
//!   `HttpConnectionManager` whose last HTTP filter is the router (gRFC A39);
//! - a server listener (gRFC A36) has a default filter chain whose HTTP connection manager
//!   carries its route table inline (with TLS when strict; when permissive, plaintext, plus a
//!   TLS chain for connections whose `transport_protocol` is `tls`);
//! - a Cluster is of type EDS over ADS and lists our own balancer first and `round_robin` after
//!   it, so clients that do not know ours fall back (gRFC A52);
//! - mTLS is a TLS transport socket whose certificates come from the client's `default`
//!   certificate provider instance (gRFC A29): on a Cluster, with the accepted server SPIFFE
//!   IDs; on a server listener, requiring a client certificate;
//! - a server listener's authorization is RBAC HTTP filters (gRFC A41) and its rate limit
//!   Envoy's local rate limit filter, marked optional since gRPC servers lack it;
//! - a route's timeout, retries and ring-hash key are in its `RouteAction` (gRFCs A31, A44,
//!   A42), its faults in `typed_per_filter_config` for the fault filter that every client
//!   listener lists before the router (gRFC A33);
//! - a cluster's breaker, outlier detection and balancer are Envoy's fields (gRFCs A32, A50,
//!   A42, A48); the retry budget, which xDS has no field for, is in its `mesh.dev` metadata;
//! - a ClusterLoadAssignment puts every endpoint in one locality of weight 1, since gRPC skips
//!   localities without a weight.
//!
//! [`to_any`] wraps any of them for a `DiscoveryResponse`.

mod authz;
mod cluster;
mod cluster_policy;
mod endpoint;
mod fault;
mod lb;
mod listener;
mod rate_limit;
mod route;
mod route_policy;
mod tls;

use std::collections::HashMap;
use std::hash::{Hash, RandomState};
use std::net::SocketAddr;
use std::sync::LazyLock;

use envoy_types::pb::envoy::config::core::v3::{
    Address, AggregatedConfigSource, ApiVersion, ConfigSource, SocketAddress, address,
    config_source::ConfigSourceSpecifier, socket_address::PortSpecifier,
};
use envoy_types::pb::google::protobuf::{Any, Duration};
use prost::{Message, Name};

pub(crate) use cluster::HTTP_PROTOCOL_OPTIONS;
pub use cluster::{TypedStruct, cluster};
pub(crate) use cluster_policy::{
    BUDGET_MIN_PER_SECOND, BUDGET_RATIO, BUDGET_TTL_SECONDS, MESH_METADATA, RETRY_BUDGET,
};
pub use endpoint::cluster_load_assignment;
pub(crate) use listener::TLS_TRANSPORT_PROTOCOL;
pub use listener::listener;
pub use route::route_config;
pub(crate) use route_policy::{CONNECT_FAILURE, RETRIABLE_STATUS_CODES, grpc_retry_on};
pub(crate) use tls::TLS_TRANSPORT_SOCKET;

/// Wraps a message in an `Any` whose type URL names the message's type
/// (for resources, one of [`crate::xds::type_url`]).
pub fn to_any<M: Message + Name>(message: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: message.encode_to_vec(),
    }
}

/// The one hasher state of every map the encoder builds.
///
/// A protobuf map is a `HashMap`, encoded in its iteration order, which depends on the map's
/// hasher keys; `HashMap::new` draws fresh keys for each map. Built from this one state, maps
/// with equal entries inserted in the same order iterate, and so encode, alike: equal resources
/// encode to equal bytes, which is how mesh-control tells which resources changed.
static STABLE: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// A map of `entries` that encodes the same for the same entries; see [`STABLE`].
fn stable_map<K: Eq + Hash, V>(entries: impl IntoIterator<Item = (K, V)>) -> HashMap<K, V> {
    let mut map = HashMap::with_hasher(STABLE.clone());
    map.extend(entries);
    map
}

/// "Fetch it over the same ADS stream, xDS v3": how resources point at other resources.
fn ads_config_source() -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
        ..Default::default()
    }
}

/// A protobuf `Duration` (saturating at the largest `i64` seconds, far beyond any real config).
fn duration(d: std::time::Duration) -> Duration {
    Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A TCP socket address.
fn socket_address(addr: SocketAddr) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: addr.ip().to_string(),
            port_specifier: Some(PortSpecifier::PortValue(u32::from(addr.port()))),
            ..Default::default()
        })),
    }
}

#[cfg(test)]
mod round_trip;
#[cfg(test)]
mod round_trip_inbound;

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::listener::v3::Listener;

    use super::*;
    use crate::xds::type_url;

    #[test]
    fn any_carries_the_resource_type_url() {
        let any = to_any(&Listener {
            name: "a".into(),
            ..Default::default()
        });
        assert_eq!(any.type_url, type_url::LISTENER);
        assert_eq!(Listener::decode(any.value.as_slice()).unwrap().name, "a");
    }

    #[test]
    fn durations_keep_seconds_and_nanos() {
        let d = duration(std::time::Duration::from_millis(2_500));
        assert_eq!((d.seconds, d.nanos), (2, 500_000_000));
    }

    #[test]
    fn socket_address_keeps_ip_and_port() {
        let addr = socket_address("[::1]:8080".parse().unwrap());
        let Some(address::Address::SocketAddress(sa)) = addr.address else {
            panic!("not a socket address: {addr:?}");
        };
        assert_eq!(sa.address, "::1");
        assert_eq!(sa.port_specifier, Some(PortSpecifier::PortValue(8080)));
    }
}

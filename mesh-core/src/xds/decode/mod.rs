//! Wire to model: xDS v3 resources into validated [`crate::model`] types.
//!
//! Decoding happens in two steps, as in gRPC: the protobuf bytes become the generated struct,
//! then the struct is validated into the model. The checks are gRPC's (gRFCs A27, A28, A36): a
//! resource this client cannot honour fully is an error, never half applied. The resilience
//! policies follow gRPC's rules for them too (gRFCs A31, A32, A33, A41, A42, A44, A48, A50, A52):
//! what gRPC accepts is accepted, what it NACKs is an error. Every error is a
//! [`DecodeError`] naming the resource and the path of the offending field, so a NACK tells the
//! operator exactly what to fix.
//!
//! - [`listener`], [`route_config`], [`cluster`], [`cluster_load_assignment`] take the generated
//!   structs (for mesh-control and tests that already hold them);
//! - [`resource`] takes an `Any` from a `DiscoveryResponse` (for the client).

mod authz;
mod cluster;
mod cluster_policy;
mod common;
mod endpoint;
mod error;
mod fault;
mod inbound;
mod lb;
mod listener;
mod matcher;
mod outlier;
mod rate_limit;
mod retry;
mod route;
mod route_policy;
mod tls;

#[cfg(test)]
pub(crate) mod fixtures;

use envoy_types::pb::envoy::config::{
    cluster::v3 as cds, endpoint::v3 as eds, listener::v3 as lds, route::v3 as rds,
};
use envoy_types::pb::google::protobuf::Any;
use prost::Message;

pub use cluster::cluster;
pub use endpoint::cluster_load_assignment;
pub use error::DecodeError;
pub use listener::listener;
pub use route::route_config;

use crate::model;
use crate::xds::type_url;

/// The four resource types of gRPC's proxyless xDS, in dependency order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// Listener (LDS).
    Listener,
    /// RouteConfiguration (RDS).
    RouteConfig,
    /// Cluster (CDS).
    Cluster,
    /// ClusterLoadAssignment (EDS).
    Endpoints,
}

impl ResourceKind {
    /// Every kind, in dependency order.
    pub const ALL: [ResourceKind; 4] = [
        ResourceKind::Listener,
        ResourceKind::RouteConfig,
        ResourceKind::Cluster,
        ResourceKind::Endpoints,
    ];

    /// The type URL of this kind.
    pub fn type_url(self) -> &'static str {
        match self {
            ResourceKind::Listener => type_url::LISTENER,
            ResourceKind::RouteConfig => type_url::ROUTE_CONFIGURATION,
            ResourceKind::Cluster => type_url::CLUSTER,
            ResourceKind::Endpoints => type_url::CLUSTER_LOAD_ASSIGNMENT,
        }
    }

    /// The kind of a type URL, if it is one of ours.
    pub fn from_type_url(url: &str) -> Option<ResourceKind> {
        ResourceKind::ALL.into_iter().find(|k| k.type_url() == url)
    }

    /// The protobuf message name, such as `Listener` (used in errors).
    pub fn message_name(self) -> &'static str {
        match self {
            ResourceKind::Listener => "Listener",
            ResourceKind::RouteConfig => "RouteConfiguration",
            ResourceKind::Cluster => "Cluster",
            ResourceKind::Endpoints => "ClusterLoadAssignment",
        }
    }
}

/// A decoded resource of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Resource {
    /// A Listener.
    Listener(model::Listener),
    /// A RouteConfiguration.
    RouteConfig(model::RouteConfig),
    /// A Cluster.
    Cluster(model::Cluster),
    /// A ClusterLoadAssignment.
    Endpoints(model::ClusterLoadAssignment),
}

impl Resource {
    /// The resource name.
    pub fn name(&self) -> &str {
        match self {
            Resource::Listener(l) => l.name(),
            Resource::RouteConfig(r) => &r.name,
            Resource::Cluster(c) => &c.name,
            Resource::Endpoints(e) => &e.cluster_name,
        }
    }
}

/// Decodes a resource of `kind` from an `Any`, checking its type URL.
pub fn resource(kind: ResourceKind, any: &Any) -> Result<Resource, DecodeError> {
    let broken = |reason: String| DecodeError {
        kind: kind.message_name(),
        resource: String::new(),
        field: String::new(),
        reason,
    };
    if any.type_url != kind.type_url() {
        return Err(broken(format!(
            "has type URL {:?}, expected {:?}",
            any.type_url,
            kind.type_url()
        )));
    }
    let bytes = any.value.as_slice();
    let invalid = |e: prost::DecodeError| broken(format!("is not a valid protobuf message: {e}"));
    Ok(match kind {
        ResourceKind::Listener => {
            Resource::Listener(listener(&lds::Listener::decode(bytes).map_err(invalid)?)?)
        }
        ResourceKind::RouteConfig => Resource::RouteConfig(route_config(
            &rds::RouteConfiguration::decode(bytes).map_err(invalid)?,
        )?),
        ResourceKind::Cluster => {
            Resource::Cluster(cluster(&cds::Cluster::decode(bytes).map_err(invalid)?)?)
        }
        ResourceKind::Endpoints => Resource::Endpoints(cluster_load_assignment(
            &eds::ClusterLoadAssignment::decode(bytes).map_err(invalid)?,
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::fixtures::{any, client_listener, endpoints};
    use super::*;

    #[test]
    fn kinds_map_to_type_urls() {
        for kind in ResourceKind::ALL {
            assert_eq!(ResourceKind::from_type_url(kind.type_url()), Some(kind));
        }
        assert_eq!(ResourceKind::from_type_url("type.googleapis.com/x"), None);
    }

    #[test]
    fn decodes_an_any_of_the_expected_kind() {
        let packed = any(type_url::LISTENER, &client_listener("l", "r"));
        assert_eq!(
            resource(ResourceKind::Listener, &packed).unwrap().name(),
            "l"
        );
        let packed = any(
            type_url::CLUSTER_LOAD_ASSIGNMENT,
            &endpoints("e", &["10.0.0.1:1"]),
        );
        assert_eq!(
            resource(ResourceKind::Endpoints, &packed).unwrap().name(),
            "e"
        );
    }

    #[test]
    fn wrong_type_or_garbage_is_an_error() {
        let packed = any(type_url::LISTENER, &client_listener("l", "r"));
        let err = resource(ResourceKind::Cluster, &packed).unwrap_err();
        assert!(err.reason.contains("expected"), "{err}");
        let garbage = Any {
            type_url: type_url::CLUSTER.into(),
            value: vec![0xff, 0xff],
        };
        let err = resource(ResourceKind::Cluster, &garbage).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Cluster \"\": is not a valid protobuf"),
            "{err}"
        );
    }
}

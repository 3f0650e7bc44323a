//! Model resources for one service, as mesh-control would make them.

use std::net::SocketAddr;
use std::sync::Arc;

use mesh_core::model::{
    ClientListener, Cluster, ClusterLoadAssignment, Endpoint, HealthStatus, Listener, PathMatch,
    Route, RouteAction, RouteConfig, RouteMatch, RouteSource, UpstreamProtocol, VirtualHost,
    WeightedCluster,
};

/// A client listener whose routes come over RDS from `route_config`.
pub fn listener_rds(name: &str, route_config: &str) -> Listener {
    Listener::Client(ClientListener {
        name: name.into(),
        routes: RouteSource::Rds(route_config.into()),
    })
}

/// A client listener carrying `routes` inline.
pub fn listener_inline(name: &str, routes: RouteConfig) -> Listener {
    Listener::Client(ClientListener {
        name: name.into(),
        routes: RouteSource::Inline(Arc::new(routes)),
    })
}

/// A route table of one virtual host for `domain`: each `(prefix, clusters with weights)` in
/// order.
pub fn route_config(name: &str, domain: &str, routes: &[(&str, &[(&str, u32)])]) -> RouteConfig {
    let routes = routes
        .iter()
        .map(|(prefix, clusters)| Route {
            policy: Default::default(),
            name: format!("prefix {prefix}"),
            matcher: RouteMatch {
                path: PathMatch::Prefix(prefix.to_string()),
                case_sensitive: true,
                headers: Vec::new(),
            },
            action: RouteAction::Forward(
                clusters
                    .iter()
                    .map(|(c, w)| WeightedCluster {
                        cluster: c.to_string(),
                        weight: *w,
                    })
                    .collect(),
            ),
        })
        .collect();
    RouteConfig {
        name: name.into(),
        virtual_hosts: vec![VirtualHost {
            name: domain.into(),
            domains: vec![domain.into()],
            routes,
        }],
    }
}

/// A cluster whose endpoints come over EDS under its own name.
pub fn cluster(name: &str, protocol: UpstreamProtocol) -> Cluster {
    Cluster {
        name: name.into(),
        eds_service_name: name.into(),
        policy: Default::default(),
        protocol,
        tls: None,
    }
}

/// The healthy endpoints of `cluster`.
pub fn endpoints(cluster: &str, addrs: &[SocketAddr]) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: cluster.into(),
        endpoints: addrs
            .iter()
            .map(|a| Endpoint {
                address: *a,
                weight: 1,
                health: HealthStatus::Healthy,
            })
            .collect(),
    }
}

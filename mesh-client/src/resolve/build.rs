//! From xDS resources to a [`Resolution`]: the pure half of resolution.
//!
//! The resolver task gathers the current Listener, RouteConfiguration, Clusters and
//! ClusterLoadAssignments of a target; this module turns them into the [`RouteTable`] requests
//! read. It keeps each cluster's [`ClusterState`] across builds, so an endpoint that stays in a
//! cluster keeps its load and health, the cluster's breaker, retry budget and outlier detection
//! keep counting, and a build does not disturb requests in flight.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use mesh_core::model::{Cluster, ClusterLoadAssignment, RouteAction, VirtualHost};

use crate::Error;
use crate::balance::{Balancer, ClusterState};
use crate::counters::Counters;
use crate::route::{RouteEntry, RouteTable};

/// What a target resolves to right now.
#[derive(Debug)]
pub(crate) enum Resolution {
    /// Nothing yet: requests wait for the first resolution.
    Pending,
    /// The target cannot be served: requests fail at once.
    Failed(Unresolved),
    /// The routes, ready for requests.
    Ready(RouteTable),
}

/// Why a target cannot be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// The Listener does not exist.
    ListenerNotFound,
    /// The Listener is an inbound one.
    NotClientListener,
    /// The RouteConfiguration the Listener names does not exist.
    RouteConfigNotFound(String),
    /// No virtual host serves the target's name.
    NoVirtualHost,
}

impl Unresolved {
    /// The error a request for `listener` fails with.
    pub(crate) fn to_error(&self, listener: &str) -> Error {
        let listener = listener.to_string();
        match self {
            Unresolved::ListenerNotFound => Error::ListenerNotFound { listener },
            Unresolved::NotClientListener => Error::NotClientListener { listener },
            Unresolved::RouteConfigNotFound(route_config) => Error::RouteConfigNotFound {
                listener,
                route_config: route_config.clone(),
            },
            Unresolved::NoVirtualHost => Error::NoVirtualHost { listener },
        }
    }
}

/// What the control service says of one cluster a route names.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ClusterInput<'a> {
    /// The Cluster does not exist.
    Missing,
    /// The Cluster and its endpoints (`None`: the ClusterLoadAssignment does not exist).
    Present(&'a Cluster, Option<&'a ClusterLoadAssignment>),
}

/// The names of the clusters the routes of `vhost` send to.
pub(crate) fn cluster_names(vhost: &VirtualHost) -> BTreeSet<&str> {
    vhost
        .routes
        .iter()
        .filter_map(|route| match &route.action {
            RouteAction::Forward(clusters) => Some(clusters),
            RouteAction::NonForwarding => None,
        })
        .flatten()
        .map(|wc| wc.cluster.as_str())
        .collect()
}

/// Builds route tables, keeping each cluster's state (endpoints, breaker, retry budget,
/// outlier detection, balancing) across builds.
#[derive(Debug)]
pub(crate) struct TableBuilder {
    decay: Duration,
    counters: Arc<Counters>,
    clusters: HashMap<String, ClusterState>,
}

impl TableBuilder {
    /// A builder whose endpoints' latency estimates decay over `decay`, and whose clusters count
    /// breaker refusals and ejections in `counters`.
    pub(crate) fn new(decay: Duration, counters: Arc<Counters>) -> Self {
        Self {
            decay,
            counters,
            clusters: HashMap::new(),
        }
    }

    /// The route table of `listener` served by `vhost`; `clusters` holds every cluster of
    /// [`cluster_names`] (one left out counts as missing). The state of clusters no longer
    /// routed to (or missing) is dropped.
    pub(crate) fn build(
        &mut self,
        listener: &str,
        vhost: &VirtualHost,
        clusters: &HashMap<String, ClusterInput<'_>>,
    ) -> RouteTable {
        let mut kept = HashMap::with_capacity(self.clusters.len());
        let balancers: HashMap<&str, Arc<Balancer>> = cluster_names(vhost)
            .into_iter()
            .map(|name| {
                let input = clusters.get(name).copied().unwrap_or(ClusterInput::Missing);
                let balancer = match input {
                    ClusterInput::Missing => Balancer::missing(name, &self.counters),
                    ClusterInput::Present(cluster, assignment) => {
                        let mut state = self.clusters.remove(name).unwrap_or_else(|| {
                            let counters = Arc::clone(&self.counters);
                            ClusterState::new(name, &cluster.policy, self.decay, counters)
                        });
                        let balancer = state.update(cluster, assignment);
                        kept.insert(name.to_string(), state);
                        balancer
                    }
                };
                (name, Arc::new(balancer))
            })
            .collect();
        self.clusters = kept;
        let routes = vhost
            .routes
            .iter()
            .map(|route| {
                let targets = match &route.action {
                    RouteAction::Forward(clusters) => clusters
                        .iter()
                        .filter_map(|wc| {
                            Some((Arc::clone(balancers.get(wc.cluster.as_str())?), wc.weight))
                        })
                        .collect(),
                    RouteAction::NonForwarding => Vec::new(),
                };
                RouteEntry::new(
                    &route.name,
                    route.matcher.clone(),
                    route.policy.clone(),
                    targets,
                )
            })
            .collect();
        RouteTable::new(listener, routes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::DEFAULT_DECAY;
    use mesh_core::model::{
        CircuitBreaker, Endpoint as ModelEndpoint, HealthStatus, PathMatch, Route, RouteMatch,
        UpstreamProtocol, WeightedCluster,
    };
    use std::net::SocketAddr;

    fn vhost(clusters: &[(&str, u32)]) -> VirtualHost {
        let forward = clusters
            .iter()
            .map(|(c, w)| WeightedCluster {
                cluster: c.to_string(),
                weight: *w,
            })
            .collect();
        VirtualHost {
            name: "vh".into(),
            domains: vec!["*".into()],
            routes: vec![Route {
                policy: Default::default(),
                name: "r".into(),
                matcher: RouteMatch {
                    path: PathMatch::Prefix(String::new()),
                    case_sensitive: true,
                    headers: Vec::new(),
                },
                action: RouteAction::Forward(forward),
            }],
        }
    }

    fn cluster(name: &str) -> Cluster {
        Cluster {
            name: name.into(),
            eds_service_name: name.into(),
            policy: Default::default(),
            protocol: UpstreamProtocol::Http2,
            tls: None,
        }
    }

    fn assignment(name: &str, endpoints: &[(&str, HealthStatus)]) -> ClusterLoadAssignment {
        ClusterLoadAssignment {
            cluster_name: name.into(),
            endpoints: endpoints
                .iter()
                .map(|(a, health)| ModelEndpoint {
                    address: a.parse().unwrap(),
                    weight: 1,
                    health: *health,
                })
                .collect(),
        }
    }

    fn addresses(table: &RouteTable) -> Vec<SocketAddr> {
        let balancer = table.routes()[0].clusters().next().unwrap();
        balancer.endpoints().iter().map(|e| e.address()).collect()
    }

    #[test]
    fn only_usable_endpoints_take_requests() {
        let c = cluster("c");
        let cla = assignment(
            "c",
            &[
                ("10.0.0.1:80", HealthStatus::Healthy),
                ("10.0.0.2:80", HealthStatus::Draining),
                ("10.0.0.3:80", HealthStatus::Unknown),
                ("10.0.0.4:80", HealthStatus::Unhealthy),
            ],
        );
        let inputs = HashMap::from([("c".to_string(), ClusterInput::Present(&c, Some(&cla)))]);
        let table = TableBuilder::new(DEFAULT_DECAY, Arc::default()).build(
            "svc",
            &vhost(&[("c", 1)]),
            &inputs,
        );
        let expected: Vec<SocketAddr> = vec![
            "10.0.0.1:80".parse().unwrap(),
            "10.0.0.3:80".parse().unwrap(),
        ];
        assert_eq!(addresses(&table), expected);
    }

    #[test]
    fn endpoints_that_remain_keep_their_state() {
        let c = cluster("c");
        let mut builder = TableBuilder::new(DEFAULT_DECAY, Arc::default());
        let vh = vhost(&[("c", 1)]);
        let first = assignment(
            "c",
            &[
                ("10.0.0.1:80", HealthStatus::Healthy),
                ("10.0.0.2:80", HealthStatus::Healthy),
            ],
        );
        let inputs = HashMap::from([("c".to_string(), ClusterInput::Present(&c, Some(&first)))]);
        let old = builder.build("svc", &vh, &inputs);
        let second = assignment(
            "c",
            &[
                ("10.0.0.2:80", HealthStatus::Healthy),
                ("10.0.0.3:80", HealthStatus::Healthy),
            ],
        );
        let inputs = HashMap::from([("c".to_string(), ClusterInput::Present(&c, Some(&second)))]);
        let new = builder.build("svc", &vh, &inputs);
        let old_eps = old.routes()[0].clusters().next().unwrap().endpoints();
        let new_eps = new.routes()[0].clusters().next().unwrap().endpoints();
        assert!(
            Arc::ptr_eq(&old_eps[1], &new_eps[0]),
            "10.0.0.2 kept its endpoint"
        );
        assert_eq!(builder.clusters.len(), 1);
    }

    #[test]
    fn missing_clusters_and_assignments() {
        let c = cluster("no-eds");
        let inputs = HashMap::from([("no-eds".to_string(), ClusterInput::Present(&c, None))]);
        let table = TableBuilder::new(DEFAULT_DECAY, Arc::default()).build(
            "svc",
            &vhost(&[("no-eds", 1), ("gone", 1)]),
            &inputs,
        );
        let mut errors: Vec<String> = table.routes()[0]
            .clusters()
            .map(|b| {
                b.pick(None, None, &mut rand::rng())
                    .unwrap_err()
                    .to_string()
            })
            .collect();
        errors.sort();
        assert_eq!(
            errors,
            [
                "UNAVAILABLE: cluster \"gone\" does not exist",
                "UNAVAILABLE: no healthy endpoints in cluster \"no-eds\"",
            ]
        );
    }

    #[test]
    fn cluster_state_lasts_while_routes_send_to_the_cluster() {
        let counters = Arc::new(Counters::default());
        let mut builder = TableBuilder::new(DEFAULT_DECAY, Arc::clone(&counters));
        let mut c = cluster("c");
        c.policy.circuit_breaker = CircuitBreaker {
            max_requests: 1,
            max_pending: 0,
        };
        let cla = assignment("c", &[("10.0.0.1:80", HealthStatus::Healthy)]);
        let inputs = HashMap::from([("c".to_string(), ClusterInput::Present(&c, Some(&cla)))]);
        let balancer =
            |table: &RouteTable| Arc::clone(table.routes()[0].clusters().next().unwrap());
        let first = balancer(&builder.build("svc", &vhost(&[("c", 1)]), &inputs));
        let _permit = first.admit().unwrap();
        let again = balancer(&builder.build("svc", &vhost(&[("c", 1)]), &inputs));
        assert!(again.admit().unwrap_err().is_circuit_breaker_open());
        assert_eq!(
            counters.snapshot().breaker_overflows,
            1,
            "counted in the builder's"
        );

        builder.build("svc", &vhost(&[("gone", 1)]), &inputs);
        assert!(builder.clusters.is_empty());
        let afresh = balancer(&builder.build("svc", &vhost(&[("c", 1)]), &inputs));
        assert!(afresh.admit().is_ok(), "a new breaker");
    }

    #[test]
    fn cluster_names_are_those_routes_forward_to() {
        let vh = vhost(&[("b", 1), ("a", 3), ("b", 1)]);
        let names = cluster_names(&vh);
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a", "b"]);
    }
}

//! From xDS resources to a [`Resolution`]: the pure half of resolution.
//!
//! The resolver task gathers the current Listener, RouteConfiguration, Clusters and
//! ClusterLoadAssignments of a target; this module turns them into the [`RouteTable`] requests
//! read. It holds each cluster's [`ClusterState`] across builds, so an endpoint that stays in a
//! cluster keeps its load and health, the cluster's breaker, retry budget and outlier detection
//! keep counting, and a build does not disturb requests in flight. The states come from the
//! client's [`ClusterRegistry`], so resolvers routing to one cluster share one state.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError};

use mesh_core::model::{Cluster, ClusterLoadAssignment, RouteAction, VirtualHost};

use super::registry::{ClusterRegistry, SharedState};
use crate::Error;
use crate::balance::Balancer;
use crate::fault::ActiveFaults;
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

/// Builds route tables, holding each cluster's state (endpoints, breaker, retry budget,
/// outlier detection, balancing) across builds.
#[derive(Debug)]
pub(crate) struct TableBuilder {
    registry: Arc<ClusterRegistry>,
    /// The states of the clusters the last table routes to.
    clusters: HashMap<String, SharedState>,
    /// The active-fault counts of the last table's named routes, by route name: a route's
    /// `max_active` then holds while requests of an older table still have faults.
    faults: HashMap<String, ActiveFaults>,
}

impl TableBuilder {
    /// A builder taking its clusters' states from `registry`, shared with other builders.
    pub(crate) fn with_registry(registry: Arc<ClusterRegistry>) -> Self {
        Self {
            registry,
            clusters: HashMap::new(),
            faults: HashMap::new(),
        }
    }

    /// A builder with a registry of its own, whose endpoints' latency estimates decay over
    /// `decay` and whose clusters count breaker refusals and ejections in `counters`.
    #[cfg(test)]
    pub(crate) fn new(
        decay: std::time::Duration,
        counters: Arc<crate::counters::Counters>,
    ) -> Self {
        Self::with_registry(Arc::new(ClusterRegistry::new(decay, counters)))
    }

    /// The route table of `listener` served by `vhost`; `clusters` holds every cluster of
    /// [`cluster_names`] (one left out counts as missing). The state of clusters no longer
    /// routed to (or missing) is let go (and dropped if no other builder holds it).
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
                    ClusterInput::Missing => Balancer::missing(name, self.registry.counters()),
                    ClusterInput::Present(cluster, assignment) => {
                        let state = self
                            .clusters
                            .remove(name)
                            .unwrap_or_else(|| self.registry.state(name, &cluster.policy));
                        let balancer = state
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .update(cluster, assignment);
                        kept.insert(name.to_string(), state);
                        balancer
                    }
                };
                (name, Arc::new(balancer))
            })
            .collect();
        self.clusters = kept;
        let mut faults = HashMap::with_capacity(self.faults.len());
        let routes = vhost
            .routes
            .iter()
            .enumerate()
            .map(|(index, route)| {
                let targets = match &route.action {
                    RouteAction::Forward(clusters) => clusters
                        .iter()
                        .filter_map(|wc| {
                            Some((Arc::clone(balancers.get(wc.cluster.as_str())?), wc.weight))
                        })
                        .collect(),
                    RouteAction::NonForwarding => Vec::new(),
                };
                let active_faults = self.active_faults(&route.name, &mut faults);
                let unnamed = route.name.is_empty();
                let label = unnamed.then(|| format!("{}/{index}", vhost.name));
                RouteEntry::new(
                    label.as_deref().unwrap_or(&route.name),
                    route.matcher.clone(),
                    route.policy.clone(),
                    targets,
                    active_faults,
                )
            })
            .collect();
        self.faults = faults;
        RouteTable::new(listener, routes)
    }

    /// The active-fault count of route `name` in the table being built, whose counts so far
    /// are `building`: its namesake's in the last table, so that faults in flight still count.
    /// Unnamed routes start afresh.
    fn active_faults(
        &mut self,
        name: &str,
        building: &mut HashMap<String, ActiveFaults>,
    ) -> ActiveFaults {
        if name.is_empty() {
            return ActiveFaults::default();
        }
        let count = building
            .entry(name.to_string())
            .or_insert_with(|| self.faults.remove(name).unwrap_or_default());
        count.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::DEFAULT_DECAY;
    use crate::route::RequestHead;
    use mesh_core::model::{
        AbortStatus, CircuitBreaker, Endpoint as ModelEndpoint, FaultAbort, FaultInjection,
        HealthStatus, PathMatch, Route, RouteMatch, Share, UpstreamProtocol, WeightedCluster,
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
            .map(|b| b.pick(None, &[], &mut rand::rng()).unwrap_err().to_string())
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
        let counters = Arc::new(crate::counters::Counters::default());
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
    fn builders_of_one_client_share_a_cluster_and_the_newest_policy_wins() {
        let registry = Arc::new(ClusterRegistry::new(DEFAULT_DECAY, Arc::default()));
        let mut one = TableBuilder::with_registry(Arc::clone(&registry));
        let mut two = TableBuilder::with_registry(Arc::clone(&registry));
        let mut c = cluster("c");
        c.policy.circuit_breaker = CircuitBreaker {
            max_requests: 1,
            max_pending: 0,
        };
        let cla = assignment("c", &[("10.0.0.1:80", HealthStatus::Healthy)]);
        let balancer =
            |table: &RouteTable| Arc::clone(table.routes()[0].clusters().next().unwrap());
        let inputs = HashMap::from([("c".to_string(), ClusterInput::Present(&c, Some(&cla)))]);
        let via_one = balancer(&one.build("svc-a", &vhost(&[("c", 1)]), &inputs));
        let via_two = balancer(&two.build("svc-b", &vhost(&[("c", 1)]), &inputs));
        let _held = via_one.admit().unwrap();
        assert!(
            via_two.admit().unwrap_err().is_circuit_breaker_open(),
            "one breaker for cluster c, whichever listener reaches it"
        );

        c.policy.circuit_breaker.max_requests = 3;
        let inputs = HashMap::from([("c".to_string(), ClusterInput::Present(&c, Some(&cla)))]);
        let newest = balancer(&two.build("svc-b", &vhost(&[("c", 1)]), &inputs));
        let _two_more = [newest.admit().unwrap(), newest.admit().unwrap()];
        let via_one = balancer(&one.build("svc-a", &vhost(&[("c", 1)]), &inputs));
        let _third = via_one.admit().unwrap();
        assert!(
            via_one.admit().unwrap_err().is_circuit_breaker_open(),
            "listener a uses the breaker listener b's update made"
        );

        two.build("svc-b", &vhost(&[("gone", 1)]), &inputs);
        assert_eq!(registry.live(), 1, "still held by listener a");
        one.build("svc-a", &vhost(&[("gone", 1)]), &inputs);
        assert_eq!(registry.live(), 0, "no listener routes to c");
    }

    #[test]
    fn active_faults_carry_over_to_the_next_table_by_route_name() {
        let fault = FaultInjection {
            abort: Some(FaultAbort {
                status: AbortStatus::Http(503),
                share: Share::from_per_million(Share::MILLION).unwrap(),
            }),
            max_active: Some(1),
            ..Default::default()
        };
        let c = cluster("a");
        let inputs = HashMap::from([("a".to_string(), ClusterInput::Present(&c, None))]);
        let mut builder = TableBuilder::new(DEFAULT_DECAY, Arc::default());
        let mut table = |name: &str| {
            let mut vh = vhost(&[("a", 1)]);
            vh.routes[0].name = name.into();
            vh.routes[0].policy.fault = Some(fault.clone());
            builder.build("svc", &vh, &inputs)
        };
        let request = http::Request::get("/").body(()).unwrap();
        let head = RequestHead::of(&request);
        let draw = |table: &RouteTable| {
            let routed = table.route(&head, &mut rand::rng()).unwrap();
            crate::fault::draw(&fault, &routed.route.active_faults, &head, &mut rand::rng())
        };
        let first = table("r");
        let running = draw(&first).expect("the first fault is under max_active");

        let second = table("r");
        assert!(draw(&second).is_none(), "max_active is still reached");
        let renamed = table("other");
        assert!(draw(&renamed).is_some(), "another route counts afresh");
        drop(running);
    }

    #[test]
    fn unnamed_routes_are_named_by_virtual_host_and_index() {
        let c = cluster("a");
        let inputs = HashMap::from([("a".to_string(), ClusterInput::Present(&c, None))]);
        let mut vh = vhost(&[("a", 1)]);
        vh.routes.insert(0, vh.routes[0].clone());
        vh.routes[0].name = String::new();
        vh.routes[1].name = String::new();
        let table = TableBuilder::new(DEFAULT_DECAY, Arc::default()).build("svc", &vh, &inputs);
        let names: Vec<&str> = table.routes().iter().map(|r| &*r.info().name).collect();
        assert_eq!(names, ["vh/0", "vh/1"]);
    }

    #[test]
    fn cluster_names_are_those_routes_forward_to() {
        let vh = vhost(&[("b", 1), ("a", 3), ("b", 1)]);
        let names = cluster_names(&vh);
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a", "b"]);
    }
}

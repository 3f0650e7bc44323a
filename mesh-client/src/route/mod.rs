//! Routing: which cluster takes a request.
//!
//! A [`RouteTable`] is the resolved route table of one target: the routes of the virtual host
//! that serves the target's name ([`vhost`]), each with its clusters resolved to their
//! [`Balancer`]s. A request takes the first route whose match it satisfies ([`matcher`]), then
//! one of the route's clusters, drawn by weight ([`weighted`]). The result, [`Routed`], also
//! carries the route's policy (timeout, retries, faults, hashing) for the stages below.

mod matcher;
mod vhost;
mod weighted;

use std::sync::Arc;

use http::HeaderMap;
use http::header::HeaderName;
use mesh_core::model::{RouteMatch, RoutePolicy};
use rand::Rng;

use crate::Error;
use crate::balance::{Balancer, hash_key};
use crate::fault::ActiveFaults;
use crate::telemetry::SeriesSlot;

pub(crate) use matcher::RequestHead;
pub(crate) use vhost::select as select_virtual_host;
pub(crate) use weighted::WeightedChoice;

/// The routes of one target, ready for requests.
#[derive(Debug)]
pub(crate) struct RouteTable {
    listener: Arc<str>,
    routes: Vec<RouteEntry>,
}

/// One route: which requests it takes and the clusters it sends them to.
#[derive(Debug)]
pub(crate) struct RouteEntry {
    matcher: RouteMatch,
    route: Arc<RouteInfo>,
    /// `None` for a route that does not forward.
    clusters: Option<WeightedChoice<RouteCluster>>,
}

/// One cluster of a route, with the metric series of the calls that take the pair.
#[derive(Debug)]
struct RouteCluster {
    balancer: Arc<Balancer>,
    series: SeriesSlot,
}

/// What the stack needs of the route a request took: its name and policy, and the state the
/// policy keeps across requests. Shared by the calls on the route, which may outlive the table.
#[derive(Debug)]
pub(crate) struct RouteInfo {
    /// The route name, for errors, logs and metric labels: the configured one, or
    /// `<virtual host>/<index>` for an unnamed route.
    pub(crate) name: Arc<str>,
    /// Timeout, retries, faults and hashing.
    pub(crate) policy: RoutePolicy,
    /// The requests with an injected fault now.
    pub(crate) active_faults: ActiveFaults,
    /// The policy's `hash_header`, parsed once.
    hash_header: Option<HeaderName>,
}

/// Where a request goes: the route it matched and the cluster drawn from it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Routed<'a> {
    /// The matched route.
    pub(crate) route: &'a Arc<RouteInfo>,
    /// The cluster that takes the request.
    pub(crate) cluster: &'a Arc<Balancer>,
    /// The metric series of the route and cluster.
    pub(crate) series: &'a SeriesSlot,
}

impl RouteInfo {
    /// The ring-hash key of a request with `headers`: the hash of the header the policy names,
    /// `None` (a random one) without it.
    pub(crate) fn hash(&self, headers: &HeaderMap) -> Option<u64> {
        let name = self.hash_header.as_ref()?;
        headers.get(name).map(|value| hash_key(value.as_bytes()))
    }
}

impl RouteEntry {
    /// A route sending the requests that satisfy `matcher` to `clusters` (by weight), counting
    /// its injected faults in `active_faults`; a route with no cluster of weight > 0 does not
    /// forward.
    pub(crate) fn new(
        name: &str,
        matcher: RouteMatch,
        policy: RoutePolicy,
        clusters: impl IntoIterator<Item = (Arc<Balancer>, u32)>,
        active_faults: ActiveFaults,
    ) -> Self {
        // A name that is not a valid header name matches no request: every request gets a
        // random hash, as without the header.
        let hash_header = policy.hash_header.as_deref();
        let hash_header = hash_header.and_then(|name| HeaderName::from_bytes(name.as_bytes()).ok());
        let route = RouteInfo {
            name: name.into(),
            policy,
            active_faults,
            hash_header,
        };
        Self {
            matcher,
            route: Arc::new(route),
            clusters: WeightedChoice::new(clusters.into_iter().map(|(balancer, weight)| {
                let series = SeriesSlot::default();
                (RouteCluster { balancer, series }, weight)
            })),
        }
    }

    /// The route's name and policy.
    #[cfg(test)]
    pub(crate) fn info(&self) -> &RouteInfo {
        &self.route
    }

    /// The clusters this route may send to.
    #[cfg(test)]
    pub(crate) fn clusters(&self) -> impl Iterator<Item = &Arc<Balancer>> {
        let clusters = self.clusters.iter();
        clusters.flat_map(|c| c.items().map(|(c, _)| &c.balancer))
    }
}

impl RouteTable {
    /// The table of the target `listener`.
    pub(crate) fn new(listener: &str, routes: Vec<RouteEntry>) -> Self {
        Self {
            listener: listener.into(),
            routes,
        }
    }

    /// The routes in order.
    #[cfg(test)]
    pub(crate) fn routes(&self) -> &[RouteEntry] {
        &self.routes
    }

    /// Where a request goes: the first matching route, and one of its clusters by weight.
    pub(crate) fn route(
        &self,
        request: &RequestHead<'_>,
        rng: &mut impl Rng,
    ) -> Result<Routed<'_>, Error> {
        let entry = self
            .routes
            .iter()
            .find(|r| matcher::matches(&r.matcher, request))
            .ok_or_else(|| Error::NoRoute {
                listener: self.listener.to_string(),
                method: request.method.clone(),
                path: request.path.to_string(),
            })?;
        let clusters = entry
            .clusters
            .as_ref()
            .ok_or_else(|| Error::RouteNotForwarding {
                listener: self.listener.to_string(),
                route: entry.route.name.to_string(),
            })?;
        let RouteCluster { balancer, series } = clusters.pick(rng);
        Ok(Routed {
            route: &entry.route,
            cluster: balancer,
            series,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::model::{PathMatch, UpstreamProtocol};

    fn prefix(p: &str) -> RouteMatch {
        RouteMatch {
            path: PathMatch::Prefix(p.into()),
            case_sensitive: true,
            headers: Vec::new(),
        }
    }

    fn cluster(name: &str) -> Arc<Balancer> {
        Arc::new(Balancer::new(name, UpstreamProtocol::Http2, Vec::new()))
    }

    fn route_of(table: &RouteTable, path: &str) -> Result<String, Error> {
        let request = http::Request::get(path).body(()).unwrap();
        let head = RequestHead::of(&request);
        table
            .route(&head, &mut rand::rng())
            .map(|routed| routed.cluster.cluster_name().to_string())
    }

    #[test]
    fn first_matching_route_wins() {
        let table = RouteTable::new(
            "svc:1",
            vec![
                RouteEntry::new(
                    "v2",
                    prefix("/api/v2"),
                    RoutePolicy::default(),
                    [(cluster("v2"), 1)],
                    ActiveFaults::default(),
                ),
                RouteEntry::new(
                    "api",
                    prefix("/api"),
                    RoutePolicy::default(),
                    [(cluster("v1"), 1)],
                    ActiveFaults::default(),
                ),
                RouteEntry::new(
                    "all",
                    prefix(""),
                    RoutePolicy::default(),
                    [(cluster("other"), 1)],
                    ActiveFaults::default(),
                ),
            ],
        );
        assert_eq!(route_of(&table, "/api/v2/x").unwrap(), "v2");
        assert_eq!(route_of(&table, "/api/v3").unwrap(), "v1");
        assert_eq!(route_of(&table, "/").unwrap(), "other");
    }

    #[test]
    fn no_matching_route_is_an_error_naming_the_request() {
        let table = RouteTable::new(
            "svc:1",
            vec![RouteEntry::new(
                "a",
                prefix("/a"),
                RoutePolicy::default(),
                [(cluster("a"), 1)],
                ActiveFaults::default(),
            )],
        );
        let err = route_of(&table, "/b").unwrap_err();
        assert!(err.is_no_route());
        assert!(
            err.to_string().contains("\"svc:1\" matches GET /b"),
            "{err}"
        );
    }

    #[test]
    fn a_route_that_does_not_forward_is_an_error() {
        let table = RouteTable::new(
            "svc:1",
            vec![RouteEntry::new(
                "local",
                prefix(""),
                RoutePolicy::default(),
                [],
                ActiveFaults::default(),
            )],
        );
        let err = route_of(&table, "/").unwrap_err();
        assert!(matches!(err, Error::RouteNotForwarding { ref route, .. } if route == "local"));
    }
}

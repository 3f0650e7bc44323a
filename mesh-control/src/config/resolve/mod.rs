//! Resolution: the objects of a config, cross-checked and turned into a [`MeshConfig`].
//!
//! Services come first (they are what everything else refers to), then EndpointSlices add
//! endpoints to Service ports, HTTPRoutes and GRPCRoutes add routes (with the timeouts, retries
//! and faults of their RoutePolicies), TLSPolicies set the Services' mTLS mode,
//! BackendPolicies their cluster policy, AuthorizationPolicies and RateLimitPolicies what
//! their servers accept. JoinTokens stand apart: they become the CA's
//! credentials. Every mistake is collected, none stops the others from being found.
//!
//! **Requests that no rule matches.** GEP-1426 (GAMMA) does not settle what happens to a request
//! to a Service port that has routes attached but matches none of their rules. We choose the
//! least surprising answer: such a request goes where it would go without any route, to the
//! port's own cluster. So every port's route list ends with a catch-all route (prefix `""`) to its
//! own cluster, named `<namespace>/<service>:<port>/default`; a port without attached routes has
//! only that one. When an attached rule already takes every request (`PathPrefix /` and no other
//! condition), the catch-all could never match and is left out.

mod authorization_policies;
mod authz_match;
mod backend_policies;
mod catalog;
mod cluster_policy;
mod duration;
mod endpoints;
mod fault;
mod fields;
mod grpc_match;
mod http_match;
mod join_tokens;
mod matching;
mod outlier;
mod rate_limit_policies;
mod refs;
mod retry;
mod route_policies;
mod routes;
mod status;
mod targets;
mod tls_policies;

use std::collections::BTreeMap;

use mesh_core::model::{PathMatch, Route, RouteAction, RouteMatch, WeightedCluster};

use super::error::ConfigError;
use super::kinds::{Body, Kind, Origin, Parsed};
use super::{MeshConfig, ServiceConfig, ServiceRef};
use crate::names::cluster_name;
use catalog::Catalog;
use route_policies::RoutePolicies;
use routes::Attached;

/// Resolves `objects` into a config; every mistake goes to `errors`.
pub(crate) fn resolve(objects: Vec<Parsed>, errors: &mut Vec<ConfigError>) -> MeshConfig {
    let objects = without_duplicates(objects, errors);
    let mut catalog = Catalog::default();
    for object in objects.iter().filter(|o| o.kind == Kind::Service) {
        let spec = match &object.body {
            Some(Body::Service(spec)) => Some(spec),
            _ => None,
        };
        catalog.add(object, spec, errors);
    }
    let route_policies = RoutePolicies::collect(&objects, errors);
    let mut attached = Attached::default();
    for object in &objects {
        match &object.body {
            Some(Body::EndpointSlice(slice)) => {
                endpoints::add_slice(object, slice, &mut catalog, errors)
            }
            Some(Body::HttpRoute(spec)) => {
                attached.add(object, spec, &catalog, &route_policies, errors)
            }
            Some(Body::GrpcRoute(spec)) => {
                attached.add(object, spec, &catalog, &route_policies, errors)
            }
            Some(
                Body::Service(_)
                | Body::JoinToken(_)
                | Body::TlsPolicy(_)
                | Body::RoutePolicy(_)
                | Body::BackendPolicy(_)
                | Body::AuthorizationPolicy(_)
                | Body::RateLimitPolicy(_),
            )
            | None => {}
        }
    }
    let mut services = BTreeMap::new();
    for (service, mut ports) in catalog.into_services() {
        for port in &mut ports {
            port.routes = attached.take(&service, port.port);
            if !port.routes.iter().any(takes_everything) {
                port.routes.push(catch_all(&service, port.port));
            }
        }
        services.insert(
            service.clone(),
            ServiceConfig {
                service,
                ports,
                tls: Default::default(),
                policy: Default::default(),
                authorization: None,
                rate_limit: None,
            },
        );
    }
    tls_policies::apply(&objects, &mut services, errors);
    backend_policies::apply(&objects, &mut services, errors);
    authorization_policies::apply(&objects, &mut services, errors);
    rate_limit_policies::apply(&objects, &mut services, errors);
    MeshConfig {
        services,
        join_tokens: join_tokens::join_tokens(&objects, errors),
    }
}

/// The objects with the second and later of each kind, namespace and name reported and dropped.
fn without_duplicates(objects: Vec<Parsed>, errors: &mut Vec<ConfigError>) -> Vec<Parsed> {
    let mut first: BTreeMap<(Kind, String, String), Origin> = BTreeMap::new();
    let mut kept = Vec::with_capacity(objects.len());
    for object in objects {
        let key = (object.kind, object.namespace.clone(), object.name.clone());
        match first.get(&key) {
            Some(earlier) => {
                let message = format!(
                    "is defined twice, here and at {}:{}; remove one of them or rename it",
                    earlier.file, earlier.line
                );
                errors.push(object.origin.error(
                    serde_saphyr::Location::UNKNOWN,
                    "metadata.name",
                    message,
                ));
            }
            None => {
                first.insert(key, object.origin.clone());
                kept.push(object);
            }
        }
    }
    kept
}

/// The route that sends everything to the port's own cluster.
fn catch_all(service: &ServiceRef, port: u16) -> Route {
    Route {
        policy: Default::default(),
        name: format!("{service}:{port}/default"),
        matcher: RouteMatch {
            path: PathMatch::Prefix(String::new()),
            case_sensitive: true,
            headers: Vec::new(),
        },
        action: RouteAction::Forward(vec![WeightedCluster {
            cluster: cluster_name(service, port),
            weight: 1,
        }]),
    }
}

/// Whether `route` takes every request.
fn takes_everything(route: &Route) -> bool {
    let everything =
        matches!(&route.matcher.path, PathMatch::Prefix(p) if p.is_empty() || p == "/");
    everything && route.matcher.headers.is_empty()
}

/// A port number from the config; the error says what to do.
fn port_number(value: i64) -> Result<u16, String> {
    u16::try_from(value)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{value} is out of range; use a port from 1 to 65535"))
}

//! HTTPRoutes and GRPCRoutes become the ordered routes of the Service ports they attach to.
//!
//! Each match of each rule becomes a model route named `<namespace>/<route>/rule<i>/match<j>`
//! (a rule without matches has one, `match0`, that takes everything) forwarding to the rule's
//! backends by weight, with the timeouts, retries and faults of the rule and of the route's
//! RoutePolicy ([`super::route_policies`]). The routes of all the HTTPRoutes and GRPCRoutes
//! attached to one Service port are then sorted as [`super::matching`] explains.

use std::collections::BTreeMap;

use mesh_core::model::{Route, RouteAction};
use serde_saphyr::Location;

use super::catalog::Catalog;
use super::fields::Fields;
use super::matching::{Candidate, MatchSpec, Precedence};
use super::refs;
use super::retry::{self, Settings};
use super::route_policies::RoutePolicies;
use crate::config::ServiceRef;
use crate::config::error::ConfigError;
use crate::config::kinds::route::{RouteSpec, Rule};
use crate::config::kinds::{Kind, Parsed};

/// The order of a route among a port's routes: precedence, then the tie-breakers.
type SortKey = (Precedence, String, String, Kind, usize, usize);

/// The routes attached to each Service port, collected route by route.
#[derive(Debug, Default)]
pub(crate) struct Attached {
    ports: BTreeMap<(ServiceRef, u16), Vec<(SortKey, Route)>>,
}

impl Attached {
    /// Adds the rules of an HTTPRoute or GRPCRoute; its mistakes go to `errors`.
    pub(crate) fn add<M: MatchSpec>(
        &mut self,
        route: &Parsed,
        spec: &RouteSpec<M>,
        catalog: &Catalog,
        policies: &RoutePolicies,
        errors: &mut Vec<ConfigError>,
    ) {
        let origin = &route.origin;
        let parents = refs::parents(route, &spec.parent_refs, catalog, errors);
        if spec.rules.is_empty() {
            let message = "is empty; add a rule with the backendRefs that take the requests";
            errors.push(origin.error(Location::UNKNOWN, "spec.rules", message));
        }
        for (i, rule) in spec.rules.iter().enumerate() {
            let field = format!("spec.rules[{i}]");
            let before = errors.len();
            if let Some(filters) = &rule.value.filters {
                let message = "filters are not supported yet; remove them";
                errors.push(origin.error(filters.referenced, format!("{field}.filters"), message));
            }
            let settings = rule_settings(route, &field, &rule.value, errors);
            let policy = policies.for_rule(route, &field, settings, errors);
            let backends = refs::backends(
                route,
                &field,
                rule.referenced,
                &rule.value.backend_refs,
                catalog,
                errors,
            );
            let candidates: Vec<Option<Candidate>> = if rule.value.matches.is_empty() {
                vec![Some(Candidate::everything())]
            } else {
                let matches = rule.value.matches.iter().enumerate();
                matches
                    .map(|(j, m)| {
                        m.value
                            .candidate(origin, &format!("{field}.matches[{j}]"), errors)
                    })
                    .collect()
            };
            let (Some(backends), Some(policy)) = (backends, policy) else {
                continue;
            };
            if errors.len() > before {
                continue;
            }
            for (j, candidate) in candidates.into_iter().enumerate() {
                let Some(candidate) = candidate else { continue };
                let key: SortKey = (
                    candidate.precedence,
                    route.namespace.clone(),
                    route.name.clone(),
                    route.kind,
                    i,
                    j,
                );
                for matcher in candidate.matchers {
                    let built = Route {
                        policy: policy.clone(),
                        name: format!("{}/{}/rule{i}/match{j}", route.namespace, route.name),
                        matcher,
                        action: RouteAction::Forward(backends.clone()),
                    };
                    for parent in &parents {
                        self.ports
                            .entry(parent.clone())
                            .or_default()
                            .push((key.clone(), built.clone()));
                    }
                }
            }
        }
    }

    /// Takes the routes attached to `service` port `port`, in match order.
    pub(crate) fn take(&mut self, service: &ServiceRef, port: u16) -> Vec<Route> {
        let mut routes = self
            .ports
            .remove(&(service.clone(), port))
            .unwrap_or_default();
        routes.sort_by(|a, b| a.0.cmp(&b.0)); // stable: a PathPrefix's two matches stay in order
        routes.into_iter().map(|(_, route)| route).collect()
    }
}

/// What a rule itself sets for its requests: HTTPRoute rules may set `timeouts` and `retry`,
/// GRPCRoute rules have neither (their RoutePolicy does).
fn rule_settings<M>(
    route: &Parsed,
    field: &str,
    rule: &Rule<M>,
    errors: &mut Vec<ConfigError>,
) -> Settings {
    let mut fields = Fields::new(&route.origin, errors);
    if route.kind == Kind::HttpRoute {
        let (timeouts, retry) = (rule.timeouts.as_ref(), rule.retry.as_ref());
        return retry::rule_settings(&mut fields, field, timeouts, retry);
    }
    let present = [
        ("timeouts", rule.timeouts.as_ref().map(|t| t.referenced)),
        ("retry", rule.retry.as_ref().map(|r| r.referenced)),
    ];
    for (name, at) in present {
        if let Some(at) = at {
            let message = format!(
                "GRPCRoute rules have no {name} in Gateway API; set it in a RoutePolicy \
                 targeting {}",
                route.origin.object
            );
            fields.error(at, &format!("{field}.{name}"), message);
        }
    }
    Settings::default()
}

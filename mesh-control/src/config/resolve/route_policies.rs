//! RoutePolicies: the timeouts, retries and faults of the routes they target.
//!
//! A RoutePolicy applies to every rule of each HTTPRoute and GRPCRoute it targets. A route
//! takes one RoutePolicy at most, and a field set both by an HTTPRoute rule and by the
//! RoutePolicy of its route (`timeouts`, `retry`) is an error naming both places: there is no
//! silent winner.

use std::collections::BTreeMap;

use mesh_core::model::RoutePolicy;
use serde_saphyr::Location;

use super::fault;
use super::fields::Fields;
use super::retry::{self, Settings};
use super::targets::{self, Target, TargetKey, Targetable};
use crate::config::error::ConfigError;
use crate::config::kinds::route_policy::RoutePolicySpec;
use crate::config::kinds::{Body, Kind, Origin, Parsed};

/// What a RoutePolicy may target.
const TARGETABLE: Targetable = Targetable {
    policy: "RoutePolicy",
    groups: &["gateway.networking.k8s.io"],
    holder: "a route",
    kinds: &["HTTPRoute", "GRPCRoute"],
    example: "{group: gateway.networking.k8s.io, kind: GRPCRoute, name: serviceb-split}",
};

/// A route object: its kind, namespace and name.
type RouteKey = (Kind, String, String);

impl TargetKey for RouteKey {
    fn of(namespace: &str, target: &Target) -> Self {
        (
            route_kind(target.kind),
            namespace.to_string(),
            target.name.clone(),
        )
    }
}

/// A valid RoutePolicy.
#[derive(Debug)]
struct Policy {
    settings: Settings,
    origin: Origin,
}

/// The RoutePolicy of each route that has one.
#[derive(Debug, Default)]
pub(crate) struct RoutePolicies {
    policies: Vec<Policy>,
    by_route: BTreeMap<RouteKey, usize>,
}

impl RoutePolicies {
    /// Reads the RoutePolicies of `objects`; mistakes go to `errors`.
    pub(crate) fn collect(objects: &[Parsed], errors: &mut Vec<ConfigError>) -> Self {
        let routes: Vec<RouteKey> = objects
            .iter()
            .filter(|o| matches!(o.kind, Kind::HttpRoute | Kind::GrpcRoute))
            .map(|o| (o.kind, o.namespace.clone(), o.name.clone()))
            .collect();
        let mut found = Self::default();
        for object in objects {
            let Some(Body::RoutePolicy(spec)) = &object.body else {
                continue;
            };
            found.add(object, spec, &routes, errors);
        }
        found
    }

    /// Adds one RoutePolicy, unless it has mistakes.
    fn add(
        &mut self,
        object: &Parsed,
        spec: &RoutePolicySpec,
        routes: &[RouteKey],
        errors: &mut Vec<ConfigError>,
    ) {
        let mut fields = Fields::new(&object.origin, errors);
        let mark = fields.mark();
        let namespace = &object.namespace;
        let exists = |kind: &str, name: &str| {
            let kind = route_kind(kind);
            routes.contains(&(kind, namespace.clone(), name.to_string()))
        };
        let targets = targets::targets(
            &mut fields,
            &TARGETABLE,
            &spec.target_refs,
            namespace,
            exists,
        );
        let mut settings =
            retry::policy_settings(&mut fields, spec.timeouts.as_ref(), spec.retry.as_ref());
        settings.policy.fault = spec.fault.as_ref().map(|f| fault::fault(&mut fields, f));
        if spec.timeouts.is_none() && spec.retry.is_none() && spec.fault.is_none() {
            let message = "sets nothing; add timeouts, retry or fault";
            fields.error(Location::UNKNOWN, "spec", message);
        }
        if !fields.clean_since(mark) {
            return;
        }
        targets::claim(
            &mut fields,
            &mut self.by_route,
            &TARGETABLE,
            targets,
            namespace,
            self.policies.len(),
            |i| &self.policies[i].origin,
        );
        self.policies.push(Policy {
            settings,
            origin: object.origin.clone(),
        });
    }

    /// The policy of a rule (at `field`) of `route`: what the rule itself sets plus what the
    /// route's RoutePolicy sets. `None` after reporting a field that both set.
    pub(crate) fn for_rule(
        &self,
        route: &Parsed,
        field: &str,
        rule: Settings,
        errors: &mut Vec<ConfigError>,
    ) -> Option<RoutePolicy> {
        let key = (route.kind, route.namespace.clone(), route.name.clone());
        let Some(policy) = self.by_route.get(&key).map(|&i| &self.policies[i]) else {
            return Some(rule.policy);
        };
        let before = errors.len();
        let both = [
            ("timeouts", rule.timeouts_at, policy.settings.timeouts_at),
            ("retry", rule.retry_at, policy.settings.retry_at),
        ];
        for (name, here, there) in both {
            let (Some(here), Some(there)) = (here, there) else {
                continue;
            };
            let p = &policy.origin;
            let message = format!(
                "is also set by {} (spec.{name}) at {}:{}; set {name} in one place",
                p.object,
                p.file,
                p.line_of(there)
            );
            errors.push(route.origin.error(here, format!("{field}.{name}"), message));
        }
        if errors.len() > before {
            return None;
        }
        let set = &policy.settings.policy;
        Some(RoutePolicy {
            timeout: rule.policy.timeout.or(set.timeout),
            retry: rule.policy.retry.or_else(|| set.retry.clone()),
            fault: set.fault.clone(),
            hash_header: None,
        })
    }
}

/// The route kind a target kind names (one of [`TARGETABLE`]'s kinds).
fn route_kind(kind: &str) -> Kind {
    if kind == "GRPCRoute" {
        Kind::GrpcRoute
    } else {
        Kind::HttpRoute
    }
}

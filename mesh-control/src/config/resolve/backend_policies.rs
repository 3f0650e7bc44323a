//! BackendPolicies: the cluster policy of the Services they target.
//!
//! A BackendPolicy sets the [`ClusterPolicy`] of every port of each Service it targets; a
//! Service takes one BackendPolicy at most (two are an error naming both). Services without
//! one keep the default policy. With a ring-hash balancer, every route that forwards to the
//! Service hashes the policy's header; a route forwarding to two ring-hash Services must find
//! the same header in both.

use std::collections::BTreeMap;

use mesh_core::model::{ClusterPolicy, RouteAction};

use super::cluster_policy::{HashHeader, cluster_policy};
use super::fields::Fields;
use super::targets::{self, Targetable};
use crate::config::error::ConfigError;
use crate::config::kinds::{Body, Origin, Parsed};
use crate::config::{ServiceConfig, ServiceRef};
use crate::names::cluster_name;

/// What a BackendPolicy may target.
const TARGETABLE: Targetable = Targetable {
    policy: "BackendPolicy",
    groups: &["", "core"],
    holder: "a Service",
    kinds: &["Service"],
    example: "{kind: Service, name: serviceb-v1}",
};

/// A valid BackendPolicy.
struct Policy<'a> {
    cluster: ClusterPolicy,
    hash_header: Option<HashHeader>,
    origin: &'a Origin,
}

/// Sets the `policy` of `services` from the BackendPolicies of `objects`, and the hash header of
/// the routes to ring-hash Services; mistakes go to `errors`.
pub(crate) fn apply(
    objects: &[Parsed],
    services: &mut BTreeMap<ServiceRef, ServiceConfig>,
    errors: &mut Vec<ConfigError>,
) {
    let mut policies: Vec<Policy<'_>> = Vec::new();
    let mut by_service: BTreeMap<ServiceRef, usize> = BTreeMap::new();
    for object in objects {
        let Some(Body::BackendPolicy(spec)) = &object.body else {
            continue;
        };
        let mut fields = Fields::new(&object.origin, errors);
        let mark = fields.mark();
        let exists =
            |_: &str, name: &str| services.contains_key(&ServiceRef::new(&object.namespace, name));
        let targets = targets::targets(
            &mut fields,
            &TARGETABLE,
            &spec.target_refs,
            &object.namespace,
            exists,
        );
        let (cluster, hash_header) = cluster_policy(&mut fields, spec);
        if !fields.clean_since(mark) {
            continue;
        }
        targets::claim(
            &mut fields,
            &mut by_service,
            &TARGETABLE,
            targets,
            &object.namespace,
            policies.len(),
            |i| policies[i].origin,
        );
        policies.push(Policy {
            cluster,
            hash_header,
            origin: &object.origin,
        });
    }
    for (service, &index) in &by_service {
        if let Some(config) = services.get_mut(service) {
            config.policy = policies[index].cluster.clone();
        }
    }
    hash_headers(services, &policies, &by_service, errors);
}

/// Gives every route that forwards to a ring-hash Service the header its policy hashes.
fn hash_headers(
    services: &mut BTreeMap<ServiceRef, ServiceConfig>,
    policies: &[Policy<'_>],
    by_service: &BTreeMap<ServiceRef, usize>,
    errors: &mut Vec<ConfigError>,
) {
    // Cluster name -> the policy of its Service, for ring-hash Services.
    let mut ring_hashed: BTreeMap<String, &Policy<'_>> = BTreeMap::new();
    for (service, config) in services.iter() {
        let Some(policy) = by_service.get(service).map(|&i| &policies[i]) else {
            continue;
        };
        if policy.hash_header.is_some() {
            for port in &config.ports {
                ring_hashed.insert(cluster_name(service, port.port), policy);
            }
        }
    }
    if ring_hashed.is_empty() {
        return;
    }
    for config in services.values_mut() {
        for route in config.ports.iter_mut().flat_map(|p| p.routes.iter_mut()) {
            let RouteAction::Forward(clusters) = &route.action else {
                continue;
            };
            let mut chosen: Option<(&str, &Policy<'_>)> = None;
            for policy in clusters.iter().filter_map(|c| ring_hashed.get(&c.cluster)) {
                let Some((header, at)) = &policy.hash_header else {
                    continue;
                };
                match chosen {
                    None => chosen = Some((header, policy)),
                    Some((first_header, first)) if first_header != header => {
                        let message = format!(
                            "{header:?} differs from {first_header:?}, the header of {} at {}:{}, \
                             while route {} forwards to the Services of both; hash the same header",
                            first.origin.object, first.origin.file, first.origin.line, route.name
                        );
                        let field = "spec.loadBalancer.ringHash.header";
                        errors.push(policy.origin.error(*at, field, message));
                    }
                    Some(_) => {}
                }
            }
            route.policy.hash_header = chosen.map(|(header, _)| header.to_string());
        }
    }
}

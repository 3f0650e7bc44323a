//! A route's references: the Service ports it attaches to and the backends it sends to.
//!
//! Both must be Services in the route's own namespace: cross-namespace references need
//! Gateway API's ReferenceGrant, which is not supported yet. A `parentRef` without `port`
//! attaches to every port of the Service. A `backendRef` without `port` sends to the backend
//! Service's first port (Gateway API requires the port; we default it for brevity).

use mesh_core::model::WeightedCluster;
use serde_saphyr::{Location, Spanned};

use super::catalog::{Catalog, Unresolved};
use super::port_number;
use crate::config::ServiceRef;
use crate::config::error::ConfigError;
use crate::config::kinds::Parsed;
use crate::config::kinds::route::{BackendRef, ParentRef};
use crate::names::cluster_name;

/// The largest backend weight Gateway API allows.
const MAX_WEIGHT: i64 = 1_000_000;

/// The Service ports a route attaches to, without repeats; mistakes go to `errors`.
pub(crate) fn parents(
    route: &Parsed,
    refs: &[Spanned<ParentRef>],
    catalog: &Catalog,
    errors: &mut Vec<ConfigError>,
) -> Vec<(ServiceRef, u16)> {
    let origin = &route.origin;
    if refs.is_empty() {
        let message = "is missing; attach the route to a Service with \
                       `parentRefs: [{group: \"\", kind: Service, name: <service>}]`";
        errors.push(origin.error(Location::UNKNOWN, "spec.parentRefs", message));
    }
    let mut attached = Vec::new();
    for (i, parent) in refs.iter().enumerate() {
        let field = format!("spec.parentRefs[{i}]");
        let mut error = |at, sub: &str, message: String| {
            errors.push(origin.error(at, format!("{field}{sub}"), message))
        };
        let p = &parent.value;
        let kind = p.kind.as_deref().unwrap_or("Gateway");
        if !is_core_group(p.group.as_deref().unwrap_or("gateway.networking.k8s.io"))
            || kind != "Service"
        {
            let message = format!(
                "refers to a {kind}; in this mesh routes attach to Services (GAMMA): \
                 set `group: \"\"` and `kind: Service`"
            );
            error(parent.referenced, "", message);
            continue;
        }
        if let Some(ns) = p
            .namespace
            .as_ref()
            .filter(|ns| ns.value != route.namespace)
        {
            let message = format!(
                "{:?}: cross-namespace parents are not supported yet; put the route in namespace {:?}",
                ns.value, ns.value
            );
            error(ns.referenced, ".namespace", message);
            continue;
        }
        if let Some(section) = &p.section_name {
            error(
                section.referenced,
                ".sectionName",
                "is not supported; choose the Service port with `port`".into(),
            );
            continue;
        }
        let service = ServiceRef::new(&route.namespace, &p.name.value);
        let ports: Vec<u16> = match &p.port {
            None => match catalog.service(&service) {
                Ok(entry) => entry.ports.iter().map(|port| port.port).collect(),
                Err(Unresolved::Reported) => continue,
                Err(Unresolved::Error(message)) => {
                    error(p.name.referenced, ".name", message);
                    continue;
                }
            },
            Some(port) => {
                let found = port_number(port.value)
                    .map_err(Unresolved::Error)
                    .and_then(|n| catalog.port(&service, Some(n)));
                match found {
                    Ok(found) => vec![found.port],
                    Err(Unresolved::Reported) => continue,
                    Err(Unresolved::Error(message)) => {
                        let (at, sub) = match catalog.service(&service) {
                            Ok(_) => (port.referenced, ".port"),
                            Err(_) => (p.name.referenced, ".name"),
                        };
                        error(at, sub, message);
                        continue;
                    }
                }
            }
        };
        for port in ports {
            if !attached.contains(&(service.clone(), port)) {
                attached.push((service.clone(), port));
            }
        }
    }
    attached
}

/// The weighted clusters of a rule's `backendRefs` (`field` is the rule's path, `rule_at` its
/// location); `None` after pushing the rule's mistakes.
pub(crate) fn backends(
    route: &Parsed,
    field: &str,
    rule_at: Location,
    refs: &[Spanned<BackendRef>],
    catalog: &Catalog,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<WeightedCluster>> {
    let origin = &route.origin;
    let before = errors.len();
    if refs.is_empty() {
        let message = "is missing; add the Services that take this rule's requests";
        errors.push(origin.error(rule_at, format!("{field}.backendRefs"), message));
        return None;
    }
    let mut clusters: Vec<WeightedCluster> = Vec::new();
    let mut reported = false; // a backend Service has a mistake of its own
    for (k, backend) in refs.iter().enumerate() {
        let field = format!("{field}.backendRefs[{k}]");
        let mut error = |at, sub: &str, message: String| {
            errors.push(origin.error(at, format!("{field}{sub}"), message))
        };
        let b = &backend.value;
        let kind = b.kind.as_deref().unwrap_or("Service");
        if !is_core_group(b.group.as_deref().unwrap_or("")) || kind != "Service" {
            error(
                backend.referenced,
                "",
                format!("refers to a {kind}; only Service backends are supported"),
            );
            continue;
        }
        if let Some(ns) = b
            .namespace
            .as_ref()
            .filter(|ns| ns.value != route.namespace)
        {
            let message = format!(
                "{:?}: cross-namespace backends are not supported yet (they need a ReferenceGrant); \
                 use a Service in namespace {:?}",
                ns.value, route.namespace
            );
            error(ns.referenced, ".namespace", message);
            continue;
        }
        if let Some(filters) = &b.filters {
            error(
                filters.referenced,
                ".filters",
                "are not supported yet; remove them".into(),
            );
        }
        let weight = match &b.weight {
            None => 1,
            Some(w) if w.value < 0 => {
                error(
                    w.referenced,
                    ".weight",
                    format!("{} is negative; use 0 or more", w.value),
                );
                continue;
            }
            Some(w) if w.value > MAX_WEIGHT => {
                error(
                    w.referenced,
                    ".weight",
                    format!(
                        "{} is above the maximum {MAX_WEIGHT}; scale the weights down",
                        w.value
                    ),
                );
                continue;
            }
            Some(w) => u32::try_from(w.value).unwrap_or(u32::MAX), // within 0..=MAX_WEIGHT
        };
        let service = ServiceRef::new(&route.namespace, &b.name.value);
        let port = match &b.port {
            None => None,
            Some(port) => match port_number(port.value) {
                Ok(n) => Some(n),
                Err(message) => {
                    error(port.referenced, ".port", message);
                    continue;
                }
            },
        };
        match catalog.port(&service, port) {
            Ok(found) => {
                let cluster = cluster_name(&service, found.port);
                match clusters.iter_mut().find(|c| c.cluster == cluster) {
                    Some(same) => same.weight = same.weight.saturating_add(weight),
                    None => clusters.push(WeightedCluster { cluster, weight }),
                }
            }
            Err(Unresolved::Reported) => reported = true,
            Err(Unresolved::Error(message)) => {
                let (at, sub) = match (&b.port, catalog.service(&service)) {
                    (Some(port), Ok(_)) => (port.referenced, ".port"),
                    _ => (b.name.referenced, ".name"),
                };
                error(at, sub, message);
            }
        }
    }
    if errors.len() > before || reported {
        return None;
    }
    clusters.retain(|c| c.weight > 0);
    if clusters.is_empty() {
        let message = "weights are all zero; Gateway API would answer every request with HTTP 500, \
                       so this config refuses it: give at least one backend a weight above 0";
        errors.push(origin.error(rule_at, format!("{field}.backendRefs"), message));
        return None;
    }
    Some(clusters)
}

/// Whether `group` names the core API group, where Services live.
fn is_core_group(group: &str) -> bool {
    group.is_empty() || group == "core"
}

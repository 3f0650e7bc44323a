//! `RouteConfiguration` (RDS, or inline in a listener) to [`model::RouteConfig`] (gRFC A28).
//!
//! A route whose match or action this client cannot honour makes the whole resource invalid:
//! serving it without the unsupported part would send requests where the operator did not mean
//! them to go. Each route's policy is decoded by `route_policy`.

use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteConfiguration, RouteMatch, VirtualHost, route, route_action::ClusterSpecifier,
    route_match::PathSpecifier,
};

use super::error::{Context, DecodeError};
use super::matcher;
use super::route_policy::{HostDefaults, host_defaults, route_policy};
use crate::model::{self, PathMatch, RouteAction, WeightedCluster};

/// Decodes a RouteConfiguration resource.
pub fn route_config(proto: &RouteConfiguration) -> Result<model::RouteConfig, DecodeError> {
    route_config_at(
        Context {
            kind: "RouteConfiguration",
            resource: &proto.name,
        },
        "",
        proto,
    )
}

/// Decodes a RouteConfiguration found at `prefix` inside the resource of `ctx`.
pub(crate) fn route_config_at(
    ctx: Context<'_>,
    prefix: &str,
    proto: &RouteConfiguration,
) -> Result<model::RouteConfig, DecodeError> {
    let virtual_hosts = proto
        .virtual_hosts
        .iter()
        .enumerate()
        .map(|(i, vh)| virtual_host(ctx, &join(prefix, &format!("virtual_hosts[{i}]")), vh))
        .collect::<Result<_, _>>()?;
    Ok(model::RouteConfig {
        name: proto.name.clone(),
        virtual_hosts,
    })
}

fn virtual_host(
    ctx: Context<'_>,
    field: &str,
    proto: &VirtualHost,
) -> Result<model::VirtualHost, DecodeError> {
    if proto.domains.is_empty() || proto.domains.iter().any(String::is_empty) {
        return Err(ctx.error(
            format!("{field}.domains"),
            "must list at least one non-empty domain",
        ));
    }
    let defaults = host_defaults(ctx, field, proto)?;
    let routes = proto
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| self::route(ctx, &format!("{field}.routes[{i}]"), r, &defaults))
        .collect::<Result<_, _>>()?;
    Ok(model::VirtualHost {
        name: proto.name.clone(),
        domains: proto.domains.clone(),
        routes,
    })
}

fn route(
    ctx: Context<'_>,
    field: &str,
    proto: &Route,
    host: &HostDefaults,
) -> Result<model::Route, DecodeError> {
    let Some(matcher) = &proto.r#match else {
        return Err(ctx.error(format!("{field}.match"), "is missing"));
    };
    Ok(model::Route {
        name: proto.name.clone(),
        matcher: route_match(ctx, &format!("{field}.match"), matcher)?,
        action: action(ctx, field, proto.action.as_ref())?,
        policy: route_policy(ctx, field, proto, host)?,
    })
}

fn route_match(
    ctx: Context<'_>,
    field: &str,
    proto: &RouteMatch,
) -> Result<model::RouteMatch, DecodeError> {
    if proto.runtime_fraction.is_some() {
        return Err(ctx.error(
            format!("{field}.runtime_fraction"),
            "is not supported; remove it",
        ));
    }
    if !proto.query_parameters.is_empty() {
        return Err(ctx.error(
            format!("{field}.query_parameters"),
            "are not supported; remove them",
        ));
    }
    let path = match &proto.path_specifier {
        Some(PathSpecifier::Prefix(p)) => PathMatch::Prefix(p.clone()),
        Some(PathSpecifier::Path(p)) => PathMatch::Exact(p.clone()),
        Some(PathSpecifier::SafeRegex(re)) => PathMatch::Regex(matcher::pattern(
            ctx,
            &format!("{field}.safe_regex.regex"),
            &re.regex,
        )?),
        Some(_) => {
            return Err(ctx.error(
                field,
                "path matcher is not supported; use prefix, path or safe_regex",
            ));
        }
        None => return Err(ctx.error(field, "has no path matcher; use prefix, path or safe_regex")),
    };
    let headers = proto
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| matcher::header(ctx, &format!("{field}.headers[{i}]"), h))
        .collect::<Result<_, _>>()?;
    Ok(model::RouteMatch {
        path,
        case_sensitive: proto.case_sensitive.is_none_or(|b| b.value),
        headers,
    })
}

fn action(
    ctx: Context<'_>,
    field: &str,
    proto: Option<&route::Action>,
) -> Result<RouteAction, DecodeError> {
    let route_action = match proto {
        Some(route::Action::Route(a)) => a,
        Some(route::Action::NonForwardingAction(_)) => return Ok(RouteAction::NonForwarding),
        Some(_) => {
            return Err(ctx.error(
                field,
                "action is not supported; use route or non_forwarding_action",
            ));
        }
        None => return Err(ctx.error(field, "has no action")),
    };
    let field = format!("{field}.route");
    let clusters = match &route_action.cluster_specifier {
        Some(ClusterSpecifier::Cluster(name)) if !name.is_empty() => {
            vec![WeightedCluster {
                cluster: name.clone(),
                weight: 1,
            }]
        }
        Some(ClusterSpecifier::Cluster(_)) => {
            return Err(ctx.error(format!("{field}.cluster"), "is empty"));
        }
        Some(ClusterSpecifier::WeightedClusters(w)) => {
            weighted_clusters(ctx, &format!("{field}.weighted_clusters"), &w.clusters)?
        }
        Some(_) => {
            return Err(ctx.error(
                &field,
                "cluster specifier is not supported; use cluster or weighted_clusters",
            ));
        }
        None => return Err(ctx.error(&field, "names no cluster")),
    };
    Ok(RouteAction::Forward(clusters))
}

fn weighted_clusters(
    ctx: Context<'_>,
    field: &str,
    proto: &[envoy_types::pb::envoy::config::route::v3::weighted_cluster::ClusterWeight],
) -> Result<Vec<WeightedCluster>, DecodeError> {
    let mut clusters = Vec::with_capacity(proto.len());
    let mut total: u64 = 0;
    for (i, c) in proto.iter().enumerate() {
        if c.name.is_empty() {
            return Err(ctx.error(
                format!("{field}.clusters[{i}].name"),
                "is empty (cluster_header is not supported)",
            ));
        }
        let weight = c.weight.map_or(0, |w| w.value);
        total += u64::from(weight);
        clusters.push(WeightedCluster {
            cluster: c.name.clone(),
            weight,
        });
    }
    if total == 0 || total > u64::from(u32::MAX) {
        return Err(ctx.error(
            format!("{field}.clusters"),
            format!(
                "weights add up to {total}; they must add up to between 1 and {}",
                u32::MAX
            ),
        ));
    }
    Ok(clusters)
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;

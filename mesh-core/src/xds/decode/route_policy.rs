//! A route's [`RoutePolicy`]: its timeout (gRFC A31), retries (gRFC A44, see `retry`), ring-hash
//! key (gRFC A42) and faults (gRFC A33, see `fault`).
//!
//! As in gRPC: the timeout is `max_stream_duration.grpc_timeout_header_max` if set, else
//! `max_stream_duration.max_stream_duration`, and zero means none; a route's `retry_policy` or
//! fault config replaces its virtual host's; the hash key is the first `header` hash policy
//! (other kinds are skipped, and a `regex_rewrite` is not applied: the raw value is hashed,
//! which keeps each key on one endpoint).

use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, VirtualHost, route,
    route_action::{MaxStreamDuration, hash_policy::PolicySpecifier},
};

use super::common::duration;
use super::error::{Context, DecodeError};
use super::{fault, retry};
use crate::model::{FaultInjection, RetryPolicy, RoutePolicy};

/// The policy a virtual host gives the routes that do not set their own.
#[derive(Debug)]
pub(crate) struct HostDefaults {
    retry: Option<RetryPolicy>,
    fault: Option<FaultInjection>,
}

/// Decodes the policy of the virtual host at `field`.
pub(crate) fn host_defaults(
    ctx: Context<'_>,
    field: &str,
    proto: &VirtualHost,
) -> Result<HostDefaults, DecodeError> {
    let retry = match &proto.retry_policy {
        Some(p) => retry::retry_policy(ctx, &format!("{field}.retry_policy"), p)?,
        None => None,
    };
    let fault = fault::per_filter_config(
        ctx,
        &format!("{field}.typed_per_filter_config"),
        &proto.typed_per_filter_config,
    )?
    .flatten();
    Ok(HostDefaults { retry, fault })
}

/// Decodes the policy of the route at `field`.
pub(crate) fn route_policy(
    ctx: Context<'_>,
    field: &str,
    proto: &Route,
    host: &HostDefaults,
) -> Result<RoutePolicy, DecodeError> {
    let fault = match fault::per_filter_config(
        ctx,
        &format!("{field}.typed_per_filter_config"),
        &proto.typed_per_filter_config,
    )? {
        Some(own) => own,
        None => host.fault.clone(),
    };
    let Some(route::Action::Route(action)) = &proto.action else {
        return Ok(RoutePolicy {
            fault,
            ..Default::default()
        });
    };
    let field = format!("{field}.route");
    let retry = match &action.retry_policy {
        Some(p) => retry::retry_policy(ctx, &format!("{field}.retry_policy"), p)?,
        None => host.retry.clone(),
    };
    Ok(RoutePolicy {
        timeout: timeout(ctx, &field, action.max_stream_duration.as_ref())?,
        retry,
        fault,
        hash_header: hash_header(ctx, &field, action)?,
    })
}

fn timeout(
    ctx: Context<'_>,
    field: &str,
    proto: Option<&MaxStreamDuration>,
) -> Result<Option<std::time::Duration>, DecodeError> {
    let Some(m) = proto else {
        return Ok(None);
    };
    let (name, d) = match (&m.grpc_timeout_header_max, &m.max_stream_duration) {
        (Some(d), _) => ("grpc_timeout_header_max", d),
        (None, Some(d)) => ("max_stream_duration", d),
        (None, None) => return Ok(None),
    };
    let d = duration(ctx, &format!("{field}.max_stream_duration.{name}"), d)?;
    Ok((!d.is_zero()).then_some(d))
}

fn hash_header(
    ctx: Context<'_>,
    field: &str,
    action: &RouteAction,
) -> Result<Option<String>, DecodeError> {
    let first =
        action
            .hash_policy
            .iter()
            .enumerate()
            .find_map(|(i, p)| match &p.policy_specifier {
                Some(PolicySpecifier::Header(h)) => Some((i, h)),
                _ => None,
            });
    let Some((i, header)) = first else {
        return Ok(None);
    };
    if header.header_name.is_empty() {
        return Err(ctx.error(
            format!("{field}.hash_policy[{i}].header.header_name"),
            "is empty",
        ));
    }
    Ok(Some(header.header_name.to_ascii_lowercase()))
}

#[cfg(test)]
#[path = "route_policy_tests.rs"]
mod tests;

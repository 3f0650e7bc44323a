//! A cluster's [`ClusterPolicy`]: the balancer (see `lb`), the circuit breaker (gRFC A32),
//! outlier detection (see `outlier`) and the retry budget.
//!
//! The breaker is the first `circuit_breakers.thresholds` entry of `DEFAULT` priority, as in
//! gRPC: its `max_requests` and `max_pending_requests` (each 1024 when unset). The retry
//! budget is in `metadata.filter_metadata["mesh.dev"].retryBudget` (`ratio` in (0, 1],
//! `minRetriesPerSecond` a whole number, `ttlSeconds` positive; each defaulted when absent);
//! without it the cluster has the default budget.

use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{CircuitBreakers, Cluster};
use envoy_types::pb::envoy::config::core::v3::RoutingPriority;
use envoy_types::pb::google::protobuf::{Struct, value::Kind};

use super::error::{Context, DecodeError};
use super::lb::lb_policy;
use super::outlier::outlier_detection;
use crate::model::{CircuitBreaker, ClusterPolicy, RetryBudget};
use crate::xds::encode::{
    BUDGET_MIN_PER_SECOND, BUDGET_RATIO, BUDGET_TTL_SECONDS, MESH_METADATA, RETRY_BUDGET,
};

/// Decodes the policy of a cluster.
pub(crate) fn cluster_policy(
    ctx: Context<'_>,
    proto: &Cluster,
) -> Result<ClusterPolicy, DecodeError> {
    let retry_budget = match proto
        .metadata
        .as_ref()
        .and_then(|m| m.filter_metadata.get(MESH_METADATA))
    {
        Some(mesh) => retry_budget(ctx, mesh)?,
        None => RetryBudget::default(),
    };
    Ok(ClusterPolicy {
        lb: lb_policy(ctx, proto)?,
        circuit_breaker: proto
            .circuit_breakers
            .as_ref()
            .map_or_else(CircuitBreaker::default, circuit_breaker),
        outlier_detection: match &proto.outlier_detection {
            Some(od) => Some(outlier_detection(ctx, od)?),
            None => None,
        },
        retry_budget,
    })
}

fn circuit_breaker(proto: &CircuitBreakers) -> CircuitBreaker {
    let defaults = CircuitBreaker::default();
    let Some(t) = proto
        .thresholds
        .iter()
        .find(|t| t.priority == RoutingPriority::Default as i32)
    else {
        return defaults;
    };
    CircuitBreaker {
        max_requests: t.max_requests.map_or(defaults.max_requests, |v| v.value),
        max_pending: t
            .max_pending_requests
            .map_or(defaults.max_pending, |v| v.value),
    }
}

/// The retry budget in our metadata, if there.
fn retry_budget(ctx: Context<'_>, mesh: &Struct) -> Result<RetryBudget, DecodeError> {
    let mut budget = RetryBudget::default();
    let field = format!("metadata.filter_metadata[{MESH_METADATA:?}].{RETRY_BUDGET}");
    let Some(value) = mesh.fields.get(RETRY_BUDGET) else {
        return Ok(budget);
    };
    let Some(Kind::StructValue(fields)) = &value.kind else {
        return Err(ctx.error(field, "must be an object"));
    };
    let number = |key: &str| -> Result<Option<f64>, DecodeError> {
        match fields.fields.get(key).map(|v| &v.kind) {
            None => Ok(None),
            Some(Some(Kind::NumberValue(n))) if n.is_finite() => Ok(Some(*n)),
            Some(_) => Err(ctx.error(format!("{field}.{key}"), "must be a number")),
        }
    };
    if let Some(ratio) = number(BUDGET_RATIO)? {
        if !(ratio > 0.0 && ratio <= 1.0) {
            return Err(ctx.error(
                format!("{field}.{BUDGET_RATIO}"),
                format!("is {ratio}; it must be above 0 and at most 1"),
            ));
        }
        budget.ratio = ratio;
    }
    if let Some(min) = number(BUDGET_MIN_PER_SECOND)? {
        if min.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&min) {
            return Err(ctx.error(
                format!("{field}.{BUDGET_MIN_PER_SECOND}"),
                format!("is {min}; it must be a whole number from 0 to {}", u32::MAX),
            ));
        }
        budget.min_per_second = min as u32;
    }
    if let Some(ttl) = number(BUDGET_TTL_SECONDS)? {
        budget.ttl = Duration::try_from_secs_f64(ttl)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                ctx.error(
                    format!("{field}.{BUDGET_TTL_SECONDS}"),
                    format!("is {ttl}; it must be a positive number of seconds"),
                )
            })?;
    }
    Ok(budget)
}

#[cfg(test)]
#[path = "cluster_policy_tests.rs"]
mod tests;

//! A cluster's balancer: `load_balancing_policy` (gRFC A52) or else the legacy `lb_policy`.
//!
//! From `load_balancing_policy`, the first entry this client supports wins, as in gRPC: our
//! P2C peak-EWMA (a `TypedStruct`), `round_robin`, `least_request` (gRFC A48: `choice_count`
//! at least 2; this client always compares two) and `ring_hash` (gRFC A42: xxHash, ring sizes
//! up to 8M with min <= max; zero or unset sizes take the defaults 1024 and 8M). A supported
//! entry with a config gRPC refuses is an error, not skipped.
//!
//! Without it, `lb_policy` says ROUND_ROBIN (the proto default, so what other xDS servers
//! send), LEAST_REQUEST or RING_HASH, with `least_request_lb_config` or `ring_hash_lb_config`.
//! mesh-control always sends `load_balancing_policy`.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::extensions::load_balancing_policies::{
    least_request::v3::LeastRequest,
    ring_hash::v3::{RingHash, ring_hash::HashFunction},
};
use envoy_types::pb::google::protobuf::{Any, UInt32Value, UInt64Value};
use prost::Message;

use super::common::unpack;
use super::error::{Context, DecodeError};
use crate::model::{DEFAULT_MIN_RING_SIZE, LbPolicy, MAX_RING_SIZE_LIMIT};
use crate::xds::encode::TypedStruct;
use crate::xds::type_url;

/// Decodes the balancer of a cluster.
pub(crate) fn lb_policy(ctx: Context<'_>, proto: &Cluster) -> Result<LbPolicy, DecodeError> {
    let Some(policy) = &proto.load_balancing_policy else {
        return legacy(ctx, proto);
    };
    let mut seen = Vec::new();
    for (i, p) in policy.policies.iter().enumerate() {
        let Some(any) = p
            .typed_extension_config
            .as_ref()
            .and_then(|c| c.typed_config.as_ref())
        else {
            continue;
        };
        let field = format!("load_balancing_policy.policies[{i}].typed_extension_config");
        match supported(ctx, &field, any)? {
            Some(lb) => return Ok(lb),
            None => seen.push(policy_type(any)),
        }
    }
    Err(ctx.error(
        "load_balancing_policy.policies",
        format!(
            "has no supported policy (found {seen:?}; supported: {} in a TypedStruct, {}, {}, {})",
            type_url::P2C_PEAK_EWMA,
            type_url::ROUND_ROBIN,
            type_url::LEAST_REQUEST,
            type_url::RING_HASH,
        ),
    ))
}

/// The balancer `any` (at `field`) stands for, if this client supports it.
fn supported(ctx: Context<'_>, field: &str, any: &Any) -> Result<Option<LbPolicy>, DecodeError> {
    let field = format!("{field}.typed_config");
    let lb = match any.type_url.as_str() {
        type_url::ROUND_ROBIN => LbPolicy::RoundRobin,
        type_url::LEAST_REQUEST => {
            let lr: LeastRequest =
                unpack(ctx, &field, any, type_url::LEAST_REQUEST, "LeastRequest")?;
            least_request(ctx, &field, lr.choice_count)?
        }
        type_url::RING_HASH => {
            let rh: RingHash = unpack(ctx, &field, any, type_url::RING_HASH, "RingHash")?;
            let xx = [HashFunction::DefaultHash, HashFunction::XxHash];
            if !xx.iter().any(|&h| h as i32 == rh.hash_function) {
                return Err(ctx.error(
                    format!("{field}.hash_function"),
                    "must be XX_HASH (or DEFAULT_HASH, which is XX_HASH)",
                ));
            }
            ring_hash(ctx, &field, rh.minimum_ring_size, rh.maximum_ring_size)?
        }
        type_url::TYPED_STRUCT => {
            let typed: TypedStruct =
                unpack(ctx, &field, any, type_url::TYPED_STRUCT, "TypedStruct")?;
            if typed.type_url != type_url::P2C_PEAK_EWMA {
                return Ok(None);
            }
            LbPolicy::P2cPeakEwma
        }
        _ => return Ok(None),
    };
    Ok(Some(lb))
}

/// The legacy `lb_policy` enum, with its config.
fn legacy(ctx: Context<'_>, proto: &Cluster) -> Result<LbPolicy, DecodeError> {
    match cluster::LbPolicy::try_from(proto.lb_policy) {
        Ok(cluster::LbPolicy::RoundRobin) => Ok(LbPolicy::RoundRobin),
        Ok(cluster::LbPolicy::LeastRequest) => {
            let choices = match &proto.lb_config {
                Some(cluster::LbConfig::LeastRequestLbConfig(c)) => c.choice_count,
                _ => None,
            };
            least_request(ctx, "least_request_lb_config", choices)
        }
        Ok(cluster::LbPolicy::RingHash) => {
            let field = "ring_hash_lb_config";
            let Some(cluster::LbConfig::RingHashLbConfig(c)) = &proto.lb_config else {
                return ring_hash(ctx, field, None, None);
            };
            if c.hash_function != cluster::ring_hash_lb_config::HashFunction::XxHash as i32 {
                return Err(ctx.error(format!("{field}.hash_function"), "must be XX_HASH"));
            }
            ring_hash(ctx, field, c.minimum_ring_size, c.maximum_ring_size)
        }
        other => {
            let name = other.map_or("unknown", |p| p.as_str_name());
            Err(ctx.error(
                "lb_policy",
                format!(
                    "{name} is not supported; use ROUND_ROBIN, LEAST_REQUEST, RING_HASH or \
                     load_balancing_policy"
                ),
            ))
        }
    }
}

/// Least request: at least two choices (default 2).
fn least_request(
    ctx: Context<'_>,
    field: &str,
    choice_count: Option<UInt32Value>,
) -> Result<LbPolicy, DecodeError> {
    match choice_count {
        Some(c) if c.value < 2 => Err(ctx.error(
            format!("{field}.choice_count"),
            format!("is {}; it must be at least 2", c.value),
        )),
        _ => Ok(LbPolicy::P2cLeastRequest),
    }
}

/// Ring hash: sizes up to [`MAX_RING_SIZE_LIMIT`], min <= max; zero or unset takes the default
/// ([`DEFAULT_MIN_RING_SIZE`], [`MAX_RING_SIZE_LIMIT`]).
fn ring_hash(
    ctx: Context<'_>,
    field: &str,
    min: Option<UInt64Value>,
    max: Option<UInt64Value>,
) -> Result<LbPolicy, DecodeError> {
    let size =
        |v: Option<UInt64Value>, default| v.map(|v| v.value).filter(|&v| v > 0).unwrap_or(default);
    let min_ring_size = size(min, DEFAULT_MIN_RING_SIZE);
    let max_ring_size = size(max, MAX_RING_SIZE_LIMIT);
    for (name, value) in [
        ("minimum_ring_size", min_ring_size),
        ("maximum_ring_size", max_ring_size),
    ] {
        if value > MAX_RING_SIZE_LIMIT {
            return Err(ctx.error(
                format!("{field}.{name}"),
                format!("is {value}; it must be at most {MAX_RING_SIZE_LIMIT}"),
            ));
        }
    }
    if min_ring_size > max_ring_size {
        return Err(ctx.error(
            format!("{field}.minimum_ring_size"),
            format!("{min_ring_size} is over maximum_ring_size {max_ring_size}"),
        ));
    }
    Ok(LbPolicy::RingHash {
        min_ring_size,
        max_ring_size,
    })
}

/// The type a policy stands for, for error messages (a TypedStruct's inner type).
fn policy_type(any: &Any) -> String {
    if any.type_url == type_url::TYPED_STRUCT
        && let Ok(typed) = TypedStruct::decode(any.value.as_slice())
    {
        return typed.type_url;
    }
    any.type_url.clone()
}

#[cfg(test)]
#[path = "lb_tests.rs"]
mod tests;

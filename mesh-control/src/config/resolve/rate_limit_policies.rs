//! RateLimitPolicies: the local rate limit of the servers of the Services they target.
//!
//! `requestsPerSecond` R and `burst` B become a token bucket of B tokens refilled with k tokens
//! every k/R seconds, k being the smallest whole number that keeps the interval at 50 ms or more
//! (Envoy's shortest): k = ceil(R / 20). A bucket smaller than k would throw away part of each
//! refill and never reach R, so B must be k or more. A Service takes one RateLimitPolicy at most.

use std::collections::BTreeMap;
use std::time::Duration;

use mesh_core::model::LocalRateLimit;

use super::fields::Fields;
use super::targets::{self, Targetable};
use crate::config::error::ConfigError;
use crate::config::kinds::rate_limit_policy::RateLimitPolicySpec;
use crate::config::kinds::{Body, Parsed};
use crate::config::{ServiceConfig, ServiceRef};

/// What a RateLimitPolicy may target.
const TARGETABLE: Targetable = Targetable {
    policy: "RateLimitPolicy",
    groups: &["", "core"],
    holder: "a Service",
    kinds: &["Service"],
    example: "{kind: Service, name: serviceb-v1}",
};

/// The most requests per second a policy may set (per server).
const MAX_RATE: u32 = 10_000_000;

/// Refills per second at most: one every 50 ms.
const MAX_REFILLS_PER_SECOND: u32 = 20;

/// Sets the `rate_limit` of `services` from the RateLimitPolicies of `objects`; mistakes go to
/// `errors`.
pub(crate) fn apply(
    objects: &[Parsed],
    services: &mut BTreeMap<ServiceRef, ServiceConfig>,
    errors: &mut Vec<ConfigError>,
) {
    let mut claimed = BTreeMap::new();
    for object in objects {
        let Some(Body::RateLimitPolicy(spec)) = &object.body else {
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
        let limit = rate_limit(&mut fields, spec);
        let Some(limit) = limit.filter(|_| fields.clean_since(mark)) else {
            continue;
        };
        let ns = &object.namespace;
        let origin = &object.origin;
        let claim = |o| o;
        for service in targets::claim(
            &mut fields,
            &mut claimed,
            &TARGETABLE,
            targets,
            ns,
            origin,
            claim,
        ) {
            if let Some(config) = services.get_mut(&service) {
                config.rate_limit = Some(limit);
            }
        }
    }
}

/// The token bucket of a policy, or `None` after reporting its mistakes.
fn rate_limit(fields: &mut Fields<'_>, spec: &RateLimitPolicySpec) -> Option<LocalRateLimit> {
    let rate = fields.integer(
        &spec.requests_per_second,
        "spec.requestsPerSecond",
        1..=MAX_RATE,
        "requests per second, for each server",
    )?;
    let per_fill = rate.div_ceil(MAX_REFILLS_PER_SECOND);
    let burst = match &spec.burst {
        None => rate.div_ceil(10),
        Some(written) => {
            let field = "spec.burst";
            let burst = fields.integer(written, field, 1..=MAX_RATE, "requests at once")?;
            if burst < per_fill {
                let message = format!(
                    "{burst} is below {per_fill}, the requests one refill adds (refills come every \
                     50ms or more, so at {rate} per second each adds {per_fill}): the server could \
                     not reach requestsPerSecond; use a burst of {per_fill} or more, or leave it out"
                );
                fields.error(written.referenced, field, message);
                return None;
            }
            burst
        }
    };
    // per_fill / rate seconds, at least 50 ms as per_fill >= rate / 20.
    let nanos = u64::from(per_fill) * 1_000_000_000 / u64::from(rate);
    Some(LocalRateLimit {
        max_tokens: burst,
        tokens_per_fill: per_fill,
        fill_interval: Duration::from_nanos(nanos),
    })
}

//! The spec of a BackendPolicy in model terms: a [`ClusterPolicy`], plus the header that
//! routes hash for a ring-hash balancer. Every field left out keeps the model's default.

use mesh_core::model::{
    CircuitBreaker, ClusterPolicy, DEFAULT_MIN_RING_SIZE, LbPolicy, MAX_RING_SIZE_LIMIT,
    RetryBudget,
};
use serde_saphyr::{Location, Spanned};

use super::fields::Fields;
use super::matching::check_header_name;
use super::outlier;
use crate::config::kinds::backend_policy::{self, BackendPolicySpec, LoadBalancer};

/// [`MAX_RING_SIZE_LIMIT`] (8M) as a YAML integer bound.
const RING_LIMIT: u32 = MAX_RING_SIZE_LIMIT as u32;

/// A header name (lower case) and where it is written.
pub(crate) type HashHeader = (String, Location);

/// The cluster policy of `spec` and the header to hash, if the balancer is a ring hash.
/// Mistakes are reported through `fields`.
pub(crate) fn cluster_policy(
    fields: &mut Fields<'_>,
    spec: &BackendPolicySpec,
) -> (ClusterPolicy, Option<HashHeader>) {
    let (lb, header) = spec
        .load_balancer
        .as_ref()
        .map_or((LbPolicy::default(), None), |lb| load_balancer(fields, lb));
    let policy = ClusterPolicy {
        lb,
        circuit_breaker: spec
            .circuit_breaker
            .as_ref()
            .map_or_else(CircuitBreaker::default, |c| {
                circuit_breaker(fields, &c.value)
            }),
        outlier_detection: spec
            .outlier_detection
            .as_ref()
            .map(|o| outlier::outlier_detection(fields, o)),
        retry_budget: spec
            .retry_budget
            .as_ref()
            .map_or_else(RetryBudget::default, |b| retry_budget(fields, &b.value)),
    };
    (policy, header)
}

fn load_balancer(
    fields: &mut Fields<'_>,
    lb: &Spanned<LoadBalancer>,
) -> (LbPolicy, Option<HashHeader>) {
    let field = "spec.loadBalancer";
    let l = &lb.value;
    let lb_type = l.lb_type.as_ref();
    let policy = match lb_type.map_or("P2CPeakEWMA", |t| t.value.as_str()) {
        "P2CPeakEWMA" => LbPolicy::P2cPeakEwma,
        "P2CLeastRequest" => LbPolicy::P2cLeastRequest,
        "RoundRobin" => LbPolicy::RoundRobin,
        "RingHash" => return ring_hash(fields, lb),
        other => {
            let message = format!(
                "{other:?} is not a load balancer type; use P2CPeakEWMA (the default), \
                 P2CLeastRequest, RoundRobin or RingHash"
            );
            let at = lb_type.map_or(lb.referenced, |t| t.referenced);
            fields.error(at, &format!("{field}.type"), message);
            return (LbPolicy::default(), None);
        }
    };
    if let Some(ring) = &l.ring_hash {
        let message = "only goes with `type: RingHash`; remove it or change the type";
        fields.error(ring.referenced, &format!("{field}.ringHash"), message);
    }
    (policy, None)
}

/// `type: RingHash` and its `ringHash`. Sizes left out take the xDS defaults, except that a
/// `minRingSize` left out is at most `maxRingSize`.
fn ring_hash(
    fields: &mut Fields<'_>,
    lb: &Spanned<LoadBalancer>,
) -> (LbPolicy, Option<HashHeader>) {
    let field = "spec.loadBalancer.ringHash";
    let header = lb
        .value
        .ring_hash
        .as_ref()
        .and_then(|r| r.value.header.as_ref());
    let Some((ring, header)) = lb.value.ring_hash.as_ref().zip(header) else {
        let at = lb
            .value
            .ring_hash
            .as_ref()
            .map_or(lb.referenced, |r| r.referenced);
        let message = "is needed by RingHash: name the request header whose value picks the \
                       endpoint, such as `ringHash: {header: x-user-id}`";
        fields.error(at, &format!("{field}.header"), message);
        return (
            LbPolicy::RingHash {
                min_ring_size: DEFAULT_MIN_RING_SIZE,
                max_ring_size: MAX_RING_SIZE_LIMIT,
            },
            None,
        );
    };
    if let Err(message) = check_header_name(&header.value) {
        fields.error(header.referenced, &format!("{field}.header"), message);
    }
    let size = |fields: &mut Fields<'_>, value: &Spanned<i64>, name: &str| {
        let meaning = "entries on the hash ring";
        let read = fields.integer(value, &format!("{field}.{name}"), 1..=RING_LIMIT, meaning);
        read.map(u64::from)
    };
    let r = &ring.value;
    // After a mistake, a size takes the value that reports no further one.
    let max = match &r.max_ring_size {
        None => MAX_RING_SIZE_LIMIT,
        Some(v) => size(fields, v, "maxRingSize").unwrap_or(MAX_RING_SIZE_LIMIT),
    };
    let min = match &r.min_ring_size {
        None => DEFAULT_MIN_RING_SIZE.min(max),
        Some(v) => size(fields, v, "minRingSize").unwrap_or(1),
    };
    if min > max {
        let at = r
            .min_ring_size
            .as_ref()
            .map_or(ring.referenced, |m| m.referenced);
        let message = format!("{min} is above maxRingSize {max}; make it at most maxRingSize");
        fields.error(at, &format!("{field}.minRingSize"), message);
    }
    let policy = LbPolicy::RingHash {
        min_ring_size: min,
        max_ring_size: max,
    };
    (
        policy,
        Some((header.value.to_ascii_lowercase(), header.referenced)),
    )
}

fn circuit_breaker(fields: &mut Fields<'_>, c: &backend_policy::CircuitBreaker) -> CircuitBreaker {
    let field = "spec.circuitBreaker";
    let default = CircuitBreaker::default();
    let max_requests = c.max_requests.as_ref().and_then(|m| {
        let meaning = "requests in flight at once";
        fields.integer(m, &format!("{field}.maxRequests"), 1..=u32::MAX, meaning)
    });
    let max_pending = c.max_pending_requests.as_ref().and_then(|m| {
        let meaning = "requests waiting for a slot; 0 fails them at once";
        fields.integer(
            m,
            &format!("{field}.maxPendingRequests"),
            0..=u32::MAX,
            meaning,
        )
    });
    CircuitBreaker {
        max_requests: max_requests.unwrap_or(default.max_requests),
        max_pending: max_pending.unwrap_or(default.max_pending),
    }
}

fn retry_budget(fields: &mut Fields<'_>, b: &backend_policy::RetryBudget) -> RetryBudget {
    let field = "spec.retryBudget";
    let default = RetryBudget::default();
    let ratio = b.ratio.as_ref().and_then(|r| {
        let meaning = "retries allowed per request";
        fields.real(r, &format!("{field}.ratio"), (0.0, true, 1.0), meaning)
    });
    let min_per_second = b.min_retries_per_second.as_ref().and_then(|m| {
        let meaning = "retries allowed per second whatever the traffic";
        fields.integer(
            m,
            &format!("{field}.minRetriesPerSecond"),
            0..=u32::MAX,
            meaning,
        )
    });
    let ttl = b
        .ttl
        .as_ref()
        .and_then(|t| fields.duration(t, &format!("{field}.ttl")));
    RetryBudget {
        ratio: ratio.unwrap_or(default.ratio),
        min_per_second: min_per_second.unwrap_or(default.min_per_second),
        ttl: ttl.unwrap_or(default.ttl),
    }
}

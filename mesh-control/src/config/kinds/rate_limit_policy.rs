//! The `mesh.dev/v1alpha1` `RateLimitPolicy` kind: how many requests each server of the
//! Services it targets accepts.
//!
//! ```yaml
//! apiVersion: mesh.dev/v1alpha1
//! kind: RateLimitPolicy
//! metadata: { name: serviceb-rate, namespace: demo }
//! spec:
//!   targetRefs: [{ kind: Service, name: serviceb-v1 }]
//!   requestsPerSecond: 100   # per server (each replica has its own budget), a whole number > 0
//!   burst: 10                # the most requests at once; default ceil(requestsPerSecond / 10)
//! ```
//!
//! The limit is local: a token bucket in each server, with no coordination between replicas.
//! A request over it is refused (gRPC `RESOURCE_EXHAUSTED`, HTTP 429) with a hint of when to
//! try again. The bucket is refilled at least 50 ms apart (Envoy's shortest interval), so
//! `burst` must hold what one refill adds: at least `requestsPerSecond / 20`. A Service takes one
//! RateLimitPolicy at most.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::target_ref::TargetRef;

/// `spec` of a RateLimitPolicy. Numbers are read wide, so that a bad one gets our own error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RateLimitPolicySpec {
    #[serde(default)]
    pub(crate) target_refs: Vec<Spanned<TargetRef>>,
    pub(crate) requests_per_second: Spanned<i64>,
    pub(crate) burst: Option<Spanned<i64>>,
}

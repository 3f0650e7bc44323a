//! The `mesh.dev/v1alpha1` `RoutePolicy` kind: timeouts, retries and faults for the requests
//! of HTTPRoutes and GRPCRoutes.
//!
//! GRPCRoute has no `timeouts` or `retry` fields, and Gateway API has no fault injection, so
//! this kind carries them. It applies to every rule of each route it targets (in its own
//! namespace).
//!
//! ```yaml
//! apiVersion: mesh.dev/v1alpha1
//! kind: RoutePolicy
//! metadata: { name: serviceb-calls, namespace: demo }
//! spec:
//!   targetRefs:
//!   - { group: gateway.networking.k8s.io, kind: GRPCRoute, name: serviceb-split }  # or HTTPRoute
//!   timeouts: { request: 2s, perTry: 300ms }   # the whole call; one attempt (needs retry)
//!   retry:
//!     attempts: 3                  # retries after the first attempt: 1 to 4 (default 1)
//!     grpcCodes: [UNAVAILABLE]     # CANCELLED, DEADLINE_EXCEEDED, INTERNAL,
//!                                  # RESOURCE_EXHAUSTED, UNAVAILABLE
//!     codes: [503]                 # HTTP statuses, 500 to 599
//!     connectFailure: true         # retry failed connections (the default)
//!     backoff: { base: 25ms, max: 250ms }   # defaults: 25ms, and 10 x base
//!   fault:
//!     delay: { fixed: 100ms, percent: 10 }              # percent: 0 to 100, decimals ok; default 100
//!     abort: { grpcStatus: UNAVAILABLE, percent: 20 }   # or httpStatus: 503 (200 to 599)
//!     headers: [{ name: x-fault, value: "on" }]         # only requests with these headers
//!     maxActive: 100                                    # the most faulted requests at once
//! ```
//!
//! Durations are Gateway API durations: `500ms`, `2s`, `1m`, `1h`, or combinations such as
//! `1m30s`. An HTTPRoute rule may set `timeouts` and `retry` itself; a RoutePolicy targeting
//! its route may then not set the same field. A route takes at most one RoutePolicy.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::route::HeaderMatch;
use super::target_ref::TargetRef;

/// `spec` of a RoutePolicy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RoutePolicySpec {
    #[serde(default)]
    pub(crate) target_refs: Vec<Spanned<TargetRef>>,
    pub(crate) timeouts: Option<Spanned<PolicyTimeouts>>,
    pub(crate) retry: Option<Spanned<PolicyRetry>>,
    pub(crate) fault: Option<Spanned<Fault>>,
}

/// `spec.timeouts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PolicyTimeouts {
    pub(crate) request: Option<Spanned<String>>,
    pub(crate) per_try: Option<Spanned<String>>,
}

/// `spec.retry`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PolicyRetry {
    /// Read wide, so that an out-of-range number gets our own error.
    pub(crate) attempts: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) grpc_codes: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) codes: Vec<Spanned<i64>>,
    pub(crate) connect_failure: Option<bool>,
    pub(crate) backoff: Option<Spanned<Backoff>>,
}

/// `spec.retry.backoff`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Backoff {
    pub(crate) base: Option<Spanned<String>>,
    pub(crate) max: Option<Spanned<String>>,
}

/// `spec.fault`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Fault {
    pub(crate) delay: Option<Spanned<FaultDelay>>,
    pub(crate) abort: Option<Spanned<FaultAbort>>,
    #[serde(default)]
    pub(crate) headers: Vec<Spanned<HeaderMatch>>,
    pub(crate) max_active: Option<Spanned<i64>>,
}

/// `spec.fault.delay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultDelay {
    pub(crate) fixed: Spanned<String>,
    pub(crate) percent: Option<Spanned<f64>>,
}

/// `spec.fault.abort`: exactly one of the two statuses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FaultAbort {
    pub(crate) grpc_status: Option<Spanned<String>>,
    pub(crate) http_status: Option<Spanned<i64>>,
    pub(crate) percent: Option<Spanned<f64>>,
}

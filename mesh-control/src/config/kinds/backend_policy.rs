//! The `mesh.dev/v1alpha1` `BackendPolicy` kind: how clients treat the endpoints of the
//! Services it targets.
//!
//! It applies to the clusters made from every port of each targeted Service (in its own
//! namespace): how requests are balanced, how many may be in flight, how many retries the
//! cluster takes, and when a failing endpoint is ejected. Every field is optional; what is left
//! out keeps its default.
//!
//! ```yaml
//! apiVersion: mesh.dev/v1alpha1
//! kind: BackendPolicy
//! metadata: { name: serviceb-backends, namespace: demo }
//! spec:
//!   targetRefs:
//!   - { group: "", kind: Service, name: serviceb-v1 }
//!   - { kind: Service, name: serviceb-v2 }
//!   loadBalancer:
//!     type: P2CPeakEWMA      # P2CPeakEWMA (default) | P2CLeastRequest | RoundRobin | RingHash
//!     ringHash: { header: x-user-id, minRingSize: 1024, maxRingSize: 4096 }  # RingHash only
//!   circuitBreaker: { maxRequests: 100, maxPendingRequests: 10 }      # defaults: 1024, 1024
//!   retryBudget: { ratio: 0.2, minRetriesPerSecond: 10, ttl: 10s }    # the defaults
//!   outlierDetection:
//!     interval: 1s                 # default 10s
//!     baseEjectionTime: 30s        # default 30s
//!     maxEjectionTime: 300s        # default 300s
//!     maxEjectionPercent: 34       # default 10
//!     consecutiveFailures: 5       # off unless set
//!     successRate: { stdevFactor: 1.9, enforcingPercent: 100, minimumHosts: 5, requestVolume: 100 }
//!     failurePercentage: { threshold: 85, enforcingPercent: 100, minimumHosts: 5, requestVolume: 50 }
//! ```
//!
//! With `RingHash`, every route forwarding to the Service hashes the request header
//! `ringHash.header`: requests with the same value go to the same endpoint. A Service takes at
//! most one BackendPolicy.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::target_ref::TargetRef;

/// `spec` of a BackendPolicy. Numbers are read wide, so that a bad one gets our own error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BackendPolicySpec {
    #[serde(default)]
    pub(crate) target_refs: Vec<Spanned<TargetRef>>,
    pub(crate) load_balancer: Option<Spanned<LoadBalancer>>,
    pub(crate) circuit_breaker: Option<Spanned<CircuitBreaker>>,
    pub(crate) retry_budget: Option<Spanned<RetryBudget>>,
    pub(crate) outlier_detection: Option<Spanned<OutlierDetection>>,
}

/// `spec.loadBalancer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LoadBalancer {
    #[serde(rename = "type")]
    pub(crate) lb_type: Option<Spanned<String>>,
    pub(crate) ring_hash: Option<Spanned<RingHash>>,
}

/// `spec.loadBalancer.ringHash`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RingHash {
    pub(crate) header: Option<Spanned<String>>,
    pub(crate) min_ring_size: Option<Spanned<i64>>,
    pub(crate) max_ring_size: Option<Spanned<i64>>,
}

/// `spec.circuitBreaker`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CircuitBreaker {
    pub(crate) max_requests: Option<Spanned<i64>>,
    pub(crate) max_pending_requests: Option<Spanned<i64>>,
}

/// `spec.retryBudget`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RetryBudget {
    pub(crate) ratio: Option<Spanned<f64>>,
    pub(crate) min_retries_per_second: Option<Spanned<i64>>,
    pub(crate) ttl: Option<Spanned<String>>,
}

/// `spec.outlierDetection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct OutlierDetection {
    pub(crate) interval: Option<Spanned<String>>,
    pub(crate) base_ejection_time: Option<Spanned<String>>,
    pub(crate) max_ejection_time: Option<Spanned<String>>,
    pub(crate) max_ejection_percent: Option<Spanned<i64>>,
    pub(crate) consecutive_failures: Option<Spanned<i64>>,
    pub(crate) success_rate: Option<Spanned<SuccessRate>>,
    pub(crate) failure_percentage: Option<Spanned<FailurePercentage>>,
}

/// `spec.outlierDetection.successRate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SuccessRate {
    pub(crate) stdev_factor: Option<Spanned<f64>>,
    pub(crate) enforcing_percent: Option<Spanned<i64>>,
    pub(crate) minimum_hosts: Option<Spanned<i64>>,
    pub(crate) request_volume: Option<Spanned<i64>>,
}

/// `spec.outlierDetection.failurePercentage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FailurePercentage {
    pub(crate) threshold: Option<Spanned<i64>>,
    pub(crate) enforcing_percent: Option<Spanned<i64>>,
    pub(crate) minimum_hosts: Option<Spanned<i64>>,
    pub(crate) request_volume: Option<Spanned<i64>>,
}

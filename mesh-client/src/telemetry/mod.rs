//! Telemetry of the client: metrics, a span and an access-log event per call.
//!
//! A call is observed from the moment the stack takes it to the end of its response body (or
//! its error) by one [`CallTelemetry`]: it counts the call in flight once it is routed, counts
//! the attempts sent and keeps the last one's endpoint, and when the call is over it counts it
//! by its final status, observes its latency, closes its `mesh.client` span and writes its
//! access-log event. The series a call on a route and cluster touches are looked up once per
//! pair and kept in the route table ([`RouteSeries`]), so that a call that ends OK looks none
//! up. The resilience events (attempts,
//! retries, spent budgets, breaker overflows, ejections, injected faults) are counted where
//! they happen, in [`Counters`](crate::counters::Counters), which also feeds each client's
//! `counters()` snapshot.
//!
//! The families live in the [`Metrics`] registry the builder was given, registered once per
//! registry ([`ClientMetrics::of`]) and shared by every client using it.

mod call;
mod labels;
mod series;

use std::sync::Arc;

use mesh_core::telemetry::{Metrics, REQUEST_DURATION_BUCKETS};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

pub(crate) use call::CallTelemetry;
pub(crate) use labels::{ClusterLabels, DurationLabels, FaultLabels, RequestLabels, RouteLabels};
pub(crate) use labels::{Peer, Status, UNROUTED};
pub(crate) use series::{RouteSeries, SeriesSlot};

/// The client's metric families in one registry; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct ClientMetrics(Arc<Families>);

/// The families: `mesh_client_*`.
#[derive(Debug)]
pub(crate) struct Families {
    requests: Family<RequestLabels, Counter>,
    duration: Family<DurationLabels, Histogram, fn() -> Histogram>,
    in_flight: Family<RouteLabels, Gauge>,
    attempts: Family<ClusterLabels, Counter>,
    retries: Family<ClusterLabels, Counter>,
    budget_exhausted: Family<ClusterLabels, Counter>,
    overflows: Family<ClusterLabels, Counter>,
    ejections: Family<ClusterLabels, Counter>,
    faults: Family<FaultLabels, Counter>,
}

/// A kind of injected fault, the `kind` label of `mesh_client_faults_injected_total`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FaultKind {
    Delay,
    Abort,
}

/// An event of a cluster's resilience policies, counted by cluster.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ClusterEvent {
    /// A retry sent.
    Retry,
    /// A retry not sent because the cluster's retry budget was spent.
    BudgetExhausted,
    /// A call refused by the cluster's circuit breaker.
    Overflow,
    /// An endpoint ejected by outlier detection.
    Ejection,
}

/// Call latencies, in the buckets the server uses too.
fn latency_histogram() -> Histogram {
    Histogram::new(REQUEST_DURATION_BUCKETS)
}

impl ClientMetrics {
    /// The client families of `metrics`, registered on first use.
    pub(crate) fn of(metrics: &Metrics) -> Self {
        metrics.part(|registry| {
            let families = Families {
                requests: Family::default(),
                duration: Family::new_with_constructor(latency_histogram),
                in_flight: Family::default(),
                attempts: Family::default(),
                retries: Family::default(),
                budget_exhausted: Family::default(),
                overflows: Family::default(),
                ejections: Family::default(),
                faults: Family::default(),
            };
            let f = &families;
            registry.register(
                "client_requests",
                "Calls made, by protocol, route, cluster, server identity and final status",
                f.requests.clone(),
            );
            registry.register(
                "client_request_duration_seconds",
                "Call latency from the call to the end of its response body, in seconds",
                f.duration.clone(),
            );
            registry.register(
                "client_requests_in_flight",
                "Calls routed and not over yet",
                f.in_flight.clone(),
            );
            for (name, help, family) in [
                (
                    "client_attempts",
                    "Attempts sent to an endpoint, retries included",
                    &f.attempts,
                ),
                ("client_retries", "Retries sent", &f.retries),
                (
                    "client_retry_budget_exhausted",
                    "Retries not sent because the cluster's retry budget was spent",
                    &f.budget_exhausted,
                ),
                (
                    "client_circuit_breaker_overflows",
                    "Calls refused by the cluster's circuit breaker",
                    &f.overflows,
                ),
                (
                    "client_outlier_ejections",
                    "Endpoints ejected by outlier detection",
                    &f.ejections,
                ),
            ] {
                registry.register(name, help, family.clone());
            }
            registry.register(
                "client_faults_injected",
                "Faults injected by route policies, by kind (delay or abort)",
                f.faults.clone(),
            );
            ClientMetrics(Arc::new(families))
        })
    }

    /// The families.
    pub(crate) fn families(&self) -> &Families {
        &self.0
    }

    /// The attempts counter of `cluster`, to keep for the cluster's requests.
    pub(crate) fn attempts(&self, cluster: &Arc<str>) -> Counter {
        self.0
            .attempts
            .get_or_create_owned(&ClusterLabels::of(cluster))
    }

    /// Counts `event` of `cluster`.
    pub(crate) fn cluster_event(&self, event: ClusterEvent, cluster: &Arc<str>) {
        let family = match event {
            ClusterEvent::Retry => &self.0.retries,
            ClusterEvent::BudgetExhausted => &self.0.budget_exhausted,
            ClusterEvent::Overflow => &self.0.overflows,
            ClusterEvent::Ejection => &self.0.ejections,
        };
        family.get_or_create(&ClusterLabels::of(cluster)).inc();
    }

    /// Counts a call by looking its series up: calls of no route, or ending unlike most.
    pub(crate) fn count(&self, requests: &RequestLabels, duration: &DurationLabels, latency: f64) {
        self.0.requests.get_or_create(requests).inc();
        self.0.duration.get_or_create(duration).observe(latency);
    }

    /// Counts a fault of `kind` injected on `route`.
    pub(crate) fn fault(&self, route: &Arc<str>, kind: FaultKind) {
        let kind = match kind {
            FaultKind::Delay => "delay",
            FaultKind::Abort => "abort",
        };
        let labels = FaultLabels {
            route: Arc::clone(route),
            kind,
        };
        self.0.faults.get_or_create(&labels).inc();
    }
}

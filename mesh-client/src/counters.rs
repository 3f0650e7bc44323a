//! Counters of what the resilience policies did: a client's own totals (its
//! [`CounterSnapshot`]), and the per-cluster (per-route for faults) families of the metrics
//! registry, if the client exports metrics.
//!
//! The two are kept apart because they count different things: a client's snapshot counts
//! only its own calls, while a registry's series add up every client of the process that
//! reaches the cluster. Each event is counted where it happens, into both; the rare ones
//! (retries, spent budgets, overflows, ejections, faults) look their series up then, the one
//! on every call (attempts) uses the series its cluster keeps (see `Balancer`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;

use crate::telemetry::{ClientMetrics, ClusterEvent, FaultKind};

/// Live counters, shared by a client's stacks and balancers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// The client's metric families, unless it was built without metrics.
    metrics: Option<ClientMetrics>,
    /// Attempts sent to an endpoint, first attempts and retries alike.
    pub(crate) attempts: AtomicU64,
    /// Retries sent.
    pub(crate) retries: AtomicU64,
    /// Retries not sent because the cluster's retry budget was spent.
    pub(crate) budget_exhausted: AtomicU64,
    /// Requests refused by a cluster's circuit breaker.
    pub(crate) breaker_overflows: AtomicU64,
    /// Endpoints ejected by outlier detection.
    pub(crate) ejections: AtomicU64,
    /// Requests delayed by fault injection.
    pub(crate) injected_delays: AtomicU64,
    /// Requests failed by fault injection.
    pub(crate) injected_aborts: AtomicU64,
}

impl Counters {
    /// Counters that also count into `metrics`, if any.
    pub(crate) fn new(metrics: Option<ClientMetrics>) -> Self {
        Self {
            metrics,
            ..Self::default()
        }
    }

    /// The client's metric families, unless it was built without metrics.
    pub(crate) fn metrics(&self) -> Option<&ClientMetrics> {
        self.metrics.as_ref()
    }

    /// Counts an attempt, also into its cluster's series if the client exports metrics.
    pub(crate) fn attempted(&self, cluster_series: Option<&Counter>) {
        Self::bump(&self.attempts);
        if let Some(series) = cluster_series {
            series.inc();
        }
    }

    /// Counts `event` of `cluster`.
    pub(crate) fn cluster_event(&self, event: ClusterEvent, cluster: &Arc<str>) {
        Self::bump(match event {
            ClusterEvent::Retry => &self.retries,
            ClusterEvent::BudgetExhausted => &self.budget_exhausted,
            ClusterEvent::Overflow => &self.breaker_overflows,
            ClusterEvent::Ejection => &self.ejections,
        });
        if let Some(metrics) = &self.metrics {
            metrics.cluster_event(event, cluster);
        }
    }

    /// Counts a fault of `kind` injected on `route`.
    pub(crate) fn fault(&self, route: &Arc<str>, kind: FaultKind) {
        Self::bump(match kind {
            FaultKind::Delay => &self.injected_delays,
            FaultKind::Abort => &self.injected_aborts,
        });
        if let Some(metrics) = &self.metrics {
            metrics.fault(route, kind);
        }
    }

    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            attempts: get(&self.attempts),
            retries: get(&self.retries),
            budget_exhausted: get(&self.budget_exhausted),
            breaker_overflows: get(&self.breaker_overflows),
            ejections: get(&self.ejections),
            injected_delays: get(&self.injected_delays),
            injected_aborts: get(&self.injected_aborts),
        }
    }
}

/// What a client's resilience policies have done since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CounterSnapshot {
    /// Attempts sent to an endpoint, first attempts and retries alike.
    pub attempts: u64,
    /// Retries sent.
    pub retries: u64,
    /// Retries not sent because the cluster's retry budget was spent.
    pub budget_exhausted: u64,
    /// Requests refused by a cluster's circuit breaker.
    pub breaker_overflows: u64,
    /// Endpoints ejected by outlier detection.
    pub ejections: u64,
    /// Requests delayed by fault injection.
    pub injected_delays: u64,
    /// Requests failed by fault injection.
    pub injected_aborts: u64,
}

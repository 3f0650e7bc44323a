//! Counters of what the resilience policies did, for the metrics export and for tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared by a channel's stacks and balancers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
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

//! How many calls one server took, refused and rate limited.
//!
//! Each server keeps its own counts ([`ServerCounterSnapshot`], read through its handle). The
//! metric families cannot give them: every server of a process records in the same series.
//! So [`Counters`] records each event twice in one call, in the server's own atomics and
//! (unless the server was built without metrics) in the families, and the two always agree.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mesh_core::identity::PeerIdentity;

use crate::telemetry::ServerMetrics;

/// The server's call counters, shared by its layers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    requests: AtomicU64,
    denied: AtomicU64,
    rate_limited: AtomicU64,
    metrics: Option<ServerMetrics>,
}

impl Counters {
    /// Counters that also record in `metrics`, if any.
    pub(crate) fn new(metrics: Option<ServerMetrics>) -> Self {
        Self(Arc::new(Inner {
            metrics,
            ..Inner::default()
        }))
    }

    /// A call reached the inbound policies (health checks do not count).
    pub(crate) fn request(&self) {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A call from `peer` was denied by the authorization's `rule` (`None`: its default
    /// action).
    pub(crate) fn denied(&self, peer: Option<&PeerIdentity>, rule: Option<&str>) {
        self.0.denied.fetch_add(1, Ordering::Relaxed);
        if let Some(metrics) = &self.0.metrics {
            metrics.denied(peer, rule);
        }
    }

    /// A call was refused by the rate limit.
    pub(crate) fn rate_limited(&self) {
        self.0.rate_limited.fetch_add(1, Ordering::Relaxed);
        if let Some(metrics) = &self.0.metrics {
            metrics.rate_limited();
        }
    }

    /// The counts now.
    pub(crate) fn snapshot(&self) -> ServerCounterSnapshot {
        ServerCounterSnapshot {
            requests: self.0.requests.load(Ordering::Relaxed),
            denied: self.0.denied.load(Ordering::Relaxed),
            rate_limited: self.0.rate_limited.load(Ordering::Relaxed),
        }
    }
}

/// A server's call counts since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerCounterSnapshot {
    /// Calls that reached the inbound policies: every call but health checks and `/ready`.
    pub requests: u64,
    /// Calls refused by the authorization (PERMISSION_DENIED / 403).
    pub denied: u64,
    /// Calls refused by the rate limit (RESOURCE_EXHAUSTED / 429).
    pub rate_limited: u64,
}

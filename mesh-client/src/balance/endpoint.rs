//! One endpoint of a cluster: requests in flight, a peak-EWMA latency estimate and its health.
//!
//! An [`Endpoint`] belongs to one cluster and is shared (`Arc`) by every routing snapshot of that
//! cluster that contains its address, so its load and health survive endpoint-set updates; a
//! request holds an [`InFlight`] for as long as it waits for its response, which keeps the
//! endpoint alive even after it left the set. The request ends with
//! [`InFlight::succeeded`] or [`InFlight::failed`], which feed the latency estimate and outlier
//! detection; a request dropped without either (the caller gave up) counts for neither.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::uri::Authority;
use tokio::time::Instant;

use super::ewma::RttEstimate;
use super::outlier::{Detector, Health};

/// What an endpoint costs while it has requests in flight but no latency observed yet: high, so
/// that a new endpoint takes one probing request at a time until its first response.
const UNKNOWN_RTT_COST: f64 = 1e9;

/// An endpoint and its load.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// The name of the cluster it belongs to, for errors.
    cluster: Arc<str>,
    address: SocketAddr,
    authority: Authority,
    decay: Duration,
    pending: AtomicUsize,
    rtt: Mutex<RttEstimate>,
    health: Health,
    /// The cluster's outlier detection, if on.
    detector: Option<Arc<Detector>>,
}

impl Endpoint {
    /// A fresh endpoint of `cluster` at `address`: nothing in flight, no latency known; its
    /// results go to `detector`, if any.
    pub(crate) fn new(
        cluster: Arc<str>,
        address: SocketAddr,
        decay: Duration,
        detector: Option<Arc<Detector>>,
    ) -> Self {
        let authority = Authority::try_from(address.to_string())
            .expect("a socket address is a valid URI authority");
        Self {
            cluster,
            address,
            authority,
            decay,
            pending: AtomicUsize::new(0),
            rtt: Mutex::new(RttEstimate::new(Instant::now())),
            health: Health::default(),
            detector,
        }
    }

    /// The name of its cluster.
    pub(crate) fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Where it listens.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its address as a URI authority (`IP:PORT`).
    pub(crate) fn authority(&self) -> &Authority {
        &self.authority
    }

    /// What outlier detection knows of it.
    pub(crate) fn health(&self) -> &Health {
        &self.health
    }

    /// Whether outlier detection ejected it: it takes no new requests.
    pub(crate) fn is_ejected(&self) -> bool {
        self.health.is_ejected()
    }

    /// How much a new request would cost here: latency estimate times (requests in flight + 1).
    pub(crate) fn cost(&self, now: Instant) -> f64 {
        let pending = self.pending();
        let rtt = self.lock_rtt().at(now, self.decay);
        if rtt == 0.0 && pending > 0 {
            return UNKNOWN_RTT_COST * pending as f64;
        }
        rtt * (pending + 1) as f64
    }

    /// Requests in flight now.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Counts a request as in flight until the returned guard is finished or dropped.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.pending.fetch_add(1, Ordering::Relaxed);
        InFlight {
            endpoint: Arc::clone(self),
            sent_at: Instant::now(),
        }
    }

    fn lock_rtt(&self) -> std::sync::MutexGuard<'_, RttEstimate> {
        self.rtt.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request in flight to an endpoint.
#[derive(Debug)]
pub(crate) struct InFlight {
    endpoint: Arc<Endpoint>,
    sent_at: Instant,
}

impl InFlight {
    /// The endpoint the request went to.
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint answered well: folds the latency into its estimate and counts a success
    /// for outlier detection.
    pub(crate) fn succeeded(self) {
        let now = Instant::now();
        let endpoint = &self.endpoint;
        endpoint.lock_rtt().observe(
            now.saturating_duration_since(self.sent_at),
            now,
            endpoint.decay,
        );
        if let Some(detector) = &endpoint.detector {
            detector.succeeded(endpoint);
        }
    }

    /// The endpoint failed the request (connection failure, 5xx, UNAVAILABLE, attempt timed
    /// out): counts a failure for outlier detection, which may eject the endpoint at once.
    ///
    /// The latency estimate is left alone: a failure's (often tiny) latency says nothing about
    /// how fast the endpoint serves.
    pub(crate) fn failed(self) {
        if let Some(detector) = &self.endpoint.detector {
            detector.failed(&self.endpoint);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.endpoint.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::ewma::DEFAULT_DECAY;

    fn endpoint() -> Arc<Endpoint> {
        Arc::new(Endpoint::new(
            "c".into(),
            "127.0.0.1:1".parse().unwrap(),
            DEFAULT_DECAY,
            None,
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn cost_is_latency_times_load() {
        let e = endpoint();
        assert_eq!(e.cost(Instant::now()), 0.0);
        let first = e.start();
        tokio::time::advance(Duration::from_millis(10)).await;
        first.succeeded();
        assert_eq!(e.pending(), 0);
        let ten_ms = 10_000_000.0;
        assert_eq!(e.cost(Instant::now()), ten_ms);
        let _a = e.start();
        let _b = e.start();
        assert_eq!(e.cost(Instant::now()), 3.0 * ten_ms);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_leaves_the_latency_alone() {
        let e = endpoint();
        let failing = e.start();
        tokio::time::advance(Duration::from_millis(10)).await;
        failing.failed();
        assert_eq!(e.pending(), 0);
        assert_eq!(e.cost(Instant::now()), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unmeasured_endpoint_with_a_request_in_flight_is_expensive() {
        let e = endpoint();
        let probe = e.start();
        assert!(e.cost(Instant::now()) >= UNKNOWN_RTT_COST);
        drop(probe);
        assert_eq!(e.pending(), 0);
        assert_eq!(e.cost(Instant::now()), 0.0);
    }

    #[test]
    fn authority_is_the_address() {
        let e = Endpoint::new(
            "c".into(),
            "[::1]:8080".parse().unwrap(),
            DEFAULT_DECAY,
            None,
        );
        assert_eq!(e.authority().as_str(), "[::1]:8080");
    }
}

//! One endpoint's load: requests in flight and a peak-EWMA latency estimate.
//!
//! An [`Endpoint`] is shared (`Arc`) by every routing snapshot that contains it, so its load
//! survives endpoint-set updates; a request holds an [`InFlight`] for as long as it waits for its
//! response, which keeps the endpoint alive even after it left the set.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::uri::Authority;
use tokio::time::Instant;

use super::ewma::RttEstimate;

/// What an endpoint costs while it has requests in flight but no latency observed yet: high, so
/// that a new endpoint takes one probing request at a time until its first response.
const UNKNOWN_RTT_COST: f64 = 1e9;

/// An endpoint and its load.
#[derive(Debug)]
pub(crate) struct Endpoint {
    address: SocketAddr,
    authority: Authority,
    decay: Duration,
    pending: AtomicUsize,
    rtt: Mutex<RttEstimate>,
}

impl Endpoint {
    /// A fresh endpoint at `address`: nothing in flight, no latency known.
    pub(crate) fn new(address: SocketAddr, decay: Duration) -> Self {
        let authority = Authority::try_from(address.to_string())
            .expect("a socket address is a valid URI authority");
        Self {
            address,
            authority,
            decay,
            pending: AtomicUsize::new(0),
            rtt: Mutex::new(RttEstimate::new(Instant::now())),
        }
    }

    /// Where it listens.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its address as a URI authority (`IP:PORT`).
    pub(crate) fn authority(&self) -> &Authority {
        &self.authority
    }

    /// How much a new request would cost here: latency estimate times (requests in flight + 1).
    pub(crate) fn cost(&self, now: Instant) -> f64 {
        let pending = self.pending.load(Ordering::Relaxed);
        let rtt = self.lock_rtt().at(now, self.decay);
        if rtt == 0.0 && pending > 0 {
            return UNKNOWN_RTT_COST * pending as f64;
        }
        rtt * (pending + 1) as f64
    }

    /// Counts a request as in flight until the returned guard is finished or dropped.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.pending.fetch_add(1, Ordering::Relaxed);
        InFlight {
            endpoint: Arc::clone(self),
            sent_at: Instant::now(),
        }
    }

    /// Requests in flight now.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
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

    /// The response arrived: folds its latency into the estimate and ends the request.
    ///
    /// A request that failed is just dropped: its (often tiny) latency says nothing about
    /// how fast the endpoint serves.
    pub(crate) fn responded(self) {
        let now = Instant::now();
        let endpoint = &self.endpoint;
        endpoint.lock_rtt().observe(
            now.saturating_duration_since(self.sent_at),
            now,
            endpoint.decay,
        );
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
        Arc::new(Endpoint::new("127.0.0.1:1".parse().unwrap(), DEFAULT_DECAY))
    }

    #[tokio::test(start_paused = true)]
    async fn cost_is_latency_times_load() {
        let e = endpoint();
        assert_eq!(e.cost(Instant::now()), 0.0);
        let first = e.start();
        tokio::time::advance(Duration::from_millis(10)).await;
        first.responded();
        assert_eq!(e.pending(), 0);
        let ten_ms = 10_000_000.0;
        assert_eq!(e.cost(Instant::now()), ten_ms);
        let _a = e.start();
        let _b = e.start();
        assert_eq!(e.cost(Instant::now()), 3.0 * ten_ms);
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
        let e = Endpoint::new("[::1]:8080".parse().unwrap(), DEFAULT_DECAY);
        assert_eq!(e.authority().as_str(), "[::1]:8080");
    }
}

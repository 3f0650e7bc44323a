//! Balancing: which endpoint of a cluster takes a request, and whether the cluster takes it.
//!
//! A [`Balancer`] is an immutable snapshot of a cluster as requests see it: its usable
//! endpoints and how to choose among them ([`LbPolicy`](mesh_core::model::LbPolicy)):
//!
//! - P2C PeakEWMA (default) and P2C least request ([`p2c`]): the cheaper of two random
//!   endpoints, by latency times load or by requests in flight (weights play no part: load
//!   already steers requests away from the weaker endpoints);
//! - round robin ([`round_robin`]): each endpoint in turn, by weight;
//! - ring hash ([`ring_hash`]): the endpoint owning the request's hash on a consistent-hash
//!   ring, by weight.
//!
//! Around the choice sit the cluster's circuit breaker ([`breaker`]: [`Balancer::admit`]), its
//! retry budget ([`budget`]: [`Balancer::retry_budget`]) and its outlier detection
//! ([`outlier`]: ejected endpoints take no picks). A pick also avoids the endpoint the previous
//! attempt failed on, if another will do ([`filter`]).
//!
//! When EDS or the cluster changes, the resolver builds a new snapshot from the cluster's
//! [`ClusterState`], which keeps everything that must outlive snapshots: the [`Endpoint`]s (and
//! so their load and health), the breaker, the budget, the detector, the round-robin cursor and
//! the ring, each replaced only when its policy (or, for the last two, the endpoint set)
//! changes. The state is one per cluster per client: the resolvers of a client share it
//! (`resolve::ClusterRegistry`).
//!
//! A request's common case allocates nothing and takes one lock at most, the peak-EWMA
//! estimate's (P2C PeakEWMA only): admission is an atomic increment of the breaker's count of
//! requests in flight (waiters, and their lock, only when the cluster is full), and the rest
//! of a pick reads atomics.

mod breaker;
mod budget;
mod cluster;
mod endpoint;
mod ewma;
mod filter;
mod outlier;
mod p2c;
mod ring_hash;
mod round_robin;

use std::net::SocketAddr;
use std::sync::Arc;

use mesh_core::model::{UpstreamProtocol, UpstreamTls};
use prometheus_client::metrics::counter::Counter;
use rand::Rng;
use tokio::time::Instant;

use crate::Error;
use crate::connect::TlsSlot;
use crate::counters::Counters;

pub(crate) use breaker::{Admission, Permit};
pub(crate) use budget::RetryBudgetState;
pub(crate) use cluster::ClusterState;
pub(crate) use endpoint::{Endpoint, InFlight};
pub(crate) use ewma::DEFAULT_DECAY;
pub(crate) use ring_hash::hash_key;

use breaker::Breaker;
use filter::Filter;
use outlier::Detector;
use ring_hash::Ring;
use round_robin::RoundRobin;

/// A cluster as requests see it: its name, protocol, transport security, usable endpoints and
/// resilience state.
#[derive(Debug)]
pub(crate) struct Balancer {
    cluster: Arc<str>,
    protocol: UpstreamProtocol,
    /// mTLS to the endpoints, or `None` for plaintext.
    tls: Option<UpstreamTls>,
    /// The mTLS client, once the first mTLS request found it.
    tls_slot: TlsSlot,
    /// `None` when the control service says the cluster does not exist.
    endpoints: Option<Box<[Arc<Endpoint>]>>,
    selector: Selector,
    breaker: Arc<Breaker>,
    budget: Arc<RetryBudgetState>,
    /// Outlier detection, if on.
    detector: Option<Arc<Detector>>,
    /// The cluster's series of `mesh_client_attempts_total`, if the client exports metrics.
    attempts: Option<Counter>,
}

/// How a balancer chooses among its endpoints.
#[derive(Clone, Debug)]
enum Selector {
    PeakEwma,
    LeastRequest,
    RoundRobin(RoundRobin),
    RingHash(Arc<Ring>),
}

impl Balancer {
    /// A cluster the control service says does not exist: every pick fails.
    pub(crate) fn missing(cluster: &str, counters: &Arc<Counters>) -> Self {
        let cluster: Arc<str> = cluster.into();
        Self {
            attempts: counters.metrics().map(|m| m.attempts(&cluster)),
            breaker: Arc::new(Breaker::new(
                Arc::clone(&cluster),
                Default::default(),
                Arc::clone(counters),
            )),
            cluster,
            protocol: UpstreamProtocol::default(),
            tls: None,
            tls_slot: TlsSlot::default(),
            endpoints: None,
            selector: Selector::PeakEwma,
            budget: Arc::new(RetryBudgetState::new(&Default::default())),
            detector: None,
        }
    }

    /// A cluster with these endpoints and the default policy (P2C PeakEWMA).
    #[cfg(test)]
    pub(crate) fn new(
        cluster: &str,
        protocol: UpstreamProtocol,
        endpoints: impl IntoIterator<Item = Arc<Endpoint>>,
    ) -> Self {
        Self {
            protocol,
            endpoints: Some(endpoints.into_iter().collect()),
            ..Self::missing(cluster, &Default::default())
        }
    }

    /// The cluster name, shared.
    pub(crate) fn cluster_name(&self) -> Arc<str> {
        Arc::clone(&self.cluster)
    }

    /// The cluster's series of `mesh_client_attempts_total`, if the client exports metrics.
    pub(crate) fn attempts_series(&self) -> Option<&Counter> {
        self.attempts.as_ref()
    }

    /// The HTTP version the cluster's endpoints speak.
    pub(crate) fn protocol(&self) -> UpstreamProtocol {
        self.protocol
    }

    /// mTLS to the endpoints, or `None` for plaintext.
    pub(crate) fn tls(&self) -> Option<&UpstreamTls> {
        self.tls.as_ref()
    }

    /// Where the cluster's mTLS client is kept once found.
    pub(crate) fn tls_slot(&self) -> &TlsSlot {
        &self.tls_slot
    }

    /// The usable endpoints (none for a missing cluster).
    #[cfg(test)]
    pub(crate) fn endpoints(&self) -> &[Arc<Endpoint>] {
        self.endpoints.as_deref().unwrap_or_default()
    }

    /// Admission under the cluster's circuit breaker: a [`Permit`] to hold for the whole call
    /// (every attempt, until the response body ends or the call fails), at once or after a
    /// wait; [`Error::CircuitBreakerOpen`] when the cluster has as many requests in flight and
    /// waiting as it allows.
    pub(crate) fn admit(&self) -> Result<Admission, Error> {
        self.breaker.admit()
    }

    /// The cluster's retry budget, shared by every snapshot of the cluster.
    pub(crate) fn retry_budget(&self) -> &RetryBudgetState {
        &self.budget
    }

    /// The endpoint for one attempt, by the cluster's balancing policy.
    ///
    /// `hash` is the request's hash for ring hash (`None`: a random one); `avoid` are the
    /// endpoints earlier attempts of the call went to, skipped when another endpoint will do.
    /// Ejected endpoints are skipped too, unless every endpoint is ejected.
    pub(crate) fn pick(
        &self,
        hash: Option<u64>,
        avoid: &[SocketAddr],
        rng: &mut impl Rng,
    ) -> Result<&Arc<Endpoint>, Error> {
        let endpoints = self
            .endpoints
            .as_deref()
            .ok_or_else(|| Error::ClusterNotFound {
                cluster: self.cluster.to_string(),
            })?;
        let ejections = self.detector.as_ref().is_some_and(|d| d.any_ejected());
        for filter in Filter::chain(avoid, ejections) {
            let picked = match &self.selector {
                Selector::PeakEwma => {
                    let now = Instant::now();
                    p2c::pick(endpoints, filter, rng, |e| e.cost(now))
                }
                Selector::LeastRequest => p2c::pick(endpoints, filter, rng, Endpoint::pending),
                Selector::RoundRobin(rr) => rr.pick(endpoints, filter),
                Selector::RingHash(ring) => {
                    let hash = hash.unwrap_or_else(|| rng.random());
                    ring.pick(endpoints, hash, filter)
                }
            };
            if let Some(endpoint) = picked {
                return Ok(endpoint);
            }
        }
        Err(Error::NoHealthyEndpoints {
            cluster: self.cluster.to_string(),
        })
    }
}

/// The greatest common divisor of two weights (0 with 0 gives 0): weighted schedules and rings
/// divide weights by it to stay small.
fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

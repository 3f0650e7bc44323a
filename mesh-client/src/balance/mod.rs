//! Balancing: which endpoint of a cluster takes a request.
//!
//! The default (and so far only) policy is *power of two choices* over peak-EWMA load: draw two
//! distinct endpoints at random and send to the one whose cost, latency estimate times
//! (requests in flight + 1), is lower. It avoids slow and busy endpoints without the herd effect
//! of always picking the global minimum, and needs no coordination between requests.
//!
//! A [`Balancer`] is an immutable snapshot of a cluster's usable endpoints: when EDS changes, the
//! resolver builds a new one that reuses the [`Endpoint`]s (and so their load and connections)
//! of the addresses that remain. Picking takes no lock but each candidate's short estimate lock.

mod endpoint;
mod ewma;

use std::sync::Arc;

use mesh_core::model::{UpstreamProtocol, UpstreamTls};
use rand::Rng;
use tokio::time::Instant;

use crate::Error;

pub(crate) use endpoint::{Endpoint, InFlight};
pub(crate) use ewma::DEFAULT_DECAY;

/// A cluster as requests see it: its name, protocol, transport security and usable endpoints.
#[derive(Debug)]
pub(crate) struct Balancer {
    cluster: Arc<str>,
    protocol: UpstreamProtocol,
    /// mTLS to the endpoints, or `None` for plaintext.
    tls: Option<UpstreamTls>,
    /// `None` when the control service says the cluster does not exist.
    endpoints: Option<Box<[Arc<Endpoint>]>>,
}

impl Balancer {
    /// A cluster with these usable endpoints.
    pub(crate) fn new(
        cluster: &str,
        protocol: UpstreamProtocol,
        endpoints: impl IntoIterator<Item = Arc<Endpoint>>,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            protocol,
            tls: None,
            endpoints: Some(endpoints.into_iter().collect()),
        }
    }

    /// The same cluster, reached over mTLS if `tls` says so.
    pub(crate) fn with_tls(self, tls: Option<UpstreamTls>) -> Self {
        Self { tls, ..self }
    }

    /// A cluster the control service says does not exist: every pick fails.
    pub(crate) fn missing(cluster: &str) -> Self {
        Self {
            cluster: cluster.into(),
            protocol: UpstreamProtocol::default(),
            tls: None,
            endpoints: None,
        }
    }

    /// The cluster name.
    #[cfg(test)]
    pub(crate) fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The cluster name, shared.
    pub(crate) fn cluster_name(&self) -> Arc<str> {
        Arc::clone(&self.cluster)
    }

    /// The HTTP version the cluster's endpoints speak.
    pub(crate) fn protocol(&self) -> UpstreamProtocol {
        self.protocol
    }

    /// mTLS to the endpoints, or `None` for plaintext.
    pub(crate) fn tls(&self) -> Option<&UpstreamTls> {
        self.tls.as_ref()
    }

    /// The usable endpoints (none for a missing cluster).
    #[cfg(test)]
    pub(crate) fn endpoints(&self) -> &[Arc<Endpoint>] {
        self.endpoints.as_deref().unwrap_or_default()
    }

    /// Picks the endpoint for a request: the cheaper of two distinct random endpoints.
    pub(crate) fn pick(&self, rng: &mut impl Rng) -> Result<&Arc<Endpoint>, Error> {
        let endpoints = self
            .endpoints
            .as_deref()
            .ok_or_else(|| Error::ClusterNotFound {
                cluster: self.cluster.to_string(),
            })?;
        match endpoints {
            [] => Err(Error::NoHealthyEndpoints {
                cluster: self.cluster.to_string(),
            }),
            [only] => Ok(only),
            _ => {
                let i = rng.random_range(0..endpoints.len());
                let mut j = rng.random_range(0..endpoints.len() - 1);
                if j >= i {
                    j += 1;
                }
                let (a, b) = (&endpoints[i], &endpoints[j]);
                let now = Instant::now();
                Ok(if b.cost(now) < a.cost(now) { b } else { a })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::time::Duration;

    fn endpoints(n: u16) -> Vec<Arc<Endpoint>> {
        (1..=n)
            .map(|port| {
                let address = ([127, 0, 0, 1], port).into();
                Arc::new(Endpoint::new(address, DEFAULT_DECAY))
            })
            .collect()
    }

    /// Gives `endpoint` an observed latency of `rtt`.
    async fn measured(endpoint: &Arc<Endpoint>, rtt: Duration) {
        let request = endpoint.start();
        tokio::time::advance(rtt).await;
        request.responded();
    }

    #[tokio::test(start_paused = true)]
    async fn prefers_the_faster_endpoint() {
        let eps = endpoints(2);
        measured(&eps[0], Duration::from_millis(50)).await;
        measured(&eps[1], Duration::from_millis(5)).await;
        let balancer = Balancer::new("c", UpstreamProtocol::Http2, eps.clone());
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..100 {
            assert_eq!(balancer.pick(&mut rng).unwrap().address(), eps[1].address());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn prefers_the_less_loaded_endpoint_of_equal_speed() {
        let eps = endpoints(2);
        measured(&eps[0], Duration::from_millis(5)).await;
        measured(&eps[1], Duration::from_millis(5)).await;
        let _busy = [eps[0].start(), eps[0].start()];
        let balancer = Balancer::new("c", UpstreamProtocol::Http2, eps.clone());
        let mut rng = StdRng::seed_from_u64(4);
        for _ in 0..100 {
            assert_eq!(balancer.pick(&mut rng).unwrap().address(), eps[1].address());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn spreads_over_equal_endpoints() {
        let eps = endpoints(3);
        let balancer = Balancer::new("c", UpstreamProtocol::Http1, eps.clone());
        let mut rng = StdRng::seed_from_u64(5);
        let mut counts = [0; 3];
        for _ in 0..3_000 {
            let picked = balancer.pick(&mut rng).unwrap();
            counts[usize::from(picked.address().port() - 1)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 500), "{counts:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_single_endpoint_is_always_picked() {
        let eps = endpoints(1);
        let _busy = eps[0].start();
        let balancer = Balancer::new("c", UpstreamProtocol::Http1, eps.clone());
        let picked = balancer.pick(&mut rand::rng()).unwrap();
        assert_eq!(picked.address(), eps[0].address());
    }

    #[test]
    fn an_empty_set_says_which_cluster() {
        let balancer = Balancer::new("serviceb", UpstreamProtocol::Http1, Vec::new());
        let err = balancer.pick(&mut rand::rng()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "UNAVAILABLE: no healthy endpoints in cluster \"serviceb\""
        );
    }

    #[test]
    fn a_missing_cluster_says_so() {
        let err = Balancer::missing("gone")
            .pick(&mut rand::rng())
            .unwrap_err();
        assert!(matches!(err, Error::ClusterNotFound { ref cluster } if cluster == "gone"));
    }
}

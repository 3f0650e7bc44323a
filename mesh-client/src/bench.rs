//! Thin wrappers over the stack's internal stages, for the criterion benchmarks of the `benches`
//! crate only: this is not API and may change at any time.
//!
//! Each wrapper builds the real internal type from mesh-core's model (as the resolver does from
//! xDS) and calls the stage the stack calls, so the benchmarks measure the code requests run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request, StatusCode};
use mesh_core::model::{self, RetryBudget, RetryPolicy, RouteAction, VirtualHost};

use crate::Error;
use crate::balance::{Admission, Balancer, ClusterState, DEFAULT_DECAY, RetryBudgetState};
use crate::connect::Caller;
use crate::counters::Counters;
use crate::fault::ActiveFaults;
use crate::retry::{Failure, backoff};
use crate::route::{RequestHead, RouteEntry, RouteTable, WeightedChoice};

/// A cluster snapshot with its endpoints and the default resilience state, as requests see it.
#[derive(Debug)]
pub struct Cluster(Arc<Balancer>);

impl Cluster {
    /// The snapshot of `cluster` with the usable endpoints of `assignment`. Needs a Tokio
    /// runtime if the cluster's policy turns outlier detection on.
    pub fn new(cluster: &model::Cluster, assignment: &model::ClusterLoadAssignment) -> Self {
        let counters = Arc::new(Counters::default());
        let mut state = ClusterState::new(&cluster.name, &cluster.policy, DEFAULT_DECAY, counters);
        Self(Arc::new(state.update(cluster, Some(assignment))))
    }

    /// The endpoint for a first attempt, by the cluster's balancing policy.
    pub fn pick(&self) -> Result<SocketAddr, Error> {
        let endpoint = self.0.pick(None, &[], &mut rand::rng())?;
        Ok(endpoint.address())
    }
}

/// The route table of one target.
#[derive(Debug)]
pub struct Routes(RouteTable);

impl Routes {
    /// The table of `listener` made of the routes of `vhost`, whose clusters are taken from
    /// `clusters` (a cluster not there is left out of its route).
    pub fn new(
        listener: &str,
        vhost: &VirtualHost,
        clusters: &[(model::Cluster, Cluster)],
    ) -> Self {
        let entries = vhost.routes.iter().map(|route| {
            let targets: Vec<_> = match &route.action {
                RouteAction::Forward(weighted) => weighted
                    .iter()
                    .filter_map(|wc| {
                        let (_, found) = clusters.iter().find(|(c, _)| c.name == wc.cluster)?;
                        Some((Arc::clone(&found.0), wc.weight))
                    })
                    .collect(),
                RouteAction::NonForwarding => Vec::new(),
            };
            let (matcher, policy) = (route.matcher.clone(), route.policy.clone());
            RouteEntry::new(
                &route.name,
                matcher,
                policy,
                targets,
                ActiveFaults::default(),
            )
        });
        Self(RouteTable::new(listener, entries.collect()))
    }

    /// The cluster `request` goes to: the first matching route, then a cluster by weight.
    pub fn route<B>(&self, request: &Request<B>) -> Result<Arc<str>, Error> {
        let routed = self.0.route(&RequestHead::of(request), &mut rand::rng())?;
        Ok(routed.cluster.cluster_name())
    }

    /// The stack's path for `request` short of the connection: route, retry budget deposit
    /// (on a route with retries), circuit breaker admission, endpoint pick, and the attempt
    /// counted in flight and reported a success. The endpoint it went to; `None` if the
    /// breaker would queue the request (a full cluster).
    pub fn dispatch<B>(&self, request: &Request<B>) -> Result<Option<SocketAddr>, Error> {
        let routed = self.0.route(&RequestHead::of(request), &mut rand::rng())?;
        if routed.route.policy.retry.is_some() {
            routed.cluster.retry_budget().deposit();
        }
        let Admission::Now(permit) = routed.cluster.admit()? else {
            return Ok(None);
        };
        let hash = routed.route.hash(request.headers());
        let endpoint = routed.cluster.pick(hash, &[], &mut rand::rng())?;
        let in_flight = endpoint.start();
        in_flight.succeeded();
        drop(permit);
        Ok(Some(endpoint.address()))
    }
}

/// Draws among weighted items, as a route draws among its clusters.
#[derive(Debug)]
pub struct Weighted(WeightedChoice<usize>);

impl Weighted {
    /// A choice over items `0..weights.len()` with these weights; `None` if all are zero.
    pub fn new(weights: &[u32]) -> Option<Self> {
        WeightedChoice::new(weights.iter().copied().enumerate()).map(Self)
    }

    /// The index of the item drawn.
    pub fn pick(&self) -> usize {
        *self.0.pick(&mut rand::rng())
    }
}

/// A gRPC route's retry decision for one cluster: its policy and the cluster's retry budget.
#[derive(Debug)]
pub struct RetryDecision {
    policy: RetryPolicy,
    budget: RetryBudgetState,
}

impl RetryDecision {
    /// The decision of `policy` within a fresh `budget`.
    pub fn new(policy: RetryPolicy, budget: &RetryBudget) -> Self {
        let budget = RetryBudgetState::new(budget);
        Self { policy, budget }
    }

    /// Counts a request towards the budget, classifies its response head (`status`,
    /// `headers`) after attempt `attempt` (1-based) and decides: the pause before the retry,
    /// or `None` when the response stands.
    pub fn decide(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        attempt: u32,
    ) -> Option<Duration> {
        self.budget.deposit();
        let failure = Failure::of_response(status, headers)?;
        let retriable = attempt < self.policy.max_attempts
            && failure.is_retriable(&self.policy.retry_on, Caller::Grpc);
        if !retriable || !self.budget.try_withdraw() {
            return None;
        }
        Some(backoff::pause(
            &self.policy.backoff,
            attempt,
            &mut rand::rng(),
        ))
    }
}

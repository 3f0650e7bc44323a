//! The state of one cluster that outlives its snapshots.
//!
//! Each EDS or CDS update makes a new [`Balancer`] snapshot, but a cluster's state must not
//! start over with it: its endpoints keep their load and health, and the circuit breaker,
//! retry budget and outlier detection keep counting. A [`ClusterState`] holds all of that and
//! replaces a piece only when what it is made from changed:
//!
//! | piece | replaced when |
//! |---|---|
//! | breaker, budget | its policy changed |
//! | outlier detector, and so the endpoints (which report to it) | the outlier policy changed |
//! | an endpoint | its address left the cluster (a returning address starts afresh) |
//! | round-robin schedule, hash ring | the balancing policy or the endpoints' addresses or weights changed |
//! | round-robin cursor | never |
//!
//! A client has one state per cluster, shared by all its resolvers (see
//! `resolve::ClusterRegistry`); each update applies the cluster as the updating resolver sees
//! it, so the newest view wins.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use mesh_core::model::{Cluster, ClusterLoadAssignment, ClusterPolicy, LbPolicy};
use prometheus_client::metrics::counter::Counter;

use super::breaker::Breaker;
use super::{Balancer, Detector, Endpoint, RetryBudgetState, Ring, RoundRobin, Selector};
use crate::connect::TlsSlot;
use crate::counters::Counters;

/// One cluster's state across snapshots.
#[derive(Debug)]
pub(crate) struct ClusterState {
    name: Arc<str>,
    decay: Duration,
    counters: Arc<Counters>,
    policy: ClusterPolicy,
    breaker: Arc<Breaker>,
    budget: Arc<RetryBudgetState>,
    detector: Option<Arc<Detector>>,
    cursor: Arc<AtomicUsize>,
    endpoints: HashMap<SocketAddr, Arc<Endpoint>>,
    /// The selector of the last snapshot and the endpoints (address, weight) it was made for.
    selector: Option<(Vec<(SocketAddr, u32)>, Selector)>,
    /// The cluster's series of `mesh_client_attempts_total`, looked up once.
    attempts: Option<Counter>,
}

impl ClusterState {
    /// The state of a new cluster `name` with `policy`; endpoints' latency estimates decay over
    /// `decay`; ejections and breaker refusals are counted in `counters`. Starts outlier
    /// detection if the policy asks for it, so needs a Tokio runtime then.
    pub(crate) fn new(
        name: &str,
        policy: &ClusterPolicy,
        decay: Duration,
        counters: Arc<Counters>,
    ) -> Self {
        let name: Arc<str> = name.into();
        Self {
            breaker: Arc::new(Breaker::new(
                Arc::clone(&name),
                policy.circuit_breaker,
                Arc::clone(&counters),
            )),
            budget: Arc::new(RetryBudgetState::new(&policy.retry_budget)),
            detector: policy
                .outlier_detection
                .clone()
                .map(|od| Detector::start(Arc::clone(&name), od, Arc::clone(&counters))),
            cursor: Arc::new(AtomicUsize::new(rand::random::<u32>() as usize)),
            endpoints: HashMap::new(),
            selector: None,
            attempts: counters.metrics().map(|m| m.attempts(&name)),
            policy: policy.clone(),
            name,
            decay,
            counters,
        }
    }

    /// The snapshot of `cluster` with the usable endpoints of `assignment` (none if `None`).
    pub(crate) fn update(
        &mut self,
        cluster: &Cluster,
        assignment: Option<&ClusterLoadAssignment>,
    ) -> Balancer {
        self.apply_policy(&cluster.policy);
        let mut endpoints = Vec::new();
        let mut weighted = Vec::new();
        let mut kept = HashMap::with_capacity(self.endpoints.len());
        for e in assignment.into_iter().flat_map(|cla| &cla.endpoints) {
            if !e.health.is_usable() || kept.contains_key(&e.address) {
                continue;
            }
            let endpoint = self.endpoints.remove(&e.address).unwrap_or_else(|| {
                let cluster = Arc::clone(&self.name);
                Arc::new(Endpoint::new(
                    cluster,
                    e.address,
                    self.decay,
                    self.detector.clone(),
                ))
            });
            kept.insert(e.address, Arc::clone(&endpoint));
            endpoints.push(endpoint);
            weighted.push((e.address, e.weight));
        }
        self.endpoints = kept;
        if let Some(detector) = &self.detector {
            detector.set_endpoints(&endpoints);
        }
        Balancer {
            cluster: Arc::clone(&self.name),
            protocol: cluster.protocol,
            tls: cluster.tls.clone(),
            tls_slot: TlsSlot::default(),
            endpoints: Some(endpoints.into()),
            selector: self.selector(weighted),
            breaker: Arc::clone(&self.breaker),
            budget: Arc::clone(&self.budget),
            detector: self.detector.clone(),
            attempts: self.attempts.clone(),
        }
    }

    /// Replaces the pieces whose policy changed.
    fn apply_policy(&mut self, policy: &ClusterPolicy) {
        if *policy == self.policy {
            return;
        }
        let old = std::mem::replace(&mut self.policy, policy.clone());
        if policy.circuit_breaker != old.circuit_breaker {
            self.breaker = Arc::new(Breaker::new(
                Arc::clone(&self.name),
                policy.circuit_breaker,
                Arc::clone(&self.counters),
            ));
        }
        if policy.retry_budget != old.retry_budget {
            self.budget = Arc::new(RetryBudgetState::new(&policy.retry_budget));
        }
        if policy.outlier_detection != old.outlier_detection {
            self.detector = policy
                .outlier_detection
                .clone()
                .map(|od| Detector::start(Arc::clone(&self.name), od, Arc::clone(&self.counters)));
            self.endpoints.clear();
        }
        if policy.lb != old.lb {
            self.selector = None;
        }
    }

    /// The selector for endpoints `weighted`, the last one if they did not change.
    fn selector(&mut self, weighted: Vec<(SocketAddr, u32)>) -> Selector {
        if let Some((last, selector)) = &self.selector
            && *last == weighted
        {
            return selector.clone();
        }
        let selector = match self.policy.lb {
            LbPolicy::P2cPeakEwma => Selector::PeakEwma,
            LbPolicy::P2cLeastRequest => Selector::LeastRequest,
            LbPolicy::RoundRobin => {
                let weights: Vec<u32> = weighted.iter().map(|&(_, w)| w).collect();
                Selector::RoundRobin(RoundRobin::new(&weights, Arc::clone(&self.cursor)))
            }
            LbPolicy::RingHash {
                min_ring_size,
                max_ring_size,
            } => Selector::RingHash(Arc::new(Ring::new(&weighted, min_ring_size, max_ring_size))),
        };
        self.selector = Some((weighted, selector.clone()));
        selector
    }
}

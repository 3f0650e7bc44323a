//! The cluster states of one client, shared by all its resolvers.
//!
//! A cluster reached through two targets of one client (two listeners of a
//! [`MeshHttpClient`](crate::MeshHttpClient), say) is still one cluster: one circuit breaker,
//! one retry budget, one outlier detector, as gRPC keeps one per cluster (A32). So resolvers do
//! not own their [`ClusterState`]s: they hold them, and find them here by cluster name. The
//! registry holds them weakly: a cluster's state lives while some resolver routes to it, and
//! the next resolver to need it afterwards starts afresh.
//!
//! Every resolver updates the shared state with the cluster it sees, and the last update wins.
//! Resolvers of one client read one xDS cache, so their views of a cluster differ only for the
//! moment between one resolver's rebuild and the next's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use mesh_core::model::ClusterPolicy;

use crate::balance::ClusterState;
use crate::counters::Counters;

/// A cluster's state, shared by the resolvers that route to it.
pub(crate) type SharedState = Arc<Mutex<ClusterState>>;

/// The cluster states of one client, by cluster name.
#[derive(Debug)]
pub(crate) struct ClusterRegistry {
    decay: Duration,
    counters: Arc<Counters>,
    states: Mutex<HashMap<String, Weak<Mutex<ClusterState>>>>,
}

impl ClusterRegistry {
    /// An empty registry whose clusters' latency estimates decay over `decay` and which count
    /// breaker refusals and ejections in `counters`.
    pub(crate) fn new(decay: Duration, counters: Arc<Counters>) -> Self {
        Self {
            decay,
            counters,
            states: Mutex::default(),
        }
    }

    /// The counters the clusters count into.
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The state of cluster `name`: the one some resolver holds, or a new one with `policy`
    /// (which starts its outlier detection, so needs a Tokio runtime then).
    pub(crate) fn state(&self, name: &str, policy: &ClusterPolicy) -> SharedState {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = states.get(name).and_then(Weak::upgrade) {
            return state;
        }
        states.retain(|_, state| state.strong_count() > 0);
        let counters = Arc::clone(&self.counters);
        let state = Arc::new(Mutex::new(ClusterState::new(
            name, policy, self.decay, counters,
        )));
        states.insert(name.to_string(), Arc::downgrade(&state));
        state
    }

    /// How many clusters have a state that some resolver holds.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        states.values().filter(|s| s.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::DEFAULT_DECAY;

    #[test]
    fn one_state_per_cluster_while_some_resolver_holds_it() {
        let registry = ClusterRegistry::new(DEFAULT_DECAY, Arc::default());
        let policy = ClusterPolicy::default();
        let first = registry.state("c", &policy);
        let second = registry.state("c", &policy);
        assert!(Arc::ptr_eq(&first, &second), "one state for cluster c");
        let other = registry.state("d", &policy);
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(registry.live(), 2);

        let weak = Arc::downgrade(&first);
        drop((first, second));
        assert!(
            weak.upgrade().is_none(),
            "the registry does not keep it alive"
        );
        assert_eq!(registry.live(), 1);
        let _afresh = registry.state("c", &policy);
        assert_eq!(
            registry.states.lock().unwrap().len(),
            2,
            "c's dead entry replaced"
        );
    }
}

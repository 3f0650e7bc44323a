//! The resolver task: keeps the subscriptions of one target and publishes its resolution.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::{FutureExt, select_all};
use mesh_core::model::{Cluster, ClusterLoadAssignment, Listener, RouteConfig, RouteSource};
use mesh_core::xds::{ResourceState, ResourceWatch, XdsClient};
use tokio::sync::watch;

use super::build::{ClusterInput, Resolution, TableBuilder, Unresolved, cluster_names};
use super::registry::ClusterRegistry;
use crate::route::select_virtual_host;

/// Starts resolving `listener`; the task runs until the last receiver is dropped. Its clusters'
/// states come from `clusters`, shared with the client's other resolvers.
///
/// Needs a Tokio runtime.
pub(crate) fn spawn(
    xds: &XdsClient,
    listener: &str,
    clusters: Arc<ClusterRegistry>,
) -> watch::Receiver<Arc<Resolution>> {
    let (tx, rx) = watch::channel(Arc::new(Resolution::Pending));
    let resolver = Resolver {
        xds: xds.clone(),
        name: listener.to_string(),
        listener: xds.listener(listener),
        route: None,
        clusters: HashMap::new(),
        builder: TableBuilder::with_registry(clusters),
    };
    tokio::spawn(resolver.run(tx));
    rx
}

struct Resolver {
    xds: XdsClient,
    name: String,
    listener: ResourceWatch<Listener>,
    /// The RouteConfiguration subscribed over RDS, by name.
    route: Option<(String, ResourceWatch<RouteConfig>)>,
    clusters: HashMap<String, ClusterWatch>,
    builder: TableBuilder,
}

struct ClusterWatch {
    cluster: ResourceWatch<Cluster>,
    /// The ClusterLoadAssignment subscribed for the cluster's EDS service name.
    endpoints: Option<(String, ResourceWatch<ClusterLoadAssignment>)>,
}

/// The outcome of one look at the subscriptions.
enum Step {
    /// A new subscription was made: look again, its resource may be cached already.
    Subscribed,
    /// Something is still pending: keep the published resolution.
    Incomplete,
    /// Publish this.
    Publish(Resolution),
}

impl Resolver {
    async fn run(mut self, tx: watch::Sender<Arc<Resolution>>) {
        loop {
            match self.step() {
                Step::Subscribed => continue,
                Step::Incomplete => {}
                Step::Publish(resolution) => {
                    tracing::debug!(listener = %self.name, ?resolution, "resolved");
                    tx.send_replace(Arc::new(resolution));
                }
            }
            tokio::select! {
                () = tx.closed() => return,
                changed = self.any_changed() => if changed.is_err() {
                    tracing::debug!(listener = %self.name, "xDS client shut down; keeping the last resolution");
                    return;
                },
            }
        }
    }

    /// Waits until any watched resource changes.
    async fn any_changed(&mut self) -> Result<(), mesh_core::xds::client::WatchClosed> {
        let mut changes = vec![self.listener.changed().boxed()];
        if let Some((_, route)) = &mut self.route {
            changes.push(route.changed().boxed());
        }
        for watch in self.clusters.values_mut() {
            changes.push(watch.cluster.changed().boxed());
            if let Some((_, endpoints)) = &mut watch.endpoints {
                changes.push(endpoints.changed().boxed());
            }
        }
        select_all(changes).await.0
    }

    fn step(&mut self) -> Step {
        let listener = match self.listener.current() {
            ResourceState::Pending => return Step::Incomplete,
            ResourceState::DoesNotExist => return self.fail(Unresolved::ListenerNotFound),
            ResourceState::Present(listener) => listener,
        };
        let Listener::Client(listener) = &*listener else {
            return self.fail(Unresolved::NotClientListener);
        };
        let routes = match &listener.routes {
            RouteSource::Inline(routes) => {
                self.route = None;
                Arc::clone(routes)
            }
            RouteSource::Rds(name) => {
                if self.route.as_ref().is_none_or(|(n, _)| n != name) {
                    self.route = Some((name.clone(), self.xds.route_config(name)));
                    return Step::Subscribed;
                }
                let state = self.route.as_ref().map(|(_, w)| w.current());
                match state {
                    Some(ResourceState::Present(routes)) => routes,
                    Some(ResourceState::DoesNotExist) => {
                        return self.fail(Unresolved::RouteConfigNotFound(name.clone()));
                    }
                    _ => return Step::Incomplete,
                }
            }
        };
        let Some(vhost) = select_virtual_host(&routes.virtual_hosts, &self.name) else {
            return self.fail(Unresolved::NoVirtualHost);
        };
        let names = cluster_names(vhost);
        self.clusters
            .retain(|name, _| names.contains(name.as_str()));
        let mut subscribed = false;
        for name in names {
            if !self.clusters.contains_key(name) {
                let watch = ClusterWatch {
                    cluster: self.xds.cluster(name),
                    endpoints: None,
                };
                self.clusters.insert(name.to_string(), watch);
                subscribed = true;
            }
        }
        if subscribed {
            return Step::Subscribed;
        }
        // Current states of every cluster and assignment, held so the inputs can borrow them.
        let mut states = HashMap::with_capacity(self.clusters.len());
        let mut complete = true;
        for (name, watch) in &mut self.clusters {
            let cluster = match watch.cluster.current() {
                ResourceState::Pending => {
                    complete = false;
                    continue;
                }
                ResourceState::DoesNotExist => {
                    watch.endpoints = None;
                    states.insert(name.clone(), None);
                    continue;
                }
                ResourceState::Present(cluster) => cluster,
            };
            let eds_name = &cluster.eds_service_name;
            if watch.endpoints.as_ref().is_none_or(|(n, _)| n != eds_name) {
                watch.endpoints = Some((eds_name.clone(), self.xds.endpoints(eds_name)));
                subscribed = true;
                continue;
            }
            let assignment = match watch.endpoints.as_ref().map(|(_, w)| w.current()) {
                Some(ResourceState::Present(cla)) => Some(cla),
                Some(ResourceState::DoesNotExist) => None,
                _ => {
                    complete = false;
                    continue;
                }
            };
            states.insert(name.clone(), Some((cluster, assignment)));
        }
        if subscribed {
            return Step::Subscribed;
        }
        if !complete {
            return Step::Incomplete;
        }
        let inputs = states
            .iter()
            .map(|(name, state)| {
                let input = match state {
                    None => ClusterInput::Missing,
                    Some((cluster, assignment)) => {
                        ClusterInput::Present(cluster, assignment.as_deref())
                    }
                };
                (name.clone(), input)
            })
            .collect();
        Step::Publish(Resolution::Ready(
            self.builder.build(&self.name, vhost, &inputs),
        ))
    }

    /// Publishes a failure and drops the subscriptions that depended on the listener.
    fn fail(&mut self, why: Unresolved) -> Step {
        if why == Unresolved::ListenerNotFound || why == Unresolved::NotClientListener {
            self.route = None;
        }
        self.clusters.clear();
        Step::Publish(Resolution::Failed(why))
    }
}

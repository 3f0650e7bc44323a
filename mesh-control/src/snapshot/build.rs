//! Building a snapshot: one Service port becomes Listeners, a RouteConfiguration, a Cluster
//! and a ClusterLoadAssignment (see [`crate::names`]). The Cluster speaks mTLS unless the
//! Service's mode is `Disable`, has the Service's cluster policy (from its BackendPolicy), and
//! its endpoints' addresses take the Service's inbound mode, authorization and rate limit.
//! Routes carry their own policy (timeouts, retries, faults, hash header) into the
//! RouteConfiguration.

use std::collections::HashMap;
use std::sync::Arc;

use mesh_core::model::{
    self, ClientListener, Endpoint, HealthStatus, RouteConfig, RouteSource, StringMatch,
    UpstreamTls, VirtualHost,
};
use mesh_core::xds::encode;
use spiffe::TrustDomain;

use super::inbound::{InboundBuilder, InboundPolicy};
use super::{Resource, Resources, Snapshot};
use crate::config::{MeshConfig, ServiceConfig, ServiceRef, TlsMode, namespace_prefix};
use crate::names::{cluster_name, listener_names};
use crate::registry::RegisteredEndpoints;

/// What to do with a cluster that has no endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyAssignments {
    /// Send its ClusterLoadAssignment with no endpoints: the cluster is empty.
    Send,
    /// Send nothing for it. Right after mesh-control starts, servers have not registered
    /// again yet; an empty assignment would make clients that kept their endpoints through a
    /// restart drop them. Sending nothing leaves them on what they have (for EDS, a resource
    /// absent from a response means no change).
    Withhold,
}

impl EmptyAssignments {
    /// [`Withhold`](Self::Withhold) while mesh-control warms up after a start,
    /// [`Send`](Self::Send) after.
    pub fn while_warming(warming: bool) -> Self {
        if warming { Self::Withhold } else { Self::Send }
    }
}

/// The trust domain of the mesh when none is given.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// How a snapshot is built, besides the config and the registrations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildSettings {
    /// The trust domain of the SPIFFE IDs that clients expect of servers
    /// (`spiffe://<trust domain>/ns/<ns>/sa/<sa>`).
    pub trust_domain: TrustDomain,
    /// What to do with clusters that have no endpoint.
    pub empty: EmptyAssignments,
}

impl BuildSettings {
    /// Settings for `trust_domain`, sending every cluster's assignment.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            empty: EmptyAssignments::Send,
        }
    }
}

impl Default for BuildSettings {
    /// [`DEFAULT_TRUST_DOMAIN`], sending every cluster's assignment.
    fn default() -> Self {
        Self::new(TrustDomain::new(DEFAULT_TRUST_DOMAIN).expect("a valid trust domain"))
    }
}

impl Snapshot {
    /// Builds version 1 of the snapshot for `config` plus the self-registered endpoints.
    ///
    /// Registrations whose service name is no Listener name of any Service port are left out.
    /// With [`EmptyAssignments::Withhold`], clusters without any endpoint get no
    /// ClusterLoadAssignment at all (see [`EmptyAssignments`]). Every endpoint address gets
    /// the inbound mTLS mode, authorization and rate limit of its Services (see
    /// [`Snapshot::server_listener`]).
    /// Linear in the number of ports, routes and endpoints.
    pub fn build(
        config: &MeshConfig,
        registered: &RegisteredEndpoints,
        settings: &BuildSettings,
    ) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let [listeners, routes, clusters, assignments] = &mut snapshot.resources;
        // Listener name -> the cluster of the port it names.
        let mut aliases: HashMap<String, String> = HashMap::new();
        // Cluster -> its Service's inbound policy and its endpoints.
        let mut endpoints: HashMap<String, (Arc<InboundPolicy>, Vec<Endpoint>)> = HashMap::new();
        let mut inbound = InboundBuilder::default();

        for service in config.services.values() {
            let tls = upstream_tls(service, &settings.trust_domain);
            let policy = Arc::new(InboundPolicy::of(service, &settings.trust_domain));
            for (index, port) in service.ports.iter().enumerate() {
                let cluster = cluster_name(&service.service, port.port);
                let names = listener_names(&service.service, port.port, index == 0);
                for name in &names {
                    listeners.insert(name.as_str().into(), client_listener(name, &cluster));
                    aliases.insert(name.clone(), cluster.clone());
                }
                let route_config = RouteConfig {
                    name: cluster.clone(),
                    virtual_hosts: vec![VirtualHost {
                        name: vhost_name(&service.service, port.port),
                        domains: names,
                        routes: port.routes.clone(),
                    }],
                };
                insert(
                    routes,
                    &cluster,
                    encode::to_any(&encode::route_config(&route_config)),
                );
                let model_cluster = model::Cluster {
                    name: cluster.clone(),
                    eds_service_name: cluster.clone(),
                    policy: service.policy.clone(),
                    protocol: port.protocol,
                    tls: tls.clone(),
                };
                insert(
                    clusters,
                    &cluster,
                    encode::to_any(&encode::cluster(&model_cluster)),
                );
                endpoints.insert(cluster, (Arc::clone(&policy), port.endpoints.clone()));
            }
        }

        for (service, address) in registered.iter() {
            let Some((_, list)) = aliases.get(service).and_then(|c| endpoints.get_mut(c)) else {
                continue;
            };
            list.push(Endpoint {
                address,
                weight: 1,
                health: HealthStatus::Healthy,
            });
        }

        for (cluster, (policy, mut list)) in endpoints {
            for endpoint in &list {
                inbound.add(endpoint.address, &policy);
            }
            if list.is_empty() && settings.empty == EmptyAssignments::Withhold {
                continue;
            }
            // One entry per address (a static one wins over a registered one), in a stable order.
            list.sort_by_key(|e| e.address);
            list.dedup_by_key(|e| e.address);
            let assignment = model::ClusterLoadAssignment {
                cluster_name: cluster.clone(),
                endpoints: list,
            };
            let any = encode::to_any(&encode::cluster_load_assignment(&assignment));
            insert(assignments, &cluster, any);
        }
        snapshot.inbound = inbound.build();
        snapshot
    }
}

/// mTLS to a Service's endpoints unless its mode is `Disable`: the servers must prove one of
/// its service accounts, or any of its namespace when none is listed.
fn upstream_tls(service: &ServiceConfig, trust_domain: &TrustDomain) -> Option<UpstreamTls> {
    if service.tls.mode == TlsMode::Disable {
        return None;
    }
    let prefix = namespace_prefix(trust_domain, &service.service.namespace);
    let peer_ids = if service.tls.service_accounts.is_empty() {
        vec![StringMatch::Prefix(prefix)]
    } else {
        service
            .tls
            .service_accounts
            .iter()
            .map(|account| StringMatch::Exact(format!("{prefix}{account}")))
            .collect()
    };
    Some(UpstreamTls { peer_ids })
}

fn client_listener(name: &str, route_config: &str) -> Resource {
    let listener = model::Listener::Client(ClientListener {
        name: name.to_string(),
        routes: RouteSource::Rds(route_config.to_string()),
    });
    Resource::new(encode::to_any(&encode::listener(&listener)))
}

fn vhost_name(service: &ServiceRef, port: u16) -> String {
    format!("{}.{}:{port}", service.name, service.namespace)
}

fn insert(resources: &mut Resources, name: &str, any: envoy_types::pb::google::protobuf::Any) {
    resources.insert(name.into(), Resource::new(any));
}

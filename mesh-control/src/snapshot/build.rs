//! Building a snapshot: one Service port becomes Listeners, a RouteConfiguration, a Cluster
//! and a ClusterLoadAssignment (see [`crate::names`]).

use std::collections::HashMap;
use std::sync::Arc;

use mesh_core::model::{
    self, ClientListener, Endpoint, HealthStatus, PathMatch, Route, RouteAction, RouteConfig,
    RouteMatch, RouteSource, ServerListener, VirtualHost,
};
use mesh_core::xds::{encode, type_url};

use super::{Resource, Resources, Snapshot};
use crate::config::{MeshConfig, ServiceRef};
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

impl Snapshot {
    /// Builds version 1 of the snapshot for `config` plus the self-registered endpoints.
    ///
    /// Registrations whose service name is no Listener name of any Service port are left out.
    /// With [`EmptyAssignments::Withhold`], clusters without any endpoint get no
    /// ClusterLoadAssignment at all (see [`EmptyAssignments`]).
    /// Linear in the number of ports, routes and endpoints.
    pub fn build(
        config: &MeshConfig,
        registered: &RegisteredEndpoints,
        empty: EmptyAssignments,
    ) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let [listeners, routes, clusters, assignments] = &mut snapshot.resources;
        // Listener name -> the endpoints of the port it names.
        let mut aliases: HashMap<String, String> = HashMap::new();
        let mut endpoints: HashMap<String, Vec<Endpoint>> = HashMap::new();

        for service in config.services.values() {
            for (index, port) in service.ports.iter().enumerate() {
                let cluster = cluster_name(&service.service, port.port);
                let names = listener_names(&service.service, port.port, index == 0);
                for name in &names {
                    listeners.insert(name.clone(), client_listener(name, &cluster));
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
                    lb_policy: model::LbPolicy::default(),
                    protocol: port.protocol,
                    tls: None,
                };
                insert(
                    clusters,
                    &cluster,
                    encode::to_any(&encode::cluster(&model_cluster)),
                );
                endpoints.insert(cluster, port.endpoints.clone());
            }
        }

        for (service, address) in registered.iter() {
            let Some(list) = aliases.get(service).and_then(|c| endpoints.get_mut(c)) else {
                continue;
            };
            list.push(Endpoint {
                address,
                weight: 1,
                health: HealthStatus::Healthy,
            });
        }

        for (cluster, mut list) in endpoints {
            if list.is_empty() && empty == EmptyAssignments::Withhold {
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
        snapshot
    }
}

/// The inbound Listener for a name of the form
/// `grpc/server?xds.resource.listening_address=IP:PORT` (gRFC A36), or `None` for any other
/// name. Its routes serve every request locally.
pub fn server_listener(name: &str) -> Option<Resource> {
    let address = name
        .strip_prefix(type_url::SERVER_LISTENER_PREFIX)?
        .parse()
        .ok()?;
    let inbound = RouteConfig {
        name: "inbound".into(),
        virtual_hosts: vec![VirtualHost {
            name: "inbound".into(),
            domains: vec!["*".into()],
            routes: vec![Route {
                name: "local".into(),
                matcher: RouteMatch {
                    path: PathMatch::Prefix(String::new()),
                    case_sensitive: true,
                    headers: Vec::new(),
                },
                action: RouteAction::NonForwarding,
            }],
        }],
    };
    let listener = model::Listener::Server(ServerListener {
        name: name.to_string(),
        address,
        routes: RouteSource::Inline(Arc::new(inbound)),
        tls: model::InboundTls::Plaintext,
    });
    Some(Resource::new(encode::to_any(&encode::listener(&listener))))
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
    resources.insert(name.to_string(), Resource::new(any));
}

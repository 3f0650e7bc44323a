//! A fake ADS server: answers each subscription from a world of resources the test sets, and
//! pushes the world again to every stream when it changes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
    aggregated_discovery_service_server::{
        AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
    },
};
use envoy_types::pb::google::protobuf::Any;
use futures_util::Stream;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::model;
use mesh_core::xds::encode;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

/// Resources by type URL, then name.
#[derive(Clone, Debug, Default)]
pub struct World {
    resources: HashMap<String, HashMap<String, Any>>,
}

impl World {
    fn put(mut self, name: &str, any: Any) -> Self {
        let by_name = self.resources.entry(any.type_url.clone()).or_default();
        by_name.insert(name.to_string(), any);
        self
    }

    /// With this Listener.
    pub fn listener(self, l: &model::Listener) -> Self {
        self.put(l.name(), encode::to_any(&encode::listener(l)))
    }

    /// With this RouteConfiguration.
    pub fn route_config(self, r: &model::RouteConfig) -> Self {
        self.put(&r.name, encode::to_any(&encode::route_config(r)))
    }

    /// With this Cluster.
    pub fn cluster(self, c: &model::Cluster) -> Self {
        self.put(&c.name, encode::to_any(&encode::cluster(c)))
    }

    /// With this ClusterLoadAssignment.
    pub fn endpoints(self, e: &model::ClusterLoadAssignment) -> Self {
        self.put(
            &e.cluster_name,
            encode::to_any(&encode::cluster_load_assignment(e)),
        )
    }

    fn response(&self, type_url: &str, names: &[String], version: u64) -> DiscoveryResponse {
        let by_name = self.resources.get(type_url);
        let resources = names
            .iter()
            .filter_map(|n| by_name.and_then(|m| m.get(n)).cloned())
            .collect();
        DiscoveryResponse {
            version_info: version.to_string(),
            resources,
            type_url: type_url.to_string(),
            nonce: version.to_string(),
            ..Default::default()
        }
    }
}

/// A running fake ADS server.
pub struct FakeAds {
    addr: SocketAddr,
    world: watch::Sender<World>,
}

impl FakeAds {
    /// Starts serving `world` on a free loopback port.
    pub async fn start(world: World) -> FakeAds {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (world, _) = watch::channel(world);
        let service = Ads {
            world: world.clone(),
        };
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(AggregatedDiscoveryServiceServer::new(service))
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        FakeAds { addr, world }
    }

    /// A bootstrap pointing at this server.
    pub fn bootstrap(&self) -> Bootstrap {
        Bootstrap::insecure(self.addr.to_string(), "mesh-client-test")
    }

    /// Replaces the world and pushes it to every stream.
    pub fn set(&self, world: World) {
        self.world.send_replace(world);
    }
}

struct Ads {
    world: watch::Sender<World>,
}

type Responses = Pin<Box<dyn Stream<Item = Result<DiscoveryResponse, Status>> + Send>>;
type DeltaResponses = Pin<Box<dyn Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = Responses;
    type DeltaAggregatedResourcesStream = DeltaResponses;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Responses>, Status> {
        let mut requests = request.into_inner();
        let mut world = self.world.subscribe();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut subscribed: HashMap<String, Vec<String>> = HashMap::new();
            let mut version = 0;
            loop {
                let types: Vec<String> = tokio::select! {
                    request = requests.message() => {
                        let Ok(Some(request)) = request else { return };
                        if subscribed.get(&request.type_url) == Some(&request.resource_names) {
                            continue; // an ACK or NACK
                        }
                        subscribed.insert(request.type_url.clone(), request.resource_names);
                        vec![request.type_url]
                    }
                    changed = world.changed() => {
                        if changed.is_err() { return }
                        subscribed.keys().cloned().collect()
                    }
                };
                for type_url in types {
                    version += 1;
                    let names = &subscribed[&type_url];
                    let response = world.borrow().response(&type_url, names, version);
                    if tx.send(Ok(response)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<DeltaResponses>, Status> {
        Err(Status::unimplemented(
            "the fake ADS server speaks state of the world only",
        ))
    }
}

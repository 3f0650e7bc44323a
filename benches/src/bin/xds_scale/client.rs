//! One simulated xDS client: a real ADS stream that follows Listener -> RouteConfiguration ->
//! Clusters -> ClusterLoadAssignments for one target, as a gRPC proxyless client does, decoding
//! every resource with mesh-core's decoder and ACKing every response at once.

use std::collections::{BTreeSet, HashMap};

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use mesh_core::model::{Listener, RouteAction, RouteConfig, RouteSource};
use mesh_core::xds::decode::{self, Resource, ResourceKind};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;

/// The largest response a simulated client accepts: far above a 100k-endpoint assignment.
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// What a client tells the coordinator, with its index.
#[derive(Debug)]
pub(crate) enum Event {
    /// Every cluster of its target has its endpoints.
    Synced,
    /// A RouteConfiguration that differs from the first one arrived (and was ACKed) at this
    /// instant.
    RouteChanged(Instant),
    /// A ClusterLoadAssignment response arrived and was decoded at this instant.
    Endpoints {
        /// Endpoints in all the response's assignments.
        count: usize,
        /// The encoded size of the resources, in bytes.
        bytes: usize,
        /// When the decode ended.
        at: Instant,
    },
    /// The stream failed or a resource did not decode.
    Failed(String),
}

/// Runs client `id` for `target` over `channel` until the stream ends, telling `events`.
pub(crate) async fn run(
    id: usize,
    channel: Channel,
    target: String,
    events: mpsc::UnboundedSender<(usize, Event)>,
) {
    let mut client = Client {
        id,
        subscribed: HashMap::new(),
        requests: None,
        first_routes: None,
        endpoints_of: BTreeSet::new(),
        synced: false,
        events: events.clone(),
    };
    if let Err(reason) = client.stream(channel, target).await {
        let _ = events.send((id, Event::Failed(reason)));
    }
}

struct Client {
    id: usize,
    /// The names subscribed to, by type.
    subscribed: HashMap<ResourceKind, Vec<String>>,
    requests: Option<mpsc::UnboundedSender<DiscoveryRequest>>,
    first_routes: Option<RouteConfig>,
    /// The assignments received so far.
    endpoints_of: BTreeSet<String>,
    synced: bool,
    events: mpsc::UnboundedSender<(usize, Event)>,
}

impl Client {
    async fn stream(&mut self, channel: Channel, target: String) -> Result<(), String> {
        let (requests, outbound) = mpsc::unbounded_channel();
        self.requests = Some(requests);
        self.subscribe(ResourceKind::Listener, vec![target])?;
        let mut ads =
            AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
        let mut responses = ads
            .stream_aggregated_resources(UnboundedReceiverStream::new(outbound))
            .await
            .map_err(|status| format!("stream refused: {status}"))?
            .into_inner();
        while let Some(response) = responses
            .message()
            .await
            .map_err(|status| format!("stream failed: {status}"))?
        {
            self.on_response(response)?;
        }
        Ok(())
    }

    /// ACKs `response` at once, then decodes it and follows it down the chain.
    fn on_response(&mut self, response: DiscoveryResponse) -> Result<(), String> {
        let received = Instant::now();
        let kind = ResourceKind::from_type_url(&response.type_url)
            .ok_or_else(|| format!("unexpected type {}", response.type_url))?;
        let names = self.subscribed.get(&kind).cloned().unwrap_or_default();
        self.send(DiscoveryRequest {
            version_info: response.version_info.clone(),
            response_nonce: response.nonce.clone(),
            type_url: response.type_url.clone(),
            resource_names: names,
            ..Default::default()
        })?;
        let mut decoded = Vec::with_capacity(response.resources.len());
        for any in &response.resources {
            decoded.push(decode::resource(kind, any).map_err(|e| e.to_string())?);
        }
        match kind {
            ResourceKind::Listener => self.on_listeners(decoded),
            ResourceKind::RouteConfig => self.on_routes(decoded, received),
            ResourceKind::Cluster => self.on_clusters(decoded),
            ResourceKind::Endpoints => {
                let bytes = response.resources.iter().map(|a| a.value.len()).sum();
                self.on_endpoints(decoded, bytes)
            }
        }
    }

    fn on_listeners(&mut self, listeners: Vec<Resource>) -> Result<(), String> {
        let routes: Vec<String> = listeners
            .into_iter()
            .filter_map(|resource| match resource {
                Resource::Listener(Listener::Client(listener)) => match listener.routes {
                    RouteSource::Rds(name) => Some(name),
                    RouteSource::Inline(_) => None,
                },
                _ => None,
            })
            .collect();
        self.subscribe(ResourceKind::RouteConfig, routes)
    }

    fn on_routes(&mut self, configs: Vec<Resource>, received: Instant) -> Result<(), String> {
        let mut clusters = BTreeSet::new();
        for resource in configs {
            let Resource::RouteConfig(config) = resource else {
                continue;
            };
            let routes = config.virtual_hosts.iter().flat_map(|v| &v.routes);
            for route in routes {
                if let RouteAction::Forward(weighted) = &route.action {
                    clusters.extend(weighted.iter().map(|wc| wc.cluster.clone()));
                }
            }
            match &self.first_routes {
                None => self.first_routes = Some(config),
                Some(first) if *first != config => self.tell(Event::RouteChanged(received)),
                Some(_) => {}
            }
        }
        self.subscribe(ResourceKind::Cluster, clusters.into_iter().collect())
    }

    fn on_clusters(&mut self, clusters: Vec<Resource>) -> Result<(), String> {
        let names = clusters
            .into_iter()
            .filter_map(|resource| match resource {
                Resource::Cluster(cluster) => Some(cluster.eds_service_name),
                _ => None,
            })
            .collect::<BTreeSet<_>>();
        self.subscribe(ResourceKind::Endpoints, names.into_iter().collect())
    }

    fn on_endpoints(&mut self, assignments: Vec<Resource>, bytes: usize) -> Result<(), String> {
        let mut count = 0;
        for resource in assignments {
            if let Resource::Endpoints(assignment) = resource {
                count += assignment.endpoints.len();
                self.endpoints_of.insert(assignment.cluster_name);
            }
        }
        let at = Instant::now();
        self.tell(Event::Endpoints { count, bytes, at });
        let wanted = self.subscribed.get(&ResourceKind::Endpoints);
        let all = wanted.is_some_and(|w| w.iter().all(|n| self.endpoints_of.contains(n)));
        if all && !self.synced {
            self.synced = true;
            self.tell(Event::Synced);
        }
        Ok(())
    }

    /// Subscribes to `names` of `kind` if they are not what it has already; the first request
    /// of the stream names the node.
    fn subscribe(&mut self, kind: ResourceKind, mut names: Vec<String>) -> Result<(), String> {
        names.sort();
        if self.subscribed.get(&kind) == Some(&names) || names.is_empty() {
            return Ok(());
        }
        let node = self.subscribed.is_empty().then(|| Node {
            id: format!("xds-scale-{}", self.id),
            ..Default::default()
        });
        self.subscribed.insert(kind, names.clone());
        self.send(DiscoveryRequest {
            node,
            type_url: kind.type_url().to_string(),
            resource_names: names,
            ..Default::default()
        })
    }

    fn send(&self, request: DiscoveryRequest) -> Result<(), String> {
        let requests = self.requests.as_ref().ok_or("no stream")?;
        requests
            .send(request)
            .map_err(|_| "the stream ended".to_string())
    }

    fn tell(&self, event: Event) {
        let _ = self.events.send((self.id, event));
    }
}
